/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "hash.h"
#include "llist.h"
#include "str.h"
#include "ioloop.h"
#include "hostpid.h"
#include "write-full.h"
#include "safe-mkdir.h"
#include "coi-push-job.h"
#include "coi-push-sender.h"
#include "coi-push-spool.h"
#include "coi-webpush-crypto.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#define COI_PUSH_SPOOL_JOBS_DIR "jobs"
/* Spool files that do not parse are moved here, for the administrator. */
#define COI_PUSH_SPOOL_BROKEN_DIR "broken"
/* No job waits longer than this for its next attempt, whatever its file
   says: a retry is due within this anyway. */
#define COI_PUSH_SPOOL_MAX_WAIT_SECS (24 * 60 * 60)
#define COI_PUSH_SPOOL_TMP_PREFIX "tmp."
/* A gone file is only a hint for the mail processes: when it grows past
   this it starts over, and the notifier will answer 410 again. */
#define COI_PUSH_GONE_FILE_MAX 32768
/* Gone records older than this are of no use any more: the tokens they
   name have expired by then. */
#define COI_PUSH_GONE_KEEP_SECS (100 * 24 * 60 * 60)

struct coi_push_spool_job {
	struct coi_push_spool_job *prev, *next;
	pool_t pool;
	char *file_name;
	struct coi_push_job job;
	struct timeout *to;
	struct coi_push_dedupe *dedupe;
	bool sending;
};

/* Per dedupe key: when it was last sent, and the one job that waits to be
   sent for it (later jobs with the key are covered by that one). */
struct coi_push_dedupe {
	char *key;
	time_t last_sent;
	struct coi_push_spool_job *waiting;
	unsigned int refcount;
};

struct coi_push_spool {
	struct coi_push_spool_settings set;
	pool_t pool;
	struct event *event;
	const char *jobs_dir, *gone_dir, *broken_dir;
	/* FALSE if the spool directory cannot be used: jobs are then kept
	   in memory only (sent, but lost on restart). */
	bool persistent;
	unsigned int file_counter;

	struct coi_push_spool_job *jobs;
	unsigned int job_count;
	HASH_TABLE(char *, struct coi_push_dedupe *) dedupes;
	struct timeout *to_dedupe_expire;
};

static struct coi_push_spool *spool;

static void coi_push_spool_job_send(struct coi_push_spool_job *sjob);

static void coi_push_dedupe_unref(struct coi_push_dedupe **_dedupe)
{
	struct coi_push_dedupe *dedupe = *_dedupe;

	*_dedupe = NULL;
	i_assert(dedupe->refcount > 0);
	/* kept while it still limits the next send: coi_push_dedupe_expire() */
	dedupe->refcount--;
}

static void coi_push_dedupe_expire(void *context ATTR_UNUSED)
{
	struct hash_iterate_context *iter;
	struct coi_push_dedupe *dedupe;
	ARRAY(struct coi_push_dedupe *) expired;
	char *key;

	t_array_init(&expired, 16);
	iter = hash_table_iterate_init(spool->dedupes);
	while (hash_table_iterate(iter, spool->dedupes, &key, &dedupe)) {
		if (dedupe->refcount == 0 && dedupe->last_sent +
		    (time_t)spool->set.dedupe_interval_secs < ioloop_time)
			array_push_back(&expired, &dedupe);
	}
	hash_table_iterate_deinit(&iter);
	array_foreach_elem(&expired, dedupe) {
		hash_table_remove(spool->dedupes, dedupe->key);
		i_free(dedupe->key);
		i_free(dedupe);
	}
}

static struct coi_push_dedupe *coi_push_dedupe_get(const char *key)
{
	struct coi_push_dedupe *dedupe;

	dedupe = hash_table_lookup(spool->dedupes, key);
	if (dedupe == NULL) {
		dedupe = i_new(struct coi_push_dedupe, 1);
		dedupe->key = i_strdup(key);
		hash_table_insert(spool->dedupes, dedupe->key, dedupe);
	}
	dedupe->refcount++;
	return dedupe;
}

static void coi_push_spool_job_free(struct coi_push_spool_job **_sjob)
{
	struct coi_push_spool_job *sjob = *_sjob;

	*_sjob = NULL;
	timeout_remove(&sjob->to);
	DLLIST_REMOVE(&spool->jobs, sjob);
	spool->job_count--;
	if (sjob->dedupe != NULL) {
		if (sjob->dedupe->waiting == sjob)
			sjob->dedupe->waiting = NULL;
		coi_push_dedupe_unref(&sjob->dedupe);
	}
	i_free(sjob->file_name);
	pool_unref(&sjob->pool);
}

static void coi_push_spool_job_unlink(struct coi_push_spool_job *sjob)
{
	const char *path;

	if (!spool->persistent || sjob->file_name == NULL)
		return;
	path = t_strdup_printf("%s/%s", spool->jobs_dir, sjob->file_name);
	if (unlink(path) < 0 && errno != ENOENT)
		e_error(spool->event, "unlink(%s) failed: %m", path);
}

static void coi_push_spool_job_done(struct coi_push_spool_job *sjob)
{
	coi_push_spool_job_unlink(sjob);
	coi_push_spool_job_free(&sjob);
}

/* Writes the job's file (tmp + rename: a crash leaves the old version or
   the new one, never half of one). */
static int coi_push_spool_job_write(struct coi_push_spool_job *sjob)
{
	const char *tmp_path, *path, *line;
	int fd, ret = 0;

	if (!spool->persistent || sjob->job.memory_only)
		return 0;
	if (sjob->file_name == NULL) {
		sjob->file_name = i_strdup_printf("%lld.%s.%u",
			(long long)ioloop_time, my_pid, ++spool->file_counter);
	}
	path = t_strdup_printf("%s/%s", spool->jobs_dir, sjob->file_name);
	tmp_path = t_strdup_printf("%s/"COI_PUSH_SPOOL_TMP_PREFIX"%s",
				   spool->jobs_dir, sjob->file_name);
	line = t_strconcat(coi_push_job_to_line(&sjob->job), "\n", NULL);
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1) {
		e_error(spool->event, "open(%s) failed: %m", tmp_path);
		return -1;
	}
	if (write_full(fd, line, strlen(line)) < 0) {
		e_error(spool->event, "write(%s) failed: %m", tmp_path);
		ret = -1;
	}
	if (close(fd) < 0 && ret == 0) {
		e_error(spool->event, "close(%s) failed: %m", tmp_path);
		ret = -1;
	}
	if (ret == 0 && rename(tmp_path, path) < 0) {
		e_error(spool->event, "rename(%s, %s) failed: %m",
			tmp_path, path);
		ret = -1;
	}
	if (ret < 0)
		i_unlink_if_exists(tmp_path);
	return ret;
}

static void coi_push_spool_job_schedule(struct coi_push_spool_job *sjob)
{
	time_t when = sjob->job.next_attempt;
	unsigned int wait_secs;

	/* retries keep their own delays; a new job waits for the interval
	   since the last send for its key */
	if (sjob->dedupe != NULL && sjob->job.attempts == 0) {
		when = I_MAX(when, sjob->dedupe->last_sent +
			     (time_t)spool->set.dedupe_interval_secs);
	}
	wait_secs = when <= ioloop_time ? 0 :
		I_MIN(when - ioloop_time, COI_PUSH_SPOOL_MAX_WAIT_SECS);
	timeout_remove(&sjob->to);
	sjob->to = timeout_add(wait_secs * 1000, coi_push_spool_job_send, sjob);
}

static void coi_push_spool_gone_record(const struct coi_push_job *job)
{
	const char *path, *line;
	struct stat st;
	int fd;

	if (!spool->persistent) {
		e_warning(spool->event, "%s: %s reported gone, but without a "
			  "spool it cannot be recorded", job->username,
			  job->gone_key);
		return;
	}
	path = t_strdup_printf("%s/%s", spool->gone_dir,
			       coi_push_gone_file_name(job->username));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd == -1) {
		e_error(spool->event, "open(%s) failed: %m", path);
		return;
	}
	/* readable by the mail processes, whatever the umask */
	if (fchmod(fd, 0644) < 0)
		e_error(spool->event, "fchmod(%s) failed: %m", path);
	if (fstat(fd, &st) == 0 && st.st_size > COI_PUSH_GONE_FILE_MAX &&
	    ftruncate(fd, 0) < 0)
		e_error(spool->event, "ftruncate(%s) failed: %m", path);
	line = t_strdup_printf("%s\t%lld\n", job->gone_key,
			       (long long)ioloop_time);
	if (write_full(fd, line, strlen(line)) < 0)
		e_error(spool->event, "write(%s) failed: %m", path);
	i_close_fd(&fd);
}

static void
coi_push_spool_job_retry(struct coi_push_spool_job *sjob, const char *reason)
{
	unsigned int count, delay;
	const unsigned int *delays;

	delays = array_get(&spool->set.retry_delays_secs, &count);
	/* attempts is at least 1 here: coi_push_spool_job_send() counted
	   this one, and a loaded job has at most COI_PUSH_JOB_ATTEMPTS_MAX */
	i_assert(sjob->job.attempts > 0);
	if (sjob->job.attempts > count) {
		e_warning(spool->event, "%s: %s push to %s dropped after %u "
			  "attempts: %s", sjob->job.username,
			  sjob->job.protocol, sjob->job.url,
			  sjob->job.attempts, reason);
		coi_push_spool_job_done(sjob);
		return;
	}
	if (sjob->dedupe != NULL) {
		if (sjob->dedupe->waiting != NULL) {
			/* a newer job for the same key waits already and
			   covers this one */
			e_debug(spool->event, "%s: %s: %s - a newer push "
				"follows", sjob->job.username,
				sjob->job.dedupe_key, reason);
			coi_push_spool_job_done(sjob);
			return;
		}
		sjob->dedupe->waiting = sjob;
	}
	delay = delays[sjob->job.attempts - 1];
	sjob->job.next_attempt = ioloop_time + delay;
	e_info(spool->event, "%s: %s push attempt %u failed: %s - retrying "
	       "in %u s", sjob->job.username, sjob->job.protocol,
	       sjob->job.attempts, reason, delay);
	(void)coi_push_spool_job_write(sjob);
	coi_push_spool_job_schedule(sjob);
}

static void
coi_push_spool_job_callback(enum coi_push_result result, unsigned int status,
			    const char *reason,
			    struct coi_push_spool_job *sjob)
{
	sjob->sending = FALSE;
	switch (result) {
	case COI_PUSH_RESULT_DELIVERED:
		e_debug(spool->event, "%s: %s push delivered: %s",
			sjob->job.username, sjob->job.protocol, reason);
		coi_push_spool_job_done(sjob);
		return;
	case COI_PUSH_RESULT_GONE:
		if ((status == 410 ||
		     (status == 404 && sjob->job.gone_on_404)) &&
		    sjob->job.gone_key != NULL) {
			e_info(spool->event, "%s: %s push: %s - the endpoint "
			       "%s is gone", sjob->job.username,
			       sjob->job.protocol, reason, sjob->job.gone_key);
			coi_push_spool_gone_record(&sjob->job);
			coi_push_spool_job_done(sjob);
			return;
		}
		/* 404 from a notifier URL is more likely a configuration
		   error than a gone token: retried like other failures */
		coi_push_spool_job_retry(sjob, reason);
		return;
	case COI_PUSH_RESULT_FAILED:
		if (sjob->job.send_attempts > 0) {
			/* the sender has retried already */
			break;
		}
		coi_push_spool_job_retry(sjob, reason);
		return;
	case COI_PUSH_RESULT_TOO_LARGE:
		if (sjob->job.fallback_body != NULL) {
			e_debug(spool->event, "%s: %s push: %s - sending the "
				"smaller version", sjob->job.username,
				sjob->job.protocol, reason);
			sjob->job.body = sjob->job.fallback_body;
			sjob->job.body_size = sjob->job.fallback_body_size;
			sjob->job.fallback_body = NULL;
			sjob->job.fallback_body_size = 0;
			(void)coi_push_spool_job_write(sjob);
			coi_push_spool_job_send(sjob);
			return;
		}
		break;
	case COI_PUSH_RESULT_REJECTED:
		break;
	}
	e_warning(spool->event, "%s: %s push to %s dropped: %s",
		  sjob->job.username, sjob->job.protocol, sjob->job.url,
		  reason);
	coi_push_spool_job_done(sjob);
}

/* WebPush jobs carry the plaintext: every attempt is encrypted anew
   (RFC 8291: a new key pair and salt per message) for the subscription's
   keys. The mail process made everything else, the VAPID Authorization
   header included: the service never needs the VAPID private key. */
static int
coi_push_spool_job_encrypt(const struct coi_push_job *job,
			   struct coi_push_request_params *params,
			   const char **error_r)
{
	buffer_t *ua_public, *auth, *body;

	if (job->encrypt_p256dh == NULL)
		return 0;
	ua_public = t_buffer_create(COI_WEBPUSH_P256_POINT_SIZE);
	auth = t_buffer_create(COI_WEBPUSH_AUTH_SIZE);
	body = t_buffer_create(job->body_size + COI_WEBPUSH_HEADER_SIZE +
			       COI_WEBPUSH_TAG_SIZE + 1);
	if (coi_webpush_p256dh_decode(job->encrypt_p256dh, ua_public,
				      error_r) < 0 ||
	    coi_webpush_auth_parse(job->encrypt_auth, auth, error_r) < 0 ||
	    coi_webpush_encrypt(ua_public->data, auth->data, job->body,
				job->body_size, body, error_r) < 0)
		return -1;
	params->body = body->data;
	params->body_size = body->used;
	return 0;
}

static void coi_push_spool_job_send(struct coi_push_spool_job *sjob)
{
	struct coi_push_request_params params;
	const char *error;

	timeout_remove(&sjob->to);
	if (sjob->dedupe != NULL) {
		if (sjob->dedupe->waiting == sjob)
			sjob->dedupe->waiting = NULL;
		sjob->dedupe->last_sent = ioloop_time;
	}
	sjob->job.attempts++;
	i_zero(&params);
	params.url = sjob->job.url;
	params.headers = coi_push_job_http_headers(&sjob->job);
	params.body = sjob->job.body;
	params.body_size = sjob->job.body_size;
	params.username = sjob->job.username;
	params.log_label = t_strdup_printf("%s push", sjob->job.protocol);
	params.max_attempts = I_MAX(sjob->job.send_attempts, 1);
	params.rate = sjob->job.rate;
	if (coi_push_spool_job_encrypt(&sjob->job, &params, &error) < 0 ||
	    coi_push_send(&params, coi_push_spool_job_callback, sjob,
			  &error) < 0) {
		e_warning(spool->event, "%s: %s push to %s dropped: %s",
			  sjob->job.username, sjob->job.protocol,
			  sjob->job.url, error);
		coi_push_spool_job_done(sjob);
		return;
	}
	sjob->sending = TRUE;
}

/* Adds a job to the queue; loaded is TRUE for jobs read from the spool
   at startup (already written). */
static void
coi_push_spool_add_job(const struct coi_push_job *job, const char *file_name)
{
	struct coi_push_spool_job *sjob;
	struct coi_push_dedupe *dedupe = NULL;
	pool_t pool;

	if (job->dedupe_key != NULL) {
		dedupe = hash_table_lookup(spool->dedupes, job->dedupe_key);
		if (dedupe != NULL && dedupe->waiting != NULL) {
			/* the waiting job notifies for this one too */
			e_debug(spool->event, "%s: %s push for %s coalesced "
				"with one that waits", job->username,
				job->protocol, job->dedupe_key);
			if (file_name != NULL) {
				i_unlink_if_exists(t_strdup_printf("%s/%s",
					spool->jobs_dir, file_name));
			}
			return;
		}
	}
	if (file_name == NULL && spool->job_count >= spool->set.max_jobs) {
		e_warning(spool->event, "%s: %s push dropped: %u pushes are "
			  "pending already (coi_push_spool_max_jobs)",
			  job->username, job->protocol, spool->job_count);
		return;
	}

	pool = pool_alloconly_create("coi push spool job",
				     1024 + (job->body_size +
					     job->fallback_body_size) * 2);
	sjob = p_new(pool, struct coi_push_spool_job, 1);
	sjob->pool = pool;
	sjob->job = *job;
	sjob->job.protocol = p_strdup(pool, job->protocol);
	sjob->job.username = p_strdup(pool, job->username);
	sjob->job.url = p_strdup(pool, job->url);
	sjob->job.body = p_memdup(pool, job->body, job->body_size);
	sjob->job.dedupe_key = p_strdup(pool, job->dedupe_key);
	sjob->job.gone_key = p_strdup(pool, job->gone_key);
	if (job->fallback_body != NULL) {
		sjob->job.fallback_body = p_memdup(pool, job->fallback_body,
						   job->fallback_body_size);
	}
	sjob->job.encrypt_p256dh = p_strdup(pool, job->encrypt_p256dh);
	sjob->job.encrypt_auth = p_strdup(pool, job->encrypt_auth);
	sjob->job.urgency = p_strdup(pool, job->urgency);
	sjob->job.vapid_authorization =
		p_strdup(pool, job->vapid_authorization);
	sjob->file_name = i_strdup(file_name);
	DLLIST_PREPEND(&spool->jobs, sjob);
	spool->job_count++;
	if (job->dedupe_key != NULL) {
		sjob->dedupe = coi_push_dedupe_get(job->dedupe_key);
		sjob->dedupe->waiting = sjob;
	}
	if (file_name == NULL && coi_push_spool_job_write(sjob) < 0) {
		/* still sent, only not kept over a restart */
		i_free_and_null(sjob->file_name);
	}
	coi_push_spool_job_schedule(sjob);
}

void coi_push_spool_add(const struct coi_push_job *job)
{
	struct coi_push_job copy = *job;

	copy.created = ioloop_time;
	copy.attempts = 0;
	copy.next_attempt = 0;
	T_BEGIN {
		coi_push_spool_add_job(&copy, NULL);
	} T_END;
}

static int coi_push_spool_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		e_error(spool->event, "mkdir(%s) failed: %m - pending pushes "
			"will not survive a restart (create the spool owned "
			"by the service's user: install -d -o dovecot "
			"-g dovecot -m 0711 %s)", path, spool->set.dir);
		return -1;
	}
	/* the mail processes read gone records: the spool must be
	   searchable, its listing and the jobs are the service's own */
	if (chmod(path, mode) < 0) {
		e_error(spool->event, "chmod(%s) failed: %m - pending pushes "
			"will not survive a restart", path);
		return -1;
	}
	return 0;
}

/* A file that does not parse is never retried (it would fail, or worse,
   at every start): it goes where the administrator can look at it. */
static void coi_push_spool_move_aside(const char *name, const char *error)
{
	const char *path = t_strdup_printf("%s/%s", spool->jobs_dir, name);
	const char *broken_path = t_strdup_printf("%s/%s", spool->broken_dir,
						  name);

	if (coi_push_spool_mkdir(spool->broken_dir, 0700) < 0) {
		i_unlink_if_exists(path);
		e_error(spool->event, "Removed broken spool file %s: %s",
			path, error);
	} else if (rename(path, broken_path) < 0) {
		e_error(spool->event, "rename(%s, %s) failed: %m - removing "
			"broken spool file %s: %s", path, broken_path, path,
			error);
		i_unlink_if_exists(path);
	} else {
		e_error(spool->event, "Broken spool file %s moved to %s: %s",
			path, broken_path, error);
	}
}

static void coi_push_spool_load_file(const char *name)
{
	const char *path = t_strdup_printf("%s/%s", spool->jobs_dir, name);
	struct coi_push_job job;
	const char *error;
	char buf[COI_PUSH_JOB_LINE_MAX + 2];
	ssize_t ret;
	int fd;

	if (str_begins_with(name, COI_PUSH_SPOOL_TMP_PREFIX)) {
		i_unlink_if_exists(path);
		return;
	}
	fd = open(path, O_RDONLY);
	if (fd == -1) {
		e_error(spool->event, "open(%s) failed: %m", path);
		return;
	}
	ret = read(fd, buf, sizeof(buf));
	i_close_fd(&fd);
	if (ret < 0) {
		e_error(spool->event, "read(%s) failed: %m", path);
		return;
	}
	if (coi_push_job_parse_file(pool_datastack_create(),
				    (const unsigned char *)buf, ret, &job,
				    &error) == 0) {
		coi_push_spool_add_job(&job, name);
		return;
	}
	coi_push_spool_move_aside(name, error);
}

static void coi_push_spool_load(void)
{
	DIR *dir;
	struct dirent *d;
	unsigned int count = spool->job_count;

	dir = opendir(spool->jobs_dir);
	if (dir == NULL) {
		e_error(spool->event, "opendir(%s) failed: %m",
			spool->jobs_dir);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		T_BEGIN {
			coi_push_spool_load_file(d->d_name);
		} T_END;
	}
	if (closedir(dir) < 0)
		e_error(spool->event, "closedir(%s) failed: %m",
			spool->jobs_dir);
	if (spool->job_count > count) {
		e_info(spool->event, "%u pending pushes loaded from %s",
		       spool->job_count - count, spool->jobs_dir);
	}
}

static void coi_push_spool_gone_cleanup(void)
{
	DIR *dir;
	struct dirent *d;
	struct stat st;
	const char *path;

	dir = opendir(spool->gone_dir);
	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		path = t_strdup_printf("%s/%s", spool->gone_dir, d->d_name);
		if (stat(path, &st) == 0 &&
		    st.st_mtime + COI_PUSH_GONE_KEEP_SECS < ioloop_time)
			i_unlink_if_exists(path);
	}
	(void)closedir(dir);
}

void coi_push_spool_init(const struct coi_push_spool_settings *set)
{
	pool_t pool;

	pool = pool_alloconly_create("coi push spool", 1024);
	spool = p_new(pool, struct coi_push_spool, 1);
	spool->pool = pool;
	spool->set = *set;
	spool->set.dir = p_strdup(pool, set->dir);
	spool->event = event_create(NULL);
	event_set_append_log_prefix(spool->event, "coi-push: ");
	event_set_forced_debug(spool->event, set->debug);
	spool->jobs_dir = p_strconcat(pool, set->dir,
				      "/"COI_PUSH_SPOOL_JOBS_DIR, NULL);
	spool->gone_dir = p_strconcat(pool, set->dir,
				      "/"COI_PUSH_SPOOL_GONE_DIR, NULL);
	spool->broken_dir = p_strconcat(pool, set->dir,
					"/"COI_PUSH_SPOOL_BROKEN_DIR, NULL);
	hash_table_create(&spool->dedupes, default_pool, 0, str_hash, strcmp);
	spool->to_dedupe_expire = timeout_add(60 * 1000,
					      coi_push_dedupe_expire, NULL);

	spool->persistent =
		coi_push_spool_mkdir(spool->set.dir, 0711) == 0 &&
		coi_push_spool_mkdir(spool->jobs_dir, 0700) == 0 &&
		coi_push_spool_mkdir(spool->gone_dir, 0711) == 0;
	if (spool->persistent) {
		coi_push_spool_load();
		coi_push_spool_gone_cleanup();
	}
}

void coi_push_spool_deinit(void)
{
	struct hash_iterate_context *iter;
	struct coi_push_dedupe *dedupe;
	char *key;

	/* Unsent jobs stay in the spool for the next start. */
	while (spool->jobs != NULL) {
		struct coi_push_spool_job *sjob = spool->jobs;
		coi_push_spool_job_free(&sjob);
	}
	iter = hash_table_iterate_init(spool->dedupes);
	while (hash_table_iterate(iter, spool->dedupes, &key, &dedupe)) {
		i_free(dedupe->key);
		i_free(dedupe);
	}
	hash_table_iterate_deinit(&iter);
	hash_table_destroy(&spool->dedupes);
	timeout_remove(&spool->to_dedupe_expire);
	event_unref(&spool->event);
	pool_unref(&spool->pool);
}
