# lib.sh: helpers shared by the load tests (splice-bench.sh, l7-bench.sh, ab-bench.sh, xdp-bench.sh, service-lb-bench.sh,
# telemetry-bench.sh, soak.sh, connections.sh).
# Sourced, not run. Before sourcing, the script sets:
#   BENCH_NAME  its name, used in messages ("splice-bench")
#   BENCH_ID    prefix of the cgroup, pin dir and temp dir ("mesh-bench")
# and after sourcing it calls, in this order: bench_init (paths, traps),
# bench_preflight (root, mounts, packages), ensure_mesh, bench_setup
# (cgroup, pin dir, temp dir with the generated files).
# shellcheck shell=bash

export PATH="$PATH:/usr/sbin:/sbin"
LIB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESH_DEFAULT=$LIB_REPO/redirector/Mesh.Cli/bin/Release/net10.0/mesh
AGENT_START_TIMEOUT=${AGENT_START_TIMEOUT:-30} # s until `mesh status` must succeed (start-up takes 10-14 s on a busy 2-core VM)
AGENT_STOP_TIMEOUT=${AGENT_STOP_TIMEOUT:-15}   # s after SIGTERM before SIGKILL
MODE_W=${MODE_W:-3}                            # width of the mode column in per-run lines

log() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
is_uint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
bad_usage() { echo "$BENCH_NAME: $*" >&2; echo "try --help" >&2; exit 2; }

# The options every benchmark takes. parse_common_option ARG...: takes one option (and its value)
# from the front, sets CONSUMED to how many arguments it used, or returns 1 for one it does not know.
runs_set=0 duration_set=0 SHORT=0 CONSUMED=0
parse_common_option() {
	case $1 in
	--runs) (($# >= 2)) && is_uint "$2" || bad_usage "--runs needs a positive integer"; RUNS=$2; runs_set=1; CONSUMED=2 ;;
	--duration) (($# >= 2)) && is_uint "$2" || bad_usage "--duration needs a positive integer (seconds)"; DURATION=$2; duration_set=1; CONSUMED=2 ;;
	--connections) (($# >= 2)) && is_uint "$2" || bad_usage "--connections needs a positive integer"; CONNS=$2; CONSUMED=2 ;;
	--short) SHORT=1; CONSUMED=1 ;;
	-h | --help) usage; exit 0 ;;
	*) return 1 ;;
	esac
}

# parse_common_options "$@": the whole command line of a script that takes only
# the common options, then --short applied.
parse_common_options() {
	while (($#)); do
		parse_common_option "$@" || bad_usage "unknown argument: $1"
		shift "$CONSUMED"
	done
	apply_short_mode
}

# --short: 1 run of SECONDS (default 3) s, unless --runs or --duration were given explicitly.
# shellcheck disable=SC2120 # SECONDS is optional
apply_short_mode() {
	if ((SHORT)); then
		((runs_set)) || RUNS=1
		((duration_set)) || DURATION=${1:-3}
	fi
	return 0
}

# ---------------------------------------------------------------- cleanup
TMP= CG_OURS=0 PIN_OURS=0 AGENT_PID= JOB_PID= CLEANED=0
NGINX_PIDS=()
# NGINX_MASTER[NAME]: the master pid of the nginx instance NAME (start_nginx,
# restart_nginx); empty while kill_nginx has it down.
declare -gA NGINX_MASTER

# alive PID: running and not a zombie (our own exited children stay zombies
# until reaped, and kill -0 still succeeds on them).
alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s%% *} != Z ]]
}
pids_alive() { local p; for p; do alive "$p" && return 0; done; return 1; }
# wait_gone SECONDS PID...: bounded wait until none of the pids is alive.
wait_gone() {
	local deadline=$((SECONDS + $1)); shift
	while pids_alive "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# A script that owns more than lib.sh knows of (a network namespace, an nftables
# table) defines bench_cleanup_extra. bench_cleanup calls it once the agent and
# the running job are gone, before the cgroup, pin dir and temp dir go. It runs
# with set +e, must be bounded, and returns non-zero if it left something behind.
bench_cleanup() {
	local rc=$? p
	((CLEANED)) && return
	CLEANED=1
	set +e
	trap '' INT TERM
	[[ -n $JOB_PID ]] && kill -TERM "$JOB_PID" 2>/dev/null
	if [[ -n $AGENT_PID ]]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait_gone "$AGENT_STOP_TIMEOUT" "$AGENT_PID" || kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	if declare -F bench_cleanup_extra >/dev/null; then
		[[ -n $JOB_PID ]] && { wait_gone 5 "$JOB_PID" || kill -KILL "$JOB_PID" 2>/dev/null; }
		bench_cleanup_extra || { ((rc)) || rc=1; }
	fi
	for p in "${NGINX_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null # nginx: fast shutdown
	done
	if ((${#NGINX_PIDS[@]})); then
		wait_gone 5 "${NGINX_PIDS[@]}" || for p in "${NGINX_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	fi
	if ((CG_OURS)) && [[ -d $CG ]]; then
		remove_cgroup "$CG" || { ((rc)) || rc=1; }
	fi
	if ((PIN_OURS)) && [[ -e $PIN ]]; then
		if ! rm -rf "$PIN"; then
			echo "$BENCH_NAME: warning: could not remove $PIN" >&2
			((rc)) || rc=1
		fi
	fi
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	exit "$rc"
}

# remove_cgroup DIR: a cgroup of this script's, whose processes it all started
# (nginx masters and workers, wrk, curl, the agent): kills the stragglers (TERM,
# then KILL; any left after a second are moved to the parent), then removes it.
# Bounded; returns 1, with a warning, if it is still there.
remove_cgroup() {
	local cg=$1 pids p i
	for ((i = 0; i < 50; i++)); do
		pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
		[[ -z $pids ]] && break
		for p in $pids; do
			if ((i == 0)); then kill -TERM "$p"; else kill -KILL "$p"; fi 2>/dev/null
			((i >= 10)) && echo "$p" >"$(dirname "$cg")/cgroup.procs" 2>/dev/null
		done
		sleep 0.1
	done
	for ((i = 0; i < 50; i++)); do
		rmdir "$cg" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "$BENCH_NAME: warning: could not remove $cg" >&2
	return 1
}

# Paths and traps; call before anything that needs cleaning up.
bench_init() {
	MESH=${MESH:-$MESH_DEFAULT}
	CGROUP_ROOT=${CGROUP_ROOT:-$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)}
	CG=$CGROUP_ROOT/$BENCH_ID-$$
	PIN=/sys/fs/bpf/$BENCH_ID-$$
	trap bench_cleanup EXIT
	trap 'log "interrupted"; exit 130' INT
	trap 'log "terminated"; exit 143' TERM
}

# ------------------------------------------------------------ preflight
# bench_preflight [COMMAND:PACKAGE...]: root, cgroup v2, bpffs, and the
# commands the script needs, each installed with apt-get from PACKAGE when
# missing. Default: the HTTP benchmarks' nginx, wrk and curl.
bench_preflight() {
	local missing=() need
	((EUID == 0)) || die "must run as root (cgroup and bpffs writes)"
	[[ -n $CGROUP_ROOT && $(stat -fc %T "$CGROUP_ROOT" 2>/dev/null) == cgroup2fs ]] ||
		die "${CGROUP_ROOT:-(no cgroup2 mount in /proc/mounts)} is not a cgroup v2 mount"
	[[ $(stat -fc %T /sys/fs/bpf 2>/dev/null) == bpf_fs ]] || die "/sys/fs/bpf is not a bpffs mount"

	(($#)) || set -- nginx:nginx-light wrk:wrk curl:curl
	for need; do
		command -v "${need%%:*}" >/dev/null || missing+=("${need#*:}")
	done
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
			die "apt-get install -y ${missing[*]} failed"
	fi
}

# ensure_mesh always|if-missing: with the default MESH, build the agent
# (Release) always, or only when the binary does not exist. A MESH set by the
# caller is used as is.
ensure_mesh() {
	if [[ $MESH != "$MESH_DEFAULT" ]]; then
		[[ -x $MESH ]] || die "MESH=$MESH is not executable"
		return 0
	fi
	[[ $1 == if-missing && -x $MESH ]] && return 0
	log "building the agent: dotnet build redirector/Mesh.Cli -c Release"
	(cd "$LIB_REPO" && dotnet build redirector/Mesh.Cli -c Release -nologo -v q) >&2 || die "agent build failed"
	[[ -x $MESH ]] || die "build finished but $MESH does not exist"
}

# bench_setup FILE...: the child cgroup, the pin dir (owned: removed on exit)
# and the temp dir, with random www/<name>.bin for each FILE ("1k", "16k",
# "1m": a number and k or m). Sets SHA[name] to their sha256.
declare -gA SHA
# shellcheck disable=SC2120 # no FILE: no generated files (xdp-bench.sh)
bench_setup() {
	local f n
	[[ -e $CG ]] && die "$CG already exists (stale run with the same pid?)"
	[[ -e $PIN ]] && die "$PIN already exists (stale run with the same pid?)"
	PIN_OURS=1 # the agent creates it; we remove whatever it leaves behind
	mkdir "$CG"
	CG_OURS=1

	TMP=$(mktemp -d "/tmp/$BENCH_ID.XXXXXX")
	chmod 755 "$TMP" # nginx workers run as nobody and must read www/
	mkdir -p "$TMP/www"
	for f; do
		case $f in
		*k) n=$((${f%k} * 1024)) ;;
		*m) n=$((${f%m} * 1048576)) ;;
		*) die "bench_setup: bad file size $f" ;;
		esac
		head -c "$n" /dev/urandom >"$TMP/www/$f.bin"
		SHA[$f]=$(sha256sum <"$TMP/www/$f.bin" | cut -d' ' -f1)
	done
	chmod 755 "$TMP/www"
	(($#)) && chmod 644 "$TMP/www/"*.bin
	return 0
}

# -------------------------------------------------------------- helpers
# Runs "$@" inside the child cgroup, in the background; sets JOB_PID.
# The subshell moves itself ($BASHPID) into the cgroup before exec, so the
# command never runs (or opens a socket) outside it.
bg_in_cgroup() {
	local out=$1; shift
	(
		echo "$BASHPID" >"$CG/cgroup.procs" || exit 97
		exec "$@"
	) </dev/null >"$out" 2>&1 &
	JOB_PID=$!
}
# Same, but waits for it (interruptible by INT/TERM); returns its status.
run_in_cgroup() {
	local rc=0
	bg_in_cgroup "$@"
	wait "$JOB_PID" || rc=$?
	JOB_PID=
	return "$rc"
}

port_in_use() {
	if command -v ss >/dev/null; then
		[[ -n $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}
pick_port() { # below the usual ephemeral range so wrk's client ports never clash
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((10000 + RANDOM % 20000))
		port_in_use "$p" || { echo "$p"; return; }
	done
	die "no free port found"
}

# nginx_conf_head PREFIX WORKERS: the part of an nginx.conf every instance
# shares, up to and including "http {" (the caller closes it).
# sendfile off: nginx writes the body with write()/writev() through sendmsg,
# the path every proxied byte takes, and the same on any kernel.
# keepalive_requests: keep wrk's connections for the whole run, so the numbers
# measure the data path, not reconnects.
nginx_conf_head() {
	local prefix=$1 workers=$2 user=root group=root
	if id nobody >/dev/null 2>&1; then user=nobody group=$(id -gn nobody); fi
	cat <<EOF
daemon off;
master_process on;
worker_processes $workers;
user $user $group;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type application/octet-stream;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
EOF
}

# start_nginx NAME WRITER: starts an nginx instance inside the cgroup with the
# prefix $TMP/NAME. WRITER PREFIX PORT must print its nginx.conf; it must
# serve /1k.bin on 127.0.0.1:PORT (directly or proxied), which is how the
# start is detected. Tries up to 3 free ports. Sets NGINX_PORT and
# NGINX_PID and appends the pid to NGINX_PIDS.
start_nginx() {
	local name=$1 writer=$2 prefix=$TMP/$1 attempt deadline got port pid
	mkdir -p "$prefix/logs"
	for attempt in 1 2 3; do
		port=$(pick_port)
		"$writer" "$prefix" "$port" >"$prefix/nginx.conf"
		nginx -t -q -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" >&2 ||
			die "nginx ($name) config test failed"
		bg_in_cgroup "$prefix/stdout.log" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
		pid=$JOB_PID JOB_PID=
		NGINX_PIDS+=("$pid")
		deadline=$((SECONDS + 10))
		while alive "$pid" && ((SECONDS < deadline)); do
			got=$(curl -sS --max-time 2 "http://127.0.0.1:$port/1k.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
			if [[ $got == "${SHA[1k]}" ]]; then
				grep -qx "$pid" "$CG/cgroup.procs" || die "nginx ($name) is not inside $CG"
				NGINX_PORT=$port NGINX_PID=$pid NGINX_MASTER[$name]=$pid
				return 0
			fi
			sleep 0.1
		done
		log "nginx ($name) did not come up on port $port (attempt $attempt):"
		tail -n 5 "$prefix/logs/error.log" >&2 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		unset 'NGINX_PIDS[-1]'
	done
	die "nginx ($name) failed to start"
}

# start_agent TAG ARG...: `mesh run --cgroup CG --pin-dir PIN ARG...`, log in
# $TMP/agent-TAG.log; waits until `mesh status` succeeds. Sets AGENT_PID and AGENT_TAG.
AGENT_FAIL=0
AGENT_TAG=mesh
start_agent() {
	local tag=$1 deadline
	shift
	AGENT_TAG=$tag
	"$MESH" run --cgroup "$CG" --pin-dir "$PIN" "$@" </dev/null >"$TMP/agent-$tag.log" 2>&1 &
	AGENT_PID=$!
	deadline=$((SECONDS + AGENT_START_TIMEOUT))
	until timeout 5 "$MESH" status --pin-dir "$PIN" >/dev/null 2>&1; do
		if ! alive "$AGENT_PID"; then
			tail -n 20 "$TMP/agent-$tag.log" >&2 || true
			AGENT_PID=
			die "agent ($tag) exited before attaching"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 20 "$TMP/agent-$tag.log" >&2 || true
			die "agent ($tag) not attached after ${AGENT_START_TIMEOUT}s (mesh status keeps failing)"
		fi
		sleep 0.2
	done
}

# stop_agent: SIGTERM, bounded wait (then SIGKILL and AGENT_FAIL=1), and a
# check that nothing stays pinned or attached and that the node proxy went too.
stop_agent() {
	local rc=0 left proxy
	[[ -n $AGENT_PID ]] || return 0
	proxy=$(node_proxy_pid)
	kill -TERM "$AGENT_PID" 2>/dev/null || true
	if ! wait_gone "$AGENT_STOP_TIMEOUT" "$AGENT_PID"; then
		log "agent did not exit ${AGENT_STOP_TIMEOUT}s after SIGTERM; killing it"
		kill -KILL "$AGENT_PID" 2>/dev/null || true
		AGENT_FAIL=1
	fi
	wait "$AGENT_PID" 2>/dev/null || rc=$?
	AGENT_PID=
	# The agent drains and stops its node proxy on its way out; one left running
	# would hold the port the next agent's proxy listens on.
	if [[ -n $proxy ]] && ! wait_gone "$AGENT_STOP_TIMEOUT" "$proxy"; then
		log "node proxy $proxy still running ${AGENT_STOP_TIMEOUT}s after the agent; killing it"
		kill -KILL "$proxy" 2>/dev/null || true
		AGENT_FAIL=1
	fi
	if ((rc != 0)); then
		log "agent exited with status $rc after SIGTERM"
		AGENT_EXIT_STATUS=$rc
	fi
	# The next agent (or the next run) must start from a clean kernel state.
	if [[ -e $PIN ]]; then
		log "agent left $PIN behind; removing it"
		rm -rf "$PIN"
	fi
	if command -v bpftool >/dev/null; then
		left=$(bpftool cgroup show "$CG" 2>/dev/null | tail -n +2) || true
		if [[ -n $left ]]; then
			log "programs still attached to $CG after the agent stopped:"
			printf '%s\n' "$left" >&2
			AGENT_FAIL=1
		fi
	fi
}

# ------------------------------------------------------ process metrics
# children_of PID: its child processes. Each thread lists the children it
# forked (or inherited from a thread that ended), so every thread's list counts:
# the agent starts its node proxy from a short-lived thread.
children_of() {
	if compgen -G "/proc/$1/task/*/children" >/dev/null; then
		cat /proc/"$1"/task/*/children 2>/dev/null | xargs -n 1 2>/dev/null || true
	else
		ps -o pid= --ppid "$1"
	fi
}

# node_proxy_pid: the agent's node proxy, the child it runs as `mesh proxy`
# (empty while there is none: at start, or between a crash and its restart).
# Asked anew each time, as a restarted proxy has a new pid.
node_proxy_pid() {
	local p
	[[ -n $AGENT_PID ]] || return 0
	for p in $(children_of "$AGENT_PID"); do
		if tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qx proxy; then
			echo "$p"
			return 0
		fi
	done
}
# mesh_pids: the processes Mesh runs on the node: the agent and its node proxy.
mesh_pids() { echo "$AGENT_PID $(node_proxy_pid)"; }

# cpu_ticks PID...: utime + stime (all threads) summed over the pids.
cpu_ticks() {
	local p s t=0
	for p; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		t=$((t + $(awk '{ print $12 + $13 }' <<<"$s")))
	done
	echo "$t"
}
# steal_ticks: the time this VM's CPUs were ready to run but the hypervisor ran other guests, summed over the CPUs
# (/proc/stat, in USER_HZ). On a shared host it is the noise gauge: it slows a run without showing in any process's
# CPU time.
steal_ticks() { awk '$1 == "cpu" { print $9; exit }' /proc/stat; }
# CLK_TCK: USER_HZ, the unit of cpu_ticks.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
# mesh_kib KEY: vm_kib KEY summed over the agent and its node proxy (VmRSS,
# VmHWM, Threads: Mesh's cost on the node is both processes).
mesh_kib() {
	local p v t=0
	for p in $(mesh_pids); do
		v=$(vm_kib "$p" "$1") && [[ -n $v ]] && t=$((t + v))
	done
	echo "$t"
}
# mesh_rss_split: "agent A + node proxy P MiB (PSS S MiB)", for logs. The two
# run the same runtime and assemblies, whose file pages (about 50 MiB) each
# VmRSS counts in full; PSS (smaps_rollup) shares them out, so its sum is what
# the pair costs the node.
mesh_rss_split() {
	local p pss=0 v
	for p in $(mesh_pids); do
		v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) && [[ -n $v ]] && pss=$((pss + v))
	done
	echo "agent $(mib "$(vm_kib "$AGENT_PID" VmRSS)") + node proxy $(mib "$(vm_kib "$(node_proxy_pid)" VmRSS)") MiB; PSS of both $(mib "$pss") MiB"
}
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "?"; else printf "%.1f", k / 1024 }'; }
# fd_count PID...: open file descriptors of the pids, summed (empty if all are gone).
fd_count() {
	local p n t=
	for p; do
		[[ -d /proc/$p/fd ]] || continue
		n=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		t=$((${t:-0} + n))
	done
	echo "$t"
}
# mesh_fds: fd_count of the agent and its node proxy together.
mesh_fds() {
	local pids
	read -ra pids <<<"$(mesh_pids)"
	fd_count "${pids[@]}"
}
# growth_pct FROM TO: (TO - FROM) / FROM in percent, one decimal ("n/a" without FROM).
growth_pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a + 0 == 0) print "n/a"; else printf "%.1f\n", 100 * (b - a) / a }'; }
now_ns() { date +%s%N; }
now_s() { date +%s.%N; } # epoch seconds, for timelines shared with the python tools

# status_value STATUS LABEL: the number in the row LABEL of a `mesh status`
# output ("sockets in sockhash", "connections diverted", ...), without
# thousands separators.
status_value() {
	awk -v l="$2" 'index($0, l) == 1 { v = substr($0, length(l) + 1); gsub(/[^0-9]/, "", v); print v; found = 1; exit }
		END { exit !found }' <<<"$1"
}
# flow_event_counts STATUS: "SENT LOST" from the `mesh status` line
# "flow events: N sent to the agent, N lost to a full ring buffer ...".
flow_event_counts() {
	awk '/^flow events:/ { s = $3; l = $8; gsub(/[^0-9]/, "", s); gsub(/[^0-9]/, "", l); print s, l; found = 1 }
		END { exit !found }' <<<"$1"
}

# agent_check WHERE: die, with the end of the agent's log, if the agent is gone.
agent_check() {
	alive "$AGENT_PID" && return 0
	log "the agent exited during $1; its log:"
	tail -n 30 "$TMP/agent-$AGENT_TAG.log" >&2 || true
	AGENT_PID=
	die "agent died during $1"
}

# --------------------------------------------------------------- L7 path
# The L7 benchmarks (l7-bench.sh, telemetry-bench.sh) share one setup: an
# upstream nginx, the service web at SVC_ADDR:SVC_PORT whose endpoint it is,
# and a divert check. The script sets SVC_ADDR, SVC_PORT, UP_PORT and FILES.

# write_upstream_conf PREFIX PORT: the upstream nginx. worker_processes 1, like
# splice-bench (one core per end, the same on every machine). /mesh-verify
# echoes the x-mesh request header, so the divert check sees what the upstream
# received without logging every request.
write_upstream_conf() {
	nginx_conf_head "$1" 1
	cat <<EOF
    server {
        listen 127.0.0.1:$2;
        root $TMP/www;
        location / { }
        location = /mesh-verify {
            default_type text/plain;
            return 200 "x-mesh=\$http_x_mesh\n";
        }
    }
}
EOF
}

# write_proxy_conf WORKERS PREFIX PORT: nginx as a reverse proxy for the
# upstream at UP_PORT (start_nginx adds PREFIX PORT), HTTP/1.1 with a pool of
# kept-alive upstream connections and the same policy work as the mesh route
# (set one request header).
# keepalive_requests: the upstream pool's default (1000) would reconnect each
# upstream connection every few ms at this load; the Mesh proxy's pool keeps
# its connections, so keep nginx's too.
write_proxy_conf() { # workers prefix port
	nginx_conf_head "$2" "$1"
	cat <<EOF
    upstream upstream_nginx {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$3;
        location / {
            proxy_pass http://upstream_nginx;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header x-mesh 1;
        }
    }
}
EOF
}

# write_l7_mesh_conf FILE [YAML]: the agent's config: the service web at
# SVC_ADDR:SVC_PORT, endpoint 127.0.0.1:UP_PORT, one rule that sets the request
# header x-mesh: 1; YAML (more top-level keys) is appended as is. Made
# world-readable: the agent reads it as user mesh.
write_l7_mesh_conf() {
	cat >"$1" <<EOF
# generated by loadtest/$BENCH_NAME.sh
splice: on
services:
  - name: web
    address: $SVC_ADDR
    port: $SVC_PORT
    endpoints: [127.0.0.1:$UP_PORT]
    rules:
      - name: all
        filters:
          - type: RequestHeaderModifier
            requestHeaderModifier: { set: [{ name: x-mesh, value: "1" }] }
EOF
	[[ -n ${2:-} ]] && printf '%s\n' "$2" >>"$1"
	chmod 644 "$1"
}

# curl_in_cgroup OUT URL [curl args]: one bounded curl from inside the cgroup.
curl_in_cgroup() {
	local out=$1 url=$2
	shift 2
	run_in_cgroup "$out.log" timeout -k 5 20 curl -sS -v --max-time 10 -o "$out" "$@" "$url"
}

# verify_mesh RUN [WHAT]: prove that a connection to the service address reaches the
# upstream through the Mesh proxy: nothing listens on SVC_ADDR:SVC_PORT, so a
# reply at all means the kernel diverted it, "x-mesh=1" from the upstream
# means the proxy applied the route, and every file of FILES arrives intact.
# WHAT names the agent checked in the log lines. Counts failed checks in VERIFY_FAIL.
VERIFY_FAIL=0
verify_mesh() {
	local run=$1 what=${2:+ ($2)} base="http://$SVC_ADDR:$SVC_PORT" body f got ok=1
	if curl_in_cgroup "$TMP/verify.txt" "$base/mesh-verify"; then
		body=$(cat "$TMP/verify.txt")
	else
		body="curl failed"
	fi
	if [[ $body != "x-mesh=1" ]]; then
		log "run $run$what: divert check FAILED: $base/mesh-verify gave '$body' (want 'x-mesh=1'):"
		sed 's/^/    /' "$TMP/verify.txt.log" >&2 || true
		ok=0
	elif ((run == 1)); then
		log "divert check: $(grep -m1 -o 'Connected to .*' "$TMP/verify.txt.log" || echo '(no "Connected to" line)'); upstream saw x-mesh: 1"
	fi
	for f in "${FILES[@]}"; do
		got=$(curl_in_cgroup "$TMP/verify.bin" "$base/$f.bin" && sha256sum <"$TMP/verify.bin" | cut -d' ' -f1) || got="curl failed"
		if [[ $got != "${SHA[$f]}" ]]; then
			log "run $run$what: $f.bin through the mesh: sha256 $got, want ${SHA[$f]}"
			ok=0
		fi
		rm -f "$TMP/verify.bin"
	done
	if ((ok)); then
		log "run $run$what: divert check ok (/mesh-verify via $SVC_ADDR:$SVC_PORT: x-mesh=1; ${FILES[*]} sha256 match)"
	else
		VERIFY_FAIL=$((VERIFY_FAIL + 1))
	fi
	return $((!ok))
}

# ---------------------------------------------------------- nginx restart
# kill_nginx NAME: SIGKILL the nginx instance NAME: its master and its workers
# (a killed master leaves its workers running). Bounded wait until they are gone.
kill_nginx() {
	local master=${NGINX_MASTER[$1]:-} pids p keep=()
	[[ -n $master ]] || return 0
	pids="$master $(children_of "$master" | xargs)"
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL $pids 2>/dev/null || true
	wait "$master" 2>/dev/null || true
	# shellcheck disable=SC2086
	wait_gone 5 $pids || log "nginx ($1) still alive 5s after SIGKILL"
	for p in "${NGINX_PIDS[@]}"; do
		[[ $p == "$master" ]] || keep+=("$p")
	done
	NGINX_PIDS=("${keep[@]}")
	NGINX_MASTER[$1]=
}

# restart_nginx NAME PORT: starts the instance NAME again from its nginx.conf
# (so on the same PORT), inside the cgroup, and waits up to 10 s until it
# serves /1k.bin. Returns 1 if it does not come up.
restart_nginx() {
	local name=$1 port=$2 prefix=$TMP/$1 deadline pid got
	bg_in_cgroup "$prefix/stdout.log" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
	pid=$JOB_PID JOB_PID=
	NGINX_PIDS+=("$pid")
	NGINX_MASTER[$name]=$pid
	deadline=$((SECONDS + 10))
	while alive "$pid" && ((SECONDS < deadline)); do
		got=$(curl -sS --max-time 2 "http://127.0.0.1:$port/1k.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
		[[ $got == "${SHA[1k]}" ]] && return 0
		sleep 0.05
	done
	log "nginx ($name) did not come back on port $port:"
	tail -n 5 "$prefix/logs/error.log" >&2 2>/dev/null || true
	return 1
}

# ------------------------------------------------------------------ wrk
# parse_wrk FILE -> "rps p50_ms p99_ms errors"
parse_wrk() {
	awk '
	function ms(v,  n, u) {
		n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") return n / 1000; if (u == "ms") return n; if (u == "s") return n * 1000
		if (u == "m") return n * 60000; if (u == "h") return n * 3600000
		return -1
	}
	/^ *50% / { p50 = ms($2) }
	/^ *99% / { p99 = ms($2) }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	/^Requests\/sec:/ { rps = $2 }
	END {
		if (rps == "" || p50 == "" || p99 == "" || p50 < 0 || p99 < 0) exit 1
		printf "%.2f %.3f %.3f %d\n", rps, p50, p99, err
	}' "$1"
}

# start_wrk OUT URL: starts the measured load in the background inside the
# cgroup (wrk -t1, $CONNS connections, $DURATION s, --latency; on CPU $LOAD_CPU
# when that is set), its output to OUT; JOB_PID is its pid.
start_wrk() {
	bg_in_cgroup "$1" ${LOAD_CPU:+taskset -c "$LOAD_CPU"} timeout -k 5 $((DURATION + 30)) \
		wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$2"
}
# wrk_result OUT STATUS WHAT: sets WRK_LINE to the parsed result of a finished
# wrk run ("rps p50 p99 errors", parse_wrk). A run that exited non-zero or left
# no result is logged as WHAT with its output, sets WRK_FAIL=1 and returns 1.
WRK_LINE=
wrk_result() {
	if (($2 != 0)) || ! WRK_LINE=$(parse_wrk "$1"); then
		log "$3 failed (status $2):"
		sed 's/^/    /' "$1" >&2
		WRK_FAIL=1
		return 1
	fi
}

# run_wrk MODE RUN FILE URL: one measured wrk run inside the cgroup (-t1,
# $CONNS connections, $DURATION s, --latency). Appends "FILE MODE RUN rps p50
# p99 errors" to RESULTS, or "FILE MODE" to FAILED_RUNS when wrk failed; wrk
# runs on CPU $LOAD_CPU when that is set. RUN is the run's number, or any word
# that keys it (telemetry-bench.sh: run.round). Returns 1 (and sets WRK_FAIL=1)
# when the run failed or reported errors.
RESULTS= FAILED_RUNS= WRK_FAIL=0
run_wrk() {
	local mode=$1 run=$2 f=$3 url=$4 out rc=0 line rps p50 p99 err
	out=$TMP/wrk-$mode-$run-$f.txt
	start_wrk "$out" "$url"
	wait "$JOB_PID" || rc=$?
	JOB_PID=
	if ! wrk_result "$out" "$rc" "wrk $mode $f run $run"; then
		FAILED_RUNS+="$f $mode"$'\n'
		return 1
	fi
	line=$WRK_LINE
	RESULTS+="$f $mode $run $line"$'\n'
	read -r rps p50 p99 err <<<"$line"
	log "$(printf 'run %s/%s  %-*s %s: %10s req/s  p50 %8s ms  p99 %8s ms  errors %s' \
		"$run" "$RUNS" "$MODE_W" "$mode" "$f" "$rps" "$p50" "$p99" "$err")"
	if ((err != 0)); then
		WRK_FAIL=1
		return 1
	fi
	return 0
}

# --------------------------------------------------------------- report
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "$RESULTS" | awk -v f="$1" -v m="$2" -v c="$3" '$1 == f && $2 == m { print $c }'; }
# sum: the integers on stdin, added (printed whole: mawk prints a sum past 2^31 as 2.1e+09)
sum() { awk '{ s += $1 } END { printf "%.0f\n", s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2fx\n", a / b }'; }
# paired_ratio FILE MODE BASE COLUMN: the median over runs of MODE's COLUMN (4 req/s, 6 p99) divided by BASE's
# in the same run, "nan" when no run has both. Runs that measure every mode back to back cancel the machine's
# drift between runs, which moves all modes of a run alike (1.17x between runs against 0.93-0.96x within them).
paired_ratio() { paired_ratios "$@" | median; }
# paired_ratios FILE MODE BASE COLUMN: each run's ratio, one per line (pipe to median, or to runs_range).
paired_ratios() {
	printf '%s' "$RESULTS" | awk -v f="$1" -v m="$2" -v b="$3" -v c="$4" '$1 == f && $2 == m { x[$3] = $c } $1 == f && $2 == b { y[$3] = $c }
		END { for (r in x) if ((r in y) && y[r] + 0 > 0) print x[r] / y[r] }'
}
# runs_range [FORMAT]: "lowest..highest" of the numbers on stdin (printf FORMAT, default %.2f), "n/a" with none.
runs_range() { sort -g | awk -v f="${1:-%.2f}" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "n/a"; else printf f ".." f "\n", lo, hi }'; }
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR < 2 || lo <= 0) print "n/a"; else printf "%.2fx\n", hi / lo }'; }
# errors_cell FILE MODE: wrk errors summed over runs, "+Nrun" for failed runs.
errors_cell() {
	local errs nfail
	errs=$(col "$1" "$2" 7 | sum)
	nfail=$(printf '%s' "$FAILED_RUNS" | grep -cx "$1 $2" || true)
	((nfail == 0)) || errs+="+${nfail}run"
	printf '%s' "$errs"
}

# report_verdict REASON...: prints OK, or FAIL with the reasons and exits 1.
report_verdict() {
	if (($#)); then
		echo "FAIL: $(printf '%s; ' "$@" | sed 's/; $//')"
		exit 1
	fi
	echo "OK"
}
