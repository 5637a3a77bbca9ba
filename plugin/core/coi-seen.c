/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The "seen" message filter: a chat ($Chat) in INBOX that gets \Seen is
   moved to <root>/Chats with its flags. update_flags() only remembers the
   UID in its transaction; the move happens after that transaction
   committed, in a transaction of its own, so the flag change is never lost
   and nothing moves from inside a flag update. */

#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "mail-storage-private.h"
#include "mail-search-build.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-seen.h"
#include "coi-attribute.h"
#include "coi-mailbox.h"
#include "coi-message.h"

#define COI_MAIL_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_mail_module)
#define COI_TRANSACTION_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_seen_storage_module)
#define COI_SEEN_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_seen_storage_module)

struct coi_seen_mailbox {
	union mailbox_module_context module_ctx;
};

struct coi_seen_transaction {
	union mailbox_transaction_module_context module_ctx;
	ARRAY_TYPE(seq_range) chat_uids;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_mail_module, &mail_module_register);
static MODULE_CONTEXT_DEFINE_INIT(coi_seen_storage_module,
				  &mail_storage_module_register);

static bool coi_mail_has_keyword(struct mail *mail, const char *keyword)
{
	const char *const *keywords = mail_get_keywords(mail);

	for (; *keywords != NULL; keywords++) {
		if (strcasecmp(*keywords, keyword) == 0)
			return TRUE;
	}
	return FALSE;
}

static void
coi_seen_mail_update_flags(struct mail *_mail, enum modify_type modify_type,
			   enum mail_flags flags)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *cmail = COI_MAIL_CONTEXT(mail);
	struct mailbox_transaction_context *t = _mail->transaction;
	struct coi_seen_transaction *ct;

	cmail->super.update_flags(_mail, modify_type, flags);

	if (modify_type == MODIFY_REMOVE || (flags & MAIL_SEEN) == 0 ||
	    !coi_mail_has_keyword(_mail, COI_KEYWORD_CHAT))
		return;

	ct = COI_TRANSACTION_CONTEXT(t);
	if (ct == NULL) {
		ct = i_new(struct coi_seen_transaction, 1);
		i_array_init(&ct->chat_uids, 8);
		MODULE_CONTEXT_SET(t, coi_seen_storage_module, ct);
	}
	seq_range_array_add(&ct->chat_uids, _mail->uid);
}

static struct mailbox *
coi_seen_box_open(struct mailbox_list *list, const char *vname,
		  const char **error_r)
{
	struct mailbox *box = mailbox_alloc(list, vname, 0);

	if (mailbox_open(box) < 0 || mailbox_sync(box, 0) < 0) {
		*error_r = t_strdup_printf("Failed to open %s: %s", vname,
			mailbox_get_last_internal_error(box, NULL));
		mailbox_free(&box);
		return NULL;
	}
	return box;
}

/* Moves the still \Seen chats among uids from src to dest. The source
   transaction is an ordinary one: its expunges are requests that the
   backend carries out (an EXTERNAL transaction would record them as
   already done, and Maildir or an index rebuild would bring the mail
   back). */
static int
coi_seen_move_to(struct mailbox *src, struct mailbox *dest,
		 const ARRAY_TYPE(seq_range) *uids, const char **error_r)
{
	struct mailbox_transaction_context *src_t, *dest_t;
	struct mail_search_args *search_args;
	struct mail_search_arg *sarg;
	struct mail_search_context *search_ctx;
	struct mail_save_context *save_ctx;
	struct mail *mail;
	int ret = 0;

	search_args = mail_search_build_init();
	sarg = mail_search_build_add(search_args, SEARCH_UIDSET);
	p_array_init(&sarg->value.seqset, search_args->pool, array_count(uids));
	array_append_array(&sarg->value.seqset, uids);

	src_t = mailbox_transaction_begin(src, 0, __func__);
	dest_t = mailbox_transaction_begin(dest,
					   MAILBOX_TRANSACTION_FLAG_EXTERNAL,
					   __func__);
	search_ctx = mailbox_search_init(src_t, search_args, NULL, 0, NULL);
	mail_search_args_unref(&search_args);
	while (mailbox_search_next(search_ctx, &mail)) {
		/* the flag may have gone again since it was set */
		if ((mail_get_flags(mail) & MAIL_SEEN) == 0)
			continue;
		save_ctx = mailbox_save_alloc(dest_t);
		mailbox_save_copy_flags(save_ctx, mail);
		if (mailbox_move(&save_ctx, mail) < 0) {
			*error_r = t_strdup_printf("Failed to move UID %u to %s: %s",
				mail->uid, mailbox_get_vname(dest),
				mailbox_get_last_internal_error(dest, NULL));
			ret = -1;
			break;
		}
	}
	if (mailbox_search_deinit(&search_ctx) < 0 && ret == 0) {
		*error_r = t_strdup_printf("Search failed: %s",
			mailbox_get_last_internal_error(src, NULL));
		ret = -1;
	}
	if (ret < 0) {
		mailbox_transaction_rollback(&dest_t);
		mailbox_transaction_rollback(&src_t);
	} else if (mailbox_transaction_commit(&dest_t) < 0) {
		*error_r = t_strdup_printf("Failed to save into %s: %s",
			mailbox_get_vname(dest),
			mailbox_get_last_internal_error(dest, NULL));
		mailbox_transaction_rollback(&src_t);
		ret = -1;
	} else if (mailbox_transaction_commit(&src_t) < 0 ||
		   mailbox_sync(src, 0) < 0) {
		/* the copies exist; the originals stay in INBOX */
		*error_r = t_strdup_printf("Failed to expunge moved chats: %s",
			mailbox_get_last_internal_error(src, NULL));
		ret = -1;
	}
	return ret;
}

/* The move uses a mailbox of its own for INBOX: box may be a session's
   selected mailbox, whose view only the session may sync (it reports the
   expunges to its client at its next sync). */
static int
coi_seen_move_uids(struct mailbox *box, const ARRAY_TYPE(seq_range) *uids,
		   const char **error_r)
{
	struct mail_user *user = box->storage->user;
	struct coi_user *cuser = coi_user_get_ready(user);
	struct mailbox *src, *dest;
	int ret;

	if (coi_mailbox_ensure(cuser, cuser->chats_vname, TRUE, error_r) < 0)
		return -1;
	dest = coi_seen_box_open(cuser->root_ns->list, cuser->chats_vname,
				 error_r);
	if (dest == NULL)
		return -1;
	src = coi_seen_box_open(box->list, box->vname, error_r);
	if (src == NULL) {
		mailbox_free(&dest);
		return -1;
	}
	ret = coi_seen_move_to(src, dest, uids, error_r);
	mailbox_free(&src);
	mailbox_free(&dest);
	return ret;
}

static void
coi_seen_after_commit(struct mailbox *box, const ARRAY_TYPE(seq_range) *uids)
{
	struct mail_user *user = box->storage->user;
	struct coi_config config;
	const char *error;

	if (coi_config_read(user, &config, &error) < 0) {
		e_error(box->event, "coi: %s - not moving seen chats", error);
		return;
	}
	if (!config.enabled ||
	    config.message_filter != COI_MESSAGE_FILTER_SEEN)
		return;
	e_debug(box->event, "coi: Moving %u seen chats to %s",
		seq_range_count(uids), coi_user_chats_vname(user));
	if (coi_seen_move_uids(box, uids, &error) < 0)
		e_error(box->event, "coi: Moving seen chats failed: %s", error);
}

static void coi_seen_transaction_free(struct coi_seen_transaction **_ct)
{
	struct coi_seen_transaction *ct = *_ct;

	*_ct = NULL;
	array_free(&ct->chat_uids);
	i_free(ct);
}

static int
coi_seen_transaction_commit(struct mailbox_transaction_context *t,
			    struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	struct coi_seen_mailbox *sbox = COI_SEEN_MAILBOX_CONTEXT(box);
	struct coi_seen_transaction *ct = COI_TRANSACTION_CONTEXT(t);
	int ret;

	ret = sbox->module_ctx.super.transaction_commit(t, changes_r);
	if (ct != NULL) {
		if (ret == 0) T_BEGIN {
			coi_seen_after_commit(box, &ct->chat_uids);
		} T_END;
		coi_seen_transaction_free(&ct);
	}
	return ret;
}

static void
coi_seen_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct coi_seen_mailbox *sbox = COI_SEEN_MAILBOX_CONTEXT(t->box);
	struct coi_seen_transaction *ct = COI_TRANSACTION_CONTEXT(t);

	sbox->module_ctx.super.transaction_rollback(t);
	if (ct != NULL)
		coi_seen_transaction_free(&ct);
}

static bool coi_seen_applies(struct mailbox *box)
{
	/* only the user's own INBOX, not delivery's or a shared one */
	return box->inbox_user && (box->flags & MAILBOX_FLAG_POST_SESSION) == 0 &&
		coi_box_get_user(box) != NULL;
}

void coi_seen_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_seen_mailbox *sbox;

	if (!coi_seen_applies(box))
		return;
	sbox = p_new(box->pool, struct coi_seen_mailbox, 1);
	sbox->module_ctx.super = *v;
	box->vlast = &sbox->module_ctx.super;
	v->transaction_commit = coi_seen_transaction_commit;
	v->transaction_rollback = coi_seen_transaction_rollback;
	MODULE_CONTEXT_SET(box, coi_seen_storage_module, sbox);
}

void coi_seen_mail_allocated(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	union mail_module_context *cmail;

	/* only mails of boxes whose commits we watch */
	if (MODULE_CONTEXT(_mail->box, coi_seen_storage_module) == NULL)
		return;
	cmail = p_new(mail->pool, union mail_module_context, 1);
	cmail->super = *v;
	mail->vlast = &cmail->super;
	v->update_flags = coi_seen_mail_update_flags;
	MODULE_CONTEXT_SET_SELF(mail, coi_mail_module, cmail);
}
