#ifndef COI_SECRET_FILE_H
#define COI_SECRET_FILE_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Small files that hold secrets (the WebPush key files, the TURN shared
   secret), read so that no copy is left behind in freed memory. */

/* Reads path into contents, at most max_size bytes. Returns 1 if read,
   0 if the file does not exist, -1 on error (contents cleared). error_r
   names the path, never the contents. */
int coi_secret_file_read(const char *path, size_t max_size,
			 buffer_t *contents, const char **error_r);

/* Zeroes the secret in buf and empties it. */
void coi_secret_buffer_clear(buffer_t *buf);

#endif
