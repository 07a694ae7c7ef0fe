/* gatewayd: runs web applications as CGI (and, later, FastCGI and uwsgi pools)
 * behind an HTTP/1.1 front end. This file: the command line, start and stop. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gatewayd/core/client_limits.h"
#include "gatewayd/core/config.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/listener.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/master.h"
#include "gatewayd/core/sd_listen.h"
#include "gatewayd/core/server.h"
#include "gatewayd/core/spawn_policy.h"
#include "gatewayd/core/systemd.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/pool_board.h"
#include "gatewayd/upstream/pools.h"
#include "spawner/client.h"
#include "spawner/spawn.h"

#define KILL_WAIT_SECONDS 5.0

static ev_signal sig_term, sig_int, sig_usr1, sig_hup;
static ev_timer stop_timer;
static pid_t spawner_pid = -1;
static ev_timer publish_timer;
static bool stop_forced;

/* The source tree's etc/gatewayd.json when run from the build tree, the
 * sysconfdir copy once installed. */
static const char *default_config(void)
{
	static char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	size_t blen = strlen(GW_BUILDDIR);
	if (n > 0 && (size_t)n > blen && strncmp(exe, GW_BUILDDIR, blen) == 0 && exe[blen] == '/')
		return GW_SRCDIR "/etc/gatewayd.json";
	return GW_SYSCONFDIR "/gatewayd.json";
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: gatewayd [-c FILE] [-t] [-V] [-h]\n"
	        "  -c FILE  configuration (default: %s)\n"
	        "  -t       check the configuration and exit (0: valid, 1: not)\n"
	        "  -V       print the version and exit\n"
	        "  -h       this help\n"
	        "Signals: TERM/INT stop gracefully (twice: at once), HUP reloads the config,\n"
	        "USR1 reopens the logs.\n",
	        default_config());
}

static void on_stop_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (!stop_forced) {
		stop_forced = true;
		log_warn(NULL,
		         "shutdown deadline passed: aborting %zu connection(s), killing %zu cgi "
		         "child(ren) and %zu worker(s)",
		         gw->nconns, cgi_children_alive(), pools_alive());
		listeners_shut();
		conns_abort_all();
		cgi_kill_all(SIGKILL);
		pools_kill();
		ev_timer_set(w, KILL_WAIT_SECONDS, 0);
		ev_timer_start(loop, w);
		server_check_stopped();
		return;
	}
	log_error(NULL, "children still not reaped after SIGKILL; exiting anyway");
	ev_break(loop, EVBREAK_ALL);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (gw->stopping) {
		log_info(NULL, "second stop signal: stopping now");
		ev_timer_stop(loop, &stop_timer);
		stop_forced = false;
		ev_timer_set(&stop_timer, 0.0, 0);
		ev_timer_start(loop, &stop_timer);
		return;
	}
	log_info(NULL, "signal %d: stopping; in-flight requests have %.0f s", w->signum,
	         gw->cfg->timeouts.shutdown);
	gw->stopping = true;
	if (dispatcher_self())
		dispatcher_self()->state = DISPATCHER_DRAINING;
	systemd_stopping();
	listeners_drain();
	conns_shutdown_all();
	pools_drain();
	ev_timer_init(&stop_timer, on_stop_deadline, gw->cfg->timeouts.shutdown, 0);
	ev_timer_start(loop, &stop_timer);
	server_check_stopped();
}

/* The spawner reopens the logs (it may: it kept root) and hands them over. */
static void on_reopen_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	int fds[2];
	int rc = spawn_client_reopen_logs(fds);
	if (rc < 0) {
		log_error(NULL, "reopening the logs: %s", strerror(-rc));
		return;
	}
	log_take_fds(fds);
	log_info(NULL, "logs reopened");
}

static size_t connections_allowed(size_t wanted);

/* SIGHUP: read the config again. New requests use the new one; requests in
 * flight finish on the one they started with; unchanged pools keep their
 * workers, changed and removed ones drain. Any error keeps the running config. */
static void on_hup_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[1024];
	if (gw->stopping)
		return;
	systemd_reloading(); /* READY=1 follows once the running config, new or old, is up */
	/* The spawner first: what it refuses, the dispatcher does not take either. */
	if (spawn_client_reload(err, sizeof err) < 0) {
		log_error(NULL, "reload: the spawner: %s; keeping the running config", err);
		return;
	}
	struct config *cfg = config_load(gw->cfg->path, err, sizeof err);
	if (!cfg) {
		log_error(NULL, "reload: %s; keeping the running config", err);
		return;
	}
	if (listeners_reload(cfg) < 0) {
		config_unref(cfg);
		return;
	}
	struct config *old = gw->cfg;
	gw->cfg = cfg;
	if (pools_reload(cfg) < 0)
		log_error(NULL, "reload: the new pools could not all start");
	log_set_format(cfg->log_format);
	int fds[2];
	if (spawn_client_reopen_logs(fds) < 0)
		log_error(NULL, "reload: the logs could not be reopened");
	else
		log_take_fds(fds);
	log_set_level(cfg->log_level);
	gw->max_conns = connections_allowed(cfg->max_connections);
	if (client_limits_configure(&cfg->limits.per_client, gw->max_conns) < 0)
		log_error(NULL,
		          "reload: out of memory for limits.per_client; keeping the old limits");
	config_unref(old);
	log_info(NULL, "reloaded %s", cfg->path);
}

/* Each connection may hold a socket, three pipes and a spool file. */
static size_t connections_allowed(size_t wanted)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	size_t fds = rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (size_t)rl.rlim_cur;
	size_t allowed = fds > 64 ? (fds - 64) / 5 : 1;
	return wanted < allowed ? wanted : allowed;
}

/* The command line: -1 to go on, else the exit status (-V, -h, a bad option). */
static int parse_args(int argc, char **argv, const char **config_path, bool *test_only)
{
	int opt;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			*config_path = optarg;
			break;
		case 't':
			*test_only = true;
			break;
		case 'V':
			printf("%s\n", GW_SERVER_SOFTWARE);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

static void start_signals(void)
{
	ev_signal_init(&sig_term, on_stop_signal, SIGTERM);
	ev_signal_init(&sig_int, on_stop_signal, SIGINT);
	ev_signal_init(&sig_usr1, on_reopen_signal, SIGUSR1);
	ev_signal_init(&sig_hup, on_hup_signal, SIGHUP);
	ev_signal_start(gw->loop, &sig_term);
	ev_signal_start(gw->loop, &sig_int);
	ev_signal_start(gw->loop, &sig_usr1);
	ev_signal_start(gw->loop, &sig_hup);
	server_hold_signals(false);
}

/* The spawner is gone (it should outlive us): nothing can start any more. */
static bool spawner_lost; /* then gatewayd exits 1: a failure to restart from */

static void on_spawner_lost(void)
{
	spawner_lost = true;
	log_error(NULL, "the spawner exited: stopping");
	kill(getpid(), SIGTERM);
}

/* Fork the privileged spawner, then become the config's user: from here on
 * this process parses client bytes with no privilege at all. */
static int start_spawner_and_drop(struct config *cfg)
{
	int req_fd, ev_fd;
	spawner_pid = spawn_policy_fork(cfg, &req_fd, &ev_fd);
	if (spawner_pid < 0) {
		log_error(NULL, "cannot start the spawner: %s", strerror((int)-spawner_pid));
		return -1;
	}
	spawn_client_init(gw->loop, req_fd, ev_fd, on_spawner_lost);
	if (geteuid() != 0 || cfg->id.uid == 0)
		return 0;
	if (setgroups(1, &cfg->id.gid) < 0 || setgid(cfg->id.gid) < 0 || setuid(cfg->id.uid) < 0 ||
	    setuid(0) == 0) {
		log_error(NULL, "cannot become uid %u gid %u: %s", (unsigned)cfg->id.uid,
		          (unsigned)cfg->id.gid, strerror(errno));
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* A core dump may hold client data: none from here (setuid made it so). */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/* A dispatcher dies with its master (set after the drop: a uid change
 * clears it); if the master is already gone, at once. */
static int follow_master(void)
{
	const char *m = getenv("GATEWAYD_MASTER_PID");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || !m || getppid() != (pid_t)atol(m)) {
		log_error(NULL, "the master is gone: exiting");
		return -1;
	}
	return 0;
}

/* A dispatcher's counters, for the status page of whichever dispatcher answers. */
static void on_publish(struct ev_loop *loop, ev_timer *w, int revents)
{
	dispatcher_publish();
}

/* Close the spawner's sockets: it kills what is left and exits; wait a while. */
static void stop_spawner(void)
{
	spawn_client_close();
	for (int i = 0; spawner_pid > 0 && i < 100; i++) {
		if (waitpid(spawner_pid, NULL, WNOHANG) != 0)
			return;
		usleep(50000);
	}
}

/* The loop has stopped: let go of everything, in the reverse order of start. */
static void release_all(void)
{
	log_info(NULL, "stopped");
	ev_timer_stop(gw->loop, &stop_timer);
	ev_timer_stop(gw->loop, &publish_timer);
	systemd_stop();
	listeners_close();
	pools_kill();
	pools_free();
	stop_spawner();
	conns_reap();
	client_limits_free();
	config_unref(gw->cfg);
	gw->cfg = NULL;
	log_close();
	ev_loop_destroy(gw->loop);
}

int main(int argc, char **argv)
{
	const char *config_path = default_config();
	bool test_only = false;
	int rc = parse_args(argc, argv, &config_path, &test_only);
	if (rc >= 0)
		return rc;
	if (spawn_reserve_stdio() < 0)
		return 1;

	char err[1024];
	/* A dispatcher: the master's copy of the config, not the file. */
	const char *copy = getenv("GATEWAYD_CONFIG_FD");
	int copy_fd = copy && atoi(copy) > 2 ? atoi(copy) : -1;
	struct config *cfg = copy_fd >= 0 ? config_load_fd(config_path, copy_fd, err, sizeof err)
	                                  : config_load(config_path, err, sizeof err);
	if (copy_fd >= 0)
		close(copy_fd);
	unsetenv("GATEWAYD_CONFIG_FD");
	if (!cfg) {
		fprintf(stderr, "gatewayd: %s\n", err);
		if (test_only)
			fprintf(stderr, "gatewayd: configuration file %s test failed\n",
			        config_path);
		return 1;
	}
	char msg[1024];
	int who = config_check_identity(cfg, geteuid(), msg, sizeof msg);
	if (who < 0 || (who > 0 && test_only))
		fprintf(stderr, "gatewayd: %s%s\n", who > 0 ? "warning: " : "", msg);
	if (who < 0) {
		if (test_only)
			fprintf(stderr, "gatewayd: configuration file %s test failed\n",
			        config_path);
		config_free(cfg);
		return 1;
	}
	if (test_only) {
		printf("gatewayd: configuration file %s test is successful\n", config_path);
		config_free(cfg);
		return 0;
	}
	log_set_format(cfg->log_format);
	if (log_open_error(cfg->error_log, cfg->log_level) < 0 ||
	    log_open_access(cfg->access_log) < 0) {
		fprintf(stderr, "gatewayd: cannot open a log file: %s\n", strerror(errno));
		return 1;
	}
	if (sd_listen_take(err, sizeof err) < 0 || systemd_init(err, sizeof err) < 0) {
		log_error(NULL, "%s", err);
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	server_hold_signals(true);
	gw->cfg = cfg;
	gw->loop = ev_default_loop(EVFLAG_AUTO);
	if (getrandom(&gw->id_prefix, sizeof gw->id_prefix, 0) != sizeof gw->id_prefix)
		gw->id_prefix = (uint32_t)getpid() ^ (uint32_t)time(NULL);
	gw->max_conns = connections_allowed(cfg->max_connections);
	if (client_limits_configure(&cfg->limits.per_client, gw->max_conns) < 0) {
		log_error(NULL, "out of memory for limits.per_client");
		return 1;
	}
	if (who > 0)
		log_warn(NULL, "%s", msg);
	bool dispatcher = dispatchers_attach();
	/* Started by fexecve: older kernels name the process after the fd
	 * ("8"), not the program. */
	if (dispatcher)
		prctl(PR_SET_NAME, "gatewayd");
	if (!dispatcher && getenv("GATEWAYD_SLOT")) {
		log_error(NULL, "cannot map the master's table of dispatchers");
		return 1;
	}
	if (dispatcher && !board_attach()) { /* the master's pools */
		log_error(NULL, "cannot map the master's pools' board");
		return 1;
	}
	if (cfg->dispatchers > 1 && !dispatcher)
		return master_run(cfg);
	if (listeners_open(cfg) < 0 || start_spawner_and_drop(cfg) < 0 ||
	    (dispatcher && follow_master() < 0) || pools_start(cfg) < 0) {
		pools_kill();
		pools_free();
		stop_spawner();
		return 1;
	}

	start_signals();
	listeners_start();
	systemd_start(gw->loop);
	if (dispatcher) {
		ev_timer_init(&publish_timer, on_publish, 0.1, 0.1);
		ev_timer_start(gw->loop, &publish_timer);
	}
	log_info(NULL, "%s started, pid %d, config %s, up to %zu connections", GW_SERVER_SOFTWARE,
	         (int)getpid(), cfg->path, gw->max_conns);
	/* Ready after the line above: so in the log a reload's handover line
	 * follows every new dispatcher's. */
	if (dispatcher)
		dispatcher_self()->state = DISPATCHER_READY;

	ev_run(gw->loop, 0);
	release_all();
	return spawner_lost ? 1 : 0;
}
