/* The dispatcher's side of the spawner (spawner/service.h): the only way it
 * starts, signals and reaps processes once it runs unprivileged.
 *
 * Two sockets: requests go out and their replies come back on one, in turn
 * (the spawner answers each at once: a fork and an exec, the cost of the
 * posix_spawn it replaces); exit reports come on the other, read by the
 * loop and handed to the watcher of that pid (as ev_child did). */
#ifndef GW_SPAWNER_CLIENT_H
#define GW_SPAWNER_CLIENT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* What the spawner said about a spawn. */
struct spawn_result {
	unsigned check; /* nonzero: a check refused it (the spawner's code) */
	char text[512]; /* why, in words; "" if nothing to say */
	uid_t uid; /* what the child runs as */
	gid_t gid;
	uint64_t inode;
};

/* A child's end, as ev_child reported it, with what the whole tree used. */
struct spawn_watch {
	pid_t pid;
	void (*exited)(struct spawn_watch *w); /* status, cpu_us, maxrss_kb are set */
	void *data;
	int status; /* the wait status */
	uint64_t cpu_us;
	uint64_t maxrss_kb;
	struct spawn_watch *next;
	bool active;
};

/* Start using the spawner on these two sockets (requests and replies; exit
 * reports). The client owns them from now on. lost is called once if the
 * spawner goes away (nothing can be started any more). */
void spawn_client_init(struct ev_loop *loop, int request_fd, int event_fd, void (*lost)(void));
/* Close both sockets: the spawner kills what it started and exits. */
void spawn_client_close(void);
bool spawn_client_ready(void);

/* Run a CGI script: route is the route's index in the config and root its
 * cgi.root (or the user's directory; the spawner checks they agree), args its argv[1..], env the whole environment (the spawner keeps
 * only CGI's variables), fd[] its stdin (-1: none), stdout and stderr.
 * Returns the pid, or -errno with res->check and res->text when a check refused. */
pid_t spawn_client_cgi(const char *rid, unsigned route, const char *root, const char *script,
                       char *const *args, char *const *env, const int fd[3],
                       struct spawn_result *res);
/* Start one worker of a pool the spawner knows by name, on its listening
 * socket (its fd 0) with err_fd as its stderr. */
pid_t spawn_client_worker(const char *pool, unsigned slot, int listen_fd, int err_fd,
                          struct spawn_result *res);
/* Signal a child the spawner started for us, with everything it started. */
int spawn_client_signal(pid_t pid, int sig);
/* The spawner reads the config file again; err gets why not. */
int spawn_client_reload(char *err, size_t errlen);
/* The spawner reopens the logs (it may, after the drop) and hands them over:
 * fds[0] the error log, fds[1] the access log; -1 where a log is stderr or none. */
int spawn_client_reopen_logs(int fds[2]);

void spawn_watch_start(struct spawn_watch *w);
/* Both sides send one record (SOCK_SEQPACKET) this way, with up to 4
 * descriptors (SCM_RIGHTS); flags for sendmsg (MSG_DONTWAIT). 0 or -errno. */
int spawn_send_record(int fd, const uint8_t *p, size_t len, const int *fds, size_t nfds, int flags);
/* Both sides read one record (SOCK_SEQPACKET) this way: its length, or
 * -errno (-ECONNRESET: the other end is gone; -EMSGSIZE: it was cut). */
long spawn_recv_record(int fd, uint8_t *buf, size_t cap, int *fds, size_t *nfds, size_t fdcap);
void spawn_watch_stop(struct spawn_watch *w);

#endif
