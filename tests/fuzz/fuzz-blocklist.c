/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Blocking: COI-From-Hash values of contact messages (one per line of the
   input), and the index file a process reads back. */

#include "fuzz-common.h"
#include "array.h"
#include "str.h"
#include "coi-blocklist.h"

static void fuzz_one(const unsigned char *data, size_t size,
		     pool_t pool ATTR_UNUSED)
{
	static struct event *event = NULL;
	ARRAY_TYPE(coi_blocklist_hash) hashes, parsed;
	struct coi_blocklist_stamp stamp;
	struct coi_blocklist_hash hash;
	const char *error;
	string_t *file;

	if (event == NULL)
		event = event_create(NULL);
	t_array_init(&hashes, 8);
	(void)coi_blocklist_add_contact_hashes(&hashes,
		t_strsplit(fuzz_str(data, size), "\n"), event);
	if (coi_blocklist_hash_parse(fuzz_str(data, size), &hash) &&
	    strlen(coi_blocklist_hash_to_hex(&hash)) != 64)
		i_panic("hash parsed wrongly");

	t_array_init(&parsed, 8);
	if (coi_blocklist_file_parse(data, size, &stamp, &parsed,
				     &error) == 0) {
		/* what parses is written back the same way */
		file = t_str_new(size + 1);
		coi_blocklist_file_write_to(file, &stamp, &parsed);
		array_clear(&hashes);
		if (coi_blocklist_file_parse(str_data(file), str_len(file),
					     &stamp, &hashes, &error) < 0)
			i_panic("index file does not parse back: %s", error);
	}
}
