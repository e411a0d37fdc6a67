// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Service translation and L7 diversion, one decision per connect(). A service with HTTP policy is
 * diverted: connect() to it is rewritten to the node proxy's
 * listener, and the proxy recovers the original destination with the standard
 * getsockopt(SO_ORIGINAL_DST), as behind an iptables REDIRECT. That keeps the proxy free of
 * any BPF knowledge; this file answers the getsockopt from the maps. Any other service (and one
 * failing open) is translated: connect() goes to one of its endpoints, chosen here (service_lb.h).
 *
 * A diverted connection's original destination is recorded by socket cookie at connect() (the source
 * port is not chosen yet), then moved to a key of the connection's tuple once it is established, which
 * is what the proxy's accepted socket can name. A translated one's is kept with the client's socket.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_addr.h"
#include "divert_maps.h"
#include "service_lb.h"
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

/* The service key of a dialled IPv4 address, or of an IPv6 one that is v4-mapped (dual stack). */
static __always_inline void service_from_ip6(struct service_key *service, struct bpf_sock_addr *ctx)
{
	service->family = AF_INET6;
	service->addr[0] = CTX_READ(ctx->user_ip6[0]);
	service->addr[1] = CTX_READ(ctx->user_ip6[1]);
	service->addr[2] = CTX_READ(ctx->user_ip6[2]);
	service->addr[3] = CTX_READ(ctx->user_ip6[3]);
	service->port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	if (ipv6_is_v4_mapped(service->addr)) {
		service->family = AF_INET;
		service->addr[0] = service->addr[3];
		service->addr[1] = service->addr[2] = service->addr[3] = 0;
	}
}

/*
 * Picks the endpoint of a translated service. A TCP connection's service is kept with its socket (lb_translated),
 * so getpeername() and flows name the service; a UDP socket's by the endpoint, for its replies (recvmsg) and
 * getpeername().
 */
static __always_inline enum lb_decision translate(struct bpf_sock_addr *ctx, const struct service_key *service, __u32 protocol,
						  struct lb_endpoint *endpoint)
{
	struct lb_service_key key = { .family = service->family, .port = service->port, .protocol = protocol };
	enum lb_decision decision;
	__u32 service_id = 0;

	__builtin_memcpy(key.addr, service->addr, sizeof(key.addr));
	decision = lb_choose(&key, endpoint, &service_id);
	if (decision != LB_TO_ENDPOINT)
		return decision;
	if (endpoint->family != service->family)
		return LB_NO_ENDPOINT; /* the agent never writes one: a socket cannot change family */
	if (protocol == IPPROTO_TCP) {
		struct bpf_sock *sk = ctx->sk;
		struct original_dst *original;

		if (!sk)
			return LB_NOT_A_SERVICE;
		original = bpf_sk_storage_get(&lb_translated, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!original)
			return LB_NOT_A_SERVICE;
		original->family = service->family;
		original->port = service->port;
		original->service_id = service_id;
		__builtin_memcpy(original->addr, service->addr, sizeof(original->addr));
	} else {
		struct lb_udp_flow flow = { .socket_cookie = bpf_get_socket_cookie(ctx), .family = endpoint->family, .port = endpoint->port };

		__builtin_memcpy(flow.addr, endpoint->addr, sizeof(flow.addr));
		bpf_map_update_elem(&lb_udp_replies, &flow, &key, BPF_ANY);
	}
	return LB_TO_ENDPOINT;
}

enum connect_decision {
	CONNECT_AS_DIALLED = 0,
	CONNECT_REWRITE = 1,  /* to the node proxy, or to an endpoint */
	CONNECT_EPERM = 2,    /* failing closed */
	CONNECT_REFUSED = 3,  /* no healthy endpoint */
};

/*
 * One decision for connect() (TCP and UDP) and sendmsg() (UDP): diverted to the node proxy, refused by the
 * service's fail mode, translated to an endpoint (also when failing open), or left as dialled; *to is
 * where a rewrite goes. The proxy's own connections are neither: it dials endpoints itself.
 */
static __always_inline enum connect_decision service_connect(struct bpf_sock_addr *ctx, const struct service_key *service,
							     struct lb_endpoint *to)
{
	struct divert_settings *settings = divert_settings_get();
	__u32 protocol = CTX_READ(ctx->protocol);
	enum divert_decision diverted = DIVERT_NO;
	int proxy_listens;

	if (!settings || (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) || is_proxy_upstream(settings))
		return CONNECT_AS_DIALLED;
	/* A socket that connects again (after a failed connect()) is no longer the service it dialled before. */
	if (protocol == IPPROTO_TCP && ctx->sk)
		bpf_sk_storage_delete(&lb_translated, ctx->sk);
	proxy_listens = settings->proxy_port &&
			(service->family == AF_INET ? settings->proxy_ip4 != 0
						    : (settings->proxy_ip6[0] | settings->proxy_ip6[1] | settings->proxy_ip6[2] | settings->proxy_ip6[3]) != 0);
	if (protocol == IPPROTO_TCP && proxy_listens)
		diverted = divert_lookup(ctx, (struct service_key *)service, settings);
	if (diverted == DIVERT_REFUSE)
		return CONNECT_EPERM;
	if (diverted == DIVERT_YES) {
		to->family = service->family;
		to->port = settings->proxy_port;
		if (service->family == AF_INET)
			to->addr[0] = settings->proxy_ip4;
		else
			__builtin_memcpy(to->addr, settings->proxy_ip6, sizeof(to->addr));
		return CONNECT_REWRITE;
	}
	switch (translate(ctx, service, protocol, to)) {
	case LB_TO_ENDPOINT:
		return CONNECT_REWRITE;
	case LB_NO_ENDPOINT:
		return CONNECT_REFUSED;
	default:
		return CONNECT_AS_DIALLED;
	}
}

/* Writes an address into an IPv6 socket's context: v4-mapped for an IPv4 one (a dual-stack socket). */
static __always_inline void set_user_ip6(struct bpf_sock_addr *ctx, __u32 family, const __u32 addr[4], __u32 port)
{
	if (family == AF_INET) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0x0000ffff);
		ctx->user_ip6[3] = addr[0];
	} else {
		ctx->user_ip6[0] = addr[0];
		ctx->user_ip6[1] = addr[1];
		ctx->user_ip6[2] = addr[2];
		ctx->user_ip6[3] = addr[3];
	}
	ctx->user_port = bpf_htons((__u16)port);
}

/* The program's verdict for a decision that rewrites nothing. */
static __always_inline int connect_verdict(enum connect_decision decision)
{
	if (decision == CONNECT_EPERM)
		return 0;
	return decision == CONNECT_REFUSED ? lb_refuse() : 1;
}

/* Applies service_connect()'s decision to an IPv4 socket. */
static __always_inline int rewrite4(struct bpf_sock_addr *ctx, const struct service_key *service)
{
	struct lb_endpoint to;
	enum connect_decision decision = service_connect(ctx, service, &to);

	if (decision != CONNECT_REWRITE)
		return connect_verdict(decision);
	ctx->user_ip4 = to.addr[0];
	ctx->user_port = bpf_htons((__u16)to.port);
	return 1;
}

/* The same for an IPv6 socket: an IPv6 destination, or a v4-mapped one on a dual-stack socket. */
static __always_inline int rewrite6(struct bpf_sock_addr *ctx, const struct service_key *service)
{
	struct lb_endpoint to;
	enum connect_decision decision = service_connect(ctx, service, &to);

	if (decision != CONNECT_REWRITE)
		return connect_verdict(decision);
	set_user_ip6(ctx, to.family, to.addr, to.port);
	return 1;
}

SEC("cgroup/connect4")
int divert_connect4(struct bpf_sock_addr *ctx)
{
	struct service_key service = { .family = AF_INET };

	service.addr[0] = CTX_READ(ctx->user_ip4);
	service.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return rewrite4(ctx, &service);
}

SEC("cgroup/connect6")
int divert_connect6(struct bpf_sock_addr *ctx)
{
	struct service_key service;

	service_from_ip6(&service, ctx);
	return rewrite6(ctx, &service);
}

/* Unconnected UDP: each datagram to a service goes to an endpoint (per datagram, as Cilium's socket LB does). */
SEC("cgroup/sendmsg4")
int service_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct service_key service = { .family = AF_INET };

	service.addr[0] = CTX_READ(ctx->user_ip4);
	service.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return rewrite4(ctx, &service);
}

SEC("cgroup/sendmsg6")
int service_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct service_key service;

	service_from_ip6(&service, ctx);
	return rewrite6(ctx, &service);
}

/* The service a UDP socket sent to, by the endpoint a datagram came from (or the socket is connected to). */
static __always_inline struct lb_service_key *udp_service_of(struct bpf_sock_addr *ctx, const struct service_key *peer)
{
	struct lb_udp_flow flow = { .socket_cookie = bpf_get_socket_cookie(ctx), .family = peer->family, .port = peer->port };

	__builtin_memcpy(flow.addr, peer->addr, sizeof(flow.addr));
	return bpf_map_lookup_elem(&lb_udp_replies, &flow);
}

/* A reply from an endpoint names the service as its source, as the client expects. */
SEC("cgroup/recvmsg4")
int service_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct service_key peer = { .family = AF_INET };
	struct lb_service_key *service;

	peer.addr[0] = CTX_READ(ctx->user_ip4);
	peer.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	service = udp_service_of(ctx, &peer);
	if (service) {
		ctx->user_ip4 = service->addr[0];
		ctx->user_port = bpf_htons((__u16)service->port);
		counter_add(&lb_counters, LB_REPLIES_REWRITTEN, 1);
	}
	return 1;
}

SEC("cgroup/recvmsg6")
int service_recvmsg6(struct bpf_sock_addr *ctx)
{
	struct service_key peer;
	struct lb_service_key *service;

	service_from_ip6(&peer, ctx);
	service = udp_service_of(ctx, &peer);
	if (service) {
		set_user_ip6(ctx, service->family, service->addr, service->port);
		counter_add(&lb_counters, LB_REPLIES_REWRITTEN, 1);
	}
	return 1;
}

/* A translated connection, once established: its flow to the endpoint, and which service it was for. */
static __always_inline void report_translated(struct bpf_sock_ops *skops, __u64 cookie)
{
	struct bpf_sock *sk = skops->sk;
	struct original_dst *original;
	struct flow_event event;
	struct sock_key own;

	if (!sk || !flow_report_translated())
		return;
	original = bpf_sk_storage_get(&lb_translated, sk, 0, 0);
	if (!original)
		return;
	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	flow_fill_connection(&event, FLOW_TRANSLATED, &own, cookie, 1);
	event.rule_slot = original->service_id;
	flow_send(&event);
}

SEC("sockops")
int divert_established(struct bpf_sock_ops *skops)
{
	struct original_dst *original;
	struct sock_key own, proxy_side, as_dialled;
	struct flow_event event;
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	original = bpf_map_lookup_elem(&divert_by_cookie, &cookie);
	if (!original) {
		report_translated(skops, cookie);
		return 1;
	}
	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	sock_key_peer(&own, &proxy_side);
	bpf_map_update_elem(&divert_by_tuple, &proxy_side, original, BPF_ANY);
	/* The flow as the application sees it: from its socket to the service it dialled. */
	as_dialled = own;
	as_dialled.family = original->family;
	__builtin_memcpy(as_dialled.remote_ip, original->addr, sizeof(as_dialled.remote_ip));
	as_dialled.remote_port = original->port;
	flow_fill_connection(&event, FLOW_DIVERTED, &as_dialled, cookie, 1);
	divert_count(DIVERT_ESTABLISHED);
	flow_send(&event);
	bpf_map_delete_elem(&divert_by_cookie, &cookie);
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
 * getpeername() on a diverted or translated client socket names the service it dialled, not the proxy
 * or the endpoint, so the application sees the same peer as without Mesh (as Cilium's socket LB does).
 */
static __always_inline int dialled_service_of(struct bpf_sock_addr *ctx, struct service_key *dialled)
{
	struct bpf_sock *sk = ctx->sk;
	struct sock_key own, proxy_side;
	struct original_dst *original;

	if (!sk)
		return 0;
	sock_key_from_sock(sk, &own, bpf_get_netns_cookie(ctx));
	if (CTX_READ(sk->protocol) == IPPROTO_UDP) {
		struct service_key peer = { .family = own.family, .port = own.remote_port };
		struct lb_service_key *service;

		__builtin_memcpy(peer.addr, own.remote_ip, sizeof(peer.addr));
		service = udp_service_of(ctx, &peer);
		if (!service)
			return 0;
		dialled->family = service->family;
		dialled->port = service->port;
		__builtin_memcpy(dialled->addr, service->addr, sizeof(dialled->addr));
		return 1;
	}
	original = bpf_sk_storage_get(&lb_translated, sk, 0, 0);
	if (!original) {
		sock_key_peer(&own, &proxy_side);
		original = bpf_map_lookup_elem(&divert_by_tuple, &proxy_side);
	}
	if (!original)
		return 0;
	dialled->family = original->family;
	dialled->port = original->port;
	__builtin_memcpy(dialled->addr, original->addr, sizeof(dialled->addr));
	return 1;
}

SEC("cgroup/getpeername4")
int divert_getpeername4(struct bpf_sock_addr *ctx)
{
	struct service_key dialled;

	if (dialled_service_of(ctx, &dialled) && dialled.family == AF_INET) {
		ctx->user_ip4 = dialled.addr[0];
		ctx->user_port = bpf_htons((__u16)dialled.port);
	}
	return 1;
}

SEC("cgroup/getpeername6")
int divert_getpeername6(struct bpf_sock_addr *ctx)
{
	struct service_key dialled;

	if (dialled_service_of(ctx, &dialled))
		set_user_ip6(ctx, dialled.family, dialled.addr, dialled.port);
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
