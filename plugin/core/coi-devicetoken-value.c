/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The pure part of device tokens: validation, ids, the stored form. */

#include "lib.h"
#include "str.h"
#include "strnum.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "coi-devicetoken.h"

/* 128 bits of SHA3-256: ids of different tokens never collide in practice */
#define COI_DEVICETOKEN_ID_BYTES 16

bool coi_devicetoken_is_valid(const char *token)
{
	const char *p;

	if (token[0] == '\0')
		return FALSE;
	for (p = token; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			return FALSE;
	}
	return p - token <= COI_DEVICETOKEN_MAX_LEN;
}

const char *coi_devicetoken_id(const char *token)
{
	buffer_t *digest = t_hash_str(hash_method_lookup("sha3-256"), token);

	return binary_to_hex(digest->data, COI_DEVICETOKEN_ID_BYTES);
}

const char *coi_devicetoken_stored_value(const struct coi_devicetoken *dt)
{
	return t_strdup_printf("%lld.%06u %s", (long long)dt->registered,
			       dt->registered_usecs, dt->token);
}

int coi_devicetoken_stored_parse(const char *value,
				 struct coi_devicetoken *dt_r)
{
	const char *p = strchr(value, ' '), *dot;
	uintmax_t secs;
	unsigned int usecs = 0;

	if (p == NULL)
		return -1;
	dot = memchr(value, '.', p - value);
	if (str_to_uintmax(t_strdup_until(value, dot != NULL ? dot : p),
			   &secs) < 0 || secs > (uintmax_t)INT32_MAX * 4)
		return -1;
	if (dot != NULL &&
	    (str_to_uint(t_strdup_until(dot + 1, p), &usecs) < 0 ||
	     usecs >= 1000000))
		return -1;
	if (!coi_devicetoken_is_valid(p + 1))
		return -1;
	dt_r->registered = (time_t)secs;
	dt_r->registered_usecs = usecs;
	dt_r->token = p + 1;
	return 0;
}
