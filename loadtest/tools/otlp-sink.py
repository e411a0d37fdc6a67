#!/usr/bin/env python3
"""otlp-sink.py: a minimal OTLP/HTTP (protobuf) receiver for the load tests.

Accepts POST /v1/traces, /v1/metrics and /v1/logs, reads the whole body, counts
requests, bytes, spans (traces), metrics and data points (metrics) by walking
the protobuf just deep enough, answers 200 with an empty protobuf message (an
empty Export*ServiceResponse) and discards the body. GET /stats returns the
counters as one JSON object. Nothing is stored but the last total of each of
the node proxy's counters and histogram counts (mesh.proxy.*, cumulative per
proxy process, summed over their series), with the number of exports that
carried it: "sums" and "sum_reports" in /stats.

Threaded (one thread per connection, HTTP/1.1 keep-alive), so an exporter's
batches are taken as fast as they arrive. Exits by itself after --max-seconds.

usage: otlp-sink.py --port P [--host 127.0.0.1] [--max-seconds S] [--ready-file F]
"""
import argparse
import gzip
import json
import os
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {
    "traces_requests": 0, "traces_bytes": 0, "spans": 0,
    "metrics_requests": 0, "metrics_bytes": 0, "metrics": 0, "data_points": 0,
    "logs_requests": 0, "logs_bytes": 0,
    "other_requests": 0, "parse_errors": 0, "first_export": None, "last_export": None,
    "sums": {}, "sum_reports": {},
}
TRACKED_PREFIX = b"mesh.proxy."


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value): a varint's value, (start, end) of a length-delimited field, or the
    offset of a fixed 64- or 32-bit one."""
    i, n = 0, len(buf)
    while i < n:
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, i
            i += 8
        elif wire == 2:
            length, i = varint(buf, i)
            if i + length > n:
                raise ValueError("field runs past the end")
            yield number, wire, (i, i + length)
            i += length
        elif wire == 5:
            yield number, wire, i
            i += 4
        else:
            raise ValueError(f"wire type {wire}")


def children(buf, number):
    """The length-delimited fields NUMBER of the message BUF (a memoryview), as memoryviews."""
    return [buf[v[0]:v[1]] for f, w, v in fields(buf) if w == 2 and f == number]


def count_field(buf, number):
    """How many length-delimited fields NUMBER the message BUF has, without slicing them out.

    The sink shares the benchmark's cores, so this loop (one turn per span) is kept as lean as python allows: a
    third cheaper than children()."""
    i, n, count = 0, len(buf), 0
    while i < n:
        key = buf[i]
        i += 1
        if key >= 0x80:
            key, i = varint(buf, i - 1)
        wire = key & 7
        if wire == 2:
            length = buf[i]
            i += 1
            if length >= 0x80:
                length, i = varint(buf, i - 1)
            i += length
            count += (key >> 3) == number
        elif wire == 0:
            _, i = varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
    if i > n:
        raise ValueError("field runs past the end")
    return count


def count_spans(body):
    # ExportTraceServiceRequest.resource_spans = 1 -> ResourceSpans.scope_spans = 2 -> ScopeSpans.spans = 2
    spans = 0
    for resource in children(body, 1):
        for scope in children(resource, 2):
            spans += count_field(scope, 2)
    return spans


def sum_value(point):
    """NumberDataPoint.as_int (6, sfixed64) or as_double (4, double)."""
    for number, wire, offset in fields(point):
        if wire == 1 and number == 6:
            return struct.unpack_from("<q", point, offset)[0]
        if wire == 1 and number == 4:
            return struct.unpack_from("<d", point, offset)[0]
    return 0


def histogram_count(point):
    """HistogramDataPoint.count (4, fixed64)."""
    for number, wire, offset in fields(point):
        if wire == 1 and number == 4:
            return struct.unpack_from("<Q", point, offset)[0]
    return 0


def count_metrics(body):
    # ExportMetricsServiceRequest.resource_metrics = 1 -> ResourceMetrics.scope_metrics = 2
    # -> ScopeMetrics.metrics = 2 -> Metric.{name 1, gauge 5, sum 7, histogram 9, exponential_histogram 10,
    # summary 11} -> data_points = 1. Returns (metrics, points, {name: total} of the mesh.proxy.* sums and
    # histogram counts).
    metrics = points = 0
    sums = {}
    for resource in children(body, 1):
        for scope in children(resource, 2):
            for metric in children(scope, 2):
                metrics += 1
                name = None
                for number, wire, value in fields(metric):
                    if wire == 2 and number == 1:
                        name = bytes(metric[value[0]:value[1]])
                    elif wire == 2 and number in (5, 7, 9, 10, 11):
                        data = children(metric[value[0]:value[1]], 1)
                        points += len(data)
                        if number in (7, 9) and name is not None and name.startswith(TRACKED_PREFIX):
                            total = sum_value if number == 7 else histogram_count
                            sums[name.decode()] = sum(total(p) for p in data)
    return metrics, points, sums


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def reply(self, code, body=b"", content_type="application/x-protobuf"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.read_body()
        size = len(body)
        encoding = self.headers.get("Content-Encoding", "").lower()
        kind = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}.get(self.path.split("?")[0])
        spans = metrics = points = 0
        sums = {}
        parse_error = 0
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            view = memoryview(body)
            if kind == "traces":
                spans = count_spans(view)
            elif kind == "metrics":
                metrics, points, sums = count_metrics(view)
        except (ValueError, IndexError, OSError, zlib.error):
            parse_error = 1
        now = time.time()
        with LOCK:
            STATS["parse_errors"] += parse_error
            if kind is None:
                STATS["other_requests"] += 1
            else:
                STATS[f"{kind}_requests"] += 1
                STATS[f"{kind}_bytes"] += size
                STATS["spans"] += spans
                STATS["metrics"] += metrics
                STATS["data_points"] += points
                for name, total in sums.items():
                    STATS["sums"][name] = total
                    STATS["sum_reports"][name] = STATS["sum_reports"].get(name, 0) + 1
                STATS["first_export"] = STATS["first_export"] or now
                STATS["last_export"] = now
        self.reply(200 if kind else 404)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            self.reply(200, body, "application/json")
        else:
            self.reply(404)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    time.sleep(args.max_seconds)  # the script stops it long before; this is the backstop
    print("otlp-sink: --max-seconds reached, exiting", file=sys.stderr)
    server.shutdown()


if __name__ == "__main__":
    main()
