/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counter arrays: one slot per counter per CPU, summed by the agent. */
#ifndef MESH_COUNTERS_H
#define MESH_COUNTERS_H

static __always_inline void counter_add(void *counters, __u32 index, __u64 amount)
{
	__u64 *value = bpf_map_lookup_elem(counters, &index);

	if (value)
		*value += amount; /* per-CPU slot: no atomic needed */
}

#endif
