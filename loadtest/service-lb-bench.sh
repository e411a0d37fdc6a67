#!/usr/bin/env bash
# service-lb-bench.sh: connect rate through the kernel service translation vs
# to the endpoint directly, in the same run. nginx (the endpoint) and wrk both
# run in a private child cgroup the agent serves; nginx closes every
# connection after one response, so each request is a new connect(). See
# loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: loadtest/service-lb-bench.sh [--runs N] [--duration S] [--connections N] [--short] [--help]

Measures new connections per second (one request each, 1k.bin) to a service
address the kernel translates (127.0.0.70:8080 -> the nginx endpoint) against
the same nginx dialled directly, with one agent running throughout.

  --runs N          wrk runs per mode (default 3)
  --duration S      seconds per wrk run (default 5)
  --connections N   wrk connections, one thread (default 8)
  --short           smoke test: 1 run of 3 s each (explicit options still win)
  -h, --help        show this help

Modes are interleaved: for each run, "direct" then "translated".

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               built with `dotnet build redirector/Mesh.Cli -c Release` if missing)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)

Exit status: 0 ok; 1 wrk errors, no translated connection counted, agent
failure or setup error; 2 bad usage. Must run as root.
EOF2
}

BENCH_NAME=service-lb-bench BENCH_ID=mesh-lb-bench
MODE_W=10
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=5 CONNS=8
parse_common_options "$@"

SVC_ADDR=127.0.0.70 SVC_PORT=8080
bench_init
bench_preflight
ensure_mesh if-missing
bench_setup 1k

# The endpoint: one nginx worker that answers each request and closes, so wrk
# opens a new connection for every request (keepalive_timeout 0).
closing_conf() { # prefix port
	nginx_conf_head "$1" 1
	cat <<EOF3
    server {
        listen 127.0.0.1:$2;
        keepalive_timeout 0;
        location / { root $TMP/www; }
    }
}
EOF3
}

start_nginx nginx closing_conf
cat >"$TMP/mesh.yaml" <<EOF4
services:
  - name: web
    address: $SVC_ADDR
    port: $SVC_PORT
    endpoints: [127.0.0.1:$NGINX_PORT]
EOF4
log "kernel $(uname -r), $(nproc) CPUs; nginx (1 worker, no keep-alive) on 127.0.0.1:$NGINX_PORT in $CG"
log "service web $SVC_ADDR:$SVC_PORT -> 127.0.0.1:$NGINX_PORT; $RUNS run(s) x {direct,translated}; wrk -t1 -c$CONNS -d${DURATION}s"
start_agent lb --config "$TMP/mesh.yaml" --proxy-port "$(pick_port)" # another agent may hold the default port

# Warm-up, not measured.
run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d1s "http://$SVC_ADDR:$SVC_PORT/1k.bin" || true

for ((run = 1; run <= RUNS; run++)); do
	run_wrk direct "$run" 1k "http://127.0.0.1:$NGINX_PORT/1k.bin" || true
	run_wrk translated "$run" 1k "http://$SVC_ADDR:$SVC_PORT/1k.bin" || true
done
STATUS=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || STATUS+=$'\n(mesh status failed)'
stop_agent

# ---------------------------------------------------------------- report
echo
printf '%-10s  %12s  %10s  %10s  %7s\n' mode "conn/s" "p50 ms" "p99 ms" errors
for mode in direct translated; do
	printf '%-10s  %12.2f  %10.3f  %10.3f  %7s\n' "$mode" "$(col 1k "$mode" 4 | median)" \
		"$(col 1k "$mode" 5 | median)" "$(col 1k "$mode" 6 | median)" "$(errors_cell 1k "$mode")"
done
echo "(medians of $RUNS run(s); one request per connection; errors = wrk socket errors + non-2xx/3xx, summed over runs)"
RATIO=$(ratio "$(col 1k translated 4 | median)" "$(col 1k direct 4 | median)")
echo "translated/direct connect rate: $RATIO (spread over runs, max/min: direct $(col 1k direct 4 | spread), translated $(col 1k translated 4 | spread))"
met=$(awk -v r="${RATIO%x}" 'BEGIN { print (r != "n/a" && r + 0 >= 0.95) ? "met" : "NOT met" }')
echo "target: translated >= 0.95x direct: $met"
TRANSLATED=$(printf '%s\n' "$STATUS" | sed -n 's/^service translation: \([0-9,]*\) connect.*/\1/p' | tr -d ,)
echo "connections the kernel translated (mesh status): ${TRANSLATED:-none}"

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((${TRANSLATED:-0} > 0)) || fail+=("no connection was translated")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
