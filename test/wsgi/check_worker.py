#!/usr/bin/python3
"""Tests of gatewayd-wsgi on its own: the worker is started the way gatewayd
starts it (a listening unix socket as fd 0), and spoken to directly over uwsgi
and FastCGI, and run as a CGI program.

    python3 test/wsgi/check_worker.py [-v] [TestClass[.test_name]]

Needs Debian's python3 with python3-flask and python3-django for the Flask and
Django tests (skipped, and said so, when missing). Every request to the test
applications goes through wsgiref.validate (test/wsgi/validate_app.py).
"""
import importlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
# The build tree's worker (make check says where that is; a build in the
# source tree otherwise), or the one GATEWAYD_WSGI names.
BUILD = os.environ.get("GW_BUILDDIR", TOP)
WORKER = os.environ.get("GATEWAYD_WSGI", os.path.join(BUILD, "spawner", "wsgi", "gatewayd-wsgi"))
EXAMPLES = os.path.join(TOP, "examples")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TIMEOUT = 30


def have_module(name):
    return subprocess.run([PYTHON, "-c", "import " + name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


# ---------------------------------------------------------------------------
# The worker under test


class Worker:
    """gatewayd-wsgi on a unix socket of its own, its stderr collected."""

    def __init__(self, spec, protocol="uwsgi", path=HERE, extra=(), cwd=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="gw-wsgi-test-")
        self.address = os.path.join(self.dir, "w.sock")
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(self.address)
        ls.listen(64)
        argv = [WORKER] + (["--protocol", protocol] if protocol else [])
        if path is not None:
            argv += ["--path", path]
        argv += list(extra) + [spec]
        self.proc = subprocess.Popen(
            argv, stdin=ls.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=cwd or self.dir,
            env=env if env is not None else {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        ls.close()
        self._err = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self._lock:
                self._err.append(line.decode("utf-8", "replace"))

    def stderr(self):
        with self._lock:
            return "".join(self._err)

    def wait_stderr(self, pattern, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            if re.search(pattern, self.stderr()):
                return True
            time.sleep(0.02)
        return False

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(self.address)
        return s

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def cgi_env(path="/", query="", method="GET", body=b"", script_name="", content_type=None,
            extra=None):
    env = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": script_name + path + ("?" + query if query else ""),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "check_worker",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "localhost:8080",
        "HTTP_USER_AGENT": "check_worker",
        "GATEWAY_REQUEST_ID": "test-%d" % (time.time_ns() % 10 ** 9),
    }
    if body or method in ("POST", "PUT"):
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = content_type or "application/octet-stream"
    if extra:
        env.update(extra)
    return env


class Reply:
    def __init__(self, status, headers, body, ended=True, stderr=b"", app_status=None,
                 proto_status=None, raw=b""):
        self.status = status
        self.code = int(status.split()[0]) if status else None
        self.headers = headers
        self.body = body
        self.ended = ended          # FastCGI: END_REQUEST seen
        self.stderr = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
        self.app_status = app_status
        self.proto_status = proto_status
        self.raw = raw

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Reply %r %r %r...>" % (self.status, self.headers, self.body[:200])


def parse_head(raw, first_line_is_status):
    """(status, headers, body) from an HTTP (uwsgi) or CGI (FastCGI, CGI) answer."""
    sep = raw.find(b"\r\n\r\n")
    if sep < 0:
        return None, [], raw
    head = raw[:sep].decode("latin-1").split("\r\n")
    body = raw[sep + 4:]
    status = None
    headers = []
    if first_line_is_status:
        line = head.pop(0)
        assert line.startswith("HTTP/1.1 "), line
        status = line[9:]
    for line in head:
        k, _, v = line.partition(":")
        v = v.strip()
        if k.lower() == "status" and not first_line_is_status:
            status = v
        else:
            headers.append((k, v))
    return status, headers, body


def _sender(sock, data, chunk=None, delay=0.0):
    def run():
        try:
            if chunk:
                for i in range(0, len(data), chunk):
                    sock.sendall(data[i:i + chunk])
                    if delay:
                        time.sleep(delay)
            else:
                sock.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------------------
# uwsgi client


def uwsgi_packet(env, modifier1=0, modifier2=0):
    data = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                    for k, v in ((k.encode("latin-1"), v.encode("latin-1"))
                                 for k, v in env.items()))
    return struct.pack("<BHB", modifier1, len(data), modifier2) + data


def read_all(sock, limit=None):
    parts = []
    n = 0
    while True:
        try:
            d = sock.recv(1 << 20)
        except ConnectionResetError:
            return b"".join(parts), "reset"
        if not d:
            return b"".join(parts), "eof"
        parts.append(d)
        n += len(d)
        if limit is not None and n >= limit:
            return b"".join(parts), "limit"


class UwsgiClient:
    proto = "uwsgi"

    def __init__(self, worker):
        self.worker = worker

    def request(self, env, body=b"", extra_body=b"", chunk=None, delay=0.0):
        s = self.worker.connect()
        try:
            data = uwsgi_packet(env) + body + extra_body
            t = _sender(s, data, chunk, delay) if (len(data) > 65536 or chunk) else None
            if t is None:
                s.sendall(data)
            raw, how = read_all(s)
            if t:
                t.join(TIMEOUT)
            status, headers, rbody = parse_head(raw, True)
            return Reply(status, headers, rbody, ended=(how == "eof"), raw=raw)
        finally:
            s.close()


# ---------------------------------------------------------------------------
# FastCGI client

FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, \
    FCGI_STDOUT, FCGI_STDERR, FCGI_DATA, FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT, \
    FCGI_UNKNOWN_TYPE = range(1, 12)


def fcgi_record(rtype, rid, content=b"", padding=0):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), padding) + content + \
        b"\0" * padding


def fcgi_stream(rtype, rid, data, size=65535, padding=0):
    out = [fcgi_record(rtype, rid, data[i:i + size], padding)
           for i in range(0, len(data), size)]
    out.append(fcgi_record(rtype, rid, b"", padding))
    return b"".join(out)


def fcgi_nv(k, v):
    out = b""
    for x in (k, v):
        out += bytes((len(x),)) if len(x) < 128 else struct.pack(">I", len(x) | 0x80000000)
    return out + k + v


def fcgi_pairs_decode(data):
    i, out = 0, {}
    while i < len(data):
        lens = []
        for _ in range(2):
            n = data[i]
            if n & 0x80:
                n = struct.unpack(">I", data[i:i + 4])[0] & 0x7fffffff
                i += 4
            else:
                i += 1
            lens.append(n)
        k = data[i:i + lens[0]]
        i += lens[0]
        v = data[i:i + lens[1]]
        i += lens[1]
        out[k.decode()] = v.decode()
    return out


class FcgiConnection:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def record(self):
        while True:
            if len(self.buf) >= 8:
                _v, rtype, rid, clen, plen = struct.unpack(">BBHHBx", self.buf[:8])
                if len(self.buf) >= 8 + clen + plen:
                    content = self.buf[8:8 + clen]
                    self.buf = self.buf[8 + clen + plen:]
                    return rtype, rid, content
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                d = b""
            if not d:
                return None
            self.buf += d


class FcgiClient:
    proto = "fastcgi"

    def __init__(self, worker):
        self.worker = worker
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.sock.close()
            self.conn = None

    def request(self, env, body=b"", extra_body=b"", chunk=None, delay=0.0, keep=True,
                rid=1, params_size=65535, stdin_size=65535, padding=0):
        if self.conn is None:
            self.conn = FcgiConnection(self.worker.connect())
        conn = self.conn
        params = b"".join(fcgi_nv(k.encode("latin-1"), v.encode("latin-1"))
                          for k, v in env.items())
        data = fcgi_record(FCGI_BEGIN_REQUEST, rid, struct.pack(">HB5x", 1, 1 if keep else 0)) \
            + fcgi_stream(FCGI_PARAMS, rid, params, params_size, padding) \
            + fcgi_stream(FCGI_STDIN, rid, body + extra_body, stdin_size, padding)
        t = _sender(conn.sock, data, chunk, delay) if (len(data) > 65536 or chunk) else None
        if t is None:
            conn.sock.sendall(data)
        out, err = [], []
        ended = False
        app_status = proto_status = None
        while True:
            rec = conn.record()
            if rec is None:
                break
            rtype, r, content = rec
            if r != rid:
                continue
            if rtype == FCGI_STDOUT:
                out.append(content)
            elif rtype == FCGI_STDERR:
                err.append(content)
            elif rtype == FCGI_END_REQUEST:
                app_status, proto_status = struct.unpack(">IB3x", content)
                ended = True
                break
        if t:
            t.join(TIMEOUT)
        if not ended or not keep:
            self.close()
        raw = b"".join(out)
        status, headers, rbody = parse_head(raw, False)
        return Reply(status, headers, rbody, ended=ended, stderr=b"".join(err),
                     app_status=app_status, proto_status=proto_status, raw=raw)


# ---------------------------------------------------------------------------
# The tests, once per protocol

PATTERN = b"0123456789"


def pattern(n, offset=0):
    return (PATTERN * ((n + offset) // 10 + 2))[offset:offset + n]


class WorkerTests:
    """Mixed into one TestCase per protocol: one worker of app for the class,
    and self.client, a client of it speaking its protocol, for each test."""

    app = None
    protocol = None
    client_class = None

    @classmethod
    def setUpClass(cls):
        cls.worker = Worker(cls.app, cls.protocol)

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()

    def setUp(self):
        self.client = self.client_class(self.worker)

    def tearDown(self):
        if hasattr(self.client, "close"):
            self.client.close()


class ProtocolTests(WorkerTests):
    """The validated test applications, through self.client."""

    app = "validate_app:application"

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        err = cls.worker.stderr()
        # wsgiref.validate reports through warnings and assertions.
        for bad in ("WSGIWarning", "AssertionError", "Exception ignored", "garbage collected"):
            if bad in err:
                raise AssertionError("%s in the worker's stderr:\n%s" % (bad, err))

    def get(self, path, query="", **kw):
        return self.client.request(cgi_env(path, query, script_name="/t"), **kw)

    def post(self, path, body, query="", **kw):
        client_kw = {k: kw.pop(k) for k in ("extra_body", "chunk", "delay", "keep")
                     if k in kw}
        return self.client.request(cgi_env(path, query, "POST", body, script_name="/t", **kw),
                                   body, **client_kw)

    def log_text(self, reply):
        """Where wsgi.errors went: STDERR records (FastCGI), the worker's stderr (uwsgi)."""
        return reply.stderr + self.worker.stderr()

    def assert_request_logged(self, reply, said):
        """said went where the request's wsgi.errors goes: its STDERR records
        (FastCGI), or the worker's stderr with the request id in front, so the
        log line can be found (uwsgi)."""
        if self.protocol == "fastcgi":
            self.assertIn(said, reply.stderr)
        else:
            self.assertTrue(self.worker.wait_stderr(r"\[test-\d+\] " + re.escape(said)),
                            self.worker.stderr())

    def assert_serving(self):
        r = self.get("/hello")
        self.assertEqual(r.code, 200, r)
        self.assertTrue(r.body.startswith(b"Hello from WSGI"), r)
        self.assertTrue(self.worker.alive())

    # -- environ ---------------------------------------------------------

    def test_environ_required_keys(self):
        r = self.get("/env/a/b", "x=1&y=%20")
        self.assertEqual(r.code, 200, r)
        doc = r.json()
        cgi = doc["cgi"]
        for k in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                  "SERVER_PORT", "SERVER_PROTOCOL"):
            self.assertIn(k, cgi)
        self.assertEqual(cgi["REQUEST_METHOD"], "GET")
        self.assertEqual(cgi["SCRIPT_NAME"], "/t/env")  # the dispatcher moved /env over
        self.assertEqual(cgi["PATH_INFO"], "/a/b")
        self.assertEqual(cgi["QUERY_STRING"], "x=1&y=%20")
        self.assertEqual(cgi["HTTP_HOST"], "localhost:8080")
        self.assertEqual(doc["cgi_types"], ["str"])
        self.assertEqual(doc["environ_type"], "dict")
        w = doc["wsgi"]
        self.assertEqual(w["wsgi.version"], {"type": "tuple", "value": [1, 0]})
        self.assertEqual(w["wsgi.url_scheme"]["value"], "http")
        self.assertEqual(w["wsgi.multithread"]["value"], False)
        self.assertEqual(w["wsgi.multiprocess"]["value"], True)
        self.assertEqual(w["wsgi.run_once"]["value"], False)
        for k in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
            self.assertIn(k, w)
        self.assertEqual(doc["input_methods"], ["read", "readline", "readlines", "__iter__"])
        self.assertEqual(doc["errors_methods"], ["write", "writelines", "flush"])

    def test_url_scheme_from_https(self):
        for value, scheme in (("on", "https"), ("1", "https"), ("off", "http"), ("", "http")):
            r = self.client.request(cgi_env("/env", script_name="/t", extra={"HTTPS": value}))
            self.assertEqual(r.json()["wsgi"]["wsgi.url_scheme"]["value"], scheme, value)

    def test_missing_variables_filled_in(self):
        r = self.client.request({"REQUEST_METHOD": "GET", "PATH_INFO": "/env"})
        self.assertEqual(r.code, 200, r)
        cgi = r.json()["cgi"]
        self.assertEqual(cgi["SERVER_NAME"], "localhost")
        self.assertEqual(cgi["SERVER_PORT"], "80")
        self.assertIn("SERVER_PROTOCOL", cgi)
        self.assertEqual(cgi["QUERY_STRING"], "")

    def test_latin1_environ(self):
        # Bytes of a UTF-8 path arrive as latin-1 code points (PEP 3333).
        r = self.client.request(cgi_env("/env/caf\u00c3\u00a9", script_name="/t"))
        self.assertEqual(r.json()["cgi"]["PATH_INFO"], "/caf\u00c3\u00a9")

    def test_uwsgi_vars_from_client_ignored(self):
        evil = {
            "UWSGI_SCRIPT": "raises:application", "UWSGI_MODULE": "raises",
            "UWSGI_CALLABLE": "application", "UWSGI_FILE": "/etc/passwd",
            "UWSGI_CHDIR": "/", "UWSGI_PYHOME": "/tmp", "UWSGI_SETENV": "PATH=/evil",
            "UWSGI_APPID": "other", "UWSGI_SCHEME": "https", "UWSGI_TOUCH_RELOAD": "/tmp/x",
        }
        before = self.get("/env").json()
        r = self.client.request(cgi_env("/env", script_name="/t", extra=evil))
        self.assertEqual(r.code, 200, r)
        doc = r.json()
        self.assertEqual(doc["pid"], before["pid"])
        self.assertEqual(doc["cwd"], before["cwd"])
        self.assertEqual(doc["path0"], before["path0"])
        self.assertEqual(doc["wsgi"]["wsgi.url_scheme"]["value"], "http")
        self.assert_serving()

    # -- wsgi.input ------------------------------------------------------

    def test_input_read_modes(self):
        bodies = [b"", b"x", b"line one\nline two\nno newline at the end",
                  b"\n" * 3000, pattern(200000), b"a\n" * 100000 + b"tail"]
        for body in bodies:
            for how in ("all", "sized", "lines", "readlines", "iter"):
                with self.subTest(size=len(body), read=how):
                    r = self.post("/env", body, "read=" + how)
                    self.assertEqual(r.code, 200, r)
                    doc = r.json()
                    self.assertEqual(doc["body_len"], len(body))
                    self.assertEqual(doc["body_head"], body[:64].decode("latin-1"))
                    self.assertEqual(doc["body_tail"], body[-64:].decode("latin-1"))
                    if how == "lines":
                        self.assertEqual(len(doc["body_parts"]), len(body.splitlines()))

    def test_input_bounded_by_content_length(self):
        # More bytes on the wire than CONTENT_LENGTH: the application sees
        # CONTENT_LENGTH bytes, then an end of file.
        r = self.post("/env", b"0123456789", "read=over", extra_body=b"EXTRA-EXTRA")
        self.assertEqual(r.code, 200, r)
        doc = r.json()
        self.assertEqual(doc["body_parts"], [10, 0])
        self.assertEqual(doc["body_tail"], "0123456789")
        self.assert_serving()

    def test_input_without_content_length(self):
        env = cgi_env("/env", "read=all", "POST", script_name="/t")
        env.pop("CONTENT_LENGTH", None)
        r = self.client.request(env)
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.json()["body_len"], 0)

    def test_input_streamed(self):
        # 64 MiB through read(65536): the worker must not hold the body.
        size = 64 << 20
        body = b"z" * size
        r = self.post("/env", body, "read=discard")
        self.assertEqual(r.code, 200, r)
        doc = r.json()
        self.assertEqual(doc["body_tail"], str(size))
        self.assertLess(doc["rss_kib"], 60 * 1024, "the worker grew by the body's size")

    def test_input_slow_client(self):
        body = pattern(300000)
        r = self.post("/env", body, "read=sized", chunk=7000, delay=0.001)
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.json()["body_len"], len(body))

    def test_body_never_read(self):
        for size in (0, 100, 100000, 4 << 20):
            r = self.post("/ignore-body", pattern(size))
            self.assertEqual(r.code, 200, r)
            self.assertEqual(r.body, b"ignored a body of %d bytes\n" % size)
            self.assertTrue(r.ended, "the answer did not end cleanly")
            self.assert_serving()

    # -- the response ----------------------------------------------------

    def test_hello(self):
        r = self.get("/hello")
        self.assertEqual(r.code, 200)
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))

    def test_write_callable(self):
        r = self.get("/write")
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.body, b"written 1\nwritten 2\nreturned 3\n")

    def test_exc_info_before_headers(self):
        r = self.get("/exc-before")
        self.assertEqual(r.code, 503, r)
        self.assertEqual(r.header("X-Replaced"), "yes")
        self.assertEqual(r.body, b"the application's own error page\n")
        self.assert_serving()

    def test_exc_info_after_headers(self):
        r = self.get("/exc-after")
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.body, b"a first block\n")
        self.assertNotIn(b"never sent", r.raw)
        self.assert_cut(r)
        self.assertIn("ValueError: failed after the headers", self.log_text(r)
                      if self.protocol == "fastcgi" else self.wait_log("failed after the headers"))
        self.assert_serving()

    def wait_log(self, text):
        self.worker.wait_stderr(re.escape(text))
        return self.worker.stderr()

    def test_exception_gives_500(self):
        r = self.get("/raise")
        self.assertEqual(r.code, 500, r)
        self.assertEqual(r.body, b"Internal Server Error\n")
        self.assertTrue(r.ended)
        # The exact line: a shorter pattern also matches what other tests left
        # in this worker's log, and would not wait for this traceback.
        log = r.stderr if self.protocol == "fastcgi" else self.wait_log(
            "RuntimeError: raised on purpose by test/wsgi/raises.py")
        self.assertIn("Traceback", log)
        self.assertIn("RuntimeError: raised on purpose by test/wsgi/raises.py", log)
        self.assert_serving()
        # Many in a row: the worker lives on.
        pid = self.get("/env").json()["pid"]
        for _ in range(20):
            self.assertEqual(self.get("/raise").code, 500)
        self.assertEqual(self.get("/env").json()["pid"], pid)

    def test_exception_after_headers_cuts(self):
        r = self.get("/after")
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.body, b"first block\n")
        self.assert_cut(r)
        self.assert_serving()

    def test_close_always_called(self):
        base = self.get("/close", "count").body
        m = re.match(rb"requests=(\d+) closed=(\d+)", base)
        self.assertEqual(m.group(1), m.group(2), base)
        self.assertEqual(self.get("/close").body, b"one\ntwo\n")
        self.get("/close", "fail")  # raises after the first block
        if hasattr(self.client, "close"):
            self.client.close()  # one connection at a time: the worker serves them in turn
        # The client goes away in the middle of a large answer.
        s = self.worker.connect()
        if self.protocol == "uwsgi":
            s.sendall(uwsgi_packet(cgi_env("/close", "big", script_name="/t")))
        else:
            params = b"".join(fcgi_nv(k.encode(), v.encode())
                              for k, v in cgi_env("/close", "big", script_name="/t").items())
            s.sendall(fcgi_record(FCGI_BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 1))
                      + fcgi_stream(FCGI_PARAMS, 1, params) + fcgi_stream(FCGI_STDIN, 1, b""))
        s.recv(1000)
        s.close()
        time.sleep(0.2)
        after = self.get("/close", "count").body
        m = re.match(rb"requests=(\d+) closed=(\d+)", after)
        self.assertEqual(m.group(1), m.group(2), after)
        self.assertEqual(int(m.group(1)) - int(re.match(rb"requests=(\d+)", base).group(1)), 3)

    def test_file_wrapper(self):
        cases = [("bytes=0", 0, 0), ("bytes=1", 1, 0), ("bytes=100000", 100000, 0),
                 ("bytes=200000", 200000, 0), ("bytes=1000000&offset=12345", 1000000 - 12345, 12345),
                 ("bytes=100000&cl=5000", 5000, 0),
                 ("bytes=100000&kind=bytesio", 100000, 0),
                 ("bytes=300000&kind=bytesio&offset=3", 300000 - 3, 3)]
        for query, n, offset in cases:
            with self.subTest(query=query):
                r = self.get("/file", query)
                self.assertEqual(r.code, 200, r)
                self.assertEqual(len(r.body), n)
                self.assertEqual(r.body, pattern(n, offset))
                self.assertTrue(r.ended)
        self.assert_serving()

    def test_file_wrapper_sendfile_direct(self):
        # Without the validator in between, the worker sees its own wrapper
        # and uses sendfile.
        w = Worker("file_wrapper_app:application", self.protocol)
        try:
            c = self.client_class(w)
            for query, n, offset in (("bytes=150000", 150000, 0), ("bytes=70000&offset=7", 69993, 7),
                                     ("bytes=100000&cl=65536", 65536, 0), ("bytes=0", 0, 0)):
                r = c.request(cgi_env("/", query))
                self.assertEqual(r.code, 200, r)
                self.assertEqual(r.body, pattern(n, offset), query)
                self.assertTrue(r.ended)
            if hasattr(c, "close"):
                c.close()
        finally:
            w.stop()
        self.assertNotIn("Traceback", w.stderr())

    def test_stream_100_mib(self):
        r = self.get("/stream")
        self.assertEqual(r.code, 200, r.status)
        self.assertEqual(int(r.header("Content-Length")), 100 << 20)
        self.assertEqual(len(r.body), 100 << 20)
        self.assertEqual(r.body[:16], b"0123456789abcdef")
        self.assertTrue(r.ended)

    def test_leak_grows(self):
        first = self.get("/leak", "kib=512").body
        for _ in range(3):
            last = self.get("/leak", "kib=512").body
        n1 = int(re.search(rb"holds (\d+)", first).group(1))
        n2 = int(re.search(rb"holds (\d+)", last).group(1))
        self.assertEqual(n2 - n1, 3)

    def test_errors_stream(self):
        r = self.get("/env", "log=hello-from-wsgi.errors")
        self.assertEqual(r.code, 200)
        self.assert_request_logged(r, "env_app says: hello-from-wsgi.errors")

    def test_sys_stderr_is_the_requests_errors_stream(self):
        # What the application prints to sys.stderr goes where wsgi.errors
        # goes, so it carries the request's id too; the worker's own stderr is
        # back in place after the request.
        r = self.get("/env", "print=hello-from-print")
        self.assertEqual(r.code, 200)
        self.assert_request_logged(r, "env_app prints: hello-from-print")
        self.assertEqual(self.get("/env").code, 200)

    def test_streams_kept_from_the_start_are_the_requests_errors_stream_too(self):
        # A logging.StreamHandler made when the application loaded keeps the
        # sys.stderr of that moment, and sys.__stderr__ is the start's too:
        # what goes through them reaches the request's log all the same.
        r = self.get("/env", "kept=hello-from-logging&dunder=hello-from-dunder")
        self.assertEqual(r.code, 200)
        for said in ("env_app logs: hello-from-logging", "env_app prints: hello-from-dunder"):
            self.assert_request_logged(r, said)

    def test_probe_connection(self):
        # gatewayd's readiness probe: connect, close, nothing sent. Silently.
        before = self.worker.stderr()
        for _ in range(3):
            self.worker.connect().close()
        self.assert_serving()
        time.sleep(0.1)
        self.assertEqual(self.worker.stderr(), before)

    def test_many_requests(self):
        for i in range(300):
            r = self.get("/hello")
            self.assertEqual(r.code, 200)


class UwsgiTests(ProtocolTests, unittest.TestCase):
    protocol = "uwsgi"
    client_class = UwsgiClient

    def assert_cut(self, r):
        # uwsgi ends every answer by closing: the cut is the missing bytes
        # (a Content-Length, when there is one, says so to the peer).
        pass

    def raw(self, data, shut=True):
        s = self.worker.connect()
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        got, how = read_all(s)
        s.close()
        return got, how

    def test_http_answer_line(self):
        r = self.get("/hello")
        self.assertTrue(r.raw.startswith(b"HTTP/1.1 200 OK\r\n"), r.raw[:40])

    def test_bad_modifier1(self):
        got, _ = self.raw(uwsgi_packet(cgi_env("/hello", script_name="/t"), modifier1=5))
        self.assertEqual(got, b"")
        self.assertTrue(self.worker.wait_stderr("modifier1 5"), self.worker.stderr())
        self.assert_serving()

    def test_http_to_uwsgi_socket(self):
        got, _ = self.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(got, b"")
        self.assertTrue(self.worker.wait_stderr("HTTP sent to a uwsgi socket"), self.worker.stderr())
        self.assert_serving()

    def test_truncated_packets(self):
        pkt = uwsgi_packet(cgi_env("/hello", script_name="/t"))
        for cut in (1, 3, 4, 10, len(pkt) - 1):
            got, _ = self.raw(pkt[:cut])
            self.assertEqual(got, b"", cut)
        self.assertTrue(self.worker.wait_stderr("truncated"), self.worker.stderr())
        self.assert_serving()

    def test_malformed_vars(self):
        # A zero-length key; a value size past the block; a key size past it.
        for block in (b"\0\0" + b"\x01\0x", b"\x01\0k" + b"\xff\0abc", b"\xff\xff" + b"abc"):
            got, _ = self.raw(struct.pack("<BHB", 0, len(block), 0) + block)
            self.assertEqual(got, b"")
        self.assertTrue(self.worker.wait_stderr("malformed vars"), self.worker.stderr())
        self.assert_serving()

    def test_largest_vars_block(self):
        env = cgi_env("/env", script_name="/t")
        base = len(uwsgi_packet(env)) - 4
        env["HTTP_X_BIG"] = "b" * (65535 - base - 4 - len("HTTP_X_BIG"))
        pkt = uwsgi_packet(env)
        self.assertEqual(len(pkt), 4 + 65535)
        r = self.client.request(env)
        self.assertEqual(r.code, 200, r)
        self.assertEqual(len(r.json()["cgi"]["HTTP_X_BIG"]), len(env["HTTP_X_BIG"]))

    def test_packet_in_pieces(self):
        env = cgi_env("/env", "read=all", "POST", b"hello body", script_name="/t")
        r = self.client.request(env, b"hello body", chunk=3, delay=0.001)
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.json()["body_len"], 10)


class FastCGITests(ProtocolTests, unittest.TestCase):
    protocol = "fastcgi"
    client_class = FcgiClient

    def assert_cut(self, r):
        # Cut: the connection closes without END_REQUEST, so gatewayd cuts
        # the answer to its client too.
        self.assertFalse(r.ended, "a cut answer must not end with END_REQUEST")

    def test_end_request_and_app_status(self):
        r = self.get("/hello")
        self.assertTrue(r.ended)
        self.assertEqual((r.app_status, r.proto_status), (0, 0))
        self.assertTrue(r.raw.startswith(b"Status: 200 OK\r\n"), r.raw[:40])

    def test_keep_conn(self):
        pids = set()
        for _ in range(20):
            r = self.get("/env", "read=all")
            pids.add(r.json()["pid"])
        self.assertIsNotNone(self.client.conn, "the connection was not kept")
        self.assertEqual(len(pids), 1)

    def test_no_keep_conn_closes(self):
        r = self.get("/hello", keep=False)
        self.assertTrue(r.ended)
        s = self.worker.connect()
        c = FcgiConnection(s)
        env = cgi_env("/hello", script_name="/t")
        params = b"".join(fcgi_nv(k.encode(), v.encode()) for k, v in env.items())
        s.sendall(fcgi_record(FCGI_BEGIN_REQUEST, 1, struct.pack(">HB5x", 1, 0))
                  + fcgi_stream(FCGI_PARAMS, 1, params) + fcgi_stream(FCGI_STDIN, 1, b""))
        types = []
        while True:
            rec = c.record()
            if rec is None:
                break
            types.append(rec[0])
        s.close()
        self.assertEqual(types[-1], FCGI_END_REQUEST)  # and then the close

    def test_records_in_small_pieces(self):
        body = pattern(5000)
        r = self.client.request(cgi_env("/env", "read=lines", "POST", body, script_name="/t"),
                                body, params_size=7, stdin_size=13, padding=5, chunk=11)
        self.assertEqual(r.code, 200, r)
        self.assertEqual(r.json()["body_len"], 5000)

    def test_get_values(self):
        s = self.worker.connect()
        c = FcgiConnection(s)
        q = b"".join(fcgi_nv(k, b"") for k in (b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS",
                                                  b"FCGI_MPXS_CONNS", b"OTHER"))
        s.sendall(fcgi_record(FCGI_GET_VALUES, 0, q))
        rtype, rid, content = c.record()
        self.assertEqual((rtype, rid), (FCGI_GET_VALUES_RESULT, 0))
        self.assertEqual(fcgi_pairs_decode(content),
                         {"FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": "9", "FCGI_MPXS_CONNS": "1"})
        s.sendall(fcgi_record(42, 0, b""))
        rtype, rid, content = c.record()
        self.assertEqual((rtype, content[0]), (FCGI_UNKNOWN_TYPE, 42))
        s.close()

    def begin_params(self, rid, env):
        params = b"".join(fcgi_nv(k.encode(), v.encode()) for k, v in env.items())
        return fcgi_record(FCGI_BEGIN_REQUEST, rid, struct.pack(">HB5x", 1, 1)) \
            + fcgi_stream(FCGI_PARAMS, rid, params)

    def answers(self, c, n):
        """The records of n answers, by request id, in the order they ended."""
        out, ended = {}, []
        while len(ended) < n:
            rec = c.record()
            self.assertIsNotNone(rec, "the connection closed after %d answers" % len(ended))
            rtype, rid, content = rec
            if rtype == FCGI_STDOUT:
                out.setdefault(rid, []).append(content)
            elif rtype == FCGI_END_REQUEST:
                ended.append((rid, struct.unpack(">IB3x", content)[1]))
        return {rid: parse_head(b"".join(parts), False) for rid, parts in out.items()}, ended

    def test_requests_behind_on_one_connection(self):
        # It says it takes several requests on a connection (FCGI_MPXS_CONNS)
        # and serves them one after another: sent at once, answered in order.
        s = self.worker.connect()
        c = FcgiConnection(s)
        data = b""
        for rid in (1, 2, 3):
            body = pattern(100 * rid)
            data += self.begin_params(rid, cgi_env("/env", "read=all", "POST", body,
                                                   script_name="/t")) \
                + fcgi_stream(FCGI_STDIN, rid, body)
        s.sendall(data)
        heads, ended = self.answers(c, 3)
        s.close()
        self.assertEqual(ended, [(1, 0), (2, 0), (3, 0)])
        for rid in (1, 2, 3):
            self.assertEqual(json.loads(heads[rid][2])["body_len"], 100 * rid)

    def test_request_begun_inside_another(self):
        # Request 2 begins while request 1's body is still coming: it waits,
        # and 1's body is read whole first.
        s = self.worker.connect()
        c = FcgiConnection(s)
        one, two = pattern(3000), pattern(700, 3)
        env1 = cgi_env("/env", "read=all", "POST", one, script_name="/t")
        env2 = cgi_env("/env", "read=all", "POST", two, script_name="/t")
        s.sendall(self.begin_params(1, env1) + fcgi_record(FCGI_STDIN, 1, one[:1000])
                  + self.begin_params(2, env2) + fcgi_record(FCGI_STDIN, 2, two)
                  + fcgi_record(FCGI_STDIN, 1, one[1000:]) + fcgi_record(FCGI_STDIN, 2)
                  + fcgi_record(FCGI_STDIN, 1))
        heads, ended = self.answers(c, 2)
        s.close()
        self.assertEqual(ended, [(1, 0), (2, 0)])
        self.assertEqual(json.loads(heads[1][2])["body_len"], 3000)
        self.assertEqual(json.loads(heads[2][2])["body_len"], 700)

    def test_queued_body_never_read(self):
        # Request 2 waits with its body queued, and its application never
        # reads it: the rest of it is dropped and request 3 is served.
        s = self.worker.connect()
        c = FcgiConnection(s)
        one = pattern(10)
        data = self.begin_params(1, cgi_env("/env", "read=all", "POST", one, script_name="/t"))
        two = pattern(3000)
        data += self.begin_params(2, cgi_env("/ignore-body", "", "POST", two, script_name="/t")) \
            + fcgi_record(FCGI_STDIN, 2, two[:1000]) + fcgi_record(FCGI_STDIN, 2, two[1000:])
        data += self.begin_params(3, cgi_env("/env", script_name="/t")) + fcgi_record(FCGI_STDIN, 3)
        s.sendall(data + fcgi_record(FCGI_STDIN, 1, one) + fcgi_record(FCGI_STDIN, 1)
                  + fcgi_record(FCGI_STDIN, 2))
        heads, ended = self.answers(c, 3)
        s.close()
        self.assertEqual(ended, [(1, 0), (2, 0), (3, 0)])
        self.assertTrue(heads[3][0].startswith("200"), heads[3][0])

    def test_too_many_requests_behind(self):
        # Past 8 waiting, a request is refused (FCGI_OVERLOADED) and the
        # ones before it are served.
        s = self.worker.connect()
        c = FcgiConnection(s)
        env = cgi_env("/env", script_name="/t")
        body = pattern(10)
        # the application reads request 1's body, which comes last
        data = self.begin_params(1, cgi_env("/env", "read=all", "POST", body, script_name="/t"))
        for rid in range(2, 12):
            data += self.begin_params(rid, env) + fcgi_record(FCGI_STDIN, rid)
        s.sendall(data + fcgi_record(FCGI_STDIN, 1, body) + fcgi_record(FCGI_STDIN, 1))
        heads, ended = self.answers(c, 11)
        s.close()
        self.assertEqual(sorted(r for r, st in ended if st == 2), [10, 11])
        self.assertEqual([r for r, st in ended if st == 0], list(range(1, 10)))
        for rid in range(1, 10):
            self.assertTrue(heads[rid][0].startswith("200"), heads[rid][0])

    def test_unknown_role(self):
        s = self.worker.connect()
        c = FcgiConnection(s)
        s.sendall(fcgi_record(FCGI_BEGIN_REQUEST, 3, struct.pack(">HB5x", 2, 1)))
        rtype, rid, content = c.record()
        self.assertEqual((rtype, rid), (FCGI_END_REQUEST, 3))
        self.assertEqual(struct.unpack(">IB3x", content)[1], 3)  # FCGI_UNKNOWN_ROLE
        s.close()

    def test_other_request_ids(self):
        r = self.get("/env", rid=77)
        self.assertEqual(r.code, 200)
        self.assertTrue(r.ended)

    def test_body_never_read_same_connection(self):
        # The unread body's STDIN records are dropped, the connection goes on.
        r = self.post("/ignore-body", pattern(1 << 20))
        self.assertTrue(r.ended)
        conn = self.client.conn
        self.assertIsNotNone(conn)
        r = self.get("/env")
        self.assertEqual(r.code, 200, r)
        self.assertIs(self.client.conn, conn)


class MisbehavingAppTests(WorkerTests):
    """Applications that break the rules: the worker answers 500 (or cuts
    the response once its head is out) and goes on serving."""

    app = "misbehave_app:application"

    def case(self, name, method="GET"):
        return self.client.request(cgi_env("/", "case=" + name, method))

    def assert_fine(self):
        r = self.case("fine")
        self.assertEqual((r.code, r.body), (200, b"fine\n"))

    def test_errors_give_500(self):
        for name in ("crlf-in-value", "lf-in-name", "not-latin1", "bytes-header", "not-a-tuple",
                     "bad-status", "bytes-status", "twice", "no-start-response", "str-body",
                     "none"):
            with self.subTest(case=name):
                r = self.case(name)
                self.assertEqual(r.code, 500, r)
                self.assertNotIn(b"injected", r.raw)
                self.assertTrue(r.ended)
                self.assert_fine()

    def test_cut_after_head(self):
        for name, body in (("str-body-iter", b"bytes first, "), ("short", b"only ten b"),
                           ("short-list", b"only ten b")):
            with self.subTest(case=name):
                r = self.case(name)
                self.assertEqual(r.code, 200, r)
                self.assertEqual(r.body, body)
                if self.protocol == "fastcgi":
                    self.assertFalse(r.ended, "a cut answer must not end with END_REQUEST")
                self.assert_fine()

    def test_no_more_than_content_length(self):
        for name in ("long", "long-list"):
            r = self.case(name)
            self.assertEqual((r.code, r.body), (200, b"12345"), name)
            self.assertTrue(r.ended)
        self.assert_fine()

    def test_hop_by_hop_dropped(self):
        r = self.case("hop-by-hop")
        names = [k.lower() for k, _ in r.headers]
        for h in ("connection", "keep-alive", "transfer-encoding"):
            self.assertNotIn(h, names)
        self.assertEqual(r.header("X-Kept"), "yes")

    def test_content_length_added(self):
        r = self.case("no-length")
        self.assertEqual(r.header("Content-Length"), "12")
        r = self.case("no-length", "HEAD")
        self.assertIsNone(r.header("Content-Length"))
        r = self.case("no-length-iter")
        self.assertIsNone(r.header("Content-Length"))
        self.assertEqual(r.body, b"streamed without a length")
        r = self.case("empty")
        self.assertEqual(r.code, 204)
        self.assertIsNone(r.header("Content-Length"))

    def test_close_raising(self):
        r = self.case("close-raises")
        self.assertEqual((r.code, r.body), (200, b"body then a failing close()\n"))
        self.assertTrue(r.ended)
        log = r.stderr + self.worker.stderr()
        if "close() failing" not in log:
            self.worker.wait_stderr("close\\(\\) failing")
            log = self.worker.stderr()
        self.assertIn("RuntimeError: close() failing on purpose", log)
        self.assert_fine()


class MisbehavingUwsgiTests(MisbehavingAppTests, unittest.TestCase):
    protocol = "uwsgi"
    client_class = UwsgiClient


class MisbehavingFastCGITests(MisbehavingAppTests, unittest.TestCase):
    protocol = "fastcgi"
    client_class = FcgiClient


# ---------------------------------------------------------------------------
# Signals


class SignalTests(unittest.TestCase):
    def serving(self, proto):
        """A worker speaking proto and a client of it, which it has served once."""
        w = Worker("validate_app:application", proto)
        try:
            c = (UwsgiClient if proto == "uwsgi" else FcgiClient)(w)
            self.assertEqual(c.request(cgi_env("/hello")).code, 200)
        except BaseException:
            w.stop()
            raise
        return w, c

    def test_sigterm_idle_exits_at_once(self):
        for proto in ("uwsgi", "fastcgi"):
            w, c = self.serving(proto)
            try:
                # FastCGI: idle on a kept connection, then idle in accept.
                t0 = time.time()
                w.proc.send_signal(signal.SIGTERM)
                self.assertEqual(w.proc.wait(5), 0)
                self.assertLess(time.time() - t0, 2)
                if hasattr(c, "close"):
                    c.close()
            finally:
                w.stop()

    def test_sigterm_busy_finishes_request(self):
        for proto in ("uwsgi", "fastcgi"):
            w, c = self.serving(proto)
            try:
                box = {}
                t = threading.Thread(target=lambda: box.update(
                    r=c.request(cgi_env("/env", "sleep=1"))))
                t.start()
                time.sleep(0.3)
                w.proc.send_signal(signal.SIGTERM)
                t.join(10)
                self.assertEqual(box["r"].code, 200, box)
                self.assertTrue(box["r"].ended)
                self.assertEqual(w.proc.wait(5), 0)
                if hasattr(c, "close"):
                    c.close()
            finally:
                w.stop()

    def test_sigterm_serves_what_waits_in_the_backlog(self):
        # A request gatewayd sent in the moment before the stop signal (its
        # claim raced with the master's drain) is answered, not dropped.
        for proto in ("uwsgi", "fastcgi"):
            w, c = self.serving(proto)
            try:
                client = UwsgiClient if proto == "uwsgi" else FcgiClient
                box = {}
                busy = threading.Thread(target=lambda: box.update(
                    busy=c.request(cgi_env("/env", "sleep=1"))))
                busy.start()
                time.sleep(0.3)
                other = client(w)
                behind = threading.Thread(target=lambda: box.update(
                    behind=other.request(cgi_env("/hello"))))
                behind.start()  # connected and sent: in the backlog
                time.sleep(0.3)
                w.proc.send_signal(signal.SIGTERM)
                busy.join(10)
                behind.join(10)
                self.assertEqual(box["busy"].code, 200, box)
                self.assertEqual(box["behind"].code, 200, (proto, box, w.stderr()))
                self.assertEqual(w.proc.wait(5), 0)
                for k in (c, other):
                    if hasattr(k, "close"):
                        k.close()
            finally:
                w.stop()

    def test_stop_then_wake_connection(self):
        # gatewayd's way: the stop signal, then a connection to wake it.
        w = Worker("validate_app:application", "uwsgi")
        try:
            time.sleep(0.3)
            w.proc.send_signal(signal.SIGTERM)
            try:
                w.connect().close()
            except OSError:
                pass
            self.assertEqual(w.proc.wait(5), 0)
            self.assertNotIn("Traceback", w.stderr())
        finally:
            w.stop()


# ---------------------------------------------------------------------------
# Loading


class LoadingTests(unittest.TestCase):
    def test_default_callable_and_path(self):
        # No --path: the working directory; no :CALLABLE: "application".
        w = Worker("hello", "uwsgi", path=None, cwd=os.path.join(EXAMPLES, "wsgi"))
        try:
            r = UwsgiClient(w).request(cgi_env("/"))
            self.assertEqual(r.code, 200, (r, w.stderr()))
            self.assertTrue(r.body.startswith(b"Hello from WSGI, pid"))
        finally:
            w.stop()

    def test_no_protocol_serves_what_the_first_request_speaks(self):
        # A pool's "protocol" is gatewayd's; the worker without --protocol
        # takes it from the first request, and keeps it: FastCGI then a
        # connection closed at once (gatewayd's wake-up) then FastCGI again;
        # uwsgi likewise. The other protocol afterwards is refused, and the
        # connection closed at once: a FastCGI worker used to wait for the rest
        # of a "record" that a uwsgi packet's header announced, held by it
        # until the peer gave up.
        for client, other in ((FcgiClient, UwsgiClient), (UwsgiClient, FcgiClient)):
            w = Worker("hello:application", None, path=os.path.join(EXAMPLES, "wsgi"))
            try:
                c = client(w)
                r = c.request(cgi_env("/"))
                self.assertEqual(r.code, 200, (client.proto, r, w.stderr()))
                self.assertTrue(r.body.startswith(b"Hello from WSGI, pid"))
                if hasattr(c, "close"):
                    c.close()
                w.connect().close()
                c = client(w)
                r = c.request(cgi_env("/"))
                self.assertEqual(r.code, 200, (client.proto, r, w.stderr()))
                if hasattr(c, "close"):
                    c.close()
                try:
                    r = other(w).request(cgi_env("/"))
                except socket.timeout:
                    self.fail("%s worker held a %s request" % (client.proto, other.proto))
                except (OSError, AssertionError, ValueError):
                    r = None
                self.assertTrue(r is None or r.code != 200,
                                "%s after %s was served" % (other.proto, client.proto))
                self.assertTrue(w.alive(), w.stderr())
            finally:
                w.stop()

    def test_load_failure_exits(self):
        w = Worker("no_such_module_here:app", "uwsgi")
        try:
            self.assertEqual(w.proc.wait(10), 1)
            w._reader.join(5)
            self.assertIn("ModuleNotFoundError", w.stderr())
        finally:
            w.stop()

    def test_not_a_socket(self):
        p = subprocess.run([WORKER, "hello"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           cwd=os.path.join(EXAMPLES, "wsgi"), timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"not a listening socket", p.stderr)

    def test_usage(self):
        p = subprocess.run([WORKER, "--protocol", "http", "x:y"], stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"unknown protocol", p.stderr)


# ---------------------------------------------------------------------------
# CGI


def run_cgi(spec, env, body=b"", path=HERE):
    full = {"PATH": "/usr/bin:/bin"}
    full.update(env)
    p = subprocess.run([WORKER, "--cgi", "--path", path, spec], input=body, env=full,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    status, headers, rbody = parse_head(p.stdout, False)
    r = Reply(status, headers, rbody, stderr=p.stderr, raw=p.stdout)
    r.returncode = p.returncode
    return r


class CGITests(unittest.TestCase):
    def test_hello(self):
        r = run_cgi("hello:application", cgi_env("/"), path=os.path.join(EXAMPLES, "wsgi"))
        self.assertEqual(r.code, 200, r)
        self.assertTrue(r.raw.startswith(b"Status: 200 OK\r\n"))
        self.assertIn(b"Hello from WSGI", r.body)
        self.assertEqual(r.returncode, 0)

    def test_environ_and_body(self):
        body = b"first line\nsecond line\n"
        r = run_cgi("validate_app:application",
                    cgi_env("/env/x", "read=lines", "POST", body, script_name="/cgi-bin/app"),
                    body)
        self.assertEqual(r.code, 200, (r, r.stderr))
        doc = r.json()
        self.assertEqual(doc["body_parts"], [11, 12])
        self.assertEqual(doc["wsgi"]["wsgi.run_once"]["value"], True)
        self.assertEqual(doc["wsgi"]["wsgi.multithread"]["value"], False)
        self.assertEqual(doc["cgi"]["SCRIPT_NAME"], "/cgi-bin/app/env")
        self.assertEqual(doc["cgi"]["PATH_INFO"], "/x")
        self.assertNotIn("WSGIWarning", r.stderr)

    def test_https(self):
        r = run_cgi("validate_app:application", cgi_env("/env", extra={"HTTPS": "on"}))
        self.assertEqual(r.json()["wsgi"]["wsgi.url_scheme"]["value"], "https")

    def test_exception(self):
        r = run_cgi("validate_app:application", cgi_env("/raise"))
        self.assertEqual(r.code, 500, r)
        self.assertIn("RuntimeError: raised on purpose", r.stderr)

    def test_exc_info_and_write(self):
        self.assertEqual(run_cgi("validate_app:application", cgi_env("/exc-before")).code, 503)
        r = run_cgi("validate_app:application", cgi_env("/write"))
        self.assertEqual(r.body, b"written 1\nwritten 2\nreturned 3\n")
        r = run_cgi("validate_app:application", cgi_env("/exc-after"))
        self.assertEqual(r.body, b"a first block\n")
        self.assertEqual(r.returncode, 1)  # cut

    def test_file_wrapper(self):
        r = run_cgi("file_wrapper_app:application", cgi_env("/", "bytes=123456"))
        self.assertEqual(r.body, pattern(123456))

    def test_same_app_as_stdlib_cgihandler(self):
        # The example runs as a CGI program on its own too (wsgiref's CGIHandler).
        p = subprocess.run([PYTHON, os.path.join(EXAMPLES, "wsgi", "hello.py")],
                           env=dict(cgi_env("/"), PATH="/usr/bin:/bin"),
                           stdout=subprocess.PIPE, timeout=TIMEOUT)
        self.assertIn(b"Status: 200 OK", p.stdout)
        self.assertIn(b"Hello from WSGI", p.stdout)


# ---------------------------------------------------------------------------
# Flask and Django


def _framework_tests(protocol, client_class):
    class FrameworkTests(unittest.TestCase):
        @unittest.skipUnless(have_module("flask"), "python3-flask is not installed")
        def test_flask(self):
            w = Worker("app:app", protocol, path=os.path.join(EXAMPLES, "flask"))
            try:
                c = client_class(w)

                def req(path, method="GET", body=b"", query="", ctype=None):
                    return c.request(cgi_env(path, query, method, body, script_name="/flask",
                                             content_type=ctype), body)

                r = req("/")
                self.assertEqual(r.code, 200, (r, w.stderr()))
                self.assertIn(b"Hello from Flask", r.body)
                self.assertIn(b'href="/flask/form"', r.body)  # SCRIPT_NAME honoured
                r = req("/api/info", query="a=1")
                self.assertEqual(r.code, 200)
                self.assertEqual(r.header("Content-Type"), "application/json")
                info = r.json()
                self.assertEqual(info["script_root"], "/flask")
                self.assertEqual(info["path"], "/api/info")
                self.assertEqual(info["args"], {"a": "1"})
                r = req("/form", "POST", b"name=Ada&message=hi+there",
                        ctype="application/x-www-form-urlencoded")
                self.assertEqual(r.code, 303, r)
                self.assertTrue(r.header("Location").endswith("/flask/"), r.header("Location"))
                r = req("/form", "POST", b"name=", ctype="application/x-www-form-urlencoded")
                self.assertEqual(r.code, 400)
                r = req("/")
                self.assertIn(b"hi there", r.body)
                r = req("/api/echo", "POST", b'{"x": [1, 2]}', ctype="application/json")
                self.assertEqual(r.json(), {"received": {"x": [1, 2]}, "length": 13})
                r = req("/nowhere")
                self.assertEqual(r.code, 404)
                self.assertIn(b"404 Not Found", r.body)
                r = req("/boom")
                self.assertEqual(r.code, 500)
                self.assertIn(b"500 Internal Server Error", r.body)
                log = r.stderr if protocol == "fastcgi" else (
                    w.wait_stderr("deliberate error") and w.stderr())
                self.assertIn("RuntimeError: the demo's deliberate error", log)
                self.assertEqual(req("/").code, 200)
                if hasattr(c, "close"):
                    c.close()
            finally:
                w.stop()

        @unittest.skipUnless(have_module("django"), "python3-django is not installed")
        def test_django(self):
            w = Worker("demo.wsgi:application", protocol, path=os.path.join(EXAMPLES, "django"))
            try:
                c = client_class(w)
                r = c.request(cgi_env("/", "name=gatewayd", script_name="/django"))
                self.assertEqual(r.code, 200, (r, w.stderr()))
                self.assertIn(b"Hello, gatewayd, from Django", r.body)
                self.assertIn(b"path /django/", r.body)
                env = cgi_env("/nowhere/", script_name="/django")
                r = c.request(env)
                self.assertEqual(r.code, 404)
                # Django's logger (a StreamHandler that kept the sys.stderr it
                # found at start) says so in this request's log: its STDERR
                # records (FastCGI), a line with its id in front (uwsgi).
                said = "Not Found: /django/nowhere/"
                if protocol == "fastcgi":
                    self.assertIn(said, r.stderr)
                else:
                    self.assertTrue(w.wait_stderr(re.escape("[%s] %s" % (
                        env["GATEWAY_REQUEST_ID"], said))), w.stderr())
                # APPEND_SLASH redirects under the mount point.
                r = c.request(cgi_env("", script_name="/django"))
                self.assertIn(r.code, (200, 301))
                if hasattr(c, "close"):
                    c.close()
            finally:
                w.stop()

    FrameworkTests.__name__ = FrameworkTests.__qualname__ = "Framework%sTests" % (
        "Uwsgi" if protocol == "uwsgi" else "FastCGI")
    return FrameworkTests


FrameworkUwsgiTests = _framework_tests("uwsgi", UwsgiClient)
FrameworkFastCGITests = _framework_tests("fastcgi", FcgiClient)


class FrameworkCGITests(unittest.TestCase):
    @unittest.skipUnless(have_module("flask"), "python3-flask is not installed")
    def test_flask_as_cgi(self):
        r = run_cgi("app:app", cgi_env("/api/info", script_name="/cgi-bin/flask"),
                    path=os.path.join(EXAMPLES, "flask"))
        self.assertEqual(r.code, 200, (r, r.stderr))
        self.assertEqual(r.json()["script_root"], "/cgi-bin/flask")

    @unittest.skipUnless(have_module("django"), "python3-django is not installed")
    def test_django_as_cgi(self):
        r = run_cgi("demo.wsgi:application", cgi_env("/", script_name="/cgi-bin/django"),
                    path=os.path.join(EXAMPLES, "django"))
        self.assertEqual(r.code, 200, (r, r.stderr))
        self.assertIn(b"from Django", r.body)


class VarsParserTests(unittest.TestCase):
    """The uwsgi vars parser in C (spawner/wsgi/speedups.c, when built) and its
    Python fallback give the same dict, or both refuse, on the same packets."""

    @classmethod
    def setUpClass(cls):
        # The package the worker runs, found where its launcher finds it.
        import importlib
        import importlib.machinery
        import importlib.util
        sys.dont_write_bytecode = True  # leave no cache of the launcher in the tree
        loader = importlib.machinery.SourceFileLoader("gatewayd_wsgi_launcher", WORKER)
        spec = importlib.util.spec_from_loader(loader.name, loader)
        launcher = importlib.util.module_from_spec(spec)
        loader.exec_module(launcher)
        sys.path.insert(0, launcher.package_dir())
        cls.mod = importlib.import_module("gatewayd_wsgi.uwsgi_vars")

    @staticmethod
    def packet(pairs, raw_tail=b""):
        body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
                        for k, v in pairs) + raw_tail
        return bytes([0]) + struct.pack("<H", len(body)) + bytes([0]) + body

    def cases(self):
        good = [(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/caf\xe9"), (b"EMPTY", b""),
                (b"X" * 300, b"v" * 4000), (b"HTTP_HOST", b"example.org")]
        yield "good", self.packet(good)
        yield "none", self.packet([])
        yield "duplicate key: the last wins", self.packet([(b"A", b"1"), (b"A", b"2")])
        yield "empty key", self.packet([(b"A", b"1"), (b"", b"x")])
        yield "key size past the block", self.packet([(b"A", b"1")], b"\x05\x00AB")
        yield "value size past the block", self.packet([(b"A", b"1")], b"\x01\x00B\x09\x00xy")
        yield "a lone byte after the last var", self.packet([(b"A", b"1")], b"\x01")
        yield "a key with no value size", self.packet([(b"A", b"1")], b"\x01\x00B")

    def test_c_and_python_agree(self):
        py = self.mod.parse_vars_py
        c = self.mod.parse_vars
        if not self.mod.SPEEDUPS:
            self.skipTest("the C parser is not built for this interpreter (python3-dev)")
        self.assertIsNot(c, py)
        for what, pkt in self.cases():
            # the worker's buffer is larger than the packet: bytes past it must not count
            buf = bytearray(pkt) + bytearray(b"\x01\x00Z\x01\x00z" * 8)
            with self.subTest(what):
                want = py(buf, len(pkt))
                self.assertEqual(c(buf, len(pkt)), want)
                if "past" in what or "empty" in what or "lone" in what or "no value" in what:
                    self.assertIsNone(want)
                else:
                    self.assertIsInstance(want, dict)
        env = c(bytearray(self.packet([(b"PATH_INFO", b"/caf\xe9")])), 4 + 2 + 9 + 2 + 5)
        self.assertEqual(env, {"PATH_INFO": "/caf\u00e9"})
        with self.assertRaises(ValueError):
            c(b"\0\0\0\0", 10)


class PairsParserTests(unittest.TestCase):
    """The FastCGI name-value pairs parser in C (speedups.c's parse_pairs, when
    built) and its Python fallback give the same dict, or both refuse, on the
    same bytes: good blocks and every prefix of one."""

    @classmethod
    def setUpClass(cls):
        VarsParserTests.setUpClass.__func__(cls)
        cls.mod = importlib.import_module("gatewayd_wsgi.fastcgi_records")

    def test_c_and_python_agree(self):
        py = self.mod.fcgi_pairs_py
        c = self.mod.fcgi_pairs
        if c is py:
            self.skipTest("the C parser is not built for this interpreter (python3-dev)")
        enc = self.mod.fcgi_encode_pairs
        good = enc([(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/caf\xe9"), (b"EMPTY", b""),
                    (b"X" * 300, b"v" * 4000), (b"K" * 127, b"w" * 128), (b"", b"empty key"),
                    (b"A", b"1"), (b"A", b"2")])
        cases = [("good", good), ("none", b""),
                 ("a length past the data", b"\x01\x05AB"),
                 ("a 4-byte length cut short", b"\x80\x00\x01"),
                 ("a 4-byte length past the data", b"\x80\x00\x00\x02\x01AB1"),
                 ("a lone byte", b"\x01")]
        cases += [("prefix %d" % n, good[:n]) for n in range(len(good))]
        for what, data in cases:
            with self.subTest(what):
                want = py(data)
                self.assertEqual(c(data), want)
                self.assertEqual(c(bytearray(data)), want)
                self.assertEqual(c(memoryview(data)), want)
        env = c(good)
        self.assertEqual(env["PATH_INFO"], "/caf\u00e9")
        self.assertEqual(env["A"], "2", "the last of a duplicate wins")
        self.assertEqual(env[""], "empty key")
        self.assertEqual(len(env["X" * 300]), 4000)
        for what in ("a length past the data", "a 4-byte length cut short", "a lone byte"):
            self.assertIsNone(c(dict(cases)[what]), what)


if __name__ == "__main__":
    unittest.main()
