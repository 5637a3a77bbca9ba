#ifndef COI_USER_H
#define COI_USER_H

#include "module-context.h"
#include "mail-user.h"

struct mail_attribute_value;

#define COI_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_user_module)

struct coi_user {
	union mail_user_module_context module_ctx;

	const char *mailbox_root;
	const char *chats_vname;
	const char *contacts_vname;
	/* The namespace that holds the COI folders. */
	struct mail_namespace *root_ns;

	/* Non-zero while the core itself creates COI folders, so that this
	   does not count as the user's indirect request to enable COI. */
	unsigned int internal_change;

	/* The delivery now running is of a blocked sender's message (see
	   coi_blocklist_set_delivering_blocked()). */
	bool delivering_blocked;
};

extern MODULE_CONTEXT_DEFINE(coi_user_module, &mail_user_module_register);

/* The user's COI context once its namespaces exist, or NULL for users
   without the plugin. */
struct coi_user *coi_user_get_ready(struct mail_user *user);
/* The same for the owner of the mailbox list box belongs to. */
struct coi_user *coi_box_get_user(struct mailbox *box);

/* Reads a client-supplied METADATA value (a string or, for literals, a
   stream) into *str_r, NULL for NIL. Returns 1 when read, 0 when it cannot
   be valid (longer than max_len octets, or contains NUL), -1 on a read
   error (set as the storage error). */
int coi_attribute_value_read(struct mailbox *box,
			     const struct mail_attribute_value *value,
			     size_t max_len, const char **str_r);

/* The user's attribute dict file, if facts read from it can be cached
   (see coi-config-cache.h), else NULL. */
const char *coi_user_attribute_dict_path(struct mail_user *user);

void coi_attributes_register(void);
void coi_attributes_unregister(void);

void coi_storage_mailbox_allocated(struct mailbox *box);
void coi_seen_mailbox_allocated(struct mailbox *box);
void coi_seen_mail_allocated(struct mail *mail);

/* Creates the folder if it does not exist (subscribing it if asked and it
   was created). Existing folders are success. */
int coi_mailbox_ensure(struct coi_user *cuser, const char *vname,
		       bool subscribe, const char **error_r);
/* The folders that enabling COI promises: Chats (subscribed), Contacts. */
int coi_mailboxes_ensure_enabled(struct coi_user *cuser,
				 const char **error_r);

#endif
