// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sock_ops: registers every established TCP socket whose peer is on this node
 * in the splice_sockets sockhash, keyed by its own tuple and network namespace.
 * The kernel removes a socket from the sockhash when it closes, so nothing here
 * (and nothing in the agent) ever deletes an entry of a live connection.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_addr.h"
#include "splice_maps.h"
#include "flow_events.h"

static __always_inline int remote_is_on_node(const struct sock_key *own)
{
	struct node_address address = { .family = own->family };
	struct splice_settings *settings;

	__builtin_memcpy(address.addr, own->remote_ip, sizeof(address.addr));
	if (own->family == AF_INET && ipv4_is_loopback(own->remote_ip[0]))
		return 1;
	if (own->family == AF_INET6 && ipv6_is_loopback(own->remote_ip))
		return 1;
	/* Another namespace's view of the node's addresses differs: there, only loopback is local. */
	settings = splice_settings_get();
	if (!settings || settings->node_netns_cookie != own->netns_cookie)
		return 0;
	return bpf_map_lookup_elem(&node_addresses, &address) != NULL;
}

SEC("sockops")
int splice_register(struct bpf_sock_ops *skops)
{
	struct sock_key own;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (!splice_enabled())
		return 1;

	SOCK_KEY_FROM_CTX(skops, &own, bpf_get_netns_cookie(skops));
	if (!remote_is_on_node(&own))
		return 1;
	if (bpf_sock_hash_update(skops, &splice_sockets, &own, BPF_NOEXIST) != 0)
		return 1;
	splice_count(SPLICE_SOCKETS_REGISTERED, 1);
	/* The server's end registers after the client's: from now on the connection is spliced. */
	if (skops->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		flow_send_connection(FLOW_SPLICED, &own, bpf_get_socket_cookie(skops), 0);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
