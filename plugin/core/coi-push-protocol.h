#ifndef COI_PUSH_PROTOCOL_H
#define COI_PUSH_PROTOCOL_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The push protocols of the mail processes behind one interface, as
   Dovecot's push_notification drivers are: the core plugin registers
   them, the imap plugin advertises them, the push driver asks each for
   the recipients of a delivery and hands it the message. A new protocol
   is one entry in coi_push_protocols[]. (The coi-push service sends jobs,
   which carry their protocol's fields: coi-push-job.h.) */

#include "array-decl.h"

struct mail_user;
struct coi_webpush_message;

struct coi_push_protocol {
	/* for logs: "webpush", "deltachat" */
	const char *name;
	/* advertised after login to users for whom it is enabled */
	const char *imap_capability;
	/* the payload needs the message's content, not only its sender */
	bool needs_message_content;

	void (*init)(void);
	void (*deinit)(void);
	/* the user has the plugin and the server has this protocol on */
	bool (*user_enabled)(struct mail_user *user);
	/* who is to be notified of deliveries to user (allocated from
	   pool), NULL if nobody: then the delivery needs no work of this
	   protocol */
	void *(*recipients_get)(struct mail_user *user, pool_t pool);
	/* notifies the recipients of one delivered message; never fails
	   the caller (problems are logged) */
	void (*notify_message)(struct mail_user *user, const void *recipients,
			       const struct coi_webpush_message *msg);
};

/* NULL-terminated */
extern const struct coi_push_protocol *const coi_push_protocols[];

void coi_push_protocols_init(void);
void coi_push_protocols_deinit(void);

#endif
