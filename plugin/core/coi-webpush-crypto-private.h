#ifndef COI_WEBPUSH_CRYPTO_PRIVATE_H
#define COI_WEBPUSH_CRYPTO_PRIVATE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* What the parts of the WebPush cryptography share (coi-webpush-p256.c,
   -keyfile.c, -vapid.c, -encrypt.c); coi-webpush-crypto.h is their
   interface. */

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

/* coi-webpush-p256.c */
/* The last OpenSSL error as "func failed: ...", with the error queue
   emptied. */
const char *coi_webpush_openssl_error(const char *func);
bool coi_webpush_pkey_is_p256(EVP_PKEY *pkey);
int coi_webpush_pkey_get_point(EVP_PKEY *pkey,
	unsigned char point_r[COI_WEBPUSH_P256_POINT_SIZE]);
EVP_PKEY *coi_webpush_p256_public_key(
	const unsigned char point[COI_WEBPUSH_P256_POINT_SIZE]);
EVP_PKEY *coi_webpush_p256_generate(const char **error_r);
EVP_PKEY *coi_webpush_p256_keypair(
	const unsigned char priv[COI_WEBPUSH_P256_PRIVATE_SIZE],
	const char **error_r);

#endif
