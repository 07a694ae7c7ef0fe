"""An application that sends its body with the write() callable start_response
returns (the pre-iterable way), then returns one more block."""


def application(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written 1\n")
    write(b"")
    write(b"written 2\n")
    return [b"returned 3\n"]
