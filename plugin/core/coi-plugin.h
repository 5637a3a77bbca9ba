#ifndef COI_PLUGIN_H
#define COI_PLUGIN_H

/* The COI core plugin (lib20_coi_plugin.so). Everything COI knows about a
   user lives in the core, with no idea which process it runs in; the imap,
   delivery and doveadm plugins only connect Dovecot's hooks to it. The
   core's interfaces are its own headers: coi-user.h (the user context and
   settings), coi-attribute.h (the configuration), coi-mailbox.h (folders),
   coi-blocklist.h, coi-webpush.h, coi-devicetoken.h. */

struct module;

extern const char *coi_plugin_version;

void coi_plugin_init(struct module *module);
void coi_plugin_deinit(void);

#endif
