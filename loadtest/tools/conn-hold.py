#!/usr/bin/env python3
"""conn-hold.py: hold many idle TCP connections open at once, for connections.sh.

server: accepts on HOST:PORT; on each connection answers every line "ping N\\n" with
        "pong N\\n" until the client closes.
client: opens COUNT connections (at most --parallel connecting at a time) and makes one
        exchange on each: a ping (--mode echo), or an HTTP/1.1 keep-alive GET of --path
        whose 200 answer must have --length bytes (--mode http). Then it holds them all,
        idle, writes its state to --state-file ("held"), and waits for --go-file to
        appear (at most --max-hold s). Then it makes a second exchange on each (are they
        all still alive and served?), writes the final state ("done"), and closes them
        all with a reset (SO_LINGER 0: no TIME_WAIT left behind to skew the next
        measurement).

Every step is bounded by --timeout. The state file is one JSON object:
  {"phase", "pid", "count", "opened", "answered", "answered_again", "failed": {cause: n},
   "failed_again": {cause: n}, "open_seconds"}

usage: conn-hold.py server --port P [--host 127.0.0.1] [--ready-file F] [--max-seconds S]
       conn-hold.py client --host H --port P --count N [--mode echo|http] [--path /1k.bin]
                           [--length 1024] [--parallel 200] [--timeout 10]
                           --state-file F --go-file G [--max-hold 300]
"""
import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import time


# ------------------------------------------------------------------ server
async def serve(args):
    async def handle(reader, writer):
        try:
            while line := await reader.readline():
                writer.write(b"pong" + line[4:])
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, args.host, args.port, backlog=4096, reuse_address=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    async with server:
        await asyncio.sleep(args.max_seconds)  # the backstop; the script stops it long before
    print("conn-hold server: --max-seconds reached, exiting", file=sys.stderr)


# ------------------------------------------------------------------ client
def cause(error):
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(error, asyncio.IncompleteReadError):
        return "eof"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, OSError):
        return f"errno-{error.errno}"
    return type(error).__name__


async def exchange(args, reader, writer, n):
    if args.mode == "echo":
        writer.write(b"ping %d\n" % n)
        await writer.drain()
        answer = await reader.readline()
        if answer != b"pong %d\n" % n:
            raise ValueError("wrong answer")
        return
    writer.write(args.request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if int(lines[0].split()[1]) != 200:
        raise ValueError(f"status {lines[0].split()[1].decode()}")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if args.length is not None and len(body) != args.length:
        raise ValueError("body length")


def write_state(args, state):
    tmp = args.state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, args.state_file)


async def client(args):
    args.request = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n\r\n".encode()
    gate = asyncio.Semaphore(args.parallel)
    conns = [None] * args.count
    failed, failed_again = {}, {}

    async def open_one(i):
        async with gate:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), args.timeout)
            except Exception as error:  # noqa: BLE001 - every failure is counted by cause
                failed["connect-" + cause(error)] = failed.get("connect-" + cause(error), 0) + 1
                return
            conns[i] = (reader, writer)
            try:
                await asyncio.wait_for(exchange(args, reader, writer, i), args.timeout)
                return True
            except Exception as error:  # noqa: BLE001
                failed[cause(error)] = failed.get(cause(error), 0) + 1

    async def again(i):
        async with gate:
            reader, writer = conns[i]
            try:
                await asyncio.wait_for(exchange(args, reader, writer, i), args.timeout)
                return True
            except Exception as error:  # noqa: BLE001
                failed_again[cause(error)] = failed_again.get(cause(error), 0) + 1

    started = time.time()
    answered = sum(1 for ok in await asyncio.gather(*(open_one(i) for i in range(args.count))) if ok)
    state = {"phase": "held", "pid": os.getpid(), "count": args.count, "opened": sum(c is not None for c in conns),
             "answered": answered, "answered_again": 0, "failed": failed, "failed_again": failed_again,
             "open_seconds": round(time.time() - started, 2)}
    write_state(args, state)
    deadline = time.time() + args.max_hold
    while not os.path.exists(args.go_file) and time.time() < deadline:
        await asyncio.sleep(0.1)
    held = [i for i, c in enumerate(conns) if c is not None]
    state["answered_again"] = sum(1 for ok in await asyncio.gather(*(again(i) for i in held)) if ok)
    state["phase"] = "done"
    write_state(args, state)
    for c in conns:
        if c is not None:
            sock = c[1].get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            c[1].close()
    await asyncio.sleep(0.5)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ready-file")
    s.add_argument("--max-seconds", type=float, default=1800)
    c = sub.add_parser("client")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--mode", choices=["echo", "http"], default="echo")
    c.add_argument("--path", default="/1k.bin")
    c.add_argument("--length", type=int)
    c.add_argument("--parallel", type=int, default=200)
    c.add_argument("--timeout", type=float, default=10)
    c.add_argument("--state-file", required=True)
    c.add_argument("--go-file", required=True)
    c.add_argument("--max-hold", type=float, default=300)
    args = parser.parse_args()
    asyncio.run(serve(args) if args.role == "server" else client(args))


if __name__ == "__main__":
    main()
