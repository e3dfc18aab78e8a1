/*
 * Reading a bridged channel: messages fetched from its stream, checked,
 * acknowledged and handed to the ring.
 *
 * - A queue's hosts share one pull consumer, "q".  A host asks for a
 *   message only while a reader of its own waits (and has room in
 *   max_memory for it), acknowledges it with a reply, and puts it in the
 *   ring only once JetStream has confirmed the acknowledgement in time,
 *   so a message is handed to one reader once (bridge.h draws the states
 *   of a message).
 * - A broadcast's hosts have a consumer each, "h_HOST", made when the
 *   first reader opens; a host acknowledges (AckAll) what every reader of
 *   its own has read, and what every host has is purged.
 * - End of file: with no writer left anywhere, the consumer says whether
 *   it has anything left (JOB_DRAINED).
 *
 * Everything a fetched message says is checked: the stream and consumer
 * its acknowledgement names, its pad, its size.  A message that can never
 * be read (it is larger than the channel, or not padded as a host pads)
 * is terminated, never retried; one that does not fit now waits.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "bridge.h"

/*
 * How to ask: FETCH_WAIT waits on the server for a message, FETCH_NOW
 * asks whether there is one, and FETCH_LAST waits a little, for when data
 * came from a writer the hosts' bucket had not shown yet.  The last two,
 * with no writer left, say whether that was all.
 */
#define FETCH_WAIT	0
#define FETCH_NOW	1
#define FETCH_LAST	2
#define FETCH_LAST_MS	250

static void
consumer_name(struct bchan *bc, char *buf, size_t len)
{
	if (bc->delivery == CHAN_QUEUE)
		strlcpy(buf, "q", len);
	else
		snprintf(buf, len, "h_%s", br.host);
}

/* Whether max_memory has room for one more message of bc's. */
static int
recv_room(struct bchan *bc, struct chan *c)
{
	return (budget_left(&br.pool->budget) >= c->capacity);
}

static void
send_fetch(struct bchan *bc, int mode)
{
	char	 subj[192], reply[128], body[96], name[64], cons[80];

	stream_name(name, sizeof name, bc->id);
	consumer_name(bc, cons, sizeof cons);
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", name,
	    cons);
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
	natsConnection_PublishRequestString(br.nc, subj, reply, body);
}

/* Acknowledge m: with confirm, asking for an answer. */
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
	bc->aresend = 0;
	m->state = BM_ACKING;
	natsConnection_PublishRequestString(br.nc, m->reply, reply, "+ACK");
}

/* Tell the hosts a reader let go of data: a full stream has room. */
void
announce_freed(struct bchan *bc)
{
	natsConnection_PublishString(br.nc, br.freed, bc->id);
}

/* A message that can never be read here: it goes, never to come back. */
static void
recv_refuse(struct bchan *bc, const char *reply, const char *why)
{
	bridge_bad("a message of stream %s: %s", bc->id, why);
	if (reply != NULL)
		natsConnection_PublishString(br.nc, reply, "+TERM");
}

/*
 * Whether reply is an acknowledgement subject of bc's stream and of the
 * consumer this host reads it through.
 */
static int
recv_reply_ok(struct bchan *bc, const char *reply)
{
	char	 want[192], name[64], cons[80];

	stream_name(name, sizeof name, bc->id);
	consumer_name(bc, cons, sizeof cons);
	snprintf(want, sizeof want, ".%s.%s.", name, cons);
	return (wire_ack_sseq(reply) != 0 && strstr(reply, want) != NULL);
}

/* A message of stream id, for this host. */
static void
recv_data(const char *id, natsMsg *nm)
{
	struct bchan		*bc;
	struct chan		*c;
	struct bmsg		*m;
	const char		*reply = natsMsg_GetReply(nm);
	const unsigned char	*data;
	uint64_t		 sseq;
	ssize_t			 at;
	size_t			 len;

	if (!wire_id_ok(id, strlen(id)) || (bc = bchan_by_id(id)) == NULL ||
	    bc->state != BC_READY || (c = bc->chan) == NULL)
		return;
	if (reply == NULL || !recv_reply_ok(bc, reply)) {
		bridge_bad("a message for stream %s not from its consumer", id);
		return;
	}
	sseq = wire_ack_sseq(reply);
	/*
	 * A broadcast's host acknowledges without waiting for an answer:
	 * one that got lost brings messages it has again.
	 */
	if (bc->delivery == CHAN_BROADCAST && sseq <= bc->bseq) {
		natsConnection_PublishString(br.nc, reply, "+ACK");
		bc->fsent = 0;
		bchan_dirty(bc);
		return;
	}
	data = (const unsigned char *)natsMsg_GetData(nm);
	len = (size_t)natsMsg_GetDataLength(nm);
	if ((at = wire_unpad(data, len)) == -1) {
		recv_refuse(bc, reply, "not padded as a host pads");
		bc->fsent = 0;
		bchan_dirty(bc);
		return;
	}
	data += at;
	len -= (size_t)at;
	if (c->framing == CHAN_MESSAGES && len > c->capacity) {
		recv_refuse(bc, reply, "larger than the channel");
		bc->fsent = 0;
		bchan_dirty(bc);
		return;
	}
	if (bc->delivery == CHAN_BROADCAST)
		bc->bseq = sseq;
	m = xcalloc(1, sizeof *m);
	m->state = BM_FETCHED;
	m->reply = xstrdup(reply);
	m->sseq = sseq;
	m->got = now_ms();
	m->len = len;
	m->data = xmalloc(len > 0 ? len : 1);
	memcpy(m->data, data, len);
	m->charged = len;
	br.pool->budget.link_used += len;
	TAILQ_INSERT_TAIL(&bc->pending, m, entry);
	bc->fsent = 0;
	c->rdrained = 0;
	/* From a writer the hosts' bucket has not shown: give it time. */
	if (bc->rwriters == 0)
		bc->unseen = 1;
	bchan_dirty(bc);
}

static void
recv_drain_job(struct bchan *bc)
{
	struct job	*j = job_new(JOB_DRAINED);
	char		 cons[80];

	j->num = bc->num;
	strlcpy(j->id, bc->id, sizeof j->id);
	consumer_name(bc, cons, sizeof cons);
	j->name = xstrdup(cons);
	bc->draining = 1;
	job_queue(j);
}

/* Whether nothing here and no writer anywhere could bring more. */
static int
recv_idle_end(struct bchan *bc, struct chan *c)
{
	return (bchan_writers(bc) == 0 && bc->rwriters == 0 &&
	    TAILQ_EMPTY(&bc->pending) && !c->rdrained && !bc->draining);
}

/* The answer to a pull request that brought no message. */
static void
recv_fetch_status(struct bchan *bc, uint64_t seq, const char *status)
{
	struct chan	*c = bc->chan;

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
	if (strcmp(status, "404") == 0 || strcmp(status, "408") == 0) {
		if (bc->fnowriters && recv_idle_end(bc, c))
			recv_drain_job(bc);
	} else {
		/* 409 and others: the consumer is not there (yet). */
		bc->fsent = now_ms() - BRIDGE_FETCH_MS - 1000 + 100;
		if (strcmp(status, "503") == 0)
			bchan_restream(bc);
	}
	bchan_dirty(bc);
}

/*
 * With no writer left anywhere and a pull request still waiting on the
 * server, ask the consumer now whether that was all, rather than when
 * the request expires: end of file comes a round trip after the last
 * writer's close is known.
 */
void
recv_drain_check(struct bchan *bc, struct chan *c)
{
	if (bc->fsent != 0 && !bc->fnowriters && !bc->unseen &&
	    c->readers > 0 && recv_idle_end(bc, c) &&
	    now_ms() >= bc->drain_next)
		recv_drain_job(bc);
}

/* The consumer said whether it has anything left. */
void
recv_drained(struct bchan *bc, int ok)
{
	bc->draining = 0;
	bc->drain_next = now_ms() + FETCH_LAST_MS;
	if (ok && bc->chan != NULL && recv_idle_end(bc, bc->chan)) {
		bc->unseen = 0;
		chan_link_counts(bc->chan, bc->rreaders, bc->rwriters, 1);
	}
}

/*
 * Put m (acknowledged) in the ring, as much as fits.  Returns 1 if all of
 * it went.  What does not fit waits for a reader or for memory: nothing
 * here asks to run again.
 */
static int
recv_push(struct bchan *bc, struct chan *c, struct bmsg *m)
{
	size_t	 n;

	if (c->framing == CHAN_MESSAGES && m->len > c->capacity) {
		/* The channel shrank here under it: it can never go in. */
		log_warnx("bridge: %s: a message of %zu bytes is larger than "
		    "the channel here; it is lost", bc->id, m->len);
		TAILQ_REMOVE(&bc->pending, m, entry);
		bmsg_free(bc, m);
		return (1);
	}
	/* Its bytes move from the bridge's count to the ring's. */
	br.pool->budget.link_used -= m->charged;
	m->charged = 0;
	n = chan_link_push(c, m->data, m->len);
	m->charged = m->len - n;
	br.pool->budget.link_used += m->charged;
	if (n == 0)
		return (0);
	announce_freed(bc);
	if (n < m->len) {
		memmove(m->data, m->data + n, m->len - n);
		m->len -= n;
		return (0);
	}
	TAILQ_REMOVE(&bc->pending, m, entry);
	bmsg_free(bc, m);
	return (1);
}

/* The server confirmed a queue message's acknowledgement: hand it over. */
void
recv_acked(struct bchan *bc, uint64_t seq)
{
	struct bmsg	*m;

	if (seq != bc->aseq || bc->asent == 0)
		return;
	bc->asent = 0;
	if ((m = TAILQ_FIRST(&bc->pending)) == NULL || m->state != BM_ACKING)
		return;
	/*
	 * The server gives a message to another host only once its wait for
	 * the acknowledgement has passed since it sent it; the message came
	 * here at most BRIDGE_TRANSIT_MS after that, and the server had taken
	 * this host's acknowledgement before its confirmation came back.  So
	 * a confirmation within BRIDGE_ACKWAIT_MS - BRIDGE_TRANSIT_MS of the
	 * message is this host's to hand over; a later one may answer an
	 * acknowledgement sent again after the message went elsewhere (the
	 * server confirms any), and the message is not handed over.
	 */
	if (now_ms() - m->got > BRIDGE_ACKWAIT_MS - BRIDGE_TRANSIT_MS) {
		log_warnx("bridge: %s: message %" PRIu64 " acknowledged too "
		    "late; it may have gone to another host", bc->id, m->sseq);
		TAILQ_REMOVE(&bc->pending, m, entry);
		bmsg_free(bc, m);
		return;
	}
	m->state = BM_ACKED;
	if (bc->chan != NULL)
		recv_push(bc, bc->chan, m);
}

/*
 * How to ask: with a writer anywhere, wait on the server; with none, ask
 * once whether that was all, and then wait for a writer still to come.
 */
static int
fetch_mode(struct bchan *bc, struct chan *c)
{
	if (bchan_writers(bc) + bc->rwriters > 0) {
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

void
recv_queue(struct bchan *bc, struct chan *c)
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
	    m->state == BM_FETCHED &&
	    ((bc->idle != 0 && now - bc->idle > BRIDGE_IDLE_MS) ||
	    now - m->got > BRIDGE_ACKWAIT_MS / 2)) {
		if (now - m->got <= BRIDGE_ACKWAIT_MS / 2)
			natsConnection_PublishString(br.nc, m->reply, "-NAK");
		TAILQ_REMOVE(&bc->pending, m, entry);
		bmsg_free(bc, m);
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
	if (bc->fsent == 0 && npending < 2 && recv_room(bc, c))
		send_fetch(bc, fetch_mode(bc, c));
	if (c->ring.len > 0 || (m = TAILQ_FIRST(&bc->pending)) == NULL)
		return;
	if (m->state == BM_ACKED)
		recv_push(bc, c, m);
	else if (m->state == BM_FETCHED && bc->asent == 0)
		send_ack(bc, m, 1);
}

void
recv_broadcast(struct bchan *bc, struct chan *c, uint64_t now)
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
		bmsgs_free(bc, &bc->pending);
		bmsgs_free(bc, &bc->pushed);
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
		if (chan_link_room(c) < m->len)
			break;
		br.pool->budget.link_used -= m->charged;
		if (chan_link_push(c, m->data, m->len) < m->len) {
			br.pool->budget.link_used += m->charged;
			break;
		}
		m->charged = 0;
		TAILQ_REMOVE(&bc->pending, m, entry);
		free(m->data);
		m->data = NULL;
		m->end = c->head.pos + c->ring.len;
		TAILQ_INSERT_TAIL(&bc->pushed, m, entry);
	}
	/* Acknowledge what every reader here has read, all at once. */
	while ((m = TAILQ_FIRST(&bc->pushed)) != NULL && m->end <= c->head.pos) {
		TAILQ_REMOVE(&bc->pushed, m, entry);
		if (last != NULL)
			bmsg_free(bc, last);
		last = m;
	}
	if (last != NULL) {
		send_ack(bc, last, 0);
		bmsg_free(bc, last);
		if (bc->purge_at == 0)
			bc->purge_at = now + 20;
	}
	if (TAILQ_EMPTY(&bc->pending) && bc->fsent == 0 && c->readers > 0 &&
	    chan_link_room(c) > 0 && recv_room(bc, c))
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

/* The clock: requests and acknowledgements that got no answer. */
void
recv_tick(struct bchan *bc, uint64_t now)
{
	struct bmsg	*m;

	if (bc->fsent != 0 && now - bc->fsent > BRIDGE_FETCH_MS + 1000) {
		bc->fsent = 0;
		bchan_dirty(bc);
	}
	if (bc->asent != 0 && br.connected &&
	    (bc->aresend || now - bc->asent > BRIDGE_RESEND_MS) &&
	    (m = TAILQ_FIRST(&bc->pending)) != NULL &&
	    m->state == BM_ACKING)
		send_ack(bc, m, 1);
	if (bc->purge_at != 0 && now >= bc->purge_at)
		bchan_dirty(bc);
	/*
	 * What waits for room or memory, or to go back, is looked at, and so
	 * is a reader that waits with no request out (memory was short).
	 */
	if (!TAILQ_EMPTY(&bc->pending) || (bc->fsent == 0 &&
	    bc->chan != NULL && chan_link_demand(bc->chan) != 0))
		bchan_dirty(bc);
	/* The consumer had something left: ask again, a moment later. */
	if (br.connected && bc->chan != NULL)
		recv_drain_check(bc, bc->chan);
}

/* Connected again: pull requests may be lost; ask again. */
void
recv_reconnected(struct bchan *bc)
{
	bc->fsent = 0;
	if (bc->asent != 0)
		bc->aresend = 1;
}

/* Parse "K.NUM.SEQ", or "K.NUM.SEQ.TRY", after this host's inbox. */
static int
inbox_parse(const char *p, char *kind, uint64_t *num, uint64_t *seq,
    unsigned *tries)
{
	char			*end;
	unsigned long long	 t;

	if (p[0] == '\0' || p[1] != '.' || p[2] < '0' || p[2] > '9')
		return (-1);
	*kind = p[0];
	*num = strtoull(p + 2, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return (-1);
	*seq = strtoull(end + 1, &end, 10);
	*tries = 0;
	if (*end == '.' && end[1] >= '0' && end[1] <= '9') {
		t = strtoull(end + 1, &end, 10);
		*tries = t > UINT32_MAX ? 0 : (unsigned)t;
	}
	return (*end == '\0' ? 0 : -1);
}

/* A message from one of the bridge's subscriptions. */
void
recv_event(natsMsg *m)
{
	const char	*subj = natsMsg_GetSubject(m), *status = NULL;
	size_t		 il = strlen(br.inbox), nl = strlen(br.o.nats_name);
	struct bchan	*bc;
	uint64_t	 num, seq;
	unsigned	 tries;
	char		 kind, id[17];

	if (strcmp(subj, br.freed) == 0) {
		if (natsMsg_GetDataLength(m) == 16 &&
		    wire_id_ok(natsMsg_GetData(m), 16)) {
			memcpy(id, natsMsg_GetData(m), 16);
			id[16] = '\0';
			send_freed(id);
		}
		return;
	}
	if (strncmp(subj, br.o.nats_name, nl) == 0 && subj[nl] == '.') {
		recv_data(subj + nl + 1, m);
		return;
	}
	if (strncmp(subj, br.inbox, il) != 0 || subj[il] != '.' ||
	    inbox_parse(subj + il + 1, &kind, &num, &seq, &tries) != 0 ||
	    (bc = bchan_by_num(num)) == NULL || bc->state != BC_READY)
		return;
	if (natsMsgHeader_Get(m, "Status", &status) != NATS_OK)
		status = NULL;
	switch (kind) {
	case 'p':
		send_answer(bc, seq, tries, m);
		break;
	case 'f':
		recv_fetch_status(bc, seq, status != NULL ? status : "");
		break;
	case 'a':
		if (status == NULL)
			recv_acked(bc, seq);
		break;
	}
	bchan_dirty(bc);
}
