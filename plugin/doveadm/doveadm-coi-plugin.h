#ifndef DOVEADM_COI_PLUGIN_H
#define DOVEADM_COI_PLUGIN_H

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
