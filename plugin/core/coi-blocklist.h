#ifndef COI_BLOCKLIST_H
#define COI_BLOCKLIST_H

/* Blocked contacts (coi-client-spec.md "Contact Storage Messages",
   "Blocking Contacts"). The source of truth is the user's contact storage
   messages in <root>/Contacts: a message with a COI-Blocked header blocks
   every address whose hash is in one of its COI-From-Hash headers. The hash
   is the lowercase hex SHA3-256 of the lowercased address.

   Deliveries never read the Contacts folder's messages: the blocked hashes
   are kept in an index file (COI_BLOCKLIST_FILE_NAME in the Contacts
   folder's index directory) stamped with the folder's UIDVALIDITY, UIDNEXT
   and message count. Contact messages are never modified in place (clients
   APPEND a new one and EXPUNGE the old one), so any change of the folder's
   contents changes one of the three, and the index is rebuilt by the first
   process that sees the difference. */

#include "array-decl.h"
#include "coi-settings.h"

struct mail;
struct mail_user;
struct event;

#define COI_HEADER_BLOCKED "COI-Blocked"
#define COI_HEADER_FROM_HASH "COI-From-Hash"

/* SHA3-256 */
#define COI_BLOCKLIST_HASH_SIZE 32
#define COI_BLOCKLIST_HASH_HEX_LEN (COI_BLOCKLIST_HASH_SIZE * 2)

/* Limits against hostile contact messages (documented in ADMIN-GUIDE):
   at most this many COI-From-Hash headers of one contact message count,
   the rest are ignored; */
#define COI_BLOCKLIST_MAX_HASHES_PER_CONTACT 100
/* the headers of a contact message larger than this are not read at all
   (the message blocks nothing); */
#define COI_BLOCKLIST_MAX_CONTACT_HEADER_SIZE (1024 * 1024)
/* at most this many blocked hashes per user (6.5 MB of index file); */
#define COI_BLOCKLIST_MAX_HASHES 100000
/* and at most this many From addresses of a delivered message are looked
   up. */
#define COI_BLOCKLIST_MAX_FROM_ADDRESSES 32

#define COI_BLOCKLIST_FILE_NAME "dovecot-coi-blocklist"

struct coi_blocklist_hash {
	unsigned char data[COI_BLOCKLIST_HASH_SIZE];
};
ARRAY_DEFINE_TYPE(coi_blocklist_hash, struct coi_blocklist_hash);

/* The state of the Contacts folder an index was built from. */
struct coi_blocklist_stamp {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	/* The folder's transaction log (dovecot.index.log) as stat() saw it
	   before the state above was read; all 0 when unknown. Every change of
	   the folder is appended to this file, so while it is unchanged the
	   index is current without asking the folder's status. */
	uint64_t log_ino;
	uint64_t log_size;
	int64_t log_mtime_nsecs;
};

/* --- pure functions (unit-tested) --- */

/* The hash of an address as clients compute it: SHA3-256 of the address
   with ASCII letters lowercased (address is the unquoted addr-spec). */
void coi_blocklist_address_hash(const char *address,
				struct coi_blocklist_hash *hash_r);
/* The 64 lowercase hex digits of a hash. */
const char *coi_blocklist_hash_to_hex(const struct coi_blocklist_hash *hash);
/* Parses a COI-From-Hash value: exactly 64 hex digits (either case),
   surrounding whitespace (folding included) allowed. Returns FALSE for anything else. */
bool coi_blocklist_hash_parse(const char *value,
			      struct coi_blocklist_hash *hash_r);

/* Adds the valid hashes of one contact message's COI-From-Hash values
   (NULL-terminated) to hashes, at most COI_BLOCKLIST_MAX_HASHES_PER_CONTACT
   of them and never beyond COI_BLOCKLIST_MAX_HASHES in total. Invalid
   values and values beyond the limits are logged at debug level to event. Returns the number of hashes added. */
unsigned int
coi_blocklist_add_contact_hashes(ARRAY_TYPE(coi_blocklist_hash) *hashes,
				 const char *const *values,
				 struct event *event);

/* Sorts and removes duplicates, so that coi_blocklist_contains() can do a
   binary search. */
void coi_blocklist_sort(ARRAY_TYPE(coi_blocklist_hash) *hashes);
bool coi_blocklist_contains(const ARRAY_TYPE(coi_blocklist_hash) *hashes,
			    const struct coi_blocklist_hash *hash);

/* The index file: a first line "COI-BLOCKLIST 2 <uidvalidity> <uidnext>
   <messages> <log inode> <log size> <log mtime in nsecs> <count>", then
   count lines of 64 hex digits in ascending order. */
void coi_blocklist_file_write_to(string_t *dest,
				 const struct coi_blocklist_stamp *stamp,
				 const ARRAY_TYPE(coi_blocklist_hash) *hashes);
/* Returns 0 and the stamp and hashes (appended to hashes_out, sorted), or
   -1 if the data is not a valid index file. */
int coi_blocklist_file_parse(const unsigned char *data, size_t size,
			     struct coi_blocklist_stamp *stamp_r,
			     ARRAY_TYPE(coi_blocklist_hash) *hashes_out,
			     const char **error_r);

/* --- with a mail user --- */

/* Returns 1 if an address in a From header of mail is blocked by the
   user's contacts, 0 if not, -1 on error. This reads only the From header
   of mail and the index file (rebuilding it when the Contacts folder
   changed). It does not check whether COI is enabled for the user: callers
   decide whether blocking applies. Users without the coi plugin get 0. */
int coi_blocklist_mail_is_blocked(struct mail_user *user, struct mail *mail,
				  const char **error_r);

/* Forgets what the process remembered about users' blocklists. */
void coi_blocklist_cache_clear(void);

/* What delivery does with a blocked sender's message: the setting
   coi_blocked_action ("store", the default, or "discard"); an invalid value
   logs an error and stores. */
enum coi_blocked_action coi_blocklist_action(struct mail_user *user);
/* The folder for blocked senders' messages: the setting
   coi_blocked_mailbox, default "Blocked" (coi-client-spec.md "Folders"). */
const char *coi_blocklist_mailbox(struct mail_user *user);
/* Creates it (subscribed) if it does not exist. */
int coi_blocklist_mailbox_ensure(struct mail_user *user,
				 const char **error_r);

#endif
