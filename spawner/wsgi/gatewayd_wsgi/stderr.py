"""The worker's stderr (fd 2, which gatewayd logs line by line)."""

import sys

# The stream the interpreter opened on fd 2, kept for the worker's own lines
# and for wsgi.errors: sys.stderr is the request's wsgi.errors while the
# application runs.
REAL = sys.stderr


def log(msg):
    """One line of the worker's own to its stderr."""
    try:
        REAL.write(msg if msg.endswith("\n") else msg + "\n")
        REAL.flush()
    except (OSError, ValueError):
        pass

