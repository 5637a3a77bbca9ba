/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "ioloop.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#if COI_DOVECOT_24
#  include "settings.h"
#endif
#include "coi-config.h"
#include "coi-user.h"

struct coi_user_module coi_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

static void coi_user_deinit(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	cuser->module_ctx.super.deinit(user);
	settings_free(cuser->set);
}

#if COI_DOVECOT_24
static int
coi_user_settings_get(struct mail_user *user,
		      const struct coi_settings **set_r, const char **error_r)
{
	/* Dovecot checked the configuration when it started; userdb
	   fields can still make a value invalid */
	return settings_get(user->event, &coi_setting_parser_info, 0,
			    set_r, error_r);
}
#else
static int
coi_user_settings_get(struct mail_user *user,
		      const struct coi_settings **set_r,
		      const char **error_r ATTR_UNUSED)
{
	const char *const *envs = NULL;
	unsigned int count = 0;

	/* invalid values are logged there and keep their defaults */
	if (array_is_created(&user->set->plugin_envs))
		envs = array_get(&user->set->plugin_envs, &count);
	*set_r = coi_settings_get(envs, count, user->event);
	return 0;
}
#endif

void coi_user_created(struct mail_user *user)
{
	struct coi_user *cuser;
	struct mail_user_vfuncs *v = user->vlast;
	const struct coi_settings *set;
	const char *error;

	/* The raw user of LMTP/LDA has no settings of its own. */
	if (user->autocreated)
		return;
	if (coi_user_settings_get(user, &set, &error) < 0) {
		/* the user gets plain Dovecot: deliveries are stored as
		   without the plugin */
		e_error(user->event, "coi: %s - COI is off for this user",
			error);
		return;
	}

	cuser = p_new(user->pool, struct coi_user, 1);
	cuser->module_ctx.super = *v;
	user->vlast = &cuser->module_ctx.super;
	v->deinit = coi_user_deinit;
	cuser->set = set;
	MODULE_CONTEXT_SET(user, coi_user_module, cuser);
}

void coi_user_namespaces_created(struct mail_namespace *namespaces)
{
	struct mail_user *user = namespaces->user;
	struct coi_user *cuser = COI_USER_CONTEXT(user);
	const char *root, *error;
	char sep;

	if (cuser == NULL)
		return;

	root = cuser->set->mailbox_root;
	cuser->root_ns = mail_namespace_find(namespaces, root);
	sep = mail_namespace_get_sep(cuser->root_ns);
	if (!coi_mailbox_root_is_valid(root, sep, &error)) {
		e_error(user->event, "coi: coi_mailbox_root=%s %s, "
			"using the default %s instead", root, error,
			COI_MAILBOX_ROOT_DEFAULT);
		root = COI_MAILBOX_ROOT_DEFAULT;
		cuser->root_ns = mail_namespace_find(namespaces, root);
		sep = mail_namespace_get_sep(cuser->root_ns);
	}
	cuser->mailbox_root = p_strdup(user->pool, root);
	cuser->chats_vname = p_strdup_printf(user->pool, "%s%c%s",
		root, sep, COI_MAILBOX_CHATS);
	cuser->contacts_vname = p_strdup_printf(user->pool, "%s%c%s",
		root, sep, COI_MAILBOX_CONTACTS);
}

bool coi_user_has_plugin(struct mail_user *user)
{
	return COI_USER_CONTEXT(user) != NULL;
}

void coi_user_attribute_error(struct mail_user *user, struct event *event,
			      const char *format, ...)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);
	const char *msg;
	va_list args;

	va_start(args, format);
	msg = t_strdup_vprintf(format, args);
	va_end(args);

	if (cuser != NULL && cuser->attribute_error_time != 0 &&
	    ioloop_time - cuser->attribute_error_time <
	    COI_USER_ATTRIBUTE_ERROR_SECS) {
		e_debug(event, "%s", msg);
		return;
	}
	if (cuser != NULL)
		cuser->attribute_error_time = ioloop_time;
	e_error(event, "%s", msg);
}

bool coi_user_is_ready(struct mail_user *user)
{
	return coi_user_get_ready(user) != NULL;
}

struct coi_user *coi_user_get_ready(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	return cuser == NULL || cuser->root_ns == NULL ? NULL : cuser;
}

struct coi_user *coi_box_get_user(struct mailbox *box)
{
	return coi_user_get_ready(mailbox_list_get_user(box->list));
}

const struct coi_settings *coi_user_settings(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	i_assert(cuser != NULL);
	return cuser->set;
}

const char *coi_user_mailbox_root(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	i_assert(cuser != NULL && cuser->mailbox_root != NULL);
	return cuser->mailbox_root;
}

const char *coi_user_chats_vname(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	i_assert(cuser != NULL && cuser->chats_vname != NULL);
	return cuser->chats_vname;
}
