/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The pure part of the blocklist: hashes, contact header values and the
   index file format (unit-tested without a mail user). */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "str-sanitize.h"
#include "hex-binary.h"
#include "hash-method.h"
#include "coi-blocklist-private.h"

void coi_blocklist_address_hash(const char *address,
				struct coi_blocklist_hash *hash_r)
{
	const struct hash_method *sha3 = hash_method_lookup("sha3-256");
	const char *lower;

	i_assert(sha3 != NULL && sha3->digest_size == COI_BLOCKLIST_HASH_SIZE);
	T_BEGIN {
		lower = t_str_lcase(address);
		hash_method_get_digest(sha3, lower, strlen(lower),
				       hash_r->data);
	} T_END;
}

const char *coi_blocklist_hash_to_hex(const struct coi_blocklist_hash *hash)
{
	return binary_to_hex(hash->data, sizeof(hash->data));
}

static int coi_blocklist_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool coi_blocklist_hash_parse(const char *value,
			      struct coi_blocklist_hash *hash_r)
{
	unsigned int i;
	size_t len;
	int hi, lo;

	/* no allocation: this runs for every hash of every contact */
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len-1] == ' ' || value[len-1] == '\t' ||
			   value[len-1] == '\r' || value[len-1] == '\n'))
		len--;
	if (len != COI_BLOCKLIST_HASH_HEX_LEN)
		return FALSE;
	for (i = 0; i < COI_BLOCKLIST_HASH_SIZE; i++) {
		hi = coi_blocklist_hex_digit(value[i*2]);
		lo = coi_blocklist_hex_digit(value[i*2 + 1]);
		if (hi < 0 || lo < 0)
			return FALSE;
		hash_r->data[i] = (hi << 4) | lo;
	}
	return TRUE;
}

unsigned int
coi_blocklist_add_contact_hashes(ARRAY_TYPE(coi_blocklist_hash) *hashes,
				 const char *const *values,
				 struct event *event)
{
	struct coi_blocklist_hash hash;
	unsigned int i, added = 0;

	for (i = 0; values[i] != NULL; i++) {
		if (added >= COI_BLOCKLIST_MAX_HASHES_PER_CONTACT) {
			e_debug(event, "coi: Contact message has more than %u "
				COI_HEADER_FROM_HASH" headers, "
				"ignoring the rest",
				COI_BLOCKLIST_MAX_HASHES_PER_CONTACT);
			break;
		}
		if (array_count(hashes) >= COI_BLOCKLIST_MAX_HASHES) {
			e_debug(event, "coi: More than %u blocked hashes, "
				"ignoring the rest", COI_BLOCKLIST_MAX_HASHES);
			break;
		}
		if (!coi_blocklist_hash_parse(values[i], &hash)) {
			e_debug(event, "coi: Ignoring invalid "
				COI_HEADER_FROM_HASH": %s",
				str_sanitize(values[i], 80));
			continue;
		}
		array_push_back(hashes, &hash);
		added++;
	}
	return added;
}

static int coi_blocklist_hash_cmp(const struct coi_blocklist_hash *h1,
				  const struct coi_blocklist_hash *h2)
{
	return memcmp(h1->data, h2->data, sizeof(h1->data));
}

void coi_blocklist_sort(ARRAY_TYPE(coi_blocklist_hash) *hashes)
{
	struct coi_blocklist_hash *items;
	unsigned int i, dest, count;

	array_sort(hashes, coi_blocklist_hash_cmp);
	items = array_get_modifiable(hashes, &count);
	for (i = dest = 0; i < count; i++) {
		if (dest > 0 && coi_blocklist_hash_cmp(&items[dest-1],
						       &items[i]) == 0)
			continue;
		if (dest != i)
			items[dest] = items[i];
		dest++;
	}
	array_delete(hashes, dest, count - dest);
}

bool coi_blocklist_contains(const ARRAY_TYPE(coi_blocklist_hash) *hashes,
			    const struct coi_blocklist_hash *hash)
{
	/* array_bsearch() takes no const array */
	return array_bsearch((ARRAY_TYPE(coi_blocklist_hash) *)hashes, hash,
			     coi_blocklist_hash_cmp) != NULL;
}

void coi_blocklist_file_write_to(string_t *dest,
				 const struct coi_blocklist_stamp *stamp,
				 const ARRAY_TYPE(coi_blocklist_hash) *hashes)
{
	const struct coi_blocklist_hash *hash;

	str_printfa(dest, COI_BLOCKLIST_FILE_MAGIC"%u %u %u %u\n",
		    stamp->uidvalidity, stamp->uidnext, stamp->messages,
		    array_count(hashes));
	array_foreach(hashes, hash) {
		binary_to_hex_append(dest, hash->data, sizeof(hash->data));
		str_append_c(dest, '\n');
	}
}

size_t
coi_blocklist_file_parse_header(const unsigned char *data, size_t size,
				struct coi_blocklist_stamp *stamp_r,
				unsigned int *count_r)
{
	const unsigned char *lf;
	const char *const *args;
	size_t len;

	len = I_MIN(size, COI_BLOCKLIST_FILE_HEADER_MAX_LEN);
	lf = memchr(data, '\n', len);
	if (lf == NULL)
		return 0;
	len = lf - data;
	if (len < strlen(COI_BLOCKLIST_FILE_MAGIC) ||
	    memcmp(data, COI_BLOCKLIST_FILE_MAGIC,
		   strlen(COI_BLOCKLIST_FILE_MAGIC)) != 0)
		return 0;
	args = t_strsplit(t_strndup(data + strlen(COI_BLOCKLIST_FILE_MAGIC),
				    len - strlen(COI_BLOCKLIST_FILE_MAGIC)),
			  " ");
	if (str_array_length(args) != 4 ||
	    str_to_uint32(args[0], &stamp_r->uidvalidity) < 0 ||
	    str_to_uint32(args[1], &stamp_r->uidnext) < 0 ||
	    str_to_uint32(args[2], &stamp_r->messages) < 0 ||
	    str_to_uint(args[3], count_r) < 0 ||
	    *count_r > COI_BLOCKLIST_MAX_HASHES)
		return 0;
	if ((size - (len + 1)) != (size_t)*count_r * COI_BLOCKLIST_FILE_LINE_LEN)
		return 0;
	return len + 1;
}

int coi_blocklist_file_parse(const unsigned char *data, size_t size,
			     struct coi_blocklist_stamp *stamp_r,
			     ARRAY_TYPE(coi_blocklist_hash) *hashes_out,
			     const char **error_r)
{
	struct coi_blocklist_hash hash, prev;
	unsigned int i, count;
	size_t offset;

	offset = coi_blocklist_file_parse_header(data, size, stamp_r, &count);
	if (offset == 0) {
		*error_r = "Invalid header or size";
		return -1;
	}
	for (i = 0; i < count; i++) {
		const unsigned char *line =
			data + offset + i * COI_BLOCKLIST_FILE_LINE_LEN;
		if (line[COI_BLOCKLIST_HASH_HEX_LEN] != '\n' ||
		    !coi_blocklist_hash_parse(t_strndup(line,
				COI_BLOCKLIST_HASH_HEX_LEN), &hash) ||
		    strcmp(t_strndup(line, COI_BLOCKLIST_HASH_HEX_LEN),
			   coi_blocklist_hash_to_hex(&hash)) != 0) {
			*error_r = t_strdup_printf("Invalid hash on line %u",
						   i + 2);
			return -1;
		}
		if (i > 0 && coi_blocklist_hash_cmp(&prev, &hash) >= 0) {
			*error_r = t_strdup_printf("Hashes not sorted on "
						   "line %u", i + 2);
			return -1;
		}
		prev = hash;
		array_push_back(hashes_out, &hash);
	}
	return 0;
}

bool
coi_blocklist_file_contains(const unsigned char *lines, unsigned int count,
			    const char *hex)
{
	unsigned int lo = 0, hi = count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int cmp = memcmp(lines + (size_t)mid *
				 COI_BLOCKLIST_FILE_LINE_LEN, hex,
				 COI_BLOCKLIST_HASH_HEX_LEN);
		if (cmp == 0)
			return TRUE;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return FALSE;
}

