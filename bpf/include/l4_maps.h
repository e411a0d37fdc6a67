/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the L3/L4 policy, shared by the XDP filter and the local socket hooks. Pinned by name,
 * so both objects (and a restarted agent) see the same rules and counters.
 */
#ifndef MESH_L4_MAPS_H
#define MESH_L4_MAPS_H

#include "mesh_types.h"
#include "counters.h"

/* Distinct prefixes of both generations; /0 entries included. */
#define L4_MAX_PREFIXES (L4_GENERATIONS * (L4_MAX_RULES + 1))

/* An address -> the rules whose CIDR contains it (the longest matching prefix knows them all). */
struct l4_prefix_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, L4_MAX_PREFIXES);
	__type(key, struct l4_prefix_key);
	__type(value, struct l4_rule_set);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
};

/* By source address (the rules' `from`), and by destination address (their `to`). */
struct l4_prefix_trie l4_sources SEC(".maps");
struct l4_prefix_trie l4_destinations SEC(".maps");

/* Rule i of generation g at index g * L4_MAX_RULES + i. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4_GENERATIONS * L4_MAX_RULES);
	__type(key, __u32);
	__type(value, struct l4_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, L4_GENERATIONS);
	__type(key, __u32);
	__type(value, struct l4_generation);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4_generations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l4_active);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct l4_rule_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L4_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l4_counters SEC(".maps");

static __always_inline void l4_count(enum l4_counter counter)
{
	counter_add(&l4_counters, counter, 1);
}

static __always_inline struct l4_rule_stats *l4_stats_of(__u32 slot)
{
	return bpf_map_lookup_elem(&l4_rule_stats, &slot);
}

#endif
