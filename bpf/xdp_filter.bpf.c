// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * L3/L4 policy at the NIC: every frame arriving on an interface Mesh attached to is parsed down
 * to its ports and judged by the rules in l4_maps.h before the stack allocates anything for it.
 *
 * Verdicts besides the rules' (all counted in l4_counters):
 * - not IPv4/IPv6 (ARP, LLDP, ...): passed untouched;
 * - truncated or inconsistent headers (a frame shorter than a header it announces, an IPv4 IHL
 *   under 5, more than two VLAN tags, more than IPV6_MAX_EXTENSION_HEADERS IPv6 extension
 *   headers): dropped, since the stack would drop most of them too and the rest could hide
 *   ports from the rules;
 * - non-first fragments carry no ports: judged by addresses and protocol only, so port rules
 *   skip them (the first fragment, with the ports, is judged in full).
 * Drops by a rule are reported as flow events, one in flow_settings.xdp_sample_every per CPU, so a
 * flood cannot fill the ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l4_policy.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define MAX_VLAN_TAGS 2
#define IP_FRAGMENT_OFFSET_MASK 0x1fff
#define IPV6_MAX_EXTENSION_HEADERS 6

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* The generic shape of hop-by-hop, routing, destination-options and authentication headers. */
struct ipv6_extension {
	__u8 next_header;
	__u8 length;
};

struct cursor {
	void *position;
	void *end;
};

/* Reads the destination port of a TCP/UDP header, or checks an ICMP header is whole. */
static __always_inline int parse_transport(struct cursor *cursor, struct l4_flow *flow)
{
	switch (flow->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = cursor->position;

		if ((void *)(tcp + 1) > cursor->end)
			return -1;
		flow->port = bpf_ntohs(tcp->dest);
		flow->source_port = bpf_ntohs(tcp->source);
		flow->has_port = 1;
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = cursor->position;

		if ((void *)(udp + 1) > cursor->end)
			return -1;
		flow->port = bpf_ntohs(udp->dest);
		flow->source_port = bpf_ntohs(udp->source);
		flow->has_port = 1;
		return 0;
	}
	case IPPROTO_ICMP: {
		/* ICMP and ICMPv6 share the 4-byte type/code/checksum head and an 8-byte minimum. */
		struct icmphdr *icmp = cursor->position;

		return (void *)(icmp + 1) > cursor->end ? -1 : 0;
	}
	default:
		return 0;
	}
}

static __always_inline int parse_ipv4(struct cursor *cursor, struct l4_flow *flow)
{
	struct iphdr *ip = cursor->position;
	__u32 header_length;

	if ((void *)(ip + 1) > cursor->end)
		return -1;
	header_length = ip->ihl * 4;
	if (header_length < sizeof(*ip))
		return -1;
	if (cursor->position + header_length > cursor->end)
		return -1;
	flow->family = AF_INET;
	flow->source[0] = ip->saddr;
	flow->destination[0] = ip->daddr;
	flow->protocol = ip->protocol;
	if (ip->frag_off & bpf_htons(IP_FRAGMENT_OFFSET_MASK)) {
		l4_count(L4_XDP_FRAGMENTS);
		return 0;
	}
	cursor->position += header_length;
	return parse_transport(cursor, flow);
}

static __always_inline int is_ipv6_extension(__u8 next_header)
{
	return next_header == NEXTHDR_HOP || next_header == NEXTHDR_ROUTING || next_header == NEXTHDR_DEST ||
	       next_header == NEXTHDR_FRAGMENT || next_header == NEXTHDR_AUTH;
}

static __always_inline int parse_ipv6(struct cursor *cursor, struct l4_flow *flow)
{
	struct ipv6hdr *ip = cursor->position;
	__u8 next_header;
	int depth;

	if ((void *)(ip + 1) > cursor->end)
		return -1;
	flow->family = AF_INET6;
	__builtin_memcpy(flow->source, &ip->saddr, sizeof(flow->source));
	__builtin_memcpy(flow->destination, &ip->daddr, sizeof(flow->destination));
	next_header = ip->nexthdr;
	cursor->position = ip + 1;

	for (depth = 0; depth < IPV6_MAX_EXTENSION_HEADERS && is_ipv6_extension(next_header); depth++) {
		/* Every extension header starts with the next header; the fragment header too. */
		struct ipv6_extension *extension = cursor->position;
		__u32 length;

		if ((void *)(extension + 1) > cursor->end)
			return -1;
		if (next_header == NEXTHDR_FRAGMENT) {
			struct frag_hdr *fragment = cursor->position;

			if ((void *)(fragment + 1) > cursor->end)
				return -1;
			if (fragment->frag_off & bpf_htons(0xfff8)) {
				flow->protocol = l4_policy_protocol(fragment->nexthdr);
				l4_count(L4_XDP_FRAGMENTS);
				return 0;
			}
			length = sizeof(*fragment);
		} else if (next_header == NEXTHDR_AUTH) {
			length = (extension->length + 2) * 4; /* AH counts 4-byte units, minus 2 */
		} else {
			length = (extension->length + 1) * 8; /* the others count 8-byte units, minus 1 */
		}
		next_header = extension->next_header;
		cursor->position += length;
	}
	if (is_ipv6_extension(next_header))
		return -1; /* deeper than the parser goes: the ports could hide behind it */
	flow->protocol = l4_policy_protocol(next_header);
	return parse_transport(cursor, flow);
}

/* Fills the flow from the frame; -1 for a malformed frame, 1 for a frame that is not IP. */
static __always_inline int parse_frame(struct xdp_md *ctx, struct l4_flow *flow)
{
	struct cursor cursor = { .position = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end };
	struct ethhdr *ethernet = cursor.position;
	__be16 ether_type;
	int tag;

	if ((void *)(ethernet + 1) > cursor.end)
		return -1;
	ether_type = ethernet->h_proto;
	cursor.position = ethernet + 1;
	for (tag = 0; tag < MAX_VLAN_TAGS; tag++) {
		struct vlan_tag *vlan = cursor.position;

		if (ether_type != bpf_htons(ETH_P_8021Q) && ether_type != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > cursor.end)
			return -1;
		ether_type = vlan->encapsulated_proto;
		cursor.position = vlan + 1;
	}
	if (ether_type == bpf_htons(ETH_P_IP))
		return parse_ipv4(&cursor, flow);
	if (ether_type == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(&cursor, flow);
	if (ether_type == bpf_htons(ETH_P_8021Q) || ether_type == bpf_htons(ETH_P_8021AD))
		return -1;
	return 1;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	struct l4_flow flow = {};
	struct l4_verdict verdict;
	struct l4_rule_stats *stats;
	int parsed = parse_frame(ctx, &flow);

	if (parsed < 0) {
		l4_count(L4_XDP_MALFORMED);
		return XDP_DROP;
	}
	if (parsed > 0) {
		l4_count(L4_XDP_NOT_IP);
		return XDP_PASS;
	}
	l4_decide(&flow, &verdict);
	stats = l4_stats_of(verdict.stats_slot);
	if (stats) {
		stats->xdp_packets++;
		stats->xdp_bytes += ctx->data_end - ctx->data;
	}
	if (verdict.action != L4_DENY)
		return XDP_PASS;
	if (flow_sample_xdp_drop())
		l4_report(FLOW_DROPPED, &flow, &verdict, 0);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
