"""The PEP 3333 core, shared by the three modes: start_response and write,
checking and rendering the response head, sending what the application
returned, and the 500 when it fails."""

import os
import stat
import sys

from .stderr import REAL, ROUTER, log


class ClientGone(OSError):
    """The peer (gatewayd, the web server) went away while we were answering."""


HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "status"))
HEAD_CACHE = 256
JOIN_LIMIT = 1 << 20  # a list response up to this size goes out in one piece


class FileWrapper:
    """wsgi.file_wrapper. Served with os.sendfile() when the file is a real
    file; iterated in blksize blocks otherwise."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def _bad_header(what):
    return ValueError("invalid response header: %s" % what)


def build_head(prefix, status, headers):
    """Check status and headers (PEP 3333: native strings, latin-1) and render
    the head without its final blank line. Returns (head bytes, Content-Length
    or -1)."""
    if type(status) is not str:
        raise TypeError("status must be str, not %s" % type(status).__name__)
    if len(status) < 4 or not status[:3].isdigit() or status[3] != " " or "\n" in status \
            or "\r" in status:
        raise ValueError("invalid status %r (want '200 OK')" % (status,))
    if type(headers) is not list and type(headers) is not tuple:
        raise TypeError("response_headers must be a list, not %s" % type(headers).__name__)
    lines = [prefix, status, "\r\n"]
    length = -1
    for h in headers:
        if type(h) is not tuple or len(h) != 2:
            raise TypeError("a response header must be a (name, value) tuple: %r" % (h,))
        name, value = h
        if type(name) is not str or type(value) is not str:
            raise TypeError("header name and value must be str: %r" % (h,))
        lname = name.lower()
        if lname in HOP_BY_HOP:
            continue  # the server's business (PEP 3333: not the application's)
        if not name or ":" in name or " " in name or "\t" in name:
            raise _bad_header(repr(name))
        if lname == "content-length":
            try:
                length = int(value)
            except ValueError:
                raise _bad_header("Content-Length %r" % (value,)) from None
            if length < 0:
                raise _bad_header("Content-Length %r" % (value,))
        lines += (name, ": ", value, "\r\n")
    head = "".join(lines)
    # One pass for the whole block: a CR or LF inside a name or value shows up
    # as a line count that does not match.
    nl = 1 + (len(lines) - 3) // 4
    if head.count("\n") != nl or head.count("\r") != nl:
        raise _bad_header("CR or LF inside a header")
    try:
        return head.encode("latin-1"), length
    except UnicodeEncodeError:
        raise _bad_header("not latin-1: %r" % (head,)) from None


ERROR_BODY = b"Internal Server Error\n"


class Response:
    """One request's answer: start_response, write and the sending rules
    (headers go out with the first non-empty body block)."""

    __slots__ = ("out", "head", "sent", "left", "status")

    def __init__(self, out):
        self.out = out        # the protocol's writer
        self.head = None      # bytes, set by start_response
        self.sent = False     # head sent
        self.left = -1        # Content-Length still owed, -1: none declared
        self.status = None

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.head is not None:
            raise AssertionError("start_response() called again without exc_info")
        # The same status and headers come back request after request: their
        # checked, rendered head is kept (a bounded cache per protocol).
        cache = self.out.heads
        try:
            key = (status, *headers)
            self.head, self.left = cache[key]
        except (KeyError, TypeError):
            self.head, self.left = built = build_head(self.out.prefix, status, headers)
            if len(cache) >= HEAD_CACHE:
                cache.clear()
            cache[(status, *headers)] = built
        self.status = status
        return self.write

    def write(self, data):
        """The write() callable (and the body sender)."""
        if self.head is None:
            raise AssertionError("write() before start_response()")
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("response data must be bytes, not %s" % type(data).__name__)
        left = self.left
        if left >= 0:
            if len(data) > left:
                data = data[:left]
            self.left = left - len(data)
        if not self.sent:
            self.sent = True
            self.out.send(self.head + b"\r\n" + data)
        elif data:
            self.out.send(data)


def _format_exc():
    """The traceback of the exception being handled, without the worker's own
    frames in front of the application's."""
    import traceback  # on the error path only: it costs a CGI start 7 ms
    etype, value, tb = sys.exc_info()
    mine = globals()
    while tb is not None and tb.tb_frame.f_globals is mine:
        tb = tb.tb_next
    return "".join(traceback.format_exception(etype, value, tb))


def _write_exc(errors, environ, what):
    try:
        errors.write("%s: %s %s\n%s" % (
            what, environ.get("REQUEST_METHOD", "?"), environ.get("REQUEST_URI") or
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            _format_exc()))
        errors.flush()
    except Exception:
        import traceback
        log(traceback.format_exc())


def error_head(prefix):
    return ("%s500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %d\r\n\r\n" % (prefix, len(ERROR_BODY))).encode("latin-1") + ERROR_BODY


def _sendfile(r, wrapper):
    """Serve a FileWrapper over a real file with sendfile. False: not possible
    (the caller iterates instead)."""
    out = r.out
    if out.sendfile is None:
        return False
    f = wrapper.filelike
    try:
        fd = f.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        offset = f.tell() if hasattr(f, "tell") else os.lseek(fd, 0, os.SEEK_CUR)
    except (AttributeError, OSError, ValueError):
        return False
    count = max(0, st.st_size - offset)
    if r.left >= 0 and r.left < count:
        count = r.left
    if not r.sent:
        r.sent = True
        out.send(r.head + b"\r\n")
    sent = out.sendfile(fd, offset, count)
    if r.left >= 0:
        r.left -= sent
    return True


def _no_body(environ, status):
    return environ["REQUEST_METHOD"] == "HEAD" or status[0] == "1" or \
        status[:3] in ("204", "304")


def _short(r, errors):
    errors.write("response cut: %d bytes short of its Content-Length\n" % r.left)
    errors.flush()
    return False


def _send_result(r, result, environ, errors):
    """Send what the application returned. True: the response went out whole
    (and, FastCGI, ended); False: it was cut short."""
    out = r.out
    rtype = type(result)
    if rtype is list and r.head is not None and not r.sent and len(result) <= 64:
        # The whole body is here: one send with the head (and the end of the
        # request), with a Content-Length when the application gave none.
        for b in result:
            if type(b) is not bytes:
                raise TypeError("response data must be bytes, not %s" % type(b).__name__)
        body = result[0] if len(result) == 1 else b"".join(result)
        if len(body) <= JOIN_LIMIT:
            left = r.left
            r.sent = True
            if left >= 0:
                if len(body) < left:
                    r.left = left - len(body)
                    out.send(r.head + b"\r\n" + body)
                    return _short(r, errors)
                body = body[:left] if len(body) > left else body
                r.left = 0
                head = r.head + b"\r\n"
            elif _no_body(environ, r.status):
                head = r.head + b"\r\n"
            else:
                head = r.head + b"Content-Length: %d\r\n\r\n" % len(body)
            out.send_last(head + body)
            return True
    elif rtype is FileWrapper and r.head is not None and _sendfile(r, result):
        result = ()
    write = r.write
    for b in result:
        if b:
            left = r.left
            if 0 < left <= len(b) and type(b) is bytes:
                # This block completes the declared Content-Length: iteration
                # stops here (PEP 3333), and the block goes out with the end
                # of the request in one write.
                if len(b) > left:
                    b = b[:left]
                r.left = 0
                if r.sent:
                    out.send_last(b)
                else:
                    r.sent = True
                    out.send_last(r.head + b"\r\n" + b)
                return True
            write(b)
            if r.left == 0:
                break
        elif type(b) is not bytes:
            raise TypeError("response data must be bytes, not %s" % type(b).__name__)
    if r.head is None:
        raise AssertionError("the application returned without calling start_response()")
    if r.left > 0:
        if not r.sent:
            r.sent = True
            out.send(r.head + b"\r\n")
        return _short(r, errors)
    if r.sent:
        out.send_last(b"")
    else:
        r.sent = True
        if r.left < 0 and not _no_body(environ, r.status):
            out.send_last(r.head + b"Content-Length: 0\r\n\r\n")
        else:
            out.send_last(r.head + b"\r\n")
    return True


def run_app(app, environ, out, errors):
    """Call the application and send its answer through out. True when the
    response went out whole, False when it was cut (the protocol then tells
    the peer so: uwsgi closes, FastCGI closes without END_REQUEST)."""
    ROUTER.target = errors
    try:
        return _run_app(app, environ, out, errors)
    finally:
        ROUTER.target = REAL


def _run_app(app, environ, out, errors):
    r = Response(out)
    result = None
    try:
        result = app(environ, r.start_response)
        if type(result) is list and len(result) == 1 and type(result[0]) is bytes \
                and r.head is not None and not r.sent and r.left == len(result[0]):
            # The common case: one block, its Content-Length given; one send
            # with the head (and, FastCGI, the end of the request). A list
            # has no close().
            r.sent = True
            out.send_last(r.head + b"\r\n" + result[0])
            return True
        whole = _send_result(r, result, environ, errors)
    except ClientGone:
        whole = False
    except Exception:
        _write_exc(errors, environ, "exception in the application")
        whole = False
        if not r.sent:
            try:
                out.send_last(error_head(out.prefix))
                whole = True
            except ClientGone:
                pass
    if result is not None:
        # PEP 3333: close() always, whatever happened (after the answer is
        # out, so that the peer does not wait for it).
        close = getattr(result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                _write_exc(errors, environ, "exception in the response's close()")
    return whole

