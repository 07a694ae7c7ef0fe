"""The FastCGI worker loop: records; the connection kept (FCGI_KEEP_CONN) for
the next request."""

import _socket
import errno
import os
import socket
import sys

from . import stopping
from .environ import base_environ, content_length, finish_environ
from .errors import Errors
from .fastcgi_records import (
    FCGI_ABORT_REQUEST, FCGI_BEGIN_REQUEST, FCGI_GET_VALUES, FCGI_OVERLOADED,
    FCGI_GET_VALUES_RESULT, FCGI_KEEP_CONN, FCGI_MAX_CONTENT, FCGI_PARAMS, FCGI_RESPONDER,
    FCGI_STDERR, FCGI_STDIN, FCGI_STDOUT, FCGI_UNKNOWN_ROLE, FCGI_UNKNOWN_TYPE,
    begin_body, fcgi_encode_pairs, fcgi_end_request, fcgi_pairs, fcgi_record, fcgi_stream,
    pack_header, unpack_header)
from .response import ClientGone, run_app
from .stderr import log
from .wsgi_input import EMPTY_INPUT, Input

# Requests queued on one connection behind the one served, and their bytes.
QUEUE_MAX = 8
QUEUE_BYTES_MAX = 4 << 20

class FcgiConn:
    """One FastCGI connection: a record reader and the current request's
    writer (STDOUT, STDERR, END_REQUEST)."""

    __slots__ = ("sock", "data", "pos", "rid", "stdin_open", "aborted", "err_parts",
                 "err_used", "sendfile", "tail", "queued", "queued_bytes")
    prefix = "Status: "
    heads = {}

    def __init__(self, sock):
        self.sock = sock
        self.data = b""
        self.pos = 0
        self.rid = 0           # the request being served; 0 between requests
        self.stdin_open = False
        self.aborted = False
        self.err_parts = []
        self.err_used = False
        self.sendfile = self._sendfile
        self.tail = b""
        # Requests that came while another was served (FCGI_MPXS_CONNS=1),
        # in the order they began: request id -> their records so far.
        self.queued = {}
        self.queued_bytes = 0

    # -- reading ---------------------------------------------------------

    def next_record(self):
        """(type, request id, content), or None at the end of the connection.
        A queued request's records come first: the oldest one's between
        requests, the current one's while it is served."""
        if self.queued:
            rec = self.dequeue()
            if rec is not None:
                return rec
        data, pos = self.data, self.pos
        while True:
            avail = len(data) - pos
            if avail >= 8:
                version, rtype, rid, clen, plen = unpack_header(data, pos)
                if version != 1:  # not FastCGI (uwsgi, HTTP): no use waiting for the rest
                    raise ValueError("FastCGI record of version %d" % version)
                end = pos + 8 + clen
                if len(data) >= end + plen:
                    self.pos = end + plen
                    return rtype, rid, data[pos + 8:end]
            more = self.sock.recv(262144)
            if not more:
                if avail:
                    log("fastcgi: connection closed inside a record")
                self.data, self.pos = b"", 0
                return None
            data = data[pos:] + more if avail else more
            pos = 0
            self.data, self.pos = data, 0

    def dequeue(self):
        rid = self.rid or next(iter(self.queued))
        recs = self.queued.get(rid)
        if recs is None:
            return None
        rec = recs.pop(0)
        self.queued_bytes -= len(rec[2])
        if not recs:
            del self.queued[rid]
        return rec

    def forget(self, rid):
        """A request is over: what of it is still queued (a body the
        application did not read) is dropped, as later records of it are."""
        if self.queued:
            for rec in self.queued.pop(rid, ()):
                self.queued_bytes -= len(rec[2])

    def pending(self):
        """Is a request queued, or are bytes read and not yet parsed?"""
        return bool(self.queued) or self.pos < len(self.data)

    def management(self, rtype, rid, content):
        """Records outside any request: GET_VALUES answered, strays ignored."""
        if rid == 0:
            if rtype == FCGI_GET_VALUES:
                asked = fcgi_pairs(content) or {}
                known = {"FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": str(1 + QUEUE_MAX),
                         "FCGI_MPXS_CONNS": "1"}
                pairs = [(k.encode("latin-1"), known[k].encode())
                         for k in asked if k in known]
                self.raw_send(fcgi_record(FCGI_GET_VALUES_RESULT, 0, fcgi_encode_pairs(pairs)))
            else:
                self.raw_send(fcgi_record(FCGI_UNKNOWN_TYPE, 0, bytes((rtype,)) + b"\0" * 7))
        elif rid != self.rid and (rid in self.queued or rtype == FCGI_BEGIN_REQUEST):
            # Another request on this connection: served after this one, in
            # the order they began (one at a time; a peer that sends the next
            # request behind the current one saves the worker a wait).
            if rid not in self.queued and len(self.queued) >= QUEUE_MAX or \
                    self.queued_bytes + len(content) > QUEUE_BYTES_MAX:
                self.forget(rid)
                self.raw_send(fcgi_end_request(rid, 0, FCGI_OVERLOADED))
                return
            self.queued.setdefault(rid, []).append((rtype, rid, content))
            self.queued_bytes += len(content)
        elif rtype == FCGI_ABORT_REQUEST and rid == self.rid:
            self.aborted = True
            self.stdin_open = False
        # else: STDIN/PARAMS/DATA of a request that is over (a body the
        # application did not read), or of a request we refused: dropped.

    def pull_stdin(self, want):
        """The next STDIN bytes of the current request; b"" at its end."""
        while self.stdin_open:
            rec = self.next_record()
            if rec is None:
                self.stdin_open = False
                return b""
            rtype, rid, content = rec
            if rid == self.rid and rtype == FCGI_STDIN:
                if not content:
                    self.stdin_open = False
                return content
            self.management(rtype, rid, content)
        return b""

    # -- writing ---------------------------------------------------------

    def raw_send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ClientGone(e.errno, "peer went away: %s" % e.strerror) from None

    def send(self, data):
        if data:
            err = self.err_parts
            if err:
                self.err_parts = []
                self.raw_send(fcgi_stream(FCGI_STDERR, self.rid, "".join(err).encode(
                    "utf-8", "replace")) + fcgi_stream(FCGI_STDOUT, self.rid, data))
            else:
                self.raw_send(fcgi_stream(FCGI_STDOUT, self.rid, data))

    def send_last(self, data):
        """The last STDOUT bytes, the empty STDOUT record and END_REQUEST in
        one write (the errors' STDERR records before them)."""
        rid = self.rid
        if not self.err_used and len(data) <= FCGI_MAX_CONTENT:
            try:
                if data:
                    self.sock.sendall(pack_header(1, FCGI_STDOUT, rid, len(data), 0) + data
                                      + self.tail)
                else:
                    self.sock.sendall(self.tail)
            except OSError as e:
                raise ClientGone(e.errno, "peer went away: %s" % e.strerror) from None
            self.rid = 0
            return
        msg = fcgi_stream(FCGI_STDOUT, rid, data) if data else b""
        if self.err_used:
            self.err_used = False
            if self.err_parts:
                msg = fcgi_stream(FCGI_STDERR, rid, "".join(self.err_parts).encode(
                    "utf-8", "replace")) + msg
                self.err_parts = []
            msg = fcgi_record(FCGI_STDERR, rid) + msg
        self.raw_send(msg + self.tail)
        self.rid = 0

    def errors_sink(self, s):
        if s is None:  # flush
            if self.err_parts and self.rid:
                data = "".join(self.err_parts).encode("utf-8", "replace")
                self.err_parts = []
                self.raw_send(fcgi_stream(FCGI_STDERR, self.rid, data))
            return
        if not self.rid:
            log(s.rstrip("\n"))
            return
        self.err_parts.append(s)
        self.err_used = True
        if len(self.err_parts) > 64:
            self.errors_sink(None)

    def _sendfile(self, fd, offset, count):
        """A file's bytes as STDOUT records: each record's header, then the
        kernel copies its content. A file that shrinks under us leaves a
        record short: that is an error (the response is cut)."""
        sent = 0
        out = self.sock.fileno()
        rid = self.rid
        use_sendfile = True
        while sent < count:
            n = min(count - sent, FCGI_MAX_CONTENT)
            if use_sendfile:
                self.raw_send(pack_header(1, FCGI_STDOUT, rid, n, 0))
                got = 0
                try:
                    while got < n:
                        k = os.sendfile(out, fd, offset + sent + got, n - got)
                        if k == 0:
                            raise OSError(errno.EIO, "file shrank while being sent")
                        got += k
                except OSError as e:
                    if got == 0 and e.errno in (errno.EINVAL, errno.ENOSYS):
                        use_sendfile = False  # the header is out: its content follows
                        data = os.pread(fd, n, offset + sent)
                        if len(data) < n:
                            raise OSError(errno.EIO, "file shrank while being sent") from None
                        self.raw_send(data)
                    elif e.errno == errno.EIO:
                        raise
                    else:
                        raise ClientGone(e.errno, "peer went away: %s" % e.strerror) from None
            else:
                data = os.pread(fd, n, offset + sent)
                if len(data) < n:
                    raise OSError(errno.EIO, "file shrank while being sent")
                self.raw_send(pack_header(1, FCGI_STDOUT, rid, n, 0) + data)
            sent += n
        return sent


def serve_fastcgi(lsock, conns, app):
    family = lsock.family
    Sock = _socket.socket
    for fd in conns:
        sock = Sock(family, socket.SOCK_STREAM, 0, fd)
        try:
            fcgi_connection(sock, app)
        except (ClientGone, ConnectionError):
            pass
        except OSError as e:
            log("fastcgi: %s" % e)
        except ValueError as e:
            log("fastcgi: %s: connection closed" % e)
        finally:
            sock.close()


def fcgi_connection(sock, app):
    """Serve requests on one connection until the peer closes it (or asks us
    to, without FCGI_KEEP_CONN)."""
    conn = FcgiConn(sock)
    errors = Errors(conn.errors_sink)
    base = base_environ(errors, False)
    next_record = conn.next_record
    unpack = unpack_header
    tails = {}  # request id -> the empty STDOUT and END_REQUEST that end its answer
    first = True
    while True:
        stopping.idle = True
        if stopping.stop and not first and not conn.pending():
            return  # a connection taken after the stop signal brings its requests
        first = False
        rec = next_record()
        stopping.idle = False
        if rec is None:
            return
        rtype, rid, content = rec
        if rtype != FCGI_BEGIN_REQUEST or rid == 0:
            conn.management(rtype, rid, content)
            continue
        if len(content) < 8:
            raise ValueError("short BEGIN_REQUEST")
        role, flags = begin_body.unpack_from(content)
        if role != FCGI_RESPONDER:
            conn.raw_send(fcgi_end_request(rid, 0, FCGI_UNKNOWN_ROLE))
            continue
        conn.rid = rid
        conn.aborted = False
        conn.err_used = False
        tail = tails.get(rid)
        if tail is None:
            if len(tails) >= 16:
                tails.clear()
            tail = tails[rid] = fcgi_record(FCGI_STDOUT, rid) + fcgi_end_request(rid)
        conn.tail = tail
        # The params until their empty record, and maybe the empty STDIN: a
        # peer like gatewayd sends it all at once, and it is read at once.
        params = None
        stdin_done = False
        data, pos = conn.data, conn.pos
        if len(data) - pos >= 16 and rid not in conn.queued:
            _v, t, r, clen, plen = unpack(data, pos)
            end = pos + 8 + clen + plen
            if t == FCGI_PARAMS and r == rid and clen and len(data) >= end + 8:
                _v, t, r, clen2, plen2 = unpack(data, end)
                if t == FCGI_PARAMS and r == rid and not clen2 and len(data) >= end + 8 + plen2:
                    params = data[pos + 8:pos + 8 + clen]
                    pos = end + 8 + plen2
                    if len(data) - pos >= 8:
                        _v, t, r, clen3, plen3 = unpack(data, pos)
                        if t == FCGI_STDIN and r == rid and not clen3 and \
                                len(data) >= pos + 8 + plen3:
                            pos += 8 + plen3
                            stdin_done = True
                    conn.pos = pos
        if params is None:
            parts = []
            while True:
                rec = next_record()
                if rec is None:
                    return
                rtype, r, content = rec
                if r == rid and rtype == FCGI_PARAMS:
                    if not content:
                        break
                    parts.append(content)
                else:
                    conn.management(rtype, r, content)
                    if conn.aborted:
                        break
            if conn.aborted:
                conn.rid = 0
                conn.forget(rid)
                conn.raw_send(fcgi_end_request(rid, 0))
                continue
            params = b"".join(parts)
        env = fcgi_pairs(params)
        if env is None:
            raise ValueError("malformed FastCGI params")
        env.update(base)
        finish_environ(env)
        clen = content_length(env) if "CONTENT_LENGTH" in env else -1
        if stdin_done or clen == 0:
            inp = EMPTY_INPUT
        else:
            # Without a CONTENT_LENGTH the STDIN stream's own end ends the body.
            conn.stdin_open = True
            inp = Input(b"", clen if clen > 0 else sys.maxsize, conn.pull_stdin)
        env["wsgi.input"] = inp
        whole = run_app(app, env, conn, errors)
        if inp is not EMPTY_INPUT:
            inp.finish()
        if not whole:
            return  # closed without END_REQUEST: the peer sees the answer cut
        conn.stdin_open = False  # what is left of the body is dropped as it comes
        conn.forget(rid)
        if not flags & FCGI_KEEP_CONN:
            return

