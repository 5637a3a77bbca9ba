/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "strfuncs.h"
#include "unichar.h"
#include "istream.h"
#include COI_JSON_ESCAPE_H
#include "iso8601-date.h"
#include "rfc822-parser.h"
#include "message-address.h"
#include "message-header-decode.h"
#include "message-size.h"
#include "mail-storage.h"
#include "coi-message.h"
#include "coi-webpush-payload.h"

#include <time.h>

/* RFC 3339 needs a four-digit year: 0000-01-01T00:00:00Z and
   9999-12-31T23:59:59Z, with a day of margin for the zone offset */
/* Debian's Dovecot limits RFC 2231 parameters (a security patch); upstream
   Dovecot has no such limit, so apply Debian's */
#ifndef RFC2231_MAX_PARAMS
#  define RFC2231_MAX_PARAMS 128
#endif

#define COI_WEBPUSH_DATE_MIN (-62167219200LL + 24*60*60)
#define COI_WEBPUSH_DATE_MAX (253402300799LL - 24*60*60)
#define COI_WEBPUSH_TZ_MAX_MINUTES (24*60)

static bool coi_webpush_is_lwsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends a JSON member separator when str already has a member */
static void coi_webpush_json_next(string_t *str)
{
	if (str_len(str) > 0)
		str_append_c(str, ',');
}

static void
coi_webpush_json_key(string_t *str, const char *key)
{
	coi_webpush_json_next(str);
	str_append_c(str, '"');
	str_append(str, key);
	str_append(str, "\":");
}

/* Appends key: value with invalid UTF-8 replaced by U+FFFD, cut to at most
   max_len octets at a character boundary and followed by U+2026 if cut.
   The cut is on the raw string, so it never splits a JSON escape. */
static void
coi_webpush_json_add_text(string_t *str, const char *key,
			  const unsigned char *data, size_t size,
			  size_t max_len)
{
	buffer_t *valid;
	size_t new_size;

	/* U+FFFD replacement only grows the data, so octets after the first
	   max_len + 4 cannot reach the kept part; the rest only tells that
	   it is cut, which the remaining 4 octets still do. */
	if (size > max_len + 4)
		size = max_len + 4;
	valid = t_buffer_create(size + 16);
	if (!uni_utf8_get_valid_data(data, size, valid)) {
		data = valid->data;
		size = valid->used;
	}
	new_size = uni_utf8_data_truncate(data, size, max_len);

	coi_webpush_json_key(str, key);
	str_append_c(str, '"');
	json_append_escaped_data(str, data, new_size);
	if (new_size < size)
		str_append(str, UNICODE_HORIZONTAL_ELLIPSIS_CHAR_UTF8);
	str_append_c(str, '"');
}

static void
coi_webpush_json_add_str(string_t *str, const char *key, const char *value,
			 size_t max_len)
{
	coi_webpush_json_add_text(str, key, (const unsigned char *)value,
				  strlen(value), max_len);
}

static void
coi_webpush_json_add_uint(string_t *str, const char *key, uint32_t value)
{
	coi_webpush_json_key(str, key);
	str_printfa(str, "%u", value);
}

/* Removes header folding (CR and LF; the whitespace after them stays) */
static const char *coi_webpush_unfold(const char *value)
{
	string_t *str;

	if (strpbrk(value, "\r\n") == NULL)
		return value;
	str = t_str_new(strlen(value));
	for (; *value != '\0'; value++) {
		if (*value != '\r' && *value != '\n')
			str_append_c(str, *value);
	}
	return str_c(str);
}

static const char *coi_webpush_trim(const char *value)
{
	const char *end;

	while (coi_webpush_is_lwsp(*value))
		value++;
	end = value + strlen(value);
	while (end > value && coi_webpush_is_lwsp(end[-1]))
		end--;
	return *end == '\0' ? value : t_strdup_until(value, end);
}

/* Lowercases ASCII only: the rest of a UTF-8 address is left as it is, and
   no UTF-8 octet is changed (they are all >= 0x80). */
static const char *coi_webpush_ascii_lcase(const char *value)
{
	char *str = t_strdup_noconst(value), *p;

	for (p = str; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	}
	return str;
}

/* Parses a Content-Type value into its lowercased "type/subtype" and the
   parameters as key, value pairs (keys lowercased). Returns 0 when all of
   it parsed, -1 when it is broken (*type_r is NULL if even the type is;
   the parameters read before the breakage are kept). */
static int
coi_webpush_parse_content_type(const char *value, const char **type_r,
			       ARRAY_TYPE(const_string) *params)
{
	struct rfc822_parser_context parser;
	string_t *type, *param_value;
	const char *key;
	int ret;

	*type_r = NULL;
	t_array_init(params, 8);

	rfc822_parser_init(&parser, (const unsigned char *)value,
			   strlen(value), NULL);
	rfc822_skip_lwsp(&parser);
	type = t_str_new(64);
	if (rfc822_parse_content_type(&parser, type) < 0) {
		rfc822_parser_deinit(&parser);
		return -1;
	}
	*type_r = t_str_lcase(str_c(type));

	param_value = t_str_new(64);
	while ((ret = rfc822_parse_content_param(&parser, &key,
						 param_value)) > 0 &&
	       array_count(params) < RFC2231_MAX_PARAMS * 2) {
		key = t_str_lcase(key);
		array_push_back(params, &key);
		key = t_strdup(str_c(param_value));
		array_push_back(params, &key);
	}
	rfc822_parser_deinit(&parser);
	return ret < 0 ? -1 : 0;
}

/* TRUE when a reader may assume the Content-Type: text/plain whose only
   parameter, if any, is charset=utf-8 or charset=us-ascii. */
static bool coi_webpush_content_type_is_default(const char *value)
{
	ARRAY_TYPE(const_string) params;
	const char *type, *const *param;
	unsigned int i, count;

	if (value == NULL)
		return TRUE;
	if (coi_webpush_parse_content_type(value, &type, &params) < 0 ||
	    strcmp(type, "text/plain") != 0)
		return FALSE;

	param = array_get(&params, &count);
	for (i = 0; i < count; i += 2) {
		if (strcmp(param[i], "charset") != 0 ||
		    (strcasecmp(param[i+1], "utf-8") != 0 &&
		     strcasecmp(param[i+1], "us-ascii") != 0))
			return FALSE;
	}
	return TRUE;
}

bool coi_webpush_content_type_is_mdn(const char *content_type)
{
	ARRAY_TYPE(const_string) params;
	const char *type, *const *param;
	unsigned int i, count;
	bool mdn = FALSE;

	if (content_type == NULL)
		return FALSE;

	T_BEGIN {
		/* a parameter before a breakage still counts */
		(void)coi_webpush_parse_content_type(content_type, &type,
						     &params);
		if (type != NULL && strcmp(type, "multipart/report") == 0) {
			param = array_get(&params, &count);
			for (i = 0; i < count && !mdn; i += 2) {
				mdn = strcmp(param[i], "report-type") == 0 &&
					strcasecmp(param[i+1],
						"disposition-notification") == 0;
			}
		}
	} T_END;
	return mdn;
}

/* Returns the Content-Transfer-Encoding token lowercased, or NULL when the
   value is not one token (comments and whitespace aside). */
static const char *coi_webpush_cte_token(const char *value)
{
	struct rfc822_parser_context parser;
	string_t *token;
	int ret = -1;

	token = t_str_new(32);
	rfc822_parser_init(&parser, (const unsigned char *)value,
			   strlen(value), NULL);
	if (rfc822_skip_lwsp(&parser) > 0)
		ret = rfc822_parse_mime_token(&parser, token);
	rfc822_parser_deinit(&parser);
	/* 0 = the token ended the value */
	if (ret != 0 || str_len(token) == 0)
		return NULL;
	return t_str_lcase(str_c(token));
}

static void
coi_webpush_json_add_content_encoding(string_t *str, const char *value)
{
	const char *token;

	if (value == NULL)
		return;
	token = coi_webpush_cte_token(value);
	if (token != NULL) {
		if (strcmp(token, "7bit") == 0 || strcmp(token, "8bit") == 0)
			return;
		value = token;
	} else {
		value = coi_webpush_trim(coi_webpush_unfold(value));
		if (*value == '\0')
			return;
	}
	coi_webpush_json_add_str(str, "content-encoding", value,
				 COI_WEBPUSH_PAYLOAD_CONTENT_TYPE_MAX);
}

/* RFC 3339 in the message's own offset, or NULL when it cannot be written
   with a four-digit year */
static const char *coi_webpush_date(time_t date, int tz)
{
	struct tm tm;
	long long t = date;

	if (t < COI_WEBPUSH_DATE_MIN || t > COI_WEBPUSH_DATE_MAX)
		return NULL;
	if (tz <= -COI_WEBPUSH_TZ_MAX_MINUTES ||
	    tz >= COI_WEBPUSH_TZ_MAX_MINUTES)
		tz = INT_MAX;
	else
		t += tz * 60;
	date = (time_t)t;
	if (gmtime_r(&date, &tm) == NULL)
		return NULL;
	return iso8601_date_create_tm(&tm, tz);
}

static bool coi_webpush_group_id_is_valid(const char *group_id, size_t len)
{
	size_t i;

	if (len == 0)
		return FALSE;
	for (i = 0; i < len; i++) {
		char c = group_id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || c == '-' || c == '_'))
			return FALSE;
	}
	return TRUE;
}

/* from-email, from-name, subject */
static void
coi_webpush_json_head(string_t *str, const struct coi_webpush_message *msg)
{
	if (msg->from_email != NULL && msg->from_email[0] != '\0') {
		coi_webpush_json_add_str(str, "from-email",
			coi_webpush_ascii_lcase(msg->from_email),
			COI_WEBPUSH_PAYLOAD_TEXT_MAX);
	}
	if (msg->from_name != NULL && msg->from_name[0] != '\0') {
		coi_webpush_json_add_str(str, "from-name", msg->from_name,
					 COI_WEBPUSH_PAYLOAD_TEXT_MAX);
	}
	if (msg->subject != NULL && msg->subject[0] != '\0') {
		coi_webpush_json_add_str(str, "subject", msg->subject,
					 COI_WEBPUSH_PAYLOAD_TEXT_MAX);
	}
}

/* content, content-type, content-encoding. Returns FALSE when the content
   cannot be carried. */
static bool
coi_webpush_json_content(string_t *str, const struct coi_webpush_message *msg,
			 size_t max_plaintext)
{
	const char *content_type;

	/* escaping never shortens: more octets than the limit never fit */
	if (msg->content == NULL || msg->content_size > max_plaintext ||
	    memchr(msg->content, '\0', msg->content_size) != NULL ||
	    !uni_utf8_data_is_valid(msg->content, msg->content_size))
		return FALSE;

	coi_webpush_json_key(str, "content");
	str_append_c(str, '"');
	json_append_escaped_data(str, msg->content, msg->content_size);
	str_append_c(str, '"');

	if (!coi_webpush_content_type_is_default(msg->content_type)) {
		content_type = coi_webpush_trim(
			coi_webpush_unfold(msg->content_type));
		if (*content_type != '\0') {
			coi_webpush_json_add_str(str, "content-type",
				content_type,
				COI_WEBPUSH_PAYLOAD_CONTENT_TYPE_MAX);
		}
	}
	coi_webpush_json_add_content_encoding(str, msg->content_encoding);
	return TRUE;
}

/* date, msg-id, uid, uidvalidity, folder, group-id */
static void
coi_webpush_json_tail(string_t *str, const struct coi_webpush_message *msg)
{
	const char *date;
	string_t *folder;

	if (msg->have_date &&
	    (date = coi_webpush_date(msg->date, msg->date_tz)) != NULL) {
		coi_webpush_json_key(str, "date");
		str_printfa(str, "\"%s\"", date);
	}
	if (msg->message_id != NULL && msg->message_id[0] != '\0') {
		coi_webpush_json_add_str(str, "msg-id", msg->message_id,
					 COI_WEBPUSH_PAYLOAD_TEXT_MAX);
	}
	coi_webpush_json_add_uint(str, "uid", msg->uid);
	coi_webpush_json_add_uint(str, "uidvalidity", msg->uidvalidity);

	/* a cut mailbox name would name another mailbox: omit it instead */
	if (msg->folder != NULL && msg->folder[0] != '\0' &&
	    strlen(msg->folder) <= COI_WEBPUSH_PAYLOAD_FOLDER_MAX &&
	    uni_utf8_str_is_valid(msg->folder)) {
		folder = t_str_new(COI_WEBPUSH_PAYLOAD_FOLDER_MAX * 2);
		json_append_escaped(folder, msg->folder);
		if (str_len(folder) <= COI_WEBPUSH_PAYLOAD_FOLDER_MAX) {
			coi_webpush_json_key(str, "folder");
			str_printfa(str, "\"%s\"", str_c(folder));
		}
	}
	if (msg->group_id != NULL &&
	    strlen(msg->group_id) <= COI_WEBPUSH_PAYLOAD_GROUP_ID_MAX &&
	    coi_webpush_group_id_is_valid(msg->group_id,
					  strlen(msg->group_id))) {
		coi_webpush_json_key(str, "group-id");
		str_printfa(str, "\"%s\"", msg->group_id);
	}
}

static size_t
coi_webpush_json_object_size(const string_t *head, const string_t *content,
			     const string_t *tail)
{
	/* '{' head [','] content ',' tail '}' */
	return 1 + str_len(head) + (str_len(head) > 0 ? 1 : 0) +
		str_len(content) + 1 + str_len(tail) + 1;
}

static const char *
coi_webpush_json_object(const string_t *head, const string_t *content,
			const string_t *tail)
{
	string_t *json;
	size_t size = 2 + str_len(head) + 1 + str_len(tail);

	if (content != NULL)
		size += str_len(content) + 1;
	json = t_str_new(size + 1);
	str_append_c(json, '{');
	str_append_str(json, head);
	if (content != NULL) {
		if (str_len(head) > 0)
			str_append_c(json, ',');
		str_append_str(json, content);
	}
	/* the tail always has uid and uidvalidity */
	if (str_len(json) > 1)
		str_append_c(json, ',');
	str_append_str(json, tail);
	str_append_c(json, '}');
	i_assert(content == NULL ||
		 str_len(json) == coi_webpush_json_object_size(head, content,
							       tail));
	return str_c(json);
}

const char *coi_webpush_payload_build(const struct coi_webpush_message *msg,
				      size_t max_plaintext,
				      bool *content_included_r)
{
	string_t *head, *content, *tail;

	head = t_str_new(512);
	tail = t_str_new(512);
	coi_webpush_json_head(head, msg);
	coi_webpush_json_tail(tail, msg);

	content = t_str_new(msg->content == NULL ? 16 :
			    I_MIN(msg->content_size, max_plaintext) + 256);
	if (!coi_webpush_json_content(content, msg, max_plaintext) ||
	    coi_webpush_json_object_size(head, content, tail) > max_plaintext)
		content = NULL;

	*content_included_r = content != NULL;
	return coi_webpush_json_object(head, content, tail);
}

const char *
coi_webpush_payload_build_without_content(
	const struct coi_webpush_message *msg)
{
	string_t *head, *tail;

	head = t_str_new(512);
	tail = t_str_new(512);
	coi_webpush_json_head(head, msg);
	coi_webpush_json_tail(tail, msg);
	return coi_webpush_json_object(head, NULL, tail);
}

/* Returns the group id of one message-id (without brackets), or NULL */
static const char *coi_webpush_msgid_group_id(const char *id, size_t len)
{
	size_t prefix_len = strlen(COI_WEBPUSH_GROUP_MSGID_PREFIX);
	const char *group_id, *at, *dot;
	size_t group_id_len;

	if (len <= prefix_len ||
	    memcmp(id, COI_WEBPUSH_GROUP_MSGID_PREFIX, prefix_len) != 0)
		return NULL;
	group_id = id + prefix_len;
	len -= prefix_len;

	/* <id> "." <unique value> "@" <domain> */
	at = memchr(group_id, '@', len);
	if (at == NULL || at + 1 == group_id + len)
		return NULL;
	dot = memchr(group_id, '.', at - group_id);
	if (dot == NULL || dot + 1 == at)
		return NULL;
	group_id_len = dot - group_id;
	if (group_id_len < COI_WEBPUSH_GROUP_ID_MIN_LEN ||
	    !coi_webpush_group_id_is_valid(group_id, group_id_len))
		return NULL;
	return t_strndup(group_id, group_id_len);
}

const char *coi_webpush_group_id(const char *message_id,
				 const char *references)
{
	const char *id, *group_id = NULL;
	size_t len;

	if (coi_msgid_list_first(message_id, &id, &len))
		group_id = coi_webpush_msgid_group_id(id, len);
	else if (message_id != NULL) {
		/* given without angle brackets */
		id = coi_webpush_trim(message_id);
		if (*id != '<')
			group_id = coi_webpush_msgid_group_id(id, strlen(id));
	}
	if (group_id == NULL && coi_msgid_list_first(references, &id, &len))
		group_id = coi_webpush_msgid_group_id(id, len);
	return group_id;
}

static int
coi_webpush_get_header(struct mail *mail, const char *name, bool utf8,
		       const char **value_r, const char **error_r)
{
	int ret;

	ret = utf8 ? mail_get_first_header_utf8(mail, name, value_r) :
		mail_get_first_header(mail, name, value_r);
	if (ret < 0) {
		*error_r = t_strdup_printf("Failed to read %s header: %s", name,
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	return 0;
}

static void
coi_webpush_parse_from(pool_t pool, const char *value,
		       struct coi_webpush_message *msg)
{
	const struct message_address *addr;
	string_t *name;
	char *p;
	size_t i;

	addr = message_address_parse(pool_datastack_create(),
				     (const unsigned char *)value,
				     strlen(value), 8, 0);
	/* a group start has no domain, a group end neither mailbox nor
	   domain; an address without a domain has domain "" */
	while (addr != NULL &&
	       (addr->domain == NULL || addr->mailbox == NULL ||
		addr->mailbox[0] == '\0'))
		addr = addr->next;
	if (addr == NULL)
		return;

	msg->from_email = addr->domain[0] == '\0' ?
		p_strdup(pool, addr->mailbox) :
		p_strdup_printf(pool, "%s@%s", addr->mailbox, addr->domain);
	if (addr->name != NULL && addr->name[0] != '\0') {
		name = t_str_new(128);
		message_header_decode_utf8((const unsigned char *)addr->name,
					   strlen(addr->name), name, NULL);
		/* a decoded NUL would end the C string early */
		p = str_c_modifiable(name);
		for (i = 0; i < str_len(name); i++) {
			if (p[i] == '\0')
				p[i] = ' ';
		}
		if (str_len(name) > 0)
			msg->from_name = p_strdup(pool, str_c(name));
	}
}

static int
coi_webpush_read_body(struct mail *mail, pool_t pool,
		      struct coi_webpush_message *msg, const char **error_r)
{
	struct message_size hdr_size;
	struct istream *input;
	const unsigned char *data;
	buffer_t *body;
	unsigned char *content;
	size_t size;

	if (mail_get_stream_because(mail, &hdr_size, NULL, "webpush payload",
				    &input) < 0) {
		*error_r = t_strdup_printf("Failed to read the body: %s",
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	i_stream_seek(input, hdr_size.physical_size);

	/* one octet more than fits tells that it does not */
	body = t_buffer_create(COI_WEBPUSH_PAYLOAD_MAX + 1);
	while (body->used <= COI_WEBPUSH_PAYLOAD_MAX &&
	       i_stream_read_more(input, &data, &size) > 0) {
		size = I_MIN(size, COI_WEBPUSH_PAYLOAD_MAX + 1 - body->used);
		buffer_append(body, data, size);
		i_stream_skip(input, size);
	}
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("Failed to read the body: %s",
					   i_stream_get_error(input));
		return -1;
	}
	if (body->used <= COI_WEBPUSH_PAYLOAD_MAX) {
		if (!input->eof) {
			*error_r = "Failed to read the body: "
				"the mail stream stopped before its end";
			return -1;
		}
		/* NUL-terminated for convenience */
		content = p_malloc(pool, body->used + 1);
		memcpy(content, body->data, body->used);
		msg->content = content;
		msg->content_size = body->used;
	}
	return 0;
}

int coi_webpush_message_sender_from_mail(struct mail *mail, pool_t pool,
					 struct coi_webpush_message *msg_r,
					 const char **error_r)
{
	const char *value;

	i_zero(msg_r);
	if (coi_webpush_get_header(mail, "From", FALSE, &value, error_r) < 0)
		return -1;
	if (value != NULL)
		coi_webpush_parse_from(pool, value, msg_r);
	return 0;
}

int coi_webpush_message_from_mail(struct mail *mail, pool_t pool,
				  struct coi_webpush_message *msg_r,
				  const char **error_r)
{
	const char *value, *message_id, *references, *id;
	const char *const *keywords;
	size_t len;
	time_t date;
	int tz;

	i_zero(msg_r);

	if (coi_webpush_get_header(mail, "From", FALSE, &value, error_r) < 0)
		return -1;
	if (value != NULL)
		coi_webpush_parse_from(pool, value, msg_r);

	if (coi_webpush_get_header(mail, "Subject", TRUE, &value, error_r) < 0)
		return -1;
	if (value != NULL && value[0] != '\0')
		msg_r->subject = p_strdup(pool, value);

	if (mail_get_date(mail, &date, &tz) < 0) {
		*error_r = t_strdup_printf("Failed to read Date header: %s",
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	/* 0 = missing or invalid */
	if (date != 0) {
		msg_r->have_date = TRUE;
		msg_r->date = date;
		msg_r->date_tz = tz;
	}

	if (coi_webpush_get_header(mail, "Message-ID", FALSE, &message_id,
				   error_r) < 0 ||
	    coi_webpush_get_header(mail, "References", FALSE, &references,
				   error_r) < 0)
		return -1;
	if (coi_msgid_list_first(message_id, &id, &len)) {
		while (len > 0 && coi_webpush_is_lwsp(id[len-1]))
			len--;
		msg_r->message_id = p_strndup(pool, id, len);
	} else if (message_id != NULL) {
		value = coi_webpush_trim(coi_webpush_unfold(message_id));
		if (*value != '\0')
			msg_r->message_id = p_strdup(pool, value);
	}
	value = coi_webpush_group_id(message_id, references);
	msg_r->group_id = p_strdup(pool, value);

	if (coi_webpush_get_header(mail, "Content-Type", FALSE, &value,
				   error_r) < 0)
		return -1;
	if (value != NULL) {
		msg_r->content_type = p_strdup(pool, coi_webpush_unfold(value));
		msg_r->is_disposition_notification =
			coi_webpush_content_type_is_mdn(msg_r->content_type);
	}
	if (coi_webpush_get_header(mail, "Content-Transfer-Encoding", FALSE,
				   &value, error_r) < 0)
		return -1;
	if (value != NULL) {
		msg_r->content_encoding =
			p_strdup(pool, coi_webpush_unfold(value));
	}

	keywords = mail_get_keywords(mail);
	msg_r->is_chat = keywords != NULL &&
		str_array_icase_find(keywords, COI_KEYWORD_CHAT);

	return coi_webpush_read_body(mail, pool, msg_r, error_r);
}
