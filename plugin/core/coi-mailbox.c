/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-mailbox.h"

int coi_mailbox_ensure(struct coi_user *cuser, const char *vname,
		       bool subscribe, const char **error_r)
{
	struct mail_user *user = cuser->root_ns->user;
	struct mail_namespace *ns;
	struct mailbox *box;
	enum mailbox_existence existence;
	enum mail_error error;
	const char *errstr;
	int ret;

	ns = mail_namespace_find(user->namespaces, vname);
	box = mailbox_alloc(ns->list, vname, 0);

	/* Looking up the (list-indexed) existence is cheaper than a create
	   attempt, and this runs for every delivered chat. */
	if (mailbox_exists(box, FALSE, &existence) == 0 &&
	    existence == MAILBOX_EXISTENCE_SELECT) {
		mailbox_free(&box);
		return 0;
	}
	/* Debian's 2.3.19 has no MAILBOX_FLAG_AUTO_CREATE: create and treat
	   "exists" as success. */
	cuser->internal_change++;
	ret = mailbox_create(box, NULL, FALSE);
	cuser->internal_change--;
	if (ret < 0) {
		errstr = mailbox_get_last_internal_error(box, &error);
		if (error == MAIL_ERROR_EXISTS)
			ret = 0;
		else {
			*error_r = t_strdup_printf(
				"Failed to create mailbox %s: %s",
				vname, errstr);
		}
	} else if (subscribe && mailbox_set_subscribed(box, TRUE) < 0) {
		*error_r = t_strdup_printf(
			"Failed to subscribe mailbox %s: %s", vname,
			mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	}
	mailbox_free(&box);
	return ret;
}

int coi_mailboxes_ensure_enabled(struct coi_user *cuser,
				 const char **error_r)
{
	if (coi_mailbox_ensure(cuser, cuser->chats_vname, TRUE, error_r) < 0 ||
	    coi_mailbox_ensure(cuser, cuser->contacts_vname, FALSE,
			       error_r) < 0)
		return -1;
	return 0;
}

int coi_user_ensure_chats(struct mail_user *user, const char **error_r)
{
	struct coi_user *cuser = coi_user_get_ready(user);

	i_assert(cuser != NULL);
	return coi_mailbox_ensure(cuser, cuser->chats_vname, TRUE, error_r);
}
