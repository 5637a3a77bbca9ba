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
#include "file-lock.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "mail-deliver.h"
#include "coi-user.h"
#include "coi-mailbox.h"
#include "coi-message.h"
#include "coi-blocklist.h"
#include "coi-delivery.h"
#include "coi-chats-lock.h"
#include "coi-deliver-plugin.h"

#define COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_deliver_storage_module)

const char *coi_deliver_plugin_version = DOVECOT_ABI_VERSION;
const char *coi_deliver_plugin_dependencies[] = { "coi", NULL };
const char coi_deliver_plugin_binary_dependency[] = "lda lmtp";

struct coi_deliver_mailbox {
	union mailbox_module_context module_ctx;
	/* Chats, while a chat is delivered into it (coi-chats-lock.h) */
	struct file_lock *chats_lock;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_deliver_storage_module,
				  &mail_storage_module_register);

static deliver_mail_func_t *next_deliver_mail;
static struct module *coi_deliver_module;

/* The delivery hook is the process's: only users with coi_deliver in
   mail_plugins (and so the core) get COI filing. */
static bool coi_deliver_user_enabled(struct mail_user *user)
{
	return mail_user_is_plugin_loaded(user, coi_deliver_module) &&
		coi_user_has_plugin(user);
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
	/* a missing folder is created when the save opens it
	   (coi_deliver_open()) */
	mailbox = coi_blocklist_mailbox(user);
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
	enum coi_delivery_kind kind = COI_DELIVERY_PLAIN;
	const char *default_mailbox;
	int ret;

	if (coi_deliver_user_enabled(ctx->rcpt_user)) {
		kind = coi_delivery_begin(ctx->rcpt_user, ctx->src_mail,
					  ctx->event, &default_mailbox);
	}
	if (kind == COI_DELIVERY_CHAT && default_mailbox != NULL) {
		/* the user's Sieve script still runs: its keep lands here */
		ctx->rcpt_default_mailbox = default_mailbox;
		e_debug(ctx->event, "coi: Chat message, default mailbox is %s",
			ctx->rcpt_default_mailbox);
	}
	if (kind == COI_DELIVERY_BLOCKED) {
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

/* The chat cannot go into Chats: logged, and a permanent error, so that
   Dovecot stores it into INBOX instead of failing the delivery
   temporarily, as it would for a broken default mailbox of its own. */
static void coi_deliver_chats_unavailable(struct mailbox *box,
					  const char *error)
{
	e_error(box->event, "coi: Cannot deliver the chat into %s: %s - "
		"delivering it to INBOX", box->vname, error);
	mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
			       "COI chat folder unavailable");
}

/* TRUE if box is the Chats folder COI redirected this chat to. */
static bool coi_deliver_box_is_chats(struct mailbox *box)
{
	struct mail_user *user = box->storage->user;

	return coi_delivery_get(user) == COI_DELIVERY_CHAT &&
		strcmp(box->vname, coi_user_chats_vname(user)) == 0;
}

/* Delivery (Dovecot's and Sieve's) opens every mailbox it saves to with
   MAILBOX_FLAG_POST_SESSION. If the folder COI delivers to (Chats for a
   chat, the Blocked folder for a blocked sender's message) is missing, it
   is created and opened again: checking before every delivery would cost
   a refresh of the mailbox list index each time. If it cannot be opened,
   the error is logged and replaced by a permanent one: Dovecot then saves
   into INBOX instead of failing the delivery temporarily, as it would for
   a broken default mailbox of its own. */
static int coi_deliver_open_box(struct mailbox *box)
{
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);
	struct mail_user *user = box->storage->user;
	enum mail_error error;
	const char *errstr;
	bool blocked;
	int ret;

	if (dbox->module_ctx.super.open(box) == 0)
		return 0;
	blocked = coi_delivery_get(user) == COI_DELIVERY_BLOCKED;
	if (blocked) {
		if (strcmp(box->vname, coi_blocklist_mailbox(user)) != 0)
			return -1;
	} else if (!coi_deliver_box_is_chats(box)) {
		return -1;
	}
	errstr = mailbox_get_last_internal_error(box, &error);
	if (error == MAIL_ERROR_NOTFOUND) {
		ret = blocked ? coi_blocklist_mailbox_ensure(user, &errstr) :
			coi_user_ensure_chats(user, &errstr);
		if (ret == 0) {
			if (dbox->module_ctx.super.open(box) == 0)
				return 0;
			errstr = mailbox_get_last_internal_error(box, NULL);
		}
	}
	if (blocked) {
		/* coi_deliver_blocked() logs it and delivers to INBOX */
		mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
				       t_strdup_printf("Cannot open: %s",
						       errstr));
		return -1;
	}
	coi_deliver_chats_unavailable(box, errstr);
	return -1;
}

static int coi_deliver_open(struct mailbox *box)
{
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);
	const char *error;

	/* the lock first: a DELETE in progress finishes, and the open
	   below finds Chats gone and creates it anew */
	if (coi_deliver_box_is_chats(box) &&
	    coi_chats_lock(box->storage->user, FALSE, &dbox->chats_lock,
			   &error) < 0) {
		coi_deliver_chats_unavailable(box, error);
		return -1;
	}
	if (coi_deliver_open_box(box) < 0) {
		/* close() is not called for a box that did not open */
		if (dbox->chats_lock != NULL)
			file_lock_free(&dbox->chats_lock);
		return -1;
	}
	return 0;
}

static void coi_deliver_close(struct mailbox *box)
{
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);

	dbox->module_ctx.super.close(box);
	if (dbox->chats_lock != NULL)
		file_lock_free(&dbox->chats_lock);
}

/* Saving into Chats failed after it was opened (a temporary error, e.g.
   an I/O error): as when it cannot be opened, Dovecot stores the chat into
   INBOX instead of answering 451. Quota errors stay as they are: they are
   Dovecot's to answer (quota_full_tempfail). */
static void coi_deliver_chats_failed(struct mailbox *box)
{
	enum mail_error error;
	const char *errstr;

	if (!coi_deliver_box_is_chats(box))
		return;
	errstr = mailbox_get_last_internal_error(box, &error);
	if (error == MAIL_ERROR_NOQUOTA || error == MAIL_ERROR_NOTPOSSIBLE)
		return;
	coi_deliver_chats_unavailable(box, errstr);
}

/* Delivery (Dovecot's and Sieve's) saves with mailbox_save_using_mail(),
   which always goes through copy(). */
static int coi_deliver_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *box = ctx->transaction->box;
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);

	if (coi_delivery_get(box->storage->user) == COI_DELIVERY_CHAT &&
	    (box->flags & MAILBOX_FLAG_POST_SESSION) != 0)
		coi_deliver_add_chat_keyword(ctx);
	if (dbox->module_ctx.super.copy(ctx, mail) < 0) {
		coi_deliver_chats_failed(box);
		return -1;
	}
	return 0;
}

static int
coi_deliver_transaction_commit(struct mailbox_transaction_context *t,
			       struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	struct coi_deliver_mailbox *dbox =
		COI_DELIVER_MAILBOX_CONTEXT_REQUIRE(box);

	if (dbox->module_ctx.super.transaction_commit(t, changes_r) < 0) {
		coi_deliver_chats_failed(box);
		return -1;
	}
	return 0;
}

static void coi_deliver_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_deliver_mailbox *dbox;

	if ((box->flags & MAILBOX_FLAG_POST_SESSION) == 0 ||
	    !coi_user_has_plugin(box->storage->user))
		return;

	dbox = p_new(box->pool, struct coi_deliver_mailbox, 1);
	dbox->module_ctx.super = *v;
	box->vlast = &dbox->module_ctx.super;
	v->copy = coi_deliver_copy;
	v->open = coi_deliver_open;
	v->transaction_commit = coi_deliver_transaction_commit;
	v->close = coi_deliver_close;
	MODULE_CONTEXT_SET(box, coi_deliver_storage_module, dbox);
}

static struct mail_storage_hooks coi_deliver_mail_storage_hooks = {
	.mailbox_allocated = coi_deliver_mailbox_allocated,
};

void coi_deliver_plugin_init(struct module *module)
{
	coi_deliver_module = module;
	mail_storage_hooks_add(module, &coi_deliver_mail_storage_hooks);
	next_deliver_mail = mail_deliver_hook_set(coi_deliver_mail);
}

void coi_deliver_plugin_deinit(void)
{
	mail_deliver_hook_set(next_deliver_mail);
	mail_storage_hooks_remove(&coi_deliver_mail_storage_hooks);
}
