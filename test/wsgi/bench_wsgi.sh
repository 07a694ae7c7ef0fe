#!/bin/sh
# Benchmark: WSGI, two workers each, concurrency 16, same run (issue 5, item 5).
#   gatewayd -> gatewayd-wsgi, FastCGI pool   (and a uwsgi pool, when this gatewayd has them)
#   nginx uwsgi_pass -> uWSGI (Debian's uwsgi + python3 plugin, master + 2 workers: what
#     Debian's /usr/share/uwsgi/conf/default.ini gives every app, workers = 2)
#   gunicorn, 2 sync workers (wrk straight at it; sync workers close every connection)
# for the hello WSGI app (examples/wsgi/hello.py) and the Flask demo's index page.
#
#   sh test/wsgi/bench_wsgi.sh [SECONDS] [CONCURRENCY]   (defaults: 10, 16)
#   BENCH_ROUNDS=N rounds, interleaved, the median reported (default 3)
#   BENCH_NGINX_WORKERS=N for an N-worker nginx (default auto, as Debian ships it)
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_init "${1:-10}"
conc=${2:-16}
rounds=${BENCH_ROUNDS:-3}
need_packages uwsgi uwsgi-plugin-python3 gunicorn python3-flask
worker=$top/spawner/wsgi/gatewayd-wsgi
wsgi=$top/examples/wsgi
flask=$top/examples/flask

pool() { # name protocol dir spec
	printf '"%s": {"protocol": "%s", "command": ["%s", "--protocol", "%s", "--path", "%s", "%s"],
	  "processes": 2, "queue": 1024, "env": {"PATH": "/usr/bin:/bin"}}' "$1" "$2" "$worker" "$2" "$3" "$4"
}
root_user=""
[ "$(id -u)" = 0 ] && root_user="\"user\": \"${BENCH_USER:-root}\", "
cat > "$work/gw-uwsgi-check.json" <<JSON
{$root_user"listen": [{"http": "127.0.0.1:18199"}], "pools": {$(pool u uwsgi "$wsgi" hello:application)},
 "routes": [{"match": "/", "pool": "u"}]}
JSON
if ./gatewayd/gatewayd -t -c "$work/gw-uwsgi-check.json" >/dev/null 2>&1; then
	uwsgi_pools=1
	extra_pools=", $(pool hello_u uwsgi "$wsgi" hello:application), $(pool flask_u uwsgi "$flask" app:app)"
	extra_routes=', {"match": "/u/wsgi/", "pool": "hello_u"}, {"match": "/u/flask/", "pool": "flask_u"}'
else
	uwsgi_pools=""
	extra_pools=""
	extra_routes=""
fi
start_gatewayd <<JSON
{"listen": [{"http": "127.0.0.1:18190"}], $gw_log,
 "pools": {$(pool hello_f fastcgi "$wsgi" hello:application), $(pool flask_f fastcgi "$flask" app:app)$extra_pools},
 "routes": [{"match": "/wsgi/", "pool": "hello_f"}, {"match": "/flask/", "pool": "flask_f"}$extra_routes]}
JSON

# nginx -> uWSGI, one uWSGI instance (master + 2 workers) per application
for app in hello flask; do
	if [ $app = hello ]; then dir=$wsgi; mod=hello:application; mount=/wsgi; else dir=$flask; mod=app:app; mount=/flask; fi
	start_bg uwsgi --plugins python3 --master --processes 2 --socket "$work/uwsgi-$app.sock" \
		--chdir "$dir" --mount "$mount=$mod" --manage-script-name --disable-logging \
		--die-on-term --logto "$work/uwsgi-$app.log"
done
start_nginx_with wsgi <<CONF
    server {
        listen 127.0.0.1:18191;
        location /wsgi/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$work/uwsgi-hello.sock; }
        location /flask/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$work/uwsgi-flask.sock; }
    }
CONF

# gunicorn, sync workers; SCRIPT_NAME mounts the Flask app at /flask as the others do
start_bg gunicorn --log-level warning -w 2 -k sync -b 127.0.0.1:18192 --chdir "$wsgi" hello:application
start_bg env SCRIPT_NAME=/flask gunicorn --log-level warning -w 2 -k sync -b 127.0.0.1:18193 --chdir "$flask" app:app

for u in http://127.0.0.1:18190/wsgi/hello http://127.0.0.1:18190/flask/ \
	http://127.0.0.1:18191/wsgi/hello http://127.0.0.1:18191/flask/ \
	http://127.0.0.1:18192/wsgi/hello http://127.0.0.1:18193/flask/; do
	wait_for "$u"
done
if [ -n "$uwsgi_pools" ]; then wait_for http://127.0.0.1:18190/u/wsgi/hello; wait_for http://127.0.0.1:18190/u/flask/; fi

echo "bench wsgi: $(nproc) cores, ${secs}s per run, c=$conc, keep-alive client connections (wrk), 2 workers each, nginx ${BENCH_NGINX_WORKERS:-auto} worker(s), ${rounds} rounds (the median counts)"
echo "(req/s count 2xx answers only; 'errors' = non-2xx answers + socket errors)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # label url
	measure "$1" "$2" "$conc"
	record "$1"
}
r=1
while [ "$r" -le "$rounds" ]; do
	echo "-- round $r"
	run "hello gatewayd->wsgi fastcgi" http://127.0.0.1:18190/wsgi/hello
	if [ -n "$uwsgi_pools" ]; then run "hello gatewayd->wsgi uwsgi" http://127.0.0.1:18190/u/wsgi/hello; fi
	run "hello nginx->uWSGI" http://127.0.0.1:18191/wsgi/hello
	run "hello gunicorn sync" http://127.0.0.1:18192/wsgi/hello
	run "flask gatewayd->wsgi fastcgi" http://127.0.0.1:18190/flask/
	if [ -n "$uwsgi_pools" ]; then run "flask gatewayd->wsgi uwsgi" http://127.0.0.1:18190/u/flask/; fi
	run "flask nginx->uWSGI" http://127.0.0.1:18191/flask/
	run "flask gunicorn sync" http://127.0.0.1:18193/flask/
	r=$((r + 1))
done
echo "-- medians"
for app in hello flask; do
	for s in "gatewayd->wsgi fastcgi" "gatewayd->wsgi uwsgi" "nginx->uWSGI" "gunicorn sync"; do
		m=$(median "$app $s")
		[ -n "$m" ] && printf '%-32s %8s req/s  errors (all rounds) %s\n' "$app $s" "$m" "$(errors_of "$app $s")"
	done
	nu=$(median "$app nginx->uWSGI")
	gn=$(median "$app gunicorn sync")
	for s in "gatewayd->wsgi fastcgi" "gatewayd->wsgi uwsgi"; do
		m=$(median "$app $s")
		[ -z "$m" ] && continue
		ratio "$app: $s / nginx->uWSGI" "$m" "$nu"
		ratio "$app: $s / gunicorn sync" "$m" "$gn"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
report_rss VmRSS
if [ -s "$work/gw-error.log" ]; then echo "gatewayd error log (last lines):"; tail -n 5 "$work/gw-error.log"; fi
