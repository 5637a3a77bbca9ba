#ifndef COI_ATTRIBUTE_H
#define COI_ATTRIBUTE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The COI configuration in IMAP METADATA: the entries clients set, and
   reading the configuration back for delivery. */

#include "coi-config.h"

struct mail_user;
struct mailbox;
struct mail_attribute_value;

void coi_attributes_register(void);
void coi_attributes_unregister(void);

/* Reads a client-supplied METADATA value (a string or, for literals, a
   stream) into *str_r, NULL for NIL. Returns 1 when read, 0 when it cannot
   be valid (longer than max_len octets, or contains NUL), -1 on a read
   error (set as the storage error). */
int coi_attribute_value_read(struct mailbox *box,
			     const struct mail_attribute_value *value,
			     size_t max_len, const char **str_r);

/* The user's attribute dict file, if facts read from it can be cached
   (see coi-config-cache.h), else NULL. */
const char *coi_user_attribute_dict_path(struct mail_user *user);

/* Reads the user's current COI configuration from the mail attributes.
   Every call sees the newest change of any session: with a "file:"
   attribute dict a copy is kept per process, but only used while the
   dict file is unchanged (coi-config-cache.h). */
int coi_config_read(struct mail_user *user, struct coi_config *config_r,
		    const char **error_r);
/* Sets or removes the "enabled" entry, as SETMETADATA would. */
int coi_config_set_enabled(struct mail_user *user, bool enabled,
			   const char **error_r);

#endif
