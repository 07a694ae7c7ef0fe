"""wsgi.errors: the application's text lines to gatewayd's error log."""

from .stderr import REAL


class Errors:
    """wsgi.errors: text lines to a log. To stderr, with the request id in
    front when there is one (uwsgi), or to a sink (FastCGI: STDERR records,
    which gatewayd logs with the request id). While the application runs,
    what it writes to sys.stderr comes here too (stderr.StderrRouter), so it
    carries the request id as well; what it asks of a file beyond writing
    (fileno, isatty, encoding, ...) the real stderr answers."""

    __slots__ = ("rid", "_part", "_sink")

    def __init__(self, sink=None):
        self.rid = None
        self._part = ""
        self._sink = sink

    def write(self, s):
        if type(s) is not str:
            if isinstance(s, (bytes, bytearray)):
                s = bytes(s).decode("utf-8", "replace")
            else:
                raise TypeError("wsgi.errors.write() argument must be str, not %s"
                                % type(s).__name__)
        n = len(s)
        if self._sink is not None:
            self._sink(s)
            return n
        s = self._part + s
        nl = s.rfind("\n")
        if nl < 0:
            self._part = s
        else:
            self._part = s[nl + 1:]
            self._emit(s[:nl + 1])
        return n

    def _emit(self, text):
        if self.rid:
            text = "".join("[%s] %s\n" % (self.rid, line) for line in text.splitlines())
        try:
            REAL.write(text)
            REAL.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(REAL, name)

    def writelines(self, seq):
        for s in seq:
            self.write(s)

    def flush(self):
        if self._sink is not None:
            self._sink(None)
        elif self._part:
            part, self._part = self._part, ""
            self._emit(part + "\n")
