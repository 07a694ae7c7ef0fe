"""--cgi: the application run once as a CGI program (RFC 3875): environ from
the process environment, the body on stdin, the answer on stdout."""

import os
import sys

from .environ import base_environ, content_length, finish_environ
from .errors import Errors
from .fd_out import FdOut
from .response import run_app
from .wsgi_input import Input


class CgiOut(FdOut):
    """The answer's writer on stdout."""

    __slots__ = ()
    prefix = "Status: "
    heads = {}
    gone = "stdout closed"


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

