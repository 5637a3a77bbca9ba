/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The imap side of COI: only what exists nowhere but in the imap process.
   METADATA entries and folder rules are storage-level and live in the core,
   so doveadm and delivery see the same behaviour. */

#include "imap-common.h"
#include "imap-client.h"
#include "coi-user.h"
#include "coi-push-protocol.h"
#include "imap-coi-idle.h"
#include "imap-coi-plugin.h"

const char *imap_coi_plugin_version = DOVECOT_ABI_VERSION;
const char *imap_coi_plugin_dependencies[] = { "coi", NULL };
const char imap_coi_plugin_binary_dependency[] = "imap";

static imap_client_created_func_t *next_hook_client_created;

static void imap_coi_client_created(struct client **client)
{
	const struct coi_push_protocol *const *protocol;

	/* The client exists only after authentication, so COI is never
	   advertised pre-auth. */
	if (coi_user_has_plugin((*client)->user))
		client_add_capability(*client, "COI");
	for (protocol = coi_push_protocols; *protocol != NULL; protocol++) {
		if ((*protocol)->user_enabled((*client)->user)) {
			client_add_capability(*client,
					      (*protocol)->imap_capability);
		}
	}

	if (next_hook_client_created != NULL)
		next_hook_client_created(client);
}

void imap_coi_plugin_init(struct module *module)
{
	imap_coi_idle_init(module);
	next_hook_client_created =
		imap_client_created_hook_set(imap_coi_client_created);
}

void imap_coi_plugin_deinit(void)
{
	imap_client_created_hook_set(next_hook_client_created);
	imap_coi_idle_deinit();
}
