/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "unichar.h"
#include "istream.h"
#include "coi-json-reader.h"
#include "test-common.h"
#include "coi-webpush-payload.h"

#include <ctype.h>

#define ELLIPSIS UNICODE_HORIZONTAL_ELLIPSIS_CHAR_UTF8
#define ELLIPSIS_LEN 3

/* 2019-12-31T22:20:50Z */
#define TEST_DATE 1577830850

static bool test_json_strict_string(const unsigned char **_p)
{
	const unsigned char *p = *_p;
	unsigned int i, chr;

	if (*p++ != '"')
		return FALSE;
	for (;; p++) {
		if (*p == '"')
			break;
		if (*p < 0x20)
			return FALSE;
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			chr = 0;
			for (i = 1; i <= 4; i++) {
				if (!i_isxdigit(p[i]))
					return FALSE;
				chr = chr * 16 + (i_isdigit(p[i]) ? p[i] - '0' :
						  (p[i] | 0x20) - 'a' + 10);
			}
			/* never produced: NUL and surrogates */
			if (chr == 0 || (chr >= 0xd800 && chr <= 0xdfff))
				return FALSE;
			p += 4;
		} else if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL) {
			return FALSE;
		}
	}
	*_p = p + 1;
	return TRUE;
}

/* A strict check of the flat objects the payload is: string keys, string
   or unsigned integer values, no whitespace, nothing after the end. It
   catches what Dovecot's parser lets through at the end of its input
   (e.g. an unterminated string). */
static bool test_json_strict(const char *json)
{
	const unsigned char *p = (const unsigned char *)json;

	if (*p++ != '{')
		return FALSE;
	if (*p == '}')
		return p[1] == '\0';
	for (;;) {
		if (!test_json_strict_string(&p) || *p++ != ':')
			return FALSE;
		if (*p == '"') {
			if (!test_json_strict_string(&p))
				return FALSE;
		} else if (*p == '0') {
			p++;
		} else if (*p >= '1' && *p <= '9') {
			while (i_isdigit(*p))
				p++;
		} else {
			return FALSE;
		}
		if (*p == '}')
			return p[1] == '\0';
		if (*p++ != ',')
			return FALSE;
	}
}

/* Parses all of json with Dovecot's parser (a root object), and also
   requires valid UTF-8 and passes the strict check above. If key is not
   NULL, *value_r is the value of that top-level member (NULL when
   absent). */
static bool
test_json_parse(const char *json, const char *key, const char **value_r)
{
	struct istream *input;
	struct coi_json_reader *reader;
	enum coi_json_token token;
	const char *value, *error, *found = NULL;
	bool want = FALSE, ok = TRUE;

	if (!uni_utf8_str_is_valid(json) || !test_json_strict(json))
		ok = FALSE;

	input = i_stream_create_from_data(json, strlen(json));
	reader = coi_json_reader_init(input);
	while (coi_json_reader_next(reader, &token, &value) > 0) {
		if (token == COI_JSON_KEY)
			want = key != NULL && strcmp(value, key) == 0;
		else if (want) {
			found = t_strdup(value);
			want = FALSE;
		}
	}
	if (coi_json_reader_deinit(&reader, &error) < 0)
		ok = FALSE;
	i_stream_unref(&input);
	if (value_r != NULL)
		*value_r = found;
	return ok;
}

static bool test_json_valid(const char *json)
{
	return test_json_parse(json, NULL, NULL);
}

static const char *test_json_get(const char *json, const char *key)
{
	const char *value;

	test_assert(test_json_parse(json, key, &value));
	return value;
}

/* The field is absent when expected is NULL, else has that value. */
static void
test_assert_json_field(const char *json, const char *key,
		       const char *expected, unsigned int idx)
{
	if (expected == NULL)
		test_assert_idx(test_json_get(json, key) == NULL, idx);
	else
		test_assert_strcmp_idx(test_json_get(json, key), expected, idx);
}

/* count copies of c (not NUL) */
static const char *test_fill(size_t count, char c)
{
	char *str = t_malloc0(count + 1);

	memset(str, c, count);
	return str;
}

static void test_msg_init(struct coi_webpush_message *msg)
{
	i_zero(msg);
	msg->uid = 2;
	msg->uidvalidity = 1;
}

static const char *
test_build(const struct coi_webpush_message *msg, bool *included_r)
{
	bool included;
	const char *json;

	json = coi_webpush_payload_build(msg, COI_WEBPUSH_PAYLOAD_MAX,
					 &included);
	test_assert(test_json_valid(json));
	test_assert(strlen(json) <= COI_WEBPUSH_PAYLOAD_MAX);
	if (included_r != NULL)
		*included_r = included;
	return json;
}

static void test_json_helper(void)
{
	static const char *const invalid[] = {
		"",
		"{",
		"{\"a\":\"b\"",
		"{\"a\":\"b\"}x",
		"{\"a\":\"b\\\"}",
		"{\"a\":\"b\\q\"}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\\u0000\"}",
		"{\"a\":b}",
		"{\"a\":\"b\",}",
		"{\"a\":\"b\\u12\"}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":01}",
		"{\"a\":-1}",
		"{\"a\": \"b\"}",
		"{}x",
	};
	const char *value;
	unsigned int i;

	test_begin("webpush payload: json test helper");
	for (i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(!test_json_parse(invalid[i], NULL, NULL), i);
	test_assert(test_json_parse("{\"a\":\"x\\\"y\",\"b\":1}", "a", &value));
	test_assert_strcmp(value, "x\"y");
	test_assert(test_json_parse("{\"a\":\"x\",\"b\":1}", "b", &value));
	test_assert_strcmp(value, "1");
	test_assert(test_json_parse("{\"a\":\"x\"}", "c", &value));
	test_assert(value == NULL);
	test_assert(test_json_parse("{}", NULL, NULL));
	test_assert(test_json_parse("{\"a\":0,\"b\":\"\\u00e4\\\"\\\\\\/"
				    "\\b\\f\\n\\r\\t\"}", "b", &value));
	test_assert_strcmp(value, "\xC3\xA4\"\\/\b\f\n\r\t");
	test_end();
}

static void test_payload_full(void)
{
	static const char content[] =
		"Hi gang,\r\nhope you're \"fine\"!\r\n\tC:\\ \xE2\x82\xAC\r\n";
	struct coi_webpush_message msg;
	const char *json;
	bool included;

	test_begin("webpush payload: full message");
	test_msg_init(&msg);
	msg.from_email = "Alice.Doe@Example.COM";
	msg.from_name = "Alice \xC3\x84rger";
	msg.subject = "Chat: Hello";
	msg.have_date = TRUE;
	msg.date = TEST_DATE;
	msg.date_tz = 60;
	msg.message_id = "chat$group.4321dcba1234.S2571BC.2878&8@sample.com";
	msg.content_type = "text/plain; charset=\"UTF-8\";\r\n format=flowed";
	msg.content_encoding = "Quoted-Printable";
	msg.content = (const unsigned char *)content;
	msg.content_size = sizeof(content) - 1;
	msg.folder = "COI/Chats";
	msg.uid = 2398293;
	msg.uidvalidity = 123287;
	msg.group_id = "4321dcba1234";
	msg.is_chat = TRUE;

	json = test_build(&msg, &included);
	test_assert(included);
	test_assert_strcmp(json,
		"{\"from-email\":\"alice.doe@example.com\","
		"\"from-name\":\"Alice \xC3\x84rger\","
		"\"subject\":\"Chat: Hello\","
		"\"content\":\"Hi gang,\\r\\nhope you're \\\"fine\\\"!\\r\\n"
		"\\tC:\\\\ \xE2\x82\xAC\\r\\n\","
		"\"content-type\":\"text/plain; charset=\\\"UTF-8\\\"; "
		"format=flowed\","
		"\"content-encoding\":\"quoted-printable\","
		"\"date\":\"2019-12-31T23:20:50+01:00\","
		"\"msg-id\":\"chat$group.4321dcba1234.S2571BC.2878&8@sample.com\","
		"\"uid\":2398293,"
		"\"uidvalidity\":123287,"
		"\"folder\":\"COI/Chats\","
		"\"group-id\":\"4321dcba1234\"}");
	test_assert_strcmp(test_json_get(json, "content"), content);

	json = coi_webpush_payload_build_without_content(&msg);
	test_assert(test_json_valid(json));
	test_assert_strcmp(json,
		"{\"from-email\":\"alice.doe@example.com\","
		"\"from-name\":\"Alice \xC3\x84rger\","
		"\"subject\":\"Chat: Hello\","
		"\"date\":\"2019-12-31T23:20:50+01:00\","
		"\"msg-id\":\"chat$group.4321dcba1234.S2571BC.2878&8@sample.com\","
		"\"uid\":2398293,"
		"\"uidvalidity\":123287,"
		"\"folder\":\"COI/Chats\","
		"\"group-id\":\"4321dcba1234\"}");
	test_end();
}

static void test_payload_minimal(void)
{
	struct coi_webpush_message msg;
	const char *json;
	bool included;

	test_begin("webpush payload: minimal message");
	test_msg_init(&msg);
	json = test_build(&msg, &included);
	test_assert(!included);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");
	test_assert_strcmp(coi_webpush_payload_build_without_content(&msg),
			   "{\"uid\":2,\"uidvalidity\":1}");

	msg.uid = 4294967295U;
	msg.uidvalidity = 4294967295U;
	msg.content = (const unsigned char *)"";
	json = test_build(&msg, &included);
	test_assert(included);
	test_assert_strcmp(json, "{\"content\":\"\",\"uid\":4294967295,"
			   "\"uidvalidity\":4294967295}");
	test_end();
}

/* Checks one truncated field: value is the parsed JSON string, input the
   raw one, expected_len the length of the kept prefix (or the input's
   length if it is not cut). */
static void
test_truncated(const char *value, const char *input, size_t max_len,
	       size_t expected_len, unsigned int idx)
{
	size_t len = strlen(input), value_len;

	if (value == NULL) {
		test_assert_idx(value != NULL, idx);
		return;
	}
	value_len = strlen(value);
	test_assert_idx(uni_utf8_str_is_valid(value), idx);
	if (expected_len == len) {
		test_assert_strcmp_idx(value, input, idx);
		return;
	}
	test_assert_idx(value_len == expected_len + ELLIPSIS_LEN, idx);
	test_assert_idx(value_len > ELLIPSIS_LEN &&
			strcmp(value + value_len - ELLIPSIS_LEN,
			       ELLIPSIS) == 0, idx);
	test_assert_idx(expected_len <= max_len, idx);
	test_assert_idx(strncmp(value, input, expected_len) == 0, idx);
}

static void test_payload_truncation(void)
{
	static const struct {
		unsigned int prefix_a;
		const char *tail;
		size_t expected_len;
	} tests[] = {
		/* ASCII */
		{ 99, "", 99 },
		{ 100, "", 100 },
		{ 101, "", 100 },
		{ 150, "", 100 },
		/* 2-byte sequence */
		{ 98, "\xC3\xA9", 100 },
		{ 99, "\xC3\xA9", 99 },
		{ 98, "\xC3\xA9" "b", 100 },
		{ 97, "\xC3\xA9\xC3\xA9", 99 },
		/* 3-byte sequence */
		{ 97, "\xE2\x82\xAC", 100 },
		{ 98, "\xE2\x82\xAC", 98 },
		{ 99, "\xE2\x82\xAC", 99 },
		{ 100, "\xE2\x82\xAC", 100 },
		/* 4-byte sequence */
		{ 96, "\xF0\x9F\x98\x80", 100 },
		{ 97, "\xF0\x9F\x98\x80", 97 },
		{ 98, "\xF0\x9F\x98\x80", 98 },
		{ 99, "\xF0\x9F\x98\x80", 99 },
		{ 95, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 99 },
		/* invalid UTF-8 is replaced by U+FFFD (3 octets) first */
		{ 97, "\xFF", 100 },
		{ 98, "\xFF", 98 },
		{ 99, "\xC3", 99 },
	};
	struct coi_webpush_message msg;
	const char *json, *input, *expected_input;
	unsigned int i;

	test_begin("webpush payload: truncation at 100 octets");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		input = t_strconcat(test_fill(tests[i].prefix_a, 'a'),
				    tests[i].tail, NULL);
		expected_input = input;
		if (!uni_utf8_str_is_valid(input)) {
			expected_input = t_strconcat(
				test_fill(tests[i].prefix_a, 'a'),
				UNICODE_REPLACEMENT_CHAR_UTF8, NULL);
		}
		test_msg_init(&msg);
		msg.from_email = input;
		msg.from_name = input;
		msg.subject = input;
		msg.message_id = input;
		json = test_build(&msg, NULL);
		test_truncated(test_json_get(json, "from-email"), expected_input,
			       100, tests[i].expected_len, i);
		test_truncated(test_json_get(json, "from-name"), expected_input,
			       100, tests[i].expected_len, i);
		test_truncated(test_json_get(json, "subject"), expected_input,
			       100, tests[i].expected_len, i);
		test_truncated(test_json_get(json, "msg-id"), expected_input,
			       100, tests[i].expected_len, i);

		/* content-type at 200 octets */
		input = t_strconcat("x/", test_fill(tests[i].prefix_a + 98,
						     'a'), tests[i].tail, NULL);
		expected_input = input;
		if (!uni_utf8_str_is_valid(input)) {
			expected_input = t_strconcat("x/",
				test_fill(tests[i].prefix_a + 98, 'a'),
				UNICODE_REPLACEMENT_CHAR_UTF8, NULL);
		}
		msg.content = (const unsigned char *)"body";
		msg.content_size = 4;
		msg.content_type = input;
		json = test_build(&msg, NULL);
		test_truncated(test_json_get(json, "content-type"),
			       expected_input, 200,
			       tests[i].expected_len + 100, i);
	}
	test_end();
}

static void test_payload_escaping(void)
{
	static const struct {
		const char *input;
		const char *json; /* the escaped member value */
	} tests[] = {
		{ "a\"b\\c/d", "a\\\"b\\\\c/d" },
		{ "\x01\x1f\x7f", "\\u0001\\u001f\x7f" },
		{ "t\tn\nr\rb\bf\f", "t\\tn\\nr\\rb\\bf\\f" },
		{ "\xE2\x80\xA8\xE2\x80\xA9", "\\u2028\\u2029" },
		{ "x\xFFy", "x" UNICODE_REPLACEMENT_CHAR_UTF8 "y" },
		/* a run of invalid octets becomes one U+FFFD */
		{ "\xC0\xAF", UNICODE_REPLACEMENT_CHAR_UTF8 },
		{ "\xED\xA0\x80", UNICODE_REPLACEMENT_CHAR_UTF8 },
		{ "a\xFF\xFE" "b\xFF" "c", "a" UNICODE_REPLACEMENT_CHAR_UTF8 "b"
			UNICODE_REPLACEMENT_CHAR_UTF8 "c" },
	};
	static const char *const boundary_tails[] = {
		"\\", "\\\\", "\"", "\"\"", "\x01", "\x01\x02", "\n\n",
		"a\\", "a\"", "\\\"", "\"\\",
	};
	struct coi_webpush_message msg;
	const char *json, *input, *value;
	unsigned int i, j;

	test_begin("webpush payload: escaping");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_msg_init(&msg);
		msg.subject = tests[i].input;
		json = test_build(&msg, NULL);
		test_assert_strcmp_idx(json, t_strdup_printf(
			"{\"subject\":\"%s\",\"uid\":2,\"uidvalidity\":1}",
			tests[i].json), i);
	}

	/* a cut at the limit never leaves half an escape */
	for (i = 0; i < N_ELEMENTS(boundary_tails); i++) {
		for (j = 95; j <= 101; j++) {
			input = t_strconcat(test_fill(j, 'a'),
					    boundary_tails[i], NULL);
			test_msg_init(&msg);
			msg.subject = input;
			msg.from_name = input;
			json = test_build(&msg, NULL);
			value = test_json_get(json, "subject");
			test_assert_idx(value != NULL, i);
			if (value == NULL)
				continue;
			if (strlen(input) <= 100)
				test_assert_strcmp_idx(value, input, i);
			else {
				test_assert_idx(strlen(value) ==
						100 + ELLIPSIS_LEN, i);
				test_assert_idx(strncmp(value, input, 100) == 0,
						i);
			}
			test_assert_strcmp_idx(value,
				test_json_get(json, "from-name"), i);
		}
	}

	/* U+2028 is escaped as \u2028: 3 raw octets, 6 escaped */
	for (j = 96; j <= 99; j++) {
		input = t_strconcat(test_fill(j, 'a'), "\xE2\x80\xA8", NULL);
		test_msg_init(&msg);
		msg.subject = input;
		json = test_build(&msg, NULL);
		value = test_json_get(json, "subject");
		if (j <= 97)
			test_assert_strcmp_idx(value, input, j);
		else {
			test_assert_strcmp_idx(value, t_strconcat(
				test_fill(j, 'a'), ELLIPSIS, NULL), j);
		}
	}

	/* 100 octets needing 6 each when escaped */
	test_msg_init(&msg);
	msg.subject = test_fill(150, '\x01');
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "subject"),
			   t_strconcat(test_fill(100, '\x01'), ELLIPSIS,
				       NULL));
	test_end();
}

/* A message whose JSON with content is exactly size octets */
static void
test_msg_content_size(struct coi_webpush_message *msg, string_t *content,
		      size_t size)
{
	const char *json;
	size_t base;
	bool included;

	str_truncate(content, 0);
	msg->content = str_data(content);
	msg->content_size = 0;
	json = coi_webpush_payload_build(msg, SIZE_MAX, &included);
	test_assert(included);
	base = strlen(json);
	i_assert(base <= size);
	str_append(content, test_fill(size - base, 'x'));
	msg->content = str_data(content);
	msg->content_size = str_len(content);
}

static void test_payload_content_limit(void)
{
	struct coi_webpush_message msg;
	string_t *content = t_str_new(COI_WEBPUSH_PAYLOAD_MAX + 64);
	const char *json, *without;
	bool included;

	test_begin("webpush payload: content size limit");
	test_msg_init(&msg);
	msg.from_email = "a@example.com";
	msg.subject = "hello";
	msg.content_type = "text/html";
	msg.content_encoding = "base64";
	msg.folder = "INBOX";
	without = t_strdup(coi_webpush_payload_build_without_content(&msg));
	test_assert(test_json_valid(without));
	test_assert(strstr(without, "content") == NULL);

	/* exactly COI_WEBPUSH_PAYLOAD_MAX: included */
	test_msg_content_size(&msg, content, COI_WEBPUSH_PAYLOAD_MAX);
	json = test_build(&msg, &included);
	test_assert(included);
	test_assert(strlen(json) == COI_WEBPUSH_PAYLOAD_MAX);
	test_assert_strcmp(test_json_get(json, "content"), str_c(content));
	test_assert_strcmp(test_json_get(json, "content-type"), "text/html");
	test_assert_strcmp(test_json_get(json, "content-encoding"), "base64");

	/* one octet more: dropped with content-type and content-encoding */
	test_msg_content_size(&msg, content, COI_WEBPUSH_PAYLOAD_MAX + 1);
	json = test_build(&msg, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);

	/* the same boundary where escaping makes the difference */
	test_msg_content_size(&msg, content, COI_WEBPUSH_PAYLOAD_MAX);
	str_truncate(content, str_len(content) - 1);
	str_append_c(content, '"');
	msg.content = str_data(content);
	json = test_build(&msg, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);
	test_msg_content_size(&msg, content, COI_WEBPUSH_PAYLOAD_MAX - 1);
	str_truncate(content, str_len(content) - 1);
	str_append_c(content, '\\');
	msg.content = str_data(content);
	json = test_build(&msg, &included);
	test_assert(included);
	test_assert(strlen(json) == COI_WEBPUSH_PAYLOAD_MAX);
	test_assert_strcmp(test_json_get(json, "content"), str_c(content));

	/* another max_plaintext */
	test_msg_content_size(&msg, content, 500);
	json = coi_webpush_payload_build(&msg, 500, &included);
	test_assert(included && strlen(json) == 500);
	test_assert(test_json_valid(json));
	json = coi_webpush_payload_build(&msg, 499, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);
	json = coi_webpush_payload_build(&msg, 0, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);

	/* a body larger than the limit by itself */
	str_truncate(content, 0);
	str_append(content, test_fill(COI_WEBPUSH_PAYLOAD_MAX + 1, 'x'));
	msg.content = str_data(content);
	msg.content_size = str_len(content);
	json = test_build(&msg, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);

	/* no content */
	msg.content = NULL;
	msg.content_size = 0;
	json = test_build(&msg, &included);
	test_assert(!included);
	test_assert_strcmp(json, without);
	test_end();
}

static void test_payload_content_invalid(void)
{
	static const struct {
		const char *data;
		size_t size;
	} tests[] = {
		{ "abc\xff", 4 },
		{ "\xC3", 1 },
		{ "\xC0\xAF", 2 },
		{ "\xED\xA0\x80", 3 },
		{ "\xF4\x90\x80\x80", 4 },
		{ "ab\0cd", 5 },
	};
	struct coi_webpush_message msg;
	const char *json, *without;
	unsigned int i;
	bool included;

	test_begin("webpush payload: content not valid UTF-8");
	test_msg_init(&msg);
	msg.subject = "s";
	msg.content_type = "application/octet-stream";
	msg.content_encoding = "binary";
	without = coi_webpush_payload_build_without_content(&msg);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		msg.content = (const unsigned char *)tests[i].data;
		msg.content_size = tests[i].size;
		json = test_build(&msg, &included);
		test_assert_idx(!included, i);
		test_assert_strcmp_idx(json, without, i);
	}

	/* the size counts, not the NUL terminator */
	msg.content = (const unsigned char *)"ab\xff";
	msg.content_size = 2;
	json = test_build(&msg, &included);
	test_assert(included);
	test_assert_strcmp(test_json_get(json, "content"), "ab");
	test_assert_strcmp(test_json_get(json, "content-encoding"), "binary");
	test_end();
}

static void test_payload_omission(void)
{
	struct coi_webpush_message msg;
	const char *json;
	bool included;

	test_begin("webpush payload: omitted fields");
	test_msg_init(&msg);
	msg.from_email = "";
	msg.from_name = "";
	msg.subject = "";
	msg.message_id = "";
	msg.folder = "";
	msg.have_date = FALSE;
	msg.date = TEST_DATE;
	msg.content = (const unsigned char *)"hi";
	msg.content_size = 2;
	msg.content_type = "text/plain";
	msg.content_encoding = "8bit";
	json = test_build(&msg, &included);
	test_assert(included);
	test_assert_strcmp(json,
		"{\"content\":\"hi\",\"uid\":2,\"uidvalidity\":1}");

	msg.from_email = "bob@example.org";
	msg.from_name = NULL;
	msg.subject = NULL;
	msg.message_id = NULL;
	msg.folder = NULL;
	msg.content_type = NULL;
	msg.content_encoding = NULL;
	json = test_build(&msg, &included);
	test_assert_strcmp(json, "{\"from-email\":\"bob@example.org\","
			   "\"content\":\"hi\",\"uid\":2,\"uidvalidity\":1}");
	test_end();
}

static void test_payload_content_type(void)
{
	static const struct {
		const char *value;
		const char *json; /* NULL = omitted */
	} tests[] = {
		{ "text/plain", NULL },
		{ "TEXT/Plain", NULL },
		{ " text/plain ", NULL },
		{ "text/plain; charset=utf-8", NULL },
		{ "text/plain; charset=\"UTF-8\"", NULL },
		{ "text/plain;\r\n\tcharset=US-ASCII", NULL },
		{ "text/plain (comment); charset=us-ascii (c)", NULL },
		{ "", NULL },
		{ " \r\n ", NULL },
		{ "text/plain; charset=iso-8859-1",
		  "text/plain; charset=iso-8859-1" },
		{ "text/plain; format=flowed", "text/plain; format=flowed" },
		{ "text/plain; charset=utf-8; delsp=yes",
		  "text/plain; charset=utf-8; delsp=yes" },
		{ "text/plain;", "text/plain;" },
		{ "text/plainx", "text/plainx" },
		{ "text/html", "text/html" },
		{ "multipart/mixed;\r\n boundary=\"b\"",
		  "multipart/mixed; boundary=\"b\"" },
		{ "garbage", "garbage" },
	};
	struct coi_webpush_message msg;
	const char *json;
	unsigned int i;
	bool included;

	test_begin("webpush payload: content-type omission");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_msg_init(&msg);
		msg.content = (const unsigned char *)"x";
		msg.content_size = 1;
		msg.content_type = tests[i].value;
		json = test_build(&msg, &included);
		test_assert_idx(included, i);
		test_assert_json_field(json, "content-type",
				       tests[i].json, i);
	}
	test_end();
}

static void test_payload_content_encoding(void)
{
	static const struct {
		const char *value;
		const char *json; /* NULL = omitted */
	} tests[] = {
		{ "7bit", NULL },
		{ "8bit", NULL },
		{ "7BIT", NULL },
		{ " 8Bit ", NULL },
		{ "8bit (comment)", NULL },
		{ "\r\n 8bit", NULL },
		{ "", NULL },
		{ " ", NULL },
		{ "base64", "base64" },
		{ "Quoted-Printable", "quoted-printable" },
		{ "binary", "binary" },
		{ " BASE64 (x)", "base64" },
		{ "x-weird stuff", "x-weird stuff" },
		{ "8bit;", "8bit;" },
	};
	struct coi_webpush_message msg;
	const char *json;
	unsigned int i;
	bool included;

	test_begin("webpush payload: content-encoding omission");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_msg_init(&msg);
		msg.content = (const unsigned char *)"x";
		msg.content_size = 1;
		msg.content_encoding = tests[i].value;
		json = test_build(&msg, &included);
		test_assert_idx(included, i);
		test_assert_json_field(json, "content-encoding",
				       tests[i].json, i);
	}
	test_end();
}

static void test_payload_date(void)
{
	static const struct {
		time_t date;
		int tz;
		const char *json; /* NULL = omitted */
	} tests[] = {
		{ TEST_DATE, 60, "2019-12-31T23:20:50+01:00" },
		{ TEST_DATE, 0, "2019-12-31T22:20:50+00:00" },
		{ TEST_DATE, -300, "2019-12-31T17:20:50-05:00" },
		{ TEST_DATE, -330, "2019-12-31T16:50:50-05:30" },
		{ TEST_DATE, 345, "2020-01-01T04:05:50+05:45" },
		{ TEST_DATE, 14*60, "2020-01-01T12:20:50+14:00" },
		{ TEST_DATE, -(23*60+59), "2019-12-30T22:21:50-23:59" },
		{ TEST_DATE, 24*60, "2019-12-31T22:20:50Z" },
		{ TEST_DATE, -100000, "2019-12-31T22:20:50Z" },
		{ 0, 0, "1970-01-01T00:00:00+00:00" },
		{ -1, -60, "1969-12-31T22:59:59-01:00" },
		{ 253402214399LL, 0, "9999-12-30T23:59:59+00:00" },
		{ 253402300799LL, 0, NULL },
		{ -62167219200LL, 0, NULL },
	};
	struct coi_webpush_message msg;
	const char *json;
	unsigned int i;

	test_begin("webpush payload: date");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_msg_init(&msg);
		msg.have_date = TRUE;
		msg.date = tests[i].date;
		msg.date_tz = tests[i].tz;
		json = test_build(&msg, NULL);
		if (tests[i].json == NULL) {
			test_assert_strcmp_idx(json,
				"{\"uid\":2,\"uidvalidity\":1}", i);
		} else {
			test_assert_strcmp_idx(json, t_strdup_printf(
				"{\"date\":\"%s\",\"uid\":2,\"uidvalidity\":1}",
				tests[i].json), i);
		}
	}
	test_end();
}

static void test_payload_folder(void)
{
	struct coi_webpush_message msg;
	const char *json;

	test_begin("webpush payload: folder");
	test_msg_init(&msg);
	msg.folder = test_fill(200, 'f');
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "folder"), msg.folder);

	msg.folder = test_fill(201, 'f');
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");

	/* 200 octets, but 201 as a JSON string */
	msg.folder = t_strconcat(test_fill(199, 'f'), "\"", NULL);
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");
	msg.folder = t_strconcat(test_fill(198, 'f'), "\\", NULL);
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "folder"), msg.folder);

	/* UTF-8 counts in octets */
	msg.folder = t_strconcat(test_fill(98, 'f'),
				 "\xC3\xA4\xC3\xA4\xE2\x82\xAC", NULL);
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "folder"), msg.folder);
	msg.folder = t_strconcat(test_fill(194, 'f'),
				 "\xC3\xA4\xC3\xA4\xE2\x82\xAC", NULL);
	json = test_build(&msg, NULL);
	test_assert(test_json_get(json, "folder") == NULL);

	/* never a replaced name */
	msg.folder = "COI/\xFF";
	json = test_build(&msg, NULL);
	test_assert(test_json_get(json, "folder") == NULL);
	msg.folder = "Chats/\xC3\xA4";
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "folder"), msg.folder);
	test_end();
}

static void test_payload_group_id(void)
{
	struct coi_webpush_message msg;
	const char *json;

	test_begin("webpush payload: group-id");
	test_msg_init(&msg);
	msg.group_id = test_fill(128, 'g');
	json = test_build(&msg, NULL);
	test_assert_strcmp(test_json_get(json, "group-id"), msg.group_id);

	msg.group_id = test_fill(129, 'g');
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");

	msg.group_id = "abc\"def";
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");
	msg.group_id = "";
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1}");
	msg.group_id = "aZ09-_aZ09-_";
	json = test_build(&msg, NULL);
	test_assert_strcmp(json, "{\"uid\":2,\"uidvalidity\":1,"
			   "\"group-id\":\"aZ09-_aZ09-_\"}");
	test_end();
}

static void test_payload_worst_case(void)
{
	struct coi_webpush_message msg;
	const char *json, *text = test_fill(300, '\x01');
	bool included;

	test_begin("webpush payload: largest payload without content");
	test_msg_init(&msg);
	msg.from_email = text;
	msg.from_name = text;
	msg.subject = text;
	msg.message_id = text;
	msg.have_date = TRUE;
	msg.date = TEST_DATE;
	msg.date_tz = -(23*60+59);
	msg.folder = test_fill(200, 'f');
	msg.group_id = test_fill(128, 'g');
	msg.uid = 4294967295U;
	msg.uidvalidity = 4294967295U;
	msg.content_type = text;
	msg.content_encoding = text;
	json = coi_webpush_payload_build_without_content(&msg);
	test_assert(test_json_valid(json));
	test_assert(strlen(json) < COI_WEBPUSH_PAYLOAD_MAX);

	msg.content = (const unsigned char *)"x";
	msg.content_size = 1;
	json = coi_webpush_payload_build(&msg, COI_WEBPUSH_PAYLOAD_MAX,
					 &included);
	test_assert(test_json_valid(json));
	test_assert(strlen(json) <= COI_WEBPUSH_PAYLOAD_MAX);
	test_end();
}

static void test_group_id(void)
{
	static const struct {
		const char *message_id, *references, *group_id;
	} tests[] = {
		/* Message-ID */
		{ "<chat$group.4321dcba1234.ABSKDJK23223.293892839@example.com>",
		  NULL, "4321dcba1234" },
		{ " (c) <chat$group.4321dcba1234.S2571BC.2878&8@sample.com> ",
		  "<other@example.com>", "4321dcba1234" },
		{ "<chat$group.A-b_C-d_E-f_G.x@d>", NULL, "A-b_C-d_E-f_G" },
		{ "chat$group.4321dcba1234.x@example.com", NULL,
		  "4321dcba1234" },
		{ " chat$group.4321dcba1234.x@example.com\r\n", NULL,
		  "4321dcba1234" },
		/* the Message-ID wins over References */
		{ "<chat$group.111111111111.x@d>",
		  "<chat$group.222222222222.x@d>", "111111111111" },
		/* only in References: its first id */
		{ "<chat$2923892892@domain.com>",
		  "<chat$group.4321dcba1234.434571BC.89A707D2@sample.com>",
		  "4321dcba1234" },
		{ NULL,
		  "<chat$group.4321dcba1234.238788.AB29702@example.com>\r\n"
		  " <chat$group.1234abcd4321.123213.213223@example.com>",
		  "4321dcba1234" },
		{ "<a@b>", "<x@y> <chat$group.4321dcba1234.1.2@d>", NULL },
		{ "", "(comment)\r\n\t<chat$group.4321dcba1234.1@d>",
		  "4321dcba1234" },
		/* not a group */
		{ NULL, NULL, NULL },
		{ "<chat$2923892892@domain.com>", NULL, NULL },
		{ "<a@b>", "<c@d>", NULL },
		{ "<group.4321dcba1234.x@d>", NULL, NULL },
		/* malformed */
		{ "<chat$group.4321dcba123.x@d>", NULL, NULL },
		{ "<chat$group.4321dcba1234@d>", NULL, NULL },
		{ "<chat$group.4321dcba1234.@d>", NULL, NULL },
		{ "<chat$group.4321dcba1234.x@>", NULL, NULL },
		{ "<chat$group.4321dcba1234.x>", NULL, NULL },
		{ "<chat$group.4321dcba12+4.x@d>", NULL, NULL },
		{ "<chat$group.4321dcba12\xC3\xA4.x@d>", NULL, NULL },
		{ "<chat$group..x@d>", NULL, NULL },
		{ "<chat$group.>", NULL, NULL },
		{ "<Chat$Group.4321dcba1234.x@d>", NULL, NULL },
		{ "<chat$group.4321dcba1234.x@d", NULL, NULL },
		{ "(<chat$group.4321dcba1234.x@d>)", NULL, NULL },
		{ "<chat$group.4321dcba1234.x@d>", "<chat$group.bad.x@d>",
		  "4321dcba1234" },
		{ "<chat$group.bad.x@d>",
		  "<chat$group.4321dcba1234.x@d>", "4321dcba1234" },
		{ "<chat$group.4321 dcba1234.x@d>", NULL, NULL },
		{ "<>", "<>", NULL },
	};
	const char *group_id, *long_id;
	unsigned int i;

	test_begin("webpush group id");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		group_id = coi_webpush_group_id(tests[i].message_id,
						tests[i].references);
		if (tests[i].group_id == NULL)
			test_assert_idx(group_id == NULL, i);
		else
			test_assert_strcmp_idx(group_id, tests[i].group_id, i);
	}
	/* long ids are found; the payload leaves out those over 128 */
	long_id = test_fill(1000, 'z');
	group_id = coi_webpush_group_id(
		t_strdup_printf("<chat$group.%s.x@d>", long_id), NULL);
	test_assert_strcmp(group_id, long_id);
	test_end();
}

static void test_content_type_is_mdn(void)
{
	static const struct {
		const char *value;
		bool mdn;
	} tests[] = {
		{ "multipart/report; report-type=disposition-notification",
		  TRUE },
		{ "multipart/report; report-type=\"disposition-notification\"",
		  TRUE },
		{ "Multipart/Report; Report-Type=Disposition-Notification",
		  TRUE },
		{ "MULTIPART/REPORT;REPORT-TYPE=\"DISPOSITION-NOTIFICATION\"",
		  TRUE },
		{ "multipart/report;\r\n\treport-type=disposition-notification;"
		  "\r\n\tboundary=\"RAA14128.773615765/example.com\"", TRUE },
		{ "multipart/report; boundary=\"b\"; "
		  "report-type=disposition-notification", TRUE },
		{ " (c) multipart/report (c); report-type = "
		  "disposition-notification", TRUE },
		{ "multipart/report; report-type=disposition-notification; "
		  "broken", TRUE },
		{ "multipart/report; report-type=delivery-status", FALSE },
		{ "multipart/report; report-type=disposition-notifications",
		  FALSE },
		{ "multipart/report", FALSE },
		{ "multipart/report; x-report-type=disposition-notification",
		  FALSE },
		{ "multipart/mixed; report-type=disposition-notification",
		  FALSE },
		{ "message/disposition-notification", FALSE },
		{ "text/plain", FALSE },
		{ "text/plain; charset=utf-8", FALSE },
		{ "", FALSE },
		{ "garbage", FALSE },
		{ "multipart/report; broken; "
		  "report-type=disposition-notification", FALSE },
	};
	unsigned int i;

	test_begin("webpush content type is MDN");
	test_assert(!coi_webpush_content_type_is_mdn(NULL));
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(coi_webpush_content_type_is_mdn(
			tests[i].value) == tests[i].mdn, i);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_json_helper,
		test_payload_full,
		test_payload_minimal,
		test_payload_truncation,
		test_payload_escaping,
		test_payload_content_limit,
		test_payload_content_invalid,
		test_payload_omission,
		test_payload_content_type,
		test_payload_content_encoding,
		test_payload_date,
		test_payload_folder,
		test_payload_group_id,
		test_payload_worst_case,
		test_group_id,
		test_content_type_is_mdn,
		NULL
	};
	return test_run(test_functions);
}
