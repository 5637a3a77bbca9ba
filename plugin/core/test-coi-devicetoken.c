/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "coi-push-job.h"
#include "coi-devicetoken.h"

static void test_coi_devicetoken_is_valid(void)
{
	string_t *str = t_str_new(5000);

	test_begin("coi devicetoken is valid");
	test_assert(coi_devicetoken_is_valid("openpgp:AAAA+/=="));
	test_assert(coi_devicetoken_is_valid("x"));
	test_assert(!coi_devicetoken_is_valid(""));
	test_assert(!coi_devicetoken_is_valid("two words"));
	test_assert(!coi_devicetoken_is_valid("tab\there"));
	test_assert(!coi_devicetoken_is_valid("line\r\n"));
	test_assert(!coi_devicetoken_is_valid("del\x7f"));
	test_assert(!coi_devicetoken_is_valid("\xc3\xa4"));
	str_append_max(str, "", 0);
	while (str_len(str) < COI_DEVICETOKEN_MAX_LEN)
		str_append_c(str, 'a');
	test_assert(coi_devicetoken_is_valid(str_c(str)));
	str_append_c(str, 'a');
	test_assert(!coi_devicetoken_is_valid(str_c(str)));
	test_end();
}

static void test_coi_devicetoken_id(void)
{
	const char *id = coi_devicetoken_id("openpgp:abc");

	test_begin("coi devicetoken id");
	test_assert(strlen(id) == 32);
	test_assert(strspn(id, "0123456789abcdef") == 32);
	test_assert(strcmp(id, coi_devicetoken_id("openpgp:abc")) == 0);
	test_assert(strcmp(id, coi_devicetoken_id("openpgp:abd")) != 0);
	/* the first half of SHA3-256("abc") */
	test_assert_strcmp(coi_devicetoken_id("abc"),
			   "3a985da74fe225b2045c172d6bd390bd");
	test_end();
}

static void test_coi_devicetoken_stored(void)
{
	struct coi_devicetoken dt, parsed;

	test_begin("coi devicetoken stored value");
	i_zero(&dt);
	dt.token = "openpgp:xyz";
	dt.registered = 1700000000;
	dt.registered_usecs = 42;
	test_assert_strcmp(coi_devicetoken_stored_value(&dt),
			   "1700000000.000042 openpgp:xyz");
	i_zero(&parsed);
	test_assert(coi_devicetoken_stored_parse(
		"1700000000.000042 openpgp:xyz", &parsed) == 0);
	test_assert(parsed.registered == 1700000000);
	test_assert(parsed.registered_usecs == 42);
	test_assert_strcmp(parsed.token, "openpgp:xyz");
	test_assert(coi_devicetoken_stored_parse("1700000000 tok",
						 &parsed) == 0);
	test_assert(parsed.registered_usecs == 0);
	test_assert(coi_devicetoken_stored_parse("tok", &parsed) < 0);
	test_assert(coi_devicetoken_stored_parse("x tok", &parsed) < 0);
	test_assert(coi_devicetoken_stored_parse("1.1000000 tok",
						 &parsed) < 0);
	test_assert(coi_devicetoken_stored_parse("1 two words",
						 &parsed) < 0);
	test_assert(coi_devicetoken_stored_parse("1 ", &parsed) < 0);
	test_end();
}

static void test_coi_push_job_line(void)
{
	static const unsigned char body[] = "openpgp:\x01\t\nbinary";
	static const char *const headers[] = {
		"Content-Type", "text/plain", "X-Tab", "a\tb", NULL
	};
	struct coi_push_job job, parsed;
	const char *line, *error;
	pool_t pool = pool_alloconly_create("test", 1024);

	test_begin("coi push job line");
	i_zero(&job);
	job.protocol = "deltachat";
	job.username = "user\t@example.org";
	job.url = "https://notifications.delta.chat/notify";
	job.headers = headers;
	job.body = body;
	job.body_size = sizeof(body) - 1;
	job.dedupe_key = "0123";
	job.gone_key = "4567";
	job.created = 1700000000;
	job.attempts = 3;
	job.next_attempt = 1700000512;
	line = coi_push_job_to_line(&job);
	test_assert(strchr(line, '\n') == NULL);
	test_assert(coi_push_job_parse(pool, line, &parsed, &error) == 0);
	test_assert_strcmp(parsed.protocol, "deltachat");
	test_assert_strcmp(parsed.username, "user\t@example.org");
	test_assert_strcmp(parsed.url, job.url);
	test_assert(parsed.headers != NULL &&
		    strcmp(parsed.headers[0], "Content-Type") == 0 &&
		    strcmp(parsed.headers[1], "text/plain") == 0 &&
		    strcmp(parsed.headers[3], "a\tb") == 0 &&
		    parsed.headers[4] == NULL);
	test_assert(parsed.body_size == job.body_size &&
		    memcmp(parsed.body, body, job.body_size) == 0);
	test_assert_strcmp(parsed.dedupe_key, "0123");
	test_assert_strcmp(parsed.gone_key, "4567");
	test_assert(parsed.created == 1700000000);
	test_assert(parsed.attempts == 3);
	test_assert(parsed.next_attempt == 1700000512);
	test_assert(parsed.fallback_body == NULL && !parsed.gone_on_404 &&
		    parsed.encrypt_p256dh == NULL && parsed.encrypt_auth == NULL &&
		    parsed.send_attempts == 0 && !parsed.user_rate &&
		    !parsed.memory_only);

	/* the WebPush fields */
	job.protocol = "webpush";
	job.fallback_body = (const unsigned char *)"{\"subject\":\"s\"}";
	job.fallback_body_size = 15;
	job.gone_on_404 = TRUE;
	job.encrypt_p256dh = "BCVxsr7N";
	job.encrypt_auth = "BTBZMqHH";
	job.send_attempts = 4;
	job.user_rate = TRUE;
	job.memory_only = TRUE;
	test_assert(coi_push_job_parse(pool, coi_push_job_to_line(&job),
				       &parsed, &error) == 0);
	test_assert(parsed.fallback_body_size == 15 &&
		    memcmp(parsed.fallback_body, job.fallback_body, 15) == 0);
	test_assert(parsed.body_size == job.body_size &&
		    memcmp(parsed.body, body, job.body_size) == 0);
	test_assert(parsed.gone_on_404 && parsed.user_rate &&
		    parsed.memory_only);
	test_assert_strcmp(parsed.encrypt_p256dh, "BCVxsr7N");
	test_assert_strcmp(parsed.encrypt_auth, "BTBZMqHH");
	test_assert(parsed.send_attempts == 4);
	/* keys come in pairs; attempts are bounded */
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v\t"
				       "body=\tp256dh=BCVx", &parsed,
				       &error) < 0);
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v\t"
				       "body=\tsend_attempts=1000", &parsed,
				       &error) < 0);

	/* unknown fields are ignored, missing ones refused */
	test_assert(coi_push_job_parse(pool, t_strconcat(line,
		"\tfuture=1", NULL), &parsed, &error) == 0);
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v",
				       &parsed, &error) < 0);
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v\t"
				       "body=!!!", &parsed, &error) < 0);
	test_assert(coi_push_job_parse(pool, "garbage", &parsed,
				       &error) < 0);
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v\t"
				       "body=\tattempts=-1", &parsed,
				       &error) < 0);
	test_assert(coi_push_job_parse(pool, "protocol=x\tuser=u\turl=v\t"
				       "body=\theader=nocolon", &parsed,
				       &error) < 0);
	pool_unref(&pool);
	test_end();
}

static void test_coi_push_gone(void)
{
	ARRAY_TYPE(coi_push_gone) gone;
	const struct coi_push_gone *g;
	pool_t pool = pool_alloconly_create("test", 1024);
	const char *name = coi_push_gone_file_name("user@example.org");

	test_begin("coi push gone records");
	test_assert(strlen(name) == 32);
	test_assert(strcmp(name, coi_push_gone_file_name("other@example.org")) != 0);
	t_array_init(&gone, 4);
	coi_push_gone_parse(pool, "aaaa\t100\nbroken\n\t5\nbbbb\tx\ncccc\t200\n",
			    &gone);
	test_assert(array_count(&gone) == 2);
	g = array_idx(&gone, 0);
	test_assert(strcmp(g->key, "aaaa") == 0 && g->when == 100);
	g = array_idx(&gone, 1);
	test_assert(strcmp(g->key, "cccc") == 0 && g->when == 200);
	pool_unref(&pool);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_devicetoken_is_valid,
		test_coi_devicetoken_id,
		test_coi_devicetoken_stored,
		test_coi_push_job_line,
		test_coi_push_gone,
		NULL
	};
	return test_run(test_functions);
}
