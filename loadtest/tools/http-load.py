#!/usr/bin/env python3
"""http-load.py: a bounded, rate-limited HTTP/1.1 load generator that records every request.

Each target gets RATE requests per second, on a fixed schedule (request i is due at
start + i / RATE), spread over CONNS keep-alive connections; a connection is closed and
opened again after --reuse requests (so connections come and go, as in real traffic),
after any error, and when the server says Connection: close. Every request is bounded by
--timeout, and the whole run by --until: it stops by itself.

One line per request goes to --out:
    START_EPOCH LATENCY_MS TARGET RESULT SEEN
RESULT is "ok", "http-NNN" (any status but 200), "bad-body" (a 200 whose body has the wrong
length), or the error, prefixed with "connect-" when it happened while connecting:
refused, reset, eof (closed before a whole response), timeout, eperm, oserror-ERRNO.
SEEN is the value of the response header named by --seen-header ("-" without one).

usage: http-load.py --out FILE --until EPOCH [--timeout S] [--reuse N] [--seen-header NAME]
                    --target NAME=HOST:PORT/PATH@RATE[xCONNS][:LEN] ...
  LEN: the body length a 200 must have.
Prints a JSON summary (requests and results per target) on stdout at the end.
"""
import argparse
import asyncio
import json
import re
import sys
import time


class Target:
    def __init__(self, spec):
        m = re.fullmatch(r"([\w.-]+)=([\w.:\[\]-]+):(\d+)(/[^@]*)@([\d.]+)(?:x(\d+))?(?::(\d+))?", spec)
        if not m:
            raise SystemExit(f"http-load: bad --target {spec!r}")
        self.name, self.host, self.port, self.path = m[1], m[2].strip("[]"), int(m[3]), m[4]
        self.rate, self.conns = float(m[5]), int(m[6] or 4)
        self.length = int(m[7]) if m[7] else None
        self.next = 0
        self.start = 0.0
        self.request = f"GET {self.path} HTTP/1.1\r\nHost: {m[2]}:{self.port}\r\nUser-Agent: mesh-http-load\r\n\r\n".encode()


async def exchange(reader, writer, request):
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def describe(error):
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(error, PermissionError):
        return "eperm"
    if isinstance(error, asyncio.IncompleteReadError):
        return "eof"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, OSError):
        return f"oserror-{error.errno}"
    return "bad-response"


def close(writer):
    if writer is not None:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
            pass


async def worker(target, args, out, counts):
    reader = writer = None
    used = 0
    seen_header = args.seen_header.lower().encode() if args.seen_header else None
    while True:
        due = target.start + target.next / target.rate
        target.next += 1
        if due >= args.until:
            break
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.time()
        seen = "-"
        phase = "connect-"
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), args.timeout)
                used = 0
            phase = ""
            status, headers, body = await asyncio.wait_for(exchange(reader, writer, target.request), args.timeout)
            used += 1
            if seen_header and seen_header in headers:
                seen = headers[seen_header].decode(errors="replace") or "-"
            if status != 200:
                result = f"http-{status}"
            elif target.length is not None and len(body) != target.length:
                result = "bad-body"
            else:
                result = "ok"
            if result != "ok" or used >= args.reuse or headers.get(b"connection", b"").lower() == b"close":
                close(writer)
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as error:
            result = phase + describe(error)
            close(writer)
            reader = writer = None
        latency = (time.time() - started) * 1000
        out.write(f"{started:.4f} {latency:.3f} {target.name} {result} {seen}\n")
        counts[result] = counts.get(result, 0) + 1
    close(writer)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--until", type=float, required=True, help="epoch second at which no more requests start")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--reuse", type=int, default=50)
    parser.add_argument("--seen-header")
    parser.add_argument("--target", action="append", required=True)
    args = parser.parse_args()
    targets = [Target(spec) for spec in args.target]
    summary = {}
    now = time.time()
    if args.until <= now or args.until - now > 7 * 86400:
        raise SystemExit("http-load: --until must be in the next 7 days")
    with open(args.out, "w", buffering=1) as out:  # line-buffered: the script counts the lines as it goes
        tasks = []
        for target in targets:
            target.start = now
            summary[target.name] = {}
            tasks += [asyncio.create_task(worker(target, args, out, summary[target.name])) for _ in range(target.conns)]
        # Every request is bounded by --timeout (twice: connect, exchange); this is the backstop.
        done, pending = await asyncio.wait(tasks, timeout=args.until - now + 4 * args.timeout + 10)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception():
                print(f"http-load: a worker failed: {task.exception()!r}", file=sys.stderr)
    json.dump({name: {"requests": sum(c.values()), "results": c} for name, c in summary.items()}, sys.stdout)
    print()
    return 1 if any(task.exception() for task in done) or pending else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
