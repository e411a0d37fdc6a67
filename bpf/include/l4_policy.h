/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The L3/L4 decision, shared by the XDP filter and the local socket hooks so both judge a flow
 * by the same code: the source and destination tries each give the set of rules whose CIDR
 * contains the address, and the first rule of both sets whose protocol and ports also match
 * decides. The C# twin used by `mesh policy test` is Mesh.Config's L4Policy.Decide.
 */
#ifndef MESH_L4_POLICY_H
#define MESH_L4_POLICY_H

#include "l4_maps.h"
#include "flow_events.h"

#define IPPROTO_ICMPV6 58 /* vmlinux.h has the other IPPROTO_* as an enum, not this one */

/* What a packet or socket call is judged on. */
struct l4_flow {
	__u32 family;         /* AF_INET or AF_INET6 */
	__u32 source[4];      /* network order; IPv4 in word 0 */
	__u32 destination[4];
	__u32 protocol;       /* IPPROTO_*; ICMPv6 is given as IPPROTO_ICMP */
	__u32 port;           /* destination port, host order */
	__u32 source_port;    /* host order; 0 when unknown */
	__u32 has_port;       /* 0: not a first fragment, or a protocol without ports */
};

struct l4_verdict {
	__u32 action;
	__u32 stats_slot;
};

static __always_inline int l4_is_v4_mapped(const __u32 *address)
{
	return !address[0] && !address[1] && address[2] == bpf_htonl(0x0000ffff);
}

static __always_inline void l4_unmap(__u32 *address)
{
	if (l4_is_v4_mapped(address) || (!address[0] && !address[1] && !address[2] && !address[3])) {
		address[0] = address[3];
		address[1] = address[2] = address[3] = 0;
	}
}

/*
 * A flow of an IPv6 socket to a v4-mapped destination is an IPv4 flow: the rules judge it as one.
 * Its source is then v4-mapped too, or unbound (::, judged as 0.0.0.0).
 */
static __always_inline void l4_flow_unmap(struct l4_flow *flow)
{
	if (flow->family != AF_INET6 || !l4_is_v4_mapped(flow->destination))
		return;
	flow->family = AF_INET;
	l4_unmap(flow->destination);
	l4_unmap(flow->source);
}

/* Rules name ICMP once for both families. */
static __always_inline __u32 l4_policy_protocol(__u32 protocol)
{
	return protocol == IPPROTO_ICMPV6 ? IPPROTO_ICMP : protocol;
}

/*
 * Index 0..63 of the lowest set bit of a non-zero word, without branches: the isolated bit times
 * a de Bruijn sequence puts a unique 6-bit pattern in the top bits. Branches here would multiply
 * the verifier's states by every rule the loop below visits.
 */
static const __u8 de_bruijn_bit_index[64] = {
	0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4,
	62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
	46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
};

static __always_inline __u32 lowest_bit_index(__u64 word)
{
	return de_bruijn_bit_index[((word & -word) * 0x03f79d71b4cb0a89ULL) >> 58];
}

static __always_inline int l4_rule_matches(const struct l4_rule *rule, const struct l4_flow *flow)
{
	if (rule->protocol && rule->protocol != flow->protocol)
		return 0;
	if (!rule->port_first && !rule->port_last)
		return 1;
	/* A port rule never matches a packet whose port is unknown. */
	if (!flow->has_port || (flow->protocol != IPPROTO_TCP && flow->protocol != IPPROTO_UDP))
		return 0;
	return flow->port >= rule->port_first && flow->port <= rule->port_last;
}

static __always_inline void l4_decide(const struct l4_flow *flow, struct l4_verdict *verdict)
{
	struct l4_prefix_key key = { .family = flow->family };
	struct l4_rule_set *sources, *destinations;
	struct l4_generation *generation;
	struct l4_active *active;
	__u32 zero = 0, word;

	verdict->action = L4_ALLOW;
	verdict->stats_slot = L4_DEFAULT_STATS_SLOT;
	active = bpf_map_lookup_elem(&l4_active, &zero);
	if (!active)
		return;
	key.generation = active->generation & 1;
	generation = bpf_map_lookup_elem(&l4_generations, &key.generation);
	if (!generation)
		return;
	verdict->action = generation->default_action;
	if (!generation->rule_count)
		return;

	key.prefixlen = 64 + (flow->family == AF_INET ? 32 : 128);
	__builtin_memcpy(key.addr, flow->source, sizeof(key.addr));
	sources = bpf_map_lookup_elem(&l4_sources, &key);
	if (!sources)
		return;
	__builtin_memcpy(key.addr, flow->destination, sizeof(key.addr));
	destinations = bpf_map_lookup_elem(&l4_destinations, &key);
	if (!destinations)
		return;

	for (word = 0; word < L4_RULE_WORDS; word++) {
		__u64 candidates = sources->words[word] & destinations->words[word];
		int bit;

		for (bit = 0; bit < 64 && candidates; bit++) {
			__u32 index = key.generation * L4_MAX_RULES + word * 64 + lowest_bit_index(candidates);
			struct l4_rule *rule = bpf_map_lookup_elem(&l4_rules, &index);

			candidates &= candidates - 1;
			if (rule && l4_rule_matches(rule, flow)) {
				verdict->action = rule->action;
				verdict->stats_slot = rule->stats_slot;
				return;
			}
		}
	}
}

/* Reports a flow an L4 rule refused (FLOW_DENIED) or dropped (FLOW_DROPPED). */
static __always_inline void l4_report(__u32 verdict, const struct l4_flow *flow, const struct l4_verdict *decided, __u64 cookie)
{
	struct flow_event event = {
		.verdict = verdict,
		.family = flow->family,
		.protocol = flow->protocol,
		.source_port = flow->source_port,
		.destination_port = flow->has_port ? flow->port : 0,
		.rule_slot = decided->stats_slot,
		.socket_cookie = cookie,
	};

	__builtin_memcpy(event.source, flow->source, sizeof(event.source));
	__builtin_memcpy(event.destination, flow->destination, sizeof(event.destination));
	flow_send(&event);
}

#endif
