"""The uwsgi vars codec: a packet's vars block as an environ dict."""


def parse_vars_py(buf, total):
    """The vars of the uwsgi packet in buf[0:total] (u16 LE key size, key, u16
    LE value size, value, after the 4-byte header) as an environ dict; None
    when a size runs past the block or a key is empty."""
    # s holds the packet as latin-1 text, indexed as buf is.
    s = str(memoryview(buf)[:total], "latin-1")
    env = {}
    i = 4
    while i < total:
        if total - i < 2:
            return None
        kl = buf[i] | buf[i + 1] << 8
        ke = i + 2 + kl
        if not kl or total - ke < 2:
            return None
        vl = buf[ke] | buf[ke + 1] << 8
        ve = ke + 2 + vl
        if ve > total:
            return None
        env[s[i + 2:ke]] = s[ke + 2:ve]
        i = ve
    return env


# The same in C (spawner/wsgi/speedups.c), when it was built for this
# interpreter: the module _gatewayd_wsgi beside this package, where sys.path
# finds it (the launcher puts the package's directory there).
try:
    from _gatewayd_wsgi import parse_vars
except ImportError:
    parse_vars = parse_vars_py
SPEEDUPS = parse_vars is not parse_vars_py
