#!/bin/sh
# Prints the CGI environment the script was given, one NAME=value a line,
# sorted: what RFC 3875 meta-variables look like from inside a script.
printf 'Content-Type: text/plain\r\n\r\n'
env | LC_ALL=C sort
