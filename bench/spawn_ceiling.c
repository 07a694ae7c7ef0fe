/* The machine's ceiling for CGI: how many times per second can we posix_spawn
 * a program and wait for it, with nothing else in the way? Runs `procs`
 * spawner processes in parallel for `seconds` and prints the total rate.
 * usage: spawn_ceiling PROGRAM SECONDS PROCS */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s PROGRAM SECONDS PROCS\n", argv[0]);
		return 2;
	}
	const char *prog = argv[1];
	double seconds = atof(argv[2]);
	int procs = atoi(argv[3]);
	long *counts = mmap(NULL, sizeof(long) * (size_t)procs, PROT_READ | PROT_WRITE,
	                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *args[] = { (char *)prog, NULL };
	char *envp[] = { "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "QUERY_STRING=", NULL };
	double start = now();
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			posix_spawn_file_actions_t fa;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
			long n = 0;
			while (now() - start < seconds) {
				pid_t pid;
				if (posix_spawn(&pid, prog, &fa, NULL, args, envp) != 0)
					_exit(1);
				waitpid(pid, NULL, 0);
				n++;
			}
			counts[p] = n;
			_exit(0);
		}
	}
	long total = 0;
	for (int p = 0; p < procs; p++)
		wait(NULL);
	for (int p = 0; p < procs; p++)
		total += counts[p];
	printf("%.1f\n", (double)total / (now() - start));
	return 0;
}
