/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "hmac.h"
#include "sha1.h"
#include "safe-memset.h"
#include "coi-secret-file.h"
#include "coi-settings.h"
#include "coi-turn.h"

const char *coi_turn_credentials(const char *host, unsigned int port,
				 time_t expiry, const unsigned char *secret,
				 size_t secret_size)
{
	struct hmac_context ctx;
	unsigned char digest[SHA1_RESULTLEN];
	const char *username = dec2str(expiry);
	string_t *value = t_str_new(128);

	hmac_init(&ctx, secret, secret_size, &hash_method_sha1);
	hmac_update(&ctx, username, strlen(username));
	hmac_final(&ctx, digest);
	/* the context holds state derived from the secret */
	safe_memset(&ctx, 0, sizeof(ctx));

	str_printfa(value, "%s:%u:%s:", host, port, username);
	base64_encode(digest, sizeof(digest), value);
	safe_memset(digest, 0, sizeof(digest));
	return str_c(value);
}

/* The shared secret as coturn's static-auth-secret has it: the file's
   text without the line end an editor leaves. */
static int
coi_turn_secret_file_read(const char *path, buffer_t *secret,
			  const char **error_r)
{
	const unsigned char *data;
	const char *error;
	int ret;

	ret = coi_secret_file_read(path, COI_TURN_SECRET_FILE_MAX_SIZE,
				   secret, &error);
	if (ret == 0)
		error = t_strdup_printf("%s does not exist", path);
	if (ret <= 0) {
		*error_r = t_strdup_printf(
			"coi_deltachat_turn_secret_file: %s", error);
		return -1;
	}
	data = secret->data;
	while (secret->used > 0 &&
	       (data[secret->used - 1] == '\n' ||
		data[secret->used - 1] == '\r' ||
		data[secret->used - 1] == ' ' ||
		data[secret->used - 1] == '\t'))
		buffer_set_used_size(secret, secret->used - 1);
	if (secret->used == 0) {
		*error_r = t_strdup_printf(
			"coi_deltachat_turn_secret_file: %s is empty", path);
		return -1;
	}
	return 0;
}

int coi_turn_entry(const struct coi_settings *set, time_t now,
		   const char **value_r, const char **error_r)
{
	buffer_t *secret;
	time_t expiry;

	if (set->deltachat_turn_host[0] == '\0' ||
	    set->deltachat_turn[0] != '\0')
		return 0;
	expiry = now + set->deltachat_turn_lifetime_secs;
	if (set->deltachat_turn_secret[0] != '\0') {
		*value_r = coi_turn_credentials(
			set->deltachat_turn_host, set->deltachat_turn_port,
			expiry,
			(const unsigned char *)set->deltachat_turn_secret,
			strlen(set->deltachat_turn_secret));
		return 1;
	}
	/* large enough never to grow: no copy left in freed memory */
	secret = t_buffer_create(COI_TURN_SECRET_FILE_MAX_SIZE + 1);
	if (coi_turn_secret_file_read(set->deltachat_turn_secret_file,
				      secret, error_r) < 0)
		return -1;
	*value_r = coi_turn_credentials(set->deltachat_turn_host,
					set->deltachat_turn_port, expiry,
					secret->data, secret->used);
	coi_secret_buffer_clear(secret);
	return 1;
}
