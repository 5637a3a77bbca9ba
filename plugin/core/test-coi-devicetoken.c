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
	struct coi_push_job job, parsed;
	const char *line, *error;
	pool_t pool = pool_alloconly_create("test", 1024);

	test_begin("coi push job line");
	i_zero(&job);
	job.protocol = "deltachat";
	job.username = "user@example.org";
	job.url = "https://notifications.delta.chat/notify";
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
	test_assert_strcmp(parsed.username, "user@example.org");
	test_assert_strcmp(parsed.url, job.url);
	test_assert(parsed.body_size == job.body_size &&
		    memcmp(parsed.body, body, job.body_size) == 0);
	test_assert_strcmp(parsed.dedupe_key, "0123");
	test_assert_strcmp(parsed.gone_key, "4567");
	test_assert(parsed.created == 1700000000);
	test_assert(parsed.attempts == 3);
	test_assert(parsed.next_attempt == 1700000512);
	test_assert(parsed.fallback_body == NULL && !parsed.gone_on_404 &&
		    parsed.encrypt_p256dh == NULL && parsed.encrypt_auth == NULL &&
		    parsed.send_attempts == 0 &&
		    parsed.rate == COI_PUSH_JOB_RATE_NONE &&
		    !parsed.memory_only);
	/* a Delta Chat request has no headers of its own */
	test_assert(coi_push_job_http_headers(&parsed)[0] == NULL);

	/* the WebPush fields */
	job.protocol = "webpush";
	job.fallback_body = (const unsigned char *)"{\"subject\":\"s\"}";
	job.fallback_body_size = 15;
	job.gone_on_404 = TRUE;
	job.encrypt_p256dh = "BCVxsr7N";
	job.encrypt_auth = "BTBZMqHH";
	job.send_attempts = 4;
	job.rate = COI_PUSH_JOB_RATE_VALIDATION;
	job.memory_only = TRUE;
	job.ttl_secs = 3600;
	job.urgency = "high";
	job.vapid_authorization = "vapid t=eyJ0.eyJh.c2ln, k=BCVx";
	job.validation = TRUE;
	line = coi_push_job_to_line(&job);
	test_assert(coi_push_job_parse(pool, line, &parsed, &error) == 0);
	test_assert(parsed.fallback_body_size == 15 &&
		    memcmp(parsed.fallback_body, job.fallback_body, 15) == 0);
	test_assert(parsed.body_size == job.body_size &&
		    memcmp(parsed.body, body, job.body_size) == 0);
	test_assert(parsed.gone_on_404 && parsed.memory_only &&
		    parsed.validation &&
		    parsed.rate == COI_PUSH_JOB_RATE_VALIDATION);
	test_assert_strcmp(parsed.encrypt_p256dh, "BCVxsr7N");
	test_assert_strcmp(parsed.encrypt_auth, "BTBZMqHH");
	test_assert(parsed.send_attempts == 4 && parsed.ttl_secs == 3600);
	{
		const char *const *h = coi_push_job_http_headers(&parsed);
		test_assert(str_array_length(h) == 12);
		test_assert_strcmp(h[0], "Content-Encoding");
		test_assert_strcmp(h[5], "3600");
		test_assert_strcmp(h[7], "high");
		test_assert_strcmp(h[9], job.vapid_authorization);
		test_assert_strcmp(h[10], "WebPush-Validation");
	}

	/* unknown fields are ignored */
	test_assert(coi_push_job_parse(pool, t_strconcat(line,
		"\tfuture=1", NULL), &parsed, &error) == 0);
	pool_unref(&pool);
	test_end();
}

static void test_coi_push_job_hostile(void)
{
	static const char *const bad[] = {
		/* missing fields, not a job */
		"protocol=deltachat\tuser=u\turl=http://h/",
		"garbage",
		"protocol=other\tuser=u\turl=http://h/\tbody=",
		/* values that could end a header line or a request (tab
		   escaping: \001r is CR, \001n LF, \001t TAB) */
		"protocol=deltachat\tuser=u\001r\001nX: y\turl=http://h/\tbody=",
		"protocol=deltachat\tuser=u\turl=http://h/\001r\001nX: y\tbody=",
		"protocol=deltachat\tuser=u\turl=http://h/ x\tbody=",
		"protocol=deltachat\tuser=u\turl=ftp://h/\tbody=",
		"protocol=deltachat\tuser=u\turl=/relative\tbody=",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=!!!",
		/* a forged gone record: "key\tdate\n" */
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"gone=a\001t9000000000\001nb",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\tdedupe=a b",
		/* counters and times out of range */
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"attempts=4294967295",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"attempts=101",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"attempts=-1",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"next=99999999999999",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"send_attempts=1000",
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\tmemory=yes",
		/* WebPush fields only with WebPush, and all of them */
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"vapid=vapid t=a, k=b",
		"protocol=webpush\tuser=u\turl=http://h/\tbody=\t"
			"p256dh=BCVx\tauth=BTBZ\turgency=high",
		"protocol=webpush\tuser=u\turl=http://h/\tbody=\t"
			"p256dh=BCVx\tauth=BTBZ\turgency=high\t"
			"vapid=vapid t=a\001r\001nHost: evil, k=b",
		"protocol=webpush\tuser=u\turl=http://h/\tbody=\t"
			"p256dh=BCVx\tauth=BTBZ\turgency=now\tvapid=vapid t=a, k=b",
		"protocol=webpush\tuser=u\turl=http://h/\tbody=\t"
			"p256dh=BC:x\tauth=BTBZ\turgency=low\tvapid=vapid t=a, k=b",
		"protocol=webpush\tuser=u\turl=http://h/\tbody=\t"
			"p256dh=BCVx\tauth=BTBZ\turgency=low\tvapid=vapid t=a, k=b\t"
			"ttl=99999999",
		/* the old free-form header field carries nothing */
		"protocol=deltachat\tuser=u\turl=http://h/\tbody=\t"
			"header=nocolon\tgone404=maybe",
		NULL
	};
	struct coi_push_job parsed;
	const char *error;
	unsigned int i;
	pool_t pool = pool_alloconly_create("test", 1024);

	test_begin("coi push job hostile lines");
	for (i = 0; bad[i] != NULL; i++) {
		int ret = coi_push_job_parse(pool, bad[i], &parsed, &error);

		test_assert_idx(ret < 0, i);
	}
	/* what a good line of each protocol looks like, for contrast */
	test_assert(coi_push_job_parse(pool, "protocol=deltachat\tuser=u\t"
		"url=http://h/\tbody=\tattempts=100\theader=X-A: a",
		&parsed, &error) == 0);
	test_assert(coi_push_job_parse(pool, "protocol=webpush\tuser=u\t"
		"url=https://h:8443/p?q=1\tbody=\tp256dh=BCVx\tauth=BTBZ\t"
		"urgency=very-low\tvapid=vapid t=a.b.c, k=b\tttl=0",
		&parsed, &error) == 0);
	test_assert(coi_push_job_http_headers(&parsed)[10] == NULL);

	/* spool files: one line, its LF optional, no NUL */
	{
		static const unsigned char good[] =
			"protocol=deltachat\tuser=u\turl=http://h/\tbody=\n";
		static const unsigned char nul[] =
			"protocol=deltachat\tuser=u\0\turl=http://h/\tbody=";
		static const unsigned char two[] =
			"protocol=deltachat\tuser=u\turl=http://h/\tbody=\n"
			"protocol=deltachat\tuser=u\turl=http://h/\tbody=";

		test_assert(coi_push_job_parse_file(pool, good,
			sizeof(good) - 1, &parsed, &error) == 0);
		test_assert(coi_push_job_parse_file(pool, good,
			sizeof(good) - 2, &parsed, &error) == 0);
		test_assert(coi_push_job_parse_file(pool, nul,
			sizeof(nul) - 1, &parsed, &error) < 0);
		test_assert(coi_push_job_parse_file(pool, two,
			sizeof(two) - 1, &parsed, &error) < 0);
		test_assert(coi_push_job_parse_file(pool, good, 0,
			&parsed, &error) < 0);
	}
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
	coi_push_gone_parse(pool, "aaaa\t100\nbroken\n\t5\nbbbb\tx\ncccc\t200\n"
			    "future\t9000000000\nin valid\t100\nsoon\t1030\n",
			    1000, &gone);
	test_assert(array_count(&gone) == 3);
	g = array_idx(&gone, 0);
	test_assert(strcmp(g->key, "aaaa") == 0 && g->when == 100);
	g = array_idx(&gone, 1);
	test_assert(strcmp(g->key, "cccc") == 0 && g->when == 200);
	g = array_idx(&gone, 2);
	test_assert(strcmp(g->key, "soon") == 0);
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
		test_coi_push_job_hostile,
		test_coi_push_gone,
		NULL
	};
	return test_run(test_functions);
}
