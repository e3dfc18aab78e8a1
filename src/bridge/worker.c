/*
 * The worker threads: the calls to JetStream that wait for an answer
 * (streams, consumers, keys), one job at a time, in the order the loop
 * queued them; this host's presence has a thread and a queue of its own.  A job that finds the server out of reach is tried again,
 * with a growing pause, until it gets an answer or the daemon stops; its
 * result goes back to the loop as an event.  Nothing here touches a node
 * or a channel.
 */

#define _GNU_SOURCE

#include <sys/param.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcfs.h"
#include "bridge.h"

void
job_free(struct job *j)
{
	size_t	 i;

	for (i = 0; i < j->nmoves * 3; i++)
		free(j->moves[i]);
	free(j->moves);
	free(j->key);
	free(j->value);
	free(j->name);
	free(j->found);
	free(j);
}

struct job *
job_new(enum job_type type)
{
	struct job	*j;

	j = xcalloc(1, sizeof *j);
	j->type = type;
	return (j);
}

void
job_queue(struct job *j)
{
	pthread_mutex_lock(&br.mtx);
	if (j->type == JOB_PRESENCE)
		TAILQ_INSERT_TAIL(&br.pjobs, j, entry);
	else
		TAILQ_INSERT_TAIL(&br.jobs, j, entry);
	pthread_cond_broadcast(&br.cond);
	pthread_mutex_unlock(&br.mtx);
}

/*
 * A chmod, chown or utimensat of key while a JOB_ATTRS of key still waits
 * in the queue, after every job there that changes names: that job takes
 * value (and frees it) in place of its own, and job_attrs_merge returns
 * 1.  So a loop of chmods costs one put, not one each, and queues nothing
 * while the server is away.  Returns 0 if there is no such job.
 */
int
job_attrs_merge(const char *key, char *value)
{
	struct job	*j;
	int		 merged = 0;

	pthread_mutex_lock(&br.mtx);
	TAILQ_FOREACH_REVERSE(j, &br.jobs, jobs, entry) {
		if (j->type == JOB_ATTRS) {
			if (strcmp(j->key, key) != 0)
				continue;
			free(j->value);
			j->value = value;
			merged = 1;
			break;
		}
		if (j->type == JOB_CREATE || j->type == JOB_PUT ||
		    j->type == JOB_MARK || j->type == JOB_MOVE ||
		    j->type == JOB_DELETE || j->type == JOB_UPDATE ||
		    j->type == JOB_RESTREAM)
			break;
	}
	pthread_mutex_unlock(&br.mtx);
	return (merged);
}

/* True if st says the server could not be reached: worth a retry. */
int
transient(natsStatus st)
{
	return (st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS ||
	    st == NATS_CONNECTION_CLOSED || st == NATS_CONNECTION_DISCONNECTED ||
	    st == NATS_NOT_YET_CONNECTED || st == NATS_IO_ERROR ||
	    st == NATS_STALE_CONNECTION);
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
	sc.MaxBytes = stream_limit(capacity, id);
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

/* What stream id holds now: j->bytes and j->msgs. */
static natsStatus
job_check(struct job *j)
{
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	char		 name[64];
	natsStatus	 st;

	stream_name(name, sizeof name, j->id);
	if ((st = js_GetStreamInfo(&si, br.js, name, NULL, &jerr)) != NATS_OK)
		return (st);
	j->bytes = si->State.Bytes;
	j->msgs = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	return (NATS_OK);
}

static natsStatus
job_create(struct job *j)
{
	kvEntry			*e = NULL;
	struct wire_value	 wv;
	uint64_t		 rev;
	natsStatus		 st;
	char			 name[64];
	const char		*v;

	if ((st = job_stream(j->id, j->capacity, j->delivery, 0)) != NATS_OK)
		return (st);
	st = kvStore_Create(&rev, br.names_kv, j->key, j->value,
	    (int)strlen(j->value));
	if (st == NATS_OK)
		return (NATS_OK);
	/* The name was made elsewhere first: take that channel's id. */
	if (kvStore_Get(&e, br.names_kv, j->key) != NATS_OK)
		return (st);
	stream_name(name, sizeof name, j->id);
	v = kvEntry_ValueString(e);
	if (v != NULL && wire_value_parse(v, &wv) == 0 && !wv.dir) {
		strlcpy(j->adopt, wv.id, sizeof j->adopt);
		st = NATS_OK;
	} else
		st = NATS_ERR;		/* a directory, or not a value */
	/* Either way the stream made for it has no name. */
	js_DeleteStream(br.js, name, NULL, NULL);
	kvEntry_Destroy(e);
	return (st);
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
	kc.MaxValueSize = WIRE_VALUE_MAX;
	if (br.names_kv == NULL &&
	    (st = js_CreateKeyValue(&br.names_kv, br.js, &kc)) != NATS_OK &&
	    (st = js_KeyValue(&br.names_kv, br.js, bucket)) != NATS_OK)
		return (st);
	snprintf(bucket, sizeof bucket, "%s_hosts", br.o.nats_name);
	kc.TTL = (int64_t)br.o.nats_timeout * 1000000000;
	kc.MaxValueSize = -1;
	if (br.hosts_kv == NULL &&
	    (st = js_CreateKeyValue(&br.hosts_kv, br.js, &kc)) != NATS_OK &&
	    (st = js_KeyValue(&br.hosts_kv, br.js, bucket)) != NATS_OK)
		return (st);
	return (NATS_OK);
}

/*
 * Make stream id again, if JetStream says it is not there.  While a
 * stream elects a leader it does not answer either: then nothing is done
 * (the next unanswered piece asks again), and quickly, so that the jobs
 * behind this one (this host's presence) do not wait.
 */
static natsStatus
job_restream(struct job *j)
{
	struct wire_value	 wv;
	kvEntry		*e = NULL;
	const char	*v;
	int		 named;
	jsStreamInfo	*si = NULL;
	jsOptions	 o;
	jsErrCode	 jerr = 0;
	char		 name[64];
	natsStatus	 st;

	stream_name(name, sizeof name, j->id);
	jsOptions_Init(&o);
	o.Wait = 500;
	st = js_GetStreamInfo(&si, br.js, name, &o, &jerr);
	if (si != NULL)
		jsStreamInfo_Destroy(si);
	if (st != NATS_NOT_FOUND)
		return (NATS_OK);
	/*
	 * This host's view of the names may be behind (a cut network): the
	 * bucket itself must still name the stream, or it was removed.
	 */
	if (kvStore_Get(&e, br.names_kv, j->key) != NATS_OK)
		return (NATS_OK);
	v = kvEntry_ValueString(e);
	named = v != NULL && wire_value_parse(v, &wv) == 0 && !wv.dir &&
	    strcmp(wv.id, j->id) == 0;
	kvEntry_Destroy(e);
	if (!named)
		return (NATS_OK);
	log_warnx("bridge: stream %s is gone; making it again", j->id);
	if ((st = job_stream(j->id, j->capacity, j->delivery, 0)) != NATS_OK)
		log_warnx("bridge: stream %s: %s", j->id,
		    natsStatus_GetText(st));
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

/*
 * New settings: the stream's limit, or with a new delivery a new stream.
 * What it holds is checked again just before (the loop checked it when
 * the change was asked): JetStream would drop what does not fit.
 */
static natsStatus
job_update(struct job *j)
{
	char		 name[64];
	natsStatus	 st;

	if ((st = job_check(j)) != NATS_OK && st != NATS_NOT_FOUND)
		return (st);
	if (st == NATS_OK && ((j->replace && j->msgs > 0) ||
	    (uint64_t)stream_limit(j->capacity, j->id) < j->bytes)) {
		log_warnx("bridge: stream %s took data meanwhile: it keeps "
		    "its settings", j->id);
		return (NATS_ERR);
	}
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
		st = kvStore_PutString(&j->krev, br.names_kv, j->key,
		    j->value);
	return (st);
}

/*
 * A bridged top's key: made with this host's value if the bucket has
 * none (the first mark), or else its value there, for the loop to adopt
 * or refuse.
 */
static natsStatus
job_mark(struct job *j)
{
	kvEntry		*e = NULL;
	uint64_t	 rev;
	natsStatus	 st;
	int		 tries;

	for (tries = 0; tries < 3; tries++) {
		st = kvStore_CreateString(&rev, br.names_kv, j->key, j->value);
		if (st == NATS_OK || transient(st))
			return (st);
		st = kvStore_Get(&e, br.names_kv, j->key);
		if (st == NATS_NOT_FOUND)
			continue;	/* deleted meanwhile: make it */
		if (st != NATS_OK)
			return (st);
		j->found = xstrdup(kvEntry_ValueString(e));
		kvEntry_Destroy(e);
		return (NATS_OK);
	}
	return (st);
}

/*
 * Owner, mode and times changed on this host: into the value the bucket
 * has now, so that what another host changed meanwhile (settings, or the
 * stream that won a race to make the name) stays, with the put made
 * only if the key is still at the revision read.  A key that is gone, or
 * names another kind of thing now, is left alone.
 */
static natsStatus
job_attrs(struct job *j)
{
	struct wire_value	 ours, cur;
	kvEntry			*e = NULL;
	char			 buf[WIRE_VALUE_MAX + 1];
	uint64_t		 last;
	natsStatus		 st = NATS_OK;
	int			 tries, bad;

	if (wire_value_parse(j->value, &ours) != 0)
		return (NATS_INVALID_ARG);
	for (tries = 0; tries < 10; tries++) {
		if ((st = kvStore_Get(&e, br.names_kv, j->key)) != NATS_OK)
			return (st == NATS_NOT_FOUND ? NATS_OK : st);
		last = kvEntry_Revision(e);
		bad = wire_value_parse(kvEntry_ValueString(e), &cur) != 0;
		kvEntry_Destroy(e);
		if (bad || cur.dir != ours.dir)
			return (NATS_OK);
		cur.mode = ours.mode;
		cur.uid = ours.uid;
		cur.gid = ours.gid;
		cur.times = ours.times;
		cur.mtime = ours.mtime;
		cur.atime = ours.atime;
		wire_value_format(buf, sizeof buf, &cur);
		st = kvStore_UpdateString(&j->krev, br.names_kv, j->key, buf,
		    last);
		if (st == NATS_OK || transient(st))
			return (st);
		/* Another change came between: read it again. */
	}
	return (st);
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
		return (kvStore_PutString(&j->krev, br.names_kv, j->key,
		    j->value));
	case JOB_MARK:
		return (job_mark(j));
	case JOB_ATTRS:
		return (job_attrs(j));
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
	case JOB_CHECK:
		return (job_check(j));
	case JOB_UPDATE:
		return (job_update(j));
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
	case JOB_RESTREAM:
		return (job_restream(j));
	case JOB_PRESENCE:
		return (kvStore_PutString(&rev, br.hosts_kv, br.host,
		    j->value));
	}
	return (NATS_OK);
}

/*
 * The names bucket's last revision, after a name job: the watcher has to
 * bring the bucket that far before this host's view holds the job's
 * change.  0 if the server does not say (the tree then waits only for
 * the names to be still).
 */
static uint64_t
names_revision(void)
{
	jsStreamInfo	*si = NULL;
	jsOptions	 o;
	jsErrCode	 jerr = 0;
	char		 name[64];
	uint64_t	 rev;

	snprintf(name, sizeof name, "KV_%s_names", br.o.nats_name);
	jsOptions_Init(&o);
	o.Wait = 1000;
	if (js_GetStreamInfo(&si, br.js, name, &o, &jerr) != NATS_OK)
		return (0);
	rev = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return (rev);
}

/* Wait wait_ms, or until the daemon stops: 1 if it stops. */
static int
worker_pause(unsigned wait_ms)
{
	struct timespec	 ts;
	int		 stop;

	pthread_mutex_lock(&br.mtx);
	if (!br.stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)wait_ms * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&br.cond, &br.mtx, &ts);
	}
	stop = br.stopping;
	pthread_mutex_unlock(&br.mtx);
	return (stop);
}

/*
 * A worker: arg is its queue.  This host's presence has a worker of its
 * own, so that a job that waits on the server (a stream electing its
 * leader) never holds it back: a host whose presence stops is soon taken
 * for gone by the others.
 */
void *
worker_main(void *arg)
{
	struct jobs	*q = arg;
	struct job	*j;
	struct bev	*ev;
	natsStatus	 st;
	unsigned	 wait_ms;

	for (;;) {
		pthread_mutex_lock(&br.mtx);
		while (TAILQ_EMPTY(q) && !br.stopping)
			pthread_cond_wait(&br.cond, &br.mtx);
		if (br.stopping) {
			pthread_mutex_unlock(&br.mtx);
			break;
		}
		j = TAILQ_FIRST(q);
		TAILQ_REMOVE(q, j, entry);
		pthread_mutex_unlock(&br.mtx);

		/* While the server cannot be reached, try again. */
		wait_ms = 50;
		while (transient(st = job_run(j))) {
			if (worker_pause(wait_ms)) {
				job_free(j);
				return (NULL);
			}
			if (wait_ms < 1000)
				wait_ms *= 2;
		}
		j->ok = st == NATS_OK;
		if (j->ok && (j->type == JOB_PUT || j->type == JOB_CREATE ||
		    j->type == JOB_MOVE || j->type == JOB_DELETE ||
		    j->type == JOB_MARK || j->type == JOB_ATTRS))
			j->rev = names_revision();
		if (st != NATS_OK && j->type != JOB_DRAINED)
			log_warnx("bridge: job %d on %s: %s", (int)j->type,
			    j->key != NULL ? j->key : j->id,
			    natsStatus_GetText(st));
		ev = bev_new(EV_JOB);
		ev->job = j;
		bev_post(ev);
	}
	return (NULL);
}
