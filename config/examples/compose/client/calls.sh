# usage: calls URL [PATH...]
# Every 2 seconds, GET URL+PATH for each PATH (default: / and /admin), printing one line per call:
# "GET /admin -> 403", or "GET / -> failed" when no HTTP answer came (connection refused or not permitted).
url="$1"
shift
[ "$#" -gt 0 ] || set -- / /admin
while true; do
    for path in "$@"; do
        # -S prints the status line ("  HTTP/1.1 403 Forbidden") also when wget then fails on the status.
        status=$(wget -S -O /dev/null "$url$path" 2>&1 | grep -o 'HTTP/1\.[01] [0-9][0-9][0-9]' | tail -n 1 | cut -d ' ' -f 2)
        echo "GET $path -> ${status:-failed}"
    done
    sleep 2
done
