#ifndef COI_WEBPUSH_H
#define COI_WEBPUSH_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* IMAP WebPush (webpush-spec.md): the VAPID key and the subscriptions as
   METADATA entries, the validation round trip, and encrypted pushes for
   delivered messages. */

struct mail_user;
struct mailbox;
struct coi_webpush_message;
struct coi_webpush_recipients;

/* TRUE if the user has the plugin and the server has WebPush configured
   (coi_webpush_vapid_key). */
bool coi_webpush_user_enabled(struct mail_user *user);

void coi_webpush_attributes_register(void);
/* mailbox_allocated hook: the subscription limit's lock (INBOX) */
void coi_webpush_mailbox_allocated(struct mailbox *box);
void coi_webpush_attributes_unregister(void);

/* The user's validated subscriptions (allocated from pool), or NULL if
   there are none or WebPush is off for the user: then a delivery needs no
   further push work. */
struct coi_webpush_recipients *
coi_webpush_recipients_get(struct mail_user *user, pool_t pool);
/* Sends a push to every one of rcpts whose msgtype matches the message.
   Never fails the caller: problems are logged. */
void coi_webpush_notify_message(struct mail_user *user,
				const struct coi_webpush_recipients *rcpts,
				const struct coi_webpush_message *msg);

/* Frees the per-process key and JWT caches. */
void coi_webpush_deinit(void);

#endif
