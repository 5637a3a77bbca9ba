/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* doveadm commands for COI ("doveadm coi ..."). This module is a mail
   plugin (listed in mail_plugins of protocol doveadm, loaded from
   mail_plugin_dir after the core plugin it depends on), not a module of
   Dovecot's doveadm module directory: that way it is installed next to the
   other COI modules and loaded only where the administrator enables it.

   doveadm loads the configured mail plugins before it looks up the
   command, but initialises them only when a mail user is set up, which is
   too late to add commands. Module loading calls <name>_preinit() right
   after dlopen(), so the commands are registered there. */

#include "lib.h"
#include "module-dir.h"
#include "doveadm-coi-plugin.h"

const char *doveadm_coi_plugin_version = DOVECOT_ABI_VERSION;
const char *doveadm_coi_plugin_dependencies[] = { "coi", NULL };
const char doveadm_coi_plugin_binary_dependency[] = "doveadm";

void doveadm_coi_plugin_preinit(void)
{
	doveadm_coi_blocklist_register();
	doveadm_coi_devicetoken_register();
}

void doveadm_coi_plugin_init(struct module *module ATTR_UNUSED)
{
}

void doveadm_coi_plugin_deinit(void)
{
}
