"""--cgi: the application run once as a CGI program (RFC 3875): environ from
the process environment, the body on stdin, the answer on stdout."""

import errno
import os
import sys

from .environ import base_environ, content_length, finish_environ
from .errors import Errors
from .response import ClientGone, run_app
from .wsgi_input import READ_CHUNK, Input


class CgiOut:
    prefix = "Status: "
    heads = {}

    def __init__(self, fd=1):
        self.fd = fd
        self.sendfile = self._sendfile

    def send(self, data):
        mv = memoryview(data)
        try:
            while mv:
                n = os.write(self.fd, mv)
                mv = mv[n:]
        except OSError as e:
            raise ClientGone(e.errno, "stdout closed: %s" % e.strerror) from None

    send_last = send

    def _sendfile(self, fd, offset, count):
        sent = 0
        try:
            while sent < count:
                n = os.sendfile(self.fd, fd, offset + sent, count - sent)
                if n == 0:
                    break
                sent += n
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOSYS) or sent:
                raise ClientGone(e.errno, "stdout closed: %s" % e.strerror) from None
            while sent < count:
                data = os.pread(fd, min(count - sent, READ_CHUNK), offset + sent)
                if not data:
                    break
                self.send(data)
                sent += len(data)
        return sent


def run_cgi(app):
    errors = Errors()
    env = base_environ(errors, True)
    environb = getattr(os, "environb", None)
    if environb is not None:
        for k, v in environb.items():
            env[k.decode("latin-1")] = v.decode("latin-1")
    else:
        for k, v in os.environ.items():
            env[k] = v.encode("utf-8", "surrogateescape").decode("latin-1")
    finish_environ(env)
    clen = content_length(env)
    stdin = sys.stdin.buffer if sys.stdin is not None else None

    def pull(n):
        return stdin.read1(n) if stdin is not None else b""

    env["wsgi.input"] = Input(b"", max(clen, 0), pull)
    sys.stdout.flush()
    whole = run_app(app, env, CgiOut(sys.stdout.fileno()), errors)
    errors.flush()
    return 0 if whole else 1

