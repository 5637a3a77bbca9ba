/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "mail-storage.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-message.h"
#include "coi-blocklist.h"
#include "coi-delivery.h"

static enum coi_delivery_kind
coi_delivery_decide(struct mail_user *user, struct mail *mail,
		    struct event *event, const char **default_mailbox_r)
{
	struct coi_config config;
	const char *error;
	int ret;

	/* The configuration is cached per process (one stat() per read), and
	   blocking applies to every message of a COI user, chat or not. */
	if (coi_config_read(user, &config, &error) < 0) {
		coi_user_attribute_error(user, event,
			"coi: %s - delivering without COI", error);
		return COI_DELIVERY_PLAIN;
	}
	if (!config.enabled)
		return COI_DELIVERY_PLAIN;

	ret = coi_blocklist_mail_is_blocked(user, mail, &error);
	if (ret < 0) {
		e_error(event, "coi: Cannot check the blocked contacts: "
			"%s - delivering without blocking", error);
	} else if (ret > 0) {
		return COI_DELIVERY_BLOCKED;
	}

	if ((ret = coi_mail_is_chat(mail, &error)) < 0) {
		e_error(event, "coi: %s - delivering without COI", error);
		return COI_DELIVERY_PLAIN;
	}
	if (ret == 0)
		return COI_DELIVERY_PLAIN;
	/* A missing or broken Chats folder is handled when the delivery
	   opens it: checking here would cost a refresh of the mailbox list
	   index for every chat. */
	if (config.message_filter == COI_MESSAGE_FILTER_ACTIVE)
		*default_mailbox_r = coi_user_chats_vname(user);
	return COI_DELIVERY_CHAT;
}

enum coi_delivery_kind
coi_delivery_begin(struct mail_user *user, struct mail *mail,
		   struct event *event, const char **default_mailbox_r)
{
	struct coi_user *cuser = coi_user_get_ready(user);
	enum coi_delivery_kind kind;

	*default_mailbox_r = NULL;
	if (cuser == NULL)
		return COI_DELIVERY_PLAIN;
	/* what the previous delivery decided no longer applies, even if
	   deciding fails */
	cuser->delivery_kind = COI_DELIVERY_PLAIN;
	T_BEGIN {
		kind = coi_delivery_decide(user, mail, event,
					   default_mailbox_r);
	} T_END;
	cuser->delivery_kind = kind;
	return kind;
}

enum coi_delivery_kind coi_delivery_get(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	return cuser == NULL ? COI_DELIVERY_PLAIN : cuser->delivery_kind;
}
