#ifndef COI_WEBPUSH_PRIVATE_H
#define COI_WEBPUSH_PRIVATE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* What the three parts of WebPush share: coi-webpush.c (METADATA entries),
   coi-webpush-store.c (stored subscriptions, the limit's lock) and
   coi-webpush-send.c (keys, jobs for the coi-push service). */

#include "array-decl.h"
#include "coi-push-job.h"

struct mail_user;
struct mailbox;
struct mailbox_transaction_context;
struct coi_webpush_subscription;

/* Where the server keeps the subscriptions it accepted: under Dovecot's
   internal prefix, which IMAP clients cannot read or write directly. */
#define COI_WEBPUSH_STORE_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/webpush/subscriptions/"

/* The VAPID key and the validation secret, loaded once per process. */
struct coi_webpush_keys {
	char *key_path;
	char *secret_path;
	struct coi_webpush_vapid_key *key;
	buffer_t *secret;
};
int coi_webpush_keys_get(struct mail_user *user,
			 struct coi_webpush_keys **keys_r);

/* Stored subscriptions (coi-webpush-store.c) */
struct mailbox *coi_webpush_inbox_alloc(struct mail_user *user);
/* The key the coi-push service records when the push service answers 404
   or 410 for a subscription (data stack). */
const char *coi_webpush_gone_key(const char *id, const char *endpoint);
bool coi_webpush_subscription_is_gone(const ARRAY_TYPE(coi_push_gone) *gone,
				      const char *id,
				      const struct coi_webpush_subscription *sub);
/* What the coi-push service recorded as gone for the user (data stack). */
const ARRAY_TYPE(coi_push_gone) *coi_webpush_gone_get(struct mail_user *user);
/* Returns 1 and the subscription, 0 if there is none (or it is an
   unvalidated one past its window, or one of gone), -1 on storage
   errors. */
int coi_webpush_subscription_lookup(struct mailbox *box, const char *id,
				    const ARRAY_TYPE(coi_push_gone) *gone,
				    pool_t pool,
				    struct coi_webpush_subscription *sub_r);
/* sub NULL removes it. */
int coi_webpush_subscription_store(struct mailbox_transaction_context *t,
				   const char *id,
				   const struct coi_webpush_subscription *sub);
/* The ids of the stored subscriptions. */
int coi_webpush_subscription_ids(struct mailbox *box, pool_t pool,
				 ARRAY_TYPE(const_string) *ids);
/* Removes a subscription outside any client transaction (e.g. after the
   push service answered 410). */
void coi_webpush_subscription_delete(struct mail_user *user, const char *id,
				     const char *why);
/* Takes the lock of the subscription limit for t's user until t ends
   (commit or rollback). error_r is for the client. */
int coi_webpush_limit_lock(struct mailbox_transaction_context *t,
			   const char **error_r);

/* Sending (coi-webpush-send.c): the validation push of a new
   subscription, to the coi-push service; problems are logged. */
void coi_webpush_send_validation(struct mail_user *user, const char *id,
				 const struct coi_webpush_subscription *sub);

#endif
