/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The COI folders as the user manages them with ordinary IMAP commands:
   creating <root>/Chats enables COI, deleting it (or moving it to Trash)
   disables COI, and any other move of it is refused, because clients and
   delivery rely on its name. */

#include "lib.h"
#include "file-lock.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-storage.h"
#include "coi-attribute.h"
#include "coi-mailbox.h"
#include "coi-chats-lock.h"

#define COI_MAILBOX_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_storage_module)

#define COI_TRASH_SPECIAL_USE "\\Trash"
#define COI_TRASH_DEFAULT_NAME "Trash"

struct coi_mailbox {
	union mailbox_module_context module_ctx;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_storage_module,
				  &mail_storage_module_register);

static bool coi_mailbox_is_chats(struct coi_user *cuser, struct mailbox *box)
{
	return box->list->ns == cuser->root_ns &&
		strcmp(box->vname, cuser->chats_vname) == 0;
}

/* TRUE if box is an ancestor of <root>/Chats (e.g. <root> itself). */
static bool
coi_mailbox_is_chats_ancestor(struct coi_user *cuser, struct mailbox *box)
{
	size_t len = strlen(box->vname);

	return box->list->ns == cuser->root_ns &&
		strncmp(cuser->chats_vname, box->vname, len) == 0 &&
		cuser->chats_vname[len] ==
			mail_namespace_get_sep(cuser->root_ns);
}

/* TRUE if dest lies somewhere below the \Trash special-use folder, or
   below a folder named Trash (the default trash folder of most clients). */
static bool coi_mailbox_is_in_trash(struct mailbox *dest)
{
	struct mail_namespace *ns = dest->list->ns;
	struct mailbox *parent;
	const char *vname = dest->vname, *p;
	char sep = mail_namespace_get_sep(ns);
	bool trash;

	while ((p = strrchr(vname, sep)) != NULL) {
		vname = t_strdup_until(vname, p);
		if (strcasecmp(vname, COI_TRASH_DEFAULT_NAME) == 0)
			return TRUE;
		/* allocated only for its settings (special_use), never
		   opened */
		parent = mailbox_alloc(ns->list, vname, 0);
		trash = mailbox_has_special_use(parent, COI_TRASH_SPECIAL_USE);
		mailbox_free(&parent);
		if (trash)
			return TRUE;
	}
	return FALSE;
}

static void coi_mailbox_indirect_enable(struct mailbox *box, bool enable)
{
	struct mail_user *user = mailbox_list_get_user(box->list);
	const char *error;

	if (enable && mailbox_set_subscribed(box, TRUE) < 0) {
		e_error(box->event, "coi: Failed to subscribe: %s",
			mailbox_get_last_internal_error(box, NULL));
	}
	if (coi_config_set_enabled(user, enable, &error) < 0)
		e_error(box->event, "coi: %s", error);
	else {
		e_debug(box->event, "coi: COI %s by the user's %s",
			enable ? "enabled" : "disabled",
			enable ? "creation of the Chats folder" :
			"removal of the Chats folder");
	}
}

static int
coi_mailbox_create_box(struct mailbox *box,
		       const struct mailbox_update *update, bool directory)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT_REQUIRE(box);
	struct coi_user *cuser = coi_box_get_user(box);

	if (cbox->module_ctx.super.create_box(box, update, directory) < 0)
		return -1;
	if (cuser != NULL && !directory && cuser->internal_change == 0 &&
	    coi_mailbox_is_chats(cuser, box))
		coi_mailbox_indirect_enable(box, TRUE);
	return 0;
}

/* Deliveries into Chats finish before it goes (coi-chats-lock.h). */
static int
coi_mailbox_chats_lock(struct mailbox *box, struct file_lock **lock_r)
{
	const char *error;

	if (coi_chats_lock(box->storage->user, TRUE, lock_r, &error) < 0) {
		e_error(box->event, "coi: %s", error);
		mail_storage_set_error(box->storage, MAIL_ERROR_INUSE,
			"Chats are being delivered into the folder, "
			"try again");
		return -1;
	}
	return 0;
}

static int coi_mailbox_delete_box(struct mailbox *box)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT_REQUIRE(box);
	struct coi_user *cuser = coi_box_get_user(box);
	struct file_lock *lock = NULL;
	bool is_chats = cuser != NULL && coi_mailbox_is_chats(cuser, box);
	int ret;

	if (is_chats && coi_mailbox_chats_lock(box, &lock) < 0)
		return -1;
	ret = cbox->module_ctx.super.delete_box(box);
	if (lock != NULL)
		file_lock_free(&lock);
	if (ret < 0)
		return -1;
	if (is_chats)
		coi_mailbox_indirect_enable(box, FALSE);
	return 0;
}

static int coi_mailbox_rename_box(struct mailbox *src, struct mailbox *dest)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT_REQUIRE(src);
	struct coi_user *cuser = coi_box_get_user(src);
	struct file_lock *lock = NULL;
	bool disables = FALSE;
	int ret;

	if (cuser != NULL && coi_mailbox_is_chats(cuser, src)) {
		if (!coi_mailbox_is_in_trash(dest)) {
			mail_storage_set_error(src->storage,
				MAIL_ERROR_NOTPOSSIBLE, t_strdup_printf(
				"%s holds the COI chats: it can only be "
				"deleted or moved to Trash, which disables COI",
				cuser->chats_vname));
			return -1;
		}
		disables = TRUE;
	} else if (cuser != NULL && coi_mailbox_is_chats_ancestor(cuser, src)) {
		mail_storage_set_error(src->storage, MAIL_ERROR_NOTPOSSIBLE,
			t_strdup_printf("%s contains %s, which holds the COI "
					"chats and cannot be moved",
					src->vname, cuser->chats_vname));
		return -1;
	}

	if (disables && coi_mailbox_chats_lock(src, &lock) < 0)
		return -1;
	ret = cbox->module_ctx.super.rename_box(src, dest);
	if (lock != NULL)
		file_lock_free(&lock);
	if (ret < 0)
		return -1;

	if (disables)
		coi_mailbox_indirect_enable(src, FALSE);
	else if (cuser != NULL && coi_mailbox_is_chats(cuser, dest))
		coi_mailbox_indirect_enable(dest, TRUE);
	return 0;
}

void coi_storage_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_mailbox *cbox;

	if (coi_box_get_user(box) == NULL)
		return;

	cbox = p_new(box->pool, struct coi_mailbox, 1);
	cbox->module_ctx.super = *v;
	box->vlast = &cbox->module_ctx.super;
	v->create_box = coi_mailbox_create_box;
	v->delete_box = coi_mailbox_delete_box;
	v->rename_box = coi_mailbox_rename_box;
	MODULE_CONTEXT_SET(box, coi_storage_module, cbox);
}
