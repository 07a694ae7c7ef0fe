"""An application that never reads its request body: the worker must still
end the exchange cleanly and serve the next request."""


def application(environ, start_response):
    body = b"ignored a body of %s bytes\n" % environ.get("CONTENT_LENGTH", "0").encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
