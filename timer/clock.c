/*
 * clock.c - the public clock API (weft/time.h): a runtime's clock read,
 * paused, resumed and advanced. The clock lives in the runtime's time
 * driver (timer.c); this file finds it from the runtime and, after a
 * change, unparks the driver so a thread parked towards a deadline
 * computed on the old clock recomputes its timeout.
 */
#include "time_driver.h"
#include "sched_api.h"

#include <errno.h>

#include <weft/time.h>

weft_instant weft_now(weft_runtime *rt)
{
	if (!rt)
		return 0;
	return weft__time_now(weft__runtime_time(rt));
}

int weft_time_pause(weft_runtime *rt)
{
	if (!rt)
		return -EINVAL;
	int rc = weft__time_pause(weft__runtime_time(rt));
	/* The driver may sleep towards a real-time deadline: let it see
	 * the paused clock now. */
	if (rc == 0)
		weft__runtime_unpark_driver(rt);
	return rc;
}

int weft_time_resume(weft_runtime *rt)
{
	if (!rt)
		return -EINVAL;
	int rc = weft__time_resume(weft__runtime_time(rt));
	if (rc == 0)
		weft__runtime_unpark_driver(rt);
	return rc;
}

int weft_time_advance(weft_runtime *rt, uint64_t ns)
{
	if (!rt)
		return -EINVAL;
	int rc = weft__time_advance(weft__runtime_time(rt), ns);
	if (rc < 0)
		return rc;
	/* Wake the driver so a thread parked towards a later deadline
	 * recomputes its timeout. */
	weft__runtime_unpark_driver(rt);
	return 0;
}
