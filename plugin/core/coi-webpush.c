/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "istream.h"
#include "hostpid.h"
#include "file-lock.h"
#include "ioloop.h"
#include "json-parser.h"
#include "settings-parser.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-push-policy.h"
#include "coi-push-submit.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-subscription.h"
#include "coi-webpush-payload.h"
#include "coi-config-cache.h"
#include "coi-webpush.h"

#define COI_WEBPUSH_SERVER_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER "vendor/vendor.dovecot/webpush/"
#define COI_WEBPUSH_VAPID_KEY COI_WEBPUSH_SERVER_PREFIX "vapid"
#define COI_WEBPUSH_SUBSCRIPTIONS_KEY COI_WEBPUSH_SERVER_PREFIX "subscriptions/"
#define COI_WEBPUSH_VALIDATE_SUFFIX "/validate"
/* Where the server keeps the subscriptions it accepted: under Dovecot's
   internal prefix, which IMAP clients cannot read or write directly. */
#define COI_WEBPUSH_STORE_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/webpush/subscriptions/"

/* RFC 8292: at most 24 hours; retries stay well within this. */
#define COI_WEBPUSH_JWT_LIFETIME_SECS (12 * 60 * 60)
#define COI_WEBPUSH_VALIDATION_TOKEN_MAX_LEN 1024

/* held from counting the subscriptions until the transaction storing a
   new one ends */
#define COI_WEBPUSH_LOCK_FNAME "coi-webpush.lock"
#define COI_WEBPUSH_LOCK_SECS 10

#define COI_WEBPUSH_ERROR_INVALID_ID \
	"Invalid subscription ID: use 10 to 36 characters of [0-9A-Za-z_-]"
#define COI_WEBPUSH_ERROR_INVALID_VALIDATION "invalid validation"
#define COI_WEBPUSH_ERROR_UNKNOWN_ENTRY "Unknown WebPush entry"

struct coi_webpush_keys {
	char *key_path;
	char *secret_path;
	struct coi_webpush_vapid_key *key;
	buffer_t *secret;
};

static struct coi_webpush_keys *coi_webpush_keys = NULL;
static void coi_webpush_jwt_cache_free(void);

bool coi_webpush_user_enabled(struct mail_user *user)
{
	return coi_user_has_plugin(user) &&
		coi_user_settings(user)->webpush_vapid_key[0] != '\0';
}

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
static int
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

/*
 * Stored subscriptions
 */

static struct mailbox *coi_webpush_inbox_alloc(struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);

	return mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			     MAILBOX_FLAG_ATTRIBUTE_SESSION);
}

/* The endpoint policy's check of what a client names, before anything
   is stored; the address is checked again when the service connects. */
static int
coi_webpush_check_endpoint(struct mail_user *user, const char *endpoint,
			   const char **error_r)
{
	struct http_url *url;
	bool host_allowed;

	return coi_push_policy_check_url(
		coi_user_settings(user)->parsed_push_policy,
		pool_datastack_create(), endpoint, &url, &host_allowed,
		error_r);
}

static bool
coi_webpush_subscription_expired(struct mail_user *user,
				 const struct coi_webpush_subscription *sub)
{
	unsigned int window =
		coi_user_settings(user)->webpush_validation_window_secs;

	return !sub->validated && sub->created + (time_t)window < ioloop_time;
}

/* What the service records when a push service answers 404 or 410 for
   a subscription: its id and a digest of its endpoint, so that a job
   submitted by someone else (the service's socket is open to local
   users) cannot remove a subscription without knowing its endpoint URL,
   a secret of the push service and the client. */
static const char *
coi_webpush_gone_key(const char *id, const char *endpoint)
{
	const struct hash_method *sha3 = hash_method_lookup("sha3-256");
	buffer_t *digest = t_hash_str(sha3, endpoint);

	return t_strdup_printf("webpush/%s/%s", id,
			       binary_to_hex(digest->data, 16));
}

static bool
coi_webpush_subscription_is_gone(const ARRAY_TYPE(coi_push_gone) *gone,
				 const char *id,
				 const struct coi_webpush_subscription *sub)
{
	const struct coi_push_gone *g;
	const char *key;

	if (gone == NULL || array_count(gone) == 0)
		return FALSE;
	key = coi_webpush_gone_key(id, sub->endpoint);
	array_foreach(gone, g) {
		/* a subscription made again after the answer stays */
		if (strcmp(g->key, key) == 0 && sub->created <= g->when)
			return TRUE;
	}
	return FALSE;
}

/* What the coi-push service recorded as gone for the user (data
   stack). */
static const ARRAY_TYPE(coi_push_gone) *
coi_webpush_gone_get(struct mail_user *user)
{
	ARRAY_TYPE(coi_push_gone) *gone;

	gone = t_new(ARRAY_TYPE(coi_push_gone), 1);
	t_array_init(gone, 4);
	coi_push_gone_read(user, pool_datastack_create(), gone);
	return gone;
}

/* Returns 1 and the subscription, 0 if there is none (or it is an
   unvalidated one past its window, or one of gone), -1 on storage
   errors. */
static int
coi_webpush_subscription_lookup(struct mailbox *box, const char *id,
				const ARRAY_TYPE(coi_push_gone) *gone,
				pool_t pool,
				struct coi_webpush_subscription *sub_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct mail_attribute_value value;
	const char *error;
	int ret;

	ret = mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
		t_strconcat(COI_WEBPUSH_STORE_PREFIX, id, NULL), &value);
	if (ret <= 0)
		return ret;
	if (coi_webpush_subscription_parse_stored(pool, value.value, sub_r,
						  &error) < 0) {
		e_error(user->event, "coi: Ignoring broken stored WebPush "
			"subscription %s: %s", id, error);
		return 0;
	}
	if (coi_webpush_subscription_expired(user, sub_r) ||
	    coi_webpush_subscription_is_gone(gone, id, sub_r))
		return 0;
	return 1;
}

static int
coi_webpush_subscription_store(struct mailbox_transaction_context *t,
			       const char *id,
			       const struct coi_webpush_subscription *sub)
{
	struct mail_attribute_value value;

	i_zero(&value);
	value.value = sub == NULL ? NULL :
		coi_webpush_subscription_to_json(sub);
	return mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE,
		t_strconcat(COI_WEBPUSH_STORE_PREFIX, id, NULL), &value);
}

/* The ids of the stored subscriptions. */
static int
coi_webpush_subscription_ids(struct mailbox *box, pool_t pool,
			     ARRAY_TYPE(const_string) *ids)
{
	struct mailbox_attribute_iter *iter;
	const char *key;

	iter = mailbox_attribute_iter_init(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_WEBPUSH_STORE_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		if (coi_webpush_subscription_id_is_valid(key)) {
			key = p_strdup(pool, key);
			array_push_back(ids, &key);
		}
	}
	return mailbox_attribute_iter_deinit(&iter);
}

/* Removes a subscription outside any client transaction (e.g. after the
   push service answered 410). */
static void
coi_webpush_subscription_delete(struct mail_user *user, const char *id,
				const char *why)
{
	struct mailbox *box = coi_webpush_inbox_alloc(user);
	struct mailbox_transaction_context *t;
	int ret;

	if ((ret = mailbox_open(box)) == 0) {
		t = mailbox_transaction_begin(box,
			MAILBOX_TRANSACTION_FLAG_EXTERNAL, __func__);
		ret = coi_webpush_subscription_store(t, id, NULL);
		if (ret < 0)
			mailbox_transaction_rollback(&t);
		else
			ret = mailbox_transaction_commit(&t);
	}
	if (ret < 0) {
		e_error(user->event, "coi: Failed to remove WebPush "
			"subscription %s (%s): %s", id, why,
			mailbox_get_last_internal_error(box, NULL));
	} else {
		e_info(user->event, "coi: Removed WebPush subscription %s: %s",
		       id, why);
	}
	mailbox_free(&box);
}

/*
 * Sending
 */

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

static void
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
		e_error(user->event, "coi: Failed to list WebPush "
			"subscriptions: %s",
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

/*
 * METADATA entries
 */

static int
coi_webpush_attribute_vapid_get(struct mailbox *box,
				const char *key ATTR_UNUSED,
				struct mail_attribute_value *value_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_keys *keys;

	if (!coi_webpush_user_enabled(user))
		return 0;
	if (coi_webpush_keys_get(user, &keys) < 0) {
		mail_storage_set_internal_error(box->storage);
		return -1;
	}
	value_r->value = coi_webpush_vapid_key_get_public_pem(keys->key);
	return 1;
}

/* The part of key after ".../subscriptions/". */
static const char *coi_webpush_attribute_suffix(const char *key)
{
	if (!str_begins(key, COI_WEBPUSH_SUBSCRIPTIONS_KEY))
		return NULL;
	return key + strlen(COI_WEBPUSH_SUBSCRIPTIONS_KEY);
}

static int
coi_webpush_attribute_subscription_get(struct mailbox *box, const char *key,
				       struct mail_attribute_value *value_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_subscription sub;
	const char *id = coi_webpush_attribute_suffix(key);
	int ret;

	if (!coi_webpush_user_enabled(user) || id == NULL ||
	    !coi_webpush_subscription_id_is_valid(id))
		return 0;
	ret = coi_webpush_subscription_lookup(box, id,
					      coi_webpush_gone_get(user),
					      pool_datastack_create(), &sub);
	if (ret <= 0)
		return ret;
	value_r->value = coi_webpush_subscription_to_json(&sub);
	return 1;
}

static int
coi_webpush_attribute_iter(struct mailbox *box, const char *key_prefix,
			   pool_t pool, ARRAY_TYPE(const_string) *keys)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_subscription sub;
	ARRAY_TYPE(const_string) ids, listed;
	const ARRAY_TYPE(coi_push_gone) *gone;
	const char *id;
	int ret = 0;

	if (!coi_webpush_user_enabled(user) || key_prefix[0] != '\0')
		return 0;
	/* keys is the caller's data-stack array: it may grow only in the
	   caller's frame, so the ids are collected here and added below */
	i_array_init(&listed, 8);
	T_BEGIN {
		t_array_init(&ids, 8);
		if (coi_webpush_subscription_ids(box, pool_datastack_create(),
						 &ids) < 0)
			ret = -1;
		gone = coi_webpush_gone_get(user);
		array_foreach_elem(&ids, id) {
			int lret = coi_webpush_subscription_lookup(box, id,
				gone, pool_datastack_create(), &sub);
			if (lret < 0)
				ret = -1;
			else if (lret > 0) {
				id = p_strdup(pool, id);
				array_push_back(&listed, &id);
			}
		}
	} T_END;
	array_append_array(keys, &listed);
	array_free(&listed);
	return ret;
}

static int coi_webpush_attribute_error(struct mailbox *box, const char *error)
{
	mail_storage_set_error(box->storage, MAIL_ERROR_PARAMS, error);
	return -1;
}

static int
coi_webpush_attribute_validate(struct mailbox_transaction_context *t,
			       const char *id,
			       const struct mail_attribute_value *value)
{
	struct mailbox *box = t->box;
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_keys *keys;
	struct coi_webpush_subscription sub;
	const char *token, *error;
	unsigned int window;
	int ret;

	ret = coi_attribute_value_read(box, value,
		COI_WEBPUSH_VALIDATION_TOKEN_MAX_LEN, &token);
	if (ret < 0)
		return -1;
	if (ret == 0 || token == NULL)
		return coi_webpush_attribute_error(box,
			COI_WEBPUSH_ERROR_INVALID_VALIDATION);
	ret = coi_webpush_subscription_lookup(box, id,
					      coi_webpush_gone_get(user),
					      pool_datastack_create(), &sub);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return coi_webpush_attribute_error(box,
			COI_WEBPUSH_ERROR_INVALID_VALIDATION);
	if (coi_webpush_keys_get(user, &keys) < 0) {
		mail_storage_set_internal_error(box->storage);
		return -1;
	}
	window = coi_user_settings(user)->webpush_validation_window_secs;
	if (coi_webpush_validation_token_check(keys->secret->data,
			keys->secret->used, user->username, id, token,
			ioloop_time, window, &error) < 0 ||
	    /* the token must be the one sent for this subscription, not one
	       for an earlier subscription under the same id */
	    strtoll(token, NULL, 10) != (long long)sub.created) {
		e_debug(user->event, "coi: WebPush validation of %s "
			"refused: %s", id, error);
		return coi_webpush_attribute_error(box,
			COI_WEBPUSH_ERROR_INVALID_VALIDATION);
	}
	if (sub.validated)
		return 0;
	sub.validated = TRUE;
	return coi_webpush_subscription_store(t, id, &sub);
}

/*
 * The subscription limit: counting and storing are one step for all
 * sessions of a user. A lock file is taken before counting and released
 * when the transaction that stores the new subscription commits or rolls
 * back, so concurrent sessions cannot each see room for one more.
 */

#define COI_WEBPUSH_TRANSACTION_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_webpush_storage_module)
#define COI_WEBPUSH_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_webpush_storage_module)

struct coi_webpush_mailbox {
	union mailbox_module_context module_ctx;
};

struct coi_webpush_transaction {
	union mailbox_transaction_module_context module_ctx;
	struct file_lock *limit_lock;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_webpush_storage_module,
				  &mail_storage_module_register);

static int
coi_webpush_limit_lock(struct mailbox_transaction_context *t,
		       const char **error_r)
{
	struct mail_user *user = mailbox_get_namespace(t->box)->user;
	struct coi_webpush_transaction *wt;
	struct file_lock *lock;
	const char *error;
	int ret;

	if (MODULE_CONTEXT(t->box, coi_webpush_storage_module) == NULL) {
		/* not the user's INBOX: nothing would release a lock */
		*error_r = "WebPush is not available";
		return -1;
	}
	wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);
	if (wt != NULL && wt->limit_lock != NULL)
		return 0;
	ret = mail_user_lock_file_create(user, COI_WEBPUSH_LOCK_FNAME,
					 COI_WEBPUSH_LOCK_SECS, &lock, &error);
	if (ret <= 0) {
		e_error(user->event, "coi: Failed to lock the WebPush "
			"subscriptions: %s", ret == 0 ? "Timed out" : error);
		*error_r = "The push subscriptions are busy, try again";
		return -1;
	}
	if (wt == NULL) {
		wt = p_new(t->box->pool, struct coi_webpush_transaction, 1);
		MODULE_CONTEXT_SET(t, coi_webpush_storage_module, wt);
	}
	wt->limit_lock = lock;
	return 0;
}

static void
coi_webpush_limit_unlock(struct mailbox_transaction_context *t)
{
	struct coi_webpush_transaction *wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);

	if (wt != NULL && wt->limit_lock != NULL)
		file_lock_free(&wt->limit_lock);
}

static int
coi_webpush_transaction_commit(struct mailbox_transaction_context *t,
			       struct mail_transaction_commit_changes *changes_r)
{
	struct coi_webpush_mailbox *wbox = COI_WEBPUSH_MAILBOX_CONTEXT(t->box);
	struct coi_webpush_transaction *wt = COI_WEBPUSH_TRANSACTION_CONTEXT(t);
	struct file_lock *lock = wt == NULL ? NULL : wt->limit_lock;
	int ret;

	/* t is freed by the commit: the lock is released after it */
	ret = wbox->module_ctx.super.transaction_commit(t, changes_r);
	if (lock != NULL)
		file_lock_free(&lock);
	return ret;
}

static void
coi_webpush_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct coi_webpush_mailbox *wbox = COI_WEBPUSH_MAILBOX_CONTEXT(t->box);

	coi_webpush_limit_unlock(t);
	wbox->module_ctx.super.transaction_rollback(t);
}

void coi_webpush_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_webpush_mailbox *wbox;

	/* the subscriptions are server attributes, kept with INBOX */
	if (!box->inbox_user ||
	    !coi_webpush_user_enabled(mailbox_get_namespace(box)->user))
		return;
	wbox = p_new(box->pool, struct coi_webpush_mailbox, 1);
	wbox->module_ctx.super = *v;
	box->vlast = &wbox->module_ctx.super;
	v->transaction_commit = coi_webpush_transaction_commit;
	v->transaction_rollback = coi_webpush_transaction_rollback;
	MODULE_CONTEXT_SET(box, coi_webpush_storage_module, wbox);
}

static int
coi_webpush_attribute_subscribe(struct mailbox_transaction_context *t,
				const char *id,
				const struct mail_attribute_value *value)
{
	struct mailbox *box = t->box;
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_subscription sub, old;
	ARRAY_TYPE(const_string) ids;
	const ARRAY_TYPE(coi_push_gone) *gone;
	buffer_t *point;
	const char *json, *error, *other;
	unsigned int count = 0, max;
	int ret;

	ret = coi_attribute_value_read(box, value,
		COI_WEBPUSH_SUBSCRIPTION_JSON_MAX_LEN, &json);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return coi_webpush_attribute_error(box,
			"Invalid subscription: value too long");
	if (json == NULL) {
		/* NIL: unsubscribe */
		return coi_webpush_subscription_store(t, id, NULL);
	}
	if (coi_webpush_subscription_parse_request(pool_datastack_create(),
						   json, &sub, &error) < 0)
		return coi_webpush_attribute_error(box, error);
	point = t_buffer_create(65);
	if (coi_webpush_p256dh_parse(sub.p256dh, point, &error) < 0) {
		return coi_webpush_attribute_error(box, t_strconcat(
			"Invalid subscription: resource.keys.p256dh: ",
			error, NULL));
	}
	if (coi_webpush_check_endpoint(user, sub.endpoint, &error) < 0) {
		return coi_webpush_attribute_error(box, t_strconcat(
			"Invalid subscription: resource.endpoint: ",
			error, NULL));
	}

	/* Replacing an existing id is always allowed; new ids only up to the
	   limit. Unvalidated subscriptions past their window are gone. */
	if (coi_webpush_limit_lock(t, &error) < 0)
		return coi_webpush_attribute_error(box, error);
	t_array_init(&ids, 8);
	if (coi_webpush_subscription_ids(box, pool_datastack_create(),
					 &ids) < 0)
		return -1;
	gone = coi_webpush_gone_get(user);
	array_foreach_elem(&ids, other) {
		ret = coi_webpush_subscription_lookup(box, other, gone,
			pool_datastack_create(), &old);
		if (ret < 0)
			return -1;
		if (ret == 0) {
			if (coi_webpush_subscription_store(t, other, NULL) < 0)
				return -1;
		} else if (strcmp(other, id) != 0) {
			count++;
		}
	}
	max = coi_user_settings(user)->webpush_max_subscriptions;
	if (count >= max) {
		return coi_webpush_attribute_error(box, t_strdup_printf(
			"Too many push subscriptions (at most %u): "
			"remove one first", max));
	}

	sub.created = ioloop_time;
	sub.validated = FALSE;
	if (coi_webpush_subscription_store(t, id, &sub) < 0)
		return -1;
	/* Asynchronous: the reply does not wait for the push service. */
	coi_webpush_send_validation(user, id, &sub);
	return 0;
}

static int
coi_webpush_attribute_subscription_set(struct mailbox_transaction_context *t,
				       const char *key,
				       const struct mail_attribute_value *value)
{
	struct mail_user *user = mailbox_get_namespace(t->box)->user;
	const char *suffix = coi_webpush_attribute_suffix(key);
	const char *id, *p;

	if (!coi_webpush_user_enabled(user) || suffix == NULL)
		return coi_webpush_attribute_error(t->box,
			"WebPush is not available");
	p = strchr(suffix, '/');
	id = p == NULL ? suffix : t_strdup_until(suffix, p);
	if (!coi_webpush_subscription_id_is_valid(id))
		return coi_webpush_attribute_error(t->box,
			COI_WEBPUSH_ERROR_INVALID_ID);
	if (p == NULL)
		return coi_webpush_attribute_subscribe(t, id, value);
	if (strcmp(p, COI_WEBPUSH_VALIDATE_SUFFIX) == 0)
		return coi_webpush_attribute_validate(t, id, value);
	return coi_webpush_attribute_error(t->box,
					   COI_WEBPUSH_ERROR_UNKNOWN_ENTRY);
}

/* Without a set() Dovecot's own refusal would name the internal key. */
static int
coi_webpush_attribute_vapid_set(struct mailbox_transaction_context *t,
				const char *key ATTR_UNUSED,
				const struct mail_attribute_value *value ATTR_UNUSED)
{
	return coi_webpush_attribute_error(t->box,
		"The WebPush VAPID key is read-only: the server makes it");
}

static const struct mailbox_attribute_internal coi_webpush_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_WEBPUSH_VAPID_KEY,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_webpush_attribute_vapid_get,
		.set = coi_webpush_attribute_vapid_set,
	},
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_WEBPUSH_SUBSCRIPTIONS_KEY,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED |
			MAIL_ATTRIBUTE_INTERNAL_FLAG_CHILDREN,
		.get = coi_webpush_attribute_subscription_get,
		.set = coi_webpush_attribute_subscription_set,
		.iter = coi_webpush_attribute_iter,
	},
};

void coi_webpush_attributes_register(void)
{
	mailbox_attribute_register_internals(coi_webpush_attributes,
		N_ELEMENTS(coi_webpush_attributes));
}

void coi_webpush_attributes_unregister(void)
{
	mailbox_attribute_unregister_internals(coi_webpush_attributes,
		N_ELEMENTS(coi_webpush_attributes));
}
