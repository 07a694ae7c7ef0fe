#include "gatewayd/core/config.h"
#include "gatewayd/core/config_process.h"

#include "gatewayd/core/json_fields.h"

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "127.0.0.1:8080" or "[::1]:8080". */
static int parse_address(struct check *c, const char *where, const char *s, struct listen_cfg *l)
{
	const char *colon, *host = s;
	size_t hostlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return fail(c, where, "\"%s\" is not host:port", s);
		host = s + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return fail(c, where, "\"%s\" is not host:port", s);
		hostlen = (size_t)(colon - s);
	}
	char hostbuf[INET6_ADDRSTRLEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];
	snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)hostlen, host);
	if (hostlen >= sizeof hostbuf ||
	    inet_pton(s[0] == '[' ? AF_INET6 : AF_INET, hostbuf, addr) != 1)
		return fail(c, where, "\"%s\": the host must be a numeric %s address", s,
		            s[0] == '[' ? "IPv6" : "IPv4");
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port < 0 || port > 65535)
		return fail(c, where, "\"%s\": bad port", s);
	l->host = strndup(host, hostlen);
	l->port = strdup(colon + 1);
	return l->host && l->port ? 0 : fail(c, where, "out of memory");
}

static int load_listen(struct check *c, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "listen"), *item;
	size_t i;
	if (!arr)
		return fail(c, "listen", "is required");
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return fail(c, "listen", "must be a non-empty array");
	cfg->listen = calloc(json_array_size(arr), sizeof *cfg->listen);
	if (!cfg->listen)
		return fail(c, "listen", "out of memory");
	json_array_foreach(arr, i, item)
	{
		char where[64];
		snprintf(where, sizeof where, "listen[%zu]", i);
		static const char *const keys[] = { "http",           "fastcgi", "uwsgi", "agent",
			                            "owner",          "group",   "mode",  "stderr",
			                            "proxy_protocol", NULL };
		struct listen_cfg *l = &cfg->listen[i];
		if (want_object(c, item, where) || check_keys(c, item, where, keys))
			return -1;
		json_t *http = json_object_get(item, "http"),
		       *fcgi = json_object_get(item, "fastcgi");
		json_t *uwsgi = json_object_get(item, "uwsgi"),
		       *agent = json_object_get(item, "agent");
		json_t *addr = http ? http : fcgi ? fcgi : uwsgi ? uwsgi : agent;
		if (!!http + !!fcgi + !!uwsgi + !!agent != 1 || !json_is_string(addr))
			return fail(c, where,
			            "must name one protocol: {\"http\" | \"fastcgi\" | "
			            "\"uwsgi\" | \"agent\": \"host:port\" or \"unix:/path\"}");
		l->proto = http    ? LISTEN_HTTP
		           : fcgi  ? LISTEN_FASTCGI
		           : uwsgi ? LISTEN_UWSGI
		                   : LISTEN_AGENT;
		l->mode = -1;
		cfg->nlisten = i + 1;
		const char *a = json_string_value(addr);
		if (strncmp(a, "unix:", 5) == 0) {
			if (a[5] != '/')
				return fail(c, where,
				            "\"%s\": a unix socket needs an absolute path", a);
			if (!(l->unix_path = strdup(a + 5)))
				return fail(c, where, "out of memory");
		} else if (parse_address(c, where, a, l)) {
			return -1;
		}
		if (get_string(c, item, "owner", where, &l->owner) ||
		    get_string(c, item, "group", where, &l->group) ||
		    get_bool(c, item, "stderr", where, &l->fcgi_stderr) ||
		    get_bool(c, item, "proxy_protocol", where, &l->proxy_protocol) ||
		    get_mode(c, item, where, &l->mode))
			return -1;
		if (!l->unix_path && (l->owner || l->group || l->mode >= 0))
			return fail(c, where, "owner, group and mode apply to unix sockets only");
		if (l->proto != LISTEN_FASTCGI && json_object_get(item, "stderr"))
			return fail(c, where, "\"stderr\" applies to fastcgi listeners only");
		if (l->proto != LISTEN_HTTP && json_object_get(item, "proxy_protocol"))
			return fail(c, where, "\"proxy_protocol\" applies to http listeners only");
	}
	return 0;
}

static int load_cgi(struct check *c, json_t *obj, const char *where, const struct config *cfg,
                    struct cgi_cfg *cgi)
{
	static const char *const keys[] = { "root",
		                            "userdir",
		                            "timeout",
		                            "kill_grace",
		                            "max_children",
		                            "queue",
		                            "queue_timeout",
		                            "pass_authorization",
		                            "env",
		                            "user",
		                            "group",
		                            "sandbox",
		                            NULL };
	cgi->sandbox = cfg->sandbox;
	cgi->timeout = 30;
	cgi->kill_grace = 2;
	cgi->max_children = 64;
	cgi->queue = 256;
	cgi->queue_timeout = 10;
	if (want_object(c, obj, where) || check_keys(c, obj, where, keys) ||
	    get_string(c, obj, "userdir", where, &cgi->userdir) ||
	    get_dir(c, obj, "root", where, &cgi->root, !json_object_get(obj, "userdir")) ||
	    get_seconds(c, obj, "timeout", where, &cgi->timeout) ||
	    get_seconds(c, obj, "kill_grace", where, &cgi->kill_grace) ||
	    get_int(c, obj, "max_children", where, &cgi->max_children, 1, 100000) ||
	    get_int(c, obj, "queue", where, &cgi->queue, 0, 1000000) ||
	    get_seconds(c, obj, "queue_timeout", where, &cgi->queue_timeout) ||
	    get_bool(c, obj, "pass_authorization", where, &cgi->pass_authorization) ||
	    load_identity(c, obj, where, &cfg->id, &cgi->id) ||
	    load_sandbox(c, obj, where, &cgi->sandbox))
		return -1;
	if (cgi->userdir && (cgi->root || cgi->id.user || cgi->id.group))
		return fail(c, where,
		            "\"userdir\" runs each user's scripts as that user: no \"root\", "
		            "\"user\" or \"group\" beside it");
	if (cgi->userdir &&
	    (cgi->userdir[0] == '/' || !cgi->userdir[0] || strstr(cgi->userdir, "..")))
		return fail(c, where,
		            "\"userdir\" is a path under each home, such as \"public_html\"");
	return get_env(c, obj, where, &cgi->env, &cgi->nenv);
}

static int load_static(struct check *c, json_t *obj, const char *where, struct static_cfg *st)
{
	static const char *const keys[] = { "root", "index", NULL };
	if (want_object(c, obj, where) || check_keys(c, obj, where, keys) ||
	    get_dir(c, obj, "root", where, &st->root, true) ||
	    get_string_list(c, obj, "index", where, &st->index, &st->nindex))
		return -1;
	if (!json_object_get(obj, "index")) {
		st->index = calloc(2, sizeof *st->index);
		if (!st->index || !(st->index[0] = strdup("index.html")))
			return fail(c, where, "out of memory");
		st->nindex = 1;
	}
	return 0;
}

static int parse_match(struct check *c, const char *where, struct route_cfg *r)
{
	const char *m = r->match;
	size_t n = strlen(m);
	if (m[0] == '*' && m[1] == '.' && n > 2 && !strchr(m + 1, '/')) {
		r->match_kind = MATCH_SUFFIX;
		r->match_text = m + 1;
	} else if (m[0] == '=' && m[1] == '/') {
		r->match_kind = MATCH_EXACT;
		r->match_text = m + 1;
	} else if (m[0] == '/') {
		r->match_kind = MATCH_PREFIX;
		r->match_text = m;
	} else {
		return fail(c, where, "match \"%s\": use \"/prefix/\", \"=/exact\" or \"*.ext\"",
		            m);
	}
	return 0;
}

/* "host": a name, or a list of names and "*.example.org" patterns. */
static int load_hosts(struct check *c, json_t *item, const char *where, struct route_cfg *r)
{
	json_t *v = json_object_get(item, "host");
	if (!v)
		return 0;
	if (json_is_string(v)) {
		r->hosts = calloc(2, sizeof *r->hosts);
		if (!r->hosts || !(r->hosts[0] = strdup(json_string_value(v))))
			return fail(c, where, "out of memory");
		r->nhosts = 1;
	} else if (get_string_list(c, item, "host", where, &r->hosts, &r->nhosts)) {
		return -1;
	}
	for (size_t i = 0; i < r->nhosts; i++) {
		const char *h = r->hosts[i];
		if (!h[0] || strpbrk(h, " /:") || (strchr(h, '*') && strncmp(h, "*.", 2) != 0))
			return fail(c, where, "\"host\": \"%s\": a name, or \"*.\" and a domain",
			            h);
	}
	return 0;
}

static int load_routes(struct check *c, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "routes"), *item;
	size_t i;
	if (!arr)
		return fail(c, "routes", "is required");
	if (!json_is_array(arr))
		return fail(c, "routes", "must be an array");
	cfg->routes = calloc(json_array_size(arr) + 1, sizeof *cfg->routes);
	if (!cfg->routes)
		return fail(c, "routes", "out of memory");
	json_array_foreach(arr, i, item)
	{
		static const char *const keys[] = { "match", "cgi",      "static", "pool",
			                            "root",  "max_body", "host",   NULL };
		char where[64], sub[80];
		struct route_cfg *r = &cfg->routes[i];
		snprintf(where, sizeof where, "routes[%zu]", i);
		cfg->nroutes = i + 1;
		r->max_body = cfg->limits.body;
		if (want_object(c, item, where) || check_keys(c, item, where, keys) ||
		    get_string(c, item, "match", where, &r->match) ||
		    get_size(c, item, "max_body", where, &r->max_body, 0, UINT64_MAX / 2))
			return -1;
		if (!r->match)
			return fail(c, where, "\"match\" is required");
		if (parse_match(c, where, r) || load_hosts(c, item, where, r))
			return -1;
		json_t *cgi = json_object_get(item, "cgi"), *st = json_object_get(item, "static");
		json_t *pool = json_object_get(item, "pool");
		if (!!cgi + !!st + !!pool != 1)
			return fail(c, where,
			            "needs exactly one handler: \"cgi\", \"static\" or \"pool\"");
		if (!pool && json_object_get(item, "root"))
			return fail(c, where,
			            "\"root\" goes with \"pool\" (cgi and static have their own)");
		if (pool) {
			r->kind = ROUTE_POOL;
			if (!json_is_string(pool))
				return fail(c, where, "\"pool\" must name a pool");
			for (size_t k = 0; k < cfg->npools && !r->pool; k++)
				if (strcmp(cfg->pools[k].name, json_string_value(pool)) == 0)
					r->pool = &cfg->pools[k];
			snprintf(sub, sizeof sub, "%s.pool", where);
			if (!r->pool)
				return fail(c, sub, "no pool named \"%s\"",
				            json_string_value(pool));
			if (get_dir(c, item, "root", where, &r->pool_root, false))
				return -1;
		} else if (cgi) {
			r->kind = ROUTE_CGI;
			snprintf(sub, sizeof sub, "%s.cgi", where);
			if (load_cgi(c, cgi, sub, cfg, &r->cgi))
				return -1;
		} else {
			r->kind = ROUTE_STATIC;
			snprintf(sub, sizeof sub, "%s.static", where);
			if (load_static(c, st, sub, &r->stat))
				return -1;
		}
	}
	return 0;
}

static int parse_signal(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "KILL", SIGKILL },
	};
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (strcmp(name, sigs[i].name) == 0)
			return sigs[i].sig;
	return -1;
}

/* command[0]: a path (relative to the config file), or a name looked up in PATH. */
static int resolve_command(struct check *c, const char *where, char **cmd)
{
	char path[PATH_MAX * 2], real[PATH_MAX];
	if (strchr(*cmd, '/')) {
		if ((*cmd)[0] == '/')
			snprintf(path, sizeof path, "%s", *cmd);
		else
			snprintf(path, sizeof path, "%s/%s", c->base_dir, *cmd);
		if (strlen(path) >= PATH_MAX || !realpath(path, real) || access(real, X_OK) < 0)
			return fail(c, where, "command \"%s\" is not an executable file", *cmd);
	} else {
		const char *dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		const char *d = dirs;
		real[0] = '\0';
		while (*d && !real[0]) {
			size_t n = strcspn(d, ":");
			snprintf(path, sizeof path, "%.*s/%s", (int)n, d, *cmd);
			if (strlen(path) < sizeof real && access(path, X_OK) == 0)
				memcpy(real, path, strlen(path) + 1);
			d += n + (d[n] == ':');
		}
		if (!real[0])
			return fail(c, where, "command \"%s\" not found in PATH", *cmd);
	}
	free(*cmd);
	*cmd = strdup(real);
	return *cmd ? 0 : fail(c, where, "out of memory");
}

static int load_processes(struct check *c, json_t *obj, const char *where, struct pool_cfg *p)
{
	json_t *v = json_object_get(obj, "processes");
	char at[200];
	snprintf(at, sizeof at, "%s.processes", where);
	p->mode = POOL_STATIC;
	p->processes = 2;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > 4096)
			return fail(c, at, "must be between 1 and 4096");
		p->processes = (int)json_integer_value(v);
		return 0;
	}
	static const char *const keys[] = { "mode", "start",        "min_spare", "max_spare",
		                            "max",  "idle_timeout", NULL };
	char *mode = NULL;
	if (want_object(c, v, at) || check_keys(c, v, at, keys) ||
	    get_string(c, v, "mode", at, &mode))
		return -1;
	if (!mode ||
	    (strcmp(mode, "dynamic") && strcmp(mode, "ondemand") && strcmp(mode, "static"))) {
		free(mode);
		return fail(c, at, "\"mode\" must be \"static\", \"dynamic\" or \"ondemand\"");
	}
	p->mode = !strcmp(mode, "dynamic")    ? POOL_DYNAMIC
	          : !strcmp(mode, "ondemand") ? POOL_ONDEMAND
	                                      : POOL_STATIC;
	free(mode);
	p->max_processes = 8;
	p->min_spare = 1;
	p->max_spare = 3;
	p->idle_timeout = 10;
	p->processes = p->mode == POOL_ONDEMAND ? 0 : 2;
	if (get_int(c, v, "start", at, &p->processes, 0, 4096) ||
	    get_int(c, v, "min_spare", at, &p->min_spare, 0, 4096) ||
	    get_int(c, v, "max_spare", at, &p->max_spare, 1, 4096) ||
	    get_int(c, v, "max", at, &p->max_processes, 1, 4096) ||
	    get_seconds(c, v, "idle_timeout", at, &p->idle_timeout))
		return -1;
	if (p->mode == POOL_STATIC)
		p->max_processes = p->processes;
	if (p->min_spare > p->max_spare || p->processes > p->max_processes)
		return fail(c, at, "needs min_spare <= max_spare and start <= max");
	return 0;
}

static int load_pool(struct check *c, const char *name, json_t *obj, const struct config *cfg,
                     struct pool_cfg *p)
{
	static const char *const keys[] = { "protocol",
		                            "command",
		                            "env",
		                            "cwd",
		                            "user",
		                            "group",
		                            "processes",
		                            "max_requests",
		                            "request_timeout",
		                            "queue",
		                            "queue_timeout",
		                            "stop_signal",
		                            "addresses",
		                            "connections",
		                            "sandbox",
		                            "max_rss",
		                            NULL };
	char where[160], *proto = NULL, *sig = NULL;
	int max_requests = 0;
	snprintf(where, sizeof where, "pools.%s", name);
	if (!(p->name = strdup(name)))
		return fail(c, where, "out of memory");
	p->request_timeout = 60;
	p->queue = 256;
	p->queue_timeout = 10;
	p->stop_signal = SIGTERM;
	p->connections = 8;
	p->sandbox = cfg->sandbox;
	if (want_object(c, obj, where) || check_keys(c, obj, where, keys) ||
	    get_string(c, obj, "protocol", where, &proto))
		return -1;
	if (!proto || (strcmp(proto, "fastcgi") && strcmp(proto, "uwsgi"))) {
		free(proto);
		return fail(c, where, "\"protocol\" must be \"fastcgi\" or \"uwsgi\"");
	}
	p->protocol = strcmp(proto, "fastcgi") == 0 ? POOL_FASTCGI : POOL_UWSGI;
	free(proto);
	if (get_string_list(c, obj, "command", where, &p->command, &p->ncommand) ||
	    get_string_list(c, obj, "addresses", where, &p->addresses, &p->naddresses) ||
	    get_dir(c, obj, "cwd", where, &p->cwd, false) ||
	    load_identity(c, obj, where, &cfg->id, &p->id) ||
	    load_sandbox(c, obj, where, &p->sandbox) || load_processes(c, obj, where, p) ||
	    get_int(c, obj, "max_requests", where, &max_requests, 0, INT_MAX) ||
	    get_size(c, obj, "max_rss", where, &p->max_rss, 0, UINT64_MAX / 2) ||
	    get_seconds(c, obj, "request_timeout", where, &p->request_timeout) ||
	    get_int(c, obj, "queue", where, &p->queue, 0, 1000000) ||
	    get_seconds(c, obj, "queue_timeout", where, &p->queue_timeout) ||
	    get_int(c, obj, "connections", where, &p->connections, 1, 4096) ||
	    get_string(c, obj, "stop_signal", where, &sig))
		return -1;
	p->max_requests = (unsigned)max_requests;
	if (sig) {
		p->stop_signal = parse_signal(sig);
		free(sig);
		if (p->stop_signal < 0)
			return fail(c, where,
			            "\"stop_signal\": use TERM, INT, QUIT, HUP, USR1 or USR2");
	}
	if (!!p->ncommand == !!p->naddresses)
		return fail(c, where,
		            "needs either \"command\" (workers gatewayd runs) or "
		            "\"addresses\" (workers something else runs)");
	if (p->ncommand && resolve_command(c, where, &p->command[0]))
		return -1;
	return get_env(c, obj, where, &p->env, &p->nenv);
}

static int load_pools(struct check *c, json_t *root, struct config *cfg)
{
	json_t *obj = json_object_get(root, "pools"), *v;
	const char *name;
	if (!obj)
		return 0;
	if (!json_is_object(obj))
		return fail(c, "pools", "must be an object of named pools");
	cfg->pools = calloc(json_object_size(obj) + 1, sizeof *cfg->pools);
	if (!cfg->pools)
		return fail(c, "pools", "out of memory");
	json_object_foreach(obj, name, v)
	{
		if (!name[0] || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                             "0123456789_-") != strlen(name))
			return fail(c, "pools",
			            "pool name \"%s\": use letters, digits, '_' and '-'", name);
		cfg->npools++;
		if (load_pool(c, name, v, cfg, &cfg->pools[cfg->npools - 1]))
			return -1;
	}
	return 0;
}

static int load_status(struct check *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "enabled", "loopback_only", "health_loopback_only",
		                            NULL };
	json_t *obj = json_object_get(root, "status");
	cfg->status.enabled = true;
	cfg->status.loopback_only = true;
	/* A balancer probes from another host: live and ready say no more than
	 * ready or not (and why), so they answer everyone unless told otherwise. */
	cfg->status.health_loopback_only = false;
	if (!obj)
		return 0;
	return want_object(c, obj, "status") || check_keys(c, obj, "status", keys) ||
	                       get_bool(c, obj, "enabled", "status", &cfg->status.enabled) ||
	                       get_bool(c, obj, "loopback_only", "status",
	                                &cfg->status.loopback_only) ||
	                       get_bool(c, obj, "health_loopback_only", "status",
	                                &cfg->status.health_loopback_only)
	               ? -1
	               : 0;
}

/* limits.per_client (core/client_limits.h): nothing is limited unless
 * connections or requests_per_second is set. */
static int load_per_client(struct check *c, json_t *limits, struct config *cfg)
{
	static const char *const keys[] = { "connections", "requests_per_second",
		                            "burst",       "ipv6_prefix",
		                            "clients",     NULL };
	static const char where[] = "limits.per_client";
	struct per_client_cfg *pc = &cfg->limits.per_client;
	json_t *obj = json_object_get(limits, "per_client");
	int conns = 0, burst = 0, prefix = (int)pc->ipv6_prefix, clients = (int)pc->clients;
	if (!obj)
		return 0;
	if (want_object(c, obj, where) || check_keys(c, obj, where, keys) ||
	    get_int(c, obj, "connections", where, &conns, 0, 1000000) ||
	    get_number(c, obj, "requests_per_second", where, &pc->requests_per_second, 0, 1e6) ||
	    get_int(c, obj, "burst", where, &burst, 1, 1000000) ||
	    get_int(c, obj, "ipv6_prefix", where, &prefix, 16, 128) ||
	    get_int(c, obj, "clients", where, &clients, 16, 1 << 20))
		return -1;
	if (burst && pc->requests_per_second <= 0)
		return fail(c, where, "\"burst\" needs \"requests_per_second\"");
	pc->connections = (unsigned)conns;
	pc->ipv6_prefix = (unsigned)prefix;
	pc->clients = (unsigned)clients;
	/* One second's worth at once unless told (rounded up, at least 1). */
	unsigned per_second = (unsigned)pc->requests_per_second;
	pc->burst = burst ? (unsigned)burst : per_second + (pc->requests_per_second > per_second);
	return 0;
}

static int load_limits(struct check *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "request_line", "header_size", "headers",    "body",
		                            "body_memory",  "connections", "per_client", NULL };
	json_t *obj = json_object_get(root, "limits");
	uint64_t line = cfg->limits.request_line, head = cfg->limits.head,
	         mem = cfg->limits.body_memory, conns = cfg->max_connections;
	int headers = (int)cfg->limits.headers;
	if (!obj)
		return 0;
	if (want_object(c, obj, "limits") || check_keys(c, obj, "limits", keys) ||
	    get_size(c, obj, "request_line", "limits", &line, 64, 1 << 20) ||
	    get_size(c, obj, "header_size", "limits", &head, 256, 1 << 20) ||
	    get_int(c, obj, "headers", "limits", &headers, 1, 1000) ||
	    get_size(c, obj, "body", "limits", &cfg->limits.body, 0, UINT64_MAX / 2) ||
	    get_size(c, obj, "body_memory", "limits", &mem, 0, 1 << 30) ||
	    get_size(c, obj, "connections", "limits", &conns, 1, 1 << 24) ||
	    load_per_client(c, obj, cfg))
		return -1;
	cfg->limits.request_line = line;
	cfg->limits.head = head;
	cfg->limits.headers = (size_t)headers;
	cfg->limits.body_memory = mem;
	cfg->max_connections = conns;
	return 0;
}

static int load_timeouts(struct check *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"header", "body", "keepalive", "send", "shutdown", NULL
	};
	json_t *obj = json_object_get(root, "timeouts");
	if (!obj)
		return 0;
	return want_object(c, obj, "timeouts") || check_keys(c, obj, "timeouts", keys) ||
	                       get_seconds(c, obj, "header", "timeouts", &cfg->timeouts.header) ||
	                       get_seconds(c, obj, "body", "timeouts", &cfg->timeouts.body) ||
	                       get_seconds(c, obj, "keepalive", "timeouts",
	                                   &cfg->timeouts.keepalive) ||
	                       get_seconds(c, obj, "send", "timeouts", &cfg->timeouts.send) ||
	                       get_seconds(c, obj, "shutdown", "timeouts", &cfg->timeouts.shutdown)
	               ? -1
	               : 0;
}

static int load_log(struct check *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "error", "access", "level", "format", NULL };
	json_t *obj = json_object_get(root, "log");
	char *level = NULL, *format = NULL;
	if (!obj)
		return 0;
	if (want_object(c, obj, "log") || check_keys(c, obj, "log", keys) ||
	    get_string(c, obj, "error", "log", &cfg->error_log) ||
	    get_string(c, obj, "access", "log", &cfg->access_log) ||
	    get_string(c, obj, "level", "log", &level) ||
	    get_string(c, obj, "format", "log", &format)) {
		free(level);
		return -1;
	}
	int rc = 0;
	if (level && log_level_parse(level, &cfg->log_level) < 0) {
		fail(c, "log.level", "\"%s\": use error, warn, info or debug", level);
		rc = -1;
	} else if (format && log_format_parse(format, &cfg->log_format) < 0) {
		fail(c, "log.format", "\"%s\": use text or json", format);
		rc = -1;
	}
	free(level);
	free(format);
	return rc;
}

/* trusted_proxies: addresses and CIDR blocks, e.g. ["127.0.0.1", "10.0.0.0/8"]. */
static int load_trusted(struct check *c, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "trusted_proxies"), *item;
	size_t i;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return fail(c, "trusted_proxies", "must be an array of addresses or CIDR blocks");
	if (!(cfg->trusted = calloc(json_array_size(arr) + 1, sizeof *cfg->trusted)))
		return fail(c, "trusted_proxies", "out of memory");
	json_array_foreach(arr, i, item)
	{
		char where[64];
		snprintf(where, sizeof where, "trusted_proxies[%zu]", i);
		if (!json_is_string(item) || cidr_parse(json_string_value(item), &cfg->trusted[i]))
			return fail(c, where,
			            "must be a numeric address or CIDR block (\"10.0.0.0/8\", "
			            "\"::1\"), host bits zero");
		cfg->ntrusted = i + 1;
	}
	return 0;
}

static void set_defaults(struct config *cfg)
{
	cfg->limits.request_line = 8192;
	cfg->limits.head = 16384;
	cfg->limits.headers = 100;
	cfg->limits.body = 1ULL << 30;
	cfg->limits.body_memory = 1 << 20;
	cfg->max_connections = 4096;
	cfg->limits.per_client.ipv6_prefix = 64;
	cfg->limits.per_client.clients = 65536;
	cfg->timeouts.header = 10;
	cfg->timeouts.body = 30;
	cfg->timeouts.keepalive = 15;
	cfg->timeouts.send = 30;
	cfg->timeouts.shutdown = 10;
	cfg->max_redirects = 10;
	cfg->log_level = LOG_INFO;
}

static int load_root(struct check *c, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
		"listen", "routes",   "pools",    "server_name", "document_root",   "log",
		"limits", "timeouts", "temp_dir", "status",      "trusted_proxies", "user",
		"group",  "min_uid",  "min_gid",  "sandbox",     "dispatchers",     NULL
	};
	if (!json_is_object(root))
		return fail(c, "(top)", "must be an object");
	set_defaults(cfg);
	sandbox_defaults(&cfg->sandbox);
	if (check_keys(c, root, "(top)", keys) || load_min_ids(c, root, cfg) ||
	    load_identity(c, root, "", NULL, &cfg->id) ||
	    load_sandbox(c, root, "", &cfg->sandbox) || load_limits(c, root, cfg) ||
	    load_timeouts(c, root, cfg) || load_log(c, root, cfg) || load_listen(c, root, cfg) ||
	    load_pools(c, root, cfg) || load_dispatchers(c, root, cfg) ||
	    load_routes(c, root, cfg) || load_status(c, root, cfg) || load_trusted(c, root, cfg) ||
	    get_string(c, root, "server_name", "server_name", &cfg->server_name) ||
	    get_dir(c, root, "document_root", "document_root", &cfg->document_root, false) ||
	    get_dir(c, root, "temp_dir", "temp_dir", &cfg->temp_dir, false))
		return -1;
	if (!cfg->server_name && !(cfg->server_name = strdup("localhost")))
		return fail(c, "server_name", "out of memory");
	if (!cfg->temp_dir && !(cfg->temp_dir = strdup("/tmp")))
		return fail(c, "temp_dir", "out of memory");
	if (!cfg->document_root) {
		/* DOCUMENT_ROOT defaults to the first static root, as a web server's docroot. */
		for (size_t i = 0; i < cfg->nroutes && !cfg->document_root; i++)
			if (cfg->routes[i].kind == ROUTE_STATIC)
				cfg->document_root = strdup(cfg->routes[i].stat.root);
		for (size_t i = 0; i < cfg->nroutes && !cfg->document_root; i++)
			if (cfg->routes[i].kind == ROUTE_CGI && cfg->routes[i].cgi.root)
				cfg->document_root = strdup(cfg->routes[i].cgi.root);
		if (!cfg->document_root)
			cfg->document_root = strdup(c->base_dir);
	}
	return 0;
}

/* All of fd from its start, NUL-ended; NULL with errno set. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		ssize_t got = pread(fd, buf + n, cap - n, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap) {
			char *more = cap < (64u << 20) ? realloc(buf, 2 * cap + 1) : NULL;
			if (!more) {
				free(buf);
				errno = cap < (64u << 20) ? ENOMEM : EFBIG;
				return NULL;
			}
			buf = more;
			cap *= 2;
		}
	}
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/* Parse text, read from the file real (an absolute path, resolved). */
static struct config *load_text(const char *shown, const char *real, char *text, size_t len,
                                char *err, size_t errlen)
{
	struct check c = { .file = shown, .err = err, .errlen = errlen };
	json_error_t jerr;
	snprintf(c.base_dir, sizeof c.base_dir, "%s", real);
	char *slash = strrchr(c.base_dir, '/');
	if (slash)
		*(slash == c.base_dir ? slash + 1 : slash) = '\0';

	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", shown, jerr.line, jerr.column, jerr.text);
		free(text);
		return NULL;
	}
	struct config *cfg = calloc(1, sizeof *cfg);
	if (cfg) {
		cfg->text = text;
		cfg->text_len = len;
	} else {
		free(text);
	}
	if (!cfg || !(cfg->path = strdup(real)) || load_root(&c, root, cfg) < 0) {
		if (!cfg)
			snprintf(err, errlen, "%s: out of memory", shown);
		config_free(cfg);
		json_decref(root);
		return NULL;
	}
	json_decref(root);
	cfg->refs = 1;
	return cfg;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	char *text = fd >= 0 ? read_all(fd, &len) : NULL;
	if (!text) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	return load_text(path, real, text, len, err, errlen);
}

struct config *config_load_fd(const char *path, int fd, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = read_all(fd, &len);
	if (!text) {
		snprintf(err, errlen, "%s (the master's copy): %s", path, strerror(errno));
		return NULL;
	}
	return load_text(path, path, text, len, err, errlen);
}

struct config *config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void config_unref(struct config *cfg)
{
	if (cfg && --cfg->refs == 0)
		config_free(cfg);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->text);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		free(cfg->listen[i].host);
		free(cfg->listen[i].port);
		free(cfg->listen[i].unix_path);
		free(cfg->listen[i].owner);
		free(cfg->listen[i].group);
	}
	free(cfg->listen);
	free(cfg->trusted);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct route_cfg *r = &cfg->routes[i];
		free(r->match);
		free_list(r->hosts, r->nhosts);
		free(r->cgi.root);
		free(r->cgi.userdir);
		identity_free(&r->cgi.id);
		free_list(r->cgi.env, r->cgi.nenv);
		free(r->stat.root);
		free(r->pool_root);
		free(r->state);
		free_list(r->stat.index, r->stat.nindex);
	}
	free(cfg->routes);
	for (size_t i = 0; i < cfg->npools; i++) {
		struct pool_cfg *p = &cfg->pools[i];
		free(p->name);
		free_list(p->command, p->ncommand);
		free_list(p->env, p->nenv);
		free_list(p->addresses, p->naddresses);
		free(p->cwd);
		identity_free(&p->id);
	}
	free(cfg->pools);
	free(cfg->path);
	free(cfg->server_name);
	free(cfg->document_root);
	free(cfg->error_log);
	free(cfg->access_log);
	free(cfg->temp_dir);
	identity_free(&cfg->id);
	free(cfg);
}
