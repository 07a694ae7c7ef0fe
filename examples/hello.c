/* The demo's compiled CGI program: the same greeting the sh, perl and python
 * hellos print, from a binary with no interpreter to start. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	const char *q = getenv("QUERY_STRING");
	printf("Content-Type: text/plain\r\n\r\n");
	printf("Hello from C, pid %d\n", (int)getpid());
	if (q && *q)
		printf("query: %s\n", q);
	return 0;
}
