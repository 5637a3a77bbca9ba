/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Gone records, read by the mail processes from the service's spool. */

#include "fuzz-common.h"
#include "array.h"
#include "coi-push-job.h"

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool)
{
	ARRAY_TYPE(coi_push_gone) gone;
	const struct coi_push_gone *g;
	const time_t now = 1700000000;

	t_array_init(&gone, 8);
	coi_push_gone_parse(pool, fuzz_str(data, size), now, &gone);
	array_foreach(&gone, g) {
		if (!coi_push_job_key_is_valid(g->key) || g->when > now + 60)
			i_panic("gone record accepted: %s", g->key);
	}
}
