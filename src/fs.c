/*
 * The FUSE operations table.  Each handler decodes its request, calls into
 * node.c or chan.c, and replies exactly once, now or, for a read or write
 * that must wait, later through the chan_cbs below.  A held request can
 * always be interrupted: the kernel's FUSE_INTERRUPT answers it with EINTR
 * (or the count a write already got in), so a blocked caller stays
 * killable.
 */

#define FUSE_USE_VERSION 312

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <ctype.h>
#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

/*
 * Every change to the namespace and to attributes goes through this
 * kernel, which drops what it cached of an inode whenever it changes it
 * (create, unlink, rename, setattr, and every write, which moves mtime),
 * so names and attributes can be cached.  It saves a GETATTR of every
 * directory on every path walk.
 */
#define ENTRY_TIMEOUT	3600.0
#define ATTR_TIMEOUT	3600.0

static struct chan_pool	 pool;
static struct opts	 fs_opts;
static struct fuse_session *fs_se;
static int		 fs_init_failed;
static double		 fs_chan_timeout = ENTRY_TIMEOUT;

#define XATTR_OWN	"user.ipcfs."
#define XATTR_REGION	"user.ipcfs.region"
#define XATTR_STATS	"user.ipcfs.stats"
#define XATTR_FRAMING	"user.ipcfs.framing"
#define XATTR_DELIVERY	"user.ipcfs.delivery"
#define XATTR_CAPACITY	"user.ipcfs.capacity"
#define XATTR_BRIDGE	"user.ipcfs.bridge"
#define XATTR_LIST	XATTR_REGION "\0" XATTR_STATS "\0" XATTR_FRAMING "\0" \
			XATTR_DELIVERY "\0" XATTR_CAPACITY

/* An open directory: the snapshot its readdirs walk. */
struct dir_handle {
	LIST_ENTRY(dir_handle)	 entry;		/* on fs_dirs */
	struct dirent_snap	*ents;
	size_t			 cnt;
};

/* Open directories, so that those never released are freed at the end. */
static LIST_HEAD(, dir_handle) fs_dirs = LIST_HEAD_INITIALIZER(fs_dirs);

static void
fs_dir_free(struct dir_handle *d)
{
	LIST_REMOVE(d, entry);
	node_snapshot_free(d->ents, d->cnt);
	free(d);
}

static void
reply_data_cb(void *req, const struct iovec *iov, int cnt)
{
	if (cnt == 0)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_iov(req, iov, cnt);
}

static void
reply_count_cb(void *req, size_t n)
{
	fuse_reply_write(req, n);
}

static void
reply_err_cb(void *req, int error)
{
	fuse_reply_err(req, error);
}

static void
poll_notify_cb(void *ph)
{
	fuse_lowlevel_notify_poll(ph);
	fuse_pollhandle_destroy(ph);
}

static void
poll_free_cb(void *ph)
{
	fuse_pollhandle_destroy(ph);
}

/* A held write keeps the buffer its request was read into (loop.c). */
static void *
adopt_cb(void *req, const void *buf, size_t max, size_t *size)
{
	(void)req;
	return (loop_adopt(buf, max, size));
}

static const struct chan_cbs fs_cbs = {
	.reply_data = reply_data_cb,
	.reply_count = reply_count_cb,
	.reply_err = reply_err_cb,
	.poll_notify = poll_notify_cb,
	.poll_free = poll_free_cb,
	.adopt = adopt_cb,
};

/*
 * The block size stat reports: for a message channel the smallest power
 * of two not below its largest message, so that a buffered reader asks
 * for a whole one (the kernel rounds it down to a power of two).
 */
static blksize_t
fs_blksize(const struct node *n)
{
	size_t	 max, b = CHAN_ATOMIC;

	if (n->chan == NULL || n->chan->framing != CHAN_MESSAGES)
		return (CHAN_ATOMIC);
	max = chan_max_message(n->chan);
	while (b < max)
		b *= 2;
	return ((blksize_t)b);
}

static void
fs_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	if (S_ISDIR(n->mode))
		st->st_nlink = (n->parent != NULL || n == node_root()) ?
		    2 + n->nsubdirs : 0;
	else
		st->st_nlink = n->parent != NULL ? 1 : 0;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	if (n->chan != NULL) {
		/*
		 * The region's size.  Without a region, where an open still
		 * reading met end of file: tail -f compares the offset it
		 * read to with the size, and would take a stream it read to
		 * the end for a file that was truncated.
		 */
		st->st_size = n->chan->region.size > 0 ?
		    (off_t)n->chan->region.size :
		    (off_t)chan_eof_mark(n->chan);
		st->st_blocks = (blkcnt_t)((n->chan->region.size + 511) / 512);
	}
	st->st_blksize = fs_blksize(n);
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

/* The entry that makes the kernel know n's name as k. */
static void
fs_entry(struct knode *k, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = k->id;
	e->generation = 1;
	e->entry_timeout = k->node->chan != NULL ? fs_chan_timeout :
	    ENTRY_TIMEOUT;
	e->attr_timeout = ATTR_TIMEOUT;
	fs_stat(k->node, &e->attr);
	k->attrs = 1;
}

/*
 * Reply with the entry of a lookup or a create of a name: the kernel learns
 * of k once more, unless the caller was interrupted and the reply fell on
 * the floor.
 */
static void
fs_reply_entry(fuse_req_t req, struct knode *k)
{
	struct fuse_entry_param	 e;

	if (k == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fs_entry(k, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		node_forget(k, 1);
}

/*
 * The name of k's node moves on to a new knode (node_busy, node_move):
 * make the kernel look names up again, so that the next path walk to it
 * gets the new knode, whose inode lock a held write does not keep and
 * whose opens are all of one kind (fs_open_kind).  Where the kernel
 * cannot be told, channel entries are never cached instead.
 */
static void
fs_move(struct knode *k, const char *why)
{
	log_debug("%s: %s: node id %llu %s", __func__, k->node->name,
	    (unsigned long long)k->id, why);
	if (fs_chan_timeout > 0 && kfeat_inc_epoch() == -1) {
		log_warn("%s: cannot make the kernel look names up again; "
		    "channel names are no longer cached", __func__);
		fs_chan_timeout = 0;
	}
}

/*
 * n's attributes changed through via (NULL: none of its knodes): the
 * kernel drops what it cached of them for n's other knodes, which it
 * does not know are the same file.
 */
void
fs_attrs_changed(struct node *n, struct knode *via)
{
	struct knode	*k;

	LIST_FOREACH(k, &n->knodes, nentry) {
		if (k == via || !k->attrs)
			continue;
		k->attrs = 0;
		fuse_lowlevel_notify_inval_inode(fs_se, k->id, -1, 0);
	}
}

static struct node *
fs_dir(fuse_req_t req, fuse_ino_t ino)
{
	struct node	*dir;

	if ((dir = node_get(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return (NULL);
	}
	if (!S_ISDIR(dir->mode)) {
		fuse_reply_err(req, ENOTDIR);
		return (NULL);
	}
	return (dir);
}

static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/*
	 * The kernel cuts a write into requests of at most max_write bytes,
	 * fewer if the caller's buffer is not page-aligned: only a message
	 * a page shorter than max_write surely comes whole, and the first
	 * piece of a longer write is then surely too long to take.
	 */
	pool.max_message = conn->max_write > CHAN_ATOMIC ?
	    conn->max_write - CHAN_ATOMIC : CHAN_ATOMIC;
	/*
	 * O_TRUNC must reach open, not become a truncate: a channel ignores
	 * it, as a FIFO does, and the shell's '>' sends it.
	 */
	kfeat_want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
	kfeat_unwant(conn, FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
	    FUSE_CAP_SPLICE_MOVE);
	log_debug("%s: protocol %u.%u, max_write %u", __func__,
	    conn->proto_major, conn->proto_minor, conn->max_write);
	if (kfeat_init(conn) != 0) {
		log_warnx("region=%s is not available here (passthrough needs "
		    "Linux 6.9 and CAP_SYS_ADMIN, pagecache Linux 6.6); "
		    "try region=auto", opts_region_name(fs_opts.region));
		fs_init_failed = 1;
		fuse_session_exit(fs_se);
		return;
	}
	/*
	 * A channel's name moves on to a new inode of the kernel's while a
	 * writer may keep the old one's lock.  In page-cache mode every
	 * inode has a page cache of its own, so there only a held write on
	 * a channel without a region moves its name.
	 */
	node_set_moves(kfeat_mode() == REGION_PAGECACHE ? NODE_MOVES_HELD :
	    NODE_MOVES_WRITER);
	if (!kfeat_epoch())
		fs_chan_timeout = 0;
}

static void
fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param	 e;
	struct node		*dir, *n;

	if ((dir = fs_dir(req, parent)) == NULL)
		return;
	if (strlen(name) > NAME_MAX_LEN) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if ((n = node_lookup(dir, name)) == NULL) {
		/* A negative entry: the kernel caches the absence. */
		memset(&e, 0, sizeof e);
		e.entry_timeout = ENTRY_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	fs_reply_entry(req, node_ref(n));
}

static void
fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct knode	*k;

	if ((k = node_kget(ino)) != NULL)
		node_forget(k, nlookup);
	fuse_reply_none(req);
}

static void
fs_forget_multi(fuse_req_t req, size_t count,
    struct fuse_forget_data *forgets)
{
	struct knode	*k;
	size_t		 i;

	for (i = 0; i < count; i++)
		if ((k = node_kget(forgets[i].ino)) != NULL)
			node_forget(k, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* True if a write through a stream open of k is held (kfeat_open_kind). */
static int
fs_held_stream_write(const struct knode *k)
{
	const struct waiter	*w;

	TAILQ_FOREACH(w, &k->node->chan->wq, entry)
		if (w->h->udata == k && !(w->h->mode & CHAN_SEEK))
			return (1);
	return (0);
}

static void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat	 st;
	struct knode	*k;

	(void)fi;
	if ((k = node_kget(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_stat(k->node, &st);
	k->attrs = 1;
	/*
	 * A write through a stream shares the inode lock with the next one
	 * only if it ends within the size the kernel has cached (kfeat.c,
	 * kfeat_open_kind); each write raises that size to where it ended
	 * (fuse_write_update_attr), and this reply would lower it again to
	 * st_size, 0 for a channel without a region.  The next write through
	 * the held writer's open, after a stat() of its own (stdio makes one
	 * on its first output: bash's echo does), would then wait for the
	 * held write, uninterruptibly.  Telling the kernel first that the
	 * attributes changed makes it take this reply for an older one: it
	 * keeps the size it has (fuse_change_attributes_i, attr_version),
	 * while stat() still shows what this reply says (fuse_do_getattr).
	 * A region's size is the size, for lseek() and mmap(): left alone.
	 */
	if (k->node->chan != NULL && k->node->chan->region.size == 0 &&
	    fs_held_stream_write(k)) {
		fuse_lowlevel_notify_inval_inode(fs_se, ino, -1, 0);
		k->attrs = 0;
	}
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void
fs_settime(struct timespec *ts, const struct timespec *val, int now)
{
	if (now)
		clock_gettime(CLOCK_REALTIME, ts);
	else
		*ts = *val;
}

static void
fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct stat	 st;
	struct knode	*k, *cur;
	struct node	*n;
	int		 error;

	(void)fi;
	if ((k = node_kget(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = k->node;
	/* A bridged name's times go to every host: 1970 to 2262 only. */
	if (n->bridged && (((to_set & FUSE_SET_ATTR_ATIME) &&
	    !bridge_time_ok(&attr->st_atim)) ||
	    ((to_set & FUSE_SET_ATTR_MTIME) &&
	    !bridge_time_ok(&attr->st_mtim)))) {
		fuse_reply_err(req, EOVERFLOW);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(n->mode)) {
			fuse_reply_err(req, EISDIR);
			return;
		}
		/*
		 * In page-cache mode each knode is a page cache of its own.
		 * A region begun while the name has moved on is the current
		 * knode's, and the name stays there from now on (node_busy);
		 * older knodes get EIO for its pages rather than a copy of
		 * their own.
		 */
		if (kfeat_mode() == REGION_PAGECACHE && attr->st_size > 0 &&
		    n->chan->region.size == 0 && node_nknodes(n) > 1) {
			if ((cur = node_knode(n)) == NULL) {
				fuse_reply_err(req, ENOMEM);
				return;
			}
			n->region_kid = cur->id;
		}
		error = region_resize(&n->chan->region, &pool.budget,
		    (uint64_t)attr->st_size);
		if (error != 0) {
			fuse_reply_err(req, error);
			return;
		}
		node_touch(n, NODE_MTIME);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		fs_settime(&n->atime, &attr->st_atim,
		    to_set & FUSE_SET_ATTR_ATIME_NOW);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		fs_settime(&n->mtime, &attr->st_mtim,
		    to_set & FUSE_SET_ATTR_MTIME_NOW);
	if (to_set & FUSE_SET_ATTR_CTIME)
		n->ctime = attr->st_ctim;
	else
		node_touch(n, NODE_CTIME);
	fs_attrs_changed(n, k);
	/* Owners, modes and times of bridged names are the cluster's. */
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
	    FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
	    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))
		bridge_changed(n);
	fs_stat(n, &st);
	k->attrs = 1;
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* Make a node for the caller: its uid and gid, its masked mode. */
static int
fs_make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct node **np)
{
	const struct fuse_ctx	*ctx = fuse_req_ctx(req);
	struct node		*dir;
	int			 error;

	if ((dir = node_get(parent)) == NULL)
		return (ENOENT);
	/* A name the bridge cannot send is too long here. */
	if (dir->bridged && node_lookup(dir, name) == NULL &&
	    (error = bridge_making(dir, name)) != 0)
		return (error);
	return (node_make(dir, name, mode, ctx->uid, ctx->gid, np));
}

static void
fs_reply_made(fuse_req_t req, int error, struct node *n)
{
	if (error != 0)
		fuse_reply_err(req, error);
	else {
		bridge_made(n);
		fs_reply_entry(req, node_ref(n));
	}
}

static void
fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct node	*n = NULL;
	int		 error;

	(void)rdev;
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	error = fs_make(req, parent, name, mode, &n);
	fs_reply_made(req, error, n);
}

static void
fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node	*n = NULL;
	int		 error;

	error = fs_make(req, parent, name, S_IFDIR | (mode & 07777), &n);
	fs_reply_made(req, error, n);
}

/*
 * The link count of the channel called name in dir is about to drop: its
 * knodes other than the one the kernel unlinks through learn of it.
 */
static void
fs_unlinking(struct node *dir, const char *name)
{
	struct node	*n;

	if (S_ISDIR(dir->mode) && (n = node_lookup(dir, name)) != NULL &&
	    n->chan != NULL && node_nknodes(n) > 1)
		fs_attrs_changed(n, NULL);
}

static void
fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node	*dir;

	void		*op;
	int		 error;

	if ((dir = fs_dir(req, parent)) == NULL)
		return;
	fs_unlinking(dir, name);
	op = bridge_removing(dir, name);
	error = node_unlink(dir, name);
	bridge_removed(op, error);
	fuse_reply_err(req, error);
}

static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node	*dir;

	void		*op;
	int		 error;

	if ((dir = fs_dir(req, parent)) == NULL)
		return;
	op = bridge_removing(dir, name);
	error = node_rmdir(dir, name);
	bridge_removed(op, error);
	fuse_reply_err(req, error);
}

/* Symbolic and hard links would make names that are not channels. */
static void
fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void
fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

static void
fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct node	*dir, *newdir, *n, *other = NULL;
	void		*op;
	int		 error;

	if ((dir = fs_dir(req, parent)) == NULL)
		return;
	if ((newdir = fs_dir(req, newparent)) == NULL)
		return;
	/* Nothing moves in or out of a bridged directory. */
	if ((error = bridge_renaming(dir, name, newdir, newname, flags,
	    &op)) != 0) {
		fuse_reply_err(req, error);
		return;
	}
	fs_unlinking(newdir, newname);
	n = node_lookup(dir, name);
	if ((flags & RENAME_EXCHANGE) != 0)
		other = node_lookup(newdir, newname);
	error = node_rename(dir, name, newdir, newname, flags);
	bridge_renamed(op, error);
	/* A moved name's ctime changed: older opens' inodes learn of it. */
	if (error == 0 && n != NULL)
		fs_attrs_changed(n, NULL);
	if (error == 0 && other != NULL)
		fs_attrs_changed(other, NULL);
	fuse_reply_err(req, error);
}

/*
 * In passthrough mode every open of a channel names the region's memfd by
 * a backing id, the same one for as long as the channel is open anywhere.
 */
static int
fs_backing(fuse_req_t req, struct chan *c)
{
	struct region	*r = &c->region;
	int		 fd, id, error;

	if (kfeat_mode() != REGION_PASSTHROUGH || r->backing_id > 0)
		return (0);
	if ((fd = region_fd(r)) == -1 || (id = kfeat_backing_open(req,
	    fd)) == -1) {
		error = errno;
		log_warn("%s: region backing file", __func__);
		/* Nothing is open: a memfd made for this open goes again. */
		if (LIST_EMPTY(&c->handles))
			region_trim(r, 1);
		/* The daemon's descriptors, not the caller's, ran out. */
		return (error == EMFILE || error == ENFILE ? ENFILE : EIO);
	}
	r->backing_id = id;
	return (0);
}

/*
 * Threads whose last open fs_open_kind sent on to a new knode: the
 * kernel's second try comes from the same thread at once.
 */
#define FS_SENT_ON	64
static pid_t		 fs_sent_on[FS_SENT_ON];
static unsigned		 fs_sent_next;

/* True if tid's last open was sent on; it is taken off the list. */
static int
fs_sent_on_take(pid_t tid)
{
	unsigned	 i;

	for (i = 0; i < FS_SENT_ON; i++)
		if (tid != 0 && fs_sent_on[i] == tid) {
			fs_sent_on[i] = 0;
			return (1);
		}
	return (0);
}

/*
 * How the kernel is to open k for fi (KF_*), or -1: the open is to fail
 * with ESTALE and go to a new knode.  In passthrough mode the kernel
 * fails an open that is not passthrough on an inode that has a
 * passthrough open (kfeat_open_kind), and only a passthrough open maps:
 * a stream and a passthrough open of one inode of the kernel's never
 * both exist.  An open that cannot join what k has open gets the kind k
 * can take (a position, if not a stream; no mapping, if not
 * passthrough), unless it came by the name to the knode the name is
 * bound to (ev is NODE_EV_OPEN): then the name moves on and the open
 * fails with ESTALE, which makes the kernel look the path up again and
 * open what it finds there, once (do_filp_open, LOOKUP_REVAL).  So a
 * writer finds a stream even where a reader has the channel open, and a
 * mapper a mapping where a writer has.
 */
static int
fs_open_kind(fuse_req_t req, struct knode *k, struct fuse_file_info *fi,
    int ev)
{
	pid_t	 tid = fuse_req_ctx(req)->pid;
	int	 kind, again;

	again = fs_sent_on_take(tid);
	kind = kfeat_open_kind(fi->flags);
	if (kfeat_mode() != REGION_PASSTHROUGH)
		return (kind);
	if ((kind != KF_STREAM || k->npassthrough == 0) &&
	    (kind != KF_MAP || k->nstreams == 0))
		return (kind);
	/*
	 * A caller the daemon's pid namespace cannot see has tid 0 (a
	 * container's mount shared with another): an open that reaches a
	 * knode whose name is already moving on came by no new lookup (the
	 * kernel's second try through /proc/PID/fd/N, say), and going on
	 * again would fail it.
	 */
	if (tid == 0)
		again = k->moving;
	if (ev == NODE_EV_OPEN && !again && node_move(k)) {
		if (tid != 0) {
			fs_sent_on[fs_sent_next] = tid;
			fs_sent_next = (fs_sent_next + 1) % FS_SENT_ON;
		}
		fs_move(k, kind == KF_STREAM ? "has passthrough opens" :
		    "has streams");
		return (-1);
	}
	return (kind == KF_STREAM ? KF_MAP : KF_SEEK);
}

/*
 * Open the channel of k's node for fi; the caller replies.  ev is
 * NODE_EV_OPEN for an open of a name the kernel had already looked up, 0
 * for a create.
 */
static int
fs_open_chan(fuse_req_t req, struct knode *k, struct fuse_file_info *fi,
    int ev)
{
	struct node		*n = k->node;
	struct chan_handle	*h;
	int			 mode, kind, error;

	if ((kind = fs_open_kind(req, k, fi, ev)) == -1)
		return (ESTALE);
	if (kind == KF_MAP && (error = fs_backing(req, n->chan)) != 0)
		return (error);

	switch (fi->flags & O_ACCMODE) {
	case O_RDONLY:
		mode = CHAN_RD;
		break;
	case O_WRONLY:
		mode = CHAN_WR;
		break;
	default:
		mode = CHAN_RD | CHAN_WR;
		break;
	}
	/* An open with a position keeps a read history. */
	if (kind != KF_STREAM)
		mode |= CHAN_SEEK;
	if ((h = chan_open(n->chan, mode)) == NULL)
		return (ENOMEM);
	h->udata = k;
	h->ukind = kind;
	node_open(k, mode & CHAN_WR);
	if (kind == KF_STREAM)
		k->nstreams++;
	else if (kind == KF_MAP && kfeat_mode() == REGION_PASSTHROUGH)
		k->npassthrough++;
	if ((mode & CHAN_WR) && ev != 0 && node_busy(k, ev))
		fs_move(k, "keeps its inode lock");
	fi->fh = (uintptr_t)h;
	/*
	 * Direct I/O sends every read and write here, whatever the file
	 * size; kfeat.c makes the open a stream, or passthrough for the
	 * region.
	 */
	kfeat_open_reply(fi, kind, n->chan->region.backing_id);
	return (0);
}

static void
fs_close_chan(struct fuse_file_info *fi)
{
	struct chan_handle	*h = (struct chan_handle *)(uintptr_t)fi->fh;
	struct knode		*k = h->udata;
	struct chan		*c = k->node->chan;
	int			 wr = h->mode & CHAN_WR;

	if (h->ukind == KF_STREAM)
		k->nstreams--;
	else if (h->ukind == KF_MAP && kfeat_mode() == REGION_PASSTHROUGH)
		k->npassthrough--;
	chan_close(h);
	if (LIST_EMPTY(&c->handles)) {
		/*
		 * A passthrough mapping holds the memfd, not the channel file,
		 * so the daemon cannot see it: once a region has had contents
		 * its memfd stays while the channel exists.  The backing id
		 * can go; the kernel keeps its own reference for every file
		 * opened with it.
		 */
		if (c->region.backing_id > 0) {
			kfeat_backing_close(c->region.backing_id);
			c->region.backing_id = 0;
		}
		region_trim(&c->region, kfeat_mode() == REGION_PASSTHROUGH);
	}
	node_close(k, wr);
}

static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct knode	*k;
	struct node	*n;
	int		 error;

	if ((k = node_kget(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = k->node;
	if (S_ISDIR(n->mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((error = fs_open_chan(req, k, fi, NODE_EV_OPEN)) != 0) {
		fuse_reply_err(req, error);
		return;
	}
	/*
	 * O_TRUNC leaves the stream and the region alone, as on a FIFO, but
	 * marks the change times as any truncating open does.
	 */
	if (fi->flags & O_TRUNC) {
		node_touch(n, NODE_MTIME | NODE_CTIME);
		fs_attrs_changed(n, NULL);
	}
	/* A bridged broadcast's first reader here waits to be joined. */
	if (bridge_open_wait(n->chan, req, fi))
		return;
	fs_open_reply(req, fi, 0);
}

/*
 * Answer an open of a channel, now or once it waited (bridge.c): with an
 * error, or interrupted in the kernel (which then sends no release), the
 * open is undone.
 */
void
fs_open_reply(fuse_req_t req, struct fuse_file_info *fi, int error)
{
	if (error != 0) {
		fs_close_chan(fi);
		fuse_reply_err(req, error);
	} else if (fuse_reply_open(req, fi) == -ENOENT)
		fs_close_chan(fi);
}

static void
fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct fuse_entry_param	 e;
	struct node		*dir, *n = NULL;
	struct knode		*k;
	void			*op;
	int			 error, made;

	if ((dir = fs_dir(req, parent)) == NULL)
		return;
	error = fs_make(req, parent, name, S_IFREG | (mode & 07777), &n);
	made = error == 0;
	if (made)
		bridge_made(n);
	if (error == EEXIST && !(fi->flags & O_EXCL))
		n = node_lookup(dir, name);
	else if (error != 0) {
		fuse_reply_err(req, error);
		return;
	}
	if (n == NULL || S_ISDIR(n->mode)) {
		fuse_reply_err(req, n == NULL ? ENOENT : EISDIR);
		return;
	}
	if ((k = node_ref(n)) == NULL)
		error = ENOMEM;
	else if ((error = fs_open_chan(req, k, fi, made ? 0 :
	    NODE_EV_OPEN)) != 0)
		node_forget(k, 1);
	if (error != 0) {
		/* The kernel will not learn of the name: take it back. */
		if (made) {
			op = bridge_removing(dir, name);
			bridge_removed(op, node_unlink(dir, name));
		}
		fuse_reply_err(req, error);
		return;
	}
	fs_entry(k, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fs_close_chan(fi);
		node_forget(k, 1);
	}
}

static void
fs_interrupt_cb(fuse_req_t req, void *data)
{
	(void)req;
	chan_cancel(data, EINTR);
}

static void
fs_pagein(fuse_req_t req, struct knode *k, size_t size, off_t off)
{
	struct node	*n = k->node;
	char		*buf;
	ssize_t		 len;

	/* A page cache that would not be the region's one (fs_setattr). */
	if (n->region_kid != 0 && k->id != n->region_kid) {
		fuse_reply_err(req, EIO);
		return;
	}
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	len = region_pread(&n->chan->region, buf, size, (uint64_t)off);
	if (len == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)len);
	free(buf);
}

static void
fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct chan_handle	*h = (struct chan_handle *)(uintptr_t)fi->fh;
	struct waiter		*w;

	(void)ino;
	/*
	 * Reads the kernel makes into its page cache (the region's pages in
	 * page-cache mode; splice, sendfile and copy_file_range in every mode)
	 * are told apart by their lock owner: a read() from a program always
	 * carries one.  They get the region, never stream bytes: the kernel
	 * reads ahead and bounds them by the file size, so stream bytes would
	 * be taken and never delivered.
	 */
	if (fi->lock_owner == 0) {
		fs_pagein(req, h->udata, size, off);
		return;
	}
	w = chan_read(h, req, size, (uint64_t)off, fi->flags & O_NONBLOCK);
	/* Last: if the kernel already interrupted req, this answers it. */
	if (w != NULL)
		fuse_req_interrupt_func(req, fs_interrupt_cb, w);
}

static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct chan_handle	*h = (struct chan_handle *)(uintptr_t)fi->fh;
	struct knode		*k = h->udata;
	struct node		*n = k->node;
	struct waiter		*w;
	ssize_t			 len;

	(void)ino;
	/* A write-back of region pages, never stream data. */
	if (fi->writepage) {
		len = region_pwrite(&n->chan->region, buf, size, (uint64_t)off);
		if (len == -1)
			fuse_reply_err(req, errno);
		else
			fuse_reply_write(req, (size_t)len);
		return;
	}
	node_touch(n, NODE_MTIME | NODE_CTIME);
	if (kfeat_write_kill_suidgid() && (n->mode & (S_ISUID | S_ISGID))) {
		/* As any file system does for a writer without CAP_FSETID. */
		n->mode &= ~S_ISUID;
		if (n->mode & S_IXGRP)
			n->mode &= ~S_ISGID;
	}
	/* A write may keep this knode's inode lock: move the name on. */
	if (node_busy(k, NODE_EV_WRITE))
		fs_move(k, "keeps its inode lock");
	fs_attrs_changed(n, k);
	/* A bridged channel's close waits for what its process wrote. */
	h->owner = fi->lock_owner;
	w = chan_write(h, req, buf, size, (uint64_t)off,
	    fi->flags & O_NONBLOCK);
	if (w == NULL)
		return;
	if (node_busy(k, NODE_EV_HELD))
		fs_move(k, "keeps its inode lock");
	/* Last: if the kernel already interrupted req, this answers it. */
	fuse_req_interrupt_func(req, fs_interrupt_cb, w);
}

static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_close_chan(fi);
	fuse_reply_err(req, 0);
}

/*
 * fsync() of a channel: a local one has nothing to store; a bridged one
 * waits until JetStream has stored what this open wrote (bridge_sync).
 */
static void
fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	if (bridge_sync((struct chan_handle *)(uintptr_t)fi->fh, req, 0, 0) <=
	    0)
		fuse_reply_err(req, 0);
}

/*
 * FLUSH comes with each close() of a descriptor, with the closing
 * process's lock owner: on a bridged channel it waits as fsync does for
 * what that process wrote through the open (close-to-open, as NFS), so
 * that a child that closes a descriptor it inherited does not wait for
 * its parent's writes.  A daemon with no bridge answers ENOSYS, and the
 * kernel sends no more of them.
 */
static void
fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int	 r;

	(void)ino;
	r = bridge_sync((struct chan_handle *)(uintptr_t)fi->fh, req, 1,
	    fi->lock_owner);
	if (r <= 0)
		fuse_reply_err(req, r == 0 ? 0 : ENOSYS);
}

static void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle	*d;
	struct node		*dir;

	if ((dir = fs_dir(req, ino)) == NULL)
		return;
	if ((d = calloc(1, sizeof *d)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((d->cnt = node_snapshot(dir, &d->ents)) == SIZE_MAX) {
		log_warn("%s: a snapshot of %s", __func__, dir->name);
		free(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	node_open(dir->cur, 0);
	LIST_INSERT_HEAD(&fs_dirs, d, entry);
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		fs_dir_free(d);
		node_close(dir->cur, 0);
	}
}

static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct dir_handle	*d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct node		*dir;
	struct stat		 st;
	char			*buf;
	const char		*name;
	size_t			 len = 0, ent;
	off_t			 i;

	if ((dir = node_get(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = off; i >= 0 && (size_t)i < d->cnt + 2; i++) {
		memset(&st, 0, sizeof st);
		if (i == 0) {
			name = ".";
			st.st_ino = dir->ino;
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			name = "..";
			st.st_ino = dir->parent != NULL ? dir->parent->ino :
			    dir->ino;
			st.st_mode = S_IFDIR;
		} else {
			name = d->ents[i - 2].name;
			st.st_ino = d->ents[i - 2].ino;
			st.st_mode = d->ents[i - 2].mode & S_IFMT;
		}
		ent = fuse_add_direntry(req, buf + len, size - len, name, &st,
		    i + 1);
		if (ent > size - len)
			break;
		len += ent;
	}
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static void
fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle	*d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct knode		*k;

	fs_dir_free(d);
	if ((k = node_kget(ino)) != NULL)
		node_close(k, 0);
	fuse_reply_err(req, 0);
}

static void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs		 sv;
	struct node_stats	 ns;
	size_t			 avail = budget_left(&pool.budget);

	(void)ino;
	node_stats(&ns);
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = CHAN_ATOMIC;
	sv.f_frsize = CHAN_ATOMIC;
	sv.f_blocks = pool.budget.max_memory / CHAN_ATOMIC;
	sv.f_bfree = avail / CHAN_ATOMIC;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = ns.max_nodes;
	sv.f_ffree = ns.max_nodes - ns.nodes;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = NAME_MAX_LEN;
	fuse_reply_statfs(req, &sv);
}

static void
fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
    struct fuse_pollhandle *ph)
{
	struct chan_handle	*h = (struct chan_handle *)(uintptr_t)fi->fh;

	(void)ino;
	fuse_reply_poll(req, chan_poll(h, ph));
}

/* Descriptors the daemon has open. */
static int
fs_count_fds(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n - 1);
}

/* Answer a getxattr of size bytes with the len bytes at value. */
static void
fs_reply_value(fuse_req_t req, const void *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/*
 * A setting of two values, zero and one, which may end in a newline:
 * *out is which it is; EINVAL if neither.
 */
static int
fs_setting(const char *value, size_t size, const char *zero,
    const char *one, int *out)
{
	if (size > 0 && value[size - 1] == '\n')
		size--;
	if (size == strlen(zero) && memcmp(value, zero, size) == 0)
		*out = 0;
	else if (size == strlen(one) && memcmp(value, one, size) == 0)
		*out = 1;
	else
		return (EINVAL);
	return (0);
}

/*
 * The daemon's attributes on every name: user.ipcfs.region, the region
 * mode in use; user.ipcfs.stats, a channel's figures or, on directories,
 * the mount's counters; and a channel's settings (user.ipcfs.framing,
 * user.ipcfs.delivery, user.ipcfs.capacity), which on a directory are the
 * defaults for names made in it.  Any other user.* name is the owner's.
 */
static void
fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct node_stats	 ns;
	struct chan_stats	 cs;
	const struct xattr	*x;
	struct node		*n;
	uint64_t		 ready, caught, slept;
	size_t			 len;
	char			 buf[1024];

	if ((n = node_get(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strcmp(name, XATTR_REGION) == 0)
		strlcpy(buf, opts_region_name(kfeat_mode()), sizeof buf);
	else if (strcmp(name, XATTR_FRAMING) == 0)
		strlcpy(buf, opts_framing[n->chan != NULL ? n->chan->framing :
		    n->framing], sizeof buf);
	else if (strcmp(name, XATTR_DELIVERY) == 0)
		strlcpy(buf, opts_delivery[n->chan != NULL ? n->chan->delivery :
		    n->delivery], sizeof buf);
	else if (strcmp(name, XATTR_CAPACITY) == 0)
		snprintf(buf, sizeof buf, "%zu", n->chan != NULL ?
		    n->chan->capacity : n->capacity);
	else if (strcmp(name, XATTR_BRIDGE) == 0) {
		if (!n->bridged) {
			fuse_reply_err(req, ENODATA);
			return;
		}
		strlcpy(buf, "nats", sizeof buf);
	} else if (strncmp(name, XATTR_OWN, sizeof XATTR_OWN - 1) != 0 &&
	    (x = xattr_get(&n->xattrs, name)) != NULL) {
		fs_reply_value(req, x->value, x->len, size);
		return;
	} else if (strcmp(name, XATTR_STATS) == 0 && n->chan != NULL) {
		/* A channel's own figures; the mount's are on directories. */
		chan_stats(n->chan, &cs);
		snprintf(buf, sizeof buf, "framing %s\ndelivery %s\n"
		    "capacity %zu\nmax_message %zu\nreaders %u\nwriters %u\n"
		    "buffered_bytes %zu\nbuffered_messages %zu\n"
		    "bytes_written %llu\nbytes_read %llu\n"
		    "messages_written %llu\nmessages_read %llu\n"
		    "held_reads %u\nheld_writes %u\nregion_bytes %llu\n",
		    opts_framing[cs.framing], opts_delivery[cs.delivery],
		    cs.capacity, cs.max_message, cs.readers, cs.writers,
		    cs.buffered, cs.messages,
		    (unsigned long long)cs.bytes_written,
		    (unsigned long long)cs.bytes_read,
		    (unsigned long long)cs.writes, (unsigned long long)cs.reads,
		    cs.held_reads, cs.held_writes,
		    (unsigned long long)cs.region);
		if (n->chan->link != NULL) {
			len = strlen(buf);
			bridge_stats(n->chan, buf + len, sizeof buf - len);
		}
	} else if (strcmp(name, XATTR_STATS) == 0) {
		node_stats(&ns);
		loop_spin_stats(&ready, &caught, &slept);
		snprintf(buf, sizeof buf, "nodes %llu\nheld_requests %zu\n"
		    "held_bytes %zu\nbuffer_bytes %zu\nhistory_bytes %zu\n"
		    "xattr_bytes %zu\nregion_bytes %zu\n"
		    "fds %d\nrequests_queued %llu\nrequests_polled %llu\n"
		    "requests_woke %llu\n", (unsigned long long)ns.nodes,
		    pool.nwaiters, pool.budget.held, pool.budget.mem_used,
		    pool.budget.hist_used, pool.budget.xattr_used,
		    pool.budget.region_used,
		    fs_count_fds(), (unsigned long long)ready,
		    (unsigned long long)caught, (unsigned long long)slept);
		len = strlen(buf);
		bridge_stats(NULL, buf + len, sizeof buf - len);
	} else {
		fuse_reply_err(req, ENODATA);
		return;
	}
	fs_reply_value(req, buf, strlen(buf), size);
}

/*
 * Say in the log why a setting was refused (at most once a second for
 * each caller's uid).
 */
static void
fs_refused(fuse_req_t req, struct node *n, const char *name,
    const char *value, size_t size, const char *why)
{
	char	 q[48];
	size_t	 i;

	for (i = 0; i < size && i + 4 < sizeof q; i++)
		q[i] = isprint((unsigned char)value[i]) ? value[i] : '?';
	q[i] = '\0';
	if (i < size)
		strlcat(q, "...", sizeof q);
	log_refused(fuse_req_ctx(req)->uid, "setxattr %s \"%s\" on %s: %s",
	    name, q, n == node_root() ? "the root" : n->name, why);
}

/*
 * Set an attribute.  user.ipcfs.capacity sets the channel's buffer, or a
 * directory's for names made in it later; the other user.ipcfs.* names
 * are the daemon's; any other user.* name is kept as given (xattr.c).  The
 * kernel has checked that the caller may write the file.
 */
static void
fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct node	*n;
	uint64_t	 v;
	const char	*why = NULL;
	char		 buf[32];
	int		 error, mode;

	if ((n = node_get(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (strncmp(name, "user.", 5) != 0)
		error = EOPNOTSUPP;
	else if (strncmp(name, XATTR_OWN, sizeof XATTR_OWN - 1) != 0)
		error = xattr_set(&n->xattrs, &pool.budget, name, value, size,
		    flags);
	else if (flags & XATTR_CREATE)
		error = EEXIST;
	else if (strcmp(name, XATTR_CAPACITY) == 0) {
		error = EINVAL;
		why = "not a size: digits, then K, M or G if you like "
		    "(64K, 1MiB)";
		if (size > 0 && value[size - 1] == '\n')
			size--;
		/* A NUL would end the string early: "64K\0junk". */
		if (size < sizeof buf && memchr(value, '\0', size) == NULL) {
			memcpy(buf, value, size);
			buf[size] = '\0';
			if ((error = opts_size(buf, &v)) == 0 &&
			    (v < CAPACITY_MIN || v > CAPACITY_MAX))
				error = ERANGE;
			if (error == ERANGE) {
				error = EINVAL;
				why = "out of range: 4K to 64M";
			}
		}
		if (error == 0 && bridge_setting(n, req, BRIDGE_CAPACITY, v))
			return;
		if (error == 0 && n->chan != NULL &&
		    (error = chan_set_capacity(n->chan, (size_t)v)) != 0)
			why = "the channel holds more than that";
		if (error == 0)
			n->capacity = (size_t)v;
	} else if (strcmp(name, XATTR_FRAMING) == 0) {
		why = "not bytes or messages";
		if ((error = fs_setting(value, size, opts_framing[0],
		    opts_framing[1], &mode)) == 0 &&
		    bridge_setting(n, req, BRIDGE_FRAMING, (uint64_t)mode))
			return;
		if (error == 0 && n->chan != NULL &&
		    (error = chan_set_mode(n->chan, mode,
		    n->chan->delivery)) != 0)
			why = "the channel holds data, or is open";
		else if (error == 0)
			n->framing = mode;
	} else if (strcmp(name, XATTR_DELIVERY) == 0) {
		why = "not queue or broadcast";
		if ((error = fs_setting(value, size, opts_delivery[0],
		    opts_delivery[1], &mode)) == 0 &&
		    bridge_setting(n, req, BRIDGE_DELIVERY, (uint64_t)mode))
			return;
		if (error == 0 && n->chan != NULL &&
		    (error = chan_set_mode(n->chan, n->chan->framing,
		    mode)) != 0)
			why = "the channel holds data, or is open";
		else if (error == 0)
			n->delivery = mode;
	} else if (strcmp(name, XATTR_BRIDGE) == 0) {
		if ((error = bridge_mark(n, value, size, req)) == -1)
			return;
		why = error == EINVAL ? "not nats, or not a directory" : NULL;
	} else if (strcmp(name, XATTR_REGION) == 0 ||
	    strcmp(name, XATTR_STATS) == 0) {
		error = EPERM;
		why = "the daemon's, read only";
	} else {
		error = EINVAL;
		why = "no such setting (capacity, framing, delivery, bridge)";
	}
	if (error != 0 && why != NULL)
		fs_refused(req, n, name, value, size, why);
	/*
	 * The ctime changed, and st_blksize follows the settings: drop
	 * every cached copy.
	 */
	if (error == 0) {
		node_touch(n, NODE_CTIME);
		fs_attrs_changed(n, NULL);
	}
	fuse_reply_err(req, error);
}

/* A bridged channel's setting, changed (or not) once the cluster said. */
void
fs_setting_reply(fuse_req_t req, struct node *n, int error)
{
	if (error == 0) {
		node_touch(n, NODE_CTIME);
		fs_attrs_changed(n, NULL);
	}
	fuse_reply_err(req, error);
}

static void
fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node	*n;
	int		 error;

	if ((n = node_get(ino)) == NULL)
		error = ENOENT;
	else if (strncmp(name, XATTR_OWN, sizeof XATTR_OWN - 1) == 0)
		error = EPERM;
	else if ((error = xattr_remove(&n->xattrs, &pool.budget,
	    name)) == 0) {
		node_touch(n, NODE_CTIME);
		fs_attrs_changed(n, NULL);
	}
	fuse_reply_err(req, error);
}

static void
fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node	*n;
	size_t		 len;
	char		*buf;

	if ((n = node_get(ino)) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	len = sizeof XATTR_LIST + xattr_list(&n->xattrs, NULL) +
	    (n->bridged ? sizeof XATTR_BRIDGE : 0);
	if (size == 0) {
		fuse_reply_xattr(req, len);
		return;
	}
	if (size < len) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if ((buf = malloc(len)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(buf, XATTR_LIST, sizeof XATTR_LIST);
	if (n->bridged)
		memcpy(buf + sizeof XATTR_LIST, XATTR_BRIDGE,
		    sizeof XATTR_BRIDGE);
	xattr_list(&n->xattrs, buf + sizeof XATTR_LIST +
	    (n->bridged ? sizeof XATTR_BRIDGE : 0));
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.link = fs_link,
	.rename = fs_rename,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.release = fs_release,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.poll = fs_poll,
	.getxattr = fs_getxattr,
	.setxattr = fs_setxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
};

/* A session serving a fresh namespace with the given limits. */
struct fuse_session *
fs_new(struct fuse_args *args, const struct opts *o)
{
	if (kfeat_refuse_uring(args) != 0)
		return (NULL);
	fs_opts = *o;
	chan_pool_init(&pool, &fs_cbs, o->capacity, o->max_memory);
	pool.framing = o->framing;
	pool.delivery = o->delivery;
	pool.budget.max_region = o->max_region;
	node_init(&pool, o->max_channels, 01777, getuid(), getgid());
	fs_se = fuse_session_new(args, &fs_ops, sizeof fs_ops, NULL);
	return (fs_se);
}

static void
fs_abort_cb(struct chan *c, void *arg)
{
	chan_abort(c, *(int *)arg);
}

/* The mount's channel pool, for the bridge to link. */
struct chan_pool *
fs_pool(void)
{
	return (&pool);
}

/* True if the mount could not give what was asked for. */
int
fs_failed(void)
{
	return (fs_init_failed);
}

/* Answer every held request with error, before the mount goes. */
void
fs_shutdown(int error)
{
	node_walk_chans(fs_abort_cb, &error);
}

/*
 * Free the namespace, once the session is over; nothing may be held.  A
 * directory the kernel still had open when the mount went (its release
 * may be dropped with the connection) goes with it.
 */
void
fs_free(void)
{
	struct dir_handle	*d;

	while ((d = LIST_FIRST(&fs_dirs)) != NULL)
		fs_dir_free(d);
	node_done();
}
