/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "istream.h"
#include "rfc822-parser.h"
#include "message-header-parser.h"
#include "mail-storage.h"
#include "coi-message.h"

static bool coi_is_lwsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
coi_msgid_list_first_data(const unsigned char *data, size_t size,
			  const char **id_r, size_t *id_len_r)
{
	struct rfc822_parser_context parser;
	const unsigned char *id, *end;

	*id_r = NULL;
	*id_len_r = 0;
	rfc822_parser_init(&parser, data, size, NULL);
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

bool coi_msgid_list_first(const char *value, const char **id_r,
			  size_t *id_len_r)
{
	if (value == NULL) {
		*id_r = NULL;
		*id_len_r = 0;
		return FALSE;
	}
	return coi_msgid_list_first_data((const unsigned char *)value,
					 strlen(value), id_r, id_len_r);
}

bool coi_msgid_list_first_is_chat_data(const unsigned char *data,
				       size_t size)
{
	size_t prefix_len = strlen(COI_MESSAGE_ID_CHAT_PREFIX);
	const char *id;
	size_t id_len;

	return coi_msgid_list_first_data(data, size, &id, &id_len) &&
		id_len > prefix_len &&
		memcmp(id, COI_MESSAGE_ID_CHAT_PREFIX, prefix_len) == 0;
}

bool coi_msgid_list_first_is_chat(const char *value)
{
	if (value == NULL)
		return FALSE;
	return coi_msgid_list_first_is_chat_data(
		(const unsigned char *)value, strlen(value));
}

int coi_header_is_chat(struct istream *input)
{
	struct message_header_parser_ctx *parser;
	struct message_header_line *hdr;
	bool msgid_seen = FALSE, refs_seen = FALSE, chat = FALSE;
	bool *seen;

	i_assert(input->blocking);
	parser = message_parse_header_init(input, NULL,
		MESSAGE_HEADER_PARSER_FLAG_SKIP_INITIAL_LWSP |
		MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE);
	while (message_parse_header_next(parser, &hdr) > 0) {
		if (hdr->eoh)
			break;
		if (strcasecmp(hdr->name, COI_HEADER_CHAT_VERSION) == 0) {
			chat = TRUE;
			break;
		}
		if (strcasecmp(hdr->name, "Message-ID") == 0)
			seen = &msgid_seen;
		else if (strcasecmp(hdr->name, "References") == 0)
			seen = &refs_seen;
		else
			continue;
		if (*seen)
			continue;
		if (hdr->continues) {
			/* the whole unfolded value comes with the last line */
			hdr->use_full_value = TRUE;
			continue;
		}
		*seen = TRUE;
		if (coi_msgid_list_first_is_chat_data(hdr->full_value,
						      hdr->full_value_len)) {
			chat = TRUE;
			break;
		}
	}
	message_parse_header_deinit(&parser);
	if (chat)
		return 1;
	return input->stream_errno != 0 ? -1 : 0;
}

int coi_mail_is_chat(struct mail *mail, const char **error_r)
{
	struct istream *input;
	uoff_t old_offset;
	int ret;

	/* One pass over the raw header. Looking the three headers up with
	   mail_get_first_header() would parse the whole header once per
	   header that Dovecot has not parsed yet. */
	if (mail_get_hdr_stream(mail, NULL, &input) < 0) {
		*error_r = t_strdup_printf("Failed to read the header: %s",
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	old_offset = input->v_offset;
	i_stream_seek(input, 0);
	if ((ret = coi_header_is_chat(input)) < 0) {
		*error_r = t_strdup_printf("Failed to read the header: %s",
					   i_stream_get_error(input));
	}
	i_stream_seek(input, old_offset);
	return ret;
}
