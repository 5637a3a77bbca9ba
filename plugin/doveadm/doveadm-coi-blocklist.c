/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* doveadm coi blocklist list|block|unblock: the user's blocked contacts.
   The contact storage messages in <root>/Contacts are the truth, so block
   and unblock change them the way a COI client does (APPEND of the new
   version, EXPUNGE of the old one): clients see the change, and the
   delivery index notices it by itself. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "istream.h"
#include "istream-concat.h"
#include "istream-header-filter.h"
#include "message-address.h"
#include "message-date.h"
#include "hostpid.h"
#include "ioloop.h"
#include "mail-storage-private.h"
#include "mail-search-build.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "coi-user.h"
#include "coi-attribute.h"
#include "coi-mailbox.h"
#include "coi-blocklist.h"
#include "doveadm-coi-plugin.h"

struct blocklist_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	const char *address;
	struct coi_blocklist_hash hash;
};

static struct mailbox *
blocklist_contacts_open(struct doveadm_mail_cmd_context *ctx,
			struct mail_user *user, bool create)
{
	struct coi_user *cuser = coi_user_get_ready(user);
	struct mailbox *box;
	const char *error;

	if (cuser == NULL) {
		i_error("The coi plugin is not loaded for %s "
			"(mail_plugins of protocol doveadm)", user->username);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_NOTPOSSIBLE);
		return NULL;
	}
	if (create && coi_mailbox_ensure(cuser, cuser->contacts_vname, FALSE,
					 &error) < 0) {
		i_error("Cannot create %s: %s", cuser->contacts_vname, error);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
		return NULL;
	}
	box = mailbox_alloc(cuser->root_ns->list, cuser->contacts_vname, 0);
	if (mailbox_open(box) < 0 || mailbox_sync(box, 0) < 0) {
		enum mail_error err;
		const char *errstr = mailbox_get_last_internal_error(box, &err);

		if (err == MAIL_ERROR_NOTFOUND && !create) {
			mailbox_free(&box);
			return NULL;
		}
		i_error("Cannot open %s: %s", cuser->contacts_vname, errstr);
		doveadm_mail_failed_mailbox(ctx, box);
		mailbox_free(&box);
		return NULL;
	}
	return box;
}

/* Calls the callback for every contact message of box with the message's
   valid hashes and whether it has COI-Blocked. */
typedef int blocklist_contact_callback_t(struct mail *mail, bool blocked,
					 const ARRAY_TYPE(coi_blocklist_hash) *hashes,
					 void *context);

static int
blocklist_contacts_iter(struct mailbox_transaction_context *t,
			blocklist_contact_callback_t *callback, void *context)
{
	struct mail_search_args *search_args;
	struct mail_search_context *search_ctx;
	ARRAY_TYPE(coi_blocklist_hash) hashes;
	const char *const *values, *error;
	struct mail *mail;
	int ret = 0;

	search_args = mail_search_build_init();
	mail_search_build_add_all(search_args);
	search_ctx = mailbox_search_init(t, search_args, NULL, 0, NULL);
	mail_search_args_unref(&search_args);
	while (ret == 0 && mailbox_search_next(search_ctx, &mail)) T_BEGIN {
		int blocked;

		t_array_init(&hashes, 8);
		blocked = coi_blocklist_contact_mail_get_hashes(mail, &hashes,
								&error);
		if (blocked < 0) {
			i_error("%s", error);
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
		    callback(mail, blocked > 0, &hashes, context) < 0)
			ret = -1;
	} T_END;
	if (mailbox_search_deinit(&search_ctx) < 0) {
		i_error("Searching contacts failed: %s",
			mailbox_get_last_internal_error(t->box, NULL));
		ret = -1;
	}
	return ret;
}

/* --- list --- */

static int
blocklist_list_contact(struct mail *mail, bool blocked,
		       const ARRAY_TYPE(coi_blocklist_hash) *hashes,
		       void *context ATTR_UNUSED)
{
	const struct coi_blocklist_hash *hash;

	if (!blocked)
		return 0;
	array_foreach(hashes, hash) {
		doveadm_print(coi_blocklist_hash_to_hex(hash));
		doveadm_print_num(mail->uid);
	}
	return 0;
}

static int cmd_blocklist_list_run(struct doveadm_mail_cmd_context *ctx,
				  struct mail_user *user)
{
	struct mailbox_transaction_context *t;
	struct mailbox *box;
	int ret;

	box = blocklist_contacts_open(ctx, user, FALSE);
	if (box == NULL)
		return ctx->exit_code == 0 ? 0 : -1;
	t = mailbox_transaction_begin(box, 0, "doveadm coi blocklist list");
	ret = blocklist_contacts_iter(t, blocklist_list_contact, NULL);
	(void)mailbox_transaction_commit(&t);
	mailbox_free(&box);
	if (ret < 0)
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
	return ret;
}

static void cmd_blocklist_list_init(struct doveadm_mail_cmd_context *ctx
				    ATTR_UNUSED,
				    const char *const args[] ATTR_UNUSED)
{
	doveadm_print_header_simple("hash");
	doveadm_print_header("uid", "contact-uid",
			     DOVEADM_PRINT_HEADER_FLAG_RIGHT_JUSTIFY);
}

static struct doveadm_mail_cmd_context *cmd_blocklist_list_alloc(void)
{
	struct doveadm_mail_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct doveadm_mail_cmd_context);
	ctx->v.init = cmd_blocklist_list_init;
	ctx->v.run = cmd_blocklist_list_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return ctx;
}

/* --- block / unblock --- */

/* Saves input as a new message; with the flags of old_mail if not NULL. */
static int blocklist_save(struct mailbox_transaction_context *t,
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
	if (mailbox_save_begin(&save_ctx, input) < 0) {
		i_error("Cannot save the contact message: %s",
			mailbox_get_last_internal_error(t->box, NULL));
		return -1;
	}
	do {
		if (mailbox_save_continue(save_ctx) < 0) {
			save_failed = TRUE;
			break;
		}
	} while ((ret = i_stream_read(input)) > 0);

	if (save_failed || input->stream_errno != 0 ||
	    mailbox_save_finish(&save_ctx) < 0) {
		i_error("Cannot save the contact message: %s",
			input->stream_errno != 0 ? i_stream_get_error(input) :
			mailbox_get_last_internal_error(t->box, NULL));
		if (save_ctx != NULL)
			mailbox_save_cancel(&save_ctx);
		return -1;
	}
	return 0;
}

/* Saves a new version of the contact message mail in save_t: without its
   COI-Blocked headers, plus "COI-Blocked: yes" if blocked. The old one is
   expunged when mail's transaction commits. */
static int blocklist_contact_rewrite(struct mailbox_transaction_context *save_t,
				     struct mail *mail, bool blocked)
{
	static const char *const exclude[] = { COI_HEADER_BLOCKED };
	struct istream *input, *filtered, *inputs[3];
	time_t received;
	int ret;

	if (mail_get_stream(mail, NULL, NULL, &input) < 0 ||
	    mail_get_received_date(mail, &received) < 0) {
		i_error("Cannot read contact message UID %u: %s", mail->uid,
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
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

	ret = blocklist_save(save_t, input, mail, received);
	i_stream_unref(&input);
	if (ret < 0)
		return -1;
	mail_expunge(mail);
	return 0;
}

struct blocklist_change_context {
	struct blocklist_cmd_context *cmd;
	struct mailbox_transaction_context *save_t;
	bool block;
	/* contacts with the address found (blocked or not) */
	unsigned int found;
	unsigned int changed;
};

static int
blocklist_change_contact(struct mail *mail, bool blocked,
			 const ARRAY_TYPE(coi_blocklist_hash) *hashes,
			 void *context)
{
	struct blocklist_change_context *cctx = context;
	const struct coi_blocklist_hash *hash;
	bool match = FALSE;

	array_foreach(hashes, hash) {
		if (memcmp(hash->data, cctx->cmd->hash.data,
			   sizeof(hash->data)) == 0)
			match = TRUE;
	}
	if (!match)
		return 0;
	cctx->found++;
	if (blocked == cctx->block)
		return 0;
	if (blocklist_contact_rewrite(cctx->save_t, mail, cctx->block) < 0)
		return -1;
	cctx->changed++;
	return 0;
}

/* A new contact message for an address nobody has a contact for yet. */
static int blocklist_contact_create(struct mailbox_transaction_context *t,
				    struct mail_user *user,
				    const char *address,
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
	ret = blocklist_save(t, input, NULL, 0);
	i_stream_unref(&input);
	return ret;
}

static int blocklist_change_run(struct blocklist_cmd_context *bctx,
				struct mail_user *user, bool block)
{
	struct doveadm_mail_cmd_context *ctx = &bctx->ctx;
	struct blocklist_change_context cctx;
	struct mailbox_transaction_context *expunge_t;
	struct mailbox *box;
	int ret;

	box = blocklist_contacts_open(ctx, user, block);
	if (box == NULL)
		return ctx->exit_code == 0 ? 0 : -1;
	i_zero(&cctx);
	cctx.cmd = bctx;
	cctx.block = block;
	/* Two transactions: saves need an EXTERNAL one, while expunges in
	   an EXTERNAL one would be recorded as done without the backend
	   doing them. The new versions are committed first, so that a
	   failure never loses a contact. */
	cctx.save_t = mailbox_transaction_begin(box,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, "doveadm coi blocklist");
	expunge_t = mailbox_transaction_begin(box, 0, "doveadm coi blocklist");
	ret = blocklist_contacts_iter(expunge_t, blocklist_change_contact,
				      &cctx);
	if (ret == 0 && block && cctx.found == 0) {
		ret = blocklist_contact_create(cctx.save_t, user,
					       bctx->address, &bctx->hash);
		cctx.changed++;
	}
	if (ret < 0) {
		mailbox_transaction_rollback(&cctx.save_t);
		mailbox_transaction_rollback(&expunge_t);
	} else if (mailbox_transaction_commit(&cctx.save_t) < 0) {
		i_error("Cannot save the contacts: %s",
			mailbox_get_last_internal_error(box, NULL));
		mailbox_transaction_rollback(&expunge_t);
		ret = -1;
	} else if (mailbox_transaction_commit(&expunge_t) < 0 ||
		   mailbox_sync(box, 0) < 0) {
		/* the sync carries out the expunges */
		i_error("Cannot expunge the old contacts: %s",
			mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	}
	mailbox_free(&box);
	if (ret < 0) {
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
		return -1;
	}
	doveadm_print(bctx->address);
	doveadm_print(coi_blocklist_hash_to_hex(&bctx->hash));
	doveadm_print(cctx.changed == 0 ? "unchanged" :
		      (block ? "blocked" : "unblocked"));
	return 0;
}

static int cmd_blocklist_block_run(struct doveadm_mail_cmd_context *ctx,
				   struct mail_user *user)
{
	return blocklist_change_run((struct blocklist_cmd_context *)ctx,
				    user, TRUE);
}

static int cmd_blocklist_unblock_run(struct doveadm_mail_cmd_context *ctx,
				     struct mail_user *user)
{
	return blocklist_change_run((struct blocklist_cmd_context *)ctx,
				    user, FALSE);
}

/* An addr-spec as a client would hash it: local@domain, no display name,
   no angle brackets, no whitespace or control characters. */
static bool blocklist_address_is_valid(const char *address)
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

static void cmd_blocklist_change_init(struct doveadm_mail_cmd_context *ctx,
				      const char *const args[])
{
	struct blocklist_cmd_context *bctx =
		(struct blocklist_cmd_context *)ctx;

	if (args[0] == NULL || args[1] != NULL)
		doveadm_mail_help_name(ctx->cmd->name);
	if (!blocklist_address_is_valid(args[0]))
		i_fatal_status(EX_USAGE, "Invalid address: %s", args[0]);
	bctx->address = p_strdup(ctx->pool, t_str_lcase(args[0]));
	coi_blocklist_address_hash(bctx->address, &bctx->hash);
	doveadm_print_header_simple("address");
	doveadm_print_header_simple("hash");
	doveadm_print_header_simple("result");
}

static struct doveadm_mail_cmd_context *cmd_blocklist_block_alloc(void)
{
	struct blocklist_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct blocklist_cmd_context);
	ctx->ctx.v.init = cmd_blocklist_change_init;
	ctx->ctx.v.run = cmd_blocklist_block_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_mail_cmd_context *cmd_blocklist_unblock_alloc(void)
{
	struct blocklist_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct blocklist_cmd_context);
	ctx->ctx.v.init = cmd_blocklist_change_init;
	ctx->ctx.v.run = cmd_blocklist_unblock_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_cmd_ver2 doveadm_coi_blocklist_commands[] = {
	{
		.name = "coi blocklist list",
		.usage = "",
		.mail_cmd = cmd_blocklist_list_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi blocklist block",
		.usage = "<address>",
		.mail_cmd = cmd_blocklist_block_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "address", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi blocklist unblock",
		.usage = "<address>",
		.mail_cmd = cmd_blocklist_unblock_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "address", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
};

void doveadm_coi_blocklist_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(doveadm_coi_blocklist_commands); i++)
		doveadm_cmd_register_ver2(&doveadm_coi_blocklist_commands[i]);
}
