"""Applications that break PEP 3333 in the ways the worker must catch (not
behind wsgiref.validate, which would catch them first). "?case=NAME" picks
one; every one of them must leave the worker serving."""


def application(environ, start_response):
    case = environ.get("QUERY_STRING", "").partition("case=")[2]
    ok = [("Content-Type", "text/plain")]
    if case == "crlf-in-value":
        start_response("200 OK", ok + [("X-Evil", "a\r\nSet-Cookie: injected=1")])
    elif case == "lf-in-name":
        start_response("200 OK", ok + [("X-Evil\nX-More", "a")])
    elif case == "not-latin1":
        start_response("200 OK", ok + [("X-Name", "caf\u00e9 \u20ac")])
    elif case == "bytes-header":
        start_response("200 OK", ok + [(b"X-Bytes", b"v")])
    elif case == "not-a-tuple":
        start_response("200 OK", ok + ["X-Whole: line"])
    elif case == "bad-status":
        start_response("OK", ok)
    elif case == "bytes-status":
        start_response(b"200 OK", ok)
    elif case == "twice":
        start_response("200 OK", ok)
        start_response("200 OK", ok)
    elif case == "no-start-response":
        return [b"body without a status"]
    elif case == "str-body":
        start_response("200 OK", ok)
        return ["a str, not bytes"]
    elif case == "str-body-iter":
        start_response("200 OK", ok)
        return iter([b"bytes first, ", "then a str"])
    elif case == "short":
        start_response("200 OK", ok + [("Content-Length", "100")])
        return iter([b"only ten b"])
    elif case == "short-list":
        start_response("200 OK", ok + [("Content-Length", "100")])
        return [b"only ten b"]
    elif case == "long":
        start_response("200 OK", ok + [("Content-Length", "5")])
        return iter([b"12345", b"6789"])
    elif case == "long-list":
        start_response("200 OK", ok + [("Content-Length", "5")])
        return [b"123456789"]
    elif case == "hop-by-hop":
        start_response("200 OK", ok + [("Connection", "close"), ("Keep-Alive", "timeout=5"),
                                       ("Transfer-Encoding", "chunked"), ("X-Kept", "yes")])
        return [b"hop-by-hop headers dropped\n"]
    elif case == "no-length":
        start_response("200 OK", ok)
        return [b"twelve bytes"]
    elif case == "no-length-iter":
        start_response("200 OK", ok)
        return iter([b"streamed ", b"without a length"])
    elif case == "empty":
        start_response("204 No Content", [])
        return []
    elif case == "close-raises":
        start_response("200 OK", ok)
        return ClosingBadly()
    elif case == "none":
        start_response("200 OK", ok)
        return None
    else:
        start_response("200 OK", ok)
        return [b"fine\n"]
    return [b"should not get here\n"]


class ClosingBadly:
    def __iter__(self):
        yield b"body then a failing close()\n"

    def close(self):
        raise RuntimeError("close() failing on purpose")
