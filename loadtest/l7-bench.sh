#!/usr/bin/env bash
# l7-bench.sh: Mesh's L7 path (kernel divert + the agent's YARP node proxy)
# against nginx as a reverse proxy and against no proxy at all, in the same
# run. The upstream nginx, the nginx proxies, wrk and the agent all live in a
# private child cgroup. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/l7-bench.sh [--runs N] [--duration S] [--connections N] [--no-splice]
                            [--request-logs] [--short] [--help]

Measures Mesh's L7 path (a connection to a service address diverted in the
kernel to the agent's YARP node proxy, which applies the route and forwards)
against nginx as a reverse proxy, on the same upstream nginx, all on
127.0.0.1 inside a temporary child cgroup.

  --runs N          wrk runs per mode and file (default 3)
  --duration S      seconds per wrk run (default 10)
  --connections N   wrk connections, one thread (default 32)
  --no-splice       run the agent with --no-splice (default: splice on, as
                    deployed; it then splices every mode's local connections)
  --request-logs    run the agent with --verbose, which keeps ASP.NET Core's and
                    YARP's per-request logs (6 lines per request). Default: off,
                    as the agent ships and as nginx runs with access_log off
  --short           smoke test: 1 run of 3 s each (explicit options still win)
  -h, --help        show this help

Modes, interleaved in each run (the order rotates from run to run), each
fetching 1k.bin and 16k.bin with wrk -t1 --latency from inside the cgroup:
  direct  wrk -> upstream nginx (1 worker)
  mesh    wrk -> 127.0.0.10:8080, diverted to the Mesh node proxy -> upstream
  nginx   wrk -> nginx reverse proxy, 1 worker (keepalive upstream) -> upstream
  nginx2  the same with 2 workers (the Mesh proxy is multi-threaded)
The mesh route and both nginx proxies set the request header x-mesh: 1.

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               rebuilt with `dotnet build redirector/Mesh.Cli -c Release` at every start)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)

Exit status: 0 ok; 1 wrk errors, a failed divert check, agent failure or
setup error; 2 bad usage. Missing the performance target is not an error.
Must run as root.
EOF
}

BENCH_NAME=l7-bench BENCH_ID=mesh-l7-bench MODE_W=6
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=10 CONNS=32 NO_SPLICE=0 REQUEST_LOGS=0
while (($#)); do
	case $1 in
	--no-splice) NO_SPLICE=1; shift ;;
	--request-logs) REQUEST_LOGS=1; shift ;;
	*) parse_common_option "$@" || bad_usage "unknown argument: $1"; shift "$CONSUMED" ;;
	esac
done
apply_short_mode

FILES=(1k 16k)
MODES=(direct mesh nginx nginx2)
SVC_ADDR=127.0.0.10 SVC_PORT=8080 # the service address wrk dials in mode "mesh"
WARMUP=$( ((SHORT)) && echo 2 || echo 10) # s of unmeasured load per mode and file before run 1 (tiered JIT under load)

bench_init
bench_preflight
ensure_mesh always # a stale binary would measure old code
bench_setup "${FILES[@]}"

# ------------------------------------------------------------ nginx confs
# The upstream: write_upstream_conf (lib.sh).

# Reverse proxy: write_proxy_conf (lib.sh).
write_proxy1_conf() { write_proxy_conf 1 "$@"; }
write_proxy2_conf() { write_proxy_conf 2 "$@"; }

write_mesh_conf() { write_l7_mesh_conf "$TMP/mesh.yaml"; } # lib.sh: service web, rule 'all' sets x-mesh: 1

# ---------------------------------------------------------------- helpers
declare -A URL MASTER PROXY_PIDS # PROXY_PIDS[mode]: pids whose CPU is the proxy's

# children_of, cpu_ticks, vm_kib, mib, agent_check, curl_in_cgroup and verify_mesh: lib.sh.

CPU_RESULTS=
bench() { # mode run file
	local mode=$1 run=$2 f=$3 t0 t1
	# The node proxy's process and the agent's (watchdog, maps): Mesh's whole cost, as nginx's workers are nginx's.
	# Resolved for each run: a proxy the agent restarts has a new pid.
	[[ $mode == mesh ]] && PROXY_PIDS[mesh]=$(mesh_pids)
	t0=$(cpu_ticks ${PROXY_PIDS[$mode]})
	run_wrk "$mode" "$run" "$f" "${URL[$mode]}/$f.bin" || true
	t1=$(cpu_ticks ${PROXY_PIDS[$mode]})
	[[ -n ${PROXY_PIDS[$mode]} ]] &&
		CPU_RESULTS+="$f $mode $run $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.2f", d / hz / s }')"$'\n'
	[[ $mode == mesh ]] && agent_check "the mesh $f run $run"
	return 0
}

# ------------------------------------------------------------------- main
start_nginx upstream write_upstream_conf
UP_PORT=$NGINX_PORT
URL[direct]=http://127.0.0.1:$UP_PORT
start_nginx proxy1 write_proxy1_conf
URL[nginx]=http://127.0.0.1:$NGINX_PORT MASTER[nginx]=$NGINX_PID
start_nginx proxy2 write_proxy2_conf
URL[nginx2]=http://127.0.0.1:$NGINX_PORT MASTER[nginx2]=$NGINX_PID
URL[mesh]=http://$SVC_ADDR:$SVC_PORT
PROXY_PIDS[direct]=

if command -v ss >/dev/null && [[ -n $(ss -Htln "( sport = :$SVC_PORT )" 2>/dev/null) ]]; then
	log "warning: something listens on port $SVC_PORT; the divert check relies on the x-mesh header alone"
fi
write_mesh_conf
PROXY_PORT=$(pick_port)
agent_args=(--config "$TMP/mesh.yaml" --proxy-port "$PROXY_PORT")
((NO_SPLICE)) && agent_args+=(--no-splice)
# The agent keeps ASP.NET Core's and YARP's per-request lines off unless it runs with --verbose,
# which --request-logs asks for (it also turns on every other debug line of the agent).
((REQUEST_LOGS)) && agent_args+=(--verbose)
start_agent mesh "${agent_args[@]}"
grep -Eq "Node proxy process [0-9]+ listening" "$TMP/agent-mesh.log" || log "warning: no 'Node proxy process ... listening' line in the agent log"
RSS_IDLE=$(mesh_kib VmRSS)

log "kernel $(uname -r), $(nproc) CPUs; cgroup $CG"
log "upstream nginx (1 worker) 127.0.0.1:$UP_PORT; nginx proxy (1 worker) ${URL[nginx]#http://}, (2 workers) ${URL[nginx2]#http://}"
log "agent $MESH (pid $AGENT_PID, node proxy pid $(node_proxy_pid), splice $( ((NO_SPLICE)) && echo off || echo on), request logs $( ((REQUEST_LOGS)) && echo on || echo off)), node proxy 127.0.0.1:$PROXY_PORT, service $SVC_ADDR:$SVC_PORT, pin dir $PIN"
log "$RUNS run(s) x {${MODES[*]}} x {${FILES[*]}}; wrk -t1 -c$CONNS -d${DURATION}s --latency"

# The negative control: straight to the upstream, no x-mesh header.
if curl_in_cgroup "$TMP/verify.txt" "${URL[direct]}/mesh-verify" && [[ $(cat "$TMP/verify.txt") == "x-mesh=" ]]; then :; else
	die "the upstream's /mesh-verify does not work: $(cat "$TMP/verify.txt" 2>/dev/null)"
fi
verify_mesh 1 || die "connections to $SVC_ADDR:$SVC_PORT do not reach the upstream through the Mesh proxy"
if ((!REQUEST_LOGS)) && grep -q 'Request starting' "$TMP/agent-mesh.log"; then
	log "warning: the agent logs every request although it was started without --verbose"
fi

# Warm-up (not measured): page cache, nginx buffers, wrk, and the agent's JIT
# (tiered compilation) and connection pools.
for mode in "${MODES[@]}"; do
	for f in "${FILES[@]}"; do
		run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${URL[$mode]}/$f.bin" || true
	done
done
agent_check "the warm-up"
for mode in nginx nginx2; do # the workers, once they surely all exist
	PROXY_PIDS[$mode]=$(children_of "${MASTER[$mode]}" | xargs)
	want=1
	[[ $mode == nginx2 ]] && want=2
	n=$(wc -w <<<"${PROXY_PIDS[$mode]}")
	((n == want)) || log "warning: $mode has $n worker(s), want $want: ${PROXY_PIDS[$mode]}"
done
RSS_WARM=$(mesh_kib VmRSS)

for ((run = 1; run <= RUNS; run++)); do
	# Rotate the mode order so that no mode always runs first or last.
	order=("${MODES[@]:$(((run - 1) % ${#MODES[@]}))}" "${MODES[@]:0:$(((run - 1) % ${#MODES[@]}))}")
	((run == 1)) || verify_mesh "$run" || true
	for f in "${FILES[@]}"; do
		for mode in "${order[@]}"; do bench "$mode" "$run" "$f"; done
	done
done

RSS_END=$(mesh_kib VmRSS) RSS_SPLIT=$(mesh_rss_split)
HWM_END=$(mesh_kib VmHWM)
THREADS=$(mesh_kib Threads)
STATUS=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || STATUS+=$'\n(mesh status failed)'
AGENT_EXIT_STATUS=0
stop_agent
((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1

# ----------------------------------------------------------------- report
declare -A RPS P99
cpu_col() { printf '%s' "$CPU_RESULTS" | awk -v f="$1" -v m="$2" '$1 == f && $2 == m { print $4 }'; }
echo
printf '%-4s  %-6s  %12s  %10s  %10s  %7s  %11s\n' file mode "req/s" "p50 ms" "p99 ms" errors "proxy cores"
for f in "${FILES[@]}"; do
	for mode in "${MODES[@]}"; do
		RPS[$f.$mode]=$(col "$f" "$mode" 4 | median)
		P99[$f.$mode]=$(col "$f" "$mode" 6 | median)
		cores=$(cpu_col "$f" "$mode" | median)
		[[ $cores == nan ]] && cores=-
		printf '%-4s  %-6s  %12.2f  %10.3f  %10.3f  %7s  %11s\n' "$f" "$mode" "${RPS[$f.$mode]}" \
			"$(col "$f" "$mode" 5 | median)" "${P99[$f.$mode]}" "$(errors_cell "$f" "$mode")" "$cores"
	done
done
echo "(medians of $RUNS run(s); errors = wrk socket errors + non-2xx/3xx responses, summed over runs; +Nrun = N wrk runs that failed outright;"
echo " proxy cores = CPU time of the proxy process(es) / run time: the node proxy and the agent for mesh, the nginx proxy's workers for nginx/nginx2)"
echo
echo "ratios (req/s, p99):"
for f in "${FILES[@]}"; do
	printf '%-4s  mesh/nginx  %s %s   mesh/nginx2  %s %s   mesh/direct  %s %s\n' "$f" \
		"$(ratio "${RPS[$f.mesh]}" "${RPS[$f.nginx]}")" "$(ratio "${P99[$f.mesh]}" "${P99[$f.nginx]}")" \
		"$(ratio "${RPS[$f.mesh]}" "${RPS[$f.nginx2]}")" "$(ratio "${P99[$f.mesh]}" "${P99[$f.nginx2]}")" \
		"$(ratio "${RPS[$f.mesh]}" "${RPS[$f.direct]}")" "$(ratio "${P99[$f.mesh]}" "${P99[$f.direct]}")"
done
line="req/s spread over runs (max/min, noise gauge):"
for f in "${FILES[@]}"; do
	for mode in "${MODES[@]}"; do line+=" $f $mode $(col "$f" "$mode" 4 | spread),"; done
	line="${line%,};"
done
echo "${line%;}"
echo "divert checks: $((RUNS - VERIFY_FAIL))/$RUNS ok"
echo "target: mesh >= 0.8x nginx req/s and p99 within 1.5x of nginx"
res="result:"
for f in "${FILES[@]}"; do
	met=$(awk -v rm="${RPS[$f.mesh]}" -v rn="${RPS[$f.nginx]}" -v pm="${P99[$f.mesh]}" -v pn="${P99[$f.nginx]}" \
		'BEGIN { print (rm != "nan" && pm != "nan" && rn > 0 && pn > 0 && rm / rn >= 0.8 && pm / pn <= 1.5) ? "met" : "NOT met" }')
	res+=" $f $met;"
done
echo "${res%;}"
echo
echo "RSS (VmRSS) of the agent + node proxy: $(mib "$RSS_IDLE") MiB idle after start, $(mib "$RSS_WARM") MiB after the warm-up," \
	"$(mib "$RSS_END") MiB after the mesh runs ($RSS_SPLIT; peak VmHWM $(mib "$HWM_END") MiB, $THREADS threads)"
nwarn=$(grep -c '^warn:' "$TMP/agent-mesh.log" || true)
nfail=$(grep -Ec '^(fail|crit):' "$TMP/agent-mesh.log" || true)
echo "agent log: $(wc -l <"$TMP/agent-mesh.log") lines ($(mib $(($(stat -c %s "$TMP/agent-mesh.log") / 1024))) MiB), $nwarn warn, $nfail fail/crit;" \
	"per-request logs $( ((REQUEST_LOGS)) && echo on '(--request-logs)' || echo 'off (default)')"
if ((nwarn + nfail)); then
	grep -E '^(warn|fail|crit):' "$TMP/agent-mesh.log" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
fi
echo "mesh status before the agent stopped:"
printf '%s\n' "$STATUS" | sed -n '/^COUNTER/,$p' | sed 's/^/    /'
if printf '%s\n' "$STATUS" | grep -qi 'connections diverted' &&
	! printf '%s\n' "$STATUS" | awk 'tolower($0) ~ /connections diverted/ && /[1-9]/ { found = 1 } END { exit !found }'; then
	echo "WARNING: the status shows no connections diverted: the mesh mode did not go through the proxy"
fi

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((VERIFY_FAIL)) && fail+=("divert check failed in $VERIFY_FAIL run(s)")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
