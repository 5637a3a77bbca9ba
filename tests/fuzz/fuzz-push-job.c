/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Job lines on the coi-push socket: whatever parses is valid, and what the
   service makes of it (line, headers) parses the same again. */

#include "fuzz-common.h"
#include "coi-push-job.h"

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool)
{
	struct coi_push_job job, again;
	const char *const *headers, *line, *error;

	if (coi_push_job_parse(pool, fuzz_str(data, size), &job, &error) < 0)
		return;
	for (headers = coi_push_job_http_headers(&job); *headers != NULL;
	     headers++) {
		if (strpbrk(*headers, "\r\n") != NULL)
			i_panic("header with CR or LF: %s", *headers);
	}
	line = coi_push_job_to_line(&job);
	if (coi_push_job_parse(pool, line, &again, &error) < 0)
		i_panic("job line does not parse again: %s", error);
	if (strcmp(coi_push_job_to_line(&again), line) != 0)
		i_panic("job line changed when parsed again");
}
