/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* doveadm coi devicetoken list|remove: the Delta Chat device tokens a user
   registered (XDELTAPUSH). Tokens are named by their id, a digest that
   shows nothing of the token; list prints the start of each token so an
   administrator can match it with a device. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "iso8601-date.h"
#include "mail-user.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"
#include "coi-user.h"
#include "coi-devicetoken.h"
#include "doveadm-coi-plugin.h"

#include <ctype.h>
#include <sysexits.h>

#define DEVICETOKEN_LIST_TOKEN_START_LEN 24

struct devicetoken_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	/* id prefix, NULL for all */
	const char *id_prefix;
};

static bool
devicetoken_user_check(struct doveadm_mail_cmd_context *ctx,
		       struct mail_user *user)
{
	if (coi_user_has_plugin(user))
		return TRUE;
	i_error("The coi plugin is not loaded for %s "
		"(mail_plugins of protocol doveadm)", user->username);
	doveadm_mail_failed_error(ctx, MAIL_ERROR_NOTPOSSIBLE);
	return FALSE;
}

static int cmd_devicetoken_list_run(struct doveadm_mail_cmd_context *ctx,
				    struct mail_user *user)
{
	ARRAY_TYPE(coi_devicetoken) tokens;
	const struct coi_devicetoken *dt;
	const char *error;

	if (!devicetoken_user_check(ctx, user))
		return -1;
	t_array_init(&tokens, 8);
	if (coi_devicetoken_list(user, pool_datastack_create(), &tokens,
				 &error) < 0) {
		i_error("Cannot read the device tokens of %s: %s",
			user->username, error);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
		return -1;
	}
	array_foreach(&tokens, dt) {
		doveadm_print(dt->id);
		doveadm_print(iso8601_date_create(dt->registered));
		doveadm_print(strlen(dt->token) <= DEVICETOKEN_LIST_TOKEN_START_LEN ?
			dt->token : t_strconcat(t_strndup(dt->token,
				DEVICETOKEN_LIST_TOKEN_START_LEN), "...", NULL));
	}
	return 0;
}

static void cmd_devicetoken_list_init(DOVEADM_COI_INIT_PARAMS_UNUSED)
{
	doveadm_print_header_simple("id");
	doveadm_print_header_simple("registered");
	doveadm_print_header_simple("token");
}

static struct doveadm_mail_cmd_context *cmd_devicetoken_list_alloc(void)
{
	struct doveadm_mail_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct doveadm_mail_cmd_context);
	ctx->v.init = cmd_devicetoken_list_init;
	ctx->v.run = cmd_devicetoken_list_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return ctx;
}

static int cmd_devicetoken_remove_run(struct doveadm_mail_cmd_context *ctx,
				      struct mail_user *user)
{
	struct devicetoken_cmd_context *dctx =
		(struct devicetoken_cmd_context *)ctx;
	unsigned int removed;
	const char *error;

	if (!devicetoken_user_check(ctx, user))
		return -1;
	if (coi_devicetoken_remove(user, dctx->id_prefix, &removed,
				   &error) < 0) {
		i_error("Cannot remove the device tokens of %s: %s",
			user->username, error);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_TEMP);
		return -1;
	}
	if (removed == 0 && dctx->id_prefix != NULL) {
		i_error("%s has no device token %s", user->username,
			dctx->id_prefix);
		doveadm_mail_failed_error(ctx, MAIL_ERROR_NOTFOUND);
		return -1;
	}
	doveadm_print(dec2str(removed));
	return 0;
}

static bool devicetoken_id_prefix_is_valid(const char *prefix)
{
	const char *p;

	/* at least 8 hex digits: a prefix that names one token */
	if (strlen(prefix) < 8)
		return FALSE;
	for (p = prefix; *p != '\0'; p++) {
		if (!i_isxdigit(*p) || i_isupper(*p))
			return FALSE;
	}
	return TRUE;
}

static void cmd_devicetoken_remove_init(DOVEADM_COI_INIT_PARAMS)
{
	struct devicetoken_cmd_context *dctx =
		(struct devicetoken_cmd_context *)ctx;
	const char *id;

	if (!doveadm_cmd_param_str(ctx->cctx, "id", &id))
		doveadm_mail_help_name(ctx->cmd->name);
	if (strcmp(id, "all") == 0)
		dctx->id_prefix = NULL;
	else if (devicetoken_id_prefix_is_valid(id))
		dctx->id_prefix = p_strdup(ctx->pool, id);
	else {
		i_fatal_status(EX_USAGE, "Invalid token id: %s (the id from "
			       "\"doveadm coi devicetoken list\", at least "
			       "8 digits of it, or \"all\")", id);
	}
	doveadm_print_header_simple("removed");
}

static struct doveadm_mail_cmd_context *cmd_devicetoken_remove_alloc(void)
{
	struct devicetoken_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct devicetoken_cmd_context);
	ctx->ctx.v.init = cmd_devicetoken_remove_init;
	ctx->ctx.v.run = cmd_devicetoken_remove_run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_cmd_ver2 doveadm_coi_devicetoken_commands[] = {
	{
		.name = "coi devicetoken list",
		.usage = "",
		.mail_cmd = cmd_devicetoken_list_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi devicetoken remove",
		.usage = "<id>|all",
		.mail_cmd = cmd_devicetoken_remove_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "id", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
};

void doveadm_coi_devicetoken_register(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(doveadm_coi_devicetoken_commands); i++)
		doveadm_cmd_register_ver2(&doveadm_coi_devicetoken_commands[i]);
}
