#!/bin/sh
# Benchmark: how gatewayd's dispatchers share the connections of one listening
# socket. gatewayd with N dispatchers serves a small static file; wrk at c=4
# and c=256, with keep-alive on and off ("Connection: close": one request per
# connection). For each run: requests/s (2xx only), errors, and each
# dispatcher's share of the requests, from /_gatewayd/status before and after
# (max/min: 1.00 is an even split). Prints figures; asserts nothing.
#
#   sh bench/spread.sh [SECONDS]   (default 10 s per measurement; run from a built tree)
#   BENCH_DISPATCHERS=N (or auto; default 2)
#   BENCH_ROUNDS=N rounds (default 1), each printed
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init "${1:-10}"
BENCH_DISPATCHERS=${BENCH_DISPATCHERS:-2}
mkdir -p "$work/htdocs"
printf 'hello\n' > "$work/htdocs/hello.txt"
url=http://127.0.0.1:18310

start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18310"}], $gw_log,
 "routes": [{"match": "/", "static": {"root": "$work/htdocs"}}]}
JSON
wait_for "$url/hello.txt"
check_started

# Each dispatcher's requests, "pid requests" per line, the status page's own
# request excluded by reading it twice and taking the later (the counters are
# published every few milliseconds).
shares() {
	curl -fsS "$url/_gatewayd/status" >/dev/null
	sleep 0.3
	curl -fsS "$url/_gatewayd/status" |
		jq -r '.dispatchers[] | select(.state == "ready") | "\(.pid) \(.requests)"' | sort
}

echo "bench spread: $(nproc) cores, ${secs}s per run, $BENCH_DISPATCHERS dispatchers, static file"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ "$r" -le "$bench_rounds" ]; do
	[ "$bench_rounds" -gt 1 ] && echo "-- round $r"
	for keep in on off; do
		for c in 4 256; do
			hdr=""
			[ "$keep" = off ] && hdr="Connection: close"
			shares > "$work/before"
			threads=2
			out=$(wrk -t"$threads" -c"$c" -d"${secs}s" ${hdr:+-H "$hdr"} -s "$work/count.lua" "$url/hello.txt" 2>&1 | grep RESULT)
			shares > "$work/after"
			set -- $out
			rps=$(awk -v n="$2" -v d="$4" 'BEGIN { printf "%.0f", n / d }')
			# Per dispatcher: requests during the run; then max/min.
			split=$(join "$work/before" "$work/after" | awk '{ n = $3 - $2; s = s " " n; if (!m || n > max) max = n; if (!m || n < min) min = n; m = 1 }
				END { printf "%s|%s", s, (min > 0 ? sprintf("%.2f", max / min) : "inf") }')
			printf 'keep-alive %-3s c=%-3s %8s req/s  errors %-4s per dispatcher:%s  max/min %s\n' \
				"$keep" "$c" "$rps" "$3" "${split%|*}" "${split#*|}"
		done
	done
	r=$((r + 1))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
