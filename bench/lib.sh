# Shared by the bench/*.sh scripts: a work dir, background processes started
# as process-group leaders and stopped as groups, and wrk measurements that
# count only 2xx answers.
set -eu

bench_init() { # $1: seconds per measurement
	secs=$1
	top=$PWD
	hello=$top/examples/cgi-bin/hello.cgi
	[ -x "$hello" ] || { echo "build first: make" >&2; exit 1; }
	need_packages nginx-light fcgiwrap wrk
	work=$(mktemp -d /tmp/gwbench.XXXXXX)
	# What every run's gatewayd config holds: its error log, and (where it
	# serves CGI) the copied hello.cgi under /cgi-bin/ with room for c=16.
	gw_log="\"log\": {\"error\": \"$work/gw-error.log\", \"level\": \"warn\"}"
	cgi_route='{"match": "/cgi-bin/", "cgi": {"root": "cgi-bin", "max_children": 64, "queue": 1024}}'
	pids=""
	trap bench_cleanup EXIT INT TERM
	mkdir -p "$work/cgi-bin"
	cp "$hello" "$work/cgi-bin/hello.cgi"
	cat > "$work/count.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\n",
    summary.requests - e.status, bad, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
LUA
}

need_packages() { # Debian packages this run needs, installed when missing
	need=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
	done
	if [ -n "$need" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
	fi
}

bench_cleanup() {
	for p in $pids; do kill -TERM -"$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
	sleep 0.3
	rm -rf "$work"
}

# Run a command in the background as its own process group.
start_bg() {
	setsid "$@" &
	pids="$pids $!"
	last_pid=$!
}

# gatewayd on the config read from stdin (written to the work dir), its pid in $gwpid.
# As root gatewayd must be told whom to run as: "user": "root" (BENCH_USER=NAME for
# another, who must be able to read the work dir and the tree), as gatewayd-bench does.
# BENCH_DISPATCHERS=N (or auto) runs N dispatchers under a master (default: one process).
start_gatewayd() {
	keys=""
	[ "$(id -u)" = 0 ] && keys="\"user\": \"${BENCH_USER:-root}\", "
	case ${BENCH_DISPATCHERS:-} in
	"") ;;
	auto) keys="$keys\"dispatchers\": \"auto\", " ;;
	*) keys="$keys\"dispatchers\": $BENCH_DISPATCHERS, " ;;
	esac
	sed "1s/^{/{$keys/" > "$work/gatewayd.json"
	start_bg ./gatewayd/gatewayd -c "$work/gatewayd.json"
	gwpid=$last_pid
}

report_rss() { # $1: the /proc status fields to print (default: VmRSS and VmHWM)
	grep -E "${1:-VmRSS|VmHWM}" "/proc/$gwpid/status" | tr -s ' \t' ' ' |
		sed 's/^/gatewayd dispatcher /'
}

# fcgiwrap, 32 processes: Debian starts one (fcgiwrap -f under systemd), but one
# process serves one request at a time, and nginx holds at most one request per
# client connection (16 at c=16); twice that, so that a process still reaping its
# child never makes nginx wait. BENCH_FCGIWRAP=N for another count.
start_fcgiwrap() {
	start_bg fcgiwrap -c "${BENCH_FCGIWRAP:-32}" -s "unix:$work/fcgiwrap.sock"
}

# php-fpm on $work/php-fpm.sock with Debian's pool settings (www.conf), as root
# (the bench's files are root's); its pid in $last_pid, its own output in the work dir.
start_php_fpm() {
	fpm=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm* | head -n 1)
	cat > "$work/fpm.conf" <<CONF
[global]
pid = $work/php-fpm.pid
error_log = $work/php-fpm.log
daemonize = no
[bench]
user = root
group = root
listen = $work/php-fpm.sock
; Debian's /etc/php/8.2/fpm/pool.d/www.conf
pm = dynamic
pm.max_children = 5
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
CONF
	start_bg "$fpm" -R -F -y "$work/fpm.conf" 2>"$work/php-fpm.out"
}

# nginx whose http block holds what stdin says (upstreams, servers), its files
# named after $1 in the work dir; BENCH_NGINX_WORKERS worker processes (default auto, as Debian ships nginx).
start_nginx_with() {
	{
		cat <<CONF
user root;
worker_processes ${BENCH_NGINX_WORKERS:-auto};
daemon off;
pid $work/nginx-$1.pid;
error_log $work/nginx-$1-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
CONF
		cat
		echo "}"
	} > "$work/nginx-$1.conf"
	start_bg nginx -c "$work/nginx-$1.conf" -p "$work"
}

# nginx serving port $1 with a /cgi-bin/ location whose fastcgi_pass is $2.
# $3: extra lines for the http block (an upstream, say); $4: for the location.
start_nginx() {
	start_nginx_with "$1" <<CONF
    $3
    server {
        listen 127.0.0.1:$1;
        location /cgi-bin/ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $work\$fastcgi_script_name;
            fastcgi_pass $2;
            $4
        }
    }
CONF
}

wait_for() { # url: up to 5 s
	for _ in $(seq 50); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "not answering: $1" >&2
	exit 1
}

# Every process this run started must still be alive: a port held by a leftover
# server would otherwise be measured in its place.
check_started() {
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || { echo "a server of this run exited (port in use?)" >&2; exit 1; }
	done
}

measure() { # $1 label, $2 url, $3 concurrency; prints a line, sets $rps
	threads=$3
	[ "$threads" -gt 2 ] && threads=2
	out=$(wrk -t"$threads" -c"$3" -d"${secs}s" -s "$work/count.lua" "$2" 2>&1 | grep RESULT)
	set -- "$1" "$3" $out
	errs=$5
	rps=$(awk -v n="$4" -v d="$6" 'BEGIN { printf "%.0f", n / d }')
	printf '%-26s c=%-3s %8s req/s  p50 %7s ms  p99 %7s ms  max %7s ms  errors %s\n' \
		"$1" "$2" "$rps" "$7" "$8" "$9" "$5"
}

# Rounds: BENCH_ROUNDS=N (default 1) runs every measurement of a script N
# times, interleaved (round 1 measures everything, then round 2, ...), and the
# median of each counts. record keeps a measurement, median gives it back.
bench_rounds=${BENCH_ROUNDS:-1}
record() { # $1 label: keeps the last measure's $rps and $errs
	echo "$1|$rps|$errs" >> "$work/results"
}
median() { # $1 label: the median req/s of its rounds
	awk -F'|' -v l="$1" '$1 == l { print $2 }' "$work/results" | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
errors_of() { # $1 label: its errors, all rounds together
	awk -F'|' -v l="$1" '$1 == l { n += $3 } END { print n + 0 }' "$work/results"
}
report_median() { # $1 label: a line, and $rps set to the median
	rps=$(median "$1")
	printf '%-26s median of %s: %8s req/s  errors (all rounds) %s\n' "$1" "$bench_rounds" "$rps" "$(errors_of "$1")"
}

ratio() { # $1 label, $2 a, $3 b
	awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%s: %.2fx\n", l, a / b }'
}
