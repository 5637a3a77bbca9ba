/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "str.h"
#include "str-sanitize.h"
#include "strescape.h"
#include "base64.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "http-url.h"
#include "coi-push-job.h"

#define COI_PUSH_GONE_NAME_HASH_BYTES 16
/* base64url of a P-256 point is 87 characters, of the auth secret 22;
   padding and room for a longer encoding by the client */
#define COI_PUSH_JOB_ENCRYPT_KEY_MAX_LEN 128
/* A gone record may be this much ahead of the reader's clock. */
#define COI_PUSH_GONE_CLOCK_SKEW_SECS 60

static const char *const coi_push_job_urgencies[] = {
	"very-low", "low", "normal", "high", NULL
};

static void
coi_push_job_field(string_t *str, const char *name, const char *value)
{
	if (value == NULL)
		return;
	if (str_len(str) > 0)
		str_append_c(str, '\t');
	str_append(str, name);
	str_append_c(str, '=');
	str_append_tabescaped(str, value);
}

static void
coi_push_job_field_body(string_t *str, const char *name,
			const unsigned char *data, size_t size)
{
	string_t *encoded = t_str_new(MAX_BASE64_ENCODED_SIZE(size) + 1);

	base64_encode(data, size, encoded);
	coi_push_job_field(str, name, str_c(encoded));
}

static const char *coi_push_job_rate_name(enum coi_push_job_rate rate)
{
	switch (rate) {
	case COI_PUSH_JOB_RATE_NONE:
		return NULL;
	case COI_PUSH_JOB_RATE_USER:
		return "1";
	case COI_PUSH_JOB_RATE_VALIDATION:
		return "validation";
	}
	i_unreached();
}

const char *coi_push_job_to_line(const struct coi_push_job *job)
{
	string_t *str = t_str_new(256 + MAX_BASE64_ENCODED_SIZE(
		job->body_size + job->fallback_body_size));

	coi_push_job_field(str, "protocol", job->protocol);
	coi_push_job_field(str, "user", job->username);
	coi_push_job_field(str, "url", job->url);
	coi_push_job_field_body(str, "body", job->body, job->body_size);
	if (job->fallback_body != NULL) {
		coi_push_job_field_body(str, "fallback", job->fallback_body,
					job->fallback_body_size);
	}
	coi_push_job_field(str, "dedupe", job->dedupe_key);
	coi_push_job_field(str, "gone", job->gone_key);
	if (job->gone_on_404)
		coi_push_job_field(str, "gone404", "1");
	coi_push_job_field(str, "p256dh", job->encrypt_p256dh);
	coi_push_job_field(str, "auth", job->encrypt_auth);
	if (job->ttl_secs > 0)
		coi_push_job_field(str, "ttl", dec2str(job->ttl_secs));
	coi_push_job_field(str, "urgency", job->urgency);
	coi_push_job_field(str, "vapid", job->vapid_authorization);
	if (job->validation)
		coi_push_job_field(str, "validation", "1");
	if (job->send_attempts > 0) {
		coi_push_job_field(str, "send_attempts",
				   dec2str(job->send_attempts));
	}
	coi_push_job_field(str, "rate", coi_push_job_rate_name(job->rate));
	if (job->memory_only)
		coi_push_job_field(str, "memory", "1");
	coi_push_job_field(str, "created", dec2str(job->created));
	coi_push_job_field(str, "attempts", dec2str(job->attempts));
	coi_push_job_field(str, "next", dec2str(job->next_attempt));
	return str_c(str);
}

static int coi_push_job_time(const char *value, time_t *time_r)
{
	uintmax_t num;

	if (str_to_uintmax(value, &num) < 0 || num > INT32_MAX * 4ULL)
		return -1;
	*time_r = (time_t)num;
	return 0;
}

/* Printable ASCII, nothing that could end or fold a header line. */
static bool coi_push_job_is_printable(const char *value, size_t max_len)
{
	size_t len;

	for (len = 0; value[len] != '\0'; len++) {
		if (len >= max_len || value[len] < 0x20 || value[len] >= 0x7f)
			return FALSE;
	}
	return len > 0;
}

static bool
coi_push_job_chars_are(const char *value, size_t max_len, const char *extra)
{
	size_t len;

	for (len = 0; value[len] != '\0'; len++) {
		char c = value[len];

		if (len >= max_len)
			return FALSE;
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || strchr(extra, c) != NULL))
			return FALSE;
	}
	return len > 0;
}

bool coi_push_job_key_is_valid(const char *key)
{
	return coi_push_job_chars_are(key, COI_PUSH_JOB_KEY_MAX_LEN,
				      "._-/:=+");
}

static bool coi_push_job_url_is_valid(const char *url)
{
	struct http_url *http_url;
	const char *error;

	/* http_url_parse() takes what follows the URL in a request line as
	   the end; no character outside printable ASCII gets so far */
	if (!coi_push_job_is_printable(url, COI_PUSH_JOB_URL_MAX_LEN) ||
	    strchr(url, ' ') != NULL)
		return FALSE;
	return http_url_parse(url, NULL, 0, pool_datastack_create(),
			      &http_url, &error) == 0;
}

static int
coi_push_job_validate_deltachat(const struct coi_push_job *job,
				const char **error_r)
{
	if (job->encrypt_p256dh != NULL || job->encrypt_auth != NULL ||
	    job->vapid_authorization != NULL || job->urgency != NULL ||
	    job->ttl_secs != 0 || job->validation ||
	    job->fallback_body != NULL) {
		*error_r = "WebPush fields in a deltachat job";
		return -1;
	}
	return 0;
}

static int
coi_push_job_validate_webpush(const struct coi_push_job *job,
			      const char **error_r)
{
	if (job->encrypt_p256dh == NULL || job->encrypt_auth == NULL ||
	    job->vapid_authorization == NULL || job->urgency == NULL) {
		*error_r = "p256dh, auth, vapid or urgency missing";
		return -1;
	}
	if (!coi_push_job_chars_are(job->encrypt_p256dh,
				    COI_PUSH_JOB_ENCRYPT_KEY_MAX_LEN, "-_=") ||
	    !coi_push_job_chars_are(job->encrypt_auth,
				    COI_PUSH_JOB_ENCRYPT_KEY_MAX_LEN, "-_=")) {
		*error_r = "invalid p256dh or auth";
		return -1;
	}
	if (!str_begins_with(job->vapid_authorization, "vapid ") ||
	    !coi_push_job_chars_are(job->vapid_authorization,
				    COI_PUSH_JOB_VAPID_MAX_LEN, "-_.=, ")) {
		*error_r = "invalid vapid";
		return -1;
	}
	if (!str_array_find(coi_push_job_urgencies, job->urgency)) {
		*error_r = "invalid urgency";
		return -1;
	}
	if (job->ttl_secs > COI_PUSH_JOB_TTL_MAX_SECS) {
		*error_r = "invalid ttl";
		return -1;
	}
	return 0;
}

static void
coi_push_job_header_add(ARRAY_TYPE(const_string) *headers, const char *name,
			const char *value)
{
	array_push_back(headers, &name);
	array_push_back(headers, &value);
}

static void
coi_push_job_webpush_headers(const struct coi_push_job *job,
			     ARRAY_TYPE(const_string) *headers)
{
	coi_push_job_header_add(headers, "Content-Encoding", "aes128gcm");
	coi_push_job_header_add(headers, "Content-Type",
				"application/octet-stream");
	coi_push_job_header_add(headers, "TTL", dec2str(job->ttl_secs));
	coi_push_job_header_add(headers, "Urgency", job->urgency);
	coi_push_job_header_add(headers, "Authorization",
				job->vapid_authorization);
	if (job->validation)
		coi_push_job_header_add(headers, "WebPush-Validation", "");
}

/* What differs between the protocols on the wire: the fields a job of
   the protocol must and must not have, and the HTTP headers the service
   sends with it. Delta Chat's notifier takes the token as the body and
   nothing else. */
struct coi_push_job_protocol {
	const char *name;
	int (*validate)(const struct coi_push_job *job, const char **error_r);
	void (*add_headers)(const struct coi_push_job *job,
			    ARRAY_TYPE(const_string) *headers);
};

static const struct coi_push_job_protocol coi_push_job_protocols[] = {
	{
		.name = COI_PUSH_JOB_PROTOCOL_WEBPUSH,
		.validate = coi_push_job_validate_webpush,
		.add_headers = coi_push_job_webpush_headers,
	},
	{
		.name = COI_PUSH_JOB_PROTOCOL_DELTACHAT,
		.validate = coi_push_job_validate_deltachat,
	},
};

static const struct coi_push_job_protocol *
coi_push_job_protocol_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_push_job_protocols); i++) {
		if (strcmp(coi_push_job_protocols[i].name, name) == 0)
			return &coi_push_job_protocols[i];
	}
	return NULL;
}

/* Every field against its type; the fields of the other protocol are not
   allowed, so that no value is carried along unchecked. */
static int
coi_push_job_validate(const struct coi_push_job *job, const char **error_r)
{
	const struct coi_push_job_protocol *protocol;

	if (job->protocol == NULL || job->username == NULL ||
	    job->url == NULL || job->body == NULL) {
		*error_r = "protocol, user, url or body missing";
		return -1;
	}
	protocol = coi_push_job_protocol_find(job->protocol);
	if (protocol == NULL) {
		*error_r = "unknown protocol";
		return -1;
	}
	if (!coi_push_job_is_printable(job->username,
				       COI_PUSH_JOB_USERNAME_MAX_LEN)) {
		*error_r = "invalid user";
		return -1;
	}
	if (!coi_push_job_url_is_valid(job->url)) {
		*error_r = "invalid url";
		return -1;
	}
	if (job->body_size > COI_PUSH_JOB_BODY_MAX ||
	    job->fallback_body_size > COI_PUSH_JOB_BODY_MAX) {
		*error_r = "body too large";
		return -1;
	}
	if ((job->dedupe_key != NULL &&
	     !coi_push_job_key_is_valid(job->dedupe_key)) ||
	    (job->gone_key != NULL &&
	     !coi_push_job_key_is_valid(job->gone_key))) {
		*error_r = "invalid dedupe or gone key";
		return -1;
	}
	if (job->attempts > COI_PUSH_JOB_ATTEMPTS_MAX) {
		*error_r = "invalid attempts";
		return -1;
	}
	return protocol->validate(job, error_r);
}

static int
coi_push_job_parse_body(pool_t pool, const char *value,
			const unsigned char **data_r, size_t *size_r)
{
	size_t len = strlen(value);
	buffer_t *buf;

	if (len > MAX_BASE64_ENCODED_SIZE(COI_PUSH_JOB_BODY_MAX))
		return -1;
	buf = buffer_create_dynamic(pool, MAX_BASE64_DECODED_SIZE(len) + 1);
	if (coi_base64_decode(value, len, buf) < 0)
		return -1;
	/* never NULL, also for an empty body */
	*data_r = buf->data == NULL ? (const unsigned char *)"" : buf->data;
	*size_r = buf->used;
	return 0;
}

static int coi_push_job_parse_bool(const char *value, bool *value_r)
{
	if (strcmp(value, "1") == 0)
		*value_r = TRUE;
	else if (strcmp(value, "0") == 0)
		*value_r = FALSE;
	else
		return -1;
	return 0;
}

static int
coi_push_job_parse_field(pool_t pool, const char *name, const char *value,
			 struct coi_push_job *job)
{
	if (strcmp(name, "protocol") == 0)
		job->protocol = p_strdup(pool, value);
	else if (strcmp(name, "user") == 0)
		job->username = p_strdup(pool, value);
	else if (strcmp(name, "url") == 0)
		job->url = p_strdup(pool, value);
	else if (strcmp(name, "body") == 0) {
		return coi_push_job_parse_body(pool, value, &job->body,
					       &job->body_size);
	} else if (strcmp(name, "fallback") == 0) {
		return coi_push_job_parse_body(pool, value,
					       &job->fallback_body,
					       &job->fallback_body_size);
	} else if (strcmp(name, "dedupe") == 0)
		job->dedupe_key = p_strdup(pool, value);
	else if (strcmp(name, "gone") == 0)
		job->gone_key = p_strdup(pool, value);
	else if (strcmp(name, "gone404") == 0)
		return coi_push_job_parse_bool(value, &job->gone_on_404);
	else if (strcmp(name, "p256dh") == 0)
		job->encrypt_p256dh = p_strdup(pool, value);
	else if (strcmp(name, "auth") == 0)
		job->encrypt_auth = p_strdup(pool, value);
	else if (strcmp(name, "ttl") == 0)
		return str_to_uint(value, &job->ttl_secs);
	else if (strcmp(name, "urgency") == 0)
		job->urgency = p_strdup(pool, value);
	else if (strcmp(name, "vapid") == 0)
		job->vapid_authorization = p_strdup(pool, value);
	else if (strcmp(name, "validation") == 0)
		return coi_push_job_parse_bool(value, &job->validation);
	else if (strcmp(name, "send_attempts") == 0) {
		if (str_to_uint(value, &job->send_attempts) < 0 ||
		    job->send_attempts > COI_PUSH_JOB_SEND_ATTEMPTS_MAX)
			return -1;
	} else if (strcmp(name, "rate") == 0) {
		if (strcmp(value, "1") == 0)
			job->rate = COI_PUSH_JOB_RATE_USER;
		else if (strcmp(value, "validation") == 0)
			job->rate = COI_PUSH_JOB_RATE_VALIDATION;
		else if (strcmp(value, "0") == 0)
			job->rate = COI_PUSH_JOB_RATE_NONE;
		else
			return -1;
	} else if (strcmp(name, "memory") == 0)
		return coi_push_job_parse_bool(value, &job->memory_only);
	else if (strcmp(name, "created") == 0)
		return coi_push_job_time(value, &job->created);
	else if (strcmp(name, "attempts") == 0)
		return str_to_uint(value, &job->attempts);
	else if (strcmp(name, "next") == 0)
		return coi_push_job_time(value, &job->next_attempt);
	return 0;
}

int coi_push_job_parse(pool_t pool, const char *line,
		       struct coi_push_job *job_r, const char **error_r)
{
	const char *const *fields, *name, *p;

	i_zero(job_r);
	if (strlen(line) > COI_PUSH_JOB_LINE_MAX) {
		*error_r = "job too long";
		return -1;
	}
	for (fields = t_strsplit_tabescaped(line); *fields != NULL; fields++) {
		p = strchr(*fields, '=');
		if (p == NULL) {
			*error_r = "field without '='";
			return -1;
		}
		name = t_strdup_until(*fields, p);
		if (coi_push_job_parse_field(pool, name, p + 1, job_r) < 0) {
			*error_r = t_strdup_printf("invalid %s",
				str_sanitize(name, 32));
			return -1;
		}
	}
	return coi_push_job_validate(job_r, error_r);
}

int coi_push_job_parse_file(pool_t pool, const unsigned char *data,
			    size_t size, struct coi_push_job *job_r,
			    const char **error_r)
{
	i_zero(job_r);
	if (size > 0 && data[size - 1] == '\n')
		size--;
	if (size > COI_PUSH_JOB_LINE_MAX) {
		*error_r = "job too long";
		return -1;
	}
	if (memchr(data, '\0', size) != NULL ||
	    memchr(data, '\n', size) != NULL) {
		*error_r = "not one line of text";
		return -1;
	}
	return coi_push_job_parse(pool, t_strndup(data, size), job_r, error_r);
}

const char *const *coi_push_job_http_headers(const struct coi_push_job *job)
{
	const struct coi_push_job_protocol *protocol =
		coi_push_job_protocol_find(job->protocol);
	ARRAY_TYPE(const_string) headers;

	t_array_init(&headers, 14);
	i_assert(protocol != NULL);
	if (protocol->add_headers != NULL)
		protocol->add_headers(job, &headers);
	array_append_zero(&headers);
	return array_front(&headers);
}

const char *coi_push_gone_file_name(const char *username)
{
	const struct hash_method *sha3 = hash_method_lookup("sha3-256");
	buffer_t *digest = t_hash_str(sha3, username);

	return binary_to_hex(digest->data, COI_PUSH_GONE_NAME_HASH_BYTES);
}

void coi_push_gone_parse(pool_t pool, const char *data, time_t now,
			 ARRAY_TYPE(coi_push_gone) *gone_r)
{
	const char *const *lines, *p, *key;
	struct coi_push_gone *gone;
	time_t when;

	for (lines = t_strsplit(data, "\n"); *lines != NULL; lines++) {
		p = strchr(*lines, '\t');
		if (p == NULL || coi_push_job_time(p + 1, &when) < 0 ||
		    when > now + COI_PUSH_GONE_CLOCK_SKEW_SECS)
			continue;
		key = t_strdup_until(*lines, p);
		if (!coi_push_job_key_is_valid(key))
			continue;
		gone = array_append_space(gone_r);
		gone->key = p_strdup(pool, key);
		gone->when = when;
	}
}
