/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* IDLE (and NOTIFY on the selected mailbox) without lib-storage's 500 ms
   wait. mailbox-watch.c reports a change of a watched file only
   NOTIFY_DELAY_MSECS after the file changed; for chat that is most of the
   time a message takes from the sender to the screen.

   After Dovecot has set up its watches (v.notify_changes), this adds an
   io_add_notify() of its own for the same files. Dovecot's ioloop keeps
   one inotify watch per file and gives each event to the io added last,
   so ours gets the events that used to start Dovecot's delay. The first
   change is reported at once; changes during the following window are
   reported together when it ends, and while changes keep coming the
   window grows fourfold each time up to Dovecot's 500 ms, so a burst of
   deliveries costs about as many syncs as without the plugin. When the
   events go to our io, Dovecot's io for the file is never called, and
   neither is its delayed report. Dovecot's periodic check
   (mailbox_idle_check_interval) stays as it is: the fallback for a
   missed event or a filesystem without inotify. Storages this does not
   know (anything but maildir, sdbox and mdbox) keep Dovecot's behaviour. */

#include "imap-common.h"
#include "ioloop.h"
#include "mail-storage-private.h"
#include "mail-index.h"
#include "coi-user.h"
#include "coi-settings.h"
#include "imap-coi-idle.h"

/* lib-storage's NOTIFY_DELAY_MSECS: a burst is never reported less often
   than Dovecot itself would */
#define IMAP_COI_IDLE_MAX_WINDOW_MSECS 500
/* how fast the window grows while changes keep coming: every report
   costs the session a sync, and a burst of 1,000 deliveries must not cost
   more than with Dovecot's fixed 500 ms (in tests/bench/bench_idle.py
   doubling cost 6% more imap CPU than vanilla, x4 about the same) */
#define IMAP_COI_IDLE_WINDOW_GROWTH 4
/* maildir watches new/ and cur/, dbox its index log */
#define IMAP_COI_IDLE_MAX_WATCHES 2

#define IMAP_COI_IDLE_CONTEXT(obj) \
	MODULE_CONTEXT(obj, imap_coi_idle_storage_module)

struct imap_coi_idle_mailbox {
	union mailbox_module_context module_ctx;
	/* category coi-idle: "log_debug = category=coi-idle" shows every
	   report made here; NULL until the mailbox is first watched */
	struct event *event;

	unsigned int base_window_msecs;
	struct io *ios[IMAP_COI_IDLE_MAX_WATCHES];
	/* running while changes are collected after a report */
	struct timeout *to_window;
	unsigned int window_msecs;
	bool changed_in_window;
	/* the watch was stopped while a window was open (NOTIFY stops it
	   for the command that reports a change): what changed after the
	   report was not seen */
	bool unwatched_in_window;
};

static MODULE_CONTEXT_DEFINE_INIT(imap_coi_idle_storage_module,
				  &mail_storage_module_register);

static struct event_category event_category_coi_idle = {
	.name = "coi-idle",
};

static void imap_coi_idle_report(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	e_debug(ibox->event, "Reporting a mailbox change at once");
	/* Dovecot's own delayed report of the same change would only repeat
	   this one */
	timeout_remove(&box->to_notify_delay);
	/* may stop the watching, or free the mailbox with its client: nothing
	   of box may be used after this */
	box->notify_callback(box, box->notify_context);
}

static void imap_coi_idle_window_end(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	timeout_remove(&ibox->to_window);
	if (!ibox->changed_in_window) {
		/* quiet: the next change is reported at once again */
		return;
	}
	ibox->changed_in_window = FALSE;
	ibox->window_msecs = I_MIN(I_MAX(ibox->window_msecs, 1U) *
				   IMAP_COI_IDLE_WINDOW_GROWTH,
				   IMAP_COI_IDLE_MAX_WINDOW_MSECS);
	ibox->to_window = timeout_add_short(ibox->window_msecs,
					    imap_coi_idle_window_end, box);
	imap_coi_idle_report(box);
}

static void imap_coi_idle_changed(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	if (ibox->to_window != NULL) {
		ibox->changed_in_window = TRUE;
		return;
	}
	ibox->window_msecs = ibox->base_window_msecs;
	ibox->to_window = timeout_add_short(ibox->window_msecs,
					    imap_coi_idle_window_end, box);
	imap_coi_idle_report(box);
}

static void imap_coi_idle_unwatch(struct imap_coi_idle_mailbox *ibox)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(ibox->ios); i++)
		io_remove(&ibox->ios[i]);
	timeout_remove(&ibox->to_window);
	ibox->changed_in_window = FALSE;
}

/* The files mailbox-watch.c watches for this storage (the notify_changes
   of maildir-storage.c and dbox-storage.c); 0 for other storages. */
static unsigned int
imap_coi_idle_watched_paths(struct mailbox *box,
			    const char *paths_r[IMAP_COI_IDLE_MAX_WATCHES])
{
	const char *name = box->storage->name, *dir;

	if (strcmp(name, "maildir") == 0) {
		dir = mailbox_get_path(box);
		paths_r[0] = t_strconcat(dir, "/new", NULL);
		paths_r[1] = t_strconcat(dir, "/cur", NULL);
		return 2;
	}
	if (strcmp(name, "sdbox") == 0 || strcmp(name, "mdbox") == 0) {
		if (mailbox_get_path_to(box, MAILBOX_LIST_PATH_TYPE_INDEX,
					&dir) <= 0)
			return 0;
		paths_r[0] = t_strconcat(dir, "/"MAIL_INDEX_PREFIX".log",
					 NULL);
		return 1;
	}
	return 0;
}

static void imap_coi_idle_watch(struct mailbox *box,
				struct imap_coi_idle_mailbox *ibox)
{
	const char *paths[IMAP_COI_IDLE_MAX_WATCHES];
	unsigned int i, count;

	/* created here, not when the mailbox is allocated: sessions that
	   never IDLE pay nothing */
	if (ibox->event == NULL) {
		ibox->event = event_create(box->event);
		event_add_category(ibox->event, &event_category_coi_idle);
		event_set_append_log_prefix(ibox->event, "coi: ");
	}
	count = imap_coi_idle_watched_paths(box, paths);
	for (i = 0; i < count; i++) {
		/* NOTFOUND or NOSUPPORT: Dovecot could not watch it either,
		   and its periodic check is all there is */
		(void)io_add_notify(paths[i], imap_coi_idle_changed, box,
				    &ibox->ios[i]);
	}
}

static void imap_coi_idle_notify_changes(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	if (ibox->to_window != NULL)
		ibox->unwatched_in_window = TRUE;
	/* Dovecot's watches first, so that ours are the last ones added */
	ibox->module_ctx.super.notify_changes(box);
	imap_coi_idle_unwatch(ibox);
	if (box->notify_callback == NULL)
		return;
	imap_coi_idle_watch(box, ibox);
	if (ibox->unwatched_in_window) {
		/* A report at the first change comes before the rest of a
		   delivery (Dovecot's own report waits 500 ms for it): when
		   the watch was stopped right after it, report once more,
		   from the ioloop rather than inside this call. */
		ibox->unwatched_in_window = FALSE;
		ibox->changed_in_window = TRUE;
		ibox->window_msecs = ibox->base_window_msecs;
		ibox->to_window = timeout_add_short(0,
			imap_coi_idle_window_end, box);
	}
}

static void imap_coi_idle_close(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	imap_coi_idle_unwatch(ibox);
	ibox->unwatched_in_window = FALSE;
	ibox->module_ctx.super.close(box);
}

static void imap_coi_idle_free(struct mailbox *box)
{
	struct imap_coi_idle_mailbox *ibox = IMAP_COI_IDLE_CONTEXT(box);

	event_unref(&ibox->event);
	ibox->module_ctx.super.free(box);
}

static void imap_coi_idle_mailbox_allocated(struct mailbox *box)
{
	struct mail_user *user = box->storage->user;
	struct mailbox_vfuncs *v = box->vlast;
	struct imap_coi_idle_mailbox *ibox;
	const struct coi_settings *set;

	/* users whose COI settings could not be read get plain Dovecot */
	if (!coi_user_has_plugin(user))
		return;
	set = coi_user_settings(user);
	if (!set->idle_fast_notify)
		return;

	ibox = p_new(box->pool, struct imap_coi_idle_mailbox, 1);
	ibox->module_ctx.super = *v;
	box->vlast = &ibox->module_ctx.super;
	v->notify_changes = imap_coi_idle_notify_changes;
	v->close = imap_coi_idle_close;
	v->free = imap_coi_idle_free;
	ibox->base_window_msecs = set->idle_notify_coalesce_msecs;
	MODULE_CONTEXT_SET(box, imap_coi_idle_storage_module, ibox);
}

static struct mail_storage_hooks imap_coi_idle_storage_hooks = {
	.mailbox_allocated = imap_coi_idle_mailbox_allocated,
};

void imap_coi_idle_init(struct module *module)
{
	mail_storage_hooks_add(module, &imap_coi_idle_storage_hooks);
}

void imap_coi_idle_deinit(void)
{
	mail_storage_hooks_remove(&imap_coi_idle_storage_hooks);
}
