#ifndef COI_CONFIG_CACHE_H
#define COI_CONFIG_CACHE_H

/* A small process-wide cache of facts read from users' attribute dicts (the
   COI configuration; whether the user has WebPush subscriptions or Delta
   Chat device tokens), for
   attribute dicts of the "file" driver only.

   Dovecot's file dict never changes its file in place: every change writes
   a new file and renames it over the old one. So a configuration read from
   the attributes is current for exactly as long as the dict path still
   names the same, unchanged file. Each lookup compares the file at the path
   (stat(): device, inode, size, mtime, ctime) with the file the cached copy
   was read from. The cache keeps that file open, so its inode number cannot
   be reused by a later version while it is compared against; this is the
   check the file dict itself uses to decide whether to read the file
   again. A change through any session or process (IMAP SETMETADATA,
   doveadm, a folder operation that enables or disables COI) is therefore
   seen by the very next lookup, as without the cache. All facts of a user
   are forgotten together when the file changes; a fact not read yet while
   the file is unchanged is read and added without forgetting the others
   (a change during that read makes the next lookup see a new file). */

#include "coi-config.h"

/* Number of users remembered per process (least recently used go). */
#define COI_CONFIG_CACHE_SIZE 8

struct coi_config_cache_entry;

/* A file dict's path, with a leading "~/" expanded to home: NULL for
   relative paths and for "~/" without a home, which are never cached. */
const char *coi_config_cache_file_path(const char *path, const char *home);
/* The file path of a "file:" dict URI (as in mail_attribute_dict), with a
   leading "~/" expanded to home. NULL for any other dict driver, for
   relative paths and for "~/" without a home: those are never cached. */
const char *coi_config_cache_dict_path(const char *dict_uri,
				       const char *home);

/* Returns 1 and the cached configuration if it is current. Returns 0 if it
   must be read: *entry_r then holds the state of the file as it is now (to
   be checked before the read), and coi_config_cache_update() stores what
   the read found. Returns -1 if the file cannot be checked (for example
   stat() fails); then nothing is cached. */
int coi_config_cache_lookup(const char *username, const char *path,
			    struct coi_config *config_r,
			    struct coi_config_cache_entry **entry_r);
/* Stores the configuration read after coi_config_cache_lookup() returned 0
   with this entry. */
void coi_config_cache_update(struct coi_config_cache_entry *entry,
			     const struct coi_config *config);
/* The same for the user's validated WebPush subscriptions, which every
   delivery asks for: a string the caller made of them ("" for none). A
   validated subscription does not expire, so the list is current while
   the file is. */
int coi_config_cache_lookup_webpush(const char *username, const char *path,
				    const char **subscriptions_r,
				    struct coi_config_cache_entry **entry_r);
void coi_config_cache_update_webpush(struct coi_config_cache_entry *entry,
				     const char *subscriptions);
/* The same for "the user has at least one stored Delta Chat device
   token". */
int coi_config_cache_lookup_devicetokens(const char *username,
					 const char *path, bool *has_tokens_r,
					 struct coi_config_cache_entry **entry_r);
void coi_config_cache_update_devicetokens(struct coi_config_cache_entry *entry,
					  bool has_tokens);
/* Forgets everything (closes the files held open). */
void coi_config_cache_clear(void);

#endif
