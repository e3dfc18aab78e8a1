/*
 * Channels shared between hosts through NATS JetStream (docs/bridge.md):
 * the bridged channels and their states, the loop's side of the bridge,
 * and its start and stop.  bridge.h says which file does what.
 *
 * A directory marked with user.ipcfs.bridge=nats, or named by -o bridge,
 * is bridged, and so is everything made in it.  Its names live in a
 * key-value bucket, one key a path from the mount's root; each channel
 * has a stream of its own, named by a random id its key holds, so a
 * rename moves a key, not data.  Which hosts have which channels open is
 * a second bucket, one key a host.
 *
 * Each bridged channel is a struct bchan, in one of the states bridge.h
 * draws; bchan_run moves it along whenever something changed for it (it
 * is on the dirty list), and the clock (on_tick) moves along what waits
 * for time.  A run never puts its own channel back on the list for the
 * same flush, so nothing the network or a user does can make the loop
 * spin: what cannot go on waits for an event or the next tick.
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <sys/eventfd.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipcfs.h"
#include "fs.h"
#include "bridge.h"

/* What JetStream may count over a channel's capacity: its bookkeeping. */
#define BRIDGE_SLACK	1024
/*
 * The server's longest protocol line (max_control_line): its INFO does
 * not say, so the default, which the key of a name must leave room in
 * for the verb, the subject's prefix, a reply subject and two sizes.
 */
#define CONTROL_LINE	4096
#define CONTROL_SLACK	512

struct bridge br = { .efd = -1 };

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

RB_GENERATE(bchan_nums, bchan, nentry, bchan_num_cmp)
RB_GENERATE(bchan_ids, bchan, ientry, bchan_id_cmp)

static void	bridge_kick(struct chan *);
static void	bridge_send(struct chan *);
static size_t	bridge_cancel(struct chan *, struct waiter *);
static void	bridge_gone(struct chan *);
static void	bridge_closed(struct chan *, struct chan_handle *);
static int	bridge_writable(const struct chan *);

static const struct chan_link_ops bridge_ops = {
	.send = bridge_send,
	.kick = bridge_kick,
	.cancel = bridge_cancel,
	.gone = bridge_gone,
	.closed = bridge_closed,
	.writable = bridge_writable,
};

uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * Something from the cluster was refused: say so, but no more than once
 * a second, so that a peer that floods cannot flood the log.
 */
void
bridge_bad(const char *fmt, ...)
{
	static unsigned	 quiet;
	va_list		 ap;
	char		 buf[256];
	uint64_t	 now = now_ms();

	if (br.warned != 0 && now - br.warned < 1000) {
		quiet++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (quiet > 0)
		log_warnx("bridge: refused %s (and %u more)", buf, quiet);
	else
		log_warnx("bridge: refused %s", buf);
	quiet = 0;
	br.warned = now;
}

void
stream_name(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "%s_%s", br.o.nats_name, id);
}

void
stream_subject(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "%s.%s", br.o.nats_name, id);
}

/*
 * Every message is padded so that what JetStream stores of it is a
 * multiple of an alignment, and so is the stream's limit.  The file store
 * counts a message with headers as STORE_OVERHEAD bytes more than its
 * subject, headers and payload; nats-server 2.9's check of a stream with
 * discard new counts the headers and payload only, so in a stream that
 * is nearly full it takes a message that does not fit, and then drops
 * the oldest to make room (nats-io/nats-server#4771).  With every size a
 * multiple of the alignment, and the difference less than it, a message
 * the check takes always fits.  This is the power of two past that
 * difference.
 */
size_t
stream_align(const char *subj)
{
	size_t	 a = 64;

	while (a <= STORE_OVERHEAD + strlen(subj))
		a *= 2;
	return (a);
}

/* The limit of a stream for a channel of capacity bytes. */
int64_t
stream_limit(size_t capacity, const char *id)
{
	char	 subj[64];

	stream_subject(subj, sizeof subj, id);
	return ((int64_t)roundup(capacity + BRIDGE_SLACK, stream_align(subj)));
}

/* ---- Bridged channels. ---- */

/*
 * The writers this host has on bc, as the other hosts and its own
 * readers count them: its opens for writing, and one more while its
 * buffer holds pieces not stored yet (a writer that closed or died
 * with data still on its way is no end of the data yet).
 */
unsigned
bchan_writers(const struct bchan *bc)
{
	return (bc->chan->writers + (TAILQ_EMPTY(&bc->pieces) ? 0 : 1));
}

void
bchan_dirty(struct bchan *bc)
{
	if (bc->dirty)
		return;
	bc->dirty = 1;
	LIST_INSERT_HEAD(&br.dirty, bc, dentry);
}

struct bchan *
bchan_by_id(const char *id)
{
	struct bchan	 key;

	strlcpy(key.id, id, sizeof key.id);
	return (RB_FIND(bchan_ids, &br.ids, &key));
}

struct bchan *
bchan_by_num(uint64_t num)
{
	struct bchan	 key;

	key.num = num;
	return (RB_FIND(bchan_nums, &br.nums, &key));
}

static void	bchan_unlist(struct bchan *);

/* Give bc the stream id; a second channel here with one id gets none. */
void
bchan_set_id(struct bchan *bc, const char *id)
{
	bchan_unlist(bc);
	strlcpy(bc->id, id, sizeof bc->id);
	if (RB_INSERT(bchan_ids, &br.ids, bc) != NULL) {
		log_warnx("bridge: stream %s twice", id);
		bc->id[0] = '\0';
	} else
		bc->listed = 1;
}

/* bc no longer answers to its stream id (it keeps it, to clean up). */
static void
bchan_unlist(struct bchan *bc)
{
	if (bc->listed)
		RB_REMOVE(bchan_ids, &br.ids, bc);
	bc->listed = 0;
}

/* Link channel n->chan to stream id (made here if id is NULL). */
struct bchan *
bchan_new(struct node *n, const char *id)
{
	struct bchan	*bc;
	char		 rid[17];
	uint64_t	 r;

	bc = xcalloc(1, sizeof *bc);
	bc->num = ++br.next_num;
	bc->state = BC_MAKING;
	TAILQ_INIT(&bc->pending);
	TAILQ_INIT(&bc->pushed);
	TAILQ_INIT(&bc->pieces);
	LIST_INIT(&bc->syncs);
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

/* Free one fetched message, giving back what it held of max_memory. */
void
bmsg_free(struct bchan *bc, struct bmsg *m)
{
	if (m->charged > 0) {
		br.pool->budget.link_used -= m->charged;
		budget_freed(&br.pool->budget);
	}
	free(m->reply);
	free(m->data);
	free(m);
}

void
bmsgs_free(struct bchan *bc, struct bmsgs *q)
{
	struct bmsg	*m;

	while ((m = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, m, entry);
		bmsg_free(bc, m);
	}
}

/*
 * The stream was made again, or the channel's delivery changed: what this
 * host knew of the old one's messages means nothing now.
 */
void
bchan_reset_stream(struct bchan *bc)
{
	bmsgs_free(bc, &bc->pending);
	bmsgs_free(bc, &bc->pushed);
	bc->bseq = 0;
	bc->fsent = 0;
	bc->asent = 0;
	bc->aresend = 0;
	bc->draining = 0;
	bc->purge_at = 0;
	bc->consumer = CONS_NONE;
}

/* Answer every open that waits on bc. */
void
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
	if (bc->set != NULL) {
		if (!bc->set->interrupted)
			fuse_reply_err(bc->set->req, EBUSY);
		free(bc->set);
	}
	if (bc->dirty)
		LIST_REMOVE(bc, dentry);
	bchan_unlist(bc);
	RB_REMOVE(bchan_nums, &br.nums, bc);
	send_free(bc, EIO);
	bmsgs_free(bc, &bc->pending);
	bmsgs_free(bc, &bc->pushed);
	free(bc);
}

/* bc's stream is gone, or will never be: its channel goes on locally. */
void
bchan_kill(struct bchan *bc)
{
	if (bc->state == BC_GONE)
		return;
	/* A channel made for the same stream may take its id now. */
	bchan_unlist(bc);
	bc->state = BC_DEAD;
	bchan_dirty(bc);
}

/* The channel of bc was freed: the loop frees bc when it next runs. */
static void
bridge_gone(struct chan *c)
{
	struct bchan	*bc = c->link;

	c->link = NULL;
	bc->chan = NULL;
	bc->node = NULL;
	bc->state = BC_GONE;
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

/*
 * A held write goes early (interrupted, its open closed, no reader):
 * what of it is in the buffer already was counted when it went in.
 */
static size_t
bridge_cancel(struct chan *c, struct waiter *w)
{
	(void)w;
	bchan_dirty(c->link);
	return (0);
}

static void
bridge_closed(struct chan *c, struct chan_handle *h)
{
	send_closed(c->link, h);
}

static int
bridge_writable(const struct chan *c)
{
	return (send_writable(c->link));
}

/*
 * No stream answered for bc.  While JetStream elects a leader that is
 * passing; but a stream removed by one host while another renamed its
 * channel is gone for good, and the name the bucket keeps for it would
 * never carry data again.  So, if the bucket still names this stream,
 * it is made again (adding a stream that is there changes nothing), once
 * every two seconds at most.
 */
void
bchan_restream(struct bchan *bc)
{
	struct job	*j;
	uint64_t	 now = now_ms();

	if (bc->chan == NULL || bc->node == NULL ||
	    now - bc->restream_at < 2000 ||
	    !names_key_holds(bc->node, bc->id))
		return;
	bc->restream_at = now;
	j = job_new(JOB_RESTREAM);
	strlcpy(j->id, bc->id, sizeof j->id);
	j->key = xmalloc(4096);
	if (name_key(bc->node->parent, bc->node->name, j->key, 4096) != 0) {
		job_free(j);
		return;
	}
	j->capacity = bc->chan->capacity;
	j->delivery = bc->delivery;
	job_queue(j);
}

/* ---- Settings: asked of the cluster before they change here. ---- */

static void
bset_interrupted(fuse_req_t req, void *arg)
{
	struct bset	*s = arg;

	if (s->interrupted)
		return;
	s->interrupted = 1;
	fuse_reply_err(req, EINTR);
}

/*
 * A change of a bridged channel's capacity, framing or delivery: JetStream
 * drops the oldest messages of a stream whose limit goes below what it
 * holds, and a new delivery needs a new stream, so first ask the stream
 * what it holds (JOB_CHECK).  Returns 1 if it answers req later, 0 if n
 * is not bridged (the caller changes it as a local channel).
 */
int
bridge_setting(struct node *n, void *req, int which, uint64_t value)
{
	struct bchan	*bc;
	struct job	*j;

	if (br.efd == -1 || n->chan == NULL || (bc = n->chan->link) == NULL ||
	    (bc->state != BC_READY && bc->state != BC_MAKING))
		return (0);
	if (bc->set != NULL) {
		fuse_reply_err(req, EBUSY);
		return (1);
	}
	bc->set = xcalloc(1, sizeof *bc->set);
	bc->set->req = req;
	bc->set->since = now_ms();
	bc->set->ino = n->ino;
	bc->set->which = which;
	bc->set->value = value;
	j = job_new(JOB_CHECK);
	j->num = bc->num;
	strlcpy(j->id, bc->id, sizeof j->id);
	job_queue(j);
	fuse_req_interrupt_func(req, bset_interrupted, bc->set);
	return (1);
}

/* What the stream holds came back: change the setting, or refuse it. */
void
bridge_set_done(struct bchan *bc, struct job *cj)
{
	struct bset	*s = bc->set;
	struct chan	*c = bc->chan;
	struct node	*n;
	struct job	*j;
	char		 key[4096];
	int		 error = 0, framing, delivery;

	if (s == NULL)
		return;
	bc->set = NULL;
	if (s->interrupted || c == NULL || bc->state != BC_READY ||
	    (n = node_get(s->ino)) == NULL || n->chan != c) {
		if (!s->interrupted)
			fuse_reply_err(s->req, EBUSY);
		free(s);
		return;
	}
	fuse_req_interrupt_func(s->req, NULL, NULL);
	framing = c->framing;
	delivery = c->delivery;
	if (!cj->ok)
		error = EIO;
	else if (s->which == BRIDGE_CAPACITY) {
		/* What the stream holds must fit, as a ring's must. */
		if ((uint64_t)stream_limit((size_t)s->value, bc->id) <
		    cj->bytes)
			error = EBUSY;
		else if ((error = chan_set_capacity(c, (size_t)s->value)) == 0)
			n->capacity = (size_t)s->value;
	} else {
		if (s->which == BRIDGE_FRAMING)
			framing = (int)s->value;
		else
			delivery = (int)s->value;
		if ((framing != c->framing || delivery != c->delivery) &&
		    cj->msgs > 0)
			error = EBUSY;
		else
			error = chan_set_mode(c, framing, delivery);
	}
	if (error == 0 && name_key(n->parent, n->name, key, sizeof key) == 0) {
		j = job_new(JOB_UPDATE);
		j->num = bc->num;
		strlcpy(j->id, bc->id, sizeof j->id);
		j->capacity = c->capacity;
		j->delivery = c->delivery;
		j->replace = bc->delivery != c->delivery;
		j->key = xstrdup(key);
		j->value = chan_value(bc->id, n);
		/* Until the bucket has it, older values of the key are old. */
		names_expect(j);
		if (j->replace) {
			bchan_reset_stream(bc);
			bchan_opens_done(bc, 0);
		}
		bc->delivery = c->delivery;
		job_queue(j);
	}
	fs_setting_reply(s->req, n, error);
	free(s);
	bchan_dirty(bc);
}

/* ---- The loop's side. ---- */

/* Move bc along: send, fetch, acknowledge as its state asks. */
static void
bchan_run(struct bchan *bc)
{
	struct chan	*c = bc->chan;
	struct job	*j;

	switch (bc->state) {
	case BC_GONE:
		if (bc->consumer == CONS_MADE || bc->consumer == CONS_MAKING) {
			j = job_new(JOB_UNCONSUMER);
			strlcpy(j->id, bc->id, sizeof j->id);
			j->name = xstrdup(br.host);
			job_queue(j);
		}
		bchan_free(bc);
		return;
	case BC_DEAD:
		/* Its stream is gone: what is open here goes on locally. */
		if (c != NULL) {
			/* What is in its buffer is lost: fsync says EIO. */
			send_free(bc, EIO);
			bc->chan = NULL;
			bc->node = NULL;
			c->link = NULL;
			chan_link_detach(c);
		}
		bchan_free(bc);
		return;
	case BC_MAKING:
		return;
	case BC_READY:
		break;
	}
	if (c->readers != bc->told_readers ||
	    bchan_writers(bc) != bc->told_writers)
		br.presence_dirty = 1;
	if (bchan_writers(bc) + bc->rwriters > 0)
		c->rdrained = 0;
	send_run(bc, c);
	if (!br.connected)
		return;
	if (c->delivery != bc->delivery)
		return;		/* its stream is being made again */
	if (c->delivery == CHAN_QUEUE)
		recv_queue(bc, c);
	else
		recv_broadcast(bc, c, now_ms());
	recv_drain_check(bc, c);
}

static void
on_job(struct job *j)
{
	struct bchan	*bc;

	if (j->type == JOB_SETUP) {
		if (j->ok) {
			pthread_mutex_lock(&br.mtx);
			br.setup = 1;
			pthread_mutex_unlock(&br.mtx);
			br.presence_dirty = 1;
		}
		job_free(j);
		return;
	}
	if (j->type == JOB_PRESENCE) {
		br.presence_out = 0;
		RB_FOREACH(bc, bchan_nums, &br.nums) {
			if (j->ok && bc->known_writers != bc->sent_writers) {
				bc->known_writers = bc->sent_writers;
				bchan_dirty(bc);
			}
		}
		job_free(j);
		return;
	}
	if (j->type == JOB_MARK) {
		names_mark_done(j);	/* it keeps j */
		return;
	}
	names_expect_done(j);
	if (j->type == JOB_PUT || j->type == JOB_CREATE ||
	    j->type == JOB_MOVE || j->type == JOB_DELETE ||
	    j->type == JOB_ATTRS)
		names_job_done(j);
	if (j->num == 0 || (bc = bchan_by_num(j->num)) == NULL) {
		job_free(j);
		return;
	}
	switch (j->type) {
	case JOB_CREATE:
		if (bc->state != BC_MAKING)
			break;
		if (j->adopt[0] != '\0')
			bchan_set_id(bc, j->adopt);
		if (j->ok && bc->id[0] != '\0') {
			bc->state = BC_READY;
			/* A chmod while it was being made goes now. */
			if (bc->reput && bc->node != NULL)
				bridge_changed(bc->node);
			bc->reput = 0;
		}
		else {
			log_warnx("bridge: %s: no stream; the channel stays "
			    "local", j->key);
			bchan_kill(bc);
		}
		br.presence_dirty = 1;
		break;
	case JOB_CHECK:
		bridge_set_done(bc, j);
		break;
	case JOB_UPDATE:
		break;
	case JOB_CONSUMER:
		if (bc->consumer == CONS_MAKING)
			bc->consumer = j->ok ? CONS_MADE : CONS_NONE;
		bchan_opens_done(bc, j->ok ? 0 : EIO);
		break;
	case JOB_UNCONSUMER:
		if (bc->consumer == CONS_DROPPING)
			bc->consumer = CONS_NONE;
		break;
	case JOB_PURGE:
		bc->purging = 0;
		announce_freed(bc);
		break;
	case JOB_DRAINED:
		recv_drained(bc, j->ok);
		break;
	default:
		break;
	}
	bchan_dirty(bc);
	job_free(j);
}

#define SET_WAIT_MS	3000
#define CHECK_MS	10000	/* the check before mounting, at most */

/* The clock: resend what got no answer, drop silent hosts. */
static void
on_tick(void)
{
	struct bchan	*bc;
	uint64_t	 now = now_ms();

	RB_FOREACH(bc, bchan_nums, &br.nums) {
		/*
		 * A setting waits at most SET_WAIT_MS for the cluster: the
		 * kernel holds the channel's lock meanwhile, and anyone
		 * else's call on it waits unkillably.
		 */
		if (bc->set != NULL && !bc->set->interrupted &&
		    now - bc->set->since > SET_WAIT_MS) {
			bc->set->interrupted = 1;
			fuse_req_interrupt_func(bc->set->req, NULL, NULL);
			fuse_reply_err(bc->set->req, ETIMEDOUT);
		}
		if (bc->state != BC_READY)
			continue;
		send_tick(bc, now);
		recv_tick(bc, now);
	}
	presence_tick(now);
	names_tick(now);
}

static void
on_conn(int up)
{
	struct bchan	*bc;

	br.connected = up;
	log_info("bridge: %s", up ? "connected" : "disconnected");
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (up) {
			send_reconnected(bc);
			recv_reconnected(bc);
		} else
			send_disconnected(bc);
		bchan_dirty(bc);
	}
	if (up)
		br.presence_dirty = 1;
}

/* Take the events other threads queued, then move the channels along. */
void
bridge_dispatch(void)
{
	struct bevs	 evs;
	struct bev	*ev;
	uint64_t	 v;

	if (br.efd == -1)
		return;
	if (read(br.efd, &v, sizeof v) == -1 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	TAILQ_INIT(&evs);
	pthread_mutex_lock(&br.mtx);
	TAILQ_CONCAT(&evs, &br.events, entry);
	br.nevents = 0;
	pthread_cond_broadcast(&br.room);
	pthread_mutex_unlock(&br.mtx);
	while ((ev = TAILQ_FIRST(&evs)) != NULL) {
		TAILQ_REMOVE(&evs, ev, entry);
		switch (ev->type) {
		case EV_MSG:
			recv_event(ev->msg);
			break;
		case EV_JOB:
			on_job(ev->job);
			ev->job = NULL;
			break;
		case EV_NAME:
			names_on_event(ev->key, ev->value, ev->rev);
			break;
		case EV_HOST:
			presence_on_host(ev->key, ev->value);
			break;
		case EV_CONN:
			on_conn(ev->flag);
			break;
		case EV_SLOW:
			/*
			 * libnats dropped messages for us: answers and
			 * fetched messages may be lost, so ask again as after
			 * a reconnection.  Nothing is lost for good: pieces
			 * are sent again, messages come back.
			 */
			log_warnx("bridge: too slow for the server's "
			    "messages; asking again");
			on_conn(br.connected);
			break;
		case EV_TICK:
			on_tick();
			break;
		}
		bev_free(ev);
	}
	bridge_flush();
}

/*
 * Move along every channel whose state changed, each once: one that
 * changes again while it runs waits for the next event or tick.
 */
void
bridge_flush(void)
{
	LIST_HEAD(, bchan)	 now;
	struct bchan		*bc;

	if (br.efd == -1)
		return;
	LIST_INIT(&now);
	while ((bc = LIST_FIRST(&br.dirty)) != NULL) {
		LIST_REMOVE(bc, dentry);
		LIST_INSERT_HEAD(&now, bc, dentry);
	}
	while ((bc = LIST_FIRST(&now)) != NULL) {
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

	if (bc == NULL || bc->state != BC_READY ||
	    c->delivery != CHAN_BROADCAST || !(h->mode & CHAN_RD) ||
	    bc->consumer == CONS_MADE)
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
	    "remote_readers %u\nremote_writers %u\n"
	    "unstored_bytes %zu\nstream_full %d\n", br.o.nats_name, bc->id,
	    bc->rreaders, bc->rwriters, bc->pbytes, bc->full));
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

/*
 * The prefix of every reply subject of this host (its own inbox, and
 * libnats's for JetStream and the buckets), under the namespace, so
 * that a server's permissions can name it (docs/bridge.md).
 */
static void
bridge_inbox_prefix(char *buf, size_t len, const struct opts *o)
{
	snprintf(buf, len, "_ipcfs.%s.inbox", o->nats_name);
}

/*
 * The options of a connection to servers (a comma-separated list).  A
 * real one (not a probe of one server) has the callbacks; with retry,
 * connecting waits for a server that cannot be reached yet.  Returns 0,
 * or -1 after one line.
 */
static int
bridge_options(natsOptions **nop, const struct opts *o, const char *servers,
    int real, int retry)
{
	natsOptions	*no = NULL;
	natsStatus	 st;
	char		 prefix[64];

	bridge_inbox_prefix(prefix, sizeof prefix, o);
	if ((st = natsOptions_Create(&no)) != NATS_OK ||
	    (st = bridge_servers(no, servers)) != NATS_OK ||
	    (st = natsOptions_SetName(no, br.host)) != NATS_OK ||
	    (st = natsOptions_SetCustomInboxPrefix(no, prefix)) != NATS_OK ||
	    (st = natsOptions_SetMaxReconnect(no, -1)) != NATS_OK ||
	    (st = natsOptions_SetCustomReconnectDelay(no, auth_delay_cb,
	    NULL)) != NATS_OK ||
	    (st = natsOptions_SetTimeout(no, 2000)) != NATS_OK ||
	    (st = natsOptions_SetPingInterval(no, 1000)) != NATS_OK ||
	    (st = natsOptions_SetMaxPingsOut(no, 2)) != NATS_OK ||
	    (st = natsOptions_SetSendAsap(no, true)) != NATS_OK)
		goto fail;
	if (real && ((st = natsOptions_SetDisconnectedCB(no, on_conn_cb,
	    (void *)(intptr_t)0)) != NATS_OK ||
	    (st = natsOptions_SetReconnectedCB(no, on_conn_cb,
	    (void *)(intptr_t)1)) != NATS_OK ||
	    (st = natsOptions_SetClosedCB(no, auth_closed_cb, NULL)) !=
	    NATS_OK ||
	    (st = natsOptions_SetErrorHandler(no, auth_on_error, NULL)) !=
	    NATS_OK))
		goto fail;
	if (retry && (st = natsOptions_SetRetryOnFailedConnect(no, true,
	    on_conn_cb, (void *)(intptr_t)1)) != NATS_OK)
		goto fail;
	if (auth_options(no, o, servers) != 0) {
		natsOptions_Destroy(no);
		return (-1);
	}
	*nop = no;
	return (0);
fail:
	log_warnx("bridge: %s", natsStatus_GetText(st));
	natsOptions_Destroy(no);
	return (-1);
}

/*
 * Connect to o's servers, into br.nc, or with probe only find out
 * whether they would let this host in.  A server that refuses the login
 * or the TLS handshake is told in one line and ends it (-1); one that
 * cannot be reached is waited for (libnats tries on in the background).
 * The servers are first tried once each, all together and, if one
 * answered and refused, one by one, to find which, since libnats says
 * only what the last one it tried said.
 */
static int
bridge_connect(const struct opts *o, int probe)
{
	natsOptions	*no = NULL;
	natsConnection	*nc = NULL;
	natsStatus	 st;
	char		*list, *p, *url, why[256], tls[128], shown[1024];
	const char	*text;
	int		 refused = 0;

	if (bridge_options(&no, o, o->nats, !probe, 0) != 0)
		return (-1);
	st = natsConnection_Connect(&nc, no);
	natsOptions_Destroy(no);
	if (st == NATS_OK && !probe) {
		br.nc = nc;
		br.connected = 1;
		return (0);
	}
	if (st == NATS_OK) {
		natsConnection_Destroy(nc);
		return (0);
	}
	/*
	 * One answered and refused: ask each alone, to name it.  (When none
	 * could be reached, that took a round of timeouts already.)
	 */
	list = p = xstrdup(o->nats);
	while (auth_refused(st) && !refused &&
	    (url = strsep(&p, ",")) != NULL) {
		if (*url == '\0')
			continue;
		if (bridge_options(&no, o, url, 0, 0) != 0) {
			refused = 1;
			break;
		}
		nc = NULL;
		auth_tls_error(tls, sizeof tls);	/* forget older ones */
		st = natsConnection_Connect(&nc, no);
		text = nats_GetLastError(NULL);
		strlcpy(why, text != NULL ? text : "", sizeof why);
		/* A TLS alert is the better reason, if there was one. */
		auth_tls_error(tls, sizeof tls);
		if (st != NATS_OK && st != NATS_SSL_ERROR && tls[0] != '\0') {
			strlcpy(why, tls, sizeof why);
			st = NATS_SSL_ERROR;
		}
		natsOptions_Destroy(no);
		if (st == NATS_OK)
			natsConnection_Destroy(nc);
		else if (auth_refused(st)) {
			auth_report(url, st, why);
			refused = 1;
		}
	}
	free(list);
	if (refused)
		return (-1);
	if (probe)
		return (0);
	if (bridge_options(&no, o, o->nats, 1, 1) != 0)
		return (-1);
	st = natsConnection_Connect(&br.nc, no);
	natsOptions_Destroy(no);
	opts_redact(shown, sizeof shown, o->nats);
	if (st == NATS_OK)
		br.connected = 1;
	else if (st == NATS_NOT_YET_CONNECTED)
		log_warnx("bridge: %s: not there yet; trying on", shown);
	else {
		log_warnx("bridge: connecting to %s: %s", shown,
		    natsStatus_GetText(st));
		return (-1);
	}
	return (0);
}

/* The daemon's host id: -o nats_host, or the host's name and the pid. */
static void
bridge_host(const struct opts *o)
{
	char	 host[256];
	size_t	 n;

	if (o->nats_host[0] != '\0') {
		strlcpy(br.host, o->nats_host, sizeof br.host);
		return;
	}
	if (gethostname(host, sizeof host) != 0)
		strlcpy(host, "host", sizeof host);
	host[sizeof host - 1] = '\0';
	/* A key's bytes: a dot in a host name becomes '_'. */
	for (n = 0; host[n] != '\0'; n++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", host[n]) == NULL)
			host[n] = '_';
	host[40] = '\0';
	snprintf(br.host, sizeof br.host, "%.40s-%ld", host, (long)getpid());
}

/* Connect to the servers and start the threads.  Returns 0 or -1. */
int
bridge_start(struct chan_pool *pool, const struct opts *o)
{
	natsInbox	*inbox = NULL;
	natsStatus	 st;
	char		 sub[128], prefix[64], shown[1024];
	const char	*nuid;
	struct job	*j;

	if (o->nats[0] == '\0')
		return (0);
	br.pool = pool;
	br.o = *o;
	bridge_host(o);
	pthread_mutex_init(&br.mtx, NULL);
	pthread_cond_init(&br.cond, NULL);
	pthread_cond_init(&br.room, NULL);
	TAILQ_INIT(&br.events);
	TAILQ_INIT(&br.jobs);
	TAILQ_INIT(&br.pjobs);
	RB_INIT(&br.nums);
	RB_INIT(&br.ids);
	RB_INIT(&br.names);
	RB_INIT(&br.name_ids);
	RB_INIT(&br.expects);
	LIST_INIT(&br.marks);
	LIST_INIT(&br.dirty);
	LIST_INIT(&br.hosts);
	br.key_max = CONTROL_LINE - CONTROL_SLACK - strlen(o->nats_name) -
	    sizeof "$KV._names.";
	if ((br.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("bridge: eventfd");
		return (-1);
	}
	if ((st = nats_Open(-1)) != NATS_OK) {
		log_warnx("bridge: %s", natsStatus_GetText(st));
		return (-1);
	}
	if (bridge_connect(o, 0) != 0)
		return (-1);
	/*
	 * This host's inbox is the prefix and a NUID, which natsInbox_Create
	 * makes after its own prefix.
	 */
	if ((st = natsConnection_JetStream(&br.js, br.nc, NULL)) != NATS_OK ||
	    (st = natsInbox_Create(&inbox)) != NATS_OK) {
		log_warnx("bridge: %s", natsStatus_GetText(st));
		return (-1);
	}
	bridge_inbox_prefix(prefix, sizeof prefix, o);
	nuid = strrchr(inbox, '.') != NULL ? strrchr(inbox, '.') + 1 : inbox;
	snprintf(br.inbox, sizeof br.inbox, "%s.%s", prefix, nuid);
	br.nuid = strrchr(br.inbox, '.') + 1;
	natsInbox_Destroy(inbox);
	snprintf(br.freed, sizeof br.freed, "_ipcfs.%s.freed",
	    br.o.nats_name);
	snprintf(sub, sizeof sub, "%s.>", br.inbox);
	/*
	 * libnats's default limits bound what waits for the loop (65536
	 * messages, 64 MiB a subscription); past them it drops, says so
	 * (on_error), and the bridge asks again.
	 */
	if ((st = natsConnection_Subscribe(&br.sub, br.nc, sub, on_msg,
	    NULL)) != NATS_OK ||
	    (st = natsConnection_Subscribe(&br.fsub, br.nc, br.freed, on_msg,
	    NULL)) != NATS_OK ||
	    (st = natsSubscription_SetPendingLimits(br.fsub, 1024,
	    1024 * 64)) != NATS_OK) {
		log_warnx("bridge: subscribe: %s", natsStatus_GetText(st));
		return (-1);
	}
	if (pthread_create(&br.worker, NULL, worker_main, &br.jobs) != 0 ||
	    pthread_create(&br.pworker, NULL, worker_main, &br.pjobs) != 0 ||
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
	    opts_redact(shown, sizeof shown, o->nats), o->nats_name);
	return (bridge_paths(o));
}

/*
 * Before anything is mounted: check the files the options name, and, for
 * a daemon that goes to the background, whether the servers let this
 * host in.  Past fuse_daemonize the exit status is gone (the parent has
 * exited 0), so a refused login is found out here, by a child (libnats's
 * threads must not be there when the daemon forks) that tries each
 * server once.  A server that cannot be reached is the daemon's to wait
 * for.  Returns 0, or -1 after one line.
 */
int
bridge_check(struct opts *o)
{
	char	 shown[1024];
	uint64_t deadline;
	pid_t	 pid, r;
	int	 status;

	if (o->nats[0] == '\0')
		return (0);
	if (auth_check(o) != 0)
		return (-1);
	fflush(stderr);
	switch ((pid = fork())) {
	case -1:
		log_warn("bridge: fork");
		return (-1);
	case 0:
		bridge_host(o);
		_exit(nats_Open(-1) == NATS_OK && bridge_connect(o, 1) == 0 ?
		    0 : 1);
	}
	/*
	 * libnats's TLS handshake has no time limit: a server that asks for
	 * TLS and then says nothing would hold the check, and the daemon's
	 * own connect after it, for ever.
	 */
	deadline = now_ms() + CHECK_MS;
	while ((r = waitpid(pid, &status, WNOHANG)) != pid) {
		if (r == -1 && errno != EINTR) {
			log_warn("bridge: waitpid");
			return (-1);
		}
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				;
			log_warnx("bridge: %s: no answer within %d s (a TLS "
			    "handshake the server never finished?); not "
			    "mounting", opts_redact(shown, sizeof shown,
			    o->nats), CHECK_MS / 1000);
			return (-1);
		}
		usleep(20000);
	}
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

/* Stop the threads, say this host is gone, and close the connection. */
void
bridge_stop(void)
{
	struct bev	*ev;
	struct job	*j;
	struct bchan	*bc;

	if (br.efd == -1)
		return;
	/* From here, the connection's closing is no news (auth_closed_cb). */
	pthread_mutex_lock(&br.mtx);
	br.stopping = 1;
	pthread_cond_broadcast(&br.cond);
	pthread_cond_broadcast(&br.room);
	pthread_mutex_unlock(&br.mtx);
	if (br.threads) {
		pthread_join(br.worker, NULL);
		pthread_join(br.pworker, NULL);
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
		bev_free(ev);
	}
	pthread_mutex_unlock(&br.mtx);
	nats_CloseAndWait(2000);
	while ((j = TAILQ_FIRST(&br.jobs)) != NULL) {
		TAILQ_REMOVE(&br.jobs, j, entry);
		job_free(j);
	}
	while ((j = TAILQ_FIRST(&br.pjobs)) != NULL) {
		TAILQ_REMOVE(&br.pjobs, j, entry);
		job_free(j);
	}
	names_free();
	presence_free();
	while ((bc = RB_ROOT(&br.nums)) != NULL) {
		if (bc->chan != NULL)
			bc->chan->link = NULL;
		send_free(bc, 0);
		bchan_free(bc);
	}
	close(br.efd);
	br.efd = -1;
	br.pool->link = NULL;
}
