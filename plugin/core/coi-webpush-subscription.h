#ifndef COI_WEBPUSH_SUBSCRIPTION_H
#define COI_WEBPUSH_SUBSCRIPTION_H

/* WebPush subscriptions (webpush-spec.md, "Subscriptions"): the JSON value a
   client stores with SETMETADATA, and the form the server stores and lists.
   Everything here is pure parsing and formatting: no storage, no I/O. */

#define COI_WEBPUSH_SUBSCRIPTION_ID_MIN_LEN 10
#define COI_WEBPUSH_SUBSCRIPTION_ID_MAX_LEN 36
#define COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN 4096
#define COI_WEBPUSH_NAME_MAX_LEN 128      /* client, device */
#define COI_WEBPUSH_ENDPOINT_MAX_LEN 512
#define COI_WEBPUSH_P256DH_MAX_LEN 256

/* Decoded sizes of the keys (RFC 8291): an uncompressed P-256 point and the
   authentication secret. */
#define COI_WEBPUSH_P256DH_KEY_LEN 65
#define COI_WEBPUSH_AUTH_SECRET_LEN 16

enum coi_webpush_msgtype {
	COI_WEBPUSH_MSGTYPE_CHAT = 0x01,
	COI_WEBPUSH_MSGTYPE_MAIL = 0x02,
	COI_WEBPUSH_MSGTYPE_ALL = 0x03,
};

struct coi_webpush_subscription {
	const char *client;
	const char *device;
	enum coi_webpush_msgtype msgtype;
	const char *endpoint;
	const char *p256dh;   /* as the client sent it */
	const char *auth;     /* as the client sent it */
	time_t created;       /* 0 = not set */
	bool validated;
};

/* [0-9A-Za-z_-]{10,36} */
bool coi_webpush_subscription_id_is_valid(const char *id);

/* Parses the value a client sends with SETMETADATA. Returns 0 and fills
   sub_r (strings allocated from pool), or -1, sub_r zeroed and a short
   error that names the problem, never echoes the input and may be shown to
   the IMAP client, e.g. "Invalid subscription: msgtype must be chat, mail
   or all", "Invalid subscription: resource.endpoint is missing",
   "Invalid subscription: not valid JSON (Expected ':' after key)".
   JSON syntax errors are reported before any other problem, then the
   first problem in the order of the input, then missing fields.

   Required: client and device (non-empty strings of at most 128 octets,
   valid UTF-8 without control characters: C0, DEL and C1), msgtype ("chat",
   "mail" or "all", case-sensitive), resource.endpoint (an absolute http://
   or https:// URL of at most 512 octets without userinfo and fragment),
   resource.keys.p256dh (at most 256 octets of base64url or base64, padding
   optional, decoding to 65 octets starting with 0x04) and
   resource.keys.auth (base64url or base64 decoding to 16 octets).

   Unknown keys at any level are ignored and dropped, and so are "created"
   and "validated" (the server sets them: sub_r->created = 0,
   sub_r->validated = FALSE). Rejected: JSON that is not a single object,
   trailing data, duplicate keys (in the objects read here; the contents of
   ignored values are only checked for syntax), wrong JSON types, input
   longer than COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN octets and NULs
   (literal or \u0000).

   Temporary memory comes from the data stack. */
int coi_webpush_subscription_parse_request(pool_t pool, const char *json,
	struct coi_webpush_subscription *sub_r, const char **error_r);
/* The same for input that is not NUL-terminated (and may contain NULs,
   which are rejected). */
int coi_webpush_subscription_parse_request_data(pool_t pool,
	const void *data, size_t size,
	struct coi_webpush_subscription *sub_r, const char **error_r);

/* The stored and listed form:
   {"created":"2019-10-16T16:14:17Z","validated":false,"client":"..",
    "device":"..","msgtype":"chat","resource":{"endpoint":"..",
    "keys":{"p256dh":"..","auth":".."}}}
   created is RFC 3339 in UTC; it is left out when sub->created is 0 (and
   then coi_webpush_subscription_parse_stored() rejects the result). Strings
   are escaped with json_append_escaped(). Returned in data stack memory;
   never longer than COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN for a
   subscription that was parsed by the functions here. */
const char *
coi_webpush_subscription_to_json(const struct coi_webpush_subscription *sub);

/* Parses the stored form back. Validates everything like
   coi_webpush_subscription_parse_request() and additionally requires
   "created" (an RFC 3339 date-time after 1970-01-01T00:00:00Z) and
   "validated" (true or false). The error is for logs. */
int coi_webpush_subscription_parse_stored(pool_t pool, const char *json,
	struct coi_webpush_subscription *sub_r, const char **error_r);
int coi_webpush_subscription_parse_stored_data(pool_t pool,
	const void *data, size_t size,
	struct coi_webpush_subscription *sub_r, const char **error_r);

/* Decodes base64url or base64 (RFC 4648 sections 5 and 4, not both
   alphabets mixed), padding optional but correct when present, no
   whitespace. Appends the result to out and returns 0, or returns -1 on
   invalid input (out is then unchanged). Non-zero bits after the last
   full octet are ignored. */
int coi_webpush_base64_decode_any(const char *in, buffer_t *out);

/* "chat", "mail" or "all". */
const char *coi_webpush_msgtype_to_str(enum coi_webpush_msgtype type);
/* The reverse (case-sensitive). Returns 0, or -1 for any other string. */
int coi_webpush_msgtype_parse(const char *str,
			      enum coi_webpush_msgtype *type_r);

#endif
