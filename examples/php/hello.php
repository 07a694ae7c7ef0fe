<?php
// The PHP twin of hello.c: the smallest answer, for benchmarks.
header('Content-Type: text/plain');
echo "Hello from PHP, pid ", getmypid(), "\n";
