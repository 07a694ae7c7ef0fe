#include "gatewayd/request/script.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"

static int set_match(struct request *r, struct script_match *m, const char *name_end,
                     const char *index)
{
	int n = snprintf(m->script_name, sizeof m->script_name, "%.*s%s", (int)(name_end - r->path),
	                 r->path, index ? index : "");
	m->path_info = name_end;
	return n < 0 || (size_t)n >= sizeof m->script_name ? 414 : 0;
}

int script_find(struct request *r, const char *root, const char *const *index,
                struct script_match *m)
{
	const char *rest = r->path + r->route_prefix;
	size_t flen = (size_t)snprintf(m->file, sizeof m->file, "%s", root);
	struct stat st;

	while (*rest == '/') {
		const char *seg = rest + 1;
		const char *end = strchrnul(seg, '/');
		if (end == seg)
			break;
		if (flen + 1 + (size_t)(end - seg) >= sizeof m->file)
			return 414;
		m->file[flen++] = '/';
		memcpy(m->file + flen, seg, (size_t)(end - seg));
		flen += (size_t)(end - seg);
		m->file[flen] = '\0';
		if (stat(m->file, &st) < 0) {
			log_info(r->id, "no script %s: %s", m->file, strerror(errno));
			return errno == EACCES ? 403 : 404;
		}
		if (S_ISREG(st.st_mode))
			return set_match(r, m, end, NULL);
		if (!S_ISDIR(st.st_mode))
			return 403;
		rest = end;
	}
	/* A directory: its index file, when the path ends in '/'. */
	for (; index && *index && r->path[strlen(r->path) - 1] == '/'; index++) {
		size_t base = strlen(m->file);
		if (snprintf(m->file + base, sizeof m->file - base, "/%s", *index) >=
		    (int)(sizeof m->file - base))
			continue;
		if (stat(m->file, &st) == 0 && S_ISREG(st.st_mode))
			return set_match(r, m, r->path + strlen(r->path), *index);
		m->file[base] = '\0';
	}
	log_info(r->id, "%s is a directory, not a script", m->file);
	return 403;
}

int script_location_env(struct request *r, const struct script_match *m)
{
	struct cgi_env *env = &r->env;
	const char *path_info = m->path_info;
	const char *docroot = gw->cfg->document_root;
	int rc = 0;

	rc |= cgi_env_set(env, "SCRIPT_NAME", m->script_name);
	rc |= cgi_env_set(env, "PATH_INFO", path_info);
	rc |= cgi_env_set(env, "SCRIPT_FILENAME", m->file);
	rc |= cgi_env_set(env, "DOCUMENT_ROOT", docroot);
	if (*path_info) {
		char translated[PATH_MAX * 2];
		snprintf(translated, sizeof translated, "%s%s", docroot, path_info);
		rc |= cgi_env_set(env, "PATH_TRANSLATED", translated);
	} else {
		cgi_env_unset(env, "PATH_TRANSLATED");
	}
	return rc ? 500 : 0;
}
