#include "test/gatewayd/fixture.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "test/integration/harness.h"

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static char dir[64];

void fx_setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/gwunit.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(log_open_error(fx_path("error.log"), LOG_DEBUG), 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void fx_teardown(void)
{
	if (gw->cfg)
		config_unref(gw->cfg);
	gw->cfg = NULL;
	if (gw->loop)
		ev_loop_destroy(gw->loop);
	gw->loop = NULL;
	log_close();
	cr_assert_eq(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "cannot remove %s", dir);
	/* An assertion in .fini does not fail a test, a crash there does. */
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check() != 0) {
		fprintf(stderr, "memory leaked in the test (LeakSanitizer's report above)\n");
		abort();
	}
}

const char *fx_dir(void)
{
	return dir;
}

const char *fx_path(const char *rel)
{
	static char ring[8][4096];
	static unsigned next;
	char *p = ring[next++ % 8];
	snprintf(p, sizeof ring[0], "%s/%s", dir, rel);
	return p;
}

void fx_mkdir(const char *rel)
{
	cr_assert_eq(mkdir(fx_path(rel), 0755), 0, "mkdir %s", rel);
}

void fx_write(const char *rel, const char *content, mode_t mode)
{
	int fd = open(fx_path(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "cannot create %s", rel);
	size_t n = strlen(content);
	cr_assert_eq(write(fd, content, n), (ssize_t)n);
	close(fd);
	cr_assert_eq(chmod(fx_path(rel), mode), 0); /* past the umask */
}

void fx_tree(const char *const *paths)
{
	for (; *paths; paths++) {
		size_t n = strlen(*paths);
		if (n && (*paths)[n - 1] == '/')
			fx_mkdir(*paths);
		else
			fx_write(*paths, "#!/bin/sh\necho\n", 0755);
	}
}

struct config *fx_config_load(const char *json, char *err, size_t errlen)
{
	fx_write("gw.json", json, 0644);
	err[0] = '\0';
	return config_load(fx_path("gw.json"), err, errlen);
}

void fx_server(const char *json)
{
	char err[1024];
	gw->cfg = fx_config_load(json, err, sizeof err);
	cr_assert_not_null(gw->cfg, "config refused: %s", err);
	gw->loop = ev_default_loop(EVFLAG_AUTO);
	cr_assert_not_null(gw->loop);
}

bool fx_error_log_has(const char *needle)
{
	char *text = gw_read_file(fx_path("error.log"));
	cr_assert_not_null(text);
	bool found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* ---- the recording front end ---- */

static struct recording *rec_of(struct request *r)
{
	return r->front_ctx;
}

static void rec_head(struct request *r, const struct response_head *h)
{
	struct recording *rec = rec_of(r);
	rec->heads++;
	rec->status = h->status;
	snprintf(rec->reason, sizeof rec->reason, "%s", h->reason ? h->reason : "");
	rec->content_length = h->content_length;
	for (size_t i = 0; i < h->num_headers; i++)
		fprintf(rec->fields_f, "%.*s: %.*s\n", (int)h->headers[i].name.len,
		        h->headers[i].name.p, (int)h->headers[i].value.len, h->headers[i].value.p);
	r->head_sent = true;
	r->status = h->status;
}

static void rec_body(struct request *r, const char *p, size_t n)
{
	fwrite(p, 1, n, rec_of(r)->body_f);
}

static void rec_raw(struct request *r, const char *p, size_t n)
{
	fwrite(p, 1, n, rec_of(r)->raw_f);
	r->head_sent = true; /* as every front end does */
}

static void rec_end(struct request *r, bool complete)
{
	rec_of(r)->ends++;
	rec_of(r)->complete = complete;
}

static void rec_stderr(struct request *r, const char *p, size_t n)
{
	fwrite(p, 1, n, rec_of(r)->err_f);
}

static size_t rec_backlog(struct request *r)
{
	return 0;
}

static void rec_body_more(struct request *r)
{
}

const struct front_ops fx_recording_front = {
	.send_head = rec_head,
	.send_body = rec_body,
	.send_raw = rec_raw,
	.send_end = rec_end,
	.send_stderr = rec_stderr,
	.backlog = rec_backlog,
	.body_more = rec_body_more,
};

struct request *fx_request(struct recording *rec)
{
	cr_assert_not_null(gw->cfg, "fx_server() first");
	memset(rec, 0, sizeof *rec);
	rec->content_length = -2;
	rec->fields_f = open_memstream(&rec->fields, &rec->fields_len);
	rec->body_f = open_memstream(&rec->body, &rec->body_len);
	rec->raw_f = open_memstream(&rec->raw, &rec->raw_len);
	rec->err_f = open_memstream(&rec->err, &rec->err_len);
	cr_assert(rec->fields_f && rec->body_f && rec->raw_f && rec->err_f);
	struct request *r = request_new(&fx_recording_front, rec);
	cr_assert_not_null(r);
	return r;
}

void fx_recording_sync(struct recording *rec)
{
	fflush(rec->fields_f);
	fflush(rec->body_f);
	fflush(rec->raw_f);
	fflush(rec->err_f);
}

void fx_request_free(struct request *r, struct recording *rec)
{
	request_free(r);
	FILE **files[] = {&rec->fields_f, &rec->body_f, &rec->raw_f, &rec->err_f};
	char **strings[] = {&rec->fields, &rec->body, &rec->raw, &rec->err};
	for (size_t i = 0; i < 4; i++) {
		fclose(*files[i]);
		*files[i] = NULL;
		free(*strings[i]);
		*strings[i] = NULL;
	}
}
