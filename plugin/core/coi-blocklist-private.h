#ifndef COI_BLOCKLIST_PRIVATE_H
#define COI_BLOCKLIST_PRIVATE_H

#include "coi-blocklist.h"

#define COI_BLOCKLIST_FILE_MAGIC "COI-BLOCKLIST 1 "
/* 64 hex digits and LF */
#define COI_BLOCKLIST_FILE_LINE_LEN (COI_BLOCKLIST_HASH_HEX_LEN + 1)
/* The first line is much shorter: magic and four 32-bit numbers */
#define COI_BLOCKLIST_FILE_HEADER_MAX_LEN 128

/* Parses the index file's first line and checks that the size fits the
   count. Returns the offset of the hash lines, or 0 if not valid. */
size_t coi_blocklist_file_parse_header(const unsigned char *data, size_t size,
				       struct coi_blocklist_stamp *stamp_r,
				       unsigned int *count_r);
/* Binary search in the count hash lines of an index file without parsing
   them: the lines are lowercase hex in ascending order, so comparing the
   hex strings compares the hashes. hex must be lowercase. */
bool coi_blocklist_file_contains(const unsigned char *lines,
				 unsigned int count, const char *hex);

#endif
