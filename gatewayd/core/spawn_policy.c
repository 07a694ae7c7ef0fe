/* What the spawner agrees to run, decided from its own copy of the config (it
 * was forked before the dispatcher dropped root, and reads the file again
 * itself on reload): nothing a dispatcher sends names a program, a user or a
 * limit; it names a route's root and a script under it, or a pool. */
#include "gatewayd/core/spawn_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gatewayd/core/log.h"
#include "protocols/json_escape.h"
#include "spawner/exec_check.h"

#define CGI_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static struct config *cfg; /* the spawner's own */

/* Variables a CGI script never gets, whoever sends them: what makes the
 * dynamic loader, libc, a shell or an interpreter run code or read files of
 * the sender's choosing (glibc's list for setuid programs, and the
 * interpreters' own). Everything else passes, as fcgiwrap passes a web
 * server's params (DOCUMENT_URI, custom fastcgi_param): HTTP headers can only
 * ever be HTTP_*, so these can come from a compromised dispatcher only. */
static const char *const refused_env[] = { "LD_*",
	                                   "GCONV_PATH",
	                                   "GETCONF_DIR",
	                                   "HOSTALIASES",
	                                   "LOCALDOMAIN",
	                                   "LOCPATH",
	                                   "MALLOC_*",
	                                   "NIS_PATH",
	                                   "NLSPATH",
	                                   "RESOLV_HOST_CONF",
	                                   "RES_OPTIONS",
	                                   "TMPDIR",
	                                   "TZDIR",
	                                   "GLIBC_TUNABLES",
	                                   "BASH_ENV",
	                                   "ENV",
	                                   "BASH_FUNC_*",
	                                   "SHELLOPTS",
	                                   "BASHOPTS",
	                                   "PS4",
	                                   "IFS",
	                                   "CDPATH",
	                                   "GLOBIGNORE",
	                                   "PERL5LIB",
	                                   "PERLLIB",
	                                   "PERL5OPT",
	                                   "PERL5DB",
	                                   "PERLIO_DEBUG",
	                                   "PYTHON*",
	                                   "RUBYLIB",
	                                   "RUBYOPT",
	                                   "NODE_OPTIONS",
	                                   "NODE_PATH",
	                                   "PHPRC",
	                                   "PHP_INI_SCAN_DIR",
	                                   "JAVA_TOOL_OPTIONS",
	                                   "_JAVA_OPTIONS",
	                                   "LUA_*",
	                                   "TCLLIBPATH",
	                                   "PATH",
	                                   NULL };

/* var's name is in list: a name, or a prefix and '*'. No length limit: a long
 * name must not slip past (bash reads BASH_FUNC_<any name>%%). */
static bool name_in(const char *var, const char *const *list)
{
	size_t n = strcspn(var, "=");
	for (; *list; list++) {
		size_t k = strlen(*list);
		bool prefix = (*list)[k - 1] == '*';
		if (prefix ? n >= k - 1 && strncmp(var, *list, k - 1) == 0
		           : n == k && strncmp(var, *list, k) == 0)
			return true;
	}
	return false;
}

static bool name_in_env(const char *var, char *const *env, size_t nenv)
{
	const char *eq = strchr(var, '=');
	size_t n = eq ? (size_t)(eq - var) : strlen(var);
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(env[i], var, n) == 0 && env[i][n] == '=')
			return true;
	return false;
}

static int refuse(struct spawn_plan *plan, unsigned check, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int refuse(struct spawn_plan *plan, unsigned check, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(plan->why, sizeof plan->why, fmt, ap);
	va_end(ap);
	plan->check = check;
	return -EACCES;
}

static void sandbox_of(const struct sandbox_cfg *sb, struct spawn_plan *plan)
{
	plan->sandbox = (struct sandbox){
		.no_new_privs = sb->no_new_privs,
		.umask = sb->umask,
		.cpu_seconds = sb->cpu,
		.memory_bytes = sb->memory,
		.processes = sb->processes,
		.file_size = sb->file_size,
		.open_files = sb->open_files,
		.seccomp = sb->seccomp,
	};
	plan->cgroup = sb->cgroup;
	plan->pids_max = sb->processes;
	plan->memory_max = sb->memory;
}

static void identity_of(const struct identity_cfg *id, struct spawn_plan *plan)
{
	plan->spec.set_ids = id->set;
	plan->spec.uid = id->set ? id->uid : getuid();
	plan->spec.gid = id->set ? id->gid : getgid();
}

/* The route the dispatcher names, if it still has that root (a reload may
 * have moved it), else the first with that root. */
static const struct route_cfg *cgi_route(const struct spawn_msg *m)
{
	const struct route_cfg *r = m->route < cfg->nroutes ? &cfg->routes[m->route] : NULL;
	if (r && r->kind == ROUTE_CGI && r->cgi.root && strcmp(r->cgi.root, m->root) == 0)
		return r;
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (cfg->routes[i].kind == ROUTE_CGI && cfg->routes[i].cgi.root &&
		    strcmp(cfg->routes[i].cgi.root, m->root) == 0)
			return &cfg->routes[i];
	return NULL;
}

/* A userdir route's root is HOME/userdir of the user who owns it, and its
 * scripts run as that user: found from the root's owner, then checked to be
 * exactly that user's directory. */
static const struct route_cfg *userdir_route(const char *root, struct identity_cfg *id)
{
	struct stat st;
	if (stat(root, &st) < 0)
		return NULL;
	struct passwd *pw = getpwuid(st.st_uid);
	if (!pw)
		return NULL;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route_cfg *r = &cfg->routes[i];
		char want[PATH_MAX], real[PATH_MAX];
		if (r->kind != ROUTE_CGI || !r->cgi.userdir)
			continue;
		snprintf(want, sizeof want, "%s/%s", pw->pw_dir, r->cgi.userdir);
		if (realpath(want, real) && strcmp(real, root) == 0) {
			*id = (struct identity_cfg){ .set = true,
				                     .uid = pw->pw_uid,
				                     .gid = pw->pw_gid };
			return r;
		}
	}
	return NULL;
}

/* CHECK numbers in a reply: exec_check's, then ours past them. */
enum { CHECK_ROUTE = EXEC_NCHECKS + 1, CHECK_POOL, CHECK_TOO_MANY };

static int plan_cgi(const struct spawn_msg *m, struct spawn_plan *plan)
{
	const struct route_cfg *route = cgi_route(m);
	struct identity_cfg id;
	if (route)
		id = route->cgi.id;
	else if (!(route = userdir_route(m->root, &id)))
		return refuse(plan, CHECK_ROUTE, "route: no cgi route has the root %s", m->root);
	identity_of(&id, plan);
	sandbox_of(&route->cgi.sandbox, plan);
	if (id.set) {
		struct exec_target t = { .uid = plan->spec.uid,
			                 .gid = plan->spec.gid,
			                 .min_uid = cfg->min_uid,
			                 .min_gid = cfg->min_gid,
			                 .root_allowed = cfg->id.set && cfg->id.uid == 0 };
		struct exec_file f;
		char why[sizeof plan->why];
		enum exec_check rc = exec_check(m->root, m->script, &t, &f, why, sizeof why);
		if (rc != EXEC_OK)
			return refuse(plan, rc, "%s", why);
		snprintf(plan->path, sizeof plan->path, "%s", f.path);
		plan->inode = f.ino;
	} else {
		/* Started as an ordinary user with no "user": the dispatcher's
		 * own checks (inside the root, executable) as before. */
		size_t n = strlen(m->root);
		if (strncmp(m->script, m->root, n) != 0 || m->script[n] != '/' ||
		    strstr(m->script, "/../"))
			return refuse(plan, EXEC_OUTSIDE_ROOT, "outside-root: %s is not under %s",
			              m->script, m->root);
		snprintf(plan->path, sizeof plan->path, "%s", m->script);
	}
	if (m->nargs > SPAWN_PLAN_MAX_ARGS || m->nenv + route->cgi.nenv + 1 > SPAWN_PLAN_MAX_ENV)
		return refuse(plan, CHECK_TOO_MANY, "too many arguments or variables");
	size_t k = 0;
	plan->argv[k++] = plan->path;
	for (size_t i = 0; i < m->nargs; i++)
		plan->argv[k++] = (char *)m->args[i];
	plan->argv[k] = NULL;
	k = 0;
	bool has_path = false;
	for (size_t i = 0; i < m->nenv; i++) {
		const char *v = m->env[i];
		bool ours = name_in_env(v, route->cgi.env, route->cgi.nenv);
		if (!ours && name_in(v, refused_env))
			continue;
		/* Bash imports a value starting "() {" as a function (CVE-2014-6271). */
		const char *eq = strchr(v, '=');
		if (!ours && eq && strncmp(eq + 1, "() {", 4) == 0)
			continue;
		has_path |= strncmp(v, "PATH=", 5) == 0;
		plan->envp[k++] = (char *)v;
	}
	if (!has_path)
		plan->envp[k++] = CGI_PATH;
	plan->envp[k] = NULL;
	snprintf(plan->env_store, sizeof plan->env_store, "%s", plan->path);
	plan->spec.path = plan->path;
	plan->spec.argv = plan->argv;
	plan->spec.envp = plan->envp;
	plan->spec.cwd = dirname(plan->env_store);
	plan->spec.new_process_group = true;
	plan->spec.die_with_parent = true;
	plan->rid = m->rid;
	return 0;
}

static int plan_worker(const struct spawn_msg *m, struct spawn_plan *plan)
{
	const struct pool_cfg *pc = NULL;
	for (size_t i = 0; i < cfg->npools && !pc; i++)
		if (cfg->pools[i].ncommand && strcmp(cfg->pools[i].name, m->pool) == 0)
			pc = &cfg->pools[i];
	if (!pc)
		return refuse(plan, CHECK_POOL, "pool: no pool \"%s\" with a command", m->pool);
	if (pc->ncommand > SPAWN_PLAN_MAX_ARGS || pc->nenv > SPAWN_PLAN_MAX_ENV)
		return refuse(plan, CHECK_TOO_MANY, "too many arguments or variables");
	identity_of(&pc->id, plan);
	sandbox_of(&pc->sandbox, plan);
	snprintf(plan->path, sizeof plan->path, "%s", pc->command[0]);
	for (size_t i = 0; i < pc->ncommand; i++)
		plan->argv[i] = pc->command[i];
	plan->argv[pc->ncommand] = NULL;
	for (size_t i = 0; i < pc->nenv; i++)
		plan->envp[i] = pc->env[i];
	plan->envp[pc->nenv] = NULL;
	plan->spec.path = plan->path;
	plan->spec.argv = plan->argv;
	plan->spec.envp = plan->envp;
	plan->spec.cwd = pc->cwd;
	plan->spec.new_process_group = true;
	plan->spec.die_with_parent = true;
	plan->spec.batch = true;
	return 0;
}

static int policy_plan(const struct spawn_msg *m, struct spawn_plan *plan)
{
	return m->type == SPAWN_MSG_CGI ? plan_cgi(m, plan) : plan_worker(m, plan);
}

static int policy_reload(char *why, size_t cap)
{
	struct config *next = config_load(cfg->path, why, cap);
	if (!next)
		return -1;
	if (config_check_identity(next, geteuid(), why, cap) < 0) {
		config_unref(next);
		return -1;
	}
	config_unref(cfg);
	cfg = next;
	log_set_format(cfg->log_format);
	if (log_open_error(cfg->error_log, cfg->log_level) < 0 ||
	    log_open_access(cfg->access_log) < 0)
		log_error(NULL, "spawner: reload: cannot open a log file: %s", strerror(errno));
	return 0;
}

static bool policy_every_child_seccomp(void)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (cfg->routes[i].kind == ROUTE_CGI && !cfg->routes[i].cgi.sandbox.seccomp)
			return false;
	for (size_t i = 0; i < cfg->npools; i++)
		if (cfg->pools[i].command && !cfg->pools[i].sandbox.seccomp)
			return false;
	return true;
}

static int policy_reopen_logs(int fds[2])
{
	int mine[2];
	log_reopen();
	log_fds(mine);
	for (int i = 0; i < 2; i++)
		fds[i] = mine[i] >= 0 ? fcntl(mine[i], F_DUPFD_CLOEXEC, 3) : -1;
	return 0;
}

static void policy_audit(const struct spawn_audit *a, pid_t pid, const char *cgroup, int status,
                         uint64_t cpu_us, uint64_t maxrss_kb)
{
	char limits[512], how[64], path[4200], cg[4200];
	sandbox_describe(&a->sandbox, limits, sizeof limits);
	if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "\"signal\":%d", WTERMSIG(status));
	else
		snprintf(how, sizeof how, "\"exit\":%d", WEXITSTATUS(status));
	path[json_escape(path, sizeof path - 1, a->path, strlen(a->path), NULL)] = '\0';
	if (cgroup)
		cg[json_escape(cg, sizeof cg - 1, cgroup, strlen(cgroup), NULL)] = '\0';
	log_info(a->rid[0] ? a->rid : NULL,
	         "exec {\"rid\":\"%s\",\"pid\":%d,\"uid\":%u,\"gid\":%u,\"path\":\"%s\","
	         "\"inode\":%llu,\"limits\":%s,\"pids_max\":%llu,\"memory_max\":%llu,"
	         "\"cgroup\":%s%s%s,%s,"
	         "\"cpu_us\":%llu,\"maxrss_kb\":%llu}",
	         a->rid, (int)pid, (unsigned)a->uid, (unsigned)a->gid, path,
	         (unsigned long long)a->inode, limits, (unsigned long long)a->pids_max,
	         (unsigned long long)a->memory_max, cgroup ? "\"" : "null", cgroup ? cg : "",
	         cgroup ? "\"" : "", how, (unsigned long long)cpu_us,
	         (unsigned long long)maxrss_kb);
}

static void policy_log(int level, const char *rid, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg((enum log_level)level, rid, fmt, ap);
	va_end(ap);
}

static const struct spawn_policy policy = {
	.plan = policy_plan,
	.reload = policy_reload,
	.every_child_seccomp = policy_every_child_seccomp,
	.reopen_logs = policy_reopen_logs,
	.audit = policy_audit,
	.log = policy_log,
};

pid_t spawn_policy_fork(struct config *c, int *request_fd, int *event_fd)
{
	int keep[2];
	log_fds(keep);
	cfg = config_ref(c);
	pid_t pid = spawner_fork(&policy, keep, 2, request_fd, event_fd);
	config_unref(c); /* the parent's: only the spawner holds this reference */
	return pid;
}
