#!/bin/sh
# Build the codec fuzz targets with clang's libFuzzer and run each for a
# bounded time (FUZZ_SECONDS, default 20), seeded from the HTTP corpora.
# Undefined behaviour stops a run as a crash does (-fno-sanitize-recover, as
# the sanitizer build of the tests has it): a report that the run lives
# through is a bug nobody reads.
set -eu
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
out=${FUZZ_OUT:-/tmp/gatewayd-fuzz}
mkdir -p "$out"
command -v clang >/dev/null || { echo "fuzz: clang not installed"; exit 1; }
flags="-g -O1 -std=gnu11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined"
flags="$flags -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
clang $flags test/fuzz/fuzz_http1.c protocols/http1*.c -o "$out/fuzz_http1"
clang $flags test/fuzz/fuzz_cgi_response.c protocols/cgi_response.c protocols/cgi_env.c protocols/http1*.c \
	-o "$out/fuzz_cgi_response"
clang $flags test/fuzz/fuzz_fastcgi.c protocols/fastcgi.c protocols/http1*.c -o "$out/fuzz_fastcgi"
clang $flags test/fuzz/fuzz_uwsgi.c protocols/uwsgi.c protocols/http1*.c -o "$out/fuzz_uwsgi"
clang $flags test/fuzz/fuzz_proxy_protocol.c protocols/proxy_protocol.c protocols/http1*.c \
	-o "$out/fuzz_proxy_protocol"
clang $flags test/fuzz/fuzz_spawn_msg.c protocols/spawn_msg.c protocols/http1*.c -o "$out/fuzz_spawn_msg"
mkdir -p "$out/seed_http1" "$out/seed_cgi"
for f in test/corpora/gunicorn-requests/*/*.raw test/corpora/picohttpparser-cases/*/*.raw; do
	cp "$f" "$out/seed_http1/$(echo "$f" | tr / _)"
done
printf 'Status: 404 Not Found\nContent-Type: text/plain\n\nbody' > "$out/seed_cgi/1"
printf 'Location: /x?y\r\n\r\n' > "$out/seed_cgi/2"
# FastCGI: the record sequences of the Go vectors, hex to bytes (octal for sh's printf)
mkdir -p "$out/seed_fastcgi"
grep -o '"[a-z_]*_hex": *"[0-9a-f]*"' test/corpora/go-cgi-fcgi-cases/fcgi_vectors.json |
	sed 's/.*"\([0-9a-f]*\)"$/\1/' | awk '{
		o = ""
		for (i = 1; i < length($0); i += 2) {
			hi = index("0123456789abcdef", substr($0, i, 1)) - 1
			lo = index("0123456789abcdef", substr($0, i + 1, 1)) - 1
			o = o sprintf("\\%03o", hi * 16 + lo)
		}
		print o
	}' | {
	n=0
	while read -r oct; do
		n=$((n + 1))
		printf "$oct" > "$out/seed_fastcgi/$n"
	done
}
# uwsgi: two vars, an empty packet then a GET, and HTTP sent instead
mkdir -p "$out/seed_uwsgi"
printf '\000\015\000\000\002\000AB\002\000cd\001\000E\000\000' > "$out/seed_uwsgi/1"
printf '\000\000\000\000\000\025\000\000\016\000REQUEST_METHOD\003\000GET' > "$out/seed_uwsgi/2"
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' > "$out/seed_uwsgi/3"
# PROXY protocol: v1 TCP4, v2 TCP6 with a TLV, v2 LOCAL
mkdir -p "$out/seed_proxy_protocol"
printf 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n' > "$out/seed_proxy_protocol/1"
printf '\r\n\r\n\000\r\nQUIT\n\041\041\000\051\040\001\015\270\000\000\000\000\000\000\000\000\000\000\000\001\040\001\015\270\000\000\000\000\000\000\000\000\000\000\000\002\060\071\000\120\001\000\002h2' > "$out/seed_proxy_protocol/2"
printf '\r\n\r\n\000\r\nQUIT\n\040\000\000\000' > "$out/seed_proxy_protocol/3"
# spawner messages: a SIGNAL, a CGI with lists, a REPLY, an EXIT then a RELOAD, a WORKER
mkdir -p "$out/seed_spawn_msg"
printf '$\000\000\000\003\001\002\000\011\000\000\000\010\000\000\000\322\004\000\000\000\000\000\000\012\000\000\000\010\000\000\000\017\000\000\000\000\000\000\000' > "$out/seed_spawn_msg/1"
printf 'W\000\000\000\001\001\007\000\001\000\000\000\003\000\000\000r1\000\002\000\000\000\003\000\000\000/r\000\003\000\000\000\005\000\000\000/r/s\000\004\000\000\000\002\000\000\000a\000\004\000\000\000\002\000\000\000b\000\005\000\000\000\004\000\000\000A=1\000\006\000\000\000\010\000\000\000\007\000\000\000\000\000\000\000' > "$out/seed_spawn_msg/2"
printf 'd\000\000\000\006\001\007\000\006\000\000\000\010\000\000\000\002\000\000\000\000\000\000\000\013\000\000\000\010\000\000\000\363\377\377\377\377\377\377\377\014\000\000\000\010\000\000\000\003\000\000\000\000\000\000\000\015\000\000\000\003\000\000\000no\000\016\000\000\000\010\000\000\000!\000\000\000\000\000\000\000\021\000\000\000\003\000\000\000/c\000\022\000\000\000\002\000\000\000l\000' > "$out/seed_spawn_msg/3"
printf 'D\000\000\000\007\001\004\000\011\000\000\000\010\000\000\000*\000\000\000\000\000\000\000\013\000\000\000\010\000\000\000\000\011\000\000\000\000\000\000\023\000\000\000\010\000\000\000\005\000\000\000\000\000\000\000\024\000\000\000\010\000\000\000\006\000\000\000\000\000\000\000\004\000\000\000\005\001\000\000' > "$out/seed_spawn_msg/4"
printf ' \000\000\000\002\001\002\000\007\000\000\000\004\000\000\000php\000\010\000\000\000\010\000\000\000\001\000\000\000\000\000\000\000' > "$out/seed_spawn_msg/5"
for t in http1 cgi_response fastcgi uwsgi proxy_protocol spawn_msg; do
	seed=$out/seed_http1
	[ "$t" = cgi_response ] && seed=$out/seed_cgi
	[ "$t" = fastcgi ] && seed=$out/seed_fastcgi
	[ "$t" = uwsgi ] && seed=$out/seed_uwsgi
	[ "$t" = proxy_protocol ] && seed=$out/seed_proxy_protocol
	[ "$t" = spawn_msg ] && seed=$out/seed_spawn_msg
	echo "fuzz_$t: ${secs}s"
	"$out/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=0 \
		-artifact_prefix="$out/$t-" "$seed" >"$out/$t.log" 2>&1 || {
		tail -n 40 "$out/$t.log"
		echo "fuzz_$t found a failure"
		exit 1
	}
	# Belt and braces: a sanitizer report the flags above let through still fails.
	if grep -q 'runtime error:' "$out/$t.log"; then
		grep -m 5 'runtime error:' "$out/$t.log"
		echo "fuzz_$t: undefined behaviour reported"
		exit 1
	fi
	grep -aE '^#[0-9]+[[:space:]]+DONE' "$out/$t.log" | tail -n 1 || true
done
echo "fuzz: no failure"
