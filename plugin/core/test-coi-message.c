/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "istream.h"
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

static int test_header_is_chat(const char *header)
{
	struct istream *input;
	int ret;

	input = i_stream_create_from_data(header, strlen(header));
	ret = coi_header_is_chat(input);
	i_stream_unref(&input);
	return ret;
}

static void test_coi_header_is_chat(void)
{
	static const struct {
		const char *header;
		int chat;
	} tests[] = {
		{ "Chat-Version: 1.0\r\n\r\nbody", 1 },
		{ "chat-version: 1.0\r\n\r\n", 1 },
		{ "CHAT-VERSION: whatever\n\n", 1 },
		{ "Chat-Version:\r\n\r\n", 1 },
		{ "From: a@b\r\nSubject: x\r\nChat-Version: 1.0\r\n\r\n", 1 },
		{ "X-Chat-Version: 1.0\r\n\r\n", 0 },
		{ "Subject: Chat-Version: 1.0\r\n\r\n", 0 },
		{ "From: a@b\r\n\r\nChat-Version: 1.0\r\n", 0 },
		{ "Message-ID: <chat$1@example.org>\r\n\r\n", 1 },
		{ "message-id: <chat$1@example.org>\r\n\r\n", 1 },
		{ "Message-ID:\r\n <chat$1@example.org>\r\n\r\n", 1 },
		{ "Message-ID: <xchat$1@example.org>\r\n\r\n", 0 },
		{ "Message-ID: <a@b>\r\nMessage-ID: <chat$1@b>\r\n\r\n", 0 },
		{ "Message-ID: <chat$1@b>\r\nMessage-ID: <a@b>\r\n\r\n", 1 },
		{ "References: <chat$1@b> <c@d>\r\n\r\n", 1 },
		{ "References: <c@d> <chat$1@b>\r\n\r\n", 0 },
		{ "References:\r\n (a comment)\r\n\t<chat$1@b>\r\n\r\n", 1 },
		{ "References: (a\r\n comment) <c@d>\r\n <chat$1@b>\r\n\r\n", 0 },
		{ "References: <a@b>\r\nReferences: <chat$1@b>\r\n\r\n", 0 },
		{ "References:\r\n\r\n", 0 },
		{ "In-Reply-To: <chat$1@b>\r\n\r\n", 0 },
		{ "X-Note: chat$\r\n\r\n", 0 },
		{ "References: chat$1@b\r\n\r\n", 0 },
		{ "Message-ID: <a@b>\r\nReferences: <c@d>\r\n"
		  "Chat-Version: 1.0\r\n\r\n", 1 },
		/* no end of header, no newline, nothing */
		{ "Chat-Version: 1.0", 1 },
		{ "Message-ID: <chat$1@b>", 1 },
		{ "Subject: x", 0 },
		{ "", 0 },
		{ "\r\n", 0 },
		/* malformed lines */
		{ "no colon here\r\nChat-Version: 1\r\n\r\n", 1 },
		{ ": empty name\r\n\r\n", 0 },
		{ "Message-ID: <chat$\r\n\r\n", 0 },
	};
	unsigned int i;

	test_begin("coi header is chat");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(test_header_is_chat(tests[i].header) ==
				tests[i].chat, i);
	}
	test_end();
}

static void test_coi_header_is_chat_nul(void)
{
	static const char hdr1[] = "Message-ID: <chat$\0x@b>\r\n\r\n";
	static const char hdr2[] = "X-A: \0\r\nChat-Version: 1\r\n\r\n";
	struct istream *input;

	test_begin("coi header is chat with NULs");
	input = i_stream_create_from_data(hdr1, sizeof(hdr1) - 1);
	test_assert(coi_header_is_chat(input) == 1);
	i_stream_unref(&input);
	input = i_stream_create_from_data(hdr2, sizeof(hdr2) - 1);
	test_assert(coi_header_is_chat(input) == 1);
	i_stream_unref(&input);
	test_end();
}

static void test_coi_header_is_chat_huge(void)
{
	string_t *hdr = t_str_new(1024 * 1024);
	unsigned int i;

	test_begin("coi header is chat with huge headers");
	/* a huge References header, chat$ only in later ids */
	str_append(hdr, "References: <first@example.org>");
	for (i = 0; i < 20000; i++)
		str_printfa(hdr, "\r\n <chat$%u@example.org>", i);
	str_append(hdr, "\r\n\r\n");
	test_assert(test_header_is_chat(str_c(hdr)) == 0);

	/* many header lines before the deciding one */
	str_truncate(hdr, 0);
	for (i = 0; i < 20000; i++)
		str_printfa(hdr, "X-Header-%u: value\r\n", i);
	str_append(hdr, "Chat-Version: 1.0\r\n\r\n");
	test_assert(test_header_is_chat(str_c(hdr)) == 1);
	test_end();
}

static void test_coi_header_is_chat_error(void)
{
	struct istream *input;

	test_begin("coi header is chat read error");
	input = i_stream_create_error_str(EIO, "test read error");
	test_assert(coi_header_is_chat(input) == -1);
	test_assert(input->stream_errno == EIO);
	i_stream_unref(&input);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_msgid_list_first,
		test_coi_msgid_list_first_is_chat,
		test_coi_msgid_list_huge,
		test_coi_header_is_chat,
		test_coi_header_is_chat_nul,
		test_coi_header_is_chat_huge,
		test_coi_header_is_chat_error,
		NULL
	};
	return test_run(test_functions);
}
