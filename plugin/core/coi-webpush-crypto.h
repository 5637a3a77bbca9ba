#ifndef COI_WEBPUSH_CRYPTO_H
#define COI_WEBPUSH_CRYPTO_H

/* The cryptography of IMAP WebPush: the VAPID key and its JWT (RFC 8292),
   message encryption (RFC 8291 with the aes128gcm coding of RFC 8188), the
   parsing of a subscription's keys and the subscription validation token.
   Errors returned in error_r are meant for the log unless a function says
   otherwise. */

/* An uncompressed P-256 point: 0x04 || X || Y */
#define COI_WEBPUSH_P256_POINT_SIZE 65
/* A P-256 private scalar */
#define COI_WEBPUSH_P256_PRIVATE_SIZE 32
/* The subscription's auth secret (RFC 8291 section 3.2) */
#define COI_WEBPUSH_AUTH_SIZE 16
#define COI_WEBPUSH_SALT_SIZE 16
/* The rs parameter of the aes128gcm header; one record is always sent */
#define COI_WEBPUSH_RECORD_SIZE 4096
/* salt (16) || rs (4) || idlen (1) || keyid (the 65 octet public key) */
#define COI_WEBPUSH_HEADER_SIZE \
	(COI_WEBPUSH_SALT_SIZE + 4 + 1 + COI_WEBPUSH_P256_POINT_SIZE)
#define COI_WEBPUSH_TAG_SIZE 16
/* A push service need not accept more than 4096 octets of body (RFC 8030
   section 7.2): that leaves 3993 octets of plaintext after the header, the
   GCM tag and the 0x02 padding delimiter. */
#define COI_WEBPUSH_MAX_BODY_SIZE 4096
#define COI_WEBPUSH_MAX_PLAINTEXT_SIZE \
	(COI_WEBPUSH_MAX_BODY_SIZE - COI_WEBPUSH_HEADER_SIZE - \
	 COI_WEBPUSH_TAG_SIZE - 1)

/* The server secret that signs validation tokens */
#define COI_WEBPUSH_SECRET_SIZE 32
/* The spec limits the validation text to 1 kB */
#define COI_WEBPUSH_VALIDATION_TOKEN_MAX_SIZE 1024

struct coi_webpush_vapid_key;

/* Frees what the process keeps for generating keys. */
void coi_webpush_crypto_deinit(void);

/* Load the VAPID key, a P-256 private key in PEM (PKCS#8 or "EC PRIVATE
   KEY"), from path. When the file does not exist and create is TRUE, a new
   key is generated and written with mode 0600; when several processes do
   this at once, all of them end up with the key of the first one. Returns 0
   on success, -1 on error. */
int coi_webpush_vapid_key_load(const char *path, bool create,
			       struct coi_webpush_vapid_key **key_r,
			       const char **error_r);
void coi_webpush_vapid_key_free(struct coi_webpush_vapid_key **key);

/* The public key as PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"),
   lines separated by LF and without a final newline: the value of the
   GETMETADATA entry /private/vendor/vendor.dovecot/webpush/vapid. */
const char *
coi_webpush_vapid_key_get_public_pem(const struct coi_webpush_vapid_key *key);
/* The uncompressed public point, base64url without padding: the k=
   parameter of the Authorization header, and a browser's
   applicationServerKey. */
const char *
coi_webpush_vapid_key_get_public_b64url(const struct coi_webpush_vapid_key *key);

/* Build the value of the Authorization header of a push request (RFC 8292):
   "vapid t=<JWT>, k=<public key>". audience is the origin of the push
   endpoint as coi_webpush_endpoint_origin() returns it, exp the expiry of the
   token (RFC 8292: at most 24 hours ahead), subject a "mailto:" or "https:"
   contact URI or NULL to leave the sub claim out. The value is allocated from
   the data stack. Returns 0 on success, -1 on error. */
int coi_webpush_vapid_authorization(struct coi_webpush_vapid_key *key,
				    const char *audience, time_t exp,
				    const char *subject, const char **value_r,
				    const char **error_r);

/* The origin of a push endpoint URL: scheme://host[:port], the host in lower
   case and the port left out when it is the default of the scheme. Only http
   and https URLs are accepted. Returns 0 on success, -1 if the URL is not
   valid; the error is safe to show to a client. */
int coi_webpush_endpoint_origin(const char *url, const char **origin_r,
				const char **error_r);

/* Parse the p256dh key of a subscription: base64url or base64, padded or not,
   of an uncompressed point on P-256. On success the 65 octets are appended to
   point_out and 0 is returned; -1 if not valid. The error is safe to show to
   a client. */
int coi_webpush_p256dh_parse(const char *str, buffer_t *point_out,
			     const char **error_r);
/* Like coi_webpush_p256dh_parse(), but only the encoding and the point
   format are checked, not that the point is on the curve: for stored
   subscriptions, whose key is checked again by coi_webpush_encrypt(). */
int coi_webpush_p256dh_decode(const char *str, buffer_t *point_out,
			      const char **error_r);
/* Parse the auth secret of a subscription: base64url or base64, padded or
   not, of exactly 16 octets, which are appended to auth_out. Returns 0 on
   success, -1 if not valid (the error is safe to show to a client). */
int coi_webpush_auth_parse(const char *str, buffer_t *auth_out,
			   const char **error_r);

/* Encrypt plaintext for a subscription (RFC 8291) as one aes128gcm record
   (RFC 8188, rs 4096, the padding delimiter and no further padding) with a
   fresh ephemeral key pair and salt. The body (header and record) is
   appended to body_out. size must be at most COI_WEBPUSH_MAX_PLAINTEXT_SIZE.
   Returns 0 on success, -1 on error (body_out is then unchanged). */
int coi_webpush_encrypt(
	const unsigned char ua_public[COI_WEBPUSH_P256_POINT_SIZE],
	const unsigned char auth[COI_WEBPUSH_AUTH_SIZE],
	const void *plaintext, size_t size,
	buffer_t *body_out, const char **error_r);
/* Same as coi_webpush_encrypt() with the application server's private key
   and the salt given. Only for tests with known answers: reusing them with
   real subscriptions breaks the encryption. */
int coi_webpush_encrypt_with(
	const unsigned char ua_public[COI_WEBPUSH_P256_POINT_SIZE],
	const unsigned char auth[COI_WEBPUSH_AUTH_SIZE],
	const unsigned char as_private[COI_WEBPUSH_P256_PRIVATE_SIZE],
	const unsigned char salt[COI_WEBPUSH_SALT_SIZE],
	const void *plaintext, size_t size,
	buffer_t *body_out, const char **error_r);

/* Load the server secret (COI_WEBPUSH_SECRET_SIZE octets, stored as 64 hex
   digits; a file of exactly 32 raw octets is accepted too) from path,
   creating it like coi_webpush_vapid_key_load() does when it is missing and
   create is TRUE. The secret is appended to secret_out. Returns 0 on
   success, -1 on error. */
int coi_webpush_secret_load(const char *path, bool create,
			    buffer_t *secret_out, const char **error_r);

/* The validation token sent in the validation push message of a new
   subscription: "<created>.<base64url(HMAC-SHA256(secret, label \0 username
   \0 subscription_id \0 created))>", allocated from the data stack. */
const char *
coi_webpush_validation_token(const unsigned char *secret, size_t secret_len,
			     const char *username, const char *subscription_id,
			     time_t created);
/* Check a token a client sent back. It is valid when it was made with this
   secret for this user and subscription, and now is not before its creation
   time and at most window_secs after it. Returns 0 if valid, -1 if not with
   the reason in error_r (for the log: clients get a generic answer). */
int coi_webpush_validation_token_check(const unsigned char *secret,
				       size_t secret_len, const char *username,
				       const char *subscription_id,
				       const char *token, time_t now,
				       unsigned int window_secs,
				       const char **error_r);

#endif
