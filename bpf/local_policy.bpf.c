// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * L3/L4 policy for local workloads. Spliced bytes never pass XDP, tc or netfilter, so local
 * flows are judged where sockets are made: connect() (TCP, and UDP/ping sockets that connect)
 * and sendmsg() with a destination (UDP) fail with EPERM at once when a rule denies them.
 *
 * A rule that starts to deny while connections it covers are open must cut those too: after
 * each rule change the agent runs the local_sweep iterator over the TCP sockets of its own network
 * namespace and of each workload's (an iterator walks the namespace it is created in), which
 * destroys (bpf_sock_destroy, an RST to the peer) every established socket of the workload
 * cgroup whose flow the new rules deny. Cilium did this check per message in sk_msg; a sweep
 * also reaches connections that are not spliced, and costs nothing per message.
 *
 * Source of a socket call: its bound address, or the one sendmsg() names; a socket bound to
 * no address is judged with source 0.0.0.0 (or ::), so rules with a specific `from` do not
 * apply to it.
 *
 * Order with the L7 diversion (divert.bpf.c): the agent attaches these connect programs
 * before the diversion's, and a cgroup runs its programs in attach order, so rules see the
 * address the application dialled, not the node proxy's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sock_addr.h"
#include "l4_policy.h"

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE_WAIT 8

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

static __always_inline __u32 socket_protocol(struct bpf_sock_addr *ctx)
{
	return l4_policy_protocol(CTX_READ(ctx->protocol));
}

/*
 * Nonzero lets the call go on; 0 makes it fail with EPERM. A global function, verified once on its own: inlined, the
 * rule loop was explored again for every path of each caller, which took connect6 past the verifier's 1M insns.
 */
__noinline int judge_socket_call(struct l4_flow *flow, __u64 cookie)
{
	struct l4_verdict verdict;
	struct l4_rule_stats *stats;

	if (!flow)
		return 1;
	flow->has_port = flow->protocol == IPPROTO_TCP || flow->protocol == IPPROTO_UDP;
	l4_flow_unmap(flow);
	l4_decide(flow, &verdict);
	stats = l4_stats_of(verdict.stats_slot);
	if (stats)
		stats->socket_calls++;
	if (verdict.action != L4_DENY)
		return 1;
	l4_report(FLOW_DENIED, flow, &verdict, cookie);
	return 0;
}

static __always_inline void flow_source_of_socket4(struct bpf_sock_addr *ctx, struct l4_flow *flow)
{
	struct bpf_sock *sk = ctx->sk;

	flow->source[0] = sk ? CTX_READ(sk->src_ip4) : 0;
}

static __always_inline void flow_source_of_socket6(struct bpf_sock_addr *ctx, struct l4_flow *flow)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	flow->source[0] = CTX_READ(sk->src_ip6[0]);
	flow->source[1] = CTX_READ(sk->src_ip6[1]);
	flow->source[2] = CTX_READ(sk->src_ip6[2]);
	flow->source[3] = CTX_READ(sk->src_ip6[3]);
}

static __always_inline void flow_destination6(struct bpf_sock_addr *ctx, struct l4_flow *flow)
{
	flow->destination[0] = CTX_READ(ctx->user_ip6[0]);
	flow->destination[1] = CTX_READ(ctx->user_ip6[1]);
	flow->destination[2] = CTX_READ(ctx->user_ip6[2]);
	flow->destination[3] = CTX_READ(ctx->user_ip6[3]);
}

SEC("cgroup/connect4")
int local_connect4(struct bpf_sock_addr *ctx)
{
	struct l4_flow flow = { .family = AF_INET, .protocol = socket_protocol(ctx) };

	flow_source_of_socket4(ctx, &flow);
	flow.destination[0] = CTX_READ(ctx->user_ip4);
	flow.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return judge_socket_call(&flow, bpf_get_socket_cookie(ctx)) ? 1 : 0;
}

SEC("cgroup/connect6")
int local_connect6(struct bpf_sock_addr *ctx)
{
	struct l4_flow flow = { .family = AF_INET6, .protocol = socket_protocol(ctx) };

	flow_source_of_socket6(ctx, &flow);
	flow_destination6(ctx, &flow);
	flow.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return judge_socket_call(&flow, bpf_get_socket_cookie(ctx)) ? 1 : 0;
}

SEC("cgroup/sendmsg4")
int local_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct l4_flow flow = { .family = AF_INET, .protocol = socket_protocol(ctx) };

	flow.source[0] = CTX_READ(ctx->msg_src_ip4);
	if (!flow.source[0])
		flow_source_of_socket4(ctx, &flow);
	flow.destination[0] = CTX_READ(ctx->user_ip4);
	flow.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return judge_socket_call(&flow, bpf_get_socket_cookie(ctx)) ? 1 : 0;
}

SEC("cgroup/sendmsg6")
int local_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct l4_flow flow = { .family = AF_INET6, .protocol = socket_protocol(ctx) };

	flow.source[0] = CTX_READ(ctx->msg_src_ip6[0]);
	flow.source[1] = CTX_READ(ctx->msg_src_ip6[1]);
	flow.source[2] = CTX_READ(ctx->msg_src_ip6[2]);
	flow.source[3] = CTX_READ(ctx->msg_src_ip6[3]);
	if (!flow.source[0] && !flow.source[1] && !flow.source[2] && !flow.source[3])
		flow_source_of_socket6(ctx, &flow);
	flow_destination6(ctx, &flow);
	flow.port = bpf_ntohs((__u16)CTX_READ(ctx->user_port));
	return judge_socket_call(&flow, bpf_get_socket_cookie(ctx)) ? 1 : 0;
}

/* Whether the socket belongs to the workload cgroup or one below it. */
static __always_inline int in_workload_cgroup(struct sock *sk, const struct l4_active *active)
{
	struct cgroup *cgroup = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	struct cgroup *ancestor = NULL;
	__u32 level = active->cgroup_level;

	if (!cgroup || BPF_CORE_READ(cgroup, level) < (int)level)
		return 0;
	bpf_core_read(&ancestor, sizeof(ancestor), &cgroup->ancestors[level]);
	return ancestor && BPF_CORE_READ(ancestor, kn, id) == active->cgroup_id;
}

SEC("iter/tcp")
int local_sweep(struct bpf_iter__tcp *ctx)
{
	struct sock_common *common = ctx->sk_common;
	struct l4_flow flow = { .protocol = IPPROTO_TCP, .has_port = 1 };
	struct l4_rule_stats *stats;
	struct l4_verdict verdict;
	struct l4_active *active;
	struct tcp_sock *tcp;
	__u32 zero = 0;

	if (!common)
		return 0;
	if (common->skc_state != TCP_ESTABLISHED && common->skc_state != TCP_SYN_SENT && common->skc_state != TCP_CLOSE_WAIT)
		return 0;
	tcp = bpf_skc_to_tcp_sock(common);
	active = bpf_map_lookup_elem(&l4_active, &zero);
	if (!tcp || !active || !in_workload_cgroup((struct sock *)tcp, active))
		return 0;
	flow.family = common->skc_family;
	if (common->skc_family == AF_INET) {
		flow.source[0] = common->skc_rcv_saddr;
		flow.destination[0] = common->skc_daddr;
	} else if (common->skc_family == AF_INET6) {
		BPF_CORE_READ_INTO(&flow.source, common, skc_v6_rcv_saddr.in6_u.u6_addr32);
		BPF_CORE_READ_INTO(&flow.destination, common, skc_v6_daddr.in6_u.u6_addr32);
	} else {
		return 0;
	}
	flow.port = bpf_ntohs(common->skc_dport);
	flow.source_port = common->skc_num;
	l4_flow_unmap(&flow);
	l4_decide(&flow, &verdict);
	if (verdict.action != L4_DENY || bpf_sock_destroy(common))
		return 0;
	l4_report(FLOW_DENIED, &flow, &verdict, bpf_get_socket_cookie(tcp));
	stats = l4_stats_of(verdict.stats_slot);
	if (stats)
		stats->sockets_destroyed++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
