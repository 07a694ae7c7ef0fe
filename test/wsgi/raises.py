"""An application that raises: before start_response (application), and after
the headers and a first block went out (after_headers). gatewayd-wsgi answers
the first with a 500 and cuts the second; the worker lives on."""


def application(environ, start_response):
    raise RuntimeError("raised on purpose by test/wsgi/raises.py")


def after_headers(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first block\n"
    raise RuntimeError("raised on purpose after the headers went out")
