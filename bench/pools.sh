#!/bin/sh
# Benchmark: persistent FastCGI pools, two workers each, concurrency 16, same run.
#   gatewayd -> hello.fcgi pool     vs  nginx -> spawn-fcgi -> hello.fcgi
#   gatewayd -> php-cgi pool        vs  nginx -> php-fpm (pm = static)
#   gatewayd -> hello.fcgi pool     vs  gatewayd -> hello.cgi (the same program, both ways)
#
#   sh bench/pools.sh [SECONDS] [CONCURRENCY]   (defaults: 10, 16)
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"
conc=${2:-16}
need_packages spawn-fcgi php-cgi php8.2-fpm
fpm=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm* | head -n 1)
mkdir -p "$work/php"
cp examples/php/hello.php "$work/php/hello.php"

start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18090"}], $gw_log,
 "pools": {
   "hello": {"protocol": "fastcgi", "command": ["$top/examples/hello.fcgi"], "processes": 2,
             "queue": 1024},
   "php": {"protocol": "fastcgi", "command": ["php-cgi"], "processes": 2, "queue": 1024,
           "env": {"PHP_FCGI_CHILDREN": "0", "PHP_FCGI_MAX_REQUESTS": "0"}}},
 "routes": [{"match": "=/fcgi/hello", "pool": "hello"},
            {"match": "/php/", "pool": "php", "root": "php"},
            $cgi_route]}
JSON

# nginx -> spawn-fcgi -> hello.fcgi (two processes on one socket)
spawn-fcgi -s "$work/hello.sock" -F 2 -P "$work/spawn-fcgi.pid" -- "$top/examples/hello.fcgi" >/dev/null
for p in $(pgrep -f "^$top/examples/hello.fcgi"); do [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = 1 ] && pids="$pids $p"; done
spawned=$(pgrep -f "^$top/examples/hello.fcgi" | tr '\n' ' ')
cat > "$work/fpm.conf" <<CONF
[global]
pid = $work/php-fpm.pid
error_log = $work/php-fpm.log
daemonize = no
[bench]
user = root
group = root
listen = $work/php-fpm.sock
pm = static
pm.max_children = 2
CONF
start_bg "$fpm" -R -F -y "$work/fpm.conf"
start_nginx_with pools <<CONF
    upstream hello { server unix:$work/hello.sock; }
    upstream fpm { server unix:$work/php-fpm.sock; keepalive 16; }
    server {
        listen 127.0.0.1:18091;
        location = /fcgi/hello {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass hello;
        }
        location /php/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work\$fastcgi_script_name;
            fastcgi_keep_conn on;
            fastcgi_pass fpm;
        }
    }
CONF
wait_for http://127.0.0.1:18090/fcgi/hello
wait_for http://127.0.0.1:18090/php/hello.php
wait_for http://127.0.0.1:18091/fcgi/hello
wait_for http://127.0.0.1:18091/php/hello.php

check_started
echo "bench pools: $(nproc) cores, ${secs}s per run, c=$conc, keep-alive client connections (wrk), 2 workers each"
measure "gatewayd -> hello.fcgi" http://127.0.0.1:18090/fcgi/hello "$conc"; gf=$rps
measure "nginx -> spawn-fcgi" http://127.0.0.1:18091/fcgi/hello "$conc"; sf=$rps
ratio "gatewayd hello.fcgi pool / nginx+spawn-fcgi" "$gf" "$sf"
measure "gatewayd -> php-cgi pool" http://127.0.0.1:18090/php/hello.php "$conc"; gp=$rps
measure "nginx -> php-fpm static" http://127.0.0.1:18091/php/hello.php "$conc"; fp=$rps
ratio "gatewayd php-cgi pool / nginx+php-fpm" "$gp" "$fp"
measure "gatewayd -> hello.cgi" http://127.0.0.1:18090/cgi-bin/hello.cgi "$conc"; gc=$rps
ratio "the same C program: hello.fcgi pool / hello.cgi per request" "$gf" "$gc"
report_rss
for p in $spawned; do kill "$p" 2>/dev/null || true; done
if [ -n "${BENCH_HOLD:-}" ]; then sleep "$BENCH_HOLD"; fi
