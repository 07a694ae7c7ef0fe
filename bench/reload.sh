#!/bin/sh
# Benchmark: reloads under load, same run. What a client sees while the server
# is reloaded once a second: requests answered 2xx, and every failure (a non-2xx
# answer, a connection refused, reset or closed under a request sent on it).
#   gatewayd, 2 dispatchers -> php-cgi pool, SIGHUP with the pool resized 2 <-> 3
#     (new dispatchers and new workers each time)
#   nginx -> php-fpm (Debian's www.conf), nginx SIGHUP and php-fpm SIGUSR2 (both
#     reload gracefully: new nginx workers, new php-fpm children each time)
# wrk keeps its connections alive, so each reload closes connections under it.
#
#   sh bench/reload.sh [SECONDS] [CONCURRENCY]   (defaults: 10, 16)
#   BENCH_DISPATCHERS=N for another count of gatewayd dispatchers (default 2)
#   BENCH_PHP_MAX_REQUESTS=N: php-cgi's own PHP_FCGI_MAX_REQUESTS (default 0, as the
#     README's config; 500 is php-cgi's default, and its workers then leave on their own)
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"
conc=${2:-16}
BENCH_DISPATCHERS=${BENCH_DISPATCHERS:-2}
need_packages php-cgi php8.2-fpm
mkdir -p "$work/php"
sed '1{/^#!/d}' examples/php/hello.php > "$work/php/hello.php"

start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18095"}], $gw_log,
 "pools": {"php": {"protocol": "fastcgi", "command": ["php-cgi"], "processes": 2, "queue": 1024,
                   "env": {"PHP_FCGI_CHILDREN": "0",
                           "PHP_FCGI_MAX_REQUESTS": "${BENCH_PHP_MAX_REQUESTS:-0}"}}},
 "routes": [{"match": "/php/", "pool": "php", "root": "php"}]}
JSON
start_php_fpm
fpmpid=$last_pid
start_nginx_with reload <<CONF
    server {
        listen 127.0.0.1:18096;
        location /php/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work\$fastcgi_script_name;
            fastcgi_pass unix:$work/php-fpm.sock;
        }
    }
CONF
nginxpid=$last_pid
wait_for http://127.0.0.1:18095/php/hello.php
wait_for http://127.0.0.1:18096/php/hello.php
check_started

# Once a second while wrk runs: $1 is what reloads.
reload_loop() {
	i=0
	while [ "$i" -lt $((secs - 1)) ]; do
		sleep 1
		i=$((i + 1))
		"$@"
	done
}
reload_gatewayd() {
	if [ $((i % 2)) = 1 ]; then from=2 to=3; else from=3 to=2; fi
	sed -i "s/\"processes\": $from,/\"processes\": $to,/" "$work/gatewayd.json"
	kill -HUP "$gwpid"
}
reload_nginx() {
	kill -HUP "$nginxpid"
	kill -USR2 "$fpmpid"
}

echo "bench reload: $(nproc) cores, ${secs}s per run, c=$conc, keep-alive client connections (wrk),"
echo "  a reload every second ($((secs - 1)) in all); failures: non-2xx and socket errors"
reload_loop reload_gatewayd &
loop=$!
measure "gatewayd ($BENCH_DISPATCHERS dispatchers)" http://127.0.0.1:18095/php/hello.php "$conc"
gw_rps=$rps gw_errs=$errs
wait "$loop"
reload_loop reload_nginx &
loop=$!
measure "nginx -> php-fpm" http://127.0.0.1:18096/php/hello.php "$conc"
wait "$loop"
check_started
echo "failed requests under reloads: gatewayd $gw_errs, nginx -> php-fpm $errs"
ratio "gatewayd / nginx -> php-fpm, 2xx req/s under reloads" "$gw_rps" "$rps"
grep -c ' 502 \|: 502$' "$work/gw-error.log" | sed 's/^/gatewayd 502s in its error log: /' || true
