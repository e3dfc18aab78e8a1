/*
 * Channels shared between hosts through NATS JetStream (docs/bridge.md).
 *
 * A directory marked with user.ipcfs.bridge=nats is bridged, and so is
 * everything made in it.  Its names live in a key-value bucket, one key a
 * path from the mount's root; each channel has a stream of its own,
 * named by a random id its key holds, so a rename moves a key, not data.
 * Every host watches the bucket and makes, renames and removes its names
 * to match.  Which hosts have which channels open is a second bucket, one
 * key a host, put on every change and as a heartbeat; a host that falls
 * silent for nats_timeout seconds no longer counts.
 *
 * The data path:
 * - a write is published to the channel's stream, a piece at a time, each
 *   with a message id JetStream deduplicates by, and answered once
 *   JetStream says it is stored.  A stream full to its limit (capacity,
 *   discard new) refuses it: the piece is sent again when a reader
 *   somewhere lets go of data, or O_NONBLOCK gets EAGAIN;
 * - a queue's hosts share one pull consumer.  A host asks for a message
 *   only while a reader of its own waits, acknowledges it, and puts it in
 *   the ring only once JetStream has confirmed the acknowledgement, so a
 *   message is handed to one reader once;
 * - a broadcast's hosts have a consumer each, made when the first reader
 *   opens; what every host has read is purged.
 *
 * Threads: libnats calls back on threads of its own, and the calls that
 * wait for an answer run on the worker thread here; the bucket watchers
 * have a thread too.  All of them only queue events, which the daemon's
 * loop takes (bridge_dispatch), so node and channel state is only ever
 * touched by the loop.
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <sys/eventfd.h>
#include <sys/param.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

/* libbsd leaves __unused undefined, but its RB_*_STATIC macros use it. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

/* What JetStream may count over a channel's capacity: its bookkeeping. */
#define BRIDGE_SLACK	1024
/*
 * Every message is padded so that what JetStream stores of it is a
 * multiple of an alignment (stream_align), and so is the stream's limit.
 * The file store counts a message with headers as STORE_OVERHEAD bytes
 * more than its subject, headers and payload; nats-server 2.9's check of
 * a stream with discard new counts the headers and payload only, so in a
 * stream that is nearly full it takes a message that does not fit, and
 * then drops the oldest to make room (nats-io/nats-server#4771).  With
 * every size a multiple of the alignment, and the difference less than
 * it, a message the check takes always fits.  The header is Nats-Msg-Id,
 * by which JetStream knows a message sent again; libnats writes it as
 * MSGID_HDR bytes and the id.
 */
#define STORE_OVERHEAD	34
#define MSGID_HDR	(sizeof "NATS/1.0\r\nNats-Msg-Id: \r\n\r\n" - 1)
/* The most of a byte stream one message carries. */
#define BRIDGE_PIECE	(256 * 1024)
/* How long a pull request waits on the server, in ms. */
#define BRIDGE_FETCH_MS	2000
/* An unanswered publish or acknowledgement is sent again after this. */
#define BRIDGE_RESEND_MS 2000
/* How long a queue's consumer waits for an acknowledgement, in ms. */
#define BRIDGE_ACKWAIT_MS 10000
/* A fetched message no reader here wants goes back after this. */
#define BRIDGE_IDLE_MS	1000
/* Retries of a full stream: from this, doubling, to 100 ms. */
#define BRIDGE_RETRY_MS	2

/* A message fetched from a stream. */
struct bmsg {
	TAILQ_ENTRY(bmsg)	 entry;
	char			*reply;		/* where its ack goes */
	char			*data;
	size_t			 len;
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

/* A bridged channel: the stream of one of the channels. */
struct bchan {
	RB_ENTRY(bchan)		 nentry;	/* by num */
	RB_ENTRY(bchan)		 ientry;	/* by id */
	LIST_ENTRY(bchan)	 dentry;	/* on the dirty list */
	uint64_t		 num;
	char			 id[17];
	struct chan		*chan;		/* NULL once it is freed */
	struct node		*node;
	int			 ready;		/* its stream exists */
	int			 dead;		/* its stream was removed */
	int			 dirty;
	int			 delivery;	/* its stream's retention */
	/* Sending: one piece of the oldest held write at a time. */
	struct waiter		*pw;
	size_t			 plen;
	uint64_t		 pseq;
	uint64_t		 psent;		/* ms, 0 if none is out */
	uint64_t		 pretry;	/* ms, 0 if not waiting */
	uint64_t		 pwait;
	/* Fetching and acknowledging. */
	uint64_t		 fseq;
	uint64_t		 fsent;
	int			 fnowriters;	/* asked with no writer left */
	int			 unseen;	/* data from a writer not seen */
	uint64_t		 idle;		/* ms since no reader waits */
	uint64_t		 bseq;		/* broadcast: latest taken */
	int			 draining;	/* asking if that was all */
	uint64_t		 drain_next;	/* ms: ask again no sooner */
	struct bmsgs		 pending;	/* fetched, not in the ring */
	uint64_t		 aseq;
	uint64_t		 asent;
	/* A broadcast's consumer of this host's. */
	int			 consumer;	/* CONS_* */
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
	int			 gone;		/* chan freed: bchan to free */
};
RB_HEAD(bchan_nums, bchan);
RB_HEAD(bchan_ids, bchan);

#define CONS_NONE	0
#define CONS_MAKING	1
#define CONS_MADE	2
#define CONS_DROPPING	3

/* A name in the cluster's bucket. */
struct bname {
	RB_ENTRY(bname)		 entry;
	char			*key;
	char			*value;
};
RB_HEAD(bnames, bname);

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
	JOB_MOVE,		/* put the moves' new keys, delete
				   their old ones, and stream id */
	JOB_DELETE,		/* a key, and stream id if set */
	JOB_UPDATE,		/* stream id's limits and retention */
	JOB_CONSUMER,		/* make this host's consumer on id */
	JOB_UNCONSUMER,		/* remove consumer name on id */
	JOB_PURGE,		/* what every consumer of id has */
	JOB_PRESENCE,		/* this host's presence */
	JOB_DRAINED,		/* nothing left for consumer name on id */
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
};
TAILQ_HEAD(jobs, job);

enum bev_type { EV_MSG, EV_JOB, EV_NAME, EV_HOST, EV_CONN, EV_TICK };

struct bev {
	TAILQ_ENTRY(bev)	 entry;
	enum bev_type		 type;
	natsMsg			*msg;
	struct job		*job;
	char			*key;
	char			*value;		/* NULL: deleted */
	int			 flag;
};
TAILQ_HEAD(bevs, bev);

static struct {
	struct chan_pool	*pool;
	struct opts		 o;
	char			 host[64];
	char			 inbox[64];
	const char		*nuid;		/* this process's, in inbox */
	char			 freed[96];
	natsConnection		*nc;
	jsCtx			*js;
	kvStore			*names_kv;
	kvStore			*hosts_kv;
	natsSubscription	*sub;
	natsSubscription	*fsub;
	int			 connected;
	int			 setup;		/* buckets ready */
	int			 efd;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct bevs		 events;
	struct jobs		 jobs;
	int			 stopping;
	pthread_t		 worker;
	pthread_t		 watcher;
	pthread_t		 hwatcher;
	int			 threads;
	struct bchan_nums	 nums;
	struct bchan_ids	 ids;
	LIST_HEAD(, bchan)	 dirty;
	struct bnames		 names;
	struct bhosts		 hosts;
	uint64_t		 next_num;
	int			 presence_dirty;
	int			 presence_out;
	uint64_t		 self_seen;	/* ms: our presence came back */
	uint64_t		 self_since;	/* ms: ... and since, each beat */
	uint64_t		 presence_at;
	uint64_t		 msgids;
} br = { .efd = -1 };

static int
bchan_num_cmp(struct bchan *a, struct bchan *b)
{
	return (a->num < b->num ? -1 : a->num > b->num);
}

static int
bchan_id_cmp(struct bchan *a, struct bchan *b)
{
	return (strcmp(a->id, b->id));
}

static int
bname_cmp(struct bname *a, struct bname *b)
{
	return (strcmp(a->key, b->key));
}

RB_GENERATE_STATIC(bchan_nums, bchan, nentry, bchan_num_cmp)
RB_GENERATE_STATIC(bchan_ids, bchan, ientry, bchan_id_cmp)
RB_GENERATE_STATIC(bnames, bname, entry, bname_cmp)

static void	bridge_kick(struct chan *);
static void	bridge_send(struct chan *);
static void	bridge_cancel(struct chan *, struct waiter *);
static void	bridge_gone(struct chan *);
static void	bridge_apply(const char *, const char *);

static const struct chan_link_ops bridge_ops = {
	.send = bridge_send,
	.kick = bridge_kick,
	.cancel = bridge_cancel,
	.gone = bridge_gone,
};

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* ---- Events: from any thread to the loop. ---- */

static void
bev_post(struct bev *ev)
{
	uint64_t	 one = 1;
	int		 was_empty;

	pthread_mutex_lock(&br.mtx);
	was_empty = TAILQ_EMPTY(&br.events);
	TAILQ_INSERT_TAIL(&br.events, ev, entry);
	pthread_mutex_unlock(&br.mtx);
	if (was_empty && write(br.efd, &one, sizeof one) == -1 &&
	    errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
}

static struct bev *
bev_new(enum bev_type type)
{
	struct bev	*ev;

	if ((ev = calloc(1, sizeof *ev)) == NULL)
		return (NULL);
	ev->type = type;
	return (ev);
}

static void
bev_free(struct bev *ev)
{
	if (ev->msg != NULL)
		natsMsg_Destroy(ev->msg);
	free(ev->key);
	free(ev->value);
	free(ev);
}

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	struct bev	*ev;

	if ((ev = bev_new(EV_MSG)) == NULL) {
		natsMsg_Destroy(msg);
		return;
	}
	ev->msg = msg;
	bev_post(ev);
}

static void
on_conn(natsConnection *nc, void *arg)
{
	struct bev	*ev;

	if ((ev = bev_new(EV_CONN)) == NULL)
		return;
	ev->flag = (int)(intptr_t)arg;
	bev_post(ev);
}

/* ---- The worker thread: calls that wait for the server. ---- */

static void
job_free(struct job *j)
{
	size_t	 i;

	for (i = 0; i < j->nmoves * 3; i++)
		free(j->moves[i]);
	free(j->moves);
	free(j->key);
	free(j->value);
	free(j->name);
	free(j);
}

static struct job *
job_new(enum job_type type)
{
	struct job	*j;

	j = xcalloc(1, sizeof *j);
	j->type = type;
	return (j);
}

static void
job_queue(struct job *j)
{
	pthread_mutex_lock(&br.mtx);
	TAILQ_INSERT_TAIL(&br.jobs, j, entry);
	pthread_cond_signal(&br.cond);
	pthread_mutex_unlock(&br.mtx);
}

static void
stream_name(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "%s_%s", br.o.nats_name, id);
}

static void
stream_subject(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "%s.%s", br.o.nats_name, id);
}

/* True if st says the server could not be reached: worth a retry. */
static int
transient(natsStatus st)
{
	return (st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS ||
	    st == NATS_CONNECTION_CLOSED || st == NATS_CONNECTION_DISCONNECTED ||
	    st == NATS_NOT_YET_CONNECTED || st == NATS_IO_ERROR ||
	    st == NATS_STALE_CONNECTION);
}

/*
 * What a stream's sizes are multiples of: the power of two past what the
 * store counts of a message and the discard-new check does not.
 */
static size_t
stream_align(const char *subj)
{
	size_t	 a = 64;

	while (a <= STORE_OVERHEAD + strlen(subj))
		a *= 2;
	return (a);
}

static natsStatus
job_stream(const char *id, size_t capacity, int delivery, int update)
{
	jsStreamConfig	 sc;
	jsErrCode	 jerr = 0;
	char		 name[64], subj[64];
	const char	*subjs[1] = { subj };
	natsStatus	 st;

	stream_name(name, sizeof name, id);
	stream_subject(subj, sizeof subj, id);
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjs;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.MaxBytes = (int64_t)roundup(capacity + BRIDGE_SLACK,
	    stream_align(subj));
	sc.Discard = js_DiscardNew;
	sc.Retention = delivery == CHAN_QUEUE ? js_WorkQueuePolicy :
	    js_LimitsPolicy;
	sc.Replicas = (int64_t)br.o.nats_replicas;
	if (update)
		st = js_UpdateStream(NULL, br.js, &sc, NULL, &jerr);
	else {
		st = js_AddStream(NULL, br.js, &sc, NULL, &jerr);
		if (st != NATS_OK && jerr == JSStreamNameExistErr)
			st = js_UpdateStream(NULL, br.js, &sc, NULL, &jerr);
	}
	if (st != NATS_OK || delivery != CHAN_QUEUE)
		return (st);
	{
		jsConsumerConfig	 cc;

		jsConsumerConfig_Init(&cc);
		cc.Durable = "q";
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = (int64_t)BRIDGE_ACKWAIT_MS * 1000000;
		cc.MaxAckPending = 1024;
		cc.Replicas = (int64_t)br.o.nats_replicas;
		st = js_AddConsumer(NULL, br.js, name, &cc, NULL, &jerr);
		if (st != NATS_OK && jerr == JSConsumerNameExistErr)
			st = NATS_OK;
	}
	return (st);
}

static natsStatus
job_create(struct job *j)
{
	kvEntry		*e = NULL;
	uint64_t	 rev;
	natsStatus	 st;
	char		 name[64];
	const char	*v;

	if ((st = job_stream(j->id, j->capacity, j->delivery, 0)) != NATS_OK)
		return (st);
	st = kvStore_Create(&rev, br.names_kv, j->key, j->value,
	    (int)strlen(j->value));
	if (st == NATS_OK)
		return (NATS_OK);
	/* The name was made elsewhere first: take that channel's id. */
	if (kvStore_Get(&e, br.names_kv, j->key) != NATS_OK)
		return (st);
	v = kvEntry_ValueString(e);
	if (v != NULL && v[0] == 'f' && strlen(v) > 18) {
		memcpy(j->adopt, v + 2, 16);
		j->adopt[16] = '\0';
		stream_name(name, sizeof name, j->id);
		js_DeleteStream(br.js, name, NULL, NULL);
	}
	kvEntry_Destroy(e);
	return (NATS_OK);
}

static natsStatus
job_consumer(struct job *j)
{
	jsConsumerConfig	 cc;
	jsConsumerInfoList	*list = NULL;
	jsErrCode		 jerr = 0;
	uint64_t		 furthest = 0;
	char			 name[64], cname[80];
	natsStatus		 st;
	int			 i;

	stream_name(name, sizeof name, j->id);
	snprintf(cname, sizeof cname, "h_%s", br.host);
	/* A new host starts where the furthest host has got. */
	st = js_Consumers(&list, br.js, name, NULL, &jerr);
	if (st == NATS_OK && list != NULL) {
		for (i = 0; i < list->Count; i++)
			if (list->List[i]->AckFloor.Stream > furthest &&
			    strcmp(list->List[i]->Name, cname) != 0)
				furthest = list->List[i]->AckFloor.Stream;
		jsConsumerInfoList_Destroy(list);
	} else if (st != NATS_OK && st != NATS_NOT_FOUND && jerr == 0)
		return (st);
	jsConsumerConfig_Init(&cc);
	cc.Durable = cname;
	cc.AckPolicy = js_AckAll;
	cc.AckWait = (int64_t)BRIDGE_ACKWAIT_MS * 1000000;
	cc.Replicas = (int64_t)br.o.nats_replicas;
	if (furthest > 0) {
		cc.DeliverPolicy = js_DeliverByStartSequence;
		cc.OptStartSeq = furthest + 1;
	} else
		cc.DeliverPolicy = js_DeliverAll;
	st = js_AddConsumer(NULL, br.js, name, &cc, NULL, &jerr);
	if (st != NATS_OK && jerr == JSConsumerNameExistErr)
		st = NATS_OK;
	return (st);
}

static natsStatus
job_purge(struct job *j)
{
	jsConsumerInfoList	*list = NULL;
	jsOptions		 o;
	jsErrCode		 jerr = 0;
	uint64_t		 low = UINT64_MAX;
	char			 name[64];
	natsStatus		 st;
	int			 i;

	stream_name(name, sizeof name, j->id);
	if ((st = js_Consumers(&list, br.js, name, NULL, &jerr)) != NATS_OK)
		return (transient(st) ? st : NATS_OK);
	for (i = 0; list != NULL && i < list->Count; i++)
		if (list->List[i]->AckFloor.Stream < low)
			low = list->List[i]->AckFloor.Stream;
	if (list != NULL)
		jsConsumerInfoList_Destroy(list);
	if (low == UINT64_MAX || low == 0)
		return (NATS_OK);
	jsOptions_Init(&o);
	o.Stream.Purge.Sequence = low + 1;
	st = js_PurgeStream(br.js, name, &o, &jerr);
	return (transient(st) ? st : NATS_OK);
}

/*
 * Whether a consumer has nothing left: no message it has not delivered,
 * none delivered and not yet acknowledged (a host that died holding one
 * gives it back after the acknowledgement wait).  j->ok says which.
 */
static natsStatus
job_drained(struct job *j)
{
	jsConsumerInfo	*ci = NULL;
	jsErrCode	 jerr = 0;
	char		 name[64];
	natsStatus	 st;

	stream_name(name, sizeof name, j->id);
	st = js_GetConsumerInfo(&ci, br.js, name, j->name, NULL, &jerr);
	if (st != NATS_OK)
		return (transient(st) ? st : NATS_ERR);
	if (ci->NumPending != 0 || ci->NumAckPending != 0)
		st = NATS_ERR;
	jsConsumerInfo_Destroy(ci);
	return (st);
}

static natsStatus
job_setup(void)
{
	kvConfig	 kc;
	char		 bucket[64];
	natsStatus	 st;

	kvConfig_Init(&kc);
	snprintf(bucket, sizeof bucket, "%s_names", br.o.nats_name);
	kc.Bucket = bucket;
	kc.History = 1;
	kc.Replicas = (int)br.o.nats_replicas;
	kc.StorageType = js_FileStorage;
	if (br.names_kv == NULL &&
	    (st = js_CreateKeyValue(&br.names_kv, br.js, &kc)) != NATS_OK &&
	    (st = js_KeyValue(&br.names_kv, br.js, bucket)) != NATS_OK)
		return (st);
	snprintf(bucket, sizeof bucket, "%s_hosts", br.o.nats_name);
	kc.TTL = (int64_t)br.o.nats_timeout * 1000000000;
	if (br.hosts_kv == NULL &&
	    (st = js_CreateKeyValue(&br.hosts_kv, br.js, &kc)) != NATS_OK &&
	    (st = js_KeyValue(&br.hosts_kv, br.js, bucket)) != NATS_OK)
		return (st);
	return (NATS_OK);
}

/*
 * A rename: the new keys first, parents before children, so that other
 * hosts find each channel's new place before its old key goes; then the
 * old keys, children first; then the stream of a channel it replaced.
 */
static natsStatus
job_move(struct job *j)
{
	uint64_t	 rev;
	natsStatus	 st;
	char		 name[64];
	size_t		 i;

	for (i = 0; i < j->nmoves; i++)
		if ((st = kvStore_PutString(&rev, br.names_kv,
		    j->moves[3 * i], j->moves[3 * i + 1])) != NATS_OK)
			return (st);
	for (i = j->nmoves; i-- > 0;)
		if ((st = kvStore_Delete(br.names_kv, j->moves[3 * i + 2])) !=
		    NATS_OK && st != NATS_NOT_FOUND)
			return (st);
	if (j->id[0] != '\0') {
		stream_name(name, sizeof name, j->id);
		if (transient(st = js_DeleteStream(br.js, name, NULL, NULL)))
			return (st);
	}
	return (NATS_OK);
}

static natsStatus
job_run(struct job *j)
{
	char		 name[64], cname[80];
	uint64_t	 rev;
	natsStatus	 st = NATS_OK;

	switch (j->type) {
	case JOB_SETUP:
		return (job_setup());
	case JOB_CREATE:
		return (job_create(j));
	case JOB_PUT:
		return (kvStore_PutString(&rev, br.names_kv, j->key, j->value));
	case JOB_MOVE:
		return (job_move(j));
	case JOB_DELETE:
		if (j->key != NULL && (st = kvStore_Delete(br.names_kv,
		    j->key)) != NATS_OK && st != NATS_NOT_FOUND)
			return (st);
		if (j->id[0] != '\0') {
			stream_name(name, sizeof name, j->id);
			st = js_DeleteStream(br.js, name, NULL, NULL);
			if (!transient(st))
				st = NATS_OK;
		}
		return (st);
	case JOB_UPDATE:
		if (j->replace) {
			stream_name(name, sizeof name, j->id);
			st = js_DeleteStream(br.js, name, NULL, NULL);
			if (transient(st))
				return (st);
		}
		if ((st = job_stream(j->id, j->capacity, j->delivery,
		    !j->replace)) != NATS_OK)
			return (st);
		if (j->key != NULL)
			st = kvStore_PutString(&rev, br.names_kv, j->key,
			    j->value);
		return (st);
	case JOB_CONSUMER:
		return (job_consumer(j));
	case JOB_UNCONSUMER:
		stream_name(name, sizeof name, j->id);
		snprintf(cname, sizeof cname, "h_%s", j->name);
		st = js_DeleteConsumer(br.js, name, cname, NULL, NULL);
		return (transient(st) ? st : NATS_OK);
	case JOB_PURGE:
		return (job_purge(j));
	case JOB_DRAINED:
		return (job_drained(j));
	case JOB_PRESENCE:
		return (kvStore_PutString(&rev, br.hosts_kv, br.host,
		    j->value));
	}
	return (NATS_OK);
}

static void *
worker_main(void *arg)
{
	struct job	*j;
	struct bev	*ev;
	natsStatus	 st;
	unsigned	 wait_ms;

	for (;;) {
		pthread_mutex_lock(&br.mtx);
		while (TAILQ_EMPTY(&br.jobs) && !br.stopping)
			pthread_cond_wait(&br.cond, &br.mtx);
		if (br.stopping) {
			pthread_mutex_unlock(&br.mtx);
			break;
		}
		j = TAILQ_FIRST(&br.jobs);
		TAILQ_REMOVE(&br.jobs, j, entry);
		pthread_mutex_unlock(&br.mtx);

		/* While the server cannot be reached, try again. */
		wait_ms = 50;
		while (transient(st = job_run(j))) {
			pthread_mutex_lock(&br.mtx);
			if (!br.stopping) {
				struct timespec	 ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += (long)wait_ms * 1000000;
				ts.tv_sec += ts.tv_nsec / 1000000000;
				ts.tv_nsec %= 1000000000;
				pthread_cond_timedwait(&br.cond, &br.mtx, &ts);
			}
			if (br.stopping) {
				pthread_mutex_unlock(&br.mtx);
				job_free(j);
				return (NULL);
			}
			pthread_mutex_unlock(&br.mtx);
			if (wait_ms < 1000)
				wait_ms *= 2;
		}
		j->ok = st == NATS_OK;
		if (st != NATS_OK && j->type != JOB_DRAINED)
			log_warnx("bridge: job %d on %s: %s", (int)j->type,
			    j->key != NULL ? j->key : j->id,
			    natsStatus_GetText(st));
		if ((ev = bev_new(EV_JOB)) == NULL) {
			job_free(j);
			continue;
		}
		ev->job = j;
		bev_post(ev);
	}
	return (NULL);
}

/* ---- The watcher thread: both buckets, and the clock. ---- */

static void
watch_post(enum bev_type type, kvEntry *e)
{
	struct bev	*ev;
	const char	*v;

	if ((ev = bev_new(type)) == NULL)
		return;
	ev->key = xstrdup(kvEntry_Key(e));
	if (kvEntry_Operation(e) == kvOp_Put &&
	    (v = kvEntry_ValueString(e)) != NULL)
		ev->value = xstrdup(v);
	bev_post(ev);
}

/*
 * A watcher of one bucket: the names (arg 0), which also keeps the clock,
 * or the hosts (arg 1).  Each has a thread, so that neither waits for
 * the other: a host's presence must come before the data it then sends.
 */
static void *
watcher_main(void *arg)
{
	int		 hosts = (int)(intptr_t)arg;
	kvWatcher	*w = NULL;
	kvEntry		*e;
	struct bev	*ev;
	uint64_t	 tick = 0;
	int		 stop, setup;

	for (;;) {
		pthread_mutex_lock(&br.mtx);
		stop = br.stopping;
		setup = br.setup;
		pthread_mutex_unlock(&br.mtx);
		if (stop)
			break;
		if (!hosts && now_ms() - tick >= 50) {
			tick = now_ms();
			if ((ev = bev_new(EV_TICK)) != NULL)
				bev_post(ev);
		}
		if (w == NULL && setup && kvStore_WatchAll(&w, hosts ?
		    br.hosts_kv : br.names_kv, NULL) != NATS_OK)
			w = NULL;
		if (w == NULL) {
			usleep(50000);
			continue;
		}
		e = NULL;
		if (kvWatcher_Next(&e, w, 50) == NATS_OK && e != NULL) {
			watch_post(hosts ? EV_HOST : EV_NAME, e);
			kvEntry_Destroy(e);
		}
	}
	if (w != NULL) {
		kvWatcher_Stop(w);
		kvWatcher_Destroy(w);
	}
	return (NULL);
}

/* ---- Names: paths as keys, and nodes. ---- */

/*
 * The key of name in dir: each component of its path from the root, its
 * bytes other than letters, digits, '-' and '_' as =XX, joined by dots.
 * Returns 0, or -1 if it does not fit.
 */
/* Append one path component, encoded, to the key in buf at *o. */
static int
key_comp(char *buf, size_t len, size_t *o, const char *comp)
{
	const char	*p;

	if (*o > 0) {
		if (*o + 1 >= len)
			return (-1);
		buf[(*o)++] = '.';
	}
	for (p = comp; *p != '\0'; p++) {
		if (*o + 4 >= len)
			return (-1);
		if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
			buf[(*o)++] = *p;
		else
			*o += (size_t)snprintf(buf + *o, 4, "=%02X",
			    (unsigned char)*p);
	}
	buf[*o] = '\0';
	return (0);
}

static int
name_key(struct node *dir, const char *name, char *buf, size_t len)
{
	const char	*comps[128];
	struct node	*n;
	size_t		 o = 0;
	int		 nc = 0, i;

	if (name != NULL)
		comps[nc++] = name;
	for (n = dir; n != NULL && n != node_root(); n = n->parent) {
		if (nc == 128)
			return (-1);
		comps[nc++] = n->name;
	}
	if (n == NULL)
		return (-1);		/* unlinked */
	for (i = nc - 1; i >= 0; i--)
		if (key_comp(buf, len, &o, comps[i]) != 0)
			return (-1);
	return (o == 0 ? -1 : 0);
}

/*
 * Walk key to the directory that holds its last component, which is put
 * in last.  NULL if that directory is not here or not bridged.
 */
static struct node *
key_dir(const char *key, char *last, size_t len)
{
	struct node	*dir = node_root(), *n;
	char		 comp[NAME_MAX_LEN + 1];
	size_t		 o;
	unsigned	 x;
	const char	*p = key;

	for (;;) {
		o = 0;
		while (*p != '\0' && *p != '.') {
			if (*p == '=' && sscanf(p + 1, "%2x", &x) == 1 &&
			    isxdigit((unsigned char)p[1]) &&
			    isxdigit((unsigned char)p[2])) {
				if (o >= NAME_MAX_LEN)
					return (NULL);
				comp[o++] = (char)x;
				p += 3;
				continue;
			}
			if (o >= NAME_MAX_LEN)
				return (NULL);
			comp[o++] = *p++;
		}
		comp[o] = '\0';
		if (o == 0 || node_check_name(comp) != 0)
			return (NULL);
		if (*p == '\0')
			break;
		p++;
		if ((n = node_lookup(dir, comp)) == NULL || !S_ISDIR(n->mode))
			return (NULL);
		dir = n;
	}
	if (!dir->bridged || strlen(comp) >= len)
		return (NULL);
	strlcpy(last, comp, len);
	return (dir);
}

/* The value of a channel's key. */
static char *
chan_value(const char *id, struct node *n)
{
	char	*v;

	if (asprintf(&v, "f %s %s %s %zu %o %u %u", id,
	    opts_framing[n->chan->framing], opts_delivery[n->chan->delivery],
	    n->chan->capacity, (unsigned)(n->mode & 07777), (unsigned)n->uid,
	    (unsigned)n->gid) == -1)
		fatal("%s", __func__);
	return (v);
}

static char *
dir_value(struct node *n)
{
	char	*v;

	if (asprintf(&v, "d %o %u %u", (unsigned)(n->mode & 07777),
	    (unsigned)n->uid, (unsigned)n->gid) == -1)
		fatal("%s", __func__);
	return (v);
}

/* A key's value, parsed. */
struct bvalue {
	int		 dir;
	char		 id[17];
	int		 framing;
	int		 delivery;
	size_t		 capacity;
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
};

static int
value_parse(const char *v, struct bvalue *bv)
{
	char		 fr[16], de[16];
	unsigned	 mode, uid, gid;
	unsigned long	 cap;

	memset(bv, 0, sizeof *bv);
	if (v[0] == 'd') {
		if (sscanf(v, "d %o %u %u", &mode, &uid, &gid) != 3)
			return (-1);
		bv->dir = 1;
	} else if (sscanf(v, "f %16s %15s %15s %lu %o %u %u", bv->id, fr, de,
	    &cap, &mode, &uid, &gid) == 7) {
		bv->framing = strcmp(fr, opts_framing[1]) == 0;
		bv->delivery = strcmp(de, opts_delivery[1]) == 0;
		bv->capacity = cap;
		if (strlen(bv->id) != 16 || cap < CAPACITY_MIN ||
		    cap > CAPACITY_MAX)
			return (-1);
	} else
		return (-1);
	bv->mode = mode & 07777;
	bv->uid = uid;
	bv->gid = gid;
	return (0);
}

/* ---- Bridged channels. ---- */

static void
bchan_dirty(struct bchan *bc)
{
	if (bc->dirty)
		return;
	bc->dirty = 1;
	LIST_INSERT_HEAD(&br.dirty, bc, dentry);
}

static struct bchan *
bchan_by_id(const char *id)
{
	struct bchan	 key;

	strlcpy(key.id, id, sizeof key.id);
	return (RB_FIND(bchan_ids, &br.ids, &key));
}

static struct bchan *
bchan_by_num(uint64_t num)
{
	struct bchan	 key;

	key.num = num;
	return (RB_FIND(bchan_nums, &br.nums, &key));
}

static void
bchan_set_id(struct bchan *bc, const char *id)
{
	if (bc->id[0] != '\0')
		RB_REMOVE(bchan_ids, &br.ids, bc);
	strlcpy(bc->id, id, sizeof bc->id);
	if (RB_INSERT(bchan_ids, &br.ids, bc) != NULL) {
		/* Two channels here with one id: the older keeps it. */
		log_warnx("bridge: stream %s twice", id);
		bc->id[0] = '\0';
	}
}

/* Link channel n->chan to stream id (made here if id is NULL). */
static struct bchan *
bchan_new(struct node *n, const char *id)
{
	struct bchan	*bc;
	char		 rid[17];
	uint64_t	 r;

	bc = xcalloc(1, sizeof *bc);
	bc->num = ++br.next_num;
	TAILQ_INIT(&bc->pending);
	TAILQ_INIT(&bc->pushed);
	LIST_INIT(&bc->opens);
	if (id == NULL) {
		arc4random_buf(&r, sizeof r);
		snprintf(rid, sizeof rid, "%016" PRIx64, r);
		id = rid;
	}
	bchan_set_id(bc, id);
	RB_INSERT(bchan_nums, &br.nums, bc);
	bc->chan = n->chan;
	bc->node = n;
	bc->delivery = n->chan->delivery;
	n->chan->link = bc;
	return (bc);
}

static void
bmsgs_free(struct bmsgs *q)
{
	struct bmsg	*m;

	while ((m = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, m, entry);
		free(m->reply);
		free(m->data);
		free(m);
	}
}

/* Answer every open that waits on bc. */
static void
bchan_opens_done(struct bchan *bc, int error)
{
	struct bopen	*bo;

	while ((bo = LIST_FIRST(&bc->opens)) != NULL) {
		LIST_REMOVE(bo, entry);
		fs_open_reply(bo->req, &bo->fi, error);
		free(bo);
	}
}

static void
bchan_free(struct bchan *bc)
{
	bchan_opens_done(bc, 0);
	if (bc->dirty)
		LIST_REMOVE(bc, dentry);
	if (bc->id[0] != '\0')
		RB_REMOVE(bchan_ids, &br.ids, bc);
	RB_REMOVE(bchan_nums, &br.nums, bc);
	bmsgs_free(&bc->pending);
	bmsgs_free(&bc->pushed);
	free(bc);
}

/* The channel of bc was freed: the loop frees bc when it next runs. */
static void
bridge_gone(struct chan *c)
{
	struct bchan	*bc = c->link;

	c->link = NULL;
	bc->chan = NULL;
	bc->node = NULL;
	bc->pw = NULL;
	bc->gone = 1;
	br.presence_dirty = 1;
	bchan_dirty(bc);
}

static void
bridge_kick(struct chan *c)
{
	bchan_dirty(c->link);
}

static void
bridge_send(struct chan *c)
{
	bchan_dirty(c->link);
}

/* A held write goes (interrupted, or its open closed). */
static void
bridge_cancel(struct chan *c, struct waiter *w)
{
	struct bchan	*bc = c->link;

	if (bc->pw == w) {
		bc->pw = NULL;
		bc->pseq++;		/* its answer is stale now */
		bc->psent = 0;
		bc->pretry = 0;
	}
	bchan_dirty(bc);
}

/* ---- Sending. ---- */

/*
 * Publish the next piece of the write being sent, or the same piece again
 * when its answer did not come: with the same Nats-Msg-Id, which
 * JetStream keeps for two minutes, so a piece stored once is not stored
 * again.  The id names this process (its inbox's unique part), the
 * channel and the piece.
 */
static void
send_piece(struct bchan *bc)
{
	struct waiter	*w = bc->pw;
	struct chan	*c = bc->chan;
	natsMsg		*m = NULL;
	char		 subj[64], reply[128], id[96], *p;
	size_t		 left = w->size - w->done, stored, pad, align;
	natsStatus	 st;

	if (c->framing == CHAN_MESSAGES || w->size <= CHAN_ATOMIC)
		bc->plen = left;
	else {
		bc->plen = left < BRIDGE_PIECE ? left : BRIDGE_PIECE;
		if (bc->plen > c->capacity)
			bc->plen = c->capacity;
	}
	stream_subject(subj, sizeof subj, bc->id);
	snprintf(reply, sizeof reply, "%s.p.%" PRIu64 ".%" PRIu64, br.inbox,
	    bc->num, bc->pseq);
	bc->psent = now_ms();
	bc->pretry = 0;
	/*
	 * On the wire: a byte saying how many pad bytes follow, the pad, then
	 * the data; the same id each time it is sent.
	 */
	snprintf(id, sizeof id, "%s.%" PRIu64 ".%" PRIu64, br.nuid, bc->num,
	    bc->pseq);
	align = stream_align(subj);
	stored = STORE_OVERHEAD + strlen(subj) + MSGID_HDR + strlen(id) + 1 +
	    bc->plen;
	pad = (align - stored % align) % align;
	if ((p = malloc(1 + pad + bc->plen)) == NULL)
		return;		/* the resend timer tries again */
	p[0] = (char)pad;
	memset(p + 1, 0, pad);
	memcpy(p + 1 + pad, w->data + w->done, bc->plen);
	if ((st = natsMsg_Create(&m, subj, reply, p, (int)(1 + pad +
	    bc->plen))) == NATS_OK &&
	    (st = natsMsgHeader_Set(m, "Nats-Msg-Id", id)) == NATS_OK)
		st = natsConnection_PublishMsg(br.nc, m);
	natsMsg_Destroy(m);
	free(p);
	if (st == NATS_MAX_PAYLOAD) {
		bc->pw = NULL;
		bc->psent = 0;
		bc->pseq++;
		chan_link_sent(w, 0, EMSGSIZE);
	}
	/* Otherwise, if it failed, the resend timer tries again. */
}

/* Find the number after "key": in a JSON answer. */
static int
json_num(const char *s, int len, const char *key, uint64_t *out)
{
	char		 pat[32];
	const char	*p;
	char		*buf;
	int		 r = -1;

	buf = xmalloc((size_t)len + 1);
	memcpy(buf, s, (size_t)len);
	buf[len] = '\0';
	snprintf(pat, sizeof pat, "\"%s\":", key);
	if ((p = strstr(buf, pat)) != NULL) {
		p += strlen(pat);
		while (*p == ' ')
			p++;
		if (isdigit((unsigned char)*p)) {
			*out = strtoull(p, NULL, 10);
			r = 0;
		}
	}
	free(buf);
	return (r);
}

/* JetStream's answer to a piece: stored, or why not. */
static void
on_puback(struct bchan *bc, natsMsg *m)
{
	struct waiter	*w = bc->pw;
	const char	*data = natsMsg_GetData(m), *status = NULL;
	int		 len = natsMsg_GetDataLength(m);
	uint64_t	 code = 0;

	bc->psent = 0;
	if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK &&
	    status != NULL) {
		/* No stream answered: it is being made, or moving. */
		bc->pretry = now_ms() + 100;
		return;
	}
	if (len > 0 && json_num(data, len, "err_code", &code) == 0) {
		if (code == JSStreamStoreFailedErr ||
		    code == 10077 /* maximum bytes exceeded */) {
			if (w->nonblock) {
				bc->pw = NULL;
				bc->pseq++;
				chan_link_sent(w, 0, EAGAIN);
				return;
			}
			/*
			 * Full: try again once a reader lets go.  Meanwhile
			 * the write waits as a local one does for room, and
			 * fails with EPIPE if the last reader goes.
			 */
			bc->pwait = bc->pwait == 0 ? BRIDGE_RETRY_MS :
			    bc->pwait * 2 > 100 ? 100 : bc->pwait * 2;
			bc->pretry = now_ms() + bc->pwait;
			w->sending = NULL;
			chan_link_counts(bc->chan, bc->rreaders, bc->rwriters,
			    bc->chan->rdrained);
			return;
		}
		if (code == JSStreamNotFoundErr) {
			bc->pretry = now_ms() + 100;
			return;
		}
		log_warnx("bridge: %s: publish: %.*s", bc->id, len, data);
		bc->pw = NULL;
		bc->pseq++;
		chan_link_sent(w, 0, EIO);
		return;
	}
	bc->pwait = 0;
	bc->pw = NULL;
	bc->pseq++;
	chan_link_sent(w, bc->plen, 0);
}

/* Someone read from a stream: a write refused as full may go in now. */
static void
on_freed(const char *id)
{
	struct bchan	*bc;

	if ((bc = bchan_by_id(id)) != NULL && bc->pretry != 0) {
		bc->pretry = 1;
		bc->pwait = 0;
		bchan_dirty(bc);
	}
}

/* ---- Receiving. ---- */

/*
 * Ask the stream for a message: FETCH_WAIT waits on the server for one,
 * FETCH_NOW asks whether there is one, and FETCH_LAST waits a little, for
 * when data came from a writer the hosts' bucket had not shown yet.  The
 * last two, with no writer left, say whether that was all.
 */
#define FETCH_WAIT	0
#define FETCH_NOW	1
#define FETCH_LAST	2
#define FETCH_LAST_MS	250

static void
send_fetch(struct bchan *bc, int mode)
{
	char	 subj[160], reply[128], body[96], name[64];

	stream_name(name, sizeof name, bc->id);
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.MSG.NEXT.%s.%s%s", name,
	    bc->delivery == CHAN_QUEUE ? "q" : "h_",
	    bc->delivery == CHAN_QUEUE ? "" : br.host);
	snprintf(reply, sizeof reply, "%s.f.%" PRIu64 ".%" PRIu64, br.inbox,
	    bc->num, ++bc->fseq);
	if (mode == FETCH_NOW)
		snprintf(body, sizeof body, "{\"batch\":1,\"no_wait\":true}");
	else
		snprintf(body, sizeof body, "{\"batch\":1,\"expires\":%llu}",
		    (unsigned long long)(mode == FETCH_LAST ? FETCH_LAST_MS :
		    BRIDGE_FETCH_MS) * 1000000);
	bc->fsent = now_ms();
	bc->fnowriters = mode != FETCH_WAIT;
	log_debug("bridge: %s: fetch %" PRIu64 " mode %d", bc->id, bc->fseq,
	    mode);
	natsConnection_PublishRequestString(br.nc, subj, reply, body);
}

static void
send_ack(struct bchan *bc, struct bmsg *m, int confirm)
{
	char	 reply[128];

	if (!confirm) {
		natsConnection_PublishString(br.nc, m->reply, "+ACK");
		return;
	}
	snprintf(reply, sizeof reply, "%s.a.%" PRIu64 ".%" PRIu64, br.inbox,
	    bc->num, ++bc->aseq);
	bc->asent = now_ms();
	natsConnection_PublishRequestString(br.nc, m->reply, reply, "+ACK");
}

static void
announce_freed(struct bchan *bc)
{
	natsConnection_PublishString(br.nc, br.freed, bc->id);
}

/*
 * The stream sequence of a message, from its acknowledgement subject:
 * $JS.ACK.stream.consumer.delivered.sseq... or, with a domain and an
 * account, two tokens more before the stream.  0 if it has none.
 */
static uint64_t
ack_sseq(const char *reply)
{
	const char	*tok[12], *p;
	int		 n = 0;

	for (p = reply; n < 12 && p != NULL; n++) {
		tok[n] = p;
		if ((p = strchr(p, '.')) != NULL)
			p++;
	}
	if (n == 9)
		return (strtoull(tok[5], NULL, 10));
	if (n >= 11)
		return (strtoull(tok[7], NULL, 10));
	return (0);
}

/* A message of stream id, for this host. */
static void
on_data(const char *id, natsMsg *nm)
{
	struct bchan	*bc;
	struct bmsg	*m;
	const char	*reply = natsMsg_GetReply(nm);
	const unsigned char *data;
	uint64_t	 sseq;
	size_t		 len;

	if ((bc = bchan_by_id(id)) == NULL || reply == NULL ||
	    strncmp(reply, "$JS.ACK.", 8) != 0)
		return;
	/*
	 * A broadcast's host acknowledges without waiting for an answer:
	 * one that got lost brings messages it has again.
	 */
	sseq = ack_sseq(reply);
	if (bc->delivery == CHAN_BROADCAST && sseq != 0 && sseq <= bc->bseq) {
		natsConnection_PublishString(br.nc, reply, "+ACK");
		bc->fsent = 0;
		bchan_dirty(bc);
		return;
	}
	if (sseq > bc->bseq)
		bc->bseq = sseq;
	log_debug("bridge: %s: %d bytes, %s", bc->id,
	    natsMsg_GetDataLength(nm), reply);
	m = xcalloc(1, sizeof *m);
	m->reply = xstrdup(reply);
	m->got = now_ms();
	/* The pad (send_piece) goes. */
	data = (const unsigned char *)natsMsg_GetData(nm);
	len = (size_t)natsMsg_GetDataLength(nm);
	if (len > 0 && (size_t)data[0] + 1 <= len) {
		len -= (size_t)data[0] + 1;
		data += data[0] + 1;
	}
	m->len = len;
	m->data = xmalloc(m->len > 0 ? m->len : 1);
	memcpy(m->data, data, m->len);
	TAILQ_INSERT_TAIL(&bc->pending, m, entry);
	bc->fsent = 0;
	if (bc->chan != NULL)
		bc->chan->rdrained = 0;
	/* From a writer the hosts' bucket has not shown: give it time. */
	if (bc->rwriters == 0)
		bc->unseen = 1;
	bchan_dirty(bc);
}

/* The answer to a pull request that brought no message. */
static void
on_fetch_status(struct bchan *bc, uint64_t seq, const char *status)
{
	struct chan	*c = bc->chan;

	log_debug("bridge: %s: fetch %" PRIu64 ": %s", bc->id, seq, status);
	if (seq != bc->fseq)
		return;
	bc->fsent = 0;
	if (c == NULL)
		return;
	/*
	 * 404 and 408: nothing there for this host now.  With no writer
	 * left, the consumer says whether that is all: a host may hold
	 * messages it has not acknowledged, and if it dies, they come back.
	 */
	if ((strcmp(status, "404") == 0 || strcmp(status, "408") == 0) &&
	    bc->fnowriters && c->writers == 0 && bc->rwriters == 0 &&
	    TAILQ_EMPTY(&bc->pending) && !c->rdrained && !bc->draining) {
		struct job	*j = job_new(JOB_DRAINED);

		j->num = bc->num;
		strlcpy(j->id, bc->id, sizeof j->id);
		if (bc->delivery == CHAN_QUEUE)
			j->name = xstrdup("q");
		else if (asprintf(&j->name, "h_%s", br.host) == -1)
			fatal("%s", __func__);
		bc->draining = 1;
		job_queue(j);
	}
	else if (strcmp(status, "404") != 0 && strcmp(status, "408") != 0) {
		/* 409 and others: the consumer is not there (yet). */
		bc->fsent = now_ms() - BRIDGE_FETCH_MS - 1000 + 100;
	}
	bchan_dirty(bc);
}

/* The server confirmed a queue message's acknowledgement: hand it over. */
static void
on_acked(struct bchan *bc, uint64_t seq)
{
	struct bmsg	*m;
	size_t		 n;

	log_debug("bridge: %s: acked %" PRIu64, bc->id, seq);
	if (seq != bc->aseq || bc->asent == 0)
		return;
	bc->asent = 0;
	if ((m = TAILQ_FIRST(&bc->pending)) == NULL)
		return;
	m->reply[0] = '\0';	/* acknowledged */
	if (bc->chan != NULL) {
		n = chan_link_push(bc->chan, m->data, m->len);
		if (n < m->len) {
			/* Kept here until the ring has room. */
			memmove(m->data, m->data + n, m->len - n);
			m->len -= n;
			announce_freed(bc);
			bchan_dirty(bc);
			return;
		}
	}
	TAILQ_REMOVE(&bc->pending, m, entry);
	free(m->reply);
	free(m->data);
	free(m);
	announce_freed(bc);
	bchan_dirty(bc);
}

static void
on_event_msg(natsMsg *m)
{
	const char	*subj = natsMsg_GetSubject(m), *status = NULL, *p;
	size_t		 il = strlen(br.inbox), nl = strlen(br.o.nats_name);
	struct bchan	*bc;
	uint64_t	 num, seq;
	char		 kind;

	if (strcmp(subj, br.freed) == 0) {
		char	 id[17];
		int	 len = natsMsg_GetDataLength(m);

		if (len == 16) {
			memcpy(id, natsMsg_GetData(m), 16);
			id[16] = '\0';
			on_freed(id);
		}
		return;
	}
	if (strncmp(subj, br.o.nats_name, nl) == 0 && subj[nl] == '.') {
		on_data(subj + nl + 1, m);
		return;
	}
	if (strncmp(subj, br.inbox, il) != 0 || subj[il] != '.')
		return;
	p = subj + il + 1;
	if (sscanf(p, "%c.%" SCNu64 ".%" SCNu64, &kind, &num, &seq) != 3 ||
	    (bc = bchan_by_num(num)) == NULL)
		return;
	if (natsMsgHeader_Get(m, "Status", &status) != NATS_OK)
		status = NULL;
	switch (kind) {
	case 'p':
		if (seq == bc->pseq && bc->pw != NULL && bc->psent != 0)
			on_puback(bc, m);
		break;
	case 'f':
		on_fetch_status(bc, seq, status != NULL ? status : "");
		break;
	case 'a':
		if (status == NULL)
			on_acked(bc, seq);
		break;
	}
	bchan_dirty(bc);
}

/* ---- Presence. ---- */

static void
presence_send(void)
{
	struct bchan	*bc;
	struct job	*j;
	char		*v = NULL, *nv;

	if (br.presence_out || !br.setup)
		return;
	v = xstrdup("");
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->chan == NULL || bc->id[0] == '\0')
			continue;
		bc->told_readers = bc->chan->readers;
		bc->told_writers = bc->chan->writers;
		bc->sent_writers = bc->chan->writers;
		if (bc->chan->readers == 0 && bc->chan->writers == 0)
			continue;
		if (asprintf(&nv, "%s%s %u %u\n", v, bc->id, bc->chan->readers,
		    bc->chan->writers) == -1)
			fatal("%s", __func__);
		free(v);
		v = nv;
	}
	j = job_new(JOB_PRESENCE);
	j->value = v;
	br.presence_out = 1;
	br.presence_dirty = 0;
	br.presence_at = now_ms();
	job_queue(j);
}

/* Count every other host's opens again, and tell the channels. */
static void
presence_count(void)
{
	struct bhost	*h;
	struct bchan	*bc;
	const char	*p;
	char		 id[17];
	unsigned	 r, w;
	int		 n;

	RB_FOREACH(bc, bchan_nums, &br.nums)
		bc->said_readers = bc->said_writers = 0;
	LIST_FOREACH(h, &br.hosts, entry) {
		for (p = h->value; p != NULL && *p != '\0';) {
			if (sscanf(p, "%16s %u %u%n", id, &r, &w, &n) == 3 &&
			    (bc = bchan_by_id(id)) != NULL) {
				bc->said_readers += r;
				bc->said_writers += w;
			}
			if ((p = strchr(p, '\n')) != NULL)
				p++;
		}
	}
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->said_readers == bc->rreaders &&
		    bc->said_writers == bc->rwriters)
			continue;
		bc->rreaders = bc->said_readers;
		bc->rwriters = bc->said_writers;
		if (bc->chan != NULL) {
			if (bc->rwriters > 0)
				bc->chan->rdrained = 0;
			chan_link_counts(bc->chan, bc->rreaders, bc->rwriters,
			    bc->chan->rdrained);
		}
		bchan_dirty(bc);
	}
}

/* How often a host says it is there, in ms. */
static uint64_t
presence_beat(void)
{
	return (br.o.nats_timeout * 1000 / 5);
}

/* A host is gone: its broadcast consumers go too. */
static void
host_drop(struct bhost *h)
{
	struct bchan	*bc;
	struct job	*j;

	log_info("bridge: host %s is gone", h->name);
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->delivery != CHAN_BROADCAST || !bc->ready)
			continue;
		j = job_new(JOB_UNCONSUMER);
		strlcpy(j->id, bc->id, sizeof j->id);
		j->name = xstrdup(h->name);
		job_queue(j);
		j = job_new(JOB_PURGE);
		strlcpy(j->id, bc->id, sizeof j->id);
		job_queue(j);
	}
	LIST_REMOVE(h, entry);
	free(h->name);
	free(h->value);
	free(h);
}

static void
on_host(const char *key, const char *value)
{
	struct bhost	*h;

	/* Ours, back through the bucket: the watcher and the bucket work. */
	if (strcmp(key, br.host) == 0) {
		if (value == NULL)
			return;
		/* After a gap, others get a whole timeout from now. */
		if (now_ms() - br.self_seen > 2 * presence_beat())
			br.self_since = now_ms();
		br.self_seen = now_ms();
		return;
	}
	LIST_FOREACH(h, &br.hosts, entry)
		if (strcmp(h->name, key) == 0)
			break;
	if (value == NULL) {
		if (h != NULL)
			host_drop(h);
	} else {
		if (h == NULL) {
			h = xcalloc(1, sizeof *h);
			h->name = xstrdup(key);
			LIST_INSERT_HEAD(&br.hosts, h, entry);
		}
		free(h->value);
		h->value = xstrdup(value);
		h->seen = now_ms();
	}
	presence_count();
}

/* ---- Applying the cluster's names here. ---- */

static void
names_changed(void)
{
	/* Make the kernel look names up again: they changed elsewhere. */
	if (kfeat_inc_epoch() == -1)
		log_debug("%s: the kernel keeps its cached names", __func__);
}

static void
apply_settings(struct node *n, const struct bvalue *bv)
{
	struct chan	*c = n->chan;

	if (c->framing != bv->framing || c->delivery != bv->delivery) {
		if (chan_set_mode(c, bv->framing, bv->delivery) != 0)
			log_warnx("bridge: %s: busy here, keeps its settings",
			    n->name);
		else if (c->link != NULL)
			((struct bchan *)c->link)->delivery = bv->delivery;
	}
	if (c->capacity != bv->capacity &&
	    chan_set_capacity(c, bv->capacity) != 0)
		log_warnx("bridge: %s: cannot take capacity %zu here",
		    n->name, bv->capacity);
}

/* Make what the cluster has under dir, now bridged here too. */
static void
apply_under(struct node *dir)
{
	struct bname	*bn;
	char		 key[4096];
	size_t		 kl;

	if (name_key(dir, NULL, key, sizeof key) != 0) {
		/* The root: everything. */
		RB_FOREACH(bn, bnames, &br.names)
			bridge_apply(bn->key, bn->value);
		return;
	}
	kl = strlen(key);
	RB_FOREACH(bn, bnames, &br.names)
		if (strncmp(bn->key, key, kl) == 0 && bn->key[kl] == '.')
			bridge_apply(bn->key, bn->value);
}

static void
bridge_apply(const char *key, const char *value)
{
	struct bvalue	 bv;
	struct node	*dir, *n, *made;
	struct bchan	*bc;
	char		 last[NAME_MAX_LEN + 1];
	int		 error;

	if ((dir = key_dir(key, last, sizeof last)) == NULL ||
	    value_parse(value, &bv) != 0)
		return;
	n = node_lookup(dir, last);
	if (bv.dir) {
		if (n != NULL)
			return;
		if (node_make(dir, last, S_IFDIR | bv.mode, bv.uid, bv.gid,
		    &made) != 0)
			return;
		made->bridged = 1;
		names_changed();
		apply_under(made);
		return;
	}
	bc = bchan_by_id(bv.id);
	if (n != NULL && n->chan != NULL && n->chan->link != NULL &&
	    n->chan->link == bc) {
		apply_settings(n, &bv);
		return;
	}
	if (bc != NULL && bc->node != NULL && bc->node != n &&
	    bc->node->parent != NULL) {
		/* Renamed elsewhere, over n if it is here. */
		if (n != NULL && n->chan != NULL && n->chan->link != NULL) {
			((struct bchan *)n->chan->link)->dead = 1;
			bchan_dirty(n->chan->link);
		}
		error = node_rename(bc->node->parent, bc->node->name, dir,
		    last, 0);
		if (error != 0)
			log_warnx("bridge: rename to %s: %s", key,
			    strerror(error));
		names_changed();
		return;
	}
	if (n != NULL && n->chan != NULL && n->chan->link != NULL) {
		/* Made here and there at once: the cluster's wins. */
		bc = n->chan->link;
		if (!bc->ready)
			return;
		bchan_set_id(bc, bv.id);
		apply_settings(n, &bv);
		bchan_dirty(bc);
		return;
	}
	if (n != NULL)
		return;
	if ((error = node_make(dir, last, S_IFREG | bv.mode, bv.uid, bv.gid,
	    &made)) != 0) {
		log_warnx("bridge: make %s: %s", key, strerror(error));
		return;
	}
	apply_settings(made, &bv);
	bc = bchan_new(made, bv.id);
	bc->ready = 1;
	bc->delivery = bv.delivery;
	bchan_dirty(bc);
	/* A lookup here may have cached that it was not there. */
	names_changed();
}

static void
bridge_unapply(const char *key, const char *old)
{
	struct bvalue	 bv;
	struct node	*dir, *n;
	struct bchan	*bc;
	char		 last[NAME_MAX_LEN + 1];

	if (old == NULL || value_parse(old, &bv) != 0 ||
	    (dir = key_dir(key, last, sizeof last)) == NULL ||
	    (n = node_lookup(dir, last)) == NULL)
		return;
	if (bv.dir) {
		if (S_ISDIR(n->mode) && node_rmdir(dir, last) == 0)
			names_changed();
		return;
	}
	if (n->chan == NULL || (bc = n->chan->link) == NULL ||
	    strcmp(bc->id, bv.id) != 0)
		return;
	bc->dead = 1;
	bchan_dirty(bc);
	if (node_unlink(dir, last) == 0)
		names_changed();
}

static void
on_name(const char *key, const char *value)
{
	struct bname	 find, *bn;
	char		*old = NULL;

	find.key = (char *)key;
	bn = RB_FIND(bnames, &br.names, &find);
	if (value == NULL) {
		if (bn == NULL)
			return;
		RB_REMOVE(bnames, &br.names, bn);
		old = bn->value;
		free(bn->key);
		free(bn);
		bridge_unapply(key, old);
		free(old);
		return;
	}
	if (bn == NULL) {
		bn = xcalloc(1, sizeof *bn);
		bn->key = xstrdup(key);
		RB_INSERT(bnames, &br.names, bn);
	} else
		free(bn->value);
	bn->value = xstrdup(value);
	bridge_apply(key, value);
}

/* ---- Worker results. ---- */

static void
on_job(struct job *j)
{
	struct bchan	*bc;

	switch (j->type) {
	case JOB_SETUP:
		if (j->ok) {
			pthread_mutex_lock(&br.mtx);
			br.setup = 1;
			pthread_mutex_unlock(&br.mtx);
			br.presence_dirty = 1;
		}
		break;
	case JOB_CREATE:
		if ((bc = bchan_by_num(j->num)) == NULL)
			break;
		if (j->adopt[0] != '\0')
			bchan_set_id(bc, j->adopt);
		bc->ready = j->ok;
		if (!j->ok) {
			log_warnx("bridge: %s: no stream; the channel stays "
			    "local", j->key);
			bc->dead = 1;
		}
		br.presence_dirty = 1;
		bchan_dirty(bc);
		break;
	case JOB_CONSUMER:
		if ((bc = bchan_by_num(j->num)) == NULL)
			break;
		if (bc->consumer == CONS_MAKING)
			bc->consumer = j->ok ? CONS_MADE : CONS_NONE;
		bchan_opens_done(bc, j->ok ? 0 : EIO);
		bchan_dirty(bc);
		break;
	case JOB_UNCONSUMER:
		if (j->num != 0 && (bc = bchan_by_num(j->num)) != NULL) {
			if (bc->consumer == CONS_DROPPING)
				bc->consumer = CONS_NONE;
			bchan_dirty(bc);
		}
		break;
	case JOB_PURGE:
		if ((bc = bchan_by_num(j->num)) != NULL) {
			bc->purging = 0;
			announce_freed(bc);
			bchan_dirty(bc);
		}
		break;
	case JOB_DRAINED:
		if ((bc = bchan_by_num(j->num)) == NULL)
			break;
		bc->draining = 0;
		bc->drain_next = now_ms() + FETCH_LAST_MS;
		if (j->ok && bc->chan != NULL && bc->chan->writers == 0 &&
		    bc->rwriters == 0 && TAILQ_EMPTY(&bc->pending) &&
		    !bc->chan->rdrained) {
			bc->unseen = 0;
			chan_link_counts(bc->chan, bc->rreaders, bc->rwriters,
			    1);
		}
		bchan_dirty(bc);
		break;
	case JOB_PRESENCE:
		br.presence_out = 0;
		RB_FOREACH(bc, bchan_nums, &br.nums) {
			if (j->ok && bc->known_writers != bc->sent_writers) {
				bc->known_writers = bc->sent_writers;
				bchan_dirty(bc);
			}
		}
		break;
	default:
		break;
	}
	job_free(j);
}

/* ---- The loop's side. ---- */

/*
 * How to ask: with a writer anywhere, wait on the server; with none, ask
 * once whether that was all, and then wait for a writer still to come.
 */
static int
fetch_mode(struct bchan *bc, struct chan *c)
{
	if (c->writers + bc->rwriters > 0) {
		bc->unseen = 0;
		return (FETCH_WAIT);
	}
	if (c->rdrained)
		return (FETCH_WAIT);
	/* Data from a writer not seen yet, or the last look found some. */
	if (bc->unseen || bc->draining || now_ms() < bc->drain_next)
		return (FETCH_LAST);
	return (FETCH_NOW);
}

static void
bchan_broadcast(struct bchan *bc, struct chan *c, uint64_t now)
{
	struct bmsg	*m, *last = NULL;
	struct job	*j;

	if (c->readers > 0 && bc->consumer == CONS_NONE) {
		bc->consumer = CONS_MAKING;
		j = job_new(JOB_CONSUMER);
		j->num = bc->num;
		strlcpy(j->id, bc->id, sizeof j->id);
		job_queue(j);
	}
	if (c->readers == 0 && bc->consumer == CONS_MADE) {
		bc->consumer = CONS_DROPPING;
		bmsgs_free(&bc->pending);
		bmsgs_free(&bc->pushed);
		j = job_new(JOB_UNCONSUMER);
		j->num = bc->num;
		strlcpy(j->id, bc->id, sizeof j->id);
		j->name = xstrdup(br.host);
		job_queue(j);
		bc->purge_at = now;
	}
	if (bc->consumer != CONS_MADE)
		goto purge;
	/* What came goes in the ring while it has room. */
	while ((m = TAILQ_FIRST(&bc->pending)) != NULL) {
		if (chan_link_room(c) < m->len ||
		    chan_link_push(c, m->data, m->len) < m->len)
			break;
		TAILQ_REMOVE(&bc->pending, m, entry);
		free(m->data);
		m->data = NULL;
		m->end = c->head.pos + c->ring.len;
		TAILQ_INSERT_TAIL(&bc->pushed, m, entry);
	}
	/* Acknowledge what every reader here has read, all at once. */
	while ((m = TAILQ_FIRST(&bc->pushed)) != NULL && m->end <= c->head.pos) {
		TAILQ_REMOVE(&bc->pushed, m, entry);
		if (last != NULL) {
			free(last->reply);
			free(last);
		}
		last = m;
	}
	if (last != NULL) {
		send_ack(bc, last, 0);
		free(last->reply);
		free(last);
		if (bc->purge_at == 0)
			bc->purge_at = now + 20;
	}
	if (TAILQ_EMPTY(&bc->pending) && bc->fsent == 0 && c->readers > 0 &&
	    chan_link_room(c) > 0)
		send_fetch(bc, fetch_mode(bc, c));
purge:
	if (bc->purge_at != 0 && now >= bc->purge_at && !bc->purging) {
		bc->purge_at = 0;
		bc->purging = 1;
		j = job_new(JOB_PURGE);
		j->num = bc->num;
		strlcpy(j->id, bc->id, sizeof j->id);
		job_queue(j);
	}
}

static void
bchan_queue(struct bchan *bc, struct chan *c)
{
	struct bmsg	*m;
	uint64_t	 now = now_ms();
	int		 demand = chan_link_demand(c), npending = 0;

	if (demand != 0)
		bc->idle = 0;
	else if (bc->idle == 0)
		bc->idle = now;
	/*
	 * A message fetched for a reader that went away goes back after a
	 * while, for others to take; one kept here past half the consumer's
	 * wait for its acknowledgement may have gone to another host
	 * already, and is dropped, never acknowledged.
	 */
	while ((m = TAILQ_FIRST(&bc->pending)) != NULL &&
	    m->reply[0] != '\0' && bc->asent == 0 &&
	    ((bc->idle != 0 && now - bc->idle > BRIDGE_IDLE_MS) ||
	    now - m->got > BRIDGE_ACKWAIT_MS / 2)) {
		if (now - m->got <= BRIDGE_ACKWAIT_MS / 2)
			natsConnection_PublishString(br.nc, m->reply, "-NAK");
		TAILQ_REMOVE(&bc->pending, m, entry);
		free(m->reply);
		free(m->data);
		free(m);
	}
	if (demand == 0)
		return;
	/*
	 * While a reader waits, one more message is on its way: it comes
	 * while this one is acknowledged and read.  With no writer left, one
	 * quick look says whether that is all; then a reader that waits for
	 * a writer still to come waits on the server.
	 */
	TAILQ_FOREACH(m, &bc->pending, entry)
		npending++;
	if (bc->fsent == 0 && npending < 2)
		send_fetch(bc, fetch_mode(bc, c));
	if (c->ring.len > 0 || (m = TAILQ_FIRST(&bc->pending)) == NULL)
		return;
	if (m->reply[0] == '\0') {
		/* Acknowledged already: the rest of it. */
		bc->aseq++;
		bc->asent = now;
		on_acked(bc, bc->aseq);
	} else if (bc->asent == 0)
		send_ack(bc, m, 1);
}

/* Move bc along: send, fetch, acknowledge as its state asks. */
static void
bchan_run(struct bchan *bc)
{
	struct chan	*c = bc->chan;
	struct job	*j;
	uint64_t	 now = now_ms();

	if (bc->gone) {
		if (bc->consumer == CONS_MADE || bc->consumer == CONS_MAKING) {
			j = job_new(JOB_UNCONSUMER);
			strlcpy(j->id, bc->id, sizeof j->id);
			j->name = xstrdup(br.host);
			job_queue(j);
		}
		bchan_free(bc);
		return;
	}
	if (c != NULL && bc->dead) {
		/* Its stream is gone: what is open here goes on locally. */
		bc->chan = NULL;
		bc->node = NULL;
		bc->pw = NULL;
		c->link = NULL;
		chan_link_detach(c);
		bchan_free(bc);
		return;
	}
	if (c == NULL || !bc->ready || !br.connected)
		return;
	if (c->readers != bc->told_readers || c->writers != bc->told_writers)
		br.presence_dirty = 1;
	if (c->writers + bc->rwriters > 0)
		c->rdrained = 0;
	/*
	 * A writer's first data goes out only once the bucket has it, so
	 * that no host takes the end of its data for the end of the stream.
	 */
	if (bc->pw == NULL && !TAILQ_EMPTY(&c->wq) && bc->known_writers > 0) {
		bc->pw = TAILQ_FIRST(&c->wq);
		bc->pw->sending = bc;
		bc->pseq++;
		send_piece(bc);
	} else if (bc->pw != NULL && bc->psent == 0 && bc->pretry != 0 &&
	    now >= bc->pretry) {
		bc->pw->sending = bc;
		send_piece(bc);
	}
	if (c->delivery != bc->delivery)
		return;		/* its stream is being made again */
	if (c->delivery == CHAN_QUEUE)
		bchan_queue(bc, c);
	else
		bchan_broadcast(bc, c, now);
}

/* The clock: resend what got no answer, drop silent hosts. */
static void
on_tick(void)
{
	struct bchan	*bc;
	struct bhost	*h, *th;
	uint64_t	 now = now_ms(), beat;
	int		 dropped = 0;

	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->pw != NULL && bc->psent != 0 && br.connected &&
		    now - bc->psent > BRIDGE_RESEND_MS)
			send_piece(bc);
		if (bc->pw != NULL && bc->pretry != 0 && now >= bc->pretry)
			bchan_dirty(bc);
		if (bc->fsent != 0 &&
		    now - bc->fsent > BRIDGE_FETCH_MS + 1000) {
			bc->fsent = 0;
			bchan_dirty(bc);
		}
		if (bc->asent != 0 && br.connected &&
		    now - bc->asent > BRIDGE_RESEND_MS &&
		    !TAILQ_EMPTY(&bc->pending))
			send_ack(bc, TAILQ_FIRST(&bc->pending), 1);
		if (bc->purge_at != 0 && now >= bc->purge_at)
			bchan_dirty(bc);
		if (!TAILQ_EMPTY(&bc->pending))
			bchan_dirty(bc);
	}
	/*
	 * A host is gone when its own presence has not come for the
	 * timeout while this host's kept coming back through the same
	 * bucket: with NATS out of reach, or a bucket without a leader,
	 * nobody is gone.
	 */
	LIST_FOREACH_SAFE(h, &br.hosts, entry, th) {
		if (now - h->seen > br.o.nats_timeout * 1000 &&
		    br.self_seen > (h->seen > br.self_since ? h->seen :
		    br.self_since) + br.o.nats_timeout * 1000) {
			host_drop(h);
			dropped = 1;
		}
	}
	if (dropped)
		presence_count();
	beat = presence_beat();
	if (now - br.presence_at >= beat)
		br.presence_dirty = 1;
}

/* Take the events other threads queued, then move the channels along. */
void
bridge_dispatch(void)
{
	struct bevs	 evs;
	struct bev	*ev;
	struct bchan	*bc;
	uint64_t	 v;

	if (br.efd == -1)
		return;
	if (read(br.efd, &v, sizeof v) == -1 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	TAILQ_INIT(&evs);
	pthread_mutex_lock(&br.mtx);
	TAILQ_CONCAT(&evs, &br.events, entry);
	pthread_mutex_unlock(&br.mtx);
	while ((ev = TAILQ_FIRST(&evs)) != NULL) {
		TAILQ_REMOVE(&evs, ev, entry);
		switch (ev->type) {
		case EV_MSG:
			on_event_msg(ev->msg);
			break;
		case EV_JOB:
			on_job(ev->job);
			break;
		case EV_NAME:
			on_name(ev->key, ev->value);
			break;
		case EV_HOST:
			on_host(ev->key, ev->value);
			break;
		case EV_CONN:
			br.connected = ev->flag;
			log_info("bridge: %s", ev->flag ? "connected" :
			    "disconnected");
			if (ev->flag) {
				/* Pull requests may be lost; ask again. */
				RB_FOREACH(bc, bchan_nums, &br.nums) {
					bc->fsent = 0;
					if (bc->psent != 0)
						bc->psent = 1;
					if (bc->asent != 0)
						bc->asent = 1;
					bchan_dirty(bc);
				}
				br.presence_dirty = 1;
			}
			break;
		case EV_TICK:
			on_tick();
			break;
		}
		bev_free(ev);
	}
	bridge_flush();
}

/* Move along every channel whose state changed. */
void
bridge_flush(void)
{
	struct bchan	*bc;

	if (br.efd == -1)
		return;
	while ((bc = LIST_FIRST(&br.dirty)) != NULL) {
		LIST_REMOVE(bc, dentry);
		bc->dirty = 0;
		bchan_run(bc);
	}
	if (br.presence_dirty && br.connected)
		presence_send();
}

/* The descriptor the loop polls for bridge events, or -1. */
int
bridge_fd(void)
{
	return (br.efd);
}


/* ---- What fs.c calls. ---- */

/* setxattr user.ipcfs.bridge on dir. */
int
bridge_mark(struct node *n, const char *value, size_t size)
{
	if (size > 0 && value[size - 1] == '\n')
		size--;
	if (size != 4 || memcmp(value, "nats", 4) != 0)
		return (EINVAL);
	if (br.efd == -1)
		return (EOPNOTSUPP);
	if (!S_ISDIR(n->mode))
		return (EINVAL);
	if (n->bridged)
		return (0);
	if (!RB_EMPTY(&n->children))
		return (ENOTEMPTY);
	n->bridged = 1;
	apply_under(n);
	return (0);
}

/* n was made here, in a bridged directory. */
void
bridge_made(struct node *n)
{
	struct bchan	*bc;
	struct job	*j;
	char		 key[4096];

	if (br.efd == -1 || !n->bridged ||
	    name_key(n->parent, n->name, key, sizeof key) != 0)
		return;
	if (S_ISDIR(n->mode)) {
		j = job_new(JOB_PUT);
		j->key = xstrdup(key);
		j->value = dir_value(n);
		job_queue(j);
		return;
	}
	bc = bchan_new(n, NULL);
	j = job_new(JOB_CREATE);
	j->num = bc->num;
	strlcpy(j->id, bc->id, sizeof j->id);
	j->key = xstrdup(key);
	j->value = chan_value(bc->id, n);
	j->capacity = n->chan->capacity;
	j->delivery = n->chan->delivery;
	job_queue(j);
}

/* What a removal or rename needs to know from before it. */
struct bridge_op {
	char	 key[4096];
	char	 id[17];
};

void *
bridge_removing(struct node *dir, const char *name)
{
	struct bridge_op	*op;
	struct node		*n;

	if (br.efd == -1 || !dir->bridged)
		return (NULL);
	op = xcalloc(1, sizeof *op);
	if (name_key(dir, name, op->key, sizeof op->key) != 0) {
		free(op);
		return (NULL);
	}
	if ((n = node_lookup(dir, name)) != NULL && n->chan != NULL &&
	    n->chan->link != NULL) {
		strlcpy(op->id, ((struct bchan *)n->chan->link)->id,
		    sizeof op->id);
		((struct bchan *)n->chan->link)->dead = 1;
		bchan_dirty(n->chan->link);
	}
	return (op);
}

void
bridge_removed(void *arg, int error)
{
	struct bridge_op	*op = arg;
	struct job		*j;
	struct bchan		*bc;

	if (op == NULL)
		return;
	if (error != 0) {
		if (op->id[0] != '\0' && (bc = bchan_by_id(op->id)) != NULL)
			bc->dead = 0;
		free(op);
		return;
	}
	j = job_new(JOB_DELETE);
	j->key = xstrdup(op->key);
	strlcpy(j->id, op->id, sizeof j->id);
	job_queue(j);
	free(op);
}

/* Add n, under its old and new keys, and all below it, to a move. */
static int
move_add(struct job *j, struct node *n, const char *oldkey,
    const char *newkey)
{
	struct dirent_snap	*ents;
	struct node		*child;
	char			 ok[4096], nk[4096];
	size_t			 cnt, i, oo, no;
	int			 error = 0;

	j->moves = xreallocarray(j->moves, (j->nmoves + 1) * 3,
	    sizeof *j->moves);
	j->moves[3 * j->nmoves] = xstrdup(newkey);
	if (S_ISDIR(n->mode))
		j->moves[3 * j->nmoves + 1] = dir_value(n);
	else if (n->chan != NULL && n->chan->link != NULL)
		j->moves[3 * j->nmoves + 1] = chan_value(
		    ((struct bchan *)n->chan->link)->id, n);
	else
		j->moves[3 * j->nmoves + 1] = NULL;
	j->moves[3 * j->nmoves + 2] = xstrdup(oldkey);
	if (j->moves[3 * j->nmoves + 1] == NULL) {
		/* Not bridged yet: nothing of it to move. */
		free(j->moves[3 * j->nmoves]);
		free(j->moves[3 * j->nmoves + 2]);
		return (0);
	}
	j->nmoves++;
	if (!S_ISDIR(n->mode))
		return (0);
	cnt = node_snapshot(n, &ents);
	for (i = 0; i < cnt && error == 0; i++) {
		if ((child = node_lookup(n, ents[i].name)) == NULL)
			continue;
		strlcpy(ok, oldkey, sizeof ok);
		strlcpy(nk, newkey, sizeof nk);
		oo = strlen(ok);
		no = strlen(nk);
		if (key_comp(ok, sizeof ok, &oo, ents[i].name) != 0 ||
		    key_comp(nk, sizeof nk, &no, ents[i].name) != 0)
			error = ENAMETOOLONG;
		else
			error = move_add(j, child, ok, nk);
	}
	node_snapshot_free(ents, cnt);
	return (error);
}

/*
 * A rename: EXDEV if it would move a name in or out of the bridge; else
 * the keys to move, for bridge_renamed, with all a directory holds.
 */
int
bridge_renaming(struct node *dir, const char *name, struct node *newdir,
    const char *newname, void **opp)
{
	struct node	*n, *old;
	struct job	*j;
	char		 oldkey[4096], newkey[4096];
	int		 error;

	*opp = NULL;
	if (dir->bridged != newdir->bridged)
		return (EXDEV);
	if (br.efd == -1 || !dir->bridged ||
	    (n = node_lookup(dir, name)) == NULL)
		return (0);
	if (name_key(dir, name, oldkey, sizeof oldkey) != 0 ||
	    name_key(newdir, newname, newkey, sizeof newkey) != 0)
		return (ENAMETOOLONG);
	j = job_new(JOB_MOVE);
	if ((error = move_add(j, n, oldkey, newkey)) != 0) {
		job_free(j);
		return (error);
	}
	/* A channel it replaces goes, with its stream. */
	if ((old = node_lookup(newdir, newname)) != NULL && old != n &&
	    old->chan != NULL && old->chan->link != NULL) {
		strlcpy(j->id, ((struct bchan *)old->chan->link)->id,
		    sizeof j->id);
		((struct bchan *)old->chan->link)->dead = 1;
		bchan_dirty(old->chan->link);
	}
	*opp = j;
	return (0);
}

void
bridge_renamed(void *arg, int error)
{
	struct job	*j = arg;

	struct bchan	*bc;

	if (j == NULL)
		return;
	if (error != 0 && j->id[0] != '\0' &&
	    (bc = bchan_by_id(j->id)) != NULL)
		bc->dead = 0;
	if (error != 0 || j->nmoves == 0) {
		job_free(j);
		return;
	}
	job_queue(j);
}

/* n's settings changed here. */
void
bridge_settings(struct node *n)
{
	struct bchan	*bc;
	struct job	*j;
	char		 key[4096];

	if (br.efd == -1 || n->chan == NULL || (bc = n->chan->link) == NULL ||
	    name_key(n->parent, n->name, key, sizeof key) != 0)
		return;
	j = job_new(JOB_UPDATE);
	j->num = bc->num;
	strlcpy(j->id, bc->id, sizeof j->id);
	j->capacity = n->chan->capacity;
	j->delivery = n->chan->delivery;
	j->replace = bc->delivery != n->chan->delivery;
	j->key = xstrdup(key);
	j->value = chan_value(bc->id, n);
	bc->delivery = n->chan->delivery;
	job_queue(j);
}

static void
open_interrupted(fuse_req_t req, void *arg)
{
	struct bopen	*bo = arg;

	LIST_REMOVE(bo, entry);
	fs_open_reply(bo->req, &bo->fi, EINTR);
	free(bo);
}

/*
 * An open for reading of a bridged broadcast whose host has no consumer
 * yet waits for it, so that the reader gets everything written after its
 * open() returned: the consumer starts where the furthest host has got,
 * and other hosts purge only what every consumer has.  Returns 1 if it
 * waits (and is answered later through fs_open_reply), 0 if not.
 */
int
bridge_open_wait(struct chan *c, void *req, struct fuse_file_info *fi)
{
	struct chan_handle	*h = (struct chan_handle *)(uintptr_t)fi->fh;
	struct bchan		*bc = c->link;
	struct bopen		*bo;

	if (bc == NULL || bc->dead || c->delivery != CHAN_BROADCAST ||
	    !(h->mode & CHAN_RD) || bc->consumer == CONS_MADE)
		return (0);
	bo = xcalloc(1, sizeof *bo);
	bo->req = req;
	bo->fi = *fi;
	LIST_INSERT_HEAD(&bc->opens, bo, entry);
	bchan_dirty(bc);
	/* Last: if the kernel already interrupted req, this answers it. */
	fuse_req_interrupt_func(req, open_interrupted, bo);
	return (1);
}

/* Lines for user.ipcfs.stats: a channel's, or with c NULL the mount's. */
int
bridge_stats(const struct chan *c, char *buf, size_t len)
{
	const struct bchan	*bc;

	if (c == NULL)
		return (snprintf(buf, len, "nats %s\n", br.efd == -1 ?
		    "off" : br.connected ? "connected" : "disconnected"));
	if ((bc = c->link) == NULL)
		return (snprintf(buf, len, "bridge none\n"));
	return (snprintf(buf, len, "bridge nats\nstream %s_%s\n"
	    "remote_readers %u\nremote_writers %u\n", br.o.nats_name, bc->id,
	    bc->rreaders, bc->rwriters));
}

/* Give libnats the servers of a comma-separated list. */
static natsStatus
bridge_servers(natsOptions *no, const char *list)
{
	const char	*urls[64];
	char		*copy, *p, *url;
	natsStatus	 st;
	int		 n = 0;

	copy = p = xstrdup(list);
	while ((url = strsep(&p, ",")) != NULL && n < 64)
		if (*url != '\0')
			urls[n++] = url;
	st = natsOptions_SetServers(no, urls, n);
	free(copy);
	return (st);
}

/* Connect to the servers and start the threads.  Returns 0 or -1. */
int
bridge_start(struct chan_pool *pool, const struct opts *o)
{
	natsOptions	*no = NULL;
	natsInbox	*inbox = NULL;
	natsStatus	 st;
	char		 host[40], sub[96];
	struct job	*j;

	if (o->nats[0] == '\0')
		return (0);
	br.pool = pool;
	br.o = *o;
	if (o->nats_host[0] != '\0')
		strlcpy(br.host, o->nats_host, sizeof br.host);
	else {
		if (gethostname(host, sizeof host) != 0)
			strlcpy(host, "host", sizeof host);
		host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")] = '\0';
		snprintf(br.host, sizeof br.host, "%s-%ld", host,
		    (long)getpid());
	}
	pthread_mutex_init(&br.mtx, NULL);
	pthread_cond_init(&br.cond, NULL);
	TAILQ_INIT(&br.events);
	TAILQ_INIT(&br.jobs);
	RB_INIT(&br.nums);
	RB_INIT(&br.ids);
	RB_INIT(&br.names);
	LIST_INIT(&br.dirty);
	LIST_INIT(&br.hosts);
	if ((br.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("bridge: eventfd");
		return (-1);
	}
	if ((st = nats_Open(-1)) != NATS_OK ||
	    (st = natsOptions_Create(&no)) != NATS_OK ||
	    (st = bridge_servers(no, o->nats)) != NATS_OK ||
	    (st = natsOptions_SetName(no, br.host)) != NATS_OK ||
	    (st = natsOptions_SetMaxReconnect(no, -1)) != NATS_OK ||
	    (st = natsOptions_SetReconnectWait(no, 100)) != NATS_OK ||
	    (st = natsOptions_SetTimeout(no, 2000)) != NATS_OK ||
	    (st = natsOptions_SetPingInterval(no, 1000)) != NATS_OK ||
	    (st = natsOptions_SetMaxPingsOut(no, 2)) != NATS_OK ||
	    (st = natsOptions_SetSendAsap(no, true)) != NATS_OK ||
	    (st = natsOptions_SetDisconnectedCB(no, on_conn,
	    (void *)(intptr_t)0)) != NATS_OK ||
	    (st = natsOptions_SetReconnectedCB(no, on_conn,
	    (void *)(intptr_t)1)) != NATS_OK ||
	    (st = natsOptions_SetRetryOnFailedConnect(no, true, on_conn,
	    (void *)(intptr_t)1)) != NATS_OK) {
		log_warnx("bridge: %s", natsStatus_GetText(st));
		natsOptions_Destroy(no);
		return (-1);
	}
	st = natsConnection_Connect(&br.nc, no);
	natsOptions_Destroy(no);
	if (st == NATS_OK)
		br.connected = 1;
	else if (st != NATS_NOT_YET_CONNECTED) {
		log_warnx("bridge: connecting to %s: %s", o->nats,
		    natsStatus_GetText(st));
		return (-1);
	} else
		log_warnx("bridge: %s: not there yet; trying on", o->nats);
	if ((st = natsConnection_JetStream(&br.js, br.nc, NULL)) != NATS_OK ||
	    (st = natsInbox_Create(&inbox)) != NATS_OK) {
		log_warnx("bridge: %s", natsStatus_GetText(st));
		return (-1);
	}
	strlcpy(br.inbox, inbox, sizeof br.inbox);
	br.nuid = strchr(br.inbox, '.') != NULL ? strchr(br.inbox, '.') + 1 :
	    br.inbox;
	natsInbox_Destroy(inbox);
	snprintf(br.freed, sizeof br.freed, "_ipcfs.%s.freed",
	    br.o.nats_name);
	snprintf(sub, sizeof sub, "%s.>", br.inbox);
	if ((st = natsConnection_Subscribe(&br.sub, br.nc, sub, on_msg,
	    NULL)) != NATS_OK ||
	    (st = natsSubscription_SetPendingLimits(br.sub, -1, -1)) !=
	    NATS_OK ||
	    (st = natsConnection_Subscribe(&br.fsub, br.nc, br.freed, on_msg,
	    NULL)) != NATS_OK) {
		log_warnx("bridge: subscribe: %s", natsStatus_GetText(st));
		return (-1);
	}
	if (pthread_create(&br.worker, NULL, worker_main, NULL) != 0 ||
	    pthread_create(&br.watcher, NULL, watcher_main, NULL) != 0 ||
	    pthread_create(&br.hwatcher, NULL, watcher_main,
	    (void *)(intptr_t)1) != 0) {
		log_warnx("bridge: cannot start its threads");
		return (-1);
	}
	br.threads = 1;
	pool->link = &bridge_ops;
	j = job_new(JOB_SETUP);
	job_queue(j);
	log_info("bridge: host %s, servers %s, namespace %s", br.host,
	    o->nats, o->nats_name);
	return (0);
}

/* Stop the threads, say this host is gone, and close the connection. */
void
bridge_stop(void)
{
	struct bev	*ev;
	struct job	*j;
	struct bname	*bn;
	struct bhost	*h;
	struct bchan	*bc;

	if (br.efd == -1)
		return;
	if (br.threads) {
		pthread_mutex_lock(&br.mtx);
		br.stopping = 1;
		pthread_cond_broadcast(&br.cond);
		pthread_mutex_unlock(&br.mtx);
		pthread_join(br.worker, NULL);
		pthread_join(br.watcher, NULL);
		pthread_join(br.hwatcher, NULL);
	}
	if (br.hosts_kv != NULL && br.connected)
		kvStore_Delete(br.hosts_kv, br.host);
	if (br.sub != NULL)
		natsSubscription_Destroy(br.sub);
	if (br.fsub != NULL)
		natsSubscription_Destroy(br.fsub);
	if (br.names_kv != NULL)
		kvStore_Destroy(br.names_kv);
	if (br.hosts_kv != NULL)
		kvStore_Destroy(br.hosts_kv);
	if (br.js != NULL)
		jsCtx_Destroy(br.js);
	if (br.nc != NULL) {
		natsConnection_Close(br.nc);
		natsConnection_Destroy(br.nc);
	}
	/*
	 * What libnats delivered and the loop never took goes before the
	 * library does: a message freed after nats_CloseAndWait crashes.
	 */
	pthread_mutex_lock(&br.mtx);
	while ((ev = TAILQ_FIRST(&br.events)) != NULL) {
		TAILQ_REMOVE(&br.events, ev, entry);
		if (ev->job != NULL)
			job_free(ev->job);
		bev_free(ev);
	}
	pthread_mutex_unlock(&br.mtx);
	nats_CloseAndWait(2000);
	while ((j = TAILQ_FIRST(&br.jobs)) != NULL) {
		TAILQ_REMOVE(&br.jobs, j, entry);
		job_free(j);
	}
	while ((bn = RB_ROOT(&br.names)) != NULL) {
		RB_REMOVE(bnames, &br.names, bn);
		free(bn->key);
		free(bn->value);
		free(bn);
	}
	while ((h = LIST_FIRST(&br.hosts)) != NULL) {
		LIST_REMOVE(h, entry);
		free(h->name);
		free(h->value);
		free(h);
	}
	while ((bc = RB_ROOT(&br.nums)) != NULL) {
		if (bc->chan != NULL)
			bc->chan->link = NULL;
		bchan_free(bc);
	}
	close(br.efd);
	br.efd = -1;
	br.pool->link = NULL;
}
