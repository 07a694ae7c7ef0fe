"""The command line, loading the application, and the three modes."""

import os
import sys

from . import __version__, stopping
from .response import error_head
from .stderr import install_router


def load_app(spec, path):
    module_name, _, attr = spec.partition(":")
    attr = attr or "application"
    if not module_name:
        raise SystemExit("gatewayd-wsgi: no module in %r (want MODULE:CALLABLE)" % spec)
    if path not in sys.path:
        sys.path.insert(0, path)
    import importlib
    module = importlib.import_module(module_name)
    call = attr.endswith("()")
    if call:
        attr = attr[:-2]
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit("gatewayd-wsgi: module %r has no %r" % (module_name, attr)) from None
    if call:
        obj = obj()
    if not callable(obj):
        raise SystemExit("gatewayd-wsgi: %s is not callable" % spec)
    return obj


USAGE = """usage: gatewayd-wsgi [--protocol uwsgi|fastcgi] [--cgi] [--path DIR] MODULE[:CALLABLE]

Serves the WSGI application MODULE:CALLABLE (CALLABLE defaults to
"application"; "factory()" calls a factory) on the listening socket passed
as fd 0, one request at a time, over the uwsgi protocol or FastCGI.
  --protocol P   uwsgi or fastcgi (default: what the first request speaks)
  --cgi          run the application once as a CGI program (environment,
                 stdin, stdout) and exit
  --path DIR     put DIR first on sys.path (default: the current directory)
"""


def parse_args(argv):
    proto, cgi, path, spec = None, False, None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if a == "--version":
            from .uwsgi_vars import SPEEDUPS
            sys.stdout.write("gatewayd-wsgi %s (uwsgi vars parsed in %s)\n"
                             % (__version__, "C" if SPEEDUPS else "Python"))
            raise SystemExit(0)
        if a == "--cgi":
            cgi = True
        elif a in ("--protocol", "--path") or a.startswith(("--protocol=", "--path=")):
            if "=" in a:
                a, val = a.split("=", 1)
            else:
                i += 1
                if i >= len(argv):
                    raise SystemExit("gatewayd-wsgi: %s needs a value\n%s" % (a, USAGE))
                val = argv[i]
            if a == "--protocol":
                if val not in ("uwsgi", "fastcgi"):
                    raise SystemExit("gatewayd-wsgi: unknown protocol %r (uwsgi or fastcgi)" % val)
                proto = val
            else:
                path = val
        elif a.startswith("-") and a != "-":
            raise SystemExit("gatewayd-wsgi: unknown option %s\n%s" % (a, USAGE))
        elif spec is None:
            spec = a
        else:
            raise SystemExit("gatewayd-wsgi: one application only\n%s" % USAGE)
        i += 1
    if spec is None:
        raise SystemExit(USAGE)
    return proto, cgi, os.path.abspath(path) if path else os.getcwd(), spec


def main(argv):
    proto, cgi, path, spec = parse_args(argv)
    install_router()
    if cgi:
        return cgi_once(spec, path)
    return serve(proto, spec, path)


def cgi_once(spec, path):
    """--cgi: load the application and run it for the one request."""
    try:
        app = load_app(spec, path)
    except BaseException as e:
        if isinstance(e, SystemExit) and not isinstance(e.code, str):
            raise
        # A CGI program that cannot start still answers.
        sys.stderr.write("gatewayd-wsgi: cannot load %s:\n%s" % (
            spec, e.code if isinstance(e, SystemExit) else _traceback()))
        os.write(1, error_head("Status: "))
        return 1
    from .cgi_mode import run_cgi
    return run_cgi(app)


def serve(proto, spec, path):
    """A pool worker: load the application, serve fd 0's listening socket
    until the stop signal."""
    import signal
    from .fastcgi import serve_fastcgi
    from .listener import connections, first_speaks, take_fd0
    from .uwsgi import serve_uwsgi
    try:
        lsock = take_fd0()
    except OSError as e:
        sys.stderr.write("gatewayd-wsgi: fd 0 is not a listening socket (%s); "
                         "gatewayd passes one, or use --cgi\n" % e.strerror)
        return 2
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, stopping.on_stop)
    stopping.idle = True  # a stop signal while loading ends us at once
    try:
        try:
            app = load_app(spec, path)
        except stopping.Stop:
            raise
        except SystemExit:
            raise
        except BaseException:
            sys.stderr.write("gatewayd-wsgi: cannot load %s:\n%s" % (spec, _traceback()))
            return 1
        stopping.idle = False
        try:
            import gc
            gc.collect()
            gc.freeze()  # what the application loaded stays out of the collector's way
        except AttributeError:
            pass
        conns = connections(lsock)
        if proto is None:
            proto, conns = first_speaks(conns)
        if proto is not None:  # else stopped before a request came
            (serve_uwsgi if proto == "uwsgi" else serve_fastcgi)(lsock, conns, app)
    except stopping.Stop:
        pass
    return 0


def _traceback():
    import traceback  # only when loading failed: it costs a CGI start 7 ms
    return traceback.format_exc()
