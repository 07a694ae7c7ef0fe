#!/bin/sh
# The classic: a shell script answering over CGI.
printf 'Content-Type: text/plain\r\n\r\n'
echo "Hello from sh, pid $$"
[ -n "$QUERY_STRING" ] && echo "query: $QUERY_STRING"
exit 0
