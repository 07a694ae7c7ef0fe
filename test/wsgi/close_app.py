"""Counts close() calls on the iterables it returns, whatever the path: a
normal answer, an exception while iterating, the client gone. GET ?count
says how many requests and closes it has seen; ?fail raises mid-iteration;
?big yields 64 MiB (for a client that goes away in the middle)."""

state = {"requests": 0, "closed": 0}


class Body:
    def __init__(self, fail, big=False):
        self.fail = fail
        self.blocks = [b"one\n", b"two\n"] if not big else [b"x" * 65536] * 1024

    def __iter__(self):
        for b in self.blocks:
            yield b
            if self.fail:
                raise RuntimeError("failing mid-iteration on purpose")

    def close(self):
        state["closed"] += 1


def application(environ, start_response):
    q = environ.get("QUERY_STRING", "")
    if q == "count":
        body = b"requests=%d closed=%d\n" % (state["requests"], state["closed"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    state["requests"] += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Body(q == "fail", q == "big")
