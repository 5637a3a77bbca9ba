#ifndef DOVEADM_COI_PLUGIN_H
#define DOVEADM_COI_PLUGIN_H

#include "coi-compat.h"

/* The parameters of a mail command's init function: Dovecot 2.3 also
   passes the positional arguments, which both versions read with
   doveadm_cmd_param_str(ctx->cctx, ...). */
#if COI_DOVECOT_24
#  define DOVEADM_COI_INIT_PARAMS struct doveadm_mail_cmd_context *ctx
#  define DOVEADM_COI_INIT_PARAMS_UNUSED \
	struct doveadm_mail_cmd_context *ctx ATTR_UNUSED
#else
#  define DOVEADM_COI_INIT_PARAMS struct doveadm_mail_cmd_context *ctx, \
	const char *const args[] ATTR_UNUSED
#  define DOVEADM_COI_INIT_PARAMS_UNUSED \
	struct doveadm_mail_cmd_context *ctx ATTR_UNUSED, \
	const char *const args[] ATTR_UNUSED
#endif

extern const char *doveadm_coi_plugin_version;
extern const char *doveadm_coi_plugin_dependencies[];
extern const char doveadm_coi_plugin_binary_dependency[];

void doveadm_coi_plugin_preinit(void);
void doveadm_coi_plugin_init(struct module *module);
void doveadm_coi_plugin_deinit(void);

/* One function per command file: registers its doveadm commands. */
void doveadm_coi_blocklist_register(void);
void doveadm_coi_devicetoken_register(void);

#endif
