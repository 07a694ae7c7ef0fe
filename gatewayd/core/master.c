/* The master: with "dispatchers" above 1, the process gatewayd starts as
 * holds the config, the listening sockets and the logs, and runs N
 * dispatchers: each is this same program started again, handed the listeners
 * as a service manager would (LISTEN_FDS, core/sd_listen.c), which then
 * forks its own spawner and drops to "user" as a lone gatewayd does. So each
 * dispatcher spawns through a spawner of its own: CGI spawns never wait for
 * another dispatcher's. The master parses no client byte and accepts nothing.
 *
 * SIGHUP: the config is read again, new listeners bound, N new dispatchers
 * started on it, then, once they all accept, the old ones drained (SIGTERM:
 * they stop accepting and finish what they hold); the listening sockets stay
 * open here throughout, so no connection is refused. A dispatcher that dies is replaced at once (a
 * crash loop backs off). SIGTERM drains them all; SIGUSR1 reopens the logs
 * here and in each. Killed with -9, the master takes the dispatchers with it
 * (their parent-death signal), and their spawners the scripts. */
#include "gatewayd/core/master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/listener.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/core/spawn_policy.h"
#include "gatewayd/core/systemd.h"
#include "gatewayd/upstream/board_master.h"
#include "gatewayd/upstream/pool_board.h"
#include "gatewayd/upstream/pools.h"
#include "spawner/client.h"

#define BACKOFF_FIRST 0.1
#define BACKOFF_MAX 5.0
#define YOUNG_SECONDS 1.0
#define KILL_WAIT_SECONDS 5.0
#define HANDOVER_EVERY 0.005 /* how often a reload looks whether the new generation is ready */

struct kid {
	pid_t pid;
	unsigned generation;
	unsigned index;
	bool draining;
	bool told; /* sent its SIGTERM (a second one would stop it at once) */
	ev_tstamp started;
	ev_child w;
};

static struct kid kids[DISPATCHERS_MAX];
static unsigned generation = 1;
static unsigned serving = 1; /* the generation that took over last (on_handover) */
static int stats_fd = -1;
/* This program, opened at start: a dispatcher is started from it even once
 * an upgrade has replaced (or removed) the file, and is the same build as
 * the master, whose shared tables it maps. */
static int exe_fd = -1;
/* The config's bytes as the master read them (a sealed memfd): what its
 * dispatchers run on, whatever the file holds by the time one starts. */
static int config_fd = -1;
static bool stopping;
static double backoff;
static ev_timer respawn_timer, stop_timer, pools_check, handover_timer;
static ev_signal sig_term, sig_int, sig_hup, sig_usr1;

static size_t alive(void)
{
	size_t n = 0;
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		n += kids[i].pid > 0;
	return n;
}

static void signal_all(int sig)
{
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, sig);
}

/* Tell a dispatcher to drain, once (a second SIGTERM stops it at once). */
static void tell(struct kid *k)
{
	if (k->pid > 0 && !k->told) {
		k->told = true;
		kill(k->pid, SIGTERM);
	}
}

/* Tell dispatchers to drain: the older generations', or all. */
static void drain(bool old_only)
{
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		if (!old_only || kids[i].generation != generation)
			tell(&kids[i]);
}

/* In the child between fork and exec (single-threaded: malloc is fine):
 * the listeners become fds 3.., the table the next one. */
static void exec_dispatcher(int slot)
{
	size_t n = gw->nlisteners;
	int *moved = calloc(n + 1, sizeof *moved); /* single-threaded: malloc is fine */
	if (!moved)
		_exit(127);
	/* Out of the way first, so that no dup2 clobbers one not yet moved. */
	for (size_t i = 0; i < n; i++)
		moved[i] = fcntl(gw->listeners[i].fd, F_DUPFD, (int)(n + 4 + 16));
	int stats = fcntl(stats_fd, F_DUPFD, (int)(n + 4 + 16));
	int board = board_fd() >= 0 ? fcntl(board_fd(), F_DUPFD, (int)(n + 4 + 16)) : -1;
	int exe = fcntl(exe_fd, F_DUPFD, (int)(n + 4 + 16));
	int conf = fcntl(config_fd, F_DUPFD, (int)(n + 4 + 16));
	for (size_t i = 0; i < n; i++)
		if (moved[i] < 0 || dup2(moved[i], 3 + (int)i) < 0)
			_exit(127);
	if (stats < 0 || dup2(stats, 3 + (int)n) < 0)
		_exit(127);
	if (board >= 0 && dup2(board, 4 + (int)n) < 0)
		_exit(127);
	if (exe < 0 || dup3(exe, 5 + (int)n, O_CLOEXEC) < 0)
		_exit(127);
	if (conf < 0 || dup2(conf, 6 + (int)n) < 0)
		_exit(127);
	/* Nothing else the master holds or inherited goes on to a dispatcher. */
	close_range(7 + (unsigned)n, ~0U, 0);
	char num[32];
	snprintf(num, sizeof num, "%zu", n);
	setenv("LISTEN_FDS", num, 1);
	snprintf(num, sizeof num, "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	unsetenv("LISTEN_FDNAMES");
	snprintf(num, sizeof num, "%zu", n + 3);
	setenv("GATEWAYD_STATS_FD", num, 1);
	snprintf(num, sizeof num, "%d", slot);
	setenv("GATEWAYD_SLOT", num, 1);
	snprintf(num, sizeof num, "%zu", n + 6);
	setenv("GATEWAYD_CONFIG_FD", num, 1);
	if (board >= 0) {
		snprintf(num, sizeof num, "%zu", n + 4);
		setenv("GATEWAYD_BOARD_FD", num, 1);
	}
	snprintf(num, sizeof num, "%d", (int)getppid());
	setenv("GATEWAYD_MASTER_PID", num, 1);
	/* The master is the service manager's main process: only it notifies. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	char *argv[] = { (char *)"gatewayd", (char *)"-c", gw->cfg->path, NULL };
	fexecve(5 + (int)n, argv, environ);
	_exit(127);
}

/* cfg's bytes in a sealed memfd, or -1 (logged). */
static int config_memfd(const struct config *cfg)
{
	int fd = memfd_create("gatewayd-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t off = 0;
	while (fd >= 0 && off < cfg->text_len) {
		ssize_t n = write(fd, cfg->text + off, cfg->text_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			break;
		}
		off += (size_t)n;
	}
	if (fd < 0 || off < cfg->text_len ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		log_error(NULL, "a copy of the config for the dispatchers: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void on_kid_exit(struct ev_loop *loop, ev_child *w, int revents);
static void stop_when_done(void);

static int start_one(unsigned index)
{
	struct dispatcher_slot *table = dispatchers_table();
	int slot = 0;
	while (slot < DISPATCHERS_MAX &&
	       (kids[slot].pid > 0 || table[slot].state != DISPATCHER_FREE))
		slot++;
	if (slot == DISPATCHERS_MAX) {
		log_error(NULL, "no free dispatcher slot");
		return -1;
	}
	dispatchers_take(slot);
	table[slot].generation = generation;
	table[slot].index = index;
	table[slot].state = DISPATCHER_STARTING;
	table[slot].started_ms = (uint64_t)(ev_time() * 1000);
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0)
		exec_dispatcher(slot);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		table[slot].state = DISPATCHER_FREE;
		log_error(NULL, "cannot start dispatcher %u: %s", index, strerror(e));
		return -1;
	}
	struct kid *k = &kids[slot];
	*k = (struct kid){
		.pid = pid, .generation = generation, .index = index, .started = ev_now(gw->loop)
	};
	table[slot].pid = (int)pid;
	ev_child_init(&k->w, on_kid_exit, pid, 0);
	k->w.data = k;
	ev_child_start(gw->loop, &k->w);
	log_info(NULL, "dispatcher %u of generation %u started, pid %d", index, generation,
	         (int)pid);
	return 0;
}

/* The current generation's dispatcher `index`: its slot, or -1. */
static int current(unsigned index)
{
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		if (kids[i].pid > 0 && kids[i].generation == generation && kids[i].index == index &&
		    !kids[i].draining)
			return i;
	return -1;
}

static void respawn_later(void);

/* Start the current generation's dispatchers that are missing; one that
 * cannot start now is tried again later. */
static void fill(void)
{
	for (unsigned index = 0; index < (unsigned)gw->cfg->dispatchers; index++)
		if (current(index) < 0 && start_one(index) < 0) {
			respawn_later();
			return;
		}
}

static void on_respawn(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (!stopping)
		fill();
}

static void respawn_in(double seconds)
{
	ev_timer_stop(gw->loop, &respawn_timer);
	ev_timer_set(&respawn_timer, seconds, 0);
	ev_timer_start(gw->loop, &respawn_timer);
}

/* A dispatcher that died young (a crash loop) or could not start: the
 * next try waits longer each time. */
static void respawn_later(void)
{
	backoff = backoff ? backoff * 2 : BACKOFF_FIRST;
	if (backoff > BACKOFF_MAX)
		backoff = BACKOFF_MAX;
	respawn_in(backoff);
}

/* After a reload: the old generation drains once every dispatcher of the
 * new one is ready (accepting), so that the shared sockets are never left
 * with no one taking connections, nor for good when the new ones cannot
 * start. */
static void on_handover(struct ev_loop *loop, ev_timer *t, int revents)
{
	const struct dispatcher_slot *table = dispatchers_table();
	for (unsigned index = 0; index < (unsigned)gw->cfg->dispatchers; index++) {
		int i = current(index);
		if (i < 0 || table[i].state != DISPATCHER_READY)
			return; /* the timer repeats */
	}
	ev_timer_stop(loop, t);
	log_info(NULL, "generation %u ready: the older ones drain", generation);
	drain(true);
	serving = generation;
}

static void on_kid_exit(struct ev_loop *loop, ev_child *w, int revents)
{
	struct kid *k = w->data;
	int slot = (int)(k - kids);
	int st = w->rstatus;
	ev_child_stop(loop, w);
	bool lived_long = ev_now(loop) - k->started >= YOUNG_SECONDS;
	bool expected = stopping || k->draining || k->generation != generation;
	if (WIFSIGNALED(st))
		log_msg(expected ? LOG_INFO : LOG_ERROR, NULL,
		        "dispatcher %u (pid %d) killed by signal %d", k->index, (int)k->pid,
		        WTERMSIG(st));
	else
		log_msg(expected && WEXITSTATUS(st) == 0 ? LOG_INFO : LOG_ERROR, NULL,
		        "dispatcher %u (pid %d) exited with status %d", k->index, (int)k->pid,
		        WEXITSTATUS(st));
	dispatchers_retire(slot);
	board_forget_dispatcher(slot);
	k->pid = 0;
	if (stopping) {
		stop_when_done();
		return;
	}
	if (expected) {
		fill(); /* its slot may be one the current generation lacked */
		return;
	}
	if (lived_long) {
		backoff = 0;
		respawn_in(0);
	} else {
		respawn_later();
	}
}

/* Stopping: once the dispatchers are gone, the pools' workers (they may
 * still finish what a dispatcher sent them), then the loop. */
static void stop_when_done(void)
{
	if (alive() > 0)
		return;
	if (pools_alive() > 0) {
		pools_drain();
		ev_timer_start(gw->loop, &pools_check);
		return;
	}
	ev_break(gw->loop, EVBREAK_ALL);
}

static void on_pools_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	stop_when_done();
}

static void on_stop_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	static bool forced;
	if (!forced) {
		forced = true;
		log_warn(NULL,
		         "shutdown deadline passed: SIGKILL to %zu dispatcher(s) and %zu worker(s)",
		         alive(), pools_alive());
		signal_all(SIGKILL);
		pools_kill();
		ev_timer_set(t, KILL_WAIT_SECONDS, 0);
		ev_timer_start(loop, t);
		return;
	}
	log_error(NULL, "children still not reaped after SIGKILL; exiting anyway");
	ev_break(loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (stopping) {
		signal_all(w->signum); /* a second one: stop now, as a lone gatewayd does */
		return;
	}
	stopping = true;
	log_info(NULL, "signal %d: stopping %zu dispatcher(s)", w->signum, alive());
	systemd_stopping();
	ev_timer_stop(loop, &handover_timer);
	drain(false);
	ev_timer_init(&stop_timer, on_stop_deadline, gw->cfg->timeouts.shutdown + KILL_WAIT_SECONDS,
	              0);
	ev_timer_start(loop, &stop_timer);
	stop_when_done();
}

static void on_reopen(struct ev_loop *loop, ev_signal *w, int revents)
{
	int fds[2];
	log_reopen();
	/* The master's spawner (the pools' workers) writes its audit lines there too. */
	if (pools_for_board && spawn_client_reopen_logs(fds) == 0)
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	signal_all(SIGUSR1);
	log_info(NULL, "logs reopened");
}

static int start_pools(struct config *cfg);

/* A retired pool may still get requests while a dispatcher that routed to
 * it lives: freed sooner, its entry on the board went, and a request the
 * dispatcher took for it waited for nothing until queue_timeout (503). */
static bool retired_wanted(const struct pool_rt *rt)
{
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		if (kids[i].pid > 0 && kids[i].generation <= rt->retired_at)
			return true;
	return false;
}

/* A new generation on the new config, then the old one drains. */
static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[1024];
	if (stopping)
		return;
	systemd_reloading();
	struct config *cfg = config_load(gw->cfg->path, err, sizeof err);
	if (!cfg) {
		log_error(NULL, "reload: %s; keeping the running config", err);
		return;
	}
	if (config_check_identity(cfg, geteuid(), err, sizeof err) < 0) {
		log_error(NULL, "reload: %s; keeping the running config", err);
		config_unref(cfg);
		return;
	}
	if (pools_for_board && spawn_client_reload(err, sizeof err) < 0) {
		log_error(NULL, "reload: the spawner: %s; keeping the running config", err);
		config_unref(cfg);
		return;
	}
	int copy = config_memfd(cfg);
	if (copy < 0) {
		log_error(NULL, "reload: keeping the running config");
		config_unref(cfg);
		return;
	}
	if (listeners_reload(cfg) < 0) {
		close(copy);
		config_unref(cfg);
		return;
	}
	close(config_fd);
	config_fd = copy;
	listeners_stop(); /* the master never accepts */
	if (pools_for_board) {
		/* What the dispatchers took is known before the old pools drain;
		 * one taken since is stopped only once given back (the CAS in
		 * board_stop_unclaimed). */
		board_master_sync_now();
		if (pools_reload(cfg) < 0)
			log_error(NULL, "reload: the new pools could not all start");
		for (struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
			if (rt->retired && !rt->retired_at)
				rt->retired_at = generation;
		board_master_sync_now();
	} else if (start_pools(cfg) < 0) {
		log_error(NULL, "reload: the new pools could not all start");
	}
	struct config *old = gw->cfg;
	gw->cfg = cfg;
	log_set_format(cfg->log_format);
	if (log_open_error(cfg->error_log, cfg->log_level) < 0 ||
	    log_open_access(cfg->access_log) < 0)
		log_error(NULL, "reload: cannot open a log file: %s", strerror(errno));
	for (int i = 0; i < DISPATCHERS_MAX; i++)
		if (kids[i].pid > 0)
			kids[i].draining = true;
	/* A generation a reload started that never took over goes at once (the
	 * one serving goes on until the newest is ready): else reloads faster
	 * than dispatchers start would pile up generations, and fill the slots. */
	for (int i = 0; i < DISPATCHERS_MAX && generation != serving; i++)
		if (kids[i].generation == generation)
			tell(&kids[i]);
	generation++;
	backoff = 0;
	fill();
	ev_timer_again(loop, &handover_timer);
	config_unref(old);
	log_info(NULL, "reloaded %s: generation %u, %d dispatcher(s)", cfg->path, generation,
	         cfg->dispatchers);
}

static bool spawner_lost; /* then the master exits 1: a failure to restart from */

static void on_spawner_lost(void)
{
	spawner_lost = true;
	log_error(NULL, "the master's spawner exited: stopping");
	kill(getpid(), SIGTERM);
}

/* The pools whose workers gatewayd starts run here, for every dispatcher
 * (upstream/board_master.c), through a spawner of the master's own: started
 * with the first config that has such a pool, at start or on a reload (the
 * board itself is there from the start, for every dispatcher to map). */
static int start_pools(struct config *cfg)
{
	bool spawned = false;
	for (size_t i = 0; i < cfg->npools; i++)
		spawned |= cfg->pools[i].ncommand > 0;
	if (pools_for_board || !spawned)
		return 0;
	int req, ev;
	pid_t pid = spawn_policy_fork(cfg, &req, &ev);
	if (pid < 0) {
		log_error(NULL, "cannot start the master's spawner: %s", strerror((int)-pid));
		return -1;
	}
	spawn_client_init(gw->loop, req, ev, on_spawner_lost);
	pools_for_board = true;
	pools_retired_wanted = retired_wanted;
	board_master_start();
	return pools_start(cfg);
}

int master_run(struct config *cfg)
{
	exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (exe_fd < 0) {
		log_error(NULL, "/proc/self/exe: %s", strerror(errno));
		return 1;
	}
	config_fd = config_memfd(cfg);
	if (config_fd < 0)
		return 1;
	stats_fd = dispatchers_create();
	if (stats_fd < 0) {
		log_error(NULL, "the dispatchers' table: %s", strerror(-stats_fd));
		return 1;
	}
	int board = board_create();
	if (board < 0) {
		log_error(NULL, "the pools' board: %s", strerror(-board));
		return 1;
	}
	if (listeners_open(cfg) < 0 || start_pools(cfg) < 0)
		return 1;
	ev_init(&respawn_timer, on_respawn);
	ev_init(&handover_timer, on_handover);
	handover_timer.repeat = HANDOVER_EVERY;
	ev_timer_init(&pools_check, on_pools_check, 0.05, 0.05);
	ev_signal_init(&sig_term, on_stop, SIGTERM);
	ev_signal_init(&sig_int, on_stop, SIGINT);
	ev_signal_init(&sig_hup, on_reload, SIGHUP);
	ev_signal_init(&sig_usr1, on_reopen, SIGUSR1);
	ev_signal_start(gw->loop, &sig_term);
	ev_signal_start(gw->loop, &sig_int);
	ev_signal_start(gw->loop, &sig_hup);
	ev_signal_start(gw->loop, &sig_usr1);
	server_hold_signals(false);
	fill();
	systemd_start(gw->loop);
	log_info(NULL, "%s master started, pid %d, config %s, %d dispatchers", GW_SERVER_SOFTWARE,
	         (int)getpid(), cfg->path, cfg->dispatchers);
	ev_run(gw->loop, 0);
	ev_timer_stop(gw->loop, &stop_timer);
	ev_timer_stop(gw->loop, &pools_check);
	systemd_stop();
	listeners_close();
	if (pools_for_board) {
		board_master_stop();
		pools_kill();
		pools_free();
		spawn_client_close();
	}
	log_info(NULL, "stopped");
	config_unref(gw->cfg);
	gw->cfg = NULL;
	log_close();
	ev_loop_destroy(gw->loop);
	return spawner_lost ? 1 : 0;
}
