/* The FastCGI front end end to end: the real gatewayd binary behind the real
 * web servers that speak FastCGI to it (Apache httpd 2.4 mod_proxy_fcgi in the
 * ProxyPass and SetHandler styles, with and without enablereuse; nginx with
 * fastcgi_pass, Debian's fastcgi_params and fastcgi_keep_conn; cgi-fcgi from
 * libfcgi-bin), fcgiwrap beside it for the environment comparison, and raw
 * records built by hand for everything a web server would never send.
 *
 * Fixtures: test/gw_fixtures/cgi-bin (shared with the cgi tests) and
 * test/gw_fixtures/fastcgi (the web servers' config templates and the scripts
 * under fcgi-bin/). Every peer runs in the foreground in its own session and
 * process group, on a loopback port, with its config and logs in the test's
 * temp dir; teardown() kills whatever a failed test left running.
 *
 * Through each peer (PEER_TESTS): GET with a query, POST with Content-Length
 * and chunked from the client, PATH_INFO, a local and a client redirect, a
 * crash (502), a run timeout (504), a client gone mid-response (the script
 * dies). Then: the environment behind gatewayd against fcgiwrap's, FCGI_STDERR
 * into nginx's log, a unix socket listener, and the raw suite (GET_VALUES,
 * bad records, multiplexing, KEEP_CONN, exit status, ABORT_REQUEST, STDIN
 * without CONTENT_LENGTH, one byte at a time, flow control of unread bodies).
 *
 * Every test stops its daemon and checks that it exited 0 (under ASan a leak
 * makes that fail), and ends with gw_assert_no_leaks(). A missing apache2,
 * nginx, cgi-fcgi or fcgiwrap fails the test that needs it, saying which
 * package to install (CI installs them from .ci/deps). */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define APACHE_BIN "/usr/sbin/apache2"
#define APACHE_MODULES "/usr/lib/apache2/modules"
#define NGINX_BIN "/usr/sbin/nginx"
#define NGINX_FASTCGI_PARAMS "/etc/nginx/fastcgi_params"
#define CGI_FCGI_BIN "/usr/bin/cgi-fcgi"
#define FCGIWRAP_BIN "/usr/sbin/fcgiwrap"
/* The environment the peers run with: nothing of the test runner's leaks in. */
#define PEER_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* gatewayd behind a web server: the shared cgi gw_fixtures under /cgi-bin/ (a
 * short run timeout for the 504 tests), this file's own under /fcgi-bin/. */
static const char GW_CONFIG[] =
	"{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\"}],"
	" \"routes\": ["
	"  {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\", \"timeout\": 2,"
	"   \"kill_grace\": 1}},"
	"  {\"match\": \"/fcgi-bin/\", \"cgi\": {\"root\": \"@FIX@/fastcgi/fcgi-bin\","
	"   \"timeout\": 20, \"kill_grace\": 1}}]}";

/* ---- helpers ------------------------------------------------------------ */

static struct gw_proc G; /* the test's daemon; teardown() stops it whatever happened */

static struct gw_peer PEERS[2]; /* the web server, and fcgiwrap */

static void teardown(void)
{
	for (size_t i = 0; i < sizeof PEERS / sizeof PEERS[0]; i++)
		gw_peer_stop(&PEERS[i]);
	gw_cleanup(&G);
}

static void dump_logs(void)
{
	gw_dump_file("error log of gatewayd", G.error_log, 4000);
	for (size_t i = 0; i < sizeof PEERS / sizeof PEERS[0]; i++) {
		if (PEERS[i].log[0])
			gw_dump_file(PEERS[i].name, PEERS[i].log, 4000);
		if (PEERS[i].out[0] && strcmp(PEERS[i].out, PEERS[i].log) != 0)
			gw_dump_file(PEERS[i].name, PEERS[i].out, 4000);
	}
}

/* The end of every test: the peers stopped, then gatewayd, which must exit 0
 * (ASan: no leak), and no leak in the test itself. */
static void finish_ok(void)
{
	for (size_t i = 0; i < sizeof PEERS / sizeof PEERS[0]; i++)
		gw_peer_stop(&PEERS[i]);
	gw_stop_ok(&G, 10, dump_logs);
	gw_assert_no_leaks();
}

/* A field of a script's answer, its failure message naming peer_name (in scope). */
#define expect_field(text, prefix, want) gw_expect_field(peer_name, text, prefix, want)
#define expect_no_field(text, prefix) gw_expect_field(peer_name, text, prefix, NULL)

/* test/fixtures/fastcgi/<name>, where the web servers' config templates are. */
static const char *template_path(const char *name)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/fastcgi/%s", gw_fixtures(), name);
	return path;
}

/* ---- the peers ---------------------------------------------------------- */

enum front { FRONT_APACHE, FRONT_NGINX, FRONT_CGI_FCGI };

struct peer_kind {
	const char *name;
	enum front front;
	const char *template;     /* in test/gw_fixtures/fastcgi */
	const char *reuse;        /* Apache: enablereuse on or off */
	const char *backend_type; /* Apache: ProxyFCGIBackendType (FPM is the default) */
	const char *slash;        /* Apache SetHandler: "/" after host:port, or "" */
};

static const struct peer_kind APACHE_PROXYPASS = {
	"Apache ProxyPass fcgi://", FRONT_APACHE, "apache-proxypass.conf", "off", "FPM", NULL};
static const struct peer_kind APACHE_PROXYPASS_REUSE = {
	"Apache ProxyPass fcgi:// enablereuse=on", FRONT_APACHE, "apache-proxypass.conf", "on", "FPM", NULL};
/* SetHandler with Apache's default ProxyFCGIBackendType FPM: SCRIPT_FILENAME is
 * "proxy:fcgi://127.0.0.1:PORT//abs/path/to/script" (the filesystem path behind
 * the proxy URL, as php-fpm reads it); PATH_INFO and SCRIPT_NAME as mapped. */
static const struct peer_kind APACHE_SETHANDLER = {
	"Apache SetHandler proxy:fcgi://", FRONT_APACHE, "apache-sethandler.conf", "off", "FPM", "/"};
/* The same without the slash, as Apache's php-fpm docs write it: SCRIPT_FILENAME
 * is "proxy:fcgi://127.0.0.1:PORT/abs/path/to/script" (one slash). */
static const struct peer_kind APACHE_SETHANDLER_NO_SLASH = {
	"Apache SetHandler proxy:fcgi://host:port (no slash)", FRONT_APACHE,
	"apache-sethandler.conf", "off", "FPM", ""};
/* ProxyPassMatch to a filesystem path, as Apache's php-fpm docs write it: the
 * file and its PATH_INFO tail in one, no PATH_INFO variable. */
static const struct peer_kind APACHE_PROXYPASSMATCH = {
	"Apache ProxyPassMatch fcgi://host:port/abs/path", FRONT_APACHE,
	"apache-proxypassmatch.conf", "off", "FPM", NULL};
static const struct peer_kind APACHE_SETHANDLER_REUSE = {
	"Apache SetHandler proxy:fcgi:// enablereuse=on", FRONT_APACHE, "apache-sethandler.conf",
	"on", "FPM", "/"};
static const struct peer_kind APACHE_SETHANDLER_GENERIC = {
	"Apache SetHandler proxy:fcgi:// ProxyFCGIBackendType GENERIC", FRONT_APACHE,
	"apache-sethandler.conf", "off", "GENERIC", "/"};
static const struct peer_kind NGINX = {
	"nginx fastcgi_pass, fastcgi_keep_conn on", FRONT_NGINX, "nginx.conf", NULL, NULL, NULL};
static const struct peer_kind CGI_FCGI = {
	"cgi-fcgi -bind -connect", FRONT_CGI_FCGI, NULL, NULL, NULL, NULL};

static char *peer_env[] = {(char *)PEER_PATH, (char *)"LANG=C", NULL};

/* Apache's workers run as www-data and, in the SetHandler style, map URLs to
 * the fixture files themselves: every directory above them must let others in. */
static void require_world_searchable(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s", dir);
	for (char *slash; path[0];) {
		struct stat sb;
		cr_assert(stat(path, &sb) == 0, "no %s", path);
		cr_assert(sb.st_mode & S_IXOTH, "%s is not searchable by others (mode %o): Apache's "
		          "workers (www-data) cannot reach the gw_fixtures; check out the tree where "
		          "they can, or chmod o+x it", path, sb.st_mode & 07777);
		slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
}

static void start_apache(struct gw_peer *p, const struct peer_kind *k)
{
	gw_require_file(APACHE_BIN, "apache2");
	gw_require_file(APACHE_MODULES "/mod_proxy_fcgi.so", "apache2");
	require_world_searchable(gw_fixtures());
	char conf[400];
	const char *more[] = {"@MODULES@", APACHE_MODULES, "@REUSE@", k->reuse,
	                      "@BACKEND_TYPE@", k->backend_type,
	                      "@SLASH@", k->slash ? k->slash : "/", NULL};
	p->name = "Apache httpd";
	gw_peer_configure(p, &G, G.port, "apache", template_path(k->template), more, conf);
	char *argv[] = {(char *)APACHE_BIN, (char *)"-f", conf, (char *)"-DFOREGROUND", NULL};
	p->pid = gw_peer_spawn(argv, peer_env, p->out);
	gw_peer_wait_ready(p, NULL, dump_logs);
}

static void start_nginx(struct gw_peer *p, const char *template)
{
	gw_require_file(NGINX_BIN, "nginx-light");
	gw_require_file(NGINX_FASTCGI_PARAMS, "nginx-light");
	char conf[400];
	p->name = "nginx";
	gw_peer_configure(p, &G, G.port, "nginx", template_path(template), NULL, conf);
	char *argv[] = {(char *)NGINX_BIN, (char *)"-c", conf, (char *)"-p", G.dir, NULL};
	p->pid = gw_peer_spawn(argv, peer_env, p->out);
	gw_peer_wait_ready(p, NULL, dump_logs);
}

/* fcgiwrap on a unix socket, with one prefork child and only PATH (the same
 * PATH gatewayd gives scripts when the web server sends none) in its env. */
static void start_fcgiwrap(struct gw_peer *p, const char *sock)
{
	gw_require_file(FCGIWRAP_BIN, "fcgiwrap");
	char url[512];
	p->name = "fcgiwrap";
	snprintf(url, sizeof url, "unix:%s", sock);
	snprintf(p->log, sizeof p->log, "%s/fcgiwrap.out", G.dir);
	snprintf(p->out, sizeof p->out, "%s", p->log);
	char *argv[] = {(char *)FCGIWRAP_BIN, (char *)"-c", (char *)"1", (char *)"-s", url, NULL};
	char *env[] = {(char *)PEER_PATH, NULL};
	p->pid = gw_peer_spawn(argv, env, p->out);
	gw_peer_wait_ready(p, sock, dump_logs);
}

static void start_gatewayd(const char *config)
{
	gw_start(&G, config);
}

static void start_peer(const struct peer_kind *k)
{
	if (k->front == FRONT_APACHE)
		start_apache(&PEERS[0], k);
	else if (k->front == FRONT_NGINX)
		start_nginx(&PEERS[0], k->template);
	else
		gw_require_file(CGI_FCGI_BIN, "libfcgi-bin");
}

/* ---- one request through a peer ------------------------------------------ */

struct answer {
	int status;
	char *head; /* the header fields (HTTP: with the status line) */
	char *body;
	size_t body_len;
};

static void answer_free(struct answer *a)
{
	free(a->head);
	free(a->body);
	memset(a, 0, sizeof *a);
}

struct call {
	const char *method;
	const char *script;    /* the script's URL path: /cgi-bin/sub/env.pl */
	const char *path_info; /* NULL or "/extra/path" */
	const char *query;     /* NULL or without the '?' */
	const char *body;      /* text (no NUL) or NULL */
	bool chunked;          /* from the client: Transfer-Encoding: chunked */
};

/* The file a URL path names in the gw_fixtures (what a web server's docroot does). */
static void script_file(const char *script, char *out, size_t cap)
{
	if (strncmp(script, "/fcgi-bin/", 10) == 0)
		snprintf(out, cap, "%s/fastcgi%s", gw_fixtures(), script);
	else
		snprintf(out, cap, "%s%s", gw_fixtures(), script);
}

static int http_call(int port, const struct call *c, struct answer *a)
{
	char *req = NULL;
	size_t blen = c->body ? strlen(c->body) : 0;
	char *framing = NULL;
	if (c->body && c->chunked)
		cr_assert(asprintf(&framing, "Content-Type: application/octet-stream\r\n"
		                   "Transfer-Encoding: chunked\r\n") > 0);
	else if (c->body)
		cr_assert(asprintf(&framing, "Content-Type: application/octet-stream\r\n"
		                   "Content-Length: %zu\r\n", blen) > 0);
	cr_assert(asprintf(&req, "%s %s%s%s%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	                   "User-Agent: gatewayd-test\r\nProxy: http://127.0.0.1:1\r\n"
	                   "Connection: close\r\n%s\r\n",
	                   c->method, c->script, c->path_info ? c->path_info : "",
	                   c->query ? "?" : "", c->query ? c->query : "", port,
	                   framing ? framing : "") > 0);
	free(framing);
	size_t hlen = strlen(req);
	size_t cap = hlen + blen + blen / 1000 * 16 + 64;
	req = realloc(req, cap);
	cr_assert_not_null(req);
	size_t n = hlen;
	if (c->body && c->chunked) {
		/* Chunks of 1000 bytes, as a client streaming an upload would. */
		for (size_t off = 0; off < blen; off += 1000) {
			size_t piece = blen - off < 1000 ? blen - off : 1000;
			n += (size_t)snprintf(req + n, cap - n, "%zx\r\n", piece);
			memcpy(req + n, c->body + off, piece);
			n += piece;
			memcpy(req + n, "\r\n", 2);
			n += 2;
		}
		n += (size_t)snprintf(req + n, cap - n, "0\r\n\r\n");
	} else if (c->body) {
		memcpy(req + n, c->body, blen);
		n += blen;
	}
	req[n] = '\0';
	struct gw_response r;
	int rc = gw_request(port, req, &r);
	free(req);
	memset(a, 0, sizeof *a);
	if (rc != 0) {
		gw_response_free(&r);
		return -1;
	}
	a->status = r.status;
	a->head = r.head;
	a->body = r.body;
	a->body_len = r.body_len;
	return 0;
}

/* cgi-fcgi's environment for a call: what a web server would send. */
static char **cgi_fcgi_env(const struct call *c)
{
	static char vars[16][8300];
	static char *env[17];
	char file[4200];
	int n = 0;
	script_file(c->script, file, sizeof file);
	snprintf(vars[n++], sizeof vars[0], "REQUEST_METHOD=%s", c->method);
	snprintf(vars[n++], sizeof vars[0], "SCRIPT_FILENAME=%s", file);
	snprintf(vars[n++], sizeof vars[0], "SCRIPT_NAME=%s", c->script);
	snprintf(vars[n++], sizeof vars[0], "QUERY_STRING=%s", c->query ? c->query : "");
	snprintf(vars[n++], sizeof vars[0], "REQUEST_URI=%s%s%s%s", c->script,
	         c->path_info ? c->path_info : "", c->query ? "?" : "", c->query ? c->query : "");
	snprintf(vars[n++], sizeof vars[0], "SERVER_PROTOCOL=HTTP/1.1");
	snprintf(vars[n++], sizeof vars[0], "SERVER_NAME=localhost");
	snprintf(vars[n++], sizeof vars[0], "SERVER_PORT=80");
	snprintf(vars[n++], sizeof vars[0], "REMOTE_ADDR=127.0.0.1");
	snprintf(vars[n++], sizeof vars[0], "GATEWAY_INTERFACE=CGI/1.1");
	/* httpoxy: what nginx makes of a client's "Proxy:" header */
	snprintf(vars[n++], sizeof vars[0], "HTTP_PROXY=http://127.0.0.1:1");
	snprintf(vars[n++], sizeof vars[0], "HTTP_USER_AGENT=gatewayd-test");
	if (c->path_info)
		snprintf(vars[n++], sizeof vars[0], "PATH_INFO=%s", c->path_info);
	if (c->body) {
		snprintf(vars[n++], sizeof vars[0], "CONTENT_LENGTH=%zu", strlen(c->body));
		snprintf(vars[n++], sizeof vars[0], "CONTENT_TYPE=application/octet-stream");
	}
	for (int i = 0; i < n; i++)
		env[i] = vars[i];
	env[n] = NULL;
	return env;
}

/* Start cgi-fcgi -bind -connect addr for a call; its stdout goes to out. */
static pid_t cgi_fcgi_start(const char *addr, const struct call *c, const char *out)
{
	char in[400];
	snprintf(in, sizeof in, "%s/cgi-fcgi.in", G.dir);
	FILE *f = fopen(in, "w");
	cr_assert_not_null(f);
	if (c->body)
		fputs(c->body, f);
	fclose(f);
	char **env = cgi_fcgi_env(c);
	pid_t test = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		gw_peer_child_setup(test);
		int ifd = open(in, O_RDONLY);
		int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (ifd < 0 || ofd < 0)
			_exit(126);
		dup2(ifd, 0);
		dup2(ofd, 1);
		char *argv[] = {(char *)CGI_FCGI_BIN, (char *)"-bind", (char *)"-connect",
		                (char *)addr, NULL};
		execve(argv[0], argv, env);
		_exit(127);
	}
	return pid;
}

/* Parse cgi-fcgi's output, the CGI response gatewayd sent as FCGI_STDOUT. */
static int parse_cgi_output(const char *text, size_t len, struct answer *a)
{
	memset(a, 0, sizeof *a);
	const char *end = strstr(text, "\r\n\r\n");
	if (!end)
		return -1;
	a->head = strndup(text, (size_t)(end - text) + 2);
	a->body_len = len - (size_t)(end + 4 - text);
	a->body = malloc(a->body_len + 1);
	cr_assert_not_null(a->body);
	memcpy(a->body, end + 4, a->body_len);
	a->body[a->body_len] = '\0';
	char *st = gw_field(a->head, "Status: ");
	a->status = st ? atoi(st) : 200;
	free(st);
	return 0;
}

/* Run cgi-fcgi to completion (bounded); returns its exit status or -1. */
static int cgi_fcgi_call(const char *addr, const struct call *c, struct answer *a)
{
	char out[400];
	snprintf(out, sizeof out, "%s/cgi-fcgi.out", G.dir);
	pid_t pid = cgi_fcgi_start(addr, c, out);
	int st = 0;
	double until = gw_now() + 20;
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (gw_now() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			memset(a, 0, sizeof *a);
			return -1;
		}
		usleep(10000);
	}
	char *text = gw_read_file(out);
	cr_assert_not_null(text);
	size_t len = 0;
	struct stat sb;
	if (stat(out, &sb) == 0)
		len = (size_t)sb.st_size;
	int rc = parse_cgi_output(text, len, a);
	free(text);
	if (rc < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void peer_call(const struct peer_kind *k, const struct call *c, struct answer *a)
{
	int rc;
	if (k->front == FRONT_CGI_FCGI) {
		char addr[64];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", G.port);
		rc = cgi_fcgi_call(addr, c, a) < 0 ? -1 : 0;
	} else {
		rc = http_call(PEERS[0].port, c, a);
	}
	if (rc != 0)
		dump_logs();
	cr_assert_eq(rc, 0, "%s: no complete answer to %s %s", k->name, c->method, c->script);
}

/* A printable body of n bytes (no NUL: the harness sends C strings). */
static char *make_body(size_t n)
{
	char *b = malloc(n + 1);
	cr_assert_not_null(b);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (char)(' ' + (x >> 16) % 95);
	}
	b[n] = '\0';
	return b;
}

/* sha256sum of n bytes, as hex (out: 65 bytes). */
static void sha256_hex(const void *p, size_t n, char *out)
{
	char path[400], cmd[500];
	snprintf(path, sizeof path, "%s/sha-input", G.dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	fwrite(p, 1, n, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "sha256sum < '%s'", path);
	FILE *pipe = popen(cmd, "r");
	cr_assert_not_null(pipe);
	cr_assert(fscanf(pipe, "%64s", out) == 1);
	pclose(pipe);
}

/* ---- through each peer: requests, timeout, disconnect --------------------- */

/* Is the status the one wanted? If not, one failure that says what came back
 * and why gatewayd thinks so, and the caller skips the checks of the body. */
static bool status_is(const char *peer_name, const char *what, const struct answer *a, int want)
{
	if (a->status == want)
		return true;
	char *why = gw_last_line_with(G.error_log, "req=");
	cr_expect_fail("%s: %s: status %d, want %d\n%.300s\ngatewayd's last request log line: %s",
	               peer_name, what, a->status, want, a->body ? a->body : "",
	               why ? why : "(none)");
	free(why);
	return false;
}

/* A request through a peer and what must come back: the status, fields of
 * the body (the env dumper's lines) and of the head, a line in gatewayd's log. */
struct peer_case {
	const char *what;
	struct call call;
	int status;
	struct gw_field_want body[8]; /* ended by {NULL} */
	struct gw_field_want head[2];
	const char *logged;          /* NULL, or what gatewayd's error log must hold */
	const char *still_serving;   /* NULL, or after what the next GET is checked */
};

static const struct peer_case PEER_CASES[] = {
	{.what = "GET with a query",
	 .call = {"GET", "/cgi-bin/sub/env.pl", NULL, "a=1&b=two%20words", NULL, false},
	 .status = 200,
	 .body = {{"env:QUERY_STRING=", "a=1&b=two%20words"}, {"env:REQUEST_METHOD=", "GET"},
	          {"env:SCRIPT_NAME=", "/cgi-bin/sub/env.pl"}, {"stdin-bytes:", "0"},
	          /* httpoxy: the client's Proxy header never becomes HTTP_PROXY */
	          {"env:HTTP_PROXY=", NULL}, {"env:HTTP_USER_AGENT=", "gatewayd-test"}, {NULL}}},
	{.what = "PATH_INFO",
	 .call = {"GET", "/cgi-bin/sub/env.pl", "/extra/path", "q=1", NULL, false},
	 .status = 200,
	 .body = {{"env:PATH_INFO=", "/extra/path"}, {"env:SCRIPT_NAME=", "/cgi-bin/sub/env.pl"},
	          {"env:QUERY_STRING=", "q=1"}, {NULL}}},
	/* The target's output, as a GET. */
	{.what = "local redirect",
	 .call = {"GET", "/cgi-bin/redirect.sh", NULL, NULL, NULL, false},
	 .status = 200,
	 .body = {{"env:QUERY_STRING=", "redirected=yes"}, {"env:REQUEST_METHOD=", "GET"},
	          {"env:SCRIPT_NAME=", "/cgi-bin/sub/env.pl"}, {NULL}}},
	{.what = "client redirect",
	 .call = {"GET", "/cgi-bin/client-redirect.sh", NULL, NULL, NULL, false},
	 .status = 302,
	 .head = {{"Location: ", "http://example.com/elsewhere?x=1"}, {NULL}}},
	/* gatewayd's 502, relayed (or the web server's own 502 page); the next
	 * request is served as usual (through Apache's reused or nginx's kept
	 * connections too). */
	{.what = "a script that crashes",
	 .call = {"GET", "/cgi-bin/crash.sh", NULL, NULL, NULL, false},
	 .status = 502,
	 .logged = "crash.sh killed by signal 11",
	 .still_serving = "a crash"},
};

static void expect_still_serving(const struct peer_kind *k, const char *after);

/* One case through the peer k: the status first (when it is wrong, its
 * failure says why, and the rest is not checked), then the fields and the log. */
static void run_case(const struct peer_kind *k, const struct peer_case *c)
{
	struct answer a;
	char what[300];
	snprintf(what, sizeof what, "%s: %s", k->name, c->what);
	peer_call(k, &c->call, &a);
	if (status_is(k->name, c->what, &a, c->status)) {
		gw_expect_fields(what, a.body, c->body);
		gw_expect_fields(what, a.head, c->head);
		if (c->logged)
			cr_expect(gw_log_contains(G.error_log, c->logged, 3),
			          "%s: gatewayd's error log lacks \"%s\"", what, c->logged);
	}
	answer_free(&a);
	if (c->still_serving)
		expect_still_serving(k, c->still_serving);
}

/* After a crash, a timeout or a disconnect the next request is served as usual. */
static void expect_still_serving(const struct peer_kind *k, const char *after)
{
	char what[200];
	snprintf(what, sizeof what, "a GET after %s", after);
	struct peer_case next = {.what = what,
	                         .call = {"GET", "/cgi-bin/sub/env.pl", NULL, "after=1", NULL,
	                                  false},
	                         .status = 200,
	                         .body = {{"env:QUERY_STRING=", "after=1"}, {NULL}}};
	run_case(k, &next);
}

/* gatewayd behind the web server k (or cgi-fcgi's, which starts per call). */
static void start_gatewayd_and_peer(const struct peer_kind *k)
{
	start_gatewayd(GW_CONFIG);
	start_peer(k);
}

static void run_requests(const struct peer_kind *k)
{
	const char *peer_name = k->name;
	start_gatewayd_and_peer(k);
	for (size_t i = 0; i < sizeof PEER_CASES / sizeof PEER_CASES[0]; i++)
		run_case(k, &PEER_CASES[i]);

	/* POST with a Content-Length body, then chunked from the client: Apache
	 * >= 2.4.47 streams STDIN without CONTENT_LENGTH, nginx buffers; either
	 * way the script gets it all and CONTENT_LENGTH. (cgi-fcgi sends
	 * CONTENT_LENGTH bytes only: the raw test stdin_without_content_length
	 * covers that side.) */
	char *body = make_body(100000), sha[65], want[100];
	sha256_hex(body, strlen(body), sha);
	snprintf(want, sizeof want, "100000 %s\n", sha);
	for (int chunked = 0; chunked < (k->front == FRONT_CGI_FCGI ? 1 : 2); chunked++) {
		const char *what = chunked ? "POST chunked" : "POST with Content-Length";
		struct call post = {"POST", "/cgi-bin/sha256.sh", NULL, NULL, body, chunked};
		struct answer a;
		peer_call(k, &post, &a);
		if (status_is(peer_name, what, &a, 200))
			cr_expect_str_eq(a.body, want, "%s: %s: the script saw \"%s\"", peer_name,
			                 what, a.body);
		answer_free(&a);
	}
	free(body);

	/* cgi-fcgi exits with the appStatus of FCGI_END_REQUEST: the script's exit status. */
	if (k->front == FRONT_CGI_FCGI) {
		char addr[64];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", G.port);
		struct call exit3 = {"GET", "/fcgi-bin/exit3.sh", NULL, NULL, NULL, false};
		struct answer a;
		int st = cgi_fcgi_call(addr, &exit3, &a);
		cr_expect_eq(st, 3, "%s: exit3.sh: cgi-fcgi exited %d, want the script's 3", peer_name, st);
		if (status_is(peer_name, "a script that exits 3 after its answer", &a, 200))
			cr_expect_str_eq(a.body, "exiting with 3\n");
		answer_free(&a);
	}

	finish_ok();
}

static void run_timeout(const struct peer_kind *k)
{
	const char *peer_name = k->name;
	start_gatewayd_and_peer(k);
	char query[440], pidfile[400], childfile[420];
	snprintf(pidfile, sizeof pidfile, "%s/sleep.pid", G.dir);
	snprintf(childfile, sizeof childfile, "%s.child", pidfile);
	snprintf(query, sizeof query, "30+%s", pidfile); /* ISINDEX: sleep.sh 30 PIDFILE */
	struct call slow = {"GET", "/cgi-bin/sleep.sh", NULL, query, NULL, false};
	struct answer a;
	double t0 = gw_now();
	peer_call(k, &slow, &a);
	double took = gw_now() - t0;
	if (status_is(peer_name, "a script over its 2 s timeout", &a, 504)) {
		cr_expect(took > 1.5 && took < 8, "%s: the 504 came after %.1f s (timeout 2 s)",
		          peer_name, took);
		pid_t pid = gw_wait_pidfile(pidfile, 1), child = gw_wait_pidfile(childfile, 1);
		cr_expect(pid > 0 && child > 0, "%s: sleep.sh wrote no pid files", peer_name);
		cr_expect(pid <= 0 || gw_wait_gone(pid, 5),
		          "%s: the timed-out script %d still runs", peer_name, (int)pid);
		cr_expect(child <= 0 || gw_wait_gone(child, 5), "%s: its grandchild %d still runs",
		          peer_name, (int)child);
		cr_expect(gw_log_contains(G.error_log, "sleep.sh ran over its 2.0 s timeout", 1),
		          "%s: no timeout line in gatewayd's log", peer_name);
		expect_still_serving(k, "a timeout");
	}
	answer_free(&a);
	finish_ok();
}

static void run_disconnect(const struct peer_kind *k)
{
	const char *peer_name = k->name;
	start_gatewayd_and_peer(k);
	char pidfile[400];
	snprintf(pidfile, sizeof pidfile, "%s/stream.pid", G.dir);
	struct call stream = {"GET", "/fcgi-bin/stream.sh", NULL, pidfile, NULL, false};
	pid_t pid = 0;
	if (k->front == FRONT_CGI_FCGI) {
		/* The "client" is cgi-fcgi itself: killed, it drops the connection. */
		char addr[64], out[400];
		snprintf(addr, sizeof addr, "127.0.0.1:%d", G.port);
		snprintf(out, sizeof out, "%s/cgi-fcgi.out", G.dir);
		pid_t cf = cgi_fcgi_start(addr, &stream, out);
		pid = gw_wait_pidfile(pidfile, 5);
		struct stat sb;
		double until = gw_now() + 5;
		while (gw_now() < until && (stat(out, &sb) < 0 || sb.st_size < 8192))
			usleep(20000);
		cr_expect(stat(out, &sb) == 0 && sb.st_size >= 8192,
		          "%s: no streamed output arrived before the disconnect", peer_name);
		kill(cf, SIGKILL);
		waitpid(cf, NULL, 0);
	} else {
		char req[1024];
		snprintf(req, sizeof req, "GET /fcgi-bin/stream.sh?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		         "Connection: close\r\n\r\n", pidfile);
		int fd = gw_connect(PEERS[0].port);
		cr_assert(fd >= 0);
		gw_send_all(fd, req, strlen(req));
		pid = gw_wait_pidfile(pidfile, 5);
		if (!pid) {
			size_t len;
			char *got = gw_read_all(fd, 1, &len);
			char *why = gw_last_line_with(G.error_log, "req=");
			close(fd);
			cr_expect_fail("%s: stream.sh never started; the answer: %.200s\n"
			               "gatewayd's last request log line: %s", peer_name, got,
			               why ? why : "(none)");
			free(got);
			free(why);
			finish_ok();
			return;
		}
		/* Some of the response is through: the script is mid-stream. */
		char buf[16384];
		size_t got = 0;
		double until = gw_now() + 5;
		while (got < 8192 && gw_now() < until) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			if (poll(&pfd, 1, 100) <= 0)
				continue;
			ssize_t n = read(fd, buf, sizeof buf);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		cr_expect(got >= 8192, "%s: only %zu bytes of the stream arrived", peer_name, got);
		close(fd);
	}
	cr_assert(pid > 0, "%s: stream.sh never started (no pid file)", peer_name);
	bool gone = gw_wait_gone(pid, 5);
	if (!gone)
		dump_logs();
	cr_expect(gone, "%s: the client went away mid-response but script %d still runs",
	          peer_name, (int)pid);
	pid_t gw = G.pid;
	cr_expect(gw_wait_until(gw_no_children, &gw, 5), "%s: gatewayd still has children",
	          peer_name);
	expect_still_serving(k, "a client went away");
	finish_ok();
}

#define PEER_TESTS(suite, kind)                                                                 \
	Test(suite, requests, .fini = teardown, .timeout = 60) { run_requests(&kind); }          \
	Test(suite, timeout_504, .fini = teardown, .timeout = 40) { run_timeout(&kind); }        \
	Test(suite, client_disconnect_kills_script, .fini = teardown, .timeout = 40)              \
	{                                                                                       \
		run_disconnect(&kind);                                                          \
	}

PEER_TESTS(apache_proxypass, APACHE_PROXYPASS)
PEER_TESTS(apache_proxypass_reuse, APACHE_PROXYPASS_REUSE)
PEER_TESTS(apache_sethandler, APACHE_SETHANDLER)
PEER_TESTS(apache_sethandler_reuse, APACHE_SETHANDLER_REUSE)
PEER_TESTS(nginx, NGINX)
PEER_TESTS(cgi_fcgi, CGI_FCGI)

/* SetHandler with ProxyFCGIBackendType GENERIC: SCRIPT_FILENAME arrives as a
 * plain filesystem path (the FPM default sends proxy:fcgi://host:port//path). */
Test(apache_sethandler_generic, requests, .fini = teardown, .timeout = 60)
{
	run_requests(&APACHE_SETHANDLER_GENERIC);
}

/* The one-slash forms of Apache's php-fpm docs name a file, not a URL path. */
Test(apache_sethandler_no_slash, requests, .fini = teardown, .timeout = 60)
{
	run_requests(&APACHE_SETHANDLER_NO_SLASH);
}

Test(apache_proxypassmatch, requests, .fini = teardown, .timeout = 60)
{
	run_requests(&APACHE_PROXYPASSMATCH);
}

/* ---- the environment behind gatewayd equals the one behind fcgiwrap ------- */

/* Variables both set that must differ, and why. Variables only one of them
 * sets are not compared (they are logged): GATEWAY_REQUEST_ID (gatewayd's
 * request id), FCGI_ROLE (libfcgi's, in fcgiwrap), and for a GET the empty
 * CONTENT_LENGTH and CONTENT_TYPE that Debian's fastcgi_params send: fcgiwrap
 * passes them on empty, gatewayd drops them (RFC 3875 4.1.2: no body, no
 * CONTENT_LENGTH). */
static const struct {
	const char *name;
	const char *why;
} ENV_EXCLUDED[] = {
	{"REMOTE_PORT", "each request comes over its own client connection, so nginx reports "
	                "another ephemeral port"},
};

/* Present in both for every request below, so the comparison is never empty. */
static const char *const ENV_REQUIRED[] = {
	"GATEWAY_INTERFACE", "QUERY_STRING", "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME",
	"SCRIPT_FILENAME", "PATH_INFO", "DOCUMENT_ROOT", "DOCUMENT_URI", "SERVER_NAME",
	"SERVER_PORT", "SERVER_ADDR", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "REMOTE_ADDR",
	"REQUEST_SCHEME", "REDIRECT_STATUS", "HTTP_HOST", "HTTP_ACCEPT", "HTTP_COOKIE",
	"HTTP_USER_AGENT", "PATH", NULL,
};

static bool env_excluded(const char *what, const char *name)
{
	for (size_t i = 0; i < sizeof ENV_EXCLUDED / sizeof ENV_EXCLUDED[0]; i++) {
		if (strcmp(ENV_EXCLUDED[i].name, name) == 0) {
			cr_log_info("%s: %s not compared: %s", what, name, ENV_EXCLUDED[i].why);
			return true;
		}
	}
	return false;
}

static char *env_request(int port, const char *backend, const char *method, const char *target,
                         const char *body)
{
	char *req = NULL;
	char framing[200] = "";
	if (body)
		snprintf(framing, sizeof framing, "Content-Type: application/x-www-form-urlencoded\r\n"
		         "Content-Length: %zu\r\n", strlen(body));
	cr_assert(asprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nX-Backend: %s\r\n"
	                   "User-Agent: gatewayd-test\r\nAccept: text/plain\r\nCookie: c=1\r\n"
	                   "Connection: close\r\n%s\r\n%s", method, target, backend, framing,
	                   body ? body : "") > 0);
	struct gw_response r;
	int rc = gw_request(port, req, &r);
	free(req);
	if (rc != 0)
		dump_logs();
	cr_assert_eq(rc, 0, "no answer from %s to %s %s", backend, method, target);
	cr_assert_eq(r.status, 200, "%s: %s %s: status %d\n%s", backend, method, target, r.status,
	             r.body);
	char *body_out = r.body;
	r.body = NULL;
	gw_response_free(&r);
	return body_out;
}

static void compare_envs(const char *what, const char *gw_out, const char *wrap_out)
{
	const char *peer_name = what;
	size_t compared = 0;
	for (const char *p = gw_out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char line[8192];
		snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
		if (strncmp(line, "env:", 4) != 0) {
			/* cwd:, argc:, stdin-bytes: must match too. */
			char *colon = strchr(line, ':');
			if (colon) {
				char prefix[64];
				snprintf(prefix, sizeof prefix, "%.*s", (int)(colon - line + 1), line);
				expect_field(wrap_out, prefix, colon + 1);
			}
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		char prefix[300];
		snprintf(prefix, sizeof prefix, "%.*s", (int)(eq - line + 1), line);
		char *theirs = gw_field(wrap_out, prefix);
		if (!theirs) {
			cr_log_info("%s: %.*s only behind gatewayd", what, (int)(eq - line - 4), line + 4);
			continue;
		}
		*eq = '\0';
		if (!env_excluded(what, line + 4)) {
			cr_expect_str_eq(eq + 1, theirs, "%s: %s is \"%s\" behind gatewayd, \"%s\" behind "
			                 "fcgiwrap", what, line + 4, eq + 1, theirs);
			compared++;
		}
		free(theirs);
	}
	for (const char *p = wrap_out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "env:", 4) != 0)
			continue;
		size_t n = strcspn(p, "=\n");
		char prefix[300];
		snprintf(prefix, sizeof prefix, "%.*s=", (int)n, p);
		char *ours = gw_field(gw_out, prefix);
		if (!ours)
			cr_log_info("%s: %.*s only behind fcgiwrap", what, (int)n - 4, p + 4);
		free(ours);
	}
	for (const char *const *r = ENV_REQUIRED; *r; r++) {
		char prefix[300];
		snprintf(prefix, sizeof prefix, "env:%s=", *r);
		char *a = gw_field(gw_out, prefix), *b = gw_field(wrap_out, prefix);
		cr_expect(a && b, "%s: %s must be set behind both (gatewayd: %s, fcgiwrap: %s)", what,
		          *r, a ? "set" : "absent", b ? "set" : "absent");
		free(a);
		free(b);
	}
	cr_expect(compared >= 20, "%s: only %zu variables compared", what, compared);
}

Test(nginx, environment_same_as_fcgiwrap, .fini = teardown, .timeout = 40)
{
	char sock[400];
	start_gatewayd(GW_CONFIG);
	snprintf(sock, sizeof sock, "%s/fcgiwrap.sock", G.dir);
	start_fcgiwrap(&PEERS[1], sock);
	start_nginx(&PEERS[0], "nginx-env.conf");
	int port = PEERS[0].port;

	const char *target = "/cgi-bin/sub/env.pl/extra/path?a=1&b=two%20words";
	char *a = env_request(port, "gatewayd", "GET", target, NULL);
	char *b = env_request(port, "fcgiwrap", "GET", target, NULL);

	/* gatewayd's Server-Timing reaches nginx's client; fcgiwrap sends none. */
	for (int i = 0; i < 2; i++) {
		char req[300];
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nX-Backend: %s\r\n"
		         "Connection: close\r\n\r\n", target, i ? "fcgiwrap" : "gatewayd");
		struct gw_response r;
		cr_assert_eq(gw_request(port, req, &r), 0);
		char *timing = gw_header(&r, "Server-Timing");
		double spawn = 0;
		if (i == 0)
			cr_expect(timing && sscanf(timing, "spawn;dur=%lf", &spawn) == 1 && spawn > 0,
			          "through nginx: Server-Timing %s", timing ? timing : "missing");
		else
			cr_expect_null(timing, "fcgiwrap: Server-Timing %s", timing);
		free(timing);
		gw_response_free(&r);
	}
	/* X-Backend picked gatewayd, then fcgiwrap (libfcgi sets FCGI_ROLE). */
	char *rid = gw_field(a, "env:GATEWAY_REQUEST_ID="), *role = gw_field(b, "env:FCGI_ROLE=");
	cr_assert(rid && role, "the X-Backend switch did not pick gatewayd, then fcgiwrap");
	free(rid);
	free(role);
	char *hidden = gw_field(a, "env:HTTP_X_BACKEND=");
	cr_expect_null(hidden, "the backend switch header leaked into the environment");
	free(hidden);
	compare_envs("GET with PATH_INFO and a query", a, b);
	free(a);
	free(b);

	a = env_request(port, "gatewayd", "POST", "/cgi-bin/sub/env.pl?x=y", "hello=world&n=1");
	b = env_request(port, "fcgiwrap", "POST", "/cgi-bin/sub/env.pl?x=y", "hello=world&n=1");
	compare_envs("POST with a body", a, b);
	const char *peer_name = "POST";
	expect_field(a, "env:CONTENT_LENGTH=", "15");
	expect_field(a, "stdin-bytes:", "15");
	free(a);
	free(b);

	finish_ok();
}

/* nginx keeps its FastCGI connections (fastcgi_keep_conn, upstream keepalive)
 * and sends the next request on the one that just served a POST whose script
 * timed out without reading its 2 MiB body: gatewayd must still read that
 * connection (dropping the rest of the old body) and answer at once, not leave
 * it unread until its keepalive timer (8 s here) resets it. */
Test(nginx, kept_connection_serves_on_after_a_body_left_unread, .fini = teardown, .timeout = 40)
{
	const char *peer_name = NGINX.name;
	start_gatewayd("{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\"}],"
	               " \"timeouts\": {\"keepalive\": 8},"
	               " \"routes\": [{\"match\": \"/cgi-bin/\","
	               "  \"cgi\": {\"root\": \"@FIX@/cgi-bin\", \"timeout\": 2, \"kill_grace\": 1}}]}");
	start_nginx(&PEERS[0], "nginx.conf");
	char *body = make_body(2 << 20);
	struct call post = {"POST", "/cgi-bin/sleep.sh", NULL, "30", body, false};
	struct answer a;
	peer_call(&NGINX, &post, &a);
	free(body);
	status_is(peer_name, "a POST whose script times out without reading its body", &a, 504);
	answer_free(&a);
	struct call get = {"GET", "/cgi-bin/sub/env.pl", NULL, "next=1", NULL, false};
	double t0 = gw_now();
	peer_call(&NGINX, &get, &a);
	double took = gw_now() - t0;
	if (status_is(peer_name, "the next request", &a, 200))
		expect_field(a.body, "env:QUERY_STRING=", "next=1");
	answer_free(&a);
	if (took >= 2)
		dump_logs();
	cr_expect(took < 2, "the next request took %.1f s: gatewayd stopped reading the kept "
	          "FastCGI connection while the old body waited and never resumed", took);
	finish_ok();
}

/* ---- FCGI_STDERR to the web server ------------------------------------------ */

Test(nginx, script_stderr_reaches_the_web_server, .fini = teardown, .timeout = 40)
{
	start_gatewayd("{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\", \"stderr\": true}],"
	               " \"routes\": [{\"match\": \"/cgi-bin/\","
	               "  \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]}");
	start_nginx(&PEERS[0], "nginx.conf");
	struct call c = {"GET", "/cgi-bin/stderr.sh", NULL, NULL, NULL, false};
	struct answer a;
	peer_call(&NGINX, &c, &a);
	cr_expect_eq(a.status, 200, "stderr.sh: status %d", a.status);
	char *rid = strndup(a.body, strcspn(a.body, "\n"));
	answer_free(&a);
	bool in_nginx = gw_log_contains(PEERS[0].log,
	                                "FastCGI sent in stderr: \"stderr line one from stderr.sh", 5);
	if (!in_nginx)
		dump_logs();
	cr_expect(in_nginx, "nginx's error_log has no \"FastCGI sent in stderr\" with the script's line");
	char tag[64];
	snprintf(tag, sizeof tag, "req=%s: ", rid);
	cr_expect(gw_log_contains(G.error_log, tag, 1), "gatewayd's log lacks the stderr lines of %s",
	          rid);
	free(rid);
	finish_ok();
}

/* ---- a unix socket listener --------------------------------------------------- */

Test(unix_socket, mode_owner_group_and_cgi_fcgi, .fini = teardown, .timeout = 30)
{
	gw_require_file(CGI_FCGI_BIN, "libfcgi-bin");
	/* As root: another owner and group ("daemon", in every Debian), so the
	 * chown shows; otherwise our own, which chown accepts unprivileged. */
	char owner[64] = "daemon", group[64] = "daemon";
	if (geteuid() != 0) {
		struct passwd *pw = getpwuid(geteuid());
		struct group *gr = getgrgid(getegid());
		cr_assert(pw && gr);
		snprintf(owner, sizeof owner, "%s", pw->pw_name);
		snprintf(group, sizeof group, "%s", gr->gr_name);
	}
	struct passwd *pw = getpwnam(owner);
	struct group *gr = getgrnam(group);
	cr_assert(pw && gr, "no user or group \"%s\"", owner);
	uid_t want_uid = pw->pw_uid;
	gid_t want_gid = gr->gr_gid;
	char config[2048];
	snprintf(config, sizeof config,
	         "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"},"
	         " {\"fastcgi\": \"unix:@DIR@/gw.sock\", \"owner\": \"%s\", \"group\": \"%s\","
	         " \"mode\": \"0660\"}],"
	         " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]}",
	         owner, group);
	start_gatewayd(config);
	char sock[400];
	snprintf(sock, sizeof sock, "%s/gw.sock", G.dir);
	/* gatewayd answers on the http port, listed first, while it may still
	 * be making this one: it is done once it listens (its owner, group and
	 * mode are set before). */
	bool listening = false;
	for (double until = gw_now() + 5; !listening && gw_now() < until; usleep(10000)) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", sock);
		listening = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		if (fd >= 0)
			close(fd);
	}
	cr_assert(listening, "nothing listens on %s within 5 s", sock);
	struct stat sb;
	cr_assert(lstat(sock, &sb) == 0, "no socket file %s", sock);
	cr_expect(S_ISSOCK(sb.st_mode), "%s is not a socket", sock);
	cr_expect_eq(sb.st_mode & 07777, 0660, "socket mode %o, want 0660", sb.st_mode & 07777);
	cr_expect_eq(sb.st_uid, want_uid, "socket owner %d, want %d (%s)", (int)sb.st_uid,
	             (int)want_uid, owner);
	cr_expect_eq(sb.st_gid, want_gid, "socket group %d, want %d (%s)", (int)sb.st_gid,
	             (int)want_gid, group);

	const char *peer_name = "cgi-fcgi -connect unix socket";
	struct call c = {"GET", "/cgi-bin/sub/env.pl", "/x", "via=unix", NULL, false};
	struct answer a;
	int st = cgi_fcgi_call(sock, &c, &a);
	if (st != 0)
		dump_logs();
	cr_expect_eq(st, 0, "cgi-fcgi exited %d", st);
	cr_expect_eq(a.status, 200, "status %d", a.status);
	expect_field(a.body, "env:QUERY_STRING=", "via=unix");
	expect_field(a.body, "env:PATH_INFO=", "/x");
	answer_free(&a);

	int gst = gw_stop(&G, 10);
	cr_expect(gst != -1 && WIFEXITED(gst) && WEXITSTATUS(gst) == 0, "gatewayd exit status %d", gst);
	cr_expect(lstat(sock, &sb) < 0 && errno == ENOENT, "the socket file outlived gatewayd");
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- raw records, built by hand ------------------------------------------------ */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0; /* text outputs can be read as strings */
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* One record; pad bytes of padding (zeros). */
static void rec(struct bytes *b, uint8_t version, uint8_t type, uint16_t id, const void *content,
                size_t len, uint8_t pad)
{
	cr_assert(len <= 0xffff);
	uint8_t h[8] = {version, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8),
	                (uint8_t)len, pad, 0};
	static const uint8_t zeros[255];
	put(b, h, 8);
	put(b, content, len);
	put(b, zeros, pad);
}

static void nv_len(struct bytes *b, size_t n)
{
	if (n < 128) {
		uint8_t c = (uint8_t)n;
		put(b, &c, 1);
	} else {
		uint8_t c[4] = {(uint8_t)(0x80 | n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
		                (uint8_t)n};
		put(b, c, 4);
	}
}

static void nv(struct bytes *b, const char *name, const char *value)
{
	nv_len(b, strlen(name));
	nv_len(b, strlen(value));
	put(b, name, strlen(name));
	put(b, value, strlen(value));
}

static void begin(struct bytes *b, uint16_t id, uint16_t role, uint8_t flags)
{
	uint8_t c[8] = {(uint8_t)(role >> 8), (uint8_t)role, flags, 0, 0, 0, 0, 0};
	rec(b, FCGI_VERSION_1, FCGI_BEGIN_REQUEST, id, c, 8, 0);
}

/* A stream: records of at most piece bytes, padded to 8 as libfcgi does, then
 * the empty record that ends it (end = false leaves the stream open). */
static void stream(struct bytes *b, uint8_t type, uint16_t id, const void *data, size_t len,
                   size_t piece, bool end)
{
	const uint8_t *p = data;
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		rec(b, FCGI_VERSION_1, type, id, p + off, n, (uint8_t)((8 - n % 8) % 8));
	}
	if (end)
		rec(b, FCGI_VERSION_1, type, id, NULL, 0, 0);
}

/* PARAMS from a NULL-terminated name, value list, in records of piece bytes. */
static void params(struct bytes *b, uint16_t id, const char *const *kv, size_t piece, bool end)
{
	struct bytes pairs = {0};
	for (; kv[0]; kv += 2)
		nv(&pairs, kv[0], kv[1]);
	stream(b, FCGI_PARAMS, id, pairs.p, pairs.n, piece, end);
	bytes_free(&pairs);
}

/* A fixture script's path, from test/gw_fixtures (a few buffers in rotation). */
static const char *fx(const char *rel)
{
	static char bufs[8][4200];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", gw_fixtures(), rel);
	return b;
}

/* A whole responder request: BEGIN, PARAMS, STDIN (body may be NULL). */
static void request(struct bytes *b, uint16_t id, uint8_t flags, const char *const *kv,
                    const char *body)
{
	begin(b, id, FCGI_RESPONDER, flags);
	params(b, id, kv, 65535, true);
	stream(b, FCGI_STDIN, id, body, body ? strlen(body) : 0, 32768, true);
}

struct record {
	uint8_t version, type;
	uint16_t id;
	uint16_t len;
	uint8_t content[65536 + 256];
};

/* Read n bytes by the deadline: 0, 1 when the peer closed, -1 on timeout. */
static int read_exact(int fd, uint8_t *p, size_t n, double deadline)
{
	while (n > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - gw_now();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			return -1;
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int read_record(int fd, struct record *r, double deadline)
{
	uint8_t h[8];
	int rc = read_exact(fd, h, 8, deadline);
	if (rc)
		return rc;
	r->version = h[0];
	r->type = h[1];
	r->id = (uint16_t)(h[2] << 8 | h[3]);
	r->len = (uint16_t)(h[4] << 8 | h[5]);
	rc = read_exact(fd, r->content, (size_t)r->len + h[6], deadline);
	r->content[r->len] = 0;
	return rc ? 1 : 0;
}

/* What came back for one request id. */
struct reply {
	struct bytes out, err;
	bool out_ended;
	bool ended;
	uint32_t app_status;
	uint8_t protocol_status;
	int order; /* 1 for the first END_REQUEST seen by collect(), 2 for the next... */
};

#define MAX_ID 8
static struct reply R[MAX_ID];
static int ends_seen;

static void replies_free(void)
{
	for (int i = 0; i < MAX_ID; i++) {
		bytes_free(&R[i].out);
		bytes_free(&R[i].err);
	}
	memset(R, 0, sizeof R);
	ends_seen = 0;
}

/* Read records into R[] until every id in ids has its END_REQUEST. Records for
 * request id 0 are stored in R[0].out as they come (header included).
 * Returns 0, 1 when the connection closed first, -1 on timeout. */
static int collect(int fd, const uint16_t *ids, int nids, double timeout)
{
	static struct record r;
	double deadline = gw_now() + timeout;
	for (;;) {
		bool all = true;
		for (int i = 0; i < nids; i++)
			all &= R[ids[i]].ended;
		if (all)
			return 0;
		int rc = read_record(fd, &r, deadline);
		if (rc)
			return rc;
		cr_assert_eq(r.version, 1, "a record of version %d from gatewayd", r.version);
		if (r.id == 0 || r.id >= MAX_ID) {
			uint8_t h[8] = {r.version, r.type, (uint8_t)(r.id >> 8), (uint8_t)r.id,
			                (uint8_t)(r.len >> 8), (uint8_t)r.len, 0, 0};
			put(&R[0].out, h, 8);
			put(&R[0].out, r.content, r.len);
			continue;
		}
		struct reply *rp = &R[r.id];
		cr_expect(!rp->ended, "a record of type %d for request %d after its END_REQUEST", r.type,
		          r.id);
		if (r.type == FCGI_STDOUT) {
			if (r.len == 0)
				rp->out_ended = true;
			put(&rp->out, r.content, r.len);
		} else if (r.type == FCGI_STDERR) {
			put(&rp->err, r.content, r.len);
		} else if (r.type == FCGI_END_REQUEST) {
			cr_expect_eq(r.len, 8, "END_REQUEST of %d bytes", r.len);
			rp->ended = true;
			rp->app_status = (uint32_t)r.content[0] << 24 | (uint32_t)r.content[1] << 16 |
			                 (uint32_t)r.content[2] << 8 | r.content[3];
			rp->protocol_status = r.content[4];
			rp->order = ++ends_seen;
		} else {
			cr_expect_fail("record type %d for request %d", r.type, r.id);
		}
	}
}

/* Wait for one management record (request id 0); 0 or the collect() code. */
static int read_mgmt(int fd, struct record *r, double timeout)
{
	int rc = read_record(fd, r, gw_now() + timeout);
	if (rc == 0)
		cr_expect_eq(r->id, 0, "a management answer for request id %d", r->id);
	return rc;
}

static int raw_connect(int port)
{
	int fd = gw_connect(port);
	cr_assert(fd >= 0, "cannot connect to gatewayd's FastCGI port %d", port);
	return fd;
}

static void send_bytes(int fd, const struct bytes *b)
{
	gw_send_all(fd, b->p, b->n);
}

/* A GET_VALUES answer: the value of name in R's pairs, or NULL (malloc'd). */
static char *values_get(const uint8_t *p, size_t n, const char *name)
{
	size_t off = 0;
	while (off < n) {
		size_t len[2];
		for (int i = 0; i < 2; i++) {
			if (off >= n)
				return NULL;
			if (p[off] < 128) {
				len[i] = p[off++];
			} else {
				if (off + 4 > n)
					return NULL;
				len[i] = ((size_t)(p[off] & 0x7f) << 24) | (size_t)p[off + 1] << 16 |
				         (size_t)p[off + 2] << 8 | p[off + 3];
				off += 4;
			}
		}
		if (off + len[0] + len[1] > n)
			return NULL;
		if (len[0] == strlen(name) && memcmp(p + off, name, len[0]) == 0)
			return strndup((const char *)p + off + len[0], len[1]);
		off += len[0] + len[1];
	}
	return NULL;
}

static const char *const ENV_GET[] = {
	"SCRIPT_FILENAME", NULL, /* filled in */
	"REQUEST_METHOD", "GET", "QUERY_STRING", "raw=1", "SERVER_PROTOCOL", "HTTP/1.1", NULL,
};

/* ENV_GET with SCRIPT_FILENAME set to the env dumper. */
static const char **env_get(void)
{
	static const char *kv[sizeof ENV_GET / sizeof ENV_GET[0]];
	memcpy(kv, ENV_GET, sizeof kv);
	kv[1] = fx("cgi-bin/sub/env.pl");
	return kv;
}

/* The env dumper answered the raw GET of env_get() on request id. */
static void expect_env_answer(uint16_t id)
{
	const char *peer_name = "raw FastCGI";
	cr_expect(R[id].ended && R[id].out_ended, "request %d: no complete answer", id);
	cr_expect_eq(R[id].protocol_status, FCGI_REQUEST_COMPLETE, "request %d: protocolStatus %d",
	             id, R[id].protocol_status);
	const char *out = (const char *)R[id].out.p;
	expect_field(out, "Status: ", "200 OK");
	expect_field(out, "env:QUERY_STRING=", "raw=1");
}

/* The raw tests' gatewayd: the same routes, run timeouts long enough for
 * the scripts that sleep on purpose. */
static const char GW_RAW_CONFIG[] =
	"{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\"}],"
	" \"routes\": ["
	"  {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\", \"timeout\": 10,"
	"   \"kill_grace\": 1}},"
	"  {\"match\": \"/fcgi-bin/\", \"cgi\": {\"root\": \"@FIX@/fastcgi/fcgi-bin\","
	"   \"timeout\": 20, \"kill_grace\": 1}}]}";

/* The start of most raw tests: gatewayd on GW_RAW_CONFIG, a connection to it. */
static int raw_start(void)
{
	start_gatewayd(GW_RAW_CONFIG);
	return raw_connect(G.port);
}

static void stop_raw_ok(void)
{
	replies_free();
	finish_ok();
}

/* The end of most raw tests: the connection closed, the bytes freed, then stop_raw_ok(). */
static void raw_finish(int fd, struct bytes *b)
{
	close(fd);
	bytes_free(b);
	stop_raw_ok();
}

/* Send b on fd and collect into R[] until request id has its END_REQUEST;
 * the test fails without it. what names the request. */
static void raw_exchange(int fd, const struct bytes *b, uint16_t id, const char *what)
{
	uint16_t ids[] = {id};
	send_bytes(fd, b);
	cr_assert_eq(collect(fd, ids, 1, 10), 0, "%s: request %d got no answer", what, id);
}

/* The connection fd serves the env dumper's GET (env_get()) as request id
 * (with flags) next: R[] cleared, the request sent, its answer checked. */
static void expect_serves_env_get(int fd, uint16_t id, uint8_t flags, const char *what)
{
	struct bytes b = {0};
	replies_free();
	request(&b, id, flags, env_get(), NULL);
	raw_exchange(fd, &b, id, what);
	bytes_free(&b);
	expect_env_answer(id);
}

/* Ask FCGI_GET_VALUES for names (NULL-terminated) in a record padded with pad
 * bytes; the answer in r. 0, or read_mgmt()'s code. */
static int get_values(int fd, const char *const *names, uint8_t pad, struct record *r)
{
	struct bytes q = {0}, b = {0};
	for (; *names; names++)
		nv(&q, *names, "");
	rec(&b, FCGI_VERSION_1, FCGI_GET_VALUES, 0, q.p, q.n, pad);
	send_bytes(fd, &b);
	bytes_free(&q);
	bytes_free(&b);
	return read_mgmt(fd, r, 5);
}

static const char *const MPXS_CONNS_ONLY[] = {"FCGI_MPXS_CONNS", NULL};

/* stream.sh (output without end) as kept request 1 on fd, its pid file named
 * after name: its pid, once it runs. */
static pid_t start_stream(int fd, const char *name)
{
	char pidfile[400];
	snprintf(pidfile, sizeof pidfile, "%s/%s.pid", G.dir, name);
	const char *kv[] = {"SCRIPT_FILENAME", fx("fastcgi/fcgi-bin/stream.sh"), "REQUEST_METHOD",
	                    "GET", "QUERY_STRING", pidfile, NULL};
	struct bytes b = {0};
	request(&b, 1, FCGI_KEEP_CONN, kv, NULL);
	send_bytes(fd, &b);
	bytes_free(&b);
	pid_t pid = gw_wait_pidfile(pidfile, 5);
	cr_assert(pid > 0, "stream.sh (%s) did not start", name);
	return pid;
}

Test(raw, get_values_answered_and_connection_stays_open, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	static const char *const all[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
	                                  NULL};
	static struct record r;
	cr_assert_eq(get_values(fd, all, 0, &r), 0, "no answer to FCGI_GET_VALUES");
	cr_assert_eq(r.type, FCGI_GET_VALUES_RESULT, "answer of type %d", r.type);
	char *mpxs = values_get(r.content, r.len, "FCGI_MPXS_CONNS");
	char *conns = values_get(r.content, r.len, "FCGI_MAX_CONNS");
	char *reqs = values_get(r.content, r.len, "FCGI_MAX_REQS");
	cr_expect(mpxs && strcmp(mpxs, "1") == 0, "FCGI_MPXS_CONNS=%s, want 1", mpxs ? mpxs : "(absent)");
	cr_expect(conns && atol(conns) > 0, "FCGI_MAX_CONNS=%s", conns ? conns : "(absent)");
	cr_expect(reqs && atol(reqs) >= (conns ? atol(conns) : 1), "FCGI_MAX_REQS=%s",
	          reqs ? reqs : "(absent)");
	free(mpxs);
	free(conns);
	free(reqs);

	/* Still open: a second GET_VALUES (one name, padded) is answered too. */
	cr_expect(!gw_closed_within(fd, 0.5), "gatewayd closed the connection after its "
	          "FCGI_GET_VALUES_RESULT (the connection must stay open)");
	cr_assert_eq(get_values(fd, MPXS_CONNS_ONLY, 7, &r), 0,
	             "no answer to a second FCGI_GET_VALUES");
	cr_expect_eq(r.type, FCGI_GET_VALUES_RESULT, "answer of type %d", r.type);
	mpxs = values_get(r.content, r.len, "FCGI_MPXS_CONNS");
	cr_expect(mpxs && strcmp(mpxs, "1") == 0, "second answer: FCGI_MPXS_CONNS=%s", mpxs);
	free(mpxs);

	/* And a request after them. */
	expect_serves_env_get(fd, 1, 0, "after FCGI_GET_VALUES");
	close(fd);
	stop_raw_ok();
}

Test(raw, wrong_version_closes_that_connection_only, .fini = teardown, .timeout = 30)
{
	/* A: a request half sent (params not ended). */
	int a = raw_start();
	struct bytes b = {0};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, env_get(), 65535, false);
	send_bytes(a, &b);
	/* B: a record of version 2. */
	int bad = raw_connect(G.port);
	struct bytes v2 = {0};
	uint8_t c[8] = {0, FCGI_RESPONDER, 0};
	rec(&v2, 2, FCGI_BEGIN_REQUEST, 1, c, 8, 0);
	send_bytes(bad, &v2);
	cr_expect(gw_closed_within(bad, 5), "a record of version 2 did not close its connection");
	close(bad);
	cr_expect(gw_log_contains(G.error_log, "record with version 2, not 1", 3),
	          "the log does not say why the connection was closed");
	/* A goes on as if nothing happened. */
	b.n = 0;
	rec(&b, FCGI_VERSION_1, FCGI_PARAMS, 1, NULL, 0, 0);
	stream(&b, FCGI_STDIN, 1, NULL, 0, 1, true);
	raw_exchange(a, &b, 1, "the other connection's request");
	expect_env_answer(1);
	bytes_free(&v2);
	raw_finish(a, &b);
}

Test(raw, http_on_the_fastcgi_port_closed_and_logged, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	const char *http = "GET /cgi-bin/sub/env.pl HTTP/1.1\r\nHost: localhost\r\n\r\n";
	gw_send_all(fd, http, strlen(http));
	cr_expect(gw_closed_within(fd, 5), "HTTP sent to the FastCGI port did not close the connection");
	close(fd);
	char *line = NULL;
	if (gw_log_contains(G.error_log, "GET /cgi-bin/sub/env.pl HTTP/1.1", 3))
		line = gw_last_line_with(G.error_log, "GET /cgi-bin/sub/env.pl HTTP/1.1");
	cr_expect(line && strstr(line, "HTTP"), "the log does not name HTTP: %s",
	          line ? line : "(no line)");
	cr_expect(line && strstr(line, "FastCGI"), "the log does not say it was the FastCGI port: %s",
	          line ? line : "(no line)");
	free(line);
	stop_raw_ok();
}

Test(raw, unknown_management_type_answered_unknown_type, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	struct bytes b = {0};
	rec(&b, FCGI_VERSION_1, 42, 0, "abc", 3, 5);
	send_bytes(fd, &b);
	static struct record r;
	cr_assert_eq(read_mgmt(fd, &r, 5), 0, "no answer to a management record of type 42");
	cr_expect_eq(r.type, FCGI_UNKNOWN_TYPE, "answer of type %d, want FCGI_UNKNOWN_TYPE", r.type);
	cr_expect_eq(r.len, 8, "FCGI_UNKNOWN_TYPE body of %d bytes", r.len);
	cr_expect_eq(r.content[0], 42, "FCGI_UNKNOWN_TYPE names type %d, want 42", r.content[0]);
	/* The connection stays open. */
	cr_expect(!gw_closed_within(fd, 0.5), "gatewayd closed the connection after its "
	          "FCGI_UNKNOWN_TYPE (the connection must stay open)");
	if (get_values(fd, MPXS_CONNS_ONLY, 0, &r) == 0)
		cr_expect_eq(r.type, FCGI_GET_VALUES_RESULT, "answer of type %d", r.type);
	else
		cr_expect_fail("no answer to FCGI_GET_VALUES after FCGI_UNKNOWN_TYPE");
	raw_finish(fd, &b);
}

Test(raw, unknown_role_refused, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	struct bytes b = {0};
	begin(&b, 1, FCGI_AUTHORIZER, FCGI_KEEP_CONN);
	begin(&b, 2, FCGI_FILTER, FCGI_KEEP_CONN);
	begin(&b, 3, 77, FCGI_KEEP_CONN);
	send_bytes(fd, &b);
	uint16_t ids[] = {1, 2, 3};
	cr_assert_eq(collect(fd, ids, 3, 5), 0, "no END_REQUEST for the unknown roles");
	for (int i = 1; i <= 3; i++) {
		cr_expect_eq(R[i].protocol_status, FCGI_UNKNOWN_ROLE,
		             "request %d: protocolStatus %d, want FCGI_UNKNOWN_ROLE", i,
		             R[i].protocol_status);
		cr_expect_eq(R[i].out.n, 0, "request %d: output for a refused role", i);
	}
	/* The connection (kept) serves a responder next. */
	expect_serves_env_get(fd, 1, 0, "a responder after the refused roles");
	close(fd);
	/* Not kept: END_REQUEST, then the close. */
	replies_free();
	fd = raw_connect(G.port);
	b.n = 0;
	begin(&b, 1, FCGI_AUTHORIZER, 0);
	raw_exchange(fd, &b, 1, "FCGI_AUTHORIZER without FCGI_KEEP_CONN");
	cr_expect_eq(R[1].protocol_status, FCGI_UNKNOWN_ROLE);
	cr_expect(gw_closed_within(fd, 5), "not FCGI_KEEP_CONN, yet the connection stayed open");
	raw_finish(fd, &b);
}

Test(raw, begin_request_for_a_busy_id_ignored, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"), "REQUEST_METHOD", "POST",
	                    "CONTENT_LENGTH", "5", "QUERY_STRING", "first", NULL};
	const char *kv2[] = {"SCRIPT_FILENAME", fx("cgi-bin/crash.sh"), "REQUEST_METHOD", "GET", NULL};
	struct bytes b = {0};
	begin(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	params(&b, 1, kv, 65535, true);
	/* The same id again, with other flags and params: all of it ignored
	 * (the PARAMS gw_now come after the first request's params ended). */
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv2, 65535, true);
	stream(&b, FCGI_STDIN, 1, "hello", 5, 32768, true);
	raw_exchange(fd, &b, 1, "the first request");
	static const struct gw_field_want first[] = {
		{"Status: ", "200 OK"}, {"env:QUERY_STRING=", "first"}, {"stdin-bytes:", "5"},
		{NULL},
	};
	gw_expect_fields("busy id", (const char *)R[1].out.p, first);
	cr_expect_eq(R[1].protocol_status, FCGI_REQUEST_COMPLETE);
	cr_expect(gw_log_contains(G.error_log, "BEGIN_REQUEST for request id 1, which is busy", 2),
	          "the log does not mention the ignored BEGIN_REQUEST");
	/* The ignored BEGIN_REQUEST's flags (no KEEP_CONN) did not stick. */
	cr_expect(!gw_closed_within(fd, 0.5), "the connection closed after the kept request");
	raw_finish(fd, &b);
}

Test(raw, params_after_stdin_ignored, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"), "REQUEST_METHOD", "POST",
	                    "CONTENT_LENGTH", "5", NULL};
	const char *late[] = {"INJECTED", "late", NULL};
	struct bytes b = {0};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv, 65535, true);
	stream(&b, FCGI_STDIN, 1, "hel", 3, 32768, false);
	params(&b, 1, late, 65535, true);
	stream(&b, FCGI_STDIN, 1, "lo", 2, 32768, true);
	raw_exchange(fd, &b, 1, "PARAMS after STDIN");
	static const struct gw_field_want want[] = {
		{"Status: ", "200 OK"}, {"stdin-bytes:", "5"},
		{"env:INJECTED=", NULL}, /* the late PARAMS never reach the environment */
		{NULL},
	};
	gw_expect_fields("PARAMS after STDIN", (const char *)R[1].out.p, want);
	cr_expect(gw_log_contains(G.error_log, "PARAMS after the params stream ended", 2),
	          "the log does not mention the ignored PARAMS");
	raw_finish(fd, &b);
}

Test(raw, truncated_records_then_close, .fini = teardown, .timeout = 30)
{
	struct bytes b = {0};
	/* 5 bytes of a header. */
	int fd = raw_start();
	begin(&b, 1, FCGI_RESPONDER, 0);
	gw_send_all(fd, b.p, 5);
	close(fd);
	/* A header that promises 100 bytes, and 10 of them. */
	fd = raw_connect(G.port);
	b.n = 0;
	rec(&b, FCGI_VERSION_1, FCGI_PARAMS, 1, "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789", 100, 0);
	gw_send_all(fd, b.p, 18);
	close(fd);
	/* A request whose params stop in the middle of a pair. */
	fd = raw_connect(G.port);
	b.n = 0;
	begin(&b, 1, FCGI_RESPONDER, 0);
	struct bytes pairs = {0};
	nv(&pairs, "SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"));
	rec(&b, FCGI_VERSION_1, FCGI_PARAMS, 1, pairs.p, 10, 0);
	send_bytes(fd, &b);
	usleep(100000);
	close(fd);
	/* A request whose STDIN stops short, after the script started. */
	fd = raw_connect(G.port);
	b.n = 0;
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sha256.sh"), "REQUEST_METHOD", "POST",
	                    "CONTENT_LENGTH", "1000", NULL};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv, 65535, true);
	rec(&b, FCGI_VERSION_1, FCGI_STDIN, 1, "abcdefgh", 8, 0);
	gw_send_all(fd, b.p, b.n - 4);
	usleep(100000);
	close(fd);
	/* gatewayd is still there and serves. */
	cr_assert(gw_pid_alive(G.pid), "gatewayd died of a truncated record");
	fd = raw_connect(G.port);
	expect_serves_env_get(fd, 1, 0, "after the truncated records");
	close(fd);
	pid_t gw = G.pid;
	cr_expect(gw_wait_until(gw_no_children, &gw, 5),
	          "a script of a dropped connection still runs");
	bytes_free(&b);
	bytes_free(&pairs);
	stop_raw_ok();
}

/* A request whose params gatewayd refuses (the extra pair name=value): the
 * status, a log line naming why, and the kept connection serves the next
 * request, on the same id. */
static void run_refused_params(const char *what, const char *name, const char *value,
                               const char *status, const char *logged)
{
	int fd = raw_start();
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"), "REQUEST_METHOD", "GET",
	                    name, value, NULL};
	struct bytes b = {0};
	request(&b, 1, FCGI_KEEP_CONN, kv, NULL);
	raw_exchange(fd, &b, 1, what);
	gw_expect_field(what, (const char *)R[1].out.p, "Status: ", status);
	cr_expect(gw_log_contains(G.error_log, logged, 2), "%s: no log line \"%s\"", what, logged);
	expect_serves_env_get(fd, 1, 0, what);
	raw_finish(fd, &b);
}

Test(raw, oversized_params_431, .fini = teardown, .timeout = 30)
{
	char *big = malloc(70001);
	cr_assert_not_null(big);
	memset(big, 'x', 70000);
	big[70000] = '\0';
	run_refused_params("params over 64 KiB", "HTTP_X_BIG", big,
	                   "431 Request Header Fields Too Large", "params over 64 KiB");
	free(big);
}

/* The hop-by-hop fields a script prints never reach the web server (the HTTP
 * and uwsgi suites send the same script through theirs). */
Test(raw, hop_by_hop_fields_dropped, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/hop.sh"), "REQUEST_METHOD", "GET", NULL};
	struct bytes b = {0};
	request(&b, 1, FCGI_KEEP_CONN, kv, NULL);
	raw_exchange(fd, &b, 1, "hop.sh");
	const char *out = (const char *)R[1].out.p;
	const char *blank = strstr(out, "\r\n\r\n");
	cr_assert_not_null(blank, "no head end in: %s", out);
	char *head = strndup(out, (size_t)(blank + 2 - out));
	gw_expect_hop_by_hop_dropped(head, blank + 4, "FastCGI");
	free(head);
	raw_finish(fd, &b);
}

/* A name holding '=' cannot be an environment variable: the web server is
 * broken or hostile, so the request is refused (400) with a log line naming it,
 * and the kept connection serves the next one. */
Test(raw, param_name_with_equals_400, .fini = teardown, .timeout = 30)
{
	run_refused_params("a param name holding '='", "LD_PRELOAD=/tmp/x.so;X", "1",
	                   "400 Bad Request",
	                   "variable LD_PRELOAD=/tmp/x.so;X from the web server");
}

/* Split a run of whole records into a list of (offset, length) of records. */
static size_t record_spans(const struct bytes *b, size_t *off, size_t *len, size_t max)
{
	size_t n = 0;
	for (size_t p = 0; p + 8 <= b->n && n < max; n++) {
		size_t l = 8 + ((size_t)b->p[p + 4] << 8 | b->p[p + 5]) + b->p[p + 6];
		off[n] = p;
		len[n] = l;
		p += l;
	}
	return n;
}

Test(raw, multiplexed_requests_interleaved, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	char *body = make_body(50000), sha[65], want[100];
	sha256_hex(body, strlen(body), sha);
	snprintf(want, sizeof want, "50000 %s\n", sha);
	char pidfile[400], query[440];
	snprintf(pidfile, sizeof pidfile, "%s/mpx-sleep.pid", G.dir);
	snprintf(query, sizeof query, "1+%s", pidfile);
	const char *kv1[] = {"SCRIPT_FILENAME", fx("cgi-bin/sha256.sh"), "REQUEST_METHOD", "POST",
	                     "CONTENT_LENGTH", "50000", NULL};
	const char *kv2[] = {"SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"), "REQUEST_METHOD", "GET",
	                     "QUERY_STRING", "two=2", NULL};
	const char *kv3[] = {"SCRIPT_FILENAME", fx("cgi-bin/sleep.sh"), "REQUEST_METHOD", "GET",
	                     "QUERY_STRING", query, NULL};
	/* Each request in small records, then dealt out one record at a time,
	 * the slow one (request 3) first. */
	const char *const *kvs[3] = {kv1, kv2, kv3};
	const char *bodies[3] = {body, NULL, NULL};
	struct bytes r[3] = {{0}}, all = {0};
	static size_t o[3][64], l[3][64];
	size_t n[3];
	for (int k = 0; k < 3; k++) {
		uint16_t id = (uint16_t)(k + 1);
		begin(&r[k], id, FCGI_RESPONDER, FCGI_KEEP_CONN);
		params(&r[k], id, kvs[k], 20, true);
		stream(&r[k], FCGI_STDIN, id, bodies[k], bodies[k] ? strlen(bodies[k]) : 0, 7000,
		       true);
		n[k] = record_spans(&r[k], o[k], l[k], 64);
	}
	static const int deal[3] = {2, 0, 1};
	for (size_t i = 0; i < 64; i++)
		for (int d = 0; d < 3; d++)
			if (i < n[deal[d]])
				put(&all, r[deal[d]].p + o[deal[d]][i], l[deal[d]][i]);
	send_bytes(fd, &all);
	uint16_t ids[] = {1, 2, 3};
	cr_assert_eq(collect(fd, ids, 3, 15), 0, "not all three multiplexed requests were answered");
	const char *peer_name = "multiplexed";
	cr_expect(strstr((const char *)R[1].out.p, want) != NULL, "request 1 (sha256 of 50000 bytes): %s",
	          R[1].out.p);
	expect_field((const char *)R[2].out.p, "env:QUERY_STRING=", "two=2");
	expect_field((const char *)R[3].out.p, "slept ", "1");
	for (int i = 1; i <= 3; i++)
		cr_expect_eq(R[i].protocol_status, FCGI_REQUEST_COMPLETE, "request %d: protocolStatus %d",
		             i, R[i].protocol_status);
	/* The slow one (sent first) did not hold the others back. */
	cr_expect(R[3].order == 3, "the request that sleeps 1 s ended %d of 3", R[3].order);
	free(body);
	for (int k = 0; k < 3; k++)
		bytes_free(&r[k]);
	raw_finish(fd, &all);
}

Test(raw, keep_conn_honoured_and_close_without_it, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	for (int i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof what, "kept connection: request %d", i + 1);
		expect_serves_env_get(fd, 1, FCGI_KEEP_CONN, what);
	}
	cr_expect(!gw_closed_within(fd, 0.5), "FCGI_KEEP_CONN, yet the connection closed");
	close(fd);
	/* Without FCGI_KEEP_CONN: END_REQUEST, then gatewayd closes. */
	fd = raw_connect(G.port);
	expect_serves_env_get(fd, 1, 0, "without FCGI_KEEP_CONN");
	cr_expect(gw_closed_within(fd, 3), "no FCGI_KEEP_CONN, yet the connection stayed open");
	close(fd);
	stop_raw_ok();
}

Test(raw, end_request_carries_exit_status, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	const char *kv[] = {"SCRIPT_FILENAME", fx("fastcgi/fcgi-bin/exit3.sh"), "REQUEST_METHOD",
	                    "GET", NULL};
	struct bytes b = {0};
	request(&b, 1, 0, kv, NULL);
	raw_exchange(fd, &b, 1, "exit3.sh");
	static const struct gw_field_want want[] = {
		{"Status: ", "200 OK"}, {"exiting with ", "3"}, {NULL},
	};
	gw_expect_fields("exit status", (const char *)R[1].out.p, want);
	cr_expect_eq(R[1].app_status, 3, "END_REQUEST appStatus %u, want 3", R[1].app_status);
	cr_expect_eq(R[1].protocol_status, FCGI_REQUEST_COMPLETE);
	raw_finish(fd, &b);
}

Test(raw, abort_request_kills_the_script, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	pid_t pid = start_stream(fd, "abort");
	/* Output flows... */
	static struct record r;
	double until = gw_now() + 5;
	size_t got = 0;
	while (got < 16384 && gw_now() < until && read_record(fd, &r, until) == 0)
		if (r.type == FCGI_STDOUT && r.id == 1)
			got += r.len;
	cr_expect(got >= 16384, "only %zu bytes of output before the abort", got);
	/* ...when the web server aborts. */
	struct bytes b = {0};
	rec(&b, FCGI_VERSION_1, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
	send_bytes(fd, &b);
	uint16_t ids[] = {1};
	cr_expect_eq(collect(fd, ids, 1, 5), 0, "no END_REQUEST after FCGI_ABORT_REQUEST");
	cr_expect(gw_wait_gone(pid, 5), "FCGI_ABORT_REQUEST left script %d running", (int)pid);
	cr_expect(gw_log_contains(G.error_log, "FCGI_ABORT_REQUEST", 1), "the abort is not logged");
	/* The kept connection serves the next request on the same id. */
	expect_serves_env_get(fd, 1, FCGI_KEEP_CONN, "after the abort");
	raw_finish(fd, &b);
}

Test(raw, stdin_without_content_length, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	char *body = make_body(70000), sha[65], want[100];
	sha256_hex(body, strlen(body), sha);
	snprintf(want, sizeof want, "\r\n\r\n70000 %s\n", sha);
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sha256.sh"), "REQUEST_METHOD", "POST",
	                    NULL};
	struct bytes b = {0};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv, 65535, true);
	stream(&b, FCGI_STDIN, 1, body, strlen(body), 8000, true);
	raw_exchange(fd, &b, 1, "STDIN without CONTENT_LENGTH");
	cr_expect(strstr((const char *)R[1].out.p, want) != NULL &&
	              strncmp((const char *)R[1].out.p, "Status: 200 OK\r\nContent-Type: text/plain\r\n", 42) == 0,
	          "STDIN without CONTENT_LENGTH: the script saw %s", R[1].out.p);
	free(body);
	raw_finish(fd, &b);
}

Test(raw, byte_by_byte_with_a_pair_across_records, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sub/env.pl"), "REQUEST_METHOD", "POST",
	                    "CONTENT_LENGTH", "5", "QUERY_STRING", "bytes=1", "EMPTY_VALUE", "", NULL};
	struct bytes b = {0};
	begin(&b, 1, FCGI_RESPONDER, 0);
	params(&b, 1, kv, 7, true); /* 7-byte records: every pair straddles records */
	stream(&b, FCGI_STDIN, 1, "hello", 5, 2, true);
	for (size_t i = 0; i < b.n; i++) {
		gw_send_all(fd, b.p + i, 1);
		usleep(200);
	}
	uint16_t ids[] = {1};
	cr_assert_eq(collect(fd, ids, 1, 10), 0);
	static const struct gw_field_want want[] = {
		{"env:QUERY_STRING=", "bytes=1"}, {"env:EMPTY_VALUE=", ""},
		{"env:CONTENT_LENGTH=", "5"}, {"stdin-bytes:", "5"}, {NULL},
	};
	gw_expect_fields("byte by byte", (const char *)R[1].out.p, want);
	raw_finish(fd, &b);
}

Test(raw, stderr_as_fcgi_stderr_only_when_configured, .fini = teardown, .timeout = 30)
{
	int quiet = gw_free_port();
	char config[1024];
	snprintf(config, sizeof config,
	         "{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\", \"stderr\": true},"
	         " {\"fastcgi\": \"127.0.0.1:%d\"}],"
	         " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]}",
	         quiet);
	start_gatewayd(config);
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/stderr.sh"), "REQUEST_METHOD", "GET", NULL};
	struct bytes b = {0};
	request(&b, 1, 0, kv, NULL);

	int fd = raw_connect(G.port);
	raw_exchange(fd, &b, 1, "stderr.sh on the listener with \"stderr\": true");
	const char *err = R[1].err.p ? (const char *)R[1].err.p : "";
	cr_expect(strstr(err, "stderr line one from stderr.sh\n") &&
	          strstr(err, "stderr line two from stderr.sh\n"),
	          "\"stderr\": true, yet FCGI_STDERR carried \"%s\"", err);
	close(fd);

	replies_free();
	fd = raw_connect(quiet);
	raw_exchange(fd, &b, 1, "stderr.sh on the listener without \"stderr\"");
	cr_expect_eq(R[1].err.n, 0, "no \"stderr\", yet FCGI_STDERR carried \"%s\"", R[1].err.p);
	cr_expect(strstr((const char *)R[1].out.p, "Status: 200") != NULL);
	close(fd);
	cr_expect(gw_log_contains(G.error_log, "stderr line two from stderr.sh", 2),
	          "the script's stderr is not in the error log");
	bytes_free(&b);
	stop_raw_ok();
}

/* Per-request flow control on input: a script that does not read its body
 * holds its own STDIN, not the requests multiplexed beside it. */
Test(raw, multiplexed_body_not_read_does_not_stall_the_rest, .fini = teardown, .timeout = 30)
{
	int fd = raw_start();
	size_t big = 1 << 20;
	char *body = make_body(big), cl[32];
	snprintf(cl, sizeof cl, "%zu", big);
	/* sleep.sh 3: never reads its stdin, answers after 3 s. */
	const char *kv1[] = {"SCRIPT_FILENAME", fx("cgi-bin/sleep.sh"), "REQUEST_METHOD", "POST",
	                     "QUERY_STRING", "3", "CONTENT_LENGTH", cl, NULL};
	struct bytes b = {0};
	request(&b, 1, FCGI_KEEP_CONN, kv1, body);
	request(&b, 2, FCGI_KEEP_CONN, env_get(), NULL);
	/* Send from a child: gatewayd may rightly stop reading request 1's body. */
	pid_t sender = fork();
	cr_assert(sender >= 0);
	if (sender == 0) {
		gw_send_all(fd, b.p, b.n);
		_exit(0);
	}
	uint16_t both[] = {1, 2};
	int rc = collect(fd, both, 2, 10);
	if (rc != 0)
		dump_logs();
	cr_expect(R[1].ended, "request 1 (sleep.sh 3, its 1 MiB body unread) was not answered");
	cr_expect(R[2].ended, "request 2 was never answered: gatewayd stopped reading the connection "
	          "while request 1's body waited");
	cr_expect(!R[2].ended || R[2].order == 1, "request 2 waited for request 1, whose script "
	          "sleeps 3 s without reading its body");
	if (R[2].ended)
		expect_env_answer(2);
	const char *peer_name = "slow reader";
	if (R[1].ended)
		expect_field((const char *)R[1].out.p, "slept ", "3");
	close(fd);
	kill(sender, SIGKILL);
	waitpid(sender, NULL, 0);
	free(body);
	bytes_free(&b);
	stop_raw_ok();
}

/* A request that ends (here: its run timeout, 504) before its script read its
 * body: the rest of its STDIN must still be read (and dropped), and the kept
 * connection must serve the next request. */
Test(raw, kept_connection_reads_on_after_a_request_ends_with_its_body_unread, .fini = teardown,
     .timeout = 30)
{
	start_gatewayd(GW_CONFIG); /* /cgi-bin/ run timeout: 2 s */
	int fd = raw_connect(G.port);
	size_t big = 1 << 20;
	char *body = make_body(big), cl[32], pidfile[400], query[440];
	snprintf(cl, sizeof cl, "%zu", big);
	snprintf(pidfile, sizeof pidfile, "%s/unread.pid", G.dir);
	snprintf(query, sizeof query, "30+%s", pidfile);
	const char *kv[] = {"SCRIPT_FILENAME", fx("cgi-bin/sleep.sh"), "REQUEST_METHOD", "POST",
	                    "QUERY_STRING", query, "CONTENT_LENGTH", cl, NULL};
	struct bytes b = {0};
	request(&b, 1, FCGI_KEEP_CONN, kv, body);
	free(body);
	/* The whole of request 1 from a child: it blocks while gatewayd does not read. */
	pid_t sender = fork();
	cr_assert(sender >= 0);
	if (sender == 0) {
		gw_send_all(fd, b.p, b.n);
		_exit(0);
	}
	uint16_t ids[] = {1};
	cr_assert_eq(collect(fd, ids, 1, 10), 0, "request 1 got no answer");
	const char *peer_name = "body unread";
	expect_field((const char *)R[1].out.p, "Status: ", "504 Gateway Timeout");
	/* The rest of request 1's STDIN must be taken off the socket gw_now. */
	int st;
	double until = gw_now() + 5;
	while (waitpid(sender, &st, WNOHANG) != sender && gw_now() < until)
		usleep(20000);
	bool sent = gw_now() < until;
	if (!sent) {
		kill(sender, SIGKILL);
		waitpid(sender, &st, 0);
		dump_logs();
	}
	cr_expect(sent, "request 1 was answered, but gatewayd never read the rest of its STDIN: "
	          "the kept connection stopped reading for good");
	if (sent)
		expect_serves_env_get(fd, 2, FCGI_KEEP_CONN,
		                      "the next request on the kept connection");
	raw_finish(fd, &b);
}

/* A web server that resets the connection while gatewayd writes to it (nginx
 * dropping kept-alive connections when its clients go): the script dies and
 * the daemon serves on. Once a use-after-free: aborting the requests fed a
 * read event to the connection being freed. */
Test(raw, web_server_reset_mid_response_leaves_the_daemon_serving, .fini = teardown, .timeout = 30)
{
	start_gatewayd(GW_RAW_CONFIG);
	for (int round = 0; round < 3; round++) {
		int fd = raw_connect(G.port);
		char name[16];
		snprintf(name, sizeof name, "reset%d", round);
		pid_t pid = start_stream(fd, name);
		struct bytes b = {0};
		/* Leave the output unread so gatewayd's writes pile up; then end the
		 * connection badly: a record with version 2 (gatewayd closes it with
		 * the request in flight), or a reset. */
		usleep(300000);
		if (round == 1) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		} else {
			rec(&b, 2, FCGI_STDIN, 1, NULL, 0, 0);
			send_bytes(fd, &b);
			usleep(200000);
		}
		close(fd);
		cr_expect(gw_wait_gone(pid, 5), "round %d: the reset left script %d running", round,
		          (int)pid);
		bytes_free(&b);
	}
	/* Still serving. */
	int fd = raw_connect(G.port);
	expect_serves_env_get(fd, 1, FCGI_KEEP_CONN, "after the resets");
	close(fd);
	stop_raw_ok();
}

/* php-fpm's cross-pool hole: a web server's SCRIPT_FILENAME decides the pool
 * (the one whose root holds the file, resolved), never the URL it sent, so a
 * script of one pool never runs in another pool's workers, as its user. */
static const char GW_TWO_POOLS[] =
	"{\"listen\": [{\"fastcgi\": \"127.0.0.1:@PORT@\"}],"
	" \"pools\": {"
	"  \"a\": {\"protocol\": \"fastcgi\", \"command\": [\"php-cgi\"], \"processes\": 1,"
	"         \"env\": {\"POOL\": \"a\", \"PHP_FCGI_CHILDREN\": \"0\"}},"
	"  \"b\": {\"protocol\": \"fastcgi\", \"command\": [\"php-cgi\"], \"processes\": 1,"
	"         \"env\": {\"POOL\": \"b\", \"PHP_FCGI_CHILDREN\": \"0\"}}},"
	" \"routes\": ["
	"  {\"match\": \"/a/\", \"pool\": \"a\", \"root\": \"@DIR@/a\"},"
	"  {\"match\": \"/b/\", \"pool\": \"b\", \"root\": \"@DIR@/b\"}]}";

/* One FastCGI GET of file with REQUEST_URI uri; its STDOUT (static). */
static const char *get_script(int fd, uint16_t id, const char *file, const char *uri)
{
	const char *kv[] = {"SCRIPT_FILENAME", file, "REQUEST_URI", uri, "REQUEST_METHOD", "GET",
	                    "SCRIPT_NAME", uri, NULL};
	struct bytes b = {0};
	replies_free();
	request(&b, id, FCGI_KEEP_CONN, kv, NULL);
	raw_exchange(fd, &b, id, file);
	bytes_free(&b);
	static char out[4096];
	snprintf(out, sizeof out, "%.*s", (int)R[id].out.n, (const char *)R[id].out.p);
	return out;
}

Test(raw, script_filename_picks_the_pool_whose_root_holds_it, .fini = teardown, .timeout = 40)
{
	gw_write_config(&G, "{}"); /* makes G.dir */
	const char *php = "<?php echo 'pool=', getenv('POOL'), ' file=', $_SERVER['SCRIPT_FILENAME'];\n";
	char path[512];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%c", G.dir, "ab"[i]);
		cr_assert_eq(mkdir(path, 0755), 0);
		snprintf(path, sizeof path, "%s/%c/x.php", G.dir, "ab"[i]);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(php, f);
		fclose(f);
	}
	start_gatewayd(GW_TWO_POOLS);
	int fd = raw_connect(G.port);
	char a[512], b[512], want[600];
	snprintf(a, sizeof a, "%s/a/x.php", G.dir);
	snprintf(b, sizeof b, "%s/b/x.php", G.dir);

	/* pool a's file with pool b's URL: pool a runs it */
	const char *out = get_script(fd, 1, a, "/b/x.php");
	snprintf(want, sizeof want, "pool=a file=%s", a);
	cr_expect(strstr(out, want), "a's file under b's URL: %s", out);
	/* b's file reached through a's directory: resolved, it is b's */
	snprintf(path, sizeof path, "%s/a/../b/x.php", G.dir);
	out = get_script(fd, 2, path, "/a/x.php");
	snprintf(want, sizeof want, "pool=b file=%s", b);
	cr_expect(strstr(out, want), "a/../b: %s", out);
	/* a file under no pool's root: refused, whatever the URL */
	out = get_script(fd, 3, "/etc/passwd", "/a/x.php");
	cr_expect(strstr(out, "Status: 403"), "/etc/passwd: %s", out);
	close(fd);
	stop_raw_ok();
}
