#include "test/test_spawner.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "spawner/client.h"
#include "spawner/service.h"

static const char *pool_name;
static char *const *worker_argv;
static char *no_env[] = { NULL };
static pid_t spawner;

static int plan(const struct spawn_msg *m, struct spawn_plan *p)
{
	if (m->type != SPAWN_MSG_WORKER || strcmp(m->pool, pool_name) != 0) {
		p->check = 1;
		snprintf(p->why, sizeof p->why, "not pool %s", pool_name);
		return -EACCES;
	}
	snprintf(p->path, sizeof p->path, "%s", worker_argv[0]);
	p->spec.path = p->path;
	p->spec.argv = worker_argv;
	p->spec.envp = no_env;
	p->spec.new_process_group = true;
	p->spec.die_with_parent = true;
	p->sandbox.umask = -1;
	return 0;
}

static const struct spawn_policy policy = {
	.plan = plan,
};

void test_spawner_start(struct ev_loop *loop, const char *pool, char *const *argv)
{
	pool_name = pool;
	worker_argv = argv;
	int req, ev;
	spawner = spawner_fork(&policy, NULL, 0, &req, &ev);
	cr_assert_gt(spawner, 0, "spawner: %s", strerror((int)-spawner));
	spawn_client_init(loop, req, ev, NULL);
}

void test_spawner_stop(void)
{
	if (spawner <= 0)
		return;
	spawn_client_close();
	cr_expect_eq(waitpid(spawner, NULL, 0), spawner);
	spawner = 0;
}
