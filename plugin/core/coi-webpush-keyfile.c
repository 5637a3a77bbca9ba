/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The server's key files: the VAPID key and the secret that signs
   validation tokens (created on first use), and the validation tokens. */

#include "lib.h"
#include "str.h"
#include "base64.h"
#include "hex-binary.h"
#include "hmac.h"
#include "randgen.h"
#include "safe-memset.h"
#include "write-full.h"
#include "coi-secret-file.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-crypto-private.h"

#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

/*
 * Key and secret files
 */

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

	ret = coi_secret_file_read(path, COI_WEBPUSH_FILE_MAX_SIZE, contents,
				   &error);
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
	coi_secret_buffer_clear(contents);
	if (ret < 0) {
		*error_r = t_strdup_printf("%s %s: creating it failed: %s",
					   what, path, error);
		return -1;
	}

	/* Another process created it first; use its contents, so that all
	   processes agree. */
	ret = coi_secret_file_read(path, COI_WEBPUSH_FILE_MAX_SIZE, contents,
				   &error);
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
	coi_secret_buffer_clear(contents);
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
	coi_secret_buffer_clear(contents);
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
