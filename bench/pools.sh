#!/bin/sh
# Benchmark: persistent FastCGI pools, concurrency 16, same run.
#   gatewayd -> hello.fcgi pool     vs  nginx -> spawn-fcgi -> hello.fcgi (as many processes)
#   gatewayd -> php-cgi pool        vs  nginx -> php-fpm, Debian's pool settings (www.conf:
#                                       pm = dynamic, max_children 5, start 2, spare 1-3)
#   gatewayd -> hello.fcgi pool     vs  gatewayd -> hello.cgi (the same program, both ways)
#
#   sh bench/pools.sh [SECONDS] [CONCURRENCY]   (defaults: 10, 16)
#   BENCH_WORKERS=N processes of gatewayd's pools and of spawn-fcgi (default 2; spawn-fcgi's
#     own default is 1, and Debian ships no service for it)
#   BENCH_ROUNDS=N rounds, interleaved, the median reported (default 1)
#   BENCH_NGINX_WORKERS=N for an N-worker nginx (default auto, as Debian ships it)
#   BENCH_DISPATCHERS=N (or auto): gatewayd with N dispatchers (default one process)
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"
conc=${2:-16}
workers=${BENCH_WORKERS:-2}
need_packages spawn-fcgi php-cgi php8.2-fpm
mkdir -p "$work/php"
# without its #! line: php-cgi skips it, php-fpm would send it
sed '1{/^#!/d}' examples/php/hello.php > "$work/php/hello.php"

start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18090"}], $gw_log,
 "pools": {
   "hello": {"protocol": "fastcgi", "command": ["$top/examples/hello.fcgi"], "processes": $workers,
             "queue": 1024},
   "php": {"protocol": "fastcgi", "command": ["php-cgi"], "processes": $workers, "queue": 1024,
           "env": {"PHP_FCGI_CHILDREN": "0", "PHP_FCGI_MAX_REQUESTS": "0"}}},
 "routes": [{"match": "=/fcgi/hello", "pool": "hello"},
            {"match": "/php/", "pool": "php", "root": "php"},
            $cgi_route]}
JSON

# nginx -> spawn-fcgi -> hello.fcgi ($workers processes on one socket)
spawn-fcgi -s "$work/hello.sock" -F "$workers" -P "$work/spawn-fcgi.pid" -- "$top/examples/hello.fcgi" >/dev/null
for p in $(pgrep -f "^$top/examples/hello.fcgi"); do [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = 1 ] && pids="$pids $p"; done
spawned=$(pgrep -f "^$top/examples/hello.fcgi" | tr '\n' ' ')
start_php_fpm
start_nginx_with pools <<CONF
    upstream hello { server unix:$work/hello.sock; }
    # no keepalive to php-fpm, as Debian's nginx snippets: a php-fpm child serves one
    # connection at a time, so connections nginx keeps idle (16 per worker) would hold
    # children that queued requests wait for
    upstream fpm { server unix:$work/php-fpm.sock; }
    server {
        listen 127.0.0.1:18091;
        location = /fcgi/hello {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass hello;
        }
        location /php/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work\$fastcgi_script_name;
            fastcgi_pass fpm;
        }
    }
CONF
wait_for http://127.0.0.1:18090/fcgi/hello
wait_for http://127.0.0.1:18090/php/hello.php
wait_for http://127.0.0.1:18091/fcgi/hello
wait_for http://127.0.0.1:18091/php/hello.php

check_started
echo "bench pools: $(nproc) cores, ${secs}s per run, c=$conc, keep-alive client connections (wrk),"
echo "  $workers workers per gatewayd pool and spawn-fcgi, php-fpm pm = dynamic (max 5), nginx ${BENCH_NGINX_WORKERS:-auto} worker(s), $bench_rounds round(s)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ "$r" -le "$bench_rounds" ]; do
	[ "$bench_rounds" -gt 1 ] && echo "-- round $r"
	measure "gatewayd -> hello.fcgi" http://127.0.0.1:18090/fcgi/hello "$conc"; record "gatewayd -> hello.fcgi"
	measure "nginx -> spawn-fcgi" http://127.0.0.1:18091/fcgi/hello "$conc"; record "nginx -> spawn-fcgi"
	measure "gatewayd -> php-cgi pool" http://127.0.0.1:18090/php/hello.php "$conc"; record "gatewayd -> php-cgi pool"
	measure "nginx -> php-fpm" http://127.0.0.1:18091/php/hello.php "$conc"; record "nginx -> php-fpm"
	measure "gatewayd -> hello.cgi" http://127.0.0.1:18090/cgi-bin/hello.cgi "$conc"; record "gatewayd -> hello.cgi"
	r=$((r + 1))
done
if [ "$bench_rounds" -gt 1 ]; then
	echo "-- medians"
	for l in "gatewayd -> hello.fcgi" "nginx -> spawn-fcgi" "gatewayd -> php-cgi pool" "nginx -> php-fpm" \
		"gatewayd -> hello.cgi"; do
		report_median "$l"
	done
fi
gf=$(median "gatewayd -> hello.fcgi"); sf=$(median "nginx -> spawn-fcgi")
gp=$(median "gatewayd -> php-cgi pool"); fp=$(median "nginx -> php-fpm")
gc=$(median "gatewayd -> hello.cgi")
ratio "gatewayd hello.fcgi pool / nginx+spawn-fcgi" "$gf" "$sf"
ratio "gatewayd php-cgi pool / nginx+php-fpm" "$gp" "$fp"
ratio "the same C program: hello.fcgi pool / hello.cgi per request" "$gf" "$gc"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
report_rss
for p in $spawned; do kill "$p" 2>/dev/null || true; done
if [ -n "${BENCH_HOLD:-}" ]; then sleep "$BENCH_HOLD"; fi
