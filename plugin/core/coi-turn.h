#ifndef COI_TURN_H
#define COI_TURN_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Time-limited TURN credentials for Delta Chat calls, in the TURN REST
   scheme that coturn checks with use-auth-secret: the user name is the
   expiry time, the password base64(HMAC-SHA1(shared secret, user name)).
   Delta Chat reads them from /shared/vendor/deltachat/turn as
   HOST:PORT:EXPIRY:PASSWORD and asks again before they expire. */

struct coi_settings;

/* The largest shared secret file read. */
#define COI_TURN_SECRET_FILE_MAX_SIZE 4096

/* "HOST:PORT:EXPIRY:PASSWORD" (data stack). */
const char *coi_turn_credentials(const char *host, unsigned int port,
				 time_t expiry, const unsigned char *secret,
				 size_t secret_size);

/* The entry for set at the time now: 1 with value_r (data stack), 0 when
   no TURN server with a shared secret is configured or the static
   coi_deltachat_turn is set (which then applies), -1 if the secret
   could not be read (error_r, for the log: names the file, never the
   secret). */
int coi_turn_entry(const struct coi_settings *set, time_t now,
		   const char **value_r, const char **error_r);

#endif
