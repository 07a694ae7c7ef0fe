/* Running a libev loop in a unit test until something holds, bounded in time:
 * a 10 ms tick keeps ev_run from blocking longer than that between checks. */
#ifndef GW_TEST_LOOP_H
#define GW_TEST_LOOP_H

#include <ev.h>
#include <stdbool.h>

static void test_loop_tick(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)l;
	(void)t;
	(void)revents;
}

/* Run loop until cond() holds or seconds pass; cond()'s last answer. */
static inline bool test_loop_until(struct ev_loop *loop, bool (*cond)(void), double seconds)
{
	ev_timer tick;
	ev_timer_init(&tick, test_loop_tick, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	ev_tstamp until = ev_time() + seconds;
	while (!cond() && ev_time() < until)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
	return cond();
}

#endif
