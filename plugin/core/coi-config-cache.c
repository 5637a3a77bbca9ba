/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "fd-util.h"
#include "home-expand.h"
#include "coi-config-cache.h"

#include <sys/stat.h>
#include <fcntl.h>

enum coi_config_cache_fact {
	COI_CONFIG_CACHE_FACT_CONFIG,
	COI_CONFIG_CACHE_FACT_WEBPUSH,
	COI_CONFIG_CACHE_FACT_DEVICETOKENS,

	COI_CONFIG_CACHE_FACT_COUNT
};

struct coi_config_cache_entry {
	/* NULL: the entry is unused */
	char *username, *path;
	/* The file the configuration was read from, held open; -1 if the
	   file did not exist. */
	int fd;
	struct stat st;
	/* fd/st describe the file the facts below were read from */
	bool snapshot;
	/* what was read from this file, each fact if its flag is set */
	bool valid[COI_CONFIG_CACHE_FACT_COUNT];
	struct coi_config config;
	/* validated WebPush subscriptions, "<id>\t<stored value>\n" each */
	char *webpush_subscriptions;
	bool has_devicetokens;
	unsigned int last_use;
};

static struct coi_config_cache_entry coi_config_cache[COI_CONFIG_CACHE_SIZE];
static unsigned int coi_config_cache_clock = 0;

const char *coi_config_cache_file_path(const char *path, const char *home)
{
	if (str_begins_with(path, "~/")) {
		if (home == NULL || home[0] != '/')
			return NULL;
		path = home_expand_tilde(path, home);
	}
	return path[0] == '/' ? path : NULL;
}

const char *coi_config_cache_dict_path(const char *dict_uri,
				       const char *home)
{
	const char *path, *p;

	if (!str_begins_with(dict_uri, "file:"))
		return NULL;
	path = dict_uri + 5;
	/* optional parameters follow after ':' (e.g. ":lock=fcntl") */
	p = strchr(path, ':');
	if (p != NULL)
		path = t_strdup_until(path, p);
	return coi_config_cache_file_path(path, home);
}

static void coi_config_cache_entry_free(struct coi_config_cache_entry *entry)
{
	if (entry->username == NULL)
		return;
	if (entry->fd != -1)
		i_close_fd(&entry->fd);
	i_free(entry->username);
	i_free(entry->path);
	i_free(entry->webpush_subscriptions);
	i_zero(entry);
}

static struct coi_config_cache_entry *
coi_config_cache_find(const char *username, const char *path)
{
	struct coi_config_cache_entry *entry, *oldest = NULL;
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_config_cache); i++) {
		entry = &coi_config_cache[i];
		if (entry->username != NULL &&
		    strcmp(entry->username, username) == 0 &&
		    strcmp(entry->path, path) == 0)
			return entry;
		if (oldest == NULL || entry->username == NULL ||
		    (oldest->username != NULL &&
		     entry->last_use < oldest->last_use))
			oldest = entry;
	}
	/* reuse the least recently used (or an unused) entry */
	coi_config_cache_entry_free(oldest);
	oldest->username = i_strdup(username);
	oldest->path = i_strdup(path);
	oldest->fd = -1;
	return oldest;
}

static bool
coi_config_cache_is_current(const struct coi_config_cache_entry *entry,
			    const struct stat *st)
{
	if (!entry->snapshot)
		return FALSE;
	if (st == NULL) {
		/* the file does not exist, and did not when it was read */
		return entry->fd == -1;
	}
	return entry->fd != -1 &&
		CMP_DEV_T(st->st_dev, entry->st.st_dev) &&
		st->st_ino == entry->st.st_ino &&
		st->st_size == entry->st.st_size &&
		CMP_ST_MTIME(st, &entry->st) &&
		CMP_ST_CTIME(st, &entry->st);
}

/* Remembers the file as it is now, before it is read: if it changes after
   this, the next lookup sees a different file and reads it again. */
static int coi_config_cache_snapshot(struct coi_config_cache_entry *entry)
{
	entry->snapshot = FALSE;
	memset(entry->valid, 0, sizeof(entry->valid));
	i_free_and_null(entry->webpush_subscriptions);
	if (entry->fd != -1)
		i_close_fd(&entry->fd);
	entry->fd = open(entry->path, O_RDONLY);
	if (entry->fd == -1) {
		if (errno != ENOENT)
			return -1;
		entry->snapshot = TRUE;
		return 0;
	}
	fd_close_on_exec(entry->fd, TRUE);
	if (fstat(entry->fd, &entry->st) < 0) {
		i_close_fd(&entry->fd);
		return -1;
	}
	entry->snapshot = TRUE;
	return 0;
}

/* The entry of the user, with a snapshot of the file as it is now: kept if
   the file is unchanged since the facts were read, otherwise taken anew
   (which forgets the facts). NULL if the file cannot be checked. */
static struct coi_config_cache_entry *
coi_config_cache_get(const char *username, const char *path)
{
	struct coi_config_cache_entry *entry;
	struct stat st;
	bool exists = TRUE;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return NULL;
		exists = FALSE;
	}
	entry = coi_config_cache_find(username, path);
	entry->last_use = ++coi_config_cache_clock;
	if (coi_config_cache_is_current(entry, exists ? &st : NULL))
		return entry;
	if (coi_config_cache_snapshot(entry) < 0) {
		coi_config_cache_entry_free(entry);
		return NULL;
	}
	return entry;
}

/* The user's entry as in coi_config_cache_get(): returns 1 if the fact is
   known (*entry_r is the entry), 0 if it must be read (*entry_r is the
   entry to update), -1 if nothing can be cached (*entry_r is NULL). */
static int
coi_config_cache_lookup_fact(const char *username, const char *path,
			     enum coi_config_cache_fact fact,
			     struct coi_config_cache_entry **entry_r)
{
	*entry_r = coi_config_cache_get(username, path);
	if (*entry_r == NULL)
		return -1;
	return (*entry_r)->valid[fact] ? 1 : 0;
}

static void coi_config_cache_set_valid(struct coi_config_cache_entry *entry,
				       enum coi_config_cache_fact fact)
{
	i_assert(entry->username != NULL);
	entry->valid[fact] = TRUE;
}

int coi_config_cache_lookup(const char *username, const char *path,
			    struct coi_config *config_r,
			    struct coi_config_cache_entry **entry_r)
{
	int ret;

	ret = coi_config_cache_lookup_fact(username, path,
					   COI_CONFIG_CACHE_FACT_CONFIG,
					   entry_r);
	if (ret > 0) {
		*config_r = (*entry_r)->config;
		*entry_r = NULL;
	}
	return ret;
}

void coi_config_cache_update(struct coi_config_cache_entry *entry,
			     const struct coi_config *config)
{
	coi_config_cache_set_valid(entry, COI_CONFIG_CACHE_FACT_CONFIG);
	entry->config = *config;
}

int coi_config_cache_lookup_webpush(const char *username, const char *path,
				    const char **subscriptions_r,
				    struct coi_config_cache_entry **entry_r)
{
	int ret;

	ret = coi_config_cache_lookup_fact(username, path,
					   COI_CONFIG_CACHE_FACT_WEBPUSH,
					   entry_r);
	if (ret > 0) {
		*subscriptions_r = (*entry_r)->webpush_subscriptions;
		*entry_r = NULL;
	}
	return ret;
}

void coi_config_cache_update_webpush(struct coi_config_cache_entry *entry,
				     const char *subscriptions)
{
	coi_config_cache_set_valid(entry, COI_CONFIG_CACHE_FACT_WEBPUSH);
	i_free(entry->webpush_subscriptions);
	entry->webpush_subscriptions = i_strdup(subscriptions);
}

int coi_config_cache_lookup_devicetokens(const char *username,
					 const char *path, bool *has_tokens_r,
					 struct coi_config_cache_entry **entry_r)
{
	int ret;

	ret = coi_config_cache_lookup_fact(username, path,
					   COI_CONFIG_CACHE_FACT_DEVICETOKENS,
					   entry_r);
	if (ret > 0) {
		*has_tokens_r = (*entry_r)->has_devicetokens;
		*entry_r = NULL;
	}
	return ret;
}

void coi_config_cache_update_devicetokens(struct coi_config_cache_entry *entry,
					  bool has_tokens)
{
	coi_config_cache_set_valid(entry, COI_CONFIG_CACHE_FACT_DEVICETOKENS);
	entry->has_devicetokens = has_tokens;
}

void coi_config_cache_clear(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_config_cache); i++)
		coi_config_cache_entry_free(&coi_config_cache[i]);
	coi_config_cache_clock = 0;
}
