#ifndef COI_PUSH_SUBMIT_H
#define COI_PUSH_SUBMIT_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The mail processes' side of the coi-push service: handing jobs to it
   and reading what it recorded as gone. */

#include "coi-push-job.h"

struct mail_user;

/* Writes lines (jobs made by coi_push_job_to_line(), each ending in LF)
   to the service's socket: one connect and one write, no reply awaited,
   so the caller never waits for a push service. Returns -1 with an error
   for the log if the service cannot be reached. */
int coi_push_submit(struct mail_user *user, const string_t *lines,
		    const char **error_r);

/* Appends what the service recorded as gone for the user (404/410
   answers) to gone_r, strings from pool. One open() when there is
   nothing. */
void coi_push_gone_read(struct mail_user *user, pool_t pool,
			ARRAY_TYPE(coi_push_gone) *gone_r);

#endif
