/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "istream.h"
#include "istream-concat.h"
#include "istream-header-filter.h"
#include "message-date.h"
#include "message-size.h"
#include "hostpid.h"
#include "ioloop.h"
#include "mail-storage-private.h"
#include "mail-search-build.h"
#include "coi-user.h"
#include "coi-mailbox.h"
#include "coi-contacts.h"

int coi_contacts_mail_get_blocked_hashes(struct mail *mail,
				ARRAY_TYPE(coi_blocklist_hash) *hashes,
				const char **error_r)
{
	struct message_size hdr_size;
	struct istream *input;
	const char *const *blocked, *const *values;
	uoff_t size;

	/* The message size is in the index; only large messages need the
	   header's size, which reading the header stream measures without
	   keeping it in memory. */
	if (mail_get_physical_size(mail, &size) < 0)
		goto failed;
	if (size > COI_BLOCKLIST_MAX_CONTACT_HEADER_SIZE) {
		if (mail_get_hdr_stream(mail, &hdr_size, &input) < 0)
			goto failed;
		if (hdr_size.physical_size >
		    COI_BLOCKLIST_MAX_CONTACT_HEADER_SIZE) {
			e_debug(mail->box->event, "coi: Contact message "
				"UID %u has a header larger than %u bytes, "
				"ignoring it", mail->uid,
				COI_BLOCKLIST_MAX_CONTACT_HEADER_SIZE);
			return 0;
		}
	}
	if (mail_get_headers(mail, COI_HEADER_BLOCKED, &blocked) < 0)
		goto failed;
	if (blocked[0] == NULL)
		return 0;
	if (mail_get_headers(mail, COI_HEADER_FROM_HASH, &values) < 0)
		goto failed;
	(void)coi_blocklist_add_contact_hashes(hashes, values,
					       mail->box->event);
	return 1;
failed:
	if (mail->expunged)
		return 0;
	*error_r = t_strdup_printf("Cannot read contact message UID %u: %s",
		mail->uid, mailbox_get_last_internal_error(mail->box, NULL));
	return -1;
}

int coi_contacts_open(struct mail_user *user, bool create,
		      struct mailbox **box_r, enum mail_error *error_code_r,
		      const char **error_r)
{
	struct coi_user *cuser = coi_user_get_ready(user);
	struct mailbox *box;
	const char *error;

	if (cuser == NULL) {
		*error_code_r = MAIL_ERROR_NOTPOSSIBLE;
		*error_r = t_strdup_printf("The coi plugin is not loaded for "
			"%s (mail_plugins of protocol doveadm)",
			user->username);
		return -1;
	}
	if (create && coi_mailbox_ensure(cuser, cuser->contacts_vname, FALSE,
					 &error) < 0) {
		*error_code_r = MAIL_ERROR_TEMP;
		*error_r = t_strdup_printf("Cannot create %s: %s",
					   cuser->contacts_vname, error);
		return -1;
	}
	box = mailbox_alloc(cuser->root_ns->list, cuser->contacts_vname, 0);
	if (mailbox_open(box) < 0 || mailbox_sync(box, 0) < 0) {
		error = mailbox_get_last_internal_error(box, error_code_r);
		if (*error_code_r == MAIL_ERROR_NOTFOUND && !create) {
			mailbox_free(&box);
			return 0;
		}
		*error_r = t_strdup_printf("Cannot open %s: %s",
					   cuser->contacts_vname, error);
		mailbox_free(&box);
		return -1;
	}
	*box_r = box;
	return 1;
}

#undef coi_contacts_iter
int coi_contacts_iter(struct mailbox_transaction_context *t,
		      coi_contacts_callback_t *callback, void *context,
		      const char **error_r)
{
	struct mail_search_args *search_args;
	struct mail_search_context *search_ctx;
	ARRAY_TYPE(coi_blocklist_hash) hashes;
	const char *const *values, *error = NULL;
	struct mail *mail;
	int ret = 0;

	search_args = mail_search_build_init();
	mail_search_build_add_all(search_args);
	search_ctx = mailbox_search_init(t, search_args, NULL, 0, NULL);
	mail_search_args_unref(&search_args);
	while (ret == 0 && mailbox_search_next(search_ctx, &mail)) T_BEGIN {
		int blocked;

		t_array_init(&hashes, 8);
		blocked = coi_contacts_mail_get_blocked_hashes(mail, &hashes,
							       &error);
		if (blocked < 0) {
			error = p_strdup(t->box->pool, error);
			ret = -1;
		} else if (blocked == 0) {
			/* not blocked: still has hashes to find the contact */
			if (mail_get_headers(mail, COI_HEADER_FROM_HASH,
					     &values) > 0) {
				(void)coi_blocklist_add_contact_hashes(
					&hashes, values, mail->box->event);
			}
		}
		if (ret == 0 &&
		    callback(mail, blocked > 0, &hashes, context) < 0) {
			error = p_strdup_printf(t->box->pool, "Cannot change "
				"contact message UID %u: %s", mail->uid,
				mailbox_get_last_internal_error(t->box, NULL));
			ret = -1;
		}
	} T_END;
	if (mailbox_search_deinit(&search_ctx) < 0) {
		error = t_strdup_printf("Searching contacts failed: %s",
			mailbox_get_last_internal_error(t->box, NULL));
		ret = -1;
	}
	if (ret < 0)
		*error_r = t_strdup(error);
	return ret;
}

bool coi_contacts_address_is_valid(const char *address)
{
	const char *p, *at = strrchr(address, '@');

	if (at == NULL || at == address || at[1] == '\0' ||
	    strlen(address) > 254)
		return FALSE;
	for (p = address; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == 0x7f || *p == ',' || *p == '"')
			return FALSE;
	}
	return TRUE;
}

/* Saves input as a new message; with the flags of old_mail if not NULL. */
static int coi_contacts_save(struct mailbox_transaction_context *t,
			     struct istream *input, struct mail *old_mail,
			     time_t received)
{
	struct mail_save_context *save_ctx;
	bool save_failed = FALSE;
	ssize_t ret;

	save_ctx = mailbox_save_alloc(t);
	if (old_mail != NULL) {
		mailbox_save_copy_flags(save_ctx, old_mail);
		mailbox_save_set_received_date(save_ctx, received, 0);
	}
	if (mailbox_save_begin(&save_ctx, input) < 0)
		return -1;
	do {
		if (mailbox_save_continue(save_ctx) < 0) {
			save_failed = TRUE;
			break;
		}
	} while ((ret = i_stream_read(input)) > 0);

	if (save_failed || input->stream_errno != 0 ||
	    mailbox_save_finish(&save_ctx) < 0) {
		if (input->stream_errno != 0) {
			mail_storage_set_critical(t->box->storage,
				"read(%s) failed: %s", i_stream_get_name(input),
				i_stream_get_error(input));
		}
		if (save_ctx != NULL)
			mailbox_save_cancel(&save_ctx);
		return -1;
	}
	return 0;
}

/* Saves a new version of the contact message mail in save_t: without its
   COI-Blocked headers, plus "COI-Blocked: yes" if blocked. The old one is
   expunged when mail's transaction commits. */
static int
coi_contacts_rewrite(struct mailbox_transaction_context *save_t,
		     struct mail *mail, bool blocked)
{
	static const char *const exclude[] = { COI_HEADER_BLOCKED };
	struct istream *input, *filtered, *inputs[3];
	time_t received;
	int ret;

	if (mail_get_stream(mail, NULL, NULL, &input) < 0 ||
	    mail_get_received_date(mail, &received) < 0)
		return -1;
	filtered = i_stream_create_header_filter(input, HEADER_FILTER_EXCLUDE,
						 exclude, N_ELEMENTS(exclude),
						 *null_header_filter_callback,
						 NULL);
	if (blocked) {
		static const char blocked_hdr[] = COI_HEADER_BLOCKED": yes\n";

		inputs[0] = i_stream_create_from_data(blocked_hdr,
						      sizeof(blocked_hdr) - 1);
		inputs[1] = filtered;
		inputs[2] = NULL;
		input = i_stream_create_concat(inputs);
		i_stream_unref(&inputs[0]);
		i_stream_unref(&filtered);
	} else {
		input = filtered;
	}

	ret = coi_contacts_save(save_t, input, mail, received);
	i_stream_unref(&input);
	if (ret < 0)
		return -1;
	mail_expunge(mail);
	return 0;
}

/* A new contact message for an address nobody has a contact for yet. */
static int coi_contacts_create(struct mailbox_transaction_context *t,
			       struct mail_user *user, const char *address,
			       const struct coi_blocklist_hash *hash)
{
	struct istream *input;
	string_t *msg = t_str_new(512);
	int ret;

	str_printfa(msg, "From: <%s>\n", user->username);
	str_append(msg, "Subject: Contact\n");
	str_printfa(msg, "Date: %s\n", message_date_create(ioloop_time));
	str_printfa(msg, "Message-ID: <coi-contact.%s.%s@%s>\n",
		    dec2str(ioloop_time), my_pid, my_hostname);
	str_append(msg, "MIME-Version: 1.0\n");
	str_append(msg, "Chat-Content: contact\n");
	str_printfa(msg, COI_HEADER_FROM_HASH": %s\n",
		    coi_blocklist_hash_to_hex(hash));
	str_append(msg, COI_HEADER_BLOCKED": yes\n");
	str_append(msg, "Content-Type: text/html; charset=utf-8\n\n");
	str_printfa(msg, "<html><body><p class=\"h-card\">"
		    "<a class=\"u-email p-name\" href=\"mailto:%s\">%s</a>"
		    "</p></body></html>\n", address, address);

	input = i_stream_create_from_data(str_data(msg), str_len(msg));
	ret = coi_contacts_save(t, input, NULL, 0);
	i_stream_unref(&input);
	return ret;
}

struct coi_contacts_change {
	struct coi_blocklist_hash hash;
	struct mailbox_transaction_context *save_t;
	bool block;
	/* contacts with the address found (blocked or not) */
	unsigned int found;
	unsigned int changed;
};

static int
coi_contacts_change_one(struct mail *mail, bool blocked,
			const ARRAY_TYPE(coi_blocklist_hash) *hashes,
			void *context)
{
	struct coi_contacts_change *change = context;
	const struct coi_blocklist_hash *hash;
	bool match = FALSE;

	array_foreach(hashes, hash) {
		if (memcmp(hash->data, change->hash.data,
			   sizeof(hash->data)) == 0)
			match = TRUE;
	}
	if (!match)
		return 0;
	change->found++;
	if (blocked == change->block)
		return 0;
	if (coi_contacts_rewrite(change->save_t, mail, change->block) < 0)
		return -1;
	change->changed++;
	return 0;
}

int coi_contacts_set_blocked(struct mail_user *user, const char *address,
			     bool block, unsigned int *changed_r,
			     enum mail_error *error_code_r,
			     const char **error_r)
{
	struct coi_contacts_change change;
	struct mailbox_transaction_context *expunge_t;
	struct mailbox *box;
	int ret;

	*changed_r = 0;
	ret = coi_contacts_open(user, block, &box, error_code_r, error_r);
	if (ret <= 0)
		return ret;
	i_zero(&change);
	coi_blocklist_address_hash(address, &change.hash);
	change.block = block;
	/* Two transactions: saves need an EXTERNAL one, while expunges in
	   an EXTERNAL one would be recorded as done without the backend
	   doing them. The new versions are committed first, so that a
	   failure never loses a contact. */
	change.save_t = mailbox_transaction_begin(box,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, "coi contacts");
	expunge_t = mailbox_transaction_begin(box, 0, "coi contacts");
	ret = coi_contacts_iter(expunge_t, coi_contacts_change_one, &change,
				error_r);
	if (ret == 0 && block && change.found == 0) {
		if (coi_contacts_create(change.save_t, user, address,
					&change.hash) < 0) {
			*error_r = t_strdup_printf("Cannot save the contact "
				"message: %s",
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
		}
		change.changed++;
	}
	if (ret < 0) {
		mailbox_transaction_rollback(&change.save_t);
		mailbox_transaction_rollback(&expunge_t);
	} else if (mailbox_transaction_commit(&change.save_t) < 0) {
		*error_r = t_strdup_printf("Cannot save the contacts: %s",
			mailbox_get_last_internal_error(box, NULL));
		mailbox_transaction_rollback(&expunge_t);
		ret = -1;
	} else if (mailbox_transaction_commit(&expunge_t) < 0 ||
		   mailbox_sync(box, 0) < 0) {
		/* the sync carries out the expunges */
		*error_r = t_strdup_printf("Cannot expunge the old "
			"contacts: %s",
			mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	}
	mailbox_free(&box);
	if (ret < 0) {
		*error_code_r = MAIL_ERROR_TEMP;
		return -1;
	}
	*changed_r = change.changed;
	return 1;
}
