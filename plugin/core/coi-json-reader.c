/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "istream.h"
#include "coi-json-reader.h"

#if COI_DOVECOT_24
#include "json-istream.h"

struct coi_json_reader {
	struct json_istream *json;
	/* a member whose name was returned, its value not yet */
	struct json_node member;
	bool have_member;
	bool started;
	bool failed;
};

struct coi_json_reader *coi_json_reader_init(struct istream *input)
{
	struct coi_json_reader *reader = i_new(struct coi_json_reader, 1);

	/* strict RFC 8259, as Dovecot 2.3's parser was; numbers as their
	   text, as 2.3 gave them */
	reader->json = json_istream_create(input, JSON_ISTREAM_TYPE_NORMAL,
		NULL, JSON_PARSER_FLAG_STRICT |
		JSON_PARSER_FLAG_NUMBERS_AS_STRING);
	return reader;
}

static enum coi_json_token coi_json_value_token(const struct json_node *node)
{
	switch (node->type) {
	case JSON_TYPE_STRING:
		return COI_JSON_STRING;
	case JSON_TYPE_TRUE:
		return COI_JSON_TRUE;
	case JSON_TYPE_FALSE:
		return COI_JSON_FALSE;
	default:
		return COI_JSON_OTHER;
	}
}

static int coi_json_reader_failed(struct coi_json_reader *reader)
{
	/* 0 from the stream (more input needed) cannot be satisfied: the
	   input holds the whole text */
	reader->failed = TRUE;
	return 0;
}

int coi_json_reader_next(struct coi_json_reader *reader,
			 enum coi_json_token *token_r, const char **value_r)
{
	struct json_node node;

	*value_r = NULL;
	if (reader->failed)
		return 0;
	if (!reader->started || (reader->have_member &&
				 json_node_is_object(&reader->member))) {
		/* into the root or a member's object */
		reader->started = TRUE;
		reader->have_member = FALSE;
		if (json_istream_descend(reader->json, &node) <= 0)
			return coi_json_reader_failed(reader);
		*token_r = json_node_is_object(&node) ? COI_JSON_OBJECT :
			coi_json_value_token(&node);
		return 1;
	}
	if (reader->have_member) {
		reader->have_member = FALSE;
		*token_r = coi_json_value_token(&reader->member);
		if (reader->member.type == JSON_TYPE_STRING ||
		    reader->member.type == JSON_TYPE_NUMBER)
			*value_r = json_node_get_str(&reader->member);
		json_istream_skip(reader->json);
		return 1;
	}
	if (json_istream_read(reader->json, &node) <= 0)
		return coi_json_reader_failed(reader);
	if (json_node_is_object_end(&node)) {
		json_istream_ascend(reader->json);
		*token_r = COI_JSON_OBJECT_END;
		return 1;
	}
	reader->member = node;
	reader->have_member = TRUE;
	*token_r = COI_JSON_KEY;
	*value_r = node.name;
	return 1;
}

void coi_json_reader_skip(struct coi_json_reader *reader)
{
	i_assert(reader->have_member);
	reader->have_member = FALSE;
	json_istream_skip(reader->json);
}

int coi_json_reader_deinit(struct coi_json_reader **_reader,
			   const char **error_r)
{
	struct coi_json_reader *reader = *_reader;
	const char *error = NULL;
	int ret;

	*_reader = NULL;
	*error_r = NULL;
	if (json_istream_failed(reader->json)) {
		/* freed with the stream */
		error = t_strdup(json_istream_get_error(reader->json));
		json_istream_destroy(&reader->json);
		ret = -1;
	} else if (!json_istream_is_at_end(reader->json)) {
		/* read only up to where the caller stopped */
		json_istream_destroy(&reader->json);
		ret = 0;
	} else {
		ret = json_istream_finish(&reader->json, &error) > 0 ? 0 : -1;
		error = t_strdup(error);
		if (reader->json != NULL)
			json_istream_destroy(&reader->json);
	}
	if (ret < 0 && error != NULL && strcmp(error, "EOF") != 0)
		*error_r = error;
	i_free(reader);
	return ret;
}

#else
#include "json-parser.h"

struct coi_json_reader {
	struct json_parser *json;
};

struct coi_json_reader *coi_json_reader_init(struct istream *input)
{
	struct coi_json_reader *reader = i_new(struct coi_json_reader, 1);

	/* Without JSON_PARSER_NO_ROOT_OBJECT the parser does not return the
	   root's '}', and at the end of the input json_parser_deinit() does
	   not notice every truncation (e.g. within a skipped value). With
	   it, a complete object ends with JSON_TYPE_OBJECT_END. */
	reader->json = json_parser_init_flags(input,
					      JSON_PARSER_NO_ROOT_OBJECT);
	return reader;
}

int coi_json_reader_next(struct coi_json_reader *reader,
			 enum coi_json_token *token_r, const char **value_r)
{
	enum json_type type;
	const char *value;

	*value_r = NULL;
	if (json_parse_next(reader->json, &type, &value) <= 0)
		return 0;
	switch (type) {
	case JSON_TYPE_OBJECT:
		*token_r = COI_JSON_OBJECT;
		break;
	case JSON_TYPE_OBJECT_END:
		*token_r = COI_JSON_OBJECT_END;
		break;
	case JSON_TYPE_OBJECT_KEY:
		*token_r = COI_JSON_KEY;
		*value_r = value;
		break;
	case JSON_TYPE_STRING:
		*token_r = COI_JSON_STRING;
		*value_r = value;
		break;
	case JSON_TYPE_NUMBER:
		*token_r = COI_JSON_OTHER;
		*value_r = value;
		break;
	case JSON_TYPE_TRUE:
		*token_r = COI_JSON_TRUE;
		break;
	case JSON_TYPE_FALSE:
		*token_r = COI_JSON_FALSE;
		break;
	default:
		*token_r = COI_JSON_OTHER;
		break;
	}
	return 1;
}

void coi_json_reader_skip(struct coi_json_reader *reader)
{
	json_parse_skip_next(reader->json);
}

int coi_json_reader_deinit(struct coi_json_reader **_reader,
			   const char **error_r)
{
	struct coi_json_reader *reader = *_reader;
	int ret;

	*_reader = NULL;
	ret = json_parser_deinit(&reader->json, error_r);
	i_free(reader);
	return ret < 0 ? -1 : 0;
}
#endif
