#ifndef COI_SETTINGS_H
#define COI_SETTINGS_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Every COI setting, declared once (name, type, default) as Dovecot's
   settings parser wants it, and read once: per mail user when the user is
   created (coi-user.c), per process in the coi-push service. The rest of
   the code reads the parsed struct, never a setting by name. */

#include "coi-compat.h"
#include "settings-parser.h"

struct coi_push_policy;

enum coi_blocked_action {
	COI_BLOCKED_ACTION_STORE = 0,
	COI_BLOCKED_ACTION_DISCARD,
};

struct coi_settings {
	/* what the settings are allocated from (Dovecot 2.4's
	   settings_free() unrefs it) */
	pool_t pool;

	/* folders */
	const char *mailbox_root;

	/* blocking */
	const char *blocked_action;
	const char *blocked_mailbox;

	/* push, in the mail processes and the coi-push service */
	const char *push_allow;
	const char *push_spool_dir;
	unsigned int push_timeout_msecs;
	unsigned int push_max_attempts;
	unsigned int push_retry_max_delay_secs;
	unsigned int push_user_rate;
	bool push_debug;
	/* the coi-push service's spool */
	const char *push_spool_retry_delays;
	unsigned int push_spool_dedupe_interval_secs;
	unsigned int push_spool_max_jobs;

	/* WebPush */
	const char *webpush_vapid_key;
	const char *webpush_secret;
	const char *webpush_subject;
	unsigned int webpush_ttl_secs;
	unsigned int webpush_max_subscriptions;
	unsigned int webpush_validation_window_secs;
	unsigned int webpush_validation_rate;

	/* Delta Chat */
	bool deltachat_push;
	const char *deltachat_notify_url;
	unsigned int deltachat_token_expire_secs;
	unsigned int deltachat_max_tokens;
	/* the server entries /shared/vendor/deltachat/<name> */
	const char *deltachat_maxsmtprecipients;
	const char *deltachat_irohrelay;
	const char *deltachat_turn;
	/* or computed per lookup, with coturn's shared secret (coi-turn.c) */
	const char *deltachat_turn_host;
	unsigned int deltachat_turn_port;
	const char *deltachat_turn_secret;
	const char *deltachat_turn_secret_file;
	unsigned int deltachat_turn_lifetime_secs;

	/* IDLE in the imap process (imap-coi-idle.c) */
	bool idle_fast_notify;
	unsigned int idle_notify_coalesce_msecs;

	/* parsed from the strings above by the check */
	enum coi_blocked_action parsed_blocked_action;
	struct coi_push_policy *parsed_push_policy;
	ARRAY_TYPE(uint) parsed_push_spool_retry_delays;
};

extern const struct setting_parser_info coi_setting_parser_info;

/* Parses the values of set that need more than the parser's type check
   into its parsed_* fields; an invalid one is added to errors and that
   setting gets its default. (The check function of
   coi_setting_parser_info does the same, strictly.) */
void coi_settings_parse_derived(struct coi_settings *set, pool_t pool,
				ARRAY_TYPE(const_string) *errors);

#if !COI_DOVECOT_24
/* Dovecot 2.3 (coi-settings-23.c): Dovecot does not know the COI
   settings, so they are read here from plugin {} and userdb fields. On
   2.4 Dovecot's settings_get() reads them with the declarations above,
   which coi-settings-module.c installs into its config process. */

/* Looks up a setting's raw value: NULL or "" if it is not set. */
typedef const char *coi_settings_lookup_t(const char *key, void *context);

/* Reads every COI setting through lookup into *set_r (allocated from
   pool). An invalid value never fails the whole: it is described in
   errors_r (NULL if there were none) and the setting keeps its default,
   as the admin guide promises. */
void coi_settings_read(pool_t pool, coi_settings_lookup_t *lookup,
		       void *context, const struct coi_settings **set_r,
		       const char *const **errors_r);
#define coi_settings_read(pool, lookup, context, set_r, errors_r) \
	coi_settings_read(pool, (coi_settings_lookup_t *)lookup, \
		(void *)((const char *)(context) + CALLBACK_TYPECHECK(lookup, \
			const char *(*)(const char *, typeof(context)))), \
		set_r, errors_r)

/* The settings of a mail user from its plugin {} settings and userdb
   fields (plugin_envs: count strings, key, value, key, value, ... as in
   mail_user_settings): what coi_settings_read() gives, but one parsed
   copy per process while the COI values stay the same (every LMTP
   delivery creates its user; most users share the plugin {} values). The
   caller keeps a reference to the settings' pool and unrefs it when done
   with them. Errors are logged (once per process) to event. */
const struct coi_settings *
coi_settings_get(const char *const *plugin_envs, unsigned int count,
		 struct event *event);

/* Logs each error of coi_settings_read() once per process: settings are
   the same for every user of a process unless a userdb overrides them,
   and a bad value must not add one error to every delivery. */
void coi_settings_log_errors(struct event *event,
			     const char *const *errors);
void coi_settings_deinit(void);
#endif

#endif
