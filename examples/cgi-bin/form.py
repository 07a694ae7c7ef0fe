#!/usr/bin/env python3
"""An HTML form that POSTs to itself: GET shows the form, POST shows what arrived."""
import html
import os
import sys
import urllib.parse

method = os.environ.get("REQUEST_METHOD", "GET")
fields = {}
if method == "POST":
    length = int(os.environ.get("CONTENT_LENGTH") or 0)
    body = sys.stdin.buffer.read(length).decode("utf-8", "replace")
    fields = urllib.parse.parse_qs(body, keep_blank_values=True)

out = ["<!DOCTYPE html>", "<html><head><title>gatewayd form</title></head><body>",
       "<h1>A form handled by a CGI script</h1>",
       '<form method="post" action="%s">' % html.escape(os.environ.get("SCRIPT_NAME", "")),
       '<p><label>Name <input name="name"></label></p>',
       '<p><label>Message <textarea name="message"></textarea></label></p>',
       '<p><button type="submit">Send</button></p></form>']
if method == "POST":
    out.append("<h2>Received</h2><dl>")
    for key, values in sorted(fields.items()):
        for value in values:
            out.append("<dt>%s</dt><dd>%s</dd>" % (html.escape(key), html.escape(value)))
    out.append("</dl>")
out.append("</body></html>")
body = "\n".join(out) + "\n"
sys.stdout.write("Content-Type: text/html; charset=utf-8\r\n")
sys.stdout.write("Content-Length: %d\r\n\r\n" % len(body.encode("utf-8")))
sys.stdout.write(body)
