/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-config.h"

static const char *const coi_message_filter_names[] = {
	[COI_MESSAGE_FILTER_NONE] = "none",
	[COI_MESSAGE_FILTER_ACTIVE] = "active",
	[COI_MESSAGE_FILTER_SEEN] = "seen",
};

int coi_config_parse_enabled(const char *value, bool *enabled_r)
{
	if (value == NULL) {
		*enabled_r = FALSE;
		return 0;
	}
	if (strcmp(value, "yes") == 0) {
		*enabled_r = TRUE;
		return 0;
	}
	return -1;
}

int coi_config_parse_message_filter(const char *value,
				    enum coi_message_filter *filter_r)
{
	unsigned int i;

	if (value == NULL) {
		*filter_r = COI_MESSAGE_FILTER_NONE;
		return 0;
	}
	for (i = 0; i < N_ELEMENTS(coi_message_filter_names); i++) {
		if (strcmp(value, coi_message_filter_names[i]) == 0) {
			*filter_r = (enum coi_message_filter)i;
			return 0;
		}
	}
	return -1;
}

const char *coi_message_filter_to_str(enum coi_message_filter filter)
{
	i_assert(filter < N_ELEMENTS(coi_message_filter_names));
	return coi_message_filter_names[filter];
}

bool coi_mailbox_root_is_valid(const char *root, char sep,
			       const char **error_r)
{
	const char *p;

	if (root[0] == '\0') {
		*error_r = "must not be empty";
		return FALSE;
	}
	if (root[0] == sep) {
		*error_r = "must not begin with the hierarchy separator";
		return FALSE;
	}
	for (p = root; *p != '\0'; p++) {
		if (*p == '*' || *p == '%') {
			*error_r = "must not contain the wildcards '*' or '%'";
			return FALSE;
		}
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = "must not contain control characters";
			return FALSE;
		}
		if (*p == sep && (p[1] == sep || p[1] == '\0')) {
			*error_r = "must not contain an empty hierarchy level";
			return FALSE;
		}
	}
	return TRUE;
}
