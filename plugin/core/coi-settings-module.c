/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Dovecot 2.4 only: the settings module Dovecot's config process (and
   doveconf) loads from its settings directory, so that it knows the COI
   settings, checks them when Dovecot starts and hands them to
   settings_get() in the mail processes and the coi-push service. The
   module is named libcoi_settings.so; Dovecot finds the declarations by
   that name (coi_settings_set_infos). It may use only libdovecot. */

#include "lib.h"
#include "settings-parser.h"
#include "coi-settings.h"

/* for lack of a header: only Dovecot's module loader looks these up */
extern const char *coi_settings_version;
extern const struct setting_parser_info *coi_settings_set_infos[];

const char *coi_settings_version = DOVECOT_ABI_VERSION;

const struct setting_parser_info *coi_settings_set_infos[] = {
	&coi_setting_parser_info,
	NULL
};
