#!/bin/sh
# hello.py as a plain CGI program through gatewayd-wsgi --cgi: the same
# application the uwsgi and FastCGI pools run, one process per request.
# (hello.py is a CGI program by itself too, through the stdlib's CGIHandler.)
here=$(cd "$(dirname "$0")" && pwd)
worker=$(command -v gatewayd-wsgi || echo "$here/../../spawner/wsgi/gatewayd-wsgi")
exec "$worker" --cgi --path "$here" hello:application
