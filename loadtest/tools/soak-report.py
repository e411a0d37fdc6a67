#!/usr/bin/env python3
"""soak-report.py: turns soak.sh's request records and event log into its report.

usage: soak-report.py --records FILE --events FILE --start EPOCH --duration S --bucket S
                      --spliced NAME --l7 NAME --l7-upstreams NAME,NAME --spliced-upstream NAME

records (tools/http-load.py): START_EPOCH LATENCY_MS TARGET RESULT SEEN
events (soak.sh), one per line, EPOCH KIND ARGS:
    kill UPSTREAM | ready UPSTREAM | reload GENERATION VALUE | sample RSS_KIB FDS

Only requests that started within [start, start + duration) count (the rest is warm-up).
A failure is expected when the policy says it may happen:
  - a request to the spliced target while its upstream was down (from its kill until
    GRACE s after it was ready again): there is no proxy on that path to retry;
  - an L7 request that was in flight when one of the L7 upstreams was killed: it was
    already sent to that endpoint, and only connection failures (and 502/504 answers)
    are retried.
Every other failure is unexpected. Prints the tables, then one line
"SUMMARY key=value ..." for the script.
"""
import argparse
import bisect
import math
from collections import Counter, defaultdict

GRACE = 0.5  # s after an upstream is ready again during which its clients may still fail (connections set up before)
SLACK = 0.05  # s of clock slack around a kill


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]  # nearest rank


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--bucket", type=float, required=True)
    ap.add_argument("--spliced", required=True)
    ap.add_argument("--l7", required=True)
    ap.add_argument("--l7-upstreams", required=True)
    ap.add_argument("--spliced-upstream", required=True)
    a = ap.parse_args()
    start, end = a.start, a.start + a.duration
    l7_upstreams = a.l7_upstreams.split(",")

    kills, down, reloads, samples = [], defaultdict(list), [], []
    open_kill = {}
    with open(a.events) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            t, kind, args = float(parts[0]), parts[1], parts[2:]
            if kind == "kill":
                kills.append((t, args[0]))
                open_kill[args[0]] = t
            elif kind == "ready":
                down[args[0]].append((open_kill.pop(args[0], t), t))
            elif kind == "reload":
                reloads.append((t, int(args[0]), args[1]))
            elif kind == "sample":
                samples.append((t, int(args[0]), int(args[1])))
    for name, t in open_kill.items():  # killed and never back
        down[name].append((t, float("inf")))

    def spliced_down(t0, t1):
        return any(k - SLACK <= t1 and t0 <= r + GRACE for k, r in down[a.spliced_upstream])

    def l7_killed_in_flight(t0, t1):
        return any(name in l7_upstreams and t0 - SLACK <= k <= t1 + SLACK for k, name in kills)

    nb = max(1, int(-(-a.duration // a.bucket)))
    lat = [defaultdict(list) for _ in range(nb)]
    req = [Counter() for _ in range(nb)]
    fail = [Counter() for _ in range(nb)]
    causes = Counter()
    seen = []  # (t_end, value) of L7 answers
    total = Counter()
    with open(a.records) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5:
                continue
            t, ms, target, result, value = float(parts[0]), float(parts[1]), parts[2], parts[3], parts[4]
            if not start <= t < end:
                continue
            b = min(nb - 1, int((t - start) // a.bucket))
            req[b][target] += 1
            total[target] += 1
            if result == "ok":
                lat[b][target].append(ms)
                if target == a.l7 and value != "-":
                    seen.append((t + ms / 1000, value))
                continue
            t1 = t + ms / 1000
            if target == a.spliced and spliced_down(t, t1):
                why = f"expected: {a.spliced_upstream} down"
            elif target == a.l7 and l7_killed_in_flight(t, t1):
                why = "expected: in flight when its endpoint was killed"
            else:
                why = "UNEXPECTED"
            causes[(target, result, why)] += 1
            fail[b]["expected" if why.startswith("expected") else "unexpected"] += 1

    def ms(v):
        return "-" if v != v else f"{v:.2f}"

    print(f"per {'minute' if a.bucket == 60 else f'{a.bucket:g} s'} (requests that started in it; p50/p99 of the successful ones, ms):")
    print(f"{'from s':>6}  {'spliced':>8}  {'L7':>7}  {'failed exp/unexp':>16}  {'spliced p50':>11}  {'p99':>7}  {'L7 p50':>7}  {'p99':>7}  {'RSS MiB':>7}  {'fds':>5}")
    for b in range(nb):
        sp = sorted(lat[b][a.spliced])
        l7 = sorted(lat[b][a.l7])
        in_bucket = [s for s in samples if start + b * a.bucket <= s[0] < start + (b + 1) * a.bucket + 1]
        rss, fds = (f"{in_bucket[-1][1] / 1024:.1f}", str(in_bucket[-1][2])) if in_bucket else ("-", "-")
        print(f"{b * a.bucket:>6g}  {req[b][a.spliced]:>8}  {req[b][a.l7]:>7}  {fail[b]['expected']:>7}/{fail[b]['unexpected']:<8}  "
              f"{ms(percentile(sp, 50)):>11}  {ms(percentile(sp, 99)):>7}  {ms(percentile(l7, 50)):>7}  {ms(percentile(l7, 99)):>7}  {rss:>7}  {fds:>5}")
    allsp = sorted(x for b in range(nb) for x in lat[b][a.spliced])
    alll7 = sorted(x for b in range(nb) for x in lat[b][a.l7])
    print(f"{'all':>6}  {total[a.spliced]:>8}  {total[a.l7]:>7}  {sum(f['expected'] for f in fail):>7}/{sum(f['unexpected'] for f in fail):<8}  "
          f"{ms(percentile(allsp, 50)):>11}  {ms(percentile(allsp, 99)):>7}  {ms(percentile(alll7, 50)):>7}  {ms(percentile(alll7, 99)):>7}")
    print("(RSS, fds: the VmRSS and open file descriptors of the agent and its node proxy, summed, at the last sample of the period)")

    print()
    print("failures by cause:")
    if causes:
        print(f"  {'target':<8}  {'result':<18}  {'count':>6}  classification")
        for (target, result, why), n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {target:<8}  {result:<18}  {n:>6}  {why}")
    else:
        print("  none")
    for name in [a.spliced_upstream] + l7_upstreams:
        for k, r in down.get(name, []):
            print(f"  {name} killed at {k - start:.1f} s, serving again at {r - start:.1f} s" if r != float("inf")
                  else f"  {name} killed at {k - start:.1f} s, never back")

    # A reload is seen when an L7 answer carries its value after it was written (the values alternate, so the
    # value of reload i differs from the one in force before it); its delay is from the write to the first such answer.
    seen.sort()
    times = [s[0] for s in seen]
    applied, delays = 0, []
    in_run = [r for r in reloads if start <= r[0] < end]
    for i, (t, gen, value) in enumerate(in_run):
        stop = in_run[i + 1][0] if i + 1 < len(in_run) else end + 5
        j = bisect.bisect_left(times, t)
        while j < len(seen) and seen[j][0] < stop:
            if seen[j][1] == value:
                applied += 1
                delays.append((seen[j][0] - t) * 1000)
                break
            j += 1
    delays.sort()
    print()
    print(f"config reloads: {len(in_run)} written, {applied} seen in the L7 answers (the upstreams echo the header the rule sets)"
          + (f"; first answer with the new value after {percentile(delays, 50):.0f} ms median, {delays[-1]:.0f} ms max" if delays else ""))

    # The RSS trend over the second half of the soak: a leak keeps climbing, a warmed-up heap stays flat.
    half = [(t, rss) for t, rss, _ in samples if start + a.duration / 2 <= t <= end]
    slope = "n/a"
    if len(half) >= 3:
        mt = sum(t for t, _ in half) / len(half)
        mr = sum(r for _, r in half) / len(half)
        var = sum((t - mt) ** 2 for t, _ in half)
        if var > 0:
            slope = f"{sum((t - mt) * (r - mr) for t, r in half) / var * 60 / 1024:+.2f}"

    n_req = sum(total.values())
    n_fail = sum(causes.values())
    n_exp = sum(n for (t, r, w), n in causes.items() if w.startswith("expected"))
    print(f"SUMMARY requests={n_req} spliced={total[a.spliced]} l7={total[a.l7]} failed={n_fail} expected={n_exp} "
          f"unexpected={n_fail - n_exp} reloads={len(in_run)} reloads_seen={applied} "
          f"p99_spliced={ms(percentile(allsp, 99))} p99_l7={ms(percentile(alll7, 99))} rss_slope={slope}")


if __name__ == "__main__":
    main()
