/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Extension vnd.dovecot.coi
   Tests:             coi_chat, coi_blocked (no arguments)
   Environment items: vnd.dovecot.coi.enabled, .message-filter,
                      .mailbox-root (with the "environment" extension)
   Compiling needs nothing of COI, so sievec and ManageSieve accept
   scripts in processes without the core plugin; only running them
   asks the core. */

#include "lib.h"
#include "sieve-extensions.h"
#include "sieve-validator.h"
#include "sieve-interpreter.h"
#include "sieve-ext-environment.h"
#include "sieve-coi-common.h"

static const struct sieve_operation_def *sieve_coi_operations[] = {
	[SIEVE_COI_OPERATION_CHAT] = &sieve_coi_chat_operation,
	[SIEVE_COI_OPERATION_BLOCKED] = &sieve_coi_blocked_operation,
};

static int sieve_coi_extension_load(const struct sieve_extension *ext,
				    void **context_r)
{
	const struct sieve_extension *env_ext;

	/* The environment extension, for registering our items with the
	   interpreter; scripts that read them require it themselves. This
	   is what sieve_ext_environment_get_extension() does. */
	if (sieve_coi_extension_register(ext->svinst, &environment_extension,
					 FALSE, &env_ext) < 0)
		return -1;
	*context_r = (void *)env_ext;
	return 0;
}

#if !COI_DOVECOT_24
/* Pigeonhole 0.5's load() returns success, 2.4's -1/0 */
static bool sieve_coi_extension_load_bool(const struct sieve_extension *ext,
					  void **context_r)
{
	return sieve_coi_extension_load(ext, context_r) == 0;
}
#endif

static bool sieve_coi_validator_load(const struct sieve_extension *ext,
				     struct sieve_validator *valdtr)
{
	sieve_validator_register_command(valdtr, ext, &sieve_coi_chat_test);
	sieve_validator_register_command(valdtr, ext, &sieve_coi_blocked_test);
	return TRUE;
}

static bool
sieve_coi_interpreter_load(const struct sieve_extension *ext,
			   const struct sieve_runtime_env *renv,
			   sieve_size_t *address ATTR_UNUSED)
{
	if (ext->context != NULL)
		sieve_coi_environment_items_register(ext, renv);
	return TRUE;
}

const struct sieve_extension_def sieve_coi_extension = {
	.name = SIEVE_COI_EXTENSION_NAME,
#if COI_DOVECOT_24
	.load = sieve_coi_extension_load,
#else
	.load = sieve_coi_extension_load_bool,
#endif
	.validator_load = sieve_coi_validator_load,
	.interpreter_load = sieve_coi_interpreter_load,
	SIEVE_EXT_DEFINE_OPERATIONS(sieve_coi_operations),
};
