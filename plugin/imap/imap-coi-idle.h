#ifndef IMAP_COI_IDLE_H
#define IMAP_COI_IDLE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* IDLE and NOTIFY report a mailbox change at once instead of after
   lib-storage's 500 ms delay (coi_idle_fast_notify). */

struct module;

void imap_coi_idle_init(struct module *module);
void imap_coi_idle_deinit(void);

#endif
