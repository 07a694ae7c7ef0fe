#include "gatewayd/core/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"

void spool_init(struct spool *s)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

static int file_write(struct spool *s, const char *p, size_t n, const char *rid)
{
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			log_error(rid, "writing the spooled body: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int spool_write(struct spool *s, const char *p, size_t n, const char *rid)
{
	s->size += n;
	if (s->fd < 0 && buf_len(&s->mem) + n <= gw->cfg->limits.body_memory)
		return buf_append(&s->mem, p, n);
	if (s->fd < 0) {
		s->fd = open(gw->cfg->temp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (s->fd < 0) {
			log_error(rid, "cannot spool the request body in %s: %s", gw->cfg->temp_dir,
			          strerror(errno));
			return -1;
		}
		/* The file holds what is unread: bytes already taken back are not in it. */
		s->file_start = s->read;
		if (file_write(s, buf_head(&s->mem), buf_len(&s->mem), rid) < 0)
			return -1;
		buf_free(&s->mem);
	}
	return file_write(s, p, n, rid);
}

void spool_hand_to(struct spool *s, struct request *r)
{
	char len[32];
	snprintf(len, sizeof len, "%llu", (unsigned long long)s->size);
	cgi_env_set(&r->env, "CONTENT_LENGTH", len);
	r->content_length = (long long)s->size;
	if (s->fd >= 0) {
		request_use_spool(r, s->fd, (off_t)s->size);
		s->fd = -1; /* the request owns it now */
	} else {
		buf_free(&r->body);
		r->body = s->mem;
		memset(&s->mem, 0, sizeof s->mem);
		r->body_complete = true;
	}
	s->size = 0;
}

size_t spool_read(struct spool *s, char *dst, size_t cap)
{
	size_t n = 0;
	if (s->fd < 0) {
		n = buf_len(&s->mem) < cap ? buf_len(&s->mem) : cap;
		if (n == 0)
			return 0; /* nothing held: mem.data may be NULL, which memcpy may not get */
		memcpy(dst, buf_head(&s->mem), n);
		buf_consume(&s->mem, n);
	} else {
		uint64_t left = s->size - s->read;
		ssize_t r = pread(s->fd, dst, left < cap ? (size_t)left : cap,
		                  (off_t)(s->read - s->file_start));
		n = r > 0 ? (size_t)r : 0;
	}
	s->read += n;
	return n;
}

void spool_free(struct spool *s)
{
	buf_free(&s->mem);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->size = 0;
	s->read = 0;
	s->file_start = 0;
}
