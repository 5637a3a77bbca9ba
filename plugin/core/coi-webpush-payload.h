#ifndef COI_WEBPUSH_PAYLOAD_H
#define COI_WEBPUSH_PAYLOAD_H

struct mail;

/* Plaintext that fits one 4096-octet aes128gcm record: 4096 - 86 - 16 - 1 */
#define COI_WEBPUSH_PAYLOAD_MAX 3993

/* Limits of webpush-spec.md "Payload Data Format", in octets of the raw
   UTF-8 string (before JSON escaping); a truncated string is followed by
   U+2026. */
#define COI_WEBPUSH_PAYLOAD_TEXT_MAX 100
#define COI_WEBPUSH_PAYLOAD_CONTENT_TYPE_MAX 200
/* folder is omitted (not truncated) when its JSON string is longer */
#define COI_WEBPUSH_PAYLOAD_FOLDER_MAX 200
/* group-id is omitted when longer */
#define COI_WEBPUSH_PAYLOAD_GROUP_ID_MAX 128

/* The group id prefix in a message-id (coi-client-spec.md "Group Messages"):
   chat$group.<group id>.<unique value>@<domain> */
#define COI_WEBPUSH_GROUP_MSGID_PREFIX "chat$group."
/* A group id is [0-9A-Za-z_-]+ and at least this long */
#define COI_WEBPUSH_GROUP_ID_MIN_LEN 12

struct coi_webpush_message {
	const char *from_email;      /* NULL if none */
	const char *from_name;       /* UTF-8, NULL if none */
	const char *subject;         /* UTF-8 (decoded), NULL/"" = omit */
	bool have_date;
	time_t date;
	int date_tz;                 /* minutes east of UTC */
	const char *message_id;      /* without angle brackets */
	const char *content_type;    /* full header value, NULL = text/plain */
	const char *content_encoding;/* Content-Transfer-Encoding value, NULL = 7bit */
	/* The body as stored (after the header). NULL when it is unknown or
	   longer than COI_WEBPUSH_PAYLOAD_MAX (it could never fit), which
	   leaves content, content-type and content-encoding out. */
	const unsigned char *content;
	size_t content_size;
	const char *folder;          /* mailbox vname, UTF-8 */
	uint32_t uid, uidvalidity;
	const char *group_id;        /* NULL if not a group message */
	bool is_chat;                /* has $Chat */
	bool is_disposition_notification; /* read receipt (MDN) */
};

/* Builds the JSON payload per webpush-spec.md "Payload Data Format": one
   compact object with the members, in this order, from-email, from-name,
   subject, content, content-type, content-encoding, date, msg-id, uid,
   uidvalidity, folder, group-id.

   Strings: invalid UTF-8 is replaced by U+FFFD, then from-email (ASCII
   lowercased), from-name, subject and msg-id are cut to at most 100 octets,
   content-type and content-encoding to at most 200 octets, at a character
   boundary and followed by U+2026 when cut; JSON escaping comes after, so
   it never splits an escape. Folding (CR, LF) is removed from content-type
   and content-encoding.

   Omitted: from-email when NULL or empty; from-name when NULL or empty;
   subject when NULL or empty; date when !have_date (or the year is not
   0000..9999); msg-id when NULL or empty; folder when NULL, empty, not valid
   UTF-8 or longer than 200 octets as an escaped JSON string; group-id when
   NULL, longer than 128 octets or not [0-9A-Za-z_-]+.
   content-type is omitted when the type is text/plain (case-insensitive)
   with no parameters other than charset=utf-8 or charset=us-ascii (any
   case, quoted or not): the JSON string is UTF-8, so that is what a reader
   assumes without it. Any other parameter (format=flowed, another charset)
   or a value that does not parse keeps it (as it is, unfolded); an empty
   value is omitted.
   content-encoding is omitted for 7bit and 8bit (case-insensitive, CFWS
   ignored): both mean the body is not transformed, and 7bit is also the
   default when the header is missing. Other values are written lowercased
   (quoted-printable, base64, binary, ...); one that is not a single token
   is written as it is, unfolded and cut like content-type.
   date is RFC 3339 in the message's own offset (2019-12-31T23:20:50+01:00);
   an offset of 24 hours or more is written as UTC with "Z".

   content (with content-type and content-encoding) is included only when
   msg->content is not NULL, is valid UTF-8 without NUL octets, and the
   whole JSON with it is at most max_plaintext octets; otherwise the result
   is the same as coi_webpush_payload_build_without_content().
   *content_included_r tells which. The JSON without content is always
   shorter than COI_WEBPUSH_PAYLOAD_MAX. Returns a data-stack string. */
const char *coi_webpush_payload_build(const struct coi_webpush_message *msg,
				      size_t max_plaintext,
				      bool *content_included_r);
/* Without content at all (for a retry after 413). */
const char *
coi_webpush_payload_build_without_content(
	const struct coi_webpush_message *msg);

/* Group id per coi-client-spec.md "Group Messages": from the Message-ID, or
   when that is not a group message-id, from the first id in References.
   Both are header values (either may be NULL); message_id may also be given
   without angle brackets. A group message-id is, case-sensitively,
   "chat$group." <id> "." <unique value> "@" <domain> with <id>
   [0-9A-Za-z_-]{12,} and the unique value and domain not empty. Returns
   the id (data stack), or NULL when not a group message. */
const char *coi_webpush_group_id(const char *message_id,
				 const char *references);

/* True for a disposition notification (read receipt): Content-Type
   multipart/report with report-type=disposition-notification (parameter
   names/values case-insensitive, quoted or not). content_type may be
   NULL. */
bool coi_webpush_content_type_is_mdn(const char *content_type);

/* Fills msg_r from a mail being delivered: From (the first address that
   has a local part, as local@domain; the display name decoded to UTF-8),
   Subject (decoded UTF-8), Date (mail_get_date(), so a missing or invalid
   Date, and the epoch itself, give have_date=FALSE),
   Message-ID (the first <id>, else the trimmed value), References (group
   id), Content-Type (is_disposition_notification), Content-Transfer-Encoding,
   keywords ($Chat -> is_chat) and at most COI_WEBPUSH_PAYLOAD_MAX + 1 octets
   of the body after the header; a longer body gives content = NULL.
   folder, uid and uidvalidity are left 0/NULL for the caller to set.

   The strings and the body in msg_r are allocated from pool; temporaries
   and *error_r use the data stack. Returns 0, or -1 with error_r set when
   the storage failed. */
/* Only from_email and from_name, for protocols that need nothing else of
   the message (Delta Chat notifications): no body is read. */
int coi_webpush_message_sender_from_mail(struct mail *mail, pool_t pool,
					 struct coi_webpush_message *msg_r,
					 const char **error_r);
int coi_webpush_message_from_mail(struct mail *mail, pool_t pool,
				  struct coi_webpush_message *msg_r,
				  const char **error_r);

#endif
