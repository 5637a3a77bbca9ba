#ifndef COI_PLUGIN_H
#define COI_PLUGIN_H

/* The COI core plugin (lib20_coi_plugin.so). Everything COI knows about a
   user lives here, with no idea which process it runs in; the imap,
   delivery and doveadm plugins only connect Dovecot's hooks to it. */

#include "coi-config.h"

struct mail_user;
struct mailbox;

extern const char *coi_plugin_version;

void coi_plugin_init(struct module *module);
void coi_plugin_deinit(void);

/* TRUE if the user has the coi plugin in mail_plugins. Process-global hooks
   (capabilities, internal attributes) use this to give every other user
   plain Dovecot behaviour. */
bool coi_user_has_plugin(struct mail_user *user);
/* TRUE if the user has the plugin and its namespaces exist, so that the
   mailbox root and folder names below are known. */
bool coi_user_is_ready(struct mail_user *user);

/* The user's COI mailbox root and the full names of its folders. */
const char *coi_user_mailbox_root(struct mail_user *user);
const char *coi_user_chats_vname(struct mail_user *user);
const char *coi_user_contacts_vname(struct mail_user *user);

/* Creates <root>/Chats (subscribed) if it does not exist. */
int coi_user_ensure_chats(struct mail_user *user, const char **error_r);

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
