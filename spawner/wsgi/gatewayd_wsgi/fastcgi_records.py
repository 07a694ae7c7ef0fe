"""The FastCGI record codec: record headers, streams cut into records, and
name-value pairs."""

from struct import Struct

FCGI_BEGIN_REQUEST = 1
FCGI_ABORT_REQUEST = 2
FCGI_END_REQUEST = 3
FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_DATA = 8
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11
FCGI_RESPONDER = 1
FCGI_KEEP_CONN = 1
FCGI_REQUEST_COMPLETE = 0
FCGI_CANT_MPX_CONN = 1
FCGI_OVERLOADED = 2
FCGI_UNKNOWN_ROLE = 3
FCGI_MAX_CONTENT = 65535

_rec_header = Struct(">BBHHBx")
unpack_header = _rec_header.unpack_from
pack_header = _rec_header.pack
_end_body = Struct(">IB3x")
begin_body = Struct(">HB5x")


def fcgi_record(rtype, rid, content=b""):
    return pack_header(1, rtype, rid, len(content), 0) + content


def fcgi_end_request(rid, app_status=0, proto_status=FCGI_REQUEST_COMPLETE):
    return fcgi_record(FCGI_END_REQUEST, rid, _end_body.pack(app_status, proto_status))


def fcgi_stream(rtype, rid, data):
    """data as records of at most 65535 bytes each (no empty record)."""
    n = len(data)
    if n <= FCGI_MAX_CONTENT:
        return pack_header(1, rtype, rid, n, 0) + data
    mv = memoryview(data)
    parts = []
    for i in range(0, n, FCGI_MAX_CONTENT):
        piece = mv[i:i + FCGI_MAX_CONTENT]
        parts.append(pack_header(1, rtype, rid, len(piece), 0))
        parts.append(piece)
    return b"".join(parts)


def fcgi_pairs_py(data):
    """Decode FastCGI name-value pairs (1- or 4-byte lengths) into a dict of
    latin-1 strings. None when malformed."""
    s = str(data, "latin-1")
    n = len(data)
    env = {}
    i = 0
    try:
        while i < n:
            kl = data[i]
            vl = data[i + 1]
            if kl < 128 and vl < 128:  # both lengths in one byte: nearly always
                k = i + 2
                v = k + kl
                i = v + vl
                env[s[k:v]] = s[v:i]
                continue
            if kl & 0x80:
                kl = (kl & 0x7f) << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]
                i += 4
            else:
                i += 1
            vl = data[i]
            if vl & 0x80:
                vl = (vl & 0x7f) << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]
                i += 4
            else:
                i += 1
            v = i + kl
            env[s[i:v]] = s[v:v + vl]
            i = v + vl
    except IndexError:
        return None
    return env if i == n else None


# The same in C (spawner/wsgi/speedups.c), when it was built for this
# interpreter (see uwsgi_vars.py): about 2 us a request's params instead of 6.
try:
    from _gatewayd_wsgi import parse_pairs as fcgi_pairs
except ImportError:
    fcgi_pairs = fcgi_pairs_py


def fcgi_encode_pairs(pairs):
    out = []
    for k, v in pairs:
        for x in (k, v):
            out.append(bytes((len(x),)) if len(x) < 128 else (len(x) | 0x80000000).to_bytes(4, "big"))
        out.append(k)
        out.append(v)
    return b"".join(out)

