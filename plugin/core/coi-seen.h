#ifndef COI_SEEN_H
#define COI_SEEN_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The "seen" message filter: a chat in INBOX that gets \Seen moves to
   Chats. */

struct mailbox;
struct mail;

void coi_seen_mailbox_allocated(struct mailbox *box);
void coi_seen_mail_allocated(struct mail *mail);

#endif
