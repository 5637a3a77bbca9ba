#ifndef COI_PUSH_POLICY_H
#define COI_PUSH_POLICY_H

/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Where push requests may go. By default only https URLs whose host
   resolves to a public address; an administrator can allow hosts and
   networks (coi_push_allow), which may then also use plain http. The
   address check is applied to the address actually connected to. */

#include "net.h"

struct http_url;

struct coi_push_policy;

/* allow is a space-separated list of host names and networks
   ("push.internal 10.0.0.0/8 ::1/128 127.0.0.1"), may be NULL. */
int coi_push_policy_parse(pool_t pool, const char *allow,
			  struct coi_push_policy **policy_r,
			  const char **error_r);

/* Checks what can be checked without a DNS lookup: an absolute http(s)
   URL without userinfo, https unless the host is allowed, an IP literal
   host must be an allowed address. On success *url_r is the parsed URL
   (allocated from pool) and *host_allowed_r tells whether the host name
   itself is listed. The error is safe to show to clients. */
int coi_push_policy_check_url(const struct coi_push_policy *policy,
			      pool_t pool, const char *url,
			      struct http_url **url_r, bool *host_allowed_r,
			      const char **error_r);

/* Whether a request may connect to ip. */
bool coi_push_policy_address_allowed(const struct coi_push_policy *policy,
				     bool host_allowed,
				     const struct ip_addr *ip);

/* FALSE for loopback, private, shared (CGNAT), link-local (including the
   cloud metadata services), multicast, documentation, reserved and
   unspecified addresses, and IPv6 forms that embed such IPv4 addresses. */
bool coi_push_address_is_public(const struct ip_addr *ip);

#endif
