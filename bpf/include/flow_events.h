/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow-event ring buffer, shared (pinned by name) by every program that reports flows, and
 * the helpers that fill and send one event. A full ring buffer loses the event and counts it; the
 * datapath never waits for the agent.
 */
#ifndef MESH_FLOW_EVENTS_H
#define MESH_FLOW_EVENTS_H

#include "mesh_types.h"
#include "counters.h"

#define FLOW_RING_BYTES (1 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FLOW_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOW_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_counters SEC(".maps");

/*
 * Not inlined: a real function puts struct flow_event into the objects' BTF, which the agent's
 * mirror is checked against (a type used only by inlined locals leaves no trace there).
 */
static __noinline void flow_send(struct flow_event *event)
{
	/* The agent polls every 100 ms anyway: waking it per event cost every new connection a context switch
	 * (about a tenth of the connect rate on 2 CPUs); it is woken only once a quarter of the ring is full. */
	__u64 flags = bpf_ringbuf_query(&flow_events, BPF_RB_AVAIL_DATA) > FLOW_RING_BYTES / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	event->timestamp_ns = bpf_ktime_get_boot_ns();
	if (bpf_ringbuf_output(&flow_events, event, sizeof(*event), flags) == 0)
		counter_add(&flow_counters, FLOW_EVENTS_SENT, 1);
	else
		counter_add(&flow_counters, FLOW_EVENTS_LOST, 1);
}

/* Whether this XDP drop is the one in xdp_sample_every (per CPU) that gets an event. */
static __always_inline int flow_sample_xdp_drop(void)
{
	__u32 zero = 0, index = FLOW_XDP_DROPS_SEEN;
	struct flow_settings *settings = bpf_map_lookup_elem(&flow_settings, &zero);
	__u64 *seen = bpf_map_lookup_elem(&flow_counters, &index);

	if (!settings || !seen || !settings->xdp_sample_every)
		return 0;
	*seen += 1;
	return *seen % settings->xdp_sample_every == 0;
}

#define FLOW_WINDOW_NS 100000000ULL /* 100 ms */

/*
 * Whether this translated connection gets an event: every one up to translated_per_window per CPU in each
 * FLOW_WINDOW_NS, so a high connect rate is shown as a sample (the lb counters count them all) and does not
 * pay a ring-buffer write per connect (figures: loadtest/README.md, service-lb-bench.sh).
 */
static __always_inline int flow_report_translated(void)
{
	__u32 zero = 0, window_index = FLOW_TRANSLATED_WINDOW, count_index = FLOW_TRANSLATED_IN_WINDOW;
	struct flow_settings *settings = bpf_map_lookup_elem(&flow_settings, &zero);
	__u64 *window = bpf_map_lookup_elem(&flow_counters, &window_index);
	__u64 *count = bpf_map_lookup_elem(&flow_counters, &count_index);
	__u64 now;

	if (!settings || !window || !count || !settings->translated_per_window)
		return 0;
	now = bpf_ktime_get_boot_ns() / FLOW_WINDOW_NS;
	if (*window != now) {
		*window = now;
		*count = 0;
	}
	if (*count >= settings->translated_per_window)
		return 0;
	*count += 1;
	return 1;
}

/* An event of a TCP connection, named by one socket's own key: its local end is the source or the destination. */
static __always_inline void flow_fill_connection(struct flow_event *event, __u32 verdict, const struct sock_key *key, __u64 cookie, int local_is_source)
{
	__builtin_memset(event, 0, sizeof(*event));
	event->verdict = verdict;
	event->family = key->family;
	event->protocol = IPPROTO_TCP;
	event->socket_cookie = cookie;
	if (local_is_source) {
		__builtin_memcpy(event->source, key->local_ip, sizeof(event->source));
		__builtin_memcpy(event->destination, key->remote_ip, sizeof(event->destination));
		event->source_port = key->local_port;
		event->destination_port = key->remote_port;
	} else {
		__builtin_memcpy(event->source, key->remote_ip, sizeof(event->source));
		__builtin_memcpy(event->destination, key->local_ip, sizeof(event->destination));
		event->source_port = key->remote_port;
		event->destination_port = key->local_port;
	}
}

static __always_inline void flow_send_connection(__u32 verdict, const struct sock_key *key, __u64 cookie, int local_is_source)
{
	struct flow_event event;

	flow_fill_connection(&event, verdict, key, cookie, local_is_source);
	flow_send(&event);
}

#endif
