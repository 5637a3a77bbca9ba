/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "buffer.h"
#include "str.h"
#include "test-common.h"
#include "coi-webpush-subscription.h"

#define P256DH_URL \
	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7V" \
	"d8pZGH6SRpkNtoIAiw4"
#define P256DH_STD_PADDED \
	"BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4bjyPjs7V" \
	"d8pZGH6SRpkNtoIAiw4="
/* the same point with 0x05 as the first octet */
#define P256DH_BAD_PREFIX \
	"BSVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7V" \
	"d8pZGH6SRpkNtoIAiw4"
/* 64 and 66 octets */
#define P256DH_SHORT \
	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7V" \
	"d8pZGH6SRpkNtoIAiw"
#define P256DH_LONG \
	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7V" \
	"d8pZGH6SRpkNtoIAiw4A"
#define AUTH_URL "BTBZMqHH6r4Tts7J_aSIgg"
#define AUTH_STD_PADDED "BTBZMqHH6r4Tts7J/aSIgg=="
#define ENDPOINT "https://my-push-service.com/some-kind-of-unique-id-1234/v2/"

#define ERR "Invalid subscription: "
#define ERR_STORED "Invalid stored subscription: "

/* The members of a request as raw JSON values; NULL leaves one out.
   resource and keys, when set, replace the whole object. */
struct test_request {
	const char *client, *device, *msgtype;
	const char *endpoint, *p256dh, *auth;
	const char *resource, *keys;
	/* raw members added to the objects, e.g. "\"x\":1" */
	const char *extra_root, *extra_resource, *extra_keys;
};

static const struct test_request test_request_default = {
	.client = "\"My awesome WebPush App\"",
	.device = "\"My Favorite Smartphone\"",
	.msgtype = "\"chat\"",
	.endpoint = "\""ENDPOINT"\"",
	.p256dh = "\""P256DH_URL"\"",
	.auth = "\""AUTH_URL"\"",
};

static const char *test_repeat(size_t count, char c)
{
	char *str = t_malloc_no0(count + 1);

	memset(str, c, count);
	str[count] = '\0';
	return str;
}

static void
test_append_member(string_t *str, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (str_len(str) > 0 && str_data(str)[str_len(str)-1] != '{')
		str_append_c(str, ',');
	if (key == NULL)
		str_append(str, value);
	else
		str_printfa(str, "\"%s\":%s", key, value);
}

static const char *test_request_json(const struct test_request *req)
{
	string_t *str = t_str_new(512);
	string_t *resource = t_str_new(256), *keys = t_str_new(128);

	str_append_c(keys, '{');
	test_append_member(keys, "p256dh", req->p256dh);
	test_append_member(keys, "auth", req->auth);
	test_append_member(keys, NULL, req->extra_keys);
	str_append_c(keys, '}');

	str_append_c(resource, '{');
	test_append_member(resource, "endpoint", req->endpoint);
	test_append_member(resource, "keys",
			   req->keys != NULL ? req->keys : str_c(keys));
	test_append_member(resource, NULL, req->extra_resource);
	str_append_c(resource, '}');

	str_append_c(str, '{');
	test_append_member(str, "client", req->client);
	test_append_member(str, "device", req->device);
	test_append_member(str, "msgtype", req->msgtype);
	test_append_member(str, "resource", req->resource != NULL ?
			   req->resource : str_c(resource));
	test_append_member(str, NULL, req->extra_root);
	str_append_c(str, '}');
	return str_c(str);
}

static bool
test_subscriptions_equal(const struct coi_webpush_subscription *a,
			 const struct coi_webpush_subscription *b)
{
	return strcmp(a->client, b->client) == 0 &&
		strcmp(a->device, b->device) == 0 &&
		a->msgtype == b->msgtype &&
		strcmp(a->endpoint, b->endpoint) == 0 &&
		strcmp(a->p256dh, b->p256dh) == 0 &&
		strcmp(a->auth, b->auth) == 0 &&
		a->created == b->created &&
		a->validated == b->validated;
}

#define TEST_NOT_JSON "Invalid subscription: not valid JSON ("

static bool test_ends_with(const char *str, const char *suffix)
{
	size_t len = strlen(str), suffix_len = strlen(suffix);

	return len >= suffix_len &&
		strcmp(str + len - suffix_len, suffix) == 0;
}

/* Dovecot 2.4's JSON parser words its errors differently, and rejects
   what RFC 8259 forbids in strings (raw control characters, invalid
   UTF-8) itself, where 2.3's let our field checks do it: on 2.4 such
   input must be refused as invalid JSON, with whatever reason. */
static const char *
test_expected_error(const char *error, const char *expected)
{
	if (!COI_DOVECOT_24 || error == NULL ||
	    !str_begins_with(error, TEST_NOT_JSON))
		return expected;
	if (str_begins_with(expected, TEST_NOT_JSON) ||
	    test_ends_with(expected, " must not contain control characters") ||
	    test_ends_with(expected, " is not valid UTF-8"))
		return error;
	return expected;
}

/* Parses a request that must fail with exactly this error. */
static void
test_request_error(const char *json, const char *expected, unsigned int idx)
{
	struct coi_webpush_subscription sub;
	const char *error = NULL;

	test_assert_idx(coi_webpush_subscription_parse_request(
		pool_datastack_create(), json, &sub, &error) < 0, idx);
	test_assert_strcmp_idx(error, test_expected_error(error, expected), idx);
	/* nothing is left behind on failure */
	test_assert_idx(sub.client == NULL && sub.endpoint == NULL, idx);
}

static void test_coi_webpush_subscription_id_is_valid(void)
{
	static const char *const valid[] = {
		"0123456789",
		"31754ee7-d3ee-4226-b112-6895ed26fcf8",
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
		"__________",
		"----------",
		"aZ09_-aZ09_-",
	};
	static const char *const invalid[] = {
		"",
		"012345678",
		"31754ee7-d3ee-4226-b112-6895ed26fcf8a",
		"0123456789012345678901234567890123456789",
		"0123456789.",
		"01234 56789",
		"0123456789/",
		"01234567+9",
		"012345678=",
		"0123456789\n",
		"ÄÖÜ0123456789",
		"..........",
		"0123456789*",
		"0123456789%",
	};
	unsigned int i;

	test_begin("coi webpush subscription id is valid");
	for (i = 0; i < N_ELEMENTS(valid); i++)
		test_assert_idx(coi_webpush_subscription_id_is_valid(valid[i]), i);
	for (i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(!coi_webpush_subscription_id_is_valid(invalid[i]), i);
	test_end();
}

static void test_coi_webpush_msgtype(void)
{
	static const char *const invalid[] = {
		"", "Chat", "CHAT", "Mail", "ALL", "chat ", " chat", "chats",
		"both", "none",
	};
	static const enum coi_webpush_msgtype types[] = {
		COI_WEBPUSH_MSGTYPE_CHAT,
		COI_WEBPUSH_MSGTYPE_MAIL,
		COI_WEBPUSH_MSGTYPE_ALL,
	};
	enum coi_webpush_msgtype type;
	unsigned int i;

	test_begin("coi webpush msgtype");
	test_assert_strcmp(coi_webpush_msgtype_to_str(COI_WEBPUSH_MSGTYPE_CHAT), "chat");
	test_assert_strcmp(coi_webpush_msgtype_to_str(COI_WEBPUSH_MSGTYPE_MAIL), "mail");
	test_assert_strcmp(coi_webpush_msgtype_to_str(COI_WEBPUSH_MSGTYPE_ALL), "all");
	test_assert(COI_WEBPUSH_MSGTYPE_ALL ==
		    (COI_WEBPUSH_MSGTYPE_CHAT | COI_WEBPUSH_MSGTYPE_MAIL));
	for (i = 0; i < N_ELEMENTS(types); i++) {
		test_assert_idx(coi_webpush_msgtype_parse(
			coi_webpush_msgtype_to_str(types[i]), &type) == 0, i);
		test_assert_idx(type == types[i], i);
	}
	for (i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(coi_webpush_msgtype_parse(invalid[i], &type) < 0, i);
	test_end();
}

static void test_coi_webpush_base64_decode_any(void)
{
	static const struct {
		const char *in;
		const char *out;
	} valid[] = {
		{ "", "" },
		{ "QQ", "A" },
		{ "QQ==", "A" },
		{ "QUI", "AB" },
		{ "QUI=", "AB" },
		{ "QUJD", "ABC" },
		{ "QUJDRA", "ABCD" },
		/* 0xfb 0xff 0xbf in both alphabets */
		{ "-_-_", "\xfb\xff\xbf" },
		{ "+/+/", "\xfb\xff\xbf" },
		{ "-_-_QQ==", "\xfb\xff\xbf""A" },
	};
	static const char *const invalid[] = {
		"Q", "Q=", "Q==", "Q===", "QQ=", "QQ===", "QUI==", "QUJD=",
		"QUJD====", "=", "==", "=QQ", "QQ==QQ", "Q Q", " QQ", "QQ\n",
		"-+", "_/QQ", "QQ.", "QQ!=", "QUJD\xc3\xa4",
	};
	buffer_t *buf = t_buffer_create(16);
	unsigned int i;

	test_begin("coi webpush base64 decode any");
	for (i = 0; i < N_ELEMENTS(valid); i++) {
		buffer_set_used_size(buf, 0);
		test_assert_idx(coi_webpush_base64_decode_any(valid[i].in, buf) == 0, i);
		test_assert_idx(buf->used == strlen(valid[i].out) &&
				memcmp(buf->data, valid[i].out, buf->used) == 0, i);
	}
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		buffer_set_used_size(buf, 0);
		test_assert_idx(coi_webpush_base64_decode_any(invalid[i], buf) < 0, i);
	}
	/* appends */
	buffer_set_used_size(buf, 0);
	buffer_append(buf, "x", 1);
	test_assert(coi_webpush_base64_decode_any("QQ", buf) == 0);
	test_assert(buf->used == 2 && memcmp(buf->data, "xA", 2) == 0);
	/* the keys of the tests */
	buffer_set_used_size(buf, 0);
	test_assert(coi_webpush_base64_decode_any(P256DH_URL, buf) == 0);
	test_assert(buf->used == 65 &&
		    ((const unsigned char *)buf->data)[0] == 0x04);
	buffer_set_used_size(buf, 0);
	test_assert(coi_webpush_base64_decode_any(P256DH_STD_PADDED, buf) == 0);
	test_assert(buf->used == 65);
	buffer_set_used_size(buf, 0);
	test_assert(coi_webpush_base64_decode_any(AUTH_URL, buf) == 0);
	test_assert(buf->used == 16);
	buffer_set_used_size(buf, 0);
	test_assert(coi_webpush_base64_decode_any(AUTH_STD_PADDED, buf) == 0);
	test_assert(buf->used == 16);
	test_end();
}

static void test_coi_webpush_subscription_spec_example(void)
{
	/* the spec's example with a real key */
	const char *json =
		"{\n"
		"    \"client\": \"My awesome WebPush App\",\n"
		"    \"device\": \"My Favorite Smartphone\",\n"
		"    \"msgtype\": \"chat\",\n"
		"    \"resource\":\n"
		"    {\n"
		"        \"endpoint\": \""ENDPOINT"\",\n"
		"        \"keys\": {\n"
		"            \"p256dh\": \""P256DH_URL"\",\n"
		"            \"auth\": \""AUTH_URL"\"\n"
		"        }\n"
		"    }\n"
		"}\r\n";
	struct coi_webpush_subscription sub;
	const char *error = NULL;
	pool_t pool;

	test_begin("coi webpush subscription spec example");
	pool = pool_alloconly_create("test webpush", 1024);
	test_assert(coi_webpush_subscription_parse_request(pool, json, &sub,
							   &error) == 0);
	test_assert(error == NULL);
	test_assert_strcmp(sub.client, "My awesome WebPush App");
	test_assert_strcmp(sub.device, "My Favorite Smartphone");
	test_assert(sub.msgtype == COI_WEBPUSH_MSGTYPE_CHAT);
	test_assert_strcmp(sub.endpoint, ENDPOINT);
	test_assert_strcmp(sub.p256dh, P256DH_URL);
	test_assert_strcmp(sub.auth, AUTH_URL);
	test_assert(sub.created == 0);
	test_assert(!sub.validated);
	pool_unref(&pool);
	test_end();
}

static void test_coi_webpush_subscription_key_forms(void)
{
	static const struct {
		const char *p256dh, *auth;
	} tests[] = {
		{ P256DH_URL, AUTH_URL },
		{ P256DH_STD_PADDED, AUTH_STD_PADDED },
		{ P256DH_URL"=", AUTH_URL"==" },
		{ P256DH_STD_PADDED, AUTH_URL },
		/* standard alphabet without padding */
		{ "BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4"
		  "bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "BTBZMqHH6r4Tts7J/aSIgg" },
		/* JSON escapes are decoded before validation */
		{ "BCVxsr7N\\/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4"
		  "bjyPjs7Vd8pZGH6SRpkNtoIAiw4=", "\\u0042TBZMqHH6r4Tts7J_aSIgg" },
	};
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *error;
	unsigned int i;

	test_begin("coi webpush subscription key encodings");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		req.p256dh = t_strdup_printf("\"%s\"", tests[i].p256dh);
		req.auth = t_strdup_printf("\"%s\"", tests[i].auth);
		error = NULL;
		test_assert_idx(coi_webpush_subscription_parse_request(
			pool_datastack_create(), test_request_json(&req),
			&sub, &error) == 0, i);
		test_assert_idx(error == NULL, i);
	}
	/* stored as the client sent them */
	req.p256dh = "\""P256DH_STD_PADDED"\"";
	req.auth = "\""AUTH_STD_PADDED"\"";
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert_strcmp(sub.p256dh, P256DH_STD_PADDED);
	test_assert_strcmp(sub.auth, AUTH_STD_PADDED);
	test_end();
}

static void test_coi_webpush_subscription_round_trip(void)
{
	static const char *const msgtypes[] = { "chat", "mail", "all" };
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub, sub2;
	const char *json, *error;
	unsigned int i;
	pool_t pool;

	test_begin("coi webpush subscription round trip");
	pool = pool_alloconly_create("test webpush", 2048);
	test_assert(coi_webpush_subscription_parse_request(pool,
		test_request_json(&req), &sub, &error) == 0);
	sub.created = 1571242457;
	sub.validated = FALSE;
	json = coi_webpush_subscription_to_json(&sub);
	test_assert_strcmp(json,
		"{\"created\":\"2019-10-16T16:14:17Z\",\"validated\":false,"
		"\"client\":\"My awesome WebPush App\","
		"\"device\":\"My Favorite Smartphone\",\"msgtype\":\"chat\","
		"\"resource\":{\"endpoint\":\""ENDPOINT"\","
		"\"keys\":{\"p256dh\":\""P256DH_URL"\","
		"\"auth\":\""AUTH_URL"\"}}}");
	test_assert(coi_webpush_subscription_parse_stored(pool, json, &sub2,
							  &error) == 0);
	test_assert(test_subscriptions_equal(&sub, &sub2));

	/* and validated, every msgtype */
	for (i = 0; i < N_ELEMENTS(msgtypes); i++) {
		req.msgtype = t_strdup_printf("\"%s\"", msgtypes[i]);
		test_assert_idx(coi_webpush_subscription_parse_request(pool,
			test_request_json(&req), &sub, &error) == 0, i);
		sub.created = 2000000000 + i;
		sub.validated = TRUE;
		json = coi_webpush_subscription_to_json(&sub);
		test_assert_idx(strstr(json, "\"validated\":true,") != NULL, i);
		test_assert_idx(strstr(json, t_strdup_printf(
			"\"msgtype\":\"%s\"", msgtypes[i])) != NULL, i);
		test_assert_idx(coi_webpush_subscription_parse_stored(pool,
			json, &sub2, &error) == 0, i);
		test_assert_idx(test_subscriptions_equal(&sub, &sub2), i);
		/* a stored value is not a valid request's output twice:
		   created and validated are dropped from requests */
		test_assert_idx(coi_webpush_subscription_parse_request(pool,
			json, &sub2, &error) == 0, i);
		test_assert_idx(sub2.created == 0 && !sub2.validated, i);
	}
	pool_unref(&pool);
	test_end();
}

static void test_coi_webpush_subscription_largest(void)
{
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub, sub2;
	const char *json, *error;
	string_t *str = t_str_new(1024);
	unsigned int i;

	test_begin("coi webpush subscription largest stored form");
	/* every value as long as possible, escaped as long as possible */
	str_append_c(str, '"');
	for (i = 0; i < COI_WEBPUSH_NAME_MAX_LEN; i++)
		str_append(str, "\\\"");
	str_append_c(str, '"');
	req.client = t_strdup(str_c(str));
	str_truncate(str, 0);
	str_append_c(str, '"');
	for (i = 0; i < COI_WEBPUSH_NAME_MAX_LEN / 3; i++)
		str_append(str, "\\u2028");
	/* two more octets: 128 */
	str_append(str, "\\\\\\\\\"");
	req.device = t_strdup(str_c(str));
	req.endpoint = t_strdup_printf("\"https://push.example.com/%s\"",
		test_repeat(COI_WEBPUSH_ENDPOINT_MAX_LEN - 25, 'a'));
	req.p256dh = "\""P256DH_STD_PADDED"\"";
	req.auth = "\""AUTH_STD_PADDED"\"";
	if (coi_webpush_subscription_parse_request(pool_datastack_create(),
			test_request_json(&req), &sub, &error) < 0) {
		test_assert_strcmp(error, "");
		test_end();
		return;
	}
	test_assert(strlen(sub.client) == COI_WEBPUSH_NAME_MAX_LEN);
	test_assert(strlen(sub.device) == COI_WEBPUSH_NAME_MAX_LEN);
	sub.created = INT32_MAX;
	sub.validated = FALSE;
	json = coi_webpush_subscription_to_json(&sub);
	test_assert(strlen(json) <= COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN);
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), json, &sub2, &error) == 0);
	test_assert(test_subscriptions_equal(&sub, &sub2));
	test_end();
}

static void test_coi_webpush_subscription_unknown_keys(void)
{
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *json, *error;

	test_begin("coi webpush subscription unknown keys");
	req.extra_root = "\"unknown\":\"secret1\",\"nested\":{\"a\":[1,2,"
		"{\"b\":null}],\"client\":\"secret2\"},\"list\":[\"secret3\"],"
		"\"num\":-1.5e3,\"t\":true,\"f\":false,\"n\":null,"
		"\"created\":\"2001-01-01T00:00:00Z\",\"validated\":true,"
		"\"Client\":\"secret4\"";
	req.extra_resource = "\"extra\":{\"keys\":{}},\"ttl\":60";
	req.extra_keys = "\"secret\":\"secret5\",\"x\":[]";
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert_strcmp(sub.client, "My awesome WebPush App");
	test_assert(sub.created == 0);
	test_assert(!sub.validated);

	json = coi_webpush_subscription_to_json(&sub);
	test_assert(strstr(json, "secret") == NULL);
	test_assert(strstr(json, "unknown") == NULL);
	test_assert(strstr(json, "ttl") == NULL);
	test_assert(strstr(json, "2001") == NULL);
	/* created 0 = not set: left out */
	test_assert(strstr(json, "created") == NULL);
	test_assert(strncmp(json, "{\"validated\":false,", 19) == 0);
	/* which the stored form requires */
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), json, &sub, &error) < 0);
	test_assert_strcmp(error, ERR_STORED"created is missing");

	/* unknown keys before the known ones */
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(),
		"{\"z\":{\"resource\":1},\"client\":\"c\",\"device\":\"d\","
		"\"msgtype\":\"mail\",\"resource\":{\"q\":[[[]]],\"keys\":{"
		"\"q\":\"\",\"auth\":\""AUTH_URL"\",\"p256dh\":\""P256DH_URL"\"},"
		"\"endpoint\":\"http://example.com\"}}", &sub, &error) == 0);
	test_assert(sub.msgtype == COI_WEBPUSH_MSGTYPE_MAIL);
	test_assert_strcmp(sub.endpoint, "http://example.com");
	test_end();
}

static void test_coi_webpush_subscription_missing(void)
{
	static const struct {
		size_t offset;
		const char *error;
	} tests[] = {
		{ offsetof(struct test_request, client), ERR"client is missing" },
		{ offsetof(struct test_request, device), ERR"device is missing" },
		{ offsetof(struct test_request, msgtype), ERR"msgtype is missing" },
		{ offsetof(struct test_request, endpoint),
		  ERR"resource.endpoint is missing" },
		{ offsetof(struct test_request, p256dh),
		  ERR"resource.keys.p256dh is missing" },
		{ offsetof(struct test_request, auth),
		  ERR"resource.keys.auth is missing" },
	};
	struct test_request req;
	unsigned int i;

	test_begin("coi webpush subscription missing fields");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		req = test_request_default;
		*(const char **)((char *)&req + tests[i].offset) = NULL;
		test_request_error(test_request_json(&req), tests[i].error, i);
	}
	req = test_request_default;
	req.keys = "{}";
	test_request_error(test_request_json(&req),
			   ERR"resource.keys.p256dh is missing", 100);
	req.resource = "{\"keys\":{\"p256dh\":\""P256DH_URL"\","
		"\"auth\":\""AUTH_URL"\"}}";
	test_request_error(test_request_json(&req),
			   ERR"resource.endpoint is missing", 101);
	/* the first problem in the order of the input */
	req.resource = "{\"keys\":{}}";
	test_request_error(test_request_json(&req),
			   ERR"resource.keys.p256dh is missing", 102);
	req.resource = "{\"endpoint\":\""ENDPOINT"\"}";
	test_request_error(test_request_json(&req),
			   ERR"resource.keys is missing", 103);
	req.resource = "{}";
	test_request_error(test_request_json(&req),
			   ERR"resource.endpoint is missing", 104);
	test_request_error("{\"client\":\"a\",\"device\":\"b\",\"msgtype\":"
			   "\"all\"}", ERR"resource is missing", 104);
	test_request_error("{}", ERR"client is missing", 105);
	test_request_error(" { } ", ERR"client is missing", 106);
	test_end();
}

static void test_coi_webpush_subscription_wrong_types(void)
{
	static const struct {
		size_t offset;
		const char *value;
		const char *error;
	} tests[] = {
		{ offsetof(struct test_request, client), "42",
		  ERR"client must be a string" },
		{ offsetof(struct test_request, client), "null",
		  ERR"client must be a string" },
		{ offsetof(struct test_request, client), "[\"a\"]",
		  ERR"client must be a string" },
		{ offsetof(struct test_request, device), "{\"a\":\"b\"}",
		  ERR"device must be a string" },
		{ offsetof(struct test_request, device), "true",
		  ERR"device must be a string" },
		{ offsetof(struct test_request, msgtype), "1",
		  ERR"msgtype must be a string" },
		{ offsetof(struct test_request, msgtype), "[\"chat\"]",
		  ERR"msgtype must be a string" },
		{ offsetof(struct test_request, endpoint), "false",
		  ERR"resource.endpoint must be a string" },
		{ offsetof(struct test_request, p256dh), "65",
		  ERR"resource.keys.p256dh must be a string" },
		{ offsetof(struct test_request, auth), "{}",
		  ERR"resource.keys.auth must be a string" },
		{ offsetof(struct test_request, resource), "[]",
		  ERR"resource must be an object" },
		{ offsetof(struct test_request, resource),
		  "[{\"endpoint\":\""ENDPOINT"\"}]",
		  ERR"resource must be an object" },
		{ offsetof(struct test_request, resource), "\"x\"",
		  ERR"resource must be an object" },
		{ offsetof(struct test_request, resource), "null",
		  ERR"resource must be an object" },
		{ offsetof(struct test_request, keys), "[]",
		  ERR"resource.keys must be an object" },
		{ offsetof(struct test_request, keys), "7",
		  ERR"resource.keys must be an object" },
	};
	struct test_request req;
	unsigned int i;

	test_begin("coi webpush subscription wrong types");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		req = test_request_default;
		*(const char **)((char *)&req + tests[i].offset) =
			tests[i].value;
		test_request_error(test_request_json(&req), tests[i].error, i);
	}
	test_end();
}

static void test_coi_webpush_subscription_names(void)
{
	static const struct {
		const char *value;
		const char *error;
	} tests[] = {
		{ "\"\"", "must not be empty" },
		{ "\"a\\tb\"", "must not contain control characters" },
		{ "\"a\tb\"", "must not contain control characters" },
		{ "\"a\\nb\"", "must not contain control characters" },
		{ "\"a\nb\"", "must not contain control characters" },
		{ "\"a\\rb\"", "must not contain control characters" },
		{ "\"\\u0001\"", "must not contain control characters" },
		{ "\"\x1b[31m\"", "must not contain control characters" },
		{ "\"\\u001f\"", "must not contain control characters" },
		{ "\"\\u007f\"", "must not contain control characters" },
		{ "\"\x7f\"", "must not contain control characters" },
		{ "\"\\u0085\"", "must not contain control characters" },
		{ "\"\xc2\x9f\"", "must not contain control characters" },
		{ "\"\xff\"", "is not valid UTF-8" },
		{ "\"a\xc3\"", "is not valid UTF-8" },
		{ "\"\xc0\xaf\"", "is not valid UTF-8" },
		{ "\"\xed\xa0\x80\"", "is not valid UTF-8" },
		{ "\"\xf4\x90\x80\x80\"", "is not valid UTF-8" },
		{ "\"\x80\"", "is not valid UTF-8" },
	};
	static const char *const fields[] = { "client", "device" };
	struct coi_webpush_subscription sub;
	struct test_request req;
	const char *error;
	unsigned int i, j;
	string_t *str;

	test_begin("coi webpush subscription client and device");
	for (j = 0; j < N_ELEMENTS(fields); j++) {
		for (i = 0; i < N_ELEMENTS(tests); i++) {
			req = test_request_default;
			if (j == 0)
				req.client = tests[i].value;
			else
				req.device = tests[i].value;
			test_request_error(test_request_json(&req),
				t_strdup_printf(ERR"%s %s", fields[j],
						tests[i].error), j*100 + i);
		}
	}

	/* 128 octets are fine, 129 not, whatever the characters */
	str = t_str_new(256);
	str_append_c(str, '"');
	for (i = 0; i < 64; i++)
		str_append(str, "\xc3\xa4");
	str_append_c(str, '"');
	req = test_request_default;
	req.client = str_c(str);
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert(strlen(sub.client) == 128);
	str_insert(str, 1, "a");
	req.client = str_c(str);
	test_request_error(test_request_json(&req),
			   ERR"client is longer than 128 octets", 1000);
	req = test_request_default;
	req.device = t_strdup_printf("\"%s\"", test_repeat(129, 'x'));
	test_request_error(test_request_json(&req),
			   ERR"device is longer than 128 octets", 1001);
	/* JSON escapes count as what they decode to */
	req.device = t_strdup_printf("\"%s\"", test_repeat(128 * 2, '\\'));
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert(strlen(sub.device) == 128);
	test_end();
}

static void test_coi_webpush_subscription_unicode_output(void)
{
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub, sub2;
	const char *json, *error;

	test_begin("coi webpush subscription unicode output");
	/* raw UTF-8, \u escapes (also a surrogate pair), quote, backslash,
	   slash, U+2028 */
	req.client = "\"Ünï \\u00e7\\u00F6d\\u00e9 \xf0\x9f\x98\x80 "
		"\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \xe2\x80\xa8\"";
	req.device = "\"\xe6\x97\xa5\xe6\x9c\xac \\u2029 <b>&amp;</b>\"";
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert_strcmp(sub.client, "Ünï çöd\xc3\xa9 \xf0\x9f\x98\x80 "
			   "\xf0\x9f\x98\x80 \"q\" \\ / \xe2\x80\xa8");
	test_assert_strcmp(sub.device, "\xe6\x97\xa5\xe6\x9c\xac "
			   "\xe2\x80\xa9 <b>&amp;</b>");
	sub.created = 1;
	json = coi_webpush_subscription_to_json(&sub);
	test_assert(strstr(json, "\"created\":\"1970-01-01T00:00:01Z\"") != NULL);
	test_assert(strstr(json, "\"client\":\"Ünï çöd\xc3\xa9 "
			   "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80 \\\"q\\\" \\\\ / "
			   "\\u2028\"") != NULL);
	test_assert(strstr(json, "\"device\":\"\xe6\x97\xa5\xe6\x9c\xac "
			   "\\u2029 <b>&amp;</b>\"") != NULL);
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), json, &sub2, &error) == 0);
	test_assert(test_subscriptions_equal(&sub, &sub2));
	test_end();
}

static void test_coi_webpush_subscription_msgtype(void)
{
	static const char *const invalid[] = {
		"\"Chat\"", "\"CHAT\"", "\"Mail\"", "\"All\"", "\"\"",
		"\"chat \"", "\"chat,mail\"", "\"none\"", "\"ch\\u0000at\"",
	};
	struct test_request req = test_request_default;
	unsigned int i;

	test_begin("coi webpush subscription msgtype");
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		req.msgtype = invalid[i];
		test_request_error(test_request_json(&req), i < 8 ?
			ERR"msgtype must be chat, mail or all" :
			ERR"not valid JSON (\\u0000 not supported in strings)",
			i);
	}
	test_end();
}

static void test_coi_webpush_subscription_endpoint(void)
{
	static const char *const valid[] = {
		"https://push.example.com/v2/abc?x=1&y=%20",
		"https://push.example.com",
		"https://push.example.com:8443/wpush/v2/gAAAAABd",
		"http://push.example.com:8080/",
		"HTTPS://push.example.com/",
		"https://[2001:db8::1]:443/p",
		"https://192.0.2.1/p",
		"https://fcm.googleapis.com/fcm/send/dbnG2F1RzZc:APA91bH-_x",
	};
	static const struct {
		const char *value;
		const char *problem;
	} invalid[] = {
		{ "", "must be an absolute http:// or https:// URL" },
		{ "/relative/path", "must be an absolute http:// or https:// URL" },
		{ "relative", "must be an absolute http:// or https:// URL" },
		{ "//push.example.com/x",
		  "must be an absolute http:// or https:// URL" },
		{ "ftp://push.example.com/x",
		  "must be an absolute http:// or https:// URL" },
		{ "mailto:a@example.com",
		  "must be an absolute http:// or https:// URL" },
		{ "https:push.example.com",
		  "must be an absolute http:// or https:// URL" },
		{ " https://push.example.com/",
		  "must be an absolute http:// or https:// URL" },
		{ "https://user:pw@push.example.com/",
		  "must not contain user information" },
		{ "https://user@push.example.com/",
		  "must not contain user information" },
		{ "https://@push.example.com/",
		  "must not contain user information" },
		{ "https://push.example.com/x#frag",
		  "must not contain a fragment" },
		{ "https://push.example.com/x#", "must not contain a fragment" },
		{ "https://", "is not a valid http:// or https:// URL" },
		{ "https:///x", "is not a valid http:// or https:// URL" },
		{ "https://push.example.com:0/",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com:65536/",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com:x/",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/a b",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/a\\nb",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/\\u0001",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/\\\"",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/<x>",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/\xc3\xa4",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/%zz",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/%00",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/a?b c",
		  "is not a valid http:// or https:// URL" },
		{ "https://push.example.com/a#b#c",
		  "is not a valid http:// or https:// URL" },
		{ "https://push example.com/",
		  "is not a valid http:// or https:// URL" },
		{ "https://[::1/",
		  "is not a valid http:// or https:// URL" },
	};
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *error, *url;
	unsigned int i;

	test_begin("coi webpush subscription endpoint");
	for (i = 0; i < N_ELEMENTS(valid); i++) {
		req.endpoint = t_strdup_printf("\"%s\"", valid[i]);
		error = NULL;
		test_assert_idx(coi_webpush_subscription_parse_request(
			pool_datastack_create(), test_request_json(&req),
			&sub, &error) == 0, i);
		test_assert_idx(error == NULL, i);
	}
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	test_assert_strcmp(sub.endpoint, valid[N_ELEMENTS(valid)-1]);
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		req.endpoint = t_strdup_printf("\"%s\"", invalid[i].value);
		test_request_error(test_request_json(&req),
			t_strdup_printf(ERR"resource.endpoint %s",
					invalid[i].problem), i);
	}

	/* 512 octets are fine, 513 not */
	url = t_strconcat("https://push.example.com/",
			  test_repeat(512 - 25, 'a'), NULL);
	test_assert(strlen(url) == 512);
	req.endpoint = t_strdup_printf("\"%s\"", url);
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);
	req.endpoint = t_strdup_printf("\"%sa\"", url);
	test_request_error(test_request_json(&req),
			   ERR"resource.endpoint is longer than 512 octets", 1000);
	test_end();
}

static void test_coi_webpush_subscription_keys(void)
{
	static const struct {
		const char *p256dh, *auth, *error;
	} tests[] = {
		{ "", AUTH_URL, ERR"resource.keys.p256dh must be an "
		  "uncompressed P-256 public key (65 octets starting with 0x04)" },
		{ P256DH_BAD_PREFIX, AUTH_URL, ERR"resource.keys.p256dh must be "
		  "an uncompressed P-256 public key (65 octets starting with 0x04)" },
		{ P256DH_SHORT, AUTH_URL, ERR"resource.keys.p256dh must be an "
		  "uncompressed P-256 public key (65 octets starting with 0x04)" },
		{ P256DH_LONG, AUTH_URL, ERR"resource.keys.p256dh must be an "
		  "uncompressed P-256 public key (65 octets starting with 0x04)" },
		{ "BNcRdreALRFXTkOOUHK1E...P7DkM=", AUTH_URL,
		  ERR"resource.keys.p256dh is not valid base64url or base64" },
		{ P256DH_URL"==", AUTH_URL,
		  ERR"resource.keys.p256dh is not valid base64url or base64" },
		{ " "P256DH_URL, AUTH_URL,
		  ERR"resource.keys.p256dh is not valid base64url or base64" },
		{ "BCVxsr7N_eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6-AYWXvTBHm4"
		  "bjyPjs7Vd8pZGH6SRpkNtoIAiw4", AUTH_URL,
		  ERR"resource.keys.p256dh is not valid base64url or base64" },
		{ P256DH_URL, "", ERR"resource.keys.auth must be 16 octets" },
		{ P256DH_URL, "BTBZMqHH6r4Tts7J_aSI",
		  ERR"resource.keys.auth must be 16 octets" },
		{ P256DH_URL, "BTBZMqHH6r4Tts7J_aSIgng=",
		  ERR"resource.keys.auth must be 16 octets" },
		{ P256DH_URL, "tBHItJI5svbpez7KI4CCXg=",
		  ERR"resource.keys.auth is not valid base64url or base64" },
		{ P256DH_URL, "BTBZMqHH6r4Tts7J_aSIgg\\n",
		  ERR"resource.keys.auth is not valid base64url or base64" },
		{ P256DH_URL, "BTBZMqHH6r4Tts7J/aSIgg-",
		  ERR"resource.keys.auth is not valid base64url or base64" },
	};
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *error;
	string_t *str;
	unsigned int i;

	test_begin("coi webpush subscription keys");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		req.p256dh = t_strdup_printf("\"%s\"", tests[i].p256dh);
		req.auth = t_strdup_printf("\"%s\"", tests[i].auth);
		test_request_error(test_request_json(&req), tests[i].error, i);
	}
	/* the spec's (real) auth value */
	req.p256dh = "\""P256DH_URL"\"";
	req.auth = "\"tBHItJI5svbpez7KI4CCXg==\"";
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), test_request_json(&req),
		&sub, &error) == 0);

	/* too long before decoding */
	str = t_str_new(300);
	str_append_c(str, '"');
	for (i = 0; i < 257 / 4 + 1; i++)
		str_append(str, "AAAA");
	str_append_c(str, '"');
	req.p256dh = str_c(str);
	test_request_error(test_request_json(&req),
			   ERR"resource.keys.p256dh is longer than 256 octets", 100);
	test_end();
}

static void test_coi_webpush_subscription_invalid_json(void)
{
	static const struct {
		const char *json;
		const char *error;
	} tests[] = {
		{ "", ERR"not a JSON object" },
		{ "  \r\n\t ", ERR"not a JSON object" },
		{ "[]", ERR"not a JSON object" },
		{ "[{}]", ERR"not a JSON object" },
		{ "\"x\"", ERR"not a JSON object" },
		{ "42", ERR"not a JSON object" },
		{ "null", ERR"not a JSON object" },
		{ "true", ERR"not a JSON object" },
		{ "\xef\xbb\xbf{}", ERR"not a JSON object" },
		{ "{", ERR"not valid JSON (Missing '}')" },
		{ "{\"client\"", ERR"not valid JSON (Missing '}')" },
		{ "{\"client\":", ERR"not valid JSON (Missing '}')" },
		{ "{\"client\":\"a", ERR"not valid JSON (unexpected end of input)" },
		{ "{\"client\":\"a\",", ERR"not valid JSON (Missing '}')" },
		{ "{\"resource\":{\"endpoint\":\"x", ERR"not valid JSON (unexpected end of input)" },
		{ "{}}", ERR"not valid JSON (Unexpected data at the end)" },
		{ "{} x", ERR"not valid JSON (Unexpected data at the end)" },
		{ "{}{}", ERR"not valid JSON (Unexpected data at the end)" },
		{ "{} {\"client\":1}",
		  ERR"not valid JSON (Unexpected data at the end)" },
		{ "{client:\"a\"}", ERR"not valid JSON (Expected string as object key)" },
		{ "{'client':'a'}", ERR"not valid JSON (Expected string as object key)" },
		{ "{\"client\" \"a\"}", ERR"not valid JSON (Expected ':' after key)" },
		{ "{\"x\":1,}", ERR"not valid JSON (Expected string as object key)" },
		{ "{\"x\":1 \"y\":2}",
		  ERR"not valid JSON (Expected ',' or '}' after object value)" },
		{ "{\"x\":tru}", ERR"not valid JSON (Invalid data as value)" },
		{ "{\"x\":[1,}", ERR"not valid JSON (Invalid data as value)" },
		{ "{\"client\":\"\\x\"}", ERR"not valid JSON (Invalid escape string)" },
		{ "{\"client\":\"\\u12\"}",
		  ERR"not valid JSON (Invalid unicode escape seen)" },
		{ "{\"client\":\"\\ud800x\"}",
		  ERR"not valid JSON (High surrogate 0xd800 seen, but not "
		  "followed by low surrogate)" },
		{ "{\"client\":\"\\udc00\"}",
		  ERR"not valid JSON (Invalid unicode character U+dc00)" },
		{ "{\"client\":\"\\u0000\"}",
		  ERR"not valid JSON (\\u0000 not supported in strings)" },
		/* duplicate keys */
		{ "{\"client\":\"a\",\"client\":\"a\"}",
		  ERR"client is given more than once" },
		{ "{\"client\":\"a\",\"\\u0063lient\":\"b\"}",
		  ERR"client is given more than once" },
		{ "{\"resource\":{},\"resource\":{}}",
		  ERR"resource.endpoint is missing" },
		{ "{\"resource\":{\"endpoint\":\"http://a\",\"endpoint\":\"x\"}}",
		  ERR"resource.endpoint is given more than once" },
		{ "{\"resource\":{\"keys\":{\"auth\":\""AUTH_URL"\",\"auth\":1}}}",
		  ERR"resource.keys.auth is given more than once" },
		{ "{\"x\":1,\"x\":1}",
		  ERR"duplicate key in the subscription object" },
		{ "{\"resource\":{\"x\":1,\"x\":1}}", ERR"duplicate key in resource" },
		{ "{\"resource\":{\"keys\":{\"x\":1,\"x\":1}}}",
		  ERR"duplicate key in resource.keys" },
		{ "{\"created\":1,\"created\":2}",
		  ERR"duplicate key in the subscription object" },
	};
	unsigned int i;

	test_begin("coi webpush subscription invalid JSON");
	for (i = 0; i < N_ELEMENTS(tests); i++)
		test_request_error(tests[i].json, tests[i].error, i);
	test_end();
}

static void test_coi_webpush_subscription_truncated(void)
{
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *json, *error;
	size_t i, len;

	test_begin("coi webpush subscription truncated");
	req.extra_root = "\"x\":[1,{\"y\":\"\\u00e4\"},-2.5e1,true,null]";
	json = test_request_json(&req);
	len = strlen(json);
	test_assert(coi_webpush_subscription_parse_request_data(
		pool_datastack_create(), json, len, &sub, &error) == 0);
	for (i = 0; i < len; i++) T_BEGIN {
		error = NULL;
		test_assert_idx(coi_webpush_subscription_parse_request_data(
			pool_datastack_create(), json, i, &sub, &error) < 0, i);
		test_assert_idx(error != NULL &&
				str_begins_with(error, ERR), i);
	} T_END;
	test_end();
}

static void test_coi_webpush_subscription_huge(void)
{
	struct test_request req = test_request_default;
	struct coi_webpush_subscription sub;
	const char *json, *error;
	string_t *str;

	test_begin("coi webpush subscription huge input");
	json = test_request_json(&req);
	/* exactly the limit is fine (whitespace padding) */
	str = t_str_new(COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN + 1);
	str_append(str, json);
	while (str_len(str) < COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN)
		str_append_c(str, ' ');
	test_assert(coi_webpush_subscription_parse_request(
		pool_datastack_create(), str_c(str), &sub, &error) == 0);
	str_append_c(str, ' ');
	test_request_error(str_c(str), ERR"is longer than 4096 octets", 0);

	/* a large value in an unknown key */
	req.extra_root = t_strdup_printf("\"x\":\"%s\"",
					 test_repeat(1024 * 1024, 'A'));
	test_request_error(test_request_json(&req),
			   ERR"is longer than 4096 octets", 1);
	/* deep nesting within the limit */
	str_truncate(str, 0);
	str_append(str, "{\"x\":");
	while (str_len(str) < 4000)
		str_append(str, "[{\"a\":");
	test_request_error(str_c(str), ERR"not valid JSON (Missing '}')", 2);
	test_end();
}

static void test_coi_webpush_subscription_nul(void)
{
	static const char json_nul[] = "{\"client\":\"a\0b\"}";
	const char *json = test_request_json(&test_request_default);
	struct coi_webpush_subscription sub;
	const char *error;
	string_t *str;

	test_begin("coi webpush subscription NUL");
	test_assert(coi_webpush_subscription_parse_request_data(
		pool_datastack_create(), json_nul, sizeof(json_nul) - 1,
		&sub, &error) < 0);
	test_assert_strcmp(error, ERR"contains NUL characters");
	/* a NUL after a valid object */
	str = t_str_new(512);
	str_append(str, json);
	str_append_c(str, '\0');
	test_assert(coi_webpush_subscription_parse_request_data(
		pool_datastack_create(), str_data(str), str_len(str),
		&sub, &error) < 0);
	test_assert_strcmp(error, ERR"contains NUL characters");
	test_assert(coi_webpush_subscription_parse_stored_data(
		pool_datastack_create(), str_data(str), str_len(str),
		&sub, &error) < 0);
	test_assert_strcmp(error, ERR_STORED"contains NUL characters");
	/* the same without it */
	test_assert(coi_webpush_subscription_parse_request_data(
		pool_datastack_create(), str_data(str), str_len(str) - 1,
		&sub, &error) == 0);
	test_end();
}

static void test_coi_webpush_subscription_stored(void)
{
	static const char *const body =
		"\"client\":\"c\",\"device\":\"d\",\"msgtype\":\"all\","
		"\"resource\":{\"endpoint\":\"https://example.com/p\",\"keys\":{"
		"\"p256dh\":\""P256DH_URL"\",\"auth\":\""AUTH_URL"\"}}";
	static const struct {
		const char *prefix;
		const char *error;
	} invalid[] = {
		{ "", ERR_STORED"created is missing" },
		{ "\"validated\":true,", ERR_STORED"created is missing" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",",
		  ERR_STORED"validated is missing" },
		{ "\"created\":1571242457,\"validated\":true,",
		  ERR_STORED"created must be a string" },
		{ "\"created\":\"yesterday\",\"validated\":true,",
		  ERR_STORED"created is not an RFC 3339 date-time" },
		{ "\"created\":\"\",\"validated\":true,",
		  ERR_STORED"created is not an RFC 3339 date-time" },
		{ "\"created\":\"1970-01-01T01:00:00+01:00\",\"validated\":true,",
		  ERR_STORED"created must be after 1970-01-01T00:00:00Z" },
		{ "\"created\":\"1970-01-01T00:30:00+01:00\",\"validated\":true,",
		  ERR_STORED"created must be after 1970-01-01T00:00:00Z" },
		{ "\"created\":\"1969-12-31T23:59:59Z\",\"validated\":true,",
		  ERR_STORED"created is not an RFC 3339 date-time" },
		{ "\"created\":\"2019-10-16\",\"validated\":true,",
		  ERR_STORED"created is not an RFC 3339 date-time" },
		{ "\"created\":\"2019-10-16T16:14:17Z \",\"validated\":true,",
		  ERR_STORED"created is not an RFC 3339 date-time" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",\"validated\":\"true\",",
		  ERR_STORED"validated must be true or false" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",\"validated\":1,",
		  ERR_STORED"validated must be true or false" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",\"validated\":null,",
		  ERR_STORED"validated must be true or false" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",\"validated\":false,"
		  "\"validated\":true,",
		  ERR_STORED"validated is given more than once" },
		{ "\"created\":\"2019-10-16T16:14:17Z\",\"validated\":false,"
		  "\"created\":\"2019-10-16T16:14:17Z\",",
		  ERR_STORED"created is given more than once" },
	};
	struct coi_webpush_subscription sub;
	const char *error;
	unsigned int i;

	test_begin("coi webpush subscription stored form");
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), t_strdup_printf(
			"{\"created\":\"2019-10-16T16:14:17Z\","
			"\"validated\":true,%s}", body), &sub, &error) == 0);
	test_assert(sub.created == 1571242457);
	test_assert(sub.validated);
	test_assert(sub.msgtype == COI_WEBPUSH_MSGTYPE_ALL);
	/* other RFC 3339 forms; unknown keys; any order */
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), t_strdup_printf(
			"{%s,\"x\":1,\"validated\":false,"
			"\"created\":\"2019-10-16T18:14:17+02:00\"}", body),
		&sub, &error) == 0);
	test_assert(sub.created == 1571242457);
	test_assert(!sub.validated);

	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		error = NULL;
		test_assert_idx(coi_webpush_subscription_parse_stored(
			pool_datastack_create(), t_strdup_printf("{%s%s}",
				invalid[i].prefix, body), &sub, &error) < 0, i);
		test_assert_strcmp_idx(error, invalid[i].error, i);
	}
	/* validated the same way as requests */
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(),
		"{\"created\":\"2019-10-16T16:14:17Z\",\"validated\":true,"
		"\"client\":\"c\",\"device\":\"d\",\"msgtype\":\"Chat\"}",
		&sub, &error) < 0);
	test_assert_strcmp(error, ERR_STORED"msgtype must be chat, mail or all");
	test_assert(coi_webpush_subscription_parse_stored(
		pool_datastack_create(), "[]", &sub, &error) < 0);
	test_assert_strcmp(error, ERR_STORED"not a JSON object");
	test_end();
}

static void test_coi_webpush_subscription_error_texts(void)
{
	static const char *const inputs[] = {
		"{\"client\":\"\x01<script>secret</script>\"}",
		"{\"secret\":1,\"secret\":2}",
		"{\"client\":\"c\",\"device\":\"d\",\"msgtype\":\"secret\"}",
		"{\"resource\":{\"endpoint\":\"https://secret@example.com\"}}",
		"{\"resource\":{\"endpoint\":\"https://[vsecret]/\"}}",
		"{\"secret\":\"} secret",
		"{\"secret\"} secret",
	};
	struct coi_webpush_subscription sub;
	const char *error;
	unsigned int i;

	test_begin("coi webpush subscription error texts");
	/* errors never echo the input */
	for (i = 0; i < N_ELEMENTS(inputs); i++) {
		error = NULL;
		test_assert_idx(coi_webpush_subscription_parse_request(
			pool_datastack_create(), inputs[i], &sub, &error) < 0, i);
		test_assert_idx(error != NULL && strstr(error, "secret") == NULL, i);
		test_assert_idx(error != NULL && strlen(error) < 120, i);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_webpush_subscription_id_is_valid,
		test_coi_webpush_msgtype,
		test_coi_webpush_base64_decode_any,
		test_coi_webpush_subscription_spec_example,
		test_coi_webpush_subscription_key_forms,
		test_coi_webpush_subscription_round_trip,
		test_coi_webpush_subscription_largest,
		test_coi_webpush_subscription_unknown_keys,
		test_coi_webpush_subscription_missing,
		test_coi_webpush_subscription_wrong_types,
		test_coi_webpush_subscription_names,
		test_coi_webpush_subscription_unicode_output,
		test_coi_webpush_subscription_msgtype,
		test_coi_webpush_subscription_endpoint,
		test_coi_webpush_subscription_keys,
		test_coi_webpush_subscription_invalid_json,
		test_coi_webpush_subscription_truncated,
		test_coi_webpush_subscription_huge,
		test_coi_webpush_subscription_nul,
		test_coi_webpush_subscription_stored,
		test_coi_webpush_subscription_error_texts,
		NULL
	};
	return test_run(test_functions);
}
