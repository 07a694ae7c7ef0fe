/* The demo's compiled program, built twice from this one source: as a classic
 * CGI (hello.cgi: one process per request) and, through libfcgi's
 * fcgi_stdio.h, as a FastCGI worker (hello.fcgi: one process, a loop over
 * requests). Same output both ways, so the difference is only the mode. */
#ifdef HELLO_FASTCGI
#include <fcgi_stdio.h>
#else
#include <stdio.h>
#endif
#include <stdlib.h>
#include <unistd.h>

static void hello(unsigned long served)
{
	const char *q = getenv("QUERY_STRING");
	printf("Content-Type: text/plain\r\n\r\n");
	printf("Hello from C, pid %d, request %lu of this process\n", (int)getpid(), served);
	if (q && *q)
		printf("query: %s\n", q);
}

int main(void)
{
	unsigned long served = 0;
#ifdef HELLO_FASTCGI
	while (FCGI_Accept() >= 0)
		hello(++served);
#else
	hello(++served);
#endif
	return 0;
}
