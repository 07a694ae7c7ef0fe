#!/usr/bin/perl
# A Perl CGI script, as cgi-bin directories have held since 1995.
use strict;
use warnings;
print "Content-Type: text/plain\r\n\r\n";
print "Hello from perl, pid $$\n";
print "query: $ENV{QUERY_STRING}\n" if length($ENV{QUERY_STRING} // '');
