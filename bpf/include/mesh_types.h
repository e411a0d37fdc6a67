/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the kernel programs and the agent.
 * Every type here has exactly one C# mirror in redirector/Mesh.Datapath/Maps/,
 * and a test compares their sizes and field offsets against this file's BTF.
 */
#ifndef MESH_TYPES_H
#define MESH_TYPES_H

/* The address families of the family fields below (vmlinux.h has no AF_* constants). */
#define AF_INET 2
#define AF_INET6 10

/*
 * One side of a TCP connection, as seen from the socket that owns it.
 * Addresses are in network byte order; IPv4 uses the first word of each array.
 * Ports are in host byte order (see ports.h for why that needs a helper).
 * The network-namespace cookie keeps two namespaces with the same 127.0.0.1
 * tuple apart: without it, bytes could be spliced across namespaces.
 */
struct sock_key {
	__u32 local_ip[4];
	__u32 remote_ip[4];
	__u32 local_port;
	__u32 remote_port;
	__u32 family;
	__u32 pad;
	__u64 netns_cookie;
};

/* Indexes into the per-CPU splice_counters array. */
enum splice_counter {
	SPLICE_SOCKETS_REGISTERED = 0,
	SPLICE_MESSAGES_REDIRECTED = 1,
	SPLICE_BYTES_REDIRECTED = 2,
	SPLICE_LOOKUPS_MISSED = 3,
	SPLICE_MESSAGES_PASSED = 4,
	SPLICE_BYTES_PASSED = 5,
	SPLICE_COUNTER_MAX = 6,
};

/* Run-time switches the agent writes into the single-entry splice_settings array. */
struct splice_settings {
	__u32 enabled;
	__u32 pad;
	/* The agent's network namespace: node_addresses are addresses of that namespace only. */
	__u64 node_netns_cookie;
};

/*
 * Per-socket state kept in socket-local storage, so it dies with the socket and
 * the agent never has to delete anything for a live connection.
 */
struct splice_direction {
	/* Set once a byte of this socket's send direction went through TCP: from then
	 * on the direction stays on TCP, or later redirected bytes would overtake it. */
	__u32 kept_on_tcp;
};

/* Key of node_addresses: an address that belongs to this node besides loopback. */
struct node_address {
	__u32 family;
	__u32 addr[4];
};

/* A service whose connections go to the node proxy: key of l7_services. */
struct service_key {
	__u32 family;
	__u32 addr[4];
	__u32 port; /* host order */
};

/* Per-service switches in l7_services. */
struct service_policy {
	__u32 flags; /* SERVICE_* */
};

/* While the node proxy is down, connect() to the service goes to the service itself (L7 policy
 * bypassed) instead of failing with EPERM. */
#define SERVICE_FAIL_OPEN 1

/* Where a diverted connection was going before connect() was rewritten, and who made it. */
struct original_dst {
	__u32 family;
	__u32 addr[4];
	__u32 port; /* host order */
	/* The deepest cgroup in source_cgroups that the connecting process was in (or below); 0: none.
	 * The proxy reads it with getsockopt(SOL_IP, MESH_SO_SOURCE_CGROUP) to name the client's service. */
	__u64 source_cgroup;
};

/* getsockopt(SOL_IP or SOL_IPV6, MESH_SO_SOURCE_CGROUP) on the proxy's accepted socket: the
 * original_dst's source_cgroup as 8 bytes. An option number no Linux protocol uses ("MC"). */
#define MESH_SO_SOURCE_CGROUP 0x4d43
/* How deep below the cgroup v2 root a source cgroup may be. */
#define MESH_MAX_CGROUP_DEPTH 16

/* The node proxy, written by the agent into the single-entry divert_settings array. */
struct divert_settings {
	__u32 proxy_ip4;   /* network order; 0: no IPv4 listener */
	__u32 proxy_ip6[4];
	__u32 proxy_port;  /* host order; 0: diversion off */
	/* The uid the node proxy runs as: its own connect() calls (to upstreams) are never diverted
	 * back to it. 0: none (root is never exempt, or every root client would escape the proxy). */
	__u32 proxy_uid;
	__u32 pad;
	/* The proxy counts as down when its last heartbeat (divert_heartbeat, CLOCK_BOOTTIME) is older
	 * than this; 0: no watchdog, always up. */
	__u64 heartbeat_timeout_ns;
};

/* Indexes into the per-CPU divert_counters array. */
enum divert_counter {
	DIVERT_CONNECTIONS = 0,
	DIVERT_ESTABLISHED = 1,
	DIVERT_ORIGINAL_DST_ANSWERED = 2,
	DIVERT_ORIGINAL_DST_MISSED = 3,
	DIVERT_PROXY_CONNECTIONS_SKIPPED = 4,
	DIVERT_FAILED_OPEN = 5,   /* proxy down, or not listening in the client's namespace: connected to the service itself */
	DIVERT_FAILED_CLOSED = 6, /* proxy down, or not listening in the client's namespace: refused with EPERM */
	DIVERT_COUNTER_MAX = 7,
};

/*
 * L3/L4 policy. Rules are numbered in precedence order (the agent sorts them: most specific
 * destination, then source, then priority, then file order); the first rule that matches
 * decides. Two rule sets ("generations") live side by side so a reload writes the new one
 * completely and then flips l4_active, which keeps every packet on one consistent rule set.
 */
#define L4_MAX_RULES 256
#define L4_RULE_WORDS (L4_MAX_RULES / 64)
#define L4_GENERATIONS 2
/* The statistics slot of the default decision, after those of the rules. */
#define L4_DEFAULT_STATS_SLOT L4_MAX_RULES

enum l4_action {
	L4_ALLOW = 0,
	L4_DENY = 1,
};

/* A set of rules: bit i of word i / 64 is rule i. */
struct l4_rule_set {
	__u64 words[L4_RULE_WORDS];
};

/*
 * Key of the LPM tries l4_sources and l4_destinations. The generation and the address family
 * come first in the matched data: a rule set never sees the other generation's prefixes, and an
 * IPv6 prefix (even ::/0) never matches an IPv4 address. A rule for any address is the entry
 * that matches the generation alone.
 */
struct l4_prefix_key {
	__u32 prefixlen;  /* 32 (generation) for any address; 64 (generation, family) + address bits */
	__u32 generation;
	__u32 family;     /* AF_INET or AF_INET6 */
	__u32 addr[4];    /* network order; IPv4 in addr[0] */
};

/* One rule: the conditions the address tries cannot express, its action and its counters. */
struct l4_rule {
	__u32 action;     /* enum l4_action */
	__u32 protocol;   /* 0 = any, else IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP (ICMPv6 too) */
	__u32 port_first; /* host order; both 0: any port, and the rule also matches portless packets */
	__u32 port_last;
	__u32 stats_slot; /* index into l4_rule_stats; stable across reloads for a rule of the same name */
};

/* The rule set of one generation as a whole. */
struct l4_generation {
	__u32 default_action; /* enum l4_action */
	__u32 rule_count;
};

/* The generation packets and sockets are judged by; the agent flips it with one aligned write. */
struct l4_active {
	__u32 generation;
	/* The cgroup whose sockets the established-connection sweep judges, and its depth. */
	__u32 cgroup_level;
	__u64 cgroup_id;
};

/* Per-CPU statistics of one rule (or of the default). */
struct l4_rule_stats {
	__u64 xdp_packets;
	__u64 xdp_bytes;
	__u64 socket_calls;     /* connect()/sendmsg() this rule decided */
	__u64 sockets_destroyed; /* established connections cut when the rule started to deny them */
};

/* Indexes into the per-CPU l4_counters array. */
enum l4_counter {
	L4_XDP_NOT_IP = 0,       /* passed untouched: ARP, LLDP, ... */
	L4_XDP_MALFORMED = 1,    /* dropped: truncated or inconsistent headers */
	L4_XDP_FRAGMENTS = 2,    /* non-first fragments, judged by addresses and protocol only */
	L4_COUNTER_MAX = 3,
};

/*
 * Flow events: one per connection spliced, connection diverted to the node proxy, socket call
 * denied by an L4 rule, and (sampled) packet dropped by XDP, sent to the agent through the
 * flow_events ring buffer.
 */
enum flow_verdict {
	FLOW_SPLICED = 1,  /* both ends local: the server's end joined the sockhash */
	FLOW_DIVERTED = 2, /* established to the node proxy; destination = the service dialled */
	FLOW_DENIED = 3,   /* connect()/sendmsg() refused with EPERM by an L4 rule */
	FLOW_DROPPED = 4,  /* dropped by the XDP filter (sampled) */
};

struct flow_event {
	__u64 timestamp_ns; /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
	__u64 socket_cookie; /* 0 for packets */
	__u32 verdict;      /* enum flow_verdict */
	__u32 family;       /* AF_INET or AF_INET6 */
	__u32 source[4];    /* network order; IPv4 in word 0 */
	__u32 destination[4];
	__u32 source_port;  /* host order; 0 when not known yet (a denied connect) */
	__u32 destination_port;
	__u32 protocol;     /* IPPROTO_* */
	__u32 rule_slot;    /* L4 statistics slot of the deciding rule (denied, dropped) */
};

/* Written by the agent into the single-entry flow_settings array. */
struct flow_settings {
	__u32 xdp_sample_every; /* 1 event per this many XDP drops (per CPU); 0: none */
	__u32 pad;
};

/* Indexes into the per-CPU flow_counters array. */
enum flow_counter {
	FLOW_EVENTS_SENT = 0,
	FLOW_EVENTS_LOST = 1,       /* the ring buffer was full */
	FLOW_XDP_DROPS_SEEN = 2,    /* drives the sampling */
	FLOW_COUNTER_MAX = 3,
};

#endif
