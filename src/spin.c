/*
 * How long the daemon polls /dev/fuse for its next request before it goes
 * to sleep.  A request that finds the daemon asleep pays for a wake-up,
 * which on a virtual machine whose idle CPUs halt costs tens of
 * microseconds, more than the request itself; one that finds it polling
 * is read at once.
 *
 * The window adapts as the kernel's haltpoll cpuidle governor does: it
 * grows while requests come soon after the daemon fell asleep, and
 * shrinks while they come so late that polling was wasted, down to none
 * at all on a quiet mount.  So polling costs CPU only while requests
 * come close together.
 */

#include <stdint.h>

#include "ipcfs.h"

void
spin_init(struct spin *s, uint64_t max_ns)
{
	s->max = max_ns;
	s->window = max_ns;
	s->ready = 0;
	s->caught = 0;
	s->slept = 0;
}

/* A request was there already, before any wait: nothing to learn. */
void
spin_ready(struct spin *s)
{
	s->ready++;
}

/* A request came while the daemon polled: the window was right. */
void
spin_caught(struct spin *s)
{
	s->caught++;
}

/*
 * The daemon slept and a request woke it waited_ns after it began to
 * wait.  A window as long as the maximum would have caught it: grow.
 * Otherwise the polling was for nothing: shrink.
 */
void
spin_woke(struct spin *s, uint64_t waited_ns)
{
	s->slept++;
	if (s->max == 0)
		return;
	if (waited_ns <= s->max) {
		if (s->window < SPIN_START_NS)
			s->window = SPIN_START_NS;
		else
			s->window *= 2;
		if (s->window > s->max)
			s->window = s->max;
	} else {
		s->window /= 2;
		if (s->window < SPIN_START_NS)
			s->window = 0;
	}
}
