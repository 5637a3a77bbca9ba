#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* libFuzzer harnesses of the parsers of outside input (tests/fuzz/run).
   Each harness defines FUZZ(data, size); Dovecot's lib is set up once,
   and every input runs in a data stack frame of its own with a fresh
   pool, so that a leak or an overrun of one input shows at once. */

#include "lib.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool);

/* The input as a C string (parsers of strings never see a NUL), in the
   data stack. */
static inline const char *fuzz_str(const unsigned char *data, size_t size)
{
	return t_strndup(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialized = FALSE;
	pool_t pool;

	if (!initialized) {
		lib_init();
		initialized = TRUE;
	}
	pool = pool_alloconly_create("fuzz", 1024);
	T_BEGIN {
		fuzz_one(data, size, pool);
	} T_END;
	pool_unref(&pool);
	return 0;
}

#endif
