/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps and choice of the service translation (see struct lb_service): which services the kernel
 * balances, their weighted slot tables, and for UDP the service each endpoint's replies must
 * appear to come from.
 */
#ifndef MESH_SERVICE_LB_H
#define MESH_SERVICE_LB_H

#include "mesh_types.h"
#include "counters.h"

#define LB_MAX_UDP_FLOWS 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, struct lb_service_key);
	__type(value, struct lb_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES * 16);
	__type(key, struct lb_slot_key);
	__type(value, struct lb_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_slots SEC(".maps");

/* UDP: the service a socket dialled, by the endpoint it was sent to; LRU, as sockets never say they closed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_MAX_UDP_FLOWS);
	__type(key, struct lb_udp_flow);
	__type(value, struct lb_service_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_udp_replies SEC(".maps");

/*
 * A translated TCP socket's service (what getpeername() shows, and flows name), kept with the socket: freed when
 * it closes, where a map by cookie and then by tuple costs an insert, a move and an LRU eviction per connect.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct original_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_translated SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_counters SEC(".maps");

enum lb_decision {
	LB_NOT_A_SERVICE = 0, /* connect where dialled */
	LB_TO_ENDPOINT = 1,   /* *endpoint holds where to connect instead */
	LB_NO_ENDPOINT = 2,   /* refuse at once */
};

/*
 * Weighted round robin: each connection takes the next slot, so over any run of slot_count
 * connections every endpoint gets exactly its share. A slot missing while the agent switches
 * tables is looked up once more in the table that is active by then.
 */
static __always_inline enum lb_decision lb_choose(const struct lb_service_key *service, struct lb_endpoint *endpoint, __u32 *service_id)
{
	struct lb_service *entry;
	struct lb_endpoint *found;
	struct lb_slot_key slot;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		entry = bpf_map_lookup_elem(&lb_services, service);
		if (!entry)
			return LB_NOT_A_SERVICE;
		if (!entry->slot_count) {
			counter_add(&lb_counters, LB_REFUSED, 1);
			return LB_NO_ENDPOINT;
		}
		slot.id = entry->id;
		/* Not atomic (a fetching add needs BPF v3 code): two CPUs racing take the same slot once, which
		 * shifts the shares by a connection; a lock per connect would cost more than it is worth. */
		slot.slot = entry->next++ % entry->slot_count;
		found = bpf_map_lookup_elem(&lb_slots, &slot);
		if (found) {
			*endpoint = *found;
			*service_id = slot.id;
			counter_add(&lb_counters, LB_TRANSLATED, 1);
			return LB_TO_ENDPOINT;
		}
	}
	counter_add(&lb_counters, LB_REFUSED, 1);
	return LB_NO_ENDPOINT;
}

/*
 * Refuses a connect()/sendmsg() as a closed port would: ECONNREFUSED at once, not the EPERM a
 * cgroup program's verdict alone gives (the kernel keeps a retval set before a 0 verdict).
 */
static __always_inline int lb_refuse(void)
{
	bpf_set_retval(-111 /* ECONNREFUSED */);
	return 0;
}

#endif
