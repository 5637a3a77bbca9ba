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

static bool sieve_coi_extension_load(const struct sieve_extension *ext,
				     void **context)
{
	/* The environment extension, for registering our items with the
	   interpreter; scripts that read them require it themselves. */
	*context = (void *)sieve_ext_environment_get_extension(ext->svinst);
	return TRUE;
}

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
	.load = sieve_coi_extension_load,
	.validator_load = sieve_coi_validator_load,
	.interpreter_load = sieve_coi_interpreter_load,
	SIEVE_EXT_DEFINE_OPERATIONS(sieve_coi_operations),
};
