/*
 * ipcfs: a FUSE filesystem whose files are channels.
 *
 * One header for the whole daemon, tmux style: shared types first, then the
 * prototypes of each module under a heading naming its file.  The pure
 * modules (ring, chan, node, opts, log, xmalloc) never include FUSE headers,
 * so they can be unit-tested and fuzzed alone.
 */

#ifndef IPCFS_H
#define IPCFS_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>
#include <sys/uio.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IPCFS_VERSION		"0.1.0"

/* The atomic write size of pipe(7). */
#define CHAN_ATOMIC		4096

#define CAPACITY_DEFAULT	65536
#define CAPACITY_MIN		4096
#define CAPACITY_MAX		(64 * 1024 * 1024)
#define MAX_CHANNELS_DEFAULT	65536
#define MAX_MEMORY_DEFAULT	((size_t)2048 * 1024 * 1024)
#define MAX_REGION_DEFAULT	((size_t)1024 * 1024 * 1024)

/* How the region of a channel is mapped (see region.c and kfeat.c). */
enum region_mode {
	REGION_AUTO,
	REGION_PASSTHROUGH,
	REGION_PAGECACHE,
	REGION_OFF,
};

#define NAME_MAX_LEN		255

/*
 * A byte ring.  The buffer is allocated on first use and may be grown while
 * it holds data; ring_peek hands out at most two pieces so a reply can be
 * sent straight from the ring without an intermediate copy.
 */
struct ring {
	char	*buf;
	size_t	 size;		/* bytes allocated */
	size_t	 head;		/* offset of the oldest byte */
	size_t	 len;		/* bytes stored */
};

/*
 * The read history of one open (hist.c): the last bytes it was given, which
 * end at file offset end.  It keeps at least HIST_KEEP bytes and the whole
 * of the open's last read, and grows from HIST_MIN.
 */
#define HIST_MIN		4096
#define HIST_KEEP		65536
#define HIST_SHRINK		16

struct hist {
	struct ring	 ring;
	uint64_t	 end;
	unsigned	 shrink;	/* calls in a row it was too big */
	/*
	 * The newest bytes may stay where a large read found them, in a
	 * buffer taken over (hist_given_ref): ref_len bytes at ref, after
	 * the ring's, in ref_mem of ref_size bytes (free() it).
	 */
	void		*ref_mem;
	const char	*ref;
	size_t		 ref_len;
	size_t		 ref_size;
};

/*
 * How the channel layer answers held requests.  The FUSE glue (fs.c) fills
 * this in; unit tests and fuzzers supply recorders.  Every held request is
 * answered through exactly one of reply_data, reply_count or reply_err.
 */
struct chan_cbs {
	void	(*reply_data)(void *req, const struct iovec *, int);
	void	(*reply_count)(void *req, size_t);
	void	(*reply_err)(void *req, int);
	void	(*poll_notify)(void *ph);	/* wake and release */
	void	(*poll_free)(void *ph);		/* release only */
	/*
	 * Optional: take over the buffer the bytes buf of the request req
	 * arrived in, if it came from malloc and is at most max bytes:
	 * returns its start, with its size in *size, or NULL.  A held write
	 * then keeps its bytes there instead of in a copy (chan_write).
	 */
	void	*(*adopt)(void *req, const void *buf, size_t max, size_t *size);
};

/* The least a held write keeps for its buffer to be taken over. */
#define CHAN_ADOPT_MIN		65536

/*
 * What a channel carried to other hosts (bridge.c) is told by chan.c: its
 * writes go out through the link, not into the ring, and a change of its
 * state may make the link fetch, acknowledge or send.  The link calls back
 * with chan_link_sent, chan_link_push and chan_link_counts.
 */
struct chan;
struct chan_handle;
struct lerr;
struct waiter;
struct chan_link_ops {
	void	(*send)(struct chan *);		/* a write waits on wq */
	void	(*kick)(struct chan *);		/* something changed */
	/* w is answered early: returns the bytes of it already sent */
	size_t	(*cancel)(struct chan *, struct waiter *);
	void	(*gone)(struct chan *);		/* the channel is freed */
	/* an open is closed (may be NULL) */
	void	(*closed)(struct chan *, struct chan_handle *);
	/* whether a write would be taken now (NULL: when none is held) */
	int	(*writable)(const struct chan *);
};

/*
 * The memory a mount's clients may make the daemon hold, all against one
 * limit, max_memory (budget.c).  held counts bytes copied out of blocked
 * writes, which cannot stay in libfuse's receive buffer.
 */
struct budget {
	size_t		 max_memory;
	size_t		 max_region;	/* one region's size */
	size_t		 mem_used;	/* stream buffers allocated */
	size_t		 hist_used;	/* read histories, all opens */
	size_t		 held;		/* copies kept by held writes */
	size_t		 xattr_used;	/* stored user.* attributes */
	size_t		 region_used;	/* regions, all channels */
	size_t		 link_used;	/* fetched by the bridge, not
					   yet in a ring */
	size_t		 names_used;	/* the bridge's name changes
					   waiting to be sent */
	void		(*freed)(void *);	/* memory came back */
	void		*arg;
};

/*
 * A channel's framing (what a read or write is) and delivery (who gets
 * what is written), see docs/modes.md.
 */
#define CHAN_BYTES		0	/* a byte stream */
#define CHAN_MESSAGES		1	/* each write one message */
#define CHAN_QUEUE		0	/* each byte to one reader */
#define CHAN_BROADCAST		1	/* each byte to every reader */

/* Limits and accounting shared by every channel of one mount. */
struct chan;
LIST_HEAD(chans, chan);

struct chan_pool {
	const struct chan_cbs	*cbs;
	struct chans		 starved;	/* pollers wait for memory */
	size_t			 capacity;	/* a new channel's settings */
	int			 framing;
	int			 delivery;
	size_t			 max_message;	/* most the kernel sends whole,
						   0: no limit */
	struct budget		 budget;
	size_t			 nwaiters;
	const struct chan_link_ops *link;	/* bridge.c's, or NULL */
};

#define CHAN_RD		0x1
#define CHAN_WR		0x2
#define CHAN_SEEK	0x4		/* offsets mean something: keep history */

#define WAIT_READ	1
#define WAIT_WRITE	2

struct chan;
struct chan_handle;

/* A held read or write. */
struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct chan_handle	*h;
	void			*req;
	int			 op;		/* WAIT_READ or WAIT_WRITE */
	uint64_t		 off;		/* file offset of the request */
	size_t			 size;		/* bytes asked for or offered */
	size_t			 done;		/* write: bytes accepted */
	size_t			 base;		/* write: bytes in when held */
	char			*data;		/* write: bytes from base on */
	char			*head;		/* write: the first base bytes,
						   for a reading open's history */
	void			*mem;		/* write: a buffer taken over
						   (cbs->adopt) that holds data
						   and head, or NULL */
	size_t			 extra;		/* its bytes counted in held
						   besides data's */
	int			 nonblock;	/* linked write: O_NONBLOCK */
	void			*sending;	/* linked write: the link's */
	uint64_t		 owner;		/* linked write: its lock owner */
};
TAILQ_HEAD(waitq, waiter);

/*
 * A place in a channel's stream: the bytes and messages that came before
 * it since the channel was last set up.
 */
struct cursor {
	uint64_t	 pos;
	uint64_t	 msg;
};

/* One open of a channel: its own reader and writer state. */
struct chan_handle {
	LIST_ENTRY(chan_handle)	 entry;		/* on chan->handles */
	LIST_ENTRY(chan_handle)	 pentry;	/* on chan->polled */
	struct chan		*chan;
	int			 mode;		/* CHAN_RD | CHAN_WR | CHAN_SEEK */
	int			 seen_writer;
	int			 seen_reader;
	uint64_t		 wopens;	/* chan->wopens at open */
	uint64_t		 ropens;	/* chan->ropens at open */
	void			*ph;		/* poll handle, or NULL */
	unsigned		 nwait;		/* held requests */
	unsigned		 nreads;	/* held reads */
	struct cursor		 cur;		/* broadcast: what it read */
	void			*udata;		/* the opener's */
	int			 ukind;		/* the opener's */
	struct hist		 hist;		/* CHAN_RD | CHAN_SEEK only */
	uint64_t		 given;		/* bytes read through it */
	uint64_t		 eof_at;	/* where it last met end of file */
	size_t			 lout;		/* bridged: pieces it wrote that
						   are not stored yet */
	int			 lerr;		/* bridged: what its next fsync
						   says, 0: nothing */
	struct lerr		*lerrs;		/* bridged: what the next close
						   of each process says */
	size_t			 nlerrs;
	uint64_t		 owner;		/* the lock owner (process) of
						   the write being served */
};
LIST_HEAD(handles, chan_handle);

/* A process whose data written through a bridged open failed. */
struct lerr {
	uint64_t		 owner;		/* its lock owner */
	int			 err;
};

/* The mmap-able data region of a channel. */
struct region {
	uint64_t		 size;
	int			 fd;		/* memfd, or -1 */
	int			 backing_id;	/* passthrough id, or 0 */
	int			 used;		/* has had contents */
};

/*
 * A channel.  The ring keeps the bytes that some reader is still to get,
 * and for message framing, lens keeps the length of each message in it (4
 * bytes each).  head is where the ring starts; a queue's readers all read
 * there, a broadcast's each from its own cursor.
 */
struct chan {
	struct chan_pool	*pool;
	struct ring		 ring;
	struct ring		 lens;
	struct cursor		 head;
	struct cursor		 taken;		/* broadcast: furthest read */
	struct region		 region;
	size_t			 capacity;
	int			 framing;	/* CHAN_BYTES or CHAN_MESSAGES */
	int			 delivery;	/* CHAN_QUEUE or CHAN_BROADCAST */
	unsigned		 readers;
	unsigned		 writers;
	uint64_t		 ropens;	/* read opens ever made */
	uint64_t		 wopens;	/* write opens ever made */
	struct waitq		 rq;		/* held reads, oldest first */
	struct waitq		 wq;		/* held writes, oldest first */
	struct handles		 handles;
	struct handles		 polled;	/* handles holding a poll handle */
	LIST_ENTRY(chan)	 sentry;	/* on pool->starved */
	int			 starved;
	uint64_t		 bytes_written;	/* answered writes put in */
	uint64_t		 bytes_read;	/* reads took out */
	uint64_t		 writes;	/* writes that put bytes in */
	uint64_t		 reads;		/* reads that took bytes out */
	void			*link;		/* bridge.c's, or NULL */
	unsigned		 rreaders;	/* opens on other hosts */
	unsigned		 rwriters;
	int			 rdrained;	/* the link has no more */
	int			 rwant;		/* a poll or O_NONBLOCK read
						   found nothing */
};

/* A channel's figures, for user.ipcfs.stats on it (chan_stats). */
struct chan_stats {
	int		 framing;
	int		 delivery;
	size_t		 capacity;
	size_t		 max_message;
	unsigned	 readers;
	unsigned	 writers;
	size_t		 buffered;
	size_t		 messages;
	unsigned	 held_reads;
	unsigned	 held_writes;
	uint64_t	 region;
	uint64_t	 bytes_written;
	uint64_t	 bytes_read;
	uint64_t	 writes;
	uint64_t	 reads;
};

/*
 * One of the kernel's inodes for a node, known to it by its FUSE node id.
 * A directory has one, whose id is its inode number.  A channel's name can
 * be moved on to a new one while a writer keeps the old one's inode lock
 * (node.c says when), so a channel may have several; opens made through
 * each share one channel.
 */
struct node;

struct knode {
	RB_ENTRY(knode)		 entry;		/* on the id tree */
	LIST_ENTRY(knode)	 nentry;	/* on node->knodes */
	struct node		*node;
	uint64_t		 id;
	uint64_t		 nlookup;
	unsigned		 nopen;
	unsigned		 nwriters;	/* opens that may write */
	int			 moving;	/* lookups get a new knode */
	int			 attrs;		/* the kernel caches attributes */
	unsigned		 nstreams;	/* opens with no position (fs.c) */
	unsigned		 npassthrough;	/* passthrough opens (fs.c) */
};
LIST_HEAD(knodes, knode);

/* When a channel's name moves on to a new knode (node_set_moves). */
#define NODE_MOVES_NEVER	0
#define NODE_MOVES_HELD		1	/* a write is held, no region yet */
#define NODE_MOVES_WRITER	2	/* the knode has a writer */

/* What happened on a knode (node_busy). */
#define NODE_EV_OPEN		1	/* an open that may write */
#define NODE_EV_WRITE		2	/* a write */
#define NODE_EV_HELD		3	/* a write was held */

/* A stored user.* extended attribute (xattr.c). */
#define XATTR_VALUE_MAX		65536
#define XATTR_NODE_MAX		65536

struct xattr {
	TAILQ_ENTRY(xattr)	 entry;
	char			*name;
	size_t			 len;
	char			 value[];
};
TAILQ_HEAD(xattrs, xattr);

/*
 * A name in the tree.  Directories hold their children in a name-ordered
 * tree; regular files own a channel.  A node lives while it is linked, the
 * kernel holds lookups on any of its knodes, or it is open.
 */
struct node {
	RB_ENTRY(node)		 ino_entry;
	RB_ENTRY(node)		 name_entry;
	RB_HEAD(node_names, node) children;
	struct knodes		 knodes;
	struct knode		*cur;		/* what lookups give */
	uint64_t		 region_kid;	/* the only knode whose page
						   cache holds the region */
	struct node		*parent;	/* NULL once unlinked */
	char			*name;
	uint64_t		 ino;
	uint64_t		 nlookup;	/* of all its knodes */
	unsigned		 nopen;		/* of all its knodes */
	unsigned		 nsubdirs;
	mode_t			 mode;
	uid_t			 uid;
	gid_t			 gid;
	struct timespec		 atime;
	struct timespec		 mtime;
	struct timespec		 ctime;
	struct chan		*chan;		/* regular files */
	size_t			 capacity;	/* directories: for new names */
	int			 framing;
	int			 delivery;
	int			 bridged;	/* shared through NATS: a
						   marked directory, or in one */
	struct xattrs		 xattrs;	/* user.* attributes */
};

/* One directory entry in a readdir snapshot. */
struct dirent_snap {
	char		*name;
	uint64_t	 ino;
	mode_t		 mode;
};

struct node_stats {
	uint64_t	nodes;		/* existing, linked or not */
	uint64_t	max_nodes;
};

/* The longest path of a file an option names, with its NUL. */
#define NATS_PATH_MAX	4096

/* Options of ipcfs itself, after parsing. */
struct opts {
	size_t		 capacity;
	int		 framing;
	int		 delivery;
	uint64_t	 max_channels;
	size_t		 max_memory;
	size_t		 max_region;
	enum region_mode region;
	uint64_t	 spin_us;	/* most the daemon polls, in us */
	char		 nats[1024];	/* NATS servers, comma separated */
	char		 nats_name[32];	/* the namespace on the cluster */
	char		 nats_host[64];	/* this daemon, "" for the default */
	uint64_t	 nats_timeout;	/* s until a silent host is gone */
	uint64_t	 nats_replicas;	/* of each stream and bucket */
	char		 bridge[1024];	/* directories to bridge at start,
					   one a line, from the root */
	/* Logging in to NATS, and TLS: files, never the secrets. */
	char		 nats_user[256];
	char		 nats_password_file[NATS_PATH_MAX];
	char		 nats_token_file[NATS_PATH_MAX];
	char		 nats_creds[NATS_PATH_MAX];	/* JWT and seed */
	char		 nats_nkey[NATS_PATH_MAX];	/* an NKey seed */
	char		 nats_ca[NATS_PATH_MAX];
	char		 nats_cert[NATS_PATH_MAX];
	char		 nats_key[NATS_PATH_MAX];
};

#define NATS_NAME_DEFAULT	"ipcfs"
#define NATS_TIMEOUT_DEFAULT	5
#define NATS_TIMEOUT_MAX	3600
#define NATS_REPLICAS_MAX	5

/*
 * spin.c: how long the daemon polls /dev/fuse before it sleeps.  The
 * window lies between SPIN_START_NS and max, or is 0.
 */
#define SPIN_DEFAULT_US	50
#define SPIN_MAX_US	10000
#define SPIN_START_NS	1000

struct spin {
	uint64_t	 max;		/* ns, 0: never poll */
	uint64_t	 window;	/* ns, how long to poll now */
	uint64_t	 ready;		/* requests there before any wait */
	uint64_t	 caught;	/* requests found by polling */
	uint64_t	 slept;		/* requests that had to wake the daemon */
};

/* budget.c */
void	 budget_init(struct budget *, size_t, void (*)(void *), void *);
size_t	 budget_left(const struct budget *);
void	 budget_freed(struct budget *);

/* ring.c */
void	 ring_init(struct ring *);
void	 ring_free(struct ring *);
int	 ring_resize(struct ring *, size_t);
size_t	 ring_push(struct ring *, const void *, size_t);
int	 ring_peek(const struct ring *, size_t, struct iovec [2], size_t *);
int	 ring_peek_at(const struct ring *, size_t, size_t, struct iovec [2],
	     size_t *);
void	 ring_drop(struct ring *, size_t);
size_t	 ring_pop(struct ring *, void *, size_t);

/* chan.c */
void	 chan_pool_init(struct chan_pool *, const struct chan_cbs *,
	     size_t, size_t);
struct chan *chan_new(struct chan_pool *);
void	 chan_free(struct chan *);
struct chan_handle *chan_open(struct chan *, int);
void	 chan_close(struct chan_handle *);
struct waiter *chan_read(struct chan_handle *, void *, size_t, uint64_t,
	     int);
struct waiter *chan_write(struct chan_handle *, void *, const void *,
	     size_t, uint64_t, int);
void	 chan_cancel(struct waiter *, int);
unsigned chan_poll(struct chan_handle *, void *);
void	 chan_abort(struct chan *, int);
int	 chan_idle(const struct chan *);
int	 chan_set_capacity(struct chan *, size_t);
int	 chan_set_mode(struct chan *, int, int);
size_t	 chan_max_message(const struct chan *);
uint64_t chan_eof_mark(const struct chan *);
void	 chan_stats(const struct chan *, struct chan_stats *);
void	 chan_pool_wake(struct chan_pool *);
size_t	 chan_link_push(struct chan *, const void *, size_t);
size_t	 chan_link_room(const struct chan *);
void	 chan_link_sent(struct waiter *, size_t, int);
void	 chan_link_counts(struct chan *, unsigned, unsigned, int);
int	 chan_link_demand(const struct chan *);
void	 chan_link_detach(struct chan *);
void	 chan_link_wake(struct chan *);
void	 chan_link_starve(struct chan *);
int	 chan_link_noreader(const struct chan_handle *);

/* hist.c */
void	 hist_init(struct hist *);
size_t	 hist_free(struct hist *);
int	 hist_find(const struct hist *, uint64_t, size_t, struct iovec [2],
	     size_t *);
void	 hist_given(struct hist *, uint64_t, const struct iovec *, int,
	     size_t, size_t);
void	 hist_wrote(struct hist *, uint64_t, const struct iovec *, int,
	     size_t, size_t);
void	 hist_forget(struct hist *, uint64_t);
void	 hist_given_ref(struct hist *, uint64_t, const struct iovec *, int,
	     size_t, void *, size_t, size_t);
size_t	 hist_size(const struct hist *);

/* xattr.c */
const struct xattr *xattr_get(const struct xattrs *, const char *);
int	 xattr_set(struct xattrs *, struct budget *, const char *,
	     const void *, size_t, int);
int	 xattr_remove(struct xattrs *, struct budget *, const char *);
size_t	 xattr_list(const struct xattrs *, char *);
void	 xattr_free_all(struct xattrs *, struct budget *);

/* region.c */
void	 region_init(struct region *);
int	 region_fd(struct region *);
int	 region_resize(struct region *, struct budget *, uint64_t);
void	 region_trim(struct region *, int);
void	 region_free(struct region *, struct budget *);
ssize_t	 region_pread(struct region *, void *, size_t, uint64_t);
ssize_t	 region_pwrite(struct region *, const void *, size_t, uint64_t);

/* node.c */
void	 node_init(struct chan_pool *, uint64_t, mode_t, uid_t, gid_t);
void	 node_done(void);
struct node *node_root(void);
struct node *node_get(uint64_t);
struct node *node_lookup(struct node *, const char *);
int	 node_check_name(const char *);
int	 node_make(struct node *, const char *, mode_t, uid_t, gid_t,
	     struct node **);
int	 node_unlink(struct node *, const char *);
int	 node_rmdir(struct node *, const char *);
int	 node_rename(struct node *, const char *, struct node *,
	     const char *, unsigned int);
struct knode *node_kget(uint64_t);
struct knode *node_knode(struct node *);
struct knode *node_ref(struct node *);
void	 node_forget(struct knode *, uint64_t);
void	 node_open(struct knode *, int);
void	 node_close(struct knode *, int);
void	 node_set_moves(int);
int	 node_busy(struct knode *, int);
int	 node_move(struct knode *);
unsigned node_nknodes(const struct node *);
void	 node_touch(struct node *, int);
size_t	 node_snapshot(struct node *, struct dirent_snap **);
struct node *node_next_child(struct node *, struct node *);
void	 node_snapshot_free(struct dirent_snap *, size_t);
void	 node_stats(struct node_stats *);
void	 node_walk_chans(void (*)(struct chan *, void *), void *);

/* rename(2)'s flags, which an older libc may not name. */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE		(1 << 1)
#endif

#define NODE_ATIME	0x1
#define NODE_MTIME	0x2
#define NODE_CTIME	0x4

/* spin.c */
void	 spin_init(struct spin *, uint64_t);
void	 spin_ready(struct spin *);
void	 spin_caught(struct spin *);
void	 spin_woke(struct spin *, uint64_t);

/* bridge/wire.c: what the NATS bridge sends and takes, as text */
#define WIRE_ID_LEN	16		/* a stream id's hex digits */
#define WIRE_ID_MAX	4294967294ULL	/* the largest uid or gid */
#define WIRE_COUNT_MAX	1000000		/* opens one host may claim */
#define WIRE_VALUE_MAX	256		/* the longest value of a key */
#define WIRE_PAD_MAX	128		/* a pad is less than this */
struct wire_value {
	int		 dir;
	char		 id[WIRE_ID_LEN + 1];
	int		 framing;
	int		 delivery;
	size_t		 capacity;
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
	int		 times;		/* mtime and atime given */
	uint64_t	 mtime;		/* ns since the epoch */
	uint64_t	 atime;
};
#define WIRE_TIME_MAX	INT64_MAX
int	 wire_id_ok(const char *, size_t);
int	 wire_key_append(char *, size_t, size_t *, const char *);
int	 wire_key_next(const char **, char *);
int	 wire_key_ok(const char *, size_t);
int	 wire_value_parse(const char *, struct wire_value *);
int	 wire_value_format(char *, size_t, const struct wire_value *);
int	 wire_presence_next(const char **, char *, unsigned *, unsigned *);
size_t	 wire_pad(size_t, size_t);
ssize_t	 wire_unpad(const unsigned char *, size_t);
uint64_t wire_ack_sseq(const char *);
int	 wire_json_num(const char *, size_t, const char *, uint64_t *);
int	 wire_json_str(const char *, size_t, const char *, char *, size_t);

/* bridge/, or bridge_none.c when built without libnats */
struct fuse_file_info;
int	 bridge_check(struct opts *);
int	 bridge_start(struct chan_pool *, const struct opts *);
void	 bridge_stop(void);
int	 bridge_fd(void);
void	 bridge_dispatch(void);
void	 bridge_flush(void);
int	 bridge_mark(struct node *, const char *, size_t, void *);
void	 bridge_changed(struct node *);
int	 bridge_time_ok(const struct timespec *);
void	 bridge_made(struct node *);
void	*bridge_removing(struct node *, const char *);
void	 bridge_removed(void *, int);
int	 bridge_making(struct node *, const char *);
int	 bridge_renaming(struct node *, const char *, struct node *,
	     const char *, unsigned, void **);
void	 bridge_renamed(void *, int);
#define BRIDGE_CAPACITY	0		/* bridge_setting's */
#define BRIDGE_FRAMING	1
#define BRIDGE_DELIVERY	2
int	 bridge_setting(struct node *, void *, int, uint64_t);
int	 bridge_stats(const struct chan *, char *, size_t);
int	 bridge_open_wait(struct chan *, void *, struct fuse_file_info *);
int	 bridge_sync(struct chan_handle *, void *, int, uint64_t);

/* opts.c */
struct fuse_args;
int	 opts_size(const char *, uint64_t *);
int	 opts_parse(struct fuse_args *, struct opts *, char *, size_t);
const char *opts_region_name(enum region_mode);
char	*opts_redact(char *, size_t, const char *);
void	 opts_scrub(char *);
extern const char *const opts_framing[2];
extern const char *const opts_delivery[2];

/* log.c */
void	 log_init(int, int);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_refused(uid_t, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatal(const char *, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void	 fatalx(const char *, ...);

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);

#endif /* IPCFS_H */
