/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "buffer.h"
#include "str.h"
#include "istream.h"
#include "hostpid.h"
#include "ioloop.h"
#include "json-parser.h"
#include "settings-parser.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-plugin.h"
#include "coi-push-sender.h"
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

#define COI_WEBPUSH_MAX_SUBSCRIPTIONS_DEFAULT 10
#define COI_WEBPUSH_VALIDATION_WINDOW_DEFAULT_SECS (5 * 60)
#define COI_WEBPUSH_TTL_DEFAULT_SECS (24 * 60 * 60)
/* RFC 8292: at most 24 hours; retries stay well within this. */
#define COI_WEBPUSH_JWT_LIFETIME_SECS (12 * 60 * 60)
#define COI_WEBPUSH_VALIDATION_TOKEN_MAX_LEN 1024

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

/* A push on its way. It does not reference the mail_user: LMTP frees the
   user right after the delivery while the push is still running. */
struct coi_webpush_job {
	pool_t pool;
	const char *username;
	const char *id;
	bool validation;
	/* What the request was made of; its payload_without_content (set
	   when the first request carried the message content) is encrypted
	   only if a 413 asks for the retry without it. */
	struct coi_webpush_prepared *prep;
};

/* A subscription the push service declared gone (404/410) while its user
   was not active in this process: removed when the user is next active
   here. If the process exits first, the next push to it gets the same
   answer and tries again. */
struct coi_webpush_gone {
	char *username;
	char *id;
};
#define COI_WEBPUSH_GONE_MAX 1000

static struct coi_webpush_keys *coi_webpush_keys = NULL;
static void coi_webpush_jwt_cache_free(void);
/* username -> the user's mail_user while it exists in this process */
static HASH_TABLE(char *, struct mail_user *) coi_webpush_live_users;
static ARRAY(struct coi_webpush_gone) coi_webpush_gone_list;

bool coi_webpush_user_enabled(struct mail_user *user)
{
	const char *path;

	if (!coi_user_has_plugin(user))
		return FALSE;
	path = mail_user_plugin_getenv(user, "coi_webpush_vapid_key");
	return path != NULL && path[0] != '\0';
}

static unsigned int
coi_webpush_setting_secs(struct mail_user *user, const char *name,
			 unsigned int default_secs)
{
	return coi_push_setting_msecs(user, name, default_secs * 1000) / 1000;
}

static unsigned int coi_webpush_max_subscriptions(struct mail_user *user)
{
	return coi_push_setting_uint(user, "coi_webpush_max_subscriptions",
				     COI_WEBPUSH_MAX_SUBSCRIPTIONS_DEFAULT);
}

static const char *coi_webpush_subject(struct mail_user *user)
{
	const char *subject = mail_user_plugin_getenv(user,
		"coi_webpush_subject");

	if (subject != NULL && subject[0] != '\0')
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

	key_path = mail_user_plugin_getenv(user, "coi_webpush_vapid_key");
	i_assert(key_path != NULL && key_path[0] != '\0');
	secret_path = mail_user_plugin_getenv(user, "coi_webpush_secret");
	if (secret_path == NULL || secret_path[0] == '\0')
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
	struct coi_webpush_gone *gone;

	if (coi_webpush_keys != NULL)
		coi_webpush_keys_free(&coi_webpush_keys);
	if (array_is_created(&coi_webpush_gone_list)) {
		array_foreach_modifiable(&coi_webpush_gone_list, gone) {
			i_free(gone->username);
			i_free(gone->id);
		}
		array_free(&coi_webpush_gone_list);
	}
	if (hash_table_is_created(coi_webpush_live_users)) {
		/* users deinit before the plugin; nothing should be left */
		hash_table_destroy(&coi_webpush_live_users);
	}
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

static bool
coi_webpush_subscription_expired(struct mail_user *user,
				 const struct coi_webpush_subscription *sub)
{
	unsigned int window = coi_webpush_setting_secs(user,
		"coi_webpush_validation_window",
		COI_WEBPUSH_VALIDATION_WINDOW_DEFAULT_SECS);

	return !sub->validated && sub->created + (time_t)window < ioloop_time;
}

/* Returns 1 and the subscription, 0 if there is none (or it is an
   unvalidated one past its window), -1 on storage errors. */
static int
coi_webpush_subscription_lookup(struct mailbox *box, const char *id,
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
	return coi_webpush_subscription_expired(user, sub_r) ? 0 : 1;
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

static void coi_webpush_job_free(struct coi_webpush_job **_job)
{
	struct coi_webpush_job *job = *_job;

	*_job = NULL;
	pool_unref(&job->pool);
}

static void coi_webpush_gone_add(const char *username, const char *id)
{
	struct coi_webpush_gone *gone;

	if (!array_is_created(&coi_webpush_gone_list))
		i_array_init(&coi_webpush_gone_list, 8);
	array_foreach_modifiable(&coi_webpush_gone_list, gone) {
		if (strcmp(gone->username, username) == 0 &&
		    strcmp(gone->id, id) == 0)
			return;
	}
	if (array_count(&coi_webpush_gone_list) >= COI_WEBPUSH_GONE_MAX) {
		/* forget the oldest: the push service will say it again */
		gone = array_idx_modifiable(&coi_webpush_gone_list, 0);
		i_free(gone->username);
		i_free(gone->id);
		array_delete(&coi_webpush_gone_list, 0, 1);
	}
	gone = array_append_space(&coi_webpush_gone_list);
	gone->username = i_strdup(username);
	gone->id = i_strdup(id);
}

static void coi_webpush_gone_apply(struct mail_user *user)
{
	struct coi_webpush_gone *gone;
	unsigned int i;

	if (!array_is_created(&coi_webpush_gone_list))
		return;
	for (i = 0; i < array_count(&coi_webpush_gone_list); ) {
		gone = array_idx_modifiable(&coi_webpush_gone_list, i);
		if (strcmp(gone->username, user->username) != 0) {
			i++;
			continue;
		}
		coi_webpush_subscription_delete(user, gone->id,
			"the push service reported it gone");
		i_free(gone->username);
		i_free(gone->id);
		array_delete(&coi_webpush_gone_list, i, 1);
	}
}

static struct mail_user *coi_webpush_live_user(const char *username)
{
	if (!hash_table_is_created(coi_webpush_live_users))
		return NULL;
	return hash_table_lookup(coi_webpush_live_users, username);
}

void coi_webpush_user_ready(struct mail_user *user)
{
	char *key;

	if (!hash_table_is_created(coi_webpush_live_users)) {
		hash_table_create(&coi_webpush_live_users, default_pool, 0,
				  str_hash, strcmp);
	}
	if (hash_table_lookup(coi_webpush_live_users, user->username) == NULL) {
		key = i_strdup(user->username);
		hash_table_insert(coi_webpush_live_users, key, user);
	}
	if (coi_webpush_user_enabled(user))
		coi_webpush_gone_apply(user);
}

void coi_webpush_user_deinit(struct mail_user *user)
{
	char *key;
	struct mail_user *live;

	if (!hash_table_is_created(coi_webpush_live_users) ||
	    !hash_table_lookup_full(coi_webpush_live_users, user->username,
				    &key, &live) || live != user)
		return;
	hash_table_remove(coi_webpush_live_users, user->username);
	i_free(key);
}

/* Everything a push needs, copied out of the user: it is prepared after
   the delivery (or command) has finished, when LMTP has freed the user. */
struct coi_webpush_prepared {
	struct coi_webpush_job *job;
	struct coi_webpush_subscription sub;
	const char *subject;
	unsigned int ttl;
	const char *payload;
	const char *payload_without_content;
};

static int
coi_webpush_request_build(const struct coi_webpush_prepared *prep,
			  const char *payload,
			  struct coi_push_request_params **params_r,
			  const char **error_r);

/* Sends the job's push again without the message content, once. */
static int
coi_webpush_retry_without_content(struct coi_webpush_job *job,
				  const char **error_r);

static void
coi_webpush_job_callback(enum coi_push_result result, unsigned int status,
			 const char *reason, struct coi_webpush_job *job)
{
	struct mail_user *user = coi_webpush_live_user(job->username);
	const char *what = job->validation ? "validation" : "message";
	const char *error;

	switch (result) {
	case COI_PUSH_RESULT_DELIVERED:
		if (user != NULL) {
			e_debug(user->event, "coi: WebPush %s to "
				"subscription %s: %s", what, job->id, reason);
		}
		break;
	case COI_PUSH_RESULT_GONE:
		if (user != NULL) {
			coi_webpush_subscription_delete(user, job->id,
				t_strdup_printf("the push service answered %s",
						reason));
		} else {
			coi_webpush_gone_add(job->username, job->id);
		}
		break;
	case COI_PUSH_RESULT_TOO_LARGE:
		if (job->prep->payload_without_content != NULL) {
			if (coi_webpush_retry_without_content(job, &error) == 0)
				return;
			reason = t_strdup_printf("%s, and the retry without "
						 "content failed: %s", reason,
						 error);
		}
		/* fall through */
	case COI_PUSH_RESULT_REJECTED:
	case COI_PUSH_RESULT_FAILED:
		i_warning("coi: %s: WebPush %s to subscription %s failed: %s",
			  job->username, what, job->id, reason);
		break;
	}
	(void)status;
	coi_webpush_job_free(&job);
}

static void
coi_webpush_header_add(ARRAY_TYPE(const_string) *headers, const char *name,
		       const char *value)
{
	array_push_back(headers, &name);
	array_push_back(headers, &value);
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


/* Builds the encrypted request for one payload, in pool. */
static int
coi_webpush_request_build(const struct coi_webpush_prepared *prep,
			  const char *payload,
			  struct coi_push_request_params **params_r,
			  const char **error_r)
{
	struct coi_webpush_job *job = prep->job;
	const struct coi_webpush_subscription *sub = &prep->sub;
	pool_t pool = job->pool;
	struct coi_push_request_params *params;
	buffer_t *ua_public, *auth, *body;
	const char *origin, *authorization, *urgency;
	ARRAY_TYPE(const_string) headers;

	if (coi_webpush_keys == NULL) {
		*error_r = "VAPID key not available";
		return -1;
	}
	ua_public = t_buffer_create(65);
	auth = t_buffer_create(16);
	body = t_buffer_create(strlen(payload) + 128);
	if (coi_webpush_p256dh_decode(sub->p256dh, ua_public, error_r) < 0 ||
	    coi_webpush_auth_parse(sub->auth, auth, error_r) < 0 ||
	    coi_webpush_encrypt(ua_public->data, auth->data, payload,
				strlen(payload), body, error_r) < 0 ||
	    coi_webpush_endpoint_origin(sub->endpoint, &origin,
					error_r) < 0 ||
	    coi_webpush_authorization(coi_webpush_keys, origin, prep->subject,
				      &authorization, error_r) < 0)
		return -1;

	/* RFC 8030: "high" may wake a device at once; chats are meant to */
	urgency = !job->validation && sub->msgtype == COI_WEBPUSH_MSGTYPE_CHAT ?
		"high" : "normal";
	p_array_init(&headers, pool, 16);
	coi_webpush_header_add(&headers, "Content-Encoding", "aes128gcm");
	coi_webpush_header_add(&headers, "Content-Type",
			       "application/octet-stream");
	coi_webpush_header_add(&headers, "TTL",
			       p_strdup(pool, dec2str(prep->ttl)));
	coi_webpush_header_add(&headers, "Urgency", urgency);
	coi_webpush_header_add(&headers, "Authorization",
			       p_strdup(pool, authorization));
	if (job->validation)
		coi_webpush_header_add(&headers, "WebPush-Validation", "");
	array_append_zero(&headers);

	params = p_new(pool, struct coi_push_request_params, 1);
	params->url = sub->endpoint;
	params->headers = array_front(&headers);
	params->body = p_memdup(pool, body->data, body->used);
	params->body_size = body->used;
	params->username = job->username;
	params->log_label = p_strdup_printf(pool, "WebPush subscription %s",
					    job->id);
	*params_r = params;
	return 0;
}

static int
coi_webpush_retry_without_content(struct coi_webpush_job *job,
				  const char **error_r)
{
	struct coi_webpush_prepared *prep = job->prep;
	struct coi_push_request_params *params;

	if (coi_webpush_request_build(prep, prep->payload_without_content,
				      &params, error_r) < 0)
		return -1;
	prep->payload_without_content = NULL;
	return coi_push_send(NULL, params, coi_webpush_job_callback, job,
			     error_r);
}

static void coi_webpush_prepared_send(struct coi_webpush_prepared *prep)
{
	struct coi_webpush_job *job = prep->job;
	struct coi_push_request_params *params;
	const char *error;

	if (coi_webpush_request_build(prep, prep->payload, &params,
				      &error) < 0 ||
	    coi_push_send(NULL, params, coi_webpush_job_callback, job,
			  &error) < 0) {
		i_warning("coi: %s: WebPush %s to subscription %s not sent: %s",
			  job->username, job->validation ? "validation" :
			  "message", job->id, error);
		coi_webpush_job_free(&job);
	}
}

/* Queues a push of payload (and prepares payload_without_content for a
   413); the encryption and sending happen after the caller returned. */
static void
coi_webpush_send(struct mail_user *user, const char *id,
		 const struct coi_webpush_subscription *sub, bool validation,
		 const char *payload, const char *payload_without_content)
{
	struct coi_webpush_keys *keys;
	struct coi_webpush_job *job;
	struct coi_webpush_prepared *prep;
	pool_t pool;

	/* loads the keys now, while the user's settings are at hand */
	if (coi_webpush_keys_get(user, &keys) < 0)
		return;

	pool = pool_alloconly_create("coi webpush job", 4096);
	job = p_new(pool, struct coi_webpush_job, 1);
	job->pool = pool;
	job->username = p_strdup(pool, user->username);
	job->id = p_strdup(pool, id);
	job->validation = validation;

	prep = p_new(pool, struct coi_webpush_prepared, 1);
	prep->job = job;
	job->prep = prep;
	prep->sub = *sub;
	prep->sub.client = p_strdup(pool, sub->client);
	prep->sub.device = p_strdup(pool, sub->device);
	prep->sub.endpoint = p_strdup(pool, sub->endpoint);
	prep->sub.p256dh = p_strdup(pool, sub->p256dh);
	prep->sub.auth = p_strdup(pool, sub->auth);
	prep->subject = p_strdup(pool, coi_webpush_subject(user));
	prep->ttl = coi_webpush_setting_secs(user, "coi_webpush_ttl",
					     COI_WEBPUSH_TTL_DEFAULT_SECS);
	prep->payload = p_strdup(pool, payload);
	prep->payload_without_content = p_strdup(pool, payload_without_content);
	coi_push_defer(user, coi_webpush_prepared_send, prep);
}

static void
coi_webpush_send_validation(struct mail_user *user, const char *id,
			    const struct coi_webpush_subscription *sub)
{
	struct coi_webpush_keys *keys;
	const char *token;
	string_t *payload;

	if (coi_webpush_keys_get(user, &keys) < 0)
		return;
	token = coi_webpush_validation_token(keys->secret->data,
		keys->secret->used, user->username, id, sub->created);
	payload = t_str_new(128);
	str_append(payload, "{\"validation\":\"");
	json_append_escaped(payload, token);
	str_append(payload, "\"}");
	coi_webpush_send(user, id, sub, TRUE, str_c(payload), NULL);
}

static bool
coi_webpush_msgtype_matches(const struct coi_webpush_subscription *sub,
			    const struct coi_webpush_message *msg)
{
	return (sub->msgtype & (msg->is_chat ? COI_WEBPUSH_MSGTYPE_CHAT :
				COI_WEBPUSH_MSGTYPE_MAIL)) != 0;
}

static void
coi_webpush_notify_subscription(struct mail_user *user, const char *id,
				const struct coi_webpush_subscription *sub,
				const struct coi_webpush_message *msg)
{
	const char *payload;
	bool content_included;

	payload = coi_webpush_payload_build(msg, COI_WEBPUSH_PAYLOAD_MAX,
					    &content_included);
	coi_webpush_send(user, id, sub, FALSE, payload, !content_included ?
			 NULL : coi_webpush_payload_build_without_content(msg));
}

struct coi_webpush_recipient {
	const char *id;
	struct coi_webpush_subscription sub;
};

struct coi_webpush_recipients {
	ARRAY(struct coi_webpush_recipient) subs;
};

struct coi_webpush_recipients *
coi_webpush_recipients_get(struct mail_user *user, pool_t pool)
{
	struct coi_webpush_recipients *rcpts;
	struct coi_webpush_recipient *rcpt;
	struct coi_webpush_subscription sub;
	struct coi_config_cache_entry *cache_entry = NULL;
	ARRAY_TYPE(const_string) ids;
	struct mailbox *box;
	const char *id, *dict_path;
	bool has_subscriptions;
	int ret;

	if (!coi_webpush_user_enabled(user))
		return NULL;
	/* Asked for every delivery: most users have no subscription, and
	   listing the attributes costs more than all of COI's filing. */
	dict_path = coi_user_attribute_dict_path(user);
	if (dict_path != NULL &&
	    coi_config_cache_lookup_webpush(user->username, dict_path,
					    &has_subscriptions,
					    &cache_entry) > 0 &&
	    !has_subscriptions)
		return NULL;

	rcpts = p_new(pool, struct coi_webpush_recipients, 1);
	p_array_init(&rcpts->subs, pool, 4);
	T_BEGIN {
		box = coi_webpush_inbox_alloc(user);
		t_array_init(&ids, 8);
		if (coi_webpush_subscription_ids(box, pool_datastack_create(),
						 &ids) < 0) {
			e_error(user->event, "coi: Failed to list WebPush "
				"subscriptions: %s",
				mailbox_get_last_internal_error(box, NULL));
		} else if (cache_entry != NULL) {
			coi_config_cache_update_webpush(cache_entry,
							array_count(&ids) > 0);
		}
		array_foreach_elem(&ids, id) {
			ret = coi_webpush_subscription_lookup(box, id, pool,
							      &sub);
			if (ret < 0) {
				e_error(user->event, "coi: Failed to read "
					"WebPush subscription %s: %s", id,
					mailbox_get_last_internal_error(box,
									NULL));
			} else if (ret > 0 && sub.validated) {
				rcpt = array_append_space(&rcpts->subs);
				rcpt->id = p_strdup(pool, id);
				rcpt->sub = sub;
			}
		}
		mailbox_free(&box);
	} T_END;
	return array_count(&rcpts->subs) == 0 ? NULL : rcpts;
}

void coi_webpush_notify_message(struct mail_user *user,
				const struct coi_webpush_recipients *rcpts,
				const struct coi_webpush_message *msg)
{
	const struct coi_webpush_recipient *rcpt;

	if (msg->is_disposition_notification)
		return;
	array_foreach(&rcpts->subs, rcpt) {
		if (coi_webpush_msgtype_matches(&rcpt->sub, msg))
			coi_webpush_notify_subscription(user, rcpt->id,
							&rcpt->sub, msg);
	}
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
	ARRAY_TYPE(const_string) ids;
	const char *id;
	int ret = 0;

	if (!coi_webpush_user_enabled(user) || key_prefix[0] != '\0')
		return 0;
	T_BEGIN {
		t_array_init(&ids, 8);
		if (coi_webpush_subscription_ids(box, pool_datastack_create(),
						 &ids) < 0)
			ret = -1;
		array_foreach_elem(&ids, id) {
			int lret = coi_webpush_subscription_lookup(box, id,
				pool_datastack_create(), &sub);
			if (lret < 0)
				ret = -1;
			else if (lret > 0) {
				const char *listed = p_strdup(pool, id);
				array_push_back(keys, &listed);
			}
		}
	} T_END;
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
	window = coi_webpush_setting_secs(user, "coi_webpush_validation_window",
		COI_WEBPUSH_VALIDATION_WINDOW_DEFAULT_SECS);
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

static int
coi_webpush_attribute_subscribe(struct mailbox_transaction_context *t,
				const char *id,
				const struct mail_attribute_value *value)
{
	struct mailbox *box = t->box;
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct coi_webpush_subscription sub, old;
	ARRAY_TYPE(const_string) ids;
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
	if (coi_push_check_url(user, sub.endpoint, &error) < 0) {
		return coi_webpush_attribute_error(box, t_strconcat(
			"Invalid subscription: resource.endpoint: ",
			error, NULL));
	}

	/* Replacing an existing id is always allowed; new ids only up to the
	   limit. Unvalidated subscriptions past their window are gone. */
	t_array_init(&ids, 8);
	if (coi_webpush_subscription_ids(box, pool_datastack_create(),
					 &ids) < 0)
		return -1;
	array_foreach_elem(&ids, other) {
		ret = coi_webpush_subscription_lookup(box, other,
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
	max = coi_webpush_max_subscriptions(user);
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

static const struct mailbox_attribute_internal coi_webpush_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_WEBPUSH_VAPID_KEY,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_webpush_attribute_vapid_get,
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
