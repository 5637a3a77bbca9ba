/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* WebPush subscription JSON: as a client sends it (SETMETADATA) and as
   it is stored; a parsed request stores and reads back. */

#include "fuzz-common.h"
#include "coi-webpush-subscription.h"

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool)
{
	struct coi_webpush_subscription sub, stored;
	const char *error, *json;

	(void)coi_webpush_subscription_parse_stored_data(pool, data, size,
							 &stored, &error);
	if (coi_webpush_subscription_parse_request_data(pool, data, size,
							&sub, &error) < 0)
		return;
	sub.created = 1700000000;
	json = coi_webpush_subscription_to_json(&sub);
	if (strlen(json) > COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN)
		i_panic("stored form too long");
	if (coi_webpush_subscription_parse_stored(pool, json, &stored,
						  &error) < 0)
		i_panic("stored form does not parse: %s", error);
}
