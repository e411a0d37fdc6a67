/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the kernel splice. sockops.bpf.c and redirect.bpf.c are separate
 * objects; pinning by name makes them share one instance of each map (the
 * agent sets the pin directory), and lets a restarted agent reuse the maps
 * of live connections.
 */
#ifndef MESH_SPLICE_MAPS_H
#define MESH_SPLICE_MAPS_H

#include "mesh_types.h"
#include "counters.h"

#define MESH_MAX_SPLICED_SOCKETS 65536

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, MESH_MAX_SPLICED_SOCKETS);
	__type(key, struct sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SPLICE_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct splice_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct splice_direction);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_directions SEC(".maps");

/* Addresses of this node's interfaces (the agent fills it): a peer there is local. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct node_address);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_addresses SEC(".maps");

static __always_inline void splice_count(enum splice_counter counter, __u64 amount)
{
	counter_add(&splice_counters, counter, amount);
}

static __always_inline struct splice_settings *splice_settings_get(void)
{
	__u32 index = 0;

	return bpf_map_lookup_elem(&splice_settings, &index);
}

static __always_inline int splice_enabled(void)
{
	struct splice_settings *settings = splice_settings_get();

	return settings && settings->enabled;
}

#endif
