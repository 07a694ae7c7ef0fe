#!/bin/sh
# Benchmark: the compiled hello CGI through gatewayd and, in the same run,
# through nginx -> fcgiwrap -> the same program; plus the machine's bare
# posix_spawn ceiling and gatewayd's RSS. Prints figures; asserts nothing.
#
#   sh bench/cgi.sh [SECONDS]      (default 10 s per measurement; run from a built tree)
#
# Only 2xx answers count toward requests/s. wrk keeps its connections alive;
# "errors" adds up wrk's connect/read/write/timeout errors and non-2xx answers,
# so a run where a connection was starved or refused shows up there.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
top=$PWD
hello=$top/examples/cgi-bin/hello.cgi
[ -x "$hello" ] || { echo "build first: make" >&2; exit 1; }

need=""
for p in nginx-light fcgiwrap wrk; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
fi

work=$(mktemp -d /tmp/gwbench.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/cgi-bin" "$work/htdocs"
cp "$hello" "$work/cgi-bin/hello.cgi"

# gatewayd
cat > "$work/gatewayd.json" <<JSON
{"listen": [{"http": "127.0.0.1:18080"}],
 "log": {"error": "$work/gw-error.log", "level": "warn"},
 "routes": [{"match": "/cgi-bin/", "cgi": {"root": "cgi-bin", "max_children": 64, "queue": 1024}}]}
JSON
./gatewayd/gatewayd -c "$work/gatewayd.json" &
gwpid=$!
pids="$pids $gwpid"

# nginx -> fcgiwrap, 16 fcgiwrap workers so its pool is never the limit at c=16
fcgiwrap -c 16 -s "unix:$work/fcgiwrap.sock" &
pids="$pids $!"
cat > "$work/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:18081;
        location /cgi-bin/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work\$fastcgi_script_name;
            fastcgi_pass unix:$work/fcgiwrap.sock;
        }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
pids="$pids $!"
sleep 1
curl -fsS http://127.0.0.1:18080/cgi-bin/hello.cgi >/dev/null
curl -fsS http://127.0.0.1:18081/cgi-bin/hello.cgi >/dev/null

cat > "$work/count.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\n",
    summary.requests - e.status, bad, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA

measure() { # $1 label, $2 url, $3 concurrency
	threads=$3
	[ "$threads" -gt 2 ] && threads=2
	out=$(wrk -t"$threads" -c"$3" -d"${secs}s" -s "$work/count.lua" "$2" 2>&1 | grep RESULT)
	set -- "$1" "$3" $out
	ok=$4; bad=$5; dur=$6; p50=$7; p99=$8; max=$9
	rps=$(awk -v n="$ok" -v d="$dur" 'BEGIN { printf "%.0f", n / d }')
	printf '%-22s c=%-3s %8s req/s  p50 %7s ms  p99 %7s ms  max %7s ms  errors %s\n' \
		"$1" "$2" "$rps" "$p50" "$p99" "$max" "$bad"
	echo "$rps" > "$work/last"
}

echo "gatewayd-bench cgi: $(nproc) cores, ${secs}s per run, keep-alive connections (wrk), hello.cgi (C)"
for c in 1 16; do
	measure "gatewayd" http://127.0.0.1:18080/cgi-bin/hello.cgi "$c"; gw=$(cat "$work/last")
	measure "nginx+fcgiwrap" http://127.0.0.1:18081/cgi-bin/hello.cgi "$c"; ng=$(cat "$work/last")
	awk -v a="$gw" -v b="$ng" -v c="$c" 'BEGIN { printf "ratio gatewayd / nginx+fcgiwrap at c=%s: %.2fx\n", c, a / b }'
	eval "gw_c$c=$gw"
done

cc -O2 -o "$work/spawn_ceiling" bench/spawn_ceiling.c
ceil1=$("$work/spawn_ceiling" "$hello" "$secs" 1)
ceiln=$("$work/spawn_ceiling" "$hello" "$secs" "$(nproc)")
echo "posix_spawn+wait ceiling: ${ceil1}/s (1 process), ${ceiln}/s ($(nproc) processes)"
awk -v a="$gw_c1" -v b="$ceil1" 'BEGIN { printf "gatewayd c=1 vs 1-process ceiling: %.0f%%\n", 100 * a / b }'
awk -v a="$gw_c16" -v b="$ceiln" 'BEGIN { printf "gatewayd c=16 vs %s-process ceiling: %.0f%%\n", "'"$(nproc)"'", 100 * a / b }'
grep -E 'VmRSS|VmHWM' "/proc/$gwpid/status" | tr -s ' \t' ' ' | sed 's/^/gatewayd dispatcher /'
