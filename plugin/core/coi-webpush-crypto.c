/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "hex-binary.h"
#include "hmac.h"
#include "sha2.h"
#include "randgen.h"
#include "safe-memset.h"
#include "strnum.h"
#include "str-sanitize.h"
#include "unichar.h"
#include "write-full.h"
#include "json-parser.h"
#include "uri-util.h"
#include "http-url.h"
#include "coi-webpush-crypto.h"

#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

/* Only the OpenSSL 3 API: anything deprecated fails to compile. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define COI_WEBPUSH_P256_GROUP "prime256v1"
#define COI_WEBPUSH_P256_COORD_SIZE 32
#define COI_WEBPUSH_ES256_SIG_SIZE (2 * COI_WEBPUSH_P256_COORD_SIZE)
/* Key and secret files are tiny; anything bigger is not ours. */
#define COI_WEBPUSH_FILE_MAX_SIZE (64 * 1024)
/* Subscriptions are limited to 256 octets of p256dh by the spec; the auth
   secret needs 24 characters at most. */
#define COI_WEBPUSH_P256DH_MAX_LEN 256
#define COI_WEBPUSH_AUTH_MAX_LEN 64
/* Separates validation tokens from anything else the secret may sign
   later. */
#define COI_WEBPUSH_VALIDATION_LABEL "coi-webpush-validation"

struct coi_webpush_vapid_key {
	EVP_PKEY *pkey;
	char *public_pem;
	char *public_b64url;
};

/* RFC 7515 JOSE header of every VAPID token */
static const char coi_webpush_jwt_header[] =
	"{\"typ\":\"JWT\",\"alg\":\"ES256\"}";

/* RFC 8291 section 3.4; the sizeof()s include the final NUL, which is part of
   the info strings. */
static const char coi_webpush_key_info[] = "WebPush: info";
static const char coi_webpush_cek_info[] = "Content-Encoding: aes128gcm";
static const char coi_webpush_nonce_info[] = "Content-Encoding: nonce";

/* Describe the most recent OpenSSL error and empty the error queue: errors
   left there would otherwise be reported by the next, unrelated user of
   OpenSSL in this process, such as Dovecot's TLS code. */
static const char *coi_webpush_openssl_error(const char *func)
{
	unsigned long err = ERR_peek_last_error();
	char buf[256];
	const char *error;

	if (err == 0)
		error = t_strdup_printf("%s failed", func);
	else {
		ERR_error_string_n(err, buf, sizeof(buf));
		error = t_strdup_printf("%s failed: %s", func, buf);
	}
	ERR_clear_error();
	return error;
}

static void coi_webpush_buffer_clear(buffer_t *buf)
{
	if (buf->used > 0)
		safe_memset(buffer_get_modifiable_data(buf, NULL), 0, buf->used);
	buffer_set_used_size(buf, 0);
}

/*
 * P-256 keys
 */

static bool coi_webpush_pkey_is_p256(EVP_PKEY *pkey)
{
	char name[64];
	size_t len;

	if (!EVP_PKEY_is_a(pkey, "EC"))
		return FALSE;
	if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) {
		ERR_clear_error();
		return FALSE;
	}
	return strcmp(name, COI_WEBPUSH_P256_GROUP) == 0;
}

/* The public key as an uncompressed point. Built from the coordinates so
   that the result does not depend on the point format the key was stored
   with. */
static int
coi_webpush_pkey_get_point(EVP_PKEY *pkey,
			   unsigned char point_r[COI_WEBPUSH_P256_POINT_SIZE])
{
	BIGNUM *x = NULL, *y = NULL;
	size_t len;
	int ret = -1;

	/* the encoded point, when the key keeps it uncompressed (keys
	   generated or imported here do): much cheaper than the
	   coordinates */
	if (EVP_PKEY_get_octet_string_param(pkey,
			OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point_r,
			COI_WEBPUSH_P256_POINT_SIZE, &len) == 1 &&
	    len == COI_WEBPUSH_P256_POINT_SIZE &&
	    point_r[0] == POINT_CONVERSION_UNCOMPRESSED)
		return 0;
	ERR_clear_error();
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1) {
		point_r[0] = POINT_CONVERSION_UNCOMPRESSED;
		if (BN_bn2binpad(x, point_r + 1,
				 COI_WEBPUSH_P256_COORD_SIZE) ==
		    COI_WEBPUSH_P256_COORD_SIZE &&
		    BN_bn2binpad(y, point_r + 1 + COI_WEBPUSH_P256_COORD_SIZE,
				 COI_WEBPUSH_P256_COORD_SIZE) ==
		    COI_WEBPUSH_P256_COORD_SIZE)
			ret = 0;
	}
	BN_free(x);
	BN_free(y);
	if (ret < 0)
		ERR_clear_error();
	return ret;
}

static EVP_PKEY *
coi_webpush_pkey_fromdata(OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL) {
		if (EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
			pkey = NULL;
	}
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* A public key from an uncompressed point, or NULL when the point is not on
   P-256. Points come from clients, so they are checked before use. */
static EVP_PKEY *
coi_webpush_p256_public_key(
	const unsigned char point[COI_WEBPUSH_P256_POINT_SIZE])
{
	OSSL_PARAM_BLD *bld;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	if (point[0] != POINT_CONVERSION_UNCOMPRESSED)
		return NULL;

	bld = OSSL_PARAM_BLD_new();
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    COI_WEBPUSH_P256_GROUP, 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point,
					     COI_WEBPUSH_P256_POINT_SIZE) == 1)
		pkey = coi_webpush_pkey_fromdata(bld, EVP_PKEY_PUBLIC_KEY);
	OSSL_PARAM_BLD_free(bld);

	if (pkey != NULL) {
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		/* The quick check is complete for P-256: with cofactor 1
		   a point on the curve has the group's order, so the full
		   check's multiplication by the order (as expensive as the
		   ECDH itself) would add nothing. */
		if (ctx == NULL || EVP_PKEY_public_check_quick(ctx) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(ctx);
	}
	if (pkey == NULL)
		ERR_clear_error();
	return pkey;
}

/* Set up once per process: every push generates a key, and with OpenSSL 3
   setting up a context (fetching the implementation) costs about as much
   as the generation itself. */
static EVP_PKEY_CTX *coi_webpush_keygen_ctx = NULL;

static EVP_PKEY *coi_webpush_p256_generate(const char **error_r)
{
	EVP_PKEY_CTX *ctx = coi_webpush_keygen_ctx;
	EVP_PKEY *pkey = NULL;

	if (ctx == NULL) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_group_name(ctx,
				COI_WEBPUSH_P256_GROUP) != 1) {
			*error_r = coi_webpush_openssl_error(
				"P-256 key generation");
			EVP_PKEY_CTX_free(ctx);
			return NULL;
		}
		coi_webpush_keygen_ctx = ctx;
	}
	if (EVP_PKEY_generate(ctx, &pkey) != 1) {
		*error_r = coi_webpush_openssl_error("P-256 key generation");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

void coi_webpush_crypto_deinit(void)
{
	EVP_PKEY_CTX_free(coi_webpush_keygen_ctx);
	coi_webpush_keygen_ctx = NULL;
}

/* A key pair from a known private scalar: only for known-answer tests. The
   public point is computed here because importing a bare private key does
   not give one in every OpenSSL 3 release. */
static EVP_PKEY *
coi_webpush_p256_keypair(
	const unsigned char priv[COI_WEBPUSH_P256_PRIVATE_SIZE],
	const char **error_r)
{
	unsigned char point[COI_WEBPUSH_P256_POINT_SIZE];
	EC_GROUP *group;
	EC_POINT *pub = NULL;
	BIGNUM *d;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	d = BN_secure_new();
	if (group == NULL || d == NULL ||
	    BN_bin2bn(priv, COI_WEBPUSH_P256_PRIVATE_SIZE, d) == NULL)
		*error_r = coi_webpush_openssl_error("P-256 private key import");
	else if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
		*error_r = "P-256 private key out of range";
	else if ((pub = EC_POINT_new(group)) == NULL ||
		 EC_POINT_mul(group, pub, d, NULL, NULL, NULL) != 1 ||
		 EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED,
				    point, sizeof(point), NULL) != sizeof(point))
		*error_r = coi_webpush_openssl_error("P-256 public key computation");
	else if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
		 OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						 COI_WEBPUSH_P256_GROUP, 0) != 1 ||
		 OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
		 OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
						  point, sizeof(point)) != 1 ||
		 (pkey = coi_webpush_pkey_fromdata(bld, EVP_PKEY_KEYPAIR)) == NULL)
		*error_r = coi_webpush_openssl_error("P-256 key pair import");
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	BN_clear_free(d);
	EC_GROUP_free(group);
	return pkey;
}

/*
 * Key and secret files
 */

/* Read a small file into contents. Returns 1 if read, 0 if it does not
   exist, -1 on error. */
static int
coi_webpush_file_read(const char *path, buffer_t *contents,
		      const char **error_r)
{
	unsigned char buf[4096];
	ssize_t ret;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	while ((ret = read(fd, buf, sizeof(buf))) != 0) {
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			*error_r = t_strdup_printf("read(%s) failed: %m", path);
			break;
		}
		if (contents->used + (size_t)ret > COI_WEBPUSH_FILE_MAX_SIZE) {
			*error_r = t_strdup_printf(
				"%s is too large (more than %u bytes)",
				path, COI_WEBPUSH_FILE_MAX_SIZE);
			ret = -1;
			break;
		}
		buffer_append(contents, buf, ret);
	}
	safe_memset(buf, 0, sizeof(buf));
	i_close_fd(&fd);
	if (ret < 0) {
		coi_webpush_buffer_clear(contents);
		return -1;
	}
	return 1;
}

/* Create path with the given contents and mode 0600, atomically: the data
   goes to a temporary file in the same directory, which is then hard linked
   to path. Unlike rename(), link() never replaces an existing file, so of
   two processes creating the file at the same time exactly one wins and the
   other learns that it lost. Returns 1 if created, 0 if path already
   existed, -1 on error. */
static int
coi_webpush_file_create(const char *path, const void *data, size_t size,
			const char **error_r)
{
	unsigned char rand_bytes[8];
	const char *temp_path;
	int fd, ret;

	random_fill(rand_bytes, sizeof(rand_bytes));
	temp_path = t_strdup_printf("%s.%ld.%s.tmp", path, (long)getpid(),
				    binary_to_hex(rand_bytes,
						  sizeof(rand_bytes)));
	fd = open(temp_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", temp_path);
		return -1;
	}
	/* The umask may have removed bits, even the owner's: the file holds
	   a secret and must be exactly 0600. */
	if (fchmod(fd, 0600) < 0)
		*error_r = t_strdup_printf("fchmod(%s) failed: %m", temp_path);
	else if (write_full(fd, data, size) < 0)
		*error_r = t_strdup_printf("write(%s) failed: %m", temp_path);
	else if (fdatasync(fd) < 0)
		*error_r = t_strdup_printf("fdatasync(%s) failed: %m", temp_path);
	else if (close(fd) < 0) {
		*error_r = t_strdup_printf("close(%s) failed: %m", temp_path);
		fd = -1;
	} else {
		fd = -1;
		if (link(temp_path, path) == 0)
			ret = 1;
		else if (errno == EEXIST)
			ret = 0;
		else {
			*error_r = t_strdup_printf("link(%s, %s) failed: %m",
						   temp_path, path);
			ret = -1;
		}
		i_unlink(temp_path);
		return ret;
	}
	if (fd != -1)
		i_close_fd(&fd);
	i_unlink(temp_path);
	return -1;
}

typedef int coi_webpush_generate_func_t(buffer_t *contents,
					const char **error_r);

/* Read path into contents, creating it with generated contents first when
   it is missing and create is set. what names the file in errors, which go
   to the log. */
static int
coi_webpush_file_load(const char *path, bool create, const char *what,
		      coi_webpush_generate_func_t *generate,
		      buffer_t *contents, const char **error_r)
{
	const char *error;
	int ret;

	ret = coi_webpush_file_read(path, contents, &error);
	if (ret > 0)
		return 0;
	if (ret < 0) {
		*error_r = t_strdup_printf("%s %s: %s", what, path, error);
		return -1;
	}
	if (!create) {
		*error_r = t_strdup_printf("%s %s does not exist", what, path);
		return -1;
	}

	if (generate(contents, &error) < 0) {
		*error_r = t_strdup_printf("%s %s: %s", what, path, error);
		return -1;
	}
	ret = coi_webpush_file_create(path, contents->data, contents->used,
				      &error);
	if (ret > 0)
		return 0;
	coi_webpush_buffer_clear(contents);
	if (ret < 0) {
		*error_r = t_strdup_printf("%s %s: creating it failed: %s",
					   what, path, error);
		return -1;
	}

	/* Another process created it first; use its contents, so that all
	   processes agree. */
	ret = coi_webpush_file_read(path, contents, &error);
	if (ret > 0)
		return 0;
	if (ret < 0)
		*error_r = t_strdup_printf("%s %s: %s", what, path, error);
	else {
		*error_r = t_strdup_printf(
			"%s %s disappeared right after it was created",
			what, path);
	}
	return -1;
}

/*
 * VAPID key
 */

/* PEM password callback: the key is read by daemons without a terminal, so
   never prompt for a passphrase. */
static int
coi_webpush_pem_no_password(char *buf ATTR_UNUSED, int size ATTR_UNUSED,
			    int rwflag ATTR_UNUSED, void *context ATTR_UNUSED)
{
	return -1;
}

static int
coi_webpush_vapid_key_generate(buffer_t *contents, const char **error_r)
{
	EVP_PKEY *pkey;
	BIO *bio;
	char *data;
	long len;
	int ret = -1;

	pkey = coi_webpush_p256_generate(error_r);
	if (pkey == NULL)
		return -1;
	/* secmem: the private key is cleared when the BIO is freed */
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0)
		*error_r = coi_webpush_openssl_error("PEM_write_bio_PrivateKey()");
	else {
		buffer_append(contents, data, len);
		ret = 0;
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return ret;
}

/* The SubjectPublicKeyInfo PEM of the public point, without the final
   newline. */
static const char *
coi_webpush_public_pem(
	const unsigned char point[COI_WEBPUSH_P256_POINT_SIZE])
{
	EVP_PKEY *pkey;
	BIO *bio;
	char *data;
	long len;
	const char *pem = NULL;

	pkey = coi_webpush_p256_public_key(point);
	if (pkey == NULL)
		return NULL;
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0) {
		while (len > 0 && data[len - 1] == '\n')
			len--;
		pem = t_strndup(data, len);
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (pem == NULL)
		ERR_clear_error();
	return pem;
}

static int
coi_webpush_vapid_key_parse(const buffer_t *contents,
			    struct coi_webpush_vapid_key **key_r,
			    const char **error_r)
{
	struct coi_webpush_vapid_key *key;
	unsigned char point[COI_WEBPUSH_P256_POINT_SIZE];
	const char *pem;
	EVP_PKEY *pkey;
	BIO *bio;
	string_t *b64;

	bio = BIO_new_mem_buf(contents->data, (int)contents->used);
	if (bio == NULL) {
		*error_r = coi_webpush_openssl_error("BIO_new_mem_buf()");
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, coi_webpush_pem_no_password,
				       NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		*error_r = t_strdup_printf(
			"not a PEM private key (or encrypted): %s",
			coi_webpush_openssl_error("PEM_read_bio_PrivateKey()"));
		return -1;
	}
	if (!coi_webpush_pkey_is_p256(pkey)) {
		EVP_PKEY_free(pkey);
		*error_r = "not a P-256 (prime256v1) EC key";
		return -1;
	}
	if (coi_webpush_pkey_get_point(pkey, point) < 0 ||
	    (pem = coi_webpush_public_pem(point)) == NULL) {
		EVP_PKEY_free(pkey);
		*error_r = "the key has no valid public key";
		return -1;
	}

	b64 = t_str_new(MAX_BASE64_ENCODED_SIZE(sizeof(point)));
	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0,
			 point, sizeof(point), b64);

	key = i_new(struct coi_webpush_vapid_key, 1);
	key->pkey = pkey;
	key->public_pem = i_strdup(pem);
	key->public_b64url = i_strdup(str_c(b64));
	*key_r = key;
	return 0;
}

int coi_webpush_vapid_key_load(const char *path, bool create,
			       struct coi_webpush_vapid_key **key_r,
			       const char **error_r)
{
	buffer_t *contents;
	const char *error;
	int ret;

	contents = t_buffer_create(1024);
	if (coi_webpush_file_load(path, create, "VAPID key file",
				  coi_webpush_vapid_key_generate,
				  contents, error_r) < 0)
		return -1;
	ret = coi_webpush_vapid_key_parse(contents, key_r, &error);
	coi_webpush_buffer_clear(contents);
	if (ret < 0) {
		*error_r = t_strdup_printf("VAPID key file %s: %s",
					   path, error);
		return -1;
	}
	return 0;
}

void coi_webpush_vapid_key_free(struct coi_webpush_vapid_key **_key)
{
	struct coi_webpush_vapid_key *key = *_key;

	if (key == NULL)
		return;
	*_key = NULL;
	EVP_PKEY_free(key->pkey);
	i_free(key->public_pem);
	i_free(key->public_b64url);
	i_free(key);
}

const char *
coi_webpush_vapid_key_get_public_pem(const struct coi_webpush_vapid_key *key)
{
	return key->public_pem;
}

const char *
coi_webpush_vapid_key_get_public_b64url(const struct coi_webpush_vapid_key *key)
{
	return key->public_b64url;
}

/*
 * VAPID JWT
 */

/* ES256 (RFC 7518 section 3.4): ECDSA P-256 with SHA-256, and the signature
   as r || s with each zero-padded to 32 octets instead of OpenSSL's DER. */
static int
coi_webpush_es256_sign(EVP_PKEY *pkey, const void *data, size_t size,
		       unsigned char sig_r[COI_WEBPUSH_ES256_SIG_SIZE],
		       const char **error_r)
{
	unsigned char der[128];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	EVP_MD_CTX *mctx;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int ret = -1;

	mctx = EVP_MD_CTX_new();
	if (mctx == NULL ||
	    EVP_DigestSignInit_ex(mctx, NULL, "SHA256", NULL, NULL,
				  pkey, NULL) != 1 ||
	    EVP_DigestSign(mctx, der, &der_len, data, size) != 1)
		*error_r = coi_webpush_openssl_error("ES256 signing");
	else if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL)
		*error_r = coi_webpush_openssl_error("d2i_ECDSA_SIG()");
	else {
		ECDSA_SIG_get0(sig, &r, &s);
		if (BN_bn2binpad(r, sig_r, COI_WEBPUSH_P256_COORD_SIZE) !=
		    COI_WEBPUSH_P256_COORD_SIZE ||
		    BN_bn2binpad(s, sig_r + COI_WEBPUSH_P256_COORD_SIZE,
				 COI_WEBPUSH_P256_COORD_SIZE) !=
		    COI_WEBPUSH_P256_COORD_SIZE)
			*error_r = coi_webpush_openssl_error("BN_bn2binpad()");
		else
			ret = 0;
	}
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(mctx);
	return ret;
}

static bool coi_webpush_subject_is_valid(const char *subject)
{
	/* RFC 8292 section 2.1: a mailto: or https: URI to contact the
	   operator */
	if (strncasecmp(subject, "mailto:", 7) != 0 &&
	    strncasecmp(subject, "https:", 6) != 0)
		return FALSE;
	for (const char *p = subject; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return FALSE;
	}
	return uni_utf8_str_is_valid(subject);
}

int coi_webpush_vapid_authorization(struct coi_webpush_vapid_key *key,
				    const char *audience, time_t exp,
				    const char *subject, const char **value_r,
				    const char **error_r)
{
	unsigned char sig[COI_WEBPUSH_ES256_SIG_SIZE];
	const char *origin, *error;
	string_t *claims, *jwt;

	if (coi_webpush_endpoint_origin(audience, &origin, &error) < 0 ||
	    strcmp(origin, audience) != 0) {
		*error_r = t_strdup_printf("VAPID audience '%s' is not an origin",
					   str_sanitize(audience, 256));
		return -1;
	}
	if (exp <= 0) {
		*error_r = "VAPID expiry time is not set";
		return -1;
	}
	if (subject != NULL && *subject == '\0')
		subject = NULL;
	if (subject != NULL && !coi_webpush_subject_is_valid(subject)) {
		*error_r = t_strdup_printf(
			"VAPID subject '%s' is not a mailto: or https: URI",
			str_sanitize(subject, 256));
		return -1;
	}

	claims = t_str_new(256);
	str_append(claims, "{\"aud\":\"");
	json_append_escaped(claims, audience);
	str_printfa(claims, "\",\"exp\":%lld", (long long)exp);
	if (subject != NULL) {
		str_append(claims, ",\"sub\":\"");
		json_append_escaped(claims, subject);
		str_append_c(claims, '"');
	}
	str_append_c(claims, '}');

	jwt = t_str_new(512);
	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0,
			 coi_webpush_jwt_header,
			 strlen(coi_webpush_jwt_header), jwt);
	str_append_c(jwt, '.');
	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0,
			 str_data(claims), str_len(claims), jwt);
	if (coi_webpush_es256_sign(key->pkey, str_data(jwt), str_len(jwt),
				   sig, &error) < 0) {
		*error_r = t_strdup_printf("VAPID token: %s", error);
		return -1;
	}
	str_append_c(jwt, '.');
	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0,
			 sig, sizeof(sig), jwt);

	*value_r = t_strdup_printf("vapid t=%s, k=%s", str_c(jwt),
				   key->public_b64url);
	return 0;
}

/*
 * Endpoint origin
 */

int coi_webpush_endpoint_origin(const char *url, const char **origin_r,
				const char **error_r)
{
	struct http_url *parsed;
	struct uri_host host;
	in_port_t default_port;
	const char *error;
	string_t *origin;

	if (http_url_parse(url, NULL, 0, pool_datastack_create(),
			   &parsed, &error) < 0) {
		*error_r = t_strdup_printf("invalid endpoint URL: %s", error);
		return -1;
	}

	origin = t_str_new(128);
	str_append(origin, parsed->have_ssl ? "https://" : "http://");
	/* Host names are case-insensitive (RFC 3986 section 3.2.2) and the
	   origin is compared as a string by push services. */
	host = parsed->host;
	if (host.name != NULL)
		host.name = t_str_lcase(host.name);
	uri_append_host(origin, &host);
	default_port = parsed->have_ssl ? 443 : 80;
	if (parsed->port != 0 && parsed->port != default_port)
		str_printfa(origin, ":%u", parsed->port);
	*origin_r = str_c(origin);
	return 0;
}

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

/*
 * Server secret and validation tokens
 */

static int
coi_webpush_secret_generate(buffer_t *contents,
			    const char **error_r ATTR_UNUSED)
{
	unsigned char secret[COI_WEBPUSH_SECRET_SIZE];

	/* hex text, so that an administrator can also write the file with
	   "openssl rand -hex 32" */
	random_fill(secret, sizeof(secret));
	binary_to_hex_append(contents, secret, sizeof(secret));
	buffer_append_c(contents, '\n');
	safe_memset(secret, 0, sizeof(secret));
	return 0;
}

static int
coi_webpush_secret_parse(const buffer_t *contents, buffer_t *secret_out)
{
	const char *data = contents->data;
	size_t len = contents->used;
	unsigned char secret[COI_WEBPUSH_SECRET_SIZE];
	buffer_t secret_buf;
	char *hex;
	int ret;

	if (len == COI_WEBPUSH_SECRET_SIZE) {
		buffer_append(secret_out, data, len);
		return 0;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
			   data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	if (len != COI_WEBPUSH_SECRET_SIZE * 2)
		return -1;

	hex = t_malloc0(len + 1);
	memcpy(hex, data, len);
	buffer_create_from_data(&secret_buf, secret, sizeof(secret));
	ret = hex_to_binary(hex, &secret_buf);
	if (ret == 0)
		buffer_append(secret_out, secret, sizeof(secret));
	safe_memset(hex, 0, len);
	safe_memset(secret, 0, sizeof(secret));
	return ret < 0 ? -1 : 0;
}

int coi_webpush_secret_load(const char *path, bool create,
			    buffer_t *secret_out, const char **error_r)
{
	buffer_t *contents;
	int ret;

	contents = t_buffer_create(128);
	if (coi_webpush_file_load(path, create, "WebPush secret file",
				  coi_webpush_secret_generate,
				  contents, error_r) < 0)
		return -1;
	ret = coi_webpush_secret_parse(contents, secret_out);
	coi_webpush_buffer_clear(contents);
	if (ret < 0) {
		*error_r = t_strdup_printf(
			"WebPush secret file %s: not %u hex digits "
			"(or %u raw octets)", path,
			COI_WEBPUSH_SECRET_SIZE * 2, COI_WEBPUSH_SECRET_SIZE);
		return -1;
	}
	return 0;
}

const char *
coi_webpush_validation_token(const unsigned char *secret, size_t secret_len,
			     const char *username, const char *subscription_id,
			     time_t created)
{
	struct hmac_context ctx;
	unsigned char digest[SHA256_RESULTLEN];
	const char *created_str;
	string_t *token;

	i_assert(secret_len > 0);
	i_assert(created >= 0);

	created_str = t_strdup_printf("%lld", (long long)created);
	/* The NULs keep the fields apart: neither a username nor an ID can
	   contain one. */
	hmac_init(&ctx, secret, secret_len, &hash_method_sha256);
	hmac_update(&ctx, COI_WEBPUSH_VALIDATION_LABEL,
		    sizeof(COI_WEBPUSH_VALIDATION_LABEL));
	hmac_update(&ctx, username, strlen(username) + 1);
	hmac_update(&ctx, subscription_id, strlen(subscription_id) + 1);
	hmac_update(&ctx, created_str, strlen(created_str));
	hmac_final(&ctx, digest);

	token = t_str_new(128);
	str_append(token, created_str);
	str_append_c(token, '.');
	base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING, 0,
			 digest, sizeof(digest), token);
	return str_c(token);
}

int coi_webpush_validation_token_check(const unsigned char *secret,
				       size_t secret_len, const char *username,
				       const char *subscription_id,
				       const char *token, time_t now,
				       unsigned int window_secs,
				       const char **error_r)
{
	const char *p, *expected;
	uintmax_t created;
	size_t len = strlen(token);

	if (len > COI_WEBPUSH_VALIDATION_TOKEN_MAX_SIZE) {
		*error_r = t_strdup_printf("validation token too long (%zu)",
					   len);
		return -1;
	}
	p = strchr(token, '.');
	if (p == NULL ||
	    str_to_uintmax(t_strdup_until(token, p), &created) < 0 ||
	    (uintmax_t)(time_t)created != created || (time_t)created < 0) {
		*error_r = "validation token is malformed";
		return -1;
	}
	/* Recreating the whole token also rejects any other spelling of the
	   same timestamp. */
	expected = coi_webpush_validation_token(secret, secret_len, username,
						subscription_id,
						(time_t)created);
	if (strlen(expected) != len ||
	    !mem_equals_timing_safe(expected, token, len)) {
		*error_r = "validation token does not match";
		return -1;
	}
	if ((time_t)created > now) {
		*error_r = t_strdup_printf(
			"validation token created in the future (%ju > %lld)",
			created, (long long)now);
		return -1;
	}
	if (now - (time_t)created > (time_t)window_secs) {
		*error_r = t_strdup_printf(
			"validation token expired (created %lld seconds ago, "
			"allowed %u)", (long long)(now - (time_t)created),
			window_secs);
		return -1;
	}
	return 0;
}
