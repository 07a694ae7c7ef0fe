"""The uwsgi worker loop: one packet (header, vars), the body raw; the answer
an HTTP response; the connection closed at its end."""

import errno
import os
import socket

from .environ import base_environ, content_length, finish_environ
from .errors import Errors
from .fd_out import FdOut
from .response import ClientGone, run_app
from .stderr import log
from .uwsgi_vars import parse_vars
from .wsgi_input import EMPTY_INPUT, READ_CHUNK, Input

UWSGI_BUF = 2 * 65536 + 16  # header, vars, a first piece of body; margin for the parser


class UwsgiOut(FdOut):
    """The answer's writer on a uwsgi connection (fd set per request)."""

    __slots__ = ()
    prefix = "HTTP/1.1 "
    heads = {}

    def recv(self, n):
        return os.read(self.fd, n)


def _uwsgi_finish(fd, inp, cut):
    """End the exchange. Unread body bytes still coming in would make our
    close look like a reset to the peer (it would take the answer for cut),
    so then: half-close, let the peer see our end, drain what it still sends
    (bounded in bytes and time), close."""
    left = inp.finish()
    if left <= 0 or cut:
        os.close(fd)
        return
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5.0)
        while left > 0:
            n = len(sock.recv(min(left, READ_CHUNK)))
            if not n:
                break
            left -= n
    except OSError:
        pass
    sock.close()


def _uwsgi_bad(fd, why):
    log("uwsgi: %s: connection closed" % why)
    os.close(fd)


HTTP_STARTS = (b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"PATC", b"PRI ",
               b"CONN", b"TRAC")


def serve_uwsgi(lsock, conns, app):
    buf = bytearray(UWSGI_BUF)
    view = memoryview(buf)
    bufs = [buf]
    readv = os.readv
    errors = Errors()
    out = UwsgiOut()
    base = base_environ(errors, False)
    for fd in conns:
        try:
            n = readv(fd, bufs)
            if n < 4:
                if n == 0:
                    os.close(fd)  # a readiness probe, or a peer that changed its mind
                    continue
                while n < 4:
                    got = readv(fd, [view[n:]])
                    if not got:
                        break
                    n += got
                if n < 4:
                    _uwsgi_bad(fd, "truncated packet header (%d bytes)" % n)
                    continue
            if buf[0]:
                if bytes(buf[0:4]) in HTTP_STARTS:
                    _uwsgi_bad(fd, "HTTP sent to a uwsgi socket (%r...)" % bytes(buf[:16]))
                else:
                    _uwsgi_bad(fd, "packet with modifier1 %d (only 0, WSGI, is served)" % buf[0])
                continue
            total = 4 + (buf[1] | buf[2] << 8)
            while n < total:
                got = readv(fd, [view[n:]])
                if not got:
                    break
                n += got
            if n < total:
                _uwsgi_bad(fd, "truncated packet (%d of %d bytes)" % (n, total))
                continue
            env = parse_vars(buf, total)
            if env is None:
                _uwsgi_bad(fd, "malformed vars (a size past the block, or an empty key)")
                continue
            env.update(base)
            finish_environ(env)
            clen = content_length(env) if "CONTENT_LENGTH" in env else -1
            if clen > 0:
                prefix = bytes(view[total:min(n, total + clen)])
                inp = Input(prefix, clen - len(prefix), out.recv)
            else:
                inp = EMPTY_INPUT
            env["wsgi.input"] = inp
            errors.rid = env.get("GATEWAY_REQUEST_ID")
            out.fd = fd
            whole = run_app(app, env, out, errors)
            errors.flush()  # a line the application left unended
            out.fd = -1
            if inp is EMPTY_INPUT:
                os.close(fd)
            else:
                _uwsgi_finish(fd, inp, not whole)
        except OSError as e:
            if not isinstance(e, ClientGone) and e.errno not in (
                    errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                log("uwsgi: %s" % e)
            try:
                os.close(fd)
            except OSError:
                pass

