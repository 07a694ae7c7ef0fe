#!/usr/bin/python3
"""Several gatewayd hosts behind a real HAProxy, under load (about 60 s).

The setup (everything named gwb<pid>..., removed at the end, even on failure):

  root namespace: a bridge gwb<pid>br (NET.1), HAProxy on 127.0.0.1:<free
      port> with `option httpchk GET /_gatewayd/ready`, `agent-check` on each
      host's agent port, `retries 3`, `option redispatch`, `retry-on
      conn-failure empty-response 503` for GET and HEAD only (README.md,
      "Behind a load balancer"), its stats
      socket read to know when a server is UP or DOWN, and the load client;
  namespaces gwb<pid>h1, h2, h3: one "host" each (NET.11, .12, .13), gatewayd
      started as root with "user": "www-data", HTTP on :8080, agent on :9999,
      a spawned FastCGI pool (examples/hello.fcgi) on =/fcgi/hello and a php
      pool on /php/: an external pool (the remote php-cgi) on h1 and h2, a
      spawned php-cgi pool on h3;
  namespace gwb<pid>p: the remote FastCGI pool, `php-cgi -b NET.14:9000`
      as www-data.

Each namespace has a veth pair whose other end is on the bridge.

The load: a fixed rate (RATE requests/s in all, half to /fcgi/hello, half to
/php/hello.php), open loop: each request at its time on an idle kept-alive
HTTP/1.1 connection to HAProxy, one more opened when none is idle (MAX_CONNS
at most), its latency counted from its time; for the length of each event
plus a second before and after. The events, in order:

  1. rolling restart: on each host in turn SIGTERM, wait for its exit (status
     0), start it again, wait until HAProxy has it UP;
  2. reload: on each host a changed config (the hello pool 2 -> 3 workers),
     SIGHUP, wait until /_gatewayd/status shows 3 workers;
  3. kill -9 of h2's gatewayd (its dispatcher; the spawner it forked then
     stops the workers), then started again;
  4. the remote pool frozen (SIGSTOP), killed (SIGKILL) and started again
     1 s later: h1's and h2's requests wait in their php pool's queue while
     its address rests (5 s).

For each event: requests sent, 2xx, failed (any other status, or no answer),
worst latency. Every event must have no failed request, but for the kill -9:
there, at most the requests in flight on h2 may fail, read from h2's
/_gatewayd/status just before the kill: its "connections" (the open client
connections, less the status request's own), an upper bound of the requests
in flight (an idle kept-alive connection from HAProxy counts too); and for
the remote pool, at most the requests in flight there, the "busy" slots of
h1's and h2's php pool in their status, read while it is frozen (php-cgi has
no graceful stop, and gatewayd sends nobody else a request a worker may have
begun).

Skipped (77) when not root, when `ip netns` cannot be used, or without
haproxy or php-cgi (`sh .ci/deps` installs them).
"""
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("GW_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("GW_BUILDDIR") or SRC
GATEWAYD = os.path.join(BUILD, "gatewayd", "gatewayd")
HELLO_FCGI = os.path.join(BUILD, "examples", "hello.fcgi")

RATE = 200  # requests per second, all connections together
MAX_CONNS = 400  # kept-alive client connections to HAProxy, at most
TAG = "gwb%d" % os.getpid()
HOSTS = ["h1", "h2", "h3"]
EXTERNAL = {"h1", "h2"}  # hosts whose php pool is the remote one
KILLED = "h2"  # the host killed with -9
T0 = time.monotonic()


def log(msg):
    print("[%5.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(77)


def run(*argv, check=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                 p.stdout.strip()))
    return p


def wait_for(what, cond, timeout, step=0.05):
    """cond() until true, at most timeout seconds; else fail, naming what."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)


def http_get(host, port, path, timeout=2.0):
    """(status, body) or (None, error)."""
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)


def can_connect(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pick_subnet():
    """A 10.213.N.0/24 that no route of the root namespace covers yet."""
    routes = run("ip", "-4", "route", "show", "table", "all").stdout
    for i in range(200):
        net = "10.213.%d" % ((os.getpid() + i) % 200 + 20)
        if net + "." not in routes:
            return net
    raise RuntimeError("no free 10.213.N.0/24 subnet")


class Procs:
    """Every process this test starts, to stop by PID on the way out."""

    def __init__(self):
        self.all = []

    def start(self, argv, logfile, env=None):
        with open(logfile, "ab") as out:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=env)
        self.all.append(p)
        return p

    def stop_all(self):
        for p in self.all:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGKILL)
                    p.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass


def children(pid):
    """The PIDs of pid's children (every thread's), read from /proc."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def alive(pid):
    """Not gone and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Load:
    """RATE requests/s, open loop, until stop(): a pacer hands each request at
    its time to an idle connection, opening one more (at most MAX_CONNS, each
    kept alive) when none is idle; latency counts from the request's time."""

    def __init__(self, port):
        self.port = port
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.jobs = queue.Queue()
        self.idle = 0
        self.conns = []
        self.sent = self.ok = self.failed = 0
        self.worst = 0.0
        self.failures = []
        self.began = time.monotonic()
        self.pacer = threading.Thread(target=self.pace, daemon=True)
        self.pacer.start()

    def pace(self):
        n = 0
        while not self.stop_ev.is_set():
            at = self.began + n / RATE
            delay = at - time.monotonic()
            if delay > 0 and self.stop_ev.wait(delay):
                break
            with self.lock:
                grow = self.idle == 0 and len(self.conns) < MAX_CONNS
                if grow:
                    t = threading.Thread(target=self.conn, daemon=True)
                    self.conns.append(t)
                else:
                    self.idle -= 1
            if grow:
                t.start()
            self.jobs.put((at, "/fcgi/hello" if n % 2 == 0 else "/php/hello.php"))
            n += 1
        for _ in self.conns:
            self.jobs.put(None)

    def conn(self):
        c = None
        while True:
            job = self.jobs.get()
            if job is None:
                break
            at, path = job
            err = None
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
                if not 200 <= r.status < 300:
                    err = "%d %s" % (r.status, body[:80])
            except (OSError, http.client.HTTPException) as e:
                err = "no answer: %r" % e
                if c is not None:
                    c.close()
                c = None
            lat = time.monotonic() - at
            with self.lock:
                self.idle += 1
                self.sent += 1
                self.worst = max(self.worst, lat)
                if err is None:
                    self.ok += 1
                else:
                    self.failed += 1
                    if len(self.failures) < 10:
                        self.failures.append("%.1f s: GET %s: %s" % (at - T0, path, err))
        if c is not None:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.pacer.join(timeout=5)
        deadline = time.monotonic() + 35
        for t in list(self.conns):
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        return time.monotonic() - self.began


class Cluster:
    def __init__(self, tmp, procs):
        self.tmp = tmp
        self.procs = procs
        self.net = pick_subnet()
        self.bridge = TAG + "br"
        self.namespaces = []
        self.links = []
        self.ip = {h: "%s.%d" % (self.net, 11 + i) for i, h in enumerate(HOSTS)}
        self.ip["p"] = self.net + ".14"
        self.gw = {}  # host -> Popen of its gatewayd
        self.php = None
        self.haproxy = None
        self.port = free_port()
        self.hello_workers = {h: 2 for h in HOSTS}

    # ---- the network -------------------------------------------------------

    def build_network(self):
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        # frames between two namespaces cross the bridge: keep iptables out
        run("ip", "link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0",
            check=False)
        run("ip", "addr", "add", self.net + ".1/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for name in HOSTS + ["p"]:
            ns = TAG + name
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.links.append(ns)
            run("ip", "link", "set", ns, "master", self.bridge, "up")
            run("ip", "-n", ns, "addr", "add", self.ip[name] + "/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    # ---- the remote pool ---------------------------------------------------

    def start_php(self):
        env = {"PATH": "/usr/bin:/bin", "PHP_FCGI_CHILDREN": "4",
               "PHP_FCGI_MAX_REQUESTS": "0"}
        self.php = self.procs.start(
            ["ip", "netns", "exec", TAG + "p", "setpriv", "--reuid=www-data",
             "--regid=www-data", "--init-groups", "php-cgi", "-b", self.ip["p"] + ":9000"],
            os.path.join(self.tmp, "php-cgi.log"), env=env)
        wait_for("php-cgi on %s:9000" % self.ip["p"],
                 lambda: can_connect(self.ip["p"], 9000), 10)

    # ---- the hosts ---------------------------------------------------------

    def write_config(self, h):
        d = os.path.join(self.tmp, h)
        os.makedirs(d, mode=0o755, exist_ok=True)
        if h in EXTERNAL:
            php = {"protocol": "fastcgi", "addresses": [self.ip["p"] + ":9000"],
                   "connections": 8, "queue": 1024, "queue_timeout": 20}
        else:
            php = {"protocol": "fastcgi", "command": ["php-cgi"],
                   "env": {"PHP_FCGI_CHILDREN": "0", "PHP_FCGI_MAX_REQUESTS": "0",
                           "PATH": "/usr/bin:/bin"},
                   "processes": 4, "queue": 1024, "queue_timeout": 20}
        cfg = {
            "user": "www-data",
            "listen": [{"http": self.ip[h] + ":8080"}, {"agent": self.ip[h] + ":9999"}],
            "log": {"error": os.path.join(d, "error.log"), "level": "info"},
            "timeouts": {"keepalive": 15, "shutdown": 10},
            "pools": {
                "hello": {"protocol": "fastcgi", "command": [HELLO_FCGI],
                          "processes": self.hello_workers[h], "stop_signal": "USR1",
                          "queue": 1024, "queue_timeout": 20},
                "php": php,
            },
            "routes": [
                {"match": "=/fcgi/hello", "pool": "hello"},
                {"match": "/php/", "pool": "php", "root": os.path.join(self.tmp, "php")},
            ],
            # the test reads it from the root namespace, over the bridge
            "status": {"enabled": True, "loopback_only": False},
        }
        path = os.path.join(d, "gatewayd.json")
        with open(path + ".tmp", "w") as f:
            json.dump(cfg, f, indent=2)
        os.chmod(path + ".tmp", 0o644)
        os.rename(path + ".tmp", path)
        return path

    def start_host(self, h):
        conf = self.write_config(h)
        self.gw[h] = self.procs.start(
            ["ip", "netns", "exec", TAG + h, GATEWAYD, "-c", conf],
            os.path.join(self.tmp, h, "stderr.log"))
        wait_for("%s ready" % h, lambda: self.ready(h), 15)

    def ready(self, h):
        if self.gw[h].poll() is not None:
            raise RuntimeError("%s: gatewayd exited with %s:\n%s" %
                               (h, self.gw[h].returncode, self.tail(h)))
        return http_get(self.ip[h], 8080, "/_gatewayd/ready")[0] == 200

    def status(self, h):
        st, body = http_get(self.ip[h], 8080, "/_gatewayd/status")
        return json.loads(body) if st == 200 else None

    def tail(self, h, n=15):
        out = []
        for name in ("error.log", "stderr.log"):
            try:
                with open(os.path.join(self.tmp, h, name), errors="replace") as f:
                    out += ["%s/%s: %s" % (h, name, ln.rstrip()) for ln in f.readlines()[-n:]]
            except OSError:
                pass
        return "\n".join(out)

    def spawner_of(self, h):
        return children(self.gw[h].pid)

    def wait_gone(self, h, pids, timeout):
        """The host's spawner (and so its workers) gone within timeout."""
        wait_for("%s's spawner %s to exit" % (h, pids),
                 lambda: not any(alive(p) for p in pids), timeout)

    # ---- HAProxy -----------------------------------------------------------

    def start_haproxy(self):
        servers = "".join("    server %s %s:8080\n" % (h, self.ip[h]) for h in HOSTS)
        cfg = """global
    maxconn 4096
    stats socket {tmp}/haproxy.sock mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout queue 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response 503

frontend www
    bind 127.0.0.1:{port}
    default_backend gatewayd

backend gatewayd
    http-request disable-l7-retry if !METH_GET
    balance roundrobin
    option httpchk GET /_gatewayd/ready
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 2 weight 100 agent-check agent-port 9999 agent-inter 200ms
{servers}""".format(tmp=self.tmp, port=self.port, servers=servers)
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        run("haproxy", "-c", "-q", "-f", path)
        self.haproxy = self.procs.start(["haproxy", "-db", "-f", path],
                                        os.path.join(self.tmp, "haproxy.log"))
        for h in HOSTS:
            self.wait_state(h, "UP", 10)

    def haproxy_cmd(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        try:
            s.connect(os.path.join(self.tmp, "haproxy.sock"))
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b
        finally:
            s.close()

    def retried(self):
        """The backend's retries and redispatches so far (wretr, wredis)."""
        lines = self.haproxy_cmd("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        for ln in lines[1:]:
            row = dict(zip(head, ln.split(",")))
            if row.get("pxname") == "gatewayd" and row.get("svname") == "BACKEND":
                return int(row.get("wretr") or 0), int(row.get("wredis") or 0)
        return 0, 0

    def server_state(self, h):
        """The server's status column of `show stat` (UP, DOWN, DRAIN, ...)."""
        try:
            lines = self.haproxy_cmd("show stat").splitlines()
        except OSError:
            return None
        if not lines:
            return None
        head = lines[0].lstrip("# ").split(",")
        for ln in lines[1:]:
            row = dict(zip(head, ln.split(",")))
            if row.get("pxname") == "gatewayd" and row.get("svname") == h:
                return row.get("status")
        return None

    def wait_state(self, h, state, timeout):
        t = time.monotonic()
        wait_for("HAProxy to see %s %s" % (h, state),
                 lambda: (self.server_state(h) or "").startswith(state), timeout)
        return time.monotonic() - t

    # ---- the way out -------------------------------------------------------

    def teardown(self):
        for ns in self.namespaces:  # whatever still runs there was started by us
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        self.procs.stop_all()
        for ns in self.namespaces:
            for _ in range(50):
                if not run("ip", "netns", "pids", ns, check=False).stdout.split():
                    break
                time.sleep(0.1)
            run("ip", "netns", "del", ns, check=False)
        for link in self.links:
            if run("ip", "link", "show", link, check=False).returncode == 0:
                run("ip", "link", "del", link, check=False)


# ---- the events ------------------------------------------------------------

def rolling_restart(cl):
    for h in HOSTS:
        spawner = cl.spawner_of(h)
        t = time.monotonic()
        cl.gw[h].send_signal(signal.SIGTERM)
        rc = cl.gw[h].wait(timeout=20)
        if rc != 0:
            raise RuntimeError("%s: gatewayd exited %d after SIGTERM:\n%s" % (h, rc, cl.tail(h)))
        cl.wait_gone(h, spawner, 10)
        stopped = time.monotonic() - t
        cl.start_host(h)
        up = cl.wait_state(h, "UP", 10)
        log("  %s: drained and stopped in %.1f s, UP again %.1f s after its start"
            % (h, stopped, up))


def reload(cl):
    for h in HOSTS:
        cl.hello_workers[h] = 3
        cl.write_config(h)
        cl.gw[h].send_signal(signal.SIGHUP)

        def three(h=h):
            st = cl.status(h)
            if not st:
                return False
            for p in st["pools"]:
                if p["name"] == "hello" and not p["retired"]:
                    return p["limits"]["start"] == 3 and p["processes"].get("idle", 0) + \
                        p["processes"].get("busy", 0) >= 3
            return False
        t = time.monotonic()
        wait_for("%s to run 3 hello workers after SIGHUP" % h, three, 10)
        if cl.gw[h].poll() is not None:
            raise RuntimeError("%s exited on SIGHUP:\n%s" % (h, cl.tail(h)))
        log("  %s: reloaded, 3 hello workers after %.1f s" % (h, time.monotonic() - t))


def kill9(cl, allowance):
    h = KILLED
    spawner = cl.spawner_of(h)
    c = http.client.HTTPConnection(cl.ip[h], 8080, timeout=2)
    c.connect()  # open first: the status request is the last thing before the kill
    c.request("GET", "/_gatewayd/status")
    r = c.getresponse()
    st = json.loads(r.read())
    os.kill(cl.gw[h].pid, signal.SIGKILL)
    c.close()
    busy = sum(p["processes"].get("busy", 0) + p["queue_length"] for p in st["pools"])
    allowance["in_flight"] = st["connections"] - 1
    log("  %s killed (-9, pid %d); its status just before: \"connections\": %d (in flight "
        "at most %d, less the status request's own), busy workers + queued: %d"
        % (h, cl.gw[h].pid, st["connections"], allowance["in_flight"], busy))
    cl.gw[h].wait(timeout=5)
    t = time.monotonic()
    cl.wait_gone(h, spawner, 10)
    log("  %s: its spawner and workers gone %.1f s after the kill" % (h, time.monotonic() - t))
    down = cl.wait_state(h, "DOWN", 10)
    log("  %s: HAProxy has it DOWN %.1f s after that" % (h, down))
    cl.start_host(h)
    up = cl.wait_state(h, "UP", 10)
    log("  %s: started again, UP after %.1f s" % (h, up))


def pool_busy(cl):
    """{host: busy slots of its external php pool}: each is one request sent
    to the remote pool on a connection of its own and not yet answered."""
    out = {}
    for h in sorted(EXTERNAL):
        st = cl.status(h)
        if not st:
            raise RuntimeError("no status from %s" % h)
        out[h] = sum(p["processes"].get("busy", 0) for p in st["pools"] if p["name"] == "php")
    return out


def remote_pool(cl, allowance):
    """php-cgi has no graceful stop (SIGTERM drops a request in progress too),
    and gatewayd rightly sends nobody else a request a worker may have begun:
    what is in flight there when it dies fails. To know exactly how many, the
    pool is frozen first (SIGSTOP to each of its processes): requests sent to
    it stay busy, the hosts' slots for it (8 each) fill within a moment and
    the rest wait in their queues; the busy slots, read then, are the
    requests in flight; then SIGKILL, 1 s, started again."""
    pids = [int(p) for p in run("ip", "netns", "pids", TAG + "p").stdout.split()]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    time.sleep(0.5)
    busy = pool_busy(cl)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    allowance["pool_in_flight"] = sum(busy.values())
    log("  remote php-cgi (%d processes) frozen, then killed (-9); in flight there: %s "
        "(\"busy\" of the php pool in /_gatewayd/status, read while it was frozen)"
        % (len(pids), ", ".join("%s %d" % kv for kv in sorted(busy.items()))))
    cl.php.wait(timeout=5)
    wait_for("php-cgi's processes to be gone", lambda: not any(alive(p) for p in pids), 5)
    time.sleep(1)
    cl.start_php()
    log("  remote php-cgi started again")

    def back():
        for h in EXTERNAL:
            st = cl.status(h)
            if not st:
                return False
            for p in st["pools"]:
                if p["name"] == "php" and (p["processes"].get("dead", 0) or p["queue_length"]):
                    return False
        return True
    t = time.monotonic()
    wait_for("h1's and h2's php pools to use the remote pool again", back, 15, 0.2)
    log("  h1 and h2 use it again %.1f s later (an address that failed rests 5 s; "
        "their requests wait in the pool's queue meanwhile)" % (time.monotonic() - t))


def main():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, a bridge, gatewayd dropping to www-data)")
    for prog in ("ip", "haproxy", "php-cgi", "setpriv"):
        if not shutil.which(prog):
            skip("no %s here (sh .ci/deps installs haproxy and php-cgi)" % prog)
    probe = TAG + "probe"
    p = subprocess.run(["ip", "netns", "add", probe], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=10)
    if p.returncode != 0:
        skip("`ip netns add` does not work here: %s" % p.stdout.strip())
    subprocess.run(["ip", "netns", "del", probe], timeout=10)
    for f in (GATEWAYD, HELLO_FCGI):
        if not os.access(f, os.X_OK):
            print("FAIL: %s is not built" % f)
            return 1

    # www-data reads the configs and the php script and runs hello.fcgi
    tmp = tempfile.mkdtemp(prefix="gatewayd-balancer.")
    os.chmod(tmp, 0o755)
    os.makedirs(os.path.join(tmp, "php"), mode=0o755)
    with open(os.path.join(tmp, "php", "hello.php"), "w") as f:
        f.write("<?php header('Content-Type: text/plain'); echo \"php ok\\n\";\n")
    os.chmod(os.path.join(tmp, "php", "hello.php"), 0o644)
    procs = Procs()
    cl = Cluster(tmp, procs)
    results = []
    failed = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        cl.build_network()
        log("network: bridge %s %s.1/24; hosts %s; remote pool %s:9000; HAProxy 127.0.0.1:%d"
            % (cl.bridge, cl.net, ", ".join("%s=%s" % (h, cl.ip[h]) for h in HOSTS),
               cl.ip["p"], cl.port))
        if shutil.which("ping") and run("ip", "netns", "exec", TAG + "h1", "ping", "-c1",
                                        "-W1", cl.ip["p"], check=False).returncode != 0:
            raise RuntimeError("h1 cannot reach the remote pool's namespace over the bridge")
        cl.start_php()
        for h in HOSTS:
            cl.start_host(h)
        cl.start_haproxy()
        log("3 hosts ready and UP in HAProxy")
        log("load: %d requests/s, open loop, over kept-alive HTTP/1.1 connections to "
            "HAProxy (one more opened when none is idle, %d at most), GET /fcgi/hello and "
            "/php/hello.php in turn, from 1 s before each event to 1 s after it"
            % (RATE, MAX_CONNS))
        allowance = {}
        events = [("rolling restart (SIGTERM, start)", lambda: rolling_restart(cl), None),
                  ("SIGHUP with a changed config", lambda: reload(cl), None),
                  ("kill -9 of %s, started again" % KILLED, lambda: kill9(cl, allowance),
                   "in_flight"),
                  ("remote pool killed and restarted", lambda: remote_pool(cl, allowance),
                   "pool_in_flight")]
        for name, action, allowed in events:
            log("event: " + name)
            before = cl.retried()
            load = Load(cl.port)
            time.sleep(1)
            try:
                action()
            finally:
                time.sleep(1)
                took = load.stop()
            may_fail = allowance.get(allowed, 0) if allowed else 0
            after = cl.retried()
            log("  HAProxy's backend: %d retries, %d redispatches to another server (wretr, wredis)"
                % (after[0] - before[0], after[1] - before[1]))
            results.append((name, load.sent, load.ok, load.failed, load.worst, took, may_fail))
            log("  %s: %.1f s, sent %d, 2xx %d, failed %d (%d allowed), worst latency %.0f ms, "
                "%d client connections" % (name, took, load.sent, load.ok, load.failed,
                                           may_fail, load.worst * 1000, len(load.conns)))
            for f in load.failures:
                log("    failed: " + f)
            if load.failed > may_fail:
                failed.append("%s: %d failed requests, %d allowed" % (name, load.failed, may_fail))
        for h in HOSTS:
            if cl.gw[h].poll() is not None:
                failed.append("%s exited (%s)" % (h, cl.gw[h].returncode))
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyboardInterrupt,
            ValueError, KeyError) as e:
        failed.append("%s: %s" % (type(e).__name__, e))
        for h in HOSTS:
            print(cl.tail(h))
    finally:
        if failed:
            try:
                with open(os.path.join(tmp, "haproxy.log"), errors="replace") as f:
                    bad = [ln.rstrip() for ln in f
                           if not re.search(r" -?\d+/-?\d+/-?\d+/-?\d+/-?\d+ 200 ", ln)][-20:]
                print("HAProxy's log, the last lines not a 200:\n" + "\n".join(bad))
            except OSError:
                pass
            for h in HOSTS:
                errs = [ln for ln in cl.tail(h, 400).splitlines()
                        if re.search(r"\b50[234]\b|error|warn", ln)][-8:]
                if errs:
                    print("\n".join(errs))
        cl.teardown()
        if os.environ.get("GW_KEEP"):
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print("\n%-40s %6s %6s %6s %8s %9s" % ("event", "sent", "2xx", "failed", "allowed",
                                           "worst ms"))
    for name, sent, ok, bad, worst, took, may_fail in results:
        print("%-40s %6d %6d %6d %8d %9.0f" % (name, sent, ok, bad, may_fail, worst * 1000))
    print("whole test: %.1f s" % (time.monotonic() - T0))
    if failed:
        for f in failed:
            print("FAIL: " + f)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
