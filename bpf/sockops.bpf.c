// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sock_ops: registers every established TCP socket whose peer is on this node
 * in the splice_sockets sockhash, keyed by its own tuple and network namespace,
 * and remembers the peer's namespace in the socket's storage.
 * The kernel removes a socket from the sockhash when it closes, so nothing here
 * (and nothing in the agent) ever deletes an entry of a live connection; the
 * socket's splice_peers entry goes when it reaches TCP_CLOSE (state callback).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_addr.h"
#include "splice_maps.h"
#include "flow_events.h"

/* The namespace of the peer's socket by the rule above served_addresses; 0: not on this node. */
static __always_inline __u64 peer_netns_cookie(const struct sock_key *own)
{
	struct served_address address = { .netns_cookie = own->netns_cookie, .family = own->family };
	__u64 *owner;

	if (own->family == AF_INET && ipv4_is_loopback(own->remote_ip[0]))
		return own->netns_cookie;
	if (own->family == AF_INET6 && ipv6_is_loopback(own->remote_ip))
		return own->netns_cookie;
	/* This socket's own namespace must be served too, or its peer could not find it. */
	__builtin_memcpy(address.addr, own->local_ip, sizeof(address.addr));
	if (!bpf_map_lookup_elem(&served_addresses, &address))
		return 0;
	__builtin_memcpy(address.addr, own->remote_ip, sizeof(address.addr));
	if (bpf_map_lookup_elem(&served_addresses, &address))
		return own->netns_cookie;
	address.netns_cookie = 0;
	owner = bpf_map_lookup_elem(&served_addresses, &address);
	return owner ? *owner : 0;
}

/*
 * Every socket passes TCP_CLOSE before the kernel frees it, and still owns its tuple then
 * (tcp_set_state calls back before unhashing), so its address leaves splice_peers while valid.
 * Only this socket's own address goes: a key registered again belongs to a newer socket.
 */
static __always_inline void forget_peer_address(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sock_key own;
	__u64 *address;

	if (skops->args[1] != BPF_TCP_CLOSE || !sk)
		return;
	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	address = bpf_map_lookup_elem(&splice_peers, &own);
	if (address && *address == (__u64)sk)
		bpf_map_delete_elem(&splice_peers, &own);
}

SEC("sockops")
int splice_register(struct bpf_sock_ops *skops)
{
	struct splice_direction *direction;
	struct bpf_sock *sk;
	struct sock_key own;
	__u64 peer_netns, address;

	if (skops->op == BPF_SOCK_OPS_STATE_CB) {
		forget_peer_address(skops);
		return 1;
	}
	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (!splice_enabled())
		return 1;

	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	peer_netns = peer_netns_cookie(&own);
	sk = skops->sk;
	if (!peer_netns || !sk)
		return 1;
	direction = bpf_sk_storage_get(&splice_directions, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!direction)
		return 1;
	direction->peer_netns_cookie = peer_netns;
	if (bpf_sock_hash_update(skops, &splice_sockets, &own, BPF_NOEXIST) != 0)
		return 1;
	/* After the sockhash: a key another live socket holds must not get this socket's address. */
	address = (__u64)sk;
	bpf_map_update_elem(&splice_peers, &own, &address, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	splice_count(SPLICE_SOCKETS_REGISTERED, 1);
	/* The server's end registers after the client's: from now on the connection can be spliced. */
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		flow_send_connection(FLOW_SPLICED, &own, bpf_get_socket_cookie(skops), 0);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
