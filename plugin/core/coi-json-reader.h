#ifndef COI_JSON_READER_H
#define COI_JSON_READER_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* A pull reader of one JSON object, token by token, over Dovecot's JSON
   parser: json_parser on Dovecot 2.3, json_istream on 2.4 (whose
   json_parser is a different, callback-driven API). What the WebPush
   subscription parser needs, no more. */

struct istream;

enum coi_json_token {
	/* '{': the members follow */
	COI_JSON_OBJECT,
	/* '}' */
	COI_JSON_OBJECT_END,
	/* a member's name; its value follows (or coi_json_reader_skip()) */
	COI_JSON_KEY,
	COI_JSON_STRING,
	COI_JSON_TRUE,
	COI_JSON_FALSE,
	/* a number, null or array */
	COI_JSON_OTHER,
};

/* Reads the JSON text of input, which must hold all of it. */
struct coi_json_reader *coi_json_reader_init(struct istream *input);
/* Returns 1 and the next token (value_r: the key, the string or the
   text of a number, else NULL), or 0 when the input ends or is not valid JSON (the reason comes
   from coi_json_reader_deinit()). */
int coi_json_reader_next(struct coi_json_reader *reader,
			 enum coi_json_token *token_r, const char **value_r);
/* Skips the value of the key just read, with everything in it. */
void coi_json_reader_skip(struct coi_json_reader *reader);
/* Returns 0 if the input was valid JSON up to where it was read, -1 and
   the parser's error otherwise (NULL: it ended early). */
int coi_json_reader_deinit(struct coi_json_reader **reader,
			   const char **error_r);

#endif
