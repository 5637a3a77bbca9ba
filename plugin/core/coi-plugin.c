/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The top of the core: connects its parts to Dovecot's hooks and
   registries. Nothing of the core calls into this file. */

#include "lib.h"
#include "mail-storage-hooks.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-attribute-list.h"
#include "coi-storage.h"
#include "coi-seen.h"
#include "coi-config-cache.h"
#include "coi-blocklist.h"
#include "coi-webpush.h"
#include "coi-push-protocol.h"
#include "coi-plugin.h"

const char *coi_plugin_version = DOVECOT_ABI_VERSION;

static struct mail_storage_hooks coi_mail_storage_hooks = {
	.mail_user_created = coi_user_created,
	.mail_namespaces_created = coi_user_namespaces_created,
	.mailbox_allocated = coi_storage_mailbox_allocated,
};

/* Separate hooks: lib-storage fixes up the vfunc chain after each hook
   call, so one hook must not wrap the same object twice. */
static struct mail_storage_hooks coi_seen_mail_storage_hooks = {
	.mailbox_allocated = coi_seen_mailbox_allocated,
	.mail_allocated = coi_seen_mail_allocated,
};
static struct mail_storage_hooks coi_webpush_mail_storage_hooks = {
	.mailbox_allocated = coi_webpush_mailbox_allocated,
};
static struct mail_storage_hooks coi_attribute_list_mail_storage_hooks = {
	.mailbox_allocated = coi_attribute_list_mailbox_allocated,
};

void coi_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &coi_mail_storage_hooks);
	mail_storage_hooks_add(module, &coi_seen_mail_storage_hooks);
	mail_storage_hooks_add(module, &coi_webpush_mail_storage_hooks);
	mail_storage_hooks_add(module, &coi_attribute_list_mail_storage_hooks);
	coi_attributes_register();
	coi_push_protocols_init();
}

void coi_plugin_deinit(void)
{
	coi_push_protocols_deinit();
	coi_attributes_unregister();
	coi_config_cache_clear();
	coi_blocklist_cache_clear();
#if !COI_DOVECOT_24
	coi_settings_deinit();
#endif
	mail_storage_hooks_remove(&coi_attribute_list_mail_storage_hooks);
	mail_storage_hooks_remove(&coi_webpush_mail_storage_hooks);
	mail_storage_hooks_remove(&coi_seen_mail_storage_hooks);
	mail_storage_hooks_remove(&coi_mail_storage_hooks);
}
