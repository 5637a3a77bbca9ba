/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "str.h"
#include "coi-config.h"
#include "coi-push-policy.h"
#include "coi-settings.h"

/* Errors already logged by this process (coi_settings_log_errors()).
   Bounded: a userdb handing every user another bad value must not grow
   it without end. */
#define COI_SETTINGS_LOGGED_MAX 100

#undef DEF
#define DEF(type, name, key) \
	SETTING_DEFINE_STRUCT_##type(key, name, struct coi_settings)

static const struct setting_define coi_setting_defines[] = {
	DEF(STR, mailbox_root, "coi_mailbox_root"),

	DEF(ENUM, blocked_action, "coi_blocked_action"),
	DEF(STR, blocked_mailbox, "coi_blocked_mailbox"),

	DEF(STR, push_allow, "coi_push_allow"),
	DEF(STR, push_spool_dir, "coi_push_spool_dir"),
	DEF(TIME_MSECS, push_timeout_msecs, "coi_push_timeout"),
	DEF(UINT, push_max_attempts, "coi_push_max_attempts"),
	DEF(TIME, push_retry_max_delay_secs, "coi_push_retry_max_delay"),
	DEF(UINT, push_user_rate, "coi_push_user_rate"),
	DEF(BOOL, push_debug, "coi_push_debug"),
	DEF(STR, push_spool_retry_delays, "coi_push_spool_retry_delays"),
	DEF(TIME, push_spool_dedupe_interval_secs,
	    "coi_push_spool_dedupe_interval"),
	DEF(UINT, push_spool_max_jobs, "coi_push_spool_max_jobs"),

	DEF(STR, webpush_vapid_key, "coi_webpush_vapid_key"),
	DEF(STR, webpush_secret, "coi_webpush_secret"),
	DEF(STR, webpush_subject, "coi_webpush_subject"),
	DEF(TIME, webpush_ttl_secs, "coi_webpush_ttl"),
	DEF(UINT, webpush_max_subscriptions, "coi_webpush_max_subscriptions"),
	DEF(TIME, webpush_validation_window_secs,
	    "coi_webpush_validation_window"),
	DEF(UINT, webpush_validation_rate, "coi_webpush_validation_rate"),

	DEF(BOOL, deltachat_push, "coi_deltachat_push"),
	DEF(STR, deltachat_notify_url, "coi_deltachat_notify_url"),
	DEF(TIME, deltachat_token_expire_secs, "coi_deltachat_token_expire"),
	DEF(UINT, deltachat_max_tokens, "coi_deltachat_max_tokens"),
	DEF(STR, deltachat_maxsmtprecipients,
	    "coi_deltachat_maxsmtprecipients"),
	DEF(STR, deltachat_irohrelay, "coi_deltachat_irohrelay"),
	DEF(STR, deltachat_turn, "coi_deltachat_turn"),

	SETTING_DEFINE_LIST_END
};

static const struct coi_settings coi_default_settings = {
	.mailbox_root = COI_MAILBOX_ROOT_DEFAULT,

	.blocked_action = "store:discard",
	.blocked_mailbox = "Blocked",

	.push_allow = "",
	.push_spool_dir = "/var/spool/dovecot-coi",
	.push_timeout_msecs = 10 * 1000,
	.push_max_attempts = 4,
	.push_retry_max_delay_secs = 60,
	.push_user_rate = 60,
	.push_debug = FALSE,
	.push_spool_retry_delays = "8s 64s 512s 4096s",
	.push_spool_dedupe_interval_secs = 10,
	.push_spool_max_jobs = 10000,

	.webpush_vapid_key = "",
	.webpush_secret = "",
	/* "" is mailto:postmaster@<hostname>, known only at run time */
	.webpush_subject = "",
	.webpush_ttl_secs = 24 * 60 * 60,
	.webpush_max_subscriptions = 10,
	.webpush_validation_window_secs = 5 * 60,
	.webpush_validation_rate = 10,

	.deltachat_push = FALSE,
	.deltachat_notify_url = "https://notifications.delta.chat/notify",
	.deltachat_token_expire_secs = 90 * 24 * 60 * 60,
	.deltachat_max_tokens = 20,
	.deltachat_maxsmtprecipients = "",
	.deltachat_irohrelay = "",
	.deltachat_turn = "",
};

static bool
coi_settings_parse_retry_delays(struct coi_settings *set, pool_t pool,
				const char **error_r)
{
	const char *const *delays, *error;
	unsigned int secs;

	p_array_init(&set->parsed_push_spool_retry_delays, pool, 8);
	for (delays = t_strsplit_spaces(set->push_spool_retry_delays, " ");
	     *delays != NULL; delays++) {
		if (settings_get_time(*delays, &secs, &error) < 0) {
			*error_r = t_strdup_printf(
				"Invalid coi_push_spool_retry_delays=%s: %s",
				set->push_spool_retry_delays, error);
			return FALSE;
		}
		array_push_back(&set->parsed_push_spool_retry_delays, &secs);
	}
	return TRUE;
}

static bool
coi_settings_parse_push_allow(struct coi_settings *set, pool_t pool,
			      const char **error_r)
{
	const char *error;

	if (coi_push_policy_parse(pool, set->push_allow,
				  &set->parsed_push_policy, &error) < 0) {
		*error_r = t_strdup_printf("Invalid coi_push_allow=%s: %s",
					   set->push_allow, error);
		return FALSE;
	}
	return TRUE;
}

/* The values that need more than the parser's type check. Each resets its
   setting to the default and parses that when its value is invalid. */
static void
coi_settings_parse_derived(struct coi_settings *set, pool_t pool,
			   ARRAY_TYPE(const_string) *errors)
{
	const char *error;

	set->parsed_blocked_action =
		strcmp(set->blocked_action, "discard") == 0 ?
		COI_BLOCKED_ACTION_DISCARD : COI_BLOCKED_ACTION_STORE;
	if (!coi_settings_parse_push_allow(set, pool, &error)) {
		/* the strictest policy rather than none */
		array_push_back(errors, &error);
		set->push_allow = coi_default_settings.push_allow;
		if (!coi_settings_parse_push_allow(set, pool, &error))
			i_unreached();
	}
	if (!coi_settings_parse_retry_delays(set, pool, &error)) {
		array_push_back(errors, &error);
		set->push_spool_retry_delays =
			coi_default_settings.push_spool_retry_delays;
		if (!coi_settings_parse_retry_delays(set, pool, &error))
			i_unreached();
	}
}

/* Strict, as Dovecot's own settings checks are (doveconf on 2.4). */
static bool coi_settings_check(void *_set, pool_t pool, const char **error_r)
{
	struct coi_settings *set = _set;
	ARRAY_TYPE(const_string) errors;

	t_array_init(&errors, 2);
	coi_settings_parse_derived(set, pool, &errors);
	if (array_count(&errors) > 0) {
		*error_r = array_idx_elem(&errors, 0);
		return FALSE;
	}
	return TRUE;
}

const struct setting_parser_info coi_setting_parser_info = {
	.module_name = "coi",
	.defines = coi_setting_defines,
	.defaults = &coi_default_settings,
	.type_offset = SIZE_MAX,
	.struct_size = sizeof(struct coi_settings),
	.parent_offset = SIZE_MAX,
	.check_func = coi_settings_check,
};

#undef coi_settings_read
void coi_settings_read(pool_t pool, coi_settings_lookup_t *lookup,
		       void *context, const struct coi_settings **set_r,
		       const char *const **errors_r)
{
	struct setting_parser_context *parser;
	const struct setting_define *def;
	ARRAY_TYPE(const_string) errors;
	struct coi_settings *set;
	const char *value, *error;

	t_array_init(&errors, 4);
	parser = settings_parser_init(pool, &coi_setting_parser_info, 0);
	for (def = coi_setting_defines; def->key != NULL; def++) {
		value = lookup(def->key, context);
		if (value == NULL || value[0] == '\0')
			continue;
		if (settings_parse_keyvalue(parser, def->key, value) <= 0) {
			error = t_strdup_printf("Invalid %s=%s: %s - using "
				"the default", def->key, value,
				settings_parser_get_error(parser));
			array_push_back(&errors, &error);
		}
	}
	set = settings_parser_get(parser);
	settings_parser_deinit(&parser);
	coi_settings_parse_derived(set, pool, &errors);

	*set_r = set;
	if (array_count(&errors) == 0)
		*errors_r = NULL;
	else {
		array_append_zero(&errors);
		*errors_r = array_front(&errors);
	}
}

/* The last settings coi_settings_get() parsed, with the raw values they
   came from. The pool is referenced by the cache and by every user that
   got these settings. */
static struct {
	pool_t pool;
	const void *raw;
	size_t raw_size;
	const struct coi_settings *set;
} coi_settings_cache;

/* The plugin {} settings and userdb fields of a mail user:
   key, value, key, value, ... as in mail_user_settings.plugin_envs. */
struct coi_settings_envs {
	const char *const *envs;
	unsigned int count;
};

/* A setting as mail_user_plugin_getenv() finds it: the first pair with
   the key. */
static const char *coi_settings_env_lookup(const char *key, void *context)
{
	const struct coi_settings_envs *envs = context;
	unsigned int i;

	for (i = 0; i + 1 < envs->count; i += 2) {
		if (strcmp(envs->envs[i], key) == 0)
			return envs->envs[i + 1];
	}
	return NULL;
}

/* Every COI setting of envs, "key=value" NUL-separated (data stack), in
   one pass over them: what decides whether the cached settings apply. */
static string_t *coi_settings_raw(const struct coi_settings_envs *envs)
{
	string_t *raw = t_str_new(256);
	unsigned int i;

	for (i = 0; i + 1 < envs->count; i += 2) {
		if (!str_begins(envs->envs[i], "coi_") ||
		    envs->envs[i + 1][0] == '\0')
			continue;
		str_append(raw, envs->envs[i]);
		str_append_c(raw, '=');
		str_append(raw, envs->envs[i + 1]);
		str_append_c(raw, '\0');
	}
	return raw;
}

static void coi_settings_cache_clear(void)
{
	pool_unref(&coi_settings_cache.pool);
	i_zero(&coi_settings_cache);
}

const struct coi_settings *
coi_settings_get(const char *const *plugin_envs, unsigned int count,
		 struct event *event, pool_t *pool_r)
{
	struct coi_settings_envs envs = {
		.envs = plugin_envs,
		.count = count,
	};
	const char *const *errors;
	string_t *raw;
	pool_t pool;

	raw = coi_settings_raw(&envs);
	if (coi_settings_cache.pool == NULL ||
	    coi_settings_cache.raw_size != str_len(raw) ||
	    memcmp(coi_settings_cache.raw, str_data(raw), str_len(raw)) != 0) {
		pool = pool_alloconly_create("coi settings", 2048);
		/* the function itself: its macro is undefined above */
		coi_settings_read(pool, coi_settings_env_lookup, &envs,
				  &coi_settings_cache.set, &errors);
		coi_settings_log_errors(event, errors);
		if (coi_settings_cache.pool != NULL)
			pool_unref(&coi_settings_cache.pool);
		coi_settings_cache.pool = pool;
		/* + 1: never a zero-size allocation */
		coi_settings_cache.raw = p_memdup(pool, str_c(raw),
						  str_len(raw) + 1);
		coi_settings_cache.raw_size = str_len(raw);
	}
	pool_ref(coi_settings_cache.pool);
	*pool_r = coi_settings_cache.pool;
	return coi_settings_cache.set;
}

static pool_t coi_settings_logged_pool;
static HASH_TABLE(char *, char *) coi_settings_logged;

void coi_settings_log_errors(struct event *event, const char *const *errors)
{
	char *copy;

	if (errors == NULL)
		return;
	if (coi_settings_logged_pool == NULL) {
		coi_settings_logged_pool = pool_alloconly_create(
			"coi settings errors", 1024);
		hash_table_create(&coi_settings_logged,
				  coi_settings_logged_pool, 0,
				  str_hash, strcmp);
	}
	for (; *errors != NULL; errors++) {
		if (hash_table_lookup(coi_settings_logged, *errors) != NULL)
			continue;
		e_error(event, "coi: %s", *errors);
		if (hash_table_count(coi_settings_logged) <
		    COI_SETTINGS_LOGGED_MAX) {
			copy = p_strdup(coi_settings_logged_pool, *errors);
			hash_table_insert(coi_settings_logged, copy, copy);
		}
	}
}

void coi_settings_deinit(void)
{
	if (coi_settings_cache.pool != NULL)
		coi_settings_cache_clear();
	if (coi_settings_logged_pool == NULL)
		return;
	hash_table_destroy(&coi_settings_logged);
	pool_unref(&coi_settings_logged_pool);
}
