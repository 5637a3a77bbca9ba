/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "net.h"
#include "http-url.h"
#include "coi-push-policy.h"

struct coi_push_network {
	struct ip_addr ip;
	unsigned int bits;
};

struct coi_push_policy {
	ARRAY(struct coi_push_network) networks;
	ARRAY_TYPE(const_string) hosts;
};

struct coi_push_range {
	const char *network;
	unsigned int bits;
};

static const struct coi_push_range coi_push_non_public_v4[] = {
	{ "0.0.0.0", 8 },		/* "this" network */
	{ "10.0.0.0", 8 },		/* private */
	{ "100.64.0.0", 10 },		/* shared address space (CGNAT) */
	{ "127.0.0.0", 8 },		/* loopback */
	{ "169.254.0.0", 16 },		/* link-local, cloud metadata */
	{ "172.16.0.0", 12 },		/* private */
	{ "192.0.0.0", 24 },		/* IETF protocol assignments */
	{ "192.0.2.0", 24 },		/* documentation */
	{ "192.88.99.0", 24 },		/* 6to4 relay anycast */
	{ "192.168.0.0", 16 },		/* private */
	{ "198.18.0.0", 15 },		/* benchmarking */
	{ "198.51.100.0", 24 },		/* documentation */
	{ "203.0.113.0", 24 },		/* documentation */
	{ "224.0.0.0", 4 },		/* multicast */
	{ "240.0.0.0", 4 },		/* reserved, broadcast */
};

static const struct coi_push_range coi_push_non_public_v6[] = {
	{ "::", 128 },			/* unspecified */
	{ "::1", 128 },			/* loopback */
	{ "64:ff9b:1::", 48 },		/* local-use NAT64 (RFC 8215) */
	{ "100::", 64 },		/* discard */
	{ "2001::", 23 },		/* IETF protocol assignments */
	{ "2001:db8::", 32 },		/* documentation */
	{ "fc00::", 7 },		/* unique local, incl. fd00:ec2::254 */
	{ "fe80::", 10 },		/* link-local */
	{ "fec0::", 10 },		/* site-local (deprecated) */
	{ "ff00::", 8 },		/* multicast */
};

/* IPv6 forms that carry an IPv4 address: the IPv4 address decides. */
static const struct coi_push_range coi_push_embedded_v4[] = {
	{ "::", 96 },			/* IPv4-compatible (deprecated) */
	{ "64:ff9b::", 96 },		/* NAT64 */
	{ "::ffff:0:0:0", 96 },		/* IPv4-translated (SIIT, RFC 2765) */
};

static bool
coi_push_in_ranges(const struct ip_addr *ip,
		   const struct coi_push_range *ranges, unsigned int count)
{
	struct ip_addr net_ip;
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (net_addr2ip(ranges[i].network, &net_ip) < 0)
			i_unreached();
		if (net_is_in_network(ip, &net_ip, ranges[i].bits))
			return TRUE;
	}
	return FALSE;
}

bool coi_push_address_is_public(const struct ip_addr *ip)
{
	struct ip_addr v4;

	if (IPADDR_IS_V4(ip)) {
		return !coi_push_in_ranges(ip, coi_push_non_public_v4,
					   N_ELEMENTS(coi_push_non_public_v4));
	}
	if (!IPADDR_IS_V6(ip))
		return FALSE;
	if (net_ipv6_mapped_ipv4_convert(ip, &v4) == 0)
		return coi_push_address_is_public(&v4);
	if (coi_push_in_ranges(ip, coi_push_embedded_v4,
			       N_ELEMENTS(coi_push_embedded_v4))) {
		/* ::/96 also holds :: and ::1, which are not public either
		   way. */
		i_zero(&v4);
		v4.family = AF_INET;
		memcpy(&v4.u.ip4, ip->u.ip6.s6_addr + 12, 4);
		return coi_push_address_is_public(&v4);
	}
	if (coi_push_in_ranges(ip, coi_push_non_public_v6,
			       N_ELEMENTS(coi_push_non_public_v6)))
		return FALSE;
	/* 6to4 carries an IPv4 address in bits 16..47. */
	if (ip->u.ip6.s6_addr[0] == 0x20 && ip->u.ip6.s6_addr[1] == 0x02) {
		i_zero(&v4);
		v4.family = AF_INET;
		memcpy(&v4.u.ip4, ip->u.ip6.s6_addr + 2, 4);
		return coi_push_address_is_public(&v4);
	}
	return TRUE;
}

int coi_push_policy_parse(pool_t pool, const char *allow,
			  struct coi_push_policy **policy_r,
			  const char **error_r)
{
	struct coi_push_policy *policy;
	const char *const *entries;
	struct coi_push_network *net;
	struct ip_addr ip;
	unsigned int bits;

	policy = p_new(pool, struct coi_push_policy, 1);
	p_array_init(&policy->networks, pool, 4);
	p_array_init(&policy->hosts, pool, 4);
	entries = t_strsplit_spaces(allow == NULL ? "" : allow, " ,");
	for (; *entries != NULL; entries++) {
		const char *entry = *entries;

		if (strchr(entry, '/') != NULL || net_addr2ip(entry, &ip) == 0) {
			if (net_parse_range(entry, &ip, &bits) < 0) {
				*error_r = t_strdup_printf(
					"Invalid network: %s", entry);
				return -1;
			}
			net = array_append_space(&policy->networks);
			net->ip = ip;
			net->bits = bits;
		} else {
			const char *host = p_strdup(pool, t_str_lcase(entry));
			array_push_back(&policy->hosts, &host);
		}
	}
	*policy_r = policy;
	return 0;
}

static bool
coi_push_policy_host_allowed(const struct coi_push_policy *policy,
			     const char *host)
{
	const char *allowed;

	array_foreach_elem(&policy->hosts, allowed) {
		if (strcasecmp(allowed, host) == 0)
			return TRUE;
	}
	return FALSE;
}

static bool
coi_push_policy_network_allowed(const struct coi_push_policy *policy,
				const struct ip_addr *ip)
{
	const struct coi_push_network *net;

	array_foreach(&policy->networks, net) {
		if (net_is_in_network(ip, &net->ip, net->bits))
			return TRUE;
	}
	return FALSE;
}

bool coi_push_policy_address_allowed(const struct coi_push_policy *policy,
				     bool host_allowed,
				     const struct ip_addr *ip)
{
	return host_allowed || coi_push_policy_network_allowed(policy, ip) ||
		coi_push_address_is_public(ip);
}

int coi_push_policy_check_url(const struct coi_push_policy *policy,
			      pool_t pool, const char *url,
			      struct http_url **url_r, bool *host_allowed_r,
			      const char **error_r)
{
	struct http_url *http_url;
	const char *error;
	bool host_allowed, admin_listed;

	if (http_url_parse(url, NULL, HTTP_URL_ALLOW_USERINFO_PART, pool,
			   &http_url, &error) < 0) {
		*error_r = "not an absolute http(s) URL";
		return -1;
	}
	if (http_url->user != NULL) {
		*error_r = "URL must not contain user information";
		return -1;
	}
	if (http_url->host.name == NULL || http_url->host.name[0] == '\0') {
		*error_r = "URL has no host";
		return -1;
	}
	host_allowed = http_url->host.ip.family == 0 &&
		coi_push_policy_host_allowed(policy, http_url->host.name);
	admin_listed = host_allowed ||
		(http_url->host.ip.family != 0 &&
		 coi_push_policy_network_allowed(policy, &http_url->host.ip));
	if (http_url->host.ip.family != 0 &&
	    !coi_push_policy_address_allowed(policy, host_allowed,
					     &http_url->host.ip)) {
		*error_r = "push endpoint address is not allowed";
		return -1;
	}
	if (!http_url->have_ssl && !admin_listed) {
		*error_r = "push endpoint must use https";
		return -1;
	}
	*url_r = http_url;
	*host_allowed_r = host_allowed;
	return 0;
}
