/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The endpoint policy: a URL from a subscription or a job (first line)
   against an allow list (second line, as coi_push_allow). */

#include "fuzz-common.h"
#include "net.h"
#include "http-url.h"
#include "coi-push-policy.h"

static void fuzz_one(const unsigned char *data, size_t size, pool_t pool)
{
	const char *input = fuzz_str(data, size), *allow = "", *url, *error;
	const char *p = strchr(input, '\n');
	struct coi_push_policy *policy;
	struct http_url *http_url;
	struct ip_addr ip;
	bool host_allowed;

	if (p != NULL) {
		url = t_strdup_until(input, p);
		allow = p + 1;
	} else {
		url = input;
	}
	if (coi_push_policy_parse(pool, allow, &policy, &error) < 0 &&
	    coi_push_policy_parse(pool, "", &policy, &error) < 0)
		i_panic("empty policy refused: %s", error);
	if (coi_push_policy_check_url(policy, pool, url, &http_url,
				      &host_allowed, &error) == 0 &&
	    http_url->host.ip.family != 0 &&
	    !coi_push_policy_address_allowed(policy, host_allowed,
					     &http_url->host.ip))
		i_panic("URL with a refused address accepted: %s", url);
	if (net_addr2ip(url, &ip) == 0)
		(void)coi_push_address_is_public(&ip);
}
