#!/usr/bin/python3
"""CI test of bench/gatewayd-bench (about 25 s):

1. its helpers (Server-Timing parsing, --modes, the summary of rounds);
2. against a stand-in server that answers every other request with 503 and
   Server-Timing: the failures are counted and the exit status is 1;
3. Ctrl-C in the middle of a run stops the gatewayd it started, its workers
   and wrk;
4. a brief run of every mode against its own gatewayd (--duration 1 --warmup
   0.5 --rounds 1): bench.json holds a non-zero rate and no failed request for
   every mode, and bench.svg is a non-empty SVG (drawn again by --from-json).

Skipped (77) without wrk; without gnuplot the SVG is not checked and the test
says so and skips. `sh .ci/deps` installs both.
"""
import http.server
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("GW_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("GW_BUILDDIR") or SRC
BENCH = os.path.join(SRC, "bench", "gatewayd-bench")
ALL_MODES = ["c-hello cgi", "c-hello fastcgi", "wsgi-hello cgi", "wsgi-hello fastcgi",
             "wsgi-hello uwsgi", "flask cgi", "flask fastcgi", "flask uwsgi", "php-hello cgi",
             "php-hello fastcgi"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def load_bench():
    loader = importlib.machinery.SourceFileLoader("gatewayd_bench", BENCH)
    spec = importlib.util.spec_from_loader("gatewayd_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def helpers():
    gb = load_bench()
    check(gb.parse_server_timing("spawn;dur=1.5, queue;dur=0, app;desc=\"x\";dur=2.25, "
                                 "total;dur=3.75") ==
          {"spawn": 1.5, "queue": 0.0, "app": 2.25, "total": 3.75}, "Server-Timing parsed")
    check(gb.parse_server_timing("garbage, ;dur=1, x;dur=nan?") == {}, "bad Server-Timing ignored")
    names = lambda spec: [m.name for m in gb.select_modes(spec)]
    check(names(None) == ALL_MODES, "every mode by default, in order")
    check(names("flask") == ["flask cgi", "flask fastcgi", "flask uwsgi"], "--modes by app")
    check(names("cgi,php-hello-fastcgi") == ["c-hello cgi", "wsgi-hello cgi", "flask cgi",
                                            "php-hello cgi", "php-hello fastcgi"],
          "--modes by kind and full name")
    runs = [{"round": i + 1, "ok": ok, "failed": 0, "rps": ok / 2.0,
             "latency_ms": {"p50": 1.0 * ok, "p90": 2.0, "p99": 3.0, "max": 4.0},
             "cpu": None, "memory": None} for i, ok in enumerate((10, 30, 20))]
    s = gb.summarize(runs)
    check(s["rps"] == {"median": 10.0, "min": 5.0, "max": 15.0, "mean": 10.0}
          and s["median_round"] == 3 and s["latency_ms"]["p50"] == 20.0,
          "rounds summarized: median and min-max")


class Flaky(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    n = 0
    lock = threading.Lock()

    def do_GET(self):
        with Flaky.lock:
            Flaky.n += 1
            bad = Flaky.n % 2 == 0
        body = b"no\n" if bad else b"yes\n"
        self.send_response(503 if bad else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Server-Timing", "spawn;dur=0.5, queue;dur=0.25, app;dur=1, total;dur=2")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def failures_counted(tmp):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    out = os.path.join(tmp, "flaky")
    try:
        r = subprocess.run([BENCH, "--target", "http://127.0.0.1:%d" % srv.server_address[1],
                            "--modes", "c-hello-cgi", "--duration", "1", "--warmup", "0",
                            "--rounds", "1", "--concurrency", "2", "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()
    check(r.returncode == 1, "failed requests: exit status 1 (got %d)" % r.returncode)
    with open(os.path.join(out, "bench.json")) as f:
        doc = json.load(f)
    m = doc["modes"][0]
    run = m["runs"][0]
    check(run["ok"] > 0 and run["non_2xx"] > 0 and run["failed"] >= run["non_2xx"]
          and run["statuses"].get("503") == run["non_2xx"],
          "2xx and 503 counted apart (%d ok, %d failed)" % (run["ok"], run["failed"]))
    check(doc["ok"] is False and doc["problems"], "the JSON says it failed")
    check(m["server_timing"] == {"spawn": 0.5, "queue": 0.25, "app": 1.0, "total": 2.0},
          "Server-Timing of a sample request in the JSON")
    check(b"Server-Timing" in r.stdout and b"failed" in r.stderr.lower(),
          "table shows Server-Timing, stderr names the failure")


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append((int(name), data[data.find("(") + 1:data.rfind(")")]))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def interrupted(tmp):
    err = open(os.path.join(tmp, "int.err"), "w+")
    p = subprocess.Popen([BENCH, "--build-dir", BUILD, "--modes", "c-hello", "--duration", "30",
                          "--warmup", "0", "--rounds", "1", "--out", os.path.join(tmp, "int")],
                         stdout=subprocess.DEVNULL, stderr=err)
    seen = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for pid, comm in children_of(p.pid):
            seen[pid] = comm
            if comm == "gatewayd":
                for w, c in children_of(pid):
                    seen[w] = c
        if "wrk" in seen.values() and len(seen) >= 4:  # gatewayd, 2 workers, wrk
            break
        time.sleep(0.1)
    check("wrk" in seen.values() and "gatewayd" in seen.values(),
          "bench started gatewayd, workers and wrk (%s)" % sorted(seen.values()))
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    err.seek(0)
    said = err.read()
    err.close()
    check(rc == 130 and "interrupted" in said,
          "Ctrl-C: exit status 130 (got %s), said so" % rc)
    time.sleep(0.3)
    left = [(pid, c) for pid, c in seen.items() if alive(pid)]
    check(not left, "Ctrl-C: nothing it started is left running %s" % (left or ""))


def full_run(tmp):
    out = os.path.join(tmp, "full")
    t0 = time.monotonic()
    r = subprocess.run([BENCH, "--build-dir", BUILD, "--duration", "1", "--warmup", "0.5",
                        "--rounds", "1", "--out", out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240)
    took = time.monotonic() - t0
    sys.stdout.write(r.stdout.decode("utf-8", "replace"))
    sys.stdout.write(r.stderr.decode("utf-8", "replace"))
    check(r.returncode == 0, "full run: exit status 0 (got %d, %.0f s)" % (r.returncode, took))
    with open(os.path.join(out, "bench.json")) as f:
        doc = json.load(f)
    got = [m["name"] for m in doc["modes"] if m.get("runs")]
    check(got == ALL_MODES, "every mode ran: %s" % [m for m in ALL_MODES if m not in got])
    for m in doc["modes"]:
        if not m.get("runs"):
            check(False, "%s: skipped (%s)" % (m["name"], m.get("skipped")))
            continue
        s = m["summary"]
        cpu = s["cpu_us_per_req"] or {}
        check(s["rps"]["min"] > 0 and s["ok"] > 0 and s["failed"] == 0,
              "%s: %.1f req/s, %d failed" % (m["name"], s["rps"]["min"], s["failed"]))
        check(cpu.get("gatewayd") is not None and cpu.get("app") and cpu["app"] > 0
              and s["memory_kib"]["gatewayd_rss_kib"] > 0,
              "%s: CPU time per request and memory measured" % m["name"])
    check(doc["ok"] is True and not doc["problems"], "the JSON says ok")
    check(not alive(doc["settings"]["pid"]), "its gatewayd is stopped")
    svg = os.path.join(out, "bench.svg")
    if not shutil.which("gnuplot"):
        check(not os.path.exists(svg), "no gnuplot, no chart")
        return "no gnuplot (apt-get install gnuplot-nox): the chart was not checked"
    head = b""
    if os.path.exists(svg):
        with open(svg, "rb") as f:
            head = f.read()
    check(len(head) > 1000 and b"<svg" in head[:2000] and head.rstrip().endswith(b"</svg>"),
          "bench.svg is a non-empty SVG (%d bytes)" % len(head))
    os.unlink(svg)
    r = subprocess.run([BENCH, "--from-json", os.path.join(out, "bench.json")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    check(r.returncode == 0 and os.path.getsize(svg) > 1000 and b"flask uwsgi" in r.stdout,
          "--from-json: the table and the chart again")
    return None


def main():
    if not shutil.which("wrk"):
        print("SKIP: no wrk (sh .ci/deps, or apt-get install wrk)")
        return 77
    tmp = tempfile.mkdtemp(prefix="check-bench.")
    try:
        helpers()
        failures_counted(tmp)
        interrupted(tmp)
        skip = full_run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    if skip:
        print("SKIP: " + skip)
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
