/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* VAPID (RFC 8292): the signed JWT of the Authorization header and the
   origin of a push endpoint it is made for. */

#include "lib.h"
#include "coi-compat.h"
#include "str.h"
#include "base64.h"
#include "str-sanitize.h"
#include "unichar.h"
#include COI_JSON_ESCAPE_H
#include "http-url.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-crypto-private.h"


/* RFC 7515 JOSE header of every VAPID token */
static const char coi_webpush_jwt_header[] =
	"{\"typ\":\"JWT\",\"alg\":\"ES256\"}";

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
