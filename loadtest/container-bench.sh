#!/usr/bin/env bash
# container-bench.sh: container-to-container HTTP, 1 KiB, through a service
# address with Mesh (the agent discovers the server container by its label and
# the kernel translates and splices; no HTTP policy) against Docker's own
# bridge path to the container's address without Mesh, in the same run. A
# private dockerd (own data root, exec root, socket and bridge, --iptables=false)
# runs two busybox containers below the bench's cgroup; nginx and wrk are the
# host's binaries run inside them: each joins its container's cgroup, then its
# network namespace (nsenter -n). See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF2'
Usage: loadtest/container-bench.sh [--runs N] [--duration S] [--connections N] [--short] [--help]

  --runs N          wrk runs per mode (default 3)
  --duration S      seconds per wrk run (default 10)
  --connections N   wrk connections, one thread (default 32)
  --short           smoke test: 1 run of 3 s each (explicit options still win)

Modes are interleaved: for each run, "docker" (wrk to the server container's
address, no agent) then "mesh" (an agent following the private dockerd; wrk to
the service address), each after WARMUP s of unmeasured load (default 15; --short
1): a freshly started agent and node proxy go on compiling (tiered JIT) for
about 10 s, in bursts that move the p99 (see loadtest/README.md). Exit status: 0 ok; 1 wrk
errors, a failed check or setup error; 2 bad usage. Must run as root.
EOF2
}

BENCH_NAME=container-bench BENCH_ID=mesh-cbench MODE_W=6
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=10 CONNS=32
parse_common_options "$@"
WARMUP=${WARMUP:-$( ((SHORT)) && echo 1 || echo 15)}
is_uint "$WARMUP" || bad_usage "WARMUP=$WARMUP is not a positive integer"

bench_init
bench_preflight nginx:nginx-light wrk:wrk curl:curl dockerd:docker.io docker:docker.io busybox:busybox-static
ensure_mesh always # a stale binary would measure old code
bench_setup 1k

# Link names at most 15 characters; the subnets from the pid, apart from the kernel tests' 10.240.0.0/12 daemons.
DOCKER_DIR=$TMP/docker BR=mcb$$ LABEL=cbench-$$ IMAGE=mesh-bench-busybox:1
SOCK=$DOCKER_DIR/docker.sock SUBNET=10.239.$(($$ % 250 + 1))
SVC_ADDR=10.96.239.$(($$ % 250 + 1)) SVC_PORT=80 SERVER_PORT=8080
DOCKERD_PID= CONTAINERS=()
dockr() { docker -H "unix://$SOCK" "$@"; }

# Our host processes inside the containers go first: a container's cgroup cannot be removed while they are in it.
bench_cleanup_extra() {
	local ok=0 p f i
	for p in "${NGINX_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	((${#NGINX_PIDS[@]})) && { wait_gone 5 "${NGINX_PIDS[@]}" || for p in "${NGINX_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
	for f in "$CG"/*/cgroup.procs; do
		[[ -e $f ]] || continue
		for p in $(cat "$f"); do kill -KILL "$p" 2>/dev/null; done
	done
	if [[ -n $DOCKERD_PID ]]; then
		((${#CONTAINERS[@]})) && timeout 60 docker -H "unix://$SOCK" rm -f -v "${CONTAINERS[@]}" >/dev/null 2>&1
		kill -TERM "$DOCKERD_PID" 2>/dev/null # stops containerd and unmounts its layers (SIGKILL would leave them)
		wait_gone 30 "$DOCKERD_PID" || { kill -KILL "$DOCKERD_PID" 2>/dev/null; ok=1; }
		wait "$DOCKERD_PID" 2>/dev/null
	fi
	ip link del "$BR" 2>/dev/null
	awk -v root="$DOCKER_DIR" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	# runc removes each container's cgroups, not the parent it made in every v1 hierarchy.
	for f in /sys/fs/cgroup/*/"$(basename "$CG")"; do
		[[ $f == "$CG" || ! -d $f ]] && continue
		for ((i = 0; i < 20; i++)); do rmdir "$f" 2>/dev/null && break; sleep 0.1; done
		[[ -d $f ]] && { log "could not remove $f"; ok=1; }
	done
	! ip link show "$BR" >/dev/null 2>&1 || ok=1
	return "$ok"
}

# ----------------------------------------------------------- the daemon
ip link add "$BR" type bridge
ip addr add "$SUBNET.1/24" dev "$BR"
ip link set "$BR" up
mkdir -p "$DOCKER_DIR/image/bin"
dockerd --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/dockerd.pid" -H "unix://$SOCK" \
	--bridge "$BR" --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
	--default-address-pool "base=10.238.0.0/16,size=24" </dev/null >"$TMP/dockerd.log" 2>&1 &
DOCKERD_PID=$!
deadline=$((SECONDS + 30))
until dockr version -f '{{.Server.Version}}' >/dev/null 2>&1; do
	alive "$DOCKERD_PID" && ((SECONDS < deadline)) || { tail -n 20 "$TMP/dockerd.log" >&2; die "dockerd did not answer within 30 s"; }
	sleep 0.1
done
# FROM scratch with Debian's static busybox: built offline, no registry.
cp "$(command -v busybox)" "$DOCKER_DIR/image/bin/busybox"
printf 'FROM scratch\nCOPY bin/ /bin/\nENTRYPOINT ["/bin/busybox"]\n' >"$DOCKER_DIR/image/Dockerfile"
dockr build -q -t "$IMAGE" "$DOCKER_DIR/image" >/dev/null 2>"$TMP/docker-build.log" || { cat "$TMP/docker-build.log" >&2; die "docker build of $IMAGE failed"; }

# Sandboxes: busybox sleeps, below the bench's cgroup. The server is labelled for the service's selector.
run_sandbox() { # VAR docker-run-option...
	local var=$1 id
	shift
	id=$(dockr run -d --cgroup-parent "/$(basename "$CG")" "$@" "$IMAGE" sleep 3600) || die "docker run failed"
	CONTAINERS+=("$id")
	printf -v "$var" '%s' "$id"
}
run_sandbox SERVER -l "mesh.service=$LABEL" -l "mesh.port=$SERVER_PORT"
run_sandbox CLIENT
for c in "$SERVER" "$CLIENT"; do
	[[ -d $CG/$c ]] || die "container ${c:0:12} is not in $CG/$c: runc did not place it in the cgroup v2 hierarchy"
done
SERVER_PID=$(dockr inspect -f '{{.State.Pid}}' "$SERVER") CLIENT_PID=$(dockr inspect -f '{{.State.Pid}}' "$CLIENT")
SERVER_IP=$(dockr inspect -f '{{.NetworkSettings.IPAddress}}' "$SERVER")

# in_container ID PID CMD...: the command joins the container's cgroup, then its network namespace.
in_container() {
	local id=$1 pid=$2
	shift 2
	echo "$BASHPID" >"$CG/$id/cgroup.procs" || exit 97
	exec nsenter -n -t "$pid" "$@"
}

mkdir -p "$TMP/nginx/logs"
{
	nginx_conf_head "$TMP/nginx" 1
	printf '    server { listen %s; root %s/www; }\n}\n' "$SERVER_PORT" "$TMP"
} >"$TMP/nginx/nginx.conf"
(in_container "$SERVER" "$SERVER_PID" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log") </dev/null >"$TMP/nginx/stdout.log" 2>&1 &
NGINX_PIDS+=("$!")

# run_wrk (lib.sh) runs `wrk` from inside the cgroup; this wrapper moves it into the client container.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" && exec nsenter -n -t %s %s "$@"\n' "$CG/$CLIENT" "$CLIENT_PID" "$(command -v wrk)" >"$TMP/bin/wrk"
chmod 755 "$TMP/bin/wrk"
export PATH=$TMP/bin:$PATH

# fetch_sha URL: sha256 of one bounded GET from the client container.
fetch_sha() {
	(in_container "$CLIENT" "$CLIENT_PID" curl -sS --max-time 2 "$1") 2>/dev/null | sha256sum | cut -d' ' -f1
}
# wait_serving URL WHAT: until the client container gets 1k.bin intact from URL, for at most 30 s.
wait_serving() {
	local deadline=$((SECONDS + 30))
	until [[ $(fetch_sha "$1") == "${SHA[1k]}" ]]; do
		((SECONDS < deadline)) || die "$2 did not serve 1k.bin intact within 30 s"
		sleep 0.1
	done
}
DIRECT_URL=http://$SERVER_IP:$SERVER_PORT/1k.bin SERVICE_URL=http://$SVC_ADDR:$SVC_PORT/1k.bin
wait_serving "$DIRECT_URL" "nginx in container ${SERVER:0:12}"

cat >"$TMP/mesh.yaml" <<EOF
# generated by loadtest/container-bench.sh
discovery:
  docker: { socket: $SOCK }
services:
  - name: bench
    address: $SVC_ADDR
    port: $SVC_PORT
    selector: { mesh.service: $LABEL }
EOF
chmod 644 "$TMP/mesh.yaml"

SPLICED_FAIL=0 SPLICED=
warm_up() { # url
	run_in_cgroup "$TMP/warmup.txt" timeout -k 5 $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$1" || true
}
run_mode() { # mode run
	if [[ $1 == docker ]]; then
		warm_up "$DIRECT_URL"
		run_wrk docker "$2" 1k "$DIRECT_URL" || true
		return
	fi
	# Root: the Docker socket is root's, and the unprivileged agent does not keep it.
	start_agent "mesh-$2" --config "$TMP/mesh.yaml" --run-as root --proxy-port "$(pick_port)"
	wait_serving "$SERVICE_URL" "the service $SVC_ADDR:$SVC_PORT"
	warm_up "$SERVICE_URL"
	local before after
	before=$(status_value "$("$MESH" status --pin-dir "$PIN")" "bytes redirected")
	run_wrk mesh "$2" 1k "$SERVICE_URL" || true
	after=$(status_value "$("$MESH" status --pin-dir "$PIN")" "bytes redirected")
	SPLICED+="run $2: $((after - before)) bytes; "
	# wrk's requests and 1 KiB bodies alone are over a kilobyte per request; a path not spliced moves none.
	((after - before >= 1024)) || SPLICED_FAIL=1
	stop_agent
}

log "kernel $(uname -r), $(nproc) CPUs; nginx (1 worker) in container ${SERVER:0:12} ($SERVER_IP:$SERVER_PORT), wrk in ${CLIENT:0:12}, both below $CG"
log "$RUNS run(s) x {docker,mesh}; wrk -t1 -c$CONNS -d${DURATION}s; service $SVC_ADDR:$SVC_PORT selects mesh.service=$LABEL"
for ((run = 1; run <= RUNS; run++)); do
	for mode in docker mesh; do
		run_mode "$mode" "$run"
	done
done

declare -A RPS P99
echo
printf '%-4s  %-6s  %12s  %12s  %12s  %7s\n' file mode "req/s" "p50 ms" "p99 ms" errors
for mode in docker mesh; do
	RPS[$mode]=$(col 1k "$mode" 4 | median)
	P99[$mode]=$(col 1k "$mode" 6 | median)
	printf '%-4s  %-6s  %12.2f  %12.3f  %12.3f  %7s\n' 1k "$mode" "${RPS[$mode]}" \
		"$(col 1k "$mode" 5 | median)" "${P99[$mode]}" "$(errors_cell 1k "$mode")"
done
echo "(medians of $RUNS run(s))"
printf 'mesh/docker ratios: req/s %s  p99 %s\n' "$(ratio "${RPS[mesh]}" "${RPS[docker]}")" "$(ratio "${P99[mesh]}" "${P99[docker]}")"
echo "bytes spliced during the mesh runs: $SPLICED"
echo "target: mesh/docker req/s >= 1.5x"

fail=()
((WRK_FAIL)) && fail+=("wrk errors")
((SPLICED_FAIL)) && fail+=("a mesh run was not spliced")
((AGENT_FAIL)) && fail+=("the agent did not stop cleanly")
report_verdict "${fail[@]}"
