"""Says what the application sees, as JSON: the environ (CGI variables as they
are, wsgi.* keys by type and value where it has one), the process (pid, cwd,
sys.path[0]) and the request body read the way "?read=" asks:
all (read(CONTENT_LENGTH)), noarg (read(): wsgiref.validate forbids it), sized (read(n) in 1000-byte steps), lines (readline()),
readlines (readlines()), iter (for line in input), none, over (read(n) past
the end, to see the simulated end of file), discard (read(65536) until the end,
keeping nothing: with rss_kib, shows the body is streamed, not buffered).
"?sleep=S" sleeps S seconds first; "?log=TEXT" writes TEXT to wsgi.errors,
"?print=TEXT" prints it to sys.stderr, "?dunder=TEXT" to sys.__stderr__, and
"?kept=TEXT" logs it through a logging.StreamHandler made at import (which
keeps the sys.stderr of that moment, as Django's LOGGING does)."""
import json
import logging
import os
import sys
import time

_logger = logging.getLogger("env_app")
_logger.addHandler(logging.StreamHandler())
_logger.propagate = False


def _read(inp, how, clen):
    if how == "all":
        return [inp.read(clen)]
    if how == "noarg":
        return [inp.read()]
    if how == "sized":
        parts = []
        while True:
            b = inp.read(1000)
            if not b:
                return parts
            parts.append(b)
    if how == "lines":
        parts = []
        while True:
            line = inp.readline()
            if not line:
                return parts
            parts.append(line)
    if how == "readlines":
        return inp.readlines()
    if how == "iter":
        return [line for line in inp]
    if how == "discard":
        n = 0
        while True:
            b = inp.read(65536)
            if not b:
                return [b"%d" % n]
            n += len(b)
    if how == "over":
        return [inp.read(clen + 1000), inp.read(10)]
    return []


def rss_kib():
    """The process's resident set in KiB, or -1 (leak.py says it too)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return -1


def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    clen = int(environ.get("CONTENT_LENGTH") or 0)
    if q.get("sleep"):
        time.sleep(float(q["sleep"]))
    parts = _read(environ["wsgi.input"], q.get("read", "all"), clen)
    body = b"".join(parts)
    wsgi = {}
    for k, v in environ.items():
        if k.startswith("wsgi."):
            wsgi[k] = {"type": type(v).__name__,
                       "value": v if isinstance(v, (bool, str, int)) else
                       list(v) if isinstance(v, tuple) else None}
    doc = {
        "cgi": {k: v for k, v in environ.items() if "." not in k},
        "cgi_types": sorted({type(v).__name__ for k, v in environ.items() if "." not in k}),
        "wsgi": wsgi,
        "input_methods": [m for m in ("read", "readline", "readlines", "__iter__")
                          if hasattr(environ["wsgi.input"], m)],
        "errors_methods": [m for m in ("write", "writelines", "flush")
                           if hasattr(environ["wsgi.errors"], m)],
        "body_len": len(body),
        "body_parts": [len(p) for p in parts],
        "body_head": body[:64].decode("latin-1"),
        "body_tail": body[-64:].decode("latin-1"),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "environ_type": type(environ).__name__,
        "rss_kib": rss_kib(),
    }
    if q.get("log"):
        environ["wsgi.errors"].write("env_app says: %s\n" % q["log"])
    if q.get("print"):
        print("env_app prints: %s" % q["print"], file=sys.stderr)
    if q.get("dunder"):
        print("env_app prints: %s" % q["dunder"], file=sys.__stderr__)
    if q.get("kept"):
        _logger.warning("env_app logs: %s", q["kept"])
    out = json.dumps(doc, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]
