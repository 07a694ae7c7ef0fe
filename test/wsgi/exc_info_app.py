"""start_response with exc_info.

application: an error after the headers and a first block went out; calling
start_response(..., exc_info) then re-raises (PEP 3333), and the response is cut.
before: an error before anything was sent; start_response(..., exc_info)
replaces the status and headers with an error page of the application's own."""
import sys


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"a first block\n"
    try:
        raise ValueError("failed after the headers")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    yield b"never sent\n"


def before(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Replaced", "no")])
    try:
        raise ValueError("failed before the headers")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                   ("X-Replaced", "yes")], sys.exc_info())
    yield b""
    yield b"the application's own error page\n"
