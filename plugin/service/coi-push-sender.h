#ifndef COI_PUSH_SENDER_H
#define COI_PUSH_SENDER_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* One HTTP sender for every push protocol: it applies the endpoint policy
   to the address actually connected to, retries with bounded backoff,
   limits the requests per user and per process, and never makes its
   caller wait. Requests run in the process's ioloop after the caller has
   returned (an LMTP reply is not held back by them); at process exit the
   process plugin calls coi_push_sender_flush() to give them a bounded
   time to finish. */

#include "coi-push-job.h"

struct mail_user;

enum coi_push_result {
	/* 2xx */
	COI_PUSH_RESULT_DELIVERED,
	/* 404 or 410: the endpoint is gone for good */
	COI_PUSH_RESULT_GONE,
	/* 413 */
	COI_PUSH_RESULT_TOO_LARGE,
	/* refused by policy, or a 4xx that retrying cannot fix */
	COI_PUSH_RESULT_REJECTED,
	/* retries exhausted, or the process is exiting */
	COI_PUSH_RESULT_FAILED,
};

/* Called exactly once per accepted request, never from within
   coi_push_send(). status is the HTTP status, 0 without a response. */
typedef void coi_push_callback_t(enum coi_push_result result,
				 unsigned int status, const char *reason,
				 void *context);

struct coi_push_request_params {
	const char *url;
	/* name, value, name, value, ..., NULL */
	const char *const *headers;
	const void *body;
	size_t body_size;
	/* For logs and the per-user rate limit. */
	const char *username;
	/* Label for log lines, e.g. "webpush subscription 12345abcde". */
	const char *log_label;
	/* Attempts for this request; 0 = the sender's max_attempts. */
	unsigned int max_attempts;
	/* Which per-user rate limit applies. */
	enum coi_push_job_rate rate;
};

/* For a process without mail users (the coi-push service): the sender
   with explicit settings. In mail processes the sender is set up from the
   first user that sends. */
struct ssl_iostream_settings;
struct coi_push_sender_config {
	/* coi_push_allow */
	const char *allow;
	unsigned int timeout_msecs;
	unsigned int max_attempts;
	unsigned int retry_max_secs;
	unsigned int exit_wait_msecs;
	unsigned int max_pending;
	/* per user and minute, 0 = unlimited: pushes of delivered
	   messages (coi_push_user_rate) and WebPush validations
	   (coi_webpush_validation_rate) */
	unsigned int user_rate;
	unsigned int validation_rate;
	/* where the dns-client socket is */
	const char *base_dir;
	bool debug;
	const struct ssl_iostream_settings *ssl_set;
};
void coi_push_sender_config_defaults(struct coi_push_sender_config *config_r);
void coi_push_sender_init(const struct coi_push_sender_config *config);

/* A plugin setting of the user as a time in milliseconds ("10 secs") or
   a number; unset gives the default, an invalid value logs an error and
   gives the default. */
unsigned int
coi_push_setting_msecs(struct mail_user *user, const char *name,
		       unsigned int default_msecs);
unsigned int
coi_push_setting_uint(struct mail_user *user, const char *name,
		      unsigned int default_value);

/* The URL check done before anything is accepted from a client (the
   address check happens again when connecting). Returns -1 with a
   client-safe error. */
int coi_push_check_url(struct mail_user *user, const char *url,
		       const char **error_r);

/* Returns 0 if the request was queued (callback follows later), -1 if it
   was refused at once (policy, rate limit, queue full): error_r says why
   and the callback is not called. user may be NULL for a follow-up request
   (e.g. from a callback, after the user is gone): the settings are the
   process's, taken from the first user that sent. */
int coi_push_send(struct mail_user *user,
		  const struct coi_push_request_params *params,
		  coi_push_callback_t *callback, void *context,
		  const char **error_r);
#define coi_push_send(user, params, callback, context, error_r) \
	coi_push_send(user, params - \
		CALLBACK_TYPECHECK(callback, void (*)( \
			enum coi_push_result, unsigned int, const char *, \
			typeof(context))), \
		(coi_push_callback_t *)callback, context, error_r)

/* Runs run(context) from the ioloop soon, after the current callback (for
   LMTP: after the reply went out), or at the latest in
   coi_push_sender_flush(). For the expensive part of preparing a push
   (encryption, signing), so that it does not delay the caller. */
typedef void coi_push_deferred_callback_t(void *context);
void coi_push_defer(struct mail_user *user,
		    coi_push_deferred_callback_t *run, void *context);
#define coi_push_defer(user, run, context) \
	coi_push_defer(user, (coi_push_deferred_callback_t *)run, \
		       TRUE ? context : \
		       CALLBACK_TYPECHECK(run, void (*)(typeof(context))))

/* Number of requests not finished yet (in this process). */
unsigned int coi_push_sender_pending_count(void);

/* Waits at most coi_push_exit_wait for the pending requests, then gives
   up on the rest (their callbacks get COI_PUSH_RESULT_FAILED). Safe to call
   more than once and when nothing was ever sent. */
void coi_push_sender_flush(void);

#endif
