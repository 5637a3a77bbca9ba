/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* doveadm coi blocklist list|block|unblock: the user's blocked contacts.
   The contact messages in <root>/Contacts are the truth; the core reads
   and changes them (coi-contacts.h), this file only parses arguments and
   prints. */

#include "lib.h"
#include "array.h"
#include "mail-storage.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "coi-contacts.h"
#include "doveadm-coi-plugin.h"

struct blocklist_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	const char *address;
};

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
	enum mail_error error_code;
	const char *error;
	int ret;

	ret = coi_contacts_open(user, FALSE, &box, &error_code, &error);
	if (ret <= 0) {
		if (ret < 0) {
			i_error("%s", error);
			doveadm_mail_failed_error(ctx, error_code);
		}
		return ret;
	}
	t = mailbox_transaction_begin(box, 0, "doveadm coi blocklist list");
	ret = coi_contacts_iter(t, blocklist_list_contact, NULL, &error);
	(void)mailbox_transaction_commit(&t);
	mailbox_free(&box);
	if (ret < 0) {
		i_error("%s", error);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
	}
	return ret;
}

static void cmd_blocklist_list_init(DOVEADM_COI_INIT_PARAMS_UNUSED)
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

static int blocklist_change_run(struct blocklist_cmd_context *bctx,
				struct mail_user *user, bool block)
{
	struct coi_blocklist_hash hash;
	enum mail_error error_code;
	unsigned int changed;
	const char *error;
	int ret;

	ret = coi_contacts_set_blocked(user, bctx->address, block, &changed,
				       &error_code, &error);
	if (ret < 0) {
		i_error("%s", error);
		doveadm_mail_failed_error(&bctx->ctx, error_code);
		return -1;
	}
	if (ret == 0)
		return 0;
	coi_blocklist_address_hash(bctx->address, &hash);
	doveadm_print(bctx->address);
	doveadm_print(coi_blocklist_hash_to_hex(&hash));
	doveadm_print(changed == 0 ? "unchanged" :
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

static void cmd_blocklist_change_init(DOVEADM_COI_INIT_PARAMS)
{
	struct blocklist_cmd_context *bctx =
		(struct blocklist_cmd_context *)ctx;
	const char *address;

	if (!doveadm_cmd_param_str(ctx->cctx, "address", &address))
		doveadm_mail_help_name(ctx->cmd->name);
	if (!coi_contacts_address_is_valid(address))
		i_fatal_status(EX_USAGE, "Invalid address: %s", address);
	bctx->address = p_strdup(ctx->pool, t_str_lcase(address));
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
