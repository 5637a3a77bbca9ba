#ifndef COI_DELIVER_PLUGIN_H
#define COI_DELIVER_PLUGIN_H

extern const char *coi_deliver_plugin_dependencies[];
extern const char coi_deliver_plugin_binary_dependency[];
extern const char *coi_deliver_plugin_version;

void coi_deliver_plugin_init(struct module *module);
void coi_deliver_plugin_deinit(void);

#endif
