#!/usr/bin/env bash
# telemetry-bench.sh: the cost of the node proxy's telemetry (traces sampled at
# 100 % and metrics, exported over OTLP/HTTP protobuf to a local receiver) on the
# L7 path, against the same path with telemetry off, in the same run. The
# upstream nginx, wrk, the OTLP receiver and the agent all live in a private
# child cgroup. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/telemetry-bench.sh [--runs N] [--duration S] [--connections N] [--short] [--help]

Measures what the node proxy's telemetry costs on the L7 path (a connection to a
service address diverted in the kernel to the agent's YARP node proxy, which
forwards to an upstream nginx; the setup of l7-bench.sh), all on 127.0.0.1
inside a temporary child cgroup:
  off  the agent with no telemetry section: no exporter runs
  on   telemetry.otlp http/protobuf to a local OTLP receiver
       (loadtest/tools/otlp-sink.py), tracing.samplingRatio 1.0 (every request
       is a server span plus a client span per try), metrics every 10s
Telemetry is read when the agent starts, so each mode runs its own agent.

  --runs N          runs; each runs both modes, the order alternating (default 3)
  --duration S      seconds per wrk run (default 10)
  --connections N   wrk connections, one thread (default 32)
  --short           smoke test: 1 run of 3 s each (explicit options still win)
  -h, --help        show this help

Per run and mode: start the agent, a divert check, WARMUP s of unmeasured load
per file (JIT, pools), then wrk -t1 --latency on 1k.bin and 16k.bin, then stop
the agent (SIGTERM: the exporters flush). The receiver counts what arrived.

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               rebuilt with `dotnet build redirector/Mesh.Cli -c Release` at every start)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)
  OTLP_CPU     pin the OTLP receiver to this CPU (default: not pinned)
  WARMUP       seconds of unmeasured load per agent start and file (default 10; --short 1):
               under full load on 2 cores the tiered JIT needs that long to finish
               the exporter's and the proxy's hot methods; at 3 s "on" measured 0.73x, at 10 s 0.84x
  AGENT_START_TIMEOUT  s until `mesh status` must answer after each agent start (default 60)

Exit status: 0 ok; 1 wrk errors, a failed divert check, no spans received in
mode on (or anything received in mode off), agent failure or setup error; 2 bad
usage. Missing the performance target is not an error. Must run as root.
EOF
}

BENCH_NAME=telemetry-bench BENCH_ID=mesh-telemetry-bench
# Each agent start verifies the L4 programs too (about 15 s on a small VM).
AGENT_START_TIMEOUT=${AGENT_START_TIMEOUT:-60}
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=10 CONNS=32
while (($#)); do
	case $1 in
	*) parse_common_option "$@" || bad_usage "unknown argument: $1"; shift "$CONSUMED" ;;
	esac
done
apply_short_mode
[[ -z ${OTLP_CPU:-} || ($OTLP_CPU =~ ^[0-9]+$ && -d /sys/devices/system/cpu/cpu$OTLP_CPU) ]] || bad_usage "OTLP_CPU=$OTLP_CPU is not a CPU of this machine"
WARMUP=${WARMUP:-$( ((SHORT)) && echo 1 || echo 10)}
is_uint "$WARMUP" || bad_usage "WARMUP=$WARMUP is not a positive integer"

FILES=(1k 16k)
MODES=(off on)
SVC_ADDR=127.0.0.10 SVC_PORT=8080 # the service address wrk dials
TARGET=0.9                        # on/off req/s, each file
SPANS_PER_REQUEST=2               # the server span and one client span (no retries here)

# The agent must not pick up an exporter from this shell's environment in mode off.
for v in "${!OTEL_@}"; do unset "$v"; done

bench_init
bench_preflight nginx:nginx-light wrk:wrk curl:curl python3:python3 taskset:util-linux
ensure_mesh always # a stale binary would measure old code
bench_setup "${FILES[@]}"

# ------------------------------------------------------------- OTLP sink
SINK_PID= SINK_PORT=
# start_sink: the receiver, inside the cgroup (the agent's export connections
# stay local, and the cgroup sweep on exit takes it). It exits by itself after
# a bound well past the longest run.
start_sink() {
	local deadline bound=$((RUNS * 2 * (${#FILES[@]} * (DURATION + WARMUP) + AGENT_START_TIMEOUT + 60) + 600))
	SINK_PORT=$(pick_port)
	local cmd=(python3 "$LIB_REPO/loadtest/tools/otlp-sink.py" --port "$SINK_PORT" --max-seconds "$bound" --ready-file "$TMP/otlp-sink.ready")
	[[ -n ${OTLP_CPU:-} ]] && cmd=(taskset -c "$OTLP_CPU" "${cmd[@]}")
	bg_in_cgroup "$TMP/otlp-sink.log" "${cmd[@]}"
	SINK_PID=$JOB_PID JOB_PID=
	deadline=$((SECONDS + 10))
	until [[ -s $TMP/otlp-sink.ready ]] && sink_stats >/dev/null 2>&1; do
		alive "$SINK_PID" || { cat "$TMP/otlp-sink.log" >&2; die "the OTLP sink exited at start"; }
		((SECONDS < deadline)) || die "the OTLP sink does not answer on 127.0.0.1:$SINK_PORT"
		sleep 0.1
	done
}
# sink_stats: "trace_requests trace_bytes spans metric_requests metric_bytes metrics
# data_points parse_errors other_requests" received so far.
sink_stats() {
	curl -sS --max-time 5 "http://127.0.0.1:$SINK_PORT/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(*(s[k] for k in ("traces_requests", "traces_bytes", "spans", "metrics_requests", "metrics_bytes",
                       "metrics", "data_points", "parse_errors", "other_requests")))'
}

write_configs() {
	mkdir -p "$TMP/cfg-off" "$TMP/cfg-on" # a directory each: the agent watches the config's directory
	write_l7_mesh_conf "$TMP/cfg-off/mesh.yaml"
	write_l7_mesh_conf "$TMP/cfg-on/mesh.yaml" "telemetry:
  otlp: { endpoint: http://127.0.0.1:$SINK_PORT, protocol: http/protobuf }
  tracing: { samplingRatio: 1.0 }
  metrics: { exportInterval: 10s }"
}

# ---------------------------------------------------------------- helpers
wrk_requests() { awk '/ requests in / { print $1; found = 1 } END { if (!found) print 0 }' "$1" 2>/dev/null || echo 0; }

CPU_RESULTS= SINK_RESULTS= SERVED_RESULTS=
declare -A SINK_TICKS=([on]=0 [off]=0) MEASURED_S=([on]=0 [off]=0)
bench() { # mode run file
	local mode=$1 run=$2 f=$3 t0 t1 s0 s1 pids
	read -ra pids <<<"$(mesh_pids)" # the node proxy makes the spans and metrics; the agent exports the kernel's
	t0=$(cpu_ticks "${pids[@]}") s0=$(cpu_ticks "$SINK_PID")
	run_wrk "$mode" "$run" "$f" "http://$SVC_ADDR:$SVC_PORT/$f.bin" || true
	t1=$(cpu_ticks "${pids[@]}") s1=$(cpu_ticks "$SINK_PID")
	CPU_RESULTS+="$f $mode $run $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.2f", d / hz / s }')"$'\n'
	SINK_TICKS[$mode]=$((SINK_TICKS[$mode] + s1 - s0))
	MEASURED_S[$mode]=$((MEASURED_S[$mode] + DURATION))
	agent_check "the $mode $f run $run"
}

TELEMETRY_LOG_FAIL=0 SINK_FAIL=0
declare -A RSS_END
run_mode() { # mode run
	local mode=$1 run=$2 tag=$1-$2 f before after served=0 d
	start_agent "$tag" --config "$TMP/cfg-$mode/mesh.yaml" --proxy-port "$PROXY_PORT"
	if [[ $mode == on ]]; then
		grep -q 'Telemetry: exporting' "$TMP/agent-$tag.log" || { log "run $run: no 'Telemetry: exporting' line in the on agent's log"; TELEMETRY_LOG_FAIL=1; }
		((run == 1)) && log "agent (on): $(grep -m1 -o 'Telemetry: exporting.*' "$TMP/agent-$tag.log" || true)"
	else
		grep -q 'Telemetry off' "$TMP/agent-$tag.log" || { log "run $run: no 'Telemetry off' line in the off agent's log"; TELEMETRY_LOG_FAIL=1; }
	fi
	before=$(sink_stats) || die "the OTLP sink does not answer"
	if verify_mesh "$run"; then served=$((1 + ${#FILES[@]})); else ((run > 1)) || die "connections to $SVC_ADDR:$SVC_PORT do not reach the upstream through the Mesh proxy"; fi
	for f in "${FILES[@]}"; do # warm-up (not measured): the JIT (tiered compilation), pools, exporter
		run_in_cgroup "$TMP/warmup-$tag-$f.txt" timeout -k 5 $((WARMUP + 30)) \
			wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://$SVC_ADDR:$SVC_PORT/$f.bin" || true
		served=$((served + $(wrk_requests "$TMP/warmup-$tag-$f.txt")))
	done
	agent_check "the $mode warm-up of run $run"
	for f in "${FILES[@]}"; do
		bench "$mode" "$run" "$f"
		served=$((served + $(wrk_requests "$TMP/wrk-$mode-$run-$f.txt")))
	done
	RSS_END[$mode]=$(mesh_kib VmRSS)
	AGENT_EXIT_STATUS=0
	stop_agent # SIGTERM: the agent drains, and its exporters flush what they hold
	((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1
	after=$(sink_stats) || die "the OTLP sink does not answer"
	d=$(awk -v b="$before" -v a="$after" 'BEGIN { n = split(b, x, " "); split(a, y, " "); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), y[i] - x[i]; print "" }')
	SINK_RESULTS+="$mode $run $d"$'\n'
	SERVED_RESULTS+="$mode $run $served"$'\n'
	log "$(printf 'run %d/%d  %-3s agent: %d requests served; sink got %s' "$run" "$RUNS" "$mode" "$served" \
		"$(awk '{ printf "%d trace exports (%d spans, %.1f MiB), %d metric exports (%d metrics, %d points)", $1, $3, $2 / 1048576, $4, $6, $7 }' <<<"$d")")"
}

# ------------------------------------------------------------------- main
start_nginx upstream write_upstream_conf
UP_PORT=$NGINX_PORT
start_sink
write_configs
PROXY_PORT=$(pick_port)
if command -v ss >/dev/null && [[ -n $(ss -Htln "( sport = :$SVC_PORT )" 2>/dev/null) ]]; then
	log "warning: something listens on port $SVC_PORT; the divert check relies on the x-mesh header alone"
fi
for mode in "${MODES[@]}"; do
	"$MESH" config check "$TMP/cfg-$mode/mesh.yaml" >"$TMP/check-$mode.txt" 2>&1 ||
		{ cat "$TMP/check-$mode.txt" >&2; die "the generated config ($mode) is not valid"; }
done

log "kernel $(uname -r), $(nproc) CPUs; cgroup $CG"
log "upstream nginx (1 worker) 127.0.0.1:$UP_PORT; OTLP sink 127.0.0.1:$SINK_PORT (pid $SINK_PID${OTLP_CPU:+, CPU $OTLP_CPU}); service $SVC_ADDR:$SVC_PORT; node proxy 127.0.0.1:$PROXY_PORT"
log "$RUNS run(s) x {${MODES[*]}} x {${FILES[*]}}; ${WARMUP}s warm-up per agent and file; wrk -t1 -c$CONNS -d${DURATION}s --latency"

# The negative control: straight to the upstream, no x-mesh header.
if curl_in_cgroup "$TMP/verify.txt" "http://127.0.0.1:$UP_PORT/mesh-verify" && [[ $(cat "$TMP/verify.txt") == "x-mesh=" ]]; then :; else
	die "the upstream's /mesh-verify does not work: $(cat "$TMP/verify.txt" 2>/dev/null)"
fi
# Warm-up of the upstream and wrk (no agent).
for f in "${FILES[@]}"; do
	run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$UP_PORT/$f.bin" || true
done

for ((run = 1; run <= RUNS; run++)); do
	# Alternate which mode goes first, so neither always runs on a fresher machine.
	if ((run % 2)); then order=(off on); else order=(on off); fi
	for mode in "${order[@]}"; do run_mode "$mode" "$run"; done
done
SINK_LOG=$(tail -n 3 "$TMP/otlp-sink.log" 2>/dev/null || true)
alive "$SINK_PID" || { log "the OTLP sink exited during the run: $SINK_LOG"; SINK_FAIL=1; }

# ----------------------------------------------------------------- report
declare -A RPS P99 CORES
cpu_col() { printf '%s' "$CPU_RESULTS" | awk -v f="$1" -v m="$2" '$1 == f && $2 == m { print $4 }'; }
sink_sum() { printf '%s' "$SINK_RESULTS" | awk -v m="$1" -v c="$2" '$1 == m { print $(c + 2) }' | sum; }
echo
printf '%-4s  %-4s  %12s  %10s  %10s  %7s  %11s  %12s\n' file mode "req/s" "p50 ms" "p99 ms" errors "mesh cores" "mesh us/req"
for f in "${FILES[@]}"; do
	for mode in "${MODES[@]}"; do
		RPS[$f.$mode]=$(col "$f" "$mode" 4 | median)
		P99[$f.$mode]=$(col "$f" "$mode" 6 | median)
		CORES[$f.$mode]=$(cpu_col "$f" "$mode" | median)
		printf '%-4s  %-4s  %12.2f  %10.3f  %10.3f  %7s  %11s  %12s\n' "$f" "$mode" "${RPS[$f.$mode]}" \
			"$(col "$f" "$mode" 5 | median)" "${P99[$f.$mode]}" "$(errors_cell "$f" "$mode")" "${CORES[$f.$mode]}" \
			"$(awk -v c="${CORES[$f.$mode]}" -v r="${RPS[$f.$mode]}" 'BEGIN { if (r + 0 > 0 && c != "nan") printf "%.1f", c * 1e6 / r; else print "-" }')"
	done
done
echo "(medians of $RUNS run(s); errors = wrk socket errors + non-2xx/3xx responses, summed over runs; +Nrun = N wrk runs that failed outright;"
echo " mesh cores = CPU time (utime + stime) of the node proxy and the agent / run time; mesh us/req = their CPU per request)"
echo
echo "on/off ratios:"
for f in "${FILES[@]}"; do
	printf '%-4s  req/s %s  p50 %s  p99 %s  mesh CPU per request %s\n' "$f" "$(ratio "${RPS[$f.on]}" "${RPS[$f.off]}")" \
		"$(ratio "$(col "$f" on 5 | median)" "$(col "$f" off 5 | median)")" "$(ratio "${P99[$f.on]}" "${P99[$f.off]}")" \
		"$(ratio "$(awk -v c="${CORES[$f.on]}" -v r="${RPS[$f.on]}" 'BEGIN { print (r + 0 > 0) ? c / r : "nan" }')" \
			"$(awk -v c="${CORES[$f.off]}" -v r="${RPS[$f.off]}" 'BEGIN { print (r + 0 > 0) ? c / r : "nan" }')")"
done
line="req/s spread over runs (max/min, noise gauge):"
for f in "${FILES[@]}"; do line+=" $f off $(col "$f" off 4 | spread), on $(col "$f" on 4 | spread);"; done
echo "${line%;}"
echo "divert checks: $((RUNS * ${#MODES[@]} - VERIFY_FAIL))/$((RUNS * ${#MODES[@]})) ok"
echo
SERVED_ON=$(printf '%s' "$SERVED_RESULTS" | awk '$1 == "on" { print $3 }' | sum)
SPANS_ON=$(sink_sum on 3)
echo "OTLP sink, everything the 'on' agents exported ($RUNS agent(s), warm-up and divert checks included):"
echo "    traces:  $(sink_sum on 1) exports, $(mib $(($(sink_sum on 2) / 1024))) MiB, $SPANS_ON spans for $SERVED_ON requests served" \
	"= $(awk -v s="$SPANS_ON" -v r="$SERVED_ON" -v k="$SPANS_PER_REQUEST" 'BEGIN { if (r > 0) printf "%.1f%%", 100 * s / (k * r); else print "n/a" }') of the $SPANS_PER_REQUEST per request expected"
echo "    metrics: $(sink_sum on 4) exports, $(mib $(($(sink_sum on 5) / 1024))) MiB, $(sink_sum on 6) metrics, $(sink_sum on 7) data points"
echo "    sink CPU during the measured 'on' runs: $(awk -v t="${SINK_TICKS[on]}" -v hz="$CLK_TCK" -v s="${MEASURED_S[on]}" 'BEGIN { if (s > 0) printf "%.2f cores", t / hz / s; else print "n/a" }');" \
	"protobuf parse errors $(($(sink_sum on 8) + $(sink_sum off 8))), other requests $(($(sink_sum on 9) + $(sink_sum off 9)))"
OFF_GOT=$(($(sink_sum off 1) + $(sink_sum off 4)))
echo "    while the 'off' agents ran: $OFF_GOT export(s) received (want 0)"
echo "RSS of the agent + node proxy at the end of the last run: off $(mib "${RSS_END[off]:-}") MiB, on $(mib "${RSS_END[on]:-}") MiB"
echo
echo "target: telemetry on >= ${TARGET}x off req/s (sampling 100 %, each file)"
below=()
res=
for f in "${FILES[@]}"; do
	r=$(awk -v a="${RPS[$f.on]}" -v b="${RPS[$f.off]}" 'BEGIN { if (a == "nan" || b + 0 == 0) print "n/a"; else printf "%.3fx\n", a / b }')
	res+=" $f $r,"
	awk -v on="${RPS[$f.on]}" -v off="${RPS[$f.off]}" -v t="$TARGET" 'BEGIN { exit !(on != "nan" && off + 0 > 0 && on / off >= t) }' ||
		below+=("$f $r")
done
if ((${#below[@]})); then
	echo "result: BELOW TARGET ($(printf '%s; ' "${below[@]}" | sed 's/; $//') < ${TARGET}x)"
else
	echo "result: PASS (${res# }" | sed 's/,$/)/'
fi

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((VERIFY_FAIL)) && fail+=("divert check failed $VERIFY_FAIL time(s)")
((SPANS_ON > 0)) || fail+=("the sink received no span from the 'on' agents")
((OFF_GOT == 0)) || fail+=("the sink received $OFF_GOT export(s) while telemetry was off")
((TELEMETRY_LOG_FAIL)) && fail+=("an agent's log does not say telemetry on/off as configured")
((SINK_FAIL)) && fail+=("the OTLP sink died")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
