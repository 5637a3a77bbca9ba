/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "base64.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "coi-push-job.h"

#define COI_PUSH_GONE_NAME_HASH_BYTES 16

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

const char *coi_push_job_to_line(const struct coi_push_job *job)
{
	string_t *str = t_str_new(256 + MAX_BASE64_ENCODED_SIZE(job->body_size));
	string_t *body = t_str_new(MAX_BASE64_ENCODED_SIZE(
		I_MAX(job->body_size, job->fallback_body_size)) + 1);
	const char *const *header;

	coi_push_job_field(str, "protocol", job->protocol);
	coi_push_job_field(str, "user", job->username);
	coi_push_job_field(str, "url", job->url);
	for (header = job->headers; header != NULL && header[0] != NULL &&
	     header[1] != NULL; header += 2) {
		coi_push_job_field(str, "header", t_strconcat(
			header[0], ": ", header[1], NULL));
	}
	base64_encode(job->body, job->body_size, body);
	coi_push_job_field(str, "body", str_c(body));
	if (job->fallback_body != NULL) {
		str_truncate(body, 0);
		base64_encode(job->fallback_body, job->fallback_body_size,
			      body);
		coi_push_job_field(str, "fallback", str_c(body));
	}
	coi_push_job_field(str, "dedupe", job->dedupe_key);
	coi_push_job_field(str, "gone", job->gone_key);
	if (job->gone_on_404)
		coi_push_job_field(str, "gone404", "1");
	coi_push_job_field(str, "p256dh", job->encrypt_p256dh);
	coi_push_job_field(str, "auth", job->encrypt_auth);
	if (job->send_attempts > 0) {
		coi_push_job_field(str, "send_attempts",
				   dec2str(job->send_attempts));
	}
	if (job->user_rate)
		coi_push_job_field(str, "rate", "1");
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

int coi_push_job_parse(pool_t pool, const char *line,
		       struct coi_push_job *job_r, const char **error_r)
{
	const char *const *fields, *name, *value, *p;
	ARRAY_TYPE(const_string) headers;
	buffer_t *body = NULL, *fallback = NULL;

	i_zero(job_r);
	if (strlen(line) > COI_PUSH_JOB_LINE_MAX) {
		*error_r = "job too long";
		return -1;
	}
	p_array_init(&headers, pool, 4);
	for (fields = t_strsplit_tabescaped(line); *fields != NULL; fields++) {
		p = strchr(*fields, '=');
		if (p == NULL) {
			*error_r = "field without '='";
			return -1;
		}
		name = t_strdup_until(*fields, p);
		value = p + 1;
		if (strcmp(name, "protocol") == 0)
			job_r->protocol = p_strdup(pool, value);
		else if (strcmp(name, "user") == 0)
			job_r->username = p_strdup(pool, value);
		else if (strcmp(name, "url") == 0)
			job_r->url = p_strdup(pool, value);
		else if (strcmp(name, "header") == 0) {
			p = strstr(value, ": ");
			if (p == NULL || p == value) {
				*error_r = "invalid header";
				return -1;
			}
			const char *hname = p_strdup_until(pool, value, p);
			const char *hvalue = p_strdup(pool, p + 2);
			array_push_back(&headers, &hname);
			array_push_back(&headers, &hvalue);
		} else if (strcmp(name, "body") == 0) {
			body = buffer_create_dynamic(pool,
				MAX_BASE64_DECODED_SIZE(strlen(value)) + 1);
			if (base64_decode(value, strlen(value), NULL,
					  body) < 0) {
				*error_r = "invalid body";
				return -1;
			}
		} else if (strcmp(name, "fallback") == 0) {
			fallback = buffer_create_dynamic(pool,
				MAX_BASE64_DECODED_SIZE(strlen(value)) + 1);
			if (base64_decode(value, strlen(value), NULL,
					  fallback) < 0) {
				*error_r = "invalid fallback";
				return -1;
			}
		} else if (strcmp(name, "gone404") == 0)
			job_r->gone_on_404 = strcmp(value, "1") == 0;
		else if (strcmp(name, "p256dh") == 0)
			job_r->encrypt_p256dh = p_strdup(pool, value);
		else if (strcmp(name, "auth") == 0)
			job_r->encrypt_auth = p_strdup(pool, value);
		else if (strcmp(name, "send_attempts") == 0) {
			if (str_to_uint(value, &job_r->send_attempts) < 0 ||
			    job_r->send_attempts > COI_PUSH_JOB_SEND_ATTEMPTS_MAX) {
				*error_r = "invalid send_attempts";
				return -1;
			}
		} else if (strcmp(name, "rate") == 0)
			job_r->user_rate = strcmp(value, "1") == 0;
		else if (strcmp(name, "memory") == 0)
			job_r->memory_only = strcmp(value, "1") == 0;
		else if (strcmp(name, "dedupe") == 0)
			job_r->dedupe_key = p_strdup(pool, value);
		else if (strcmp(name, "gone") == 0)
			job_r->gone_key = p_strdup(pool, value);
		else if (strcmp(name, "created") == 0) {
			if (coi_push_job_time(value, &job_r->created) < 0) {
				*error_r = "invalid created";
				return -1;
			}
		} else if (strcmp(name, "attempts") == 0) {
			if (str_to_uint(value, &job_r->attempts) < 0) {
				*error_r = "invalid attempts";
				return -1;
			}
		} else if (strcmp(name, "next") == 0) {
			if (coi_push_job_time(value, &job_r->next_attempt) < 0) {
				*error_r = "invalid next";
				return -1;
			}
		}
	}
	if (job_r->protocol == NULL || job_r->username == NULL ||
	    job_r->url == NULL || body == NULL) {
		*error_r = "protocol, user, url or body missing";
		return -1;
	}
	if (body->used > COI_PUSH_JOB_BODY_MAX ||
	    (fallback != NULL && fallback->used > COI_PUSH_JOB_BODY_MAX)) {
		*error_r = "body too large";
		return -1;
	}
	if ((job_r->encrypt_p256dh == NULL) != (job_r->encrypt_auth == NULL)) {
		*error_r = "p256dh without auth or auth without p256dh";
		return -1;
	}
	if (fallback != NULL) {
		job_r->fallback_body = fallback->data;
		job_r->fallback_body_size = fallback->used;
	}
	if (array_count(&headers) > 0) {
		array_append_zero(&headers);
		job_r->headers = array_front(&headers);
	}
	job_r->body = body->data;
	job_r->body_size = body->used;
	return 0;
}

const char *coi_push_gone_file_name(const char *username)
{
	const struct hash_method *sha3 = hash_method_lookup("sha3-256");
	buffer_t *digest = t_hash_str(sha3, username);

	return binary_to_hex(digest->data, COI_PUSH_GONE_NAME_HASH_BYTES);
}

void coi_push_gone_parse(pool_t pool, const char *data,
			 ARRAY_TYPE(coi_push_gone) *gone_r)
{
	const char *const *lines, *p;
	struct coi_push_gone *gone;
	time_t when;

	for (lines = t_strsplit(data, "\n"); *lines != NULL; lines++) {
		p = strchr(*lines, '\t');
		if (p == NULL || p == *lines ||
		    coi_push_job_time(p + 1, &when) < 0)
			continue;
		gone = array_append_space(gone_r);
		gone->key = p_strdup_until(pool, *lines, p);
		gone->when = when;
	}
}
