#ifndef COI_DELIVERY_H
#define COI_DELIVERY_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* What the core decides about a message delivered to a user (LMTP,
   dovecot-lda), in one place: a blocked sender's message, a chat, or
   neither. Decided by coi_delivery_begin() before Sieve and Dovecot's
   default save run; the deliver plugin's mailbox wrappers and the push
   driver read it until the next delivery to the user begins. */

struct mail;
struct mail_user;
struct event;

enum coi_delivery_kind {
	/* COI has nothing to do: not enabled, not a chat, or an error (which
	   was logged: plain delivery) */
	COI_DELIVERY_PLAIN = 0,
	/* every save of the delivery gets $Chat */
	COI_DELIVERY_CHAT,
	/* the deliver plugin files it (coi_blocked_action), no Sieve, no
	   push */
	COI_DELIVERY_BLOCKED,
};

/* Decides about mail for user and remembers it for this delivery. For a
   chat in the "active" filter mode *default_mailbox_r is Chats, else
   NULL. Never fails: errors are logged to event and mean plain
   delivery. */
enum coi_delivery_kind
coi_delivery_begin(struct mail_user *user, struct mail *mail,
		   struct event *event, const char **default_mailbox_r);
/* The kind of the delivery now running for user (PLAIN for users without
   the plugin and outside deliveries). */
enum coi_delivery_kind coi_delivery_get(struct mail_user *user);

#endif
