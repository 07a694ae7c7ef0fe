"""The answer's writer on a bare descriptor, for uwsgi (the connection) and
CGI (stdout): no socket object per request, so fewer system calls."""

import errno
import os

from .response import ClientGone
from .wsgi_input import READ_CHUNK


class FdOut:
    """Sends to fd; a failed write means the peer is gone (ClientGone). A
    protocol's subclass names its response head's prefix and keeps its own
    cache of rendered heads."""

    __slots__ = ("fd", "sendfile")
    gone = "peer went away"  # a failed write, in words

    def __init__(self, fd=-1):
        self.fd = fd
        self.sendfile = self._sendfile

    def send(self, data):
        try:
            n = os.write(self.fd, data)
            if n < len(data):
                mv = memoryview(data)[n:]
                while mv:
                    mv = mv[os.write(self.fd, mv):]
        except OSError as e:
            raise ClientGone(e.errno, "%s: %s" % (self.gone, e.strerror)) from None

    def send_last(self, data):
        if data:
            self.send(data)

    def _sendfile(self, fd, offset, count):
        """count bytes of the file fd from offset, by the kernel, or copied
        where it cannot (EINVAL, ENOSYS); fewer when the file shrank."""
        sent = 0
        try:
            while sent < count:
                n = os.sendfile(self.fd, fd, offset + sent, min(count - sent, 1 << 30))
                if n == 0:
                    break  # the file shrank
                sent += n
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOSYS) and sent == 0:
                return self._copy(fd, offset, count)
            raise ClientGone(e.errno, "%s: %s" % (self.gone, e.strerror)) from None
        return sent

    def _copy(self, fd, offset, count):
        sent = 0
        while sent < count:
            data = os.pread(fd, min(count - sent, READ_CHUNK), offset + sent)
            if not data:
                break
            self.send(data)
            sent += len(data)
        return sent
