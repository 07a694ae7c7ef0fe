/* The pools of a config: started with the daemon, drained at its stop, and
 * reported at GET /_gatewayd/status. */
#include "gatewayd/upstream/pools.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/client_limits.h"
#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/board_master.h"
#include "gatewayd/upstream/board_peers.h"
#include "gatewayd/upstream/external.h"
#include "gatewayd/upstream/workers.h"

struct pool_rt *pool_runtimes;
bool pools_for_board;
bool (*pools_retired_wanted)(const struct pool_rt *rt);
static char socket_dir[256];

static unsigned generations;

static void rt_free(struct pool_rt *rt)
{
	ev_clear_pending(gw->loop, &rt->dispatch);
	if (rt->peers)
		rt->peers->src->free(rt->peers);
	if (rt->cfg->state == rt)
		rt->cfg->state = NULL;
	config_unref(rt->gen);
	free(rt);
}

/* php-cgi leaves by itself after PHP_FCGI_MAX_REQUESTS requests (500 when
 * its environment, which is the pool's env, lacks it), unless it forks
 * children of its own (PHP_FCGI_CHILDREN): a request sent to one as it
 * leaves is lost, so that limit is max_requests too (the lower one). Any
 * worker that leaves by itself teaches its pool the same (spawner/pool.c). */
static unsigned max_requests_of(const struct pool_cfg *pc)
{
	const char *base = pc->ncommand ? strrchr(pc->command[0], '/') : NULL;
	base = base ? base + 1 : pc->ncommand ? pc->command[0] : "";
	if (strncmp(base, "php-cgi", 7) != 0)
		return pc->max_requests;
	long own = 500;
	for (size_t i = 0; i < pc->nenv; i++) {
		const char *e = pc->env[i];
		if (strncmp(e, "PHP_FCGI_CHILDREN=", 18) == 0 && atol(e + 18) > 0)
			return pc->max_requests;
		if (strncmp(e, "PHP_FCGI_MAX_REQUESTS=", 22) == 0)
			own = atol(e + 22);
	}
	if (own <= 0 || own > INT_MAX || (pc->max_requests && pc->max_requests <= own))
		return pc->max_requests;
	return (unsigned)own;
}

static void settings_of(struct pool_rt *rt, const struct pool_cfg *pc, struct pool_settings *set)
{
	*set = (struct pool_settings){
		.name = pc->name,
		.socket_name = rt->name_gen,
		.sizing = pc->mode == POOL_DYNAMIC    ? POOL_SIZE_DYNAMIC
		          : pc->mode == POOL_ONDEMAND ? POOL_SIZE_ONDEMAND
		                                      : POOL_SIZE_STATIC,
		.start = pc->processes,
		.min_spare = pc->min_spare,
		.max_spare = pc->max_spare,
		.max = pc->mode == POOL_STATIC ? pc->processes : pc->max_processes,
		.idle_timeout = pc->idle_timeout,
		.max_requests = max_requests_of(pc),
		.max_rss_kb = pc->max_rss / 1024,
		.stop_signal = pc->stop_signal,
		.start_timeout = 30,
		.socket_dir = socket_dir,
		/* The master's workers: the dispatchers (the config's user) connect. */
		.socket_owned = pools_for_board,
		.socket_uid = rt->gen->id.uid,
		.socket_gid = rt->gen->id.gid,
	};
}

/* The pool's peers: its workers, started now, or its external addresses. */
static int start_peers(struct pool_rt *rt, struct pool_cfg *pc)
{
	if (!pc->ncommand) {
		rt->peers = external_start(gw->loop, pc->name, pc->addresses, pc->connections,
		                           EXTERNAL_REST, &upstream_peer_hooks, rt);
		return rt->peers ? 0 : -1;
	}
	if (board_attached()) { /* a dispatcher beside others: the master runs them */
		rt->peers = board_peers_start(gw->loop, pc->name, (int)pc->protocol,
		                              &upstream_peer_hooks, rt);
		return rt->peers ? 0 : -1;
	}
	struct pool_settings set;
	settings_of(rt, pc, &set);
	return workers_start(&rt->peers, gw->loop, &set,
	                     pools_for_board ? &board_master_hooks : &upstream_peer_hooks, rt);
}

static int start_one(struct config *cfg, struct pool_cfg *pc)
{
	struct pool_rt *rt = calloc(1, sizeof *rt);
	if (!rt)
		return -1;
	rt->cfg = pc;
	rt->gen = config_ref(cfg);
	rt->generation = generations++;
	snprintf(rt->name_gen, sizeof rt->name_gen, "%s.%u", pc->name, rt->generation);
	rt->proto = pc->protocol == POOL_UWSGI ? &upstream_uwsgi : &upstream_fastcgi;
	ev_prepare_init(&rt->dispatch, upstream_dispatch);
	ev_set_priority(&rt->dispatch, UPSTREAM_PRIORITY);
	rt->dispatch.data = rt;
	int rc = start_peers(rt, pc);
	if (!rt->peers) {
		rt_free(rt);
		return -1;
	}
	/* Started, or partly (what did start runs on, as before a failed reload). */
	pc->state = rt;
	rt->next = pool_runtimes;
	pool_runtimes = rt;
	if (rc < 0)
		return -1;
	log_info(NULL, "pool %s: %s, %s", pc->name, pc->ncommand ? pc->command[0] : "external",
	         pc->ncommand ? "started" : "addresses only");
	return 0;
}

static int make_socket_dir(struct config *cfg)
{
	if (socket_dir[0] || cfg->npools == 0 || board_attached())
		return 0;
	snprintf(socket_dir, sizeof socket_dir, "%s/gatewayd.%d.XXXXXX", cfg->temp_dir,
	         (int)getpid());
	if (!mkdtemp(socket_dir)) {
		log_error(NULL, "cannot make the worker socket directory under %s: %s",
		          cfg->temp_dir, strerror(errno));
		socket_dir[0] = '\0';
		return -1;
	}
	/* Workers running as another user must reach their sockets. */
	chmod(socket_dir, 0711);
	return 0;
}

int pools_start(struct config *cfg)
{
	if (make_socket_dir(cfg) < 0)
		return -1;
	for (size_t i = 0; i < cfg->npools; i++)
		if (start_one(cfg, &cfg->pools[i]) < 0)
			return -1;
	return 0;
}

static bool same_list(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_identity(const struct identity_cfg *a, const struct identity_cfg *b)
{
	return a->set == b->set && (!a->set || (a->uid == b->uid && a->gid == b->gid));
}

static bool same_sandbox(const struct sandbox_cfg *a, const struct sandbox_cfg *b)
{
	return a->no_new_privs == b->no_new_privs && a->umask == b->umask && a->cpu == b->cpu &&
	       a->memory == b->memory && a->processes == b->processes &&
	       a->file_size == b->file_size && a->open_files == b->open_files &&
	       a->cgroup == b->cgroup && a->seccomp == b->seccomp;
}

/* Would the new settings start the workers any differently? Timeouts and
 * the queue are read per request, so they change in place. */
static bool same_workers(const struct pool_cfg *a, const struct pool_cfg *b)
{
	return a->protocol == b->protocol &&
	       same_list(a->command, a->ncommand, b->command, b->ncommand) &&
	       same_list(a->env, a->nenv, b->env, b->nenv) && same_str(a->cwd, b->cwd) &&
	       same_identity(&a->id, &b->id) && same_sandbox(&a->sandbox, &b->sandbox) &&
	       a->mode == b->mode && a->processes == b->processes && a->min_spare == b->min_spare &&
	       a->max_spare == b->max_spare && a->max_processes == b->max_processes &&
	       a->idle_timeout == b->idle_timeout && a->max_requests == b->max_requests &&
	       a->max_rss == b->max_rss && a->stop_signal == b->stop_signal &&
	       same_list(a->addresses, a->naddresses, b->addresses, b->naddresses) &&
	       a->connections == b->connections;
}

/* Hand a running pool to the new generation's config. */
static int adopt(struct pool_rt *rt, struct config *cfg, struct pool_cfg *pc)
{
	rt->cfg = pc;
	pc->state = rt;
	config_unref(rt->gen);
	rt->gen = config_ref(cfg);
	if (pc->ncommand) {
		struct pool_settings set;
		settings_of(rt, pc, &set);
		workers_adopt(rt->peers, &set);
	}
	return 0;
}

static ev_timer collect_timer;

static void on_collect(struct ev_loop *loop, ev_timer *t, int revents)
{
	pools_collect();
}

int pools_reload(struct config *cfg)
{
	struct pool_rt *old = pool_runtimes;
	pool_runtimes = NULL;
	if (make_socket_dir(cfg) < 0)
		return -1;
	for (size_t i = 0; i < cfg->npools; i++) {
		struct pool_cfg *pc = &cfg->pools[i];
		struct pool_rt **pp = &old, *rt = NULL;
		for (; *pp; pp = &(*pp)->next) {
			if (!(*pp)->retired && strcmp((*pp)->cfg->name, pc->name) == 0 &&
			    same_workers((*pp)->cfg, pc)) {
				rt = *pp;
				*pp = rt->next;
				break;
			}
		}
		if (rt) {
			adopt(rt, cfg, pc);
			rt->next = pool_runtimes;
			pool_runtimes = rt;
			log_info(NULL, "reload: pool %s unchanged, its workers stay", pc->name);
		} else if (!pc->state) {
			log_info(NULL, "reload: pool %s %s", pc->name, "starts");
			if (start_one(cfg, pc) < 0)
				log_error(NULL, "reload: pool %s failed to start", pc->name);
		}
	}
	/* What is left of the old generation drains and is freed when empty. */
	while (old) {
		struct pool_rt *rt = old;
		old = rt->next;
		if (!rt->retired)
			log_info(NULL, "reload: pool %s (old settings) drains", rt->cfg->name);
		rt->retired = true;
		/* Requests waiting for this pool wait for its successor instead. */
		for (struct pool_rt *n = pool_runtimes; n && rt->waiting.head; n = n->next)
			if (!n->retired && strcmp(n->cfg->name, rt->cfg->name) == 0)
				upstream_requeue(rt, n);
		rt->peers->src->drain(rt->peers);
		rt->next = pool_runtimes;
		pool_runtimes = rt;
	}
	if (!ev_is_active(&collect_timer)) {
		ev_timer_init(&collect_timer, on_collect, 1.0, 1.0);
		ev_timer_start(gw->loop, &collect_timer);
	}
	pools_collect();
	return 0;
}

void pools_collect(void)
{
	bool retired_left = false;
	for (struct pool_rt **pp = &pool_runtimes; *pp;) {
		struct pool_rt *rt = *pp;
		struct source_facts f;
		peers_facts(rt->peers, &f);
		/* The master's pools have no job here: a dispatcher of the old
		 * generation may still take a request for one (through its entry
		 * on the board) until that dispatcher is gone. */
		bool wanted = pools_retired_wanted && pools_retired_wanted(rt);
		if (rt->retired && rt->jobs == 0 && f.alive == 0 && !wanted) {
			*pp = rt->next;
			log_debug(NULL, "pool %s (generation %u) drained and freed", rt->cfg->name,
			          rt->generation);
			rt_free(rt);
			continue;
		}
		retired_left |= rt->retired;
		pp = &rt->next;
	}
	if (!retired_left)
		ev_timer_stop(gw->loop, &collect_timer);
}

bool pools_up(void)
{
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
		struct source_facts f;
		if (rt->retired || !rt->cfg->ncommand || rt->cfg->mode == POOL_ONDEMAND ||
		    rt->cfg->processes == 0)
			continue; /* external addresses, ondemand pools: nothing of ours to wait for */
		rt->peers->src->facts(rt->peers, &f);
		if (f.count[PEER_STARTING] > 0 || f.count[PEER_IDLE] + f.count[PEER_BUSY] == 0)
			return false;
	}
	return true;
}

void pools_drain(void)
{
	for (struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		rt->peers->src->drain(rt->peers);
}

void pools_kill(void)
{
	for (struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		rt->peers->src->kill_all(rt->peers);
}

size_t pools_alive(void)
{
	size_t n = 0;
	for (struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
		struct source_facts f;
		peers_facts(rt->peers, &f);
		n += f.alive;
	}
	return n;
}

void pools_free(void)
{
	ev_timer_stop(gw->loop, &collect_timer);
	while (pool_runtimes) {
		struct pool_rt *rt = pool_runtimes;
		pool_runtimes = rt->next;
		rt_free(rt);
	}
	if (socket_dir[0]) {
		rmdir(socket_dir);
		socket_dir[0] = '\0';
	}
}

/* ---- status ----------------------------------------------------------- */

static long rss_kib(pid_t pid)
{
	char path[64];
	long pages = 0, resident = 0;
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static const char *mode_name(const struct pool_cfg *pc)
{
	if (pc->naddresses)
		return "external";
	return pc->mode == POOL_DYNAMIC    ? "dynamic"
	       : pc->mode == POOL_ONDEMAND ? "ondemand"
	                                   : "static";
}

/* One worker's (or external slot's) line of status. */
static void worker_json(const struct peer_facts *f, void *arg)
{
	json_t *workers = arg;
	ev_tstamp now = ev_now(gw->loop);
	const char *uri = f->peer ? upstream_job_uri(f->peer->job) : NULL;
	const char *next = f->peer ? upstream_job_uri(f->peer->next_job) : NULL;
	json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:f, s:f}", "slot", (int)f->slot, "state",
	                      peer_state_name(f->state), "address", f->address, "requests",
	                      (json_int_t)f->requests, "running_seconds", now - f->started_at,
	                      "state_seconds", now - f->state_since);
	if (f->pid) {
		json_object_set_new(o, "pid", json_integer(f->pid));
		json_object_set_new(o, "rss_kib", json_integer(rss_kib(f->pid)));
	}
	json_object_set_new(o, "current_uri", uri ? json_string(uri) : json_null());
	json_object_set_new(o, "next_uri", next ? json_string(next) : json_null());
	json_array_append_new(workers, o);
}

static json_t *pool_json(const struct pool_rt *rt)
{
	const struct pool_cfg *pc = rt->cfg;
	struct source_facts p;
	peers_facts(rt->peers, &p);
	json_t *states = json_object(), *workers = json_array();
	for (int s = 0; s < PEER_NSTATES; s++)
		json_object_set_new(states, peer_state_name((enum peer_state)s),
		                    json_integer(p.count[s]));
	rt->peers->src->each(rt->peers, worker_json, workers);
	json_t *limits = json_pack(
	        "{s:s, s:i, s:i, s:i, s:i, s:I, s:f, s:i, s:f}", "mode", mode_name(pc), "start",
	        pc->processes, "max", pc->mode == POOL_STATIC ? pc->processes : pc->max_processes,
	        "min_spare", pc->min_spare, "max_spare", pc->max_spare, "max_requests",
	        (json_int_t)p.max_requests, "request_timeout", pc->request_timeout, "queue",
	        pc->queue, "queue_timeout", pc->queue_timeout);
	return json_pack("{s:s, s:b, s:s, s:o, s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	                 "name", pc->name, "retired", rt->retired, "protocol",
	                 pc->protocol == POOL_FASTCGI ? "fastcgi" : "uwsgi", "limits", limits,
	                 "processes", states, "queue_length", (int)rt->waiting.waiting,
	                 "requests_served", (json_int_t)p.served, "errors", (json_int_t)rt->errors,
	                 "timeouts", (json_int_t)rt->timeouts, "rejected", (json_int_t)rt->rejected,
	                 "retries", (json_int_t)rt->retries, "spawns", (json_int_t)p.spawns,
	                 "crashes", (json_int_t)p.crashes, "workers", workers);
}

/* limits.per_client: the settings beside what they refused. */
static json_t *client_limits_json(void)
{
	const struct per_client_cfg *pc = &gw->cfg->limits.per_client;
	struct client_limits_stats st;
	client_limits_stats(&st);
	return json_pack("{s:i, s:f, s:i, s:i, s:i, s:I, s:I, s:I}", "connections",
	                 (int)pc->connections, "requests_per_second", pc->requests_per_second,
	                 "burst", (int)pc->burst, "clients_tracked", (int)st.tracked, "clients_max",
	                 (int)st.capacity, "clients_forgotten", (json_int_t)st.forgotten,
	                 "connections_refused", (json_int_t)st.connections_refused, "rate_limited",
	                 (json_int_t)st.rate_limited);
}

/* limits.per_client as Prometheus series. */
static void client_limits_prometheus(FILE *f)
{
	struct client_limits_stats st;
	client_limits_stats(&st);
	fprintf(f,
	        "# HELP gatewayd_client_connections_refused_total Connections answered 429: "
	        "over limits.per_client.connections.\n"
	        "# TYPE gatewayd_client_connections_refused_total counter\n"
	        "gatewayd_client_connections_refused_total %llu\n",
	        st.connections_refused);
	fprintf(f,
	        "# HELP gatewayd_client_rate_limited_total Requests answered 429: "
	        "over limits.per_client.requests_per_second.\n"
	        "# TYPE gatewayd_client_rate_limited_total counter\n"
	        "gatewayd_client_rate_limited_total %llu\n",
	        st.rate_limited);
	fprintf(f,
	        "# HELP gatewayd_client_addresses Client addresses the per-client limits "
	        "remember.\n# TYPE gatewayd_client_addresses gauge\ngatewayd_client_addresses %u\n",
	        st.tracked);
	fprintf(f,
	        "# HELP gatewayd_client_addresses_forgotten_total Addresses dropped from the "
	        "full table, least recently seen first.\n"
	        "# TYPE gatewayd_client_addresses_forgotten_total counter\n"
	        "gatewayd_client_addresses_forgotten_total %llu\n",
	        st.forgotten);
}

char *pools_status_json(void)
{
	json_t *pools = json_array();
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		json_array_insert_new(pools, 0, pool_json(rt));
	uint64_t conns, requests;
	dispatchers_totals(&conns, &requests);
	json_t *root = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o}", "server", GW_SERVER_SOFTWARE,
	                         "pid", (int)getpid(), "connections", (json_int_t)conns, "requests",
	                         (json_int_t)requests, "client_limits", client_limits_json(),
	                         "pools", pools);
	json_t *ds = dispatchers_json();
	if (ds)
		json_object_set_new(root, "dispatchers", ds);
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}

struct prom_line {
	FILE *f;
	const char *pool;
	bool rss;
};

/* A worker's (or external slot's) requests, or a worker's resident memory. */
static void worker_prometheus(const struct peer_facts *w, void *arg)
{
	const struct prom_line *l = arg;
	if (!l->rss)
		fprintf(l->f,
		        "gatewayd_worker_requests_total{pool=\"%s\",slot=\"%u\",pid=\"%d\"} %lu\n",
		        l->pool, w->slot, (int)w->pid, w->requests);
	else if (w->pid)
		fprintf(l->f, "gatewayd_worker_rss_bytes{pool=\"%s\",slot=\"%u\",pid=\"%d\"} %ld\n",
		        l->pool, w->slot, (int)w->pid, rss_kib(w->pid) * 1024);
}

static void pools_prometheus(FILE *f)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
		{ "queue_length", "gauge", "Requests waiting for a worker." },
		{ "requests_served_total", "counter", "Requests workers finished." },
		{ "errors_total", "counter", "Requests answered 502." },
		{ "timeouts_total", "counter", "Requests answered 504." },
		{ "rejected_total", "counter", "Requests answered 503." },
		{ "spawns_total", "counter", "Workers started." },
		{ "crashes_total", "counter", "Workers that exited unasked." },
	};
	fprintf(f, "# HELP gatewayd_pool_processes Workers by state.\n"
	           "# TYPE gatewayd_pool_processes gauge\n");
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
		struct source_facts p;
		peers_facts(rt->peers, &p);
		for (int s = 0; s < PEER_NSTATES; s++)
			fprintf(f, "gatewayd_pool_processes{pool=\"%s\",state=\"%s\"} %u\n",
			        rt->cfg->name, peer_state_name((enum peer_state)s), p.count[s]);
	}
	for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
		fprintf(f, "# HELP gatewayd_pool_%s %s\n# TYPE gatewayd_pool_%s %s\n",
		        series[i].name, series[i].help, series[i].name, series[i].type);
		for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
			struct source_facts p;
			peers_facts(rt->peers, &p);
			unsigned long long v[] = {
				rt->waiting.waiting, p.served, rt->errors, rt->timeouts,
				rt->rejected,        p.spawns, p.crashes
			};
			fprintf(f, "gatewayd_pool_%s{pool=\"%s\"} %llu\n", series[i].name,
			        rt->cfg->name, v[i]);
		}
	}
}

char *pools_status_prometheus(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	client_limits_prometheus(f);
	uint64_t conns, requests;
	dispatchers_totals(&conns, &requests);
	fprintf(f,
	        "# HELP gatewayd_connections Open client connections.\n"
	        "# TYPE gatewayd_connections gauge\ngatewayd_connections %llu\n",
	        (unsigned long long)conns);
	fprintf(f,
	        "# HELP gatewayd_requests_total Requests received.\n"
	        "# TYPE gatewayd_requests_total counter\ngatewayd_requests_total %llu\n",
	        (unsigned long long)requests);
	dispatchers_prometheus(f);
	pools_prometheus(f);
	fprintf(f, "# HELP gatewayd_worker_requests_total Requests a worker served.\n"
	           "# TYPE gatewayd_worker_requests_total counter\n");
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		rt->peers->src->each(rt->peers, worker_prometheus,
		                     &(struct prom_line){ .f = f, .pool = rt->cfg->name });
	fprintf(f, "# HELP gatewayd_worker_rss_bytes Resident memory of a worker.\n"
	           "# TYPE gatewayd_worker_rss_bytes gauge\n");
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		rt->peers->src->each(
		        rt->peers, worker_prometheus,
		        &(struct prom_line){ .f = f, .pool = rt->cfg->name, .rss = true });
	fclose(f);
	return out;
}
