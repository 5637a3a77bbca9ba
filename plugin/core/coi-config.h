#ifndef COI_CONFIG_H
#define COI_CONFIG_H

/* What the COI configuration values mean, independent of where they are
   stored. Everything here is pure parsing and naming, so it can be unit
   tested without a mail user. */

enum coi_message_filter {
	COI_MESSAGE_FILTER_NONE = 0,
	COI_MESSAGE_FILTER_ACTIVE,
	COI_MESSAGE_FILTER_SEEN,
};

struct coi_config {
	bool enabled;
	enum coi_message_filter message_filter;
};

/* The public METADATA entry names (RFC 5464 server entries on ""). */
#define COI_METADATA_CONFIG "/private/vendor/vendor.dovecot/coi/config"
#define COI_METADATA_ENABLED COI_METADATA_CONFIG"/enabled"
#define COI_METADATA_MAILBOX_ROOT COI_METADATA_CONFIG"/mailbox-root"
#define COI_METADATA_MESSAGE_FILTER COI_METADATA_CONFIG"/message-filter"

/* The same entries as lib-storage attribute keys relative to
   MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER. */
#define COI_ATTR_CONFIG "vendor/vendor.dovecot/coi/config"
#define COI_ATTR_ENABLED COI_ATTR_CONFIG"/enabled"
#define COI_ATTR_MAILBOX_ROOT COI_ATTR_CONFIG"/mailbox-root"
#define COI_ATTR_MESSAGE_FILTER COI_ATTR_CONFIG"/message-filter"

#define COI_MAILBOX_ROOT_DEFAULT "COI"
#define COI_MAILBOX_CHATS "Chats"
#define COI_MAILBOX_CONTACTS "Contacts"

/* Longest configuration value worth reading: every valid one is shorter.
   Longer values are rejected without being read completely into memory. */
#define COI_CONFIG_VALUE_MAX_LEN 64

/* value == NULL means NIL (unset). Returns 0 and the parsed value, or -1 if
   the value is not allowed. Values are case-sensitive. */
int coi_config_parse_enabled(const char *value, bool *enabled_r);
int coi_config_parse_message_filter(const char *value,
				    enum coi_message_filter *filter_r);
const char *coi_message_filter_to_str(enum coi_message_filter filter);

/* Human-readable reasons for a rejected value, naming the allowed ones. */
#define COI_ENABLED_INVALID_ERROR \
	"Invalid value for "COI_METADATA_ENABLED \
	": the allowed values are \"yes\" and NIL"
#define COI_MESSAGE_FILTER_INVALID_ERROR \
	"Invalid value for "COI_METADATA_MESSAGE_FILTER \
	": the allowed values are \"none\", \"active\", \"seen\" and NIL"
#define COI_MAILBOX_ROOT_READONLY_ERROR \
	COI_METADATA_MAILBOX_ROOT" is set by the server administrator " \
	"and cannot be changed"

/* Checks the coi_mailbox_root setting: a non-empty mailbox name without
   IMAP wildcards, control characters or an empty hierarchy level. */
bool coi_mailbox_root_is_valid(const char *root, char sep,
			       const char **error_r);

#endif
