#ifndef COI_PUSH_SENDER_H
#define COI_PUSH_SENDER_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The coi-push service's HTTP sender, one for every push protocol: it
   applies the endpoint policy to the address actually connected to,
   retries with bounded backoff, limits the requests per user and per
   process, and never makes its caller wait. At exit the service calls
   coi_push_sender_flush() to give requests in flight a bounded time to
   finish. */

#include "coi-push-job.h"

struct coi_push_policy;

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

struct ssl_iostream_settings;
struct coi_push_sender_config {
	/* coi_push_allow; must live as long as the sender */
	const struct coi_push_policy *policy;
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
	/* 2.3 only (copied): on 2.4 lib-http looks up the ssl_client_*
	   settings itself, through event_parent */
	const struct ssl_iostream_settings *ssl_set;
	/* Parent of the sender's events. On 2.4 the settings (ssl_client_*)
	   are looked up through it, so it must descend from the master
	   service's event. */
	struct event *event_parent;
};
void coi_push_sender_init(const struct coi_push_sender_config *config);

/* Returns 0 if the request was queued (callback follows later), -1 if it
   was refused at once (policy, rate limit, queue full): error_r says why
   and the callback is not called. */
int coi_push_send(const struct coi_push_request_params *params,
		  coi_push_callback_t *callback, void *context,
		  const char **error_r);
#define coi_push_send(params, callback, context, error_r) \
	coi_push_send(params - \
		CALLBACK_TYPECHECK(callback, void (*)( \
			enum coi_push_result, unsigned int, const char *, \
			typeof(context))), \
		(coi_push_callback_t *)callback, context, error_r)

/* Waits at most exit_wait_msecs for the pending requests, then gives
   up on the rest (their callbacks get COI_PUSH_RESULT_FAILED). Safe to call
   more than once and when nothing was ever sent. */
void coi_push_sender_flush(void);

#endif
