import os

from django.http import HttpResponse
from django.utils.html import escape

_served = {"n": 0}


def index(request):
    _served["n"] += 1
    name = request.GET.get("name", "world")
    return HttpResponse(
        "<!doctype html><title>Django on gatewayd</title>"
        "<h1>Hello, %s, from Django</h1>"
        "<p>Worker pid %d, request %d, path %s (mounted at \"%s\").</p>"
        % (escape(name), os.getpid(), _served["n"], escape(request.path),
           escape(request.META.get("SCRIPT_NAME", ""))),
        content_type="text/html; charset=utf-8")
