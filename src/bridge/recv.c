/*
 * Reading a bridged channel: messages fetched from its stream, checked,
 * acknowledged and handed to the ring.
 *
 * - A queue's hosts share one pull consumer, "q" (AckExplicit: an
 *   acknowledgement takes its own message only, never another host's).
 *   While a reader of its own keeps up (and max_memory has room), a host
 *   fetches ahead: one pull request out at a time, for up to BRIDGE_BATCH
 *   messages and as many bytes as the channel holds less what is fetched
 *   already (JetStream's "max_bytes").  It acknowledges, with a reply
 *   each, all the fetched messages the ring has room for at once, and
 *   puts each in the ring, in the order fetched, only once JetStream has
 *   confirmed its acknowledgement in time, so a message is handed to one
 *   reader once (bridge.h draws the states of a message).  What is
 *   fetched and not acknowledged goes back (-NAK) when no reader here
 *   wants it, for another host's.
 * - A broadcast's hosts have a consumer each, "h_HOST", made when the
 *   first reader opens; a host fetches ahead as above, and acknowledges
 *   (AckAll) what every reader of its own has read; what every host has
 *   is purged.
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

/*
 * Whether the connection takes what is published now: while libnats
 * connects again it keeps what is published and sends it once it has
 * (its reconnect buffer), and a -NAK sent that late may hit the message
 * given to another host meanwhile.
 */
static int
recv_live(void)
{
	return (natsConnection_Status(br.nc) == NATS_CONN_STATUS_CONNECTED);
}

/*
 * What the channel's buffer can take besides what is fetched: a host
 * fetches no more than its readers will take soon, so that what it
 * fetched is acknowledged and handed over at once, in order, rather than
 * wait and go back.
 */
static size_t
recv_ahead_room(struct bchan *bc, struct chan *c)
{
	size_t	 room = chan_link_room(c);

	return (room > bc->rbytes ? room - bc->rbytes : 0);
}

/*
 * Whether bc may ask for more now: max_memory has room for a channel's
 * worth, and nothing is fetched (then at least one message is asked
 * for, so that the next is on its way while the ring's is read, as
 * large as the channel takes), or the ring has room for half a
 * channel's worth besides what is fetched (unless the next message was
 * larger than that).
 */
static int
recv_room(struct bchan *bc, struct chan *c)
{
	if (bc->fsent != 0 || budget_left(&br.pool->budget) < c->capacity)
		return (0);
	if (bc->rbytes == 0)
		return (1);
	return (!bc->fbig && recv_ahead_room(bc, c) > c->capacity / 2);
}

static void
send_fetch(struct bchan *bc, struct chan *c, int mode)
{
	char	 subj[192], reply[128], body[160], name[64], cons[80];
	char	 bytes[48];
	size_t	 max;
	int	 batch = BRIDGE_BATCH;

	stream_name(name, sizeof name, bc->id);
	consumer_name(bc, cons, sizeof cons);
	snprintf(subj, sizeof subj, "$JS.API.CONSUMER.MSG.NEXT.%s.%s", name,
	    cons);
	snprintf(reply, sizeof reply, "%s.f.%" PRIu64 ".%" PRIu64, br.inbox,
	    bc->num, ++bc->fseq);
	/*
	 * JetStream counts a message's subject, headers, acknowledgement
	 * subject and data against max_bytes; one that does not fit in what
	 * is left ends the request (409).  bc->fbig 2: even a channel's
	 * worth did not take the next message, ask without a bound (1: ask
	 * again once nothing is fetched, for a channel's worth).
	 */
	max = recv_ahead_room(bc, c);
	if (max <= c->capacity / 2) {
		/* One ahead, whatever its size. */
		batch = 1;
		max = c->capacity;
	}
	max += BRIDGE_FETCH_SLACK;
	bytes[0] = '\0';
	bc->fbytes = SIZE_MAX;
	bc->fmax = 0;
	if (bc->fbig < 2) {
		snprintf(bytes, sizeof bytes, ",\"max_bytes\":%zu", max);
		bc->fbytes = bc->fmax = max;
	}
	if (mode == FETCH_NOW)
		snprintf(body, sizeof body, "{\"batch\":%d%s,\"no_wait\":true}",
		    batch, bytes);
	else
		snprintf(body, sizeof body, "{\"batch\":%d%s,\"expires\":%llu}",
		    batch, bytes,
		    (unsigned long long)(mode == FETCH_LAST ? FETCH_LAST_MS :
		    BRIDGE_FETCH_MS) * 1000000);
	bc->fsent = now_ms();
	bc->fwant = bc->fbatch = batch;
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
	if (m->state != BM_ACKING)
		bc->nacking++;
	m->state = BM_ACKING;
	m->aseq = bc->aseq;
	m->asent = now_ms();
	natsConnection_PublishRequestString(br.nc, m->reply, reply, "+ACK");
}

/* Take m out of what is fetched, and free it. */
static void
pending_drop(struct bchan *bc, struct bmsg *m)
{
	TAILQ_REMOVE(&bc->pending, m, entry);
	bc->rbytes -= m->len;
	if (m->state == BM_ACKING)
		bc->nacking--;
	bmsg_free(bc, m);
}

/*
 * What JetStream counts of nm against a pull request's max_bytes: its
 * subject, acknowledgement subject, headers as sent, and data.
 */
static size_t
fetch_size(natsMsg *nm)
{
	const char	**keys = NULL, **vals;
	const char	*reply = natsMsg_GetReply(nm);
	size_t		 n;
	int		 nk = 0, nv, i, j;

	n = strlen(natsMsg_GetSubject(nm)) + (reply != NULL ?
	    strlen(reply) : 0) + (size_t)natsMsg_GetDataLength(nm);
	if (natsMsgHeader_Keys(nm, &keys, &nk) != NATS_OK)
		return (n);
	/* "NATS/1.0\r\n", "KEY: VALUE\r\n" each, "\r\n". */
	n += 12;
	for (i = 0; i < nk; i++)
		if (natsMsgHeader_Values(nm, keys[i], &vals, &nv) == NATS_OK) {
			for (j = 0; j < nv; j++)
				n += strlen(keys[i]) + 2 + strlen(vals[j]) + 2;
			free((void *)vals);
		}
	free((void *)keys);
	return (n);
}

/*
 * A message of the pull request out came.  The request is over once it
 * brought its batch, or its bytes: JetStream ends one whose bytes are
 * used up exactly without a word, so one that has less left than this
 * message and a margin is taken as over.
 */
static void
fetch_got(struct bchan *bc, natsMsg *nm)
{
	size_t	 sz;

	bc->fbig = 0;
	if (bc->fwant == 0)
		return;
	sz = fetch_size(nm);
	bc->fbytes = bc->fbytes > sz ? bc->fbytes - sz : 0;
	if (--bc->fwant == 0 || (bc->fbytes != SIZE_MAX &&
	    bc->fbytes < sz + 256)) {
		bc->fwant = 0;
		bc->fsent = 0;
	}
}

/*
 * Tell the hosts a reader let go of data: a full stream has room.  Once
 * for all that went at once (recv_announce).
 */
void
announce_freed(struct bchan *bc)
{
	bc->announce = 1;
	bchan_dirty(bc);
}

void
recv_announce(struct bchan *bc)
{
	if (bc->announce && br.connected) {
		natsConnection_PublishString(br.nc, br.freed, bc->id);
		bc->announce = 0;
	}
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
		fetch_got(bc, nm);
		bchan_dirty(bc);
		return;
	}
	data = (const unsigned char *)natsMsg_GetData(nm);
	len = (size_t)natsMsg_GetDataLength(nm);
	if ((at = wire_unpad(data, len)) == -1) {
		recv_refuse(bc, reply, "not padded as a host pads");
		fetch_got(bc, nm);
		bchan_dirty(bc);
		return;
	}
	data += at;
	len -= (size_t)at;
	if (c->framing == CHAN_MESSAGES && len > c->capacity) {
		recv_refuse(bc, reply, "larger than the channel");
		fetch_got(bc, nm);
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
	bc->rbytes += len;
	fetch_got(bc, nm);
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

/* The status that ends a pull request. */
static void
recv_fetch_status(struct bchan *bc, uint64_t seq, const char *status,
    const char *desc)
{
	struct chan	*c = bc->chan;

	if (seq != bc->fseq)
		return;
	bc->fsent = 0;
	if (c == NULL)
		return;
	/*
	 * The next message did not fit in the bytes asked for: ask again
	 * once less is fetched, or, if it brought nothing, once nothing is
	 * (then with a channel's worth; failing that, with no bound).
	 */
	if (strcmp(status, "409") == 0 && desc != NULL &&
	    strstr(desc, "MaxBytes") != NULL) {
		if (bc->fwant == bc->fbatch)
			bc->fbig = bc->fmax >= c->capacity +
			    BRIDGE_FETCH_SLACK ? 2 : 1;
		bc->fwant = 0;
		bchan_dirty(bc);
		return;
	}
	bc->fwant = 0;
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
		pending_drop(bc, m);
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
	if (n < m->len) {
		memmove(m->data, m->data + n, m->len - n);
		m->len -= n;
		bc->rbytes -= n;
		return (0);
	}
	pending_drop(bc, m);
	return (1);
}

/*
 * Put the acknowledged messages at the head of what is fetched in the
 * ring, in order, while it has room; tell the hosts once if any went (a
 * full stream has room).
 */
static void
recv_flush(struct bchan *bc, struct chan *c)
{
	struct bmsg	*m;
	int		 pushed = 0;
	size_t		 before;

	while ((m = TAILQ_FIRST(&bc->pending)) != NULL &&
	    m->state == BM_ACKED) {
		before = bc->rbytes;
		if (!recv_push(bc, c, m)) {
			pushed |= bc->rbytes != before;
			break;
		}
		pushed = 1;
	}
	if (pushed)
		announce_freed(bc);
}

/*
 * The server confirmed a queue message's acknowledgement: hand it over,
 * after those fetched before it.  Confirmations come in the order the
 * acknowledgements went (the consumer takes them in order, on one
 * connection); only the last one sent for a message counts.
 */
void
recv_acked(struct bchan *bc, uint64_t seq)
{
	struct bmsg	*m;

	if (bc->nacking == 0)
		return;
	TAILQ_FOREACH(m, &bc->pending, entry)
		if (m->state == BM_ACKING && m->aseq == seq)
			break;
	if (m == NULL)
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
		pending_drop(bc, m);
	} else {
		m->state = BM_ACKED;
		bc->nacking--;
	}
	if (bc->chan != NULL)
		recv_flush(bc, bc->chan);
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
	struct bmsg	*m, *tm;
	uint64_t	 now = now_ms();
	size_t		 room, out = 0;
	int		 demand = chan_link_demand(c), ahead;

	if (demand != 0) {
		bc->idle = 0;
		bc->wanted = now;
	} else if (c->ring.len > 0)
		bc->idle = 0;		/* what is there is being read */
	else if (bc->idle == 0)
		bc->idle = now;
	/*
	 * Readers here keep up: one waits, or waited a moment ago and
	 * reads what the ring has.
	 */
	ahead = c->readers > 0 && (demand != 0 ||
	    (bc->wanted != 0 && now - bc->wanted < BRIDGE_AHEAD_MS));
	/*
	 * What is fetched and not acknowledged goes back for others to take
	 * when no reader here is left, or none has read for a while; one
	 * kept past half the consumer's wait for its acknowledgement may
	 * have gone to another host already, and is dropped, never
	 * acknowledged (its confirmation could come too late).
	 */
	TAILQ_FOREACH_SAFE(m, &bc->pending, entry, tm) {
		if (m->state != BM_FETCHED)
			continue;
		if (c->readers > 0 && now - m->got <= BRIDGE_ACKWAIT_MS / 2 &&
		    (bc->idle == 0 || now - bc->idle <= BRIDGE_IDLE_MS))
			continue;
		/*
		 * JetStream takes a -NAK for whichever delivery of the
		 * message is pending: one that reached it after the message
		 * went to another host would send it on again, and both hosts
		 * could hand it over.  So a -NAK goes only while the
		 * connection is up, long before the message can go elsewhere;
		 * without one, it goes once the consumer's wait has passed.
		 */
		if (now - m->got <= BRIDGE_ACKWAIT_MS / 2 && recv_live())
			natsConnection_PublishString(br.nc, m->reply, "-NAK");
		pending_drop(bc, m);
	}
	recv_flush(bc, c);
	/*
	 * More on its way while these are acknowledged and read.  With no
	 * writer left, one quick look says whether that is all; then a
	 * reader that waits for a writer still to come waits on the server.
	 */
	if (ahead && recv_room(bc, c))
		send_fetch(bc, c, fetch_mode(bc, c));
	/*
	 * Acknowledge, all at once, what the ring has room for besides
	 * what is acknowledged already, in order; at least one if the ring
	 * is empty.
	 */
	room = chan_link_room(c);
	if (c->readers == 0 || !recv_live())
		return;
	TAILQ_FOREACH(m, &bc->pending, entry) {
		if (m->state != BM_FETCHED) {
			out += m->len;
			continue;
		}
		if (out + m->len > room && (out > 0 || c->ring.len > 0))
			break;
		send_ack(bc, m, 1);
		out += m->len;
	}
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
		bc->rbytes = 0;
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
		bc->rbytes -= m->len;
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
	if (c->readers > 0 && recv_room(bc, c))
		send_fetch(bc, c, fetch_mode(bc, c));
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
	if (bc->nacking > 0 && br.connected) {
		TAILQ_FOREACH(m, &bc->pending, entry)
			if (m->state == BM_ACKING && (bc->aresend ||
			    now - m->asent > BRIDGE_ACK_RESEND_MS))
				send_ack(bc, m, 1);
		bc->aresend = 0;
	}
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
	bc->fwant = 0;
	if (bc->nacking > 0)
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
	const char	*desc = NULL;
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
	if (status == NULL ||
	    natsMsgHeader_Get(m, "Description", &desc) != NATS_OK)
		desc = NULL;
	switch (kind) {
	case 'p':
		send_answer(bc, seq, tries, m);
		break;
	case 'f':
		recv_fetch_status(bc, seq, status != NULL ? status : "", desc);
		break;
	case 'a':
		if (status == NULL)
			recv_acked(bc, seq);
		break;
	}
	bchan_dirty(bc);
}
