/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Message encryption (RFC 8291 with the aes128gcm coding of RFC 8188)
   and the subscription keys it uses. */

#include "lib.h"
#include "str.h"
#include "base64.h"
#include "hmac.h"
#include "randgen.h"
#include "safe-memset.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-crypto-private.h"


/* RFC 8291 section 3.4; the sizeof()s include the final NUL, which is part of
   the info strings. */
static const char coi_webpush_key_info[] = "WebPush: info";
static const char coi_webpush_cek_info[] = "Content-Encoding: aes128gcm";
static const char coi_webpush_nonce_info[] = "Content-Encoding: nonce";

/*
 * Subscription keys
 */

/* Decode base64url or base64, with or without padding: clients send both
   (the spec's own example of auth is padded base64). */
static int coi_webpush_b64_decode(const char *str, buffer_t *out)
{
	size_t len = strlen(str);
	string_t *norm;
	unsigned int i;

	if (len > 0 && str[len - 1] == '=')
		len--;
	if (len > 0 && str[len - 1] == '=')
		len--;
	norm = t_str_new(len + 1);
	for (i = 0; i < len; i++) {
		switch (str[i]) {
		case '+':
			str_append_c(norm, '-');
			break;
		case '/':
			str_append_c(norm, '_');
			break;
		default:
			str_append_c(norm, str[i]);
			break;
		}
	}
	if (base64url_decode(BASE64_DECODE_FLAG_NO_PADDING |
			     BASE64_DECODE_FLAG_NO_WHITESPACE,
			     str_data(norm), str_len(norm), out) < 0)
		return -1;
	return 0;
}

int coi_webpush_p256dh_decode(const char *str, buffer_t *point_out,
			      const char **error_r)
{
	buffer_t *point;

	if (strlen(str) > COI_WEBPUSH_P256DH_MAX_LEN) {
		*error_r = "p256dh is too long";
		return -1;
	}
	point = t_buffer_create(COI_WEBPUSH_P256_POINT_SIZE + 3);
	if (coi_webpush_b64_decode(str, point) < 0) {
		*error_r = "p256dh is not valid base64url";
		return -1;
	}
	if (point->used != COI_WEBPUSH_P256_POINT_SIZE) {
		*error_r = t_strdup_printf(
			"p256dh must be %u octets, not %zu",
			COI_WEBPUSH_P256_POINT_SIZE, point->used);
		return -1;
	}
	if (((const unsigned char *)point->data)[0] !=
	    POINT_CONVERSION_UNCOMPRESSED) {
		*error_r = "p256dh is not an uncompressed P-256 point";
		return -1;
	}
	buffer_append_buf(point_out, point, 0, SIZE_MAX);
	return 0;
}

int coi_webpush_p256dh_parse(const char *str, buffer_t *point_out,
			     const char **error_r)
{
	buffer_t *point;
	EVP_PKEY *pkey;

	point = t_buffer_create(COI_WEBPUSH_P256_POINT_SIZE);
	if (coi_webpush_p256dh_decode(str, point, error_r) < 0)
		return -1;
	pkey = coi_webpush_p256_public_key(point->data);
	if (pkey == NULL) {
		*error_r = "p256dh is not a point on P-256";
		return -1;
	}
	EVP_PKEY_free(pkey);
	buffer_append_buf(point_out, point, 0, SIZE_MAX);
	return 0;
}

int coi_webpush_auth_parse(const char *str, buffer_t *auth_out,
			   const char **error_r)
{
	buffer_t *auth;

	if (strlen(str) > COI_WEBPUSH_AUTH_MAX_LEN) {
		*error_r = "auth is too long";
		return -1;
	}
	auth = t_buffer_create(COI_WEBPUSH_AUTH_SIZE + 3);
	if (coi_webpush_b64_decode(str, auth) < 0) {
		*error_r = "auth is not valid base64url";
		return -1;
	}
	if (auth->used != COI_WEBPUSH_AUTH_SIZE) {
		*error_r = t_strdup_printf("auth must be %u octets, not %zu",
					   COI_WEBPUSH_AUTH_SIZE, auth->used);
		return -1;
	}
	buffer_append_buf(auth_out, auth, 0, SIZE_MAX);
	return 0;
}

/*
 * Message encryption (RFC 8291, RFC 8188)
 */

static int
coi_webpush_ecdh(EVP_PKEY *priv, EVP_PKEY *peer,
		 unsigned char secret_r[COI_WEBPUSH_P256_COORD_SIZE],
		 const char **error_r)
{
	EVP_PKEY_CTX *ctx;
	size_t len = COI_WEBPUSH_P256_COORD_SIZE;
	int ret = -1;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    /* peer comes from coi_webpush_p256_public_key(), checked */
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
	    EVP_PKEY_derive(ctx, secret_r, &len) != 1)
		*error_r = coi_webpush_openssl_error("ECDH");
	else if (len != COI_WEBPUSH_P256_COORD_SIZE)
		*error_r = t_strdup_printf("ECDH gave %zu octets", len);
	else
		ret = 0;
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* Encrypt plaintext || 0x02 into out, followed by the tag: one last record
   (RFC 8188 section 2). out must have room for size + 1 + 16 octets. */
static int
coi_webpush_aes128gcm_seal(const unsigned char key[16],
			   const unsigned char nonce[12],
			   const void *plaintext, size_t size,
			   unsigned char *out, const char **error_r)
{
	static const unsigned char delimiter = 0x02;
	EVP_CIPHER_CTX *ctx;
	size_t pos = 0;
	int len;
	bool ok;

	i_assert(size <= COI_WEBPUSH_MAX_PLAINTEXT_SIZE);

	ctx = EVP_CIPHER_CTX_new();
	ok = ctx != NULL &&
		EVP_EncryptInit_ex2(ctx, EVP_aes_128_gcm(), key, nonce,
				    NULL) == 1;
	if (ok && size > 0) {
		ok = EVP_EncryptUpdate(ctx, out, &len, plaintext,
				       (int)size) == 1;
		pos += len;
	}
	if (ok) {
		ok = EVP_EncryptUpdate(ctx, out + pos, &len, &delimiter, 1) == 1;
		pos += len;
	}
	if (ok) {
		ok = EVP_EncryptFinal_ex(ctx, out + pos, &len) == 1;
		pos += len;
	}
	if (ok) {
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					 COI_WEBPUSH_TAG_SIZE, out + pos) == 1;
	}
	EVP_CIPHER_CTX_free(ctx);
	if (!ok) {
		*error_r = coi_webpush_openssl_error("AES-128-GCM encryption");
		return -1;
	}
	i_assert(pos == size + 1);
	return 0;
}

static void
coi_webpush_hkdf(const unsigned char *salt, size_t salt_len,
		 const unsigned char *ikm, size_t ikm_len,
		 const void *info, size_t info_len,
		 unsigned char *okm, size_t okm_len)
{
	buffer_t okm_buf;

	/* a fixed buffer over okm: the key material stays off the data
	   stack */
	buffer_create_from_data(&okm_buf, okm, okm_len);
	hmac_hkdf(&hash_method_sha256, salt, salt_len, ikm, ikm_len,
		  info, info_len, &okm_buf, okm_len);
	i_assert(okm_buf.used == okm_len);
}

static int
coi_webpush_encrypt_key(
	const unsigned char ua_public[COI_WEBPUSH_P256_POINT_SIZE],
	const unsigned char auth[COI_WEBPUSH_AUTH_SIZE], EVP_PKEY *as_key,
	const unsigned char salt[COI_WEBPUSH_SALT_SIZE],
	const void *plaintext, size_t size,
	buffer_t *body_out, const char **error_r)
{
	unsigned char as_public[COI_WEBPUSH_P256_POINT_SIZE];
	unsigned char ecdh_secret[COI_WEBPUSH_P256_COORD_SIZE];
	unsigned char ikm[32], cek[16], nonce[12];
	unsigned char key_info[sizeof(coi_webpush_key_info) +
			       2 * COI_WEBPUSH_P256_POINT_SIZE];
	unsigned char rs[4];
	unsigned char *record;
	EVP_PKEY *ua_key;
	size_t start;
	int ret;

	if (size > COI_WEBPUSH_MAX_PLAINTEXT_SIZE) {
		*error_r = t_strdup_printf(
			"push message too large (%zu > %u octets)",
			size, COI_WEBPUSH_MAX_PLAINTEXT_SIZE);
		return -1;
	}
	ua_key = coi_webpush_p256_public_key(ua_public);
	if (ua_key == NULL) {
		*error_r = "subscription key is not a point on P-256";
		return -1;
	}
	if (coi_webpush_pkey_get_point(as_key, as_public) < 0) {
		EVP_PKEY_free(ua_key);
		*error_r = "ephemeral key has no public point";
		return -1;
	}
	ret = coi_webpush_ecdh(as_key, ua_key, ecdh_secret, error_r);
	EVP_PKEY_free(ua_key);
	if (ret < 0)
		return -1;

	/* RFC 8291 section 3.4: mix the auth secret into the ECDH secret,
	   bound to both public keys, then derive key and nonce with the
	   salt. */
	memcpy(key_info, coi_webpush_key_info, sizeof(coi_webpush_key_info));
	memcpy(key_info + sizeof(coi_webpush_key_info), ua_public,
	       COI_WEBPUSH_P256_POINT_SIZE);
	memcpy(key_info + sizeof(coi_webpush_key_info) +
	       COI_WEBPUSH_P256_POINT_SIZE, as_public,
	       COI_WEBPUSH_P256_POINT_SIZE);
	coi_webpush_hkdf(auth, COI_WEBPUSH_AUTH_SIZE,
			 ecdh_secret, sizeof(ecdh_secret),
			 key_info, sizeof(key_info), ikm, sizeof(ikm));
	coi_webpush_hkdf(salt, COI_WEBPUSH_SALT_SIZE, ikm, sizeof(ikm),
			 coi_webpush_cek_info, sizeof(coi_webpush_cek_info),
			 cek, sizeof(cek));
	coi_webpush_hkdf(salt, COI_WEBPUSH_SALT_SIZE, ikm, sizeof(ikm),
			 coi_webpush_nonce_info, sizeof(coi_webpush_nonce_info),
			 nonce, sizeof(nonce));
	safe_memset(ecdh_secret, 0, sizeof(ecdh_secret));
	safe_memset(ikm, 0, sizeof(ikm));

	/* RFC 8188 section 2.1 header; the key id is our public key */
	start = body_out->used;
	buffer_append(body_out, salt, COI_WEBPUSH_SALT_SIZE);
	rs[0] = (COI_WEBPUSH_RECORD_SIZE >> 24) & 0xff;
	rs[1] = (COI_WEBPUSH_RECORD_SIZE >> 16) & 0xff;
	rs[2] = (COI_WEBPUSH_RECORD_SIZE >> 8) & 0xff;
	rs[3] = COI_WEBPUSH_RECORD_SIZE & 0xff;
	buffer_append(body_out, rs, sizeof(rs));
	buffer_append_c(body_out, COI_WEBPUSH_P256_POINT_SIZE);
	buffer_append(body_out, as_public, sizeof(as_public));
	i_assert(body_out->used - start == COI_WEBPUSH_HEADER_SIZE);

	record = buffer_append_space_unsafe(body_out,
					    size + 1 + COI_WEBPUSH_TAG_SIZE);
	ret = coi_webpush_aes128gcm_seal(cek, nonce, plaintext, size,
					 record, error_r);
	safe_memset(cek, 0, sizeof(cek));
	safe_memset(nonce, 0, sizeof(nonce));
	if (ret < 0) {
		buffer_set_used_size(body_out, start);
		return -1;
	}
	return 0;
}

int coi_webpush_encrypt(
	const unsigned char ua_public[COI_WEBPUSH_P256_POINT_SIZE],
	const unsigned char auth[COI_WEBPUSH_AUTH_SIZE],
	const void *plaintext, size_t size,
	buffer_t *body_out, const char **error_r)
{
	unsigned char salt[COI_WEBPUSH_SALT_SIZE];
	EVP_PKEY *as_key;
	int ret;

	/* RFC 8291 section 3.1: a new key pair and salt for every message */
	as_key = coi_webpush_p256_generate(error_r);
	if (as_key == NULL)
		return -1;
	random_fill(salt, sizeof(salt));
	ret = coi_webpush_encrypt_key(ua_public, auth, as_key, salt,
				      plaintext, size, body_out, error_r);
	EVP_PKEY_free(as_key);
	return ret;
}

int coi_webpush_encrypt_with(
	const unsigned char ua_public[COI_WEBPUSH_P256_POINT_SIZE],
	const unsigned char auth[COI_WEBPUSH_AUTH_SIZE],
	const unsigned char as_private[COI_WEBPUSH_P256_PRIVATE_SIZE],
	const unsigned char salt[COI_WEBPUSH_SALT_SIZE],
	const void *plaintext, size_t size,
	buffer_t *body_out, const char **error_r)
{
	EVP_PKEY *as_key;
	int ret;

	as_key = coi_webpush_p256_keypair(as_private, error_r);
	if (as_key == NULL)
		return -1;
	ret = coi_webpush_encrypt_key(ua_public, auth, as_key, salt,
				      plaintext, size, body_out, error_r);
	EVP_PKEY_free(as_key);
	return ret;
}
