"""gatewayd-wsgi: serve a WSGI (PEP 3333) application over uwsgi, FastCGI or CGI.

The worker gatewayd runs, one module per part (the launcher, gatewayd-wsgi,
calls main.main):

  main             the command line, loading the application, the three modes
  listener         the listening socket gatewayd passes on fd 0, and the
                   connections it brings
  stopping         the stop signal: an idle worker ends at once, a busy one
                   after its request
  stderr           the worker's own log lines; sys.stderr routed to the
                   request being served
  errors           wsgi.errors
  wsgi_input       wsgi.input
  environ          the environ every request starts from
  response         the PEP 3333 core: start_response, write, the result
  fd_out           the answer's writer on a bare descriptor (uwsgi, CGI)
  uwsgi_vars       the uwsgi vars codec (in C when built: _gatewayd_wsgi)
  uwsgi            the uwsgi worker loop
  fastcgi_records  the FastCGI record codec
  fastcgi          the FastCGI worker loop
  cgi_mode         --cgi: one request as a plain CGI program

The package itself imports nothing: each mode loads the modules it uses, and
only those, from their bytecode (a CGI request pays for each one at start).
"""

__version__ = "1.0"
