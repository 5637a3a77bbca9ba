/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "coi-compat.h"
#include "array.h"
#include "hash.h"
#include "ioloop.h"
#include "llist.h"
#include "str.h"
#include "settings-parser.h"
#include "iostream-ssl.h"
#include "dns-lookup.h"
#include "http-url.h"
#include "http-client.h"
#include "mail-user.h"
#include "mail-storage-settings.h"
#include "coi-push-policy.h"
#include "coi-push-sender.h"

#define COI_PUSH_RATE_WINDOW_SECS 60
/* The rate table is per process; an LMTP process serving very many users
   simply starts over rather than growing without bound. */
#define COI_PUSH_RATE_TABLE_MAX 10000
#define COI_PUSH_DNS_TIMEOUT_MSECS 5000

struct coi_push_rate {
	time_t window_start;
	unsigned int count;
};

struct coi_push_request {
	struct coi_push_request *prev, *next;
	pool_t pool;
	struct event *event;

	struct http_url *url;
	bool host_allowed;
	struct ip_addr ip;
	ARRAY_TYPE(const_string) headers;
	const unsigned char *body;
	size_t body_size;
	unsigned int attempts, max_attempts;

	struct dns_lookup *lookup;
	struct http_client_request *http_req;
	struct timeout *to_retry;

	coi_push_callback_t *callback;
	void *context;
};

struct coi_push_sender {
	pool_t pool;
	/* the numbers of the configuration; its strings are not kept */
	struct coi_push_sender_config set;
	const struct coi_push_policy *policy;
	const char *dns_socket_path;
	struct http_client *http_client;
	struct event *event;

	struct coi_push_request *requests;
	unsigned int pending_count;
	/* Own pool: the table is thrown away when it grows too big. */
	pool_t rates_pool;
	HASH_TABLE(char *, struct coi_push_rate *) rates;
	bool flushing;
};

static struct event_category coi_push_event_category = {
	.name = "coi-push",
};

static struct coi_push_sender *coi_push_sender = NULL;

static void coi_push_request_attempt(struct coi_push_request *req);

/* lib-http's client, set up alike on both versions: redirects refused
   (they would lead past the address check), one attempt per request (the
   sender retries itself), the timeout of coi_push_timeout. */
static struct http_client *
coi_push_sender_http_client_init(const struct coi_push_sender_config *config,
				 struct event *event)
{
#if COI_DOVECOT_24
	struct http_client_settings *http_set;
	pool_t pool;

	/* The client keeps the settings' pool referenced while it needs
	   them; the reference of http_client_settings_init() is its. */
	pool = pool_alloconly_create("coi push http settings", 512);
	http_set = p_new(pool, struct http_client_settings, 1);
	http_client_settings_init(pool, http_set);
	pool_unref(&pool);
	http_set->user_agent = "dovecot-coi";
	http_set->request_max_redirects = 0;
	http_set->request_max_attempts = 1;
	http_set->max_idle_time_msecs = 5000;
	http_set->max_parallel_connections = 4;
	if (config->timeout_msecs != 0) {
		http_set->request_timeout_msecs = config->timeout_msecs;
		http_set->connect_timeout_msecs = config->timeout_msecs;
	}
	/* debug logging follows event's forced debug; lib-http reads the
	   ssl_client_* settings itself through event */
	return http_client_init(http_set, event);
#else
	struct http_client_settings http_set;

	i_zero(&http_set);
	http_set.debug = config->debug;
	http_set.user_agent = "dovecot-coi";
	http_set.max_redirects = 0;
	http_set.max_attempts = 1;
	http_set.max_idle_time_msecs = 5000;
	http_set.max_parallel_connections = 4;
	http_set.request_timeout_msecs = config->timeout_msecs;
	http_set.connect_timeout_msecs = config->timeout_msecs;
	http_set.event_parent = event;
	http_set.ssl = config->ssl_set;
	return http_client_init(&http_set);
#endif
}

void coi_push_sender_init(const struct coi_push_sender_config *config)
{
	struct coi_push_sender *sender;
	pool_t pool;

	i_assert(coi_push_sender == NULL);
	pool = pool_alloconly_create("coi push sender", 2048);
	sender = p_new(pool, struct coi_push_sender, 1);
	sender->pool = pool;

	sender->event = event_create(config->event_parent);
	event_add_category(sender->event, &coi_push_event_category);
	event_set_append_log_prefix(sender->event, "coi-push: ");
	event_set_forced_debug(sender->event, config->debug);

	sender->policy = config->policy;
	sender->set = *config;
	sender->set.base_dir = NULL;
	sender->set.ssl_set = NULL;
	sender->set.event_parent = NULL;
	sender->set.max_attempts = I_MAX(config->max_attempts, 1);
	sender->dns_socket_path = p_strconcat(pool, config->base_dir,
					      "/"DNS_CLIENT_SOCKET_NAME, NULL);
	sender->rates_pool = pool_alloconly_create("coi push rates", 1024);
	hash_table_create(&sender->rates, sender->rates_pool, 0,
			  str_hash, strcmp);
	sender->http_client =
		coi_push_sender_http_client_init(config, sender->event);

	coi_push_sender = sender;
}

static unsigned int
coi_push_rate_limit(const struct coi_push_sender *sender,
		    enum coi_push_job_rate rate)
{
	switch (rate) {
	case COI_PUSH_JOB_RATE_NONE:
		return 0;
	case COI_PUSH_JOB_RATE_USER:
		return sender->set.user_rate;
	case COI_PUSH_JOB_RATE_VALIDATION:
		return sender->set.validation_rate;
	}
	i_unreached();
}

static bool
coi_push_rate_allow(struct coi_push_sender *sender, const char *username,
		    enum coi_push_job_rate rate_class)
{
	unsigned int limit = coi_push_rate_limit(sender, rate_class);
	struct coi_push_rate *rate;
	const char *key;

	if (limit == 0)
		return TRUE;
	/* each class counts on its own; a user name has no tab */
	key = t_strdup_printf("%d\t%s", rate_class, username);
	rate = hash_table_lookup(sender->rates, key);
	if (rate == NULL) {
		if (hash_table_count(sender->rates) >= COI_PUSH_RATE_TABLE_MAX) {
			hash_table_destroy(&sender->rates);
			pool_unref(&sender->rates_pool);
			sender->rates_pool = pool_alloconly_create(
				"coi push rates", 1024);
			hash_table_create(&sender->rates, sender->rates_pool,
					  0, str_hash, strcmp);
		}
		rate = p_new(sender->rates_pool, struct coi_push_rate, 1);
		hash_table_insert(sender->rates,
				  p_strdup(sender->rates_pool, key), rate);
	}
	if (rate->window_start + COI_PUSH_RATE_WINDOW_SECS <= ioloop_time) {
		rate->window_start = ioloop_time;
		rate->count = 0;
	}
	if (rate->count >= limit)
		return FALSE;
	rate->count++;
	return TRUE;
}

static void
coi_push_request_finish(struct coi_push_request *req,
			enum coi_push_result result, unsigned int status,
			const char *reason)
{
	struct coi_push_sender *sender = coi_push_sender;

	if (req->http_req != NULL)
		http_client_request_abort(&req->http_req);
	if (req->lookup != NULL)
		dns_lookup_abort(&req->lookup);
	timeout_remove(&req->to_retry);
	DLLIST_REMOVE(&sender->requests, req);
	i_assert(sender->pending_count > 0);
	sender->pending_count--;

	req->callback(result, status, reason, req->context);
	event_unref(&req->event);
	pool_unref(&req->pool);
}

static void coi_push_request_retry_now(struct coi_push_request *req)
{
	timeout_remove(&req->to_retry);
	coi_push_request_attempt(req);
}

static void
coi_push_request_retry(struct coi_push_request *req, unsigned int status,
		       const char *reason, unsigned int delay_secs)
{
	struct coi_push_sender *sender = coi_push_sender;

	if (sender->flushing) {
		coi_push_request_finish(req, COI_PUSH_RESULT_FAILED, status,
			t_strdup_printf("%s (not retried: exiting)", reason));
		return;
	}
	if (req->attempts >= req->max_attempts) {
		coi_push_request_finish(req, COI_PUSH_RESULT_FAILED, status,
			t_strdup_printf("%s (gave up after %u attempts)",
					reason, req->attempts));
		return;
	}
	if (delay_secs > sender->set.retry_max_secs) {
		coi_push_request_finish(req, COI_PUSH_RESULT_FAILED, status,
			t_strdup_printf("%s (retry in %u s is beyond the "
					"limit of %u s)", reason, delay_secs,
					sender->set.retry_max_secs));
		return;
	}
	e_debug(req->event, "Attempt %u failed: %s - retrying in %u s",
		req->attempts, reason, delay_secs);
	req->to_retry = timeout_add(delay_secs * 1000,
				    coi_push_request_retry_now, req);
}

static unsigned int coi_push_request_backoff(struct coi_push_request *req)
{
	/* 1, 2, 4, 8, ... seconds */
	unsigned int shift = req->attempts <= 1 ? 0 : req->attempts - 1;

	return shift >= 16 ? (1U << 16) : (1U << shift);
}

static void
coi_push_request_http_callback(const struct http_response *response,
			       struct coi_push_request *req)
{
	unsigned int status = response->status;
	const char *reason = t_strdup_printf("%u %s", status,
		response->reason == NULL ? "" : response->reason);
	unsigned int delay;

	req->http_req = NULL;
	if (status >= 200 && status < 300) {
		coi_push_request_finish(req, COI_PUSH_RESULT_DELIVERED,
					status, reason);
	} else if (status == 404 || status == 410) {
		coi_push_request_finish(req, COI_PUSH_RESULT_GONE,
					status, reason);
	} else if (status == 413) {
		coi_push_request_finish(req, COI_PUSH_RESULT_TOO_LARGE,
					status, reason);
	} else if (status == 429) {
		if (response->retry_after != (time_t)-1 &&
		    response->retry_after > ioloop_time)
			delay = response->retry_after - ioloop_time;
		else
			delay = coi_push_request_backoff(req);
		coi_push_request_retry(req, status, reason, delay);
	} else if (status == HTTP_CLIENT_REQUEST_ERROR_ABORTED) {
		coi_push_request_finish(req, COI_PUSH_RESULT_FAILED, 0,
					response->reason);
	} else if (status >= 500) {
		/* 5xx and lib-http's internal errors (connection failures,
		   timeouts: status >= 9000) */
		if (status >= HTTP_CLIENT_REQUEST_ERROR_ABORTED) {
			reason = response->reason;
			status = 0;
		}
		coi_push_request_retry(req, status, reason,
				       coi_push_request_backoff(req));
	} else {
		coi_push_request_finish(req, COI_PUSH_RESULT_REJECTED,
					status, reason);
	}
}

static void coi_push_request_http(struct coi_push_request *req)
{
	struct coi_push_sender *sender = coi_push_sender;
	struct http_url url = *req->url;
	const char *const *headers;
	unsigned int i, count;

	url.host.ip = req->ip;
	req->http_req = http_client_request_url(sender->http_client, "POST",
		&url, coi_push_request_http_callback, req);
	http_client_request_set_event(req->http_req, req->event);
	/* The connection goes to the address checked above, but the Host
	   header must name the endpoint's host (Dovecot 2.4's lib-http would
	   write the address, which push services behind virtual hosts
	   refuse) */
	http_client_request_add_header(req->http_req, "Host",
				       http_url_create_authority(req->url));
	headers = array_get(&req->headers, &count);
	for (i = 0; i + 1 < count; i += 2)
		http_client_request_add_header(req->http_req, headers[i],
					       headers[i + 1]);
	http_client_request_set_payload_data(req->http_req, req->body,
					     req->body_size);
	http_client_request_set_max_attempts(req->http_req, 1);
	http_client_request_set_timeout_msecs(req->http_req,
					      sender->set.timeout_msecs);
	http_client_request_submit(req->http_req);
}

static void
coi_push_request_dns_callback(const struct dns_lookup_result *result,
			      struct coi_push_request *req)
{
	struct coi_push_sender *sender = coi_push_sender;
	unsigned int i;

	req->lookup = NULL;
	if (result->ret != 0) {
		coi_push_request_retry(req, 0, t_strdup_printf(
			"DNS lookup of %s failed: %s", req->url->host.name,
			result->error), coi_push_request_backoff(req));
		return;
	}
	for (i = 0; i < result->ips_count; i++) {
		if (coi_push_policy_address_allowed(sender->policy,
						    req->host_allowed,
						    &result->ips[i]))
			break;
	}
	if (i == result->ips_count) {
		coi_push_request_finish(req, COI_PUSH_RESULT_REJECTED, 0,
			t_strdup_printf("%s resolves only to addresses that "
				"are not allowed (%s)", req->url->host.name,
				result->ips_count == 0 ? "none" :
				net_ip2addr(&result->ips[0])));
		return;
	}
	/* Pin the checked address: lib-http connects to it and does no
	   lookup of its own that could give another answer. */
	req->ip = result->ips[i];
	coi_push_request_http(req);
}

static void coi_push_request_attempt(struct coi_push_request *req)
{
	struct coi_push_sender *sender = coi_push_sender;
	struct dns_lookup_settings dns_set;

	req->attempts++;
	if (req->ip.family != 0) {
		coi_push_request_http(req);
		return;
	}
	i_zero(&dns_set);
	dns_set.dns_client_socket_path = sender->dns_socket_path;
	dns_set.timeout_msecs = COI_PUSH_DNS_TIMEOUT_MSECS;
	dns_set.event_parent = req->event;
	/* A failure to reach the DNS service calls the callback at once. */
	(void)dns_lookup(req->url->host.name, &dns_set,
			 coi_push_request_dns_callback, req, &req->lookup);
}

#undef coi_push_send
int coi_push_send(const struct coi_push_request_params *params,
		  coi_push_callback_t *callback, void *context,
		  const char **error_r)
{
	struct coi_push_sender *sender = coi_push_sender;
	struct coi_push_request *req;
	const char *const *header;
	pool_t pool;

	if (sender->flushing) {
		*error_r = "process is exiting";
		return -1;
	}
	if (sender->pending_count >= sender->set.max_pending) {
		*error_r = t_strdup_printf("too many pending push requests "
			"in this process (coi_push_max_pending=%u)",
			sender->set.max_pending);
		return -1;
	}

	pool = pool_alloconly_create("coi push request",
				     1024 + params->body_size);
	req = p_new(pool, struct coi_push_request, 1);
	req->pool = pool;
	if (coi_push_policy_check_url(sender->policy, pool, params->url,
				      &req->url, &req->host_allowed,
				      error_r) < 0) {
		pool_unref(&pool);
		return -1;
	}
	if (!coi_push_rate_allow(sender, params->username, params->rate)) {
		*error_r = t_strdup_printf("more than %u push requests per "
			"minute for this user (%s)",
			coi_push_rate_limit(sender, params->rate),
			params->rate == COI_PUSH_JOB_RATE_VALIDATION ?
			"coi_webpush_validation_rate" : "coi_push_user_rate");
		pool_unref(&pool);
		return -1;
	}
	req->ip = req->url->host.ip;
	req->max_attempts = params->max_attempts != 0 ?
		params->max_attempts : sender->set.max_attempts;
	p_array_init(&req->headers, pool, 8);
	for (header = params->headers; header != NULL && *header != NULL;
	     header++) {
		const char *value = p_strdup(pool, *header);
		array_push_back(&req->headers, &value);
	}
	req->body = p_memdup(pool, params->body, params->body_size);
	req->body_size = params->body_size;
	req->callback = callback;
	req->context = context;
	req->event = event_create(sender->event);
	event_add_str(req->event, "user", params->username);
	event_set_append_log_prefix(req->event, t_strdup_printf(
		"%s: %s: ", params->username, params->log_label));

	DLLIST_PREPEND(&sender->requests, req);
	sender->pending_count++;
	coi_push_request_attempt(req);
	return 0;
}

struct coi_push_flush_context {
	struct ioloop *ioloop;
	bool timed_out;
};

static void coi_push_sender_flush_timeout(struct coi_push_flush_context *ctx)
{
	ctx->timed_out = TRUE;
	io_loop_stop(ctx->ioloop);
}

static void coi_push_sender_switch_ioloop(struct coi_push_sender *sender)
{
	struct coi_push_request *req;

	http_client_switch_ioloop(sender->http_client);
	for (req = sender->requests; req != NULL; req = req->next) {
		if (req->lookup != NULL)
			dns_lookup_switch_ioloop(req->lookup);
	}
}

static void coi_push_sender_wait(struct coi_push_sender *sender)
{
	struct coi_push_flush_context ctx;
	struct ioloop *prev_ioloop = current_ioloop;
	struct timeout *to;

	i_zero(&ctx);
	ctx.ioloop = io_loop_create();
	coi_push_sender_switch_ioloop(sender);
	to = timeout_add(sender->set.exit_wait_msecs,
			 coi_push_sender_flush_timeout, &ctx);
	while (sender->pending_count > 0 && !ctx.timed_out)
		io_loop_run(ctx.ioloop);
	timeout_remove(&to);
	if (prev_ioloop != NULL) {
		io_loop_set_current(prev_ioloop);
		coi_push_sender_switch_ioloop(sender);
		io_loop_set_current(ctx.ioloop);
	}
	io_loop_destroy(&ctx.ioloop);
}

void coi_push_sender_flush(void)
{
	struct coi_push_sender *sender = coi_push_sender;
	struct coi_push_request *req, *next;

	if (sender == NULL)
		return;
	sender->flushing = TRUE;

	/* Waiting retries are not worth delaying the exit for. */
	for (req = sender->requests; req != NULL; req = next) {
		next = req->next;
		if (req->to_retry != NULL) {
			coi_push_request_finish(req, COI_PUSH_RESULT_FAILED,
				0, "not retried: process is exiting");
		}
	}
	if (sender->pending_count > 0 && sender->set.exit_wait_msecs > 0)
		coi_push_sender_wait(sender);
	if (sender->pending_count > 0) {
		e_warning(sender->event, "Gave up on %u push requests still "
			  "pending at exit",
			  sender->pending_count);
	}
	while (sender->requests != NULL) {
		coi_push_request_finish(sender->requests,
			COI_PUSH_RESULT_FAILED, 0, "process is exiting");
	}
	http_client_deinit(&sender->http_client);
	hash_table_destroy(&sender->rates);
	pool_unref(&sender->rates_pool);
	event_unref(&sender->event);
	coi_push_sender = NULL;
	pool_unref(&sender->pool);
}
