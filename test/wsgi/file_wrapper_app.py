"""wsgi.file_wrapper: a real file (sendfile when the worker can), or a file-like
object without a descriptor (block reads). "?bytes=N" makes a file of N bytes;
"?kind=bytesio" serves an in-memory file instead; "?offset=K" starts K bytes in;
"?cl=N" declares that Content-Length."""
import io
import os
import tempfile


def _pattern(n):
    return (b"0123456789" * (n // 10 + 1))[:n]


def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    n = int(q.get("bytes", "100000"))
    offset = int(q.get("offset", "0"))
    if q.get("kind") == "bytesio":
        f = io.BytesIO(_pattern(n))
    else:
        f = tempfile.TemporaryFile()
        f.write(_pattern(n))
        f.flush()
    f.seek(offset)
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    start_response("200 OK", headers)
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:
        return iter(lambda: f.read(8192), b"")
    return wrapper(f, 32768)
