/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Reading the COI settings on Dovecot 2.3, where they are plugin {}
   settings and userdb fields that Dovecot does not know: through the
   settings parser with our declarations, one parsed copy per process.
   (On 2.4 Dovecot's settings system does this: coi-settings-module.c.) */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "hash.h"
#include "str.h"
#include "coi-settings.h"

/* Errors already logged by this process (coi_settings_log_errors()).
   Bounded: a userdb handing every user another bad value must not grow
   it without end. */
#define COI_SETTINGS_LOGGED_MAX 100

#undef coi_settings_read
void coi_settings_read(pool_t pool, coi_settings_lookup_t *lookup,
		       void *context, const struct coi_settings **set_r,
		       const char *const **errors_r)
{
	struct setting_parser_context *parser;
	const struct setting_define *def;
	ARRAY_TYPE(const_string) errors;
	struct coi_settings *set;
	const char *value, *error;

	t_array_init(&errors, 4);
	parser = settings_parser_init(pool, &coi_setting_parser_info, 0);
	for (def = coi_setting_parser_info.defines; def->key != NULL; def++) {
		value = lookup(def->key, context);
		if (value == NULL || value[0] == '\0')
			continue;
		if (settings_parse_keyvalue(parser, def->key, value) <= 0) {
			error = t_strdup_printf("Invalid %s=%s: %s - using "
				"the default", def->key, value,
				settings_parser_get_error(parser));
			array_push_back(&errors, &error);
		}
	}
	set = settings_parser_get(parser);
	settings_parser_deinit(&parser);
	set->pool = pool;
	coi_settings_parse_derived(set, pool, &errors);

	*set_r = set;
	if (array_count(&errors) == 0)
		*errors_r = NULL;
	else {
		array_append_zero(&errors);
		*errors_r = array_front(&errors);
	}
}

/* The last settings coi_settings_get() parsed, with the raw values they
   came from. The pool is referenced by the cache and by every user that
   got these settings. */
static struct {
	pool_t pool;
	const void *raw;
	size_t raw_size;
	const struct coi_settings *set;
} coi_settings_cache;

/* The plugin {} settings and userdb fields of a mail user:
   key, value, key, value, ... as in mail_user_settings.plugin_envs. */
struct coi_settings_envs {
	const char *const *envs;
	unsigned int count;
};

/* A setting as mail_user_plugin_getenv() finds it: the first pair with
   the key. */
static const char *coi_settings_env_lookup(const char *key, void *context)
{
	const struct coi_settings_envs *envs = context;
	unsigned int i;

	for (i = 0; i + 1 < envs->count; i += 2) {
		if (strcmp(envs->envs[i], key) == 0)
			return envs->envs[i + 1];
	}
	return NULL;
}

/* Every COI setting of envs, "key=value" NUL-separated (data stack), in
   one pass over them: what decides whether the cached settings apply. */
static string_t *coi_settings_raw(const struct coi_settings_envs *envs)
{
	string_t *raw = t_str_new(256);
	unsigned int i;

	for (i = 0; i + 1 < envs->count; i += 2) {
		if (!str_begins_with(envs->envs[i], "coi_") ||
		    envs->envs[i + 1][0] == '\0')
			continue;
		str_append(raw, envs->envs[i]);
		str_append_c(raw, '=');
		str_append(raw, envs->envs[i + 1]);
		str_append_c(raw, '\0');
	}
	return raw;
}

static void coi_settings_cache_clear(void)
{
	pool_unref(&coi_settings_cache.pool);
	i_zero(&coi_settings_cache);
}

const struct coi_settings *
coi_settings_get(const char *const *plugin_envs, unsigned int count,
		 struct event *event)
{
	struct coi_settings_envs envs = {
		.envs = plugin_envs,
		.count = count,
	};
	const char *const *errors;
	string_t *raw;
	pool_t pool;

	raw = coi_settings_raw(&envs);
	if (coi_settings_cache.pool == NULL ||
	    coi_settings_cache.raw_size != str_len(raw) ||
	    memcmp(coi_settings_cache.raw, str_data(raw), str_len(raw)) != 0) {
		pool = pool_alloconly_create("coi settings", 2048);
		/* the function itself: its macro is undefined above */
		coi_settings_read(pool, coi_settings_env_lookup, &envs,
				  &coi_settings_cache.set, &errors);
		coi_settings_log_errors(event, errors);
		if (coi_settings_cache.pool != NULL)
			pool_unref(&coi_settings_cache.pool);
		coi_settings_cache.pool = pool;
		/* + 1: never a zero-size allocation */
		coi_settings_cache.raw = p_memdup(pool, str_c(raw),
						  str_len(raw) + 1);
		coi_settings_cache.raw_size = str_len(raw);
	}
	pool_ref(coi_settings_cache.pool);
	return coi_settings_cache.set;
}

static pool_t coi_settings_logged_pool;
static HASH_TABLE(char *, char *) coi_settings_logged;

void coi_settings_log_errors(struct event *event, const char *const *errors)
{
	char *copy;

	if (errors == NULL)
		return;
	if (coi_settings_logged_pool == NULL) {
		coi_settings_logged_pool = pool_alloconly_create(
			"coi settings errors", 1024);
		hash_table_create(&coi_settings_logged,
				  coi_settings_logged_pool, 0,
				  str_hash, strcmp);
	}
	for (; *errors != NULL; errors++) {
		if (hash_table_lookup(coi_settings_logged, *errors) != NULL)
			continue;
		e_error(event, "coi: %s", *errors);
		if (hash_table_count(coi_settings_logged) <
		    COI_SETTINGS_LOGGED_MAX) {
			copy = p_strdup(coi_settings_logged_pool, *errors);
			hash_table_insert(coi_settings_logged, copy, copy);
		}
	}
}

void coi_settings_deinit(void)
{
	if (coi_settings_cache.pool != NULL)
		coi_settings_cache_clear();
	if (coi_settings_logged_pool == NULL)
		return;
	hash_table_destroy(&coi_settings_logged);
	pool_unref(&coi_settings_logged_pool);
}
