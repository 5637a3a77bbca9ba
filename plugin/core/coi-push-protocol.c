/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-webpush.h"
#include "coi-devicetoken.h"
#include "coi-push-protocol.h"

/* Each protocol's typed functions, adapted to the interface. */

static void *
coi_webpush_protocol_recipients_get(struct mail_user *user, pool_t pool)
{
	return coi_webpush_recipients_get(user, pool);
}

static void
coi_webpush_protocol_notify(struct mail_user *user, const void *rcpts,
			    const struct coi_webpush_message *msg)
{
	coi_webpush_notify_message(user, rcpts, msg);
}

static void coi_webpush_protocol_deinit(void)
{
	coi_webpush_attributes_unregister();
	coi_webpush_deinit();
}

static const struct coi_push_protocol coi_webpush_protocol = {
	.name = "webpush",
	.imap_capability = "WEBPUSH",
	.needs_message_content = TRUE,
	.init = coi_webpush_attributes_register,
	.deinit = coi_webpush_protocol_deinit,
	.user_enabled = coi_webpush_user_enabled,
	.recipients_get = coi_webpush_protocol_recipients_get,
	.notify_message = coi_webpush_protocol_notify,
};

static void *
coi_devicetoken_protocol_recipients_get(struct mail_user *user, pool_t pool)
{
	return coi_devicetoken_recipients_get(user, pool);
}

static void
coi_devicetoken_protocol_notify(struct mail_user *user, const void *rcpts,
				const struct coi_webpush_message *msg)
{
	coi_devicetoken_notify_message(user, rcpts, msg);
}

/* Delta Chat's device tokens: Delta Chat registers its token only with
   servers that advertise XDELTAPUSH (and METADATA). */
static const struct coi_push_protocol coi_deltachat_protocol = {
	.name = "deltachat",
	.imap_capability = "XDELTAPUSH",
	.needs_message_content = FALSE,
	.init = coi_devicetoken_attributes_register,
	.deinit = coi_devicetoken_attributes_unregister,
	.user_enabled = coi_devicetoken_user_enabled,
	.recipients_get = coi_devicetoken_protocol_recipients_get,
	.notify_message = coi_devicetoken_protocol_notify,
};

const struct coi_push_protocol *const coi_push_protocols[] = {
	&coi_webpush_protocol,
	&coi_deltachat_protocol,
	NULL
};

void coi_push_protocols_init(void)
{
	const struct coi_push_protocol *const *protocol;

	for (protocol = coi_push_protocols; *protocol != NULL; protocol++)
		(*protocol)->init();
}

void coi_push_protocols_deinit(void)
{
	const struct coi_push_protocol *const *protocol;

	for (protocol = coi_push_protocols; *protocol != NULL; protocol++)
		(*protocol)->deinit();
}
