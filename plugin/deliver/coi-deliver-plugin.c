/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* COI filing at delivery (LMTP and dovecot-lda). The hook runs before
   Sieve: it is installed after Sieve's (this module sorts after
   lib90_sieve_plugin) and Sieve's hook does not call its predecessor.
   It only redirects the default mailbox, so the user's Sieve script still
   runs and its keep/implicit keep land in <root>/Chats. Every save of a
   chat into the recipient's mailboxes during the delivery gets $Chat.
   Messages of blocked senders (coi-blocklist.h) are filed here instead,
   before Sieve, which then does not run for them.
   Nothing here may fail a delivery: any error means plain delivery. */

#include "lib.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "mail-deliver.h"
#include "coi-plugin.h"
#include "coi-message.h"
#include "coi-blocklist.h"
#include "coi-deliver-plugin.h"

#define COI_DELIVER_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_deliver_user_module)
#define COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_deliver_storage_module)

const char *coi_deliver_plugin_version = DOVECOT_ABI_VERSION;
const char *coi_deliver_plugin_dependencies[] = { "coi", NULL };
const char coi_deliver_plugin_binary_dependency[] = "lda lmtp";

struct coi_deliver_user {
	union mail_user_module_context module_ctx;
	/* The message now being delivered to this user is a chat (and COI
	   is enabled), so every delivery save gets $Chat. Set for each
	   delivery, before Sieve and Dovecot's default save run. */
	bool delivering_chat;
};

struct coi_deliver_mailbox {
	union mailbox_module_context module_ctx;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_deliver_user_module,
				  &mail_user_module_register);
static MODULE_CONTEXT_DEFINE_INIT(coi_deliver_storage_module,
				  &mail_storage_module_register);

static deliver_mail_func_t *next_deliver_mail;

/* Returns TRUE if the message is from a blocked sender (and COI is enabled):
   then it is filed by coi_deliver_blocked() instead of the normal
   delivery. */
static bool coi_deliver_prepare(struct mail_deliver_context *ctx,
				struct coi_deliver_user *duser)
{
	struct mail_user *user = ctx->rcpt_user;
	struct coi_config config;
	const char *error;
	int ret;

	if (!coi_user_has_plugin(user))
		return FALSE;
	/* The configuration is cached per process (one stat() per read), and
	   blocking applies to every message of a COI user, chat or not. */
	if (coi_config_read(user, &config, &error) < 0) {
		e_error(ctx->event, "coi: %s - delivering without COI", error);
		return FALSE;
	}
	if (!config.enabled)
		return FALSE;

	ret = coi_blocklist_mail_is_blocked(user, ctx->src_mail, &error);
	if (ret < 0) {
		e_error(ctx->event, "coi: Cannot check the blocked contacts: "
			"%s - delivering without blocking", error);
	} else if (ret > 0) {
		coi_blocklist_set_delivering_blocked(user, TRUE);
		return TRUE;
	}

	if ((ret = coi_mail_is_chat(ctx->src_mail, &error)) < 0) {
		e_error(ctx->event, "coi: %s - delivering without COI", error);
		return FALSE;
	}
	if (ret == 0)
		return FALSE;

	duser->delivering_chat = TRUE;
	if (config.message_filter != COI_MESSAGE_FILTER_ACTIVE)
		return FALSE;
	/* A missing or broken Chats folder is handled when the delivery
	   opens it (coi_deliver_open()): checking here would cost a refresh
	   of the mailbox list index for every chat. */
	ctx->rcpt_default_mailbox = coi_user_chats_vname(user);
	e_debug(ctx->event, "coi: Chat message, default mailbox is %s",
		ctx->rcpt_default_mailbox);
	return FALSE;
}

/* A blocked sender's message: stored into the Blocked folder or discarded,
   and the user's Sieve script does not run (no vacation reply or redirect
   to a blocked sender). If storing fails, the message is delivered to the
   default mailbox as without COI (never lose mail), still without Sieve.
   Returns 1 when handled, 0 to have Dovecot store it into the default
   mailbox. */
static int coi_deliver_blocked(struct mail_deliver_context *ctx)
{
	struct mail_user *user = ctx->rcpt_user;
	struct mail_storage *storage = NULL;
	const char *mailbox, *error;

	if (coi_blocklist_action(user) == COI_BLOCKED_ACTION_DISCARD) {
		e_info(ctx->event, "coi: Sender is blocked, "
		       "message discarded");
		return 1;
	}
	mailbox = coi_blocklist_mailbox(user);
	if (coi_blocklist_mailbox_ensure(user, &error) < 0) {
		e_error(ctx->event, "coi: Cannot store the blocked sender's "
			"message: %s - delivering it to %s", error,
			ctx->rcpt_default_mailbox);
		return 0;
	}
	e_debug(ctx->event, "coi: Sender is blocked, storing into %s",
		mailbox);
	/* A storage of our own: a failure here must not make Dovecot think
	   the default save failed too (it would reply with our error). */
	if (mail_deliver_save(ctx, mailbox, 0, NULL, &storage) == 0)
		return 1;
	error = storage == NULL ? "unknown error" :
		mail_storage_get_last_internal_error(storage, NULL);
	e_error(ctx->event, "coi: Cannot store the blocked sender's message "
		"into %s: %s - delivering it to %s", mailbox, error,
		ctx->rcpt_default_mailbox);
	return 0;
}

static int coi_deliver_mail(struct mail_deliver_context *ctx,
			    struct mail_storage **storage_r)
{
	struct coi_deliver_user *duser =
		COI_DELIVER_USER_CONTEXT(ctx->rcpt_user);
	bool blocked = FALSE;
	int ret;

	if (duser != NULL) {
		duser->delivering_chat = FALSE;
		coi_blocklist_set_delivering_blocked(ctx->rcpt_user, FALSE);
		T_BEGIN {
			blocked = coi_deliver_prepare(ctx, duser);
		} T_END;
	}
	if (blocked) {
		T_BEGIN {
			ret = coi_deliver_blocked(ctx);
		} T_END;
		return ret;
	}
	if (next_deliver_mail == NULL) {
		/* nothing saved: Dovecot saves to rcpt_default_mailbox */
		return 0;
	}
	return next_deliver_mail(ctx, storage_r);
}

static void coi_deliver_add_chat_keyword(struct mail_save_context *ctx)
{
	static const char *const names[] = { COI_KEYWORD_CHAT, NULL };
	struct mailbox *box = ctx->transaction->box;
	struct mail_keywords *chat, *merged;

	chat = mailbox_keywords_create_valid(box, names);
	if (ctx->data.keywords == NULL) {
		ctx->data.keywords = chat;
		return;
	}
	merged = mailbox_keywords_merge(ctx->data.keywords, chat);
	mailbox_keywords_unref(&chat);
	mailbox_keywords_unref(&ctx->data.keywords);
	ctx->data.keywords = merged;
}

/* Delivery (Dovecot's and Sieve's) opens every mailbox it saves to with
   MAILBOX_FLAG_POST_SESSION. If Chats is missing (the user deleted it),
   it is created and opened again. If Chats cannot be opened, the error is
   logged and replaced by a permanent one: Dovecot then saves into INBOX
   instead of failing the delivery temporarily, as it would for a broken
   default mailbox of its own. */
static int coi_deliver_open(struct mailbox *box)
{
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);
	struct mail_user *user = box->storage->user;
	struct coi_deliver_user *duser = COI_DELIVER_USER_CONTEXT(user);
	enum mail_error error;
	const char *errstr;

	if (dbox->module_ctx.super.open(box) == 0)
		return 0;
	if (duser == NULL || !duser->delivering_chat ||
	    strcmp(box->vname, coi_user_chats_vname(user)) != 0)
		return -1;
	errstr = mailbox_get_last_internal_error(box, &error);
	if (error == MAIL_ERROR_NOTFOUND) {
		if (coi_user_ensure_chats(user, &errstr) == 0) {
			if (dbox->module_ctx.super.open(box) == 0)
				return 0;
			errstr = mailbox_get_last_internal_error(box, NULL);
		}
	}
	e_error(box->event, "coi: Cannot deliver the chat into %s: %s - "
		"delivering it to INBOX", box->vname, errstr);
	mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
			       "COI chat folder unavailable");
	return -1;
}

/* Delivery (Dovecot's and Sieve's) saves with mailbox_save_using_mail(),
   which always goes through copy(). */
static int coi_deliver_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *box = ctx->transaction->box;
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);
	struct coi_deliver_user *duser =
		COI_DELIVER_USER_CONTEXT(box->storage->user);

	if (duser != NULL && duser->delivering_chat &&
	    (box->flags & MAILBOX_FLAG_POST_SESSION) != 0)
		coi_deliver_add_chat_keyword(ctx);
	return dbox->module_ctx.super.copy(ctx, mail);
}

static void coi_deliver_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_deliver_mailbox *dbox;

	if ((box->flags & MAILBOX_FLAG_POST_SESSION) == 0 ||
	    COI_DELIVER_USER_CONTEXT(box->storage->user) == NULL)
		return;

	dbox = p_new(box->pool, struct coi_deliver_mailbox, 1);
	dbox->module_ctx.super = *v;
	box->vlast = &dbox->module_ctx.super;
	v->copy = coi_deliver_copy;
	v->open = coi_deliver_open;
	MODULE_CONTEXT_SET(box, coi_deliver_storage_module, dbox);
}

static void coi_deliver_mail_user_created(struct mail_user *user)
{
	struct coi_deliver_user *duser;

	if (user->autocreated)
		return;
	duser = p_new(user->pool, struct coi_deliver_user, 1);
	duser->module_ctx.super = *user->vlast;
	user->vlast = &duser->module_ctx.super;
	MODULE_CONTEXT_SET(user, coi_deliver_user_module, duser);
}

static struct mail_storage_hooks coi_deliver_mail_storage_hooks = {
	.mail_user_created = coi_deliver_mail_user_created,
	.mailbox_allocated = coi_deliver_mailbox_allocated,
};

void coi_deliver_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &coi_deliver_mail_storage_hooks);
	next_deliver_mail = mail_deliver_hook_set(coi_deliver_mail);
}

void coi_deliver_plugin_deinit(void)
{
	mail_deliver_hook_set(next_deliver_mail);
	mail_storage_hooks_remove(&coi_deliver_mail_storage_hooks);
}
