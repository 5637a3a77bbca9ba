/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The chat rule: a message header (the input) and Message-ID or
   References values. */

#include "fuzz-common.h"
#include "istream.h"
#include "coi-message.h"

static void fuzz_one(const unsigned char *data, size_t size,
		     pool_t pool ATTR_UNUSED)
{
	struct istream *input;
	const char *id;
	size_t id_len;

	(void)coi_msgid_list_first_is_chat_data(data, size);
	if (coi_msgid_list_first(fuzz_str(data, size), &id, &id_len) &&
	    id_len == 0)
		i_panic("empty message-id found");
	input = i_stream_create_from_data(data, size);
	if (coi_header_is_chat(input) < 0)
		i_panic("reading from memory failed");
	i_stream_unref(&input);
}
