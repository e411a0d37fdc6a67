/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the kernel programs and the agent.
 * Every type here has exactly one C# mirror in redirector/Mesh.Redirector/Maps/,
 * and a test compares their sizes and field offsets against this file's BTF.
 */
#ifndef MESH_TYPES_H
#define MESH_TYPES_H

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
	__u32 flags;
};

/* Where a diverted connection was going before connect() was rewritten. */
struct original_dst {
	__u32 family;
	__u32 addr[4];
	__u32 port; /* host order */
};

/* The node proxy, written by the agent into the single-entry divert_settings array. */
struct divert_settings {
	__u32 proxy_ip4;   /* network order; 0: no IPv4 listener */
	__u32 proxy_ip6[4];
	__u32 proxy_port;  /* host order; 0: diversion off */
	/* SO_MARK the proxy puts on its own upstream sockets, so they are never diverted back to it. */
	__u32 proxy_mark;
};

/* Indexes into the per-CPU divert_counters array. */
enum divert_counter {
	DIVERT_CONNECTIONS = 0,
	DIVERT_ESTABLISHED = 1,
	DIVERT_ORIGINAL_DST_ANSWERED = 2,
	DIVERT_ORIGINAL_DST_MISSED = 3,
	DIVERT_PROXY_CONNECTIONS_SKIPPED = 4,
	DIVERT_COUNTER_MAX = 5,
};

#endif
