#!/usr/bin/env bash
# connections.sh: how many concurrent connections the node holds and what each
# costs: N idle spliced connections (and the same on plain TCP as the control),
# then M idle keep-alive connections through the L7 path, all open at once on
# 127.0.0.1 inside a private child cgroup. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/connections.sh [--spliced N] [--l7 N] [--short] [--help]

Opens many TCP connections at once, keeps them idle, and reports the memory
each costs, with loadtest/tools/conn-hold.py (python asyncio) as client and
server, all inside a temporary child cgroup the agent serves:
  plain    N connections client -> echo server (127.0.0.1), the agent running
           with --no-splice: the control, plain TCP
  spliced  the same with the splice on: every socket must be in the sockhash
  l7       M keep-alive connections to the service web (127.0.0.10:8080, which
           has HTTP policy), diverted to the node proxy; each sends one GET
           (1k.bin from an upstream nginx) and stays open
In each phase every connection makes one exchange (a ping answered by a pong,
or a GET answered 200 with the whole body), all connections are held open,
memory is sampled, then every connection makes a second exchange (all still
alive and served?) and they are closed with a reset (no TIME_WAIT left).

  --spliced N   connections in the plain and spliced phases (default 10000)
  --l7 N        connections in the l7 phase (default 5000)
  --short       1000 and 500 (explicit options still win)
  -h, --help    show this help

Memory per connection = the growth from before the client starts to all
connections held, / N: kernel slab (/proc/meminfo Slab; both ends of each
connection are local, so it is two sockets), the VmRSS of the agent and its node proxy, and TCP buffer
pages (/proc/net/sockstat). Slab is machine-wide: run on a quiet machine.

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               rebuilt with `dotnet build redirector/Mesh.Cli -c Release` at every start)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)
  AGENT_START_TIMEOUT  s until `mesh status` must answer after each agent start (default 60)

Exit status: 0 ok; 1 a connection that failed to open, to be answered or to
stay open, sockets missing from the sockhash, connections not diverted, agent
failure or setup error; 2 bad usage. Must run as root.
EOF
}

BENCH_NAME=connections BENCH_ID=mesh-connections
AGENT_START_TIMEOUT=${AGENT_START_TIMEOUT:-60}
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N_SPLICED=10000 N_L7=5000 spliced_set=0 l7_set=0
while (($#)); do
	case $1 in
	--spliced) (($# >= 2)) && is_uint "$2" || bad_usage "--spliced needs a positive integer"; N_SPLICED=$2; spliced_set=1; shift 2 ;;
	--l7) (($# >= 2)) && is_uint "$2" || bad_usage "--l7 needs a positive integer"; N_L7=$2; l7_set=1; shift 2 ;;
	--runs | --duration | --connections) bad_usage "$1 does not apply: use --spliced and --l7" ;;
	*) parse_common_option "$@" || bad_usage "unknown argument: $1"; shift "$CONSUMED" ;;
	esac
done
if ((SHORT)); then
	((spliced_set)) || N_SPLICED=1000
	((l7_set)) || N_L7=500
fi
((N_SPLICED <= 25000 && N_L7 <= 25000)) || bad_usage "at most 25000 connections per phase (ephemeral ports of one client address)"

SVC_ADDR=127.0.0.10 SVC_PORT=8080
PARALLEL=200  # connections being opened at once
OP_TIMEOUT=10 # s per connect and per exchange
SETTLE=2      # s before each memory sample (freed sockets go after an RCU grace period)
# File descriptors per process: the client holds one end of each connection, the echo server (or the
# node proxy, for l7: a child of the agent, with its limit) the other.
NOFILE=$(((N_SPLICED > N_L7 ? N_SPLICED : N_L7) + 4096))

bench_init
bench_preflight nginx:nginx-light curl:curl python3:python3
ensure_mesh always # a stale binary would measure old code
bench_setup 1k
if (($(ulimit -Sn) < NOFILE)); then
	ulimit -Sn "$NOFILE" 2>/dev/null || ulimit -n "$NOFILE" 2>/dev/null ||
		die "cannot raise RLIMIT_NOFILE to $NOFILE (hard limit $(ulimit -Hn)); run with fewer connections or a higher hard limit"
fi

# --------------------------------------------------------------- helpers
TOOL=$LIB_REPO/loadtest/tools/conn-hold.py
SERVER_PORT= SERVER_PID= CLIENT_PID=
start_server() {
	local deadline
	SERVER_PORT=$(pick_port)
	rm -f "$TMP/server.ready"
	bg_in_cgroup "$TMP/server.log" python3 "$TOOL" server --port "$SERVER_PORT" --ready-file "$TMP/server.ready" --max-seconds 3600
	SERVER_PID=$JOB_PID JOB_PID=
	deadline=$((SECONDS + 10))
	until [[ -s $TMP/server.ready ]]; do
		alive "$SERVER_PID" || { cat "$TMP/server.log" >&2; die "the echo server exited at start"; }
		((SECONDS < deadline)) || die "the echo server did not start"
		sleep 0.1
	done
}
stop_pid() { # PID: SIGTERM, bounded wait, SIGKILL
	[[ -n $1 ]] || return 0
	kill -TERM "$1" 2>/dev/null || true
	wait_gone 5 "$1" || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

meminfo_kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
tcp_sockstat() { awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "'"$1"'") print $(i + 1) }' /proc/net/sockstat; }
# mem_snapshot: "slab_kib tcp_inuse tcp_mem_pages mesh_rss_kib" (the agent and its node proxy)
mem_snapshot() { echo "$(meminfo_kib Slab) $(tcp_sockstat inuse) $(tcp_sockstat mem) $(mesh_kib VmRSS)"; }
state_field() { python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); v = s[sys.argv[2]]; print(" ".join(f"{k}:{n}" for k, n in v.items()) or "-" if isinstance(v, dict) else v)' "$1" "$2"; }

CHECK_FAIL=() RESULTS=
# hold PHASE HOST PORT COUNT MODE: one phase (see usage); appends to RESULTS
# "PHASE count opened answered answered_again open_s slab_B/conn agent_B/conn tcp_mem_pages extra".
hold() {
	local phase=$1 host=$2 port=$3 n=$4 mode=$5 st=$TMP/$1.state go=$TMP/$1.go deadline m0 m1 m2 s0 s1 extra=-
	local opened answered again open_s cpid crss args=()
	[[ $mode == http ]] && args=(--mode http --path /1k.bin --length 1024)
	sleep "$SETTLE"
	s0=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || die "mesh status failed before $phase"
	m0=$(mem_snapshot)
	rm -f "$st" "$go"
	bg_in_cgroup "$TMP/$phase.client.log" timeout -k 5 $((n / 50 + 4 * OP_TIMEOUT + 400)) \
		python3 "$TOOL" client --host "$host" --port "$port" --count "$n" "${args[@]}" --parallel "$PARALLEL" \
		--timeout "$OP_TIMEOUT" --state-file "$st" --go-file "$go" --max-hold 300
	CLIENT_PID=$JOB_PID JOB_PID=
	deadline=$((SECONDS + n / 50 + 2 * OP_TIMEOUT + 60))
	until [[ -s $st ]]; do
		alive "$CLIENT_PID" || { cat "$TMP/$phase.client.log" >&2; die "the $phase client exited before holding its connections"; }
		((SECONDS < deadline)) || die "the $phase client did not open its $n connections in time"
		sleep 0.2
	done
	sleep "$SETTLE"
	m1=$(mem_snapshot)
	s1=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || die "mesh status failed during $phase"
	cpid=$(state_field "$st" pid)
	crss=$(vm_kib "$cpid" VmRSS)
	read -r opened answered open_s <<<"$(state_field "$st" opened) $(state_field "$st" answered) $(state_field "$st" open_seconds)"
	log "$phase: $opened/$n open, $answered answered in ${open_s}s (failed: $(state_field "$st" failed)); holding"
	case $phase in
	spliced)
		extra=$(status_value "$s1" "sockets in sockhash")
		((extra >= 2 * n)) || CHECK_FAIL+=("spliced: $extra sockets in the sockhash with $n connections open (want >= $((2 * n)), both ends)")
		;;
	plain)
		extra=$(status_value "$s1" "sockets in sockhash")
		;;
	l7)
		extra=$(($(status_value "$s1" "connections diverted") - $(status_value "$s0" "connections diverted")))
		((extra >= n)) || CHECK_FAIL+=("l7: $extra connections diverted for $n opened")
		;;
	esac
	touch "$go"
	wait_gone $((n / 50 + 2 * OP_TIMEOUT + 30)) "$CLIENT_PID" || log "the $phase client is still running"
	stop_pid "$CLIENT_PID"
	CLIENT_PID=
	again=$(state_field "$st" answered_again)
	[[ $(state_field "$st" phase) == "done" ]] || again=0
	log "$phase: $again/$n answered again after the hold (failed: $(state_field "$st" failed_again))"
	((opened == n && answered == n)) || CHECK_FAIL+=("$phase: $opened of $n opened, $answered answered (failed: $(state_field "$st" failed))")
	((again == n)) || CHECK_FAIL+=("$phase: $again of $n answered after the hold (failed: $(state_field "$st" failed_again))")
	sleep "$SETTLE"
	m2=$(mem_snapshot)
	RESULTS+="$phase $n $opened $answered $again $open_s $(awk -v a="$m0" -v b="$m1" -v c="$m2" -v n="$n" -v crss="$crss" 'BEGIN {
		split(a, x, " "); split(b, y, " "); split(c, z, " ")
		printf "%.0f %.0f %d %.0f %.0f %.0f", (y[1] - x[1]) * 1024 / n, (y[4] - x[4]) * 1024 / n, y[3] - x[3], (z[1] - x[1]) * 1024 / n, crss * 1024 / n, y[2] - x[2] }') $extra"$'\n'
	agent_check "the $phase phase"
}

bench_cleanup_extra() {
	# The client and server are in the cgroup (swept next); stop them first so the agent's stop is not racing them.
	stop_pid "$CLIENT_PID"
	stop_pid "$SERVER_PID"
	return 0
}

# ------------------------------------------------------------------ main
start_nginx upstream write_upstream_conf
UP_PORT=$NGINX_PORT
mkdir -p "$TMP/cfg"
write_l7_mesh_conf "$TMP/cfg/mesh.yaml"
PROXY_PORT=$(pick_port)
log "kernel $(uname -r), $(nproc) CPUs, $(($(meminfo_kib MemTotal) / 1024)) MiB; cgroup $CG; RLIMIT_NOFILE $(ulimit -n)"
log "phases: plain $N_SPLICED (agent --no-splice), spliced $N_SPLICED, l7 $N_L7 (service $SVC_ADDR:$SVC_PORT -> nginx 127.0.0.1:$UP_PORT)"

start_agent plain --config "$TMP/cfg/mesh.yaml" --proxy-port "$PROXY_PORT" --no-splice
start_server
hold plain 127.0.0.1 "$SERVER_PORT" "$N_SPLICED" echo
stop_pid "$SERVER_PID"
SERVER_PID=
AGENT_EXIT_STATUS=0
stop_agent
((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1

start_agent spliced --config "$TMP/cfg/mesh.yaml" --proxy-port "$PROXY_PORT"
start_server
hold spliced 127.0.0.1 "$SERVER_PORT" "$N_SPLICED" echo
stop_pid "$SERVER_PID"
SERVER_PID=
curl_in_cgroup "$TMP/l7-check.bin" "http://$SVC_ADDR:$SVC_PORT/1k.bin" && [[ $(sha256sum <"$TMP/l7-check.bin" | cut -d' ' -f1) == "${SHA[1k]}" ]] ||
	die "the L7 path does not serve 1k.bin: $(tail -n 5 "$TMP/l7-check.bin.log")"
RSS_L7_IDLE=$(mesh_kib VmRSS)
hold l7 "$SVC_ADDR" "$SVC_PORT" "$N_L7" http
RSS_END=$(mesh_kib VmRSS) HWM=$(mesh_kib VmHWM) RSS_SPLIT=$(mesh_rss_split)
STATUS=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || true
AGENT_EXIT_STATUS=0
stop_agent
((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1

# ---------------------------------------------------------------- report
r() { printf '%s' "$RESULTS" | awk -v p="$1" -v c="$2" '$1 == p { print $c }'; }
echo
echo "connections held at once (idle, 127.0.0.1, inside the cgroup; one exchange each before and after the hold):"
printf '%-8s  %6s  %7s  %9s  %13s  %7s  %13s  %13s  %12s  %-22s\n' phase conns opened answered "answered again" "open s" \
	"slab B/conn" "mesh B/conn" "TCP mem pg" "check"
for p in plain spliced l7; do
	case $p in
	plain) check="sockhash $(r $p 13) (want ~0)" ;;
	spliced) check="sockhash $(r $p 13) (>= $((2 * N_SPLICED)))" ;;
	l7) check="diverted $(r $p 13) (>= $N_L7)" ;;
	esac
	printf '%-8s  %6s  %7s  %9s  %13s  %7s  %13s  %13s  %12s  %-22s\n' "$p" "$(r $p 2)" "$(r $p 3)" "$(r $p 4)" "$(r $p 5)" "$(r $p 6)" \
		"$(r $p 7)" "$(r $p 8)" "$(r $p 9)" "$check"
done
echo "(slab B/conn = growth of /proc/meminfo Slab from before the client started to all connections held, / conns: both"
echo " ends' sockets, and in l7 the proxy's too; mesh B/conn = growth of the VmRSS of the agent + node proxy / conns; TCP mem pg = growth of the"
echo " TCP buffer pages in /proc/net/sockstat. plain: the agent ran with --no-splice; spliced and l7: splice on)"
echo
echo "splice's own kernel cost: $(awk -v s="$(r spliced 7)" -v p="$(r plain 7)" 'BEGIN { printf "%+.0f B", s - p }') per connection (spliced - plain slab;" \
	"$(r spliced 13) sockets in the sockhash)"
echo "memory per connection: spliced $(awk -v k="$(r spliced 7)" -v a="$(r spliced 8)" 'BEGIN { printf "%.1f KiB (kernel %.1f KiB + mesh %.1f KiB)", (k + a) / 1024, k / 1024, a / 1024 }');" \
	"l7 $(awk -v k="$(r l7 7)" -v a="$(r l7 8)" 'BEGIN { printf "%.1f KiB (kernel %.1f KiB + mesh %.1f KiB)", (k + a) / 1024, k / 1024, a / 1024 }')"
echo "slab after the close, still held per connection (should be ~0): plain $(r plain 10) B, spliced $(r spliced 10) B, l7 $(r l7 10) B"
echo "client process (python asyncio, not Mesh) VmRSS per connection: plain $(r plain 11) B, spliced $(r spliced 11) B, l7 $(r l7 11) B"
echo "VmRSS of the agent + node proxy: $(mib "$RSS_L7_IDLE") MiB before the l7 phase, $(mib "$RSS_END") MiB after it ($RSS_SPLIT; peak VmHWM $(mib "$HWM") MiB)"
echo "mesh status at the end: $(for k in "sockets in sockhash" "sockets registered" "connections diverted"; do
	printf '%s %s, ' "$k" "$(status_value "$STATUS" "$k" || echo '?')"; done | sed 's/, $//')"

fail=("${CHECK_FAIL[@]}")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
report_verdict "${fail[@]}"
