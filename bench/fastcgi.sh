#!/bin/sh
# Benchmark: gatewayd as a FastCGI backend. nginx -> gatewayd (FastCGI,
# fastcgi_keep_conn on) -> the hello CGI, against nginx -> fcgiwrap -> the same
# program, in the same run, at concurrency 1 and 16. Prints figures.
#
#   sh bench/fastcgi.sh [SECONDS]   (default 10 s per measurement)
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"

start_gatewayd <<JSON
{"listen": [{"fastcgi": "127.0.0.1:19000"}, {"fastcgi": "unix:$work/gatewayd.sock"}],
 $gw_log, "routes": [$cgi_route]}
JSON
start_fcgiwrap
start_nginx 18082 gatewayd "upstream gatewayd { server 127.0.0.1:19000; keepalive 32; }" \
	"fastcgi_keep_conn on;"
start_nginx 18083 "unix:$work/fcgiwrap.sock" "" ""
start_nginx 18084 gatewayd_unix "upstream gatewayd_unix { server unix:$work/gatewayd.sock; keepalive 32; }" \
	"fastcgi_keep_conn on;"
wait_for http://127.0.0.1:18082/cgi-bin/hello.cgi
wait_for http://127.0.0.1:18083/cgi-bin/hello.cgi
wait_for http://127.0.0.1:18084/cgi-bin/hello.cgi

check_started
echo "bench fastcgi: $(nproc) cores, ${secs}s per run, keep-alive client connections (wrk),"
echo "  nginx keeps its FastCGI connections to gatewayd alive (fastcgi_keep_conn on); hello.cgi (C)"
for c in 1 16; do
	measure "nginx -> gatewayd (tcp)" http://127.0.0.1:18082/cgi-bin/hello.cgi "$c"; gw=$rps
	measure "nginx -> gatewayd (unix)" http://127.0.0.1:18084/cgi-bin/hello.cgi "$c"; gu=$rps
	measure "nginx -> fcgiwrap (unix)" http://127.0.0.1:18083/cgi-bin/hello.cgi "$c"; fw=$rps
	ratio "gatewayd (tcp) / fcgiwrap behind nginx at c=$c" "$gw" "$fw"
	ratio "gatewayd (unix) / fcgiwrap behind nginx at c=$c, same transport" "$gu" "$fw"
done
report_rss
