/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* WebPush as IMAP METADATA entries: the server's VAPID key and the
   client's subscriptions (webpush-spec.md), validated on SETMETADATA. */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "ioloop.h"
#include "mail-storage-private.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-push-policy.h"
#include "coi-webpush-crypto.h"
#include "coi-webpush-subscription.h"
#include "coi-webpush.h"
#include "coi-webpush-private.h"

#define COI_WEBPUSH_SERVER_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER "vendor/vendor.dovecot/webpush/"
#define COI_WEBPUSH_VAPID_KEY COI_WEBPUSH_SERVER_PREFIX "vapid"
#define COI_WEBPUSH_SUBSCRIPTIONS_KEY COI_WEBPUSH_SERVER_PREFIX "subscriptions/"
#define COI_WEBPUSH_VALIDATE_SUFFIX "/validate"
#define COI_WEBPUSH_VALIDATION_TOKEN_MAX_LEN 1024

#define COI_WEBPUSH_ERROR_INVALID_ID \
	"Invalid subscription ID: use 10 to 36 characters of [0-9A-Za-z_-]"
#define COI_WEBPUSH_ERROR_INVALID_VALIDATION "invalid validation"
#define COI_WEBPUSH_ERROR_UNKNOWN_ENTRY "Unknown WebPush entry"

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
	if (!str_begins_with(key, COI_WEBPUSH_SUBSCRIPTIONS_KEY))
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
