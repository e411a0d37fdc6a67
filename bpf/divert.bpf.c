// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * L7 diversion: connect() to a service with HTTP policy is rewritten to the node proxy's
 * listener, and the proxy recovers the original destination with the standard
 * getsockopt(SO_ORIGINAL_DST), as behind an iptables REDIRECT. That keeps the proxy free of
 * any BPF knowledge; this file answers the getsockopt from the maps.
 *
 * The original destination is recorded by socket cookie at connect() (the source port is not
 * chosen yet), then moved to a key of the connection's tuple once it is established, which is
 * what the proxy's accepted socket can name.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_addr.h"
#include "divert_maps.h"
#include "flow_events.h"

#define SOL_IP 0
#define SOL_IPV6 41
#define SO_ORIGINAL_DST 80

/*
 * The proxy is recognised by the uid it runs as (as Istio's and merbridge's redirects skip uid
 * 1337): it runs without capabilities, so it cannot put an SO_MARK on its sockets, and a uid
 * survives its restarts, unlike a pid.
 */
static __always_inline int is_proxy_upstream(const struct divert_settings *settings)
{
	if (settings->proxy_uid && (__u32)bpf_get_current_uid_gid() == settings->proxy_uid) {
		divert_count(DIVERT_PROXY_CONNECTIONS_SKIPPED);
		return 1;
	}
	return 0;
}

enum divert_decision {
	DIVERT_NO = 0,      /* not a diverted service, or failing open: connect where dialled */
	DIVERT_YES = 1,     /* rewrite to the node proxy */
	DIVERT_REFUSE = 2,  /* failing closed: EPERM */
};

/* The deepest cgroup of source_cgroups the current process is in or below; 0 when none. */
static __always_inline __u64 source_cgroup_of_current(void)
{
	__u64 found = 0;
	int level;

	for (level = 0; level < MESH_MAX_CGROUP_DEPTH; level++) {
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);

		if (!ancestor)
			break;
		if (bpf_map_lookup_elem(&source_cgroups, &ancestor))
			found = ancestor;
	}
	return found;
}

/*
 * Decides what happens to a connect() to the service: not diverted, diverted (the original
 * destination is recorded for the proxy), or, while the proxy is down or has no listener in the
 * client's network namespace (see divert_netns), the service's fail mode.
 */
static __always_inline enum divert_decision divert_lookup(struct bpf_sock_addr *ctx, struct service_key *service,
							  const struct divert_settings *settings)
{
	struct original_dst original = { .family = service->family, .port = service->port };
	struct service_policy *policy = bpf_map_lookup_elem(&l7_services, service);
	__u64 cookie;

	if (!policy)
		return DIVERT_NO;
	if (!divert_proxy_alive(settings) || !bpf_map_lookup_elem(&divert_netns, &(__u64){ bpf_get_netns_cookie(ctx) })) {
		if (policy->flags & SERVICE_FAIL_OPEN) {
			divert_count(DIVERT_FAILED_OPEN);
			return DIVERT_NO;
		}
		divert_count(DIVERT_FAILED_CLOSED);
		return DIVERT_REFUSE;
	}
	__builtin_memcpy(original.addr, service->addr, sizeof(original.addr));
	original.source_cgroup = source_cgroup_of_current();
	cookie = bpf_get_socket_cookie(ctx);
	bpf_map_update_elem(&divert_by_cookie, &cookie, &original, BPF_ANY);
	divert_count(DIVERT_CONNECTIONS);
	return DIVERT_YES;
}

SEC("cgroup/connect4")
int divert_connect4(struct bpf_sock_addr *ctx)
{
	struct divert_settings *settings = divert_settings_get();
	struct service_key service = { .family = AF_INET };

	if (!settings || !settings->proxy_port || !settings->proxy_ip4 || CTX_READ(ctx->protocol) != IPPROTO_TCP)
		return 1;
	if (is_proxy_upstream(settings))
		return 1;
	enum divert_decision decision;

	service.addr[0] = CTX_READ(ctx->user_ip4);
	service.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	decision = divert_lookup(ctx, &service, settings);
	if (decision != DIVERT_YES)
		return decision == DIVERT_REFUSE ? 0 : 1;
	ctx->user_ip4 = settings->proxy_ip4;
	ctx->user_port = bpf_htons((__u16)settings->proxy_port);
	return 1;
}

SEC("cgroup/connect6")
int divert_connect6(struct bpf_sock_addr *ctx)
{
	struct divert_settings *settings = divert_settings_get();
	struct service_key service = { .family = AF_INET6 };
	enum divert_decision decision;

	if (!settings || !settings->proxy_port || CTX_READ(ctx->protocol) != IPPROTO_TCP)
		return 1;
	if (is_proxy_upstream(settings))
		return 1;
	service.addr[0] = CTX_READ(ctx->user_ip6[0]);
	service.addr[1] = CTX_READ(ctx->user_ip6[1]);
	service.addr[2] = CTX_READ(ctx->user_ip6[2]);
	service.addr[3] = CTX_READ(ctx->user_ip6[3]);
	service.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));

	if (ipv6_is_v4_mapped(service.addr)) {
		/* A dual-stack socket dialling an IPv4 service: look it up and redirect as IPv4. */
		if (!settings->proxy_ip4)
			return 1;
		service.family = AF_INET;
		service.addr[0] = service.addr[3];
		service.addr[1] = service.addr[2] = service.addr[3] = 0;
		decision = divert_lookup(ctx, &service, settings);
		if (decision != DIVERT_YES)
			return decision == DIVERT_REFUSE ? 0 : 1;
		ctx->user_ip6[3] = settings->proxy_ip4;
	} else {
		if (!settings->proxy_ip6[0] && !settings->proxy_ip6[1] && !settings->proxy_ip6[2] && !settings->proxy_ip6[3])
			return 1;
		decision = divert_lookup(ctx, &service, settings);
		if (decision != DIVERT_YES)
			return decision == DIVERT_REFUSE ? 0 : 1;
		ctx->user_ip6[0] = settings->proxy_ip6[0];
		ctx->user_ip6[1] = settings->proxy_ip6[1];
		ctx->user_ip6[2] = settings->proxy_ip6[2];
		ctx->user_ip6[3] = settings->proxy_ip6[3];
	}
	ctx->user_port = bpf_htons((__u16)settings->proxy_port);
	return 1;
}

SEC("sockops")
int divert_established(struct bpf_sock_ops *skops)
{
	struct original_dst *original;
	struct sock_key own, proxy_side, as_dialled;
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	original = bpf_map_lookup_elem(&divert_by_cookie, &cookie);
	if (!original)
		return 1;
	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	sock_key_peer(&own, &proxy_side);
	bpf_map_update_elem(&divert_by_tuple, &proxy_side, original, BPF_ANY);
	/* The flow as the application sees it: from its socket to the service it dialled. */
	as_dialled = own;
	as_dialled.family = original->family;
	__builtin_memcpy(as_dialled.remote_ip, original->addr, sizeof(as_dialled.remote_ip));
	as_dialled.remote_port = original->port;
	flow_send_connection(FLOW_DIVERTED, &as_dialled, cookie, 1);
	bpf_map_delete_elem(&divert_by_cookie, &cookie);
	divert_count(DIVERT_ESTABLISHED);
	return 1;
}

/* A full socket as a sock_key: local = its own end, remote = its peer. */
static __always_inline void sock_key_from_sock(struct bpf_sock *sk, struct sock_key *key, __u64 netns)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = CTX_READ(sk->family);
	if (key->family == AF_INET) {
		key->local_ip[0] = CTX_READ(sk->src_ip4);
		key->remote_ip[0] = CTX_READ(sk->dst_ip4);
	} else {
		key->local_ip[0] = CTX_READ(sk->src_ip6[0]);
		key->local_ip[1] = CTX_READ(sk->src_ip6[1]);
		key->local_ip[2] = CTX_READ(sk->src_ip6[2]);
		key->local_ip[3] = CTX_READ(sk->src_ip6[3]);
		key->remote_ip[0] = CTX_READ(sk->dst_ip6[0]);
		key->remote_ip[1] = CTX_READ(sk->dst_ip6[1]);
		key->remote_ip[2] = CTX_READ(sk->dst_ip6[2]);
		key->remote_ip[3] = CTX_READ(sk->dst_ip6[3]);
	}
	key->local_port = CTX_READ(sk->src_port);
	key->remote_port = bpf_ntohs((__u16)CTX_READ(sk->dst_port));
	key->netns_cookie = netns;
	sock_key_normalize(key);
}

/*
 * getpeername() on a diverted client socket names the service it dialled, not the proxy, so the
 * application sees the same peer as without Mesh (as Cilium's socket load-balancer does).
 */
static __always_inline struct original_dst *original_dst_of_client(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct sock_key own, proxy_side;

	if (!sk)
		return NULL;
	sock_key_from_sock(sk, &own, bpf_get_netns_cookie(ctx));
	sock_key_peer(&own, &proxy_side);
	return bpf_map_lookup_elem(&divert_by_tuple, &proxy_side);
}

SEC("cgroup/getpeername4")
int divert_getpeername4(struct bpf_sock_addr *ctx)
{
	struct original_dst *original = original_dst_of_client(ctx);

	if (original && original->family == AF_INET) {
		ctx->user_ip4 = original->addr[0];
		ctx->user_port = bpf_htons((__u16)original->port);
	}
	return 1;
}

SEC("cgroup/getpeername6")
int divert_getpeername6(struct bpf_sock_addr *ctx)
{
	struct original_dst *original = original_dst_of_client(ctx);

	if (!original)
		return 1;
	if (original->family == AF_INET) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = original->addr[0];
	} else {
		ctx->user_ip6[0] = original->addr[0];
		ctx->user_ip6[1] = original->addr[1];
		ctx->user_ip6[2] = original->addr[2];
		ctx->user_ip6[3] = original->addr[3];
	}
	ctx->user_port = bpf_htons((__u16)original->port);
	return 1;
}

SEC("cgroup/getsockopt")
int divert_original_dst(struct bpf_sockopt *ctx)
{
	struct original_dst *original;
	struct bpf_sock *sk = ctx->sk;
	struct sock_key key;

	if ((ctx->optname != SO_ORIGINAL_DST && ctx->optname != MESH_SO_SOURCE_CGROUP) || (ctx->level != SOL_IP && ctx->level != SOL_IPV6) || !sk)
		return 1;
	sock_key_from_sock(sk, &key, bpf_get_netns_cookie(ctx));
	original = bpf_map_lookup_elem(&divert_by_tuple, &key);
	if (!original) {
		divert_count(DIVERT_ORIGINAL_DST_MISSED);
		return 1; /* not diverted: keep the kernel's own answer */
	}

	if (ctx->optname == MESH_SO_SOURCE_CGROUP) {
		__u64 *answer = ctx->optval;

		if ((void *)(answer + 1) > ctx->optval_end)
			return 1;
		*answer = original->source_cgroup;
		ctx->optlen = sizeof(*answer);
		ctx->retval = 0; /* the kernel itself knows no such option */
		return 1;
	}

	if (ctx->level == SOL_IP) {
		struct sockaddr_in *address = ctx->optval;

		if (original->family != AF_INET || (void *)(address + 1) > ctx->optval_end)
			return 1;
		address->sin_family = AF_INET;
		address->sin_port = bpf_htons((__u16)original->port);
		address->sin_addr.s_addr = original->addr[0];
		ctx->optlen = sizeof(*address);
	} else {
		struct sockaddr_in6 *address = ctx->optval;

		if ((void *)(address + 1) > ctx->optval_end)
			return 1;
		__builtin_memset(address, 0, sizeof(*address));
		address->sin6_family = AF_INET6;
		address->sin6_port = bpf_htons((__u16)original->port);
		if (original->family == AF_INET) {
			address->sin6_addr.in6_u.u6_addr32[2] = bpf_htonl(0x0000ffff);
			address->sin6_addr.in6_u.u6_addr32[3] = original->addr[0];
		} else {
			address->sin6_addr.in6_u.u6_addr32[0] = original->addr[0];
			address->sin6_addr.in6_u.u6_addr32[1] = original->addr[1];
			address->sin6_addr.in6_u.u6_addr32[2] = original->addr[2];
			address->sin6_addr.in6_u.u6_addr32[3] = original->addr[3];
		}
		ctx->optlen = sizeof(*address);
	}
	ctx->retval = 0;
	divert_count(DIVERT_ORIGINAL_DST_ANSWERED);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
