/*
 * Logging in the manner of the OpenBSD daemons: to stderr in the
 * foreground, to syslog in the background.  log_debug prints only with -d.
 */

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
 * worth a line, but a caller in a loop must not flood the log, so at
 * most one a second, the next saying how many were left out.
 */
void
log_refused(const char *fmt, ...)
{
	static struct timespec	 last;
	static unsigned		 skipped;
	static int		 said;
	struct timespec		 now;
	va_list			 ap;
	char			 buf[512];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (said && (now.tv_sec - last.tv_sec) * 1000000000L +
	    (now.tv_nsec - last.tv_nsec) < 1000000000L) {
		skipped++;
		return;
	}
	last = now;
	said = 1;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (skipped > 0)
		log_info("%s (and %u more refused in the last second)", buf,
		    skipped);
	else
		log_info("%s", buf);
	skipped = 0;
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
