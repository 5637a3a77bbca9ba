#ifndef COI_CHATS_LOCK_H
#define COI_CHATS_LOCK_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Deliveries into <root>/Chats and the deletion or move of that folder
   exclude each other: a delivery holds a shared lock from before it opens
   Chats until it closes it, DELETE and RENAME of Chats an exclusive one.
   Without it a chat saved while a client deletes Chats fails in the
   middle of the save (Dovecot's sdbox even panics reading the saved mail
   back). With it a delivery either finishes before the folder goes, or
   finds it gone and creates it anew. One lock file per user in the home
   directory, flock() so that each open folder's lock is its own. */

struct mail_user;
struct file_lock;

#define COI_CHATS_LOCK_FNAME ".coi-chats.lock"
/* A delivery or a DELETE waits this long for the other. */
#define COI_CHATS_LOCK_TIMEOUT_SECS 10

/* Returns 0 with the lock, -1 with an error (also when timed out). */
int coi_chats_lock(struct mail_user *user, bool exclusive,
		   struct file_lock **lock_r, const char **error_r);

#endif
