/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "str.h"
#include "istream.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "mailbox-attribute.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-mailbox.h"
#include "coi-config-cache.h"

#if COI_DOVECOT_24
#  include <dlfcn.h>
#  include "settings.h"
#  include "dict.h"
#endif

#define COI_SERVER_KEY(key) MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER key

int coi_attribute_value_read(struct mailbox *box,
			     const struct mail_attribute_value *value,
			     size_t max_len, const char **str_r)
{
	const unsigned char *data;
	size_t size;
	string_t *str;
	bool valid = TRUE;

	*str_r = NULL;
	if (value->value_stream == NULL) {
		if (value->value != NULL && strlen(value->value) > max_len)
			return 0;
		*str_r = value->value;
		return 1;
	}

	str = t_str_new(I_MIN(max_len + 1, 1024));
	i_stream_seek(value->value_stream, 0);
	while (i_stream_read_more(value->value_stream, &data, &size) > 0) {
		if (str_len(str) + size > max_len ||
		    memchr(data, '\0', size) != NULL) {
			valid = FALSE;
			break;
		}
		str_append_data(str, data, size);
		i_stream_skip(value->value_stream, size);
	}
	if (value->value_stream->stream_errno != 0) {
		mail_storage_set_critical(box->storage,
			"coi: read(%s) failed: %s",
			i_stream_get_name(value->value_stream),
			i_stream_get_error(value->value_stream));
		return -1;
	}
	if (valid && !value->value_stream->eof)
		valid = FALSE;
	/* lib-storage reads the stream again to store it */
	i_stream_seek(value->value_stream, 0);
	if (!valid)
		return 0;
	*str_r = str_c(str);
	return 1;
}

static int
coi_attribute_ensure_failed(struct mailbox *box, const char *error)
{
	e_error(box->event, "coi: %s", error);
	mail_storage_set_internal_error(box->storage);
	return -1;
}

static int
coi_attribute_enabled_set(struct mailbox_transaction_context *t,
			  const char *key ATTR_UNUSED,
			  const struct mail_attribute_value *value)
{
	struct coi_user *cuser = coi_box_get_user(t->box);
	const char *str, *error;
	bool enabled;
	int ret;

	if (cuser == NULL)
		return 0;
	if ((ret = coi_attribute_value_read(t->box, value,
					    COI_CONFIG_VALUE_MAX_LEN, &str)) < 0)
		return -1;
	if (ret == 0 || coi_config_parse_enabled(str, &enabled) < 0) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS,
				       COI_ENABLED_INVALID_ERROR);
		return -1;
	}
	if (enabled && coi_mailboxes_ensure_enabled(cuser, &error) < 0)
		return coi_attribute_ensure_failed(t->box, error);
	return 0;
}

static int
coi_attribute_message_filter_set(struct mailbox_transaction_context *t,
				 const char *key ATTR_UNUSED,
				 const struct mail_attribute_value *value)
{
	struct coi_user *cuser = coi_box_get_user(t->box);
	enum coi_message_filter filter;
	const char *str, *error;
	int ret;

	if (cuser == NULL)
		return 0;
	if ((ret = coi_attribute_value_read(t->box, value,
					    COI_CONFIG_VALUE_MAX_LEN, &str)) < 0)
		return -1;
	if (ret == 0 || coi_config_parse_message_filter(str, &filter) < 0) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS,
				       COI_MESSAGE_FILTER_INVALID_ERROR);
		return -1;
	}
	if (filter != COI_MESSAGE_FILTER_NONE &&
	    coi_mailbox_ensure(cuser, cuser->chats_vname, TRUE, &error) < 0)
		return coi_attribute_ensure_failed(t->box, error);
	return 0;
}

static int
coi_attribute_mailbox_root_get(struct mailbox *box,
			       const char *key ATTR_UNUSED,
			       struct mail_attribute_value *value_r)
{
	struct coi_user *cuser = coi_box_get_user(box);

	if (cuser == NULL)
		return 0;
	value_r->value = cuser->mailbox_root;
	return 1;
}

static int
coi_attribute_mailbox_root_set(struct mailbox_transaction_context *t,
			       const char *key ATTR_UNUSED,
			       const struct mail_attribute_value *value ATTR_UNUSED)
{
	if (coi_box_get_user(t->box) == NULL)
		return 0;
	mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS,
			       COI_MAILBOX_ROOT_READONLY_ERROR);
	return -1;
}

static const struct mailbox_attribute_internal coi_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_SERVER_KEY(COI_ATTR_ENABLED),
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_DEFAULT,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.set = coi_attribute_enabled_set,
	},
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_SERVER_KEY(COI_ATTR_MAILBOX_ROOT),
		/* OVERRIDE, not AUTHORITY: users without the plugin keep
		   plain Dovecot behaviour for this key. */
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_OVERRIDE,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_attribute_mailbox_root_get,
		.set = coi_attribute_mailbox_root_set,
	},
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_SERVER_KEY(COI_ATTR_MESSAGE_FILTER),
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_DEFAULT,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.set = coi_attribute_message_filter_set,
	},
};

void coi_attributes_register(void)
{
	mailbox_attribute_register_internals(coi_attributes,
					     N_ELEMENTS(coi_attributes));
}

void coi_attributes_unregister(void)
{
	mailbox_attribute_unregister_internals(coi_attributes,
					       N_ELEMENTS(coi_attributes));
}

static struct mailbox *coi_server_attribute_box_alloc(struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);

	return mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			     MAILBOX_FLAG_ATTRIBUTE_SESSION);
}

static int
coi_server_attribute_get(struct mailbox *box, const char *key,
			 const char **value_r, const char **error_r)
{
	struct mail_attribute_value value;
	int ret;

	ret = mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
				    t_strconcat(MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER, key, NULL), &value);
	if (ret < 0) {
		*error_r = t_strdup_printf("Failed to read %s: %s", key,
			mailbox_get_last_internal_error(box, NULL));
		return -1;
	}
	*value_r = ret == 0 ? NULL : value.value;
	return 0;
}

static int
coi_config_read_attributes(struct mail_user *user,
			   struct coi_config *config_r, const char **error_r)
{
	struct mailbox *box;
	const char *enabled, *filter;
	int ret = 0;

	i_zero(config_r);
	box = coi_server_attribute_box_alloc(user);
	if (coi_server_attribute_get(box, COI_ATTR_ENABLED,
				     &enabled, error_r) < 0 ||
	    coi_server_attribute_get(box, COI_ATTR_MESSAGE_FILTER,
				     &filter, error_r) < 0)
		ret = -1;
	mailbox_free(&box);
	if (ret < 0)
		return -1;

	/* Values stored without validation (e.g. while the plugin was not
	   loaded) mean what the spec says: only "yes" enables COI, and an
	   unknown filter filters nothing. */
	if (coi_config_parse_enabled(enabled, &config_r->enabled) < 0)
		config_r->enabled = FALSE;
	if (coi_config_parse_message_filter(filter,
					    &config_r->message_filter) < 0) {
		e_warning(user->event, "coi: Ignoring invalid stored "
			  "message-filter value");
		config_r->message_filter = COI_MESSAGE_FILTER_NONE;
	}
	return 0;
}

#if COI_DOVECOT_24
/* Dovecot's file dict settings (lib-dict/dict-file.c): libdovecot exports
   them but no header declares them, so they are looked up at run time, and
   a Dovecot without them only means nothing is cached. Their struct is
   private as well: the path is read through the info's own defines. */
static const struct setting_parser_info *coi_dict_file_settings_info(void)
{
	static const struct setting_parser_info *info = NULL;
	static bool looked_up = FALSE;

	if (!looked_up) {
		info = dlsym(RTLD_DEFAULT, "dict_file_setting_parser_info");
		looked_up = TRUE;
	}
	return info;
}

/* The path of the user's attribute dict if it is one "file" dict, found
   the way lib-storage finds the dict (the mail_attribute filter, its first
   dict { .. } list filter), with the user's %variables expanded. */
static const char *
coi_user_attribute_dict_path_lookup(struct mail_user *user)
{
	const struct setting_parser_info *file_info =
		coi_dict_file_settings_info();
	const struct dict_settings *dict_set;
	const void *file_set;
	const char *name, *path = NULL, *home, *error = NULL;
	struct event *event;
	unsigned int path_idx;
	pool_t pool;

	if (file_info == NULL ||
	    !setting_parser_info_find_key(file_info, "dict_file_path",
					  &path_idx) ||
	    file_info->defines[path_idx].type != SET_STR)
		return NULL;

	event = event_create(user->event);
	settings_event_add_filter_name(event, "mail_attribute");
	if (settings_get(event, &dict_setting_parser_info, 0,
			 &dict_set, &error) < 0)
		goto out;
	name = array_count(&dict_set->dicts) != 1 ? NULL :
		t_strdup(array_idx_elem(&dict_set->dicts, 0));
	settings_free(dict_set);
	if (name == NULL)
		goto out;

	event_add_str(event, "dict", name);
	settings_event_add_list_filter_name(event, "dict", name);
	if (settings_get(event, &dict_setting_parser_info, 0,
			 &dict_set, &error) < 0)
		goto out;
	bool is_file = strcmp(dict_set->dict_driver, "file") == 0;
	settings_free(dict_set);
	if (!is_file)
		goto out;
	/* the macro checks the struct type, which is private here */
	if ((settings_get)(event, file_info, 0, __FILE__, __LINE__,
			   &file_set, &error) < 0)
		goto out;
	path = t_strdup(*(const char *const *)
		CONST_PTR_OFFSET(file_set, file_info->defines[path_idx].offset));
	pool = *(const pool_t *)
		CONST_PTR_OFFSET(file_set, file_info->pool_offset1 - 1);
	pool_unref(&pool);

	if (mail_user_get_home(user, &home) <= 0)
		home = NULL;
	path = coi_config_cache_file_path(path, home);
out:
	if (path == NULL && error != NULL) {
		e_debug(user->event, "coi: Attribute dict not cached: %s",
			error);
	}
	event_unref(&event);
	return path;
}
#else
static const char *
coi_user_attribute_dict_path_lookup(struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	struct mail_storage *storage = mail_namespace_get_default_storage(ns);
	const char *home;

	if (mail_user_get_home(user, &home) <= 0)
		home = NULL;
	return coi_config_cache_dict_path(storage->set->mail_attribute_dict,
					  home);
}
#endif

const char *coi_user_attribute_dict_path(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	/* every delivery asks up to three times (configuration, WebPush,
	   device tokens); on 2.4 finding it takes three settings lookups */
	if (cuser == NULL)
		return coi_user_attribute_dict_path_lookup(user);
	if (!cuser->attribute_dict_path_known) {
		cuser->attribute_dict_path = p_strdup(user->pool,
			coi_user_attribute_dict_path_lookup(user));
		cuser->attribute_dict_path_known = TRUE;
	}
	return cuser->attribute_dict_path;
}

int coi_config_read(struct mail_user *user, struct coi_config *config_r,
		    const char **error_r)
{
	struct coi_config_cache_entry *entry = NULL;
	const char *path;

	path = coi_user_attribute_dict_path(user);
	if (path != NULL &&
	    coi_config_cache_lookup(user->username, path, config_r,
				    &entry) > 0)
		return 0;
	if (coi_config_read_attributes(user, config_r, error_r) < 0)
		return -1;
	if (entry != NULL)
		coi_config_cache_update(entry, config_r);
	return 0;
}

int coi_config_set_enabled(struct mail_user *user, bool enabled,
			   const char **error_r)
{
	struct mailbox *box;
	struct mailbox_transaction_context *t;
	struct mail_attribute_value value;
	int ret;

	box = coi_server_attribute_box_alloc(user);
	if (mailbox_open(box) < 0) {
		*error_r = t_strdup_printf("Failed to open INBOX: %s",
			mailbox_get_last_internal_error(box, NULL));
		mailbox_free(&box);
		return -1;
	}
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	i_zero(&value);
	value.value = enabled ? "yes" : NULL;
	ret = mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE,
				    COI_SERVER_KEY(COI_ATTR_ENABLED), &value);
	if (ret < 0)
		mailbox_transaction_rollback(&t);
	else
		ret = mailbox_transaction_commit(&t);
	if (ret < 0) {
		*error_r = t_strdup_printf("Failed to %s COI: %s",
			enabled ? "enable" : "disable",
			mailbox_get_last_internal_error(box, NULL));
	}
	mailbox_free(&box);
	return ret;
}
