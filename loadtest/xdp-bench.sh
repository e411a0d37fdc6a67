#!/usr/bin/env bash
# xdp-bench.sh: the cost of Mesh's L3/L4 XDP filter, in one run: ns per packet of
# the xdp_filter program (BPF_PROG_TEST_RUN on the live maps), and a UDP flood
# from a private network namespace over a veth pair, dropped by the agent's XDP
# deny rule vs. by the same rule in nftables. See loadtest/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: loadtest/xdp-bench.sh [--runs N] [--duration S] [--repeat N] [--xdp-mode native|generic]
                             [--no-flow-events] [--short] [--help]

Measures Mesh's L3/L4 XDP filter (bpf/xdp_filter.bpf.c) with a policy of 67 rules:
 1. ns per packet of the xdp_filter program, run by BPF_PROG_TEST_RUN
    (bpftool prog run ... repeat N) on the agent's live maps, for crafted
    frames: IPv4 TCP drop and pass, IPv6 TCP drop and pass, and the flood's
    UDP frame (drop). The verdict of each is checked.
 2. A UDP flood from a temporary network namespace over a veth pair, to a port
    the policy denies, dropped on the host end of the veth by:
      xdp          the agent's XDP filter, attached to the veth (--xdp-mode)
      nft-ingress  nftables, netdev family, ingress hook of the same veth
      nft-input    nftables, inet family, input hook (after routing)
    In the nft modes the agent runs with the same rules but attached to no
    interface. Reports packets/s dropped and the CPU (system + softirq in
    /proc/stat) per million packets.
 3. Flow events under that flood: in each run, after the measured xdp flood,
    one more xdp flood of the same length with the same agent, during which
    the script reads the flow-event counters of `mesh status` (sent, lost),
    follows `mesh flows --follow --verdict dropped` (events the agent hands
    out), samples the agent's CPU (utime + stime of the agent process, which
    reads the events and answers the probes; not its node proxy, which none of
    this reaches), and times `mesh status` and `mesh flows --output json |
    tail -1` again and again (the agent must stay responsive). Kept apart from
    2, whose numbers the probes would disturb.

  --runs N          runs; each runs every mode once, order rotating (default 3)
  --duration S      seconds of measured flood per mode and run (default 5)
  --repeat N        BPF_PROG_TEST_RUN repetitions per frame and run (default 1000000)
  --xdp-mode M      native (default; in the veth driver) or generic (in the stack)
  --no-flow-events  skip 3 (the extra flood with the flow-event measurement)
  --short           smoke test: 1 run, 2 s floods, repeat 100000 (explicit options still win)
  -h, --help        show this help

Environment:
  MESH         agent binary (default: <repo>/redirector/Mesh.Cli/bin/Release/net10.0/mesh,
               built with `dotnet build redirector/Mesh.Cli -c Release` if missing; rebuild
               it yourself after changing the agent or bpf/)
  CGROUP_ROOT  cgroup v2 mount (default: the cgroup2 mount in /proc/mounts)
  FLOOD_CPU    CPU the flood sender is pinned to (default: the last one)
  AGENT_START_TIMEOUT  s until `mesh status` must answer after each agent start (default 30)
  PROBE_LIMIT_MS       the slowest `mesh status` / `mesh flows` answer allowed during the flood (default 2000)

Exit status: 0 ok; 1 a wrong verdict or counter, a flood no rule dropped, agent
failure, something left attached, a `mesh status` or `mesh flows` probe that
failed or took over PROBE_LIMIT_MS (default 2000) during the flood, no flow event
delivered, or a setup error; 2 bad usage. Must run as root.
EOF
}

BENCH_NAME=xdp-bench BENCH_ID=mesh-xdp-bench MODE_W=11
# The agent verifies the L4 programs (local_policy: every socket hook over up to
# 256 rules) at each of its 3 starts per run: allow more than lib.sh's 10 s.
AGENT_START_TIMEOUT=${AGENT_START_TIMEOUT:-30}
# shellcheck source=loadtest/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=3 DURATION=5 REPEAT=1000000 XDP_MODE=native repeat_set=0 FLOW_EVENTS=1
while (($#)); do
	case $1 in
	--no-flow-events) FLOW_EVENTS=0; shift ;;
	--repeat) (($# >= 2)) && is_uint "$2" || bad_usage "--repeat needs a positive integer"; REPEAT=$2; repeat_set=1; shift 2 ;;
	--xdp-mode) (($# >= 2)) && [[ $2 == native || $2 == generic ]] || bad_usage "--xdp-mode is native or generic"
		XDP_MODE=$2; shift 2 ;;
	--connections) bad_usage "--connections does not apply: the flood is one UDP socket" ;;
	*) parse_common_option "$@" || bad_usage "unknown argument: $1"; shift "$CONSUMED" ;;
	esac
done
apply_short_mode 2
[[ -z ${FLOOD_CPU:-} || ($FLOOD_CPU =~ ^[0-9]+$ && -d /sys/devices/system/cpu/cpu$FLOOD_CPU) ]] || bad_usage "FLOOD_CPU=$FLOOD_CPU is not a CPU of this machine"
((SHORT && !repeat_set)) && REPEAT=100000
PROBE_LIMIT_MS=${PROBE_LIMIT_MS:-2000}
is_uint "$PROBE_LIMIT_MS" || bad_usage "PROBE_LIMIT_MS=$PROBE_LIMIT_MS is not a positive integer"

MODES=(xdp nft-ingress nft-input)
FRAMES=(ipv4-tcp-drop ipv4-tcp-pass ipv6-tcp-drop ipv6-tcp-pass ipv4-udp-drop) # the last is the flood's own frame
WARMUP=1            # s of unmeasured flood before each measured one (same mode and setup)
FLOOD_PORT=7999     # UDP port the flood hits; only rule flood-deny names it
FLOOD_PAYLOAD=18    # bytes: 14 Ethernet + 20 IPv4 + 8 UDP + 18 = a 60-byte frame
NS=mesh-xdp-bench-$$
VETH_H=mxdp$$h VETH_N=mxdp$$n # host end (XDP, nft) and namespace end; at most 15 characters
NFT_TABLE=meshbench_$$
FLOOD_CPU=${FLOOD_CPU:-$(($(nproc) - 1))}

bench_init
bench_preflight nft:nftables bpftool:bpftool clang:clang python3:python3 ip:iproute2 taskset:util-linux
ensure_mesh if-missing # an agent without the L4 filter fails the policy check below
bench_setup

# ------------------------------------------------------------- network
NS_OURS=0 HOST_IP= PEER_IP= FOLLOW_PID=
PROG_IDS=() # every xdp_filter id seen on the veth; all must be unloaded at the end

# The /30 for the veth: 10.232.X.0/30 with X from the pid, skipping any X that
# a route of /16 or longer already covers (a wide one such as a VPN's 10.0.0.0/8
# may stay: the /30 is more specific, and the flood never leaves the veth).
pick_subnet() {
	local i x
	for ((i = 0; i < 256; i++)); do
		x=$((($$ + i) % 256))
		if [[ -z $(ip -4 route show match "10.232.$x.1" | awk '$1 != "default" { n = split($1, a, "/"); if (n == 1 || a[2] >= 16) print }') ]]; then
			HOST_IP=10.232.$x.1 PEER_IP=10.232.$x.2
			return 0
		fi
	done
	die "no free 10.232.X.0/30 for the veth pair"
}

# The namespace and the veth pair. IPv6 is off on both ends, so nothing but the
# flood (and ARP, which the filter passes) crosses the veth; a permanent
# neighbour entry spares the flood even the ARP.
setup_net() {
	pick_subnet
	[[ -e /run/netns/$NS ]] && die "network namespace $NS already exists (stale run with the same pid?)"
	ip link show dev "$VETH_H" >/dev/null 2>&1 && die "interface $VETH_H already exists (stale run with the same pid?)"
	NS_OURS=1
	ip netns add "$NS"
	ip link add "$VETH_H" type veth peer name "$VETH_N" netns "$NS"
	sysctl -qw "net.ipv6.conf.$VETH_H.disable_ipv6=1"
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$VETH_N.disable_ipv6=1"
	ip addr add "$HOST_IP/30" dev "$VETH_H"
	ip link set dev "$VETH_H" up
	ip -n "$NS" addr add "$PEER_IP/30" dev "$VETH_N"
	ip -n "$NS" link set dev "$VETH_N" up
	ip -n "$NS" link set dev lo up
	ip -n "$NS" neigh replace "$HOST_IP" lladdr "$(cat "/sys/class/net/$VETH_H/address")" dev "$VETH_N" nud permanent
}

nft_family() { [[ $1 == nft-ingress ]] && echo netdev || echo inet; }

# nft_add MODE: the flood's deny rule, alone in a table of our own: at the
# netdev ingress hook of the veth (the earliest nftables sees a packet, the
# same place as XDP but after the skb exists) or at the inet input hook (after
# routing, where host firewalls usually drop).
nft_add() {
	if [[ $1 == nft-ingress ]]; then
		nft -f - <<EOF
table netdev $NFT_TABLE {
	chain ingress {
		type filter hook ingress device "$VETH_H" priority -500; policy accept;
		ip daddr $HOST_IP udp dport $FLOOD_PORT counter drop
	}
}
EOF
	else
		nft -f - <<EOF
table inet $NFT_TABLE {
	chain input {
		type filter hook input priority filter; policy accept;
		ip daddr $HOST_IP udp dport $FLOOD_PORT counter drop
	}
}
EOF
	fi
}
nft_count() { # MODE: packets counted by the drop rule
	nft list table "$(nft_family "$1")" "$NFT_TABLE" |
		awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") { print $(i + 1); found = 1 } } END { exit !found }'
}
nft_del() { nft delete table "$(nft_family "$1")" "$NFT_TABLE" 2>/dev/null; }

# xdp_on_veth: "MODE ID" of the XDP program bpftool sees on the host end ("driver"
# is native), or nothing.
xdp_on_veth() {
	bpftool net show dev "$VETH_H" 2>/dev/null | awk -v d="$VETH_H" 'index($1, d "(") == 1 && $3 == "id" { print $2, $4 }'
}

# teardown_net: our nft tables, the veth pair (deleting it takes both ends at
# once; deleting the namespace alone frees them only later) and the namespace;
# then checks that none of it, nor any xdp_filter we saw, is still there.
# Prints what is left and returns 1 if anything is.
teardown_net() {
	local left=() fam id deadline
	for fam in netdev inet; do
		nft list table "$fam" "$NFT_TABLE" >/dev/null 2>&1 && nft delete table "$fam" "$NFT_TABLE"
		nft list table "$fam" "$NFT_TABLE" >/dev/null 2>&1 && left+=("nft table $fam $NFT_TABLE")
	done
	if ((NS_OURS)); then
		ip link show dev "$VETH_H" >/dev/null 2>&1 && ip link del dev "$VETH_H"
		[[ -e /run/netns/$NS ]] && ip netns del "$NS"
		ip link show dev "$VETH_H" >/dev/null 2>&1 && left+=("interface $VETH_H")
		[[ -e /run/netns/$NS ]] && left+=("network namespace $NS")
	fi
	for id in "${PROG_IDS[@]}"; do
		# The kernel frees a program shortly after its last reference goes.
		deadline=$((SECONDS + 5))
		while bpftool prog show id "$id" >/dev/null 2>&1 && ((SECONDS < deadline)); do sleep 0.1; done
		if bpftool prog show id "$id" >/dev/null 2>&1; then
			left+=("xdp_filter id $id still loaded ($(bpftool net show 2>/dev/null | grep -w "id $id" | xargs || echo 'attached nowhere'))")
		fi
	done
	NS_OURS=0
	if ((${#left[@]})); then
		printf '%s\n' "${left[@]}"
		return 1
	fi
}

bench_cleanup_extra() {
	local left
	if [[ -n $FOLLOW_PID ]]; then
		kill -TERM "$FOLLOW_PID" 2>/dev/null
		wait_gone 3 "$FOLLOW_PID" || kill -KILL "$FOLLOW_PID" 2>/dev/null
	fi
	left=$(teardown_net) && return 0
	echo "$BENCH_NAME: warning: left behind: $(printf '%s' "$left" | paste -sd ';')" >&2
	return 1
}

# -------------------------------------------------------------- policy
# write_policy FILE [INTERFACE]: 64 rules of mixed CIDRs, ports, protocols and
# actions over IPv4 and IPv6 (many of them contain the crafted frames' addresses,
# so the tries return several candidate rules to check), plus the 3 rules the
# benchmark hits: frame-deny-v4/v6 (the "drop" frames) and flood-deny. No rule
# matches the "pass" frames (TCP port 8443): they walk every candidate and get
# the default, allow. With INTERFACE, the XDP filter attaches there.
write_policy() {
	python3 - "$1" "${2:-}" "$XDP_MODE" "$HOST_IP" "$FLOOD_PORT" <<'PY'
import sys
out, iface, mode, host_ip, flood_port = sys.argv[1:]
rules = []
def rule(name, action, protocol=None, ports=None, to=None, src=None):
    rules.append((name, action, protocol, ports, to, src))
for k in range(8):   # /24s of 10.1.0.0/16; the frames go to 10.1.2.3
    rule(f"v4-svc24-{k}", "allow", "tcp", f"{8000 + k}", to=f"10.1.{k}.0/24")
for k in range(8):   # /16s, half of them only from 192.168.0.0/16 (the frames' source is 192.168.10.7)
    rule(f"v4-net16-{k}", "deny" if k % 3 == 0 else "allow", "tcp", f"{5000 + 100 * k}-{5050 + 100 * k}",
         to=f"10.{k}.0.0/16", src="192.168.0.0/16" if k % 2 == 0 else "172.16.0.0/12")
for k in range(8):   # UDP services of 10.0.0.0/8 per office /24 (one of them is 192.168.10.0/24)
    rule(f"v4-office-udp-{k}", "allow" if k % 2 else "deny", "udp", f"{1000 + k}", to="10.0.0.0/8", src=f"192.168.{8 + k}.0/24")
for k, ports in enumerate(["20-23", "25", "135-139", "445"]):
    rule(f"v4-legacy-{k}", "deny", "tcp", ports, to="0.0.0.0/0")
for k in range(4):
    rule(f"v4-no-ping-{k}", "deny", "icmp", to=f"10.{16 + k}.0.0/16")
for k in range(8):   # IPv6: /48s of fd00:1::/32; the frames go to fd00:1:2::3
    rule(f"v6-svc48-{k}", "allow", "tcp", f"{8000 + k}", to=f"fd00:1:{k}::/48")
for k in range(8):   # /32s, half only from fd00:a::/64 (the frames' source is fd00:a::7)
    rule(f"v6-net32-{k}", "deny" if k % 3 == 0 else "allow", "tcp", f"{5000 + 100 * k}-{5050 + 100 * k}",
         to=f"fd00:{k}::/32", src="fd00:a::/64" if k % 2 == 0 else "fd00:b::/64")
for k, ports in enumerate(["20-23", "25", "135-139", "445"]):
    rule(f"v6-legacy-{k}", "deny", "tcp", ports, to="::/0")
for k in range(4):
    rule(f"v6-no-ping-{k}", "deny", "icmp", to=f"fd00:{16 + k}::/32")
for k in range(4):   # no 'to': every destination, both families
    rule(f"any-blocked-src-{k}", "deny", src=["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32", "fd00:dead::/32"][k])
rule("any-rpc", "deny", "any", "111")
rule("any-x11", "deny", "udp", "6000-6063")
rule("any-nfs", "deny", "any", "2049")
rule("any-ntp", "allow", "udp", "123")
assert len(rules) == 64, len(rules)
rule("frame-deny-v4", "deny", "tcp", "6379-6380", to="10.1.0.0/16", src="192.168.0.0/16")
rule("frame-deny-v6", "deny", "tcp", "6379-6380", to="fd00:1::/32", src="fd00:a::/48")
rule("flood-deny", "deny", "udp", flood_port, to=f"{host_ip}/32")
with open(out, "w") as f:
    f.write("# generated by loadtest/xdp-bench.sh\nl4:\n  default: allow\n")
    f.write(f"  interfaces:\n    - name: {iface}\n      mode: {mode}\n" if iface else "  interfaces: []\n")
    f.write("  rules:\n")
    for name, action, protocol, ports, to, src in rules:
        f.write(f"    - name: {name}\n      action: {action}\n")
        for key, value in (("from", src), ("to", to), ("protocol", protocol), ("ports", ports)):
            if value is not None:
                f.write(f"      {key}: {value}\n")
PY
}

# write_frames: $TMP/<frame>.bin for each of FRAMES: from 192.168.10.7 to
# 10.1.2.3 (IPv4) or fd00:a::7 to fd00:1:2::3 (IPv6), TCP SYN to port 6379
# (drop: rule frame-deny-v4/v6) or 8443 (pass: no rule, default allow); and
# ipv4-udp-drop, the frame the flood sends (rule flood-deny).
write_frames() {
	python3 - "$TMP" "$PEER_IP" "$HOST_IP" "$FLOOD_PORT" "$FLOOD_PAYLOAD" <<'PY'
import socket, struct, sys
out, peer_ip, host_ip, flood_port, flood_payload = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def checksum(data):
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
def tcp_syn(port, pseudo):
    head = struct.pack("!HHIIBBHHH", 40000, port, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    return head[:16] + struct.pack("!H", checksum(pseudo + head)) + head[18:]
def ethernet(ether_type):
    return bytes.fromhex("020000000001" "020000000002") + struct.pack("!H", ether_type)
def ipv4(port):
    src, dst = socket.inet_aton("192.168.10.7"), socket.inet_aton("10.1.2.3")
    tcp = tcp_syn(port, src + dst + struct.pack("!BBH", 0, 6, 20))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ethernet(0x0800) + ip + tcp
def ipv4_udp(src, dst, port, size):
    src, dst = socket.inet_aton(src), socket.inet_aton(dst)
    udp = struct.pack("!HHHH", 40000, port, 8 + size, 0) + b"\xa5" * size
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ethernet(0x0800) + ip + udp
def ipv6(port):
    src, dst = socket.inet_pton(socket.AF_INET6, "fd00:a::7"), socket.inet_pton(socket.AF_INET6, "fd00:1:2::3")
    tcp = tcp_syn(port, src + dst + struct.pack("!I3xB", 20, 6))
    return ethernet(0x86DD) + struct.pack("!IHBB", 6 << 28, 20, 6, 64) + src + dst + tcp
for name, frame in {"ipv4-tcp-drop": ipv4(6379), "ipv4-tcp-pass": ipv4(8443),
                    "ipv6-tcp-drop": ipv6(6379), "ipv6-tcp-pass": ipv6(8443),
                    "ipv4-udp-drop": ipv4_udp(peer_ip, host_ip, flood_port, flood_payload)}.items():
    with open(f"{out}/{name}.bin", "wb") as f:
        f.write(frame)
PY
}

# check_policy: the C# twin of the kernel decision (mesh policy test) must give
# each crafted flow the rule it is meant to hit, before any kernel is involved.
check_policy() {
	local src dst proto port want got
	while read -r src dst proto port want; do
		[[ $want == default ]] && want="allow by the default" || want="deny by rule '$want'"
		got=$("$MESH" policy test --config "$TMP/mesh-xdp.yaml" --src "$src" --dst "$dst" --proto "$proto" --port "$port" 2>&1) ||
			die "mesh policy test failed (an agent built before the L4 filter? rebuild it): $got"
		grep -qF -- "$want" <<<"$got" || die "mesh policy test $src -> $dst $proto/$port: want \"$want\", got: $got"
	done <<EOF
192.168.10.7 10.1.2.3 tcp 6379 frame-deny-v4
192.168.10.7 10.1.2.3 tcp 8443 default
fd00:a::7 fd00:1:2::3 tcp 6379 frame-deny-v6
fd00:a::7 fd00:1:2::3 tcp 8443 default
$PEER_IP $HOST_IP udp $FLOOD_PORT flood-deny
EOF
}

# ------------------------------------------------------------- helpers
agent_status() { LC_ALL=C timeout 10 "$MESH" status --pin-dir "$PIN" 2>&1; }
# xdp_packets STATUS ROW: the XDP PACKETS column of the L4 rule ROW (a rule name
# or "(default)"). The MATCHES column has spaces, so count from the right.
xdp_packets() {
	awk -v r="$2" '$1 == r && NF >= 6 { v = $(NF - 3); gsub(/[^0-9]/, "", v); print v; found = 1; exit }
		END { exit !found }' <<<"$1"
}
xdp_malformed() { awk '/^XDP: / { v = $2; gsub(/[^0-9]/, "", v); print v; found = 1 } END { exit !found }' <<<"$1"; }
# counter_delta BEFORE AFTER READER [ROW]: READER's value in AFTER minus BEFORE (two mesh status outputs).
counter_delta() {
	local a b
	b=$("$3" "$1" "${4:-}") && a=$("$3" "$2" "${4:-}") || die "mesh status has no ${4:-XDP:} line: $2"
	echo $((a - b))
}
status_or_die() { # TAG: mesh status, or the agent's log and exit
	local st
	st=$(agent_status) || { log "mesh status failed: $st"; tail -n 20 "$TMP/agent-$1.log" >&2 || true; die "mesh status failed ($1)"; }
	printf '%s\n' "$st"
}
# stat_ticks: system + softirq ticks so far (/proc/stat, USER_HZ) of all CPUs,
# then of FLOOD_CPU alone.
stat_ticks() { awk -v c="cpu$FLOOD_CPU" '$1 == "cpu" { all = $4 + $8 } $1 == c { one = $4 + $8 } END { print all, one }' /proc/stat; }

VERDICT_FAIL=0 COUNTER_FAIL=0 FLOOD_FAIL=0 DETACH_FAIL=0 XDP_IN_NFT=0
# test_runs RUN TAG: BPF_PROG_TEST_RUN of each frame REPEAT times on the program
# attached to the veth, with its verdict checked; then the rule counters must
# show that the rules meant to drop did (not, say, the parser's malformed-frame
# drop) and that the pass frames got the default.
test_runs() {
	local run=$1 tag=$2 f out rv= ns= want before after d row
	before=$(status_or_die "$tag")
	for f in "${FRAMES[@]}"; do
		want=2
		[[ $f == *-drop ]] && want=1
		out=$(timeout 120 bpftool prog run id "$PROG_ID" data_in "$TMP/$f.bin" repeat "$REPEAT" 2>&1) ||
			die "bpftool prog run id $PROG_ID ($f) failed: $out"
		read -r rv ns <<<"$(sed -n 's/^Return value: \([0-9]*\), duration (average): \([0-9]*\)ns.*/\1 \2/p' <<<"$out")"
		[[ -n $rv && -n $ns ]] || die "cannot parse bpftool prog run output: $out"
		RESULTS+="$f test $run $ns $rv"$'\n'
		log "$(printf 'run %d/%d  test-run %-13s return %s (want %s)  %5s ns/pkt' "$run" "$RUNS" "$f" "$rv" "$want" "$ns")"
		if ((rv != want)); then
			log "run $run: $f: XDP returned $rv, want $want ($([[ $want == 1 ]] && echo XDP_DROP || echo XDP_PASS))"
			VERDICT_FAIL=$((VERDICT_FAIL + 1))
		fi
	done
	after=$(status_or_die "$tag")
	for row in frame-deny-v4 frame-deny-v6 flood-deny "(default)"; do
		d=$(counter_delta "$before" "$after" xdp_packets "$row")
		if [[ $row == *-deny* ]] && ((d != REPEAT)); then
			log "run $run: rule $row counted $d XDP packets during the test runs, want $REPEAT"
			COUNTER_FAIL=$((COUNTER_FAIL + 1))
		elif [[ $row == "(default)" ]] && ((d < 2 * REPEAT)); then
			log "run $run: the default counted $d XDP packets during the test runs, want >= $((2 * REPEAT))"
			COUNTER_FAIL=$((COUNTER_FAIL + 1))
		fi
	done
	d=$(counter_delta "$before" "$after" xdp_malformed)
	((d == 0)) || { log "run $run: $d malformed frames during the test runs"; COUNTER_FAIL=$((COUNTER_FAIL + 1)); }
}

# flood SECONDS OUT: the sender inside the namespace, pinned to FLOOD_CPU and
# bounded twice (its own clock, timeout). It runs in this script's cgroup: in
# the agent's, the agent's sendmsg hook would refuse the datagrams (EPERM)
# before any reached the veth. Interruptible (JOB_PID) like run_in_cgroup.
flood() {
	flood_start "$@"
	flood_wait
}
# flood_start SECONDS OUT: the same, in the background (JOB_PID); flood_wait
# waits for it and returns its status.
flood_start() {
	ip netns exec "$NS" taskset -c "$FLOOD_CPU" timeout -k 2 $(($1 + 10)) \
		"$TMP/udp-flood" "$HOST_IP" "$FLOOD_PORT" "$1" "$FLOOD_PAYLOAD" </dev/null >"$2" 2>&1 &
	JOB_PID=$!
}
flood_wait() {
	local rc=0
	wait "$JOB_PID" || rc=$?
	JOB_PID=
	return "$rc"
}

# dropped MODE TAG: the flood packets dropped so far by this mode's rule: the XDP
# rule's counter from mesh status, or the nft rule's counter followed by the XDP
# rule's, which must not move in the nft modes.
dropped() {
	local st n x
	st=$(status_or_die "$2")
	case $1 in
	xdp) xdp_packets "$st" flood-deny || die "no flood-deny row in mesh status" ;;
	*)
		n=$(nft_count "$1") || die "no counter in the nft table ($1)"
		x=$(xdp_packets "$st" flood-deny) || die "no flood-deny row in mesh status"
		echo "$n $x"
		;;
	esac
}

# measure MODE RUN TAG: a warm-up flood, then the measured one, bracketed by the
# drop counter and /proc/stat. Appends "flood MODE RUN sent/s dropped/s dropped%
# ms/Mpkt cores" and "ms/Mpkt cores" of FLOOD_CPU alone to RESULTS.
measure() {
	local mode=$1 run=$2 tag=$3 out=$TMP/flood-$1-$2.txt c0 c1 x0= x1= t0 t1 o0 o1 w0 w1 sent elapsed line counts
	local sent_ps drop_ps pct cpu cores own own_cores
	flood "$WARMUP" "$TMP/warmup.txt" || die "warm-up flood ($mode) failed: $(cat "$TMP/warmup.txt")"
	counts=$(dropped "$mode" "$tag")
	read -r c0 x0 <<<"$counts"
	w0=$(now_ns)
	read -r t0 o0 <<<"$(stat_ticks)"
	if ! flood "$DURATION" "$out"; then
		log "run $run: flood ($mode) failed: $(cat "$out")"
		FLOOD_FAIL=$((FLOOD_FAIL + 1))
		return 0
	fi
	read -r t1 o1 <<<"$(stat_ticks)"
	w1=$(now_ns)
	counts=$(dropped "$mode" "$tag")
	read -r c1 x1 <<<"$counts"
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$out") elapsed=$(sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p' "$out")
	[[ -n $sent && -n $elapsed ]] || die "cannot parse the flood's output: $(cat "$out")"
	if ((c1 - c0 <= 0)); then
		log "run $run: $mode dropped none of the $sent flood packets"
		FLOOD_FAIL=$((FLOOD_FAIL + 1))
	fi
	if [[ -n $x0 ]] && ((x1 != x0)); then
		log "run $run: $mode: the XDP rule flood-deny counted $((x1 - x0)) packets although XDP is attached nowhere"
		XDP_IN_NFT=$((XDP_IN_NFT + 1))
	fi
	line=$(awk -v s="$sent" -v d=$((c1 - c0)) -v e="$elapsed" -v t=$((t1 - t0)) -v o=$((o1 - o0)) -v hz="$CLK_TCK" -v w=$((w1 - w0)) 'BEGIN {
		printf "%.0f %.0f %.1f %.1f %.2f %.1f %.2f", s / e, d / e, s ? 100 * d / s : 0,
			d ? t * 1000 / hz / (d / 1e6) : 0, t / hz / (w / 1e9), d ? o * 1000 / hz / (d / 1e6) : 0, o / hz / (w / 1e9) }')
	RESULTS+="flood $mode $run $line"$'\n'
	read -r sent_ps drop_ps pct cpu cores own own_cores <<<"$line"
	log "$(printf 'run %d/%d  %-*s sent %9s/s  dropped %9s/s (%5s%%)  sys+si %7s ms/Mpkt (%s cores), CPU %s alone %7s ms/Mpkt (%s cores)' \
		"$run" "$RUNS" "$MODE_W" "$mode" "$sent_ps" "$drop_ps" "$pct" "$cpu" "$cores" "$FLOOD_CPU" "$own" "$own_cores")"
}

# ------------------------------------------------------------ flow events
PROBE_TIMEOUT=10 # s; a probe that takes longer counts as failed
# probe KIND: one timed `mesh status` or `mesh flows --output json | tail -1`
# (the last of the flows the agent keeps); prints "ms rc".
probe() {
	local t0 t1 rc=0
	t0=$(now_ns)
	if [[ $1 == status ]]; then
		timeout -k 2 "$PROBE_TIMEOUT" "$MESH" status --pin-dir "$PIN" >/dev/null 2>&1 || rc=$?
	else
		# shellcheck disable=SC2016 # $0 and $1 expand in the inner bash
		timeout -k 2 "$PROBE_TIMEOUT" bash -o pipefail -c '"$0" flows --pin-dir "$1" --output json | tail -n 1' "$MESH" "$PIN" >/dev/null 2>&1 || rc=$?
	fi
	t1=$(now_ns)
	echo "$(((t1 - t0) / 1000000)) $rc"
}
# probes KIND... >FILE: "KIND ms rc" per probe, in turn, until the flood (JOB_PID)
# ends; at most 4 rounds per second of flood.
probes() {
	local i kind
	for ((i = 0; i < 4 * DURATION + 4; i++)); do
		for kind; do
			alive "$JOB_PID" || return 0
			echo "$kind $(probe "$kind")"
		done
		sleep 0.2
	done
}
# probe_stat FILE KIND max|median|fail: over the probes of KIND in FILE.
probe_stat() {
	case $3 in
	fail) awk -v k="$2" -v lim="$PROBE_LIMIT_MS" '$1 == k && ($3 != 0 || $2 > lim) { n++ } END { print n + 0 }' "$1" ;;
	max) awk -v k="$2" '$1 == k && (m == "" || $2 > m) { m = $2 } END { print (m == "" ? "nan" : m) }' "$1" ;;
	median) awk -v k="$2" '$1 == k { print $2 }' "$1" | median ;;
	esac
}
# follower_count FILE FROM TO: dropped-verdict events in the JSON lines of FILE
# (mesh flows --follow) whose time is within [FROM, TO] (epoch seconds).
follower_count() {
	python3 - "$@" <<'PY'
import json, sys
from datetime import datetime
path, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n = 0
with open(path, errors="replace") as f:
    for line in f:
        try:
            flow = json.loads(line)
            t = datetime.fromisoformat(flow["time"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        n += flow.get("verdict") == "dropped" and t0 <= t <= t1
print(n)
PY
}

EVENT_FAIL=0 PROBE_FAIL=0 LOST_TOTAL=0
# flow_events RUN TAG: one more flood in mode xdp, with the same agent, while
# measuring the flow events and probing the agent (see usage, 3). Appends
# "events xdp RUN dropped/s sent/s lost follower/s agent_cores status_idle_ms
# status_max_ms flows_idle_ms flows_max_ms probes failed" to RESULTS.
flow_events() {
	local run=$1 tag=$2 out=$TMP/flood-events-$1.txt pf=$TMP/probes-$1.txt idle=$TMP/probes-idle-$1.txt
	local follow=$TMP/follow-$1.json st0 st1 ev s0 l0 s1 l1 x0 x1 c0 c1 w0 w1 i n elapsed line deadline
	for i in 1 2 3; do echo "status $(probe status)"; echo "flows $(probe flows)"; done >"$idle"
	timeout -k 2 $((DURATION + 30)) "$MESH" flows --pin-dir "$PIN" --follow --verdict dropped --output json </dev/null >"$follow" 2>&1 &
	FOLLOW_PID=$!
	deadline=$((SECONDS + 5)) # until it has printed the backlog (the drops of the measured flood)
	while [[ ! -s $follow ]] && alive "$FOLLOW_PID" && ((SECONDS < deadline)); do sleep 0.1; done
	flood "$WARMUP" "$TMP/warmup.txt" || die "warm-up flood (flow events) failed: $(cat "$TMP/warmup.txt")"
	st0=$(status_or_die "$tag")
	ev=$(flow_event_counts "$st0") || die "mesh status has no 'flow events:' line"
	read -r s0 l0 <<<"$ev"
	x0=$(xdp_packets "$st0" flood-deny)
	# The agent process alone: it reads the ring buffer and answers the probes; its node proxy sees none of it.
	c0=$(cpu_ticks "$AGENT_PID") w0=$(now_s)
	flood_start "$DURATION" "$out"
	probes status flows >"$pf"
	if ! flood_wait; then
		log "run $run: flood (flow events) failed: $(cat "$out")"
		FLOOD_FAIL=$((FLOOD_FAIL + 1))
	fi
	c1=$(cpu_ticks "$AGENT_PID") w1=$(now_s)
	sleep 1 # the agent reads the ring buffer continuously; give the last events time to reach the follower
	st1=$(status_or_die "$tag")
	ev=$(flow_event_counts "$st1") || die "mesh status has no 'flow events:' line"
	read -r s1 l1 <<<"$ev"
	x1=$(xdp_packets "$st1" flood-deny)
	kill -TERM "$FOLLOW_PID" 2>/dev/null || true
	wait_gone 5 "$FOLLOW_PID" || kill -KILL "$FOLLOW_PID" 2>/dev/null || true
	wait "$FOLLOW_PID" 2>/dev/null || true
	FOLLOW_PID=
	n=$(follower_count "$follow" "$w0" "$w1")
	elapsed=$(sed -n 's/.*elapsed=\([0-9.]*\).*/\1/p' "$out")
	[[ -n $elapsed ]] || elapsed=$DURATION
	LOST_TOTAL=$((LOST_TOTAL + l1 - l0))
	if ((s1 - s0 <= 0 || n == 0)); then
		log "run $run: no flow event during the flood (sent to the agent $((s1 - s0)), seen by mesh flows --follow $n)"
		EVENT_FAIL=$((EVENT_FAIL + 1))
	fi
	line=$(awk -v d=$((x1 - x0)) -v s=$((s1 - s0)) -v l=$((l1 - l0)) -v n="$n" -v e="$elapsed" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
		-v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f %.0f %d %.0f %.2f", d / e, s / w, l, n / w, t / hz / w }')
	line+=" $(probe_stat "$idle" status median) $(probe_stat "$pf" status max) $(probe_stat "$idle" flows median) $(probe_stat "$pf" flows max)"
	line+=" $(grep -c . "$pf" || true) $(($(probe_stat "$pf" status fail) + $(probe_stat "$pf" flows fail)))"
	RESULTS+="events xdp $run $line"$'\n'
	local dps sps lost fps cores sidle smax fidle fmax np nfail
	read -r dps sps lost fps cores sidle smax fidle fmax np nfail <<<"$line"
	PROBE_FAIL=$((PROBE_FAIL + nfail))
	((nfail == 0)) || { log "run $run: $nfail probe(s) failed or took over ${PROBE_LIMIT_MS} ms:"; awk -v lim="$PROBE_LIMIT_MS" '$3 != 0 || $2 > lim' "$pf" | sed 's/^/    /' >&2; }
	log "$(printf 'run %d/%d  flow events: dropped %s/s, events sent %s/s (lost %s), mesh flows --follow %s/s; agent %s cores; mesh status %s ms (idle %s), flows %s ms (idle %s), %s probes' \
		"$run" "$RUNS" "$dps" "$sps" "$lost" "$fps" "$cores" "$smax" "$sidle" "$fmax" "$fidle" "$np")"
}

# stop_and_check TAG: stop the agent (lib.sh: SIGTERM, bounded wait, nothing left
# on the cgroup); it must exit 0 and leave no XDP program on the veth.
stop_and_check() {
	local left
	AGENT_EXIT_STATUS=0
	stop_agent
	((AGENT_EXIT_STATUS == 0)) || AGENT_FAIL=1
	left=$(xdp_on_veth)
	if [[ -n $left ]]; then
		log "$1: XDP program still attached to $VETH_H after the agent stopped: $left"
		DETACH_FAIL=1
	fi
}

XDP_STATUS=
run_mode() { # MODE RUN
	local mode=$1 run=$2 tag=$1-$2 attached got_mode id info
	if [[ $mode == xdp ]]; then
		start_agent "$tag" --config "$TMP/mesh-xdp.yaml" --proxy-port "$PROXY_PORT"
		attached=$(xdp_on_veth)
		read -r got_mode id <<<"$attached"
		[[ -n $id ]] || { tail -n 20 "$TMP/agent-$tag.log" >&2; die "the agent runs but bpftool shows no XDP program on $VETH_H"; }
		PROG_ID=$id PROG_IDS+=("$id")
		info=$(bpftool prog show id "$id") # not piped into grep -q: with pipefail, an early exit of grep fails the pipe
		[[ $info == *" name xdp_filter "* ]] || die "XDP program $id on $VETH_H is not xdp_filter: $info"
		[[ $got_mode == "$([[ $XDP_MODE == native ]] && echo driver || echo generic)" ]] ||
			die "xdp_filter is attached to $VETH_H in mode '$got_mode', want $XDP_MODE"
		((run == 1)) && log "xdp_filter id $id attached to $VETH_H ($got_mode): $(grep -m1 'L4 policy in force' "$TMP/agent-$tag.log" | sed 's/^[a-z]*: [^ ]* //')"
		test_runs "$run" "$tag"
		measure "$mode" "$run" "$tag"
		((FLOW_EVENTS)) && flow_events "$run" "$tag"
		XDP_STATUS=$(agent_status) || true
		stop_and_check "$tag"
	else
		start_agent "$tag" --config "$TMP/mesh-noxdp.yaml" --proxy-port "$PROXY_PORT"
		[[ -z $(xdp_on_veth) ]] || die "an XDP program is attached to $VETH_H in mode $mode: $(xdp_on_veth)"
		nft_add "$mode" || die "nft could not add the $mode table"
		measure "$mode" "$run" "$tag"
		nft_del "$mode" || die "nft could not delete the $mode table"
		stop_and_check "$tag"
	fi
}

# ---------------------------------------------------------------- main
setup_net
write_policy "$TMP/mesh-xdp.yaml" "$VETH_H"
write_policy "$TMP/mesh-noxdp.yaml"
for f in mesh-xdp mesh-noxdp; do
	"$MESH" config check "$TMP/$f.yaml" >"$TMP/$f.check" 2>&1 ||
		{ cat "$TMP/$f.check" >&2; die "the generated $f.yaml is not valid (an agent built before the L4 filter? rebuild it)"; }
done
check_policy
write_frames
clang -O2 -Wall -Wextra -Werror -o "$TMP/udp-flood" "$LIB_REPO/loadtest/tools/udp-flood.c" || die "cannot compile loadtest/tools/udp-flood.c"
PROXY_PORT=$(pick_port) # the node proxy the agent always starts; unused here
NRULES=$(grep -c '^    - name:' "$TMP/mesh-noxdp.yaml")

log "kernel $(uname -r), $(nproc) CPUs; agent $MESH, cgroup $CG (nothing runs in it), pin dir $PIN"
log "netns $NS ($VETH_N $PEER_IP) -> $VETH_H $HOST_IP; flood udp/$FLOOD_PORT, $((42 + FLOOD_PAYLOAD))-byte frames, sender on CPU $FLOOD_CPU"
log "policy: $NRULES rules; $RUNS run(s) x {${MODES[*]}}; ${WARMUP}s warm-up + ${DURATION}s flood per mode; test-run repeat $REPEAT"
[[ -r /proc/sys/net/netfilter/nf_conntrack_count ]] && log "nf_conntrack is loaded (count $(cat /proc/sys/net/netfilter/nf_conntrack_count))"

for ((run = 1; run <= RUNS; run++)); do
	order=("${MODES[@]:$(((run - 1) % ${#MODES[@]}))}" "${MODES[@]:0:$(((run - 1) % ${#MODES[@]}))}")
	for mode in "${order[@]}"; do run_mode "$mode" "$run"; done
done

TEARDOWN_LEFT=$(teardown_net) || DETACH_FAIL=1

# ---------------------------------------------------------------- report
echo
echo "xdp_filter per packet (BPF_PROG_TEST_RUN on the live maps, repeat $REPEAT, policy of $NRULES rules):"
printf '%-13s  %-11s  %8s  %7s\n' frame verdict "ns/pkt" spread
for f in "${FRAMES[@]}"; do
	want=pass
	[[ $f == *-drop ]] && want=drop
	rvs=$(col "$f" test 5 | sort -u | xargs)
	case $rvs in 1) got="drop (1)" ;; 2) got="pass (2)" ;; *) got="WRONG ($rvs)" ;; esac
	[[ $got == "$want"* ]] || got="WRONG ($rvs)"
	printf '%-13s  %-11s  %8s  %7s\n' "$f" "$got" "$(col "$f" test 4 | median)" "$(col "$f" test 4 | spread)"
done
echo "(medians of $RUNS run(s); verdict = the program's return value, 1 XDP_DROP / 2 XDP_PASS, the same in every run;"
echo " tcp drop frames hit rules frame-deny-v4/v6, pass frames no rule (default allow), ipv4-udp-drop (the flood's frame) rule"
echo " flood-deny; each checked on the rule counters)"
echo
echo "UDP flood from netns $NS ($PEER_IP) over veth to $VETH_H ($HOST_IP) udp/$FLOOD_PORT, $((42 + FLOOD_PAYLOAD))-byte frames, ${DURATION}s per mode:"
printf '%-11s  %10s  %10s  %8s  %10s  %6s  %10s\n' "" "" "" "" "all CPUs" "" "CPU $FLOOD_CPU"
printf '%-11s  %10s  %10s  %8s  %10s  %6s  %10s  %6s\n' mode "sent/s" "dropped/s" dropped "ms/Mpkt" cores "ms/Mpkt" cores
declare -A DPS CPU OWN
for mode in "${MODES[@]}"; do
	DPS[$mode]=$(col flood "$mode" 5 | median)
	CPU[$mode]=$(col flood "$mode" 7 | median)
	OWN[$mode]=$(col flood "$mode" 9 | median)
	printf '%-11s  %10.0f  %10.0f  %7.1f%%  %10.1f  %6.2f  %10.1f  %6.2f\n' "$mode" "$(col flood "$mode" 4 | median)" "${DPS[$mode]}" \
		"$(col flood "$mode" 6 | median)" "${CPU[$mode]}" "$(col flood "$mode" 8 | median)" "${OWN[$mode]}" "$(col flood "$mode" 10 | median)"
done
echo "(medians of $RUNS run(s); dropped/s from the drop rule's own counter: the XDP rule flood-deny (mesh status) or the nft rule;"
echo " xdp = the agent's filter, $XDP_MODE, on $VETH_H; nft-ingress = netdev ingress hook of $VETH_H; nft-input = inet input hook;"
echo " ms/Mpkt = CPU ms (system + softirq ticks in /proc/stat over the flood) per million packets dropped, the sender's sends"
echo " included; cores = the same ticks / flood time. CPU $FLOOD_CPU runs the sender, and the veth receives there too: the"
echo " rest of 'all CPUs' is other load on the machine)"
echo
echo "ratios (xdp / nft; dropped/s, CPU per Mpkt on all CPUs, on CPU $FLOOD_CPU):"
for mode in nft-ingress nft-input; do
	printf 'xdp/%-11s  %s  %s  %s\n' "$mode" "$(ratio "${DPS[xdp]}" "${DPS[$mode]}")" "$(ratio "${CPU[xdp]}" "${CPU[$mode]}")" \
		"$(ratio "${OWN[xdp]}" "${OWN[$mode]}")"
done
line="dropped/s spread over runs (max/min, noise gauge):"
for mode in "${MODES[@]}"; do line+=" $mode $(col flood "$mode" 5 | spread),"; done
echo "${line%,}"
echo "nft modes: the agent ran with the same rules and no interface; its XDP rule counted $( ((XDP_IN_NFT)) && echo "flood packets in $XDP_IN_NFT run(s)" || echo "no flood packet")"
if ((FLOW_EVENTS)); then
	echo
	echo "flow events under the XDP flood (one more ${DURATION}s xdp flood per run with the same agent, probed; XDP drops are sampled 1 in 100 per CPU):"
	printf '%10s  %10s  %6s  %10s  %11s  %18s  %18s\n' "dropped/s" "events/s" lost "followed/s" "agent cores" "status ms idle/max" "flows ms idle/max"
	printf '%10.0f  %10.0f  %6d  %10.0f  %11.2f  %18s  %18s\n' "$(col events xdp 4 | median)" "$(col events xdp 5 | median)" "$(col events xdp 6 | sum)" \
		"$(col events xdp 7 | median)" "$(col events xdp 8 | median)" "$(col events xdp 9 | median) / $(col events xdp 10 | sort -g | tail -n 1)" \
		"$(col events xdp 11 | median) / $(col events xdp 12 | sort -g | tail -n 1)"
	echo "(medians of $RUNS run(s); lost summed over runs, max = the slowest probe of all runs. events/s = flow events the kernel sent to"
	echo " the agent ('flow events: N sent' in mesh status) per second of flood; lost = events lost to a full ring buffer; followed/s ="
	echo " dropped-verdict events a 'mesh flows --follow' client received from the agent; agent cores = utime + stime of the agent"
	echo " process over the flood / its length (not its node proxy's, which the flood and the probes never reach); status, flows ="
	echo " wall time of 'mesh status' and 'mesh flows --output json | tail -1': median of 3 before the flood (idle), slowest of"
	echo " $(col events xdp 13 | sum) during the floods)"
	if ((PROBE_FAIL)); then
		echo "agent responsive: NO, $PROBE_FAIL probe(s) failed or took over ${PROBE_LIMIT_MS} ms"
	else
		echo "agent responsive: yes, every probe answered within ${PROBE_LIMIT_MS} ms"
	fi
fi
echo
echo "mesh status (L4) after the last xdp run:"
printf '%s\n' "$XDP_STATUS" | grep -E '^(xdp_filter|L4 RULE|frame-deny|flood-deny|\(default\)|XDP:)' | sed 's/^/    /'
if ((DETACH_FAIL)); then
	echo "teardown: left behind: $(printf '%s' "$TEARDOWN_LEFT" | paste -sd ';')"
else
	echo "teardown: $VETH_H, netns $NS and nft table $NFT_TABLE gone; xdp_filter id(s) ${PROG_IDS[*]} detached after each agent stop and unloaded"
fi

fail=()
((VERDICT_FAIL)) && fail+=("$VERDICT_FAIL wrong XDP verdict(s)")
((COUNTER_FAIL)) && fail+=("$COUNTER_FAIL rule counter check(s) failed")
((FLOOD_FAIL)) && fail+=("$FLOOD_FAIL flood(s) failed or were not dropped")
((XDP_IN_NFT)) && fail+=("XDP dropped flood packets in an nft mode")
((AGENT_FAIL)) && fail+=("agent did not stop cleanly (exit 0 within ${AGENT_STOP_TIMEOUT}s of SIGTERM, nothing left on the cgroup)")
((DETACH_FAIL)) && fail+=("XDP, veth, netns or nft table left behind")
((PROBE_FAIL)) && fail+=("$PROBE_FAIL mesh status/flows probe(s) failed or took over ${PROBE_LIMIT_MS} ms during the flood")
((EVENT_FAIL)) && fail+=("no flow event delivered during the flood in $EVENT_FAIL run(s)")
report_verdict "${fail[@]}"
