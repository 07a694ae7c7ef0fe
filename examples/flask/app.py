"""A small Flask application for gatewayd's demo, mounted under /flask/.

An index page, a form that POSTs, a JSON endpoint and error pages. Every link
is built with url_for(), so the application works under whatever mount point
gatewayd gives it (SCRIPT_NAME, which Flask takes from the WSGI environ).

    gatewayd-wsgi --path examples/flask app:app
"""
import os
import time

from flask import Flask, jsonify, redirect, render_template, request, url_for

app = Flask(__name__)
application = app  # the name gatewayd-wsgi looks for by default

STARTED = time.time()
MESSAGES = []  # this worker's guest book (each worker has its own)
_served = {"n": 0}


@app.before_request
def _count():
    _served["n"] += 1


@app.route("/")
def index():
    return render_template("index.html", pid=os.getpid(), served=_served["n"],
                           messages=MESSAGES[-10:])


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:100]
        message = request.form.get("message", "").strip()[:500]
        if not name or not message:
            return render_template("form.html", error="Both fields, please.",
                                   name=name, message=message), 400
        MESSAGES.append({"name": name, "message": message, "pid": os.getpid()})
        return redirect(url_for("index"), code=303)
    return render_template("form.html", error=None, name="", message="")


@app.route("/api/info")
def info():
    return jsonify(
        app="flask demo",
        pid=os.getpid(),
        served=_served["n"],
        uptime=round(time.time() - STARTED, 3),
        script_root=request.script_root,
        path=request.path,
        url=request.url,
        method=request.method,
        args=request.args.to_dict(),
        multiprocess=request.environ.get("wsgi.multiprocess"),
        server_software=request.environ.get("SERVER_SOFTWARE", ""),
    )


@app.route("/api/echo", methods=["POST"])
def echo():
    data = request.get_json(silent=True)
    if data is None:
        return jsonify(error="send a JSON body"), 400
    return jsonify(received=data, length=request.content_length)


@app.route("/boom")
def boom():
    raise RuntimeError("the demo's deliberate error (see the error log)")


@app.errorhandler(404)
def not_found(e):
    return render_template("error.html", code=404, title="Not Found",
                           text="No page at %s." % request.path), 404


@app.errorhandler(500)
def server_error(e):
    return render_template("error.html", code=500, title="Internal Server Error",
                           text="The application failed; the traceback is in gatewayd's "
                                "error log."), 500


if __name__ == "__main__":
    # As a CGI program: the stdlib's CGIHandler (or gatewayd-wsgi --cgi app:app).
    from wsgiref.handlers import CGIHandler
    CGIHandler().run(app)
