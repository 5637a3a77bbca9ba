#ifndef COI_COMPAT_H
#define COI_COMPAT_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The small API differences between Dovecot 2.3 (2.3.19+) and 2.4
   (2.4.1+), in one place. The rest of the code uses the 2.4 names;
   larger differences have their own per-version files (settings, the
   JSON reader). configure refuses every other version. */

#include "lib.h"

#if DOVECOT_VERSION_MAJOR > 2 || \
    (DOVECOT_VERSION_MAJOR == 2 && DOVECOT_VERSION_MINOR >= 4)
#  define COI_DOVECOT_24 1
#else
#  define COI_DOVECOT_24 0
#endif

/* json_append_escaped*() moved from json-parser.h to json-generator.h:
   #include COI_JSON_ESCAPE_H */
#if COI_DOVECOT_24
#  define COI_JSON_ESCAPE_H "json-generator.h"
#else
#  define COI_JSON_ESCAPE_H "json-parser.h"
#endif

#if !COI_DOVECOT_24
/* 2.4 names what 2.3's two-argument str_begins() does str_begins_with();
   its str_begins() also returns the rest */
#  define str_begins_with(str, prefix) str_begins(str, prefix)
/* base64_decode() lost its unused src_pos_r argument */
#  define coi_base64_decode(src, size, dest) \
	base64_decode(src, size, NULL, dest)
/* settings_get_time() became str_parse_get_interval() */
#  define coi_parse_interval(str, secs_r, error_r) \
	settings_get_time(str, secs_r, error_r)
/* what 2.4's settings_free() does: settings structs with a pool member
   (coi_settings) are released by unreferencing it */
#  define settings_free(set) STMT_START { \
	if ((set) != NULL) { \
		pool_t coi_pool_copy = (set)->pool; \
		pool_unref(&coi_pool_copy); \
		(set) = NULL; \
	} } STMT_END
#else
#  define coi_parse_interval(str, secs_r, error_r) \
	str_parse_get_interval(str, secs_r, error_r)
#  define coi_base64_decode(src, size, dest) base64_decode(src, size, dest)
#endif

#endif
