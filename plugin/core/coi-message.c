/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "rfc822-parser.h"
#include "mail-storage.h"
#include "coi-message.h"

static bool coi_is_lwsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool coi_msgid_list_first(const char *value, const char **id_r,
			  size_t *id_len_r)
{
	struct rfc822_parser_context parser;
	const unsigned char *id, *end;

	*id_r = NULL;
	*id_len_r = 0;
	if (value == NULL)
		return FALSE;

	rfc822_parser_init(&parser, (const unsigned char *)value,
			   strlen(value), NULL);
	/* skips whitespace and (nested) comments; fails on an unclosed one */
	if (rfc822_skip_lwsp(&parser) > 0 && *parser.data == '<') {
		id = parser.data + 1;
		while (id < parser.end && coi_is_lwsp(*id))
			id++;
		end = memchr(id, '>', parser.end - id);
		if (end != NULL && end > id) {
			*id_r = (const char *)id;
			*id_len_r = end - id;
		}
	}
	rfc822_parser_deinit(&parser);
	return *id_r != NULL;
}

bool coi_msgid_list_first_is_chat(const char *value)
{
	size_t prefix_len = strlen(COI_MESSAGE_ID_CHAT_PREFIX);
	const char *id;
	size_t id_len;

	return coi_msgid_list_first(value, &id, &id_len) &&
		id_len > prefix_len &&
		memcmp(id, COI_MESSAGE_ID_CHAT_PREFIX, prefix_len) == 0;
}

bool coi_headers_are_chat(const char *chat_version, const char *message_id,
			  const char *references)
{
	return chat_version != NULL ||
		coi_msgid_list_first_is_chat(message_id) ||
		coi_msgid_list_first_is_chat(references);
}

static int
coi_mail_get_header(struct mail *mail, const char *name, const char **value_r,
		    const char **error_r)
{
	if (mail_get_first_header(mail, name, value_r) < 0) {
		*error_r = t_strdup_printf("Failed to read %s header: %s", name,
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	return 0;
}

int coi_mail_is_chat(struct mail *mail, const char **error_r)
{
	const char *chat_version, *message_id, *references;

	if (coi_mail_get_header(mail, "Chat-Version", &chat_version,
				error_r) < 0)
		return -1;
	if (chat_version != NULL)
		return 1;
	if (coi_mail_get_header(mail, "Message-ID", &message_id, error_r) < 0 ||
	    coi_mail_get_header(mail, "References", &references, error_r) < 0)
		return -1;
	return coi_headers_are_chat(NULL, message_id, references) ? 1 : 0;
}
