/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The tests "coi_chat" and "coi_blocked": no arguments, one operation
   each without operands. */

#include "lib.h"
#include "sieve-commands.h"
#include "sieve-code.h"
#include "sieve-generator.h"
#include "sieve-interpreter.h"
#include "sieve-dump.h"
#include "sieve-coi-common.h"

static bool sieve_coi_chat_generate(const struct sieve_codegen_env *cgenv,
				    struct sieve_command *cmd)
{
	sieve_operation_emit(cgenv->sblock, cmd->ext,
			     &sieve_coi_chat_operation);
	return TRUE;
}

static bool sieve_coi_blocked_generate(const struct sieve_codegen_env *cgenv,
				       struct sieve_command *cmd)
{
	sieve_operation_emit(cgenv->sblock, cmd->ext,
			     &sieve_coi_blocked_operation);
	return TRUE;
}

const struct sieve_command_def sieve_coi_chat_test = {
	.identifier = "coi_chat",
	.type = SCT_TEST,
	.positional_args = 0,
	.subtests = 0,
	.block_allowed = FALSE,
	.block_required = FALSE,
	.generate = sieve_coi_chat_generate,
};

const struct sieve_command_def sieve_coi_blocked_test = {
	.identifier = "coi_blocked",
	.type = SCT_TEST,
	.positional_args = 0,
	.subtests = 0,
	.block_allowed = FALSE,
	.block_required = FALSE,
	.generate = sieve_coi_blocked_generate,
};

static bool sieve_coi_operation_dump(const struct sieve_dumptime_env *denv,
				     sieve_size_t *address ATTR_UNUSED)
{
	sieve_code_dumpf(denv, "%s", sieve_operation_mnemonic(denv->oprtn));
	return TRUE;
}

/* A failing COI test fails the script, so that Pigeonhole's error
   handling applies: the error is logged and the message is kept as if
   there were no script. */
static int
sieve_coi_test_result(const struct sieve_runtime_env *renv,
		      const char *test, int ret, const char *error)
{
	if (ret < 0) {
		sieve_runtime_error(renv, NULL, "%s test: %s", test, error);
		return SIEVE_EXEC_FAILURE;
	}
	sieve_runtime_trace(renv, SIEVE_TRLVL_TESTS, "%s test: %s", test,
			    ret > 0 ? "true" : "false");
	sieve_interpreter_set_test_result(renv->interp, ret > 0);
	return SIEVE_EXEC_OK;
}

static int
sieve_coi_chat_operation_execute(const struct sieve_runtime_env *renv,
				 sieve_size_t *address ATTR_UNUSED)
{
	const char *error = NULL;
	int ret;

	if (sieve_coi_runtime_user(renv) == NULL)
		ret = 0;
	else
		ret = sieve_coi_message_is_chat(renv, &error);
	return sieve_coi_test_result(renv, "coi_chat", ret, error);
}

static int
sieve_coi_blocked_operation_execute(const struct sieve_runtime_env *renv,
				    sieve_size_t *address ATTR_UNUSED)
{
	struct mail_user *user = sieve_coi_runtime_user(renv);
	const char *error = NULL;
	int ret;

	if (user == NULL)
		ret = 0;
	else
		ret = sieve_coi_message_is_blocked(renv, user, &error);
	return sieve_coi_test_result(renv, "coi_blocked", ret, error);
}

const struct sieve_operation_def sieve_coi_chat_operation = {
	.mnemonic = "COI_CHAT",
	.ext_def = &sieve_coi_extension,
	.code = SIEVE_COI_OPERATION_CHAT,
	.dump = sieve_coi_operation_dump,
	.execute = sieve_coi_chat_operation_execute,
};

const struct sieve_operation_def sieve_coi_blocked_operation = {
	.mnemonic = "COI_BLOCKED",
	.ext_def = &sieve_coi_extension,
	.code = SIEVE_COI_OPERATION_BLOCKED,
	.dump = sieve_coi_operation_dump,
	.execute = sieve_coi_blocked_operation_execute,
};
