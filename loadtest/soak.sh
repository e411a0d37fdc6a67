#!/usr/bin/env bash
# soak.sh: a bounded soak of the agent: mixed spliced and L7 traffic at moderate
# load while the config is reloaded every 10 s and an upstream is killed and
# restarted every minute. Reports the requests sent and failed (by cause, each
# failure classified as one the policy allows or not), p50/p99 over time, and
# the RSS and open file descriptors of the agent and its node proxy at the start and the end. See
# loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/soak.sh [--duration S] [--warmup S] [--warmup-reloads N] [--rate N]
                        [--connections N] [--reload-every S] [--kill-every S] [--short] [--help]

A soak of the agent, all on 127.0.0.1 inside a temporary child cgroup:
  spliced  a client -> upstream nginx up-s (127.0.0.1), spliced by the kernel
  L7       a client -> the service web at 127.0.0.10:8080, diverted to the node
           proxy -> upstream nginx up-a or up-b (its two endpoints). The rule
           retries connection failures (and 502/504) on the other endpoint.
tools/http-load.py sends both at a fixed rate on keep-alive connections that it
reopens every 50 requests, and records every request. Meanwhile:
  - every 10 s (at 5, 15, 25 s, ...) the config is rewritten (a new file renamed
    over it), toggling the value of the request header the rule sets; the
    upstreams echo it, so the report shows when each reload took effect;
  - every 60 s (at 30, 90, 150 s, ...) one upstream, in turn up-a, up-s, up-b,
    is killed (SIGKILL, master and workers) and restarted 3 s later;
  - every 10 s the RSS and open fds of the agent and its node proxy (summed) are sampled.
A failure is expected only where the policy allows it: a spliced request while
up-s is down (no proxy on that path), or an L7 request in flight on the endpoint
at the moment it is killed (already sent: only connection failures are retried).

  --duration S      seconds of soak, after the warm-up (default 600)
  --warmup S        seconds of the same load before the soak clock starts and the
                    start sample is taken (default 60): the RSS of the agent and
                    its node proxy climbs during their first minute under load
                    (JIT, GC heap sizing).
                    From 24 s on, the warm-up also starts with a burst of
                    reloads (--warmup-reloads), then kills and restarts up-a and
                    up-s once and reloads once more (unless those are off), so
                    that first-time costs do not count as growth
  --warmup-reloads N  reloads, back to back, at the start of the warm-up
                    (default 60; at most for half the warm-up): code that runs
                    once per reload is promoted by the tiered JIT only after 30
                    calls and more, and its compiled code would otherwise count
                    as growth for the first 10 to 15 minutes of reloads
  --rate N          requests per second of each kind, spliced and L7 (default 100)
  --connections N   client connections per kind (default 4)
  --reload-every S  seconds between config reloads (default 10; 0: none)
  --kill-every S    seconds between upstream kills (default 60; 0: none). With
                    0 for both, the soak shows what the load alone does
  --short           60 s soak after 30 s warm-up: 6 reloads and one restart
                    (up-a, at 30 s); explicit options still win
  -h, --help        show this help

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               rebuilt with `dotnet build redirector/Mesh.Cli -c Release` at every start)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)
  AGENT_START_TIMEOUT  s until `mesh status` must answer after the agent starts (default 60)

Exit status: 0 PASS; 1 FAIL (an unexpected failure, RSS or fd growth of 10 % or
more, a reload not seen in the traffic, a restart that failed, the agent dying
or not stopping cleanly, its node proxy restarted) or a setup error; 2 bad
usage. Must run as root.
EOF
}

BENCH_NAME=soak BENCH_ID=mesh-soak
AGENT_START_TIMEOUT=${AGENT_START_TIMEOUT:-60}
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=600 RATE=100 CONNS=4 WARMUP= WARMUP_RELOADS=60 RELOAD_EVERY=10 KILL_EVERY=60
while (($#)); do
	case $1 in
	--warmup) (($# >= 2)) && [[ $2 =~ ^[0-9]+$ ]] || bad_usage "--warmup needs a number of seconds"; WARMUP=$2; shift 2 ;;
	--warmup-reloads) (($# >= 2)) && [[ $2 =~ ^[0-9]+$ ]] || bad_usage "--warmup-reloads needs a number"; WARMUP_RELOADS=$2; shift 2 ;;
	--reload-every) (($# >= 2)) && [[ $2 =~ ^[0-9]+$ ]] || bad_usage "--reload-every needs a number of seconds"; RELOAD_EVERY=$2; shift 2 ;;
	--kill-every) (($# >= 2)) && [[ $2 =~ ^[0-9]+$ ]] || bad_usage "--kill-every needs a number of seconds"; KILL_EVERY=$2; shift 2 ;;
	--rate) (($# >= 2)) && is_uint "$2" || bad_usage "--rate needs a positive integer"; RATE=$2; shift 2 ;;
	--runs) bad_usage "--runs does not apply: a soak is one long run" ;;
	*) parse_common_option "$@" || bad_usage "unknown argument: $1"; shift "$CONSUMED" ;;
	esac
done
apply_short_mode 60
((DURATION >= 20)) || bad_usage "--duration must be at least 20 s"

[[ -n $WARMUP ]] || WARMUP=$( ((SHORT)) && echo 30 || echo 60) # s of load before the soak clock starts
RELOAD_FIRST=$(((RELOAD_EVERY + 1) / 2))    # s: 5, 15, 25, ... with reloads every 10 s
KILL_FIRST=$(((KILL_EVERY + 1) / 2)) DOWN=3 # s: 30, 90, 150, ... with kills every 60 s; an upstream stays down DOWN s
((KILL_EVERY == 0 || KILL_EVERY >= DOWN + 5)) || bad_usage "--kill-every must be 0 or at least $((DOWN + 5)) s"
KILL_ORDER=(up-a up-s up-b)
BUCKET=60                                  # s per row of the table over time
((DURATION < 180)) && BUCKET=10
GROWTH_LIMIT=10                            # % of RSS and fds, start to end
REQUEST_TIMEOUT=2                          # s per request (connect, then the exchange)
SVC_ADDR=127.0.0.10 SVC_PORT=8080

bench_init
bench_preflight nginx:nginx-light curl:curl python3:python3
ensure_mesh always # a stale binary would measure old code
bench_setup 1k

# ------------------------------------------------------------ upstreams
# The upstreams echo the x-soak request header (set by the mesh rule) in the
# x-soak-seen response header: the client records which config answered.
write_soak_upstream_conf() { # prefix port
	nginx_conf_head "$1" 1
	cat <<EOF
    server {
        listen 127.0.0.1:$2;
        root $TMP/www;
        location / { add_header x-soak-seen "\$http_x_soak" always; }
    }
}
EOF
}

# -------------------------------------------------------------- config
CFG_DIR=$TMP/cfg # a directory of its own: the agent watches the config's directory
GEN=0
config_value() { (($1 % 2)) && echo b || echo a; }
# write_config GEN: the config of generation GEN, written beside and renamed over
# the old one (an atomic replace, as editors save).
write_config() {
	cat >"$CFG_DIR/.mesh.yaml.new" <<EOF
# generated by loadtest/soak.sh, generation $1
splice: on
services:
  - name: web
    address: $SVC_ADDR
    port: $SVC_PORT
    endpoints: [127.0.0.1:${PORT[up-a]}, 127.0.0.1:${PORT[up-b]}]
    rules:
      - name: all
        # Connection failures are always retried; retry on the other endpoint at once, and let
        # every request retry (budgetPercent 100): an endpoint down is half the requests.
        retry: { attempts: 2, backoff: 1ms, maxBackoff: 10ms, budgetPercent: 100 }
        filters:
          - type: RequestHeaderModifier
            requestHeaderModifier: { set: [{ name: x-soak, value: "$(config_value "$1")" }] }
EOF
	chmod 644 "$CFG_DIR/.mesh.yaml.new"
	mv -f "$CFG_DIR/.mesh.yaml.new" "$CFG_DIR/mesh.yaml"
}

# -------------------------------------------------------------- helpers
EVENTS=$TMP/events.txt
event() { echo "$(now_s) $*" >>"$EVENTS"; }
sample() { # -> "RSS_KIB FDS" of the agent and its node proxy together, logged as an event
	local rss fds
	agent_check "a sample"
	rss=$(mesh_kib VmRSS) fds=$(mesh_fds)
	event sample "$rss" "$fds"
	echo "$rss $fds"
}
# sample3: the median of 3 samples 0.3 s apart, per column.
sample3() {
	local i s
	s=$(for i in 1 2 3; do sample; ((i < 3)) && sleep 0.3; done)
	echo "$(cut -d' ' -f1 <<<"$s" | median) $(cut -d' ' -f2 <<<"$s" | median)"
}
sleep_until() { # EPOCH
	local d
	d=$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; print (d > 0) ? d : 0 }')
	sleep "$d"
}
# timeline: "OFFSET ACTION [ARG]" for the whole soak, in time order.
timeline() {
	local t j=0
	# The warm-up meets each kind of event, so that the start sample is of an agent that has already run every
	# code path of the soak: the first upstream failure and the first reload cost the agent a one-time 8 to 10 MiB
	# (their code JIT-compiled, exception stack traces with their symbol files loaded), and the tiered JIT keeps
	# promoting the reload path's methods until each has run 30 times and more (with reloads alone, 5 MiB of new
	# code over the first 80 to 100 reloads, none after; loadtest/README.md), which would otherwise count as growth.
	if ((WARMUP >= 24)); then
		((RELOAD_EVERY == 0 || WARMUP_RELOADS == 0)) || echo "$((-WARMUP)) reload-burst"
		((KILL_EVERY == 0)) || printf '%s\n' "$((-WARMUP / 2)) kill up-a" "$((-WARMUP / 2 + DOWN)) restart up-a" \
			"$((-WARMUP / 3)) kill up-s" "$((-WARMUP / 3 + DOWN)) restart up-s"
		((RELOAD_EVERY == 0)) || echo "$((-WARMUP / 6)) reload"
	fi
	echo "0 start"
	((RELOAD_EVERY == 0)) || for ((t = RELOAD_FIRST; t < DURATION; t += RELOAD_EVERY)); do echo "$t reload"; done
	for ((t = 10; t < DURATION - 1; t += 10)); do echo "$t sample"; done
	((KILL_EVERY == 0)) || for ((t = KILL_FIRST; t + DOWN + 5 <= DURATION; t += KILL_EVERY)); do
		echo "$t kill ${KILL_ORDER[j % ${#KILL_ORDER[@]}]}"
		echo "$((t + DOWN)) restart ${KILL_ORDER[j % ${#KILL_ORDER[@]}]}"
		j=$((j + 1))
	done
	echo "$((DURATION - 1)) end"
}

# ------------------------------------------------------------------ main
declare -A PORT
for up in up-a up-b up-s; do
	start_nginx "$up" write_soak_upstream_conf
	PORT[$up]=$NGINX_PORT
done
mkdir -p "$CFG_DIR"
write_config 0
"$MESH" config check "$CFG_DIR/mesh.yaml" >"$TMP/check.txt" 2>&1 || { cat "$TMP/check.txt" >&2; die "the generated config is not valid"; }
PROXY_PORT=$(pick_port)
start_agent soak --config "$CFG_DIR/mesh.yaml" --proxy-port "$PROXY_PORT"
RSS_IDLE=$(mesh_kib VmRSS) FDS_IDLE=$(mesh_fds)

log "kernel $(uname -r), $(nproc) CPUs; cgroup $CG; agent pid $AGENT_PID, node proxy pid $(node_proxy_pid) on 127.0.0.1:$PROXY_PORT"
log "upstreams: up-a 127.0.0.1:${PORT[up-a]}, up-b 127.0.0.1:${PORT[up-b]} (endpoints of web $SVC_ADDR:$SVC_PORT), up-s 127.0.0.1:${PORT[up-s]} (spliced)"
log "${DURATION}s soak after ${WARMUP}s warm-up; $RATE req/s spliced + $RATE req/s L7, $CONNS connections each;" \
	"$( ((RELOAD_EVERY)) && echo "reload every ${RELOAD_EVERY}s" || echo "no reload");" \
	"$( ((KILL_EVERY)) && echo "kill + restart (${DOWN}s down) every ${KILL_EVERY}s from ${KILL_FIRST}s, in turn ${KILL_ORDER[*]}" || echo "no upstream kill")"

# Both paths work before the load starts: the L7 one through the proxy (the
# upstream echoes the header the rule set), the spliced one direct.
curl_in_cgroup "$TMP/check-l7.bin" "http://$SVC_ADDR:$SVC_PORT/1k.bin" -D "$TMP/check-l7.headers" ||
	die "the L7 path does not answer: $(tail -n 5 "$TMP/check-l7.bin.log")"
grep -qi '^x-soak-seen: a' "$TMP/check-l7.headers" || die "the L7 answer lacks x-soak-seen: a (not through the proxy?): $(cat "$TMP/check-l7.headers")"
curl_in_cgroup "$TMP/check-s.bin" "http://127.0.0.1:${PORT[up-s]}/1k.bin" || die "the spliced upstream does not answer"

T0=$(awk -v n="$(now_s)" -v w="$WARMUP" 'BEGIN { printf "%.3f", n + w }')
END=$(awk -v t="$T0" -v d="$DURATION" 'BEGIN { printf "%.3f", t + d }')
: >"$EVENTS"
bg_in_cgroup "$TMP/load.json" timeout -k 5 $((WARMUP + DURATION + 4 * REQUEST_TIMEOUT + 30)) \
	python3 "$LIB_REPO/loadtest/tools/http-load.py" --out "$TMP/records.txt" --until "$END" \
	--timeout "$REQUEST_TIMEOUT" --reuse 50 --seen-header x-soak-seen \
	--target "spliced=127.0.0.1:${PORT[up-s]}/1k.bin@${RATE}x$CONNS:1024" \
	--target "l7=$SVC_ADDR:$SVC_PORT/1k.bin@${RATE}x$CONNS:1024"
LOAD_PID=$JOB_PID JOB_PID=

RESTART_FAIL=0 LOAD_DIED=0 START_RSS= START_FDS= END_RSS= END_FDS= STATUS_START=
while read -r -u 3 off action arg; do
	sleep_until "$(awk -v t="$T0" -v o="$off" 'BEGIN { printf "%.3f", t + o }')"
	agent_check "the soak, at ${off}s"
	if ((!LOAD_DIED)) && ! alive "$LOAD_PID"; then
		log "the load generator exited early, at ${off}s: $(tail -n 3 "$TMP/load.json")"
		LOAD_DIED=1
	fi
	case $action in
	start)
		read -r START_RSS START_FDS <<<"$(sample3)"
		STATUS_START=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || true
		log "soak clock starts: agent + node proxy RSS $(mib "$START_RSS") MiB, $START_FDS fds; sockets in sockhash $(status_value "$STATUS_START" "sockets in sockhash" || echo '?')"
		;;
	sample)
		read -r rss fds <<<"$(sample)"
		log "$(printf '%4ss  agent + node proxy RSS %6s MiB, %4s fds; %s requests recorded' "$off" "$(mib "$rss")" "$fds" "$(wc -l <"$TMP/records.txt" 2>/dev/null || echo 0)")"
		;;
	reload-burst)
		# Back to back, each applied before the next (mesh reload answers once it is), for at most half the warm-up.
		burst_end=$(awk -v t="$T0" -v w="$WARMUP" 'BEGIN { printf "%.3f", t - w / 2 }') burst_start=$(now_s) n=0
		while ((n < WARMUP_RELOADS)) && awk -v t="$burst_end" -v n="$(now_s)" 'BEGIN { exit !(n < t) }'; do
			GEN=$((GEN + 1))
			write_config "$GEN"
			timeout 10 "$MESH" reload --pin-dir "$PIN" >"$TMP/reload.txt" 2>&1 || die "mesh reload failed in the warm-up: $(cat "$TMP/reload.txt")"
			n=$((n + 1))
		done
		log "warm-up: $n reloads in $(awk -v s="$burst_start" -v n="$(now_s)" 'BEGIN { printf "%.1f", n - s }') s"
		;;
	reload)
		GEN=$((GEN + 1))
		write_config "$GEN"
		event reload "$GEN" "$(config_value "$GEN")"
		;;
	kill)
		kill_nginx "$arg"
		event kill "$arg"
		log "$(printf '%4ss  killed %s (SIGKILL)' "$off" "$arg")"
		;;
	restart)
		if restart_nginx "$arg" "${PORT[$arg]}"; then
			event ready "$arg"
			log "$(printf '%4ss  %s restarted and serving' "$off" "$arg")"
		else
			RESTART_FAIL=$((RESTART_FAIL + 1))
		fi
		;;
	end)
		read -r END_RSS END_FDS <<<"$(sample3)"
		;;
	esac
done 3< <(timeline | sort -g -s)

# The generator stops starting requests at END; each one left ends within its timeout.
wait_gone $((4 * REQUEST_TIMEOUT + 20)) "$LOAD_PID" || log "the load generator is still running after the soak"
LOAD_RC=0
wait "$LOAD_PID" 2>/dev/null || LOAD_RC=$?
agent_check "the end of the soak"
STATUS_END=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || STATUS_END+=$'\n(mesh status failed)'
HWM=$(mesh_kib VmHWM) THREADS=$(mesh_kib Threads) RSS_SPLIT=$(mesh_rss_split)
AGENT_EXIT_STATUS=0
stop_agent
((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1

# ---------------------------------------------------------------- report
echo
echo "soak: ${DURATION}s after ${WARMUP}s warm-up; $RATE req/s spliced (-> up-s) + $RATE req/s L7 (-> web: up-a, up-b), $CONNS connections each, reopened every 50 requests;" \
	"reload every ${RELOAD_EVERY}s, kill every ${KILL_EVERY}s (0: none)"
REPORT=$(python3 "$LIB_REPO/loadtest/tools/soak-report.py" --records "$TMP/records.txt" --events "$EVENTS" \
	--start "$T0" --duration "$DURATION" --bucket "$BUCKET" --spliced spliced --l7 l7 \
	--l7-upstreams up-a,up-b --spliced-upstream up-s) || die "soak-report.py failed"
printf '%s\n' "$REPORT" | grep -v '^SUMMARY '
SUMMARY=$(printf '%s\n' "$REPORT" | sed -n 's/^SUMMARY //p')
get() { tr ' ' '\n' <<<"$SUMMARY" | sed -n "s/^$1=//p"; }

RSS_GROWTH=$(growth_pct "$START_RSS" "$END_RSS") FDS_GROWTH=$(growth_pct "$START_FDS" "$END_FDS")
nreloaded=$(grep -c 'Reloaded config' "$TMP/agent-soak.log" || true)
nrejected=$(grep -c 'Rejected the edit' "$TMP/agent-soak.log" || true)
nwarn=$(grep -c '^warn:' "$TMP/agent-soak.log" || true)
nfail=$(grep -Ec '^(fail|crit):' "$TMP/agent-soak.log" || true)
echo
echo "requests sent: $(get requests) (spliced $(get spliced), L7 $(get l7)); failed: $(get failed) ($(get expected) allowed by the policy, $(get unexpected) unexpected)"
echo "p99 over the whole soak: spliced $(get p99_spliced) ms, L7 $(get p99_l7) ms"
echo "RSS of the agent + node proxy: $(mib "$START_RSS") MiB at the start, $(mib "$END_RSS") MiB at the end (${RSS_GROWTH}%; peak VmHWM $(mib "$HWM") MiB, $THREADS threads);" \
	"$(mib "$RSS_IDLE") MiB idle before the load; trend over the second half $(get rss_slope) MiB/min; at the end $RSS_SPLIT"
echo "open fds of the agent + node proxy: $START_FDS at the start, $END_FDS at the end (${FDS_GROWTH}%); $FDS_IDLE idle before the load"
memory_line() { grep -o 'agent memory: .*' <<<"$1" | sed 's/^agent memory: //' || echo '?'; }
echo "agent process memory (mesh status, not its node proxy's): at the start $(memory_line "$STATUS_START")"
echo "                                                          at the end   $(memory_line "$STATUS_END")"
echo "(start: median of 3 samples when the soak clock starts, after ${WARMUP}s of load; end: the same 1 s before the load stops;"
echo " trend: least-squares slope of the 10 s samples over the second half of the soak)"
echo "agent log: $nreloaded 'Reloaded config', $nrejected rejected edits, $nwarn warn, $nfail fail/crit lines"
if ((nwarn + nfail)); then
	grep -E '^(warn|fail|crit):' "$TMP/agent-soak.log" | sed 's/ [0-9a-f-]\{36\}/ <id>/g' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
fi
echo "mesh status at the end: $(for k in "sockets in sockhash" "sockets registered" "connections diverted" "bytes redirected" "node proxy restarts"; do
	printf '%s %s, ' "$k" "$(status_value "$STATUS_END" "$k" || echo '?')"; done | sed 's/, $//')"
echo "target: no failure but those the policy allows; RSS and fds grow under ${GROWTH_LIMIT}% from start to end"

fail=()
(($(get unexpected) == 0)) || fail+=("$(get unexpected) unexpected failure(s)")
(($(get requests) > 0)) || fail+=("no request recorded")
(($(get reloads_seen) == $(get reloads))) || fail+=("$(($(get reloads) - $(get reloads_seen))) of $(get reloads) reload(s) not seen in the L7 answers")
((nrejected == 0)) || fail+=("$nrejected config edit(s) rejected")
awk -v g="$RSS_GROWTH" -v l="$GROWTH_LIMIT" 'BEGIN { exit !(g != "n/a" && g < l) }' || fail+=("RSS grew ${RSS_GROWTH}%")
awk -v g="$FDS_GROWTH" -v l="$GROWTH_LIMIT" 'BEGIN { exit !(g != "n/a" && g < l) }' || fail+=("open fds grew ${FDS_GROWTH}%")
((RESTART_FAIL)) && fail+=("$RESTART_FAIL upstream restart(s) failed")
((LOAD_DIED || LOAD_RC)) && fail+=("the load generator failed (status $LOAD_RC)")
((AGENT_FAIL)) && fail+=("agent did not stop/detach cleanly")
# A restarted proxy is a crash, and its fresh process would make the RSS and fd growth compare different processes.
proxy_restarts=$(status_value "$STATUS_END" "node proxy restarts" || echo 0)
((proxy_restarts == 0)) || fail+=("the node proxy was restarted $proxy_restarts time(s)")
if ((${#fail[@]})); then echo "result: FAIL"; else echo "result: PASS"; fi
report_verdict "${fail[@]}"
