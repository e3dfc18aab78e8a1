/*
 * bench-nats: the baseline of the cross-host benchmark (issue 13): the
 * traffic an ipcfs bridge carries between two hosts, sent with libnats
 * directly, with the same guarantees.
 *
 *	bench-nats -u URL [-v] [-c CAPACITY] [-i ROUNDS] [-k KINDS]
 *	    [-n COUNT] [-o FILE] [-r REPS] [-s] [-w TESTS] [-z SIZE]
 *	    [-Z SIZE]
 *
 * URL is a NATS server with JetStream.  Two connections stand for two
 * hosts, A and B.  KINDS (comma separated) are:
 *
 *	js	JetStream, as the bridge uses it: a stream per direction
 *		(file storage, work-queue retention, CAPACITY bytes with
 *		100 bytes counted for each message, new messages refused
 *		when full: see stream_add), published to with
 *		js_Publish, which returns once the message is stored, as a
 *		write on a bridged channel does, each message with an id
 *		JetStream deduplicates by; read through a durable pull
 *		consumer on the other connection, one natsSubscription_Fetch
 *		of one message and one natsMsg_AckSync for each, so that
 *		each message is handed over exactly once.  A publish to a
 *		full stream is retried after a pause that doubles from 50 us
 *		up to 2 ms, as a writer waits for room.
 *	jsasync	JetStream with the same stream and consumer, published to
 *		with js_PublishAsync, each message with its id, many in
 *		flight (at most as many as CAPACITY holds, MaxPending),
 *		then js_PublishAsyncComplete: what a bridged channel's
 *		writer does that writes, then calls fsync() or close().
 *		The stream is bounded by MaxPending alone (an asynchronous
 *		publisher cannot wait for room in a full stream and keep
 *		its order); throughput only.
 *	core	core NATS, a looser baseline: natsConnection_Publish to a
 *		synchronous subscription on the other connection, and
 *		natsConnection_Request for round trips; nothing is stored,
 *		acknowledged or bounded.
 *
 * TESTS (comma separated) are:
 *
 *	throughput	COUNT messages of SIZE bytes from a producer thread on
 *			A to the consumer on B; timed from the first publish
 *			until B has the last message; in MB/s and messages/s.
 *	rtt		ROUNDS round trips of SIZE (-Z) bytes: A sends, B
 *			takes the message and sends it back on a second
 *			stream (subject); after a tenth as many warm-up
 *			rounds, the median time of one round trip, in us.
 *
 * Every message carries its number in its first 8 bytes and is checked on
 * arrival.  Results go to FILE (standard output by default) in the format
 * of tools/bench.c, scenario "bridge", subjects libnats-jetstream and
 * libnats-core; tools/bench.c runs this program once per repetition
 * (-r 1) as the baselines of its bridge scenario.  -s: smoke sizes.  -v:
 * how often publishes found the stream full, on standard error.
 */

#define _GNU_SOURCE

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define KIB		1024UL

#define FETCH_MS	1000	/* one fetch or receive waits at most this */
#define STALL_S		30	/* nothing for this long: give up */
#define FULL_PAUSE_MIN	50000L	/* ns */
#define FULL_PAUSE_MAX	2000000L
#define MSG_OVERHEAD	100	/* what JetStream keeps with a message */

enum kind {
	K_JS,
	K_CORE,
	K_JSA,
};

/* One host: its connection and JetStream context. */
struct host {
	natsConnection	*nc;
	jsCtx		*js;
	char		 name[8];
};

/* A figure one run yields. */
struct metric {
	char		 name[96];
	const char	*unit;
	int		 higher;
};

/* One run: what it moves and what it found. */
struct run {
	enum kind	 kind;
	struct host	*a;
	struct host	*abuf;		/* A, buffering: core throughput */
	struct host	*b;
	size_t		 size;
	int		 count;		/* messages, or round trips */
	int		 warm;		/* round trips not timed */
	char		 stream[2][64];	/* A to B, B to A */
	char		 subj[2][96];
	natsSubscription *sub[2];	/* on B, on A */
	unsigned long	 full;		/* publishes refused: stream full */
	jsCtx		*jsa;		/* K_JSA: A's, for async publishes */
	int		 failed;	/* K_JSA: publishes that failed */
	const char	*err;		/* set by a thread that failed */
};

static struct {
	const char	*url;
	FILE		*out;
	int64_t		 capacity;
	int		 reps;
	int		 smoke;
	int		 verbose;
	unsigned	 seq;
	char		 watchdog[256];
} cfg;

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		err(1, "malloc");
	return (p);
}

/* Exit with what libnats says about a failed call. */
static void
check(natsStatus s, jsErrCode jerr, const char *what)
{
	const char	*last;

	if (s == NATS_OK)
		return;
	last = nats_GetLastError(NULL);
	if (jerr != 0)
		errx(1, "%s: %s (JetStream error %d%s%s)", what,
		    natsStatus_GetText(s), (int)jerr, last ? ": " : "",
		    last ? last : "");
	errx(1, "%s: %s%s%s", what, natsStatus_GetText(s), last ? ": " : "",
	    last ? last : "");
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The median of n values (which get sorted). */
static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	if (n % 2 == 0)
		return ((v[n / 2 - 1] + v[n / 2]) / 2);
	return (v[n / 2]);
}

/* One result line, as tools/bench.c writes them. */
static void
emit(const struct metric *m, const char *subject, double *v, int n)
{
	double	 s[n];
	int	 i;

	memcpy(s, v, sizeof s);
	fprintf(cfg.out, "result\tbridge\t%s\t%s\tbase\t%s\t%s\t%.6g\t",
	    m->name, subject, m->unit, m->higher ? "higher" : "lower",
	    median(s, (size_t)n));
	fprintf(cfg.out, "%.6g\t%.6g\t%d\t", s[0], s[n - 1], n);
	for (i = 0; i < n; i++)
		fprintf(cfg.out, "%s%.6g", i ? "," : "", v[i]);
	fprintf(cfg.out, "\n");
	fflush(cfg.out);
}

static void
watchdog(int sig)
{
	ssize_t	 n;

	(void)sig;
	n = write(STDERR_FILENO, cfg.watchdog, strlen(cfg.watchdog));
	(void)n;
	_exit(1);
}

/* "64 B" or "4 KiB", as tools/bench.c names sizes. */
static void
sizename(char *buf, size_t len, size_t size)
{
	if (size < KIB)
		snprintf(buf, len, "%zu B", size);
	else
		snprintf(buf, len, "%zu KiB", size / KIB);
}

static const char *
kind_name(enum kind k)
{
	return (k == K_JS ? "libnats-jetstream" : k == K_JSA ?
	    "libnats-jetstream-async" : "libnats-core");
}

/*
 * Connect host h, which stands for one ipcfs daemon.  With asap, each
 * publish is sent at once rather than left for libnats's flusher thread,
 * which otherwise waits about a millisecond for more to send with it: a
 * request or a JetStream call is sent at once anyway, but the pull
 * requests of natsSubscription_Fetch and the replies of an echo are not.
 */
static void
host_open(struct host *h, const char *name, int asap)
{
	natsOptions	*o;
	jsOptions	 jo;
	char		 cname[64];

	snprintf(h->name, sizeof h->name, "%s", name);
	snprintf(cname, sizeof cname, "bench-nats host %s", name);
	check(natsOptions_Create(&o), 0, "natsOptions_Create");
	check(natsOptions_SetURL(o, cfg.url), 0, cfg.url);
	check(natsOptions_SetName(o, cname), 0, "natsOptions_SetName");
	/* A server that goes away ends the benchmark, not a wait. */
	check(natsOptions_SetAllowReconnect(o, false), 0,
	    "natsOptions_SetAllowReconnect");
	if (asap)
		check(natsOptions_SetSendAsap(o, true), 0,
		    "natsOptions_SetSendAsap");
	check(natsConnection_Connect(&h->nc, o), 0, cfg.url);
	natsOptions_Destroy(o);
	jsOptions_Init(&jo);
	check(natsConnection_JetStream(&h->js, h->nc, &jo), 0,
	    "natsConnection_JetStream");
}

static void
host_close(struct host *h)
{
	jsCtx_Destroy(h->js);
	natsConnection_Destroy(h->nc);
}

/* Fresh names for stream and subject i of run r. */
static void
run_names(struct run *r, int i)
{
	unsigned	 seq = cfg.seq++;

	snprintf(r->stream[i], sizeof r->stream[i], "BENCH_%d_%u",
	    (int)getpid(), seq);
	snprintf(r->subj[i], sizeof r->subj[i], "bench-nats.%d.%u",
	    (int)getpid(), seq);
}

/*
 * Make stream i of run r on host h, as the bridge makes a channel's: file
 * storage, a work queue (a message is gone once acknowledged), at most
 * cfg.capacity bytes, and new messages refused when full.
 *
 * The bound is a number of messages, as many as cfg.capacity holds at
 * MSG_OVERHEAD bytes of bookkeeping each, and not MaxBytes: against
 * MaxBytes, nats-server 2.9 counts a message as less than it stores, so
 * with DiscardNew a stream nearly full takes one more and then drops its
 * oldest to fit, unread (nats-io/nats-server#4771, #4775).  Messages of
 * one size are bounded to the same bytes by their number, exactly.
 */
static void
stream_add(struct run *r, struct host *h, int i)
{
	jsStreamConfig	 sc;
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	const char	*subjects[1];

	subjects[0] = r->subj[i];
	jsStreamConfig_Init(&sc);
	sc.Name = r->stream[i];
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Retention = js_WorkQueuePolicy;
	sc.Discard = js_DiscardNew;
	if (cfg.capacity > 0 && r->kind != K_JSA) {
		sc.MaxMsgs = cfg.capacity / ((int64_t)r->size + MSG_OVERHEAD);
		if (sc.MaxMsgs < 1)
			sc.MaxMsgs = 1;
	}
	sc.Replicas = 1;
	check(js_AddStream(&si, h->js, &sc, NULL, &jerr), jerr,
	    "js_AddStream");
	jsStreamInfo_Destroy(si);
}

/* A durable pull consumer of stream i, on host h. */
static natsSubscription *
stream_pull(struct run *r, struct host *h, int i)
{
	natsSubscription	*sub = NULL;
	jsSubOptions		 so;
	jsErrCode		 jerr = 0;
	char			 durable[80];

	snprintf(durable, sizeof durable, "%s_C", r->stream[i]);
	jsSubOptions_Init(&so);
	so.Stream = r->stream[i];
	so.Config.AckPolicy = js_AckExplicit;
	check(js_PullSubscribe(&sub, h->js, r->subj[i], durable, NULL, &so,
	    &jerr), jerr, "js_PullSubscribe");
	return (sub);
}

static void
stream_del(struct run *r, struct host *h, int i)
{
	jsErrCode	 jerr = 0;

	check(js_DeleteStream(h->js, r->stream[i], NULL, &jerr), jerr,
	    "js_DeleteStream");
}

/*
 * Publish message seq to JetStream and wait until it is stored.  It has a
 * message id, by which JetStream would drop it if a publish whose answer
 * was lost were sent again, as the bridge does.  A full stream refuses it
 * (DiscardNew): wait and try again.
 */
static void
js_put(struct run *r, struct host *h, int i, const void *buf, uint64_t seq)
{
	jsPubOptions	 po;
	jsPubAck	*pa = NULL;
	jsErrCode	 jerr;
	natsStatus	 s;
	struct timespec	 ts;
	long		 pause = FULL_PAUSE_MIN;
	double		 t0 = 0;
	char		 id[96];

	snprintf(id, sizeof id, "%s.%llu", r->stream[i],
	    (unsigned long long)seq);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	for (;;) {
		jerr = 0;
		s = js_Publish(&pa, h->js, r->subj[i], buf, (int)r->size, &po,
		    &jerr);
		if (s == NATS_OK)
			break;
		if (jerr != JSStreamStoreFailedErr)
			check(s, jerr, "js_Publish");
		/* Refused for want of room. */
		if (t0 == 0)
			t0 = now();
		else if (now() - t0 > STALL_S)
			errx(1, "js_Publish: stream %s full for %d s",
			    r->stream[i], STALL_S);
		__atomic_add_fetch(&r->full, 1, __ATOMIC_RELAXED);
		ts.tv_sec = 0;
		ts.tv_nsec = pause;
		nanosleep(&ts, NULL);
		if (pause < FULL_PAUSE_MAX)
			pause *= 2;
	}
	jsPubAck_Destroy(pa);
}

/*
 * Take one message from a pull consumer: fetch a batch of one, and
 * acknowledge it synchronously, so that it is gone from the stream before
 * the next.  The message is checked to be number seq.
 */
static void
js_take(natsSubscription *sub, size_t size, uint64_t seq, void *buf)
{
	natsMsgList	 list;
	natsMsg		*m;
	jsErrCode	 jerr;
	natsStatus	 s;
	double		 t0 = now();

	for (;;) {
		memset(&list, 0, sizeof list);
		jerr = 0;
		s = natsSubscription_Fetch(&list, sub, 1, FETCH_MS, &jerr);
		if (s == NATS_OK && list.Count == 1)
			break;
		natsMsgList_Destroy(&list);
		if (s != NATS_OK && s != NATS_TIMEOUT)
			check(s, jerr, "natsSubscription_Fetch");
		if (now() - t0 > STALL_S)
			errx(1, "message %llu: nothing fetched in %d s",
			    (unsigned long long)seq, STALL_S);
	}
	m = list.Msgs[0];
	jerr = 0;
	check(natsMsg_AckSync(m, NULL, &jerr), jerr, "natsMsg_AckSync");
	if ((size_t)natsMsg_GetDataLength(m) != size)
		errx(1, "message %llu: %d bytes, not %zu",
		    (unsigned long long)seq, natsMsg_GetDataLength(m), size);
	memcpy(buf, natsMsg_GetData(m), size);
	natsMsgList_Destroy(&list);
}

/* Receive one core NATS message, number seq; *reply gets it if asked. */
static void
core_take(natsSubscription *sub, size_t size, uint64_t seq, void *buf,
    natsMsg **reply)
{
	natsMsg		*m = NULL;
	natsStatus	 s;
	double		 t0 = now();

	while ((s = natsSubscription_NextMsg(&m, sub, FETCH_MS)) != NATS_OK) {
		if (s != NATS_TIMEOUT)
			check(s, 0, "natsSubscription_NextMsg");
		if (now() - t0 > STALL_S)
			errx(1, "message %llu: nothing received in %d s",
			    (unsigned long long)seq, STALL_S);
	}
	if ((size_t)natsMsg_GetDataLength(m) != size)
		errx(1, "message %llu: %d bytes, not %zu",
		    (unsigned long long)seq, natsMsg_GetDataLength(m), size);
	memcpy(buf, natsMsg_GetData(m), size);
	if (reply != NULL)
		*reply = m;
	else
		natsMsg_Destroy(m);
}

static void
check_seq(const void *buf, uint64_t seq)
{
	uint64_t	 got;

	memcpy(&got, buf, sizeof got);
	if (got != seq)
		errx(1, "message %llu came as number %llu",
		    (unsigned long long)seq, (unsigned long long)got);
}

/* An asynchronous publish that failed: counted, the run fails. */
static void
jsa_failed(jsCtx *js, jsPubAckErr *pae, void *arg)
{
	struct run	*r = arg;

	(void)js;
	(void)pae;
	__atomic_add_fetch(&r->failed, 1, __ATOMIC_RELAXED);
}

/* Publish message seq asynchronously, with its id. */
static void
jsa_put(struct run *r, const void *buf, uint64_t seq)
{
	jsPubOptions	 po;
	char		 id[96];

	snprintf(id, sizeof id, "%s.%llu", r->stream[0],
	    (unsigned long long)seq);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	check(js_PublishAsync(r->jsa, r->subj[0], buf, (int)r->size, &po), 0,
	    "js_PublishAsync");
}

/* The producer of a throughput run, on host A. */
static void *
producer(void *arg)
{
	struct run	*r = arg;
	char		*buf;
	uint64_t	 i;

	buf = xmalloc(r->size);
	memset(buf, 'n', r->size);
	for (i = 0; i < (uint64_t)r->count; i++) {
		memcpy(buf, &i, sizeof i);
		if (r->kind == K_JS)
			js_put(r, r->a, 0, buf, i);
		else if (r->kind == K_JSA)
			jsa_put(r, buf, i);
		else
			check(natsConnection_Publish(r->abuf->nc, r->subj[0],
			    buf, (int)r->size), 0, "natsConnection_Publish");
	}
	if (r->kind == K_JSA) {
		jsPubOptions	 po;

		jsPubOptions_Init(&po);
		po.MaxWait = STALL_S * 1000;
		check(js_PublishAsyncComplete(r->jsa, &po), 0,
		    "js_PublishAsyncComplete");
		if (r->failed)
			errx(1, "%d asynchronous publishes failed", r->failed);
	}
	if (r->kind == K_CORE)
		check(natsConnection_FlushTimeout(r->abuf->nc, STALL_S * 1000),
		    0, "natsConnection_FlushTimeout");
	free(buf);
	return (NULL);
}

/* One throughput run: vals[0] MB/s, vals[1] messages/s. */
static void
throughput(struct run *r, double *vals)
{
	pthread_t	 thr;
	char		*buf;
	uint64_t	 i;
	double		 t0, t1;
	natsSubscription *sub;

	run_names(r, 0);
	if (r->kind == K_JSA) {
		jsOptions	 jo;

		jsOptions_Init(&jo);
		jo.PublishAsync.MaxPending = cfg.capacity > 0 ?
		    cfg.capacity / ((int64_t)r->size + MSG_OVERHEAD) : 4096;
		if (jo.PublishAsync.MaxPending < 1)
			jo.PublishAsync.MaxPending = 1;
		jo.PublishAsync.ErrHandler = jsa_failed;
		jo.PublishAsync.ErrHandlerClosure = r;
		check(natsConnection_JetStream(&r->jsa, r->a->nc, &jo), 0,
		    "natsConnection_JetStream");
	}
	if (r->kind == K_JS || r->kind == K_JSA) {
		stream_add(r, r->a, 0);
		sub = stream_pull(r, r->b, 0);
	} else {
		check(natsConnection_SubscribeSync(&sub, r->b->nc, r->subj[0]),
		    0, "natsConnection_SubscribeSync");
		/* Core NATS would drop past the pending limits: none. */
		check(natsSubscription_SetPendingLimits(sub, -1, -1), 0,
		    "natsSubscription_SetPendingLimits");
		/* The server knows of the subscription before A sends. */
		check(natsConnection_FlushTimeout(r->b->nc, STALL_S * 1000), 0,
		    "natsConnection_FlushTimeout");
	}
	buf = xmalloc(r->size);

	t0 = now();
	if ((errno = pthread_create(&thr, NULL, producer, r)) != 0)
		err(1, "pthread_create");
	for (i = 0; i < (uint64_t)r->count; i++) {
		if (r->kind == K_JS || r->kind == K_JSA)
			js_take(sub, r->size, i, buf);
		else
			core_take(sub, r->size, i, buf, NULL);
		check_seq(buf, i);
	}
	t1 = now();
	pthread_join(thr, NULL);

	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	if (r->kind == K_JS || r->kind == K_JSA)
		stream_del(r, r->a, 0);
	if (r->jsa != NULL)
		jsCtx_Destroy(r->jsa);
	free(buf);
	vals[0] = (double)r->count * (double)r->size / (t1 - t0) / 1e6;
	vals[1] = r->count / (t1 - t0);
}

/* The far end of a round trip, on host B: take each message, send it back. */
static void *
echo(void *arg)
{
	struct run	*r = arg;
	natsMsg		*m;
	char		*buf;
	uint64_t	 i, total = (uint64_t)(r->warm + r->count);

	buf = xmalloc(r->size);
	for (i = 0; i < total; i++) {
		if (r->kind == K_JS) {
			js_take(r->sub[0], r->size, i, buf);
			check_seq(buf, i);
			js_put(r, r->b, 1, buf, i);
		} else {
			core_take(r->sub[0], r->size, i, buf, &m);
			check_seq(buf, i);
			check(natsConnection_Publish(r->b->nc,
			    natsMsg_GetReply(m), buf, (int)r->size), 0,
			    "natsConnection_Publish");
			natsMsg_Destroy(m);
		}
	}
	free(buf);
	return (NULL);
}

/* One round-trip run: vals[0] the median round trip in us. */
static void
rtt(struct run *r, double *vals)
{
	pthread_t	 thr;
	natsMsg		*m;
	char		*buf;
	double		*t, t0;
	uint64_t	 i, total = (uint64_t)(r->warm + r->count);

	run_names(r, 0);
	run_names(r, 1);
	if (r->kind == K_JS) {
		stream_add(r, r->a, 0);
		stream_add(r, r->b, 1);
		r->sub[0] = stream_pull(r, r->b, 0);
		r->sub[1] = stream_pull(r, r->a, 1);
	} else {
		check(natsConnection_SubscribeSync(&r->sub[0], r->b->nc,
		    r->subj[0]), 0, "natsConnection_SubscribeSync");
		check(natsConnection_FlushTimeout(r->b->nc, STALL_S * 1000), 0,
		    "natsConnection_FlushTimeout");
	}
	buf = xmalloc(r->size);
	memset(buf, 'p', r->size);
	t = xmalloc(sizeof *t * (size_t)r->count);

	if ((errno = pthread_create(&thr, NULL, echo, r)) != 0)
		err(1, "pthread_create");
	for (i = 0; i < total; i++) {
		t0 = now();
		memcpy(buf, &i, sizeof i);
		if (r->kind == K_JS) {
			js_put(r, r->a, 0, buf, i);
			js_take(r->sub[1], r->size, i, buf);
		} else {
			check(natsConnection_Request(&m, r->a->nc, r->subj[0],
			    buf, (int)r->size, STALL_S * 1000), 0,
			    "natsConnection_Request");
			if ((size_t)natsMsg_GetDataLength(m) != r->size)
				errx(1, "reply %llu: %d bytes",
				    (unsigned long long)i,
				    natsMsg_GetDataLength(m));
			memcpy(buf, natsMsg_GetData(m), r->size);
			natsMsg_Destroy(m);
		}
		check_seq(buf, i);
		if (i >= (uint64_t)r->warm)
			t[i - (uint64_t)r->warm] = (now() - t0) * 1e6;
	}
	pthread_join(thr, NULL);

	natsSubscription_Unsubscribe(r->sub[0]);
	natsSubscription_Destroy(r->sub[0]);
	if (r->kind == K_JS) {
		natsSubscription_Unsubscribe(r->sub[1]);
		natsSubscription_Destroy(r->sub[1]);
		stream_del(r, r->a, 0);
		stream_del(r, r->b, 1);
	}
	vals[0] = median(t, (size_t)r->count);
	free(t);
	free(buf);
}

typedef void	(*run_fn)(struct run *, double *);

/*
 * Run fn for every kind, cfg.reps times, the kinds interleaved and their
 * order rotated each time, as tools/bench.c does; then report the nm
 * metrics fn yields per run.  t holds what every run shares.
 */
static void
measure(const struct metric *m, int nm, const enum kind *k, int nk,
    run_fn fn, const struct run *t)
{
	struct run	 r;
	double		*v, vals[3];
	int		 rep, i, j, n, reps = cfg.reps;
	int		 secs = cfg.smoke ? 30 : 600;

	v = xmalloc(sizeof *v * (size_t)(nk * nm * reps));
	for (rep = 0; rep < reps; rep++) {
		for (j = 0; j < nk; j++) {
			i = (j + rep) % nk;
			r = *t;
			r.kind = k[i];
			snprintf(cfg.watchdog, sizeof cfg.watchdog, "bench-nats: "
			    "%s, %s: no end after %d s\n", m[0].name,
			    kind_name(k[i]), secs);
			alarm((unsigned)secs);
			fn(&r, vals);
			alarm(0);
			for (n = 0; n < nm; n++)
				v[(i * nm + n) * reps + rep] = vals[n];
			if (cfg.verbose)
				fprintf(stderr, "bench-nats: %s, %s: %lu "
				    "publishes found the stream full\n",
				    m[0].name, kind_name(k[i]), r.full);
		}
	}
	for (n = 0; n < nm; n++)
		for (i = 0; i < nk; i++)
			emit(&m[n], kind_name(k[i]), &v[(i * nm + n) * reps],
			    reps);
	free(v);
}

/* Whether word is in the comma-separated list. */
static int
listed(const char *list, const char *word)
{
	const char	*p;
	size_t		 len = strlen(word);

	for (p = list; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, word, len) == 0 &&
		    (p[len] == ',' || p[len] == '\0'))
			return (1);
	}
	return (0);
}

static long long
number(const char *s, long long min, long long max, const char *what)
{
	const char	*errstr = NULL;
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		errstr = "not a number";
	else if (v < min)
		errstr = "too small";
	else if (v > max)
		errstr = "too large";
	if (errstr != NULL)
		errx(2, "%s %s: %s", what, s, errstr);
	return (v);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-nats -u URL [-sv] [-c CAPACITY] "
	    "[-i ROUNDS] [-k js,core]\n"
	    "    [-n COUNT] [-o FILE] [-r REPS] [-w throughput,rtt] "
	    "[-z SIZE] [-Z SIZE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct host	 a, abuf, b;
	struct run	 t;
	struct metric	 m[2];
	const char	*kinds = "js,jsasync,core", *tests = "throughput,rtt";
	const char	*outpath = NULL;
	enum kind	 k[3], kr[3];
	int		 nkr = 0;
	size_t		 size = 4 * KIB, rsize = 64;
	int		 count = 0, rounds = 0, nk = 0, ch, i;
	char		 sz[32];

	cfg.capacity = 64 * KIB;
	while ((ch = getopt(argc, argv, "c:i:k:n:o:r:su:vw:z:Z:")) != -1) {
		switch (ch) {
		case 'c':
			cfg.capacity = number(optarg, 0, INT64_MAX, "capacity");
			break;
		case 'i':
			rounds = (int)number(optarg, 1, INT_MAX / 2, "rounds");
			break;
		case 'k':
			kinds = optarg;
			break;
		case 'n':
			count = (int)number(optarg, 1, INT_MAX, "count");
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'r':
			cfg.reps = (int)number(optarg, 1, 1000, "repetitions");
			break;
		case 's':
			cfg.smoke = 1;
			break;
		case 'u':
			cfg.url = optarg;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		case 'w':
			tests = optarg;
			break;
		case 'z':
			size = (size_t)number(optarg, 8, 64 * 1024 * 1024,
			    "size");
			break;
		case 'Z':
			rsize = (size_t)number(optarg, 8, 64 * 1024 * 1024,
			    "size");
			break;
		default:
			usage();
		}
	}
	if (cfg.url == NULL || optind != argc)
		usage();
	if (listed(kinds, "js"))
		k[nk++] = K_JS;
	if (listed(kinds, "core"))
		k[nk++] = K_CORE;
	if (listed(kinds, "jsasync"))
		k[nk++] = K_JSA;
	if (nk == 0 || (!listed(tests, "throughput") && !listed(tests, "rtt")))
		usage();
	if (cfg.reps == 0)
		cfg.reps = cfg.smoke ? 1 : 7;
	if (count == 0)
		count = cfg.smoke ? 200 : 10000;
	if (rounds == 0)
		rounds = cfg.smoke ? 50 : 2000;
	if (cfg.capacity > 0 && (int64_t)size + MSG_OVERHEAD > cfg.capacity)
		errx(2, "%zu-byte messages never fit in a %lld-byte stream",
		    size, (long long)cfg.capacity);
	if (cfg.capacity > 0 && (int64_t)rsize + MSG_OVERHEAD > cfg.capacity)
		errx(2, "%zu-byte messages never fit in a %lld-byte stream",
		    rsize, (long long)cfg.capacity);
	cfg.out = stdout;
	if (outpath != NULL && (cfg.out = fopen(outpath, "w")) == NULL)
		err(1, "%s", outpath);
	signal(SIGALRM, watchdog);

	/* Connections are made once; each run makes its own streams. */
	host_open(&a, "a", 1);
	host_open(&abuf, "a", 0);
	host_open(&b, "b", 1);
	fprintf(cfg.out, "meta\tlibnats\t%s\n", nats_GetVersion());
	fflush(cfg.out);
	memset(&t, 0, sizeof t);
	t.a = &a;
	t.abuf = &abuf;
	t.b = &b;

	if (listed(tests, "throughput")) {
		sizename(sz, sizeof sz, size);
		snprintf(m[0].name, sizeof m[0].name, "throughput, %s "
		    "messages", sz);
		m[0].unit = "MB/s";
		m[0].higher = 1;
		snprintf(m[1].name, sizeof m[1].name, "message rate, %s "
		    "messages", sz);
		m[1].unit = "messages/s";
		m[1].higher = 1;
		t.size = size;
		t.count = count;
		measure(m, 2, k, nk, throughput, &t);
	}
	if (listed(tests, "rtt")) {
		sizename(sz, sizeof sz, rsize);
		snprintf(m[0].name, sizeof m[0].name, "%s round trip, median",
		    sz);
		m[0].unit = "us";
		m[0].higher = 0;
		t.size = rsize;
		t.count = rounds;
		t.warm = rounds / 10;
		/* A round trip is one message each way: no asynchronous one. */
		for (nkr = 0, i = 0; i < nk; i++)
			if (k[i] != K_JSA)
				kr[nkr++] = k[i];
		if (nkr > 0)
			measure(m, 1, kr, nkr, rtt, &t);
	}

	host_close(&a);
	host_close(&abuf);
	host_close(&b);
	nats_Close();
	if (cfg.out != stdout && fclose(cfg.out) != 0)
		err(1, "%s", outpath);
	return (0);
}
