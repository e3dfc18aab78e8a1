/*
 * bench: ipcfs side by side with kernel pipes, FIFOs, Unix sockets, tmpfs
 * and /dev/shm (issue 5), its message and broadcast modes with POSIX
 * message queues, SOCK_SEQPACKET sockets and ZeroMQ (issue 11), and its
 * NATS JetStream bridge between two hosts with libnats (issue 13).
 *
 *	bench -m MNT -p PID [-M MNT2 -P PID2] [-F MNT3 -f PID3 -L LABEL]
 *	    [-a DIR_A -b DIR_B -N BENCH_NATS -u URL]
 *	    -t TMPDIR -S SHMDIR [-o FILE] [-r REPS] [-s] [-x SCENARIOS] [-C]
 *
 * Placement: tools/bench-run starts this, the daemons and the NATS server
 * on one CPU (taskset), so every process of a case shares it, for every
 * subject alike.  -C is the cross-CPU placement, for the stream scenario
 * only: the writer (this process) and the daemons on CPU 0, the reader on
 * CPU 1, reported as scenarios stream-cross and cpu-cross.
 *
 * MNT is an ipcfs mount served by the daemon PID (used for every stream
 * scenario); MNT2, if given, is a second mount in another region mode.
 * MNT3, if given, is one more mount run with other options, measured in
 * the frame exchange only, as subject ipcfs-LABEL.
 * DIR_A and DIR_B, if given, are one bridged directory on two mounts
 * (two hosts) sharing the NATS server URL; BENCH_NATS is tools/bench-nats,
 * which sends the same traffic with libnats directly.
 * TMPDIR holds FIFOs, SHMDIR (on /dev/shm) the tmpfs and shared-memory
 * baselines.  tools/bench-run mounts, runs this and cleans up.
 *
 * Every case runs each subject REPS times, the subjects interleaved and
 * their order rotated from one repetition to the next, so slow drift of a
 * noisy machine hits ipcfs and its baselines alike.  Results go to FILE
 * (standard output by default) as tab-separated lines:
 *
 *	meta	KEY	VALUE
 *	result	SCENARIO	CASE	SUBJECT	ROLE	UNIT	BETTER	MEDIAN
 *	    MIN	MAX	N	SAMPLES
 *
 * ROLE is "ipcfs" or "base"; BETTER is "higher" or "lower".
 * tools/bench-report turns them into docs/BENCHMARKS.md and the plot.
 * REPS defaults to 7.  -s is the smoke mode: tiny sizes, one repetition,
 * a few seconds.
 * -x runs only the named scenarios (comma separated): memory, stream, rtt,
 * region, frame, files, wake, msg, bcast, bridge (only with -a).
 */

#define _GNU_SOURCE

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <linux/futex.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#define KIB		1024UL
#define MIB		(1024UL * 1024)

#define FRAME_SIDE	512
#define FRAME_VALUES	(FRAME_SIDE * FRAME_SIDE)
#define FRAME_BYTES	(FRAME_VALUES * sizeof(float))
#define FRAME_HDR	4096

#define BRIDGE_WAIT	10	/* s for a name to show on the other host */
#define BRIDGE_SLACK	1024	/* a bridged stream's bytes over capacity,
				   as in src/bridge.c */

enum kind {
	K_IPCFS,
	K_PIPE,
	K_FIFO,
	K_UNIX,
	K_SHM,		/* /dev/shm, or tmpfs for the file scenarios */
	K_FUTEX,
	K_EVENTFD,
	K_POLL,
	K_MQUEUE,	/* a POSIX message queue */
	K_SEQPACKET,	/* a Unix SOCK_SEQPACKET socket pair */
	K_ZMQ,		/* ZeroMQ PUB/SUB over ipc:// */
	K_NATS_JS,	/* tools/bench-nats, JetStream */
	K_NATS_CORE,	/* tools/bench-nats, core NATS */
	K_NATS_JSA,	/* tools/bench-nats, JetStream, asynchronous */
};

/* One thing measured: an ipcfs mount or a baseline. */
struct subj {
	const char	*name;
	enum kind	 kind;
	int		 mount;		/* ipcfs: index into cfg.mnt */
};

/* A figure a scenario yields per run. */
struct metric {
	const char	*scen;
	char		 name[96];
	const char	*unit;
	int		 higher;	/* higher is better */
};

typedef void	(*bench_fn)(const struct subj *, void *, double *);

static struct {
	const char	*mnt[3];	/* [2]: the frame-only mount */
	pid_t		 dpid[3];
	char		 mode[3][32];
	char		 sname[3][48];	/* "ipcfs-passthrough" */
	const char	*label;		/* of mnt[2] */
	int		 nmnt;
	const char	*tmp;
	const char	*shm;
	FILE		*out;
	int		 reps;
	int		 smoke;
	const char	*only;
	unsigned	 seq;
	long		 mq_maxmsg;
	const char	*xa;		/* bridged directories, hosts A, B */
	const char	*xb;
	const char	*nats;		/* tools/bench-nats */
	const char	*url;		/* its NATS server */
	int		 cross;		/* -C: reader on CPU 1 */
} cfg;

/* Run pid (0: this process) and all its threads on CPU cpu only. */
static void
pin(pid_t pid, int cpu)
{
	char		 path[64];
	struct dirent	*de;
	cpu_set_t	 set;
	DIR		*d;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pid == 0) {
		if (sched_setaffinity(0, sizeof set, &set) == -1)
			err(1, "sched_setaffinity CPU %d", cpu);
		return;
	}
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		err(1, "%s", path);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    sched_setaffinity(atoi(de->d_name), sizeof set, &set) == -1)
			err(1, "sched_setaffinity %s CPU %d", de->d_name, cpu);
	closedir(d);
}

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* A fresh name under dir. */
static void
newpath(char *buf, size_t len, const char *dir, const char *what)
{
	snprintf(buf, len, "%s/%s.%d.%u", dir, what, (int)getpid(), cfg.seq++);
}

static ssize_t
readn(int fd, void *buf, size_t n)
{
	size_t	 got = 0;
	ssize_t	 r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return (-1);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return ((ssize_t)got);
}

static void
writen(int fd, const void *buf, size_t n)
{
	size_t	 put = 0;
	ssize_t	 r;

	while (put < n) {
		r = write(fd, (const char *)buf + put, n - put);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			err(1, "write");
		put += (size_t)r;
	}
}

static int
xopen(const char *path, int flags)
{
	int	 fd;

	if ((fd = open(path, flags, 0600)) == -1)
		err(1, "%s", path);
	return (fd);
}

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		err(1, "malloc");
	return (p);
}

static void
xwaitpid(pid_t pid)
{
	int	 st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			err(1, "waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		errx(1, "child %d failed (status %#x)", (int)pid, st);
}

/*
 * Fork a child that dies with this process: a peer left waiting on a futex
 * or an eventfd would otherwise wait for ever if the benchmark is killed.
 */
static pid_t
xfork(void)
{
	pid_t	 parent = getpid(), pid;

	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
			_exit(1);
		if (getppid() != parent)
			_exit(1);
	}
	return (pid);
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The q-quantile of n values (which get sorted). */
static double
quantile(double *v, size_t n, double q)
{
	size_t	 i;

	qsort(v, n, sizeof *v, cmp_double);
	if (q == 0.5 && n % 2 == 0)
		return ((v[n / 2 - 1] + v[n / 2]) / 2);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return (v[i]);
}

/* Write one result line from the samples of one subject in one case. */
static void
emit(const struct metric *m, const char *subject, int base, double *v,
    int n)
{
	double	 s[n];
	int	 i;

	memcpy(s, v, sizeof s);
	fprintf(cfg.out, "result\t%s\t%s\t%s\t%s\t%s\t%s\t%.6g\t", m->scen,
	    m->name, subject, base ? "base" : "ipcfs", m->unit,
	    m->higher ? "higher" : "lower", quantile(s, (size_t)n, 0.5));
	fprintf(cfg.out, "%.6g\t%.6g\t%d\t", s[0], s[n - 1], n);
	for (i = 0; i < n; i++)
		fprintf(cfg.out, "%s%.6g", i ? "," : "", v[i]);
	fprintf(cfg.out, "\n");
	fflush(cfg.out);
}

static int
is_base(const struct subj *s)
{
	return (s->kind != K_IPCFS);
}

/*
 * A run that never ends (a reader never woken, a peer gone) ends the
 * benchmark with a message rather than leave make bench waiting for ever;
 * its children die with it.  The message is made before the alarm is set.
 */
static char	 watchdog_msg[256];

static void
watchdog(int sig)
{
	ssize_t	 n;

	(void)sig;
	n = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));
	(void)n;
	_exit(1);
}

/*
 * Run fn for every subject, reps times, interleaved with the order rotated
 * each time, then report the nm metrics fn yields per run.
 */
static void
bench_run(const struct metric *m, int nm, const struct subj *s, int ns,
    bench_fn fn, void *arg)
{
	double	*v, vals[8];
	int	 r, k, i, j, reps = cfg.reps;
	int	 secs = cfg.smoke ? 30 : 600;

	v = xmalloc(sizeof *v * (size_t)(ns * nm * reps));
	signal(SIGALRM, watchdog);
	for (r = 0; r < reps; r++) {
		for (k = 0; k < ns; k++) {
			i = (k + r) % ns;
			snprintf(watchdog_msg, sizeof watchdog_msg, "bench: %s, "
			    "%s, %s: no end after %d s\n", m->scen, m->name,
			    s[i].name, secs);
			alarm((unsigned)secs);
			fn(&s[i], arg, vals);
			alarm(0);
			for (j = 0; j < nm; j++)
				v[(i * nm + j) * reps + r] = vals[j];
		}
	}
	for (j = 0; j < nm; j++)
		for (i = 0; i < ns; i++)
			emit(&m[j], s[i].name, is_base(&s[i]),
			    &v[(i * nm + j) * reps], reps);
	free(v);
}

/* utime + stime of a process, in seconds. */
static double
proc_cpu(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	FILE			*f;
	int			 i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		err(1, "%s", path);
	if (fgets(buf, sizeof buf, f) == NULL)
		errx(1, "%s: empty", path);
	fclose(f);
	/* Fields 14 and 15, counted after the command name in parens. */
	if ((p = strrchr(buf, ')')) == NULL)
		errx(1, "%s: bad format", path);
	p += 2;
	for (i = 3; i < 14; i++) {
		if ((p = strchr(p, ' ')) == NULL)
			errx(1, "%s: bad format", path);
		p++;
	}
	if (sscanf(p, "%llu %llu", &ut, &st) != 2)
		errx(1, "%s: bad format", path);
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

/* Resident memory of a process, in bytes. */
static double
proc_rss(pid_t pid)
{
	char	 path[64], line[256];
	long	 kb = -1;
	FILE	*f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		err(1, "%s", path);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		errx(1, "%s: no VmRSS", path);
	return ((double)kb * 1024);
}

/* Descriptors a process has open. */
static int
proc_fds(pid_t pid)
{
	char		 path[64];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		err(1, "%s", path);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* Held requests of an ipcfs mount, from its statistics attribute. */
static long
ipcfs_held(const char *mnt)
{
	char	 buf[512], *p;
	ssize_t	 n;

	if ((n = getxattr(mnt, "user.ipcfs.stats", buf, sizeof buf - 1)) < 0)
		return (-1);
	buf[n] = '\0';
	if ((p = strstr(buf, "held_requests ")) == NULL)
		return (-1);
	return (atol(p + strlen("held_requests ")));
}

/*
 * Give n readers time to block.  An ipcfs mount says how many requests it
 * holds; for the kernel's own objects a pause has to do.
 */
static void
settle(const struct subj *s, long n)
{
	double	 t0 = now();

	usleep(cfg.smoke ? 20000 : 100000);
	if (s->kind != K_IPCFS)
		return;
	while (ipcfs_held(cfg.mnt[s->mount]) < n) {
		if (now() - t0 > 30)
			errx(1, "readers did not block on %s",
			    cfg.mnt[s->mount]);
		usleep(10000);
	}
}

static int
wanted(const char *name)
{
	const char	*p;
	size_t		 len = strlen(name);

	if (cfg.only == NULL)
		return (1);
	for (p = cfg.only; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, name, len) == 0 &&
		    (p[len] == ',' || p[len] == '\0'))
			return (1);
	}
	return (0);
}

/*
 * Scenario 1: stream throughput, one writer (this process) and one reader
 * (a child), total bytes in writes of wsize.
 */
struct stream_arg {
	size_t	 wsize;
	size_t	 total;
	char	*buf;
	double	 cpu;		/* daemon seconds, ipcfs runs */
	double	 bytes;		/* bytes moved, ipcfs runs */
};

static void
stream_reader(int fd, int ctl, size_t size)
{
	char		*buf;
	uint64_t	 total = 0;
	ssize_t		 n;

	buf = xmalloc(size);
	memset(buf, 0, size);
	writen(ctl, "r", 1);
	while ((n = read(fd, buf, size)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(1, "stream read");
		total += (uint64_t)n;
	}
	writen(ctl, &total, sizeof total);
	_exit(0);
}

static void
stream_fn(const struct subj *s, void *varg, double *vals)
{
	struct stream_arg	*a = varg;
	char			 path[PATH_MAX] = "", c;
	int			 ctl[2], fds[2], rfd = -1, wfd = -1;
	uint64_t		 got;
	size_t			 put;
	double			 t0, t1, cpu0 = 0;
	pid_t			 pid;

	if (pipe(ctl) == -1)
		err(1, "pipe");
	switch (s->kind) {
	case K_PIPE:
		if (pipe(fds) == -1)
			err(1, "pipe");
		rfd = fds[0];
		wfd = fds[1];
		break;
	case K_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
			err(1, "socketpair");
		rfd = fds[0];
		wfd = fds[1];
		break;
	case K_FIFO:
		newpath(path, sizeof path, cfg.tmp, "fifo");
		if (mkfifo(path, 0600) == -1)
			err(1, "%s", path);
		break;
	case K_IPCFS:
		newpath(path, sizeof path, cfg.mnt[s->mount], "stream");
		wfd = xopen(path, O_WRONLY | O_CREAT | O_EXCL);
		break;
	default:
		abort();
	}
	pid = xfork();
	if (pid == 0) {
		close(ctl[0]);
		if (wfd != -1)
			close(wfd);
		if (cfg.cross)
			pin(0, 1);
		if (rfd == -1)
			rfd = xopen(path, O_RDONLY);
		stream_reader(rfd, ctl[1], a->wsize);
	}
	close(ctl[1]);
	if (rfd != -1)
		close(rfd);
	if (wfd == -1)
		wfd = xopen(path, O_WRONLY);	/* a FIFO: meets the reader */
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "stream reader did not start");

	if (s->kind == K_IPCFS)
		cpu0 = proc_cpu(cfg.dpid[s->mount]);
	t0 = now();
	for (put = 0; put < a->total; put += a->wsize)
		writen(wfd, a->buf, a->wsize);
	close(wfd);
	if (readn(ctl[0], &got, sizeof got) != sizeof got)
		errx(1, "stream reader died");
	t1 = now();
	if (s->kind == K_IPCFS) {
		a->cpu += proc_cpu(cfg.dpid[s->mount]) - cpu0;
		a->bytes += (double)a->total;
	}
	xwaitpid(pid);
	close(ctl[0]);
	if (got != a->total)
		errx(1, "%s: read %llu of %zu bytes", s->name,
		    (unsigned long long)got, a->total);
	if (path[0] != '\0')
		unlink(path);
	vals[0] = (double)a->total / (t1 - t0) / 1e9;
}

static void
scen_stream(void)
{
	static const size_t	 sizes[] = { 4 * KIB, 64 * KIB, MIB };
	static const size_t	 totals[] = { 64 * MIB, 256 * MIB, 512 * MIB };
	const struct subj	 s[] = {
		{ "ipcfs", K_IPCFS, 0 },
		{ "pipe", K_PIPE, 0 },
		{ "fifo", K_FIFO, 0 },
		{ "unix-socket", K_UNIX, 0 },
	};
	struct stream_arg	 a;
	struct metric		 m = { "stream", "", "GB/s", 1 };
	struct metric		 mc = { "cpu", "", "s/GB", 0 };
	double			 cpu;
	size_t			 i;
	int			 k;

	if (cfg.cross) {
		m.scen = "stream-cross";
		mc.scen = "cpu-cross";
		pin(0, 0);
		for (k = 0; k < cfg.nmnt; k++)
			pin(cfg.dpid[k], 0);
	}

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		memset(&a, 0, sizeof a);
		a.wsize = sizes[i];
		a.total = cfg.smoke ? MIB : totals[i];
		a.buf = xmalloc(a.wsize);
		memset(a.buf, 'x', a.wsize);
		snprintf(m.name, sizeof m.name, "%zu KiB writes",
		    a.wsize / KIB);
		bench_run(&m, 1, s, 4, stream_fn, &a);
		free(a.buf);

		/* Clock ticks are coarse: one figure over every run. */
		snprintf(mc.name, sizeof mc.name, "daemon CPU per GB moved, "
		    "%zu KiB writes", a.wsize / KIB);
		cpu = a.cpu / (a.bytes / 1e9);
		emit(&mc, "ipcfs", 0, &cpu, 1);
	}
}

/*
 * Scenario 2: round trips of size-byte messages; the child echoes each.
 * ipcfs and FIFOs use two channels, the socket one connection.
 */
struct rtt_arg {
	size_t	 size;
	int	 iters;
};

static void
rtt_fn(const struct subj *s, void *varg, double *vals)
{
	struct rtt_arg	*a = varg;
	char		 ping[PATH_MAX] = "", pong[PATH_MAX] = "", *buf;
	int		 sv[2], in = -1, out = -1, i, warm;
	double		 t0 = 0, t1;
	pid_t		 pid;

	switch (s->kind) {
	case K_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			err(1, "socketpair");
		break;
	case K_FIFO:
		newpath(ping, sizeof ping, cfg.tmp, "ping");
		newpath(pong, sizeof pong, cfg.tmp, "pong");
		if (mkfifo(ping, 0600) == -1 || mkfifo(pong, 0600) == -1)
			err(1, "mkfifo");
		break;
	case K_IPCFS:
		newpath(ping, sizeof ping, cfg.mnt[s->mount], "ping");
		newpath(pong, sizeof pong, cfg.mnt[s->mount], "pong");
		out = xopen(ping, O_WRONLY | O_CREAT | O_EXCL);
		in = xopen(pong, O_RDONLY | O_CREAT | O_EXCL);
		break;
	default:
		abort();
	}
	buf = xmalloc(a->size);
	memset(buf, 'p', a->size);
	pid = xfork();
	if (pid == 0) {
		if (s->kind == K_UNIX) {
			close(sv[0]);
			in = out = sv[1];
		} else {
			if (in != -1) {
				close(in);
				close(out);
			}
			in = xopen(ping, O_RDONLY);
			out = xopen(pong, O_WRONLY);
		}
		while (readn(in, buf, a->size) == (ssize_t)a->size)
			writen(out, buf, a->size);
		_exit(0);
	}
	if (s->kind == K_UNIX) {
		close(sv[1]);
		in = out = sv[0];
	} else if (s->kind == K_FIFO) {
		out = xopen(ping, O_WRONLY);
		in = xopen(pong, O_RDONLY);
	}
	warm = a->iters / 10;
	for (i = 0; i < warm + a->iters; i++) {
		if (i == warm)
			t0 = now();
		writen(out, buf, a->size);
		if (readn(in, buf, a->size) != (ssize_t)a->size)
			errx(1, "%s: echo stopped", s->name);
	}
	t1 = now();
	close(out);
	if (in != out)
		close(in);
	xwaitpid(pid);
	free(buf);
	if (ping[0] != '\0') {
		unlink(ping);
		unlink(pong);
	}
	vals[0] = (t1 - t0) / a->iters * 1e6;
}

static void
scen_rtt(void)
{
	static const size_t	 sizes[] = { 64, 4096 };
	const struct subj	 s[] = {
		{ "ipcfs", K_IPCFS, 0 },
		{ "fifo-pair", K_FIFO, 0 },
		{ "unix-socket", K_UNIX, 0 },
	};
	struct rtt_arg		 a;
	struct metric		 m = { "rtt", "", "us", 0 };
	size_t			 i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		a.size = sizes[i];
		a.iters = cfg.smoke ? 100 : 10000;
		if (a.size < KIB)
			snprintf(m.name, sizeof m.name, "%zu B round trip",
			    a.size);
		else
			snprintf(m.name, sizeof m.name, "%zu KiB round trip",
			    a.size / KIB);
		bench_run(&m, 1, s, 3, rtt_fn, &a);
	}
}

/*
 * Scenario 3: a fresh region of size bytes; time the first store to every
 * page, then passes of memcpy over all of it.
 */
struct region_arg {
	size_t	 size;
	int	 passes;
	char	*src;		/* size / 4 bytes */
};

static void
region_fn(const struct subj *s, void *varg, double *vals)
{
	struct region_arg	*a = varg;
	char			 path[PATH_MAX];
	volatile char		*v;
	char			*p;
	size_t			 off, q = a->size / 4;
	long			 page = sysconf(_SC_PAGESIZE);
	double			 t0, t1;
	int			 fd, i;

	if (s->kind == K_IPCFS)
		newpath(path, sizeof path, cfg.mnt[s->mount], "region");
	else
		newpath(path, sizeof path, cfg.shm, "region");
	fd = xopen(path, O_RDWR | O_CREAT | O_EXCL);
	if (ftruncate(fd, (off_t)a->size) == -1)
		err(1, "%s: ftruncate", path);
	p = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(1, "%s: mmap", path);

	v = p;
	t0 = now();
	for (off = 0; off < a->size; off += (size_t)page)
		v[off] = 1;
	t1 = now();
	vals[0] = (t1 - t0) * 1e9 / (double)(a->size / (size_t)page);

	t0 = now();
	for (i = 0; i < a->passes; i++) {
		memcpy(p, a->src, q);
		memcpy(p + q, a->src, q);
		memcpy(p + 2 * q, a->src, q);
		memcpy(p + 3 * q, a->src, q);
	}
	t1 = now();
	vals[1] = (double)a->size * a->passes / (t1 - t0) / 1e9;

	/* Settle write-back here, not in the next subject's run. */
	if (msync(p, a->size, MS_SYNC) == -1)
		err(1, "%s: msync", path);
	if (p[a->size - 1] != a->src[q - 1])
		errx(1, "%s: region lost a store", s->name);
	munmap(p, a->size);
	close(fd);
	unlink(path);
}

/*
 * The mounts whose channels can be mapped (region mode passthrough or
 * pagecache) as subjects at s; returns how many.
 */
static int
mapped_mounts(struct subj *s)
{
	int	 i, ns = 0;

	for (i = 0; i < cfg.nmnt; i++) {
		if (strcmp(cfg.mode[i], "passthrough") != 0 &&
		    strcmp(cfg.mode[i], "pagecache") != 0)
			continue;
		s[ns].name = cfg.sname[i];
		s[ns].kind = K_IPCFS;
		s[ns++].mount = i;
	}
	return (ns);
}

static void
scen_region(void)
{
	struct subj		 s[3];
	struct region_arg	 a;
	struct metric		 m[2] = {
		{ "region", "", "ns/page", 0 },
		{ "region", "", "GB/s", 1 },
	};
	size_t			 i;
	int			 ns;

	if ((ns = mapped_mounts(s)) == 0)
		return;
	s[ns].name = "dev-shm";
	s[ns].kind = K_SHM;
	s[ns++].mount = 0;

	a.size = cfg.smoke ? 4 * MIB : 256 * MIB;
	a.passes = cfg.smoke ? 1 : 4;
	a.src = xmalloc(a.size / 4);
	for (i = 0; i < a.size / 4; i++)
		a.src[i] = (char)(i * 7 + 1);
	snprintf(m[0].name, sizeof m[0].name, "first touch, %zu MiB "
	    "mapping", a.size / MIB);
	snprintf(m[1].name, sizeof m[1].name, "memcpy into %zu MiB mapping",
	    a.size / MIB);
	bench_run(m, 2, s, ns, region_fn, &a);
	free(a.src);
}

/*
 * Scenario 4: the seed frame exchange.  This process fills a 512x512
 * float32 frame and rings; the peer (a child) adds 1.0 to every value and
 * rings back; this side checks a sample of the values.
 */
struct frame_hdr {
	uint32_t	 ring;		/* futex: round rung */
	uint32_t	 ack;		/* futex: round answered */
	uint32_t	 status;	/* polling: 0 idle, 1 written, 2 done */
	uint32_t	 quit;
};

struct frame_arg {
	int	 rounds;
	int	 poll_rounds;
};

static void
futex_wait(uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void
futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The peer's side of one exchange: wait, add 1.0, answer. */
static void
frame_peer(const struct subj *s, const char *path, const char *done,
    int efd[2])
{
	struct frame_hdr	*h = NULL;
	float			*f;
	char			*p, c;
	uint64_t		 one = 1, e;
	uint32_t		 last = 0, r;
	size_t			 i, len;
	int			 fd, dfd = -1;

	fd = xopen(path, O_RDWR);
	len = s->kind == K_IPCFS ? FRAME_BYTES : FRAME_HDR + FRAME_BYTES;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(1, "peer mmap");
	if (s->kind == K_IPCFS) {
		f = (float *)p;
		dfd = xopen(done, O_WRONLY);
	} else {
		h = (struct frame_hdr *)p;
		f = (float *)(p + FRAME_HDR);
	}
	for (;;) {
		switch (s->kind) {
		case K_IPCFS:
			if (readn(fd, &c, 1) != 1 || c == 'q')
				_exit(0);
			break;
		case K_FUTEX:
			while ((r = __atomic_load_n(&h->ring,
			    __ATOMIC_ACQUIRE)) == last)
				futex_wait(&h->ring, last);
			last = r;
			break;
		case K_EVENTFD:
			if (readn(efd[0], &e, sizeof e) != sizeof e)
				_exit(1);
			break;
		case K_POLL:
			while (__atomic_load_n(&h->status,
			    __ATOMIC_ACQUIRE) != 1) {
				if (__atomic_load_n(&h->quit,
				    __ATOMIC_ACQUIRE))
					_exit(0);
				usleep(10000);
			}
			break;
		default:
			abort();
		}
		if (h != NULL && __atomic_load_n(&h->quit, __ATOMIC_ACQUIRE))
			_exit(0);
		for (i = 0; i < FRAME_VALUES; i++)
			f[i] += 1.0f;
		switch (s->kind) {
		case K_IPCFS:
			writen(dfd, "!", 1);
			break;
		case K_FUTEX:
			__atomic_store_n(&h->ack, last, __ATOMIC_RELEASE);
			futex_wake(&h->ack);
			break;
		case K_EVENTFD:
			writen(efd[1], &one, sizeof one);
			break;
		case K_POLL:
			__atomic_store_n(&h->status, 2, __ATOMIC_RELEASE);
			break;
		default:
			abort();
		}
	}
}

static void
frame_fn(const struct subj *s, void *varg, double *vals)
{
	struct frame_arg	*a = varg;
	struct frame_hdr	*h = NULL;
	char			 path[PATH_MAX], done[PATH_MAX + 8] = "", *p, c;
	float			*f;
	uint64_t		 one = 1, e;
	uint32_t		 r, ack;
	size_t			 i, len;
	int			 fd, dfd = -1, efd[2] = { -1, -1 };
	int			 rounds, warm, k;
	double			 t0 = 0, t1;
	pid_t			 pid;

	rounds = s->kind == K_POLL ? a->poll_rounds : a->rounds;
	warm = s->kind == K_POLL ? 1 : 3;
	if (s->kind == K_IPCFS) {
		newpath(path, sizeof path, cfg.mnt[s->mount], "frame");
		snprintf(done, sizeof done, "%s.done", path);
		len = FRAME_BYTES;
	} else {
		newpath(path, sizeof path, cfg.shm, "frame");
		len = FRAME_HDR + FRAME_BYTES;
	}
	fd = xopen(path, O_RDWR | O_CREAT | O_EXCL);
	if (ftruncate(fd, (off_t)len) == -1)
		err(1, "%s: ftruncate", path);
	if (s->kind == K_IPCFS)
		dfd = xopen(done, O_RDONLY | O_CREAT | O_EXCL);
	if (s->kind == K_EVENTFD &&
	    ((efd[0] = eventfd(0, 0)) == -1 || (efd[1] = eventfd(0, 0)) == -1))
		err(1, "eventfd");
	pid = xfork();
	if (pid == 0) {
		close(fd);
		if (dfd != -1)
			close(dfd);
		frame_peer(s, path, done, efd);
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		err(1, "%s: mmap", path);
	if (s->kind == K_IPCFS)
		f = (float *)p;
	else {
		h = (struct frame_hdr *)p;
		f = (float *)(p + FRAME_HDR);
	}

	for (k = 1; k <= warm + rounds; k++) {
		if (k == warm + 1)
			t0 = now();
		r = (uint32_t)k;
		if (s->kind == K_POLL)
			while (__atomic_load_n(&h->status,
			    __ATOMIC_ACQUIRE) != 0)
				usleep(10000);
		for (i = 0; i < FRAME_VALUES; i++)
			f[i] = (float)k;
		switch (s->kind) {
		case K_IPCFS:
			writen(fd, "!", 1);
			if (readn(dfd, &c, 1) != 1)
				errx(1, "%s: peer went away", s->name);
			break;
		case K_FUTEX:
			__atomic_store_n(&h->ring, r, __ATOMIC_RELEASE);
			futex_wake(&h->ring);
			while ((ack = __atomic_load_n(&h->ack,
			    __ATOMIC_ACQUIRE)) != r)
				futex_wait(&h->ack, ack);
			break;
		case K_EVENTFD:
			writen(efd[0], &one, sizeof one);
			if (readn(efd[1], &e, sizeof e) != sizeof e)
				errx(1, "%s: eventfd", s->name);
			break;
		case K_POLL:
			__atomic_store_n(&h->status, 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&h->status,
			    __ATOMIC_ACQUIRE) != 2)
				usleep(10000);
			break;
		default:
			abort();
		}
		for (i = 0; i < FRAME_VALUES; i += 997)
			if (f[i] != (float)k + 1.0f)
				errx(1, "%s: round %d: value %zu is %g",
				    s->name, k, i, f[i]);
		if (f[FRAME_VALUES - 1] != (float)k + 1.0f)
			errx(1, "%s: round %d: last value wrong", s->name, k);
		if (s->kind == K_POLL)
			__atomic_store_n(&h->status, 0, __ATOMIC_RELEASE);
	}
	t1 = now();

	/* Tell the peer to go. */
	switch (s->kind) {
	case K_IPCFS:
		writen(fd, "q", 1);
		break;
	case K_FUTEX:
		__atomic_store_n(&h->quit, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&h->ring, 0, __ATOMIC_RELEASE);
		futex_wake(&h->ring);
		break;
	case K_EVENTFD:
		__atomic_store_n(&h->quit, 1, __ATOMIC_RELEASE);
		writen(efd[0], &one, sizeof one);
		break;
	case K_POLL:
		__atomic_store_n(&h->quit, 1, __ATOMIC_RELEASE);
		break;
	default:
		abort();
	}
	xwaitpid(pid);
	munmap(p, len);
	close(fd);
	if (dfd != -1) {
		close(dfd);
		unlink(done);
	}
	if (efd[0] != -1) {
		close(efd[0]);
		close(efd[1]);
	}
	unlink(path);
	vals[0] = rounds / (t1 - t0);
}

static void
scen_frame(void)
{
	struct subj		 s[6];
	struct frame_arg	 a;
	struct metric		 m = { "frame", "1 MiB frame round trips",
				     "round trips/s", 1 };
	int			 ns;

	if ((ns = mapped_mounts(s)) == 0)
		return;
	if (cfg.mnt[2] != NULL) {
		s[ns].name = cfg.sname[2];
		s[ns].kind = K_IPCFS;
		s[ns++].mount = 2;
	}
	s[ns++] = (struct subj){ "shm+futex", K_FUTEX, 0 };
	s[ns++] = (struct subj){ "shm+eventfd", K_EVENTFD, 0 };
	s[ns++] = (struct subj){ "shm+10ms-polling", K_POLL, 0 };
	a.rounds = cfg.smoke ? 5 : 2000;
	a.poll_rounds = cfg.smoke ? 2 : 10;
	bench_run(&m, 1, s, ns, frame_fn, &a);
}

/*
 * Scenario 5a: create, stat and unlink n names in a fresh directory, in
 * microseconds per operation.
 */
static void
files_fn(const struct subj *s, void *varg, double *vals)
{
	int		 n = *(int *)varg, i, dfd, fd;
	char		 dir[PATH_MAX], name[32];
	struct stat	 st;
	double		 t0, t1, t2, t3;

	newpath(dir, sizeof dir, s->kind == K_IPCFS ? cfg.mnt[s->mount] :
	    cfg.shm, "files");
	if (mkdir(dir, 0700) == -1)
		err(1, "%s", dir);
	dfd = xopen(dir, O_RDONLY | O_DIRECTORY);
	t0 = now();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "c%06d", i);
		if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL,
		    0600)) == -1)
			err(1, "%s/%s", dir, name);
		close(fd);
	}
	t1 = now();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "c%06d", i);
		if (fstatat(dfd, name, &st, 0) == -1)
			err(1, "stat %s/%s", dir, name);
	}
	t2 = now();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "c%06d", i);
		if (unlinkat(dfd, name, 0) == -1)
			err(1, "unlink %s/%s", dir, name);
	}
	t3 = now();
	close(dfd);
	if (rmdir(dir) == -1)
		err(1, "rmdir %s", dir);
	vals[0] = (t1 - t0) / n * 1e6;
	vals[1] = (t2 - t1) / n * 1e6;
	vals[2] = (t3 - t2) / n * 1e6;
}

static void
scen_files(void)
{
	struct subj	 s[3];
	struct metric	 m[3] = {
		{ "files", "", "us/op", 0 },
		{ "files", "", "us/op", 0 },
		{ "files", "", "us/op", 0 },
	};
	int		 i, ns = 0, n = cfg.smoke ? 200 : 10000;

	for (i = 0; i < cfg.nmnt; i++) {
		s[ns].name = cfg.sname[i];
		s[ns].kind = K_IPCFS;
		s[ns++].mount = i;
	}
	s[ns++] = (struct subj){ "tmpfs", K_SHM, 0 };
	snprintf(m[0].name, sizeof m[0].name, "create %d", n);
	snprintf(m[1].name, sizeof m[1].name, "stat %d", n);
	snprintf(m[2].name, sizeof m[2].name, "unlink %d", n);
	bench_run(m, 3, s, ns, files_fn, &n);
}

/*
 * Scenario 5b: n reader threads blocked, either each on a channel of its
 * own or all on one channel.  Each reader reads one byte twice.  First the
 * main thread writes one byte at a time and waits for its reader to wake
 * (wake latency); then, with every reader blocked again, it writes to all
 * of them at once and times until the last one is awake (burst).
 */
struct wake {
	int		 n;
	int		 one;		/* all on one channel */
	int		*rfd;
	double		*t;		/* wake times, in order of waking */
	unsigned	 nt;
	sem_t		 ready;
	sem_t		 woke;
};

struct wake_thr {
	struct wake	*w;
	int		 fd;
};

static void *
wake_reader(void *arg)
{
	struct wake_thr	*wt = arg;
	struct wake	*w = wt->w;
	unsigned	 i;
	double		 t;
	char		 c;
	int		 k;

	sem_post(&w->ready);
	for (k = 0; k < 2; k++) {
		if (readn(wt->fd, &c, 1) != 1)
			errx(1, "wake reader: no byte");
		t = now();
		i = __atomic_fetch_add(&w->nt, 1, __ATOMIC_ACQ_REL);
		w->t[i] = t;
		sem_post(&w->woke);
	}
	return (NULL);
}

static void
wake_fn(const struct subj *s, void *varg, double *vals)
{
	struct wake	*w = varg;
	struct wake_thr	*wt;
	pthread_attr_t	 attr;
	pthread_t	*thr;
	char		 path[PATH_MAX], dir[PATH_MAX], *bytes;
	double		*lat, t0, tmax;
	int		*wfd, i, fds[2], n = w->n;

	wfd = xmalloc(sizeof *wfd * (size_t)n);
	w->rfd = xmalloc(sizeof *w->rfd * (size_t)n);
	w->t = xmalloc(sizeof *w->t * (size_t)(2 * n));
	lat = xmalloc(sizeof *lat * (size_t)n);
	wt = xmalloc(sizeof *wt * (size_t)n);
	thr = xmalloc(sizeof *thr * (size_t)n);
	bytes = xmalloc((size_t)n);
	memset(bytes, 'w', (size_t)n);
	w->nt = 0;
	sem_init(&w->ready, 0, 0);
	sem_init(&w->woke, 0, 0);

	dir[0] = '\0';
	if (s->kind == K_IPCFS) {
		newpath(dir, sizeof dir, cfg.mnt[s->mount], "wake");
		if (mkdir(dir, 0700) == -1)
			err(1, "%s", dir);
	}
	if (w->one) {
		/* n opens of one channel or FIFO; readers first. */
		if (s->kind == K_IPCFS)
			snprintf(path, sizeof path, "%s/one", dir);
		else {
			newpath(path, sizeof path, cfg.tmp, "wakefifo");
			if (mkfifo(path, 0600) == -1)
				err(1, "%s", path);
		}
		if (s->kind == K_IPCFS)
			close(xopen(path, O_WRONLY | O_CREAT | O_EXCL));
		/* A FIFO's reader would wait for a writer to open. */
		for (i = 0; i < n; i++)
			w->rfd[i] = xopen(path, O_RDONLY |
			    (s->kind == K_FIFO ? O_NONBLOCK : 0));
		wfd[0] = xopen(path, O_WRONLY);
		if (s->kind == K_FIFO)
			for (i = 0; i < n; i++)
				if (fcntl(w->rfd[i], F_SETFL, 0) == -1)
					err(1, "fcntl");
	} else {
		for (i = 0; i < n; i++) {
			if (s->kind == K_IPCFS) {
				snprintf(path, sizeof path, "%s/c%05d", dir, i);
				wfd[i] = xopen(path, O_WRONLY | O_CREAT);
				w->rfd[i] = xopen(path, O_RDONLY);
			} else {
				if (pipe(fds) == -1)
					err(1, "pipe");
				w->rfd[i] = fds[0];
				wfd[i] = fds[1];
			}
		}
	}

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * KIB);
	for (i = 0; i < n; i++) {
		wt[i].w = w;
		wt[i].fd = w->rfd[i];
		if ((errno = pthread_create(&thr[i], &attr, wake_reader,
		    &wt[i])) != 0)
			err(1, "pthread_create");
	}
	pthread_attr_destroy(&attr);
	for (i = 0; i < n; i++)
		sem_wait(&w->ready);
	settle(s, n);

	/* One at a time: the latency of each wake. */
	for (i = 0; i < n; i++) {
		t0 = now();
		writen(wfd[w->one ? 0 : i], "w", 1);
		while (sem_wait(&w->woke) == -1)
			;
		lat[i] = (w->t[i] - t0) * 1e6;
	}

	/* All at once: until the last reader is awake. */
	settle(s, n);
	t0 = now();
	if (w->one)
		writen(wfd[0], bytes, (size_t)n);
	else
		for (i = 0; i < n; i++)
			writen(wfd[i], "w", 1);
	for (i = 0; i < n; i++)
		while (sem_wait(&w->woke) == -1)
			;
	tmax = t0;
	for (i = n; i < 2 * n; i++)
		if (w->t[i] > tmax)
			tmax = w->t[i];

	for (i = 0; i < n; i++)
		pthread_join(thr[i], NULL);
	for (i = 0; i < n; i++) {
		close(w->rfd[i]);
		if (!w->one || i == 0)
			close(wfd[i]);
	}
	if (w->one)
		unlink(path);
	else if (s->kind == K_IPCFS)
		for (i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/c%05d", dir, i);
			unlink(path);
		}
	if (dir[0] != '\0' && rmdir(dir) == -1)
		err(1, "rmdir %s", dir);
	sem_destroy(&w->ready);
	sem_destroy(&w->woke);

	vals[0] = quantile(lat, (size_t)n, 0.5);
	vals[1] = quantile(lat, (size_t)n, 0.99);
	vals[2] = (tmax - t0) * 1e3;
	free(wfd);
	free(w->rfd);
	free(w->t);
	free(lat);
	free(wt);
	free(thr);
	free(bytes);
}

static void
scen_wake(void)
{
	struct subj	 s[2];
	struct wake	 w;
	struct metric	 m[3] = {
		{ "wake", "", "us", 0 },
		{ "wake", "", "us", 0 },
		{ "wake", "", "ms", 0 },
	};
	int		 one;

	memset(&w, 0, sizeof w);
	w.n = cfg.smoke ? 20 : 1000;
	for (one = 0; one < 2; one++) {
		w.one = one;
		s[0] = (struct subj){ "ipcfs", K_IPCFS, 0 };
		if (one)
			s[1] = (struct subj){ "fifo", K_FIFO, 0 };
		else
			s[1] = (struct subj){ "pipes", K_PIPE, 0 };
		snprintf(m[0].name, sizeof m[0].name, "%d readers on %s: "
		    "wake latency, median", w.n, one ? "one channel" :
		    "their own channels");
		snprintf(m[1].name, sizeof m[1].name, "%d readers on %s: "
		    "wake latency, p99", w.n, one ? "one channel" :
		    "their own channels");
		snprintf(m[2].name, sizeof m[2].name, "%d readers on %s: "
		    "all woken at once", w.n, one ? "one channel" :
		    "their own channels");
		bench_run(m, 3, s, 2, wake_fn, &w);
	}
}

/*
 * Scenario 5c: the daemon's memory and descriptors per idle channel, on a
 * daemon that has done nothing else yet.  Channels are created and closed
 * as a program would; one never opened would not even have a handle.
 */
static void
scen_memory(void)
{
	struct metric	 m = { "memory", "", "bytes", 0 };
	struct metric	 mf = { "memory", "", "fds", 0 };
	char		 dir[PATH_MAX], name[32];
	double		 rss0, rss1, v;
	int		 i, mi, n = cfg.smoke ? 200 : 10000, dfd, fd, fds0;

	snprintf(m.name, sizeof m.name, "daemon memory per idle channel "
	    "(RSS, %d channels)", n);
	snprintf(mf.name, sizeof mf.name, "daemon descriptors per idle "
	    "channel (%d channels)", n);
	for (mi = 0; mi < cfg.nmnt; mi++) {
		newpath(dir, sizeof dir, cfg.mnt[mi], "idle");
		if (mkdir(dir, 0700) == -1)
			err(1, "%s", dir);
		dfd = xopen(dir, O_RDONLY | O_DIRECTORY);
		rss0 = proc_rss(cfg.dpid[mi]);
		fds0 = proc_fds(cfg.dpid[mi]);
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof name, "c%06d", i);
			if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL,
			    0600)) == -1)
				err(1, "%s/%s", dir, name);
			close(fd);
		}
		rss1 = proc_rss(cfg.dpid[mi]);
		v = (rss1 - rss0) / n;
		emit(&m, cfg.sname[mi], 0, &v, 1);
		v = (double)(proc_fds(cfg.dpid[mi]) - fds0) / n;
		emit(&mf, cfg.sname[mi], 0, &v, 1);
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof name, "c%06d", i);
			if (unlinkat(dfd, name, 0) == -1)
				err(1, "unlink %s/%s", dir, name);
		}
		close(dfd);
		if (rmdir(dir) == -1)
			err(1, "rmdir %s", dir);
	}
}

/*
 * Make an ipcfs channel at path with framing and, unless NULL, delivery
 * set.  A channel that is open refuses the change (docs/modes.md), so it
 * is made with mknod, which opens nothing, and set right after.
 */
static void
mkchan(const char *path, const char *framing, const char *delivery)
{
	if (mknod(path, S_IFREG | 0600, 0) == -1)
		err(1, "mknod %s", path);
	if (setxattr(path, "user.ipcfs.framing", framing, strlen(framing),
	    0) == -1)
		err(1, "%s: user.ipcfs.framing=%s", path, framing);
	if (delivery != NULL && setxattr(path, "user.ipcfs.delivery",
	    delivery, strlen(delivery), 0) == -1)
		err(1, "%s: user.ipcfs.delivery=%s", path, delivery);
}

/* "64 B" or "4 KiB". */
static void
sizename(char *buf, size_t len, size_t size)
{
	if (size < KIB)
		snprintf(buf, len, "%zu B", size);
	else
		snprintf(buf, len, "%zu KiB", size / KIB);
}

/*
 * Scenario 6: messages (issue 11).  An ipcfs channel with
 * framing=messages, a POSIX message queue and a Unix SOCK_SEQPACKET socket
 * pair: the throughput of one writer (this process) and one reader (a
 * child), and round trips of messages a child echoes.  Each message
 * carries its number in its first bytes; every receive, with a buffer
 * twice the message's size, must return one whole message, in order.
 *
 * A POSIX queue is made with mq_msgsize the size of the case's messages
 * and mq_maxmsg the system's msg_max (/proc/sys/fs/mqueue/msg_max, 10
 * unless changed), at most 64: only a process with CAP_SYS_RESOURCE may
 * go above msg_max, and RLIMIT_MSGQUEUE (800 KiB by default) bounds the
 * bytes a user's queues hold.  The benchmark changes neither; it records
 * what it used as meta lines.
 */
struct msg_arg {
	size_t	 size;
	int	 count;		/* messages, or round trips */
};

/* One end of a message transport: a descriptor or a POSIX queue. */
struct mend {
	enum kind	 kind;
	int		 fd;
	mqd_t		 mq;
};

static void
msend(const struct mend *e, const void *buf, size_t n)
{
	ssize_t	 r;

	if (e->kind == K_MQUEUE) {
		while (mq_send(e->mq, buf, n, 0) == -1)
			if (errno != EINTR)
				err(1, "mq_send");
		return;
	}
	while ((r = write(e->fd, buf, n)) == -1)
		if (errno != EINTR)
			err(1, "message write");
	if ((size_t)r != n)
		errx(1, "message write: %zd of %zu bytes", r, n);
}

/*
 * Receive one message into buf (len bytes): it must be message number
 * seq, of n bytes.
 */
static void
mrecv(const struct mend *e, char *buf, size_t len, size_t n, uint64_t seq)
{
	uint64_t	 got;
	ssize_t		 r;

	for (;;) {
		if (e->kind == K_MQUEUE)
			r = mq_receive(e->mq, buf, len, NULL);
		else
			r = read(e->fd, buf, len);
		if (r != -1 || errno != EINTR)
			break;
	}
	if (r == -1)
		err(1, "message receive");
	if ((size_t)r != n)
		errx(1, "message %llu: %zd bytes, not %zu",
		    (unsigned long long)seq, r, n);
	memcpy(&got, buf, sizeof got);
	if (got != seq)
		errx(1, "message %llu came as number %llu",
		    (unsigned long long)seq, (unsigned long long)got);
}

/*
 * Make a transport of subject s for messages of size bytes: its sending
 * end in tx, its receiving end in rx, the name to remove in name.  Both
 * ends of a queue are one descriptor.
 */
static void
mpair(const struct subj *s, size_t size, struct mend *tx, struct mend *rx,
    char *name, size_t len)
{
	struct mq_attr	 attr;
	int		 sv[2];

	tx->kind = rx->kind = s->kind;
	tx->fd = rx->fd = -1;
	name[0] = '\0';
	switch (s->kind) {
	case K_IPCFS:
		newpath(name, len, cfg.mnt[s->mount], "msg");
		mkchan(name, "messages", NULL);
		tx->fd = xopen(name, O_WRONLY);
		rx->fd = xopen(name, O_RDONLY);
		break;
	case K_MQUEUE:
		snprintf(name, len, "/ipcfs-bench.%d.%u", (int)getpid(),
		    cfg.seq++);
		memset(&attr, 0, sizeof attr);
		attr.mq_maxmsg = cfg.mq_maxmsg;
		attr.mq_msgsize = (long)size;
		tx->mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
		if (tx->mq == (mqd_t)-1)
			err(1, "mq_open %s (mq_maxmsg %ld, mq_msgsize %zu)",
			    name, cfg.mq_maxmsg, size);
		rx->mq = tx->mq;
		break;
	case K_SEQPACKET:
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1)
			err(1, "socketpair");
		tx->fd = sv[0];
		rx->fd = sv[1];
		break;
	default:
		abort();
	}
}

/* Close a descriptor end; a queue's one descriptor stays for the other. */
static void
mdrop(struct mend *e)
{
	if (e->kind != K_MQUEUE && e->fd != -1) {
		close(e->fd);
		e->fd = -1;
	}
}

/* Close what is left of a transport and remove its name. */
static void
mfree(struct mend *tx, struct mend *rx, const char *name)
{
	if (tx->kind == K_MQUEUE) {
		mq_close(tx->mq);
		if (mq_unlink(name) == -1)
			err(1, "mq_unlink %s", name);
		return;
	}
	mdrop(tx);
	mdrop(rx);
	if (name[0] != '\0' && unlink(name) == -1)
		err(1, "unlink %s", name);
}

static void
msg_fn(const struct subj *s, void *varg, double *vals)
{
	struct msg_arg	*a = varg;
	struct mend	 tx, rx;
	char		 name[PATH_MAX], *buf, c;
	uint64_t	 i;
	size_t		 len = 2 * a->size;
	int		 ctl[2];
	double		 t0, t1;
	pid_t		 pid;

	if (pipe(ctl) == -1)
		err(1, "pipe");
	mpair(s, a->size, &tx, &rx, name, sizeof name);
	buf = xmalloc(len);
	memset(buf, 'm', len);
	pid = xfork();
	if (pid == 0) {
		close(ctl[0]);
		mdrop(&tx);
		writen(ctl[1], "r", 1);
		for (i = 0; i < (uint64_t)a->count; i++)
			mrecv(&rx, buf, len, a->size, i);
		writen(ctl[1], "d", 1);
		_exit(0);
	}
	close(ctl[1]);
	mdrop(&rx);
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "%s: message reader did not start", s->name);

	t0 = now();
	for (i = 0; i < (uint64_t)a->count; i++) {
		memcpy(buf, &i, sizeof i);
		msend(&tx, buf, a->size);
	}
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "%s: message reader died", s->name);
	t1 = now();

	xwaitpid(pid);
	close(ctl[0]);
	mfree(&tx, &rx, name);
	free(buf);
	vals[0] = a->count / (t1 - t0);
}

/*
 * Round trips: two channels or two queues, one each way; the socket pair
 * is one connection, as in scenario 2.
 */
static void
msg_rtt_fn(const struct subj *s, void *varg, double *vals)
{
	struct msg_arg	*a = varg;
	struct mend	 ptx, prx, qtx, qrx;
	char		 ping[PATH_MAX], pong[PATH_MAX] = "", *buf;
	uint64_t	 i, warm = (uint64_t)a->count / 10;
	uint64_t	 total = warm + (uint64_t)a->count;
	size_t		 len = 2 * a->size;
	double		 t0 = 0, t1;
	pid_t		 pid;

	mpair(s, a->size, &ptx, &prx, ping, sizeof ping);
	if (s->kind == K_SEQPACKET) {
		qtx = prx;
		qrx = ptx;
	} else
		mpair(s, a->size, &qtx, &qrx, pong, sizeof pong);
	buf = xmalloc(len);
	memset(buf, 'p', len);
	pid = xfork();
	if (pid == 0) {
		mdrop(&ptx);
		if (s->kind != K_SEQPACKET)
			mdrop(&qrx);
		for (i = 0; i < total; i++) {
			mrecv(&prx, buf, len, a->size, i);
			msend(&qtx, buf, a->size);
		}
		_exit(0);
	}
	mdrop(&prx);
	if (s->kind != K_SEQPACKET)
		mdrop(&qtx);
	for (i = 0; i < total; i++) {
		if (i == warm)
			t0 = now();
		memcpy(buf, &i, sizeof i);
		msend(&ptx, buf, a->size);
		mrecv(&qrx, buf, len, a->size, i);
	}
	t1 = now();

	xwaitpid(pid);
	if (s->kind == K_SEQPACKET)
		mdrop(&ptx);
	else {
		mfree(&ptx, &prx, ping);
		mfree(&qtx, &qrx, pong);
	}
	free(buf);
	vals[0] = (t1 - t0) / a->count * 1e6;
}

static void
scen_msg(void)
{
	static const size_t	 sizes[] = { 64, 4 * KIB };
	static const int	 counts[] = { 100000, 50000 };
	const struct subj	 s[] = {
		{ "ipcfs", K_IPCFS, 0 },
		{ "posix-mqueue", K_MQUEUE, 0 },
		{ "unix-seqpacket", K_SEQPACKET, 0 },
	};
	struct msg_arg		 a;
	struct metric		 m = { "msg", "", "messages/s", 1 };
	struct metric		 mr = { "msg", "", "us", 0 };
	char			 sz[32];
	long			 max = 10;
	FILE			*f;
	size_t			 i;

	if ((f = fopen("/proc/sys/fs/mqueue/msg_max", "r")) != NULL) {
		if (fscanf(f, "%ld", &max) != 1 || max < 1)
			max = 10;
		fclose(f);
	}
	cfg.mq_maxmsg = max < 64 ? max : 64;
	fprintf(cfg.out, "meta\tmq_maxmsg\t%ld\n", cfg.mq_maxmsg);
	fprintf(cfg.out, "meta\tmq_msgsize\tthe message size of each case\n");

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		a.size = sizes[i];
		a.count = cfg.smoke ? 1000 : counts[i];
		sizename(sz, sizeof sz, a.size);
		snprintf(m.name, sizeof m.name, "%s messages", sz);
		bench_run(&m, 1, s, 3, msg_fn, &a);
	}
	a.size = 64;
	a.count = cfg.smoke ? 100 : 10000;
	sizename(sz, sizeof sz, a.size);
	snprintf(mr.name, sizeof mr.name, "%s message round trip", sz);
	bench_run(&mr, 1, s, 3, msg_rtt_fn, &a);
}

/*
 * Scenario 7: broadcast (issue 11).  One writer (this process) sends count
 * messages of size bytes; each of n readers (child processes) receives
 * every one of them, checking their numbers.  Timed from the first send
 * until the last reader has all of them; the figure is the bytes all
 * readers received together per second.
 *
 * ipcfs: one channel with framing=messages and delivery=broadcast, which
 * every reader opens before the first message is written, so each gets
 * all of them (docs/modes.md, "Late joiners").  Pipes: one per reader, and
 * the writer writes each message to every pipe in turn.  ZeroMQ: a PUB
 * socket bound to ipc:// and a SUB socket per reader.
 */
struct bcast_arg {
	int	 readers;
	int	 count;
	size_t	 size;
};

/*
 * A ZeroMQ subscriber.  ZMQ_RCVHWM 0 (and ZMQ_SNDHWM 0 on the publisher)
 * lifts the high-water marks, past which PUB drops messages for a slow
 * subscriber: every subscriber gets every message, queued in memory if
 * need be.  A subscription takes effect some time after connecting (the
 * slow joiner), and PUB drops what is sent before: so the publisher sends
 * one-byte hellos until every subscriber has said, over the control pipe,
 * that it has received one, and only then the messages.  Hellos still
 * queued are skipped.
 */
static void
bcast_zmq_reader(const struct bcast_arg *a, const char *ep, int ctl,
    char *buf, size_t len)
{
	void		*ctx, *sub;
	uint64_t	 i, got;
	int		 zero = 0, ivl = 10, n, hello = 0;

	if ((ctx = zmq_ctx_new()) == NULL ||
	    (sub = zmq_socket(ctx, ZMQ_SUB)) == NULL)
		errx(1, "zmq: %s", zmq_strerror(errno));
	if (zmq_setsockopt(sub, ZMQ_RCVHWM, &zero, sizeof zero) == -1 ||
	    zmq_setsockopt(sub, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) == -1 ||
	    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) == -1 ||
	    zmq_connect(sub, ep) == -1)
		errx(1, "zmq subscriber %s: %s", ep, zmq_strerror(errno));
	for (i = 0; i < (uint64_t)a->count;) {
		if ((n = zmq_recv(sub, buf, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			errx(1, "zmq_recv: %s", zmq_strerror(errno));
		}
		if (n == 1) {
			if (!hello)
				writen(ctl, "r", 1);
			hello = 1;
			continue;
		}
		if ((size_t)n != a->size)
			errx(1, "zmq message %llu: %d bytes, not %zu",
			    (unsigned long long)i, n, a->size);
		memcpy(&got, buf, sizeof got);
		if (got != i)
			errx(1, "zmq message %llu came as number %llu",
			    (unsigned long long)i, (unsigned long long)got);
		i++;
	}
	writen(ctl, "d", 1);
	zmq_close(sub);
	zmq_ctx_term(ctx);
	_exit(0);
}

/* Send one-byte hellos until all n subscribers have had one. */
static void
bcast_zmq_join(void *pub, int ctl, int n)
{
	struct pollfd	 pfd;
	char		 c[64];
	ssize_t		 r;
	double		 t0 = now();
	int		 ready = 0;

	pfd.fd = ctl;
	pfd.events = POLLIN;
	while (ready < n) {
		if (now() - t0 > 30)
			errx(1, "zmq: %d of %d subscribers joined", ready, n);
		if (zmq_send(pub, "h", 1, 0) == -1)
			errx(1, "zmq_send: %s", zmq_strerror(errno));
		if (poll(&pfd, 1, 1) <= 0)
			continue;
		r = read(ctl, c, (size_t)(n - ready) < sizeof c ?
		    (size_t)(n - ready) : sizeof c);
		if (r == 0)
			errx(1, "zmq: a subscriber died");
		if (r > 0)
			ready += (int)r;
	}
}

static void
bcast_fn(const struct subj *s, void *varg, double *vals)
{
	struct bcast_arg	*a = varg;
	char			 path[PATH_MAX] = "", ep[PATH_MAX + 8] = "";
	char			*buf, *c;
	void			*ctx = NULL, *pub = NULL;
	uint64_t		 i, got;
	size_t			 len = 2 * a->size;
	ssize_t			 r;
	double			 t0, t1;
	pid_t			*pid;
	int			 ctl[2], fds[2], *rfd, *wfd, j, k;
	int			 n = a->readers, zero = 0, wfd1 = -1;

	pid = xmalloc(sizeof *pid * (size_t)n);
	rfd = xmalloc(sizeof *rfd * (size_t)n);
	wfd = xmalloc(sizeof *wfd * (size_t)n);
	c = xmalloc((size_t)n);
	buf = xmalloc(len);
	memset(buf, 'b', len);
	if (pipe(ctl) == -1)
		err(1, "pipe");
	switch (s->kind) {
	case K_IPCFS:
		/* Opened for writing first: readers meet a writer. */
		newpath(path, sizeof path, cfg.mnt[s->mount], "bcast");
		mkchan(path, "messages", "broadcast");
		wfd1 = xopen(path, O_WRONLY);
		break;
	case K_PIPE:
		for (j = 0; j < n; j++) {
			if (pipe(fds) == -1)
				err(1, "pipe");
			rfd[j] = fds[0];
			wfd[j] = fds[1];
		}
		break;
	case K_ZMQ:
		newpath(path, sizeof path, cfg.tmp, "zmq");
		snprintf(ep, sizeof ep, "ipc://%s", path);
		break;
	default:
		abort();
	}

	/* The readers, before any ZeroMQ context: they do not survive fork. */
	for (j = 0; j < n; j++) {
		if ((pid[j] = xfork()) != 0)
			continue;
		close(ctl[0]);
		if (s->kind == K_ZMQ)
			bcast_zmq_reader(a, ep, ctl[1], buf, len);
		if (s->kind == K_PIPE) {
			for (k = 0; k < n; k++) {
				close(wfd[k]);
				if (k != j)
					close(rfd[k]);
			}
		} else {
			close(wfd1);
			rfd[j] = xopen(path, O_RDONLY);
		}
		writen(ctl[1], "r", 1);
		for (i = 0; i < (uint64_t)a->count; i++) {
			if (s->kind == K_PIPE)
				r = readn(rfd[j], buf, a->size);
			else
				while ((r = read(rfd[j], buf, len)) == -1 &&
				    errno == EINTR)
					;
			if (r == -1)
				err(1, "broadcast read");
			if ((size_t)r != a->size)
				errx(1, "%s: message %llu: %zd bytes, not "
				    "%zu", s->name, (unsigned long long)i, r,
				    a->size);
			memcpy(&got, buf, sizeof got);
			if (got != i)
				errx(1, "%s: message %llu came as number "
				    "%llu", s->name, (unsigned long long)i,
				    (unsigned long long)got);
		}
		writen(ctl[1], "d", 1);
		_exit(0);
	}
	close(ctl[1]);
	if (s->kind == K_PIPE)
		for (j = 0; j < n; j++)
			close(rfd[j]);
	if (s->kind == K_ZMQ) {
		if ((ctx = zmq_ctx_new()) == NULL ||
		    (pub = zmq_socket(ctx, ZMQ_PUB)) == NULL)
			errx(1, "zmq: %s", zmq_strerror(errno));
		/* Linger 0: what is left at close is only hellos. */
		if (zmq_setsockopt(pub, ZMQ_SNDHWM, &zero,
		    sizeof zero) == -1 || zmq_setsockopt(pub, ZMQ_LINGER,
		    &zero, sizeof zero) == -1 || zmq_bind(pub, ep) == -1)
			errx(1, "zmq publisher %s: %s", ep,
			    zmq_strerror(errno));
		bcast_zmq_join(pub, ctl[0], n);
	} else if (readn(ctl[0], c, (size_t)n) != n)
		errx(1, "%s: broadcast readers did not start", s->name);

	t0 = now();
	for (i = 0; i < (uint64_t)a->count; i++) {
		memcpy(buf, &i, sizeof i);
		switch (s->kind) {
		case K_IPCFS:
			writen(wfd1, buf, a->size);
			break;
		case K_PIPE:
			for (j = 0; j < n; j++)
				writen(wfd[j], buf, a->size);
			break;
		case K_ZMQ:
			while (zmq_send(pub, buf, a->size, 0) == -1)
				if (errno != EINTR)
					errx(1, "zmq_send: %s",
					    zmq_strerror(errno));
			break;
		default:
			abort();
		}
	}
	if (readn(ctl[0], c, (size_t)n) != n)
		errx(1, "%s: a broadcast reader died", s->name);
	t1 = now();

	for (j = 0; j < n; j++)
		xwaitpid(pid[j]);
	close(ctl[0]);
	switch (s->kind) {
	case K_IPCFS:
		close(wfd1);
		unlink(path);
		break;
	case K_PIPE:
		for (j = 0; j < n; j++)
			close(wfd[j]);
		break;
	case K_ZMQ:
		zmq_close(pub);
		zmq_ctx_term(ctx);
		unlink(path);
		break;
	default:
		abort();
	}
	free(pid);
	free(rfd);
	free(wfd);
	free(c);
	free(buf);
	vals[0] = (double)n * a->count * (double)a->size / (t1 - t0) / 1e6;
}

static void
scen_bcast(void)
{
	static const int	 readers[] = { 1, 4, 16 };
	const struct subj	 s[] = {
		{ "ipcfs", K_IPCFS, 0 },
		{ "pipe-per-reader", K_PIPE, 0 },
		{ "zeromq-pub-sub", K_ZMQ, 0 },
	};
	struct bcast_arg	 a;
	struct metric		 m = { "bcast", "", "MB/s", 1 };
	char			 sz[32];
	int			 major, minor, patch;
	size_t			 i;

	zmq_version(&major, &minor, &patch);
	fprintf(cfg.out, "meta\tzeromq\t%d.%d.%d\n", major, minor, patch);
	a.size = 4 * KIB;
	a.count = cfg.smoke ? 50 : 20000;
	sizename(sz, sizeof sz, a.size);
	for (i = 0; i < sizeof readers / sizeof readers[0]; i++) {
		a.readers = readers[i];
		snprintf(m.name, sizeof m.name, "%d reader%s, %d messages of "
		    "%s", a.readers, a.readers == 1 ? "" : "s", a.count, sz);
		bench_run(&m, 1, s, 3, bcast_fn, &a);
	}
}

/*
 * Scenario 8: across hosts, through NATS JetStream (issue 13).  Two ipcfs
 * daemons, standing for two hosts, are connected to one NATS server and
 * have bridged a directory each (cfg.xa on host A, cfg.xb on host B): a
 * name under one is the same channel under the other.  Throughput: this
 * process writes count messages of size bytes to a channel on A, one
 * write each, and a child reads them on B; round trips: two channels with
 * framing=messages, one each way, and a child on B echoes each message.
 *
 * The baselines are the same traffic sent with libnats directly, by
 * tools/bench-nats, run once per repetition so that its runs interleave
 * with the bridge's: over JetStream with the bridge's guarantees (a
 * stream of the channel's capacity, each message stored before the next
 * is sent, each taken by one fetch and one synchronous acknowledgement),
 * the same with the messages published asynchronously, many in flight,
 * and waited for at the end (what a bridged channel's writer that calls
 * fsync() or close() at the end gets, issue 22; throughput only), and
 * over core NATS, which keeps and promises nothing.
 */
struct bridge_arg {
	const struct metric	*m;
	int			 nm;
	const char		*test;	/* for bench-nats: throughput, rtt */
	size_t			 size;
	int			 count;	/* messages, or timed round trips */
	long			 maxbytes;	/* of the baseline's streams */
};

/* Host B's name (under cfg.xb) of host A's path apath (under cfg.xa). */
static void
bridge_path(char *buf, size_t len, const char *apath)
{
	snprintf(buf, len, "%s%s", cfg.xb, apath + strlen(cfg.xa));
}

/*
 * Whether the directory of path lists its last name.  Read from the
 * directory, not looked up: a lookup that fails leaves the kernel a
 * negative entry, which hides the name until it times out unless the
 * daemon takes it back when the name comes.
 */
static int
bridge_listed(const char *path)
{
	char		 dir[PATH_MAX], *name;
	struct dirent	*de;
	DIR		*d;
	int		 found = 0;

	snprintf(dir, sizeof dir, "%s", path);
	if ((name = strrchr(dir, '/')) == NULL)
		errx(1, "%s: not a path", path);
	*name++ = '\0';
	if ((d = opendir(dir)) == NULL)
		err(1, "%s", dir);
	while (!found && (de = readdir(d)) != NULL)
		found = strcmp(de->d_name, name) == 0;
	closedir(d);
	return (found);
}

/*
 * Wait until path, on host B, is there, with the framing given unless
 * NULL.  The bridge shows a name made on another host within a second,
 * and its settings after it.
 */
static void
bridge_wait(const char *path, const char *framing)
{
	char	 v[32];
	ssize_t	 n;
	double	 t0 = now();

	for (;;) {
		if (bridge_listed(path)) {
			if (framing == NULL)
				return;
			if ((n = getxattr(path, "user.ipcfs.framing", v,
			    sizeof v - 1)) > 0) {
				v[n] = '\0';
				if (strcmp(v, framing) == 0)
					return;
			}
		}
		if (now() - t0 > BRIDGE_WAIT)
			errx(1, "%s: not on the other host after %d s%s%s "
			    "(is the bridge up?)", path, BRIDGE_WAIT,
			    framing ? " with framing=" : "",
			    framing ? framing : "");
		usleep(1000);
	}
}

/*
 * One run of tools/bench-nats for baseline s: its figures for the
 * metrics of a, read from the result lines it prints.
 */
static void
bridge_nats(const struct subj *s, const struct bridge_arg *a, double *vals)
{
	char	 size[32], count[32], cap[32], *line = NULL, *f[12], *p;
	char	*argv[20];
	size_t	 len = 0;
	int	 fds[2], found = 0, i, j, nf;
	FILE	*in;
	pid_t	 pid;

	snprintf(size, sizeof size, "%zu", a->size);
	snprintf(count, sizeof count, "%d", a->count);
	snprintf(cap, sizeof cap, "%ld", a->maxbytes);
	i = 0;
	argv[i++] = (char *)cfg.nats;
	argv[i++] = "-u";
	argv[i++] = (char *)cfg.url;
	argv[i++] = "-r";
	argv[i++] = "1";
	argv[i++] = "-k";
	argv[i++] = s->kind == K_NATS_JS ? "js" : s->kind == K_NATS_JSA ?
	    "jsasync" : "core";
	argv[i++] = "-w";
	argv[i++] = (char *)a->test;
	argv[i++] = "-c";
	argv[i++] = cap;
	argv[i++] = strcmp(a->test, "rtt") == 0 ? "-Z" : "-z";
	argv[i++] = size;
	argv[i++] = strcmp(a->test, "rtt") == 0 ? "-i" : "-n";
	argv[i++] = count;
	if (cfg.smoke)
		argv[i++] = "-s";
	argv[i] = NULL;

	if (pipe(fds) == -1)
		err(1, "pipe");
	if ((pid = xfork()) == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) == -1)
			_exit(1);
		execv(cfg.nats, argv);
		warn("%s", cfg.nats);
		_exit(1);
	}
	close(fds[1]);
	if ((in = fdopen(fds[0], "r")) == NULL)
		err(1, "fdopen");
	while (getline(&line, &len, in) != -1) {
		line[strcspn(line, "\n")] = '\0';
		for (nf = 0, p = line; nf < 12 && p != NULL; nf++)
			f[nf] = strsep(&p, "\t");
		if (nf != 12 || strcmp(f[0], "result") != 0 ||
		    strcmp(f[3], s->name) != 0)
			continue;
		for (j = 0; j < a->nm; j++)
			if (strcmp(f[2], a->m[j].name) == 0) {
				vals[j] = strtod(f[7], NULL);
				found |= 1 << j;
			}
	}
	free(line);
	fclose(in);
	xwaitpid(pid);
	if (found != (1 << a->nm) - 1)
		errx(1, "%s: %s gave no figure for %s", s->name, cfg.nats,
		    a->m[0].name);
}

static void
bridge_xput_fn(const struct subj *s, void *varg, double *vals)
{
	struct bridge_arg	*a = varg;
	char			 pa[PATH_MAX], pb[PATH_MAX], *buf, c;
	uint64_t		 i, got;
	int			 ctl[2], wfd, rfd;
	double			 t0, t1;
	pid_t			 pid;

	if (s->kind != K_IPCFS) {
		bridge_nats(s, a, vals);
		return;
	}
	newpath(pa, sizeof pa, cfg.xa, "xput");
	bridge_path(pb, sizeof pb, pa);
	buf = xmalloc(a->size);
	memset(buf, 'x', a->size);
	if (pipe(ctl) == -1)
		err(1, "pipe");
	wfd = xopen(pa, O_WRONLY | O_CREAT | O_EXCL);
	pid = xfork();
	if (pid == 0) {
		close(ctl[0]);
		close(wfd);
		bridge_wait(pb, NULL);
		rfd = xopen(pb, O_RDONLY);
		writen(ctl[1], "r", 1);
		for (i = 0; i < (uint64_t)a->count; i++) {
			if (readn(rfd, buf, a->size) != (ssize_t)a->size)
				errx(1, "%s: message %llu: short read or end "
				    "of file", pb, (unsigned long long)i);
			memcpy(&got, buf, sizeof got);
			if (got != i)
				errx(1, "%s: message %llu came as number "
				    "%llu", pb, (unsigned long long)i,
				    (unsigned long long)got);
		}
		writen(ctl[1], "d", 1);
		_exit(0);
	}
	close(ctl[1]);
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "%s: the reader on host B did not start", s->name);

	t0 = now();
	for (i = 0; i < (uint64_t)a->count; i++) {
		memcpy(buf, &i, sizeof i);
		writen(wfd, buf, a->size);
	}
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "%s: the reader on host B died", s->name);
	t1 = now();

	close(wfd);
	xwaitpid(pid);
	close(ctl[0]);
	if (unlink(pa) == -1)
		err(1, "unlink %s", pa);
	free(buf);
	vals[0] = (double)a->count * (double)a->size / (t1 - t0) / 1e6;
	vals[1] = a->count / (t1 - t0);
}

static void
bridge_rtt_fn(const struct subj *s, void *varg, double *vals)
{
	struct bridge_arg	*a = varg;
	struct mend		 out, in;
	char			 ping[PATH_MAX], pong[PATH_MAX];
	char			 bping[PATH_MAX], bpong[PATH_MAX], *buf, c;
	uint64_t		 i, warm = (uint64_t)a->count / 10;
	uint64_t		 total = warm + (uint64_t)a->count;
	size_t			 len = 2 * a->size;
	double			*t, t0;
	int			 ctl[2];
	pid_t			 pid;

	if (s->kind != K_IPCFS) {
		bridge_nats(s, a, vals);
		return;
	}
	newpath(ping, sizeof ping, cfg.xa, "ping");
	newpath(pong, sizeof pong, cfg.xa, "pong");
	bridge_path(bping, sizeof bping, ping);
	bridge_path(bpong, sizeof bpong, pong);
	mkchan(ping, "messages", NULL);
	mkchan(pong, "messages", NULL);
	buf = xmalloc(len);
	memset(buf, 'p', len);
	t = xmalloc(sizeof *t * (size_t)a->count);
	out.kind = in.kind = K_IPCFS;
	if (pipe(ctl) == -1)
		err(1, "pipe");
	pid = xfork();
	if (pid == 0) {
		close(ctl[0]);
		bridge_wait(bping, "messages");
		bridge_wait(bpong, "messages");
		in.fd = xopen(bping, O_RDONLY);
		out.fd = xopen(bpong, O_WRONLY);
		writen(ctl[1], "r", 1);
		for (i = 0; i < total; i++) {
			mrecv(&in, buf, len, a->size, i);
			msend(&out, buf, a->size);
		}
		_exit(0);
	}
	close(ctl[1]);
	out.fd = xopen(ping, O_WRONLY);
	in.fd = xopen(pong, O_RDONLY);
	if (readn(ctl[0], &c, 1) != 1)
		errx(1, "%s: the echo on host B did not start", s->name);

	for (i = 0; i < total; i++) {
		t0 = now();
		memcpy(buf, &i, sizeof i);
		msend(&out, buf, a->size);
		mrecv(&in, buf, len, a->size, i);
		if (i >= warm)
			t[i - warm] = (now() - t0) * 1e6;
	}

	xwaitpid(pid);
	close(ctl[0]);
	mdrop(&out);
	mdrop(&in);
	if (unlink(ping) == -1 || unlink(pong) == -1)
		err(1, "unlink %s", ping);
	vals[0] = quantile(t, (size_t)a->count, 0.5);
	free(t);
	free(buf);
}

static void
scen_bridge(void)
{
	static const size_t	 sizes[] = { 64, 4 * KIB };
	const struct subj	 s[] = {
		{ "ipcfs-bridge", K_IPCFS, 0 },
		{ "libnats-jetstream", K_NATS_JS, 0 },
		{ "libnats-core", K_NATS_CORE, 0 },
		{ "libnats-jetstream-async", K_NATS_JSA, 0 },
	};
	struct bridge_arg	 a;
	struct metric		 m[2] = {
		{ "bridge", "", "MB/s", 1 },
		{ "bridge", "", "messages/s", 1 },
	};
	struct metric		 mr = { "bridge", "", "us", 0 };
	char			 sz[32], v[32];
	ssize_t			 n;
	size_t			 i;
	long			 capacity;

	/*
	 * The capacity the bridged directory gives its channels, and what
	 * the bridge makes of it: the baseline's streams hold as much.
	 */
	if ((n = getxattr(cfg.xa, "user.ipcfs.capacity", v,
	    sizeof v - 1)) < 0)
		err(1, "%s: user.ipcfs.capacity", cfg.xa);
	v[n] = '\0';
	if ((capacity = atol(v)) <= 0)
		errx(1, "%s: user.ipcfs.capacity is %s", cfg.xa, v);
	memset(&a, 0, sizeof a);
	a.maxbytes = capacity + BRIDGE_SLACK;
	fprintf(cfg.out, "meta\tbridge_capacity\t%ld\n", capacity);
	fprintf(cfg.out, "meta\tbridge_maxbytes\t%ld\n", a.maxbytes);

	a.test = "throughput";
	a.m = m;
	a.nm = 2;
	a.count = cfg.smoke ? 100 : 5000;
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		a.size = sizes[i];
		sizename(sz, sizeof sz, a.size);
		snprintf(m[0].name, sizeof m[0].name, "throughput, %s "
		    "messages", sz);
		snprintf(m[1].name, sizeof m[1].name, "message rate, %s "
		    "messages", sz);
		bench_run(m, 2, s, 4, bridge_xput_fn, &a);
	}

	a.test = "rtt";
	a.m = &mr;
	a.nm = 1;
	a.size = 64;
	a.count = cfg.smoke ? 20 : 2000;
	sizename(sz, sizeof sz, a.size);
	snprintf(mr.name, sizeof mr.name, "%s round trip, median", sz);
	bench_run(&mr, 1, s, 3, bridge_rtt_fn, &a);
}

/* The region mode a mount reports, or "off". */
static void
mount_mode(int i)
{
	char	 mode[sizeof cfg.mode[i]];
	ssize_t	 n;

	n = getxattr(cfg.mnt[i], "user.ipcfs.region", mode, sizeof mode - 1);
	if (n < 0)
		err(1, "%s: user.ipcfs.region", cfg.mnt[i]);
	mode[n] = '\0';
	/* From a copy: GCC's -Wrestrict sees one object, cfg. */
	memcpy(cfg.mode[i], mode, sizeof mode);
	snprintf(cfg.sname[i], sizeof cfg.sname[i], "ipcfs-%s", mode);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench -m MNT -p PID [-M MNT2 -P PID2] "
	    "[-F MNT3 -f PID3 -L LABEL]\n"
	    "    [-a DIR_A -b DIR_B -N BENCH_NATS -u URL]\n"
	    "    -t TMPDIR -S SHMDIR [-o FILE] [-r REPS] [-s] [-x SCENARIOS] "
	    "[-C]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rlimit	 rl;
	const char	*outpath = NULL;
	int		 ch, i;

	while ((ch = getopt(argc, argv, "a:b:Cf:F:L:m:M:N:o:p:P:r:sS:t:u:x:"))
	    != -1) {
		switch (ch) {
		case 'a':
			cfg.xa = optarg;
			break;
		case 'b':
			cfg.xb = optarg;
			break;
		case 'C':
			cfg.cross = 1;
			break;
		case 'f':
			cfg.dpid[2] = atoi(optarg);
			break;
		case 'F':
			cfg.mnt[2] = optarg;
			break;
		case 'L':
			cfg.label = optarg;
			break;
		case 'm':
			cfg.mnt[0] = optarg;
			break;
		case 'M':
			cfg.mnt[1] = optarg;
			break;
		case 'N':
			cfg.nats = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'p':
			cfg.dpid[0] = atoi(optarg);
			break;
		case 'P':
			cfg.dpid[1] = atoi(optarg);
			break;
		case 'r':
			cfg.reps = atoi(optarg);
			break;
		case 's':
			cfg.smoke = 1;
			break;
		case 'S':
			cfg.shm = optarg;
			break;
		case 't':
			cfg.tmp = optarg;
			break;
		case 'u':
			cfg.url = optarg;
			break;
		case 'x':
			cfg.only = optarg;
			break;
		default:
			usage();
		}
	}
	if (cfg.mnt[0] == NULL || cfg.dpid[0] <= 0 || cfg.tmp == NULL ||
	    cfg.shm == NULL || cfg.reps < 0 ||
	    (cfg.mnt[1] != NULL && cfg.dpid[1] <= 0) ||
	    (cfg.mnt[2] != NULL && (cfg.dpid[2] <= 0 || cfg.label == NULL)) ||
	    (cfg.xa == NULL) != (cfg.xb == NULL) ||
	    (cfg.xa == NULL) != (cfg.nats == NULL) ||
	    (cfg.xa == NULL) != (cfg.url == NULL))
		usage();
	if (cfg.reps == 0)
		cfg.reps = cfg.smoke ? 1 : 7;
	cfg.nmnt = cfg.mnt[1] != NULL ? 2 : 1;
	cfg.out = stdout;
	if (outpath != NULL && (cfg.out = fopen(outpath, "w")) == NULL)
		err(1, "%s", outpath);

	signal(SIGPIPE, SIG_IGN);
	/* A thousand channels, each opened twice, and a thousand pipes. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i = 0; i < cfg.nmnt; i++)
		mount_mode(i);
	if (cfg.mnt[2] != NULL) {
		mount_mode(2);
		snprintf(cfg.sname[2], sizeof cfg.sname[2], "ipcfs-%s",
		    cfg.label);
	}

	fprintf(cfg.out, "meta\treps\t%d\n", cfg.reps);
	fprintf(cfg.out, "meta\tsmoke\t%d\n", cfg.smoke);
	for (i = 0; i < cfg.nmnt; i++)
		fprintf(cfg.out, "meta\tmount%d\t%s\n", i, cfg.mode[i]);
	fflush(cfg.out);

	/* First, while the daemons are fresh. */
	if (wanted("memory"))
		scen_memory();
	if (wanted("stream"))
		scen_stream();
	if (wanted("rtt"))
		scen_rtt();
	if (wanted("region"))
		scen_region();
	if (wanted("frame"))
		scen_frame();
	if (wanted("files"))
		scen_files();
	if (wanted("wake"))
		scen_wake();
	if (wanted("msg"))
		scen_msg();
	if (wanted("bcast"))
		scen_bcast();
	if (wanted("bridge") && cfg.xa != NULL)
		scen_bridge();
	if (cfg.out != stdout && fclose(cfg.out) != 0)
		err(1, "%s", outpath);
	return (0);
}
