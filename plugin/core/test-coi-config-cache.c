/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "unlink-directory.h"
#include "write-full.h"
#include "test-common.h"
#include "coi-config-cache.h"

#include <stdio.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>

static const char *test_dir;
static const char *test_path;

static const struct coi_config test_config_active = {
	.enabled = TRUE,
	.message_filter = COI_MESSAGE_FILTER_ACTIVE,
};
static const struct coi_config test_config_seen = {
	.enabled = TRUE,
	.message_filter = COI_MESSAGE_FILTER_SEEN,
};

/* Writes the file as Dovecot's file dict does: a new file renamed over the
   old one. */
static void test_dict_replace(const char *content)
{
	const char *tmp = t_strconcat(test_path, ".tmp", NULL);
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		i_fatal("open(%s) failed: %m", tmp);
	if (write_full(fd, content, strlen(content)) < 0)
		i_fatal("write(%s) failed: %m", tmp);
	i_close_fd(&fd);
	if (rename(tmp, test_path) < 0)
		i_fatal("rename(%s) failed: %m", tmp);
}

static int
test_lookup(const char *username, struct coi_config *config_r,
	    struct coi_config_cache_entry **entry_r)
{
	i_zero(config_r);
	return coi_config_cache_lookup(username, test_path, config_r, entry_r);
}

static bool test_config_equals(const struct coi_config *c1,
			       const struct coi_config *c2)
{
	return c1->enabled == c2->enabled &&
		c1->message_filter == c2->message_filter;
}

static unsigned int test_count_fds(void)
{
	DIR *dir;
	unsigned int count = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		i_fatal("opendir(/proc/self/fd) failed: %m");
	while (readdir(dir) != NULL)
		count++;
	(void)closedir(dir);
	return count;
}

static void test_coi_config_cache_dict_path(void)
{
	test_begin("coi config cache dict path");
	test_assert_strcmp(coi_config_cache_dict_path("file:/a/b", NULL),
			   "/a/b");
	test_assert_strcmp(coi_config_cache_dict_path(
		"file:/a/b:lock=fcntl", "/h"), "/a/b");
	test_assert_strcmp(coi_config_cache_dict_path("file:~/attr", "/h"),
			   "/h/attr");
	test_assert(coi_config_cache_dict_path("file:~/attr", NULL) == NULL);
	test_assert(coi_config_cache_dict_path("file:~/attr", "") == NULL);
	test_assert(coi_config_cache_dict_path("file:attr", "/h") == NULL);
	test_assert(coi_config_cache_dict_path("file:", "/h") == NULL);
	test_assert(coi_config_cache_dict_path("proxy::attr", "/h") == NULL);
	test_assert(coi_config_cache_dict_path("redis:host=x", "/h") == NULL);
	test_assert(coi_config_cache_dict_path("", "/h") == NULL);
	/* the path of a 2.4 file dict (dict_file_path), no URI around it */
	test_assert_strcmp(coi_config_cache_file_path("/a/b:c", NULL),
			   "/a/b:c");
	test_assert_strcmp(coi_config_cache_file_path("~/attr", "/h"),
			   "/h/attr");
	test_assert(coi_config_cache_file_path("~/attr", NULL) == NULL);
	test_assert(coi_config_cache_file_path("attr", "/h") == NULL);
	test_assert(coi_config_cache_file_path("", "/h") == NULL);
	test_end();
}

static void test_coi_config_cache_changes(void)
{
	struct coi_config_cache_entry *entry;
	struct coi_config config;
	struct timeval tv[2];
	struct stat st;
	unsigned int i;
	int fd;

	test_begin("coi config cache sees every change");

	/* no file yet */
	test_assert(test_lookup("u1", &config, &entry) == 0);
	test_assert(entry != NULL);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_active));

	/* created */
	test_dict_replace("x\nyes\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_seen));
	test_assert(test_lookup("u1", &config, &entry) == 1);

	/* replaced by identical content, then again (the inode of the
	   first version must not come back as "unchanged") */
	test_dict_replace("x\nyes\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_dict_replace("x\nyes\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_dict_replace("x\nyes\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	/* twice between two lookups: file systems such as ext4 give the
	   second new file the inode of the one that was read, unless it is
	   still open; within one clock tick even the times are the same */
	for (i = 0; i < 10; i++) {
		test_dict_replace("x\nyes\n");
		test_dict_replace("x\nyes\n");
		test_assert_idx(test_lookup("u1", &config, &entry) == 0, i);
		coi_config_cache_update(entry, &test_config_seen);
	}

	/* changed in place: size */
	fd = open(test_path, O_WRONLY | O_APPEND);
	test_assert(fd != -1);
	test_assert(write_full(fd, "y\n", 2) == 0);
	i_close_fd(&fd);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_lookup("u1", &config, &entry) == 1);

	/* changed in place: only the mtime */
	test_assert(stat(test_path, &st) == 0);
	tv[0].tv_sec = tv[1].tv_sec = st.st_mtime - 100;
	tv[0].tv_usec = tv[1].tv_usec = 0;
	test_assert(utimes(test_path, tv) == 0);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_lookup("u1", &config, &entry) == 1);

	/* a read that failed stores nothing */
	test_dict_replace("x\nno\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 1);

	/* deleted */
	i_unlink(test_path);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_active));

	/* per user */
	test_assert(test_lookup("u2", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_active));
	test_assert(test_lookup("u2", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_seen));

	coi_config_cache_clear();
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_clear();
	test_end();
}

static void test_coi_config_cache_file_changed_during_read(void)
{
	struct coi_config_cache_entry *entry;
	struct coi_config config;

	test_begin("coi config cache file changed during the read");
	test_dict_replace("old\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	/* the file changes after the lookup, before the read finished: what
	   was read may be either version, so it must not count as current */
	test_dict_replace("new\n");
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_active));

	/* the same for a file created during the read */
	coi_config_cache_clear();
	i_unlink(test_path);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	test_dict_replace("new\n");
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_clear();
	test_end();
}

static void test_coi_config_cache_lru(void)
{
	struct coi_config_cache_entry *entry;
	struct coi_config config;
	unsigned int i, fds;

	test_begin("coi config cache keeps the recently used users");
	test_dict_replace("x\n");
	fds = test_count_fds();
	for (i = 0; i < COI_CONFIG_CACHE_SIZE; i++) {
		test_assert_idx(test_lookup(t_strdup_printf("u%u", i), &config,
					    &entry) == 0, i);
		coi_config_cache_update(entry, &test_config_active);
	}
	/* one file held open per user */
	test_assert(test_count_fds() == fds + COI_CONFIG_CACHE_SIZE);
	/* u0 was used last, so u1 is the one to go */
	test_assert(test_lookup("u0", &config, &entry) == 1);
	test_assert(test_lookup("new", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_active);
	test_assert(test_count_fds() == fds + COI_CONFIG_CACHE_SIZE);
	test_assert(test_lookup("u0", &config, &entry) == 1);
	test_assert(test_lookup("u2", &config, &entry) == 1);
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_clear();
	test_assert(test_count_fds() == fds);
	test_end();
}

static void test_coi_config_cache_unusable(void)
{
	struct coi_config_cache_entry *entry;
	struct coi_config config;
	const char *path;

	test_begin("coi config cache unusable path");
	/* stat() fails with ENOTDIR: nothing can be cached */
	test_dict_replace("x\n");
	path = t_strconcat(test_path, "/below", NULL);
	test_assert(coi_config_cache_lookup("u1", path, &config, &entry) < 0);
	test_assert(entry == NULL);
	test_assert(coi_config_cache_lookup("u1", path, &config, &entry) < 0);
	coi_config_cache_clear();
	test_end();
}

static void test_coi_config_cache_webpush_fact(void)
{
	struct coi_config_cache_entry *entry;
	struct coi_config config;
	const char *subs = "x";

	test_begin("coi config cache webpush fact");
	test_dict_replace("a\n1\n");
	test_assert(coi_config_cache_lookup_webpush("u1", test_path, &subs,
						    &entry) == 0);
	test_assert(entry != NULL);
	coi_config_cache_update_webpush(entry, "");
	test_assert(coi_config_cache_lookup_webpush("u1", test_path, &subs,
						    &entry) == 1);
	test_assert_strcmp(subs, "");
	test_assert(entry == NULL);
	/* the configuration is not known yet; reading it keeps the other */
	test_assert(test_lookup("u1", &config, &entry) == 0);
	coi_config_cache_update(entry, &test_config_seen);
	test_assert(test_lookup("u1", &config, &entry) == 1);
	test_assert(test_config_equals(&config, &test_config_seen));
	subs = "x";
	test_assert(coi_config_cache_lookup_webpush("u1", test_path, &subs,
						    &entry) == 1);
	test_assert_strcmp(subs, "");
	/* another user's facts are separate */
	test_assert(coi_config_cache_lookup_webpush("u2", test_path, &subs,
						    &entry) == 0);
	/* a change of the file forgets both */
	test_dict_replace("a\n1\nb\n2\n");
	test_assert(coi_config_cache_lookup_webpush("u1", test_path, &subs,
						    &entry) == 0);
	coi_config_cache_update_webpush(entry, "id1\t{}\n");
	test_assert(test_lookup("u1", &config, &entry) == 0);
	test_assert(coi_config_cache_lookup_webpush("u1", test_path, &subs,
						    &entry) == 1);
	test_assert_strcmp(subs, "id1\t{}\n");
	coi_config_cache_clear();
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_config_cache_dict_path,
		test_coi_config_cache_changes,
		test_coi_config_cache_file_changed_during_read,
		test_coi_config_cache_lru,
		test_coi_config_cache_unusable,
		test_coi_config_cache_webpush_fact,
		NULL
	};
	char template[] = "/tmp/test-coi-config-cache.XXXXXX";
	const char *error;
	int ret;

	lib_init();
	if (mkdtemp(template) == NULL)
		i_fatal("mkdtemp() failed: %m");
	test_dir = template;
	test_path = t_strconcat(test_dir, "/dovecot-attributes", NULL);
	ret = test_run(test_functions);
	if (unlink_directory(test_dir, UNLINK_DIRECTORY_FLAG_RMDIR,
			     &error) < 0)
		i_error("%s", error);
	lib_deinit();
	return ret;
}
