#ifndef COI_MESSAGE_H
#define COI_MESSAGE_H

struct istream;
struct mail;

#define COI_KEYWORD_CHAT "$Chat"
#define COI_MESSAGE_ID_CHAT_PREFIX "chat$"
#define COI_HEADER_CHAT_VERSION "Chat-Version"

/* Finds the first message-id in a Message-ID or References header value:
   leading whitespace and (nested) comments are skipped, then it must be '<'.
   The id is what follows it (whitespace after '<' skipped) up to the next
   '>'; it is not empty. *id_r points into value and is not NUL-terminated.
   Returns FALSE (and *id_r = NULL) when value is NULL or has no such id. */
bool coi_msgid_list_first(const char *value, const char **id_r,
			  size_t *id_len_r);

/* TRUE if the first message-id in a Message-ID or References header value
   begins with "chat$". Comments and folding are skipped; only the first
   id counts, so the cost does not depend on the header's length beyond
   one scan. value may be NULL (header missing). */
bool coi_msgid_list_first_is_chat(const char *value);
/* The same for a value that is not NUL-terminated (may contain NULs). */
bool coi_msgid_list_first_is_chat_data(const unsigned char *data,
				       size_t size);

/* The COI chat rule (coi-server-spec.md): a Chat-Version header, or a
   Message-ID, or first References id, that begins with "chat$".
   Applies it to a message header read from the (blocking) input
   stream, from its current offset to the end of the header (it stops
   early at the first line that decides). Header names are case-insensitive; for Message-ID
   and References only the first occurrence counts, as with
   mail_get_first_header(). Returns 1 for a chat, 0 for not, -1 on a read
   error (input->stream_errno). */
int coi_header_is_chat(struct istream *input);

/* Classifies a mail in one pass over its header. Returns 1 for a chat, 0
   for not, -1 if its header could not be read (error_r set). */
int coi_mail_is_chat(struct mail *mail, const char **error_r);

#endif
