#!/usr/bin/env bash
# splice-netns-bench.sh: the kernel splice between two network namespaces on a
# bridge (veth pairs, as Docker and most CNIs wire containers) against plain TCP
# over the bridge, in the same run. nginx runs in one namespace, wrk in the
# other, both in a private child cgroup. Mode "off" attaches nothing; mode "on"
# attaches the splice with tools/SpliceNamespaces, which serves both namespaces
# through SpliceDatapath.ServeNamespace as the agent's workload discovery will.
# See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: loadtest/splice-netns-bench.sh [--runs N] [--duration S] [--connections N] [--short] [--help]

  --runs N          wrk runs per mode and file (default 3)
  --duration S      seconds per wrk run (default 10)
  --connections N   wrk connections, one thread (default 32)
  --short           smoke test: 1 run of 3 s each (explicit options still win)

Modes are interleaved: for each run, "off" then "on", each serving 1k.bin and 1m.bin.
Exit status: 0 ok; 1 wrk errors, 1m.bin checksum mismatch or setup error; 2 bad usage. Must run as root.
EOF2
}

BENCH_NAME=splice-netns-bench BENCH_ID=mesh-nsbench
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=10 CONNS=32
parse_common_options "$@"

FILES=(1k 1m)
bench_init
bench_preflight nginx:nginx-light wrk:wrk curl:curl python3:python3
TOOL_DIR=$LIB_REPO/loadtest/tools/SpliceNamespaces
dotnet build -c Release "$TOOL_DIR" >/dev/null || die "the build of tools/SpliceNamespaces failed"
TOOL=$TOOL_DIR/bin/Release/net10.0/SpliceNamespaces
bench_setup "${FILES[@]}"

# Link names at most 15 characters; the subnet from the pid, so two runs never share one.
BR=mnb$$ NS_SERVER=mesh-nsbench-$$-server NS_CLIENT=mesh-nsbench-$$-client
SUBNET=10.$((240 + $$ % 8)).$(($$ % 250 + 1))
SERVER_IP=$SUBNET.1 CLIENT_IP=$SUBNET.2
bench_cleanup_extra() {
	ip netns del "$NS_SERVER" 2>/dev/null
	ip netns del "$NS_CLIENT" 2>/dev/null
	ip link del "$BR" 2>/dev/null
	! ip link show "$BR" >/dev/null 2>&1
}

add_namespace() { # name address host-link namespace-link
	ip netns add "$1"
	ip link add "$3" type veth peer name "$4" netns "$1"
	ip link set "$3" master "$BR" up
	ip -n "$1" addr add "$2/24" dev "$4"
	ip -n "$1" link set "$4" up
	ip -n "$1" link set lo up
}
netns_cookie() {
	ip netns exec "$1" python3 -c 'import socket; print(int.from_bytes(socket.socket().getsockopt(socket.SOL_SOCKET, 71, 8), "little"))'
}

ip link add "$BR" type bridge
ip link set "$BR" up
add_namespace "$NS_SERVER" "$SERVER_IP" "${BR}s" "${BR}S"
add_namespace "$NS_CLIENT" "$CLIENT_IP" "${BR}c" "${BR}C"
SERVE=("$(netns_cookie "$NS_SERVER")=$SERVER_IP" "$(netns_cookie "$NS_CLIENT")=$CLIENT_IP")

# nginx in the server namespace, inside the cgroup (joined before the namespace: `ip netns exec` remounts /sys).
PORT=$(pick_port)
mkdir -p "$TMP/nginx/logs"
{
	nginx_conf_head "$TMP/nginx" 1
	printf '    server { listen %s:%s; root %s/www; }\n}\n' "$SERVER_IP" "$PORT" "$TMP"
} >"$TMP/nginx/nginx.conf"
bg_in_cgroup "$TMP/nginx/stdout.log" ip netns exec "$NS_SERVER" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log"
NGINX_PIDS+=("$JOB_PID") JOB_PID=

# run_wrk (lib.sh) runs `wrk` inside the cgroup; this wrapper puts it in the client namespace.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS_CLIENT" "$(command -v wrk)" >"$TMP/bin/wrk"
chmod 755 "$TMP/bin/wrk"
export PATH=$TMP/bin:$PATH
deadline=$((SECONDS + 10))
until [[ $(ip netns exec "$NS_CLIENT" curl -sS --max-time 2 "http://$SERVER_IP:$PORT/1k.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) == "${SHA[1k]}" ]]; do
	((SECONDS < deadline)) || die "nginx did not come up in $NS_SERVER"
	sleep 0.1
done

COUNTERS_ON=
start_splice() { # mode
	[[ $1 == off ]] && return 0
	"$TOOL" "$CG" "$PIN" "${SERVE[@]}" >"$TMP/splice.log" 2>&1 &
	AGENT_PID=$!
	local deadline=$((SECONDS + 30))
	until grep -qx attached "$TMP/splice.log"; do
		alive "$AGENT_PID" && ((SECONDS < deadline)) || die "SpliceNamespaces did not attach: $(cat "$TMP/splice.log")"
		sleep 0.1
	done
}
stop_splice() {
	[[ -z $AGENT_PID ]] && return 0
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" || AGENT_FAIL=1
	AGENT_PID=
	COUNTERS_ON=$(tail -n 1 "$TMP/splice.log")
}

CHECKS=0 CHECK_FAIL=0
verify_1m() {
	local got
	got=$(run_in_cgroup "$TMP/fetched.bin" ip netns exec "$NS_CLIENT" curl -fsS --max-time 20 "http://$SERVER_IP:$PORT/1m.bin" && sha256sum <"$TMP/fetched.bin" | cut -d' ' -f1) || got=curl-failed
	CHECKS=$((CHECKS + 1))
	[[ $got == "${SHA[1m]}" ]] || { CHECK_FAIL=$((CHECK_FAIL + 1)); log "1m.bin fetch MISMATCH: $got"; }
}

log "kernel $(uname -r), $(nproc) CPUs; nginx (1 worker) on $SERVER_IP:$PORT in $NS_SERVER, wrk in $NS_CLIENT, both in $CG"
log "$RUNS run(s) x {off,on} x {${FILES[*]}}; wrk -t1 -c$CONNS -d${DURATION}s"
for f in "${FILES[@]}"; do
	run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d1s "http://$SERVER_IP:$PORT/$f.bin" || true
done
for ((run = 1; run <= RUNS; run++)); do
	for mode in off on; do
		start_splice "$mode"
		for f in "${FILES[@]}"; do run_wrk "$mode" "$run" "$f" "http://$SERVER_IP:$PORT/$f.bin" || true; done
		[[ $mode == on ]] && verify_1m
		stop_splice
	done
done

declare -A RPS P99
echo
printf '%-4s  %-4s  %12s  %12s  %12s  %7s\n' file mode "req/s" "p50 ms" "p99 ms" errors
for f in "${FILES[@]}"; do
	for mode in off on; do
		RPS[$f.$mode]=$(col "$f" "$mode" 4 | median)
		P99[$f.$mode]=$(col "$f" "$mode" 6 | median)
		printf '%-4s  %-4s  %12.2f  %12.3f  %12.3f  %7s\n' "$f" "$mode" "${RPS[$f.$mode]}" \
			"$(col "$f" "$mode" 5 | median)" "${P99[$f.$mode]}" "$(errors_cell "$f" "$mode")"
	done
done
echo "(medians of $RUNS run(s))"
echo "on/off ratios:"
for f in "${FILES[@]}"; do
	printf '%-4s  req/s %s  p99 %s\n' "$f" "$(ratio "${RPS[$f.on]}" "${RPS[$f.off]}")" "$(ratio "${P99[$f.on]}" "${P99[$f.off]}")"
done
echo "1m.bin sha256 checks during 'on': $((CHECKS - CHECK_FAIL))/$CHECKS match"
echo "splice counters of the last 'on' run: $COUNTERS_ON"
echo "target: 1k req/s on/off >= 1.5x and lower p99; 1m no loss"

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((CHECK_FAIL)) && fail+=("1m.bin checksum mismatch")
((AGENT_FAIL)) && fail+=("the splice tool did not stop cleanly")
report_verdict "${fail[@]}"
