"""An application that streams a large response in 64 KiB blocks: 100 MiB by
default, "?mib=N" for another size. With Content-Length, so a cut shows."""

BLOCK = b"0123456789abcdef" * 4096  # 64 KiB


def application(environ, start_response):
    mib = 100
    for part in environ.get("QUERY_STRING", "").split("&"):
        if part.startswith("mib="):
            mib = int(part[4:])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(mib << 20))])
    return blocks(mib * 16)


def blocks(n):
    for _ in range(n):
        yield BLOCK
