/* A real spawner (spawner/service.c) for the unit tests of what asks it: a
 * policy that runs argv for the one pool named, and refuses anything else. */
#ifndef GW_TEST_SPAWNER_H
#define GW_TEST_SPAWNER_H

#include <ev.h>
#include <sys/types.h>

/* Fork it (argv must outlive it: the child keeps a copy of the pointers) and
 * point spawner/client.c at it. */
void test_spawner_start(struct ev_loop *loop, const char *pool, char *const *argv);
/* Hang up (it kills what is left and exits) and reap it. */
void test_spawner_stop(void);

#endif
