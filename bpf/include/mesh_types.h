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
 * Ports are in host byte order (see remote_port_to_host() in sock_addr.h for why that needs a helper).
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
	/* Send directions (one per registered socket that sent): first redirected message;
	 * first message passed to TCP; first redirected message after bytes went through TCP.
	 * Directions kept on TCP = started on TCP - switched. */
	SPLICE_DIRECTIONS_SPLICED = 6,
	SPLICE_DIRECTIONS_STARTED_ON_TCP = 7,
	SPLICE_DIRECTIONS_SWITCHED = 8,
	/* Messages passed to TCP because the peer had not read every byte TCP carried yet. */
	SPLICE_MESSAGES_AWAITING_READER = 9,
	/* Messages passed to TCP because the peer's splice queue had reached its receive buffer. */
	SPLICE_MESSAGES_HELD_FOR_READER = 10,
	SPLICE_COUNTER_MAX = 11,
};

/* Run-time switches the agent writes into the single-entry splice_settings array. */
struct splice_settings {
	__u32 enabled;
};

/* Per-socket state kept in socket-local storage, so it dies with the socket. */
struct splice_direction {
	/* The namespace of the peer's socket (its view of the tuple), set at registration. */
	__u64 peer_netns_cookie;
	__u32 flags; /* SPLICE_DIRECTION_* */
	__u32 pad;
};

#define SPLICE_DIRECTION_REDIRECTED 1   /* a message of this direction was redirected */
#define SPLICE_DIRECTION_SENT_ON_TCP 2  /* a message of this direction went through TCP */

/*
 * Key of served_addresses: an address of a network namespace the agent serves. With netns_cookie
 * set, the entry says "this address is local in that namespace"; with netns_cookie 0, its value is
 * the one namespace that owns the address node-wide (absent when no or several namespaces own it).
 */
struct served_address {
	__u64 netns_cookie;
	__u32 family;
	__u32 addr[4];
	__u32 pad;
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
	/* The translated service's lb_service.id (nonzero) when the connection went to one of its endpoints
	 * rather than to the node proxy: the flow is reported as translated. */
	__u32 service_id;
	__u32 pad;
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

/*
 * Service translation (socket-level load balancing): connect() and, for UDP, sendmsg() to a service
 * address:port is rewritten to one of its endpoints. lb_services names each service's slot table,
 * lb_slots holds the table, in which an endpoint occupies as many slots as its weight. A change
 * writes the table under the service's other generation and then switches lb_service with one write.
 */
#define LB_MAX_SERVICES 4096
#define LB_MAX_SLOTS 1024 /* per service: the weights, scaled down to fit */
#define LB_GENERATIONS 2

/* Key of lb_services: the address, port and protocol clients dial. */
struct lb_service_key {
	__u32 family;
	__u32 addr[4];   /* network order; IPv4 in addr[0] */
	__u32 port;      /* host order */
	__u32 protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
};

struct lb_service {
	/* The active slot table: the service's index * LB_GENERATIONS + generation, plus 1 (0 is "none"). */
	__u32 id;
	/* Slots 0..slot_count-1 of the table; 0: no healthy endpoint, connect() is refused at once. */
	__u32 slot_count;
	/* The next turn of the weighted round robin, advanced by every connection. */
	__u32 next;
	__u32 pad;
};

/* Key of lb_slots. */
struct lb_slot_key {
	__u32 id;   /* lb_service.id */
	__u32 slot;
};

/* An endpoint in a slot: where the connection goes instead. */
struct lb_endpoint {
	__u32 family;
	__u32 addr[4];  /* network order; IPv4 in addr[0] */
	__u32 port;     /* host order */
};

/* Key of lb_udp_replies: a UDP socket and the endpoint it sent to, whose replies name the service. */
struct lb_udp_flow {
	__u64 socket_cookie;
	__u32 family;
	__u32 addr[4];  /* the endpoint's, network order */
	__u32 port;     /* host order */
};

/* Indexes into the per-CPU lb_counters array. */
enum lb_counter {
	LB_TRANSLATED = 0,        /* connect()/sendmsg() rewritten to an endpoint */
	LB_REFUSED = 1,           /* no healthy endpoint: refused with ECONNREFUSED */
	LB_REPLIES_REWRITTEN = 2, /* UDP replies whose source became the service again */
	LB_COUNTER_MAX = 3,
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
	FLOW_TRANSLATED = 5, /* established to an endpoint of the service in rule_slot; destination = the endpoint */
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
	/* Denied, dropped: the L4 statistics slot of the deciding rule. Translated: the lb_service.id of the
	 * service dialled (the destination is the endpoint chosen). */
	__u32 rule_slot;
};

/* Written by the agent into the single-entry flow_settings array. */
struct flow_settings {
	__u32 xdp_sample_every; /* 1 event per this many XDP drops (per CPU); 0: none */
	__u32 translated_per_window; /* at most this many translated-connection events per CPU per FLOW_WINDOW_NS; 0: none */
};

/* Indexes into the per-CPU flow_counters array. */
enum flow_counter {
	FLOW_EVENTS_SENT = 0,
	FLOW_EVENTS_LOST = 1,       /* the ring buffer was full */
	FLOW_XDP_DROPS_SEEN = 2,    /* drives the sampling */
	FLOW_TRANSLATED_WINDOW = 3, /* the current window of translated-connection events (boot ns / FLOW_WINDOW_NS) */
	FLOW_TRANSLATED_IN_WINDOW = 4, /* events sent in it */
	FLOW_COUNTER_MAX = 5,
};

#endif
