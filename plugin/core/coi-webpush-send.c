/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Sending WebPush: the VAPID key and validation secret of the process,
   signed Authorization headers, and the jobs for the coi-push service
   (validation pushes and message pushes of deliveries). */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "str.h"
#include "hostpid.h"
#include "ioloop.h"
#include COI_JSON_ESCAPE_H
#include "mail-storage.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-push-submit.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-subscription.h"
#include "coi-webpush-payload.h"
#include "coi-config-cache.h"
#include "coi-webpush.h"
#include "coi-webpush-private.h"

/* RFC 8292: at most 24 hours; retries stay well within this. */
#define COI_WEBPUSH_JWT_LIFETIME_SECS (12 * 60 * 60)

static struct coi_webpush_keys *coi_webpush_keys = NULL;
static void coi_webpush_jwt_cache_free(void);

static const char *coi_webpush_subject(struct mail_user *user)
{
	const char *subject = coi_user_settings(user)->webpush_subject;

	if (subject[0] != '\0')
		return subject;
	return t_strconcat("mailto:postmaster@", my_hostname, NULL);
}

static void coi_webpush_keys_free(struct coi_webpush_keys **_keys)
{
	struct coi_webpush_keys *keys = *_keys;

	*_keys = NULL;
	/* the cached JWTs were signed with this key */
	coi_webpush_jwt_cache_free();
	if (keys->key != NULL)
		coi_webpush_vapid_key_free(&keys->key);
	buffer_free(&keys->secret);
	i_free(keys->key_path);
	i_free(keys->secret_path);
	i_free(keys);
}

/* The VAPID key and the validation secret, loaded once per process (and
   created on first use). */
int
coi_webpush_keys_get(struct mail_user *user, struct coi_webpush_keys **keys_r)
{
	const char *key_path, *secret_path, *error;
	struct coi_webpush_keys *keys;

	key_path = coi_user_settings(user)->webpush_vapid_key;
	i_assert(key_path[0] != '\0');
	secret_path = coi_user_settings(user)->webpush_secret;
	if (secret_path[0] == '\0')
		secret_path = t_strconcat(key_path, ".secret", NULL);

	keys = coi_webpush_keys;
	if (keys != NULL && strcmp(keys->key_path, key_path) == 0 &&
	    strcmp(keys->secret_path, secret_path) == 0) {
		*keys_r = keys;
		return 0;
	}
	if (keys != NULL)
		coi_webpush_keys_free(&coi_webpush_keys);

	keys = i_new(struct coi_webpush_keys, 1);
	keys->key_path = i_strdup(key_path);
	keys->secret_path = i_strdup(secret_path);
	keys->secret = buffer_create_dynamic(default_pool, 32);
	if (coi_webpush_vapid_key_load(key_path, TRUE, &keys->key,
				       &error) < 0 ||
	    coi_webpush_secret_load(secret_path, TRUE, keys->secret,
				    &error) < 0) {
		e_error(user->event, "coi: WebPush unavailable: %s", error);
		coi_webpush_keys_free(&keys);
		return -1;
	}
	coi_webpush_keys = keys;
	*keys_r = keys;
	return 0;
}

void coi_webpush_deinit(void)
{
	if (coi_webpush_keys != NULL)
		coi_webpush_keys_free(&coi_webpush_keys);
	coi_webpush_jwt_cache_free();
	coi_webpush_crypto_deinit();
}

/* The VAPID Authorization header for an origin, reused while it stays
   valid for long enough: signing is the most expensive part of a push. */
struct coi_webpush_jwt {
	char *origin;
	char *subject;
	char *authorization;
	time_t exp;
};
#define COI_WEBPUSH_JWT_CACHE_MAX 64
#define COI_WEBPUSH_JWT_MIN_REMAINING_SECS (60 * 60)
static ARRAY(struct coi_webpush_jwt) coi_webpush_jwt_cache;

static void coi_webpush_jwt_cache_free(void)
{
	struct coi_webpush_jwt *jwt;

	if (!array_is_created(&coi_webpush_jwt_cache))
		return;
	array_foreach_modifiable(&coi_webpush_jwt_cache, jwt) {
		i_free(jwt->origin);
		i_free(jwt->subject);
		i_free(jwt->authorization);
	}
	array_free(&coi_webpush_jwt_cache);
}

static int
coi_webpush_authorization(struct coi_webpush_keys *keys, const char *origin,
			  const char *subject, const char **value_r,
			  const char **error_r)
{
	struct coi_webpush_jwt *jwt;
	time_t exp = ioloop_time + COI_WEBPUSH_JWT_LIFETIME_SECS;

	if (!array_is_created(&coi_webpush_jwt_cache))
		i_array_init(&coi_webpush_jwt_cache, 8);
	array_foreach_modifiable(&coi_webpush_jwt_cache, jwt) {
		if (strcmp(jwt->origin, origin) == 0 &&
		    strcmp(jwt->subject, subject) == 0 &&
		    jwt->exp - ioloop_time >= COI_WEBPUSH_JWT_MIN_REMAINING_SECS) {
			*value_r = jwt->authorization;
			return 0;
		}
	}
	if (coi_webpush_vapid_authorization(keys->key, origin, exp, subject,
					    value_r, error_r) < 0)
		return -1;
	if (array_count(&coi_webpush_jwt_cache) >= COI_WEBPUSH_JWT_CACHE_MAX) {
		/* simply start over: entries are cheap to recreate */
		coi_webpush_jwt_cache_free();
		i_array_init(&coi_webpush_jwt_cache, 8);
	}
	array_foreach_modifiable(&coi_webpush_jwt_cache, jwt) {
		if (strcmp(jwt->origin, origin) == 0 &&
		    strcmp(jwt->subject, subject) == 0) {
			i_free(jwt->authorization);
			jwt->authorization = i_strdup(*value_r);
			jwt->exp = exp;
			return 0;
		}
	}
	jwt = array_append_space(&coi_webpush_jwt_cache);
	jwt->origin = i_strdup(origin);
	jwt->subject = i_strdup(subject);
	jwt->authorization = i_strdup(*value_r);
	jwt->exp = exp;
	return 0;
}


/* Appends the job of one push to lines, for the coi-push service. The
   push is prepared here except for the encryption: the VAPID signature
   needs the private key, which stays with the mail processes (and is
   cached per origin), while the encryption needs only the subscription's
   public keys and is the expensive part, done by the service, after the
   LMTP reply and outside the LMTP process. */
static int
coi_webpush_job_append(struct mail_user *user, const char *id,
		       const struct coi_webpush_subscription *sub,
		       bool validation, const char *payload,
		       const char *payload_without_content, string_t *lines,
		       const char **error_r)
{
	struct coi_webpush_keys *keys;
	struct coi_push_job job;
	const char *origin, *authorization;

	if (coi_webpush_keys_get(user, &keys) < 0) {
		*error_r = "VAPID key not available";
		return -1;
	}
	if (coi_webpush_endpoint_origin(sub->endpoint, &origin, error_r) < 0 ||
	    coi_webpush_authorization(keys, origin, coi_webpush_subject(user),
				      &authorization, error_r) < 0)
		return -1;

	i_zero(&job);
	job.protocol = COI_PUSH_JOB_PROTOCOL_WEBPUSH;
	job.username = user->username;
	job.url = sub->endpoint;
	/* RFC 8030: "high" may wake a device at once; chats are meant to */
	job.urgency = !validation && sub->msgtype == COI_WEBPUSH_MSGTYPE_CHAT ?
		"high" : "normal";
	job.ttl_secs = I_MIN(coi_user_settings(user)->webpush_ttl_secs,
			     COI_PUSH_JOB_TTL_MAX_SECS);
	job.vapid_authorization = authorization;
	job.validation = validation;
	job.body = (const unsigned char *)payload;
	job.body_size = strlen(payload);
	if (payload_without_content != NULL) {
		job.fallback_body = (const unsigned char *)payload_without_content;
		job.fallback_body_size = strlen(payload_without_content);
	}
	job.encrypt_p256dh = sub->p256dh;
	job.encrypt_auth = sub->auth;
	job.gone_key = coi_webpush_gone_key(id, sub->endpoint);
	job.gone_on_404 = TRUE;
	/* retried by the service's sender within a minute (5xx backoff,
	   Retry-After), not hours later from the spool */
	job.send_attempts = I_MIN(coi_user_settings(user)->push_max_attempts,
				  COI_PUSH_JOB_SEND_ATTEMPTS_MAX);
	if (job.send_attempts == 0)
		job.send_attempts = 1;
	/* a validation push answers a client's command, to an endpoint of
	   the client's choice: limited on its own, so that re-subscribing
	   cannot make the server send requests at will */
	job.rate = validation ? COI_PUSH_JOB_RATE_VALIDATION :
		COI_PUSH_JOB_RATE_USER;
	/* the retries are over within a minute; and the plaintext preview
	   of the message is not to be stored anywhere else */
	job.memory_only = TRUE;
	job.created = ioloop_time;
	str_append(lines, coi_push_job_to_line(&job));
	str_append_c(lines, '\n');
	return 0;
}

static void
coi_webpush_submit(struct mail_user *user, const string_t *lines,
		   const char *what)
{
	const char *error;

	if (str_len(lines) == 0)
		return;
	if (coi_push_submit(user, lines, &error) < 0) {
		e_error(user->event, "coi: WebPush %s not sent: %s",
			what, error);
	}
}

void
coi_webpush_send_validation(struct mail_user *user, const char *id,
			    const struct coi_webpush_subscription *sub)
{
	struct coi_webpush_keys *keys;
	const char *token, *error;
	string_t *payload, *lines;

	if (coi_webpush_keys_get(user, &keys) < 0)
		return;
	token = coi_webpush_validation_token(keys->secret->data,
		keys->secret->used, user->username, id, sub->created);
	payload = t_str_new(128);
	str_append(payload, "{\"validation\":\"");
	json_append_escaped(payload, token);
	str_append(payload, "\"}");
	lines = t_str_new(1024);
	if (coi_webpush_job_append(user, id, sub, TRUE, str_c(payload), NULL,
				   lines, &error) < 0) {
		e_error(user->event, "coi: WebPush validation to subscription "
			"%s not sent: %s", id, error);
		return;
	}
	coi_webpush_submit(user, lines, "validation");
}

static bool
coi_webpush_msgtype_matches(const struct coi_webpush_subscription *sub,
			    const struct coi_webpush_message *msg)
{
	return (sub->msgtype & (msg->is_chat ? COI_WEBPUSH_MSGTYPE_CHAT :
				COI_WEBPUSH_MSGTYPE_MAIL)) != 0;
}

struct coi_webpush_recipient {
	const char *id;
	struct coi_webpush_subscription sub;
};

struct coi_webpush_recipients {
	ARRAY(struct coi_webpush_recipient) subs;
};

/* The validated subscriptions as stored, "<id>\t<stored value>\n" each
   (the stored JSON has no tabs or newlines): the form the configuration
   cache keeps. */
static int
coi_webpush_validated_read(struct mail_user *user, string_t *out)
{
	struct coi_webpush_subscription sub;
	ARRAY_TYPE(const_string) ids;
	struct mailbox *box;
	const char *id;
	int ret, result = 0;

	box = coi_webpush_inbox_alloc(user);
	t_array_init(&ids, 8);
	if (coi_webpush_subscription_ids(box, pool_datastack_create(),
					 &ids) < 0) {
		coi_user_attribute_error(user, user->event,
			"coi: Failed to list WebPush subscriptions: %s",
			mailbox_get_last_internal_error(box, NULL));
		result = -1;
	}
	array_foreach_elem(&ids, id) {
		ret = coi_webpush_subscription_lookup(box, id, NULL,
			pool_datastack_create(), &sub);
		if (ret < 0) {
			e_error(user->event, "coi: Failed to read WebPush "
				"subscription %s: %s", id,
				mailbox_get_last_internal_error(box, NULL));
			result = -1;
		} else if (ret > 0 && sub.validated) {
			str_printfa(out, "%s\t%s\n", id,
				    coi_webpush_subscription_to_json(&sub));
		}
	}
	mailbox_free(&box);
	return result;
}

struct coi_webpush_recipients *
coi_webpush_recipients_get(struct mail_user *user, pool_t pool)
{
	struct coi_webpush_recipients *rcpts;
	struct coi_webpush_recipient *rcpt;
	struct coi_webpush_subscription sub;
	struct coi_config_cache_entry *cache_entry = NULL;
	const ARRAY_TYPE(coi_push_gone) *gone;
	const char *dict_path, *cached, *const *lines, *p, *id, *error;
	string_t *validated;

	if (!coi_webpush_user_enabled(user))
		return NULL;
	/* Asked for every delivery: most users have no subscription, and
	   listing the attributes costs more than all of COI's filing. The
	   validated subscriptions are kept with the configuration while the
	   attribute dict is unchanged. */
	dict_path = coi_user_attribute_dict_path(user);
	if (dict_path != NULL &&
	    coi_config_cache_lookup_webpush(user->username, dict_path,
					    &cached, &cache_entry) > 0) {
		if (cached[0] == '\0')
			return NULL;
	} else {
		cached = NULL;
	}

	rcpts = p_new(pool, struct coi_webpush_recipients, 1);
	p_array_init(&rcpts->subs, pool, 4);
	T_BEGIN {
		if (cached == NULL) {
			validated = t_str_new(1024);
			if (coi_webpush_validated_read(user, validated) == 0 &&
			    cache_entry != NULL) {
				coi_config_cache_update_webpush(cache_entry,
					str_c(validated));
			}
			cached = str_c(validated);
		}
		gone = coi_webpush_gone_get(user);
		for (lines = t_strsplit(cached, "\n"); *lines != NULL;
		     lines++) {
			p = strchr(*lines, '\t');
			if (p == NULL)
				continue;
			id = t_strdup_until(*lines, p);
			if (coi_webpush_subscription_parse_stored(pool, p + 1,
					&sub, &error) < 0) {
				/* cannot happen: the value was parsed and
				   written by this code */
				e_error(user->event, "coi: Ignoring broken "
					"WebPush subscription %s: %s", id,
					error);
				continue;
			}
			if (coi_webpush_subscription_is_gone(gone, id, &sub)) {
				coi_webpush_subscription_delete(user, id,
					"the push service reported it gone");
				continue;
			}
			rcpt = array_append_space(&rcpts->subs);
			rcpt->id = p_strdup(pool, id);
			rcpt->sub = sub;
		}
	} T_END;
	return array_count(&rcpts->subs) == 0 ? NULL : rcpts;
}

void coi_webpush_notify_message(struct mail_user *user,
				const struct coi_webpush_recipients *rcpts,
				const struct coi_webpush_message *msg)
{
	const struct coi_webpush_recipient *rcpt;
	const char *payload, *payload_without_content = NULL, *error;
	bool content_included;
	string_t *lines;

	if (msg->is_disposition_notification)
		return;
	T_BEGIN {
		payload = coi_webpush_payload_build(msg,
			COI_WEBPUSH_PAYLOAD_MAX, &content_included);
		/* for a push service that answers 413 */
		if (content_included) {
			payload_without_content =
				coi_webpush_payload_build_without_content(msg);
		}
		lines = t_str_new(4096);
		array_foreach(&rcpts->subs, rcpt) {
			if (!coi_webpush_msgtype_matches(&rcpt->sub, msg))
				continue;
			if (coi_webpush_job_append(user, rcpt->id, &rcpt->sub,
						   FALSE, payload,
						   payload_without_content,
						   lines, &error) < 0) {
				e_error(user->event, "coi: WebPush message to "
					"subscription %s not sent: %s",
					rcpt->id, error);
			}
		}
		coi_webpush_submit(user, lines, "message");
	} T_END;
}

