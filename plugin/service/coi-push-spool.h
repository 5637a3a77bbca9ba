#ifndef COI_PUSH_SPOOL_H
#define COI_PUSH_SPOOL_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The coi-push service's spool: every accepted job is a file in
   <spool>/jobs until it is done or given up, so that pending pushes
   survive a restart. Jobs are sent through the service's push sender (one
   endpoint policy for all protocols) and retried after growing delays. */

#include "array-decl.h"

struct coi_push_job;

struct coi_push_spool_settings {
	const char *dir;
	/* delays before the 2nd, 3rd, ... attempt */
	ARRAY_TYPE(uint) retry_delays_secs;
	/* jobs with the same dedupe key are sent at most this often */
	unsigned int dedupe_interval_secs;
	unsigned int max_jobs;
	bool debug;
};

/* Creates the directories and loads the jobs left from the last run. */
void coi_push_spool_init(const struct coi_push_spool_settings *set);
void coi_push_spool_deinit(void);

/* Takes a new job (strings are copied). */
void coi_push_spool_add(const struct coi_push_job *job);

#endif
