"""Stopping: the stop signal ends an idle worker at once and a busy one after
its current request. The worker loops keep idle true while they wait for the
next request."""

idle = False
stop = False


class Stop(BaseException):
    """Raised by the stop signal's handler while the worker is idle."""


def on_stop(signum, frame):
    global stop
    stop = True
    if idle:
        raise Stop()
