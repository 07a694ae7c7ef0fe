<?php
// Served by a pool of php-cgi processes over FastCGI: the interpreter starts
// once and serves request after request, so getmypid() repeats.
header('Content-Type: text/plain; charset=utf-8');
static $served = 0;
echo "Hello from PHP ", PHP_VERSION, ", pid ", getmypid(), "\n";
echo "SCRIPT_NAME=", $_SERVER['SCRIPT_NAME'] ?? '', "\n";
echo "PATH_INFO=", $_SERVER['PATH_INFO'] ?? '', "\n";
if (!empty($_GET)) {
    foreach ($_GET as $k => $v) {
        echo "get[", $k, "]=", is_array($v) ? implode(',', $v) : $v, "\n";
    }
}
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    echo "post bytes=", strlen(file_get_contents('php://input')), "\n";
}
