/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "sieve.h"
#include "sieve-extensions.h"
#include "sieve-coi-common.h"
#include "sieve-coi-plugin.h"

const char *sieve_coi_plugin_version = PIGEONHOLE_ABI_VERSION;

static int sieve_coi_plugin_register(struct sieve_instance *svinst,
				     void **context)
{
	const struct sieve_extension *ext;
	int ret;

	/* Loaded (enabled) at once: an administrator who lists the plugin
	   in sieve_plugins wants scripts to be able to require it. On
	   Dovecot 2.3 it can still be disabled with
	   sieve_extensions = -vnd.dovecot.coi; 2.4's sieve_extensions
	   only enables extensions. */
	ret = sieve_coi_extension_register(svinst, &sieve_coi_extension,
					   TRUE, &ext);
	/* NULL on failure: then there is nothing to unregister */
	*context = (void *)ext;
	if (ret < 0)
		return -1;
	e_debug(sieve_get_event(svinst), "Sieve %s extension loaded",
		SIEVE_COI_EXTENSION_NAME);
	return 0;
}

#if COI_DOVECOT_24
int sieve_coi_plugin_load(struct sieve_instance *svinst, void **context)
{
	return sieve_coi_plugin_register(svinst, context);
}
#else
void sieve_coi_plugin_load(struct sieve_instance *svinst, void **context)
{
	/* Pigeonhole 0.5 cannot fail the instance here: it goes on
	   without the extension (the context stays NULL). */
	(void)sieve_coi_plugin_register(svinst, context);
}
#endif

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
