#!/bin/sh
# Benchmark: the compiled hello CGI through gatewayd and, in the same run,
# through nginx -> fcgiwrap -> the same program; plus the machine's bare
# posix_spawn ceiling and gatewayd's RSS. Prints figures; asserts nothing.
#
#   sh bench/cgi.sh [SECONDS]      (default 10 s per measurement; run from a built tree)
#   BENCH_ROUNDS=N rounds, interleaved, the median reported (default 1)
#   BENCH_NGINX_WORKERS=N for an N-worker nginx (default auto, as Debian ships it)
#   BENCH_DISPATCHERS=N (or auto): gatewayd with N dispatchers (default one process)
#   BENCH_FCGIWRAP=N fcgiwrap processes (default 32: never the limit at c=16)
#
# Only 2xx answers count toward requests/s. wrk keeps its connections alive;
# "errors" adds up wrk's connect/read/write/timeout errors and non-2xx answers,
# so a run where a connection was starved or refused shows up there.
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"

start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18080"}], $gw_log, "routes": [$cgi_route]}
JSON
start_fcgiwrap
start_nginx 18081 "unix:$work/fcgiwrap.sock" "" ""
wait_for http://127.0.0.1:18080/cgi-bin/hello.cgi
wait_for http://127.0.0.1:18081/cgi-bin/hello.cgi

check_started
echo "bench cgi: $(nproc) cores, ${secs}s per run, keep-alive client connections (wrk), hello.cgi (C),"
echo "  nginx ${BENCH_NGINX_WORKERS:-auto} worker(s), fcgiwrap ${BENCH_FCGIWRAP:-32} processes, $bench_rounds round(s)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ "$r" -le "$bench_rounds" ]; do
	[ "$bench_rounds" -gt 1 ] && echo "-- round $r"
	for c in 1 16; do
		measure "gatewayd (http)" http://127.0.0.1:18080/cgi-bin/hello.cgi "$c"; record "gatewayd (http) c=$c"
		measure "nginx -> fcgiwrap" http://127.0.0.1:18081/cgi-bin/hello.cgi "$c"; record "nginx -> fcgiwrap c=$c"
		[ "$bench_rounds" -gt 1 ] || ratio "gatewayd / nginx+fcgiwrap at c=$c" "$(median "gatewayd (http) c=$c")" "$(median "nginx -> fcgiwrap c=$c")"
	done
	r=$((r + 1))
done
if [ "$bench_rounds" -gt 1 ]; then
	echo "-- medians"
	for c in 1 16; do
		report_median "gatewayd (http) c=$c"; gw=$rps
		report_median "nginx -> fcgiwrap c=$c"; ng=$rps
		ratio "gatewayd / nginx+fcgiwrap at c=$c" "$gw" "$ng"
	done
fi
gw_c1=$(median "gatewayd (http) c=1")
gw_c16=$(median "gatewayd (http) c=16")

cc -O2 -o "$work/spawn_ceiling" bench/spawn_ceiling.c
ceil1=$("$work/spawn_ceiling" "$hello" "$secs" 1)
ceiln=$("$work/spawn_ceiling" "$hello" "$secs" "$(nproc)")
echo "posix_spawn+wait ceiling: ${ceil1}/s (1 process), ${ceiln}/s ($(nproc) processes)"
awk -v a="$gw_c1" -v b="$ceil1" 'BEGIN { printf "gatewayd c=1 vs 1-process ceiling: %.0f%%\n", 100 * a / b }'
awk -v a="$gw_c16" -v b="$ceiln" -v n="$(nproc)" \
	'BEGIN { printf "gatewayd c=16 vs %s-process ceiling: %.0f%%\n", n, 100 * a / b }'
# The most any CGI server could reach here against the peer: the bare spawns
# alone, with no server work and no client sharing the cores.
ratio "bound: the $(nproc)-process ceiling / nginx+fcgiwrap at c=16" "$ceiln" "$(median "nginx -> fcgiwrap c=16")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
report_rss
