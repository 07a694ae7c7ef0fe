#include "gatewayd/core/dispatchers.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gatewayd/core/server.h"

static struct dispatcher_slot *table;
static struct dispatcher_slot *self;
static int table_fd = -1;

/* One more slot past the last: the requests of dispatchers that are gone
 * (its requests) and one past the highest slot ever taken (its index), so
 * that a scan, which runs at every accepted connection, reads only those. */
#define TABLE_BYTES (sizeof(struct dispatcher_slot) * (DISPATCHERS_MAX + 1))
static struct dispatcher_slot *past_last(void)
{
	return &table[DISPATCHERS_MAX];
}

static int slots_used(void)
{
	unsigned n = past_last()->index;
	return n < DISPATCHERS_MAX ? (int)n : DISPATCHERS_MAX;
}

int dispatchers_create(void)
{
	int fd = memfd_create("gatewayd-dispatchers", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	void *p = MAP_FAILED;
	if (ftruncate(fd, (off_t)TABLE_BYTES) == 0)
		p = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	table = p;
	table_fd = fd;
	return fd;
}

struct dispatcher_slot *dispatchers_table(void)
{
	return table;
}

void dispatchers_take(int i)
{
	if ((unsigned)i >= past_last()->index)
		past_last()->index = (unsigned)i + 1;
}

void dispatchers_retire(int i)
{
	past_last()->requests += table[i].requests;
	table[i].requests = 0;
	table[i].connections = 0;
	table[i].pid = 0;
	table[i].bell_len = 0;
	table[i].state = DISPATCHER_FREE;
}

bool dispatchers_attach(void)
{
	const char *fd_s = getenv("GATEWAYD_STATS_FD"), *slot_s = getenv("GATEWAYD_SLOT");
	if (!fd_s || !slot_s)
		return false;
	int fd = atoi(fd_s);
	long slot = strtol(slot_s, NULL, 10);
	if (fd < 3 || slot < 0 || slot >= DISPATCHERS_MAX)
		return false;
	void *p = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return false;
	table = p;
	self = &table[slot];
	self->pid = (int)getpid();
	self->id_prefix = gw->id_prefix;
	return true;
}

struct dispatcher_slot *dispatcher_self(void)
{
	return self;
}

int dispatcher_index(void)
{
	return self ? (int)(self - table) : -1;
}

/* ---- the bell -------------------------------------------------------------- */

static int bell_fd = -1; /* ours (a dispatcher's), or the master's for ringing */
static ev_io bell_w;
static void (*bell_rang)(void);

static void on_bell(struct ev_loop *loop, ev_io *w, int revents)
{
	char b[16];
	while (recv(bell_fd, b, sizeof b, MSG_DONTWAIT) >= 0) {
	}
	bell_rang();
}

int dispatcher_bell_listen(struct ev_loop *loop, void (*rang)(void))
{
	if (!self)
		return -ENOENT;
	if (bell_fd >= 0)
		return 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* An address of the family alone: the kernel picks an abstract name. */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	if (bind(fd, (struct sockaddr *)&a, len) < 0 ||
	    (len = sizeof a, getsockname(fd, (struct sockaddr *)&a, &len)) < 0 ||
	    len <= sizeof(sa_family_t) || len - sizeof(sa_family_t) > sizeof self->bell) {
		int e = errno ? errno : EINVAL;
		close(fd);
		return -e;
	}
	memcpy(self->bell, a.sun_path, len - sizeof(sa_family_t));
	atomic_store(&self->bell_len, (unsigned)(len - sizeof(sa_family_t)));
	bell_fd = fd;
	bell_rang = rang;
	ev_io_init(&bell_w, on_bell, fd, EV_READ);
	ev_io_start(loop, &bell_w);
	ev_unref(loop); /* the bell alone keeps no loop running */
	return 0;
}

void dispatchers_ring(int slot)
{
	if (!table || slot < 0 || slot >= DISPATCHERS_MAX)
		return;
	unsigned len = atomic_load(&table[slot].bell_len);
	if (!len || len > sizeof table[slot].bell)
		return;
	if (bell_fd < 0)
		bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	memcpy(a.sun_path, table[slot].bell, len);
	/* A full queue already holds a ring: nothing is lost by dropping this. */
	(void)sendto(bell_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a,
	             (socklen_t)(sizeof(sa_family_t) + len));
}

/* How many connections more than the least-loaded dispatcher one may hold
 * before it leaves the next one to the others. */
#define ACCEPT_SLACK 1

void dispatcher_publish(void)
{
	if (!self)
		return;
	self->connections = gw->nconns;
	self->requests = gw->requests;
}

bool dispatcher_ahead(void)
{
	if (!self)
		return false;
	uint64_t mine = (uint64_t)gw->nconns;
	self->connections = mine;
	unsigned gen = self->generation;
	for (int i = 0, n = slots_used(); i < n; i++) {
		const struct dispatcher_slot *d = &table[i];
		if (d != self && d->state == DISPATCHER_READY && d->generation == gen &&
		    d->connections + ACCEPT_SLACK < mine)
			return true;
	}
	return false;
}

void dispatchers_totals(uint64_t *connections, uint64_t *requests)
{
	*connections = gw->nconns;
	*requests = gw->requests;
	if (!table)
		return;
	dispatcher_publish();
	*connections = 0;
	*requests = past_last()->requests;
	for (int i = 0, n = slots_used(); i < n; i++) {
		if (table[i].state == DISPATCHER_FREE)
			continue;
		*connections += table[i].connections;
		*requests += table[i].requests;
	}
}

static const char *const state_names[] = { "free", "starting", "ready", "draining" };

/* user+system CPU of pid from /proc (readable whoever runs it), in seconds. */
static double cpu_seconds(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* past the command name, which may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

json_t *dispatchers_json(void)
{
	if (!self)
		return NULL;
	dispatcher_publish();
	json_t *a = json_array();
	for (int i = 0, n = slots_used(); i < n; i++) {
		const struct dispatcher_slot *d = &table[i];
		int state = d->state;
		if (state == DISPATCHER_FREE || state < 0 || state > DISPATCHER_DRAINING)
			continue;
		char prefix[16];
		snprintf(prefix, sizeof prefix, "%08x", (unsigned)d->id_prefix);
		json_array_append_new(
		        a, json_pack("{s:i, s:i, s:i, s:s, s:b, s:s, s:I, s:I, s:f}", "index",
		                     (int)d->index, "generation", (int)d->generation, "pid",
		                     (int)d->pid, "state", state_names[state], "self", d == self,
		                     "id_prefix", prefix, "connections", (json_int_t)d->connections,
		                     "requests", (json_int_t)d->requests, "cpu_seconds",
		                     cpu_seconds(d->pid)));
	}
	return a;
}

void dispatchers_prometheus(FILE *f)
{
	if (!self)
		return;
	dispatcher_publish();
	fprintf(f, "# HELP gatewayd_dispatcher_requests_total Requests a dispatcher received.\n"
	           "# TYPE gatewayd_dispatcher_requests_total counter\n");
	for (int i = 0, n = slots_used(); i < n; i++)
		if (table[i].state != DISPATCHER_FREE)
			fprintf(f,
			        "gatewayd_dispatcher_requests_total{pid=\"%d\",index=\"%u\"} %llu\n",
			        (int)table[i].pid, (unsigned)table[i].index,
			        (unsigned long long)table[i].requests);
	fprintf(f, "# HELP gatewayd_dispatcher_connections Open connections of a dispatcher.\n"
	           "# TYPE gatewayd_dispatcher_connections gauge\n");
	for (int i = 0, n = slots_used(); i < n; i++)
		if (table[i].state != DISPATCHER_FREE)
			fprintf(f,
			        "gatewayd_dispatcher_connections{pid=\"%d\",index=\"%u\"} %llu\n",
			        (int)table[i].pid, (unsigned)table[i].index,
			        (unsigned long long)table[i].connections);
}
