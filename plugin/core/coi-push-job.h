#ifndef COI_PUSH_JOB_H
#define COI_PUSH_JOB_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* A push request handed from a mail process to the coi-push service, and
   the same request as the service keeps it in its spool. Protocol neutral:
   a URL, headers, a body, and what the service should do with the answer,
   so that any push protocol can use the spool (Delta Chat device tokens
   do now). One job is one line of tab-escaped name=value fields. */

#include "array.h"

#define COI_PUSH_SERVICE_SOCKET_NAME "coi-push"
/* Line of a job on the socket and in a spool file. */
/* The spool of the coi-push service (setting coi_push_spool_dir). */
#define COI_PUSH_SPOOL_DIR_DEFAULT "/var/spool/dovecot-coi"
#define COI_PUSH_JOB_LINE_MAX (16 * 1024)
#define COI_PUSH_JOB_BODY_MAX 8192
/* More would only keep a hopeless request alive. */
#define COI_PUSH_JOB_SEND_ATTEMPTS_MAX 10

struct coi_push_job {
	/* "deltachat" */
	const char *protocol;
	const char *username;
	const char *url;
	/* name, value, name, value, ..., NULL; NULL for none */
	const char *const *headers;
	const unsigned char *body;
	size_t body_size;
	/* Jobs with the same key are not sent more often than the service's
	   dedupe interval, and at most one of them waits. NULL = never. */
	const char *dedupe_key;
	/* On 410 Gone the service records this key as gone for the user
	   (coi_push_gone_*). NULL = nothing to record. */
	const char *gone_key;
	/* 404 Not Found counts as gone too (WebPush endpoints) */
	bool gone_on_404;
	/* WebPush: body (and fallback_body) are the plaintext, which the
	   service encrypts for these subscription keys (RFC 8291,
	   base64url) before each attempt. NULL = sent as they are. */
	const char *encrypt_p256dh, *encrypt_auth;
	/* Sent once instead of body after a 413 Payload Too Large. */
	const unsigned char *fallback_body;
	size_t fallback_body_size;
	/* If not 0, the sender makes up to this many attempts itself (backoff
	   on 5xx, Retry-After on 429) and the spool does not retry after
	   that; 0 = one attempt per spool attempt. */
	unsigned int send_attempts;
	/* The per-user rate (coi_push_user_rate) applies. */
	bool user_rate;
	/* Not written to the spool, so lost if the service restarts: for
	   pushes that are of use only soon and whose body should not be
	   stored (WebPush: the plaintext preview of the message). */
	bool memory_only;

	/* Kept by the service */
	time_t created;
	unsigned int attempts;
	time_t next_attempt;
};

/* The job as one line (without LF), a data-stack string. */
const char *coi_push_job_to_line(const struct coi_push_job *job);
/* Parses a line made by coi_push_job_to_line(); strings are allocated from
   pool. Unknown fields are ignored (newer writers). Returns -1 with an
   error for a line that is not a usable job. */
int coi_push_job_parse(pool_t pool, const char *line,
		       struct coi_push_job *job_r, const char **error_r);

/* Where the service records gone keys: <spool>/gone/<user hash>, one
   "<key>\t<unix time>" line per gone key. The file name is a hash so that
   the directory reveals no user names. */
#define COI_PUSH_SPOOL_GONE_DIR "gone"
const char *coi_push_gone_file_name(const char *username);
struct coi_push_gone {
	const char *key;
	/* when the endpoint answered 410 */
	time_t when;
};
ARRAY_DEFINE_TYPE(coi_push_gone, struct coi_push_gone);
/* Appends the entries of a gone file's content to gone_r (strings from
   pool). Broken lines are skipped. */
void coi_push_gone_parse(pool_t pool, const char *data,
			 ARRAY_TYPE(coi_push_gone) *gone_r);

#endif
