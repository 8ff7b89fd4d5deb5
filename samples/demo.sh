#!/bin/sh
# The quick-start demo: an echo server and a client talking over loopback, both the syncws
# command-line tool. usage: samples/demo.sh [BUILD_DIR]
set -eu
tool="${1:-build}/tools/syncws"
out=$(mktemp)
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT

"$tool" serve --echo --host 127.0.0.1 --port 0 > "$out" &
server=$!
# The server prints "listening on ws://127.0.0.1:PORT" once it is ready.
for _ in $(seq 1 100); do
    grep -q "listening on" "$out" && break
    sleep 0.05
done
url=$(sed -n 's/^listening on //p' "$out")
echo "server: listening on $url"

# Each line is sent as a message; the echoes come back and are printed. Waiting a moment
# before closing lets the echoes arrive before the closing handshake starts.
received=$({ printf 'hello from syncws\nsecond message\n'; sleep 0.3; } | "$tool" connect "$url")
echo "$received" | sed 's/^/client received: /'
[ "$received" = "$(printf 'hello from syncws\nsecond message')" ] || { echo "demo: wrong echoes" >&2; exit 1; }
echo "client closed cleanly"
