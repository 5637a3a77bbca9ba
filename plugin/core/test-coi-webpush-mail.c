/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* coi_webpush_message_from_mail() on mails saved into a real (sdbox)
   mailbox of a test user under ./.test-home */

#include "lib.h"
#include "str.h"
#include "istream.h"
#include "master-service.h"
#include "test-common.h"
#include "test-mail-storage-common.h"
#include "coi-message.h"
#include "coi-webpush-payload.h"

static struct test_mail_storage_ctx *test_ctx;
static struct mailbox *test_box;
static uint32_t test_seq;

static void test_mail_save(const char *text, bool chat)
{
	static const char *const chat_keywords[] = { COI_KEYWORD_CHAT, NULL };
	struct mailbox_transaction_context *trans;
	struct mail_save_context *save_ctx;
	struct mail_keywords *kw = NULL;
	struct istream *input;
	int ret;

	input = i_stream_create_from_data(text, strlen(text));
	trans = mailbox_transaction_begin(test_box,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, __func__);
	save_ctx = mailbox_save_alloc(trans);
	if (chat) {
		kw = mailbox_keywords_create_valid(test_box, chat_keywords);
		mailbox_save_set_flags(save_ctx, 0, kw);
	}
	if (mailbox_save_begin(&save_ctx, input) < 0)
		ret = -1;
	else {
		do {
			if (mailbox_save_continue(save_ctx) < 0)
				break;
		} while (i_stream_read(input) > 0);
		if (input->eof && input->stream_errno == 0)
			ret = mailbox_save_finish(&save_ctx);
		else {
			mailbox_save_cancel(&save_ctx);
			ret = -1;
		}
	}
	if (kw != NULL)
		mailbox_keywords_unref(&kw);
	i_stream_unref(&input);
	if (ret < 0)
		mailbox_transaction_rollback(&trans);
	else
		ret = mailbox_transaction_commit(&trans);
	if (ret < 0 || mailbox_sync(test_box, 0) < 0) {
		i_fatal("Failed to save mail: %s",
			mailbox_get_last_internal_error(test_box, NULL));
	}
	test_seq++;
}

/* Saves text and reads it back into *msg_r (memory from pool) */
static void
test_mail_read(const char *text, bool chat, pool_t pool,
	       struct coi_webpush_message *msg_r)
{
	struct mailbox_transaction_context *trans;
	struct mail *mail;
	const char *error;

	test_mail_save(text, chat);
	trans = mailbox_transaction_begin(test_box, 0, __func__);
	mail = mail_alloc(trans, 0, NULL);
	mail_set_seq(mail, test_seq);
	if (coi_webpush_message_from_mail(mail, pool, msg_r, &error) < 0)
		i_fatal("coi_webpush_message_from_mail() failed: %s", error);
	mail_free(&mail);
	mailbox_transaction_rollback(&trans);
}

static void test_from_mail_full(void)
{
	struct coi_webpush_message msg;
	pool_t pool;
	const char *json;
	bool included;

	test_begin("webpush message from mail: chat to a group");
	pool = pool_alloconly_create("test webpush", 1024);
	test_mail_read(
		"From: =?utf-8?q?J=C3=B6rg?= \"Doe\" <Joerg.Doe@Example.COM>\n"
		"To: alice@example.com, bob@example.com\n"
		"Subject: =?utf-8?b?R3LDvMOfZQ==?= aus\n"
		" Berlin\n"
		"Date: Mon, 4 Dec 2019 15:51:37 +0100\n"
		"Message-ID: <chat$group.4321dcba1234.S2571BC.2878&8@sample.com>\n"
		"References: <chat$group.4321dcba1234.434571BC.89A707D2@sample.com>\n"
		"Content-Type: text/plain;\n"
		"\tcharset=UTF-8\n"
		"Content-Transfer-Encoding: 8bit\n"
		"Chat-Version: 1.0\n"
		"\n"
		"Hi gang, \xE2\x82\xAC \"quoted\"\n", TRUE, pool, &msg);

	test_assert_strcmp(msg.from_email, "Joerg.Doe@Example.COM");
	test_assert_strcmp(msg.from_name, "J\xC3\xB6rg Doe");
	test_assert_strcmp(msg.subject, "Gr\xC3\xBC\xC3\x9F" "e aus Berlin");
	test_assert(msg.have_date);
	test_assert(msg.date == 1575471097);
	test_assert(msg.date_tz == 60);
	test_assert_strcmp(msg.message_id,
			   "chat$group.4321dcba1234.S2571BC.2878&8@sample.com");
	test_assert_strcmp(msg.group_id, "4321dcba1234");
	test_assert_strcmp(msg.content_type, "text/plain;\tcharset=UTF-8");
	test_assert_strcmp(msg.content_encoding, "8bit");
	test_assert(msg.is_chat);
	test_assert(!msg.is_disposition_notification);
	test_assert(msg.content != NULL &&
		    msg.content_size == strlen((const char *)msg.content));
	test_assert_strcmp((const char *)msg.content,
			   "Hi gang, \xE2\x82\xAC \"quoted\"\n");
	test_assert(msg.folder == NULL && msg.uid == 0 &&
		    msg.uidvalidity == 0);

	msg.folder = "COI/Chats";
	msg.uid = 7;
	msg.uidvalidity = 1234;
	json = coi_webpush_payload_build(&msg, COI_WEBPUSH_PAYLOAD_MAX,
					 &included);
	test_assert(included);
	test_assert_strcmp(json,
		"{\"from-email\":\"joerg.doe@example.com\","
		"\"from-name\":\"J\xC3\xB6rg Doe\","
		"\"subject\":\"Gr\xC3\xBC\xC3\x9F" "e aus Berlin\","
		"\"content\":\"Hi gang, \xE2\x82\xAC \\\"quoted\\\"\\n\","
		"\"date\":\"2019-12-04T15:51:37+01:00\","
		"\"msg-id\":\"chat$group.4321dcba1234.S2571BC.2878&8@sample.com\","
		"\"uid\":7,\"uidvalidity\":1234,\"folder\":\"COI/Chats\","
		"\"group-id\":\"4321dcba1234\"}");
	pool_unref(&pool);
	test_end();
}

static void test_from_mail_sparse(void)
{
	struct coi_webpush_message msg;
	pool_t pool;

	test_begin("webpush message from mail: missing headers");
	pool = pool_alloconly_create("test webpush", 1024);
	test_mail_read("X-Other: 1\n\nbody\n", FALSE, pool, &msg);
	test_assert(msg.from_email == NULL && msg.from_name == NULL);
	test_assert(msg.subject == NULL);
	test_assert(!msg.have_date);
	test_assert(msg.message_id == NULL && msg.group_id == NULL);
	test_assert(msg.content_type == NULL &&
		    msg.content_encoding == NULL);
	test_assert(!msg.is_chat && !msg.is_disposition_notification);
	test_assert(msg.content_size == 5 &&
		    memcmp(msg.content, "body\n", 5) == 0);

	/* empty values, a From group, a bare Message-ID, the group only in
	   References, a bad Date */
	test_mail_read("From: Friends: ;, Team: \"Bob\" <bob@example.org>;\n"
		       "Subject: \n"
		       "Date: yesterday\n"
		       "Message-ID:  some-id@example.org \n"
		       "References: <chat$group.ABCDEFGHIJKL.1@x.org>\n"
		       "\n", FALSE, pool, &msg);
	test_assert_strcmp(msg.from_email, "bob@example.org");
	test_assert_strcmp(msg.from_name, "Bob");
	test_assert(msg.subject == NULL);
	test_assert(!msg.have_date);
	test_assert_strcmp(msg.message_id, "some-id@example.org");
	test_assert_strcmp(msg.group_id, "ABCDEFGHIJKL");
	test_assert(msg.content != NULL && msg.content_size == 0);

	/* no display name; From without a domain */
	test_mail_read("From: carol@example.net\n\n", FALSE, pool, &msg);
	test_assert_strcmp(msg.from_email, "carol@example.net");
	test_assert(msg.from_name == NULL);
	test_mail_read("From: MAILER-DAEMON\n\n", FALSE, pool, &msg);
	test_assert_strcmp(msg.from_email, "MAILER-DAEMON");
	test_mail_read("From: <>\n\n", FALSE, pool, &msg);
	test_assert(msg.from_email == NULL);
	pool_unref(&pool);
	test_end();
}

static void test_from_mail_mdn(void)
{
	struct coi_webpush_message msg;
	pool_t pool;

	test_begin("webpush message from mail: read receipt");
	pool = pool_alloconly_create("test webpush", 1024);
	test_mail_read(
		"From: bob@example.org\n"
		"Message-ID: <chat$mdn.1@example.org>\n"
		"Content-Type: multipart/report;\n"
		" report-type=\"disposition-notification\";\n"
		" boundary=\"b\"\n"
		"\n"
		"--b\n\nread\n--b--\n", TRUE, pool, &msg);
	test_assert(msg.is_disposition_notification);
	test_assert(msg.is_chat);
	test_assert(msg.group_id == NULL);
	pool_unref(&pool);
	test_end();
}

static void test_from_mail_body_size(void)
{
	static const char hdr[] = "Subject: big\n\n";
	static const size_t sizes[] = {
		0, 1, COI_WEBPUSH_PAYLOAD_MAX - 1, COI_WEBPUSH_PAYLOAD_MAX,
		COI_WEBPUSH_PAYLOAD_MAX + 1, COI_WEBPUSH_PAYLOAD_MAX + 2,
		100 * 1024,
	};
	struct coi_webpush_message msg;
	string_t *text;
	pool_t pool;
	unsigned int i;

	test_begin("webpush message from mail: body size");
	pool = pool_alloconly_create("test webpush", 1024);
	for (i = 0; i < N_ELEMENTS(sizes); i++) {
		text = t_str_new(sizes[i] + sizeof(hdr));
		str_append(text, hdr);
		while (str_len(text) < sizes[i] + sizeof(hdr) - 1)
			str_append_c(text, 'a' + str_len(text) % 26);
		test_mail_read(str_c(text), FALSE, pool, &msg);
		if (sizes[i] <= COI_WEBPUSH_PAYLOAD_MAX) {
			test_assert_idx(msg.content != NULL &&
					msg.content_size == sizes[i], i);
			test_assert_idx(msg.content != NULL &&
					memcmp(msg.content,
					       str_data(text) + sizeof(hdr) - 1,
					       sizes[i]) == 0, i);
		} else {
			test_assert_idx(msg.content == NULL &&
					msg.content_size == 0, i);
		}
	}
	pool_unref(&pool);
	test_end();
}

static void test_init(void)
{
	struct test_mail_storage_settings set = {
		.driver = "sdbox",
	};

	test_ctx = test_mail_storage_init();
	test_mail_storage_init_user(test_ctx, &set);
	test_box = mailbox_alloc(test_ctx->user->namespaces->list, "INBOX", 0);
	if (mailbox_open(test_box) < 0) {
		i_fatal("Failed to open mailbox: %s",
			mailbox_get_last_internal_error(test_box, NULL));
	}
}

static void test_deinit(void)
{
	mailbox_free(&test_box);
	test_mail_storage_deinit_user(test_ctx);
	test_mail_storage_deinit(&test_ctx);
}

int main(int argc, char **argv)
{
	static void (*const test_functions[])(void) = {
		test_from_mail_full,
		test_from_mail_sparse,
		test_from_mail_mdn,
		test_from_mail_body_size,
		NULL
	};
	int ret;

	master_service = master_service_init("test-coi-webpush-mail",
		MASTER_SERVICE_FLAG_STANDALONE |
		MASTER_SERVICE_FLAG_DONT_SEND_STATS |
		MASTER_SERVICE_FLAG_NO_CONFIG_SETTINGS |
		MASTER_SERVICE_FLAG_NO_SSL_INIT |
		MASTER_SERVICE_FLAG_NO_INIT_DATASTACK_FRAME,
		&argc, &argv, "");
	test_init();
	ret = test_run(test_functions);
	test_deinit();
	master_service_deinit(&master_service);
	return ret;
}
