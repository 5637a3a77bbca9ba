#ifndef SIEVE_COI_COMMON_H
#define SIEVE_COI_COMMON_H

#include "coi-compat.h"
#include "sieve-common.h"
#include "sieve-extensions.h"

/* The Sieve extension "vnd.dovecot.coi" (docs/SIEVE.md): COI facts for
   scripts, computed by the core plugin (plugin/core). */

#define SIEVE_COI_EXTENSION_NAME "vnd.dovecot.coi"
/* Prefix of the extension's environment items. */
#define SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_EXTENSION_NAME"."

enum sieve_coi_operation_code {
	SIEVE_COI_OPERATION_CHAT,
	SIEVE_COI_OPERATION_BLOCKED,
};

extern const struct sieve_extension_def sieve_coi_extension;

/* sieve_extension_register() of both Pigeonhole versions: 2.4's returns
   -1/0 and the extension in ext_r, 0.5's (Dovecot 2.3) returns the
   extension, NULL on failure. ext_r is NULL on failure. */
static inline int
sieve_coi_extension_register(struct sieve_instance *svinst,
			     const struct sieve_extension_def *extdef,
			     bool load, const struct sieve_extension **ext_r)
{
#if COI_DOVECOT_24
	return sieve_extension_register(svinst, extdef, load, ext_r);
#else
	*ext_r = sieve_extension_register(svinst, extdef, load);
	return *ext_r == NULL ? -1 : 0;
#endif
}

/* sieve-coi-tests.c */
extern const struct sieve_command_def sieve_coi_chat_test;
extern const struct sieve_command_def sieve_coi_blocked_test;
extern const struct sieve_operation_def sieve_coi_chat_operation;
extern const struct sieve_operation_def sieve_coi_blocked_operation;

/* sieve-coi-environment.c */
void sieve_coi_environment_items_register(const struct sieve_extension *ext,
					  const struct sieve_runtime_env *renv);

/* sieve-coi-core.c: the core plugin's facts about the mail user and the
   message of a running script. The core is a mail plugin that may not be
   loaded in this process (sievec, managesieve) or not for this user. */

/* The script's mail user if it has the COI plugin and its namespaces
   exist, otherwise NULL (then every COI test is false). */
struct mail_user *sieve_coi_runtime_user(const struct sieve_runtime_env *renv);
/* 1 if the message is a chat (the core's rule), 0 if not, -1 on error. */
int sieve_coi_message_is_chat(const struct sieve_runtime_env *renv,
			      const char **error_r);
/* 1 if an address in the message's From header is blocked by the user's
   contacts, 0 if not, -1 on error. */
int sieve_coi_message_is_blocked(const struct sieve_runtime_env *renv,
				 struct mail_user *user, const char **error_r);
/* The user's mailbox root. */
const char *sieve_coi_mailbox_root(struct mail_user *user);
/* The user's "enabled" and "message-filter" values as the METADATA
   entries show them; -1 if the configuration could not be read. */
int sieve_coi_config_strings(struct mail_user *user, const char **enabled_r,
			     const char **message_filter_r,
			     const char **error_r);

#endif
