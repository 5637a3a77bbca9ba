/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "hex-binary.h"
#include "hmac.h"
#include "sha2.h"
#include "unlink-directory.h"
#include "test-common.h"
#include "coi-webpush-crypto.h"

#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

/* RFC 8291 Appendix A, as in /work/shared/specs/rfc8291-vector.txt */
#define RFC_PLAINTEXT "When I grow up, I want to be a watermelon"
#define RFC_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC_AS_PUBLIC \
	"BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_UA_PRIVATE "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
#define RFC_UA_PUBLIC \
	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define RFC_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC_BODY \
	"DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

static const char *test_dir;

static const unsigned char *test_b64url(const char *str, size_t size)
{
	buffer_t *buf = t_base64url_decode_str(BASE64_DECODE_FLAG_NO_PADDING,
					       str);

	i_assert(buf->used == size);
	return buf->data;
}

static const char *test_to_b64url(const void *data, size_t size)
{
	string_t *str = t_str_new(MAX_BASE64_ENCODED_SIZE(size) + 1);

	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0, data, size, str);
	return str_c(str);
}

static const char *test_fill(size_t size, char c)
{
	char *str = t_malloc0(size + 1);

	memset(str, c, size);
	return str;
}

static bool test_has_suffix(const char *str, const char *suffix)
{
	size_t len = strlen(str), suffix_len = strlen(suffix);

	return len >= suffix_len && strcmp(str + len - suffix_len, suffix) == 0;
}

static const char *test_path(const char *name)
{
	return t_strdup_printf("%s/%s", test_dir, name);
}

static void test_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	i_assert(fd != -1);
	i_assert(write(fd, data, size) == (ssize_t)size);
	i_close_fd(&fd);
}

static unsigned int test_dir_count_files(void)
{
	DIR *dir = opendir(test_dir);
	struct dirent *d;
	unsigned int count = 0;

	i_assert(dir != NULL);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.')
			count++;
	}
	(void)closedir(dir);
	return count;
}

/* A P-256 key pair from a private scalar and its public point, as the user
   agent of the RFC example has it. */
static EVP_PKEY *
test_p256_key(const unsigned char *priv, const unsigned char *pub)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	BIGNUM *d = NULL;

	i_assert(bld != NULL);
	i_assert(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						 "prime256v1", 0) == 1);
	if (priv != NULL) {
		d = BN_bin2bn(priv, 32, NULL);
		i_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY,
						d) == 1);
	}
	i_assert(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
						  pub, 65) == 1);
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	i_assert(params != NULL && ctx != NULL);
	i_assert(EVP_PKEY_fromdata_init(ctx) == 1);
	i_assert(EVP_PKEY_fromdata(ctx, &pkey, priv != NULL ?
				   EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
				   params) == 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(d);
	return pkey;
}

/* An independent RFC 8291 decrypter: what a user agent does with a body. */
static int
test_decrypt(EVP_PKEY *ua_key, const unsigned char ua_public[65],
	     const unsigned char auth[16], const buffer_t *body,
	     buffer_t *plaintext_r)
{
	const unsigned char *data = body->data;
	unsigned char secret[32], tag[16], *out;
	size_t secret_len = sizeof(secret), ct_len;
	buffer_t *info, *ikm, *cek, *nonce;
	EVP_PKEY *as_key;
	EVP_PKEY_CTX *ctx;
	EVP_CIPHER_CTX *cctx;
	int len, len2, ret;

	if (body->used < 86 + 17 || data[16] != 0 || data[17] != 0 ||
	    data[18] != 0x10 || data[19] != 0 || data[20] != 65)
		return -1;
	as_key = test_p256_key(NULL, data + 21);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ua_key, NULL);
	i_assert(EVP_PKEY_derive_init(ctx) == 1);
	i_assert(EVP_PKEY_derive_set_peer(ctx, as_key) == 1);
	i_assert(EVP_PKEY_derive(ctx, secret, &secret_len) == 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(as_key);

	info = t_buffer_create(160);
	buffer_append(info, "WebPush: info", 14);
	buffer_append(info, ua_public, 65);
	buffer_append(info, data + 21, 65);
	ikm = t_hmac_hkdf(&hash_method_sha256, auth, 16, secret, 32,
			  info->data, info->used, 32);
	cek = t_hmac_hkdf(&hash_method_sha256, data, 16, ikm->data, 32,
			  (const void *)"Content-Encoding: aes128gcm", 28, 16);
	nonce = t_hmac_hkdf(&hash_method_sha256, data, 16, ikm->data, 32,
			    (const void *)"Content-Encoding: nonce", 24, 12);

	ct_len = body->used - 86 - 16;
	memcpy(tag, data + body->used - 16, 16);
	out = t_malloc0(ct_len + 16);
	cctx = EVP_CIPHER_CTX_new();
	i_assert(EVP_DecryptInit_ex2(cctx, EVP_aes_128_gcm(), cek->data,
				     nonce->data, NULL) == 1);
	i_assert(EVP_DecryptUpdate(cctx, out, &len, data + 86,
				   (int)ct_len) == 1);
	i_assert(EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_SET_TAG, 16,
				     tag) == 1);
	ret = EVP_DecryptFinal_ex(cctx, out + len, &len2);
	EVP_CIPHER_CTX_free(cctx);
	ERR_clear_error();
	if (ret != 1)
		return -1;
	len += len2;
	/* one last record: the plaintext, then the 0x02 delimiter */
	if (len < 1 || out[len - 1] != 0x02)
		return -1;
	buffer_append(plaintext_r, out, len - 1);
	return 0;
}

static void test_webpush_rfc8291_vector(void)
{
	const unsigned char *ua_public, *ua_private;
	EVP_PKEY *ua_key;
	buffer_t *body, *plaintext;
	const char *error;

	test_begin("webpush RFC 8291 appendix A");
	ua_public = test_b64url(RFC_UA_PUBLIC, 65);
	ua_private = test_b64url(RFC_UA_PRIVATE, 32);
	body = t_buffer_create(256);
	buffer_append(body, "x", 1);
	test_assert(coi_webpush_encrypt_with(
		ua_public, test_b64url(RFC_AUTH, 16),
		test_b64url(RFC_AS_PRIVATE, 32), test_b64url(RFC_SALT, 16),
		RFC_PLAINTEXT, strlen(RFC_PLAINTEXT), body, &error) == 0);
	/* appended after what was there */
	test_assert(body->used == 1 + 86 + strlen(RFC_PLAINTEXT) + 1 + 16);
	test_assert(((const char *)body->data)[0] == 'x');
	buffer_delete(body, 0, 1);
	test_assert_strcmp(test_to_b64url(body->data, body->used), RFC_BODY);
	/* the key id is the public key of the example */
	test_assert(memcmp(CONST_PTR_OFFSET(body->data, 21),
			   test_b64url(RFC_AS_PUBLIC, 65), 65) == 0);

	/* the test decrypter agrees with the RFC */
	ua_key = test_p256_key(ua_private, ua_public);
	plaintext = t_buffer_create(64);
	test_assert(test_decrypt(ua_key, ua_public, test_b64url(RFC_AUTH, 16),
				 body, plaintext) == 0);
	test_assert(plaintext->used == strlen(RFC_PLAINTEXT) &&
		    memcmp(plaintext->data, RFC_PLAINTEXT,
			   plaintext->used) == 0);
	EVP_PKEY_free(ua_key);

	/* a private key outside [1, n-1] */
	buffer_set_used_size(body, 0);
	test_assert(coi_webpush_encrypt_with(
		ua_public, test_b64url(RFC_AUTH, 16),
		(const unsigned char *)"\xff\xff\xff\xff\xff\xff\xff\xff"
		"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
		"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		test_b64url(RFC_SALT, 16), "x", 1, body, &error) < 0);
	test_assert(body->used == 0);
	test_end();
}

static void test_webpush_encrypt(void)
{
	static const unsigned char auth[16] = "0123456789abcdef";
	unsigned char ua_public[65], bad_public[65];
	size_t len = sizeof(ua_public);
	EVP_PKEY *ua_key;
	buffer_t *body, *body2, *plaintext;
	unsigned char *big;
	const char *error;

	test_begin("webpush encrypt");
	ua_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	i_assert(ua_key != NULL);
	i_assert(EVP_PKEY_get_octet_string_param(ua_key,
		OSSL_PKEY_PARAM_PUB_KEY, ua_public, sizeof(ua_public),
		&len) == 1 && len == 65 && ua_public[0] == 0x04);

	body = t_buffer_create(256);
	body2 = t_buffer_create(256);
	plaintext = t_buffer_create(64);
	test_assert(coi_webpush_encrypt(ua_public, auth, "hello", 5,
					body, &error) == 0);
	test_assert(body->used == 86 + 5 + 1 + 16);
	test_assert(test_decrypt(ua_key, ua_public, auth, body,
				 plaintext) == 0);
	test_assert(plaintext->used == 5 &&
		    memcmp(plaintext->data, "hello", 5) == 0);
	/* fresh salt and key every time */
	test_assert(coi_webpush_encrypt(ua_public, auth, "hello", 5,
					body2, &error) == 0);
	test_assert(body2->used == body->used);
	test_assert(memcmp(body->data, body2->data, 16) != 0);
	test_assert(memcmp(CONST_PTR_OFFSET(body->data, 21),
			   CONST_PTR_OFFSET(body2->data, 21), 65) != 0);
	/* a wrong auth secret does not decrypt */
	buffer_set_used_size(plaintext, 0);
	test_assert(test_decrypt(ua_key, ua_public,
				 (const unsigned char *)"0123456789abcdeF",
				 body, plaintext) < 0);

	/* empty plaintext */
	buffer_set_used_size(body, 0);
	test_assert(coi_webpush_encrypt(ua_public, auth, NULL, 0,
					body, &error) == 0);
	test_assert(body->used == 86 + 1 + 16);
	test_assert(test_decrypt(ua_key, ua_public, auth, body,
				 plaintext) == 0 && plaintext->used == 0);

	/* the largest plaintext gives a 4096 octet body; one more fails and
	   leaves the output alone */
	test_assert(COI_WEBPUSH_MAX_PLAINTEXT_SIZE == 3993);
	big = t_malloc0(COI_WEBPUSH_MAX_PLAINTEXT_SIZE + 1);
	memset(big, 'a', COI_WEBPUSH_MAX_PLAINTEXT_SIZE + 1);
	buffer_set_used_size(body, 0);
	test_assert(coi_webpush_encrypt(ua_public, auth, big,
					COI_WEBPUSH_MAX_PLAINTEXT_SIZE,
					body, &error) == 0);
	test_assert(body->used == 4096);
	test_assert(test_decrypt(ua_key, ua_public, auth, body,
				 plaintext) == 0 &&
		    plaintext->used == COI_WEBPUSH_MAX_PLAINTEXT_SIZE);
	buffer_set_used_size(body, 0);
	error = NULL;
	test_assert(coi_webpush_encrypt(ua_public, auth, big,
					COI_WEBPUSH_MAX_PLAINTEXT_SIZE + 1,
					body, &error) < 0);
	test_assert(error != NULL && strstr(error, "too large") != NULL);
	test_assert(body->used == 0);

	/* a subscription key off the curve */
	memcpy(bad_public, ua_public, sizeof(bad_public));
	bad_public[64] ^= 0x01;
	test_assert(coi_webpush_encrypt(bad_public, auth, "x", 1,
					body, &error) < 0);
	test_assert(body->used == 0);
	test_assert(ERR_peek_error() == 0);
	EVP_PKEY_free(ua_key);
	test_end();
}

static void
test_jwt_part(const char *part, buffer_t *out)
{
	test_assert(base64url_decode(BASE64_DECODE_FLAG_NO_PADDING, part,
				     strlen(part), out) >= 0);
}

static void test_webpush_vapid(void)
{
	struct coi_webpush_vapid_key *key, *key2;
	const char *path = test_path("vapid.pem"), *value, *error;
	const char *const *parts, *t, *k, *signed_part;
	buffer_t *header, *claims, *sig, *point;
	unsigned char *der = NULL;
	int der_len;
	ECDSA_SIG *ecsig;
	BIO *bio;
	EVP_PKEY *pub;
	EVP_MD_CTX *mctx;
	unsigned char pub_point[65];
	size_t len;
	struct stat st;

	test_begin("webpush vapid key and JWT");
	/* missing and not to be created */
	error = NULL;
	test_assert(coi_webpush_vapid_key_load(path, FALSE, &key, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);
	test_assert(test_dir_count_files() == 0);

	test_assert(coi_webpush_vapid_key_load(path, TRUE, &key, &error) == 0);
	test_assert(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	/* no temporary file left behind */
	test_assert(test_dir_count_files() == 1);
	test_assert(str_begins_with(coi_webpush_vapid_key_get_public_pem(key),
			       "-----BEGIN PUBLIC KEY-----\n"));
	test_assert(test_has_suffix(coi_webpush_vapid_key_get_public_pem(key),
				  "\n-----END PUBLIC KEY-----"));
	/* reloading gives the same key */
	test_assert(coi_webpush_vapid_key_load(path, FALSE, &key2, &error) == 0);
	test_assert_strcmp(coi_webpush_vapid_key_get_public_pem(key),
			   coi_webpush_vapid_key_get_public_pem(key2));
	test_assert_strcmp(coi_webpush_vapid_key_get_public_b64url(key),
			   coi_webpush_vapid_key_get_public_b64url(key2));
	coi_webpush_vapid_key_free(&key2);
	test_assert(key2 == NULL);
	/* create=TRUE does not replace an existing key */
	test_assert(coi_webpush_vapid_key_load(path, TRUE, &key2, &error) == 0);
	test_assert_strcmp(coi_webpush_vapid_key_get_public_b64url(key),
			   coi_webpush_vapid_key_get_public_b64url(key2));
	coi_webpush_vapid_key_free(&key2);

	/* the k= key is the PEM key's point */
	point = t_buffer_create(65);
	test_jwt_part(coi_webpush_vapid_key_get_public_b64url(key), point);
	test_assert(point->used == 65 &&
		    ((const unsigned char *)point->data)[0] == 0x04);
	bio = BIO_new_mem_buf(coi_webpush_vapid_key_get_public_pem(key), -1);
	pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	i_assert(pub != NULL);
	test_assert(EVP_PKEY_get_octet_string_param(pub,
		OSSL_PKEY_PARAM_PUB_KEY, pub_point, sizeof(pub_point),
		&len) == 1 && len == 65 &&
		memcmp(pub_point, point->data, 65) == 0);

	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net", 1453523768,
		"mailto:push@example.com", &value, &error) == 0);
	test_assert(str_begins_with(value, "vapid t="));
	t = t_strcut(value + 8, ',');
	k = strstr(value, ", k=");
	test_assert(k != NULL);
	test_assert_strcmp(k + 4, coi_webpush_vapid_key_get_public_b64url(key));

	parts = t_strsplit(t, ".");
	test_assert(str_array_length(parts) == 3);
	header = t_buffer_create(64);
	claims = t_buffer_create(128);
	sig = t_buffer_create(64);
	test_jwt_part(parts[0], header);
	test_jwt_part(parts[1], claims);
	test_jwt_part(parts[2], sig);
	test_assert_strcmp(t_strndup(header->data, header->used),
			   "{\"typ\":\"JWT\",\"alg\":\"ES256\"}");
	test_assert_strcmp(t_strndup(claims->data, claims->used),
			   "{\"aud\":\"https://push.example.net\","
			   "\"exp\":1453523768,"
			   "\"sub\":\"mailto:push@example.com\"}");
	test_assert(sig->used == 64);

	/* verify the signature like a push service: r || s back to DER */
	ecsig = ECDSA_SIG_new();
	i_assert(ecsig != NULL);
	i_assert(ECDSA_SIG_set0(ecsig, BN_bin2bn(sig->data, 32, NULL),
			BN_bin2bn(CONST_PTR_OFFSET(sig->data, 32), 32,
				  NULL)) == 1);
	der_len = i2d_ECDSA_SIG(ecsig, &der);
	i_assert(der_len > 0);
	ECDSA_SIG_free(ecsig);
	signed_part = t_strdup_printf("%s.%s", parts[0], parts[1]);
	mctx = EVP_MD_CTX_new();
	test_assert(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", NULL, NULL,
					    pub, NULL) == 1);
	test_assert(EVP_DigestVerify(mctx, der, der_len,
				     (const void *)signed_part,
				     strlen(signed_part)) == 1);
	EVP_MD_CTX_free(mctx);
	/* and a tampered token does not verify */
	signed_part = t_strdup_printf("%s.%sA", parts[0], parts[1]);
	mctx = EVP_MD_CTX_new();
	test_assert(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", NULL, NULL,
					    pub, NULL) == 1);
	test_assert(EVP_DigestVerify(mctx, der, der_len,
				     (const void *)signed_part,
				     strlen(signed_part)) != 1);
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_PKEY_free(pub);

	/* JSON escaping, a port, no subject */
	test_assert(coi_webpush_vapid_authorization(key,
		"http://127.0.0.1:8080", 42, "mailto:\"quoted\\\"@example.com",
		&value, &error) == 0);
	parts = t_strsplit(t_strcut(value + 8, ','), ".");
	buffer_set_used_size(claims, 0);
	test_jwt_part(parts[1], claims);
	test_assert_strcmp(t_strndup(claims->data, claims->used),
			   "{\"aud\":\"http://127.0.0.1:8080\",\"exp\":42,"
			   "\"sub\":\"mailto:\\\"quoted\\\\\\\"@example.com\"}");
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net", 42, NULL, &value, &error) == 0);
	parts = t_strsplit(t_strcut(value + 8, ','), ".");
	buffer_set_used_size(claims, 0);
	test_jwt_part(parts[1], claims);
	test_assert_strcmp(t_strndup(claims->data, claims->used),
			   "{\"aud\":\"https://push.example.net\",\"exp\":42}");

	/* bad input */
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net/path", 42, NULL, &value, &error) < 0);
	test_assert(coi_webpush_vapid_authorization(key,
		"https://Push.example.net", 42, NULL, &value, &error) < 0);
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net:443", 42, NULL, &value, &error) < 0);
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net", 42, "push@example.com",
		&value, &error) < 0);
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net", 42, "mailto:a\nb@example.com",
		&value, &error) < 0);
	test_assert(coi_webpush_vapid_authorization(key,
		"https://push.example.net", 0, NULL, &value, &error) < 0);
	coi_webpush_vapid_key_free(&key);
	test_assert(key == NULL);
	test_end();
}

static void test_webpush_vapid_key_files(void)
{
	static const char garbage[] = "not a key\n";
	const char *path, *error;
	struct coi_webpush_vapid_key *key;
	EVP_PKEY *pkey;
	BIO *bio;
	char *data;
	long len;

	test_begin("webpush vapid key files");
	/* garbage: an error naming the file, and the file is kept */
	path = test_path("garbage.pem");
	test_write_file(path, garbage, sizeof(garbage) - 1);
	error = NULL;
	test_assert(coi_webpush_vapid_key_load(path, TRUE, &key, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);
	test_assert(ERR_peek_error() == 0);

	/* a P-384 key is not a VAPID key */
	path = test_path("p384.pem");
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	bio = BIO_new(BIO_s_mem());
	i_assert(pkey != NULL && bio != NULL);
	i_assert(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
					  NULL, NULL) == 1);
	len = BIO_get_mem_data(bio, &data);
	test_write_file(path, data, len);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	error = NULL;
	test_assert(coi_webpush_vapid_key_load(path, FALSE, &key, &error) < 0);
	test_assert(error != NULL && strstr(error, "P-256") != NULL);

	/* a public key is not a private key */
	path = test_path("public.pem");
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	bio = BIO_new(BIO_s_mem());
	i_assert(pkey != NULL && bio != NULL);
	i_assert(PEM_write_bio_PUBKEY(bio, pkey) == 1);
	len = BIO_get_mem_data(bio, &data);
	test_write_file(path, data, len);
	BIO_free(bio);
	error = NULL;
	test_assert(coi_webpush_vapid_key_load(path, FALSE, &key, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);

	/* a traditional "EC PRIVATE KEY" file (as openssl ecparam
	   -genkey writes) is accepted */
	path = test_path("traditional.pem");
	bio = BIO_new(BIO_s_mem());
	i_assert(bio != NULL);
	i_assert(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0,
						      NULL, NULL) == 1);
	len = BIO_get_mem_data(bio, &data);
	test_assert(len > 0 && strstr(data, "BEGIN EC PRIVATE KEY") != NULL);
	test_write_file(path, data, len);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	test_assert(coi_webpush_vapid_key_load(path, FALSE, &key, &error) == 0);
	coi_webpush_vapid_key_free(&key);

	/* a directory that does not exist */
	path = test_path("nonexistent/vapid.pem");
	error = NULL;
	test_assert(coi_webpush_vapid_key_load(path, TRUE, &key, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);
	test_assert(ERR_peek_error() == 0);
	test_end();
}

/* Processes creating the same key at the same time all end up with the
   same key. */
static void test_webpush_vapid_key_race(void)
{
	struct coi_webpush_vapid_key *key;
	const char *path, *error, *pub;
	char buf[256];
	unsigned int i;
	int fds[2], status;
	ssize_t ret;
	pid_t pid;

	test_begin("webpush vapid key creation race");
	for (i = 0; i < 4; i++) {
		path = test_path(t_strdup_printf("race%u.pem", i));
		i_assert(pipe(fds) == 0);
		pid = fork();
		i_assert(pid != -1);
		if (pid == 0) {
			i_close_fd(&fds[0]);
			if (coi_webpush_vapid_key_load(path, TRUE, &key,
						       &error) < 0)
				test_exit(1);
			pub = coi_webpush_vapid_key_get_public_b64url(key);
			if (write(fds[1], pub, strlen(pub)) < 0)
				test_exit(1);
			coi_webpush_vapid_key_free(&key);
			i_close_fd(&fds[1]);
			test_exit(0);
		}
		i_close_fd(&fds[1]);
		test_assert(coi_webpush_vapid_key_load(path, TRUE, &key,
						       &error) == 0);
		ret = read(fds[0], buf, sizeof(buf) - 1);
		i_close_fd(&fds[0]);
		test_assert(waitpid(pid, &status, 0) == pid &&
			    WIFEXITED(status) && WEXITSTATUS(status) == 0);
		test_assert_idx(ret > 0, i);
		if (ret > 0) {
			buf[ret] = '\0';
			test_assert_strcmp_idx(buf,
				coi_webpush_vapid_key_get_public_b64url(key), i);
		}
		coi_webpush_vapid_key_free(&key);
	}
	test_end();
}

static void test_webpush_endpoint_origin(void)
{
	static const struct {
		const char *url, *origin;
	} valid[] = {
		{ "https://push.example.net/p/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
		  "https://push.example.net" },
		{ "https://push.example.net:443/x", "https://push.example.net" },
		{ "http://push.example.net:80/x", "http://push.example.net" },
		{ "http://127.0.0.1:8080/push/1", "http://127.0.0.1:8080" },
		{ "https://push.example.net:8443/", "https://push.example.net:8443" },
		{ "http://push.example.net:443/", "http://push.example.net:443" },
		{ "https://push.example.net:80/", "https://push.example.net:80" },
		{ "https://PUSH.Example.NET/a?b=c", "https://push.example.net" },
		{ "HTTPS://push.example.net/", "https://push.example.net" },
		{ "https://[::1]:8443/x", "https://[::1]:8443" },
		{ "https://fcm.googleapis.com/fcm/send/abc:def",
		  "https://fcm.googleapis.com" },
	};
	static const char *const invalid[] = {
		"", "push.example.net", "ftp://push.example.net/",
		"https://", "https://user:pass@push.example.net/",
		"https://push.example.net:99999/", "mailto:push@example.net",
		"https://push.example.net/#fragment", "https://push example/",
	};
	const char *origin, *error;
	unsigned int i;

	test_begin("webpush endpoint origin");
	for (i = 0; i < N_ELEMENTS(valid); i++) {
		origin = NULL;
		test_assert_idx(coi_webpush_endpoint_origin(valid[i].url,
				&origin, &error) == 0, i);
		test_assert_strcmp_idx(origin, valid[i].origin, i);
	}
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		error = NULL;
		test_assert_idx(coi_webpush_endpoint_origin(invalid[i],
				&origin, &error) < 0, i);
		test_assert_idx(error != NULL, i);
	}
	test_end();
}

static const char *test_b64_std(const char *b64url, bool pad)
{
	string_t *str = t_str_new(128);

	for (; *b64url != '\0'; b64url++) {
		if (*b64url == '-')
			str_append_c(str, '+');
		else if (*b64url == '_')
			str_append_c(str, '/');
		else
			str_append_c(str, *b64url);
	}
	while (pad && str_len(str) % 4 != 0)
		str_append_c(str, '=');
	return str_c(str);
}

static void test_webpush_p256dh(void)
{
	const unsigned char *point = test_b64url(RFC_UA_PUBLIC, 65);
	unsigned char bad[65];
	const char *valid[4], *error;
	buffer_t *out;
	unsigned int i;

	test_begin("webpush p256dh");
	valid[0] = RFC_UA_PUBLIC;
	valid[1] = t_strconcat(RFC_UA_PUBLIC, "=", NULL);
	valid[2] = test_b64_std(RFC_UA_PUBLIC, TRUE);
	valid[3] = test_b64_std(RFC_UA_PUBLIC, FALSE);
	out = t_buffer_create(65);
	for (i = 0; i < N_ELEMENTS(valid); i++) {
		buffer_set_used_size(out, 0);
		test_assert_idx(coi_webpush_p256dh_parse(valid[i], out,
							 &error) == 0, i);
		test_assert_idx(out->used == 65 &&
				memcmp(out->data, point, 65) == 0, i);
	}

	buffer_set_used_size(out, 0);
	/* 64 octets */
	test_assert(coi_webpush_p256dh_parse(test_to_b64url(point, 64), out,
					     &error) < 0);
	test_assert(strstr(error, "65 octets") != NULL);
	/* 66 octets */
	memcpy(bad, point, 65);
	test_assert(coi_webpush_p256dh_parse(t_strconcat(
		test_to_b64url(bad, 65), "AA", NULL), out, &error) < 0);
	/* not on the curve */
	bad[64] ^= 0x01;
	test_assert(coi_webpush_p256dh_parse(test_to_b64url(bad, 65), out,
					     &error) < 0);
	test_assert(strstr(error, "not a point") != NULL);
	/* decoding alone leaves the curve check to the encryption */
	buffer_set_used_size(out, 0);
	test_assert(coi_webpush_p256dh_decode(test_to_b64url(bad, 65), out,
					      &error) == 0);
	test_assert(out->used == 65 && memcmp(out->data, bad, 65) == 0);
	buffer_set_used_size(out, 0);
	test_assert(coi_webpush_p256dh_decode(test_to_b64url(bad, 64), out,
					      &error) < 0);
	test_assert(out->used == 0);
	/* all zero: the point at infinity is not a key */
	memset(bad + 1, 0, 64);
	test_assert(coi_webpush_p256dh_parse(test_to_b64url(bad, 65), out,
					     &error) < 0);
	/* compressed: 33 octets with 0x02, and 65 octets with 0x02 */
	memcpy(bad, point, 33);
	bad[0] = 0x02 | (point[64] & 1);
	test_assert(coi_webpush_p256dh_parse(test_to_b64url(bad, 33), out,
					     &error) < 0);
	memcpy(bad, point, 65);
	bad[0] = 0x02;
	test_assert(coi_webpush_p256dh_parse(test_to_b64url(bad, 65), out,
					     &error) < 0);
	test_assert(strstr(error, "uncompressed") != NULL);
	/* garbage */
	test_assert(coi_webpush_p256dh_parse("", out, &error) < 0);
	test_assert(coi_webpush_p256dh_parse("!!!!", out, &error) < 0);
	test_assert(strstr(error, "base64") != NULL);
	test_assert(coi_webpush_p256dh_parse(t_strconcat(" ", RFC_UA_PUBLIC,
							 NULL), out, &error) < 0);
	test_assert(coi_webpush_p256dh_parse(t_strconcat(RFC_UA_PUBLIC, "===",
							 NULL), out, &error) < 0);
	test_assert(coi_webpush_p256dh_parse(t_strconcat(RFC_UA_PUBLIC, "A",
							 NULL), out, &error) < 0);
	test_assert(coi_webpush_p256dh_parse(test_fill(300, 'A'), out,
					     &error) < 0);
	test_assert(strstr(error, "too long") != NULL);
	/* failures add nothing and leave no OpenSSL errors behind */
	test_assert(out->used == 0);
	test_assert(ERR_peek_error() == 0);
	test_end();
}

static void test_webpush_auth(void)
{
	static const unsigned char rfc_auth[16] = {
		0x05, 0x30, 0x59, 0x32, 0xa1, 0xc7, 0xea, 0xbe,
		0x13, 0xb6, 0xce, 0xc9, 0xfd, 0xa4, 0x88, 0x82
	};
	buffer_t *out;
	const char *error;

	test_begin("webpush auth");
	out = t_buffer_create(16);
	test_assert(coi_webpush_auth_parse(RFC_AUTH, out, &error) == 0);
	test_assert(out->used == 16 && memcmp(out->data, rfc_auth, 16) == 0);
	buffer_set_used_size(out, 0);
	test_assert(coi_webpush_auth_parse(test_b64_std(RFC_AUTH, TRUE), out,
					   &error) == 0);
	test_assert(out->used == 16 && memcmp(out->data, rfc_auth, 16) == 0);
	/* the spec's example */
	buffer_set_used_size(out, 0);
	test_assert(coi_webpush_auth_parse("tBHItJI5svbpez7KI4CCXg==", out,
					   &error) == 0);
	test_assert(out->used == 16);

	buffer_set_used_size(out, 0);
	test_assert(coi_webpush_auth_parse(test_to_b64url(rfc_auth, 15), out,
					   &error) < 0);
	test_assert(strstr(error, "16 octets") != NULL);
	test_assert(coi_webpush_auth_parse(t_strconcat(RFC_AUTH, "AA", NULL),
					   out, &error) < 0);
	test_assert(coi_webpush_auth_parse("", out, &error) < 0);
	test_assert(coi_webpush_auth_parse("tBHItJI5svbpez7KI4CCXg=*", out,
					   &error) < 0);
	test_assert(coi_webpush_auth_parse("tBHItJI5 svbpez7KI4CCXg==", out,
					   &error) < 0);
	test_assert(coi_webpush_auth_parse(test_fill(100, 'A'), out,
					   &error) < 0);
	test_assert(out->used == 0);
	test_end();
}

static void test_webpush_validation_token(void)
{
	static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";
	static const unsigned char secret2[32] = "0123456789abcdef0123456789abcdX";
	const char *id = "31754ee7-d3ee-4226-b112-6895ed26fcf8";
	const time_t created = 1700000000;
	static const char *const malformed[] = {
		"", ".", "abc", "-1.abc", "x.abc", "99999999999999999999999.abc",
	};
	const char *token, *error, *tampered;
	unsigned int i;
	char *p;

	test_begin("webpush validation token");
	token = coi_webpush_validation_token(secret, sizeof(secret), "user",
					     id, created);
	test_assert(str_begins_with(token, "1700000000."));
	test_assert(strlen(token) == 11 + 43);
	/* deterministic */
	test_assert_strcmp(token, coi_webpush_validation_token(secret,
		sizeof(secret), "user", id, created));

	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, token, created, 300, &error) == 0);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, token, created + 300, 300, &error) == 0);
	/* expired */
	error = NULL;
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, token, created + 301, 300, &error) < 0);
	test_assert(error != NULL && strstr(error, "expired") != NULL);
	/* from the future */
	error = NULL;
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, token, created - 1, 300, &error) < 0);
	test_assert(error != NULL && strstr(error, "future") != NULL);
	/* other user, other subscription, other secret */
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user2", id, token, created, 300, &error) < 0);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"use", id, token, created, 300, &error) < 0);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", "31754ee7-d3ee-4226-b112-6895ed26fcf9", token,
		created, 300, &error) < 0);
	test_assert(coi_webpush_validation_token_check(secret2, sizeof(secret2),
		"user", id, token, created, 300, &error) < 0);
	/* fields do not run into each other */
	test_assert_strcmp(coi_webpush_validation_token(secret, sizeof(secret),
		"ab", "c", created), coi_webpush_validation_token(secret,
		sizeof(secret), "ab", "c", created));
	test_assert(strcmp(coi_webpush_validation_token(secret, sizeof(secret),
		"ab", "c", created), coi_webpush_validation_token(secret,
		sizeof(secret), "a", "bc", created)) != 0);

	/* tampered: signature, timestamp, format */
	tampered = t_strdup(token);
	p = strchr(tampered, '.') + 5;
	*p = *p == 'A' ? 'B' : 'A';
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, tampered, created, 300, &error) < 0);
	tampered = t_strconcat("1700000001", strchr(token, '.'), NULL);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, tampered, created + 1, 300, &error) < 0);
	tampered = t_strconcat("01700000000", strchr(token, '.'), NULL);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, tampered, created, 300, &error) < 0);
	tampered = t_strconcat(token, "A", NULL);
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, tampered, created, 300, &error) < 0);
	tampered = t_strcut(token, '.');
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, tampered, created, 300, &error) < 0);
	for (i = 0; i < N_ELEMENTS(malformed); i++) {
		test_assert_idx(coi_webpush_validation_token_check(secret,
			sizeof(secret), "user", id, malformed[i], created,
			300, &error) < 0, i);
	}
	/* oversize */
	error = NULL;
	test_assert(coi_webpush_validation_token_check(secret, sizeof(secret),
		"user", id, t_strconcat(token, test_fill(1024, 'A'), NULL),
		created, 300, &error) < 0);
	test_assert(error != NULL && strstr(error, "too long") != NULL);
	test_end();
}

static void test_webpush_secret(void)
{
	const char *path = test_path("secret"), *error;
	buffer_t *secret, *secret2, *contents;
	struct stat st;
	char hex[65];
	int fd;
	ssize_t ret;

	test_begin("webpush secret file");
	secret = t_buffer_create(32);
	secret2 = t_buffer_create(32);
	error = NULL;
	test_assert(coi_webpush_secret_load(path, FALSE, secret, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);

	test_assert(coi_webpush_secret_load(path, TRUE, secret, &error) == 0);
	test_assert(secret->used == COI_WEBPUSH_SECRET_SIZE);
	test_assert(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	test_assert(coi_webpush_secret_load(path, TRUE, secret2, &error) == 0);
	test_assert(buffer_cmp(secret, secret2));
	/* stored as hex text */
	fd = open(path, O_RDONLY);
	i_assert(fd != -1);
	ret = read(fd, hex, sizeof(hex));
	i_close_fd(&fd);
	test_assert(ret == 65 && hex[64] == '\n');
	test_assert(ret == 65 && strncmp(hex, binary_to_hex(secret->data, 32),
					 64) == 0);

	/* raw octets, and hex without a newline, are accepted */
	path = test_path("secret-raw");
	test_write_file(path, "0123456789abcdef0123456789abcdef", 32);
	buffer_set_used_size(secret, 0);
	test_assert(coi_webpush_secret_load(path, FALSE, secret, &error) == 0);
	test_assert(secret->used == 32 &&
		    memcmp(secret->data, "0123456789abcdef0123456789abcdef",
			   32) == 0);
	path = test_path("secret-hex");
	test_write_file(path, test_fill(64, 'A'), 64);
	buffer_set_used_size(secret, 0);
	test_assert(coi_webpush_secret_load(path, FALSE, secret, &error) == 0);
	test_assert(secret->used == 32 &&
		    ((const unsigned char *)secret->data)[31] == 0xaa);

	/* anything else is not */
	contents = t_buffer_create(70);
	path = test_path("secret-bad");
	test_write_file(path, test_fill(63, 'a'), 63);
	buffer_set_used_size(secret, 0);
	error = NULL;
	test_assert(coi_webpush_secret_load(path, TRUE, secret, &error) < 0);
	test_assert(error != NULL && strstr(error, path) != NULL);
	buffer_append(contents, test_fill(63, 'a'), 63);
	buffer_append(contents, "g\n", 2);
	test_write_file(path, contents->data, contents->used);
	test_assert(coi_webpush_secret_load(path, TRUE, secret, &error) < 0);
	test_write_file(path, "", 0);
	test_assert(coi_webpush_secret_load(path, TRUE, secret, &error) < 0);
	test_assert(secret->used == 0);
	test_end();
}

static void test_webpush_cleanup(void)
{
	const char *error;

	test_begin("webpush cleanup");
	test_assert(unlink_directory(test_dir, UNLINK_DIRECTORY_FLAG_RMDIR,
				     &error) == 1);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_webpush_rfc8291_vector,
		test_webpush_encrypt,
		test_webpush_vapid,
		test_webpush_vapid_key_files,
		test_webpush_vapid_key_race,
		test_webpush_endpoint_origin,
		test_webpush_p256dh,
		test_webpush_auth,
		test_webpush_validation_token,
		test_webpush_secret,
		test_webpush_cleanup,
		NULL
	};
	char dir_template[] = "/tmp/test-coi-webpush-crypto.XXXXXX";
	int ret;

	/* key and secret files go here; the last test removes it */
	if (mkdtemp(dir_template) == NULL) {
		perror("mkdtemp()");
		return 1;
	}
	test_dir = dir_template;
	ret = test_run(test_functions);
	coi_webpush_crypto_deinit();
	return ret;
}
