// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_msg: moves each message sent on a registered socket straight into the
 * receive queue of its peer socket, skipping the TCP/IP stack.
 *
 * A message is redirected only when no byte of its direction is still waiting
 * in TCP: the peer has read (copied_seq) everything this socket wrote to TCP
 * (write_seq; redirected bytes move neither). The reader takes its splice queue
 * before its TCP queue, so a redirected byte would overtake an unread TCP byte.
 * That makes the rule stateless: a client that writes before the server's end is
 * registered starts on TCP and switches once the server has read those bytes.
 * Going back to TCP is always in order (the splice queue is read first), which
 * holds a sender back by TCP's flow control once its reader's splice queue has
 * reached the reader's receive buffer (sk_msg cannot make a sender wait). A bulk
 * sender that outruns its reader so stays on TCP until the reader drains TCP.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sock_addr.h"
#include "splice_maps.h"

#define TCP_ESTABLISHED 1
#define TCP_FIN_WAIT1 4
#define TCP_FIN_WAIT2 5
#define TCP_CLOSE_WAIT 8

/* sk_user_data carries flag bits below the psock pointer (SK_USER_DATA_PTRMASK). */
#define SK_USER_DATA_FLAGS 7UL

/* What the redirect needs to know of the peer's receive side. */
struct peer_receiver {
	__u32 copied_seq; /* next byte the reader takes from TCP */
	__u32 queued;     /* bytes waiting in its splice queue */
	int rcvbuf;
	__u8 state;
};

/* Reads the peer socket through its address (see splice_peers); 0 when it can receive. */
static __always_inline int read_peer(const struct sock_key *key, struct peer_receiver *peer)
{
	__u64 *address = bpf_map_lookup_elem(&splice_peers, key);
	struct sock *sk;
	struct sk_psock *psock;

	if (!address)
		return -1;
	sk = (struct sock *)*address;
	if (BPF_CORE_READ_INTO(&peer->state, sk, __sk_common.skc_state) ||
	    BPF_CORE_READ_INTO(&peer->copied_seq, (struct tcp_sock *)sk, copied_seq) ||
	    BPF_CORE_READ_INTO(&peer->rcvbuf, sk, sk_rcvbuf))
		return -1;
	if (peer->state != TCP_ESTABLISHED && peer->state != TCP_FIN_WAIT1 && peer->state != TCP_FIN_WAIT2)
		return -1;
	psock = (struct sk_psock *)((unsigned long)BPF_CORE_READ(sk, sk_user_data) & ~SK_USER_DATA_FLAGS);
	peer->queued = 0;
	if (psock && bpf_core_field_exists(psock->msg_tot_len))
		BPF_CORE_READ_INTO(&peer->queued, psock, msg_tot_len);
	return 0;
}

static __always_inline int pass_to_tcp(struct splice_direction *direction, __u32 size, enum splice_counter reason)
{
	if (!(direction->flags & (SPLICE_DIRECTION_REDIRECTED | SPLICE_DIRECTION_SENT_ON_TCP)))
		splice_count(SPLICE_DIRECTIONS_STARTED_ON_TCP, 1);
	direction->flags |= SPLICE_DIRECTION_SENT_ON_TCP;
	if (reason != SPLICE_COUNTER_MAX)
		splice_count(reason, 1);
	splice_count(SPLICE_MESSAGES_PASSED, 1);
	splice_count(SPLICE_BYTES_PASSED, size);
	/* SK_PASS, never the helper's SK_DROP: dropping would lose the application's bytes. */
	return SK_PASS;
}

static __always_inline void count_redirected(struct splice_direction *direction, __u32 size)
{
	if (!(direction->flags & SPLICE_DIRECTION_REDIRECTED)) {
		splice_count(SPLICE_DIRECTIONS_SPLICED, 1);
		if (direction->flags & SPLICE_DIRECTION_SENT_ON_TCP)
			splice_count(SPLICE_DIRECTIONS_SWITCHED, 1);
		direction->flags |= SPLICE_DIRECTION_REDIRECTED;
	}
	splice_count(SPLICE_MESSAGES_REDIRECTED, 1);
	splice_count(SPLICE_BYTES_REDIRECTED, size);
}

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
	struct peer_receiver peer;
	struct sock_key own, peer_key;
	struct tcp_sock *own_tcp;
	__u32 size = msg->size;
	struct bpf_sock *sk = msg->sk;

	if (!sk)
		return SK_PASS;
	direction = bpf_sk_storage_get(&splice_directions, sk, 0, 0);
	if (!direction)
		return SK_PASS; /* not registered by this program: never redirect */
	own_tcp = bpf_skc_to_tcp_sock(sk);
	if (!own_tcp || !splice_enabled() || !can_send(sk))
		return pass_to_tcp(direction, size, SPLICE_COUNTER_MAX);

	SOCK_KEY_FROM_CTX(msg, &own, bpf_get_netns_cookie(msg));
	sock_key_peer(&own, &peer_key);
	peer_key.netns_cookie = direction->peer_netns_cookie;
	if (read_peer(&peer_key, &peer) != 0)
		return pass_to_tcp(direction, size, SPLICE_LOOKUPS_MISSED);
	if (peer.copied_seq != own_tcp->write_seq)
		return pass_to_tcp(direction, size, SPLICE_MESSAGES_AWAITING_READER);
	if ((__s64)peer.queued >= (__s64)peer.rcvbuf)
		return pass_to_tcp(direction, size, SPLICE_MESSAGES_HELD_FOR_READER);
	if (bpf_msg_redirect_hash(msg, &splice_sockets, &peer_key, BPF_F_INGRESS) != SK_PASS)
		return pass_to_tcp(direction, size, SPLICE_LOOKUPS_MISSED);

	count_redirected(direction, size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
