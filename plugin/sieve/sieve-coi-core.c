/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The only place that calls the core plugin (lib20_coi_plugin.so).

   The core is a mail plugin: LMTP and dovecot-lda load it for users with
   "coi" in mail_plugins before Sieve runs, but sievec, sieve-test and
   ManageSieve load this module only to compile scripts, usually without
   the core. So the core's functions are weak references here: the module
   loads everywhere, and they are NULL where the core is not loaded. Dovecot
   loads modules with RTLD_GLOBAL and Pigeonhole reloads this module for each
   Sieve instance once the previous one is gone, so a core loaded later in
   a long-lived LMTP process is found by the next delivery. */

#include "lib.h"
#include "mail-storage.h"
#include "sieve-common.h"
#include "sieve-execute.h"
#include "sieve-interpreter.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-message.h"
#include "coi-blocklist.h"
#include "sieve-coi-common.h"

#pragma weak coi_user_is_ready
#pragma weak coi_user_mailbox_root
#pragma weak coi_config_read
#pragma weak coi_message_filter_to_str
#pragma weak coi_mail_is_chat
#pragma weak coi_blocklist_mail_is_blocked

struct mail_user *sieve_coi_runtime_user(const struct sieve_runtime_env *renv)
{
	struct mail_user *user = renv->exec_env->scriptenv->user;

	if (user == NULL || coi_user_is_ready == NULL ||
	    !coi_user_is_ready(user))
		return NULL;
	return user;
}

int sieve_coi_message_is_chat(const struct sieve_runtime_env *renv,
			      const char **error_r)
{
	struct mail *mail = renv->exec_env->msgdata->mail;

	i_assert(coi_mail_is_chat != NULL);
	return coi_mail_is_chat(mail, error_r);
}

int sieve_coi_message_is_blocked(const struct sieve_runtime_env *renv,
				 struct mail_user *user, const char **error_r)
{
	struct mail *mail = renv->exec_env->msgdata->mail;

	i_assert(coi_blocklist_mail_is_blocked != NULL);
	/* A fact about the user's contacts, whether or not COI is enabled:
	   scripts can ask vnd.dovecot.coi.enabled themselves. */
	return coi_blocklist_mail_is_blocked(user, mail, error_r);
}

const char *sieve_coi_mailbox_root(struct mail_user *user)
{
	i_assert(coi_user_mailbox_root != NULL);
	return coi_user_mailbox_root(user);
}

int sieve_coi_config_strings(struct mail_user *user, const char **enabled_r,
			     const char **message_filter_r,
			     const char **error_r)
{
	struct coi_config config;

	i_assert(coi_config_read != NULL && coi_message_filter_to_str != NULL);
	if (coi_config_read(user, &config, error_r) < 0)
		return -1;
	*enabled_r = config.enabled ? "yes" : "no";
	*message_filter_r = coi_message_filter_to_str(config.message_filter);
	return 0;
}
