/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "unichar.h"
#include "istream.h"
#include COI_JSON_ESCAPE_H
#include "coi-json-reader.h"
#include "http-url.h"
#include "iso8601-date.h"
#include "time-util.h"
#include "coi-webpush-subscription.h"

#define COI_WEBPUSH_REQUEST_ERROR_PREFIX "Invalid subscription: "
#define COI_WEBPUSH_STORED_ERROR_PREFIX "Invalid stored subscription: "

/* The objects of a subscription that are read member by member. */
enum coi_webpush_object {
	COI_WEBPUSH_OBJECT_ROOT = 0,
	COI_WEBPUSH_OBJECT_RESOURCE,
	COI_WEBPUSH_OBJECT_KEYS,
};

enum coi_webpush_field {
	COI_WEBPUSH_FIELD_CREATED = 0,
	COI_WEBPUSH_FIELD_VALIDATED,
	COI_WEBPUSH_FIELD_CLIENT,
	COI_WEBPUSH_FIELD_DEVICE,
	COI_WEBPUSH_FIELD_MSGTYPE,
	COI_WEBPUSH_FIELD_RESOURCE,
	COI_WEBPUSH_FIELD_ENDPOINT,
	COI_WEBPUSH_FIELD_KEYS,
	COI_WEBPUSH_FIELD_P256DH,
	COI_WEBPUSH_FIELD_AUTH,

	COI_WEBPUSH_FIELD_COUNT
};

static const struct {
	enum coi_webpush_object object;
	const char *key;
	/* the name used in error messages */
	const char *path;
	/* only in the stored form (ignored in requests) */
	bool stored_only;
} coi_webpush_fields[] = {
	[COI_WEBPUSH_FIELD_CREATED] =
		{ COI_WEBPUSH_OBJECT_ROOT, "created", "created", TRUE },
	[COI_WEBPUSH_FIELD_VALIDATED] =
		{ COI_WEBPUSH_OBJECT_ROOT, "validated", "validated", TRUE },
	[COI_WEBPUSH_FIELD_CLIENT] =
		{ COI_WEBPUSH_OBJECT_ROOT, "client", "client", FALSE },
	[COI_WEBPUSH_FIELD_DEVICE] =
		{ COI_WEBPUSH_OBJECT_ROOT, "device", "device", FALSE },
	[COI_WEBPUSH_FIELD_MSGTYPE] =
		{ COI_WEBPUSH_OBJECT_ROOT, "msgtype", "msgtype", FALSE },
	[COI_WEBPUSH_FIELD_RESOURCE] =
		{ COI_WEBPUSH_OBJECT_ROOT, "resource", "resource", FALSE },
	[COI_WEBPUSH_FIELD_ENDPOINT] =
		{ COI_WEBPUSH_OBJECT_RESOURCE, "endpoint",
		  "resource.endpoint", FALSE },
	[COI_WEBPUSH_FIELD_KEYS] =
		{ COI_WEBPUSH_OBJECT_RESOURCE, "keys", "resource.keys", FALSE },
	[COI_WEBPUSH_FIELD_P256DH] =
		{ COI_WEBPUSH_OBJECT_KEYS, "p256dh",
		  "resource.keys.p256dh", FALSE },
	[COI_WEBPUSH_FIELD_AUTH] =
		{ COI_WEBPUSH_OBJECT_KEYS, "auth", "resource.keys.auth", FALSE },
};

static const char *const coi_webpush_object_names[] = {
	[COI_WEBPUSH_OBJECT_ROOT] = "the subscription object",
	[COI_WEBPUSH_OBJECT_RESOURCE] = "resource",
	[COI_WEBPUSH_OBJECT_KEYS] = "resource.keys",
};

struct coi_webpush_parser {
	pool_t pool;
	struct coi_json_reader *json;
	struct coi_webpush_subscription *sub;
	bool stored;

	bool seen[COI_WEBPUSH_FIELD_COUNT];
	/* error without the prefix, unless json_failed */
	const char *error;
	/* the JSON syntax is wrong; json_error may tell how */
	bool json_failed;
	const char *json_error;
};

bool coi_webpush_subscription_id_is_valid(const char *id)
{
	size_t len;

	for (len = 0; id[len] != '\0'; len++) {
		char c = id[len];

		if (len >= COI_WEBPUSH_SUBSCRIPTION_ID_MAX_LEN)
			return FALSE;
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || c == '-' || c == '_'))
			return FALSE;
	}
	return len >= COI_WEBPUSH_SUBSCRIPTION_ID_MIN_LEN;
}

static const char *const coi_webpush_msgtype_names[] = {
	[COI_WEBPUSH_MSGTYPE_CHAT] = "chat",
	[COI_WEBPUSH_MSGTYPE_MAIL] = "mail",
	[COI_WEBPUSH_MSGTYPE_ALL] = "all",
};

const char *coi_webpush_msgtype_to_str(enum coi_webpush_msgtype type)
{
	i_assert((unsigned int)type < N_ELEMENTS(coi_webpush_msgtype_names) &&
		 coi_webpush_msgtype_names[type] != NULL);
	return coi_webpush_msgtype_names[type];
}

int coi_webpush_msgtype_parse(const char *str,
			      enum coi_webpush_msgtype *type_r)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_webpush_msgtype_names); i++) {
		if (coi_webpush_msgtype_names[i] != NULL &&
		    strcmp(str, coi_webpush_msgtype_names[i]) == 0) {
			*type_r = (enum coi_webpush_msgtype)i;
			return 0;
		}
	}
	return -1;
}

int coi_webpush_base64_decode_any(const char *in, buffer_t *out)
{
	const struct base64_scheme *scheme = &base64url_scheme;
	bool url_chars = FALSE, std_chars = FALSE;
	size_t i, len, pad = 0;
	buffer_t *buf;

	len = strlen(in);
	while (len > 0 && in[len-1] == '=') {
		len--;
		pad++;
	}
	/* one leftover character carries only 6 bits: never valid */
	if (len % 4 == 1)
		return -1;
	/* padding, when present, completes the last group of four */
	if (pad > 0 && (pad > 2 || (len + pad) % 4 != 0))
		return -1;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z'))
			;
		else if (c == '-' || c == '_')
			url_chars = TRUE;
		else if (c == '+' || c == '/')
			std_chars = TRUE;
		else
			return -1;
	}
	if (url_chars && std_chars)
		return -1;
	if (std_chars)
		scheme = &base64_scheme;

	buf = t_buffer_create(MAX_BASE64_DECODED_SIZE(len));
	if (base64_scheme_decode(scheme, BASE64_DECODE_FLAG_NO_PADDING |
				 BASE64_DECODE_FLAG_NO_WHITESPACE,
				 in, len, buf) < 0)
		return -1;
	buffer_append_buf(out, buf, 0, SIZE_MAX);
	return 0;
}

/*
 * Validation of the values
 */

/* Each check returns NULL if the value is fine, otherwise the problem in
   words that follow the name of the field. */

static const char *coi_webpush_name_check(const char *value)
{
	size_t i, len = strlen(value);
	unichar_t chr;
	int n;

	if (len == 0)
		return "must not be empty";
	if (len > COI_WEBPUSH_NAME_MAX_LEN) {
		return t_strdup_printf("is longer than %u octets",
				       COI_WEBPUSH_NAME_MAX_LEN);
	}
	for (i = 0; i < len; i += n) {
		n = uni_utf8_get_char_n(value + i, len - i, &chr);
		if (n <= 0 || !uni_is_valid_ucs4(chr))
			return "is not valid UTF-8";
		/* C0, DEL and C1 */
		if (chr < 0x20 || (chr >= 0x7f && chr < 0xa0))
			return "must not contain control characters";
	}
	return NULL;
}

static const char *coi_webpush_endpoint_check(const char *value)
{
	struct http_url *url;
	const char *error;

	if (strlen(value) > COI_WEBPUSH_ENDPOINT_MAX_LEN) {
		return t_strdup_printf("is longer than %u octets",
				       COI_WEBPUSH_ENDPOINT_MAX_LEN);
	}
	/* http_url_parse() alone would accept "//host/path" */
	if (strncasecmp(value, "https://", 8) != 0 &&
	    strncasecmp(value, "http://", 7) != 0)
		return "must be an absolute http:// or https:// URL";
	/* userinfo and fragment are allowed here only to name them in the
	   error */
	if (http_url_parse(value, NULL, HTTP_URL_ALLOW_USERINFO_PART |
			   HTTP_URL_ALLOW_FRAGMENT_PART,
			   pool_datastack_create(), &url, &error) < 0)
		return "is not a valid http:// or https:// URL";
	if (url->user != NULL || url->password != NULL)
		return "must not contain user information";
	if (url->enc_fragment != NULL)
		return "must not contain a fragment";
	return NULL;
}

static const char *coi_webpush_p256dh_check(const char *value)
{
	buffer_t *key;

	if (strlen(value) > COI_WEBPUSH_P256DH_MAX_LEN) {
		return t_strdup_printf("is longer than %u octets",
				       COI_WEBPUSH_P256DH_MAX_LEN);
	}
	key = t_buffer_create(COI_WEBPUSH_P256DH_KEY_LEN);
	if (coi_webpush_base64_decode_any(value, key) < 0)
		return "is not valid base64url or base64";
	if (key->used != COI_WEBPUSH_P256DH_KEY_LEN ||
	    ((const unsigned char *)key->data)[0] != 0x04) {
		return "must be an uncompressed P-256 public key "
			"(65 octets starting with 0x04)";
	}
	return NULL;
}

static const char *coi_webpush_auth_check(const char *value)
{
	buffer_t *secret;

	secret = t_buffer_create(COI_WEBPUSH_AUTH_SECRET_LEN);
	if (coi_webpush_base64_decode_any(value, secret) < 0)
		return "is not valid base64url or base64";
	if (secret->used != COI_WEBPUSH_AUTH_SECRET_LEN)
		return "must be 16 octets";
	return NULL;
}

/*
 * Parsing
 */

static int
coi_webpush_parse_object(struct coi_webpush_parser *parser,
			 enum coi_webpush_object object);

static int
coi_webpush_field_error(struct coi_webpush_parser *parser,
			enum coi_webpush_field field, const char *problem)
{
	parser->error = t_strdup_printf("%s %s",
					coi_webpush_fields[field].path,
					problem);
	return -1;
}

static int coi_webpush_json_failed(struct coi_webpush_parser *parser)
{
	parser->json_failed = TRUE;
	return -1;
}

static int
coi_webpush_parse_string(struct coi_webpush_parser *parser,
			 enum coi_webpush_field field,
			 const char *(*check)(const char *value),
			 const char **value_r)
{
	enum coi_json_token type;
	const char *value, *problem;

	if (coi_json_reader_next(parser->json, &type, &value) <= 0)
		return coi_webpush_json_failed(parser);
	if (type != COI_JSON_STRING)
		return coi_webpush_field_error(parser, field, "must be a string");
	if ((problem = check(value)) != NULL)
		return coi_webpush_field_error(parser, field, problem);
	*value_r = p_strdup(parser->pool, value);
	return 0;
}

static int
coi_webpush_parse_field(struct coi_webpush_parser *parser,
			enum coi_webpush_field field)
{
	struct coi_webpush_subscription *sub = parser->sub;
	enum coi_json_token type;
	const char *value;
	int tz_offset;

	switch (field) {
	case COI_WEBPUSH_FIELD_CREATED:
		if (coi_json_reader_next(parser->json, &type, &value) <= 0)
			return coi_webpush_json_failed(parser);
		if (type != COI_JSON_STRING) {
			return coi_webpush_field_error(parser, field,
						       "must be a string");
		}
		if (!iso8601_date_parse((const unsigned char *)value,
					strlen(value), &sub->created,
					&tz_offset)) {
			return coi_webpush_field_error(parser, field,
				"is not an RFC 3339 date-time");
		}
		if (sub->created <= 0) {
			return coi_webpush_field_error(parser, field,
				"must be after 1970-01-01T00:00:00Z");
		}
		return 0;
	case COI_WEBPUSH_FIELD_VALIDATED:
		if (coi_json_reader_next(parser->json, &type, &value) <= 0)
			return coi_webpush_json_failed(parser);
		if (type != COI_JSON_TRUE && type != COI_JSON_FALSE) {
			return coi_webpush_field_error(parser, field,
						       "must be true or false");
		}
		sub->validated = type == COI_JSON_TRUE;
		return 0;
	case COI_WEBPUSH_FIELD_CLIENT:
		return coi_webpush_parse_string(parser, field,
						coi_webpush_name_check,
						&sub->client);
	case COI_WEBPUSH_FIELD_DEVICE:
		return coi_webpush_parse_string(parser, field,
						coi_webpush_name_check,
						&sub->device);
	case COI_WEBPUSH_FIELD_MSGTYPE:
		if (coi_json_reader_next(parser->json, &type, &value) <= 0)
			return coi_webpush_json_failed(parser);
		if (type != COI_JSON_STRING) {
			return coi_webpush_field_error(parser, field,
						       "must be a string");
		}
		if (coi_webpush_msgtype_parse(value, &sub->msgtype) < 0) {
			return coi_webpush_field_error(parser, field,
				"must be chat, mail or all");
		}
		return 0;
	case COI_WEBPUSH_FIELD_ENDPOINT:
		return coi_webpush_parse_string(parser, field,
						coi_webpush_endpoint_check,
						&sub->endpoint);
	case COI_WEBPUSH_FIELD_P256DH:
		return coi_webpush_parse_string(parser, field,
						coi_webpush_p256dh_check,
						&sub->p256dh);
	case COI_WEBPUSH_FIELD_AUTH:
		return coi_webpush_parse_string(parser, field,
						coi_webpush_auth_check,
						&sub->auth);
	case COI_WEBPUSH_FIELD_RESOURCE:
	case COI_WEBPUSH_FIELD_KEYS:
		if (coi_json_reader_next(parser->json, &type, &value) <= 0)
			return coi_webpush_json_failed(parser);
		if (type != COI_JSON_OBJECT) {
			return coi_webpush_field_error(parser, field,
						       "must be an object");
		}
		return coi_webpush_parse_object(parser,
			field == COI_WEBPUSH_FIELD_RESOURCE ?
			COI_WEBPUSH_OBJECT_RESOURCE :
			COI_WEBPUSH_OBJECT_KEYS);
	case COI_WEBPUSH_FIELD_COUNT:
		break;
	}
	i_unreached();
}

static bool
coi_webpush_field_lookup(struct coi_webpush_parser *parser,
			 enum coi_webpush_object object, const char *key,
			 enum coi_webpush_field *field_r)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_webpush_fields); i++) {
		if (coi_webpush_fields[i].object != object ||
		    strcmp(coi_webpush_fields[i].key, key) != 0)
			continue;
		if (coi_webpush_fields[i].stored_only && !parser->stored) {
			/* set by the server: ignored in requests */
			return FALSE;
		}
		*field_r = (enum coi_webpush_field)i;
		return TRUE;
	}
	return FALSE;
}

static bool
coi_webpush_key_is_duplicate(ARRAY_TYPE(const_string) *keys, const char *key)
{
	const char *old_key;

	array_foreach_elem(keys, old_key) {
		if (strcmp(old_key, key) == 0)
			return TRUE;
	}
	array_push_back(keys, &key);
	return FALSE;
}

static int
coi_webpush_check_required(struct coi_webpush_parser *parser,
			   enum coi_webpush_object object)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_webpush_fields); i++) {
		if (coi_webpush_fields[i].object != object ||
		    (coi_webpush_fields[i].stored_only && !parser->stored))
			continue;
		if (!parser->seen[i])
			return coi_webpush_field_error(parser, i, "is missing");
	}
	return 0;
}

/* Reads the members of an object whose '{' was just parsed, up to and
   including its '}'. */
static int
coi_webpush_parse_object(struct coi_webpush_parser *parser,
			 enum coi_webpush_object object)
{
	ARRAY_TYPE(const_string) unknown_keys;
	enum coi_webpush_field field;
	enum coi_json_token type;
	const char *key;

	t_array_init(&unknown_keys, 8);
	for (;;) {
		if (coi_json_reader_next(parser->json, &type, &key) <= 0)
			return coi_webpush_json_failed(parser);
		if (type == COI_JSON_OBJECT_END)
			break;
		i_assert(type == COI_JSON_KEY);

		if (!coi_webpush_field_lookup(parser, object, key, &field)) {
			if (coi_webpush_key_is_duplicate(&unknown_keys,
							 t_strdup(key))) {
				parser->error = t_strconcat(
					"duplicate key in ",
					coi_webpush_object_names[object],
					NULL);
				return -1;
			}
			coi_json_reader_skip(parser->json);
			continue;
		}
		if (parser->seen[field]) {
			return coi_webpush_field_error(parser, field,
				"is given more than once");
		}
		parser->seen[field] = TRUE;
		if (coi_webpush_parse_field(parser, field) < 0)
			return -1;
	}
	/* the root's members are checked after the end of the input */
	return object == COI_WEBPUSH_OBJECT_ROOT ? 0 :
		coi_webpush_check_required(parser, object);
}

static int
coi_webpush_subscription_parse(pool_t pool, const void *data, size_t size,
			       bool stored,
			       struct coi_webpush_subscription *sub_r,
			       const char **error_r)
{
	const char *prefix = stored ? COI_WEBPUSH_STORED_ERROR_PREFIX :
		COI_WEBPUSH_REQUEST_ERROR_PREFIX;
	const unsigned char *p = data, *end = p + size;
	struct coi_webpush_parser parser;
	struct istream *input;
	enum coi_json_token type;
	const char *value, *json_error;
	int ret;

	i_zero(sub_r);
	if (size > COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN) {
		*error_r = t_strdup_printf("%sis longer than %u octets",
			prefix, COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN);
		return -1;
	}
	if (memchr(data, '\0', size) != NULL) {
		*error_r = t_strconcat(prefix, "contains NUL characters", NULL);
		return -1;
	}
	/* the JSON parser's own message for this is less clear */
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end || *p != '{') {
		*error_r = t_strconcat(prefix, "not a JSON object", NULL);
		return -1;
	}

	i_zero(&parser);
	parser.pool = pool;
	parser.sub = sub_r;
	parser.stored = stored;

	input = i_stream_create_from_data(data, size);
	parser.json = coi_json_reader_init(input);
	if (coi_json_reader_next(parser.json, &type, &value) <= 0)
		ret = coi_webpush_json_failed(&parser);
	else {
		/* checked above */
		i_assert(type == COI_JSON_OBJECT);
		ret = coi_webpush_parse_object(&parser,
					       COI_WEBPUSH_OBJECT_ROOT);
	}
	if (ret == 0 && coi_json_reader_next(parser.json, &type, &value) > 0) {
		/* a second value after the object */
		ret = coi_webpush_json_failed(&parser);
		parser.json_error = "Unexpected data at the end";
	}
	/* The parser may have failed even where it returned a token (e.g.
	   for "\u0000" in a string Dovecot 2.3's can return a number), so
	   its error wins over any found here. */
	if (coi_json_reader_deinit(&parser.json, &json_error) < 0) {
		ret = coi_webpush_json_failed(&parser);
		parser.json_error = json_error;
	}
	i_stream_unref(&input);

	if (ret == 0)
		ret = coi_webpush_check_required(&parser, COI_WEBPUSH_OBJECT_ROOT);
	if (ret == 0)
		return 0;
	if (parser.json_failed) {
		/* no error from the parser: the input ended early */
		*error_r = t_strdup_printf("%snot valid JSON (%s)", prefix,
			parser.json_error != NULL ? parser.json_error :
			"unexpected end of input");
	} else {
		i_assert(parser.error != NULL);
		*error_r = t_strconcat(prefix, parser.error, NULL);
	}
	i_zero(sub_r);
	return -1;
}

int coi_webpush_subscription_parse_request(pool_t pool, const char *json,
	struct coi_webpush_subscription *sub_r, const char **error_r)
{
	return coi_webpush_subscription_parse(pool, json, strlen(json), FALSE,
					      sub_r, error_r);
}

int coi_webpush_subscription_parse_request_data(pool_t pool,
	const void *data, size_t size,
	struct coi_webpush_subscription *sub_r, const char **error_r)
{
	return coi_webpush_subscription_parse(pool, data, size, FALSE,
					      sub_r, error_r);
}

int coi_webpush_subscription_parse_stored(pool_t pool, const char *json,
	struct coi_webpush_subscription *sub_r, const char **error_r)
{
	return coi_webpush_subscription_parse(pool, json, strlen(json), TRUE,
					      sub_r, error_r);
}

int coi_webpush_subscription_parse_stored_data(pool_t pool,
	const void *data, size_t size,
	struct coi_webpush_subscription *sub_r, const char **error_r)
{
	return coi_webpush_subscription_parse(pool, data, size, TRUE,
					      sub_r, error_r);
}

/*
 * Output
 */

static void
coi_webpush_append_string(string_t *str, const char *key, const char *value)
{
	i_assert(value != NULL);

	str_printfa(str, "\"%s\":\"", key);
	json_append_escaped(str, value);
	str_append_c(str, '"');
}

const char *
coi_webpush_subscription_to_json(const struct coi_webpush_subscription *sub)
{
	string_t *str = t_str_new(512);

	str_append_c(str, '{');
	if (sub->created != 0) {
		coi_webpush_append_string(str, "created",
			t_strfgmtime("%Y-%m-%dT%H:%M:%SZ", sub->created));
		str_append_c(str, ',');
	}
	str_printfa(str, "\"validated\":%s,",
		    sub->validated ? "true" : "false");
	coi_webpush_append_string(str, "client", sub->client);
	str_append_c(str, ',');
	coi_webpush_append_string(str, "device", sub->device);
	str_append_c(str, ',');
	coi_webpush_append_string(str, "msgtype",
				  coi_webpush_msgtype_to_str(sub->msgtype));
	str_append(str, ",\"resource\":{");
	coi_webpush_append_string(str, "endpoint", sub->endpoint);
	str_append(str, ",\"keys\":{");
	coi_webpush_append_string(str, "p256dh", sub->p256dh);
	str_append_c(str, ',');
	coi_webpush_append_string(str, "auth", sub->auth);
	str_append(str, "}}}");
	return str_c(str);
}
