/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* P-256 keys with OpenSSL 3: generating, importing and exporting points,
   shared by the VAPID key, the subscriptions' keys and the encryption. */

#include "lib.h"
#include "sha2.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-crypto-private.h"


/* Describe the most recent OpenSSL error and empty the error queue: errors
   left there would otherwise be reported by the next, unrelated user of
   OpenSSL in this process, such as Dovecot's TLS code. */
const char *coi_webpush_openssl_error(const char *func)
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

/*
 * P-256 keys
 */

bool coi_webpush_pkey_is_p256(EVP_PKEY *pkey)
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
int
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
EVP_PKEY *
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

EVP_PKEY *coi_webpush_p256_generate(const char **error_r)
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
EVP_PKEY *
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
