#ifndef COI_CONTACTS_H
#define COI_CONTACTS_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The contact messages of <root>/Contacts (coi-client-spec.md "Contact
   Storage Messages"), read and written in one place: the delivery
   index (coi-blocklist-mail.c) reads which contacts are blocked, and
   doveadm's block/unblock change them the way a COI client does: APPEND
   of the new version, EXPUNGE of the old one, so clients see the change
   and the index notices it by itself. */

#include "mail-error.h"
#include "coi-blocklist.h"

struct mail;
struct mail_user;
struct mailbox;
struct mailbox_transaction_context;

/* Returns 1 if the contact message mail blocks its contact (it has a
   COI-Blocked header) and appends its valid COI-From-Hash hashes to
   hashes (within the limits of coi-blocklist.h); 0 if it blocks nothing;
   -1 if it cannot be read (expunged messages are 0). */
int coi_contacts_mail_get_blocked_hashes(struct mail *mail,
				ARRAY_TYPE(coi_blocklist_hash) *hashes,
				const char **error_r);

/* Opens (and syncs) the user's Contacts folder, creating it first if
   create. Returns 1 when open, 0 if it does not exist (only without
   create), -1 on error: *error_code_r is NOTPOSSIBLE for a user without
   the coi plugin. */
int coi_contacts_open(struct mail_user *user, bool create,
		      struct mailbox **box_r, enum mail_error *error_code_r,
		      const char **error_r);

/* Calls callback for every contact message of t's mailbox, with its valid
   hashes (blocked or not) and whether it blocks. A callback returning -1
   stops the iteration (error_r is then the callback's business). */
typedef int coi_contacts_callback_t(struct mail *mail, bool blocked,
				    const ARRAY_TYPE(coi_blocklist_hash) *hashes,
				    void *context);
int coi_contacts_iter(struct mailbox_transaction_context *t,
		      coi_contacts_callback_t *callback, void *context,
		      const char **error_r);
#define coi_contacts_iter(t, callback, context, error_r) \
	coi_contacts_iter(t, (coi_contacts_callback_t *)callback, \
		TRUE ? context : CALLBACK_TYPECHECK(callback, \
			int (*)(struct mail *, bool, \
				const ARRAY_TYPE(coi_blocklist_hash) *, \
				typeof(context))), error_r)

/* An addr-spec as a client hashes it: local@domain, no display name, no
   angle brackets, no whitespace or control characters. */
bool coi_contacts_address_is_valid(const char *address);

/* Blocks or unblocks address (lowercase, valid) in the user's contacts:
   every contact message with its hash is rewritten with or without
   COI-Blocked, and blocking an address without a contact adds one.
   *changed_r is how many messages were saved. Returns 1, 0 if there is
   no Contacts folder (unblocking only: nothing to do), -1 on error.
   Nothing is lost on failure: the new versions are committed before the
   old ones are expunged. */
int coi_contacts_set_blocked(struct mail_user *user, const char *address,
			     bool block, unsigned int *changed_r,
			     enum mail_error *error_code_r,
			     const char **error_r);

#endif
