#ifndef COI_STORAGE_H
#define COI_STORAGE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The storage rules of the COI folders (creating, deleting and renaming
   them) and enabling COI indirectly. */

struct mailbox;

void coi_storage_mailbox_allocated(struct mailbox *box);

#endif
