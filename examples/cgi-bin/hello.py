#!/usr/bin/env python3
"""A Python CGI script: no framework, the environment and stdout."""
import os
import sys

sys.stdout.write("Content-Type: text/plain\r\n\r\n")
sys.stdout.write("Hello from python3, pid %d\n" % os.getpid())
if os.environ.get("QUERY_STRING"):
    sys.stdout.write("query: %s\n" % os.environ["QUERY_STRING"])
