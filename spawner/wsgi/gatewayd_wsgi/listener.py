"""The listening socket gatewayd passes on fd 0 (the FastCGI convention:
FCGI_LISTENSOCK_FILENO): taken over at start, accepted from by the worker
loops."""

import errno
import os
import socket
import time

from .stderr import log


def take_fd0():
    """The listening socket on fd 0, moved off it (close-on-exec); fd 0
    becomes /dev/null for the application's children and stdout joins stderr
    (print() lands in gatewayd's log, as under uWSGI). OSError, with nothing
    moved, when fd 0 is no listening stream socket."""
    lfd = os.dup(0)
    lsock = socket.socket(fileno=lfd)
    if lsock.type != socket.SOCK_STREAM:
        raise OSError(errno.ENOTSOCK, "not a stream socket")
    if not lsock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise OSError(errno.EINVAL, "a socket, but not listening")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    return lsock


def accept_fd(accept):
    """The next connection's descriptor from accept (a socket's _accept), or
    -1 to try again: the peer gave the connection up, a signal came, or the
    descriptors ran out (said, and a pause rather than a spin)."""
    try:
        return accept()[0]
    except OSError as e:
        if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
            return -1
        if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            log("accept: %s" % e.strerror)
            time.sleep(0.1)
            return -1
        raise
