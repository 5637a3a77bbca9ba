/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "file-lock.h"
#include "mail-user.h"
#include "coi-chats-lock.h"

#include <fcntl.h>

int coi_chats_lock(struct mail_user *user, bool exclusive,
		   struct file_lock **lock_r, const char **error_r)
{
	struct file_lock_settings lock_set = {
		.lock_method = FILE_LOCK_METHOD_FLOCK,
		.close_on_free = TRUE,
	};
	const char *home, *path, *error;
	int fd, ret;

	if (mail_user_get_home(user, &home) <= 0) {
		*error_r = "no home directory for the lock file";
		return -1;
	}
	path = t_strconcat(home, "/"COI_CHATS_LOCK_FNAME, NULL);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	ret = file_wait_lock(fd, path, exclusive ? F_WRLCK : F_RDLCK,
			     &lock_set, COI_CHATS_LOCK_TIMEOUT_SECS, lock_r,
			     &error);
	if (ret <= 0) {
		*error_r = ret < 0 ? error :
			t_strdup_printf("timed out locking %s", path);
		i_close_fd(&fd);
		return -1;
	}
	return 0;
}
