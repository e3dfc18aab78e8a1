/*
 * The NATS bridge's own header: what its files share and nothing else
 * sees (docs/bridge.md says what the bridge does).
 *
 *	bridge.c	bridged channels, their states, the loop's side
 *			(dispatch, flush, the clock), start and stop
 *	names.c		paths as keys; the cluster's names applied here;
 *			what fs.c asks before and after a name changes
 *	send.c		a write's pieces, published and answered
 *	recv.c		fetching, acknowledging, handing over
 *	presence.c	which hosts have which channels open
 *	worker.c	the worker thread: calls that wait for the server
 *	watch.c		events from libnats's threads and the watchers
 *	wire.c		parsing and formatting what crosses the network
 *			(pure: no libnats, no FUSE; fuzzed)
 *	auth.c		logging in and TLS: the options' files, and a
 *			server's refusal told in one line
 *
 * The single-thread rule: libnats's callbacks, the worker and the
 * watchers only post events (watch.c) and run jobs (worker.c); nodes,
 * channels and everything in struct bchan are touched by the loop only,
 * in bridge_dispatch and the calls fs.c makes.
 */

#ifndef BRIDGE_H
#define BRIDGE_H

#include <pthread.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif

#include <nats/nats.h>
#include <fuse_lowlevel.h>

/* libbsd leaves __unused undefined, but its RB_*_STATIC macros use it. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

/* How a pull request waits on the server, in ms. */
#define BRIDGE_FETCH_MS	2000
/* An unanswered publish or acknowledgement is sent again after this. */
#define BRIDGE_RESEND_MS 2000
/* How long a queue's consumer waits for an acknowledgement, in ms. */
#define BRIDGE_ACKWAIT_MS 10000
/*
 * The longest a message can take from the server to the daemon: libnats
 * drops a connection whose pings (one a second) go unanswered twice, and
 * a message that waited in a dropped connection never comes.
 */
#define BRIDGE_TRANSIT_MS 3000
/* A fetched message no reader here wants goes back after this. */
#define BRIDGE_IDLE_MS	1000
/*
 * Pieces out at once: a channel starts with BRIDGE_WINDOW, opens up by
 * one for each piece stored, to BRIDGE_WINDOW_MAX, and halves when
 * another host's pieces came between (a refused expectation).
 */
#define BRIDGE_WINDOW	32
#define BRIDGE_WINDOW_MAX 8192
/*
 * A channel's buffered pieces are given up (their opens' fsync or close
 * fail with EIO) when JetStream has not answered for it for this many
 * times nats_timeout, and at most BRIDGE_GIVEUP_MAX ms: well within the
 * two minutes JetStream remembers message ids for.
 */
#define BRIDGE_GIVEUP	10
#define BRIDGE_GIVEUP_MAX 100000
/* Retries of a full stream: from this, doubling, to 100 ms. */
#define BRIDGE_RETRY_MS	2
/* The most of a byte stream one message carries. */
#define BRIDGE_PIECE	(256 * 1024)
/* The file store counts a message as this much more (stream_align). */
#define STORE_OVERHEAD	34
/* Events queued for the loop before libnats's callbacks drop theirs. */
#define BRIDGE_EVENTS_MAX 65536
/* Names the bridge keeps of the cluster's bucket. */
#define BRIDGE_NAMES_MAX (1024 * 1024)
/* Hosts it keeps track of. */
#define BRIDGE_HOSTS_MAX 4096

/*
 * A fetched message's state.  A queue's message is handed to a reader
 * only once JetStream has confirmed its acknowledgement:
 *
 *	FETCHED	 --a reader waits-->		ACKING (+ACK with a reply)
 *	ACKING	 --confirmed in time-->		ACKED (goes in the ring)
 *	ACKING	 --confirmed too late-->	dropped (may be elsewhere)
 *	FETCHED	 --no reader for a while-->	-NAK, dropped
 *	ACKED	 --all in the ring-->		freed
 */
enum bmsg_state {
	BM_FETCHED,
	BM_ACKING,
	BM_ACKED,
};

/* A message fetched from a stream. */
struct bmsg {
	TAILQ_ENTRY(bmsg)	 entry;
	enum bmsg_state		 state;
	char			*reply;		/* where its ack goes */
	char			*data;
	size_t			 len;
	size_t			 charged;	/* in budget.link_used */
	uint64_t		 sseq;		/* stream sequence */
	uint64_t		 end;		/* broadcast: ring position
						   past its last byte */
	uint64_t		 got;		/* ms, when it came */
};
TAILQ_HEAD(bmsgs, bmsg);

/* An open that waits for this host to join a broadcast. */
struct bopen {
	LIST_ENTRY(bopen)	 entry;
	fuse_req_t		 req;
	struct fuse_file_info	 fi;
};
LIST_HEAD(bopens, bopen);

/*
 * A piece of what was written to a bridged channel, in the channel's
 * local buffer (bc->pieces, in the order written) until JetStream has
 * stored it.  A write is answered once its pieces are in the buffer; the
 * buffer holds at most the channel's capacity, so a full buffer holds
 * the writers as a full pipe does.  Many pieces are out at once:
 *
 *	QUEUED	 --published-->			OUT
 *	OUT	 --stored (or a later one)-->	freed, its open told
 *	OUT	 --no answer in time, refused,
 *		   connected again-->		QUEUED (it and all after it,
 *						 sent again in order)
 *	any	 --failed for good, given up-->	freed, its open's next fsync
 *						 or close says so
 *
 * Each piece carries a Nats-Msg-Id (JetStream stores a piece sent again
 * once), and every piece but the first of the buffer also
 * Nats-Expected-Last-Msg-Id, its predecessor's id: JetStream stores it
 * only right after its predecessor.  So a piece that got in means all
 * before it did, and order holds even where one is refused (a full
 * stream, no leader) and the next ones are already on their way: they
 * are refused too, and sent again after it.  send.c says more.
 */
enum piece_state {
	PIECE_QUEUED,
	PIECE_OUT,
};

struct piece {
	TAILQ_ENTRY(piece)	 entry;
	enum piece_state	 state;
	struct chan_handle	*h;		/* its open, NULL once closed */
	uint64_t		 owner;		/* its write's lock owner */
	uint64_t		 seq;
	unsigned		 tries;		/* publishes; the last one's is
						   in its reply subject */
	char			*buf;		/* room for the pad, the data */
	size_t			 room;		/* bytes before the data */
	size_t			 len;		/* of the data */
	size_t			 charged;	/* of max_memory: all of it */
	uint64_t		 sent;		/* ms */
	int			 expect;	/* last sent expecting its
						   predecessor */
};
TAILQ_HEAD(pieces, piece);

/* An fsync or flush (close) that waits for its open's pieces. */
struct bsync {
	LIST_ENTRY(bsync)	 entry;
	fuse_req_t		 req;
	struct chan_handle	*h;
	int			 flush;		/* a close: owner's pieces only */
	uint64_t		 owner;
	uint64_t		 last;		/* the last piece it waits for */
	size_t			 left;		/* pieces it still waits for */
};
LIST_HEAD(bsyncs, bsync);

/*
 * A bridged channel's state:
 *
 *	MAKING	 its stream and key are being made (JOB_CREATE)
 *	READY	 its stream exists: data moves
 *	DEAD	 its stream is gone or was never made: the channel goes
 *		 on as a local one, and the bchan is freed
 *	GONE	 its channel was freed: the bchan is freed
 *
 *	MAKING	--made-->		READY
 *	MAKING	--not made-->		DEAD
 *	(a name from the cluster)	READY
 *	READY	--key or stream removed, here or elsewhere--> DEAD
 *	any	--channel freed-->	GONE
 *
 * bchan_run moves a channel along from whatever state it is in.
 */
enum bchan_state {
	BC_MAKING,
	BC_READY,
	BC_DEAD,
	BC_GONE,
};

/* A broadcast consumer of this host's. */
enum cons_state {
	CONS_NONE,
	CONS_MAKING,
	CONS_MADE,
	CONS_DROPPING,
};

/* A settings change that waits for the cluster (bridge_setting). */
struct bset {
	fuse_req_t		 req;
	uint64_t		 since;		/* ms */
	uint64_t		 ino;
	int			 which;		/* BRIDGE_CAPACITY... */
	uint64_t		 value;
	int			 interrupted;
};

/* A bridged channel: the stream of one of the channels. */
struct bchan {
	RB_ENTRY(bchan)		 nentry;	/* by num */
	RB_ENTRY(bchan)		 ientry;	/* by id */
	LIST_ENTRY(bchan)	 dentry;	/* on the dirty list */
	uint64_t		 num;
	char			 id[17];
	int			 listed;	/* in br.ids by id */
	enum bchan_state	 state;
	struct chan		*chan;		/* NULL once GONE */
	struct node		*node;
	int			 dirty;
	int			 delivery;	/* its stream's retention */
	struct bset		*set;		/* a change being asked */
	int			 reput;		/* owner, mode or times changed
						   while BC_MAKING */
	/* Sending. */
	struct pieces		 pieces;	/* the local buffer */
	struct piece		*next;		/* the first to publish */
	size_t			 pbytes;	/* of data in pieces */
	unsigned		 nout;		/* pieces OUT */
	unsigned		 window;	/* at most this many OUT */
	uint64_t		 pseq;
	uint64_t		 hold_until;	/* ms: publish nothing before */
	uint64_t		 backoff;	/* ms: a full stream's retry */
	int			 full;		/* the stream refused the first
						   piece, sent alone: full */
	uint64_t		 progress;	/* ms: JetStream last answered,
						   or the buffer filled */
	struct bsyncs		 syncs;
	/* Fetching and acknowledging. */
	uint64_t		 fseq;
	uint64_t		 fsent;		/* ms, 0: no pull request out */
	int			 fnowriters;	/* asked with no writer left */
	int			 unseen;	/* data from a writer not seen */
	uint64_t		 idle;		/* ms since no reader waits */
	uint64_t		 bseq;		/* broadcast: latest taken */
	int			 draining;	/* asking if that was all */
	uint64_t		 drain_next;	/* ms: ask again no sooner */
	struct bmsgs		 pending;	/* fetched, not in the ring */
	uint64_t		 aseq;
	uint64_t		 asent;		/* ms, an ack with a reply out */
	int			 aresend;	/* send it again at once */
	uint64_t		 warned;	/* ms: last bad message logged */
	uint64_t		 restream_at;	/* ms: stream asked for again */
	/* A broadcast's consumer of this host's. */
	enum cons_state		 consumer;
	struct bopens		 opens;		/* waiting for it */
	struct bmsgs		 pushed;	/* in the ring, not acked */
	uint64_t		 purge_at;
	int			 purging;
	/* Opens elsewhere, and what this host last said of its own. */
	unsigned		 rreaders;
	unsigned		 rwriters;
	unsigned		 said_readers;	/* other hosts', summed */
	unsigned		 said_writers;
	unsigned		 told_readers;	/* this host's, as put */
	unsigned		 told_writers;
	unsigned		 known_writers;	/* as the bucket has them */
	unsigned		 sent_writers;
};
RB_HEAD(bchan_nums, bchan);
RB_HEAD(bchan_ids, bchan);

/* A name in the cluster's bucket. */
struct bname {
	RB_ENTRY(bname)		 entry;		/* by key */
	RB_ENTRY(bname)		 ientry;	/* channels: by id, key */
	char			 id[17];	/* a channel's stream */
	char			*key;
	char			*value;
};
RB_HEAD(bnames, bname);
RB_HEAD(bname_ids, bname);

/*
 * A key this host put: until the watcher brings the bucket to the put's
 * revision, older values of the key are not applied (they would undo
 * what this host changed, for a moment).
 */
struct bexpect {
	RB_ENTRY(bexpect)	 entry;
	char			*key;
	char			*value;		/* the last put, NULL: deleted */
	unsigned		 out;		/* changes not done */
	uint64_t		 rev;		/* the last change's revision */
	uint64_t		 done;		/* ms: the last was done */
};
RB_HEAD(bexpects, bexpect);

/*
 * A mark of a directory (user.ipcfs.bridge) waiting for the bucket: its
 * key is made, or the cluster's owner and mode are taken.  req NULL: a
 * directory -o bridge made, which is marked already.
 */
struct bmark {
	LIST_ENTRY(bmark)	 entry;
	void			*req;
	uint64_t		 ino;
	uid_t			 uid;		/* of the caller */
	int			 interrupted;	/* answered: EINTR, EAGAIN */
	uint64_t		 since;		/* ms */
	struct job		*job;		/* done, waiting for the
						   watcher to reach j->rev */
};

/* Another host, as its presence key says. */
struct bhost {
	LIST_ENTRY(bhost)	 entry;
	char			*name;
	char			*value;		/* lines "id readers writers" */
	uint64_t		 seen;		/* ms */
};
LIST_HEAD(bhosts, bhost);

/* Work for the worker thread, and its result. */
enum job_type {
	JOB_SETUP,
	JOB_CREATE,		/* stream, consumer and key of a channel */
	JOB_PUT,		/* a key */
	JOB_MARK,		/* a bridged top's key, if new; or its
				   value in the bucket */
	JOB_ATTRS,		/* a key's owner, mode and times, into
				   the value the bucket has */
	JOB_MOVE,		/* put the moves' new keys, delete
				   their old ones, and stream id */
	JOB_DELETE,		/* a key, and stream id if set */
	JOB_CHECK,		/* may id's settings change: what it holds */
	JOB_UPDATE,		/* stream id's limits and retention */
	JOB_CONSUMER,		/* make this host's consumer on id */
	JOB_UNCONSUMER,		/* remove consumer name on id */
	JOB_PURGE,		/* what every consumer of id has */
	JOB_PRESENCE,		/* this host's presence */
	JOB_DRAINED,		/* nothing left for consumer name on id */
	JOB_RESTREAM,		/* make stream id again: it is gone */
};

struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_type		 type;
	uint64_t		 num;		/* the bchan's */
	char			 id[17];
	char			*key;
	char			*value;
	char			*name;
	char			**moves;	/* JOB_MOVE: new key, value,
						   old key, each entry */
	size_t			 nmoves;
	size_t			 capacity;
	int			 delivery;
	int			 replace;	/* JOB_UPDATE: remake it */
	/* Results. */
	int			 ok;
	char			 adopt[17];	/* JOB_CREATE: the id there */
	uint64_t		 bytes;		/* JOB_CHECK: what it holds */
	uint64_t		 msgs;
	uint64_t		 rev;		/* name jobs: the bucket's last
						   revision after it */
	uint64_t		 krev;		/* JOB_PUT, JOB_UPDATE: the
						   put's revision */
	char			*found;		/* JOB_MARK: the key's value
						   there, if it was */
	size_t			 charged;	/* name jobs: of max_memory */
	struct bmark		*mark;		/* JOB_MARK: the loop's */
};
TAILQ_HEAD(jobs, job);

enum bev_type { EV_MSG, EV_JOB, EV_NAME, EV_HOST, EV_CONN, EV_TICK,
	EV_SLOW };

struct bev {
	TAILQ_ENTRY(bev)	 entry;
	enum bev_type		 type;
	natsMsg			*msg;
	struct job		*job;
	char			*key;
	char			*value;		/* NULL: deleted */
	uint64_t		 rev;		/* a bucket's revision */
	int			 flag;
};
TAILQ_HEAD(bevs, bev);

/* The bridge of this daemon. */
struct bridge {
	struct chan_pool	*pool;
	struct opts		 o;
	char			 host[64];
	char			 inbox[96];	/* _ipcfs.NAME.inbox.NUID */
	const char		*nuid;		/* this process's, in inbox */
	char			 freed[96];
	natsConnection		*nc;
	jsCtx			*js;
	kvStore			*names_kv;
	kvStore			*hosts_kv;
	natsSubscription	*sub;
	natsSubscription	*fsub;
	size_t			 key_max;	/* the longest key sent */
	int			 connected;
	int			 setup;		/* buckets ready */
	int			 efd;
	pthread_mutex_t		 mtx;		/* events, jobs, stopping */
	pthread_cond_t		 cond;
	pthread_cond_t		 room;		/* events below the limit */
	struct bevs		 events;
	size_t			 nevents;
	struct jobs		 jobs;
	struct jobs		 pjobs;		/* presence's own queue */
	int			 stopping;
	pthread_t		 worker;
	pthread_t		 pworker;	/* presence only */
	pthread_t		 watcher;
	pthread_t		 hwatcher;
	int			 threads;
	/* The loop's alone. */
	struct bchan_nums	 nums;
	struct bchan_ids	 ids;
	LIST_HEAD(, bchan)	 dirty;
	struct bnames		 names;
	struct bname_ids	 name_ids;
	struct bexpects		 expects;
	LIST_HEAD(, bmark)	 marks;
	size_t			 nnames;
	struct bhosts		 hosts;
	size_t			 nhosts;
	uint64_t		 next_num;
	int			 presence_dirty;
	int			 presence_out;
	uint64_t		 self_seen;	/* ms: our presence came back */
	uint64_t		 self_since;	/* ms: ... and since, each beat */
	uint64_t		 presence_at;
	uint64_t		 warned;	/* ms: last bad input logged */
};

extern struct bridge br;

RB_PROTOTYPE(bchan_nums, bchan, nentry, bchan_num_cmp)
RB_PROTOTYPE(bchan_ids, bchan, ientry, bchan_id_cmp)

/* bridge.c */
uint64_t now_ms(void);
void	 bridge_bad(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 bchan_dirty(struct bchan *);
unsigned bchan_writers(const struct bchan *);
struct bchan *bchan_by_id(const char *);
struct bchan *bchan_by_num(uint64_t);
void	 bchan_set_id(struct bchan *, const char *);
struct bchan *bchan_new(struct node *, const char *);
void	 bchan_kill(struct bchan *);
void	 bchan_reset_stream(struct bchan *);
void	 bchan_opens_done(struct bchan *, int);
void	 bmsg_free(struct bchan *, struct bmsg *);
void	 bmsgs_free(struct bchan *, struct bmsgs *);
void	 stream_name(char *, size_t, const char *);
void	 stream_subject(char *, size_t, const char *);
size_t	 stream_align(const char *);
void	 bridge_set_done(struct bchan *, struct job *);
int64_t	 stream_limit(size_t, const char *);

/* names.c */
int	 name_key(struct node *, const char *, char *, size_t);
void	 names_on_event(const char *, const char *, uint64_t);
void	 names_free(void);
void	 names_tick(uint64_t);
void	 names_job_done(struct job *);
void	 names_expect(struct job *);
void	 names_expect_done(struct job *);
void	 names_mark_done(struct job *);
int	 names_key_holds(struct node *, const char *);
void	 bchan_restream(struct bchan *);
char	*chan_value(const char *, struct node *);
int	 bridge_paths(const struct opts *);

/* send.c */
void	 send_run(struct bchan *, struct chan *);
void	 send_tick(struct bchan *, uint64_t);
void	 send_reconnected(struct bchan *);
void	 send_disconnected(struct bchan *);
void	 send_answer(struct bchan *, uint64_t, unsigned, natsMsg *);
void	 send_freed(const char *);
void	 send_closed(struct bchan *, struct chan_handle *);
int	 send_writable(const struct bchan *);
void	 send_free(struct bchan *, int);

/* recv.c */
void	 recv_event(natsMsg *);
void	 recv_acked(struct bchan *, uint64_t);
void	 recv_queue(struct bchan *, struct chan *);
void	 recv_broadcast(struct bchan *, struct chan *, uint64_t);
void	 recv_drain_check(struct bchan *, struct chan *);
void	 recv_drained(struct bchan *, int);
void	 recv_tick(struct bchan *, uint64_t);
void	 recv_reconnected(struct bchan *);
void	 announce_freed(struct bchan *);

/* presence.c */
void	 presence_send(void);
void	 presence_on_host(const char *, const char *);
void	 presence_tick(uint64_t);
void	 presence_free(void);

/* worker.c */
struct job *job_new(enum job_type);
void	 job_free(struct job *);
void	 job_queue(struct job *);
int	 job_attrs_merge(const char *, char *);
void	*worker_main(void *);
int	 transient(natsStatus);

/* auth.c */
int	 auth_check(struct opts *);
int	 auth_options(natsOptions *, const struct opts *, const char *);
int	 auth_refused(natsStatus);
void	 auth_report(const char *, natsStatus, const char *);
void	 auth_tls_error(char *, size_t);
void	 auth_on_error(natsConnection *, natsSubscription *, natsStatus,
	     void *);
int64_t	 auth_delay_cb(natsConnection *, int, void *);
void	 auth_closed_cb(natsConnection *, void *);

/* watch.c */
struct bev *bev_new(enum bev_type);
void	 bev_post(struct bev *);
void	 bev_free(struct bev *);
void	 on_msg(natsConnection *, natsSubscription *, natsMsg *, void *);
void	 on_conn_cb(natsConnection *, void *);
void	 on_error(natsConnection *, natsSubscription *, natsStatus, void *);
void	*watcher_main(void *);

#endif /* BRIDGE_H */
