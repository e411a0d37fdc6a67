#!/usr/bin/env bash
# splice-bench.sh: compare the Mesh kernel splice (sock_ops + sk_msg) with plain
# loopback TCP in the same run. nginx and wrk both run in a private child
# cgroup that the Mesh agent attaches to; mode "off" runs the agent with
# --no-splice, mode "on" without it. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/splice-bench.sh [--runs N] [--duration S] [--connections N] [--short] [--help]

Measures the Mesh kernel splice against plain loopback TCP (nginx + wrk on
127.0.0.1, both inside a temporary child cgroup the agent attaches to).

  --runs N          wrk runs per mode and file (default 3)
  --duration S      seconds per wrk run (default 10)
  --connections N   wrk connections, one thread (default 32)
  --short           smoke test: 1 run of 3 s each (explicit options still win)
  -h, --help        show this help

Modes are interleaved: for each run, mode "off" (agent with --no-splice)
then mode "on" (agent with splice), each serving 1k.bin and 1m.bin.

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               built with `dotnet build redirector/Mesh.Cli -c Release` if missing)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)

Exit status: 0 ok; 1 wrk errors, 1m.bin checksum mismatch, agent failure or
setup error; 2 bad usage. Must run as root.
EOF
}

BENCH_NAME=splice-bench BENCH_ID=mesh-bench
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=10 CONNS=32
parse_common_options "$@"

FILES=(1k 1m)
bench_init
bench_preflight
ensure_mesh if-missing
bench_setup "${FILES[@]}"

# -------------------------------------------------------------- helpers
# worker_processes 1: wrk runs one thread (-t1), so one nginx worker gives a
# symmetric one-core client / one-core server pair that is identical on every
# machine; "auto" would scale the server with nproc, let it soak up idle cores
# and make the on/off ratio machine-dependent and noisier. The splice saves
# CPU per message, which shows best when both ends are single CPU-bound
# processes. (sendfile off and keepalive_requests: see nginx_conf_head.)
# The server: write_upstream_conf (lib.sh), whose /mesh-verify location this benchmark never asks for.

# A free node-proxy port of its own: other benchmarks on the machine may hold the default one.
start_splice_agent() { # mode tag
	local port
	port=$(pick_port)
	if [[ $1 == off ]]; then start_agent "$2" --no-splice --proxy-port "$port"; else start_agent "$2" --proxy-port "$port"; fi
}

WRK_FAIL_1M=0
bench_file() { # mode run file
	if ! run_wrk "$1" "$2" "$3" "http://127.0.0.1:$PORT/$3.bin" && [[ $3 == 1m ]]; then
		WRK_FAIL_1M=1
	fi
	return 0
}

CHECKS=0 CHECK_FAIL=0
verify_1m() { # run; a few 1m.bin fetches through the live splice
	local run=$1 i got rc
	for i in 1 2 3; do
		rc=0
		run_in_cgroup "$TMP/curl.log" timeout -k 5 30 \
			curl -fsS --max-time 20 -o "$TMP/fetched.bin" "http://127.0.0.1:$PORT/1m.bin" || rc=$?
		got=$( ((rc == 0)) && sha256sum <"$TMP/fetched.bin" | cut -d' ' -f1) || got="curl-failed($rc)"
		CHECKS=$((CHECKS + 1))
		if [[ $got != "${SHA[1m]}" ]]; then
			CHECK_FAIL=$((CHECK_FAIL + 1))
			log "run $run: 1m.bin fetch $i MISMATCH: got $got, want ${SHA[1m]}"
			cat "$TMP/curl.log" >&2 || true
		fi
		rm -f "$TMP/fetched.bin"
	done
}

# ---------------------------------------------------------------- main
start_nginx nginx write_upstream_conf
PORT=$NGINX_PORT
log "kernel $(uname -r), $(nproc) CPUs; nginx (1 worker) on 127.0.0.1:$PORT in $CG"
log "agent $MESH, pin dir $PIN"
log "$RUNS run(s) x {off,on} x {${FILES[*]}}; wrk -t1 -c$CONNS -d${DURATION}s"

# Warm-up (no agent, not measured): page cache, nginx buffers, wrk itself.
for f in "${FILES[@]}"; do
	run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$PORT/$f.bin" || true
done

STATUS_ON= STATUS_OFF=
for ((run = 1; run <= RUNS; run++)); do
	for mode in off on; do
		start_splice_agent "$mode" "$mode-$run"
		for f in "${FILES[@]}"; do bench_file "$mode" "$run" "$f"; done
		[[ $mode == on ]] && verify_1m "$run"
		st=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || st+=$'\n(mesh status failed)'
		if [[ $mode == on ]]; then STATUS_ON=$st; else STATUS_OFF=$st; fi
		stop_agent
	done
done

# ---------------------------------------------------------------- report
declare -A RPS P99
echo
printf '%-4s  %-4s  %12s  %12s  %12s  %7s\n' file mode "req/s" "p50 ms" "p99 ms" errors
for f in "${FILES[@]}"; do
	for mode in off on; do
		RPS[$f.$mode]=$(col "$f" "$mode" 4 | median)
		P99[$f.$mode]=$(col "$f" "$mode" 6 | median)
		errs=$(errors_cell "$f" "$mode")
		printf '%-4s  %-4s  %12.2f  %12.3f  %12.3f  %7s\n' "$f" "$mode" "${RPS[$f.$mode]}" \
			"$(col "$f" "$mode" 5 | median)" "${P99[$f.$mode]}" "$errs"
	done
done
echo "(medians of $RUNS run(s); errors = wrk socket errors + non-2xx/3xx responses, summed over runs; +Nrun = N wrk runs that failed outright)"
echo
echo "on/off ratios:"
for f in "${FILES[@]}"; do
	printf '%-4s  req/s %s  p99 %s\n' "$f" "$(ratio "${RPS[$f.on]}" "${RPS[$f.off]}")" "$(ratio "${P99[$f.on]}" "${P99[$f.off]}")"
done
line="req/s spread over runs (max/min, noise gauge):"
for f in "${FILES[@]}"; do
	line+=" $f off $(col "$f" off 4 | spread), on $(col "$f" on 4 | spread);"
done
echo "${line%;}"
echo "1m.bin sha256 checks during 'on': $((CHECKS - CHECK_FAIL))/$CHECKS match"
echo "target: 1k req/s on/off >= 1.5x and lower p99; 1m no loss"
t1k=$(awk -v ron="${RPS[1k.on]}" -v roff="${RPS[1k.off]}" -v pon="${P99[1k.on]}" -v poff="${P99[1k.off]}" \
	'BEGIN { print (roff > 0 && ron / roff >= 1.5 && pon < poff) ? "met" : "NOT met" }')
t1m="NOT met"
((CHECKS > 0 && CHECK_FAIL == 0 && WRK_FAIL_1M == 0)) && t1m=met
echo "result: 1k $t1k; 1m $t1m"
echo
echo "mesh status after the last 'on' run:"
printf '%s\n' "$STATUS_ON" | sed 's/^/    /'
echo "mesh status after the last 'off' run: $(printf '%s\n' "$STATUS_OFF" | grep -i 'bytes redirected' || echo '(no "bytes redirected" line)')"
if ! printf '%s\n' "$STATUS_ON" | awk 'tolower($0) ~ /bytes redirected/ && /[1-9]/ { found = 1 } END { exit !found }'; then
	echo "WARNING: 'on' status shows no bytes redirected: the splice did not carry the traffic"
fi

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((CHECK_FAIL)) && fail+=("1m.bin checksum mismatch")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
