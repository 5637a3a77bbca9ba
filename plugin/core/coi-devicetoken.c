/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "str.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "ioloop.h"
#include "settings-parser.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-push-job.h"
#include "coi-push-submit.h"
#include "coi-config-cache.h"
#include "coi-webpush-payload.h"
#include "coi-turn.h"
#include "coi-devicetoken.h"

#include <sys/stat.h>

/* The public entry on INBOX (Delta Chat: SETMETADATA "INBOX"
   (/private/devicetoken ...)). */
#define COI_DEVICETOKEN_KEY "devicetoken"
/* Where the accepted tokens are kept, one attribute per token, under
   Dovecot's internal prefix that IMAP clients cannot reach. */
#define COI_DEVICETOKEN_STORE_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/devicetoken/"
/* The server information entries Delta Chat reads on "". */
#define COI_DELTACHAT_SERVER_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER "vendor/deltachat/"

#define COI_DEVICETOKEN_ERROR_TOO_LONG \
	"Device token too long (at most 4096 octets)"
#define COI_DEVICETOKEN_ERROR_INVALID \
	"Invalid device token: use printable ASCII characters without spaces"

struct coi_devicetoken_recipients {
	ARRAY_TYPE(coi_devicetoken) tokens;
	const char *notify_url;
};

bool coi_devicetoken_user_enabled(struct mail_user *user)
{
	return coi_user_has_plugin(user) &&
		coi_user_settings(user)->deltachat_push;
}

/*
 * Storage
 */

static struct mailbox *coi_devicetoken_inbox_alloc(struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);

	return mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			     MAILBOX_FLAG_ATTRIBUTE_SESSION);
}

/* Stores dt, or removes the token id when dt is NULL. */
static int
coi_devicetoken_store(struct mailbox_transaction_context *t, const char *id,
		      const struct coi_devicetoken *dt)
{
	struct mail_attribute_value value;

	i_zero(&value);
	value.value = dt == NULL ? NULL : coi_devicetoken_stored_value(dt);
	return mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE,
		t_strconcat(COI_DEVICETOKEN_STORE_PREFIX, id, NULL), &value);
}

static int coi_devicetoken_cmp(const struct coi_devicetoken *a,
			       const struct coi_devicetoken *b)
{
	if (a->registered != b->registered)
		return a->registered < b->registered ? -1 : 1;
	if (a->registered_usecs != b->registered_usecs)
		return a->registered_usecs < b->registered_usecs ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Every stored token, expired ones included, oldest first. */
static int
coi_devicetoken_read_all(struct mailbox *box, pool_t pool,
			 ARRAY_TYPE(coi_devicetoken) *tokens)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	struct mailbox_attribute_iter *iter;
	struct mail_attribute_value value;
	struct coi_devicetoken parsed, *dt;
	ARRAY_TYPE(const_string) ids;
	const char *key;
	int ret;

	t_array_init(&ids, 8);
	iter = mailbox_attribute_iter_init(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_DEVICETOKEN_STORE_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		key = t_strdup(key);
		array_push_back(&ids, &key);
	}
	if (mailbox_attribute_iter_deinit(&iter) < 0)
		return -1;
	array_foreach_elem(&ids, key) {
		ret = mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
			t_strconcat(COI_DEVICETOKEN_STORE_PREFIX, key, NULL),
			&value);
		if (ret < 0)
			return -1;
		if (ret == 0)
			continue;
		if (value.value == NULL ||
		    coi_devicetoken_stored_parse(value.value, &parsed) < 0) {
			e_error(user->event, "coi: Ignoring broken stored "
				"device token %s", key);
			continue;
		}
		dt = array_append_space(tokens);
		*dt = parsed;
		dt->id = p_strdup(pool, key);
		dt->token = p_strdup(pool, parsed.token);
	}
	array_sort(tokens, coi_devicetoken_cmp);
	return 0;
}

static bool
coi_devicetoken_expired(struct mail_user *user, const struct coi_devicetoken *dt)
{
	const struct coi_settings *set = coi_user_settings(user);

	return dt->registered + (time_t)set->deltachat_token_expire_secs <
		ioloop_time;
}

/* Applies a list of removals in a transaction of its own. */
static int
coi_devicetoken_delete_ids(struct mailbox *box,
			   const ARRAY_TYPE(const_string) *ids)
{
	struct mailbox_transaction_context *t;
	const char *id;

	if (array_count(ids) == 0)
		return 0;
	if (mailbox_open(box) < 0)
		return -1;
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	array_foreach_elem(ids, id) {
		if (coi_devicetoken_store(t, id, NULL) < 0) {
			mailbox_transaction_rollback(&t);
			return -1;
		}
	}
	return mailbox_transaction_commit(&t);
}

static bool
coi_devicetoken_is_gone(const ARRAY_TYPE(coi_push_gone) *gone,
			const struct coi_devicetoken *dt)
{
	const struct coi_push_gone *g;

	array_foreach(gone, g) {
		if (strcmp(g->key, dt->id) == 0 && dt->registered <= g->when)
			return TRUE;
	}
	return FALSE;
}

static int
coi_devicetoken_list_box(struct mailbox *box, pool_t pool,
			 ARRAY_TYPE(coi_devicetoken) *tokens)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	ARRAY_TYPE(coi_devicetoken) all;
	ARRAY_TYPE(coi_push_gone) gone;
	ARRAY_TYPE(const_string) removed;
	const struct coi_devicetoken *dt;

	t_array_init(&all, 8);
	if (coi_devicetoken_read_all(box, pool, &all) < 0)
		return -1;
	if (array_count(&all) == 0)
		return 0;
	t_array_init(&gone, 4);
	/* the tokens the coi-push service recorded as gone (410): each
	   removes the token with that id unless it was registered again
	   after the notifier's answer */
	coi_push_gone_read(user, pool_datastack_create(), &gone);
	t_array_init(&removed, 4);
	array_foreach(&all, dt) {
		if (coi_devicetoken_is_gone(&gone, dt)) {
			array_push_back(&removed, &dt->id);
			e_info(user->event, "coi: Removed device token %s: "
			       "the notifier reported it gone", dt->id);
		} else if (!coi_devicetoken_expired(user, dt)) {
			array_push_back(tokens, dt);
		}
	}
	return coi_devicetoken_delete_ids(box, &removed);
}

int coi_devicetoken_list(struct mail_user *user, pool_t pool,
			 ARRAY_TYPE(coi_devicetoken) *tokens,
			 const char **error_r)
{
	struct mailbox *box;
	int ret;

	/* no data stack frame of its own: pool and tokens may be on the
	   caller's data stack */
	box = coi_devicetoken_inbox_alloc(user);
	ret = coi_devicetoken_list_box(box, pool, tokens);
	if (ret < 0)
		*error_r = t_strdup(mailbox_get_last_internal_error(box, NULL));
	mailbox_free(&box);
	return ret;
}

int coi_devicetoken_remove(struct mail_user *user, const char *id_prefix,
			   unsigned int *removed_r, const char **error_r)
{
	ARRAY_TYPE(coi_devicetoken) all;
	ARRAY_TYPE(const_string) ids;
	const struct coi_devicetoken *dt;
	struct mailbox *box;
	int ret;

	*removed_r = 0;
	T_BEGIN {
		box = coi_devicetoken_inbox_alloc(user);
		t_array_init(&all, 8);
		t_array_init(&ids, 8);
		ret = coi_devicetoken_read_all(box, pool_datastack_create(),
					       &all);
		if (ret == 0) {
			array_foreach(&all, dt) {
				if (id_prefix == NULL ||
				    str_begins_with(dt->id, id_prefix))
					array_push_back(&ids, &dt->id);
			}
			ret = coi_devicetoken_delete_ids(box, &ids);
		}
		if (ret < 0) {
			*error_r = t_strdup(mailbox_get_last_internal_error(
				box, NULL));
		} else {
			*removed_r = array_count(&ids);
		}
		mailbox_free(&box);
	} T_END_PASS_STR_IF(ret < 0, error_r);
	return ret;
}

/*
 * Notifications
 */

struct coi_devicetoken_recipients *
coi_devicetoken_recipients_get(struct mail_user *user, pool_t pool)
{
	struct coi_devicetoken_recipients *rcpts;
	struct coi_config_cache_entry *cache_entry = NULL;
	const char *error, *dict_path;
	bool has_tokens;
	int ret;

	if (!coi_devicetoken_user_enabled(user))
		return NULL;
	/* Asked for every delivery, and most users have no token: with a
	   file dict that is known without listing the attributes while the
	   dict file is unchanged (coi-config-cache.h). */
	dict_path = coi_user_attribute_dict_path(user);
	if (dict_path != NULL &&
	    coi_config_cache_lookup_devicetokens(user->username, dict_path,
						 &has_tokens,
						 &cache_entry) > 0 &&
	    !has_tokens)
		return NULL;

	rcpts = p_new(pool, struct coi_devicetoken_recipients, 1);
	p_array_init(&rcpts->tokens, pool, 4);
	T_BEGIN {
		ret = coi_devicetoken_list(user, pool, &rcpts->tokens, &error);
		if (ret < 0) {
			coi_user_attribute_error(user, user->event,
				"coi: Failed to read device tokens: %s", error);
		}
	} T_END;
	if (ret < 0)
		return NULL;
	/* Only "none at all" is worth remembering: expired and gone tokens
	   are judged again at every delivery. Removing gone tokens above
	   changed the file, so this describes the file as it was read;
	   the next lookup sees the new file and lists again. */
	if (cache_entry != NULL && array_count(&rcpts->tokens) == 0)
		coi_config_cache_update_devicetokens(cache_entry, FALSE);
	if (array_count(&rcpts->tokens) == 0)
		return NULL;
	rcpts->notify_url = p_strdup(pool,
		coi_user_settings(user)->deltachat_notify_url);
	return rcpts;
}

static bool
coi_devicetoken_message_is_from_user(struct mail_user *user,
				     const struct coi_webpush_message *msg)
{
	return msg->from_email != NULL &&
		strcasecmp(msg->from_email, user->username) == 0;
}

/* Hands the jobs to the coi-push service: one connect and one write on a
   local socket, so the delivery never waits for the notifier. The service
   spools them before sending. */
static void
coi_devicetoken_submit(struct mail_user *user,
		       const struct coi_devicetoken_recipients *rcpts)
{
	const struct coi_devicetoken *dt;
	struct coi_push_job job;
	string_t *lines = t_str_new(2048);
	const char *error;

	array_foreach(&rcpts->tokens, dt) {
		i_zero(&job);
		job.protocol = COI_PUSH_JOB_PROTOCOL_DELTACHAT;
		job.username = user->username;
		job.url = rcpts->notify_url;
		job.body = (const unsigned char *)dt->token;
		job.body_size = strlen(dt->token);
		/* one device with several accounts is woken once */
		job.dedupe_key = dt->id;
		job.gone_key = dt->id;
		job.created = ioloop_time;
		str_append(lines, coi_push_job_to_line(&job));
		str_append_c(lines, '\n');
	}

	if (coi_push_submit(user, lines, &error) < 0) {
		e_error(user->event, "coi: Delta Chat notification not sent: "
			"%s", error);
	} else {
		e_debug(user->event, "coi: Delta Chat notification queued "
			"for %u device tokens", array_count(&rcpts->tokens));
	}
}

void coi_devicetoken_notify_message(struct mail_user *user,
				    const struct coi_devicetoken_recipients *rcpts,
				    const struct coi_webpush_message *msg)
{
	/* Delta Chat sends copies of its own messages to the user's other
	   devices through the mailbox: those do not need a wakeup. */
	if (coi_devicetoken_message_is_from_user(user, msg))
		return;
	T_BEGIN {
		coi_devicetoken_submit(user, rcpts);
	} T_END;
}

/*
 * METADATA entries
 */

static int coi_devicetoken_error(struct mailbox *box, const char *error)
{
	mail_storage_set_error(box->storage, MAIL_ERROR_PARAMS, error);
	return -1;
}

static int
coi_devicetoken_register(struct mailbox_transaction_context *t,
			 const char *token)
{
	struct mailbox *box = t->box;
	struct mail_user *user = mailbox_get_namespace(box)->user;
	ARRAY_TYPE(coi_devicetoken) all;
	const struct coi_devicetoken *dt;
	struct coi_devicetoken new_dt;
	const char *id = coi_devicetoken_id(token);
	unsigned int max, kept = 0, i, count;

	max = coi_user_settings(user)->deltachat_max_tokens;
	if (max == 0)
		max = 1;
	t_array_init(&all, 8);
	if (coi_devicetoken_read_all(box, pool_datastack_create(), &all) < 0)
		return -1;
	/* Drop expired tokens and, past the limit, the oldest ones: the
	   newest registration always wins (a device that registers is in
	   use, the oldest token most likely belongs to a lost one). */
	dt = array_get(&all, &count);
	for (i = 0; i < count; i++) {
		if (strcmp(dt[i].id, id) != 0 &&
		    !coi_devicetoken_expired(user, &dt[i]))
			kept++;
	}
	for (i = 0; i < count; i++) {
		if (strcmp(dt[i].id, id) == 0)
			continue;
		if (coi_devicetoken_expired(user, &dt[i]) || kept >= max) {
			if (!coi_devicetoken_expired(user, &dt[i]))
				kept--;
			if (coi_devicetoken_store(t, dt[i].id, NULL) < 0)
				return -1;
		}
	}
	e_debug(user->event, "coi: Device token %s registered", id);
	i_zero(&new_dt);
	new_dt.id = id;
	new_dt.token = token;
	new_dt.registered = ioloop_timeval.tv_sec;
	new_dt.registered_usecs = ioloop_timeval.tv_usec;
	return coi_devicetoken_store(t, id, &new_dt);
}

static int
coi_devicetoken_attribute_get(struct mailbox *box, const char *key,
			      struct mail_attribute_value *value_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;

	if (!coi_devicetoken_user_enabled(user)) {
		/* plain Dovecot: an ordinary private entry */
		return box->v.attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					    key, value_r);
	}
	/* Write-only: a token belongs to one device, and reading another
	   device's token is of no use to a client. */
	return 0;
}

static int
coi_devicetoken_attribute_set(struct mailbox_transaction_context *t,
			      const char *key,
			      const struct mail_attribute_value *value)
{
	struct mailbox *box = t->box;
	struct mail_user *user = mailbox_get_namespace(box)->user;
	const char *token;
	int ret;

	if (!coi_devicetoken_user_enabled(user)) {
		return box->v.attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					    key, value);
	}
	if (value->value == NULL && value->value_stream == NULL) {
		/* NIL names no device: nothing to remove. Tokens end by
		   expiry, by the notifier's 410, or by the administrator.
		   (Deleting a mailbox unsets every entry, this one too.) */
		return 0;
	}
	if (!box->inbox_user) {
		return coi_devicetoken_error(box,
			"Device tokens are registered on INBOX");
	}
	ret = coi_attribute_value_read(box, value, COI_DEVICETOKEN_MAX_LEN,
				       &token);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return coi_devicetoken_error(box, COI_DEVICETOKEN_ERROR_TOO_LONG);
	i_assert(token != NULL);
	if (!coi_devicetoken_is_valid(token))
		return coi_devicetoken_error(box, COI_DEVICETOKEN_ERROR_INVALID);
	return coi_devicetoken_register(t, token);
}

/* The setting coi_deltachat_<name> behind /shared/vendor/deltachat/<name>. */
static const char *
coi_deltachat_server_entry(const struct coi_settings *set, const char *name)
{
	if (strcmp(name, "irohrelay") == 0)
		return set->deltachat_irohrelay;
	if (strcmp(name, "turn") == 0)
		return set->deltachat_turn;
	if (strcmp(name, "maxsmtprecipients") == 0)
		return set->deltachat_maxsmtprecipients;
	i_unreached();
}

static int
coi_deltachat_server_get(struct mailbox *box, const char *key,
			 struct mail_attribute_value *value_r)
{
	struct mail_user *user = mailbox_get_namespace(box)->user;
	const struct coi_settings *set;
	const char *name, *value, *error;
	int ret;

	if (!coi_user_has_plugin(user)) {
		return box->v.attribute_get(box, MAIL_ATTRIBUTE_TYPE_SHARED,
					    key, value_r);
	}
	name = key + strlen(COI_DELTACHAT_SERVER_PREFIX);
	set = coi_user_settings(user);
	if (strcmp(name, "turn") == 0) {
		ret = coi_turn_entry(set, ioloop_time, &value, &error);
		if (ret < 0) {
			/* NIL: Delta Chat falls back to its public servers
			   instead of failing the whole GETMETADATA */
			e_error(user->event, "coi: Delta Chat TURN "
				"credentials: %s", error);
			return 0;
		}
		if (ret > 0) {
			value_r->value = value;
			return 1;
		}
	}
	value = coi_deltachat_server_entry(set, name);
	if (value == NULL || value[0] == '\0')
		return 0;
	value_r->value = value;
	return 1;
}

static int
coi_deltachat_server_set(struct mailbox_transaction_context *t,
			 const char *key,
			 const struct mail_attribute_value *value)
{
	struct mail_user *user = mailbox_get_namespace(t->box)->user;

	if (!coi_user_has_plugin(user)) {
		return t->box->v.attribute_set(t, MAIL_ATTRIBUTE_TYPE_SHARED,
					       key, value);
	}
	return coi_devicetoken_error(t->box, "This entry is set by the "
				     "server administrator");
}

#define COI_DELTACHAT_SERVER_ATTRIBUTE(name) { \
	.type = MAIL_ATTRIBUTE_TYPE_SHARED, \
	.key = COI_DELTACHAT_SERVER_PREFIX name, \
	.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY, \
	.get = coi_deltachat_server_get, \
	.set = coi_deltachat_server_set, \
}

static const struct mailbox_attribute_internal coi_devicetoken_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_DEVICETOKEN_KEY,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_devicetoken_attribute_get,
		.set = coi_devicetoken_attribute_set,
	},
	COI_DELTACHAT_SERVER_ATTRIBUTE("irohrelay"),
	COI_DELTACHAT_SERVER_ATTRIBUTE("turn"),
	COI_DELTACHAT_SERVER_ATTRIBUTE("maxsmtprecipients"),
};

void coi_devicetoken_attributes_register(void)
{
	mailbox_attribute_register_internals(coi_devicetoken_attributes,
		N_ELEMENTS(coi_devicetoken_attributes));
}

void coi_devicetoken_attributes_unregister(void)
{
	mailbox_attribute_unregister_internals(coi_devicetoken_attributes,
		N_ELEMENTS(coi_devicetoken_attributes));
}
