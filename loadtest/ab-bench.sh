#!/usr/bin/env bash
# ab-bench.sh: paired, alternating A/B runs of agent variants (binaries and/or
# environments) on the L7 path, with nginx as a reverse proxy as the yardstick
# in every run. For comparing a change with the code before it on a noisy
# machine. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/ab-bench.sh [--runs N] [--duration S] [--connections N] [--telemetry]
                            [--short] [--help] NAME=BINARY[,VAR=VALUE...] NAME=BINARY[,VAR=VALUE...]...

Compares agent variants on Mesh's L7 path (as l7-bench.sh: a connection to a
service address diverted to the node proxy, which sets one request header and
forwards to an upstream nginx), all on 127.0.0.1 inside a temporary child
cgroup. A variant is a name, an agent binary and optional environment
variables for the agent and its node proxy, e.g.

  base=/tmp/mesh-base/mesh new=redirector/Mesh.Cli/bin/Release/net10.0/mesh
  off=/tmp/mesh/mesh gen0=/tmp/mesh/mesh,DOTNET_GCgen0size=0x4000000

Each run takes every variant in turn (the order rotates from run to run): it
starts an agent with it, loads 1k.bin and 16k.bin for 6 s each unmeasured
(tiered JIT), measures each with wrk -t1 --latency, then measures nginx as a
reverse proxy (1 worker) with that agent still running, so that nginx's
connections are spliced as in l7-bench.sh, and stops the agent.

  --runs N          runs (default 3)
  --duration S      seconds per wrk run (default 8)
  --connections N   wrk connections, one thread (default 32)
  --telemetry       every variant exports traces (sampling 1.0) and metrics
                    over OTLP/HTTP to loadtest/tools/otlp-sink.py
  --short           smoke test: 1 run of 3 s each (explicit options still win)
  -h, --help        show this help

Output: per variant and file the median req/s, p50, p99 and mesh cores (node
proxy + agent CPU / run time), the ratios to the first variant and to nginx.

Exit status: 0 ok; 1 wrk errors, a failed divert check, an agent failure or a
setup error; 2 bad usage. Must run as root.
EOF
}

BENCH_NAME=ab-bench BENCH_ID=mesh-ab-bench MODE_W=8
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=8 CONNS=32 TELEMETRY=0 WARMUP=6
VARIANTS=()
while (($#)); do
	case $1 in
	--telemetry) TELEMETRY=1; shift ;;
	-*) parse_common_option "$@" || bad_usage "unknown option: $1"; shift "$CONSUMED" ;;
	*=*) VARIANTS+=("$1"); shift ;;
	*) bad_usage "not a variant (NAME=BINARY[,VAR=VALUE...]): $1" ;;
	esac
done
apply_short_mode
((SHORT)) && WARMUP=2
((${#VARIANTS[@]} >= 1)) || bad_usage "name at least one variant"

declare -A BINARY ENVIRONMENT
NAMES=()
for v in "${VARIANTS[@]}"; do
	name=${v%%=*} spec=${v#*=}
	[[ $name =~ ^[A-Za-z0-9_-]+$ && $name != nginx ]] || bad_usage "variant name '$name': letters, digits, _ and - only, not 'nginx'"
	[[ -z ${BINARY[$name]:-} ]] || bad_usage "variant $name given twice"
	BINARY[$name]=$(realpath -e "${spec%%,*}" 2>/dev/null) || bad_usage "variant $name: no such binary ${spec%%,*}"
	[[ -x ${BINARY[$name]} ]] || bad_usage "variant $name: ${BINARY[$name]} is not executable"
	ENVIRONMENT[$name]=
	if [[ $spec == *,* ]]; then
		IFS=, read -r -a pairs <<<"${spec#*,}"
		for pair in "${pairs[@]}"; do
			[[ $pair =~ ^[A-Za-z_][A-Za-z0-9_]*=[^[:space:]\'\"]*$ ]] || bad_usage "variant $name: not VAR=VALUE: $pair"
		done
		ENVIRONMENT[$name]=${pairs[*]}
	fi
	NAMES+=("$name")
done

FILES=(1k 16k)
SVC_ADDR=127.0.0.10 SVC_PORT=8080
MESH=${BINARY[${NAMES[0]}]} # for bench_init and mesh status; each variant runs through its own launcher
bench_init
bench_preflight
bench_setup "${FILES[@]}"

write_proxy1_conf() { write_proxy_conf 1 "$@"; }
start_nginx upstream write_upstream_conf
UP_PORT=$NGINX_PORT
start_nginx proxy1 write_proxy1_conf
NGINX_URL=http://127.0.0.1:$NGINX_PORT

TELEMETRY_YAML=
if ((TELEMETRY)); then
	SINK_PORT=$(pick_port)
	bg_in_cgroup "$TMP/otlp-sink.log" python3 "$LIB_REPO/loadtest/tools/otlp-sink.py" --port "$SINK_PORT" \
		--max-seconds $((RUNS * ${#NAMES[@]} * (4 * DURATION + 2 * WARMUP + AGENT_START_TIMEOUT + 60) + 300)) \
		--ready-file "$TMP/otlp-sink.ready"
	JOB_PID=
	for ((i = 0; i < 100; i++)); do [[ -s $TMP/otlp-sink.ready ]] && break; sleep 0.1; done
	[[ -s $TMP/otlp-sink.ready ]] || die "the OTLP sink did not start: $(cat "$TMP/otlp-sink.log")"
	TELEMETRY_YAML="telemetry:
  otlp: { endpoint: http://127.0.0.1:$SINK_PORT, protocol: http/protobuf }
  tracing: { samplingRatio: 1.0 }
  metrics: { exportInterval: 10s }"
fi
mkdir -p "$TMP/cfg" # a directory of its own: the agent watches the config's directory
write_l7_mesh_conf "$TMP/cfg/mesh.yaml" "$TELEMETRY_YAML"

# The launcher of a variant: its environment, then its binary (the agent re-executes
# itself and starts its node proxy with the environment it got).
for name in "${NAMES[@]}"; do
	printf '#!/bin/sh\nexec env %s "%s" "$@"\n' "${ENVIRONMENT[$name]}" "${BINARY[$name]}" >"$TMP/mesh-$name"
	chmod 755 "$TMP/mesh-$name"
done

log "kernel $(uname -r), $(nproc) CPUs; cgroup $CG; upstream 127.0.0.1:$UP_PORT, nginx proxy ${NGINX_URL#http://}"
for name in "${NAMES[@]}"; do log "variant $name: ${ENVIRONMENT[$name]:+${ENVIRONMENT[$name]} }${BINARY[$name]}"; done
log "$RUNS run(s) x {${NAMES[*]}} x {${FILES[*]}}, each followed by nginx; wrk -t1 -c$CONNS -d${DURATION}s; telemetry $( ((TELEMETRY)) && echo on || echo off)"

CPU_RESULTS=
measure_variant() { # name run
	local name=$1 run=$2 f t0 t1 pids
	MESH=$TMP/mesh-$name
	start_agent "$name-$run" --config "$TMP/cfg/mesh.yaml" --proxy-port "$(pick_port)"
	verify_mesh "$run" || die "variant $name: connections to $SVC_ADDR:$SVC_PORT do not reach the upstream through the proxy"
	for f in "${FILES[@]}"; do
		run_in_cgroup "$TMP/warmup.txt" timeout -k 5 30 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://$SVC_ADDR:$SVC_PORT/$f.bin" || true
	done
	for f in "${FILES[@]}"; do
		read -ra pids <<<"$(mesh_pids)"
		t0=$(cpu_ticks "${pids[@]}")
		run_wrk "$name" "$run" "$f" "http://$SVC_ADDR:$SVC_PORT/$f.bin" || true
		t1=$(cpu_ticks "${pids[@]}")
		CPU_RESULTS+="$f $name $run $(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN { printf "%.2f", d / hz / s }')"$'\n'
	done
	for f in "${FILES[@]}"; do run_wrk nginx "$run" "$f" "$NGINX_URL/$f.bin" || true; done
	agent_check "variant $name run $run"
	AGENT_EXIT_STATUS=0
	stop_agent
	((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1
}

for ((run = 1; run <= RUNS; run++)); do
	shift_by=$(((run - 1) % ${#NAMES[@]}))
	for name in "${NAMES[@]:shift_by}" "${NAMES[@]:0:shift_by}"; do measure_variant "$name" "$run"; done
done

# ----------------------------------------------------------------- report
cpu_col() { printf '%s' "$CPU_RESULTS" | awk -v f="$1" -v m="$2" '$1 == f && $2 == m { print $4 }'; }
declare -A RPS P99
echo
printf '%-4s  %-12s  %10s  %8s  %8s  %7s  %10s  %16s  %16s\n' file variant "req/s" "p50 ms" "p99 ms" errors "mesh cores" \
	"vs ${NAMES[0]} (req/s p99)" "vs nginx (req/s p99)"
for f in "${FILES[@]}"; do
	for name in "${NAMES[@]}" nginx; do
		RPS[$f.$name]=$(col "$f" "$name" 4 | median)
		P99[$f.$name]=$(col "$f" "$name" 6 | median)
	done
	for name in "${NAMES[@]}" nginx; do
		cores=$(cpu_col "$f" "$name" | median)
		[[ $cores == nan ]] && cores=-
		printf '%-4s  %-12s  %10.0f  %8.3f  %8.3f  %7s  %10s  %16s  %16s\n' "$f" "$name" "${RPS[$f.$name]}" \
			"$(col "$f" "$name" 5 | median)" "${P99[$f.$name]}" "$(errors_cell "$f" "$name")" "$cores" \
			"$(ratio "${RPS[$f.$name]}" "${RPS[$f.${NAMES[0]}]}") $(ratio "${P99[$f.$name]}" "${P99[$f.${NAMES[0]}]}")" \
			"$(ratio "${RPS[$f.$name]}" "${RPS[$f.nginx]}") $(ratio "${P99[$f.$name]}" "${P99[$f.nginx]}")"
	done
done
echo "(medians of $RUNS run(s); nginx: every run, measured after each variant with that variant's agent running;"
echo " mesh cores = CPU time of the node proxy and the agent / run time)"
line="req/s spread over runs (max/min, noise gauge):"
for f in "${FILES[@]}"; do
	for name in "${NAMES[@]}" nginx; do line+=" $f $name $(col "$f" "$name" 4 | spread),"; done
	line="${line%,};"
done
echo "${line%;}"
((TELEMETRY)) && echo "OTLP sink (everything received): $(curl -sS --max-time 5 "http://127.0.0.1:$SINK_PORT/stats" || echo 'no answer')"

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((AGENT_FAIL)) && fail+=("an agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
