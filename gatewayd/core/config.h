/* The JSON configuration: parsed with jansson, checked completely, then frozen.
 * Syntax errors name file:line:column; meaning errors name the JSON path. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/trust.h"

/* LISTEN_AGENT: HAProxy's agent-check, one line per connection (front/agent.c). */
enum listen_proto { LISTEN_HTTP, LISTEN_FASTCGI, LISTEN_UWSGI, LISTEN_AGENT };

/* limits.per_client: one client address's share (core/client_limits.c). */
struct per_client_cfg {
	unsigned connections; /* HTTP connections open at once; 0: no limit */
	double requests_per_second; /* 0: no limit */
	unsigned burst; /* requests at once: the token bucket's size */
	unsigned ipv6_prefix; /* an IPv6 client is its first this many bits */
	unsigned clients; /* client addresses remembered at once */
};

struct listen_cfg {
	enum listen_proto proto;
	char *host; /* numeric address; NULL for a unix socket */
	char *port;
	char *unix_path; /* "unix:/path" */
	char *owner; /* unix socket: chown to this user and group, chmod to mode */
	char *group;
	int mode; /* -1: leave as created */
	bool fcgi_stderr; /* FastCGI: also send script stderr as FCGI_STDERR */
	bool proxy_protocol; /* HTTP: a PROXY protocol header (v1 or v2) comes first */
};

/* Who a script or worker runs as: names as written, ids resolved on load. */
struct identity_cfg {
	char *user; /* NULL: the enclosing one's (a route's: the top level's) */
	char *group; /* NULL: the user's primary group */
	bool set; /* user or group named here or above */
	uid_t uid;
	gid_t gid;
};

/* The sandbox a script or worker starts in (spawner/sandbox.h applies it):
 * the top level's "sandbox" is the default, a route's or pool's overrides
 * key by key. 0: no limit. */
struct sandbox_cfg {
	bool no_new_privs;
	int umask; /* -1: inherited */
	uint64_t cpu; /* seconds */
	uint64_t memory; /* bytes: the cgroup's memory.max where one is, else RLIMIT_AS */
	uint64_t processes; /* the cgroup's pids.max where one is, else RLIMIT_NPROC */
	uint64_t file_size;
	uint64_t open_files;
	bool cgroup; /* a cgroup per child where the host has one to give */
	bool seccomp; /* spawner/seccomp.h's deny-list */
};

enum match_kind { MATCH_PREFIX, MATCH_EXACT, MATCH_SUFFIX };
enum route_kind { ROUTE_CGI, ROUTE_STATIC, ROUTE_POOL, ROUTE_STATUS, ROUTE_HEALTH };

enum pool_protocol { POOL_FASTCGI, POOL_UWSGI };
enum pool_mode { POOL_STATIC, POOL_DYNAMIC, POOL_ONDEMAND };

struct pool_cfg {
	char *name;
	enum pool_protocol protocol;
	char **command; /* argv; command[0] resolved to a path; NULL for external */
	size_t ncommand;
	char **env; /* "NAME=value": the whole environment of a worker */
	size_t nenv;
	char *cwd;
	struct identity_cfg id; /* user, group */
	struct sandbox_cfg sandbox;
	enum pool_mode mode;
	int processes; /* static: the count; dynamic: how many at start */
	int min_spare;
	int max_spare;
	int max_processes;
	double idle_timeout; /* ondemand: an idle worker stops after this */
	unsigned max_requests; /* 0: never recycled */
	uint64_t max_rss; /* bytes: a worker past it is recycled; 0: never */
	double request_timeout;
	int queue;
	double queue_timeout;
	int stop_signal;
	char **addresses; /* external pool: "host:port" or "unix:/path"; nothing spawned */
	size_t naddresses;
	int connections; /* external pool: connections per address */
	void *state; /* runtime (struct pool), not config */
};

struct cgi_cfg {
	char *root; /* absolute, resolved; NULL with userdir */
	char *userdir; /* "/~NAME/..." runs under NAME's home + this, as NAME */
	double timeout; /* seconds until SIGTERM to the script's group */
	double kill_grace; /* seconds from SIGTERM to SIGKILL */
	int max_children;
	int queue; /* waiting requests past max_children */
	double queue_timeout;
	bool pass_authorization;
	char **env; /* "NAME=value" added to every script's environment */
	size_t nenv;
	struct identity_cfg id; /* user, group */
	struct sandbox_cfg sandbox;
};

struct static_cfg {
	char *root;
	char **index;
	size_t nindex;
};

struct route_cfg {
	char *match; /* as written */
	enum match_kind match_kind;
	const char *match_text; /* the prefix, exact path or suffix */
	char **hosts; /* virtual hosts: names or "*.suffix" patterns; none: any host */
	size_t nhosts;
	enum route_kind kind;
	uint64_t max_body;
	struct cgi_cfg cgi;
	struct static_cfg stat;
	struct pool_cfg *pool; /* ROUTE_POOL */
	char *pool_root; /* ROUTE_POOL: scripts' directory (SCRIPT_FILENAME), or NULL */
	void *state; /* the handler's runtime state for this route (not config) */
};

/* With "dispatchers" above 1: the most workers a spawned pool may have, and
 * the most such pools (upstream/pool_board.h's room: one entry per pool and
 * generation, two generations during a reload). */
#define SHARED_POOL_WORKERS 128
#define SHARED_POOLS 32

struct config {
	int refs; /* gw->cfg holds one; so does each request, cgi job and pool using it */
	char *path;
	char *text; /* the bytes it was read from (a master hands them to its dispatchers) */
	size_t text_len;
	struct listen_cfg *listen;
	size_t nlisten;
	struct route_cfg *routes;
	size_t nroutes;
	struct pool_cfg *pools;
	size_t npools;
	struct {
		bool enabled;
		bool loopback_only; /* GET /_gatewayd/status from loopback clients only */
		bool health_loopback_only; /* the same for /_gatewayd/live and /_gatewayd/ready */
	} status;
	char *server_name;
	char *document_root;
	char *error_log; /* "-": stderr */
	char *access_log; /* NULL: none */
	enum log_level log_level;
	enum log_format log_format; /* LOG_TEXT unless "log": {"format": "json"} */
	size_t max_connections;
	int dispatchers; /* processes serving requests (core/master.c when above 1) */
	struct {
		size_t request_line;
		size_t head;
		size_t headers;
		uint64_t body; /* default for routes */
		size_t body_memory; /* a chunked body past this spools to a file */
		struct per_client_cfg per_client;
	} limits;
	struct {
		double header;
		double body;
		double keepalive;
		double send;
		double shutdown;
	} timeouts;
	int max_redirects;
	char *temp_dir;
	struct identity_cfg id; /* the top level's user and group: the dispatcher's */
	uid_t min_uid; /* no script or worker runs below these (root only with "user": "root") */
	gid_t min_gid;
	struct sandbox_cfg sandbox; /* the default */
	struct cidr *trusted; /* trusted_proxies (core/trust.h) */
	size_t ntrusted;
};

/* Whether cfg may run as this process (euid): 0; 1 with a warning in msg
 * ("user": "root"); -1 with the error and its fix in msg (started as root with
 * no "user"; a user named that needs root). */
int config_check_identity(const struct config *cfg, uid_t euid, char *msg, size_t msglen);

/* Load and check path. On failure returns NULL and writes one line, e.g.
 * "etc/gw.json:3:14: ..." or "etc/gw.json: routes[1].cgi.root: no such directory ...",
 * into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* The same from the bytes in fd (read from its start) rather than the file
 * at path, which still names it: its folder is where relative paths start.
 * A master's dispatcher runs on the bytes the master read, whatever the
 * file holds by then. */
struct config *config_load_fd(const char *path, int fd, char *err, size_t errlen);
void config_free(struct config *cfg);
/* A reload keeps the old generation alive while anything still uses it. */
struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);

#endif
