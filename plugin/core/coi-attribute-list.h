#ifndef COI_ATTRIBUTE_LIST_H
#define COI_ATTRIBUTE_LIST_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Listing mail attributes below a prefix with every attribute dict:
   GETMETADATA with DEPTH, and the core's own lists (WebPush
   subscriptions, device tokens). */

struct mailbox;

void coi_attribute_list_mailbox_allocated(struct mailbox *box);

#endif
