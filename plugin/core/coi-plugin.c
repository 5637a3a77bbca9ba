/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "coi-user.h"
#include "coi-plugin.h"
#include "coi-config-cache.h"
#include "coi-blocklist.h"
#include "coi-push-sender.h"
#include "coi-webpush.h"
#include "coi-devicetoken.h"

const char *coi_plugin_version = DOVECOT_ABI_VERSION;

struct coi_user_module coi_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

static void coi_mail_user_created(struct mail_user *user)
{
	struct coi_user *cuser;
	struct mail_user_vfuncs *v = user->vlast;

	/* The raw user of LMTP/LDA has no settings of its own. */
	if (user->autocreated)
		return;

	cuser = p_new(user->pool, struct coi_user, 1);
	cuser->module_ctx.super = *v;
	user->vlast = &cuser->module_ctx.super;
	MODULE_CONTEXT_SET(user, coi_user_module, cuser);
}

static void coi_mail_namespaces_created(struct mail_namespace *namespaces)
{
	struct mail_user *user = namespaces->user;
	struct coi_user *cuser = COI_USER_CONTEXT(user);
	const char *root, *error;
	char sep;

	if (cuser == NULL)
		return;

	root = mail_user_plugin_getenv(user, "coi_mailbox_root");
	if (root == NULL || root[0] == '\0')
		root = COI_MAILBOX_ROOT_DEFAULT;
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

static struct mail_storage_hooks coi_mail_storage_hooks = {
	.mail_user_created = coi_mail_user_created,
	.mail_namespaces_created = coi_mail_namespaces_created,
	.mailbox_allocated = coi_storage_mailbox_allocated,
};

/* Separate hooks: lib-storage fixes up the vfunc chain after each hook
   call, so one hook must not wrap the same object twice. */
static struct mail_storage_hooks coi_seen_mail_storage_hooks = {
	.mailbox_allocated = coi_seen_mailbox_allocated,
	.mail_allocated = coi_seen_mail_allocated,
};
static struct mail_storage_hooks coi_webpush_mail_storage_hooks = {
	.mailbox_allocated = coi_webpush_mailbox_allocated,
};

bool coi_user_has_plugin(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	return cuser != NULL;
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

const char *coi_user_contacts_vname(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	i_assert(cuser != NULL && cuser->contacts_vname != NULL);
	return cuser->contacts_vname;
}

void coi_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &coi_mail_storage_hooks);
	mail_storage_hooks_add(module, &coi_seen_mail_storage_hooks);
	mail_storage_hooks_add(module, &coi_webpush_mail_storage_hooks);
	coi_attributes_register();
	coi_webpush_attributes_register();
	coi_devicetoken_attributes_register();
}

void coi_plugin_deinit(void)
{
	/* Normally the process plugins flushed already; this covers
	   processes without one (e.g. doveadm). */
	coi_push_sender_flush();
	coi_webpush_deinit();
	coi_devicetoken_attributes_unregister();
	coi_webpush_attributes_unregister();
	coi_attributes_unregister();
	coi_config_cache_clear();
	coi_blocklist_cache_clear();
	mail_storage_hooks_remove(&coi_webpush_mail_storage_hooks);
	mail_storage_hooks_remove(&coi_seen_mail_storage_hooks);
	mail_storage_hooks_remove(&coi_mail_storage_hooks);
}
