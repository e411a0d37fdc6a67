// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_msg: moves each message sent on a registered socket straight into the
 * receive queue of its peer socket, skipping the TCP/IP stack.
 *
 * Each send direction is spliced from its first byte or never: once a byte
 * went through TCP (peer not registered yet, splice switched off) the
 * direction stays on TCP, because redirected bytes are read before bytes
 * waiting in the TCP receive queue and would overtake them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sock_addr.h"
#include "splice_maps.h"

static __always_inline int pass_to_tcp(struct splice_direction *direction, __u32 size)
{
	direction->kept_on_tcp = 1;
	splice_count(SPLICE_MESSAGES_PASSED, 1);
	splice_count(SPLICE_BYTES_PASSED, size);
	/* SK_PASS, never the helper's SK_DROP: dropping would lose the application's bytes. */
	return SK_PASS;
}

#define TCP_ESTABLISHED 1
#define TCP_CLOSE_WAIT 8

/*
 * The sk_msg send path does not check for a shut-down write side; TCP's does. A socket that
 * can no longer send (FIN sent: FIN_WAIT, CLOSING, LAST_ACK) is handed to TCP, which answers EPIPE.
 */
static __always_inline int can_send(struct bpf_sock *sk)
{
	__u32 state = sk->state;

	return state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT;
}

SEC("sk_msg")
int splice_redirect(struct sk_msg_md *msg)
{
	struct splice_direction *direction;
	struct sock_key own, peer;
	__u32 size = msg->size;
	struct bpf_sock *sk = msg->sk;

	if (!sk)
		return SK_PASS;
	direction = bpf_sk_storage_get(&splice_directions, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!direction)
		return SK_PASS; /* cannot remember the choice, so never start redirecting */
	if (direction->kept_on_tcp || !splice_enabled() || !can_send(sk))
		return pass_to_tcp(direction, size);

	SOCK_KEY_FROM_CTX(msg, &own, bpf_get_netns_cookie(msg));
	sock_key_peer(&own, &peer);
	if (bpf_msg_redirect_hash(msg, &splice_sockets, &peer, BPF_F_INGRESS) != SK_PASS) {
		splice_count(SPLICE_LOOKUPS_MISSED, 1);
		return pass_to_tcp(direction, size);
	}

	splice_count(SPLICE_MESSAGES_REDIRECTED, 1);
	splice_count(SPLICE_BYTES_REDIRECTED, size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
