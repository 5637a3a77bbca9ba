#ifndef COI_USER_H
#define COI_USER_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The COI context of a mail user: its settings and folder names. Below
   everything else of the core, which asks it; coi-plugin.c only connects
   it to Dovecot's hooks. */

#include "module-context.h"
#include "mail-user.h"
#include "coi-settings.h"
#include "coi-delivery.h"

struct mailbox;

#define COI_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_user_module)

struct coi_user {
	union mail_user_module_context module_ctx;

	/* released with settings_free() (its pool may be shared with other
	   users of the process) */
	const struct coi_settings *set;

	const char *mailbox_root;
	const char *chats_vname;
	const char *contacts_vname;
	/* The namespace that holds the COI folders. */
	struct mail_namespace *root_ns;

	/* Non-zero while the core itself creates COI folders, so that this
	   does not count as the user's indirect request to enable COI. */
	unsigned int internal_change;

	/* coi_user_attribute_dict_path(), found once */
	const char *attribute_dict_path;
	bool attribute_dict_path_known;

	/* What the core decided about the delivery now running
	   (coi-delivery.h). */
	enum coi_delivery_kind delivery_kind;

	/* when coi_user_attribute_error() last logged an error */
	time_t attribute_error_time;
};

extern MODULE_CONTEXT_DEFINE(coi_user_module, &mail_user_module_register);

/* The hooks of coi-plugin.c: the context with the user's settings, then
   the folder names once the namespaces exist. */
void coi_user_created(struct mail_user *user);
void coi_user_namespaces_created(struct mail_namespace *namespaces);

/* TRUE if the user has the coi plugin in mail_plugins. Process-global hooks
   (capabilities, internal attributes) use this to give every other user
   plain Dovecot behaviour. */
bool coi_user_has_plugin(struct mail_user *user);
/* Logs a failure to read the user's mail attributes to event: as an
   error, or as a debug message when an error was logged for the user less
   than COI_USER_ATTRIBUTE_ERROR_SECS ago. With the attribute dict down,
   every read of a delivery fails the same way (configuration,
   subscriptions, tokens): the first error tells it. */
#define COI_USER_ATTRIBUTE_ERROR_SECS 60
void coi_user_attribute_error(struct mail_user *user, struct event *event,
			      const char *format, ...) ATTR_FORMAT(3, 4);
/* TRUE if the user has the plugin and its namespaces exist, so that the
   mailbox root and folder names below are known. */
bool coi_user_is_ready(struct mail_user *user);
/* The user's COI context once its namespaces exist, or NULL for users
   without the plugin. */
struct coi_user *coi_user_get_ready(struct mail_user *user);
/* The same for the owner of the mailbox list box belongs to. */
struct coi_user *coi_box_get_user(struct mailbox *box);

/* The settings of a user with the plugin. */
const struct coi_settings *coi_user_settings(struct mail_user *user);

/* The user's COI mailbox root and the full name of its Chats folder. */
const char *coi_user_mailbox_root(struct mail_user *user);
const char *coi_user_chats_vname(struct mail_user *user);

#endif
