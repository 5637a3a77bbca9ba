/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "net.h"
#include "http-url.h"
#include "test-common.h"
#include "coi-push-policy.h"

static void test_coi_push_address_is_public(void)
{
	static const char *const public_addrs[] = {
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255",
		"100.128.0.0", "172.15.255.255", "172.32.0.0", "192.167.1.1",
		"198.17.255.255", "223.255.255.255",
		"2606:4700:4700::1111", "2a00:1450:4001::1",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
		"::ffff:0:808:808",
	};
	static const char *const non_public[] = {
		"0.0.0.0", "10.1.2.3", "100.64.0.1", "127.0.0.1",
		"127.255.255.254", "169.254.169.254", "172.16.0.1",
		"172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1",
		"198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1",
		"239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "fe80::1", "fc00::1", "fd00:ec2::254",
		"ff02::1", "2001:db8::1", "::ffff:127.0.0.1",
		"::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1",
		"64:ff9b::a00:1", "2002:a00:1::1", "2002:7f00:1::", "fec0::1",
		"100::1",
		/* IPv4-translated (SIIT) and local-use NAT64 */
		"::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "::ffff:0:a00:1",
		"64:ff9b:1::808:808", "64:ff9b:1:ffff::1",
	};
	struct ip_addr ip;
	unsigned int i;

	test_begin("coi push address is public");
	for (i = 0; i < N_ELEMENTS(public_addrs); i++) {
		test_assert_idx(net_addr2ip(public_addrs[i], &ip) == 0, i);
		test_assert_idx(coi_push_address_is_public(&ip), i);
	}
	for (i = 0; i < N_ELEMENTS(non_public); i++) {
		test_assert_idx(net_addr2ip(non_public[i], &ip) == 0, i);
		test_assert_idx(!coi_push_address_is_public(&ip), i);
	}
	test_end();
}

static void test_coi_push_policy_parse(void)
{
	struct coi_push_policy *policy;
	const char *error;
	pool_t pool = pool_alloconly_create("test", 1024);

	test_begin("coi push policy parse");
	test_assert(coi_push_policy_parse(pool, NULL, &policy, &error) == 0);
	test_assert(coi_push_policy_parse(pool, "", &policy, &error) == 0);
	test_assert(coi_push_policy_parse(pool,
		"127.0.0.0/8 ::1 push.internal, 10.0.0.5", &policy,
		&error) == 0);
	test_assert(coi_push_policy_parse(pool, "10.0.0.0/33", &policy,
					  &error) < 0);
	test_assert(strstr(error, "10.0.0.0/33") != NULL);
	test_assert(coi_push_policy_parse(pool, "nonsense/8", &policy,
					  &error) < 0);
	pool_unref(&pool);
	test_end();
}

static void test_coi_push_policy_check_url(void)
{
	static const char *const refused_default[] = {
		"http://push.example.com/x",
		"https://127.0.0.1/x",
		"https://[::1]:8443/x",
		"https://169.254.169.254/latest/meta-data",
		"https://10.0.0.1/x",
		"https://user:pw@push.example.com/x",
		"ftp://push.example.com/x",
		"/relative/path",
		"https://",
		"not a url",
		"",
		"http://127.0.0.1:8080/push",
		"http://localhost:8080/push",
	};
	static const char *const allowed_default[] = {
		"https://push.example.com/x",
		"https://push.example.com:8443/x?y=1",
		"https://8.8.8.8/x",
		"https://[2606:4700:4700::1111]/x",
	};
	struct coi_push_policy *policy;
	struct http_url *url;
	struct ip_addr ip;
	const char *error;
	bool host_allowed;
	unsigned int i;
	pool_t pool = pool_alloconly_create("test", 4096);

	test_begin("coi push policy check url");
	test_assert(coi_push_policy_parse(pool, NULL, &policy, &error) == 0);
	for (i = 0; i < N_ELEMENTS(refused_default); i++) {
		test_assert_idx(coi_push_policy_check_url(policy, pool,
			refused_default[i], &url, &host_allowed, &error) < 0, i);
	}
	for (i = 0; i < N_ELEMENTS(allowed_default); i++) {
		test_assert_idx(coi_push_policy_check_url(policy, pool,
			allowed_default[i], &url, &host_allowed, &error) == 0, i);
		test_assert_idx(!host_allowed, i);
	}

	/* what ./run allows: loopback networks, and http for them */
	test_assert(coi_push_policy_parse(pool, "127.0.0.0/8 ::1/128 "
		"push.internal", &policy, &error) == 0);
	test_assert(coi_push_policy_check_url(policy, pool,
		"http://127.0.0.1:8080/push", &url, &host_allowed, &error) == 0);
	test_assert(!host_allowed);
	test_assert(url->host.ip.family == AF_INET);
	test_assert(url->port == 8080);
	test_assert(coi_push_policy_check_url(policy, pool,
		"http://[::1]:8080/push", &url, &host_allowed, &error) == 0);
	test_assert(coi_push_policy_check_url(policy, pool,
		"http://push.internal/p", &url, &host_allowed, &error) == 0);
	test_assert(host_allowed);
	/* a listed host may resolve to anything */
	test_assert(net_addr2ip("10.9.8.7", &ip) == 0);
	test_assert(coi_push_policy_address_allowed(policy, TRUE, &ip));
	test_assert(!coi_push_policy_address_allowed(policy, FALSE, &ip));
	test_assert(net_addr2ip("127.0.0.2", &ip) == 0);
	test_assert(coi_push_policy_address_allowed(policy, FALSE, &ip));
	/* an unlisted name still needs https, and its addresses are checked
	   when connecting */
	test_assert(coi_push_policy_check_url(policy, pool,
		"http://localhost:8080/push", &url, &host_allowed, &error) < 0);
	test_assert(coi_push_policy_check_url(policy, pool,
		"http://10.0.0.1/push", &url, &host_allowed, &error) < 0);
	pool_unref(&pool);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_push_address_is_public,
		test_coi_push_policy_parse,
		test_coi_push_policy_check_url,
		NULL
	};
	return test_run(test_functions);
}
