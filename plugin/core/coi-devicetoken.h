#ifndef COI_DEVICETOKEN_H
#define COI_DEVICETOKEN_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Delta Chat push (the XDELTAPUSH capability): the device tokens clients
   register with SETMETADATA "INBOX" (/private/devicetoken <token>), the
   server information entries Delta Chat reads
   (/shared/vendor/deltachat/...), and the notifications sent for
   delivered messages through the coi-push service. */

#include "array.h"

struct mail_user;
struct coi_webpush_message;

/* Longest token accepted (current clients send about 800 octets). */
#define COI_DEVICETOKEN_MAX_LEN 4096

struct coi_devicetoken {
	/* Hex digest of the token: names it in storage, logs and doveadm
	   without showing the token itself. */
	const char *id;
	const char *token;
	/* last registration; the microseconds order registrations within
	   one second (the oldest token is the one dropped at the limit) */
	time_t registered;
	unsigned int registered_usecs;
};
ARRAY_DEFINE_TYPE(coi_devicetoken, struct coi_devicetoken);

/* TRUE if the user has the plugin and coi_deltachat_push is enabled. */
bool coi_devicetoken_user_enabled(struct mail_user *user);

/* Pure helpers (unit-tested). A token is 1..COI_DEVICETOKEN_MAX_LEN
   printable ASCII characters without spaces. */
bool coi_devicetoken_is_valid(const char *token);
const char *coi_devicetoken_id(const char *token);
/* The stored form: "<secs>.<usecs> <token>". */
const char *coi_devicetoken_stored_value(const struct coi_devicetoken *dt);
int coi_devicetoken_stored_parse(const char *value,
				 struct coi_devicetoken *dt_r);

/* The user's unexpired tokens, oldest registration first. Tokens the
   notifier reported gone (coi-push service) are removed first.
   Returns -1 with an error on storage errors. */
int coi_devicetoken_list(struct mail_user *user, pool_t pool,
			 ARRAY_TYPE(coi_devicetoken) *tokens,
			 const char **error_r);
/* Removes the tokens whose id starts with id_prefix (NULL: all of them,
   expired ones included). *removed_r is how many were removed. */
int coi_devicetoken_remove(struct mail_user *user, const char *id_prefix,
			   unsigned int *removed_r, const char **error_r);

/* For the push driver: the tokens to notify for this user's deliveries
   (NULL if none, or Delta Chat push is off for the user), and the
   notification for one delivered message. Never fails the caller. */
struct coi_devicetoken_recipients *
coi_devicetoken_recipients_get(struct mail_user *user, pool_t pool);
void coi_devicetoken_notify_message(struct mail_user *user,
				    const struct coi_devicetoken_recipients *rcpts,
				    const struct coi_webpush_message *msg);

void coi_devicetoken_attributes_register(void);
void coi_devicetoken_attributes_unregister(void);

#endif
