/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The blocklist of a mail user: reading contact messages, the index file in
   the Contacts folder's index directory, and the check at delivery. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "safe-mkstemp.h"
#include "write-full.h"
#include "message-address.h"
#include "message-size.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "mail-storage-private.h"
#include "coi-user.h"
#include "coi-mailbox.h"
#include "coi-blocklist-private.h"
#include "coi-contacts.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

/* --- the index file --- */

struct coi_blocklist_ctx {
	struct mail_user *user;
	struct mailbox *box;
	/* The index file and the folder's transaction log, both NULL when the
	   Contacts folder has no index directory (e.g. in-memory indexes):
	   then the hashes are read from the folder every time. */
	const char *path, *log_path;
	/* The log as it is now (all 0 if there is none) */
	struct coi_blocklist_stamp now;
	/* The index file read, and its stamp and hash count; NULL when there
	   is none (or it is invalid). Once refreshed, the current index. */
	buffer_t *file;
	struct coi_blocklist_stamp file_stamp;
	unsigned int file_count;
	size_t file_offset;
	bool no_contacts;
};

/* stat()s the folder's transaction log into ctx->now. A missing log (not
   created yet, or a storage without one) leaves it 0. */
static int coi_blocklist_log_stat(struct coi_blocklist_ctx *ctx,
				  const char **error_r)
{
	struct stat st;

	i_zero(&ctx->now);
	if (ctx->log_path == NULL)
		return 0;
	if (stat(ctx->log_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("stat(%s) failed: %m",
					   ctx->log_path);
		return -1;
	}
	ctx->now.log_ino = st.st_ino;
	ctx->now.log_size = st.st_size;
	ctx->now.log_mtime_nsecs = (int64_t)st.st_mtim.tv_sec * 1000000000LL +
		st.st_mtim.tv_nsec;
	return 0;
}

static int coi_blocklist_open(struct coi_blocklist_ctx *ctx,
			      const char **error_r)
{
	struct coi_user *cuser = coi_user_get_ready(ctx->user);
	struct mailbox_list *list = cuser->root_ns->list;
	const char *dir;
	int ret;

	/* The path comes from the mailbox list's settings; the folder itself
	   is allocated only when its status or messages are needed (a
	   mailbox allocation runs every plugin's hooks). */
	ret = mailbox_list_get_path(list,
		mailbox_list_get_storage_name(list, cuser->contacts_vname),
		MAILBOX_LIST_PATH_TYPE_INDEX, &dir);
	if (ret < 0) {
		*error_r = mailbox_list_get_last_internal_error(list, NULL);
		return -1;
	}
	if (ret > 0) {
		ctx->path = t_strconcat(dir, "/"COI_BLOCKLIST_FILE_NAME, NULL);
		/* Dovecot's index storages; any other has no such file, so
		   its status is always asked */
		ctx->log_path = t_strconcat(dir, "/"MAIL_INDEX_PREFIX".log",
					    NULL);
	}
	/* before anything of the folder is read: see
	   coi_blocklist_refresh() */
	return coi_blocklist_log_stat(ctx, error_r);
}

static struct mailbox *coi_blocklist_box(struct coi_blocklist_ctx *ctx)
{
	struct coi_user *cuser = coi_user_get_ready(ctx->user);

	if (ctx->box == NULL) {
		ctx->box = mailbox_alloc(cuser->root_ns->list,
					 cuser->contacts_vname,
					 MAILBOX_FLAG_READONLY |
					 MAILBOX_FLAG_IGNORE_ACLS);
	}
	return ctx->box;
}

/* Reads the index file into ctx->file if it exists and is valid. */
static int coi_blocklist_file_read(struct coi_blocklist_ctx *ctx,
				   const char **error_r)
{
	struct stat st;
	ssize_t ret;
	int fd;

	fd = open(ctx->path, O_RDONLY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", ctx->path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", ctx->path);
		i_close_fd(&fd);
		return -1;
	}
	if (st.st_size > COI_BLOCKLIST_FILE_HEADER_MAX_LEN +
	    (off_t)COI_BLOCKLIST_MAX_HASHES * COI_BLOCKLIST_FILE_LINE_LEN) {
		i_close_fd(&fd);
		return 0;
	}
	ctx->file = buffer_create_dynamic(default_pool, st.st_size + 1);
	ret = read(fd, buffer_append_space_unsafe(ctx->file, st.st_size),
		   st.st_size);
	i_close_fd(&fd);
	if (ret < 0) {
		*error_r = t_strdup_printf("read(%s) failed: %m", ctx->path);
		buffer_free(&ctx->file);
		return -1;
	}
	buffer_set_used_size(ctx->file, ret);
	ctx->file_offset = coi_blocklist_file_parse_header(ctx->file->data,
		ctx->file->used, &ctx->file_stamp, &ctx->file_count);
	if (ctx->file_offset == 0) {
		e_debug(ctx->user->event, "coi: %s is invalid, rebuilding",
			ctx->path);
		buffer_free(&ctx->file);
	}
	return 0;
}

static bool coi_blocklist_stamp_log_equals(const struct coi_blocklist_stamp *s1,
					   const struct coi_blocklist_stamp *s2)
{
	return s1->log_ino != 0 && s1->log_ino == s2->log_ino &&
		s1->log_size == s2->log_size &&
		s1->log_mtime_nsecs == s2->log_mtime_nsecs;
}

static bool coi_blocklist_stamp_state_equals(const struct coi_blocklist_stamp *s1,
					     const struct coi_blocklist_stamp *s2)
{
	return s1->uidvalidity == s2->uidvalidity &&
		s1->uidnext == s2->uidnext && s1->messages == s2->messages;
}

static int
coi_blocklist_scan(struct mailbox *box,
		   ARRAY_TYPE(coi_blocklist_hash) *hashes,
		   const char **error_r)
{
	static const char *const wanted_headers[] = {
		COI_HEADER_BLOCKED, COI_HEADER_FROM_HASH, NULL
	};
	struct mailbox_header_lookup_ctx *headers;
	struct mailbox_transaction_context *t;
	struct mail_search_args *search_args;
	struct mail_search_context *search_ctx;
	struct mail *mail;
	int ret = 0;

	/* mailbox_get_status() may have answered from the mailbox list
	   index without opening the box; the header lookup needs its cache. */
	if (mailbox_open(box) < 0) {
		*error_r = mailbox_get_last_internal_error(box, NULL);
		return -1;
	}
	headers = mailbox_header_lookup_init(box, wanted_headers);
	t = mailbox_transaction_begin(box, 0, "coi blocklist");
	search_args = mail_search_build_init();
	mail_search_build_add_all(search_args);
	search_ctx = mailbox_search_init(t, search_args, NULL,
					 MAIL_FETCH_PHYSICAL_SIZE, headers);
	mail_search_args_unref(&search_args);
	while (ret == 0 && mailbox_search_next(search_ctx, &mail)) {
		int mail_ret;

		/* hashes must not be allocated from the data stack: it grows
		   in these frames */
		T_BEGIN {
			mail_ret = coi_contacts_mail_get_blocked_hashes(
				mail, hashes, error_r);
		} T_END_PASS_STR_IF(mail_ret < 0, error_r);
		if (mail_ret < 0)
			ret = -1;
	}
	if (mailbox_search_deinit(&search_ctx) < 0 && ret == 0) {
		*error_r = mailbox_get_last_internal_error(box, NULL);
		ret = -1;
	}
	(void)mailbox_transaction_commit(&t);
	mailbox_header_lookup_unref(&headers);
	if (ret == 0)
		coi_blocklist_sort(hashes);
	return ret;
}

/* Writes the index atomically (a temporary file renamed over the old one),
   so that readers see either the old or the new one. */
static int coi_blocklist_file_write(struct coi_blocklist_ctx *ctx,
				    const string_t *data,
				    const char **error_r)
{
	const struct mailbox_permissions *perm =
		mailbox_get_permissions(coi_blocklist_box(ctx));
	string_t *temp_path;
	int fd, ret = 0;

	temp_path = t_str_new(256);
	str_append(temp_path, ctx->path);
	str_append_c(temp_path, '.');
	fd = safe_mkstemp_hostpid(temp_path, perm->file_create_mode,
				  (uid_t)-1, perm->file_create_gid);
	if (fd == -1) {
		*error_r = t_strdup_printf("safe_mkstemp(%s) failed: %m",
					   str_c(temp_path));
		return -1;
	}
	if (write_full(fd, str_data(data), str_len(data)) < 0) {
		*error_r = t_strdup_printf("write(%s) failed: %m",
					   str_c(temp_path));
		ret = -1;
	}
	if (close(fd) < 0 && ret == 0) {
		*error_r = t_strdup_printf("close(%s) failed: %m",
					   str_c(temp_path));
		ret = -1;
	}
	if (ret == 0 && rename(str_c(temp_path), ctx->path) < 0) {
		*error_r = t_strdup_printf("rename(%s, %s) failed: %m",
					   str_c(temp_path), ctx->path);
		ret = -1;
	}
	if (ret < 0)
		i_unlink_if_exists(str_c(temp_path));
	return ret;
}

/* The file is still right for the folder, but the log changed (flags,
   cache updates, a rotation): stamp it with the log as it is now, so that
   the next deliveries again need nothing but a stat(). */
static void coi_blocklist_file_restamp(struct coi_blocklist_ctx *ctx,
				       const struct coi_blocklist_stamp *stamp)
{
	const char *error;
	string_t *data;

	data = str_new(default_pool, ctx->file->used + 32);
	str_printfa(data, COI_BLOCKLIST_FILE_MAGIC
		    "%u %u %u %"PRIu64" %"PRIu64" %"PRId64" %u\n",
		    stamp->uidvalidity, stamp->uidnext, stamp->messages,
		    stamp->log_ino, stamp->log_size, stamp->log_mtime_nsecs,
		    ctx->file_count);
	str_append_data(data, CONST_PTR_OFFSET(ctx->file->data,
					       ctx->file_offset),
			ctx->file->used - ctx->file_offset);
	if (coi_blocklist_file_write(ctx, data, &error) < 0) {
		e_error(ctx->user->event, "coi: Cannot write the blocklist "
			"index: %s", error);
	}
	str_free(&data);
}

/* Makes ctx->file the current index, rebuilding it if the folder changed.
   ctx->file is NULL afterwards when the hashes are in rebuilt_r instead
   (no index directory, or writing failed), and ctx->no_contacts is set
   when there is no Contacts folder.

   Why the log is stat()ed first (by coi_blocklist_open()): every change
   of the folder is appended to its transaction log, so an unchanged log
   (inode, size, mtime) means an unchanged folder. It is stat()ed before
   the folder's state is read, so a change after that is seen by the
   next delivery. */
static int coi_blocklist_refresh(struct coi_blocklist_ctx *ctx,
				 ARRAY_TYPE(coi_blocklist_hash) *rebuilt_r,
				 const char **error_r)
{
	struct coi_blocklist_stamp state;
	struct mailbox_status status;
	enum mail_error error;
	const char *errstr;
	string_t *data;

	if (ctx->path != NULL) {
		if (coi_blocklist_file_read(ctx, error_r) < 0)
			return -1;
		if (ctx->file != NULL &&
		    coi_blocklist_stamp_log_equals(&ctx->file_stamp, &ctx->now))
			return 0;
	}

	/* STATUS comes from the mailbox list index when it can, without
	   opening the folder. */
	if (mailbox_get_status(coi_blocklist_box(ctx), STATUS_UIDVALIDITY | STATUS_UIDNEXT |
			       STATUS_MESSAGES, &status) < 0) {
		errstr = mailbox_get_last_internal_error(ctx->box, &error);
		if (error == MAIL_ERROR_NOTFOUND) {
			if (ctx->file != NULL)
				buffer_free(&ctx->file);
			ctx->no_contacts = TRUE;
			return 0;
		}
		*error_r = t_strdup_printf("Cannot open %s: %s",
			mailbox_get_vname(ctx->box), errstr);
		return -1;
	}
	state = ctx->now;
	state.uidvalidity = status.uidvalidity;
	state.uidnext = status.uidnext;
	state.messages = status.messages;
	if (ctx->file != NULL &&
	    coi_blocklist_stamp_state_equals(&ctx->file_stamp, &state)) {
		if (state.log_ino != 0)
			coi_blocklist_file_restamp(ctx, &state);
		return 0;
	}
	if (ctx->file != NULL)
		buffer_free(&ctx->file);

	/* Reading the messages needs the folder open and synced; the index
	   is stamped with the state that was read. */
	if (mailbox_sync(ctx->box, 0) < 0) {
		*error_r = mailbox_get_last_internal_error(ctx->box, NULL);
		return -1;
	}
	mailbox_get_open_status(ctx->box, STATUS_UIDVALIDITY | STATUS_UIDNEXT |
				STATUS_MESSAGES, &status);
	state.uidvalidity = status.uidvalidity;
	state.uidnext = status.uidnext;
	state.messages = status.messages;
	if (coi_blocklist_scan(ctx->box, rebuilt_r, error_r) < 0)
		return -1;
	e_debug(ctx->user->event, "coi: Blocklist rebuilt from %u contact "
		"messages: %u blocked hashes", state.messages,
		array_count(rebuilt_r));
	if (ctx->path == NULL)
		return 0;

	data = str_new(default_pool, 128 + array_count(rebuilt_r) *
		       COI_BLOCKLIST_FILE_LINE_LEN);
	coi_blocklist_file_write_to(data, &state, rebuilt_r);
	if (coi_blocklist_file_write(ctx, data, &errstr) < 0) {
		e_error(ctx->user->event, "coi: Cannot write the blocklist "
			"index: %s", errstr);
		str_free(&data);
		return 0;
	}
	/* use what was written */
	ctx->file = data;
	ctx->file_offset = coi_blocklist_file_parse_header(data->data,
		data->used, &ctx->file_stamp, &ctx->file_count);
	i_assert(ctx->file_offset > 0);
	return 0;
}

static void coi_blocklist_ctx_deinit(struct coi_blocklist_ctx *ctx)
{
	if (ctx->file != NULL)
		buffer_free(&ctx->file);
	if (ctx->box != NULL)
		mailbox_free(&ctx->box);
}

/* The hashes of the addresses in the From headers of mail. */
static int coi_blocklist_mail_from_hashes(struct mail *mail,
				ARRAY_TYPE(coi_blocklist_hash) *hashes,
				const char **error_r)
{
	struct message_address *addr;
	struct coi_blocklist_hash hash;
	const char *const *from;
	unsigned int i;

	if (mail_get_headers(mail, "From", &from) < 0) {
		*error_r = t_strdup_printf("Cannot read From: %s",
			mailbox_get_last_internal_error(mail->box, NULL));
		return -1;
	}
	for (i = 0; from[i] != NULL; i++) {
		addr = message_address_parse(pool_datastack_create(),
			(const unsigned char *)from[i], strlen(from[i]),
			COI_BLOCKLIST_MAX_FROM_ADDRESSES, 0);
		for (; addr != NULL; addr = addr->next) {
			if (array_count(hashes) >=
			    COI_BLOCKLIST_MAX_FROM_ADDRESSES)
				return 0;
			if (addr->mailbox == NULL || addr->mailbox[0] == '\0')
				continue;
			coi_blocklist_address_hash(addr->domain == NULL ||
				addr->domain[0] == '\0' ? addr->mailbox :
				t_strconcat(addr->mailbox, "@",
					    addr->domain, NULL), &hash);
			array_push_back(hashes, &hash);
		}
	}
	return 0;
}

/* --- users who block nobody --- */

/* The Contacts folders (by transaction log path) whose blocklist was found
   empty, with the log as it was then: while the log is unchanged so is
   the folder (see coi_blocklist_refresh()), and a delivery to a user who
   blocks nobody, the common case, needs just the stat() of the log. */
#define COI_BLOCKLIST_EMPTY_CACHE_SIZE 8

struct coi_blocklist_empty {
	char *log_path;
	struct coi_blocklist_stamp log;
	unsigned int last_use;
};

static struct coi_blocklist_empty
	coi_blocklist_empty_cache[COI_BLOCKLIST_EMPTY_CACHE_SIZE];
static unsigned int coi_blocklist_empty_clock = 0;

static struct coi_blocklist_empty *
coi_blocklist_empty_find(const char *log_path)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_blocklist_empty_cache); i++) {
		if (coi_blocklist_empty_cache[i].log_path != NULL &&
		    strcmp(coi_blocklist_empty_cache[i].log_path,
			   log_path) == 0)
			return &coi_blocklist_empty_cache[i];
	}
	return NULL;
}

static bool coi_blocklist_empty_cached(const struct coi_blocklist_ctx *ctx)
{
	struct coi_blocklist_empty *empty;

	if (ctx->log_path == NULL ||
	    (empty = coi_blocklist_empty_find(ctx->log_path)) == NULL ||
	    !coi_blocklist_stamp_log_equals(&empty->log, &ctx->now))
		return FALSE;
	empty->last_use = ++coi_blocklist_empty_clock;
	return TRUE;
}

static void coi_blocklist_empty_update(const struct coi_blocklist_ctx *ctx,
				       bool is_empty)
{
	struct coi_blocklist_empty *empty, *oldest;
	unsigned int i;

	if (ctx->log_path == NULL)
		return;
	empty = coi_blocklist_empty_find(ctx->log_path);
	if (!is_empty || ctx->now.log_ino == 0) {
		if (empty != NULL) {
			i_free(empty->log_path);
			i_zero(empty);
		}
		return;
	}
	if (empty == NULL) {
		oldest = &coi_blocklist_empty_cache[0];
		for (i = 1; i < N_ELEMENTS(coi_blocklist_empty_cache); i++) {
			if (coi_blocklist_empty_cache[i].last_use <
			    oldest->last_use)
				oldest = &coi_blocklist_empty_cache[i];
		}
		empty = oldest;
		i_free(empty->log_path);
		empty->log_path = i_strdup(ctx->log_path);
	}
	empty->log = ctx->now;
	empty->last_use = ++coi_blocklist_empty_clock;
}

void coi_blocklist_cache_clear(void)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_blocklist_empty_cache); i++)
		i_free(coi_blocklist_empty_cache[i].log_path);
	memset(coi_blocklist_empty_cache, 0,
	       sizeof(coi_blocklist_empty_cache));
	coi_blocklist_empty_clock = 0;
}

static int
coi_blocklist_mail_is_blocked_real(struct mail_user *user, struct mail *mail,
				   const char **error_r)
{
	ARRAY_TYPE(coi_blocklist_hash) from_hashes, rebuilt;
	const struct coi_blocklist_hash *hash;
	struct coi_blocklist_ctx ctx;
	bool is_empty;
	int ret = 0;

	i_zero(&ctx);
	ctx.user = user;
	i_array_init(&rebuilt, 64);
	if (coi_blocklist_open(&ctx, error_r) < 0) {
		ret = -1;
		goto out;
	}
	if (coi_blocklist_empty_cached(&ctx))
		goto out;
	if (coi_blocklist_refresh(&ctx, &rebuilt, error_r) < 0) {
		ret = -1;
		goto out;
	}
	/* Most users block nobody: then the message is not even parsed
	   (hashing is the largest part of the cost). */
	is_empty = ctx.no_contacts ||
		(ctx.file != NULL ? ctx.file_count : array_count(&rebuilt)) == 0;
	coi_blocklist_empty_update(&ctx, is_empty);
	if (is_empty)
		goto out;

	t_array_init(&from_hashes, 4);
	if (coi_blocklist_mail_from_hashes(mail, &from_hashes, error_r) < 0) {
		ret = -1;
		goto out;
	}
	if (ctx.file != NULL) {
		array_foreach(&from_hashes, hash) {
			if (coi_blocklist_file_contains(
				CONST_PTR_OFFSET(ctx.file->data,
						 ctx.file_offset),
				ctx.file_count,
				coi_blocklist_hash_to_hex(hash))) {
				ret = 1;
				break;
			}
		}
	} else {
		array_foreach(&from_hashes, hash) {
			if (coi_blocklist_contains(&rebuilt, hash)) {
				ret = 1;
				break;
			}
		}
	}
out:
	array_free(&rebuilt);
	coi_blocklist_ctx_deinit(&ctx);
	return ret;
}

int coi_blocklist_mail_is_blocked(struct mail_user *user, struct mail *mail,
				  const char **error_r)
{
	int ret;

	if (coi_user_get_ready(user) == NULL)
		return 0;
	T_BEGIN {
		ret = coi_blocklist_mail_is_blocked_real(user, mail, error_r);
	} T_END_PASS_STR_IF(ret < 0, error_r);
	return ret;
}

enum coi_blocked_action coi_blocklist_action(struct mail_user *user)
{
	return coi_user_settings(user)->parsed_blocked_action;
}

const char *coi_blocklist_mailbox(struct mail_user *user)
{
	return coi_user_settings(user)->blocked_mailbox;
}

int coi_blocklist_mailbox_ensure(struct mail_user *user,
				 const char **error_r)
{
	struct coi_user *cuser = coi_user_get_ready(user);

	i_assert(cuser != NULL);
	return coi_mailbox_ensure(cuser, coi_blocklist_mailbox(user), TRUE,
				  error_r);
}
