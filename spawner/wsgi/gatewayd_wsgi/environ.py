"""The environ every request starts from: the wsgi.* keys, and the CGI
variables PEP 3333 wants present when a peer leaves some out."""

from .response import FileWrapper


def base_environ(errors, run_once):
    return {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": errors,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": run_once,
        "wsgi.file_wrapper": FileWrapper,
    }


def fix_environ(env):
    """The CGI variables PEP 3333 wants present, for peers that leave some
    out."""
    if "REQUEST_METHOD" not in env:
        env["REQUEST_METHOD"] = "GET"
    if not env.get("SERVER_NAME"):
        env["SERVER_NAME"] = env.get("HTTP_HOST", "localhost").rsplit(":", 1)[0] or "localhost"
    if not env.get("SERVER_PORT"):
        env["SERVER_PORT"] = "443" if env["wsgi.url_scheme"] == "https" else "80"
    if "SERVER_PROTOCOL" not in env:
        env["SERVER_PROTOCOL"] = "HTTP/1.0"
    if "SCRIPT_NAME" not in env:
        env["SCRIPT_NAME"] = ""
    if "PATH_INFO" not in env:
        env["PATH_INFO"] = ""
    if env["SCRIPT_NAME"] == "/":
        env["SCRIPT_NAME"] = ""
        env["PATH_INFO"] = "/" + env["PATH_INFO"].lstrip("/")
    if "QUERY_STRING" not in env:
        env["QUERY_STRING"] = ""
    env.pop("HTTP_CONTENT_TYPE", None)
    env.pop("HTTP_CONTENT_LENGTH", None)


HTTPS_ON = frozenset(("on", "ON", "On", "1", "yes", "true"))


REQUIRED = frozenset(("REQUEST_METHOD", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
                      "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"))


def finish_environ(env):
    """wsgi.url_scheme, and the checks above only when something is missing."""
    if ("HTTPS" in env and env["HTTPS"] in HTTPS_ON) or env.get("REQUEST_SCHEME") == "https":
        env["wsgi.url_scheme"] = "https"
    if not REQUIRED.issubset(env) or env["SCRIPT_NAME"] == "/" or not env["SERVER_PORT"] \
            or not env["SERVER_NAME"] or "HTTP_CONTENT_LENGTH" in env \
            or "HTTP_CONTENT_TYPE" in env:
        fix_environ(env)


def content_length(env):
    """CONTENT_LENGTH as a number; -1 when absent, empty or not a number."""
    cl = env.get("CONTENT_LENGTH")
    if not cl:
        return -1
    if cl.isdigit() and cl.isascii():
        return int(cl)
    return -1

