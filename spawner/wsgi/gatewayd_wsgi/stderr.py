"""The worker's stderr (fd 2, which gatewayd logs line by line): the worker's
own lines, and sys.stderr routed to the request being served."""

import sys

# The stream the interpreter opened on fd 2, kept for the worker's own lines
# and for wsgi.errors (sys.stderr becomes the router below).
REAL = sys.stderr


def log(msg):
    """One line of the worker's own to its stderr."""
    try:
        REAL.write(msg if msg.endswith("\n") else msg + "\n")
        REAL.flush()
    except (OSError, ValueError):
        pass


class StderrRouter:
    """sys.stderr (and sys.__stderr__) for the worker's whole life. Code that
    keeps the stream it found at start writes here too (logging.StreamHandler
    does: Django's LOGGING), so every write lands on the request being served,
    in its wsgi.errors (which carries the request id), or between requests on
    fd 2. What a caller asks beyond writing (fileno, isatty, encoding, ...)
    the real stream answers."""

    __slots__ = ("target",)

    def __init__(self):
        self.target = REAL

    def write(self, s):
        return self.target.write(s)

    def writelines(self, seq):
        self.target.writelines(seq)

    def flush(self):
        self.target.flush()

    def __getattr__(self, name):
        return getattr(REAL, name)


ROUTER = StderrRouter()


def install_router():
    """From now on sys.stderr and sys.__stderr__ are the router (before the
    application loads, so that what it keeps is the router)."""
    if REAL is not None:
        sys.stderr = sys.__stderr__ = ROUTER
