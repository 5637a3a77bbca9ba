/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "unlink-directory.h"
#include "write-full.h"
#include "test-common.h"
#include "coi-settings.h"
#include "coi-turn.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The expected passwords come from an independent implementation:
   python3 -c 'import base64, hashlib, hmac; print(base64.b64encode(
   hmac.new(b"s3cret", b"1796530927", hashlib.sha1).digest()))' */
static void test_coi_turn_credentials(void)
{
	const unsigned char secret[] = "s3cret";

	test_begin("coi turn credentials");
	test_assert_strcmp(coi_turn_credentials("turn.example.org", 3478,
			1796530927, secret, sizeof(secret) - 1),
		"turn.example.org:3478:1796530927:cfiAVKG4llE7b3tQ4npmnJWtbeA=");
	test_assert_strcmp(coi_turn_credentials("127.0.0.1", 40000,
			1000000000, (const unsigned char *)"north", 5),
		"127.0.0.1:40000:1000000000:1JDVpkGD4+QBYAhgmbLTh+N0MRo=");
	test_end();
}

static void test_settings_init(struct coi_settings *set)
{
	i_zero(set);
	set->deltachat_turn = "";
	set->deltachat_turn_host = "turn.example.org";
	set->deltachat_turn_port = 3478;
	set->deltachat_turn_secret = "";
	set->deltachat_turn_secret_file = "";
	set->deltachat_turn_lifetime_secs = 5 * 24 * 60 * 60;
}

static void test_write_file(const char *path, const char *contents)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1)
		i_fatal("open(%s) failed: %m", path);
	if (write_full(fd, contents, strlen(contents)) < 0)
		i_fatal("write(%s) failed: %m", path);
	i_close_fd(&fd);
}

static void test_coi_turn_entry(void)
{
	struct coi_settings set;
	const char *dir, *path, *value, *error;

	test_begin("coi turn entry");
	test_settings_init(&set);

	/* not configured */
	set.deltachat_turn_host = "";
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == 0);

	/* a static entry next to it applies instead */
	test_settings_init(&set);
	set.deltachat_turn_secret = "north";
	set.deltachat_turn = "other.example.org:3478:1:x";
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == 0);

	/* the secret in the settings; expiry = now + lifetime */
	test_settings_init(&set);
	set.deltachat_turn_secret = "north";
	set.deltachat_turn_lifetime_secs = 432000;
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == 1);
	test_assert_strcmp(value, "turn.example.org:3478:1000432000:"
			   "YZCRPsdraP+L3kewosIyFxG7GK4=");

	/* the secret in a file: the line end is not part of it */
	dir = t_strdup_printf(".test-coi-turn.%ld", (long)getpid());
	if (mkdir(dir, 0700) < 0)
		i_fatal("mkdir(%s) failed: %m", dir);
	path = t_strdup_printf("%s/secret", dir);
	test_settings_init(&set);
	set.deltachat_turn_secret_file = path;
	set.deltachat_turn_lifetime_secs = 432000;
	test_write_file(path, "north\r\n");
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == 1);
	test_assert_strcmp(value, "turn.example.org:3478:1000432000:"
			   "YZCRPsdraP+L3kewosIyFxG7GK4=");

	/* an empty file, a missing file: errors that name the file, not
	   the secret */
	test_write_file(path, "\n");
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == -1);
	test_assert(strstr(error, path) != NULL);
	test_assert(strstr(error, "empty") != NULL);
	i_unlink(path);
	test_assert(coi_turn_entry(&set, 1000000000, &value, &error) == -1);
	test_assert(strstr(error, "does not exist") != NULL);

	if (unlink_directory(dir, UNLINK_DIRECTORY_FLAG_RMDIR, &error) < 0)
		i_error("%s", error);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_turn_credentials,
		test_coi_turn_entry,
		NULL
	};
	return test_run(test_functions);
}
