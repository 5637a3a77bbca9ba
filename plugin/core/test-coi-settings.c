/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "coi-settings.h"

/* key=value pairs, NULL-terminated, standing in for plugin {} */
static const char *
test_lookup(const char *key, const char *const *pairs)
{
	size_t len = strlen(key);

	for (; *pairs != NULL; pairs++) {
		if (strncmp(*pairs, key, len) == 0 && (*pairs)[len] == '=')
			return *pairs + len + 1;
	}
	return NULL;
}

static void test_coi_settings_defaults(void)
{
	static const char *const none[] = { NULL };
	const struct coi_settings *set;
	const char *const *errors;
	pool_t pool = pool_alloconly_create("test settings", 1024);

	test_begin("coi settings defaults");
	coi_settings_read(pool, test_lookup, &none[0], &set, &errors);
	test_assert(errors == NULL);
	test_assert_strcmp(set->mailbox_root, "COI");
	test_assert(set->parsed_blocked_action == COI_BLOCKED_ACTION_STORE);
	test_assert_strcmp(set->blocked_mailbox, "Blocked");
	test_assert(set->parsed_push_policy != NULL);
	test_assert(set->push_timeout_msecs == 10000);
	test_assert(set->push_retry_max_delay_secs == 60);
	test_assert(set->webpush_ttl_secs == 86400);
	test_assert(set->webpush_validation_window_secs == 300);
	test_assert(set->deltachat_token_expire_secs == 90 * 86400);
	test_assert(!set->deltachat_push);
	test_assert_strcmp(set->deltachat_notify_url,
			   "https://notifications.delta.chat/notify");
	test_assert(array_count(&set->parsed_push_spool_retry_delays) == 4);
	test_assert(*array_idx(&set->parsed_push_spool_retry_delays, 3) ==
		    4096);
	test_assert(set->idle_fast_notify);
	test_assert(set->idle_notify_coalesce_msecs == 20);
	test_assert_strcmp(set->deltachat_turn_host, "");
	test_assert(set->deltachat_turn_port == 3478);
	test_assert(set->deltachat_turn_lifetime_secs == 5 * 86400);
	pool_unref(&pool);
	test_end();
}

static void test_coi_settings_values(void)
{
	static const char *const pairs[] = {
		"coi_mailbox_root=Chat",
		"coi_blocked_action=discard",
		"coi_push_timeout=2 secs",
		"coi_webpush_ttl=1 hour",
		"coi_deltachat_push=yes",
		"coi_deltachat_token_expire=2 days",
		"coi_deltachat_turn=turn.example.org:3478",
		"coi_push_spool_retry_delays=1s 2m",
		"coi_push_allow=127.0.0.1 push.internal",
		"coi_idle_fast_notify=no",
		"coi_idle_notify_coalesce=50 ms",
		/* empty is unset */
		"coi_blocked_mailbox=",
		NULL
	};
	const struct coi_settings *set;
	const char *const *errors;
	pool_t pool = pool_alloconly_create("test settings", 1024);

	test_begin("coi settings values");
	coi_settings_read(pool, test_lookup, &pairs[0], &set, &errors);
	test_assert(errors == NULL);
	test_assert_strcmp(set->mailbox_root, "Chat");
	test_assert(set->parsed_blocked_action == COI_BLOCKED_ACTION_DISCARD);
	test_assert_strcmp(set->blocked_mailbox, "Blocked");
	test_assert(set->push_timeout_msecs == 2000);
	test_assert(set->webpush_ttl_secs == 3600);
	test_assert(set->deltachat_push);
	test_assert(set->deltachat_token_expire_secs == 2 * 86400);
	test_assert_strcmp(set->deltachat_turn, "turn.example.org:3478");
	test_assert(array_count(&set->parsed_push_spool_retry_delays) == 2);
	test_assert(*array_idx(&set->parsed_push_spool_retry_delays, 1) ==
		    120);
	test_assert(!set->idle_fast_notify);
	test_assert(set->idle_notify_coalesce_msecs == 50);
	pool_unref(&pool);
	test_end();
}

static void test_coi_settings_invalid(void)
{
	static const char *const pairs[] = {
		"coi_blocked_action=sometimes",
		"coi_push_timeout=soon",
		"coi_webpush_max_subscriptions=-1",
		"coi_deltachat_push=perhaps",
		"coi_push_spool_retry_delays=8s never",
		"coi_push_allow=10.0.0.0/99",
		"coi_webpush_ttl=2 hours",
		NULL
	};
	const struct coi_settings *set;
	const char *const *errors;
	void *copy;
	const char *error;
	pool_t pool = pool_alloconly_create("test settings", 1024);

	test_begin("coi settings invalid values keep the default");
	coi_settings_read(pool, test_lookup, &pairs[0], &set, &errors);
	test_assert(errors != NULL && str_array_length(errors) == 6);
	test_assert(errors != NULL &&
		    strstr(errors[0], "coi_blocked_action=sometimes") != NULL);
	test_assert(set->parsed_blocked_action == COI_BLOCKED_ACTION_STORE);
	test_assert(set->push_timeout_msecs == 10000);
	test_assert(set->webpush_max_subscriptions == 10);
	test_assert(!set->deltachat_push);
	test_assert(array_count(&set->parsed_push_spool_retry_delays) == 4);
	test_assert(set->parsed_push_policy != NULL);
	/* the valid one among them still applies */
	test_assert(set->webpush_ttl_secs == 7200);

	/* the strict check (doveconf's) refuses what the read replaced */
	copy = p_memdup(pool, set, sizeof(*set));
	((struct coi_settings *)copy)->push_allow = "10.0.0.0/99";
	test_assert(!coi_setting_parser_info.check_func(copy, pool, &error));
	test_assert(strstr(error, "coi_push_allow") != NULL);
	pool_unref(&pool);
	test_end();
}

static void test_coi_settings_turn(void)
{
	static const char *const valid[] = {
		"coi_deltachat_turn_host=turn.example.org",
		"coi_deltachat_turn_port=3479",
		"coi_deltachat_turn_secret=north-secret",
		"coi_deltachat_turn_lifetime=2 days",
		NULL
	};
	/* each refused: the generated entry is off, the error names the
	   settings and never the secret */
	static const char *const invalid[][5] = {
		{ "coi_deltachat_turn_host=2001:db8::1",
		  "coi_deltachat_turn_secret=north-secret", NULL },
		{ "coi_deltachat_turn_host=turn example",
		  "coi_deltachat_turn_secret=north-secret", NULL },
		{ "coi_deltachat_turn_host=turn.example.org",
		  "coi_deltachat_turn_port=65536",
		  "coi_deltachat_turn_secret=north-secret", NULL },
		{ "coi_deltachat_turn_host=turn.example.org", NULL },
		{ "coi_deltachat_turn_host=turn.example.org",
		  "coi_deltachat_turn_secret=north-secret",
		  "coi_deltachat_turn_secret_file=/etc/turn-secret", NULL },
		{ "coi_deltachat_turn_host=turn.example.org",
		  "coi_deltachat_turn_secret=north-secret",
		  "coi_deltachat_turn_lifetime=0", NULL },
	};
	const struct coi_settings *set;
	const char *const *errors;
	unsigned int i;
	pool_t pool = pool_alloconly_create("test settings", 1024);

	test_begin("coi settings TURN server with a shared secret");
	coi_settings_read(pool, test_lookup, &valid[0], &set, &errors);
	test_assert(errors == NULL);
	test_assert_strcmp(set->deltachat_turn_host, "turn.example.org");
	test_assert(set->deltachat_turn_port == 3479);
	test_assert(set->deltachat_turn_lifetime_secs == 2 * 86400);

	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		coi_settings_read(pool, test_lookup, &invalid[i][0], &set,
				  &errors);
		test_assert_idx(errors != NULL &&
				str_array_length(errors) == 1, i);
		test_assert_idx(errors != NULL &&
				strstr(errors[0], "coi_deltachat_turn") != NULL &&
				strstr(errors[0], "north-secret") == NULL, i);
		test_assert_idx(set->deltachat_turn_host[0] == '\0', i);
	}
	pool_unref(&pool);
	test_end();
}

static void test_coi_settings_get_cache(void)
{
	static const char *const none_envs[] = { NULL };
	/* as mail_user_settings.plugin_envs: key, value */
	static const char *const discard_envs[] = {
		"coi_blocked_action", "discard"
	};
	const struct coi_settings *set1, *set2, *set3, *set4;
	struct event *event = event_create(NULL);

	test_begin("coi settings one parsed copy per process");
	set1 = coi_settings_get(none_envs, 0, event);
	set2 = coi_settings_get(none_envs, 0, event);
	test_assert(set1 == set2 && set1->pool == set2->pool);
	/* other values: parsed again, and the first copy stays valid for
	   the users that have it */
	set3 = coi_settings_get(discard_envs, 2, event);
	test_assert(set3 != set1);
	test_assert(set3->parsed_blocked_action == COI_BLOCKED_ACTION_DISCARD);
	test_assert(set1->parsed_blocked_action == COI_BLOCKED_ACTION_STORE);
	settings_free(set1);
	test_assert_strcmp(set2->blocked_mailbox, "Blocked");
	settings_free(set2);
	test_assert_strcmp(set3->blocked_mailbox, "Blocked");
	set4 = coi_settings_get(discard_envs, 2, event);
	test_assert(set4 == set3);
	settings_free(set3);
	settings_free(set4);
	coi_settings_deinit();
	event_unref(&event);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_settings_defaults,
		test_coi_settings_values,
		test_coi_settings_invalid,
		test_coi_settings_turn,
		test_coi_settings_get_cache,
		NULL
	};
	return test_run(test_functions);
}
