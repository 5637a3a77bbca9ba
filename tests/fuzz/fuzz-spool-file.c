/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The content of a coi-push spool file, as the service loads it at
   start: anything that parses has its fields in range. */

#include "fuzz-common.h"
#include "coi-push-job.h"

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool)
{
	struct coi_push_job job;
	const char *error;

	if (coi_push_job_parse_file(pool, data, size, &job, &error) < 0)
		return;
	if (job.attempts > COI_PUSH_JOB_ATTEMPTS_MAX ||
	    job.send_attempts > COI_PUSH_JOB_SEND_ATTEMPTS_MAX ||
	    job.body_size > COI_PUSH_JOB_BODY_MAX)
		i_panic("spool file parsed with a field out of range");
}
