/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "safe-memset.h"
#include "coi-secret-file.h"

#include <unistd.h>
#include <fcntl.h>

int coi_secret_file_read(const char *path, size_t max_size,
			 buffer_t *contents, const char **error_r)
{
	unsigned char buf[4096];
	ssize_t ret;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	while ((ret = read(fd, buf, sizeof(buf))) != 0) {
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			*error_r = t_strdup_printf("read(%s) failed: %m", path);
			break;
		}
		if (contents->used + (size_t)ret > max_size) {
			*error_r = t_strdup_printf(
				"%s is too large (more than %zu bytes)",
				path, max_size);
			ret = -1;
			break;
		}
		buffer_append(contents, buf, ret);
	}
	safe_memset(buf, 0, sizeof(buf));
	i_close_fd(&fd);
	if (ret < 0) {
		coi_secret_buffer_clear(contents);
		return -1;
	}
	return 1;
}

void coi_secret_buffer_clear(buffer_t *buf)
{
	if (buf->used > 0)
		safe_memset(buffer_get_modifiable_data(buf, NULL), 0, buf->used);
	buffer_set_used_size(buf, 0);
}
