/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "test-common.h"
#include "coi-config.h"

static void test_coi_config_parse_enabled(void)
{
	static const char *const invalid[] = {
		"", "YES", "Yes", "yes ", " yes", "no", "true", "1", "NIL",
		"yes\r\n", "ye", "yess",
	};
	bool enabled = TRUE;
	unsigned int i;

	test_begin("coi config parse enabled");
	test_assert(coi_config_parse_enabled(NULL, &enabled) == 0);
	test_assert(!enabled);
	test_assert(coi_config_parse_enabled("yes", &enabled) == 0);
	test_assert(enabled);
	for (i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(coi_config_parse_enabled(invalid[i], &enabled) < 0, i);
	test_end();
}

static void test_coi_config_parse_message_filter(void)
{
	static const struct {
		const char *value;
		enum coi_message_filter filter;
	} valid[] = {
		{ NULL, COI_MESSAGE_FILTER_NONE },
		{ "none", COI_MESSAGE_FILTER_NONE },
		{ "active", COI_MESSAGE_FILTER_ACTIVE },
		{ "seen", COI_MESSAGE_FILTER_SEEN },
	};
	static const char *const invalid[] = {
		"", "None", "ACTIVE", "inactive", "seen ", "activ", "actives",
		"all", "active\n",
	};
	enum coi_message_filter filter;
	unsigned int i;

	test_begin("coi config parse message-filter");
	for (i = 0; i < N_ELEMENTS(valid); i++) {
		filter = COI_MESSAGE_FILTER_SEEN + 1;
		test_assert_idx(coi_config_parse_message_filter(valid[i].value,
								&filter) == 0, i);
		test_assert_idx(filter == valid[i].filter, i);
	}
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		test_assert_idx(coi_config_parse_message_filter(invalid[i],
								&filter) < 0, i);
	}
	/* round trip of every name */
	for (i = COI_MESSAGE_FILTER_NONE; i <= COI_MESSAGE_FILTER_SEEN; i++) {
		test_assert_idx(coi_config_parse_message_filter(
			coi_message_filter_to_str(i), &filter) == 0, i);
		test_assert_idx(filter == i, i);
	}
	test_end();
}

static void test_coi_mailbox_root_is_valid(void)
{
	static const char *const valid[] = {
		"COI", "Chat", "INBOX/COI", "a/b/c", "Ünïcödé",
	};
	static const char *const invalid[] = {
		"", "/COI", "COI/", "a//b", "CO*", "CO%", "C\tOI", "C\x7fOI",
	};
	const char *error;
	unsigned int i;

	test_begin("coi mailbox root is valid");
	for (i = 0; i < N_ELEMENTS(valid); i++)
		test_assert_idx(coi_mailbox_root_is_valid(valid[i], '/', &error), i);
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		error = NULL;
		test_assert_idx(!coi_mailbox_root_is_valid(invalid[i], '/',
							   &error), i);
		test_assert_idx(error != NULL, i);
	}
	/* the separator is the namespace's, not always '/' */
	test_assert(coi_mailbox_root_is_valid("a/b", '.', &error));
	test_assert(!coi_mailbox_root_is_valid("a..b", '.', &error));
	test_end();
}

static void test_coi_config_error_texts(void)
{
	/* client-visible errors name the public entry and the allowed
	   values, never lib-storage's internal attribute keys */
	const char *const texts[] = {
		COI_ENABLED_INVALID_ERROR,
		COI_MESSAGE_FILTER_INVALID_ERROR,
		COI_MAILBOX_ROOT_READONLY_ERROR,
	};
	unsigned int i;

	test_begin("coi config error texts");
	for (i = 0; i < N_ELEMENTS(texts); i++) {
		test_assert_idx(strstr(texts[i], "pvt") == NULL, i);
		test_assert_idx(strstr(texts[i], "/private/vendor/vendor.dovecot/coi/config/") != NULL, i);
	}
	test_assert(strstr(COI_ENABLED_INVALID_ERROR, "\"yes\"") != NULL);
	test_assert(strstr(COI_MESSAGE_FILTER_INVALID_ERROR, "\"seen\"") != NULL);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_config_parse_enabled,
		test_coi_config_parse_message_filter,
		test_coi_mailbox_root_is_valid,
		test_coi_config_error_texts,
		NULL
	};
	return test_run(test_functions);
}
