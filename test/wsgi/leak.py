"""An application that leaks memory on purpose: every request appends 1 MiB
("?kib=N" for another amount) to a global list, and says how much it holds
and the process's RSS. For max_requests (or an RSS limit) to recycle."""
import os

from env_app import rss_kib

_hoard = []


def application(environ, start_response):
    kib = 1024
    for part in environ.get("QUERY_STRING", "").split("&"):
        if part.startswith("kib="):
            kib = int(part[4:])
    _hoard.append(bytearray(os.urandom(16)) * (kib * 64))  # touched, so it counts in RSS
    body = ("pid %d holds %d blocks, rss %d KiB\n" % (os.getpid(), len(_hoard),
                                                      rss_kib())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
