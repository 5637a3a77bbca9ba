/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "coi-config.h"
#include "coi-push-policy.h"
#include "coi-settings.h"

#include <ctype.h>

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
	DEF(STR, deltachat_turn_host, "coi_deltachat_turn_host"),
	DEF(UINT, deltachat_turn_port, "coi_deltachat_turn_port"),
	DEF(STR, deltachat_turn_secret, "coi_deltachat_turn_secret"),
	DEF(STR, deltachat_turn_secret_file, "coi_deltachat_turn_secret_file"),
	DEF(TIME, deltachat_turn_lifetime_secs, "coi_deltachat_turn_lifetime"),

	DEF(BOOL, idle_fast_notify, "coi_idle_fast_notify"),
	DEF(TIME_MSECS, idle_notify_coalesce_msecs,
	    "coi_idle_notify_coalesce"),

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
	.deltachat_turn_host = "",
	.deltachat_turn_port = 3478,
	.deltachat_turn_secret = "",
	.deltachat_turn_secret_file = "",
	.deltachat_turn_lifetime_secs = 5 * 24 * 60 * 60,

	.idle_fast_notify = TRUE,
	.idle_notify_coalesce_msecs = 20,
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
		if (coi_parse_interval(*delays, &secs, &error) < 0) {
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

/* Delta Chat splits the TURN entry at its colons, so the host is a DNS
   name or an IPv4 address, never an IPv6 literal. */
static bool coi_settings_turn_host_is_valid(const char *host)
{
	const char *p;

	if (host[0] == '\0' || strlen(host) > 253)
		return FALSE;
	for (p = host; *p != '\0'; p++) {
		if (!i_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* The TURN server with a shared secret: complete or not used. Errors
   name settings, never the secret's value. (A static coi_deltachat_turn
   next to it is no error: it wins, so that a userdb field can give one
   user other credentials.) */
static bool
coi_settings_check_turn(const struct coi_settings *set, const char **error_r)
{
	bool have_secret = set->deltachat_turn_secret[0] != '\0';
	bool have_secret_file = set->deltachat_turn_secret_file[0] != '\0';

	if (set->deltachat_turn_host[0] == '\0')
		return TRUE;
	if (!coi_settings_turn_host_is_valid(set->deltachat_turn_host)) {
		*error_r = t_strdup_printf(
			"Invalid coi_deltachat_turn_host=%s: a host name or an "
			"IPv4 address (Delta Chat cannot read an IPv6 address "
			"there)", set->deltachat_turn_host);
		return FALSE;
	}
	if (set->deltachat_turn_port == 0 ||
	    set->deltachat_turn_port > 65535) {
		*error_r = t_strdup_printf(
			"Invalid coi_deltachat_turn_port=%u: not a port number",
			set->deltachat_turn_port);
		return FALSE;
	}
	if (have_secret == have_secret_file) {
		*error_r = have_secret ?
			"coi_deltachat_turn_secret and "
			"coi_deltachat_turn_secret_file are both set: use one" :
			"coi_deltachat_turn_host needs coi_deltachat_turn_secret "
			"or coi_deltachat_turn_secret_file";
		return FALSE;
	}
	if (set->deltachat_turn_lifetime_secs == 0) {
		*error_r = "Invalid coi_deltachat_turn_lifetime=0: "
			"credentials must live longer than that";
		return FALSE;
	}
	return TRUE;
}

/* The values that need more than the parser's type check. Each resets its
   setting to the default and parses that when its value is invalid. */
void coi_settings_parse_derived(struct coi_settings *set, pool_t pool,
			   ARRAY_TYPE(const_string) *errors)
{
	const char *error;

#if COI_DOVECOT_24
	/* doveconf checks values with %{variables} before they are known */
	if (set->push_allow == set_value_unknown ||
	    set->push_spool_retry_delays == set_value_unknown ||
	    set->deltachat_turn == set_value_unknown ||
	    set->deltachat_turn_host == set_value_unknown ||
	    set->deltachat_turn_secret == set_value_unknown ||
	    set->deltachat_turn_secret_file == set_value_unknown)
		return;
#endif
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
	if (!coi_settings_check_turn(set, &error)) {
		/* no generated credentials rather than broken ones */
		array_push_back(errors, &error);
		set->deltachat_turn_host = coi_default_settings.deltachat_turn_host;
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
#if COI_DOVECOT_24
	/* the name of the settings struct in Dovecot's config, and the
	   prefix doveconf groups our settings by */
	.name = "coi",
	.pool_offset1 = 1 + offsetof(struct coi_settings, pool),
#else
	.module_name = "coi",
	.type_offset = SIZE_MAX,
	.parent_offset = SIZE_MAX,
#endif
	.defines = coi_setting_defines,
	.defaults = &coi_default_settings,
	.struct_size = sizeof(struct coi_settings),
	.check_func = coi_settings_check,
};

