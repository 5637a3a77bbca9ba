/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "net.h"
#include "ioloop.h"
#include "mail-user.h"
#include "coi-user.h"
#include "coi-push-submit.h"

#include <fcntl.h>
#include <unistd.h>

/* Gone files are truncated by the service long before this. */
#define COI_PUSH_GONE_FILE_READ_MAX 65536

int coi_push_submit(struct mail_user *user, const string_t *lines,
		    const char **error_r)
{
	const char *path = t_strconcat(user->set->base_dir,
		"/"COI_PUSH_SERVICE_SOCKET_NAME, NULL);
	ssize_t ret;
	int fd;

	fd = net_connect_unix(path);
	if (fd == -1) {
		*error_r = t_strdup_printf("cannot reach the coi-push "
			"service: net_connect_unix(%s) failed: %m", path);
		return -1;
	}
	/* the socket buffer takes the jobs at once; a full buffer means
	   the service is stuck, and the caller does not wait for it */
	ret = write(fd, str_data(lines), str_len(lines));
	if (ret != (ssize_t)str_len(lines)) {
		*error_r = ret < 0 ?
			t_strdup_printf("write(%s) failed: %m", path) :
			t_strdup_printf("write(%s) wrote only %zd of %zu "
					"bytes", path, ret, str_len(lines));
		i_close_fd(&fd);
		return -1;
	}
	i_close_fd(&fd);
	return 0;
}

void coi_push_gone_read(struct mail_user *user, pool_t pool,
			ARRAY_TYPE(coi_push_gone) *gone_r)
{
	const char *dir, *path;
	char buf[COI_PUSH_GONE_FILE_READ_MAX + 1];
	ssize_t ret;
	int fd;

	dir = coi_user_settings(user)->push_spool_dir;
	path = t_strdup_printf("%s/"COI_PUSH_SPOOL_GONE_DIR"/%s", dir,
			       coi_push_gone_file_name(user->username));
	fd = open(path, O_RDONLY);
	if (fd == -1) {
		if (errno != ENOENT)
			e_error(user->event, "coi: open(%s) failed: %m", path);
		return;
	}
	ret = read(fd, buf, sizeof(buf) - 1);
	if (ret < 0)
		e_error(user->event, "coi: read(%s) failed: %m", path);
	else {
		buf[ret] = '\0';
		coi_push_gone_parse(pool, buf, ioloop_time, gone_r);
	}
	i_close_fd(&fd);
}
