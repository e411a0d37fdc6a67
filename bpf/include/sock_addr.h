/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers that turn socket context fields into struct sock_key, in one place for every program. */
#ifndef MESH_SOCK_ADDR_H
#define MESH_SOCK_ADDR_H

#include "mesh_types.h"

/*
 * The context's remote_port holds the big-endian port in the upper 16 bits of a
 * host-order word, while local_port is already in host order. bpf_ntohl() of the
 * word yields the host-order remote port on either endianness.
 */
static __always_inline __u32 remote_port_to_host(__u32 remote_port)
{
	return bpf_ntohl(remote_port);
}

static __always_inline int ipv4_is_loopback(__u32 addr_be)
{
	return (bpf_ntohl(addr_be) >> 24) == 127;
}

static __always_inline int ipv6_is_loopback(const __u32 addr[4])
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == 0 && addr[3] == bpf_htonl(1);
}

/*
 * Context fields must be read at a constant offset from the context pointer:
 * the verifier rejects a load through a pointer the compiler advanced, which
 * clang likes to do for neighbouring fields. A volatile read keeps each load direct.
 */
#define CTX_READ(field) (*(volatile __u32 *)&(field))

/* ::ffff:a.b.c.d, as dual-stack sockets report IPv4 peers. */
static __always_inline int ipv6_is_v4_mapped(const __u32 addr[4])
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0x0000ffff);
}

/*
 * A dual-stack client (AF_INET6 socket, v4-mapped addresses) talking to an AF_INET server
 * must meet it under one key, so v4-mapped keys are stored as plain IPv4.
 */
static __always_inline void sock_key_normalize(struct sock_key *key)
{
	if (key->family != AF_INET6 || !ipv6_is_v4_mapped(key->local_ip) || !ipv6_is_v4_mapped(key->remote_ip))
		return;
	key->family = AF_INET;
	key->local_ip[0] = key->local_ip[3];
	key->remote_ip[0] = key->remote_ip[3];
	key->local_ip[1] = key->local_ip[2] = key->local_ip[3] = 0;
	key->remote_ip[1] = key->remote_ip[2] = key->remote_ip[3] = 0;
}

/* The key the peer socket registered under: its local end is our remote end, in our namespace. */
static __always_inline void sock_key_peer(const struct sock_key *own, struct sock_key *peer)
{
	__builtin_memset(peer, 0, sizeof(*peer));
	peer->family = own->family;
	__builtin_memcpy(peer->local_ip, own->remote_ip, sizeof(own->remote_ip));
	__builtin_memcpy(peer->remote_ip, own->local_ip, sizeof(own->local_ip));
	peer->local_port = own->remote_port;
	peer->remote_port = own->local_port;
	peer->netns_cookie = own->netns_cookie;
}

/*
 * Fills the key of the socket behind a context. Context types differ (bpf_sock_ops,
 * sk_msg_md) but share these field names, hence a macro.
 */
#define SOCK_KEY_FROM_CTX(ctx, key, netns)                                              \
	do {                                                                            \
		__builtin_memset((key), 0, sizeof(*(key)));                             \
		(key)->family = CTX_READ((ctx)->family);                                \
		if ((key)->family == AF_INET) {                                         \
			(key)->local_ip[0] = CTX_READ((ctx)->local_ip4);                \
			(key)->remote_ip[0] = CTX_READ((ctx)->remote_ip4);              \
		} else {                                                                \
			(key)->local_ip[0] = CTX_READ((ctx)->local_ip6[0]);             \
			(key)->local_ip[1] = CTX_READ((ctx)->local_ip6[1]);             \
			(key)->local_ip[2] = CTX_READ((ctx)->local_ip6[2]);             \
			(key)->local_ip[3] = CTX_READ((ctx)->local_ip6[3]);             \
			(key)->remote_ip[0] = CTX_READ((ctx)->remote_ip6[0]);           \
			(key)->remote_ip[1] = CTX_READ((ctx)->remote_ip6[1]);           \
			(key)->remote_ip[2] = CTX_READ((ctx)->remote_ip6[2]);           \
			(key)->remote_ip[3] = CTX_READ((ctx)->remote_ip6[3]);           \
		}                                                                       \
		(key)->local_port = CTX_READ((ctx)->local_port);                        \
		(key)->remote_port = remote_port_to_host(CTX_READ((ctx)->remote_port)); \
		(key)->netns_cookie = (netns);                                          \
		sock_key_normalize(key);                                                \
	} while (0)

#endif
