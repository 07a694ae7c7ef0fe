"""The listening socket gatewayd passes on fd 0 (the FastCGI convention:
FCGI_LISTENSOCK_FILENO): taken over at start, the connections it brings
handed to the worker loops."""

import errno
import itertools
import os
import socket
import time

from . import stopping
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


def connections(lsock):
    """The descriptors of the connections accepted on lsock, one at a time
    (TCP_NODELAY set on TCP), until the stop signal; then those already
    waiting in the backlog (see _left_in_backlog). The worker is idle while it
    waits for the next, busy from the moment one is yielded."""
    accept = lsock._accept
    tcp = lsock.family in (socket.AF_INET, socket.AF_INET6)
    while True:
        try:
            stopping.idle = True
            if stopping.stop:
                break
            fd = accept()[0]
        except stopping.Stop:  # the signal came while idle (in accept, mostly)
            break
        except OSError as e:
            if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EINTR):
                continue  # given up by the peer, or a signal: the next one
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log("accept: %s" % e.strerror)
                time.sleep(0.1)  # a pause rather than a spin
                continue
            raise
        stopping.idle = False
        if tcp:
            _nodelay(fd)
        yield fd
    yield from _left_in_backlog(lsock, tcp)


def _left_in_backlog(lsock, tcp):
    """After the stop signal: the connections already in the backlog, then
    the socket closed. gatewayd may have sent a request to this worker in the
    moment before it was told to stop (a claim on the board races with the
    master's drain); dropped, that request would get a 502 though nothing
    ran it. Once the socket is closed a connect is refused at once, and
    gatewayd tries another worker."""
    stopping.idle = False  # from here a second signal changes nothing
    lsock.setblocking(False)
    waiting = []
    while True:
        try:
            waiting.append(lsock._accept()[0])
        except OSError:
            break
    lsock.close()
    for fd in waiting:
        if tcp:
            _nodelay(fd)
        yield fd


def first_speaks(conns):
    """Without --protocol: the protocol the first request on conns speaks,
    and conns with that connection put back first. A FastCGI record starts
    with its version, 1; a uwsgi packet with modifier1, 0 for WSGI (anything
    else is left to the uwsgi loop, which says what it got). A connection
    closed before a byte (gatewayd's wake-up of a stopping worker) is closed
    and the next one looked at. (None, conns) if none came before the stop."""
    for fd in conns:
        sock = socket.socket(fileno=fd)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        sock.detach()
        if not first:
            os.close(fd)
            continue
        proto = "fastcgi" if first[0] == 1 else "uwsgi"
        return proto, itertools.chain((fd,), conns)
    return None, conns


def _nodelay(fd):
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    sock.detach()
