/* The config's process-model keys: who runs what ("user", "group",
 * "min_uid", "min_gid"; a route's cgi.user/group, a pool's user/group), the
 * sandbox each script and worker starts in ("sandbox" at the top, in cgi, in
 * a pool), and how many dispatchers serve ("dispatchers"). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/config.h"
#include "gatewayd/core/config_process.h"

/* www-data is 33 on Debian; below it are daemon, bin, sys, mail, proxy...
 * which no script should become. */
#define DEFAULT_MIN_ID 33

void sandbox_defaults(struct sandbox_cfg *sb)
{
	*sb = (struct sandbox_cfg){
		.no_new_privs = true,
		.umask = 022,
		.open_files = 1024,
		.cgroup = true,
		.seccomp = true,
	};
}

int load_sandbox(struct check *c, json_t *obj, const char *where, struct sandbox_cfg *sb)
{
	static const char *const keys[] = { "no_new_privs", "umask",     "cpu",        "memory",
		                            "processes",    "file_size", "open_files", "cgroup",
		                            "seccomp",      NULL };
	json_t *v = json_object_get(obj, "sandbox");
	char at[256];
	if (!v)
		return 0;
	snprintf(at, sizeof at, "%s%ssandbox", where, where[0] ? "." : "");
	char *mask = NULL;
	if (want_object(c, v, at) || check_keys(c, v, at, keys) ||
	    get_bool(c, v, "no_new_privs", at, &sb->no_new_privs) ||
	    get_string(c, v, "umask", at, &mask) ||
	    get_size(c, v, "cpu", at, &sb->cpu, 0, 1 << 30) ||
	    get_size(c, v, "memory", at, &sb->memory, 0, UINT64_MAX / 2) ||
	    get_size(c, v, "processes", at, &sb->processes, 0, 1 << 22) ||
	    get_size(c, v, "file_size", at, &sb->file_size, 0, UINT64_MAX / 2) ||
	    get_size(c, v, "open_files", at, &sb->open_files, 0, 1 << 20) ||
	    get_bool(c, v, "cgroup", at, &sb->cgroup) ||
	    get_bool(c, v, "seccomp", at, &sb->seccomp)) {
		free(mask);
		return -1;
	}
	if (mask) {
		char *end;
		long m = strtol(mask, &end, 8);
		bool ok = *mask && !*end && m >= 0 && m <= 0777;
		free(mask);
		if (!ok)
			return fail(c, at, "\"umask\" must be an octal string such as \"022\"");
		sb->umask = (int)m;
	}
	return 0;
}

/* A user's or group's name to its id (a number is taken as it is). */
static int resolve_user(struct check *c, const char *where, const char *name, uid_t *uid,
                        gid_t *gid)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return fail(c, where, "no user \"%s\" on this system", name);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int resolve_group(struct check *c, const char *where, const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	if (!gr)
		return fail(c, where, "no group \"%s\" on this system", name);
	*gid = gr->gr_gid;
	return 0;
}

int load_identity(struct check *c, json_t *obj, const char *where, const struct identity_cfg *above,
                  struct identity_cfg *id)
{
	char at[256];
	snprintf(at, sizeof at, "%s%suser", where, where[0] ? "." : "");
	if (get_string(c, obj, "user", at, &id->user))
		return -1;
	snprintf(at, sizeof at, "%s%sgroup", where, where[0] ? "." : "");
	if (get_string(c, obj, "group", at, &id->group))
		return -1;
	if (!id->user && !id->group) {
		if (above) {
			id->set = above->set;
			id->uid = above->uid;
			id->gid = above->gid;
		}
		return 0;
	}
	id->set = true;
	if (id->user) {
		snprintf(at, sizeof at, "%s%suser", where, where[0] ? "." : "");
		if (resolve_user(c, at, id->user, &id->uid, &id->gid))
			return -1;
	} else if (above && above->set) {
		id->uid = above->uid;
	} else {
		snprintf(at, sizeof at, "%s%sgroup", where, where[0] ? "." : "");
		return fail(c, at, "needs a \"user\" beside it (or at the top level)");
	}
	snprintf(at, sizeof at, "%s%sgroup", where, where[0] ? "." : "");
	return id->group ? resolve_group(c, at, id->group, &id->gid) : 0;
}

int load_min_ids(struct check *c, json_t *root, struct config *cfg)
{
	int min_uid = DEFAULT_MIN_ID, min_gid = DEFAULT_MIN_ID;
	if (get_int(c, root, "min_uid", "min_uid", &min_uid, 1, 1 << 30) ||
	    get_int(c, root, "min_gid", "min_gid", &min_gid, 1, 1 << 30))
		return -1;
	cfg->min_uid = (uid_t)min_uid;
	cfg->min_gid = (gid_t)min_gid;
	return 0;
}

void identity_free(struct identity_cfg *id)
{
	free(id->user);
	free(id->group);
}

/* One identity against the rules: who may start it, and no root or system
 * account unless "user" is root. */
static int check_one(const struct config *cfg, const struct identity_cfg *id, uid_t euid,
                     const char *what, char *msg, size_t msglen)
{
	if (!id->set)
		return 0;
	bool root_mode = cfg->id.set && cfg->id.uid == 0;
	if (euid != 0 && (id->uid != euid || id->gid != getegid())) {
		snprintf(msg, msglen,
		         "%s: running as user %s (uid %u) needs gatewayd started as root (it runs "
		         "as uid %u)",
		         what, id->user ? id->user : "(top level's)", (unsigned)id->uid,
		         (unsigned)euid);
		return -1;
	}
	if (root_mode || euid != 0)
		return 0;
	if (id->uid == 0 || id->gid == 0) {
		snprintf(msg, msglen,
		         "%s: uid or gid 0: nothing runs as root unless the top-level \"user\" is "
		         "\"root\"",
		         what);
		return -1;
	}
	if (id->uid < cfg->min_uid || id->gid < cfg->min_gid) {
		snprintf(msg, msglen,
		         "%s: uid %u / gid %u is below \"min_uid\" %u / \"min_gid\" %u (system "
		         "accounts)",
		         what, (unsigned)id->uid, (unsigned)id->gid, (unsigned)cfg->min_uid,
		         (unsigned)cfg->min_gid);
		return -1;
	}
	return 0;
}

int config_check_identity(const struct config *cfg, uid_t euid, char *msg, size_t msglen)
{
	char what[300];
	if (euid == 0 && !cfg->id.set) {
		snprintf(msg, msglen,
		         "%s: no \"user\": started as root, gatewayd will not run the dispatcher, "
		         "scripts and workers as root. Add \"user\": \"www-data\" (or another "
		         "unprivileged account) at the top level, or \"user\": \"root\" to run "
		         "everything as root knowingly",
		         cfg->path);
		return -1;
	}
	if (check_one(cfg, &cfg->id, euid, "user", msg, msglen) < 0)
		return -1;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		if (cfg->routes[i].kind != ROUTE_CGI)
			continue;
		snprintf(what, sizeof what, "routes[%zu].cgi (\"%s\")", i, cfg->routes[i].match);
		if (cfg->routes[i].cgi.userdir && euid != 0) {
			snprintf(msg, msglen,
			         "%s: \"userdir\" runs scripts as their owners: it needs "
			         "gatewayd started as root",
			         what);
			return -1;
		}
		if (check_one(cfg, &cfg->routes[i].cgi.id, euid, what, msg, msglen) < 0)
			return -1;
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		if (!cfg->pools[i].ncommand)
			continue;
		snprintf(what, sizeof what, "pools.%s", cfg->pools[i].name);
		if (check_one(cfg, &cfg->pools[i].id, euid, what, msg, msglen) < 0)
			return -1;
	}
	if (euid == 0 && cfg->id.uid == 0) {
		snprintf(msg, msglen,
		         "\"user\": \"root\": the dispatcher, every script and every worker run "
		         "as root with every capability");
		return 1;
	}
	return 0;
}

int load_dispatchers(struct check *c, json_t *root, struct config *cfg)
{
	json_t *v = json_object_get(root, "dispatchers");
	cfg->dispatchers = 1;
	if (!v)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->dispatchers = n < 1 ? 1 : n > 256 ? 256 : (int)n;
	} else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	           json_integer_value(v) > 256) {
		return fail(c, "dispatchers", "must be a count from 1 to 256, or \"auto\"");
	} else {
		cfg->dispatchers = (int)json_integer_value(v);
	}
	if (cfg->dispatchers == 1)
		return 0;
	/* Beside other dispatchers, the pools whose workers gatewayd starts are
	 * shared on the master's board: room for so many (two generations of
	 * pools during a reload). */
	size_t spawned = 0;
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct pool_cfg *p = &cfg->pools[i];
		if (!p->ncommand)
			continue;
		spawned++;
		int most = p->mode == POOL_STATIC ? p->processes : p->max_processes;
		if (most > SHARED_POOL_WORKERS) {
			char at[160];
			snprintf(at, sizeof at, "pools.%s.processes", p->name);
			return fail(c, at, "at most %d workers when \"dispatchers\" is above 1",
			            SHARED_POOL_WORKERS);
		}
	}
	if (spawned > SHARED_POOLS)
		return fail(c, "pools",
		            "at most %d pools that gatewayd starts when \"dispatchers\" is above 1",
		            SHARED_POOLS);
	return 0;
}
