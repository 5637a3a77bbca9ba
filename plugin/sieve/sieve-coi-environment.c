/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Environment items vnd.dovecot.coi.enabled, .message-filter and
   .mailbox-root: the user's COI configuration as the METADATA entries
   show it. For users without the COI plugin they do not exist (the
   environment test is false for them, as for any unknown item). */

#include "lib.h"
#include "sieve-extensions.h"
#include "sieve-execute.h"
#include "sieve-interpreter.h"
#include "sieve-ext-environment.h"
#include "sieve-coi-common.h"

#define SIEVE_COI_ITEM_ENABLED "enabled"
#define SIEVE_COI_ITEM_MESSAGE_FILTER "message-filter"
#define SIEVE_COI_ITEM_MAILBOX_ROOT "mailbox-root"

static const char *
sieve_coi_config_item(const struct sieve_runtime_env *renv, const char *name)
{
	struct mail_user *user = sieve_coi_runtime_user(renv);
	const char *enabled, *message_filter, *error;

	if (user == NULL)
		return NULL;
	if (sieve_coi_config_strings(user, &enabled, &message_filter,
				     &error) < 0) {
		/* The item stays undefined; the script goes on. */
		sieve_runtime_error(renv, NULL, "environment item %s%s: %s",
				    SIEVE_COI_ENVIRONMENT_PREFIX, name, error);
		return NULL;
	}
	return strcmp(name, SIEVE_COI_ITEM_ENABLED) == 0 ?
		enabled : message_filter;
}

static const char *
sieve_coi_enabled_get_value(const struct sieve_runtime_env *renv,
			    const char *name ATTR_UNUSED)
{
	return sieve_coi_config_item(renv, SIEVE_COI_ITEM_ENABLED);
}

static const char *
sieve_coi_message_filter_get_value(const struct sieve_runtime_env *renv,
				   const char *name ATTR_UNUSED)
{
	return sieve_coi_config_item(renv, SIEVE_COI_ITEM_MESSAGE_FILTER);
}

static const char *
sieve_coi_mailbox_root_get_value(const struct sieve_runtime_env *renv,
				 const char *name ATTR_UNUSED)
{
	struct mail_user *user = sieve_coi_runtime_user(renv);

	return user == NULL ? NULL : sieve_coi_mailbox_root(user);
}

static const struct sieve_environment_item sieve_coi_enabled_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_ENABLED,
	.get_value = sieve_coi_enabled_get_value,
};

static const struct sieve_environment_item sieve_coi_message_filter_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_MESSAGE_FILTER,
	.get_value = sieve_coi_message_filter_get_value,
};

static const struct sieve_environment_item sieve_coi_mailbox_root_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_MAILBOX_ROOT,
	.get_value = sieve_coi_mailbox_root_get_value,
};

void sieve_coi_environment_items_register(const struct sieve_extension *ext,
					  const struct sieve_runtime_env *renv)
{
	const struct sieve_extension *env_ext = ext->context;

	sieve_environment_item_register(env_ext, renv->interp,
					&sieve_coi_enabled_item);
	sieve_environment_item_register(env_ext, renv->interp,
					&sieve_coi_message_filter_item);
	sieve_environment_item_register(env_ext, renv->interp,
					&sieve_coi_mailbox_root_item);
}
