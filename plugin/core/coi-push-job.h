#ifndef COI_PUSH_JOB_H
#define COI_PUSH_JOB_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* A push request handed from a mail process to the coi-push service, and
   the same request as the service keeps it in its spool. One job is one
   line of tab-escaped name=value fields. The socket and the spool are
   outside input to the service: the fields are typed, every one is
   validated when a line is parsed (coi_push_job_parse()), and the service
   builds every HTTP header itself from them (coi_push_job_http_headers()),
   so that no job can add a header, a line break or a second request. */

#include "array.h"

#define COI_PUSH_SERVICE_SOCKET_NAME "coi-push"
/* Line of a job on the socket and in a spool file. */
#define COI_PUSH_JOB_LINE_MAX (16 * 1024)
#define COI_PUSH_JOB_BODY_MAX 8192
/* More would only keep a hopeless request alive. */
#define COI_PUSH_JOB_SEND_ATTEMPTS_MAX 10
/* Spool attempts of a job; the retry delays end long before. */
#define COI_PUSH_JOB_ATTEMPTS_MAX 100
#define COI_PUSH_JOB_USERNAME_MAX_LEN 255
#define COI_PUSH_JOB_URL_MAX_LEN 2048
/* dedupe and gone keys */
#define COI_PUSH_JOB_KEY_MAX_LEN 200
/* RFC 8030 TTL: longer than push services keep messages anyway */
#define COI_PUSH_JOB_TTL_MAX_SECS (28 * 24 * 60 * 60)
#define COI_PUSH_JOB_VAPID_MAX_LEN 1024

#define COI_PUSH_JOB_PROTOCOL_DELTACHAT "deltachat"
#define COI_PUSH_JOB_PROTOCOL_WEBPUSH "webpush"

enum coi_push_job_rate {
	/* not limited per user */
	COI_PUSH_JOB_RATE_NONE = 0,
	/* coi_push_user_rate: the pushes of delivered messages */
	COI_PUSH_JOB_RATE_USER,
	/* coi_webpush_validation_rate: pushes a client asks for by
	   (re)subscribing, to endpoints of its choice */
	COI_PUSH_JOB_RATE_VALIDATION,
};

struct coi_push_job {
	/* COI_PUSH_JOB_PROTOCOL_* */
	const char *protocol;
	const char *username;
	/* an absolute http or https URL */
	const char *url;
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
	/* WebPush (RFC 8030, 8292): the request's TTL, Urgency ("very-low",
	   "low", "normal", "high") and VAPID Authorization value ("vapid
	   t=<JWT>, k=<key>"); validation adds an empty WebPush-Validation
	   header (webpush-spec.md). */
	unsigned int ttl_secs;
	const char *urgency;
	const char *vapid_authorization;
	bool validation;
	enum coi_push_job_rate rate;
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
/* Parses and validates a line made by coi_push_job_to_line(); strings are
   allocated from pool. Unknown fields are ignored (newer writers). Returns
   -1 with an error for a line that is not a valid job. */
int coi_push_job_parse(pool_t pool, const char *line,
		       struct coi_push_job *job_r, const char **error_r);
/* The same for the content of a spool file: one line, LF at its end
   optional, no NUL. */
int coi_push_job_parse_file(pool_t pool, const unsigned char *data,
			    size_t size, struct coi_push_job *job_r,
			    const char **error_r);
/* The HTTP headers of the job's request, built from its typed fields:
   name, value, name, value, ..., NULL (data stack). */
const char *const *coi_push_job_http_headers(const struct coi_push_job *job);
/* A dedupe or gone key: 1..COI_PUSH_JOB_KEY_MAX_LEN characters of
   A-Z a-z 0-9 and "._-/:=+". */
bool coi_push_job_key_is_valid(const char *key);

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
   pool). Broken lines, invalid keys and records dated after now (a clock
   gone wrong would make a key gone for ever) are skipped. */
void coi_push_gone_parse(pool_t pool, const char *data, time_t now,
			 ARRAY_TYPE(coi_push_gone) *gone_r);

#endif
