"""Every test application behind wsgiref.validate.validator, on one mount:
the first PATH_INFO segment picks the application (/env, /raise, /after,
/ignore-body, /stream, /leak, /write, /exc-after, /exc-before, /file, /close,
/hello), the rest is its PATH_INFO. validator asserts PEP 3333 from both
sides: what the worker gives the application and what the application does
with it."""
import os
import sys
from wsgiref.validate import validator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples", "wsgi"))

import close_app  # noqa: E402
import env_app  # noqa: E402
import exc_info_app  # noqa: E402
import file_wrapper_app  # noqa: E402
import hello  # noqa: E402
import ignore_body  # noqa: E402
import leak  # noqa: E402
import raises  # noqa: E402
import stream  # noqa: E402
import write_app  # noqa: E402

APPS = {
    "env": env_app.application,
    "raise": raises.application,
    "after": raises.after_headers,
    "ignore-body": ignore_body.application,
    "stream": stream.application,
    "leak": leak.application,
    "write": write_app.application,
    "exc-after": exc_info_app.application,
    "exc-before": exc_info_app.before,
    "file": file_wrapper_app.application,
    "close": close_app.application,
    "hello": hello.application,
}


def dispatch(environ, start_response):
    path = environ.get("PATH_INFO", "")
    name, _, rest = path.lstrip("/").partition("/")
    app = APPS.get(name)
    if app is None:
        body = ("no test application %r; try one of: %s\n"
                % (name, " ".join(sorted(APPS)))).encode()
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
    environ["PATH_INFO"] = "/" + rest if rest else ""
    return app(environ, start_response)


application = validator(dispatch)
# Each one validated on its own too, for a pool per application.
for _name, _app in APPS.items():
    globals()["validated_" + _name.replace("-", "_")] = validator(_app)
