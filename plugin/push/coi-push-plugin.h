#ifndef COI_PUSH_PLUGIN_H
#define COI_PUSH_PLUGIN_H

extern const char *coi_push_plugin_version;
extern const char *coi_push_plugin_dependencies[];

void coi_push_plugin_init(struct module *module);
void coi_push_plugin_deinit(void);

#endif
