/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The push side of COI: a push_notification driver ("coi") that hands
   every message delivered by the MTA to the core's push protocols. Dovecot's
   push_notification plugin already tells MTA deliveries (MessageNew) from
   IMAP APPENDs and collects the saved messages' UIDs at commit; this driver
   adds an event that captures what the payload needs while the message is
   being saved. */

#include "lib.h"
#include "coi-compat.h"
#include "mail-storage-private.h"
#include "mail-user.h"
#include "push-notification-drivers.h"
#include "push-notification-events.h"
#include "push-notification-txn-msg.h"
#include "coi-delivery.h"
#include "coi-push-protocol.h"
#include "coi-webpush-payload.h"
#include "coi-push-plugin.h"

#define COI_PUSH_EVENT_NAME "CoiMessageNew"

const char *coi_push_plugin_version = DOVECOT_ABI_VERSION;
const char *coi_push_plugin_dependencies[] = {
	"coi", "push_notification", NULL
};

/* push_notification requires a config for an event to be used. The
   config tells how much of the message the protocols of the transaction
   need: all of it for a WebPush payload, only the sender otherwise. */
static int coi_push_event_config;
static int coi_push_event_config_sender_only;

static void *coi_push_event_default_config(void)
{
	return &coi_push_event_config;
}

static void
coi_push_event_save(struct push_notification_txn *ptxn,
		    struct push_notification_event_config *ec,
		    struct push_notification_txn_msg *msg, struct mail *mail)
{
	struct coi_webpush_message *data;
	const char *error;

	if (push_notification_txn_msg_get_eventdata(msg,
			COI_PUSH_EVENT_NAME) != NULL)
		return;
	data = p_new(ptxn->pool, struct coi_webpush_message, 1);
	if ((ec->config == &coi_push_event_config_sender_only ?
	     coi_webpush_message_sender_from_mail(mail, ptxn->pool, data,
						  &error) :
	     coi_webpush_message_from_mail(mail, ptxn->pool, data,
					   &error)) < 0) {
		e_error(mail->box->event, "coi: Cannot read the delivered "
			"message for push notifications: %s", error);
		return;
	}
	data->folder = p_strdup(ptxn->pool, mailbox_get_vname(mail->box));
	push_notification_txn_msg_set_eventdata(ptxn, msg, ec, data);
}

static const struct push_notification_event coi_push_event = {
	.name = COI_PUSH_EVENT_NAME,
	.init = {
		.default_config = coi_push_event_default_config,
	},
	.msg_triggers = {
		.save = coi_push_event_save,
	},
};

/* The driver reads no settings of its own: 2.3 passes the parsed
   push_notification_driver = coi:<args>, 2.4 the name of the
   push_notification filter. */
#if COI_DOVECOT_24
static int
coi_push_driver_init(struct mail_user *user ATTR_UNUSED,
		     pool_t pool ATTR_UNUSED, const char *name ATTR_UNUSED,
		     void **context ATTR_UNUSED,
		     const char **error_r ATTR_UNUSED)
#else
static int
coi_push_driver_init(struct push_notification_driver_config *config
		     ATTR_UNUSED, struct mail_user *user ATTR_UNUSED,
		     pool_t pool ATTR_UNUSED, void **context ATTR_UNUSED,
		     const char **error_r ATTR_UNUSED)
#endif
{
	/* Users without COI (and LMTP's raw user) are skipped per
	   transaction: failing here would log an error for each. */
	return 0;
}

/* Adds the COI event to the transaction: config NULL for the default
   (the whole message). 2.4 also wants the event its events log to. */
static void
coi_push_event_init(struct push_notification_driver_txn *dtxn, void *config)
{
#if COI_DOVECOT_24
	push_notification_event_init(dtxn, COI_PUSH_EVENT_NAME, config,
				     dtxn->ptxn->event);
#else
	push_notification_event_init(dtxn, COI_PUSH_EVENT_NAME, config);
#endif
}

/* Who is to be notified of a delivery transaction's messages: one entry
   per protocol of coi_push_protocols[], NULL where nobody. */
struct coi_push_driver_recipients {
	const void **by_protocol;
};

static bool coi_push_driver_begin_txn(struct push_notification_driver_txn *dtxn)
{
	struct mail_user *user = dtxn->ptxn->muser;
	pool_t pool = dtxn->ptxn->pool;
	struct coi_push_driver_recipients *rcpts;
	unsigned int i, count = 0;
	bool any = FALSE, content = FALSE;

	/* Messages of blocked senders are never announced, by any
	   protocol. */
	if (coi_delivery_get(user) == COI_DELIVERY_BLOCKED)
		return FALSE;
	while (coi_push_protocols[count] != NULL)
		count++;
	rcpts = p_new(pool, struct coi_push_driver_recipients, 1);
	rcpts->by_protocol = p_new(pool, const void *, count);
	for (i = 0; coi_push_protocols[i] != NULL; i++) {
		rcpts->by_protocol[i] =
			coi_push_protocols[i]->recipients_get(user, pool);
		if (rcpts->by_protocol[i] == NULL)
			continue;
		any = TRUE;
		if (coi_push_protocols[i]->needs_message_content)
			content = TRUE;
	}
	/* Without recipients nothing of the message needs to be read. */
	if (!any)
		return FALSE;
	dtxn->context = rcpts;
	coi_push_event_init(dtxn, content ? NULL :
			    &coi_push_event_config_sender_only);
	return TRUE;
}

static void
coi_push_driver_process_msg(struct push_notification_driver_txn *dtxn,
			    struct push_notification_txn_msg *msg)
{
	struct coi_push_driver_recipients *rcpts = dtxn->context;
	struct mail_user *user = dtxn->ptxn->muser;
	struct coi_webpush_message *data;
	unsigned int i;

	data = push_notification_txn_msg_get_eventdata(msg,
						       COI_PUSH_EVENT_NAME);
	if (data == NULL)
		return;
	data->uid = msg->uid;
	data->uidvalidity = msg->uid_validity;
	/* Rules that hold for every protocol belong here or in begin_txn
	   (blocked senders), before the protocols. */
	for (i = 0; coi_push_protocols[i] != NULL; i++) {
		if (rcpts->by_protocol[i] != NULL) {
			coi_push_protocols[i]->notify_message(user,
				rcpts->by_protocol[i], data);
		}
	}
}

static const struct push_notification_driver coi_push_driver = {
	.name = "coi",
	.v = {
		.init = coi_push_driver_init,
		.begin_txn = coi_push_driver_begin_txn,
		.process_msg = coi_push_driver_process_msg,
	},
};

void coi_push_plugin_init(struct module *module ATTR_UNUSED)
{
	push_notification_event_register(&coi_push_event);
	push_notification_driver_register(&coi_push_driver);
}

void coi_push_plugin_deinit(void)
{
	push_notification_driver_unregister(&coi_push_driver);
	push_notification_event_unregister(&coi_push_event);
}
