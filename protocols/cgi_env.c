/* CGI/1.1 request side: the meta-variables (RFC 3875 §4.1) and the ISINDEX
 * command line (§4.4). */
#include "protocols/cgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocols/http1_lex.h"

/* What cgi_env_envp() gives for an env that holds nothing yet. */
static char *const empty_envp[] = { NULL };

/* ---- the ordered set ---------------------------------------------------- */

void cgi_env_init(struct cgi_env *env)
{
	memset(env, 0, sizeof *env);
}

/* Where the vars' bytes live: a block is used from the front and never
 * moved, so a var's address holds until cgi_env_free(). */
struct cgi_env_block {
	struct cgi_env_block *next;
	size_t used, cap;
	char data[];
};

enum { ENV_BLOCK_SIZE = 2048 }; /* a typical request's vars fit in one */

void cgi_env_free(struct cgi_env *env)
{
	struct cgi_env_block *b = env->blocks;
	while (b) {
		struct cgi_env_block *next = b->next;
		free(b);
		b = next;
	}
	free(env->vars);
	cgi_env_init(env);
}

/* n bytes from env's blocks, or NULL when memory runs out. A var of more
 * than a quarter block gets a block of its own behind the newest, so the
 * room left in that one is not given up for it. */
static char *env_alloc(struct cgi_env *env, size_t n)
{
	struct cgi_env_block *b = env->blocks;
	if (!b || b->cap - b->used < n) {
		bool own = b && n > ENV_BLOCK_SIZE / 4;
		size_t cap = n > ENV_BLOCK_SIZE - sizeof *b ? n : ENV_BLOCK_SIZE - sizeof *b;
		struct cgi_env_block *nb = malloc(sizeof *nb + (own ? n : cap));
		if (!nb)
			return NULL;
		nb->used = 0;
		nb->cap = own ? n : cap;
		if (own) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			env->blocks = nb;
		}
		b = nb;
	}
	char *p = b->data + b->used;
	b->used += n;
	return p;
}

/* Index of the var called name[0..name_len), or env->count if none. */
static size_t env_find(const struct cgi_env *env, const char *name, size_t name_len)
{
	for (size_t i = 0; i < env->count; i++) {
		const char *var = env->vars[i];
		if (var[0] == name[0] && strncmp(var, name, name_len) == 0 && var[name_len] == '=')
			return i;
	}
	return env->count;
}

/* Room for one more var and the NULL after it. */
static int env_reserve(struct cgi_env *env)
{
	if (env->count + 2 <= env->cap)
		return 0;
	size_t cap = env->cap ? env->cap * 2 : 32;
	char **vars = realloc(env->vars, cap * sizeof *vars);
	if (!vars)
		return -1;
	env->vars = vars;
	env->cap = cap;
	return 0;
}

/* var ("NAME=value", len bytes, its name name_len) in place of the var of
 * that name, or after the others. */
static int env_insert(struct cgi_env *env, char *var, size_t name_len, size_t len)
{
	size_t i = env_find(env, var, name_len);
	if (i < env->count) {
		env->bytes -= strlen(env->vars[i]);
		env->vars[i] = var;
	} else {
		if (env_reserve(env) < 0)
			return -1;
		env->vars[env->count++] = var;
		env->vars[env->count] = NULL;
	}
	env->bytes += len;
	return 0;
}

/* name[0..name_len) is known to be non-empty and free of '=' and NUL. */
static int env_put(struct cgi_env *env, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
	if (value_len && memchr(value, '\0', value_len))
		return -1;
	size_t len = name_len + 1 + value_len;
	char *var = env_alloc(env, len + 1);
	if (!var)
		return -1;
	memcpy(var, name, name_len);
	var[name_len] = '=';
	if (value_len)
		memcpy(var + name_len + 1, value, value_len);
	var[len] = '\0';
	return env_insert(env, var, name_len, len);
}

int cgi_env_setn(struct cgi_env *env, const char *name, const char *value, size_t value_len)
{
	size_t name_len = strlen(name);
	if (name_len == 0 || memchr(name, '=', name_len))
		return -1;
	return env_put(env, name, name_len, value, value_len);
}

enum cgi_var_verdict cgi_env_add_from_server(struct cgi_env *env, const void *name, size_t name_len,
                                             const void *value, size_t value_len)
{
	if (name_len == 0 || memchr(name, '=', name_len) || memchr(name, '\0', name_len))
		return CGI_VAR_BAD_NAME;
	if (value_len && memchr(value, '\0', value_len))
		return CGI_VAR_BAD_VALUE;
	/* httpoxy: a client's "Proxy:" header arrives as HTTP_PROXY, which CGI
	 * programs and libraries read as their outbound proxy. */
	if (name_len == 10 && memcmp(name, "HTTP_PROXY", 10) == 0)
		return CGI_VAR_DROPPED;
	/* uWSGI's per-request switches (UWSGI_SCRIPT, UWSGI_CHDIR...) would let
	 * whoever reaches the web server choose what a worker loads. */
	if (name_len >= 6 && memcmp(name, "UWSGI_", 6) == 0)
		return CGI_VAR_DROPPED;
	return env_put(env, name, name_len, value, value_len) < 0 ? CGI_VAR_NO_MEMORY : CGI_VAR_SET;
}

const char *cgi_var_verdict_text(enum cgi_var_verdict v)
{
	switch (v) {
	case CGI_VAR_SET:
		return "set";
	case CGI_VAR_DROPPED:
		return "dropped (httpoxy or a UWSGI_ switch)";
	case CGI_VAR_BAD_NAME:
		return "an empty name, or one holding '=' or NUL";
	case CGI_VAR_BAD_VALUE:
		return "a value holding NUL";
	case CGI_VAR_NO_MEMORY:
		return "out of memory";
	}
	return "?";
}

int cgi_env_set(struct cgi_env *env, const char *name, const char *value)
{
	return cgi_env_setn(env, name, value, strlen(value));
}

void cgi_env_unset(struct cgi_env *env, const char *name)
{
	size_t i = env_find(env, name, strlen(name));
	if (i == env->count)
		return;
	env->bytes -= strlen(env->vars[i]);
	/* the NULL terminator moves down with the rest */
	memmove(&env->vars[i], &env->vars[i + 1], (env->count - i) * sizeof *env->vars);
	env->count--;
}

const char *cgi_env_get(const struct cgi_env *env, const char *name)
{
	size_t name_len = strlen(name);
	size_t i = env_find(env, name, name_len);
	return i < env->count ? env->vars[i] + name_len + 1 : NULL;
}

char *const *cgi_env_envp(const struct cgi_env *env)
{
	return env->vars ? env->vars : empty_envp;
}

/* ---- from an HTTP request ----------------------------------------------- */

static int env_set_str(struct cgi_env *env, const char *name, struct http1_str s)
{
	return cgi_env_setn(env, name, s.p, s.len);
}

static int env_set_number(struct cgi_env *env, const char *name, unsigned long long n)
{
	char digits[20];
	return cgi_env_setn(env, name, digits, http1_decimal(digits, n));
}

/* Set name only when value is given. */
static int env_set_optional(struct cgi_env *env, const char *name, const char *value)
{
	return value ? cgi_env_set(env, name, value) : 0;
}

static bool str_eq_nocase(struct http1_str a, struct http1_str b)
{
	return a.len == b.len && strncasecmp(a.p, b.p, a.len) == 0;
}

/* Host without its port: "name:80" -> "name", "[v6]:80" -> "[v6]". */
static struct http1_str host_without_port(struct http1_str host)
{
	if (host.len == 0)
		return host;
	if (host.p[0] == '[') {
		const char *bracket = memchr(host.p, ']', host.len);
		if (bracket)
			host.len = (size_t)(bracket - host.p) + 1;
		return host;
	}
	const char *colon = memchr(host.p, ':', host.len);
	if (colon)
		host.len = (size_t)(colon - host.p);
	return host;
}

static int set_server_name(struct cgi_env *env, const struct cgi_http_input *in)
{
	struct http1_str name = host_without_port(in->req->host);
	if (name.len > 0)
		return env_set_str(env, "SERVER_NAME", name);
	if (in->server_name)
		return cgi_env_set(env, "SERVER_NAME", in->server_name);
	return cgi_env_set(env, "SERVER_NAME", in->server_addr ? in->server_addr : "");
}

static int set_server_vars(struct cgi_env *env, const struct cgi_http_input *in)
{
	const char *software = in->server_software ? in->server_software : "gatewayd";
	const char *protocol = in->req->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";

	if (cgi_env_set(env, "GATEWAY_INTERFACE", "CGI/1.1") < 0 ||
	    cgi_env_set(env, "SERVER_SOFTWARE", software) < 0 || set_server_name(env, in) < 0 ||
	    env_set_optional(env, "SERVER_ADDR", in->server_addr) < 0 ||
	    env_set_number(env, "SERVER_PORT", in->server_port) < 0 ||
	    cgi_env_set(env, "SERVER_PROTOCOL", protocol) < 0 ||
	    env_set_optional(env, "HTTPS", in->https ? "on" : NULL) < 0 ||
	    env_set_optional(env, "GATEWAY_REQUEST_ID", in->request_id) < 0)
		return -1;
	return 0;
}

static int set_client_vars(struct cgi_env *env, const struct cgi_http_input *in)
{
	const char *addr = in->remote_addr ? in->remote_addr : "";

	/* REMOTE_HOST: no reverse DNS, RFC 3875 §4.1.9 allows the address */
	if (cgi_env_set(env, "REMOTE_ADDR", addr) < 0 ||
	    cgi_env_set(env, "REMOTE_HOST", addr) < 0 ||
	    env_set_number(env, "REMOTE_PORT", in->remote_port) < 0 ||
	    env_set_optional(env, "AUTH_TYPE", in->auth_type) < 0 ||
	    env_set_optional(env, "REMOTE_USER", in->auth_user) < 0)
		return -1;
	return 0;
}

static int set_request_vars(struct cgi_env *env, const struct cgi_http_input *in)
{
	const struct http1_request *req = in->req;
	const struct http1_header *content_type = http1_find_header(req, "Content-Type");
	struct http1_str query = req->query.p ? req->query : (struct http1_str){ "", 0 };

	if (env_set_str(env, "REQUEST_METHOD", req->method) < 0 ||
	    env_set_str(env, "REQUEST_URI", req->target) < 0 ||
	    env_set_str(env, "QUERY_STRING", query) < 0)
		return -1;
	if (in->content_length >= 0 &&
	    env_set_number(env, "CONTENT_LENGTH", (unsigned long long)in->content_length) < 0)
		return -1;
	if (content_type && env_set_str(env, "CONTENT_TYPE", content_type->value) < 0)
		return -1;
	return 0;
}

/* ---- HTTP_* ------------------------------------------------------------- */

/* Fields that never become HTTP_*: they have their own variables, frame a body
 * the script gets de-chunked (Trailer), or (Proxy) would be read as a proxy
 * setting (httpoxy). The hop-by-hop fields are withheld too
 * (http1_is_hop_by_hop). */
static const char *const withheld_fields[] = {
	"Content-Length",
	"Content-Type",
	"Trailer",
	"Proxy",
};

/* Only letters, digits and '-': "X_Foo" or "X.Foo" would map onto the same
 * HTTP_X_FOO as "X-Foo" and could spoof it. */
static bool field_name_mappable(struct http1_str name)
{
	if (name.len == 0)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];
		bool alnum =
		        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-')
			return false;
	}
	return true;
}

static bool field_passed(const struct cgi_http_input *in, struct http1_str name)
{
	if (!field_name_mappable(name))
		return false;
	for (size_t i = 0; i < sizeof withheld_fields / sizeof *withheld_fields; i++) {
		if (http1_str_ieq(name, withheld_fields[i]))
			return false;
	}
	/* Apache's CGIPassAuth covers both credentials fields */
	if (http1_str_ieq(name, "Authorization") || http1_str_ieq(name, "Proxy-Authorization"))
		return in->pass_authorization;
	return !http1_is_hop_by_hop(name, in->req->headers, in->req->num_headers);
}

static bool seen_before(const struct http1_request *req, size_t index)
{
	for (size_t i = 0; i < index; i++) {
		if (str_eq_nocase(req->headers[i].name, req->headers[index].name))
			return true;
	}
	return false;
}

/* "HTTP_" + the field's name upper-cased with '-' as '_', then '=' and the
 * values of every field of that name, in order, joined with sep: written
 * straight into the env's block. */
static int set_http_var(struct cgi_env *env, const struct http1_request *req, size_t first)
{
	struct http1_str name = req->headers[first].name;
	/* RFC 6265 §5.4: a user agent sends one Cookie, its pairs joined with "; " */
	const char *sep = http1_str_ieq(name, "Cookie") ? "; " : ", ";
	size_t sep_len = 2, name_len = 5 + name.len, value_len = 0;
	bool any = false;

	for (size_t i = first; i < req->num_headers; i++) {
		struct http1_str v = req->headers[i].value;
		if (!str_eq_nocase(req->headers[i].name, name))
			continue;
		if (v.len && memchr(v.p, '\0', v.len))
			return -1;
		value_len += (any ? sep_len : 0) + v.len;
		any = true;
	}
	size_t len = name_len + 1 + value_len;
	char *var = env_alloc(env, len + 1);
	if (!var)
		return -1;
	memcpy(var, "HTTP_", 5);
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (c == '-')
			c = '_';
		var[5 + i] = c;
	}
	char *out = var + name_len;
	*out++ = '=';
	any = false;
	for (size_t i = first; i < req->num_headers; i++) {
		struct http1_str v = req->headers[i].value;
		if (!str_eq_nocase(req->headers[i].name, name))
			continue;
		if (any) {
			memcpy(out, sep, sep_len);
			out += sep_len;
		}
		if (v.len)
			memcpy(out, v.p, v.len);
		out += v.len;
		any = true;
	}
	*out = '\0';
	return env_insert(env, var, name_len, len);
}

static int set_header_vars(struct cgi_env *env, const struct cgi_http_input *in)
{
	const struct http1_request *req = in->req;

	for (size_t i = 0; i < req->num_headers; i++) {
		if (!field_passed(in, req->headers[i].name) || seen_before(req, i))
			continue;
		if (set_http_var(env, req, i) < 0)
			return -1;
	}
	return 0;
}

int cgi_env_from_http(struct cgi_env *env, const struct cgi_http_input *in)
{
	if (set_server_vars(env, in) < 0 || set_client_vars(env, in) < 0 ||
	    set_request_vars(env, in) < 0 || set_header_vars(env, in) < 0)
		return -1;
	return 0;
}

/* ---- URL decoding and the ISINDEX command line -------------------------- */

ssize_t cgi_url_decode(char *dst, const char *src, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '%') {
			if (len - i < 3)
				return -1;
			int hi = hex_value((unsigned char)src[i + 1]);
			int lo = hex_value((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		dst[out++] = (char)c;
	}
	dst[out] = '\0';
	return (ssize_t)out;
}

void cgi_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static size_t count_words(const char *query, size_t len)
{
	size_t words = 1;
	for (size_t i = 0; i < len; i++)
		words += query[i] == '+';
	return words;
}

static char *decode_word(const char *word, size_t len)
{
	char *out = malloc(len + 1);
	if (out && cgi_url_decode(out, word, len) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

int cgi_isindex_argv(const char *query, size_t len, const char *argv0, char ***argv_out,
                     int max_args)
{
	*argv_out = NULL;
	if (len == 0 || memchr(query, '=', len))
		return 0;

	/* §4.4: a list the server cannot build whole is not built at all */
	size_t words = count_words(query, len);
	if (max_args < 0 || words > (size_t)max_args)
		return -1;
	char **argv = calloc(words + 2, sizeof *argv);
	if (!argv)
		return -1;
	argv[0] = strdup(argv0);
	if (!argv[0])
		goto fail;

	const char *p = query, *end = query + len;
	for (size_t n = 1; n <= words; n++) {
		const char *plus = memchr(p, '+', (size_t)(end - p));
		const char *stop = plus ? plus : end;
		argv[n] = decode_word(p, (size_t)(stop - p));
		if (!argv[n])
			goto fail;
		p = plus ? plus + 1 : end;
	}
	*argv_out = argv;
	return (int)words;
fail:
	cgi_argv_free(argv);
	return -1;
}
