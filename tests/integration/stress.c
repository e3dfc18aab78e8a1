/*
 * stress: many writers and readers over a few channels of a mounted ipcfs,
 * with signals at blocked callers, clients killed mid-call and a namespace
 * that changes under them, checking that nothing a write() accepted is
 * lost, duplicated, damaged or reordered, and that the daemon gives back
 * every request, byte and descriptor once the clients are gone.
 *
 * usage: stress [-n] [-H hang] [-k channels] [-m mappers]
 *	      [-p daemon_pid] [-R rss_slack_kb] [-r readers] [-s seed]
 *	      [-t seconds] [-w writers] MOUNTDIR
 *
 * Every client is a process, so that it can be killed with SIGKILL in the
 * middle of a call.  Records are at most 4096 bytes (pipe(7)'s atomic
 * size), so each write() takes a record whole or not at all, never
 * interleaved with another, and the stream stays framed: a record is a
 * 32-byte header (magic, length, writer id, channel, generation, checksum,
 * sequence number) and a payload computed from the writer id and sequence
 * number.  A reader alone on its channel reads any size (mostly 64 KiB,
 * sometimes less) and puts records back together across reads, as a pipe
 * may end a read inside a record.  Where readers share a channel, its
 * records all have one size and each read asks for exactly that size, so
 * every read is one whole record.
 *
 * Channels come in two kinds.  A stable channel has one reader that is
 * never killed; it is renamed now and then (between the top directory and
 * a subdirectory), which must not disturb anybody holding it open.  Every
 * record a write() accepted on a stable channel must arrive exactly once,
 * intact and in its writer's order, whoever wrote it.  A chaos channel has
 * readers that are killed (extra readers, -r, go to chaos channels), and
 * is replaced (unlinked and created again, or overwritten by a rename)
 * whenever its reader is killed and every so often besides; records on it
 * may be lost with the channel, but any that arrive must be intact, in
 * order for each reader, exactly once, and on the generation of the
 * channel they were written to.
 *
 * Writers log each accepted sequence number in shared memory, readers
 * count each one received; the books are balanced when everything has
 * stopped.  Half the writers (at least one) are never killed; the others
 * are killed at random, preferably while inside a call, and replaced by
 * new writers with new ids.  Mappers (when the mount has regions) create
 * a channel, size and map its region, check it starts zeroed and that a
 * second mapping sees their stores, and are killed at random too.
 *
 * A watchdog process sees every operation any client or the controller
 * starts; one that takes longer than the hang limit (-H, 20 s) is reported
 * with its process, operation, path and kernel wait channel, every client
 * is killed, and if something still cannot die the FUSE connection is
 * aborted through /sys/fs/fuse/connections (unless -n) so the tool and the
 * test around it can end.
 *
 * At the end the daemon's counters (the user.ipcfs.stats attribute of the
 * mount root) must come back: no held requests or bytes, no stream
 * buffers and no read histories once everything is closed and drained,
 * and, once every channel is unlinked, the starting number of nodes and
 * descriptors and no region bytes.  With -p the daemon's resident size is
 * reported too, and checked against -R.  Exit status: 0 when every check
 * held, 1 on a violation, 2 on a usage error.
 */

#define _GNU_SOURCE

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define REC_MAGIC	0x1bcf5eedU
#define REC_HDR		32
#define REC_MAX		4096
#define READ_MAX	65536

#define MAXSLOTS	32
#define MAXPROCS	128
#define MAXWIDS		4096
#define DURABLE_CAP	((uint64_t)1 << 25)
#define MORTAL_CAP	((uint64_t)1 << 16)
#define MAXREPORTS	30

enum role {
	R_FREE,
	R_CTL,
	R_WRITER,
	R_READER,
	R_MAPPER,
};

static const char *role_names[] = {
	"free", "controller", "writer", "reader", "mapper"
};

enum op {
	OP_NONE,
	OP_OPEN,
	OP_READ,
	OP_WRITE,
	OP_POLL,
	OP_CLOSE,
	OP_FCNTL,
	OP_RENAME,
	OP_UNLINK,
	OP_MKNOD,
	OP_MKDIR,
	OP_RMDIR,
	OP_TRUNC,
	OP_MMAP,
	OP_MUNMAP,
	OP_XATTR,
};

static const char *op_names[] = {
	"none", "open", "read", "write", "poll", "close", "fcntl", "rename",
	"unlink", "mknod", "mkdir", "rmdir", "ftruncate", "mmap", "munmap",
	"getxattr"
};

/* A record's header; the payload follows. */
struct rec {
	uint32_t	magic;
	uint32_t	len;		/* header and payload */
	uint32_t	wid;
	uint32_t	slot;
	uint32_t	gen;
	uint32_t	sum;		/* FNV-1a of the record, sum 0 */
	uint64_t	seq;
};

/* One process: the controller or a client.  pid 0 marks a free entry. */
struct proc {
	volatile pid_t	 pid;
	int		 role;
	int		 durable;
	int		 wid;		/* writer id */
	int		 slot;		/* reader: its channel */
	volatile int	 op;
	volatile int64_t op_start;
	volatile int	 op_slot;	/* channel of the op, or -1 */
	volatile int64_t killed_at;	/* when SIGKILL was sent, or 0 */
	volatile unsigned op_gen;	/* its generation when opened */
	char		 what[160];	/* path of the op */
	char		 mname[128];	/* mapper: its channel, if any */
};

/*
 * A channel slot.  For a stable channel gen counts renames and names the
 * channel; for a chaos channel it counts replacements, odd while one is
 * under way, so an opener can tell which generation it got.
 */
struct slot {
	volatile unsigned gen;
	int		 chaos;
	int		 nreaders;
	size_t		 fixed;		/* record size, or 0 for any */
};

/* The books of one writer id. */
struct wlog {
	uint64_t	 base;		/* index into acc[] and rcv[] */
	uint64_t	 cap;
	volatile uint64_t next;		/* sequence numbers used */
	volatile int64_t pending;	/* being written, or -1 */
	volatile int	 killed;
	int		 durable;
};

struct counters {
	uint64_t	recs_sent;
	uint64_t	bytes_sent;
	uint64_t	recs_recv;
	uint64_t	bytes_recv;
	uint64_t	eintr;		/* in read and write */
	uint64_t	eintr_poll;
	uint64_t	eagain;
	uint64_t	epipe;
	uint64_t	opens;
	uint64_t	enoent;
	uint64_t	stale;
	uint64_t	maps;
	uint64_t	reports;
};

struct shared {
	volatile int	 stop_writers;
	volatile int	 stop_readers;
	volatile int	 done;
	volatile int	 nviol;
	volatile int	 hung;
	int		 nwids;
	struct slot	 slots[MAXSLOTS];
	struct proc	 procs[MAXPROCS];
	struct wlog	 wl[MAXWIDS];
	struct counters	 c;
};

struct stats {
	long long	 nodes;
	long long	 held_requests;
	long long	 held_bytes;
	long long	 buffer_bytes;
	long long	 history_bytes;
	long long	 region_bytes;
	long long	 fds;
};

static struct shared	*sh;
static uint8_t		*acc;		/* writer's log: channel + 1 */
static uint8_t		*rcv;		/* readers' count */
static size_t		 books_size;
static const char	*mnt;
static int		 nslots;
static int		 nstable;
static int		 hang_s = 20;
static int		 may_abort = 1;
static int		 conn_minor = -1;
static pid_t		 dpid;
static int		 self = -1;	/* this process's entry */
static uint64_t		 rng;

#define CNT(f, n)	__atomic_add_fetch(&sh->c.f, (n), __ATOMIC_RELAXED)
#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ULL);
}

static unsigned
rndn(unsigned n)
{
	return (n == 0 ? 0 : (unsigned)(rnd() % n));
}

static void
msleep(unsigned ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Print a line with write(2): safe in children of a forked process. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) == -1)
		return;
}

/* Count a broken rule and say what it was (the first few times). */
static void __attribute__((format(printf, 1, 2)))
violation(const char *fmt, ...)
{
	char	 buf[900];
	va_list	 ap;
	int	 n;

	n = __atomic_add_fetch(&sh->nviol, 1, __ATOMIC_SEQ_CST);
	if (n > MAXREPORTS) {
		if (n == MAXREPORTS + 1)
			say("stress: VIOLATION: (more left out)");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (self >= 0 && sh->procs[self].role != R_CTL)
		say("stress: VIOLATION: %s %d (pid %d): %s",
		    role_names[sh->procs[self].role],
		    sh->procs[self].role == R_WRITER ? sh->procs[self].wid :
		    self, (int)getpid(), buf);
	else
		say("stress: VIOLATION: %s", buf);
}

static void	slot_path(char *, size_t, int, unsigned);
static int	is_chaos(int);

/*
 * Note the start of an operation the watchdog should time, on what (a
 * path) or, if NULL, on the channel of slot (its name now), or else on the
 * mapper's channel.
 */
static void
op_begin(int op, int slot, unsigned gen, const char *what)
{
	struct proc	*p = &sh->procs[self];

	if (what != NULL)
		strlcpy(p->what, what, sizeof p->what);
	else if (slot >= 0)
		slot_path(p->what, sizeof p->what, slot, is_chaos(slot) ? gen :
		    LOAD(sh->slots[slot].gen));
	else
		strlcpy(p->what, p->mname, sizeof p->what);
	p->op_slot = slot;
	p->op_gen = gen;
	STORE(p->op_start, now_ns());
	STORE(p->op, op);
}

static void
op_end(void)
{
	STORE(sh->procs[self].op, OP_NONE);
}

static int
is_chaos(int s)
{
	return (sh->slots[s].chaos);
}

/* The path of slot s at generation (stable: rename count) gen. */
static void
slot_path(char *buf, size_t len, int s, unsigned gen)
{
	if (is_chaos(s))
		snprintf(buf, len, "%s/x%d", mnt, s);
	else if (gen % 2 == 0)
		snprintf(buf, len, "%s/s%d.%u", mnt, s, gen);
	else
		snprintf(buf, len, "%s/sub/s%d.%u", mnt, s, gen);
}

static uint32_t
fnv(const void *p, size_t len, uint32_t h)
{
	const unsigned char	*c = p;

	while (len-- > 0) {
		h ^= *c++;
		h *= 16777619U;
	}
	return (h);
}

/* The payload of a record is a function of who wrote it and when. */
static void
payload(unsigned char *p, size_t len, uint32_t wid, uint64_t seq)
{
	uint64_t	 x = (seq + 1) * 0x9e3779b97f4a7c15ULL ^
			     ((uint64_t)wid << 40), z;
	size_t		 i;

	for (i = 0; i < len; i += 8) {
		x += 0x9e3779b97f4a7c15ULL;
		z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(p + i, &z, len - i < 8 ? len - i : 8);
	}
}

static uint32_t
rec_sum(const unsigned char *buf, size_t len)
{
	struct rec	 h;

	memcpy(&h, buf, sizeof h);
	h.sum = 0;
	return (fnv(buf + REC_HDR, len - REC_HDR,
	    fnv(&h, sizeof h, 2166136261U)));
}

static void
rec_make(unsigned char *buf, size_t len, int wid, uint64_t seq, int slot,
    unsigned gen)
{
	struct rec	 h;

	memset(&h, 0, sizeof h);
	h.magic = REC_MAGIC;
	h.len = (uint32_t)len;
	h.wid = (uint32_t)wid;
	h.slot = (uint32_t)slot;
	h.gen = gen;
	h.seq = seq;
	memcpy(buf, &h, sizeof h);
	payload(buf + REC_HDR, len - REC_HDR, (uint32_t)wid, seq);
	h.sum = rec_sum(buf, len);
	memcpy(buf, &h, sizeof h);
}

/*
 * Mostly small records, some of every size up to the atomic limit; on a
 * channel with several readers, the channel's one size.
 */
static size_t
rec_len(int s)
{
	if (sh->slots[s].fixed != 0)
		return (sh->slots[s].fixed);
	switch (rndn(10)) {
	case 0:
		return (REC_MAX);
	case 1:
	case 2:
		return (REC_HDR + rndn(REC_MAX - REC_HDR + 1));
	case 3:
	case 4:
	case 5:
		return (REC_HDR + rndn(1024));
	default:
		return (REC_HDR + rndn(224));
	}
}

static void
on_signal(int sig)
{
	(void)sig;
}

/*
 * Catch the signals sent at clients, without SA_RESTART so that calls see
 * EINTR.  Set before the first fork: a child can be signalled at once.
 */
static void
signals_init(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Set up a fresh client: its entry and its random numbers. */
static void
child_init(int pi, uint64_t seed)
{
	self = pi;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rng = seed ^ ((uint64_t)getpid() << 32) ^ (uint64_t)now_ns();
	if (rng == 0)
		rng = 1;
}

/* Errors that say the daemon is gone: report once per process, stop. */
static void __attribute__((noreturn))
client_fatal(const char *what, int err)
{
	violation("%s: %s (errno %d)", what, strerror(err), err);
	_exit(1);
}

/*
 * Open the channel of slot s.  For a chaos channel the generation is read
 * before and after, so *gen is the generation actually opened.  Returns -1
 * when asked to stop first.
 */
static int
slot_open(int s, int flags, unsigned *gen, volatile int *stop)
{
	char		 path[PATH_MAX];
	unsigned	 g1, g2;
	int		 fd;

	for (;;) {
		if (*stop || LOAD(sh->hung))
			return (-1);
		g1 = LOAD(sh->slots[s].gen);
		if (is_chaos(s) && (g1 & 1)) {
			msleep(1);
			continue;
		}
		slot_path(path, sizeof path, s, g1);
		if (rndn(3) == 0)
			flags |= O_NONBLOCK;
		else
			flags &= ~O_NONBLOCK;
		op_begin(OP_OPEN, s, g1, path);
		fd = open(path, flags | O_CLOEXEC);
		op_end();
		if (fd == -1) {
			if (errno == ENOENT || errno == EINTR) {
				if (errno == ENOENT)
					CNT(enoent, 1);
				msleep(1);
				continue;
			}
			client_fatal(path, errno);
		}
		CNT(opens, 1);
		g2 = LOAD(sh->slots[s].gen);
		if (is_chaos(s) && g1 != g2) {
			close(fd);
			continue;
		}
		*gen = is_chaos(s) ? g1 : 0;
		return (fd);
	}
}

/* True if fd, opened at generation gen of slot s, is an old channel. */
static int
slot_stale(int s, unsigned gen)
{
	return (is_chaos(s) && LOAD(sh->slots[s].gen) != gen);
}

static void
set_nonblock(int fd, int on)
{
	int	 fl;

	op_begin(OP_FCNTL, -1, 0, NULL);
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
	op_end();
}

enum put {
	PUT_OK,
	PUT_AGAIN,	/* not taken; try again, perhaps elsewhere */
	PUT_STALE,	/* not taken; the channel was replaced */
};

/* Offer one record until it is taken or there is a reason to give up. */
static enum put
writer_put(int fd, int s, unsigned gen, const unsigned char *buf, size_t len)
{
	struct pollfd	 pfd;
	ssize_t		 n;

	for (;;) {
		op_begin(OP_WRITE, s, gen, NULL);
		n = write(fd, buf, len);
		op_end();
		if (n == (ssize_t)len)
			return (PUT_OK);
		if (n >= 0) {
			/* An atomic write cannot be split: the stream is lost. */
			violation("write of %zu bytes on channel %d returned %zd",
			    len, s, n);
			_exit(1);
		}
		switch (errno) {
		case EINTR:
			CNT(eintr, 1);
			break;
		case EAGAIN:
			CNT(eagain, 1);
			pfd.fd = fd;
			pfd.events = POLLOUT;
			op_begin(OP_POLL, s, gen, NULL);
			if (poll(&pfd, 1, 200) == -1) {
				if (errno != EINTR)
					client_fatal("poll", errno);
				CNT(eintr_poll, 1);
			}
			op_end();
			break;
		case EPIPE:
			/* A chaos reader died, or a stable one is reopening. */
			CNT(epipe, 1);
			if (slot_stale(s, gen))
				return (PUT_STALE);
			msleep(1);
			return (PUT_AGAIN);
		default:
			client_fatal("write", errno);
		}
		if (sh->stop_writers || LOAD(sh->hung))
			return (PUT_AGAIN);
		if (slot_stale(s, gen))
			return (PUT_STALE);
	}
}

/*
 * A writer: one record at a time to a random channel, each logged once
 * write() has taken it.  Descriptors stay open between records and are
 * reopened now and then, with O_NONBLOCK chosen afresh.
 */
static void __attribute__((noreturn))
writer_main(int pi)
{
	struct proc	*p = &sh->procs[pi];
	struct wlog	*wl = &sh->wl[p->wid];
	unsigned char	 buf[REC_MAX];
	int		 fds[MAXSLOTS];
	unsigned	 gens[MAXSLOTS];
	uint64_t	 seq = 0;
	size_t		 len;
	enum put	 r;
	int		 s, i;

	for (i = 0; i < nslots; i++)
		fds[i] = -1;
	while (!sh->stop_writers && !LOAD(sh->hung)) {
		if (seq >= wl->cap) {
			if (!p->durable)
				break;
			msleep(10);
			continue;
		}
		s = (int)rndn((unsigned)nslots);
		if (fds[s] != -1 && (slot_stale(s, gens[s]) || rndn(60) == 0)) {
			if (slot_stale(s, gens[s]))
				CNT(stale, 1);
			op_begin(OP_CLOSE, s, gens[s], NULL);
			close(fds[s]);
			op_end();
			fds[s] = -1;
		}
		if (fds[s] == -1 && (fds[s] = slot_open(s, O_WRONLY, &gens[s],
		    &sh->stop_writers)) == -1)
			break;
		if (rndn(200) == 0)
			set_nonblock(fds[s], rndn(2));
		len = rec_len(s);
		rec_make(buf, len, p->wid, seq, s, gens[s]);
		STORE(wl->pending, (int64_t)seq);
		r = writer_put(fds[s], s, gens[s], buf, len);
		if (r == PUT_OK) {
			acc[wl->base + seq] = (uint8_t)(s + 1);
			seq++;
			STORE(wl->next, seq);
			CNT(recs_sent, 1);
			CNT(bytes_sent, len);
		} else if (r == PUT_STALE) {
			CNT(stale, 1);
			op_begin(OP_CLOSE, s, gens[s], NULL);
			close(fds[s]);
			op_end();
			fds[s] = -1;
		}
	}
	for (i = 0; i < nslots; i++)
		if (fds[i] != -1)
			close(fds[i]);
	_exit(0);
}

struct reader {
	int		 s;
	int		 fd;
	unsigned	 gen;
	unsigned char	*buf;
	size_t		 have;
	size_t		 fixed;		/* the channel's record size, or 0 */
	int64_t		 last[MAXWIDS];	/* last sequence number per writer */
};

/* Check one whole record. */
static void
reader_check(struct reader *rd, const unsigned char *p, size_t len)
{
	struct rec	 h;
	struct wlog	*wl;
	unsigned char	 want[REC_MAX];
	uint8_t		 n;

	memcpy(&h, p, sizeof h);
	if (h.sum != rec_sum(p, len)) {
		violation("channel %d: damaged record (writer %u seq %" PRIu64
		    " len %zu, checksum %08x, want %08x)", rd->s, h.wid, h.seq,
		    len, h.sum, rec_sum(p, len));
		return;
	}
	if (h.wid >= (uint32_t)LOAD(sh->nwids) ||
	    h.seq >= sh->wl[h.wid].cap) {
		violation("channel %d: record from unknown writer %u seq %"
		    PRIu64, rd->s, h.wid, h.seq);
		return;
	}
	payload(want, len - REC_HDR, h.wid, h.seq);
	if (memcmp(want, p + REC_HDR, len - REC_HDR) != 0) {
		violation("channel %d: damaged payload (writer %u seq %" PRIu64
		    ")", rd->s, h.wid, h.seq);
		return;
	}
	if ((int)h.slot != rd->s || h.gen != rd->gen) {
		violation("channel %d generation %u: record of writer %u seq %"
		    PRIu64 " was written to channel %u generation %u", rd->s,
		    rd->gen, h.wid, h.seq, h.slot, h.gen);
		return;
	}
	if ((int64_t)h.seq <= rd->last[h.wid])
		violation("channel %d: writer %u seq %" PRIu64 " after seq %"
		    PRId64 ": out of order", rd->s, h.wid, h.seq,
		    rd->last[h.wid]);
	rd->last[h.wid] = (int64_t)h.seq;
	wl = &sh->wl[h.wid];
	n = __atomic_add_fetch(&rcv[wl->base + h.seq], 1, __ATOMIC_RELAXED);
	if (n > 1)
		violation("channel %d: writer %u seq %" PRIu64 " arrived %u "
		    "times", rd->s, h.wid, h.seq, n);
	CNT(recs_recv, 1);
	CNT(bytes_recv, len);
}

/* Take the whole records out of the buffer; keep a partial one. */
static void
reader_consume(struct reader *rd)
{
	struct rec	 h;
	size_t		 off = 0;

	while (rd->have - off >= REC_HDR) {
		memcpy(&h, rd->buf + off, sizeof h);
		if (h.magic != REC_MAGIC || h.len < REC_HDR ||
		    h.len > REC_MAX) {
			violation("channel %d: framing lost (magic %08x len %u)"
			    " after %zu bytes of a %zu-byte read", rd->s,
			    h.magic, h.len, off, rd->have);
			_exit(1);
		}
		if (rd->have - off < h.len)
			break;
		reader_check(rd, rd->buf + off, h.len);
		off += h.len;
	}
	memmove(rd->buf, rd->buf + off, rd->have - off);
	rd->have -= off;
}

/*
 * One read into the buffer: >0 bytes, 0 end of file, -1 with errno.  On a
 * channel with one reader, reads of any size, records reassembled across
 * them; where readers share a channel, one record per read: the only way
 * several readers of a pipe can keep records whole.
 */
static ssize_t
reader_read(struct reader *rd)
{
	size_t	 size;
	ssize_t	 n;

	if (rd->fixed != 0)
		size = rd->fixed;
	else if (rndn(5) == 0)
		size = 1 + rndn(2 * REC_MAX);
	else
		size = READ_MAX;
	op_begin(OP_READ, rd->s, rd->gen, NULL);
	n = read(rd->fd, rd->buf + rd->have, size);
	op_end();
	if (n > 0) {
		if (rd->fixed != 0 && (size_t)n != rd->fixed)
			violation("channel %d: a read of %zu bytes returned %zd:"
			    " a record was split", rd->s, size, n);
		rd->have += (size_t)n;
		reader_consume(rd);
	}
	return (n);
}

/* Read what is there without waiting: before a switch or at the end. */
static void
reader_drain(struct reader *rd)
{
	ssize_t	 n;

	set_nonblock(rd->fd, 1);
	for (;;) {
		if ((n = reader_read(rd)) > 0)
			continue;
		if (n == 0 || errno == EAGAIN)
			break;
		if (errno != EINTR)
			client_fatal("read", errno);
	}
	if (rd->have != 0)
		violation("channel %d: %zu bytes of a record left at the end",
		    rd->s, rd->have);
	rd->have = 0;
}

static void
reader_reopen(struct reader *rd)
{
	op_begin(OP_CLOSE, rd->s, rd->gen, NULL);
	close(rd->fd);
	op_end();
	rd->fd = slot_open(rd->s, O_RDONLY, &rd->gen, &sh->stop_readers);
	if (rd->fd == -1)
		_exit(0);
}

/*
 * A reader of one channel: reads as big as the buffer can ever hold, so
 * every read takes whole records; follows a chaos channel to its next
 * generation after draining the old one; at the end drains and leaves.
 */
static void __attribute__((noreturn))
reader_main(int pi)
{
	struct reader	*rd;
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 i;

	rd = calloc(1, sizeof *rd);
	rd->s = sh->procs[pi].slot;
	rd->fixed = sh->slots[rd->s].fixed;
	rd->buf = malloc(READ_MAX + REC_MAX);
	if (rd->buf == NULL)
		client_fatal("malloc", ENOMEM);
	for (i = 0; i < MAXWIDS; i++)
		rd->last[i] = -1;
	rd->fd = slot_open(rd->s, O_RDONLY, &rd->gen, &sh->stop_readers);
	if (rd->fd == -1)
		_exit(0);
	for (;;) {
		if (sh->stop_readers || LOAD(sh->hung)) {
			reader_drain(rd);
			_exit(0);
		}
		if (slot_stale(rd->s, rd->gen)) {
			CNT(stale, 1);
			reader_drain(rd);
			reader_reopen(rd);
			continue;
		}
		if (rndn(500) == 0)
			set_nonblock(rd->fd, rndn(2));
		if ((n = reader_read(rd)) > 0)
			continue;
		if (n == 0) {
			/* Every writer has gone: wait for the next ones. */
			if (rd->have != 0)
				violation("channel %d: end of file inside a "
				    "record", rd->s);
			rd->have = 0;
			reader_reopen(rd);
			continue;
		}
		switch (errno) {
		case EINTR:
			CNT(eintr, 1);
			break;
		case EAGAIN:
			CNT(eagain, 1);
			pfd.fd = rd->fd;
			pfd.events = POLLIN;
			op_begin(OP_POLL, rd->s, rd->gen, NULL);
			if (poll(&pfd, 1, 200) == -1) {
				if (errno != EINTR)
					client_fatal("poll", errno);
				CNT(eintr_poll, 1);
			}
			op_end();
			break;
		default:
			client_fatal("read", errno);
		}
	}
}

/*
 * A mapper: a fresh channel with a region, which must start zeroed and
 * whose stores a second open's mapping must see, plus a little stream
 * traffic beside it.  Killed at random while it holds the mappings.
 */
static void __attribute__((noreturn))
mapper_main(int pi)
{
	struct proc	*p = &sh->procs[pi];
	unsigned char	*m, *m2, probe[64], back[64];
	unsigned	 n = 0;
	size_t		 size, i;
	ssize_t		 k;
	int		 fd, fd2;

	while (!sh->stop_writers && !LOAD(sh->hung)) {
		snprintf(p->mname, sizeof p->mname, "%s/m%d.%u", mnt,
		    (int)getpid(), n++);
		op_begin(OP_OPEN, -1, 0, p->mname);
		fd = open(p->mname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		op_end();
		if (fd == -1)
			client_fatal(p->mname, errno);
		size = (1 + rndn(16)) * 4096;
		op_begin(OP_TRUNC, -1, 0, NULL);
		if (ftruncate(fd, (off_t)size) == -1)
			client_fatal("ftruncate", errno);
		op_end();
		op_begin(OP_MMAP, -1, 0, NULL);
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		op_end();
		if (m == MAP_FAILED)
			client_fatal("mmap", errno);
		for (i = 0; i < size; i++)
			if (m[i] != 0) {
				violation("%s: new region has byte %zu = %u",
				    p->mname, i, m[i]);
				break;
			}
		payload(m, size, 0xffff, n);
		op_begin(OP_OPEN, -1, 0, p->mname);
		fd2 = open(p->mname, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		op_end();
		if (fd2 == -1)
			client_fatal(p->mname, errno);
		op_begin(OP_MMAP, -1, 0, NULL);
		m2 = mmap(NULL, size, PROT_READ, MAP_SHARED, fd2, 0);
		op_end();
		if (m2 == MAP_FAILED)
			client_fatal("mmap", errno);
		if (memcmp(m, m2, size) != 0)
			violation("%s: a second mapping does not see the "
			    "stores of the first", p->mname);
		payload(probe, sizeof probe, 0xfffe, n);
		op_begin(OP_WRITE, -1, 0, NULL);
		k = write(fd, probe, sizeof probe);
		op_end();
		if (k != (ssize_t)sizeof probe && !(k == -1 && errno == EINTR))
			client_fatal("write beside a region", errno);
		while (k > 0) {
			op_begin(OP_READ, -1, 0, NULL);
			k = read(fd2, back, sizeof back);
			op_end();
			if (k == -1 && errno == EINTR) {
				k = 1;
				continue;
			}
			if (k != (ssize_t)sizeof back ||
			    memcmp(probe, back, sizeof back) != 0)
				violation("%s: stream bytes beside a region "
				    "came back wrong (%zd, %s)", p->mname, k,
				    k == -1 ? strerror(errno) : "");
			break;
		}
		msleep(rndn(20));
		if (memcmp(m, m2, size) != 0)
			violation("%s: region changed under its mappings",
			    p->mname);
		op_begin(OP_MUNMAP, -1, 0, NULL);
		munmap(m, size);
		munmap(m2, size);
		op_end();
		op_begin(OP_CLOSE, -1, 0, NULL);
		close(fd);
		close(fd2);
		op_end();
		op_begin(OP_UNLINK, -1, 0, p->mname);
		if (unlink(p->mname) == -1)
			client_fatal("unlink", errno);
		op_end();
		p->mname[0] = '\0';
		CNT(maps, 1);
	}
	_exit(0);
}

/* Read the daemon's counters; -1 if the attribute cannot be read. */
static int
stats_read(struct stats *st)
{
	char		 buf[1024], *line, *sp;
	long long	 v;
	char		 key[64];
	ssize_t		 n;

	memset(st, 0xff, sizeof *st);
	op_begin(OP_XATTR, -1, 0, mnt);
	n = getxattr(mnt, "user.ipcfs.stats", buf, sizeof buf - 1);
	op_end();
	if (n < 0)
		return (-1);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &sp); line != NULL;
	    line = strtok_r(NULL, "\n", &sp)) {
		if (sscanf(line, "%63s %lld", key, &v) != 2)
			continue;
		if (strcmp(key, "nodes") == 0)
			st->nodes = v;
		else if (strcmp(key, "held_requests") == 0)
			st->held_requests = v;
		else if (strcmp(key, "held_bytes") == 0)
			st->held_bytes = v;
		else if (strcmp(key, "buffer_bytes") == 0)
			st->buffer_bytes = v;
		else if (strcmp(key, "history_bytes") == 0)
			st->history_bytes = v;
		else if (strcmp(key, "region_bytes") == 0)
			st->region_bytes = v;
		else if (strcmp(key, "fds") == 0)
			st->fds = v;
	}
	return (0);
}

static void
stats_line(const char *what, const struct stats *st)
{
	say("stress: %s: nodes %lld held_requests %lld held_bytes %lld "
	    "buffer_bytes %lld history_bytes %lld region_bytes %lld fds %lld",
	    what, st->nodes, st->held_requests, st->held_bytes,
	    st->buffer_bytes, st->history_bytes, st->region_bytes, st->fds);
}

/* A line of /proc/PID/status in KiB, or -1. */
static long
proc_kb(pid_t pid, const char *key)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 v = -1;
	size_t	 klen = strlen(key);

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return (v);
}

/* The FUSE connection number of the mount, from mountinfo (no FUSE call). */
static int
find_conn(const char *path)
{
	char		 line[4096], mp[PATH_MAX], real[PATH_MAX];
	unsigned	 maj, min;
	FILE		*f;
	int		 found = -1;

	if (realpath(path, real) == NULL)
		strlcpy(real, path, sizeof real);
	if ((f = fopen("/proc/self/mountinfo", "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min,
		    mp) != 3)
			continue;
		if (strcmp(mp, real) == 0 && strstr(line, " fuse") != NULL)
			found = (int)min;
	}
	fclose(f);
	return (found);
}

static const char *
proc_wchan(pid_t pid, char *buf, size_t len)
{
	char	 path[64];
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
	strlcpy(buf, "?", len);
	if ((fd = open(path, O_RDONLY)) == -1)
		return (buf);
	if ((n = read(fd, buf, len - 1)) > 0)
		buf[n] = '\0';
	close(fd);
	return (buf);
}

/* True if pid exists and is not a zombie. */
static int
proc_alive(pid_t pid)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return (0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return (1);
	return (p[2] != 'Z' && p[2] != 'X');
}

static void
conn_abort(void)
{
	char	 path[128];
	int	 fd;

	if (conn_minor < 0) {
		say("stress: watchdog: no FUSE connection number to abort");
		return;
	}
	snprintf(path, sizeof path, "/sys/fs/fuse/connections/%d/abort",
	    conn_minor);
	if ((fd = open(path, O_WRONLY)) == -1 || write(fd, "1", 1) != 1)
		say("stress: watchdog: %s: %s (mount fusectl on "
		    "/sys/fs/fuse/connections to allow this)", path,
		    strerror(errno));
	else
		say("stress: watchdog: aborted FUSE connection %d",
		    conn_minor);
	if (fd != -1)
		close(fd);
}

/*
 * The watchdog: a process of its own that makes no FUSE calls, so a hung
 * daemon cannot stop it.  It reports an operation that has run longer
 * than the hang limit, kills every client, and aborts the connection if
 * anything is still stuck.
 */
static void __attribute__((noreturn))
watchdog_main(pid_t ctl)
{
	struct proc	*p;
	char		 wchan[128];
	int64_t		 t, limit = (int64_t)hang_s * 1000000000;
	int		 i, stuck;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (!LOAD(sh->done)) {
		msleep(200);
		t = now_ns();
		for (i = 0; i < MAXPROCS; i++) {
			p = &sh->procs[i];
			if (p->pid == 0)
				continue;
			if (LOAD(p->killed_at) != 0 &&
			    t - LOAD(p->killed_at) >= limit)
				break;
			if (LOAD(p->killed_at) == 0 && LOAD(p->op) != OP_NONE &&
			    t - LOAD(p->op_start) >= limit)
				break;
		}
		if (i == MAXPROCS)
			continue;
		STORE(sh->hung, 1);
		__atomic_add_fetch(&sh->nviol, 1, __ATOMIC_SEQ_CST);
		if (p->killed_at != 0)
			say("stress: VIOLATION: HANG: %s %d (pid %d) still lives "
			    "%lld s after SIGKILL, in %s on %s (kernel wait: %s)",
			    role_names[p->role], p->role == R_WRITER ? p->wid :
			    i, (int)p->pid,
			    (long long)((t - p->killed_at) / 1000000000),
			    op_names[p->op], p->what[0] != '\0' ? p->what : "-",
			    proc_wchan(p->pid, wchan, sizeof wchan));
		else
			say("stress: VIOLATION: HANG: %s %d (pid %d) has been in "
			    "%s for %lld s on %s, channel %d generation %u "
			    "(kernel wait: %s)", role_names[p->role],
			    p->role == R_WRITER ? p->wid : i, (int)p->pid,
			    op_names[p->op],
			    (long long)((t - p->op_start) / 1000000000),
			    p->what[0] != '\0' ? p->what : "-", p->op_slot,
			    p->op_gen, proc_wchan(p->pid, wchan, sizeof wchan));
		for (i = 0; i < MAXPROCS; i++) {
			p = &sh->procs[i];
			if (p->pid == 0 || p->op == OP_NONE)
				continue;
			say("stress: watchdog: %s %d (pid %d) in %s for %.1f s"
			    "%s (kernel wait: %s)", role_names[p->role], i,
			    (int)p->pid, op_names[p->op],
			    (double)(t - p->op_start) / 1e9,
			    p->killed_at != 0 ? ", killed" : "",
			    proc_wchan(p->pid, wchan, sizeof wchan));
		}
		if (dpid > 0)
			say("stress: watchdog: daemon %d: %s, kernel wait %s",
			    (int)dpid, proc_alive(dpid) ? "alive" : "gone",
			    proc_wchan(dpid, wchan, sizeof wchan));
		for (i = 0; i < MAXPROCS; i++)
			if (sh->procs[i].pid > 0 && sh->procs[i].pid != ctl)
				kill(sh->procs[i].pid, SIGKILL);
		msleep(3000);
		stuck = 0;
		for (i = 0; i < MAXPROCS; i++) {
			p = &sh->procs[i];
			if (p->pid > 0 && p->pid != ctl && proc_alive(p->pid))
				stuck++;
		}
		if (sh->procs[0].op != OP_NONE)
			stuck++;
		if (stuck > 0) {
			say("stress: watchdog: %d processes cannot die", stuck);
			if (may_abort)
				conn_abort();
		}
		_exit(stuck > 0 ? 1 : 0);
	}
	_exit(0);
}

/* The controller's books of its own. */
static struct {
	uint64_t	 signals;
	uint64_t	 kills;
	uint64_t	 kills_midcall;
	uint64_t	 renames;
	uint64_t	 replaces;
	uint64_t	 unlinks;
	uint64_t	 creates;
	uint64_t	 dirs;
	uint64_t	 spawned;
} ctl;

static uint64_t		 seed;
static uint64_t		 next_base;
static int		 failed_client;

/* Fork a client into entry pi. */
static void
spawn(int pi, int role, int slot, int durable)
{
	struct proc	*p = &sh->procs[pi];
	struct wlog	*wl;
	pid_t		 pid;
	int		 wid = -1;

	if (role == R_WRITER) {
		if (sh->nwids >= MAXWIDS) {
			p->pid = 0;
			p->role = R_FREE;
			return;
		}
		wid = sh->nwids;
		wl = &sh->wl[wid];
		wl->durable = durable;
		wl->cap = durable ? DURABLE_CAP : MORTAL_CAP;
		if ((next_base + wl->cap) > books_size) {
			p->pid = 0;
			p->role = R_FREE;
			return;
		}
		wl->base = next_base;
		next_base += wl->cap;
		wl->pending = -1;
		STORE(sh->nwids, wid + 1);
	}
	p->role = role;
	p->killed_at = 0;
	p->durable = durable;
	p->wid = wid;
	p->slot = slot;
	p->op = OP_NONE;
	p->mname[0] = '\0';
	p->what[0] = '\0';
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		say("stress: fork: %s", strerror(errno));
		exit(2);
	}
	if (pid == 0) {
		child_init(pi, seed + (uint64_t)ctl.spawned * 7919);
		STORE(p->pid, getpid());
		switch (role) {
		case R_WRITER:
			writer_main(pi);
		case R_READER:
			reader_main(pi);
		default:
			mapper_main(pi);
		}
	}
	STORE(p->pid, pid);
	ctl.spawned++;
}

/*
 * Give a chaos channel its next generation: unlinked and made again, or
 * replaced by a rename over it.
 */
static void
replace_chaos(int s)
{
	char		 path[PATH_MAX], tmp[PATH_MAX + 8];
	unsigned	 g = LOAD(sh->slots[s].gen);

	slot_path(path, sizeof path, s, g);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	STORE(sh->slots[s].gen, g + 1);
	if (rndn(2) == 0) {
		op_begin(OP_UNLINK, s, g, path);
		if (unlink(path) == -1)
			violation("unlink %s: %s", path, strerror(errno));
		op_end();
		ctl.unlinks++;
		op_begin(OP_MKNOD, s, g, path);
		if (mknod(path, S_IFREG | 0666, 0) == -1)
			violation("mknod %s: %s", path, strerror(errno));
		op_end();
		ctl.creates++;
	} else {
		op_begin(OP_MKNOD, s, g, tmp);
		if (mknod(tmp, S_IFREG | 0666, 0) == -1)
			violation("mknod %s: %s", tmp, strerror(errno));
		op_end();
		ctl.creates++;
		op_begin(OP_RENAME, s, g, tmp);
		if (rename(tmp, path) == -1)
			violation("rename %s over %s: %s", tmp, path,
			    strerror(errno));
		op_end();
		ctl.renames++;
		ctl.replaces++;
	}
	STORE(sh->slots[s].gen, g + 2);
}

/* Move a stable channel between the top directory and sub/. */
static void
rename_stable(int s)
{
	char		 from[PATH_MAX], to[PATH_MAX];
	unsigned	 g = LOAD(sh->slots[s].gen);

	slot_path(from, sizeof from, s, g);
	slot_path(to, sizeof to, s, g + 1);
	op_begin(OP_RENAME, s, g, from);
	if (rename(from, to) == -1)
		violation("rename %s to %s: %s", from, to, strerror(errno));
	op_end();
	STORE(sh->slots[s].gen, g + 1);
	ctl.renames++;
}

/* Names that come and go: a channel left with data, a directory. */
static void
churn(void)
{
	char	 dir[PATH_MAX], path[PATH_MAX + 16];
	char	 data[200];
	int	 fd;

	snprintf(dir, sizeof dir, "%s/d%" PRIu64, mnt, ctl.dirs);
	snprintf(path, sizeof path, "%s/t", dir);
	op_begin(OP_MKDIR, -1, 0, dir);
	if (mkdir(dir, 0755) == -1)
		violation("mkdir %s: %s", dir, strerror(errno));
	op_end();
	ctl.dirs++;
	op_begin(OP_OPEN, -1, 0, path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600);
	op_end();
	if (fd == -1)
		violation("create %s: %s", path, strerror(errno));
	else {
		ctl.creates++;
		memset(data, 'c', sizeof data);
		op_begin(OP_WRITE, -1, 0, path);
		if (write(fd, data, sizeof data) != (ssize_t)sizeof data)
			violation("write %s: %s", path, strerror(errno));
		op_end();
		/* Unlinked while open and holding data. */
		op_begin(OP_UNLINK, -1, 0, path);
		if (unlink(path) == -1)
			violation("unlink %s: %s", path, strerror(errno));
		op_end();
		ctl.unlinks++;
		op_begin(OP_CLOSE, -1, 0, path);
		close(fd);
		op_end();
	}
	op_begin(OP_RMDIR, -1, 0, dir);
	if (rmdir(dir) == -1)
		violation("rmdir %s: %s", dir, strerror(errno));
	op_end();
}

/* Book a client that ended; the caller has cleared its entry. */
static void
ended(int pi, pid_t pid, int status, int killed)
{
	struct proc	*p = &sh->procs[pi];

	if (p->role == R_WRITER && killed)
		sh->wl[p->wid].killed = 1;
	if (!killed && !LOAD(sh->hung)) {
		if (WIFSIGNALED(status))
			violation("%s %d (pid %d) died of signal %d",
			    role_names[p->role], pi, (int)pid,
			    WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			say("stress: %s %d (pid %d) exited with %d",
			    role_names[p->role], pi, (int)pid,
			    WEXITSTATUS(status));
	}
	if (p->role == R_MAPPER && p->mname[0] != '\0') {
		op_begin(OP_UNLINK, -1, 0, p->mname);
		if (unlink(p->mname) == -1 && errno != ENOENT)
			violation("unlink %s: %s", p->mname, strerror(errno));
		op_end();
		ctl.unlinks++;
		p->mname[0] = '\0';
	}
}

/* Reap clients that ended by themselves; start new ones if running. */
static int
reap(int respawn)
{
	siginfo_t	 si;
	struct proc	*p;
	int		 i, status, role, slot, killed, n = 0;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			break;
		for (i = 1; i < MAXPROCS; i++)
			if (sh->procs[i].pid == si.si_pid)
				break;
		if (i < MAXPROCS) {
			STORE(sh->procs[i].op, OP_NONE);
			STORE(sh->procs[i].pid, 0);
		}
		waitpid(si.si_pid, &status, 0);
		n++;
		if (i == MAXPROCS)
			continue;
		p = &sh->procs[i];
		killed = p->killed_at != 0;
		p->killed_at = 0;
		ended(i, si.si_pid, status, killed);
		if (!killed && (!WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0))
			failed_client = 1;
		role = p->role;
		slot = p->slot;
		p->role = R_FREE;
		if (respawn && !killed && role != R_FREE && !p->durable &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			spawn(i, role, slot, 0);
	}
	return (n);
}

/*
 * Kill one mortal client, preferably one inside a call, and start its
 * replacement at once in another entry.  The killed one is reaped later:
 * a writer waiting for the inode lock behind a held write cannot die
 * until that write ends, and waiting for it here could wait for ever.
 */
static void
kill_one(void)
{
	struct proc	*p;
	int		 cand[MAXPROCS], busy[MAXPROCS];
	int		 nc = 0, nb = 0, i, pi, ni, role;

	for (i = 1; i < MAXPROCS; i++) {
		p = &sh->procs[i];
		if (p->pid <= 0 || p->durable || p->killed_at != 0)
			continue;
		cand[nc++] = i;
		if (p->op == OP_READ || p->op == OP_WRITE || p->op == OP_POLL)
			busy[nb++] = i;
	}
	for (ni = 1; ni < MAXPROCS; ni++)
		if (sh->procs[ni].pid == 0 && sh->procs[ni].role == R_FREE)
			break;
	if (nc == 0 || ni == MAXPROCS)
		return;
	pi = nb > 0 && rndn(4) != 0 ? busy[rndn((unsigned)nb)] :
	    cand[rndn((unsigned)nc)];
	p = &sh->procs[pi];
	role = p->role;
	if (p->op != OP_NONE)
		ctl.kills_midcall++;
	ctl.kills++;
	STORE(p->killed_at, now_ns());
	if (role == R_WRITER)
		sh->wl[p->wid].killed = 1;
	kill(p->pid, SIGKILL);
	/* A new reader starts on a new generation, at a record boundary. */
	if (role == R_READER)
		replace_chaos(p->slot);
	spawn(ni, role, p->slot, 0);
}

/*
 * Signal a random client, preferably one asleep in a read, write or poll:
 * not just preempted there, which the kernel's wait channel tells.
 */
static void
signal_one(void)
{
	struct proc	*p;
	char		 wchan[128];
	int64_t		 t = now_ns();
	int		 cand[MAXPROCS], busy[MAXPROCS], nc = 0, nb = 0, i, pi;

	for (i = 1; i < MAXPROCS; i++) {
		p = &sh->procs[i];
		if (p->pid <= 0 || p->killed_at != 0)
			continue;
		cand[nc++] = i;
		if ((p->op == OP_READ || p->op == OP_WRITE ||
		    p->op == OP_POLL) && t - p->op_start > 200000 &&
		    strcmp(proc_wchan(p->pid, wchan, sizeof wchan), "0") != 0)
			busy[nb++] = i;
	}
	if (nc == 0)
		return;
	pi = nb > 0 && rndn(4) != 0 ? busy[rndn((unsigned)nb)] :
	    cand[rndn((unsigned)nc)];
	if (kill(sh->procs[pi].pid, SIGUSR1) == 0)
		ctl.signals++;
}

/*
 * Wake clients that wait for something that will not come: a call on a
 * replaced chaos channel, or any call once they have been told to stop.
 */
static void
wake(void)
{
	struct proc	*p;
	int64_t		 t = now_ns();
	int		 i, s;

	for (i = 1; i < MAXPROCS; i++) {
		p = &sh->procs[i];
		if (p->pid <= 0 || p->killed_at != 0 || p->op == OP_NONE ||
		    t - p->op_start < 20000000)
			continue;
		s = p->op_slot;
		if ((s >= 0 && s < nslots && is_chaos(s) &&
		    LOAD(sh->slots[s].gen) != p->op_gen) ||
		    (sh->stop_writers && p->role != R_READER) ||
		    sh->stop_readers)
			kill(p->pid, SIGUSR2);
	}
}

static int
live(int role)
{
	int	 i, n = 0;

	for (i = 1; i < MAXPROCS; i++)
		if (sh->procs[i].pid > 0 && (role == 0 ||
		    sh->procs[i].role == role))
			n++;
	return (n);
}

/* Wait for every client of the given kinds to leave. */
static void
wait_clients(int readers)
{
	while ((readers ? live(0) : live(R_WRITER) + live(R_MAPPER)) > 0) {
		if (LOAD(sh->hung))
			return;
		wake();
		reap(0);
		msleep(5);
	}
}

static int
daemon_alive(void)
{
	return (dpid <= 0 || proc_alive(dpid));
}

/* Wait (with the watchdog as the limit) for the counters to come back. */
static int
stats_settle(struct stats *st, const struct stats *base, int all)
{
	int	 i;

	for (i = 0; i < 100; i++) {
		if (stats_read(st) == -1) {
			violation("cannot read user.ipcfs.stats: %s",
			    strerror(errno));
			return (-1);
		}
		if (st->held_requests == 0 && st->held_bytes == 0 &&
		    st->buffer_bytes == 0 && st->history_bytes == 0 && (!all ||
		    (st->region_bytes == 0 && st->nodes == base->nodes &&
		    st->fds == base->fds)))
			return (0);
		msleep(100);
	}
	return (-1);
}

/* Balance the books: every accepted record on a stable channel arrived. */
static void
books(uint64_t *stable_acc, uint64_t *chaos_acc, uint64_t *chaos_lost)
{
	struct wlog	*wl;
	uint64_t	 seq, end;
	uint8_t		 a, r;
	int		 wid, lost = 0, phantom = 0, slot;

	*stable_acc = *chaos_acc = *chaos_lost = 0;
	for (wid = 0; wid < sh->nwids; wid++) {
		wl = &sh->wl[wid];
		end = wl->next + 1;
		if (end > wl->cap)
			end = wl->cap;
		for (seq = 0; seq < end; seq++) {
			a = acc[wl->base + seq];
			r = rcv[wl->base + seq];
			if (a == 0) {
				if (r != 0 && !(wl->killed &&
				    (int64_t)seq == wl->pending) &&
				    phantom++ < 10)
					violation("writer %d seq %" PRIu64
					    " arrived but its write() did not "
					    "take it", wid, seq);
				continue;
			}
			slot = a - 1;
			if (is_chaos(slot)) {
				(*chaos_acc)++;
				if (r == 0)
					(*chaos_lost)++;
				continue;
			}
			(*stable_acc)++;
			if (r == 0 && lost++ < 10)
				violation("writer %d (%s) seq %" PRIu64
				    " accepted on stable channel %d never "
				    "arrived", wid, wl->durable ? "never killed" :
				    wl->killed ? "killed" : "replaced", seq,
				    slot);
		}
	}
	if (lost > 10)
		violation("%d more records lost", lost - 10);
}

/* Unlink every channel and directory the run made. */
static void
clean_names(void)
{
	char		 path[PATH_MAX];
	int		 s;

	for (s = 0; s < nslots; s++) {
		slot_path(path, sizeof path, s, LOAD(sh->slots[s].gen));
		op_begin(OP_UNLINK, s, 0, path);
		if (unlink(path) == -1)
			violation("unlink %s: %s", path, strerror(errno));
		op_end();
	}
	snprintf(path, sizeof path, "%s/sub", mnt);
	op_begin(OP_RMDIR, -1, 0, path);
	if (rmdir(path) == -1)
		violation("rmdir %s: %s", path, strerror(errno));
	op_end();
}

/*
 * After a hang the watchdog kills every client and, if they cannot die,
 * aborts the connection.  Wait for it, then for the clients, so that none
 * outlives the run holding the mount or our output.
 */
static void
hang_end(pid_t wd)
{
	int	 i, left = 0;

	waitpid(wd, NULL, 0);
	for (i = 0; i < 100; i++) {
		reap(0);
		if ((left = live(0)) == 0)
			break;
		msleep(100);
	}
	if (left > 0)
		say("stress: %d clients are still stuck in the kernel; abort "
		    "the FUSE connection or kill the daemon to free them", left);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: stress [-n] [-H hang] "
	    "[-k channels] [-m mappers]\n\t[-p daemon_pid] [-R rss_slack_kb] "
	    "[-r readers] [-s seed] [-t seconds]\n\t[-w writers] MOUNTDIR\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct stats	 base, st;
	char		 path[PATH_MAX], mode[64];
	double		 duration = 10, elapsed;
	int64_t		 start, end;
	uint64_t	 stable_acc, chaos_acc, chaos_lost;
	long		 rss0 = -1, rss1 = -1, hwm = -1, rss_slack = -1;
	int		 nwriters = 6, nreaders = -1, nmappers = 1, nk = 4;
	int		 ch, i, s, pi, ndur, nchaos, regions;
	pid_t		 wd;
	ssize_t		 n;

	seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	while ((ch = getopt(argc, argv, "H:k:m:np:R:r:s:t:w:")) != -1) {
		switch (ch) {
		case 'H':
			hang_s = atoi(optarg);
			break;
		case 'k':
			nk = atoi(optarg);
			break;
		case 'm':
			nmappers = atoi(optarg);
			break;
		case 'n':
			may_abort = 0;
			break;
		case 'p':
			dpid = (pid_t)atoi(optarg);
			break;
		case 'R':
			rss_slack = atol(optarg);
			break;
		case 'r':
			nreaders = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			duration = atof(optarg);
			break;
		case 'w':
			nwriters = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || nk < 1 || nk > MAXSLOTS || nwriters < 1 ||
	    hang_s < 1 || duration <= 0)
		usage();
	mnt = argv[0];
	if (nreaders < nk)
		nreaders = nk;
	nslots = nk;
	nstable = (nk + 1) / 2;
	nchaos = nk - nstable;
	if (nchaos == 0)
		nreaders = nk;
	ndur = nwriters / 2 > 0 ? nwriters / 2 : 1;
	if (1 + nreaders + nwriters + nmappers + 1 > MAXPROCS)
		usage();
	rng = seed ? seed : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((n = getxattr(mnt, "user.ipcfs.region", mode,
	    sizeof mode - 1)) < 0) {
		fprintf(stderr, "stress: %s: not an ipcfs mount (%s)\n", mnt,
		    strerror(errno));
		return (2);
	}
	mode[n] = '\0';
	regions = strcmp(mode, "off") != 0;
	if (!regions)
		nmappers = 0;
	conn_minor = find_conn(mnt);

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	books_size = (size_t)ndur * DURABLE_CAP + (size_t)MAXWIDS * MORTAL_CAP;
	acc = mmap(NULL, books_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	rcv = mmap(NULL, books_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sh == MAP_FAILED || acc == MAP_FAILED || rcv == MAP_FAILED) {
		fprintf(stderr, "stress: mmap: %s\n", strerror(errno));
		return (2);
	}
	self = 0;
	sh->procs[0].pid = getpid();
	sh->procs[0].role = R_CTL;
	sh->procs[0].durable = 1;
	signals_init();

	if (stats_read(&base) == -1) {
		fprintf(stderr, "stress: %s: cannot read user.ipcfs.stats: "
		    "%s\n", mnt, strerror(errno));
		return (2);
	}
	if (dpid > 0)
		rss0 = proc_kb(dpid, "VmRSS");
	say("stress: %s: region mode %s, %d writers (%d never killed), %d "
	    "readers, %d channels (%d stable, %d chaos), %d mappers, %.0f s, "
	    "seed %" PRIu64, mnt, mode, nwriters, ndur, nreaders, nk, nstable,
	    nchaos, nmappers, duration, seed);
	stats_line("baseline", &base);

	snprintf(path, sizeof path, "%s/sub", mnt);
	if (mkdir(path, 0755) == -1) {
		fprintf(stderr, "stress: mkdir %s: %s\n", path,
		    strerror(errno));
		return (2);
	}
	for (s = 0; s < nslots; s++) {
		sh->slots[s].chaos = s >= nstable;
		slot_path(path, sizeof path, s, 0);
		if (mknod(path, S_IFREG | 0666, 0) == -1) {
			fprintf(stderr, "stress: mknod %s: %s\n", path,
			    strerror(errno));
			return (2);
		}
	}

	if ((wd = fork()) == 0)
		watchdog_main(sh->procs[0].pid);

	for (i = 0; i < nreaders; i++) {
		s = i < nslots ? i : nstable + (i - nslots) % nchaos;
		sh->slots[s].nreaders++;
	}
	for (s = 0; s < nslots; s++)
		if (sh->slots[s].nreaders > 1)
			sh->slots[s].fixed = s % 2 == 0 ? REC_MAX : 200;
	pi = 1;
	for (i = 0; i < nreaders; i++) {
		s = i < nslots ? i : nstable + (i - nslots) % nchaos;
		spawn(pi++, R_READER, s, !is_chaos(s));
	}
	for (i = 0; i < nwriters; i++)
		spawn(pi++, R_WRITER, -1, i < ndur);
	for (i = 0; i < nmappers; i++)
		spawn(pi++, R_MAPPER, -1, 0);

	start = now_ns();
	end = start + (int64_t)(duration * 1e9);
	while (now_ns() < end && !LOAD(sh->hung) && !failed_client) {
		reap(1);
		wake();
		for (i = 0; i < 2; i++)
			if (rndn(2) == 0)
				signal_one();
		if (rndn(60) == 0)
			kill_one();
		if (rndn(12) == 0)
			rename_stable((int)rndn((unsigned)nstable));
		if (nchaos > 0 && rndn(25) == 0)
			replace_chaos(nstable + (int)rndn((unsigned)nchaos));
		if (rndn(50) == 0)
			churn();
		if (!daemon_alive()) {
			violation("the daemon (pid %d) died", (int)dpid);
			break;
		}
		msleep(1 + rndn(5));
	}

	/* Writers first, so that readers can drain everything after them. */
	STORE(sh->stop_writers, 1);
	wait_clients(0);
	STORE(sh->stop_readers, 1);
	wait_clients(1);
	while (reap(0) > 0)
		;
	elapsed = (double)(now_ns() - start) / 1e9;

	if (!LOAD(sh->hung) && daemon_alive()) {
		books(&stable_acc, &chaos_acc, &chaos_lost);
		if (stats_settle(&st, &base, 0) == -1)
			violation("counters after every client closed: "
			    "held_requests %lld held_bytes %lld buffer_bytes "
			    "%lld (want 0 0 0)", st.held_requests,
			    st.held_bytes, st.buffer_bytes);
		stats_line("all clients gone", &st);
		clean_names();
		if (stats_settle(&st, &base, 1) == -1)
			violation("counters after every channel was unlinked "
			    "do not come back to the baseline");
		stats_line("all channels unlinked", &st);
	} else {
		stable_acc = chaos_acc = chaos_lost = 0;
		if (!daemon_alive())
			violation("the daemon (pid %d) died", (int)dpid);
	}
	if (dpid > 0 && daemon_alive()) {
		rss1 = proc_kb(dpid, "VmRSS");
		hwm = proc_kb(dpid, "VmHWM");
		say("stress: daemon RSS: %ld KiB at start, %ld KiB peak, %ld "
		    "KiB at the end (%+ld KiB)", rss0, hwm, rss1, rss1 - rss0);
		if (rss_slack >= 0 && rss1 - rss0 > rss_slack)
			violation("daemon RSS grew by %ld KiB, more than %ld KiB",
			    rss1 - rss0, rss_slack);
	}
	if (LOAD(sh->hung))
		hang_end(wd);
	else {
		STORE(sh->done, 1);
		kill(wd, SIGKILL);
		waitpid(wd, NULL, 0);
	}

	say("stress: %.1f s: records written %" PRIu64 " (%.1f MiB), "
	    "received %" PRIu64 " (%.1f MiB)", elapsed, sh->c.recs_sent,
	    (double)sh->c.bytes_sent / 1048576, sh->c.recs_recv,
	    (double)sh->c.bytes_recv / 1048576);
	say("stress: stable channels: %" PRIu64 " records accepted, every one "
	    "checked; chaos channels: %" PRIu64 " accepted, %" PRIu64 " lost "
	    "with unlinked channels or killed readers", stable_acc, chaos_acc,
	    chaos_lost);
	say("stress: clients killed %" PRIu64 " (%" PRIu64 " inside a call), "
	    "clients started %" PRIu64 ", signals sent %" PRIu64 " (EINTR seen "
	    "%" PRIu64 " in read or write, %" PRIu64 " in poll), EAGAIN %"
	    PRIu64 ", EPIPE %" PRIu64, ctl.kills, ctl.kills_midcall,
	    ctl.spawned, ctl.signals, sh->c.eintr, sh->c.eintr_poll,
	    sh->c.eagain, sh->c.epipe);
	say("stress: renames %" PRIu64 " (%" PRIu64 " over a live channel), "
	    "unlinks %" PRIu64 ", channels created %" PRIu64 ", directories %"
	    PRIu64 ", regions mapped %" PRIu64, ctl.renames, ctl.replaces,
	    ctl.unlinks, ctl.creates, ctl.dirs, sh->c.maps);
	say("stress: opens %" PRIu64 " (%" PRIu64 " retried after a rename "
	    "or unlink took the name), %" PRIu64 " moves to a new generation",
	    sh->c.opens, sh->c.enoent, sh->c.stale);
	if (sh->nviol > 0) {
		say("stress: FAILED: %d violations", sh->nviol);
		return (1);
	}
	say("stress: OK");
	return (0);
}
