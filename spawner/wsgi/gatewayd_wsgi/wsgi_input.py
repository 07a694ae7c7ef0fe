"""wsgi.input: the request body, read from the peer as the application asks."""

READ_CHUNK = 65536


class Input:
    """wsgi.input: the request body, streamed from the peer as the application
    reads it, ending at CONTENT_LENGTH (an end of file is simulated there)."""

    __slots__ = ("_buf", "_pos", "_left", "_pull")

    def __init__(self, prefix, left, pull):
        self._buf = prefix   # bytes received, not yet read by the application
        self._pos = 0
        self._left = left    # bytes still to pull from the peer
        self._pull = pull    # pull(n) -> up to n bytes, maybe more (FastCGI); b"" at EOF

    def _take(self, want):
        """The next piece of the body from the peer, up to want bytes or more
        (a FastCGI record brings what it holds) but never past the body's
        end; b"" at that end."""
        left = self._left
        if left <= 0:
            return b""
        data = self._pull(left if left < want else want)
        if not data:
            self._left = 0  # the peer ended early: that is the end
            return b""
        if len(data) > left:
            data = data[:left]
        self._left = left - len(data)
        return data

    def _more(self, want):
        """Append the next piece to the buffer; False at the end of the body."""
        data = self._take(want)
        if not data:
            return False
        buf, pos = self._buf, self._pos
        self._buf = buf[pos:] + data if pos < len(buf) else data
        self._pos = 0
        return True

    def unread(self):
        """Bytes of the body the peer has not sent us yet (or we not taken)."""
        return self._left

    def finish(self):
        """The request is over: an application that kept this stream reads an
        end of file from now on, never the next request's body. Returns what
        was left unread on the wire."""
        left = self._left
        self._left = 0
        self._buf = b""
        self._pos = 0
        self._pull = None
        return left

    def read(self, size=-1):
        buf, pos = self._buf, self._pos
        if size is None or size < 0:
            parts = [buf[pos:]]
            self._buf, self._pos = b"", 0
            data = self._take(READ_CHUNK)
            while data:
                parts.append(data)
                data = self._take(READ_CHUNK)
            return b"".join(parts)
        avail = len(buf) - pos
        if size <= avail:
            self._pos = pos + size
            return buf[pos:pos + size]
        parts = [buf[pos:]] if avail else []
        need = size - avail
        self._buf, self._pos = b"", 0
        while need > 0:
            data = self._take(need)
            if not data:
                break
            if len(data) > need:  # a FastCGI record brought more than asked
                self._buf = data
                self._pos = need
                data = data[:need]
            parts.append(data)
            need -= len(data)
        return b"".join(parts)

    def readline(self, size=-1):
        if size is None:
            size = -1
        while True:
            buf, pos = self._buf, self._pos
            end = len(buf) if size < 0 else min(len(buf), pos + size)
            nl = buf.find(b"\n", pos, end)
            if nl >= 0:
                self._pos = nl + 1
                return buf[pos:nl + 1]
            if end - pos == size or not self._more(READ_CHUNK):
                self._pos = end
                return buf[pos:end]

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if line:
            return line
        raise StopIteration


EMPTY_INPUT = Input(b"", 0, None)  # no body: one shared, stateless empty stream
