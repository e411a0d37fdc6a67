/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Maps of the L7 diversion: which services go to the node proxy, where it listens, and the
 * original destination of each diverted connection, first by socket cookie (known at
 * connect(), before the source port is) and then by tuple (what the proxy sees on accept).
 */
#ifndef MESH_DIVERT_MAPS_H
#define MESH_DIVERT_MAPS_H

#include "mesh_types.h"
#include "counters.h"

#define MESH_MAX_L7_SERVICES 4096
#define MESH_MAX_DIVERTED_CONNECTIONS 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESH_MAX_L7_SERVICES);
	__type(key, struct service_key);
	__type(value, struct service_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct divert_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_settings SEC(".maps");

/* The cgroups the config names as services' sources (source.cgroup), by cgroup id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESH_MAX_L7_SERVICES);
	__type(key, __u64);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} source_cgroups SEC(".maps");

/*
 * The network namespaces where the node proxy listens on its loopback port, by netns cookie: the
 * agent's own and each served workload's. A connect() from any other namespace would be rewritten
 * to a loopback nobody listens on there, so it gets the service's fail mode instead.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESH_MAX_L7_SERVICES);
	__type(key, __u64);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_netns SEC(".maps");

/* The watchdog's last proof that the node proxy serves: CLOCK_BOOTTIME ns, written every few 100 ms. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_heartbeat SEC(".maps");

/* LRU: an entry whose connection never completed (refused, reset) ages out by itself. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MESH_MAX_DIVERTED_CONNECTIONS);
	__type(key, __u64);
	__type(value, struct original_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_by_cookie SEC(".maps");

/* Keyed by the proxy-side socket's own tuple: local = proxy listener, remote = client. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MESH_MAX_DIVERTED_CONNECTIONS);
	__type(key, struct sock_key);
	__type(value, struct original_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_by_tuple SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DIVERT_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} divert_counters SEC(".maps");

static __always_inline void divert_count(enum divert_counter counter)
{
	counter_add(&divert_counters, counter, 1);
}

static __always_inline struct divert_settings *divert_settings_get(void)
{
	__u32 index = 0;

	return bpf_map_lookup_elem(&divert_settings, &index);
}

/* Whether the node proxy proved it serves recently enough; always, without a watchdog. */
static __always_inline int divert_proxy_alive(const struct divert_settings *settings)
{
	__u32 index = 0;
	__u64 *heartbeat;

	if (!settings->heartbeat_timeout_ns)
		return 1;
	heartbeat = bpf_map_lookup_elem(&divert_heartbeat, &index);
	return heartbeat && *heartbeat && bpf_ktime_get_boot_ns() - *heartbeat <= settings->heartbeat_timeout_ns;
}

#endif
