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

RUNS=3 DURATION=10 CONNS=32 SHORT=0
runs_set=0 duration_set=0
is_uint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
bad_usage() { echo "splice-bench: $*" >&2; echo "try --help" >&2; exit 2; }
while (($#)); do
	case $1 in
	--runs) (($# >= 2)) && is_uint "$2" || bad_usage "--runs needs a positive integer"; RUNS=$2; runs_set=1; shift 2 ;;
	--duration) (($# >= 2)) && is_uint "$2" || bad_usage "--duration needs a positive integer (seconds)"; DURATION=$2; duration_set=1; shift 2 ;;
	--connections) (($# >= 2)) && is_uint "$2" || bad_usage "--connections needs a positive integer"; CONNS=$2; shift 2 ;;
	--short) SHORT=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bad_usage "unknown argument: $1" ;;
	esac
done
if ((SHORT)); then
	((runs_set)) || RUNS=1
	((duration_set)) || DURATION=3
fi

export PATH="$PATH:/usr/sbin:/sbin"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESH=${MESH:-$REPO/redirector/Mesh.Cli/bin/Release/net10.0/mesh}
CGROUP_ROOT=${CGROUP_ROOT:-$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)}
CG=$CGROUP_ROOT/mesh-bench-$$
PIN=/sys/fs/bpf/mesh-bench-$$
AGENT_START_TIMEOUT=10 # s until `mesh status` must succeed
AGENT_STOP_TIMEOUT=15  # s after SIGTERM before SIGKILL
FILES=(1k 1m)

log() { printf '[splice-bench] %s\n' "$*" >&2; }
die() { printf 'splice-bench: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
TMP= CG_OURS=0 PIN_OURS=0 NGINX_PID= AGENT_PID= JOB_PID= CLEANED=0

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

cleanup() {
	local rc=$? pids p i
	((CLEANED)) && return
	CLEANED=1
	set +e
	trap '' INT TERM
	[[ -n $JOB_PID ]] && kill -TERM "$JOB_PID" 2>/dev/null
	if [[ -n $AGENT_PID ]]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait_gone "$AGENT_STOP_TIMEOUT" "$AGENT_PID" || kill -KILL "$AGENT_PID" 2>/dev/null
	fi
	if [[ -n $NGINX_PID ]]; then
		kill -TERM "$NGINX_PID" 2>/dev/null # nginx: fast shutdown
		wait_gone 5 "$NGINX_PID" || kill -KILL "$NGINX_PID" 2>/dev/null
	fi
	if ((CG_OURS)) && [[ -d $CG ]]; then
		# Everything in this cgroup was started by this script (nginx master and
		# worker, wrk, curl): kill the stragglers, move any left to the parent.
		for ((i = 0; i < 50; i++)); do
			pids=$(cat "$CG/cgroup.procs" 2>/dev/null)
			[[ -z $pids ]] && break
			for p in $pids; do
				if ((i == 0)); then kill -TERM "$p"; else kill -KILL "$p"; fi 2>/dev/null
				((i >= 10)) && echo "$p" >"$(dirname "$CG")/cgroup.procs" 2>/dev/null
			done
			sleep 0.1
		done
		for ((i = 0; i < 50; i++)); do
			rmdir "$CG" 2>/dev/null && break
			sleep 0.1
		done
		if [[ -d $CG ]]; then
			echo "splice-bench: warning: could not remove $CG" >&2
			((rc)) || rc=1
		fi
	fi
	if ((PIN_OURS)) && [[ -e $PIN ]]; then
		if ! rm -rf "$PIN"; then
			echo "splice-bench: warning: could not remove $PIN" >&2
			((rc)) || rc=1
		fi
	fi
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ------------------------------------------------------------ preflight
((EUID == 0)) || die "must run as root (cgroup and bpffs writes)"
[[ $(stat -fc %T "$CGROUP_ROOT" 2>/dev/null) == cgroup2fs ]] || die "$CGROUP_ROOT is not a cgroup v2 mount"
[[ $(stat -fc %T /sys/fs/bpf 2>/dev/null) == bpf_fs ]] || die "/sys/fs/bpf is not a bpffs mount"

missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
		die "apt-get install -y ${missing[*]} failed"
fi

if [[ ! -x $MESH ]]; then
	[[ $MESH == "$REPO/redirector/Mesh.Cli/bin/Release/net10.0/mesh" ]] || die "MESH=$MESH is not executable"
	log "building the agent: dotnet build redirector/Mesh.Cli -c Release"
	(cd "$REPO" && dotnet build redirector/Mesh.Cli -c Release -nologo -v q) >&2 || die "agent build failed"
	[[ -x $MESH ]] || die "build finished but $MESH does not exist"
fi

[[ -e $CG ]] && die "$CG already exists (stale run with the same pid?)"
[[ -e $PIN ]] && die "$PIN already exists (stale run with the same pid?)"
PIN_OURS=1 # the agent creates it; we remove whatever it leaves behind
mkdir "$CG"
CG_OURS=1

TMP=$(mktemp -d /tmp/mesh-bench.XXXXXX)
chmod 755 "$TMP" # nginx workers run as nobody and must read www/
mkdir -p "$TMP/www" "$TMP/nginx/logs"
head -c 1024 /dev/urandom >"$TMP/www/1k.bin"
head -c 1048576 /dev/urandom >"$TMP/www/1m.bin"
chmod 755 "$TMP/www"
chmod 644 "$TMP/www/"*.bin
SHA_1M=$(sha256sum <"$TMP/www/1m.bin" | cut -d' ' -f1)
SHA_1K=$(sha256sum <"$TMP/www/1k.bin" | cut -d' ' -f1)

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

# worker_processes 1: wrk runs one thread (-t1), so one nginx worker gives a
# symmetric one-core client / one-core server pair that is identical on every
# machine; "auto" would scale the server with nproc, let it soak up idle cores
# and make the on/off ratio machine-dependent and noisier. The splice saves
# CPU per message, which shows best when both ends are single CPU-bound
# processes.
# sendfile off: nginx writes the body with write()/writev() through sendmsg,
# the path every proxied byte takes, and the same on any kernel.
# keepalive_requests: keep wrk's connections for the whole run, so the numbers
# measure the data path, not reconnects.
write_nginx_conf() {
	local user=root group=root
	if id nobody >/dev/null 2>&1; then user=nobody group=$(id -gn nobody); fi
	cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user $user $group;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type application/octet-stream;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
        location / { }
    }
}
EOF
}

start_nginx() {
	local attempt deadline got
	for attempt in 1 2 3; do
		PORT=$(pick_port)
		write_nginx_conf
		nginx -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" >&2 ||
			die "nginx config test failed"
		bg_in_cgroup "$TMP/nginx/stdout.log" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log"
		NGINX_PID=$JOB_PID JOB_PID=
		deadline=$((SECONDS + 10))
		while alive "$NGINX_PID" && ((SECONDS < deadline)); do
			got=$(curl -sS --max-time 2 "http://127.0.0.1:$PORT/1k.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
			if [[ $got == "$SHA_1K" ]]; then
				grep -qx "$NGINX_PID" "$CG/cgroup.procs" || die "nginx is not inside $CG"
				return 0
			fi
			sleep 0.1
		done
		log "nginx did not come up on port $PORT (attempt $attempt):"
		tail -n 5 "$TMP/nginx/logs/error.log" >&2 2>/dev/null || true
		kill -KILL "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
		NGINX_PID=
	done
	die "nginx failed to start"
}

AGENT_FAIL=0
start_agent() { # mode tag
	local mode=$1 tag=$2 deadline args=(run --cgroup "$CG" --pin-dir "$PIN")
	[[ $mode == off ]] && args+=(--no-splice)
	"$MESH" "${args[@]}" </dev/null >"$TMP/agent-$tag.log" 2>&1 &
	AGENT_PID=$!
	deadline=$((SECONDS + AGENT_START_TIMEOUT))
	until timeout 5 "$MESH" status --pin-dir "$PIN" >/dev/null 2>&1; do
		if ! alive "$AGENT_PID"; then
			tail -n 20 "$TMP/agent-$tag.log" >&2 || true
			AGENT_PID=
			die "agent ($mode) exited before attaching"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 20 "$TMP/agent-$tag.log" >&2 || true
			die "agent ($mode) not attached after ${AGENT_START_TIMEOUT}s (mesh status keeps failing)"
		fi
		sleep 0.2
	done
}

stop_agent() {
	local rc=0 left
	[[ -n $AGENT_PID ]] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null || true
	if ! wait_gone "$AGENT_STOP_TIMEOUT" "$AGENT_PID"; then
		log "agent did not exit ${AGENT_STOP_TIMEOUT}s after SIGTERM; killing it"
		kill -KILL "$AGENT_PID" 2>/dev/null || true
		AGENT_FAIL=1
	fi
	wait "$AGENT_PID" 2>/dev/null || rc=$?
	AGENT_PID=
	((rc == 0)) || log "agent exited with status $rc after SIGTERM"
	# Each mode must start from a clean kernel state.
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

RESULTS= FAILED_RUNS= WRK_FAIL=0 WRK_FAIL_1M=0
bench_file() { # mode run file
	local mode=$1 run=$2 f=$3 out rc=0 line rps p50 p99 err
	out=$TMP/wrk-$mode-$run-$f.txt
	run_in_cgroup "$out" timeout -k 5 $((DURATION + 30)) \
		wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/$f.bin" || rc=$?
	if ((rc != 0)) || ! line=$(parse_wrk "$out"); then
		log "wrk $mode $f run $run failed (status $rc):"
		sed 's/^/    /' "$out" >&2
		WRK_FAIL=1
		[[ $f == 1m ]] && WRK_FAIL_1M=1
		FAILED_RUNS+="$f $mode"$'\n'
		return 0
	fi
	RESULTS+="$f $mode $run $line"$'\n'
	read -r rps p50 p99 err <<<"$line"
	log "$(printf 'run %d/%d  %-3s %s: %10s req/s  p50 %8s ms  p99 %8s ms  errors %s' \
		"$run" "$RUNS" "$mode" "$f" "$rps" "$p50" "$p99" "$err")"
	if ((err != 0)); then
		WRK_FAIL=1
		[[ $f == 1m ]] && WRK_FAIL_1M=1
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
		if [[ $got != "$SHA_1M" ]]; then
			CHECK_FAIL=$((CHECK_FAIL + 1))
			log "run $run: 1m.bin fetch $i MISMATCH: got $got, want $SHA_1M"
			cat "$TMP/curl.log" >&2 || true
		fi
		rm -f "$TMP/fetched.bin"
	done
}

# ---------------------------------------------------------------- main
start_nginx
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
		start_agent "$mode" "$mode-$run"
		for f in "${FILES[@]}"; do bench_file "$mode" "$run" "$f"; done
		[[ $mode == on ]] && verify_1m "$run"
		st=$(timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1) || st+=$'\n(mesh status failed)'
		if [[ $mode == on ]]; then STATUS_ON=$st; else STATUS_OFF=$st; fi
		stop_agent
	done
done

# ---------------------------------------------------------------- report
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "$RESULTS" | awk -v f="$1" -v m="$2" -v c="$3" '$1 == f && $2 == m { print $c }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2fx\n", a / b }'; }

declare -A RPS P99
echo
printf '%-4s  %-4s  %12s  %12s  %12s  %7s\n' file mode "req/s" "p50 ms" "p99 ms" errors
for f in "${FILES[@]}"; do
	for mode in off on; do
		RPS[$f.$mode]=$(col "$f" "$mode" 4 | median)
		P99[$f.$mode]=$(col "$f" "$mode" 6 | median)
		errs=$(col "$f" "$mode" 7 | sum)
		nfail=$(printf '%s' "$FAILED_RUNS" | grep -cx "$f $mode" || true)
		((nfail == 0)) || errs+="+${nfail}run"
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
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR < 2 || lo <= 0) print "n/a"; else printf "%.2fx\n", hi / lo }'; }
line="req/s spread over runs (max/min, noise gauge):"
for f in "${FILES[@]}"; do
	line+=" $f off $(col "$f" off 4 | spread), on $(col "$f" on 4 | spread);"
done
echo "${line%;}"
echo "1m.bin sha256 checks during 'on': $((CHECKS - CHECK_FAIL))/$CHECKS match"
echo "target: 1k req/s on/off >= 1.2x and lower p99; 1m no loss"
t1k=$(awk -v ron="${RPS[1k.on]}" -v roff="${RPS[1k.off]}" -v pon="${P99[1k.on]}" -v poff="${P99[1k.off]}" \
	'BEGIN { print (roff > 0 && ron / roff >= 1.2 && pon < poff) ? "met" : "NOT met" }')
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
if ((${#fail[@]})); then
	echo "FAIL: $(printf '%s; ' "${fail[@]}" | sed 's/; $//')"
	exit 1
fi
echo "OK"
