#ifndef SIEVE_COI_PLUGIN_H
#define SIEVE_COI_PLUGIN_H

#include "coi-compat.h"

struct module;
struct sieve_instance;

/* The Pigeonhole plugin module lib90_sieve_coi_plugin.so, enabled with
   sieve_plugins = sieve_coi. */

extern const char *sieve_coi_plugin_version;

/* Called by Pigeonhole for each Sieve instance. On Pigeonhole 2.4 the
   load returns -1/0 (-1 fails the instance); 0.5's cannot fail. */
#if COI_DOVECOT_24
int sieve_coi_plugin_load(struct sieve_instance *svinst, void **context);
#else
void sieve_coi_plugin_load(struct sieve_instance *svinst, void **context);
#endif
void sieve_coi_plugin_unload(struct sieve_instance *svinst, void *context);

/* Module interface (nothing to do: all state is per Sieve instance). */
void sieve_coi_plugin_init(void);
void sieve_coi_plugin_deinit(void);

#endif
