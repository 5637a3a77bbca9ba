/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "test-common.h"
#include "coi-message.h"

static void test_coi_msgid_list_first_is_chat(void)
{
	static const struct {
		const char *value;
		bool chat;
	} tests[] = {
		{ "<chat$abc@example.org>", TRUE },
		{ "  <chat$abc@example.org>  ", TRUE },
		{ "\r\n\t<chat$abc@example.org>", TRUE },
		{ "(comment) <chat$abc@example.org>", TRUE },
		{ "(nested (comment <x@y>)) <chat$abc@example.org>", TRUE },
		{ "< chat$abc@example.org>", TRUE },
		{ "<chat$>", FALSE },
		{ "<chat$a>", TRUE },
		{ "<chat$abc@example.org> <other@example.org>", TRUE },
		{ "<other@example.org> <chat$abc@example.org>", FALSE },
		{ "<xchat$abc@example.org>", FALSE },
		{ "<Chat$abc@example.org>", FALSE },
		{ "<chat@example.org>", FALSE },
		{ "chat$abc@example.org", FALSE },
		{ "<chat$abc@example.org", FALSE },
		{ "(unclosed <chat$abc@example.org>", FALSE },
		{ "(<chat$abc@example.org>) <other@example.org>", FALSE },
		{ "", FALSE },
		{ "<>", FALSE },
		{ "<", FALSE },
		{ ">", FALSE },
		{ "((((((", FALSE },
	};
	unsigned int i;

	test_begin("coi msgid list first is chat");
	test_assert(!coi_msgid_list_first_is_chat(NULL));
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(coi_msgid_list_first_is_chat(tests[i].value) ==
				tests[i].chat, i);
	}
	test_end();
}

static void test_coi_msgid_list_first(void)
{
	static const struct {
		const char *value;
		const char *id; /* NULL = none */
	} tests[] = {
		{ "<a@b>", "a@b" },
		{ " (c) \r\n\t<a@b> <c@d>", "a@b" },
		{ "< a@b>", "a@b" },
		{ "<a@b >", "a@b " },
		{ "<chat$group.4321dcba1234.x@d>", "chat$group.4321dcba1234.x@d" },
		{ "<x>", "x" },
		{ "<>", NULL },
		{ "< >", NULL },
		{ "<a@b", NULL },
		{ "a@b", NULL },
		{ "", NULL },
		{ "(<a@b>)", NULL },
		{ "(unclosed <a@b>", NULL },
	};
	const char *id;
	size_t len;
	unsigned int i;

	test_begin("coi msgid list first");
	test_assert(!coi_msgid_list_first(NULL, &id, &len));
	test_assert(id == NULL && len == 0);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		if (tests[i].id == NULL) {
			test_assert_idx(!coi_msgid_list_first(tests[i].value,
							      &id, &len), i);
			test_assert_idx(id == NULL && len == 0, i);
		} else {
			test_assert_idx(coi_msgid_list_first(tests[i].value,
							     &id, &len), i);
			test_assert_strcmp_idx(t_strndup(id, len),
					       tests[i].id, i);
		}
	}
	test_end();
}

static void test_coi_msgid_list_huge(void)
{
	string_t *refs = t_str_new(1024 * 1024);
	unsigned int i;

	test_begin("coi msgid list huge References");
	str_append(refs, "<first@example.org>");
	for (i = 0; i < 20000; i++)
		str_printfa(refs, "\r\n <chat$%u@example.org>", i);
	test_assert(!coi_msgid_list_first_is_chat(str_c(refs)));

	str_truncate(refs, 0);
	str_append(refs, "<chat$first@example.org>");
	for (i = 0; i < 20000; i++)
		str_printfa(refs, " <id%u@example.org>", i);
	test_assert(coi_msgid_list_first_is_chat(str_c(refs)));

	/* deeply nested comments are bounded by the input, not recursion */
	str_truncate(refs, 0);
	for (i = 0; i < 100000; i++)
		str_append_c(refs, '(');
	test_assert(!coi_msgid_list_first_is_chat(str_c(refs)));
	test_end();
}

static void test_coi_headers_are_chat(void)
{
	test_begin("coi headers are chat");
	test_assert(coi_headers_are_chat("1.0", NULL, NULL));
	test_assert(coi_headers_are_chat("", NULL, NULL));
	test_assert(coi_headers_are_chat("garbage", "<a@b>", "<c@d>"));
	test_assert(coi_headers_are_chat(NULL, "<chat$1@b>", NULL));
	test_assert(coi_headers_are_chat(NULL, "<a@b>", "<chat$1@b> <c@d>"));
	test_assert(!coi_headers_are_chat(NULL, "<a@b>", "<c@d> <chat$1@b>"));
	test_assert(!coi_headers_are_chat(NULL, NULL, NULL));
	test_assert(!coi_headers_are_chat(NULL, "<xchat$1@b>", "<xchat$1@b>"));
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_msgid_list_first,
		test_coi_msgid_list_first_is_chat,
		test_coi_msgid_list_huge,
		test_coi_headers_are_chat,
		NULL
	};
	return test_run(test_functions);
}
