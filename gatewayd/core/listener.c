#include "gatewayd/core/listener.h"

#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/sd_listen.h"
#include "gatewayd/core/server.h"
#include "gatewayd/front/agent.h"
#include "gatewayd/front/fastcgi.h"
#include "gatewayd/front/http.h"
#include "gatewayd/front/uwsgi.h"

static ev_timer resume_timer;
static bool paused_for_fds;
/* What may be accepted: everything; during a SIGTERM drain, only what answers
 * the balancers; nothing once the drain is over. */
static enum { ACCEPT_ALL, ACCEPT_PROBES, ACCEPT_NONE } accepting = ACCEPT_ALL;
static ev_timer defer_timer; /* see leave_to_others */
static bool deferred;

/* A unix socket: a stale file from an earlier run is replaced, then the
 * socket gets the configured owner, group and mode before it listens: no
 * client connects while it has the umask's. What can be refused (a long
 * path, an unknown owner, a file that is not a socket) is, before the old
 * file goes. */
static int listen_unix(const struct listen_cfg *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(l->unix_path) >= sizeof sa.sun_path) {
		log_error(NULL, "listen unix:%s: path too long", l->unix_path);
		return -1;
	}
	strcpy(sa.sun_path, l->unix_path);
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	if (l->owner) {
		struct passwd *pw = getpwnam(l->owner);
		if (!pw) {
			log_error(NULL, "listen unix:%s: no user \"%s\"", l->unix_path, l->owner);
			return -1;
		}
		uid = pw->pw_uid;
	}
	if (l->group) {
		struct group *gr = getgrnam(l->group);
		if (!gr) {
			log_error(NULL, "listen unix:%s: no group \"%s\"", l->unix_path, l->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	struct stat st;
	if (lstat(l->unix_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error(NULL, "listen unix:%s: exists and is not a socket", l->unix_path);
			return -1;
		}
		unlink(l->unix_path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		goto fail;
	if ((l->owner || l->group) && chown(l->unix_path, uid, gid) < 0)
		goto fail;
	if (l->mode >= 0 && chmod(l->unix_path, (mode_t)l->mode) < 0)
		goto fail;
	if (listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail:
	log_error(NULL, "listen unix:%s: %s", l->unix_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int listen_on(const struct listen_cfg *l)
{
	int inherited = sd_listen_find(l);
	if (inherited >= 0)
		return inherited; /* systemd's: never bound, chowned or chmodded here */
	if (l->unix_path)
		return listen_unix(l);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE | AI_NUMERICSERV,
		                  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int err = getaddrinfo(l->host, l->port, &hints, &ai);
	if (err) {
		log_error(NULL, "listen %s:%s: %s", l->host, l->port, gai_strerror(err));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		log_error(NULL, "listen %s:%s: %s", l->host, l->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* A socket no listen entry uses any more, and its unix path to remove (NULL:
 * none, or a new socket's name now). One from systemd stays open (a later
 * entry may take it again) and its file stays: systemd owns both. */
static void release(int fd, const char *unix_path)
{
	if (sd_listen_owns(fd))
		return;
	close(fd);
	if (unix_path)
		unlink(unix_path);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents);

int listeners_open(struct config *cfg)
{
	char err[512];
	if (sd_listen_check(cfg, err, sizeof err) < 0) {
		log_error(NULL, "%s", err);
		return -1;
	}
	gw->listeners = calloc(cfg->nlisten, sizeof *gw->listeners);
	if (!gw->listeners)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct listener *l = &gw->listeners[i];
		l->cfg = &cfg->listen[i];
		l->fd = listen_on(l->cfg);
		if (l->fd < 0)
			return -1;
		gw->nlisteners = i + 1;
		ev_io_init(&l->w, on_accept, l->fd, EV_READ);
		l->w.data = l;
		static const char *const protos[] = { "http", "fastcgi", "uwsgi", "agent" };
		const char *proto = l->cfg->proxy_protocol ? "http (PROXY protocol first)"
		                                           : protos[l->cfg->proto];
		const char *name = sd_listen_name(l->fd);
		char from[96] = "";
		if (name)
			snprintf(from, sizeof from, " (socket from %s: fd %d%s%s%s)",
			         getenv("GATEWAYD_SLOT") ? "the master" : "systemd", l->fd,
			         name[0] ? ", \"" : "", name, name[0] ? "\"" : "");
		if (l->cfg->unix_path)
			log_info(NULL, "listening for %s on unix:%s%s", proto, l->cfg->unix_path,
			         from);
		else
			log_info(NULL, "listening for %s on %s:%s%s", proto, l->cfg->host,
			         l->cfg->port, from);
	}
	return 0;
}

/* Does l answer the balancers during a drain? A balancer must see the drain
 * (ready 503, agent "drain") rather than a refused connection, which it
 * cannot tell from a crash. */
static bool answers_probes(const struct listener *l)
{
	return l->cfg->proto == LISTEN_AGENT ||
	       (l->cfg->proto == LISTEN_HTTP && gw->cfg->status.enabled);
}

static bool may_accept(const struct listener *l)
{
	return accepting == ACCEPT_ALL || (accepting == ACCEPT_PROBES && answers_probes(l));
}

void listeners_start(void)
{
	for (size_t i = 0; i < gw->nlisteners; i++) {
		struct listener *l = &gw->listeners[i];
		if (may_accept(l))
			ev_io_start(gw->loop, &l->w);
		else
			ev_io_stop(gw->loop, &l->w);
	}
}

void listeners_stop(void)
{
	for (size_t i = 0; i < gw->nlisteners; i++)
		ev_io_stop(gw->loop, &gw->listeners[i].w);
}

void listeners_drain(void)
{
	/* Beside other dispatchers the socket is the master's and stays open:
	 * a draining dispatcher takes nothing more from it (the others, or the
	 * next generation, do), not even the balancers' probes. */
	if (dispatcher_self()) {
		listeners_shut();
		return;
	}
	accepting = ACCEPT_PROBES;
	listeners_stop();
	if (!paused_for_fds && gw->nconns < gw->max_conns)
		listeners_start();
}

void listeners_shut(void)
{
	accepting = ACCEPT_NONE;
	listeners_stop();
}

bool listeners_accepting(void)
{
	return accepting == ACCEPT_ALL && !paused_for_fds && gw->nconns < gw->max_conns;
}

void listeners_close(void)
{
	listeners_stop();
	ev_timer_stop(gw->loop, &resume_timer);
	ev_timer_stop(gw->loop, &defer_timer);
	for (size_t i = 0; i < gw->nlisteners; i++)
		release(gw->listeners[i].fd, gw->listeners[i].cfg->unix_path);
	free(gw->listeners);
	gw->listeners = NULL;
	gw->nlisteners = 0;
	sd_listen_close();
}

static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	paused_for_fds = false;
	if (gw->nconns < gw->max_conns)
		listeners_start();
}

/* Out of descriptors: stop accepting for a second rather than spin on EMFILE. */
static void pause_for_fds(int err)
{
	if (!paused_for_fds)
		log_warn(NULL, "accept: %s; pausing new connections for 1 s", strerror(err));
	paused_for_fds = true;
	listeners_stop();
	ev_timer_init(&resume_timer, on_resume, 1.0, 0);
	ev_timer_start(gw->loop, &resume_timer);
}

/* A test build's fault injector (test/fault/alloc_fault.c) starts counting
 * allocations here; in gatewayd itself nothing defines it. */
void gw_fault_point(void) __attribute__((weak));

/* Beside other dispatchers: one that is ahead (dispatchers.h) stops
 * watching the sockets for a moment; the others woke for the connection too.
 * Then it takes the next one whatever the count, so that a connection waits
 * at most that moment when the others are slow to take it. */
#define DEFER_SECONDS 0.001

static void on_defer_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (accepting != ACCEPT_NONE && !paused_for_fds && gw->nconns < gw->max_conns)
		listeners_start();
}

static bool leave_to_others(void)
{
	if (deferred) {
		deferred = false;
		return false;
	}
	if (!dispatcher_ahead())
		return false;
	deferred = true;
	listeners_stop();
	ev_timer_init(&defer_timer, on_defer_end, DEFER_SECONDS, 0);
	ev_timer_start(gw->loop, &defer_timer);
	return true;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	/* Beside other dispatchers on the same socket (core/master.c), one at a
	 * time: each of them woke for it too, and takes the next. */
	int batch = dispatcher_self() ? 1 : 64;
	if (dispatcher_self() && leave_to_others())
		return;
	for (int i = 0; i < batch; i++) {
		if (gw->nconns >= gw->max_conns) {
			/* Resumed by server_conn_closed() when one closes. */
			listeners_stop();
			return;
		}
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof peer, llen = sizeof local;
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_for_fds(errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn(NULL, "accept: %s", strerror(errno));
			return;
		}
		if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
			memset(&local, 0, sizeof local);
		if (gw_fault_point)
			gw_fault_point();
		if (l->cfg->proto == LISTEN_FASTCGI)
			fcgi_conn_start(fd, l->cfg);
		else if (l->cfg->proto == LISTEN_UWSGI)
			uwsgi_conn_start(fd, l->cfg);
		else if (l->cfg->proto == LISTEN_AGENT)
			agent_conn_start(fd);
		else
			http_conn_start(fd, (struct sockaddr *)&peer, (struct sockaddr *)&local,
			                l->cfg->proxy_protocol);
	}
}

void server_conn_closed(void)
{
	dispatcher_publish();
	if (!paused_for_fds && gw->nconns + 1 == gw->max_conns)
		listeners_start();
}

static bool same_listen(const struct listen_cfg *a, const struct listen_cfg *b)
{
	if (a->proto != b->proto || !a->unix_path != !b->unix_path)
		return false;
	if (a->unix_path)
		return strcmp(a->unix_path, b->unix_path) == 0;
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* A unix path a running listener not kept by the reload holds (another
 * protocol on the same path). */
static bool held_by_old(const char *path, const bool *kept)
{
	for (size_t k = 0; path && k < gw->nlisteners; k++)
		if (!kept[k] && gw->listeners[k].cfg->unix_path &&
		    strcmp(gw->listeners[k].cfg->unix_path, path) == 0)
			return true;
	return false;
}

int listeners_reload(struct config *cfg)
{
	char err[512];
	if (sd_listen_check(cfg, err, sizeof err) < 0) {
		log_error(NULL, "reload: %s; keeping the running config", err);
		return -1;
	}
	struct listener *fresh = calloc(cfg->nlisten, sizeof *fresh);
	if (!fresh)
		return -1;
	bool *kept = calloc(gw->nlisteners + 1, sizeof *kept);
	if (!kept) {
		free(fresh);
		return -1;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct listener *l = &fresh[i];
		l->cfg = &cfg->listen[i];
		l->fd = -1;
		for (size_t k = 0; k < gw->nlisteners && l->fd < 0; k++) {
			if (!kept[k] && same_listen(gw->listeners[k].cfg, l->cfg)) {
				kept[k] = true;
				l->fd = gw->listeners[k].fd;
			}
		}
	}
	/* New sockets: a unix path a running socket holds is taken last, once
	 * everything else was had, so that a reload refused for another address
	 * leaves the running socket on its path. */
	for (int taking = 0; taking < 2; taking++) {
		for (size_t i = 0; i < cfg->nlisten; i++) {
			struct listener *l = &fresh[i];
			if (l->fd >= 0 || held_by_old(l->cfg->unix_path, kept) != (taking == 1))
				continue;
			if ((l->fd = listen_on(l->cfg)) >= 0)
				continue;
			log_error(NULL, "reload: cannot listen on a new address; keeping the "
			                "running config");
			for (size_t k = 0; k < cfg->nlisten; k++) {
				bool old = false;
				for (size_t m = 0; m < gw->nlisteners; m++)
					old |= gw->listeners[m].fd == fresh[k].fd;
				if (fresh[k].fd >= 0 && !old)
					release(fresh[k].fd, fresh[k].cfg->unix_path);
			}
			free(fresh);
			free(kept);
			return -1;
		}
	}
	listeners_stop();
	for (size_t k = 0; k < gw->nlisteners; k++) {
		if (kept[k])
			continue;
		/* A unix path a new entry listens on now (another protocol, say)
		 * is the new socket's name: the old socket goes, the name stays. */
		const char *path = gw->listeners[k].cfg->unix_path;
		bool taken = false;
		for (size_t i = 0; path && i < cfg->nlisten && !taken; i++)
			taken = cfg->listen[i].unix_path &&
			        strcmp(cfg->listen[i].unix_path, path) == 0;
		release(gw->listeners[k].fd, taken ? NULL : path);
	}
	free(kept);
	free(gw->listeners);
	gw->listeners = fresh;
	gw->nlisteners = cfg->nlisten;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		ev_io_init(&fresh[i].w, on_accept, fresh[i].fd, EV_READ);
		fresh[i].w.data = &fresh[i];
	}
	listeners_start();
	return 0;
}
