/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "sieve.h"
#include "sieve-extensions.h"
#include "sieve-coi-common.h"
#include "sieve-coi-plugin.h"

const char *sieve_coi_plugin_version = PIGEONHOLE_ABI_VERSION;

void sieve_coi_plugin_load(struct sieve_instance *svinst, void **context)
{
	/* Loaded (enabled) at once: an administrator who lists the plugin
	   in sieve_plugins wants scripts to be able to require it. It can
	   still be disabled with sieve_extensions = -vnd.dovecot.coi. */
	*context = (void *)sieve_extension_register(svinst,
						    &sieve_coi_extension, TRUE);
	e_debug(sieve_get_event(svinst), "Sieve %s extension loaded",
		SIEVE_COI_EXTENSION_NAME);
}

void sieve_coi_plugin_unload(struct sieve_instance *svinst ATTR_UNUSED,
			     void *context)
{
	const struct sieve_extension *ext = context;

	if (ext != NULL)
		sieve_extension_unregister(ext);
}

void sieve_coi_plugin_init(void)
{
}

void sieve_coi_plugin_deinit(void)
{
}
