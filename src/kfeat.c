/*
 * Kernel features that libfuse 3.14 cannot ask for.
 *
 * libfuse lets a daemon supply the read and writev used on /dev/fuse
 * (fuse_session_custom_io).  Through them this module sees each raw request
 * header and amends two replies before they reach the kernel:
 *
 * - INIT: turns on FUSE_PASSTHROUGH or FUSE_DIRECT_IO_ALLOW_MMAP in flags2,
 *   which libfuse 3.14's 32-bit capability word cannot name.
 * - OPEN and CREATE: for an open that is a stream (kfeat_open_kind),
 *   FOPEN_STREAM and FOPEN_PARALLEL_DIRECT_WRITES, which libfuse 3.14
 *   cannot name; for any other open in passthrough mode,
 *   FOPEN_PASSTHROUGH with the region's backing id, which goes in the
 *   32-bit field after open_flags (formerly padding).
 *
 * Waiting for requests is loop.c's: the read hook reads what is there.
 *
 * Where libfuse has its own API for passthrough and direct-I/O mmap (3.17
 * and later, told by the FUSE_CAP_PASSTHROUGH macro; 3.16 has neither),
 * that API is used for them instead and only FOPEN_STREAM is added here.
 * The same libfuse keeps capabilities in 64-bit fields behind
 * fuse_set_feature_flag() and deprecates the 32-bit want and capable that
 * 3.14 has only: kfeat_want() and kfeat_unwant() hide which.
 *
 * libfuse 3.18 can also serve requests over io_uring, from threads of its
 * own that go past these hooks and loop.c: kfeat_refuse_uring() turns
 * that down at start-up.  docs/libfuse.md has the versions tested.
 * Measurements behind all this are in ../shared/notes/kernel-fuse.md.  This
 * is the only place that knows the wire format.
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <sys/ioctl.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

/* From Linux 6.6 and 6.9 <linux/fuse.h>, newer than Debian 12's headers. */
#define KF_INIT_EXT		(1U << 30)
#define KF_DIRECT_IO_ALLOW_MMAP	(1U << (36 - 32))	/* in flags2 */
#define KF_PASSTHROUGH		(1U << (37 - 32))	/* in flags2 */
#define KF_FOPEN_PASSTHROUGH	(1U << 7)
/* From Linux 6.2 <linux/fuse.h>: protocol 7.38; older kernels ignore it. */
#define KF_FOPEN_PARALLEL_DIRECT_WRITES	(1U << 6)
/* From Linux 6.16 <linux/fuse.h>: protocol 7.44. */
#define KF_NOTIFY_INC_EPOCH	8
#define KF_EPOCH_MINOR		44

struct kf_backing_map {
	int32_t		fd;
	uint32_t	flags;
	uint64_t	padding;
};
#define KF_DEV_IOC_BACKING_OPEN		_IOW(229, 1, struct kf_backing_map)
#define KF_DEV_IOC_BACKING_CLOSE	_IOW(229, 2, uint32_t)

/* Where flags2 and max_stack_depth sit in the INIT reply. */
#define KF_INIT_OUT_FLAGS2	32
#define KF_INIT_OUT_STACK	36
#define KF_INIT_OUT_MIN		40

#if defined(FUSE_CAP_PASSTHROUGH)
#define KF_NATIVE	1
#else
#define KF_NATIVE	0
#endif

/*
 * OPEN and CREATE requests whose replies are amended.  A reply may come
 * after other requests were served (bridge.c answers some opens later), so
 * each keeps what its own reply gets, in a slot of its own until its reply
 * frees it: the table grows while more opens wait than it has slots.
 */
#define KFEAT_SLOTS	8

struct kf_open {
	uint64_t	 unique;	/* the request; 0: a free slot */
	uint32_t	 open_flags;	/* added to the reply's */
	int32_t		 backing_id;	/* with KF_FOPEN_PASSTHROUGH */
};

static struct {
	struct fuse_session	*se;
	enum region_mode	 want;
	enum region_mode	 mode;
	uint64_t		 init_unique;
	uint64_t		 serving;	/* the request being served */
	struct kf_open		*pending;
	size_t			 npending;
	size_t			 next;
	int			 kill_suidgid;	/* of the WRITE being served */
	int			 epoch;		/* FUSE_NOTIFY_INC_EPOCH works */
} kf;

/* True if this process has CAP_SYS_ADMIN, which passthrough needs. */
static int
kfeat_sys_admin(void)
{
	unsigned long long	 caps = 0;
	char			 line[256];
	FILE			*f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return ((caps >> 21) & 1);
}

/* Pick the region mode from what the kernel offers and what was asked. */
static void
kfeat_choose(uint32_t flags, uint32_t flags2)
{
	int	 can_passthrough, can_pagecache;

	if (!(flags & KF_INIT_EXT))
		flags2 = 0;
	can_passthrough = (flags2 & KF_PASSTHROUGH) && kfeat_sys_admin();
	can_pagecache = (flags2 & KF_DIRECT_IO_ALLOW_MMAP) != 0;
	switch (kf.want) {
	case REGION_AUTO:
		if (can_passthrough)
			kf.mode = REGION_PASSTHROUGH;
		else if (can_pagecache)
			kf.mode = REGION_PAGECACHE;
		else
			kf.mode = REGION_OFF;
		break;
	case REGION_PASSTHROUGH:
		kf.mode = can_passthrough ? REGION_PASSTHROUGH : REGION_OFF;
		break;
	case REGION_PAGECACHE:
		kf.mode = can_pagecache ? REGION_PAGECACHE : REGION_OFF;
		break;
	case REGION_OFF:
		kf.mode = REGION_OFF;
		break;
	}
}

/*
 * Take a slot for the OPEN or CREATE request unique: a free one, else a
 * new one.  Should the table not grow, the oldest slot is taken, as if
 * that open's reply had come.
 */
static void
kfeat_slot(uint64_t unique)
{
	struct kf_open	*p;
	size_t		 i, n;

	for (i = 0; i < kf.npending; i++)
		if (kf.pending[i].unique == 0)
			break;
	if (i == kf.npending) {
		n = kf.npending == 0 ? KFEAT_SLOTS : kf.npending * 2;
		if ((p = reallocarray(kf.pending, n, sizeof *p)) != NULL) {
			memset(p + kf.npending, 0,
			    (n - kf.npending) * sizeof *p);
			kf.pending = p;
			kf.npending = n;
		} else if (kf.npending == 0)
			return;
		else {
			i = kf.next;
			kf.next = (kf.next + 1) % kf.npending;
		}
	}
	memset(&kf.pending[i], 0, sizeof kf.pending[i]);
	kf.pending[i].unique = unique;
}

static ssize_t
kfeat_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header	*in = buf;
	const struct fuse_init_in	*init;
	ssize_t				 n;

	(void)userdata;
	n = read(fd, buf, len);
	if (n < (ssize_t)sizeof *in)
		return (n);
	/* libfuse serves what was read before it reads again. */
	kf.serving = in->unique;
	switch (in->opcode) {
	case FUSE_INIT:
		if ((size_t)n < sizeof *in + offsetof(struct fuse_init_in,
		    flags2) + sizeof init->flags2)
			kfeat_choose(0, 0);
		else {
			init = (const void *)(in + 1);
			kfeat_choose(init->flags, init->flags2);
		}
		kf.init_unique = in->unique;
		break;
	case FUSE_OPEN:
	case FUSE_CREATE:
		kfeat_slot(in->unique);
		break;
	case FUSE_WRITE:
		/* libfuse 3.14 drops this flag; the write is served next. */
		if ((size_t)n >= sizeof *in + sizeof(struct fuse_write_in)) {
			const struct fuse_write_in *wr = (const void *)(in + 1);

			kf.kill_suidgid =
			    (wr->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
		} else
			kf.kill_suidgid = 0;
		break;
	}
	return (n);
}

/*
 * True if the kernel asked the WRITE being served to clear the set-user-ID
 * and set-group-ID bits: the writer lacks CAP_FSETID.  Requests are read
 * and served one at a time, so this is that write's flag.
 */
int
kfeat_write_kill_suidgid(void)
{
	return (kf.kill_suidgid);
}

/* The pending open whose request is unique, or NULL. */
static struct kf_open *
kfeat_pending(uint64_t unique)
{
	size_t	 i;

	if (unique == 0)
		return (NULL);
	for (i = 0; i < kf.npending; i++)
		if (kf.pending[i].unique == unique)
			return (&kf.pending[i]);
	return (NULL);
}

static void
kfeat_amend_init(char *arg, size_t len)
{
	uint32_t	 flags, flags2 = 0, depth = 1;

	if (KF_NATIVE || len < KF_INIT_OUT_MIN)
		return;
	if (kf.mode == REGION_PASSTHROUGH)
		flags2 = KF_PASSTHROUGH;
	else if (kf.mode == REGION_PAGECACHE)
		flags2 = KF_DIRECT_IO_ALLOW_MMAP;
	if (flags2 == 0)
		return;
	memcpy(&flags, arg + offsetof(struct fuse_init_out, flags),
	    sizeof flags);
	flags |= KF_INIT_EXT;
	memcpy(arg + offsetof(struct fuse_init_out, flags), &flags,
	    sizeof flags);
	memcpy(&flags, arg + KF_INIT_OUT_FLAGS2, sizeof flags);
	flags2 |= flags;
	memcpy(arg + KF_INIT_OUT_FLAGS2, &flags2, sizeof flags2);
	/* Passthrough needs a stack depth; the memfd is on tmpfs. */
	if (kf.mode == REGION_PASSTHROUGH)
		memcpy(arg + KF_INIT_OUT_STACK, &depth, sizeof depth);
}

static void
kfeat_amend_open(char *arg, size_t len, const struct kf_open *o)
{
	struct fuse_open_out	 oo;

	/* The fuse_open_out ends the argument, after any fuse_entry_out. */
	memcpy(&oo, arg + len - sizeof oo, sizeof oo);
	oo.open_flags |= o->open_flags;
	if (o->open_flags & KF_FOPEN_PASSTHROUGH)
		oo.padding = (uint32_t)o->backing_id;
	memcpy(arg + len - sizeof oo, &oo, sizeof oo);
}

static ssize_t
kfeat_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header	*out;
	struct kf_open			*pending, o;
	struct iovec			 v[2];
	char				 arg[256];
	size_t				 len;
	int				 init;

	(void)userdata;
	if (count < 1 || iov[0].iov_len != sizeof *out)
		return (writev(fd, iov, count));
	out = iov[0].iov_base;
	if (out->unique == 0)
		return (writev(fd, iov, count));
	init = out->unique == kf.init_unique;
	pending = init ? NULL : kfeat_pending(out->unique);
	if (pending != NULL) {
		/* Any reply ends the request, an error too. */
		o = *pending;
		memset(pending, 0, sizeof *pending);
	}
	if ((!init && pending == NULL) || out->error != 0 || count != 2)
		return (writev(fd, iov, count));
	len = iov[1].iov_len;
	if (len < sizeof(struct fuse_open_out) || len > sizeof arg)
		return (writev(fd, iov, count));

	/* Amend a copy, not libfuse's buffer. */
	memcpy(arg, iov[1].iov_base, len);
	if (init) {
		kf.init_unique = 0;
		kfeat_amend_init(arg, len);
	} else
		kfeat_amend_open(arg, len, &o);
	v[0] = iov[0];
	v[1].iov_base = arg;
	v[1].iov_len = len;
	return (writev(fd, v, 2));
}

static const struct fuse_custom_io kfeat_io = {
	.read = kfeat_read,
	.writev = kfeat_writev,
};

#define KF_KEY_URING	1
#define KF_NO_URING	"io_uring is not supported (ipcfs serves /dev/fuse " \
			"from one thread)"

static int
kfeat_uring_opt(void *data, const char *arg, int key,
    struct fuse_args *outargs)
{
	(void)arg;
	(void)outargs;
	if (key == KF_KEY_URING)
		*(int *)data = 1;
	return (1);
}

/*
 * libfuse 3.18 serves requests over io_uring when asked to (-o io_uring,
 * or FUSE_URING_ENABLE set to a number other than 0, which libfuse reads
 * with atoi) and the kernel offers it.  Its ring threads then take the
 * requests past the hooks here and the loop in loop.c, and call fs.c from
 * several threads at once, where ipcfs serves every request from one.  So
 * ipcfs refuses both, with any libfuse, before anything is mounted.
 * Returns 0, or -1 having said why on stderr.
 */
int
kfeat_refuse_uring(const struct fuse_args *args)
{
	static const struct fuse_opt	 spec[] = {
		FUSE_OPT_KEY("io_uring", KF_KEY_URING),
		FUSE_OPT_END
	};
	struct fuse_args		 copy = FUSE_ARGS_INIT(0, NULL);
	const char			*env;
	int				 i, asked = 0;

	/* Parse a copy: fuse_opt_parse rewrites what it is given. */
	for (i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]) != 0) {
			fuse_opt_free_args(&copy);
			return (-1);
		}
	if (fuse_opt_parse(&copy, &asked, spec, kfeat_uring_opt) != 0)
		asked = 0;	/* libfuse says what is wrong with the rest */
	fuse_opt_free_args(&copy);
	env = getenv("FUSE_URING_ENABLE");
	if (asked)
		fprintf(stderr, "ipcfs: -o io_uring: %s; remove the option\n",
		    KF_NO_URING);
	else if (env != NULL && atoi(env) != 0)
		fprintf(stderr, "ipcfs: FUSE_URING_ENABLE=%.16s: %s; "
		    "unset it\n", env, KF_NO_URING);
	else
		return (0);
	return (-1);
}

/* Put the hooks on a mounted session's /dev/fuse descriptor. */
int
kfeat_install(struct fuse_session *se, enum region_mode want)
{
	kf.se = se;
	kf.want = want;
	kf.mode = REGION_OFF;
	return (fuse_session_custom_io(se, &kfeat_io, fuse_session_fd(se)));
}

/*
 * Ask libfuse for capability cap, if the kernel offers it; true if it
 * does.  This and kfeat_unwant() are the only users of conn->want.
 */
int
kfeat_want(struct fuse_conn_info *conn, uint64_t cap)
{
#if KF_NATIVE
	return (fuse_set_feature_flag(conn, cap));
#else
	if (!(conn->capable & cap))
		return (0);
	conn->want |= cap;
	return (1);
#endif
}

/* Tell libfuse not to use capability cap. */
void
kfeat_unwant(struct fuse_conn_info *conn, uint64_t cap)
{
#if KF_NATIVE
	fuse_unset_feature_flag(conn, cap);
#else
	conn->want &= ~cap;
#endif
}

/*
 * Called from the INIT handler, after kfeat_read saw the request: ask for
 * the chosen feature through libfuse where it can, and say whether the mode
 * asked for is available.
 */
int
kfeat_init(struct fuse_conn_info *conn)
{
#if KF_NATIVE
	/* libfuse saw the offer kfeat_read saw; if it disagrees, no region. */
	if (kf.mode == REGION_PASSTHROUGH) {
		if (kfeat_want(conn, FUSE_CAP_PASSTHROUGH))
			conn->max_backing_stack_depth = 1;
		else
			kf.mode = REGION_OFF;
	} else if (kf.mode == REGION_PAGECACHE &&
	    !kfeat_want(conn, FUSE_CAP_DIRECT_IO_ALLOW_MMAP))
		kf.mode = REGION_OFF;
#endif
#if defined(FUSE_CAP_OVER_IO_URING)
	/*
	 * kfeat_refuse_uring() turned the options down; this keeps a libfuse
	 * that might one day use io_uring by default on /dev/fuse.
	 */
	kfeat_unwant(conn, FUSE_CAP_OVER_IO_URING);
#endif
	kf.epoch = conn->proto_major == 7 && conn->proto_minor >= KF_EPOCH_MINOR;
	if (kf.want != REGION_AUTO && kf.want != kf.mode)
		return (-1);
	return (0);
}

/* True if the kernel takes FUSE_NOTIFY_INC_EPOCH, once INIT is done. */
int
kfeat_epoch(void)
{
	return (kf.epoch);
}

/*
 * Make the kernel look every cached name up again before it next uses it.
 * The kernel only counts the notification (fc->epoch): it takes no lock,
 * so the daemon may send it while a request of its own is held.  Returns
 * 0, or -1 with errno.
 */
int
kfeat_inc_epoch(void)
{
	struct fuse_out_header	 oh;

	if (!kf.epoch) {
		errno = ENOSYS;
		return (-1);
	}
	memset(&oh, 0, sizeof oh);
	oh.len = sizeof oh;
	oh.error = KF_NOTIFY_INC_EPOCH;
	if (write(fuse_session_fd(kf.se), &oh, sizeof oh) != (ssize_t)sizeof oh)
		return (-1);
	return (0);
}

/* The region mode in use, once INIT is done. */
enum region_mode
kfeat_mode(void)
{
	return (kf.mode);
}

/*
 * Register fd with the kernel as a passthrough backing file.  Returns the
 * backing id (> 0), or -1 with errno.
 */
int
kfeat_backing_open(fuse_req_t req, int fd)
{
#if KF_NATIVE
	int	 id;

	if ((id = fuse_passthrough_open(req, fd)) <= 0) {
		errno = id < 0 ? -id : EIO;
		return (-1);
	}
	return (id);
#else
	struct kf_backing_map	 map = { .fd = fd };

	(void)req;
	return (ioctl(fuse_session_fd(kf.se), KF_DEV_IOC_BACKING_OPEN, &map));
#endif
}

/* Drop a backing id; files opened with it keep their own reference. */
void
kfeat_backing_close(int id)
{
	uint32_t	 bid = (uint32_t)id;

	/*
	 * What libfuse 3.17's fuse_passthrough_close() does, without its
	 * request: a close may come after the request that opened the file
	 * was answered, and so freed, when that answer failed.
	 */
	if (ioctl(fuse_session_fd(kf.se), KF_DEV_IOC_BACKING_CLOSE,
	    &bid) == -1)
		log_warn("%s: backing id %d", __func__, id);
}

/*
 * For LeakSanitizer, in the sanitized build: libfuse 3.17.3, 3.17.4 and
 * 3.18.0 to 3.18.2 lose the copy fuse_session_mount() makes of a
 * /dev/fd/N mount point, as mount.fuse3's drop_privileges gives (libfuse
 * commit 87388820 fixed it after 3.18.2).  A few bytes, once, and not
 * ipcfs's to free: suppressed, without the summary LeakSanitizer prints of
 * suppressions used, which the tests would take for a report.  Never
 * called without the sanitizer.
 */
const char	*__lsan_default_suppressions(void);
const char	*__lsan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return ("leak:fuse_session_mount\n");
}

const char *
__lsan_default_options(void)
{
	return ("print_suppressions=0");
}

/*
 * How an open of a channel with open(2) flags flags is best answered in
 * this mode (KF_*); fs.c then keeps opens that the kernel cannot mix on
 * one inode apart.  What the kernel does (Linux 6.18, fs/file.c and
 * fs/fuse/):
 *
 * - Every read(), write() and lseek() through an open file description
 *   that more than one descriptor shares (threads, fork, dup) holds the
 *   file's position lock, f_pos_lock, uninterruptibly (fdget_pos), unless
 *   stream_open() took FMODE_ATOMIC_POS away, which FOPEN_STREAM does
 *   (fuse_finish_open).  A read or write that ipcfs holds keeps the lock,
 *   and the next call through the description waits for it in state D:
 *   exec 3<>chan; cat <&3 & echo hi >&3.
 * - A direct write keeps the inode lock for as long as ipcfs holds it
 *   (fuse_direct_write_iter, fuse_dio_lock).  It is shared only with
 *   FOPEN_PARALLEL_DIRECT_WRITES, without O_APPEND, outside page-cache io
 *   mode, and when the write ends within the size the kernel has cached
 *   (fuse_dio_wr_exclusive_lock, fuse_io_past_eof); a stream writes at
 *   offset 0.  Exclusive, it makes the next write to the inode wait in D:
 *   exec 3>chan; seq 1 100000 >&3 & echo x >&3, once chan is full.
 *
 * So sharing a description needs a stream.  But the kernel maps only an
 * open that passthrough serves; it refuses FOPEN_STREAM with
 * FOPEN_PASSTHROUGH, and any open that is not passthrough on an inode
 * that has a passthrough open: that open fails with EIO (iomode.c,
 * FOPEN_PASSTHROUGH_MASK and fuse_file_io_open).  And programs seek:
 * numpy.memmap and Python's open(path, "r+b") need lseek() when they
 * open, readers seek back (docs/semantics.md, re-reads), and an O_RDWR
 * open may be sized and mapped with no other open (docs/examples/frame.c).
 *
 * - region=off: every open is a stream.
 * - passthrough: an open for writing only, which can never read or map
 *   (mmap needs read access), is a stream; any other maps.
 * - pagecache: every open maps.  A stream could map there, but a shared
 *   direct write keeps the inode out of page-cache io mode while ipcfs
 *   holds it, and the first mmap() of the inode waits for it to end,
 *   uninterruptibly (fuse_file_cached_io_start): a held writer would
 *   freeze a mapper.
 */
int
kfeat_open_kind(int flags)
{
	switch (kf.mode) {
	case REGION_OFF:
		return (KF_STREAM);
	case REGION_PASSTHROUGH:
		return ((flags & O_ACCMODE) == O_WRONLY ? KF_STREAM : KF_MAP);
	default:
		return (KF_MAP);
	}
}

/*
 * Set the open flags of a channel open in fi for kind (KF_*), with the
 * region's backing_id for a passthrough open.  Call while serving the
 * OPEN or CREATE request, before its reply.
 */
void
kfeat_open_reply(struct fuse_file_info *fi, int kind, int backing_id)
{
	struct kf_open	*o;
	uint32_t	 flags = 0;

	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->nonseekable = kind == KF_STREAM;
#if KF_NATIVE
	fi->backing_id = 0;
#endif
	if (kind == KF_STREAM)
		flags = FOPEN_STREAM | KF_FOPEN_PARALLEL_DIRECT_WRITES;
	else if (kind == KF_MAP && kf.mode == REGION_PASSTHROUGH) {
#if KF_NATIVE
		fi->backing_id = backing_id;
#else
		flags = KF_FOPEN_PASSTHROUGH;
#endif
	}
	if ((o = kfeat_pending(kf.serving)) != NULL) {
		o->open_flags = flags;
		o->backing_id = backing_id;
	} else if (flags != 0)
		log_warnx("%s: no OPEN or CREATE is being served", __func__);
}
