/* Static files next to the scripts: GET and HEAD, Last-Modified and
 * If-Modified-Since, a Content-Type by extension, index files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/handlers/mime.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/router.h"

#define STATIC_CHUNK (64 * 1024)

struct static_job {
	int fd;
	off_t left;
};

static void static_finish(struct request *r, struct static_job *j, bool complete)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	r->handler_ctx = NULL;
	r->front->send_end(r, complete);
}

/* Send file data until the front end's queue is full. */
static void static_pump(struct request *r)
{
	struct static_job *j = r->handler_ctx;
	char chunk[STATIC_CHUNK];
	while (j->left > 0 && r->front->backlog(r) < REQUEST_HIGH_WATER) {
		size_t want = j->left < STATIC_CHUNK ? (size_t)j->left : STATIC_CHUNK;
		ssize_t n = read(j->fd, chunk, want);
		if (n <= 0) {
			log_error(r->id, "reading %s: %s", r->path,
			          n < 0 ? strerror(errno) : "file shrank");
			static_finish(r, j, false);
			return;
		}
		j->left -= n;
		r->front->send_body(r, chunk, (size_t)n);
	}
	if (j->left == 0)
		static_finish(r, j, true);
}

static void send_redirect_to_dir(struct request *r)
{
	char loc[PATH_MAX + 16];
	struct http1_header h = { { "Location", 8 }, { loc, 0 } };
	const char *q = r->query && r->query[0] ? r->query : NULL;
	int n = snprintf(loc, sizeof loc, "%s/%s%s", r->path, q ? "?" : "", q ? q : "");
	h.value.len = n > 0 && (size_t)n < sizeof loc ? (size_t)n : 0;
	struct response_head head = {
		.status = 301, .headers = &h, .num_headers = 1, .content_length = 0
	};
	r->front->send_head(r, &head);
	r->front->send_end(r, true);
}

static int open_index(struct request *r, char *path, size_t cap, struct stat *st)
{
	size_t base = strlen(path);
	const struct static_cfg *sc = &r->route->stat;
	for (size_t i = 0; i < sc->nindex; i++) {
		if ((size_t)snprintf(path + base, cap - base, "%s", sc->index[i]) >= cap - base)
			continue;
		if (stat(path, st) == 0 && S_ISREG(st->st_mode))
			return 0;
	}
	return -1;
}

static void static_start(struct request *r)
{
	const struct static_cfg *sc = &r->route->stat;
	bool head = strcmp(r->method, "HEAD") == 0;
	char path[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (!head && strcmp(r->method, "GET") != 0) {
		request_error(r, 405, "Allow: GET, HEAD");
		return;
	}
	if (request_map_path(r, sc->root, path, sizeof path) < 0 || stat(path, &st) < 0) {
		request_error(r, 404, NULL);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		size_t len = strlen(r->path);
		if (len == 0 || r->path[len - 1] != '/') {
			send_redirect_to_dir(r);
			return;
		}
		if (open_index(r, path, sizeof path, &st) < 0) {
			request_error(r, 404, NULL);
			return;
		}
	}
	if (!S_ISREG(st.st_mode) || !realpath(path, real) || !router_path_below(sc->root, real)) {
		log_info(r->id, "%s: not a regular file inside %s", path, sc->root);
		request_error(r, 404, NULL);
		return;
	}

	char lastmod[40];
	http1_format_date(lastmod, st.st_mtime);
	const char *ims = cgi_env_get(&r->env, "HTTP_IF_MODIFIED_SINCE");
	time_t since = ims ? http1_parse_date(ims, strlen(ims)) : (time_t)-1;
	const char *type = mime_type_for(path);
	struct http1_header h[2] = {
		{ { "Last-Modified", 13 }, { lastmod, strlen(lastmod) } },
		{ { "Content-Type", 12 }, { type, strlen(type) } },
	};
	if (since != (time_t)-1 && st.st_mtime <= since) {
		struct response_head nm = {
			.status = 304, .headers = h, .num_headers = 1, .content_length = -1
		};
		r->front->send_head(r, &nm);
		r->front->send_end(r, true);
		return;
	}

	int fd = head ? -1 : open(real, O_RDONLY | O_CLOEXEC);
	if (!head && fd < 0) {
		log_warn(r->id, "open %s: %s", real, strerror(errno));
		request_error(r, errno == EACCES ? 403 : 404, NULL);
		return;
	}
	struct response_head ok = {
		.status = 200, .headers = h, .num_headers = 2, .content_length = st.st_size
	};
	r->front->send_head(r, &ok);
	if (head) {
		r->front->send_end(r, true);
		return;
	}
	struct static_job *j = calloc(1, sizeof *j);
	if (!j) {
		close(fd);
		r->front->send_end(r, false);
		return;
	}
	j->fd = fd;
	j->left = st.st_size;
	r->handler_ctx = j;
	static_pump(r);
}

static void static_body(struct request *r)
{
	/* A body sent with GET is ignored; take it so the front end keeps reading. */
	request_body_taken(r, buf_len(&r->body));
}

static void static_drained(struct request *r)
{
	if (r->handler_ctx)
		static_pump(r);
}

static void static_abort(struct request *r)
{
	struct static_job *j = r->handler_ctx;
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	r->handler_ctx = NULL;
}

/* clang-format off */
const struct handler_ops handler_static = {
	.name = "static", .start = static_start, .body = static_body, .drained = static_drained,
	.abort = static_abort
};
/* clang-format on */
