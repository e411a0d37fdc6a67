#!/usr/bin/env bash
# span-cost.sh: the OpenTelemetry SDK's own CPU per request for the node proxy's two spans, apart from the proxy
# (loadtest/tools/SpanCost), with no listener, with the SDK and a dropping exporter, and with the OTLP/HTTP exporter
# sending to tools/otlp-sink.py. Loopback only; bounded by the request count (and the sink by --max-seconds).
# usage: loadtest/span-cost.sh [REQUESTS per mode, default 400000]
set -euo pipefail
requests=${1:-400000}
[[ $requests =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [REQUESTS]" >&2; exit 2; }
cd "$(dirname "$0")"
tool=tools/SpanCost/bin/Release/net10.0/SpanCost.dll
dotnet build -c Release tools/SpanCost >/dev/null || { echo "span-cost: the build of tools/SpanCost failed" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 tools/otlp-sink.py --port "$port" --max-seconds 900 --ready-file "${TMPDIR:-/tmp}/span-cost-sink.$$" &
sink=$!
trap 'kill "$sink" 2>/dev/null; rm -f "${TMPDIR:-/tmp}/span-cost-sink.$$"' EXIT
for _ in $(seq 50); do [[ -s ${TMPDIR:-/tmp}/span-cost-sink.$$ ]] && break; sleep 0.1; done
[[ -s ${TMPDIR:-/tmp}/span-cost-sink.$$ ]] || { echo "span-cost: the OTLP sink did not start on port $port" >&2; exit 1; }

dotnet "$tool" off "$requests"
dotnet "$tool" sdk "$requests"
dotnet "$tool" otlp "$requests" 40000 "http://127.0.0.1:$port/v1/traces"
echo "OTLP sink: $(curl -sS --max-time 5 "http://127.0.0.1:$port/stats")"
