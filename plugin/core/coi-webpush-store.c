/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* WebPush subscriptions as the server keeps them (under Dovecot's
   internal attribute prefix of INBOX), and the subscription limit's lock. */

#include "lib.h"
#include "array.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "ioloop.h"
#include "file-lock.h"
#include "mail-storage-private.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-push-submit.h"
#include "coi-webpush-subscription.h"
#include "coi-webpush.h"
#include "coi-webpush-private.h"

/* held from counting the subscriptions until the transaction storing a
   new one ends */
#define COI_WEBPUSH_LOCK_FNAME "coi-webpush.lock"
#define COI_WEBPUSH_LOCK_SECS 10

bool coi_webpush_user_enabled(struct mail_user *user)
{
	return coi_user_has_plugin(user) &&
		coi_user_settings(user)->webpush_vapid_key[0] != '\0';
}

struct mailbox *coi_webpush_inbox_alloc(struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);

	return mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			     MAILBOX_FLAG_ATTRIBUTE_SESSION);
}

static bool
coi_webpush_subscription_expired(struct mail_user *user,
				 const struct coi_webpush_subscription *sub)
{
	unsigned int window =
		coi_user_settings(user)->webpush_validation_window_secs;

	return !sub->validated && sub->created + (time_t)window < ioloop_time;
}

/* What the service records when a push service answers 404 or 410 for
   a subscription: its id and a digest of its endpoint, so that a job
   submitted by someone else (the service's socket is open to local
   users) cannot remove a subscription without knowing its endpoint URL,
   a secret of the push service and the client. */
const char *
coi_webpush_gone_key(const char *id, const char *endpoint)
{
	const struct hash_method *sha3 = hash_method_lookup("sha3-256");
	buffer_t *digest = t_hash_str(sha3, endpoint);

	return t_strdup_printf("webpush/%s/%s", id,
			       binary_to_hex(digest->data, 16));
}

bool
coi_webpush_subscription_is_gone(const ARRAY_TYPE(coi_push_gone) *gone,
				 const char *id,
				 const struct coi_webpush_subscription *sub)
{
	const struct coi_push_gone *g;
	const char *key;

	if (gone == NULL || array_count(gone) == 0)
		return FALSE;
	key = coi_webpush_gone_key(id, sub->endpoint);
	array_foreach(gone, g) {
		/* a subscription made again after the answer stays */
		if (strcmp(g->key, key) == 0 && sub->created <= g->when)
			return TRUE;
	}
	return FALSE;
}

/* What the coi-push service recorded as gone for the user (data
   stack). */
const ARRAY_TYPE(coi_push_gone) *
coi_webpush_gone_get(struct mail_user *user)
{
	ARRAY_TYPE(coi_push_gone) *gone;

	gone = t_new(ARRAY_TYPE(coi_push_gone), 1);
	t_array_init(gone, 4);
	coi_push_gone_read(user, pool_datastack_create(), gone);
	return gone;
}

/* Returns 1 and the subscription, 0 if there is none (or it is an
   unvalidated one past its window, or one of gone), -1 on storage
   errors. */
int
coi_webpush_subscription_lookup(struct mailbox *box, const char *id,
				const ARRAY_TYPE(coi_push_gone) *gone,
				pool_t pool,
				struct coi_webpush_subscription *sub_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct mail_attribute_value value;
	const char *error;
	int ret;

	ret = mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
		t_strconcat(COI_WEBPUSH_STORE_PREFIX, id, NULL), &value);
	if (ret <= 0)
		return ret;
	if (coi_webpush_subscription_parse_stored(pool, value.value, sub_r,
						  &error) < 0) {
		e_error(user->event, "coi: Ignoring broken stored WebPush "
			"subscription %s: %s", id, error);
		return 0;
	}
	if (coi_webpush_subscription_expired(user, sub_r) ||
	    coi_webpush_subscription_is_gone(gone, id, sub_r))
		return 0;
	return 1;
}

int
coi_webpush_subscription_store(struct mailbox_transaction_context *t,
			       const char *id,
			       const struct coi_webpush_subscription *sub)
{
	struct mail_attribute_value value;

	i_zero(&value);
	value.value = sub == NULL ? NULL :
		coi_webpush_subscription_to_json(sub);
	return mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE,
		t_strconcat(COI_WEBPUSH_STORE_PREFIX, id, NULL), &value);
}

/* The ids of the stored subscriptions. */
int
coi_webpush_subscription_ids(struct mailbox *box, pool_t pool,
			     ARRAY_TYPE(const_string) *ids)
{
	struct mailbox_attribute_iter *iter;
	const char *key;

	iter = mailbox_attribute_iter_init(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_WEBPUSH_STORE_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		if (coi_webpush_subscription_id_is_valid(key)) {
			key = p_strdup(pool, key);
			array_push_back(ids, &key);
		}
	}
	return mailbox_attribute_iter_deinit(&iter);
}

/* Removes a subscription outside any client transaction (e.g. after the
   push service answered 410). */
void
coi_webpush_subscription_delete(struct mail_user *user, const char *id,
				const char *why)
{
	struct mailbox *box = coi_webpush_inbox_alloc(user);
	struct mailbox_transaction_context *t;
	int ret;

	if ((ret = mailbox_open(box)) == 0) {
		t = mailbox_transaction_begin(box,
			MAILBOX_TRANSACTION_FLAG_EXTERNAL, __func__);
		ret = coi_webpush_subscription_store(t, id, NULL);
		if (ret < 0)
			mailbox_transaction_rollback(&t);
		else
			ret = mailbox_transaction_commit(&t);
	}
	if (ret < 0) {
		e_error(user->event, "coi: Failed to remove WebPush "
			"subscription %s (%s): %s", id, why,
			mailbox_get_last_internal_error(box, NULL));
	} else {
		e_info(user->event, "coi: Removed WebPush subscription %s: %s",
		       id, why);
	}
	mailbox_free(&box);
}

/*
 * The subscription limit: counting and storing are one step for all
 * sessions of a user. A lock file is taken before counting and released
 * when the transaction that stores the new subscription commits or rolls
 * back, so concurrent sessions cannot each see room for one more.
 */

#define COI_WEBPUSH_TRANSACTION_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_webpush_storage_module)
#define COI_WEBPUSH_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_webpush_storage_module)

struct coi_webpush_mailbox {
	union mailbox_module_context module_ctx;
};

struct coi_webpush_transaction {
	union mailbox_transaction_module_context module_ctx;
	struct file_lock *limit_lock;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_webpush_storage_module,
				  &mail_storage_module_register);

int
coi_webpush_limit_lock(struct mailbox_transaction_context *t,
		       const char **error_r)
{
	struct mail_user *user = mailbox_get_namespace(t->box)->user;
	struct coi_webpush_transaction *wt;
	struct file_lock *lock;
	const char *error;
	int ret;

	if (MODULE_CONTEXT(t->box, coi_webpush_storage_module) == NULL) {
		/* not the user's INBOX: nothing would release a lock */
		*error_r = "WebPush is not available";
		return -1;
	}
	wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);
	if (wt != NULL && wt->limit_lock != NULL)
		return 0;
	ret = mail_user_lock_file_create(user, COI_WEBPUSH_LOCK_FNAME,
					 COI_WEBPUSH_LOCK_SECS, &lock, &error);
	if (ret <= 0) {
		e_error(user->event, "coi: Failed to lock the WebPush "
			"subscriptions: %s", ret == 0 ? "Timed out" : error);
		*error_r = "The push subscriptions are busy, try again";
		return -1;
	}
	if (wt == NULL) {
		wt = p_new(t->box->pool, struct coi_webpush_transaction, 1);
		MODULE_CONTEXT_SET(t, coi_webpush_storage_module, wt);
	}
	wt->limit_lock = lock;
	return 0;
}

static void
coi_webpush_limit_unlock(struct mailbox_transaction_context *t)
{
	struct coi_webpush_transaction *wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);

	if (wt != NULL && wt->limit_lock != NULL)
		file_lock_free(&wt->limit_lock);
}

static int
coi_webpush_transaction_commit(struct mailbox_transaction_context *t,
			       struct mail_transaction_commit_changes *changes_r)
{
	struct coi_webpush_mailbox *wbox = COI_WEBPUSH_MAILBOX_CONTEXT(t->box);
	struct coi_webpush_transaction *wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);
	struct file_lock *lock = wt == NULL ? NULL : wt->limit_lock;
	int ret;

	/* t is freed by the commit: the lock is released after it */
	ret = wbox->module_ctx.super.transaction_commit(t, changes_r);
	if (lock != NULL)
		file_lock_free(&lock);
	return ret;
}

static void
coi_webpush_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct coi_webpush_mailbox *wbox = COI_WEBPUSH_MAILBOX_CONTEXT(t->box);

	coi_webpush_limit_unlock(t);
	wbox->module_ctx.super.transaction_rollback(t);
}

void coi_webpush_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_webpush_mailbox *wbox;

	/* the subscriptions are server attributes, kept with INBOX */
	if (!box->inbox_user ||
	    !coi_webpush_user_enabled(mailbox_get_namespace(box)->user))
		return;
	wbox = p_new(box->pool, struct coi_webpush_mailbox, 1);
	wbox->module_ctx.super = *v;
	box->vlast = &wbox->module_ctx.super;
	v->transaction_commit = coi_webpush_transaction_commit;
	v->transaction_rollback = coi_webpush_transaction_rollback;
	MODULE_CONTEXT_SET(box, coi_webpush_storage_module, wbox);
}

