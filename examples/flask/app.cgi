#!/bin/sh
# The Flask demo (app.py) as a plain CGI program through gatewayd-wsgi --cgi:
# the same application the uwsgi and FastCGI pools run, one process (Python
# start-up, Flask import and all) per request. Serve it from a cgi route whose
# root is this directory; PATH_INFO after app.cgi is the page ("/", "/form").
here=$(cd "$(dirname "$0")" && pwd)
worker=$(command -v gatewayd-wsgi || echo "$here/../../spawner/wsgi/gatewayd-wsgi")
exec "$worker" --cgi --path "$here" app:app
