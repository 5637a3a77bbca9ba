/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "lib-event.h"
#include "test-common.h"
#include "coi-blocklist.h"

/* coi-client-spec.md's example */
#define SPEC_ADDRESS "john.doe@coi-dev.org"
#define SPEC_HASH \
	"74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0"

static void test_coi_blocklist_address_hash(void)
{
	struct coi_blocklist_hash hash, upper;

	test_begin("coi blocklist address hash");
	coi_blocklist_address_hash(SPEC_ADDRESS, &hash);
	test_assert_strcmp(coi_blocklist_hash_to_hex(&hash), SPEC_HASH);
	coi_blocklist_address_hash("John.Doe@COI-dev.ORG", &upper);
	test_assert(memcmp(hash.data, upper.data, sizeof(hash.data)) == 0);
	test_end();
}

static void test_coi_blocklist_hash_parse(void)
{
	static const char *const invalid[] = {
		"", "yes", SPEC_HASH"0", SPEC_HASH"a",
		"74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb",
		"g4b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0",
		"74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9b 0",
		"0x74b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0",
		SPEC_HASH" "SPEC_HASH, "<"SPEC_HASH">",
	};
	struct coi_blocklist_hash hash, expected;
	unsigned int i;

	test_begin("coi blocklist hash parse");
	coi_blocklist_address_hash(SPEC_ADDRESS, &expected);
	test_assert(coi_blocklist_hash_parse(SPEC_HASH, &hash));
	test_assert(memcmp(hash.data, expected.data, sizeof(hash.data)) == 0);
	test_assert(coi_blocklist_hash_parse(" "SPEC_HASH"\t", &hash));
	test_assert(memcmp(hash.data, expected.data, sizeof(hash.data)) == 0);
	test_assert(coi_blocklist_hash_parse(t_str_ucase(SPEC_HASH), &hash));
	test_assert(memcmp(hash.data, expected.data, sizeof(hash.data)) == 0);
	for (i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(!coi_blocklist_hash_parse(invalid[i], &hash), i);
	test_end();
}

static void test_coi_blocklist_contact_limits(void)
{
	ARRAY_TYPE(coi_blocklist_hash) hashes;
	ARRAY_TYPE(const_string) values;
	struct coi_blocklist_hash hash;
	struct event *event = event_create(NULL);
	unsigned int i, n;

	test_begin("coi blocklist contact hashes and limits");
	t_array_init(&hashes, 16);
	t_array_init(&values, 16);
	/* invalid values are skipped and do not count */
	for (i = 0; i < 500; i++) {
		const char *bad = "not a hash";
		array_push_back(&values, &bad);
	}
	for (i = 0; i < COI_BLOCKLIST_MAX_HASHES_PER_CONTACT + 50; i++) {
		const char *addr = t_strdup_printf("a%u@example.org", i);
		coi_blocklist_address_hash(addr, &hash);
		const char *hex = t_strdup(coi_blocklist_hash_to_hex(&hash));
		array_push_back(&values, &hex);
	}
	array_append_zero(&values);
	n = coi_blocklist_add_contact_hashes(&hashes, array_front(&values),
					     event);
	test_assert(n == COI_BLOCKLIST_MAX_HASHES_PER_CONTACT);
	test_assert(array_count(&hashes) == COI_BLOCKLIST_MAX_HASHES_PER_CONTACT);
	coi_blocklist_address_hash("a0@example.org", &hash);
	coi_blocklist_sort(&hashes);
	test_assert(coi_blocklist_contains(&hashes, &hash));
	coi_blocklist_address_hash(t_strdup_printf("a%u@example.org",
		COI_BLOCKLIST_MAX_HASHES_PER_CONTACT), &hash);
	test_assert(!coi_blocklist_contains(&hashes, &hash));

	/* the total limit */
	array_clear(&hashes);
	for (i = 0; i < COI_BLOCKLIST_MAX_HASHES - 10; i++) {
		i_zero(&hash);
		memcpy(hash.data, &i, sizeof(i));
		array_push_back(&hashes, &hash);
	}
	n = coi_blocklist_add_contact_hashes(&hashes, array_front(&values),
					     event);
	test_assert(n == 10);
	test_assert(array_count(&hashes) == COI_BLOCKLIST_MAX_HASHES);
	event_unref(&event);
	test_end();
}

static void test_coi_blocklist_sort(void)
{
	ARRAY_TYPE(coi_blocklist_hash) hashes;
	struct coi_blocklist_hash hash;
	const struct coi_blocklist_hash *items;
	unsigned int i, count;

	test_begin("coi blocklist sort and dedupe");
	t_array_init(&hashes, 16);
	for (i = 0; i < 20; i++) {
		coi_blocklist_address_hash(t_strdup_printf("x%u@e.org", i % 7),
					   &hash);
		array_push_back(&hashes, &hash);
	}
	coi_blocklist_sort(&hashes);
	items = array_get(&hashes, &count);
	test_assert(count == 7);
	for (i = 1; i < count; i++)
		test_assert_idx(memcmp(items[i-1].data, items[i].data,
				       sizeof(hash.data)) < 0, i);
	coi_blocklist_address_hash("x8@e.org", &hash);
	test_assert(!coi_blocklist_contains(&hashes, &hash));
	test_end();
}

static void test_coi_blocklist_file(void)
{
	static const char *const invalid[] = {
		"",
		"COI-BLOCKLIST 1 1 2 3 0",
		"COI-BLOCKLIST 2 1 2 3 0\n",
		"COI-BLOCKLIST 1 1 2 3\n",
		"COI-BLOCKLIST 1 1 2 3 1\n",
		"COI-BLOCKLIST 1 1 2 3 0\nextra",
		"COI-BLOCKLIST 1 1 2 3 1\n"SPEC_HASH,
		"COI-BLOCKLIST 1 1 2 3 1\n"SPEC_HASH"x",
		"COI-BLOCKLIST 1 1 2 x 0\n",
		"COI-BLOCKLIST 1 1 2 3 99999999\n",
		"COI-BLOCKLIST 1 1 2 3 2\n"SPEC_HASH"\n"SPEC_HASH"\n",
		"COI-BLOCKLIST 1 1 2 3 1\n"
		"z4b3c446c189580045a942b90b7461128bc334b3b67e9f63c0c06189248c9bb0\n",
	};
	ARRAY_TYPE(coi_blocklist_hash) hashes, parsed;
	struct coi_blocklist_stamp stamp = { 1234, 56, 78 }, stamp2;
	struct coi_blocklist_hash hash;
	const char *error;
	string_t *str;
	unsigned int i;

	test_begin("coi blocklist index file");
	t_array_init(&hashes, 16);
	t_array_init(&parsed, 16);
	for (i = 0; i < 50; i++) {
		coi_blocklist_address_hash(t_strdup_printf("f%u@e.org", i),
					   &hash);
		array_push_back(&hashes, &hash);
	}
	coi_blocklist_sort(&hashes);
	str = t_str_new(4096);
	coi_blocklist_file_write_to(str, &stamp, &hashes);
	test_assert(coi_blocklist_file_parse(str_data(str), str_len(str),
					     &stamp2, &parsed, &error) == 0);
	test_assert(stamp2.uidvalidity == 1234 && stamp2.uidnext == 56 &&
		    stamp2.messages == 78);
	test_assert(array_count(&parsed) == 50);
	test_assert(memcmp(array_front(&parsed), array_front(&hashes),
			   50 * sizeof(hash)) == 0);
	/* a truncated file is invalid */
	array_clear(&parsed);
	test_assert(coi_blocklist_file_parse(str_data(str), str_len(str) - 1,
					     &stamp2, &parsed, &error) < 0);
	for (i = 0; i < N_ELEMENTS(invalid); i++) {
		array_clear(&parsed);
		test_assert_idx(coi_blocklist_file_parse(
			(const unsigned char *)invalid[i], strlen(invalid[i]),
			&stamp2, &parsed, &error) < 0, i);
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_blocklist_address_hash,
		test_coi_blocklist_hash_parse,
		test_coi_blocklist_contact_limits,
		test_coi_blocklist_sort,
		test_coi_blocklist_file,
		NULL
	};
	return test_run(test_functions);
}
