/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* METADATA values and names a client sends: the COI configuration
   entries, subscription ids, and the mailbox root. */

#include "fuzz-common.h"
#include "coi-config.h"
#include "coi-webpush-subscription.h"

static void fuzz_one(const unsigned char *data, size_t size,
		     pool_t pool ATTR_UNUSED)
{
	const char *value = fuzz_str(data, size), *error;
	enum coi_message_filter filter;
	bool enabled;

	if (coi_config_parse_enabled(value, &enabled) == 0 && !enabled)
		i_panic("enabled parsed as FALSE from a value");
	if (coi_config_parse_message_filter(value, &filter) == 0 &&
	    strcmp(coi_message_filter_to_str(filter), value) != 0)
		i_panic("message filter does not round-trip: %s", value);
	(void)coi_webpush_subscription_id_is_valid(value);
	(void)coi_mailbox_root_is_valid(value, '/', &error);
	(void)coi_mailbox_root_is_valid(value, '.', &error);
}
