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

/*
 * Who is on this node. A socket's peer is on the node, and so may be spliced, only when the
 * peer's namespace is known here; that namespace is part of the peer's key:
 *   - a loopback peer lives in the socket's own namespace (served or not);
 *   - otherwise the socket's own address must be served in its own namespace, and then:
 *   - an address local in the socket's own namespace (entry {own cookie, address}) is there,
 *     as routing delivers it locally before looking anywhere else;
 *   - any other address is in the one served namespace that owns it (entry {0, address}).
 * The agent fills served_addresses with the host's addresses and those of every namespace it
 * serves; an address two namespaces own has no {0, address} entry, so it is never spliced.
 * Every other peer (another node, an unserved namespace) stays on TCP.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct served_address);
	__type(value, __u64); /* netns cookie of the owner */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} served_addresses SEC(".maps");

/*
 * The kernel address of each registered socket, under its sockhash key. sk_msg and sock_ops
 * cannot look a socket up in the sockhash (that takes bpf_sk_release, which they lack), so the
 * redirect reads the peer's receive state through this address with CO-RE probe reads.
 * sock_ops deletes an entry when its socket reaches TCP_CLOSE, before the kernel frees it; a
 * program that looked it up just before reads at worst a reused TCP socket (the slab is
 * SLAB_TYPESAFE_BY_RCU), so a reader still checks the state. LRU catches sockets that closed
 * while no sock_ops program was attached.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 2 * MESH_MAX_SPLICED_SOCKETS);
	__type(key, struct sock_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} splice_peers SEC(".maps");

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
