/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* coi-push: the long-lived Dovecot service that sends push notifications
   for the mail processes. Delivery processes write jobs to its socket
   (coi-push-job.h) and go on at once; the service keeps each job in its
   spool until the push service answered, retrying over hours and across
   restarts, which no LMTP process lives long enough to do. */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "str.h"
#include "ioloop.h"
#include "connection.h"
#include "settings-parser.h"
#include "restrict-access.h"
#include "master-service.h"
#include "master-service-settings.h"
#if COI_DOVECOT_24
#  include "settings.h"
#else
#  include "master-service-ssl-settings.h"
#  include "iostream-ssl.h"
#  include "mail-user.h"
#  include "mail-storage-service.h"
#endif
#include "coi-push-job.h"
#include "coi-settings.h"
#include "coi-push-sender.h"
#include "coi-push-spool.h"
#include "coi-webpush-crypto.h"

#define COI_PUSH_SERVICE_EXIT_WAIT_MSECS 2000

static struct connection_list *coi_push_clients;

static int coi_push_client_input_line(struct connection *conn,
				      const char *line)
{
	struct coi_push_job job;
	const char *error;

	if (coi_push_job_parse(pool_datastack_create(), line, &job,
			       &error) < 0) {
		e_error(conn->event, "Invalid job: %s", error);
		return -1;
	}
	coi_push_spool_add(&job);
	return 1;
}

static void coi_push_client_destroy(struct connection *conn)
{
	connection_deinit(conn);
	i_free(conn);
	master_service_client_connection_destroyed(master_service);
}

static const struct connection_settings coi_push_client_set = {
	.input_max_size = COI_PUSH_JOB_LINE_MAX + 2,
	.output_max_size = 1024,
	.client = FALSE,
};

static const struct connection_vfuncs coi_push_client_vfuncs = {
	.destroy = coi_push_client_destroy,
	.input_line = coi_push_client_input_line,
};

static void client_connected(struct master_service_connection *conn)
{
	struct connection *client = i_new(struct connection, 1);

	master_service_client_connection_accept(conn);
	connection_init_server(coi_push_clients, client, conn->name,
			       conn->fd, conn->fd);
}

/* Where the settings come from, the one part that differs between the
   versions. Also fills what the sender needs of the service's own
   settings (base_dir, SSL, the event its settings are looked up by). */
#if COI_DOVECOT_24
static const struct coi_settings *coi_push_settings;

/* 2.4: the config process knows the COI settings (coi_*, global or in
   service coi-push {}); invalid values fail as doveconf does. */
static const struct coi_settings *
coi_push_settings_get(struct coi_push_sender_config *sender_set)
{
	struct event *event = master_service_get_event(master_service);
	const char *error;

	if (settings_get(event, &coi_setting_parser_info, 0,
			 &coi_push_settings, &error) < 0)
		i_fatal("%s", error);
	sender_set->base_dir =
		master_service_get_service_settings(master_service)->base_dir;
	/* lib-http reads the ssl_client_* settings through this */
	sender_set->event_parent = event;
	return coi_push_settings;
}

static void coi_push_settings_free(void)
{
	settings_free(coi_push_settings);
}
#else
static struct mail_storage_service_ctx *storage_service;
static pool_t coi_push_settings_pool;
static struct ssl_iostream_settings coi_push_ssl_set;

static const char *
coi_push_setting_lookup(const char *key,
			const struct mail_user_settings *user_set)
{
	return mail_user_set_plugin_getenv(user_set, key);
}

/* 2.3: the service's settings are the plugin {} settings every mail
   process sees, read by the same code (coi-settings.c) with the same
   rule: an invalid value is logged and that setting keeps its default. */
static const struct coi_settings *
coi_push_settings_get(struct coi_push_sender_config *sender_set)
{
	static const struct setting_parser_info *set_roots[] = { NULL };
	struct mail_storage_service_input input;
	const struct setting_parser_info *user_info;
	const struct setting_parser_context *set_parser;
	const struct mail_user_settings *user_set;
	const struct coi_settings *set;
	const char *error, *const *errors;
	pool_t pool;

	pool = coi_push_settings_pool =
		pool_alloconly_create("coi-push settings", 1024);
	storage_service = mail_storage_service_init(master_service, set_roots,
		MAIL_STORAGE_SERVICE_FLAG_NO_CHDIR |
		MAIL_STORAGE_SERVICE_FLAG_NO_RESTRICT_ACCESS);

	i_zero(&input);
	input.service = "coi-push";
	input.module = "mail";
	input.username = "";
	if (mail_storage_service_read_settings(storage_service, &input, pool,
					       &user_info, &set_parser,
					       &error) < 0)
		i_fatal("%s", error);
	user_set = master_service_settings_parser_get_others(master_service,
							     set_parser)[0];
	coi_settings_read(pool, coi_push_setting_lookup, user_set,
			  &set, &errors);
	for (; errors != NULL && *errors != NULL; errors++)
		i_error("%s", *errors);

	sender_set->base_dir = p_strdup(pool,
		master_service_settings_get(master_service)->base_dir);
	master_service_ssl_client_settings_to_iostream_set(
		master_service_ssl_settings_get(master_service),
		pool, &coi_push_ssl_set);
	sender_set->ssl_set = &coi_push_ssl_set;
	return set;
}

static void coi_push_settings_free(void)
{
	mail_storage_service_deinit(&storage_service);
	pool_unref(&coi_push_settings_pool);
}
#endif

static void
coi_push_settings_read(struct coi_push_spool_settings *spool_set,
		       struct coi_push_sender_config *sender_set)
{
	const struct coi_settings *set;

	i_zero(sender_set);
	set = coi_push_settings_get(sender_set);

	i_zero(spool_set);
	spool_set->dir = set->push_spool_dir;
	spool_set->retry_delays_secs = set->parsed_push_spool_retry_delays;
	spool_set->dedupe_interval_secs = set->push_spool_dedupe_interval_secs;
	spool_set->max_jobs = set->push_spool_max_jobs;
	spool_set->debug = set->push_debug;

	sender_set->policy = set->parsed_push_policy;
	sender_set->timeout_msecs = set->push_timeout_msecs;
	/* the spool retries, over much longer times than one request;
	   jobs that want the sender's own retries say so (send_attempts) */
	sender_set->max_attempts = 1;
	sender_set->retry_max_secs = set->push_retry_max_delay_secs;
	/* only for jobs that ask for it (WebPush messages) */
	sender_set->user_rate = set->push_user_rate;
	sender_set->validation_rate = set->webpush_validation_rate;
	sender_set->max_pending = spool_set->max_jobs;
	sender_set->exit_wait_msecs = COI_PUSH_SERVICE_EXIT_WAIT_MSECS;
	sender_set->debug = set->push_debug;
}

static void main_init(void)
{
	struct coi_push_spool_settings spool_set;
	struct coi_push_sender_config sender_set;

	coi_push_settings_read(&spool_set, &sender_set);
	coi_push_sender_init(&sender_set);

	coi_push_clients = connection_list_init(&coi_push_client_set,
						&coi_push_client_vfuncs);
	coi_push_spool_init(&spool_set);
}

static void main_deinit(void)
{
	/* Requests in flight get a moment; whatever is unsent stays in the
	   spool for the next start. */
	coi_push_sender_flush();
	coi_push_spool_deinit();
	coi_webpush_crypto_deinit();
	connection_list_deinit(&coi_push_clients);
	coi_push_settings_free();
}

int main(int argc, char *argv[])
{
#if COI_DOVECOT_24
	const enum master_service_flags service_flags =
		MASTER_SERVICE_FLAG_NO_IDLE_DIE;
	const char *error;
#else
	const enum master_service_flags service_flags =
		MASTER_SERVICE_FLAG_NO_IDLE_DIE |
		MASTER_SERVICE_FLAG_KEEP_CONFIG_OPEN;
#endif

	master_service = master_service_init("coi-push", service_flags,
					     &argc, &argv, "");
	if (master_getopt(master_service) > 0)
		return FATAL_DEFAULT;
#if COI_DOVECOT_24
	/* 2.3 reads the config in coi_push_settings_get() */
	if (master_service_settings_read_simple(master_service, &error) < 0)
		i_fatal("%s", error);
#endif
	restrict_access_by_env(RESTRICT_ACCESS_FLAG_ALLOW_ROOT, NULL);
	restrict_access_allow_coredumps(TRUE);
	master_service_init_log(master_service);
	master_service_init_finish(master_service);

	main_init();
	master_service_run(master_service, client_connected);
	main_deinit();

	master_service_deinit(&master_service);
	return 0;
}
