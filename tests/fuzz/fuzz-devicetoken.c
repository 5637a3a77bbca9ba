/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Delta Chat device tokens (SETMETADATA /private/devicetoken) and their
   stored form. */

#include "fuzz-common.h"
#include "coi-devicetoken.h"

static void fuzz_one(const unsigned char *data, size_t size,
		     pool_t pool ATTR_UNUSED)
{
	const char *value = fuzz_str(data, size);
	struct coi_devicetoken dt, again;

	if (coi_devicetoken_is_valid(value)) {
		i_zero(&dt);
		dt.token = value;
		dt.registered = 1700000000;
		(void)coi_devicetoken_id(value);
		if (coi_devicetoken_stored_parse(
			coi_devicetoken_stored_value(&dt), &again) < 0 ||
		    strcmp(again.token, value) != 0)
			i_panic("stored token does not parse back");
	}
	if (coi_devicetoken_stored_parse(value, &dt) == 0 &&
	    !coi_devicetoken_is_valid(dt.token))
		i_panic("stored form with an invalid token");
}
