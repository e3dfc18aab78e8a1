/*
 * Logging in the manner of the OpenBSD daemons: to stderr in the
 * foreground, to syslog in the background.  log_debug prints only with -d.
 */

#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "ipcfs.h"

static int	log_foreground = 1;
static int	log_verbose;

static void	log_vwrite(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	log_errno(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Choose stderr or syslog, and whether debug lines are kept. */
void
log_init(int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog("ipcfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
log_vwrite(int pri, const char *fmt, va_list ap)
{
	if (log_foreground) {
		fprintf(stderr, "ipcfs: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		fflush(stderr);
	} else
		vsyslog(pri, fmt, ap);
}

static void
log_errno(int pri, const char *fmt, va_list ap)
{
	char	 buf[1024];
	int	 saved = errno;

	vsnprintf(buf, sizeof buf, fmt, ap);
	if (log_foreground)
		fprintf(stderr, "ipcfs: %s: %s\n", buf, strerror(saved));
	else
		syslog(pri, "%s: %s", buf, strerror(saved));
	errno = saved;
}

/* A warning, with the errno message appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* A warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* Something worth knowing in normal operation. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap);
	va_end(ap);
}

/*
 * A request refused for what its caller gave (a setting's value, say):
 * said at most once a second for each uid, so that one user in a loop
 * neither floods the log nor hides another's refusals.  The refusals a
 * uid made since its last line are counted in its next one.  The table
 * keeps the uids seen last; a new one takes the place of the one quiet
 * longest.
 */
#define REFUSERS	16

void
log_refused(uid_t uid, const char *fmt, ...)
{
	static struct {
		uid_t		 uid;
		int		 used;
		unsigned	 skipped;
		struct timespec	 last;
	}			 r[REFUSERS];
	struct timespec		 now;
	va_list			 ap;
	char			 buf[512];
	long long		 ns;
	int			 i, slot = -1, old = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < REFUSERS; i++) {
		if (r[i].used && r[i].uid == uid) {
			slot = i;
			break;
		}
		if (!r[i].used || (r[old].used &&
		    timespeccmp(&r[i].last, &r[old].last, <)))
			old = i;
	}
	if (slot == -1) {
		slot = old;
		r[slot].used = 1;
		r[slot].uid = uid;
		r[slot].skipped = 0;
	} else {
		ns = (now.tv_sec - r[slot].last.tv_sec) * 1000000000LL +
		    (now.tv_nsec - r[slot].last.tv_nsec);
		if (ns < 1000000000LL) {
			r[slot].skipped++;
			return;
		}
	}
	r[slot].last = now;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (r[slot].skipped > 0)
		log_info("uid %u: %s (and %u more of uid %u's refused since "
		    "its last line)", (unsigned)uid, buf, r[slot].skipped,
		    (unsigned)uid);
	else
		log_info("uid %u: %s", (unsigned)uid, buf);
	r[slot].skipped = 0;
}

/* Detail for -d. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

/* Die with the errno message appended. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Die. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
