/*
 * chanio: an exact driver for ipcfs channels, for the integration tests.
 * It does what a shell cannot say precisely: one read or write at a time
 * with its count or errno name, non-blocking fills, poll, select and epoll
 * readiness, calls that must block (run in a child and watched through a
 * pipe), signals at a blocked call, and a many-writer, many-reader record
 * mover that checks every record.
 *
 * usage:
 *	chanio [-t secs] op args ... [op args ...]
 *	chanio [-t secs] records [-N] [-p every] [-w writers] [-r readers]
 *	    [-n records] [-s size] path
 *	chanio [-t secs] waitblocked pid read|write|any
 *
 * A script is a list of operations run in order; it is checked whole
 * before the first one runs.  open gives a descriptor a NAME by which
 * later operations refer to it.  Every operation prints exactly one line,
 * "op NAME: result", where the result is a count, "ok", readiness or an
 * errno name such as EAGAIN; operations on paths print "op: result".  The
 * exceptions are sleep, alarm, bg and kill, which print nothing.  The exit
 * status is 0 when the script ran to its end, whatever the results, 2 for
 * a usage error and 3 when the time limit (-t: 30 s by default for a
 * script, 120 s for records, 10 s for waitblocked) ran out.
 *
 *	open NAME PATH MODE	MODE is r, w or rw followed by any of n
 *				(O_NONBLOCK), c (O_CREAT, 0666 less umask),
 *				x (O_EXCL), t (O_TRUNC), a (O_APPEND)
 *	close NAME
 *	nonblock NAME 0|1	clear or set O_NONBLOCK
 *	write NAME TEXT		one write(2); TEXT takes \n \t \\ \xHH
 *	writen NAME N		one write(2) of N pattern bytes
 *	fill NAME CHUNK		write(2) CHUNK pattern bytes at a time until
 *				a call fails; prints the total and the errno
 *	read NAME N		one read(2); shows up to 64 bytes of data
 *	readn NAME N		read(2) until N bytes, end of file or an
 *				error, checking the pattern
 *	drain NAME		readn with no limit
 *	pread NAME N OFF	pread(2)
 *	pwrite NAME TEXT OFF	pwrite(2)
 *	lseek NAME OFF		lseek(2) with SEEK_SET
 *	pos NAME		the file position in /proc/self/fdinfo
 *	fstat NAME		type, permissions, link count and size
 *	poll NAME EV MS		poll(2) for EV (in, out, inout or none);
 *				prints IN OUT HUP ERR as set, or timeout
 *	select NAME r|w|rw MS	select(2); prints r and w as ready
 *	epoll NAME EV MS	one epoll_wait(2), events as for poll
 *	idle NAME EV MS PID	poll(2) must time out after MS, and neither
 *				this process nor PID (0 for none) may use
 *				more than a quarter of MS of CPU meanwhile:
 *				prints ok, or what went wrong
 *	sleep MS
 *	alarm MS		SIGALRM after MS
 *	bg ID OP ARGS...	run OP in a child; join prints its line
 *	blocked ID MS		"yes" if ID has not finished after MS
 *	waitblocked ID		"yes" once ID sleeps in a FUSE request in
 *				read(2) or write(2) (its request has reached
 *				the daemon), "no" and its line if it ends
 *	join ID			wait for ID; print its line, or how it died
 *	kill ID SIG		SIG is INT, TERM, KILL, USR1 or ALRM
 *	mknod PATH TYPE		TYPE is reg, fifo, chr, blk or sock
 *	symlink TARGET PATH
 *	link OLD NEW
 *	bind PATH		bind a Unix stream socket to PATH
 *	unlink PATH
 *	rename OLD NEW
 *
 * Pattern bytes depend on their position in the stream: each descriptor
 * counts what it wrote with writen and fill and what it read with read,
 * readn and drain, so a reader can check what one writer sent.  A child
 * started by bg works on copies of the counters.  SIGUSR1 and SIGALRM have
 * a handler installed without SA_RESTART, so they interrupt a blocked call
 * with EINTR; a write that raised SIGPIPE says so after its result.  A bg
 * child keeps only the descriptor its operation names, so closing the
 * others in the parent really closes them.
 *
 * records: readers open PATH, then writers open it, then each writer
 * writes its share of the records, one write(2) each.  A record carries
 * its writer, sequence number and number, a checksum and a payload made
 * from its number; readers read one record per read(2).  Every record must
 * arrive exactly once, whole and intact, and each writer's records must
 * reach each reader in order.  With -N the writers do not block: on
 * EAGAIN they poll for POLLOUT and try again, and a record written only
 * in part breaks the atomicity of writes up to 4096 bytes.  With -p,
 * readers pause for a millisecond after every so many records, so the
 * channel runs full and writes meet too little room.  Exit 0 if all is
 * well, else 1 with the reasons.
 *
 * waitblocked: wait until process PID sleeps in a FUSE request inside the
 * given system call (seen twice, 20 ms apart).  Exit 0, or 1 if it exits
 * or the time limit runs out.
 */

#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXFDS		32
#define MAXJOBS		32
#define NAMELEN		32
#define LINELEN		512
#define SHOWMAX		64
#define CHUNK		65536
#define FILL_LIMIT	((uint64_t)1 << 30)

struct fdent {
	char		 name[NAMELEN];
	int		 fd;
	uint64_t	 wpos;		/* pattern bytes written */
	uint64_t	 rpos;		/* bytes read */
};

struct job {
	char		 id[NAMELEN];
	pid_t		 pid;
	int		 pfd;		/* read end of the child's line */
	char		 line[LINELEN];
	size_t		 len;
	int		 eof;
	int		 reaped;
	int		 status;
};

struct op {
	const char	*name;
	int		 nargs;
	int		 fdarg;		/* which argument names a descriptor */
	int		 opens;		/* 1 if it gives that name */
	void		(*fn)(char **);
};

static struct fdent	 fds[MAXFDS];
static int		 nfds;
static struct job	 jobs[MAXJOBS];
static int		 njobs;
static FILE		*out;
static const char	*progname = "chanio";
static volatile sig_atomic_t got_sigpipe;
static volatile sig_atomic_t got_signal;
static volatile const char *cur_op = "start";
static int		 timeout_secs = -1;	/* -t, or a default */
static struct timespec	 deadline;	/* of the time limit */
static int		 is_child;

static void	op_open(char **);
static void	op_close(char **);
static void	op_nonblock(char **);
static void	op_write(char **);
static void	op_writen(char **);
static void	op_fill(char **);
static void	op_read(char **);
static void	op_readn(char **);
static void	op_drain(char **);
static void	op_pread(char **);
static void	op_pwrite(char **);
static void	op_lseek(char **);
static void	op_pos(char **);
static void	op_fstat(char **);
static void	op_poll(char **);
static void	op_select(char **);
static void	op_epoll(char **);
static void	op_idle(char **);
static void	op_sleep(char **);
static void	op_alarm(char **);
static void	op_blocked(char **);
static void	op_waitblocked(char **);
static void	op_join(char **);
static void	op_kill(char **);
static void	op_mknod(char **);
static void	op_symlink(char **);
static void	op_link(char **);
static void	op_bind(char **);
static void	op_unlink(char **);
static void	op_rename(char **);
static void	guard_arm(void);
static long	proc_syscall(pid_t);
static int	proc_in_fuse(pid_t);

static const struct op ops[] = {
	{ "open",	3, 0, 1, op_open },
	{ "close",	1, 0, 0, op_close },
	{ "nonblock",	2, 0, 0, op_nonblock },
	{ "write",	2, 0, 0, op_write },
	{ "writen",	2, 0, 0, op_writen },
	{ "fill",	2, 0, 0, op_fill },
	{ "read",	2, 0, 0, op_read },
	{ "readn",	2, 0, 0, op_readn },
	{ "drain",	1, 0, 0, op_drain },
	{ "pread",	3, 0, 0, op_pread },
	{ "pwrite",	3, 0, 0, op_pwrite },
	{ "lseek",	2, 0, 0, op_lseek },
	{ "pos",	1, 0, 0, op_pos },
	{ "fstat",	1, 0, 0, op_fstat },
	{ "poll",	3, 0, 0, op_poll },
	{ "select",	3, 0, 0, op_select },
	{ "epoll",	3, 0, 0, op_epoll },
	{ "idle",	4, 0, 0, op_idle },
	{ "sleep",	1, -1, 0, op_sleep },
	{ "alarm",	1, -1, 0, op_alarm },
	{ "bg",		2, -1, 0, NULL },
	{ "blocked",	2, -1, 0, op_blocked },
	{ "waitblocked", 1, -1, 0, op_waitblocked },
	{ "join",	1, -1, 0, op_join },
	{ "kill",	2, -1, 0, op_kill },
	{ "mknod",	2, -1, 0, op_mknod },
	{ "symlink",	2, -1, 0, op_symlink },
	{ "link",	2, -1, 0, op_link },
	{ "bind",	1, -1, 0, op_bind },
	{ "unlink",	1, -1, 0, op_unlink },
	{ "rename",	2, -1, 0, op_rename },
};

/* Report a usage error and exit 2. */
__attribute__((noreturn, format(printf, 1, 2)))
static void
usage_err(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

/* Report a broken helper (not a test result) and exit 2. */
__attribute__((noreturn, format(printf, 1, 2)))
static void
die(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(saved));
	exit(2);
}

/* Print one result line and flush it, so a child's line is never lost. */
__attribute__((format(printf, 1, 2)))
static void
say(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}

/* The symbolic name of an errno value, such as "EAGAIN". */
static const char *
ename(int e)
{
	static char	 buf[32];
	const char	*s;

	if ((s = strerrorname_np(e)) != NULL)
		return (s);
	snprintf(buf, sizeof buf, "E%d", e);
	return (buf);
}

/* A strictly parsed non-negative number. */
static long long
num(const char *s)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0)
		usage_err("bad number '%s'", s);
	return (v);
}

/* The pattern byte at stream position i: a hash, so shifts show. */
static unsigned char
pat(uint64_t i)
{
	uint32_t	 x = (uint32_t)(i ^ (i >> 32));

	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return (x & 0xff);
}

static void
pat_fill(unsigned char *p, size_t n, uint64_t from)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = pat(from + i);
}

/* Decode \n, \t, \\ and \xHH in s into buf; returns the length. */
static size_t
unescape(const char *s, char *buf, size_t size)
{
	size_t		 n = 0;
	unsigned int	 v;

	while (*s != '\0') {
		if (n == size)
			usage_err("text too long");
		if (*s != '\\') {
			buf[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n':
			buf[n++] = '\n';
			s++;
			break;
		case 't':
			buf[n++] = '\t';
			s++;
			break;
		case '\\':
			buf[n++] = '\\';
			s++;
			break;
		case 'x':
			if (sscanf(s + 1, "%2x", &v) != 1)
				usage_err("bad \\x escape");
			buf[n++] = (char)v;
			s += 3;
			break;
		default:
			usage_err("bad escape \\%c", *s);
		}
	}
	return (n);
}

/* Show up to SHOWMAX bytes of p in quotes, escaped as unescape reads. */
static const char *
show(const char *p, size_t n)
{
	static char	 buf[SHOWMAX * 4 + 8];
	size_t		 i, len = 0;
	unsigned char	 ch;

	buf[len++] = '"';
	for (i = 0; i < n && i < SHOWMAX; i++) {
		ch = p[i];
		if (ch == '\n')
			len += sprintf(buf + len, "\\n");
		else if (ch == '\t')
			len += sprintf(buf + len, "\\t");
		else if (ch == '\\' || ch == '"')
			len += sprintf(buf + len, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			buf[len++] = ch;
		else
			len += sprintf(buf + len, "\\x%02x", ch);
	}
	buf[len++] = '"';
	if (n > SHOWMAX)
		len += sprintf(buf + len, "...");
	buf[len] = '\0';
	return (buf);
}

static struct fdent *
fd_find(const char *name)
{
	int	 i;

	for (i = 0; i < nfds; i++)
		if (strcmp(fds[i].name, name) == 0)
			return (&fds[i]);
	return (NULL);
}

/* The descriptor called name; the script check made sure it exists. */
static struct fdent *
fd_get(const char *name)
{
	struct fdent	*f;

	if ((f = fd_find(name)) == NULL)
		usage_err("no descriptor called '%s'", name);
	return (f);
}

static struct job *
job_find(const char *id)
{
	int	 i;

	for (i = 0; i < njobs; i++)
		if (strcmp(jobs[i].id, id) == 0)
			return (&jobs[i]);
	return (NULL);
}

/* Print "op name: count" or "op name: ERRNO" for a call's result. */
static void
result(const char *op, const struct fdent *f, ssize_t n, int e)
{
	if (n == -1)
		say("%s %s: %s%s", op, f->name, ename(e),
		    got_sigpipe ? " SIGPIPE" : "");
	else
		say("%s %s: %zd%s", op, f->name, n,
		    got_sigpipe ? " SIGPIPE" : "");
}

static void
op_open(char **av)
{
	struct fdent	*f;
	const char	*m = av[2];
	int		 flags;

	if (strncmp(m, "rw", 2) == 0) {
		flags = O_RDWR;
		m += 2;
	} else if (*m == 'r') {
		flags = O_RDONLY;
		m++;
	} else if (*m == 'w') {
		flags = O_WRONLY;
		m++;
	} else
		usage_err("bad open mode '%s'", av[2]);
	for (; *m != '\0'; m++) {
		switch (*m) {
		case 'n':
			flags |= O_NONBLOCK;
			break;
		case 'c':
			flags |= O_CREAT;
			break;
		case 'x':
			flags |= O_EXCL;
			break;
		case 't':
			flags |= O_TRUNC;
			break;
		case 'a':
			flags |= O_APPEND;
			break;
		default:
			usage_err("bad open mode '%s'", av[2]);
		}
	}
	f = fd_get(av[0]);
	if (f->fd != -1)
		close(f->fd);
	f->wpos = f->rpos = 0;
	if ((f->fd = open(av[1], flags, 0666)) == -1)
		say("open %s: %s", f->name, ename(errno));
	else
		say("open %s: ok", f->name);
}

static void
op_close(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	int		 r;

	r = close(f->fd);
	f->fd = -1;
	if (r == -1)
		say("close %s: %s", f->name, ename(errno));
	else
		say("close %s: ok", f->name);
}

static void
op_nonblock(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	int		 fl;

	if ((fl = fcntl(f->fd, F_GETFL)) == -1 ||
	    fcntl(f->fd, F_SETFL, num(av[1]) ? fl | O_NONBLOCK :
	    fl & ~O_NONBLOCK) == -1)
		say("nonblock %s: %s", f->name, ename(errno));
	else
		say("nonblock %s: ok", f->name);
}

static void
op_write(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	char		 buf[8192];
	size_t		 len;
	ssize_t		 n;

	len = unescape(av[1], buf, sizeof buf);
	got_sigpipe = 0;
	n = write(f->fd, buf, len);
	result("write", f, n, errno);
}

static void
op_writen(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	size_t		 len = num(av[1]);
	unsigned char	*buf;
	ssize_t		 n;
	int		 e;

	if ((buf = malloc(len == 0 ? 1 : len)) == NULL)
		die("malloc");
	pat_fill(buf, len, f->wpos);
	got_sigpipe = 0;
	n = write(f->fd, buf, len);
	e = errno;
	if (n > 0)
		f->wpos += n;
	result("writen", f, n, e);
	free(buf);
}

static void
op_fill(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	size_t		 chunk = num(av[1]);
	unsigned char	*buf;
	uint64_t	 total = 0;
	ssize_t		 n;

	if (chunk == 0)
		usage_err("fill: chunk must not be 0");
	if ((buf = malloc(chunk)) == NULL)
		die("malloc");
	got_sigpipe = 0;
	for (;;) {
		if (total >= FILL_LIMIT) {
			say("fill %s: %llu no end", f->name,
			    (unsigned long long)total);
			break;
		}
		pat_fill(buf, chunk, f->wpos);
		n = write(f->fd, buf, chunk);
		if (n == -1) {
			say("fill %s: %llu %s%s", f->name,
			    (unsigned long long)total, ename(errno),
			    got_sigpipe ? " SIGPIPE" : "");
			break;
		}
		if (n == 0) {
			say("fill %s: %llu zero", f->name,
			    (unsigned long long)total);
			break;
		}
		total += n;
		f->wpos += n;
	}
	free(buf);
}

static void
op_read(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	size_t		 len = num(av[1]);
	char		*buf;
	ssize_t		 n;

	if ((buf = malloc(len == 0 ? 1 : len)) == NULL)
		die("malloc");
	n = read(f->fd, buf, len);
	if (n == -1)
		say("read %s: %s", f->name, ename(errno));
	else {
		f->rpos += n;
		say("read %s: %zd %s", f->name, n, show(buf, n));
	}
	free(buf);
}

/* Read up to want bytes, checking them against the pattern. */
static void
readn(const char *op, struct fdent *f, uint64_t want)
{
	unsigned char	*buf;
	uint64_t	 total = 0, bad = 0;
	ssize_t		 n, i;
	int		 isbad = 0;
	const char	*end = NULL;

	if ((buf = malloc(CHUNK)) == NULL)
		die("malloc");
	while (total < want) {
		n = read(f->fd, buf, want - total < CHUNK ? want - total :
		    CHUNK);
		if (n == -1) {
			end = ename(errno);
			break;
		}
		if (n == 0) {
			end = "eof";
			break;
		}
		for (i = 0; i < n && !isbad; i++) {
			if (buf[i] != pat(f->rpos + i)) {
				isbad = 1;
				bad = total + i;
			}
		}
		total += n;
		f->rpos += n;
	}
	free(buf);
	if (isbad)
		say("%s %s: %llu bad@%llu%s%s", op, f->name,
		    (unsigned long long)total, (unsigned long long)bad,
		    end != NULL ? " " : "", end != NULL ? end : "");
	else
		say("%s %s: %llu ok%s%s", op, f->name,
		    (unsigned long long)total, end != NULL ? " " : "",
		    end != NULL ? end : "");
}

static void
op_readn(char **av)
{
	readn("readn", fd_get(av[0]), num(av[1]));
}

static void
op_drain(char **av)
{
	readn("drain", fd_get(av[0]), UINT64_MAX);
}

static void
op_pread(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	size_t		 len = num(av[1]);
	char		*buf;
	ssize_t		 n;

	if ((buf = malloc(len == 0 ? 1 : len)) == NULL)
		die("malloc");
	n = pread(f->fd, buf, len, num(av[2]));
	if (n == -1)
		say("pread %s: %s", f->name, ename(errno));
	else
		say("pread %s: %zd %s", f->name, n, show(buf, n));
	free(buf);
}

static void
op_pwrite(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	char		 buf[8192];
	size_t		 len;
	ssize_t		 n;

	len = unescape(av[1], buf, sizeof buf);
	got_sigpipe = 0;
	n = pwrite(f->fd, buf, len, num(av[2]));
	result("pwrite", f, n, errno);
}

static void
op_lseek(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	off_t		 r;

	if ((r = lseek(f->fd, num(av[1]), SEEK_SET)) == -1)
		say("lseek %s: %s", f->name, ename(errno));
	else
		say("lseek %s: %lld", f->name, (long long)r);
}

static void
op_pos(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	char		 path[64], line[256];
	FILE		*fp;
	long long	 pos = -1;

	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", f->fd);
	if ((fp = fopen(path, "r")) == NULL) {
		say("pos %s: %s", f->name, ename(errno));
		return;
	}
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "pos: %lld", &pos) == 1)
			break;
	fclose(fp);
	say("pos %s: %lld", f->name, pos);
}

static const char *
ftype(mode_t m)
{
	if (S_ISREG(m))
		return ("reg");
	if (S_ISDIR(m))
		return ("dir");
	if (S_ISFIFO(m))
		return ("fifo");
	if (S_ISCHR(m))
		return ("chr");
	if (S_ISBLK(m))
		return ("blk");
	if (S_ISSOCK(m))
		return ("sock");
	if (S_ISLNK(m))
		return ("lnk");
	return ("unknown");
}

static void
op_fstat(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	struct stat	 st;

	if (fstat(f->fd, &st) == -1)
		say("fstat %s: %s", f->name, ename(errno));
	else
		say("fstat %s: %s %04o nlink %lu size %lld", f->name,
		    ftype(st.st_mode), (unsigned)(st.st_mode & 07777),
		    (unsigned long)st.st_nlink, (long long)st.st_size);
}

static short
events(const char *s)
{
	if (strcmp(s, "in") == 0)
		return (POLLIN);
	if (strcmp(s, "out") == 0)
		return (POLLOUT);
	if (strcmp(s, "inout") == 0)
		return (POLLIN | POLLOUT);
	if (strcmp(s, "none") == 0)
		return (0);
	usage_err("bad events '%s'", s);
}

/* Names of the poll bits in ev, in a fixed order. */
static const char *
evnames(unsigned ev, unsigned in, unsigned out_, unsigned hup, unsigned err)
{
	static char	 buf[64];

	buf[0] = '\0';
	if (ev & in)
		strlcat(buf, " IN", sizeof buf);
	if (ev & out_)
		strlcat(buf, " OUT", sizeof buf);
	if (ev & hup)
		strlcat(buf, " HUP", sizeof buf);
	if (ev & err)
		strlcat(buf, " ERR", sizeof buf);
	ev &= ~(in | out_ | hup | err);
	if (ev != 0)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
		    " 0x%x", ev);
	return (buf[0] == ' ' ? buf + 1 : buf);
}

static void
op_poll(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	struct pollfd	 pfd;
	int		 r;

	pfd.fd = f->fd;
	pfd.events = events(av[1]);
	pfd.revents = 0;
	r = poll(&pfd, 1, num(av[2]));
	if (r == -1)
		say("poll %s: %s", f->name, ename(errno));
	else if (r == 0)
		say("poll %s: timeout", f->name);
	else
		say("poll %s: %s", f->name, evnames(pfd.revents, POLLIN,
		    POLLOUT, POLLHUP, POLLERR));
}

static void
op_select(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	struct timeval	 tv;
	fd_set		 rs, ws;
	long long	 ms = num(av[2]);
	int		 r;

	FD_ZERO(&rs);
	FD_ZERO(&ws);
	if (strchr(av[1], 'r') != NULL)
		FD_SET(f->fd, &rs);
	if (strchr(av[1], 'w') != NULL)
		FD_SET(f->fd, &ws);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	r = select(f->fd + 1, &rs, &ws, NULL, &tv);
	if (r == -1)
		say("select %s: %s", f->name, ename(errno));
	else if (r == 0)
		say("select %s: timeout", f->name);
	else
		say("select %s: %s%s%s", f->name,
		    FD_ISSET(f->fd, &rs) ? "r" : "",
		    FD_ISSET(f->fd, &rs) && FD_ISSET(f->fd, &ws) ? " " : "",
		    FD_ISSET(f->fd, &ws) ? "w" : "");
}

static void
op_epoll(char **av)
{
	struct fdent		*f = fd_get(av[0]);
	struct epoll_event	 ev;
	short			 want = events(av[1]);
	int			 ep, r;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	memset(&ev, 0, sizeof ev);
	ev.events = (want & POLLIN ? EPOLLIN : 0) |
	    (want & POLLOUT ? EPOLLOUT : 0);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, f->fd, &ev) == -1) {
		say("epoll %s: ctl %s", f->name, ename(errno));
		close(ep);
		return;
	}
	r = epoll_wait(ep, &ev, 1, num(av[2]));
	if (r == -1)
		say("epoll %s: %s", f->name, ename(errno));
	else if (r == 0)
		say("epoll %s: timeout", f->name);
	else
		say("epoll %s: %s", f->name, evnames(ev.events, EPOLLIN,
		    EPOLLOUT, EPOLLHUP, EPOLLERR));
	close(ep);
}

static long long
rusage_ms(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000LL +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000);
}

/* CPU time of process pid in milliseconds, from /proc; -1 if gone. */
static long long
proc_cpu_ms(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	FILE			*fp;
	size_t			 n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The command name may hold spaces; fields resume after ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return (-1);
	return ((long long)(ut + st) * 1000 / sysconf(_SC_CLK_TCK));
}

static void
op_idle(char **av)
{
	struct fdent	*f = fd_get(av[0]);
	struct pollfd	 pfd;
	long long	 ms = num(av[2]), self0, self, other0 = 0, other = 0;
	pid_t		 pid = num(av[3]);
	int		 r;

	self0 = rusage_ms();
	if (pid != 0 && (other0 = proc_cpu_ms(pid)) == -1)
		usage_err("idle: no process %d", (int)pid);
	pfd.fd = f->fd;
	pfd.events = events(av[1]);
	pfd.revents = 0;
	r = poll(&pfd, 1, ms);
	self = rusage_ms() - self0;
	if (pid != 0)
		other = proc_cpu_ms(pid) - other0;
	if (r == -1)
		say("idle %s: %s", f->name, ename(errno));
	else if (r > 0)
		say("idle %s: ready %s", f->name, evnames(pfd.revents,
		    POLLIN, POLLOUT, POLLHUP, POLLERR));
	else if (self > ms / 4 || other > ms / 4)
		say("idle %s: spins (cpu %lld ms here, %lld ms in %d)",
		    f->name, self, other, (int)pid);
	else
		say("idle %s: ok", f->name);
}

static void
msleep(long long ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static void
op_sleep(char **av)
{
	msleep(num(av[0]));
}

static void
op_alarm(char **av)
{
	struct itimerval	 it;
	long long		 ms = num(av[0]);

	memset(&it, 0, sizeof it);
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	if (setitimer(ITIMER_REAL, &it, NULL) == -1)
		die("setitimer");
}

static const struct op *
op_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(ops[i].name, name) == 0)
			return (&ops[i]);
	return (NULL);
}

/* Start op with its arguments av in a child whose line goes to a pipe. */
static void
job_start(const char *id, const struct op *op, char **av)
{
	struct job	*j;
	const char	*keep = op->fdarg >= 0 ? av[op->fdarg] : NULL;
	pid_t		 parent = getpid();
	int		 p[2], i;

	if ((j = job_find(id)) != NULL && !j->reaped)
		usage_err("bg: %s is still running", id);
	if (j == NULL) {
		if (njobs == MAXJOBS)
			usage_err("too many bg jobs");
		j = &jobs[njobs++];
	}
	memset(j, 0, sizeof *j);
	strlcpy(j->id, id, sizeof j->id);
	if (pipe(p) == -1)
		die("pipe");
	fflush(stdout);
	switch (j->pid = fork()) {
	case -1:
		die("fork");
	case 0:
		/* Never outlive the script, even if it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		is_child = 1;
		njobs = 0;
		guard_arm();
		close(p[0]);
		for (i = 0; i < MAXJOBS; i++)
			if (&jobs[i] != j && jobs[i].pfd > 0)
				close(jobs[i].pfd);
		for (i = 0; i < nfds; i++) {
			if (fds[i].fd == -1 || (keep != NULL &&
			    strcmp(fds[i].name, keep) == 0))
				continue;
			close(fds[i].fd);
			fds[i].fd = -1;
		}
		if ((out = fdopen(p[1], "w")) == NULL)
			_exit(1);
		cur_op = op->name;
		op->fn(av);
		fflush(out);
		_exit(0);
	}
	close(p[1]);
	j->pfd = p[0];
}

/* Collect what the child wrote, waiting at most ms (-1: until the end). */
static void
job_collect(struct job *j, int ms)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	char		 buf[LINELEN];

	while (!j->eof) {
		pfd.fd = j->pfd;
		pfd.events = POLLIN;
		if ((n = poll(&pfd, 1, ms)) == 0)
			return;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		n = read(j->pfd, buf, sizeof buf);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("read from job %s", j->id);
		}
		if (n == 0) {
			j->eof = 1;
			break;
		}
		if ((size_t)n > sizeof j->line - 1 - j->len)
			n = sizeof j->line - 1 - j->len;
		memcpy(j->line + j->len, buf, n);
		j->len += n;
		j->line[j->len] = '\0';
		/* One line is all a job writes; stop waiting once it is in. */
		if (j->len > 0 && j->line[j->len - 1] == '\n')
			ms = -1;
	}
	close(j->pfd);
	j->pfd = -1;
	while (waitpid(j->pid, &j->status, 0) == -1)
		if (errno != EINTR)
			die("waitpid");
	j->reaped = 1;
}

static struct job *
job_get(const char *id)
{
	struct job	*j;

	if ((j = job_find(id)) == NULL)
		usage_err("no job called '%s'", id);
	return (j);
}

static void
op_blocked(char **av)
{
	struct job	*j = job_get(av[0]);

	if (!j->reaped)
		job_collect(j, num(av[1]));
	if (!j->eof && j->len == 0)
		say("blocked %s: yes", j->id);
	else {
		if (j->len > 0 && j->line[j->len - 1] == '\n')
			j->line[--j->len] = '\0';
		say("blocked %s: no (%s)", j->id, j->line);
	}
}

/*
 * Wait until job ID sleeps in a FUSE request inside read(2) or write(2),
 * seen twice 20 ms apart: then its request has reached the daemon.
 */
static void
op_waitblocked(char **av)
{
	struct job	*j = job_get(av[0]);
	long		 nr;
	int		 seen = 0;

	while (!j->reaped) {
		job_collect(j, 20);
		if (j->eof || j->len > 0)
			break;
		nr = proc_syscall(j->pid);
		if ((nr == SYS_read || nr == SYS_write) &&
		    proc_in_fuse(j->pid)) {
			if (++seen == 2) {
				say("waitblocked %s: yes", j->id);
				return;
			}
		} else
			seen = 0;
	}
	if (j->len > 0 && j->line[j->len - 1] == '\n')
		j->line[--j->len] = '\0';
	say("waitblocked %s: no (%s)", j->id, j->line);
}

static void
op_join(char **av)
{
	struct job	*j = job_get(av[0]);

	if (!j->reaped)
		job_collect(j, -1);
	if (j->len > 0 && j->line[j->len - 1] == '\n')
		j->line[--j->len] = '\0';
	if (j->len > 0)
		say("%s", j->line);
	else if (WIFSIGNALED(j->status))
		say("join %s: SIG%s", j->id, sigabbrev_np(WTERMSIG(j->status)));
	else
		say("join %s: exit %d", j->id, WEXITSTATUS(j->status));
}

static int
signum(const char *s)
{
	if (strcmp(s, "INT") == 0)
		return (SIGINT);
	if (strcmp(s, "TERM") == 0)
		return (SIGTERM);
	if (strcmp(s, "KILL") == 0)
		return (SIGKILL);
	if (strcmp(s, "USR1") == 0)
		return (SIGUSR1);
	if (strcmp(s, "ALRM") == 0)
		return (SIGALRM);
	usage_err("bad signal '%s'", s);
}

static void
op_kill(char **av)
{
	struct job	*j = job_get(av[0]);

	if (!j->reaped && kill(j->pid, signum(av[1])) == -1)
		die("kill");
}

static void
path_result(const char *op, int r)
{
	if (r == -1)
		say("%s: %s", op, ename(errno));
	else
		say("%s: ok", op);
}

static void
op_mknod(char **av)
{
	mode_t	 mode;
	dev_t	 dev = 0;

	if (strcmp(av[1], "reg") == 0)
		mode = S_IFREG;
	else if (strcmp(av[1], "fifo") == 0)
		mode = S_IFIFO;
	else if (strcmp(av[1], "chr") == 0) {
		mode = S_IFCHR;
		dev = makedev(1, 3);
	} else if (strcmp(av[1], "blk") == 0) {
		mode = S_IFBLK;
		dev = makedev(7, 0);
	} else if (strcmp(av[1], "sock") == 0)
		mode = S_IFSOCK;
	else
		usage_err("bad node type '%s'", av[1]);
	path_result("mknod", mknod(av[0], mode | 0644, dev));
}

static void
op_symlink(char **av)
{
	path_result("symlink", symlink(av[0], av[1]));
}

static void
op_link(char **av)
{
	path_result("link", link(av[0], av[1]));
}

static void
op_bind(char **av)
{
	struct sockaddr_un	 sun;
	int			 s, r;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, av[0], sizeof sun.sun_path) >=
	    sizeof sun.sun_path)
		usage_err("bind: path too long");
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		die("socket");
	r = bind(s, (struct sockaddr *)&sun, sizeof sun);
	path_result("bind", r);
	close(s);
}

static void
op_unlink(char **av)
{
	path_result("unlink", unlink(av[0]));
}

static void
op_rename(char **av)
{
	path_result("rename", rename(av[0], av[1]));
}

static void
on_signal(int sig)
{
	if (sig == SIGPIPE)
		got_sigpipe = 1;
	else
		got_signal = sig;
}

/* The time limit ran out: say where, take the children along, exit 3. */
static void
on_timeout(int sig)
{
	char	 buf[256];
	int	 i, len;

	(void)sig;
	len = snprintf(buf, sizeof buf, "%s: timed out after %d s in %s%s\n",
	    progname, timeout_secs, cur_op, is_child ? " (bg job)" : "");
	if (len > 0)
		write(STDERR_FILENO, buf, len);
	for (i = 0; i < njobs; i++)
		if (jobs[i].pid > 0 && !jobs[i].reaped)
			kill(jobs[i].pid, SIGKILL);
	_exit(3);
}

/*
 * Arm the time limit, ending at the same moment in a bg child as in the
 * script: a child blocked in a channel must time out on its own, since
 * its parent may be stuck behind it (on a file-position lock, say) where
 * no signal reaches it.
 */
static void
guard_arm(void)
{
	struct sigaction	 sa;
	struct sigevent		 sev;
	struct itimerspec	 its;
	timer_t			 t;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_timeout;
	sigaction(SIGRTMIN, &sa, NULL);
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t) == -1)
		die("timer_create");
	memset(&its, 0, sizeof its);
	its.it_value = deadline;
	if (timer_settime(t, TIMER_ABSTIME, &its, NULL) == -1)
		die("timer_settime");
}

static void
setup_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must end a blocked call with EINTR. */
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/* A shell starts background jobs with SIGINT ignored. */
	signal(SIGINT, SIG_DFL);

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_secs;
	guard_arm();
}

/* Check the whole script and register descriptor names before running. */
static void
script_check(int argc, char **argv)
{
	const struct op	*op;
	const char	*ids[MAXJOBS];
	int		 i, j, bg, nids = 0;

	for (i = 0; i < argc;) {
		bg = 0;
		if ((op = op_find(argv[i])) == NULL)
			usage_err("unknown operation '%s'", argv[i]);
		if (op->fn == op_blocked || op->fn == op_join ||
		    op->fn == op_kill || op->fn == op_waitblocked) {
			for (j = 0; j < nids; j++)
				if (i + 1 < argc && strcmp(ids[j],
				    argv[i + 1]) == 0)
					break;
			if (j == nids)
				usage_err("%s: no bg job called '%s' before",
				    op->name, i + 1 < argc ? argv[i + 1] : "");
		}
		if (op->fn == NULL) {
			if (i + 2 >= argc)
				usage_err("bg: missing operation");
			if (strlen(argv[i + 1]) >= NAMELEN)
				usage_err("bg: name too long");
			if (nids == MAXJOBS)
				usage_err("too many bg jobs");
			ids[nids++] = argv[i + 1];
			bg = 2;
			if ((op = op_find(argv[i + 2])) == NULL ||
			    op->fn == NULL)
				usage_err("bg: bad operation '%s'",
				    argv[i + 2]);
			if (op->opens)
				usage_err("bg: cannot open in a child");
		}
		if (i + bg + 1 + op->nargs > argc)
			usage_err("%s: needs %d arguments", op->name,
			    op->nargs);
		if (op->fdarg >= 0) {
			const char *name = argv[i + bg + 1 + op->fdarg];

			if (op->opens && fd_find(name) == NULL) {
				if (nfds == MAXFDS)
					usage_err("too many descriptors");
				if (strlen(name) >= NAMELEN)
					usage_err("name too long");
				strlcpy(fds[nfds].name, name, NAMELEN);
				fds[nfds++].fd = -1;
			} else if (fd_find(name) == NULL)
				usage_err("%s: '%s' is never opened",
				    op->name, name);
		}
		i += bg + 1 + op->nargs;
	}
}

static void
script_run(int argc, char **argv)
{
	const struct op	*op;
	int		 i;

	for (i = 0; i < argc;) {
		op = op_find(argv[i]);
		if (op->fn == NULL) {
			const char *id = argv[i + 1];

			op = op_find(argv[i + 2]);
			job_start(id, op, argv + i + 3);
			i += 3 + op->nargs;
			continue;
		}
		cur_op = op->name;
		op->fn(argv + i + 1);
		i += 1 + op->nargs;
	}
	/* Children nobody joined are not left behind. */
	for (i = 0; i < njobs; i++) {
		if (jobs[i].reaped)
			continue;
		kill(jobs[i].pid, SIGKILL);
		waitpid(jobs[i].pid, NULL, 0);
	}
}

/*
 * The records test.  Header fields are 32-bit, in host order; the sum is
 * FNV-1a over the header (sum zero) and the payload.
 */
#define REC_MAGIC	0x43484e52U	/* "RNHC" */

struct rec_head {
	uint32_t	 magic;
	uint32_t	 writer;
	uint32_t	 seq;
	uint32_t	 id;
	uint32_t	 sum;
	uint32_t	 pad[3];
};

struct rec_shared {
	uint32_t	 errors;
	uint32_t	 nread[64];	/* records each reader got */
	uint32_t	 count[];	/* arrivals of each record */
};

static uint32_t
fnv1a(uint32_t h, const void *p, size_t n)
{
	const unsigned char	*s = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619U;
	}
	return (h);
}

static void
rec_payload(unsigned char *p, size_t n, uint32_t id)
{
	uint64_t	 x = 0x9e3779b97f4a7c15ULL * (id + 1);
	size_t		 i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x >> 56;
	}
}

static void
rec_make(unsigned char *r, size_t size, uint32_t writer, uint32_t seq,
    uint32_t id)
{
	struct rec_head	 h;

	memset(&h, 0, sizeof h);
	h.magic = REC_MAGIC;
	h.writer = writer;
	h.seq = seq;
	h.id = id;
	rec_payload(r + sizeof h, size - sizeof h, id);
	h.sum = fnv1a(fnv1a(2166136261U, &h, sizeof h), r + sizeof h,
	    size - sizeof h);
	memcpy(r, &h, sizeof h);
}

__attribute__((format(printf, 2, 3)))
static void
rec_error(struct rec_shared *sh, const char *fmt, ...)
{
	va_list	 ap;

	if (__atomic_fetch_add(&sh->errors, 1, __ATOMIC_SEQ_CST) >= 20)
		return;
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* One reader: read records until end of file, checking each. */
static void
rec_reader(struct rec_shared *sh, int fd, int me, size_t size,
    uint32_t nrec, uint32_t nwriters, uint32_t pause)
{
	unsigned char	*r, *want;
	struct rec_head	 h;
	int64_t		*last;
	ssize_t		 n;
	uint32_t	 sum, i;

	if ((r = malloc(size)) == NULL || (want = malloc(size)) == NULL ||
	    (last = malloc(nwriters * sizeof *last)) == NULL)
		die("malloc");
	for (i = 0; i < nwriters; i++)
		last[i] = -1;
	for (;;) {
		n = read(fd, r, size);
		if (n == -1) {
			rec_error(sh, "reader %d: read: %s", me,
			    ename(errno));
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n != size) {
			rec_error(sh, "reader %d: read %zd bytes, not %zu",
			    me, n, size);
			continue;
		}
		memcpy(&h, r, sizeof h);
		sum = h.sum;
		h.sum = 0;
		if (h.magic != REC_MAGIC || h.id >= nrec ||
		    h.writer != h.id % nwriters ||
		    h.seq != h.id / nwriters) {
			rec_error(sh, "reader %d: bad header (magic %08x "
			    "writer %u seq %u id %u)", me, h.magic, h.writer,
			    h.seq, h.id);
			continue;
		}
		if (fnv1a(fnv1a(2166136261U, &h, sizeof h), r + sizeof h,
		    size - sizeof h) != sum) {
			rec_error(sh, "reader %d: record %u: bad checksum",
			    me, h.id);
			continue;
		}
		rec_make(want, size, h.writer, h.seq, h.id);
		if (memcmp(want, r, size) != 0) {
			rec_error(sh, "reader %d: record %u: bad payload",
			    me, h.id);
			continue;
		}
		if ((int64_t)h.seq <= last[h.writer])
			rec_error(sh, "reader %d: writer %u: seq %u after "
			    "%lld", me, h.writer, h.seq,
			    (long long)last[h.writer]);
		last[h.writer] = h.seq;
		__atomic_fetch_add(&sh->count[h.id], 1, __ATOMIC_SEQ_CST);
		if (++sh->nread[me] % pause == 0)
			msleep(1);
	}
	close(fd);
	_exit(0);
}

/* One writer: write records me, me + nwriters, ... below nrec. */
static void
rec_writer(struct rec_shared *sh, int fd, int me, size_t size,
    uint32_t nrec, uint32_t nwriters)
{
	struct pollfd	 pfd;
	unsigned char	*r;
	uint32_t	 id, seq;
	ssize_t		 n;

	if ((r = malloc(size)) == NULL)
		die("malloc");
	for (seq = 0, id = me; id < nrec; seq++, id += nwriters) {
		rec_make(r, size, me, seq, id);
		while ((n = write(fd, r, size)) == -1 && errno == EAGAIN) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, -1) == -1) {
				rec_error(sh, "writer %d: poll: %s", me,
				    ename(errno));
				_exit(1);
			}
		}
		if (n == -1) {
			rec_error(sh, "writer %d: record %u: write: %s", me,
			    id, ename(errno));
			_exit(1);
		}
		if ((size_t)n != size) {
			rec_error(sh, "writer %d: record %u: wrote %zd of "
			    "%zu", me, id, n, size);
			_exit(1);
		}
	}
	close(fd);
	_exit(0);
}

static int
records_main(int argc, char **argv)
{
	struct rec_shared	*sh;
	size_t			 size = 4096, shsize;
	uint32_t		 nrec = 10000, nw = 8, nr = 4, i;
	uint32_t		 pause = UINT32_MAX;
	pid_t			*pids;
	int			 ch, ready[2], go[2], fd, bad = 0, status;
	int			 wflags = O_WRONLY;
	char			 c;
	const char		*path;

	while ((ch = getopt(argc, argv, "Nn:p:r:s:t:w:")) != -1) {
		switch (ch) {
		case 'N':
			wflags |= O_NONBLOCK;
			break;
		case 'p':
			if ((pause = num(optarg)) == 0)
				usage_err("records: -p must not be 0");
			break;
		case 'n':
			nrec = num(optarg);
			break;
		case 'r':
			nr = num(optarg);
			break;
		case 's':
			size = num(optarg);
			break;
		case 't':
			timeout_secs = num(optarg);
			break;
		case 'w':
			nw = num(optarg);
			break;
		default:
			usage_err("usage: records [-t secs] [-N] [-p every] "
			    "[-w writers] [-r readers] [-n records] [-s size] "
			    "path");
		}
	}
	if (argc - optind != 1)
		usage_err("records: one path please");
	path = argv[optind];
	if (nw < 1 || nr < 1 || nr > 64 || size < sizeof(struct rec_head) ||
	    size > 65536)
		usage_err("records: bad counts");
	if (timeout_secs == -1)
		timeout_secs = 120;
	setup_signals();
	cur_op = "records";

	shsize = sizeof *sh + nrec * sizeof sh->count[0];
	sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	if ((pids = calloc(nw + nr, sizeof *pids)) == NULL)
		die("calloc");
	/* No open here: a writer open would count as seen by readers. */
	if (mknod(path, S_IFREG | 0666, 0) == -1 && errno != EEXIST)
		die("mknod %s", path);
	if (pipe(ready) == -1 || pipe(go) == -1)
		die("pipe");

	/* Readers open first, writers next, and only then does data flow. */
	for (i = 0; i < nw + nr; i++) {
		if (i == nr) {
			for (ch = 0; ch < (int)nr; ch++)
				if (read(ready[0], &c, 1) != 1)
					die("reader start");
		}
		switch (pids[i] = fork()) {
		case -1:
			die("fork");
		case 0:
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(go[1]);
			fd = open(path, i < nr ? O_RDONLY : wflags);
			if (fd == -1) {
				rec_error(sh, "open %s: %s", path,
				    ename(errno));
				_exit(1);
			}
			if (write(ready[1], "", 1) != 1)
				_exit(1);
			close(ready[1]);
			if (i < nr)
				rec_reader(sh, fd, i, size, nrec, nw, pause);
			/* Wait for every writer's open before writing. */
			if (read(go[0], &c, 1) != 0)
				_exit(1);
			rec_writer(sh, fd, i - nr, size, nrec, nw);
		}
	}
	for (i = 0; i < nw; i++)
		if (read(ready[0], &c, 1) != 1)
			die("writer start");
	close(go[1]);

	for (i = 0; i < nw + nr; i++) {
		while (waitpid(pids[i], &status, 0) == -1)
			if (errno != EINTR)
				die("waitpid");
		pids[i] = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s: %s %u failed (status 0x%x)\n",
			    progname, i < nr ? "reader" : "writer",
			    i < nr ? i : i - nr, status);
			bad = 1;
		}
	}
	for (i = 0; i < nrec; i++) {
		if (sh->count[i] == 1)
			continue;
		bad = 1;
		if (sh->errors++ < 40)
			fprintf(stderr, "%s: record %u arrived %u times\n",
			    progname, i, sh->count[i]);
	}
	if (sh->errors > 0)
		bad = 1;
	printf("records: %u of %zu bytes, %u%s writers, %u readers: %s\n",
	    nrec, size, nw, wflags & O_NONBLOCK ? " non-blocking" : "", nr,
	    bad ? "FAILED" : "ok");
	printf("per reader:");
	for (i = 0; i < nr; i++)
		printf(" %u", sh->nread[i]);
	printf("\n");
	return (bad);
}

/* The system call number process pid is in, or -1 if it is running. */
static long
proc_syscall(pid_t pid)
{
	char	 path[64], buf[256];
	FILE	*fp;
	long	 nr = -1;

	snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (-2);
	if (fgets(buf, sizeof buf, fp) == NULL || sscanf(buf, "%ld",
	    &nr) != 1)
		nr = -1;
	fclose(fp);
	return (nr);
}

static int
proc_in_fuse(pid_t pid)
{
	char	 path[64], buf[128];
	FILE	*fp;
	int	 yes = 0;

	snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof buf, fp) != NULL)
		yes = strcmp(buf, "request_wait_answer") == 0;
	fclose(fp);
	return (yes);
}

static int
waitblocked_main(int argc, char **argv)
{
	long	 want, nr;
	pid_t	 pid;
	int	 ch, seen = 0;

	while ((ch = getopt(argc, argv, "t:")) != -1) {
		if (ch != 't')
			usage_err("usage: waitblocked [-t secs] pid "
			    "read|write|any");
		timeout_secs = num(optarg);
	}
	if (argc - optind != 2)
		usage_err("usage: waitblocked [-t secs] pid read|write|any");
	pid = num(argv[optind]);
	if (strcmp(argv[optind + 1], "read") == 0)
		want = SYS_read;
	else if (strcmp(argv[optind + 1], "write") == 0)
		want = SYS_write;
	else if (strcmp(argv[optind + 1], "any") == 0)
		want = -1;
	else
		usage_err("waitblocked: read, write or any");
	if (timeout_secs == -1)
		timeout_secs = 10;
	setup_signals();
	cur_op = "waitblocked";
	for (;;) {
		nr = proc_syscall(pid);
		if (nr == -2) {
			fprintf(stderr, "%s: process %d is gone\n", progname,
			    (int)pid);
			return (1);
		}
		if (nr >= 0 && (want == -1 || nr == want) &&
		    proc_in_fuse(pid)) {
			if (++seen == 2)
				return (0);
		} else
			seen = 0;
		msleep(20);
	}
}

int
main(int argc, char **argv)
{
	int	 ch;

	out = stdout;
	while ((ch = getopt(argc, argv, "+t:")) != -1) {
		if (ch != 't')
			usage_err("usage: chanio [-t secs] op args ...");
		timeout_secs = num(optarg);
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage_err("usage: chanio [-t secs] op args ...");
	/* The subcommands take their own options after their name. */
	if (strcmp(argv[0], "records") == 0) {
		optind = 0;
		return (records_main(argc, argv));
	}
	if (strcmp(argv[0], "waitblocked") == 0) {
		optind = 0;
		return (waitblocked_main(argc, argv));
	}
	if (timeout_secs == -1)
		timeout_secs = 30;
	script_check(argc, argv);
	setup_signals();
	script_run(argc, argv);
	return (0);
}
