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

#if COI_DOVECOT_24
/* Pigeonhole 2.4: items are definitions, registered together with the
   extension that provides them, and get_value() also gets the item. */
typedef struct sieve_environment_item_def sieve_coi_item_def_t;
#  define SIEVE_COI_ITEM_GET_VALUE_ARGS \
	const struct sieve_runtime_env *renv, \
	const struct sieve_environment_item *item ATTR_UNUSED, \
	const char *name ATTR_UNUSED
#  define sieve_coi_item_register(env_ext, renv, ext, item_def) \
	sieve_environment_item_register(env_ext, (renv)->interp, ext, item_def)
#else
typedef struct sieve_environment_item sieve_coi_item_def_t;
#  define SIEVE_COI_ITEM_GET_VALUE_ARGS \
	const struct sieve_runtime_env *renv, const char *name ATTR_UNUSED
#  define sieve_coi_item_register(env_ext, renv, ext, item_def) \
	sieve_environment_item_register(env_ext, (renv)->interp, item_def)
#endif

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
sieve_coi_enabled_get_value(SIEVE_COI_ITEM_GET_VALUE_ARGS)
{
	return sieve_coi_config_item(renv, SIEVE_COI_ITEM_ENABLED);
}

static const char *
sieve_coi_message_filter_get_value(SIEVE_COI_ITEM_GET_VALUE_ARGS)
{
	return sieve_coi_config_item(renv, SIEVE_COI_ITEM_MESSAGE_FILTER);
}

static const char *
sieve_coi_mailbox_root_get_value(SIEVE_COI_ITEM_GET_VALUE_ARGS)
{
	struct mail_user *user = sieve_coi_runtime_user(renv);

	return user == NULL ? NULL : sieve_coi_mailbox_root(user);
}

static const sieve_coi_item_def_t sieve_coi_enabled_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_ENABLED,
	.get_value = sieve_coi_enabled_get_value,
};

static const sieve_coi_item_def_t sieve_coi_message_filter_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_MESSAGE_FILTER,
	.get_value = sieve_coi_message_filter_get_value,
};

static const sieve_coi_item_def_t sieve_coi_mailbox_root_item = {
	.name = SIEVE_COI_ENVIRONMENT_PREFIX SIEVE_COI_ITEM_MAILBOX_ROOT,
	.get_value = sieve_coi_mailbox_root_get_value,
};

void sieve_coi_environment_items_register(const struct sieve_extension *ext,
					  const struct sieve_runtime_env *renv)
{
	const struct sieve_extension *env_ext = ext->context;

	sieve_coi_item_register(env_ext, renv, ext, &sieve_coi_enabled_item);
	sieve_coi_item_register(env_ext, renv, ext,
				&sieve_coi_message_filter_item);
	sieve_coi_item_register(env_ext, renv, ext,
				&sieve_coi_mailbox_root_item);
}
