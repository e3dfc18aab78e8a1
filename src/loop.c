/*
 * The daemon's loop: wait for the next request on /dev/fuse, read it and
 * have libfuse dispatch it to fs.c, until a signal or the unmount ends it.
 * main() runs it.
 *
 * A request that finds the daemon asleep waits for it to be woken, which
 * on virtual machines whose idle CPUs halt costs tens of microseconds.  So
 * the descriptor is non-blocking, and when no request is there the loop
 * polls it for the spin window (spin.c) before it sleeps in ppoll.  The
 * signals that stop the daemon are blocked from the last look at libfuse's
 * exit flag until ppoll lets them in, so one that comes in between ends the
 * sleep at once.  kfeat.c, below libfuse, only reads and amends what goes
 * over the wire.
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

static struct {
	struct fuse_session	*se;
	int			 fd;
	struct spin		 spin;
	sigset_t		 stopmask;	/* SIGHUP, SIGINT, SIGTERM */
	sigset_t		 waitmask;	/* the mask while asleep */
	struct fuse_buf		 buf;		/* loop_run's, being served */
} lp;

static uint64_t
loop_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec);
}

/*
 * Make the mounted session's descriptor non-blocking and set the spin
 * window to spin_us microseconds (none with one CPU to run on).
 */
int
loop_init(struct fuse_session *se, uint64_t spin_us)
{
	cpu_set_t	 cpus;
	int		 fl;

	lp.se = se;
	lp.fd = fuse_session_fd(se);
	/*
	 * Receive buffers are taken over by held writes and read histories
	 * (loop_adopt) and freed later: keep them on the heap, and freed
	 * ones there, so a new one costs no page faults.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
	/*
	 * With one CPU to run on, polling only keeps the caller it waits for
	 * off that CPU: measured, it made round trips 40% slower.
	 */
	if (spin_us > 0 && sched_getaffinity(0, sizeof cpus, &cpus) == 0 &&
	    CPU_COUNT(&cpus) < 2)
		spin_us = 0;
	spin_init(&lp.spin, spin_us * 1000);
	if ((fl = fcntl(lp.fd, F_GETFL)) == -1 ||
	    fcntl(lp.fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	sigemptyset(&lp.stopmask);
	sigaddset(&lp.stopmask, SIGHUP);
	sigaddset(&lp.stopmask, SIGINT);
	sigaddset(&lp.stopmask, SIGTERM);
	if (sigprocmask(SIG_SETMASK, NULL, &lp.waitmask) == -1)
		return (-1);
	sigdelset(&lp.waitmask, SIGHUP);
	sigdelset(&lp.waitmask, SIGINT);
	sigdelset(&lp.waitmask, SIGTERM);
	return (0);
}

/* Sleep until the descriptor is readable, or a stopping signal comes. */
static int
loop_sleep(void)
{
	struct pollfd	 pfd[2];
	sigset_t	 old;
	int		 r, saved;

	if (sigprocmask(SIG_BLOCK, &lp.stopmask, &old) == -1)
		return (-1);
	if (fuse_session_exited(lp.se)) {
		r = -1;
		saved = EINTR;
	} else {
		pfd[0].fd = lp.fd;
		pfd[0].events = POLLIN;
		/* The bridge's events, if it runs (bridge.c). */
		pfd[1].fd = bridge_fd();
		pfd[1].events = POLLIN;
		r = ppoll(pfd, pfd[1].fd == -1 ? 1 : 2, NULL, &lp.waitmask);
		saved = errno;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r > 0 && pfd[1].fd != -1 && (pfd[1].revents & POLLIN))
		bridge_dispatch();
	errno = saved;
	return (r == -1 ? -1 : 0);
}

/*
 * Receive the next request into buf: read at once if one is there, else
 * poll for the spin window, then sleep.  Returns its size, 0 once the
 * session has ended, or a negative errno.
 */
int
loop_next(struct fuse_buf *buf)
{
	uint64_t	 start = 0;
	int		 n, waited = 0, slept = 0;

	for (;;) {
		n = fuse_session_receive_buf(lp.se, buf);
		if (n != -EAGAIN && n != -EINTR)
			break;
		if (fuse_session_exited(lp.se))
			return (0);
		if (!waited) {
			waited = 1;
			start = lp.spin.max > 0 ? loop_now() : 0;
		}
		if (!slept && lp.spin.window > 0 &&
		    loop_now() - start < lp.spin.window)
			continue;
		slept = 1;
		if (loop_sleep() == -1 && errno != EINTR)
			return (-errno);
	}
	if (n <= 0)
		return (n);
	/* A request that was already queued says nothing of the window. */
	if (!waited)
		spin_ready(&lp.spin);
	else if (!slept)
		spin_caught(&lp.spin);
	else
		spin_woke(&lp.spin, lp.spin.max > 0 ? loop_now() - start : 0);
	return (n);
}

/*
 * Serve requests until a signal stops the daemon or the mount goes.
 * Returns 0, or -1 if reading /dev/fuse failed.
 */
int
loop_run(void)
{
	int	 n;

	memset(&lp.buf, 0, sizeof lp.buf);
	while ((n = loop_next(&lp.buf)) > 0) {
		fuse_session_process_buf(lp.se, &lp.buf);
		bridge_flush();
	}
	free(lp.buf.mem);
	lp.buf.mem = NULL;
	if (n < 0)
		log_warnx("%s: reading /dev/fuse: %s", __func__, strerror(-n));
	return (n < 0 ? -1 : 0);
}

/* The longest the daemon polls, in microseconds: 0 on one CPU. */
uint64_t
loop_spin_us(void)
{
	return (lp.spin.max / 1000);
}

/*
 * How many requests were read at once, how many polling found, and how
 * many woke the daemon.
 */
void
loop_spin_stats(uint64_t *ready, uint64_t *caught, uint64_t *slept)
{
	*ready = lp.spin.ready;
	*caught = lp.spin.caught;
	*slept = lp.spin.slept;
}

/*
 * Take over the buffer the request being served was read into, if p lies
 * in it and it is at most max bytes: returns its start (free() it) and
 * sets *size to its size; the next request is read into a new one.  A held
 * write keeps its bytes there instead of copying them (chan_write).  NULL
 * if p is elsewhere (a request read by main.c, or from a pipe).
 */
void *
loop_adopt(const void *p, size_t max, size_t *size)
{
	const char	*mem = lp.buf.mem;
	void		*ret;
	size_t		 len;

	if (mem == NULL || (lp.buf.flags & FUSE_BUF_IS_FD) ||
	    (const char *)p < mem)
		return (NULL);
	len = malloc_usable_size(lp.buf.mem);
	if ((const char *)p >= mem + len || len > max)
		return (NULL);
	ret = lp.buf.mem;
	lp.buf.mem = NULL;
	*size = len;
	return (ret);
}
