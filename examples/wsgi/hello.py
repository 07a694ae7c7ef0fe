#!/usr/bin/python3
"""A plain PEP 3333 application: the WSGI hello of gatewayd's demo.

Runs under gatewayd-wsgi (uwsgi or FastCGI pool: "hello:application"), as a
CGI program (gatewayd-wsgi --cgi, or this file run directly: the stdlib's
CGIHandler), or under any WSGI server.
"""
import os

_requests = 0


def application(environ, start_response):
    global _requests
    _requests += 1
    body = ("Hello from WSGI, pid %d, request %d\n" % (os.getpid(), _requests)).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    from wsgiref.handlers import CGIHandler
    CGIHandler().run(application)
