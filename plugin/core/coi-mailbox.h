#ifndef COI_MAILBOX_H
#define COI_MAILBOX_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Creating the COI folders. */

struct mail_user;
struct coi_user;

/* Creates the folder if it does not exist (subscribing it if asked and it
   was created). Existing folders are success. */
int coi_mailbox_ensure(struct coi_user *cuser, const char *vname,
		       bool subscribe, const char **error_r);
/* The folders that enabling COI promises: Chats (subscribed), Contacts. */
int coi_mailboxes_ensure_enabled(struct coi_user *cuser,
				 const char **error_r);
/* Creates <root>/Chats (subscribed) if it does not exist. */
int coi_user_ensure_chats(struct mail_user *user, const char **error_r);

#endif
