#include "gatewayd/request/request.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/client_limits.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/router.h"

struct request *request_new(const struct front_ops *front, void *front_ctx)
{
	struct request *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	cgi_env_init(&r->env);
	r->front = front;
	r->front_ctx = front_ctx;
	r->content_length = -1;
	r->spool_fd = -1;
	r->started = ev_now(gw->loop);
	r->timing.start = ev_time();
	r->cfg = config_ref(gw->cfg);
	server_next_request_id(r->id);
	return r;
}

void request_timing_queued(struct request *r)
{
	r->timing.queued_at = ev_time();
}

void request_timing_app(struct request *r, ev_tstamp began)
{
	ev_tstamp now = ev_time();
	if (began == 0)
		began = now; /* no process was made for it */
	if (r->timing.queued_at > 0) {
		r->timing.queue += began - r->timing.queued_at;
		r->timing.queued_at = 0;
	}
	r->timing.spawn += now - began;
	r->timing.app_at = now;
}

void request_put_server_timing(const struct request *r, struct buf *o)
{
	ev_tstamp now = ev_time();
	const struct request_timing *t = &r->timing;
	double queue = t->queue + (t->queued_at > 0 ? now - t->queued_at : 0);
	double app = t->app_at > 0 ? now - t->app_at : 0;
	double total = now - t->start;
	long long us[4] = { (long long)(t->spawn * 1e6), (long long)(queue * 1e6),
		            (long long)(app * 1e6), (long long)(total * 1e6) };
	static const char *const names[4] = { "Server-Timing: spawn;dur=", ", queue;dur=",
		                              ", app;dur=", ", total;dur=" };
	for (int i = 0; i < 4; i++) {
		if (us[i] < 0)
			us[i] = 0; /* the clock stepped back */
		/* milliseconds, three decimals, without printf (a visible cost at
		 * 50k responses/s) */
		char frac[3] = { (char)('0' + us[i] / 100 % 10), (char)('0' + us[i] / 10 % 10),
			         (char)('0' + us[i] % 10) };
		buf_append_str(o, names[i]);
		buf_append_uint(o, (unsigned long long)(us[i] / 1000));
		buf_append(o, ".", 1);
		buf_append(o, frac, 3);
	}
	buf_append(o, "\r\n", 2);
}

void request_free(struct request *r)
{
	if (!r)
		return;
	cgi_env_free(&r->env);
	free(r->path);
	r->path = NULL;
	free(r->script_filename);
	r->script_filename = NULL;
	buf_free(&r->body);
	if (r->spool_fd >= 0)
		close(r->spool_fd);
	config_unref(r->cfg);
	free(r);
}

bool request_from_loopback(struct request *r)
{
	const char *addr = cgi_env_get(&r->env, "REMOTE_ADDR");
	return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	                strncmp(addr, "::ffff:127.", 11) == 0);
}

/* The host a request is for: Host (HTTP_HOST) without its port, else the
 * SERVER_NAME a web server sent; "" if neither. */
static void request_host(struct request *r, char *out, size_t cap)
{
	const char *h = cgi_env_get(&r->env, "HTTP_HOST");
	if (!h || !h[0])
		h = cgi_env_get(&r->env, "SERVER_NAME");
	size_t n = h ? (h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":")) : 0;
	if (n >= cap)
		n = 0;
	memcpy(out, h ? h : "", n);
	out[n] = '\0';
}

int request_route(struct request *r)
{
	static struct route_cfg status_route = { .match = STATUS_PATH, .kind = ROUTE_STATUS };
	static struct route_cfg health_route = { .match = "/_gatewayd/", .kind = ROUTE_HEALTH };
	if (r->cfg->status.enabled && strcmp(r->path, STATUS_PATH) == 0) {
		r->route = &status_route;
		return 0;
	}
	if (r->cfg->status.enabled &&
	    (strcmp(r->path, LIVE_PATH) == 0 || strcmp(r->path, READY_PATH) == 0)) {
		r->route = &health_route;
		return 0;
	}
	char host[256];
	request_host(r, host, sizeof host);
	r->route = router_match(r->cfg, host, r->path, &r->route_prefix);
	if (!r->route) {
		log_info(r->id, "no route for \"%s\"", r->path);
		return 404;
	}
	return 0;
}

int request_route_script(struct request *r, const char *script_filename)
{
	char real[PATH_MAX];
	if (!realpath(script_filename, real)) {
		log_info(r->id, "no script %s: %s", script_filename, strerror(errno));
		return errno == EACCES ? 403 : 404;
	}
	r->route = router_match_script(r->cfg, real);
	if (!r->route) {
		log_warn(r->id, "%s is outside every cgi and pool root: refused", script_filename);
		return 403;
	}
	free(r->script_filename);
	r->script_filename = strdup(real);
	return r->script_filename ? 0 : 500;
}

int request_add_server_var(struct request *r, const void *name, size_t name_len, const void *value,
                           size_t value_len)
{
	enum cgi_var_verdict v = cgi_env_add_from_server(&r->env, name, name_len, value, value_len);
	int shown = name_len > 64 ? 64 : (int)name_len;

	switch (v) {
	case CGI_VAR_SET:
		return 0;
	case CGI_VAR_DROPPED:
		log_info(r->id, "variable %.*s from the web server: %s", shown, (const char *)name,
		         cgi_var_verdict_text(v));
		return 0;
	case CGI_VAR_BAD_NAME:
	case CGI_VAR_BAD_VALUE:
		log_warn(r->id, "variable %.*s from the web server: %s: 400", shown,
		         (const char *)name, cgi_var_verdict_text(v));
		return 400;
	case CGI_VAR_NO_MEMORY:
		break;
	}
	log_error(r->id, "variable %.*s from the web server: %s", shown, (const char *)name,
	          cgi_var_verdict_text(v));
	return 500;
}

/* Apache's SCRIPT_FILENAME: "proxy:fcgi://host:port/path?query". Returns the
 * path (into out, the query cut) or NULL when it is not that form. */
static const char *proxy_fcgi_path(const char *sf, char *out, size_t cap)
{
	if (strncmp(sf, "proxy:fcgi://", 13) != 0)
		return NULL;
	const char *path = strchr(sf + 13, '/');
	if (!path)
		path = "/";
	size_t n = strcspn(path, "?");
	snprintf(out, cap, "%.*s", (int)n, path);
	return out;
}

/* Walk the absolute path to its first prefix that is a regular file, as PATH_INFO
 * is found over HTTP: *tail is the rest ("" or "/more/path"), and path is cut
 * there. Returns false when no prefix is one. */
static bool split_script_file(char *path, char **tail)
{
	struct stat st;

	for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		int rc = stat(path, &st);
		if (slash)
			*slash = '/';
		if (rc < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			return false;
		if (S_ISREG(st.st_mode)) {
			*tail = slash ? slash : path + strlen(path);
			return true;
		}
		if (!slash)
			return false;
	}
}

static bool inside_cgi_root(struct config *cfg, const char *file)
{
	char real[PATH_MAX];
	return realpath(file, real) && router_match_script(cfg, real);
}

/* Apache names the script behind "proxy:fcgi://host:port" as a file, "//srv/x.sh"
 * (SetHandler or ProxyPass to a target ending in '/') or "/srv/x.php" (SetHandler
 * without the slash, ProxyPassMatch as php-fpm's docs write it), or as a URL path,
 * "/cgi-bin/x.sh" (ProxyPass to a directory). A one-slash path is a file when it
 * leads to one inside a cgi root; the rest of it is PATH_INFO, as php-fpm's
 * cgi.fix_pathinfo reads it, unless Apache sent one. Returns 0 or a status. */
static int route_proxy_fcgi(struct request *r, const char *path)
{
	struct cgi_env *env = &r->env;
	const char *uri = cgi_env_get(env, "REQUEST_URI");
	bool named_file = path[1] == '/';
	char file[4096], info[4096] = "", *tail;

	snprintf(file, sizeof file, "%s", named_file ? path + 1 : path);
	bool found = split_script_file(file, &tail);
	if (found) {
		snprintf(info, sizeof info, "%s", tail);
		*tail = '\0';
		found = inside_cgi_root(r->cfg, file);
	}
	if (!found && !named_file) {
		int st = request_set_path(r, path, strlen(path));
		return st ? st : request_route(r);
	}
	if (!found) { /* a named file that is no script of ours: refused below, as named */
		snprintf(file, sizeof file, "%s", path + 1);
		info[0] = '\0';
	}
	int st = request_set_path(r, uri ? uri : file, uri ? strcspn(uri, "?") : strlen(file));
	if (st || (st = request_route_script(r, file)) != 0)
		return st;
	if (cgi_env_set(env, "SCRIPT_FILENAME", file) < 0)
		return 500;
	if (!info[0] || cgi_env_get(env, "PATH_INFO"))
		return 0;
	const char *sn = cgi_env_get(env, "SCRIPT_NAME");
	size_t sl = sn ? strlen(sn) : 0, il = strlen(info);
	if (sl > il && strcmp(sn + sl - il, info) == 0 &&
	    cgi_env_setn(env, "SCRIPT_NAME", sn, sl - il))
		return 500;
	return cgi_env_set(env, "PATH_INFO", info) < 0 ? 500 : 0;
}

/* Decide which script runs: the SCRIPT_FILENAME a web server names, else
 * DOCUMENT_ROOT + SCRIPT_NAME, else the URL path walked like HTTP. */
static int route_cgi_vars(struct request *r)
{
	struct cgi_env *env = &r->env;
	const char *sf = cgi_env_get(env, "SCRIPT_FILENAME");
	const char *uri = cgi_env_get(env, "REQUEST_URI");
	const char *sn = cgi_env_get(env, "SCRIPT_NAME");
	const char *pi = cgi_env_get(env, "PATH_INFO");
	const char *dr = cgi_env_get(env, "DOCUMENT_ROOT");
	char url[4096], file[8192];

	if (sf && proxy_fcgi_path(sf, url, sizeof url))
		return route_proxy_fcgi(r, url);
	int st;
	if (uri) {
		st = request_set_path(r, uri, strcspn(uri, "?"));
	} else {
		snprintf(url, sizeof url, "%s%s", sn ? sn : "", pi ? pi : "");
		st = request_set_path(r, url[0] ? url : "/", url[0] ? strlen(url) : 1);
	}
	if (st)
		return st;
	if (sf && sf[0] == '/')
		return request_route_script(r, sf);
	if (dr && sn) {
		snprintf(file, sizeof file, "%s%s", dr, sn);
		return request_route_script(r, file);
	}
	return request_route(r);
}

int request_from_cgi_vars(struct request *r, long long *content_length, const char **why)
{
	struct cgi_env *env = &r->env;
	*content_length = -1;
	*why = NULL;
	/* nginx's fastcgi_params and uwsgi_params send empty CONTENT_LENGTH and
	 * CONTENT_TYPE for bodiless requests. */
	const char *ct = cgi_env_get(env, "CONTENT_TYPE");
	if (ct && !ct[0])
		cgi_env_unset(env, "CONTENT_TYPE");
	const char *cl = cgi_env_get(env, "CONTENT_LENGTH");
	if (cl && !cl[0]) {
		cgi_env_unset(env, "CONTENT_LENGTH");
		cl = NULL;
	}
	int rc = 0;
	if (!cgi_env_get(env, "REQUEST_METHOD"))
		rc |= cgi_env_set(env, "REQUEST_METHOD", "GET");
	if (!cgi_env_get(env, "QUERY_STRING"))
		rc |= cgi_env_set(env, "QUERY_STRING", "");
	if (!cgi_env_get(env, "GATEWAY_INTERFACE"))
		rc |= cgi_env_set(env, "GATEWAY_INTERFACE", "CGI/1.1");
	rc |= cgi_env_set(env, "GATEWAY_REQUEST_ID", r->id);
	if (rc) {
		*why = "out of memory";
		return 500;
	}
	r->method = cgi_env_get(env, "REQUEST_METHOD");
	r->query = cgi_env_get(env, "QUERY_STRING");

	int status = route_cgi_vars(r);
	if (status) {
		*why = status == 500 ? "out of memory" : "no script for this request";
		return status;
	}
	if (cl) {
		char *end;
		long long n = strtoll(cl, &end, 10);
		if (*end || n < 0) {
			*why = "malformed CONTENT_LENGTH";
			return 400;
		}
		if ((uint64_t)n > r->route->max_body) {
			*why = "CONTENT_LENGTH over the route's max_body";
			return 413;
		}
		r->content_length = n;
		r->body_complete = n == 0;
		*content_length = n;
	}
	return 0;
}

void request_start(struct request *r)
{
	static const struct handler_ops *const handlers[] = {
		[ROUTE_CGI] = &handler_cgi,       [ROUTE_STATIC] = &handler_static,
		[ROUTE_POOL] = &handler_pool,     [ROUTE_STATUS] = &handler_status,
		[ROUTE_HEALTH] = &handler_health,
	};
	r->handler = handlers[r->route->kind];
	r->handler->start(r);
}

void request_dispatch(struct request *r)
{
	int status = request_route(r);
	if (status) {
		request_error(r, status, NULL);
		return;
	}
	request_start(r);
}

bool request_over_rate(struct request *r, char retry_after[REQUEST_RETRY_AFTER_LEN])
{
	const char *addr = cgi_env_get(&r->env, "REMOTE_ADDR");
	unsigned wait = client_request(addr, ev_now(gw->loop));
	if (!wait)
		return false;
	const struct per_client_cfg *pc = &r->cfg->limits.per_client;
	log_warn(r->id,
	         "429: %s is over limits.per_client.requests_per_second (%g/s, burst %u); "
	         "Retry-After: %u",
	         addr, pc->requests_per_second, pc->burst, wait);
	snprintf(retry_after, REQUEST_RETRY_AFTER_LEN, "Retry-After: %u", wait);
	return true;
}

static const char *error_detail(int status)
{
	switch (status) {
	case 400:
		return "The request could not be understood.";
	case 403:
		return "You are not allowed to run this.";
	case 404:
		return "Nothing here.";
	case 408:
		return "The request took too long to arrive.";
	case 413:
		return "The request body is larger than this server accepts here.";
	case 414:
		return "The request line is too long.";
	case 429:
		return "Too much at once from your address; try again in a moment.";
	case 431:
		return "The request's header fields are too large.";
	case 502:
		return "The program behind this address failed; the error log has the reason.";
	case 503:
		return gw->stopping ? "This server is stopping; try again shortly."
		                    : "Every worker is busy; try again shortly.";
	case 504:
		return "The program behind this address took too long.";
	default:
		return "";
	}
}

bool request_self_allowed(struct request *r, bool loopback_only)
{
	if (loopback_only && !request_from_loopback(r)) {
		log_warn(r->id, "%s asked for by %s, not a loopback client: 403", r->path,
		         cgi_env_get(&r->env, "REMOTE_ADDR"));
		request_error(r, 403, NULL);
		return false;
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		request_error(r, 405, "Allow: GET, HEAD");
		return false;
	}
	return true;
}

void request_send_text(struct request *r, int status, const char *type, const char *text,
                       size_t len)
{
	struct http1_header h[2] = {
		{ { "Content-Type", 12 }, { type, strlen(type) } },
		{ { "Cache-Control", 13 }, { "no-store", 8 } },
	};
	struct response_head head = {
		.status = status, .headers = h, .num_headers = 2, .content_length = (long long)len
	};
	r->front->send_head(r, &head);
	r->front->send_body(r, text, len);
	r->front->send_end(r, true);
}

void request_body_drop(struct request *r)
{
	request_body_taken(r, buf_len(&r->body));
}

void request_nothing(struct request *r) {}

void request_error(struct request *r, int status, const char *extra_header)
{
	char body[512];
	struct http1_header hdrs[2];
	size_t n = 0;

	r->status = status;
	if (r->head_sent) {
		r->front->send_end(r, false);
		return;
	}
	int len = snprintf(body, sizeof body,
	                   "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
	                   "<body><h1>%d %s</h1>\n<p>%s</p>\n<p><small>request %s</small></p>\n"
	                   "</body></html>\n",
	                   status, http1_reason(status), status, http1_reason(status),
	                   error_detail(status), r->id);
	hdrs[n].name = (struct http1_str){ "Content-Type", 12 };
	hdrs[n++].value = (struct http1_str){ "text/html; charset=utf-8", 24 };
	if (extra_header) {
		const char *colon = strchr(extra_header, ':');
		if (colon) {
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			hdrs[n].name =
			        (struct http1_str){ extra_header, (size_t)(colon - extra_header) };
			hdrs[n++].value = (struct http1_str){ v, strlen(v) };
		}
	}
	struct response_head h = {
		.status = status,
		.headers = hdrs,
		.num_headers = n,
		.content_length = len,
	};
	r->front->send_head(r, &h);
	r->front->send_body(r, body, (size_t)len);
	r->front->send_end(r, true);
}

/* Remove dot segments and empty segments from a decoded absolute path, in place.
 * Returns -1 when ".." climbs above the root. */
static int normalize_path(char *p)
{
	char *out = p, *in = p;
	bool dot_last = false; /* the last segment was . or .. */
	if (*in != '/')
		return -1;
	while (*in) {
		while (*in == '/')
			in++;
		char *seg = in;
		while (*in && *in != '/')
			in++;
		size_t len = (size_t)(in - seg);
		if (len == 0)
			break;
		dot_last =
		        (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.');
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			if (out == p)
				return -1;
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	/* A trailing slash is meaningful (a directory): keep it, and a final .
	 * or .. names a directory too (RFC 3986 §5.2.4: "/a/b/.." is "/a/"). */
	if (out == p || ((dot_last || (in > p && in[-1] == '/')) && out[-1] != '/'))
		*out++ = '/';
	*out = '\0';
	return 0;
}

int request_set_path(struct request *r, const char *path, size_t len)
{
	char *decoded = malloc(len + 2);
	if (!decoded)
		return 500;
	if (cgi_url_decode(decoded, path, len) < 0 || normalize_path(decoded) < 0) {
		free(decoded);
		return 400;
	}
	free(r->path);
	r->path = decoded;
	return 0;
}

void request_follow_redirect(struct request *r, char *location)
{
	if (!location || request_internal_redirect(r, location) < 0)
		request_error(r, 500, NULL);
	free(location);
}

int request_internal_redirect(struct request *r, const char *location)
{
	if (++r->redirects > gw->cfg->max_redirects) {
		log_error(r->id, "more than %d local redirects, last to \"%s\"",
		          gw->cfg->max_redirects, location);
		return -1;
	}
	const char *q = strchr(location, '?');
	size_t plen = q ? (size_t)(q - location) : strlen(location);
	if (request_set_path(r, location, plen) != 0) {
		log_error(r->id, "local redirect to a malformed path \"%s\"", location);
		return -1;
	}
	/* The original body is gone: a redirected request is a GET without one. */
	cgi_env_set(&r->env, "REQUEST_METHOD", "GET");
	cgi_env_set(&r->env, "REQUEST_URI", location);
	cgi_env_set(&r->env, "QUERY_STRING", q ? q + 1 : "");
	cgi_env_unset(&r->env, "CONTENT_LENGTH");
	cgi_env_unset(&r->env, "CONTENT_TYPE");
	r->method = cgi_env_get(&r->env, "REQUEST_METHOD");
	r->query = cgi_env_get(&r->env, "QUERY_STRING");
	r->content_length = -1;
	free(r->script_filename); /* a redirect names a URL path, not a file */
	r->script_filename = NULL;
	buf_reset(&r->body);
	r->body_complete = true;
	r->handler = NULL;
	r->handler_ctx = NULL;
	log_debug(r->id, "local redirect to \"%s\"", location);
	request_dispatch(r);
	return 0;
}

void request_log_access(struct request *r, unsigned long long bytes_sent)
{
	char line[2048];
	if (r->no_access_log)
		return;
	const char *method = cgi_env_get(&r->env, "REQUEST_METHOD");
	const char *uri = cgi_env_get(&r->env, "REQUEST_URI");
	const char *proto = cgi_env_get(&r->env, "SERVER_PROTOCOL");
	snprintf(line, sizeof line, "%s %s %s", method ? method : "-", uri ? uri : "-",
	         proto ? proto : "-");
	struct access_entry e = {
		.remote_addr = cgi_env_get(&r->env, "REMOTE_ADDR"),
		.request_line = line,
		.status = r->status,
		.bytes_sent = bytes_sent,
		.referer = cgi_env_get(&r->env, "HTTP_REFERER"),
		.user_agent = cgi_env_get(&r->env, "HTTP_USER_AGENT"),
		.seconds = ev_now(gw->loop) - r->started,
		.rid = r->id,
	};
	log_access(&e);
}

#define STDERR_LINE_MAX 4096

/* Log what line holds: the whole line (more false, no part logged before), or
 * one part of it. Then hand the bytes to the front end. */
static void stderr_emit(struct request *r, const char *rid, const char *who,
                        struct stderr_line *line, bool more)
{
	unsigned part = more || line->parts ? ++line->parts : 0;
	log_source(LOG_WARN, rid, who, buf_head(&line->buf), buf_len(&line->buf), part, more);
	if (!more)
		line->parts = 0;
	if (r && r->front->send_stderr) {
		if (!more)
			buf_append(&line->buf, "\n", 1);
		r->front->send_stderr(r, buf_head(&line->buf), buf_len(&line->buf));
	}
	buf_reset(&line->buf);
}

void request_stderr_flush(struct request *r, const char *rid, const char *who,
                          struct stderr_line *line)
{
	if (buf_len(&line->buf) == 0 && line->parts == 0)
		return;
	stderr_emit(r, rid, who, line, false);
}

void request_stderr_feed(struct request *r, const char *rid, const char *who,
                         struct stderr_line *line, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			request_stderr_flush(r, rid, who, line);
		} else if (p[i] != '\r') {
			/* A full buffer is a part only once the line goes on: a line of
			 * exactly STDERR_LINE_MAX bytes stays whole. */
			if (buf_len(&line->buf) >= STDERR_LINE_MAX)
				stderr_emit(r, rid, who, line, true);
			buf_append(&line->buf, &p[i], 1);
		}
	}
}

/* Refill r->body from the spool file, up to the high-water mark. */
static void refill_from_spool(struct request *r)
{
	while (r->spool_off < r->spool_size && buf_len(&r->body) < REQUEST_LOW_WATER) {
		size_t want = 64 * 1024;
		if ((off_t)want > r->spool_size - r->spool_off)
			want = (size_t)(r->spool_size - r->spool_off);
		char *dst = buf_reserve(&r->body, want);
		if (!dst)
			return;
		ssize_t n = pread(r->spool_fd, dst, want, r->spool_off);
		if (n <= 0) {
			log_error(r->id, "reading the spooled body: %s",
			          n < 0 ? strerror(errno) : "short file");
			r->spool_off = r->spool_size;
			break;
		}
		buf_commit(&r->body, (size_t)n);
		r->spool_off += n;
	}
	r->body_complete = r->spool_off >= r->spool_size;
}

void request_body_taken(struct request *r, size_t n)
{
	buf_consume(&r->body, n);
	/* The handler is taking bytes in a loop of its own: a refill from the
	 * spool lands in r->body for that loop; a front end is only asked for more
	 * (it feeds the handler from the event loop, never from inside this call). */
	if (r->spool_fd >= 0) {
		if (buf_len(&r->body) < REQUEST_LOW_WATER && r->spool_off < r->spool_size)
			refill_from_spool(r);
		return;
	}
	if (!r->body_complete && buf_len(&r->body) < REQUEST_LOW_WATER)
		r->front->body_more(r);
}

int request_feed(struct request *r, struct conn *c, uint64_t *left)
{
	size_t n = buf_len(&c->in);
	if (n > *left)
		n = (size_t)*left;
	size_t have = buf_len(&r->body);
	size_t room = have < REQUEST_HIGH_WATER ? REQUEST_HIGH_WATER - have : 0;
	if (n > room)
		n = room;
	if (n > 0) {
		if (buf_append(&r->body, buf_head(&c->in), n) < 0)
			return -1;
		buf_consume(&c->in, n);
		*left -= n;
	}
	if (*left == 0)
		r->body_complete = true;
	if (n > 0 || r->body_complete)
		r->handler->body(r);
	if (!r->body_complete && buf_len(&r->body) >= REQUEST_HIGH_WATER)
		conn_set_reading(c, false);
	return 0;
}

void request_feed_later(struct request *r, struct conn *c)
{
	if (!r->body_complete && buf_len(&r->body) < REQUEST_HIGH_WATER)
		conn_set_reading(c, true);
	conn_kick(c);
}

void request_body_rewind(struct request *r)
{
	buf_consume(&r->body, buf_len(&r->body));
	r->spool_off = 0;
	refill_from_spool(r);
}

void request_use_spool(struct request *r, int fd, off_t size)
{
	r->spool_fd = fd;
	r->spool_size = size;
	r->spool_off = 0;
	refill_from_spool(r);
}

int request_map_path(const struct request *r, const char *root, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", root, r->path + r->route_prefix);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
