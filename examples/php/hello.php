#!/usr/bin/php-cgi
<?php
// The PHP twin of hello.c: the smallest answer, for benchmarks. The same file
// runs in a php-cgi FastCGI pool and, executable with this #! line, as a CGI
// program (php-cgi skips the line; gatewayd sets REDIRECT_STATUS, which
// php-cgi's cgi.force_redirect asks for, and SCRIPT_FILENAME, which it runs).
header('Content-Type: text/plain');
echo "Hello from PHP, pid ", getmypid(), "\n";
