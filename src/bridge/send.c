/*
 * Writes to a bridged channel: each is published a piece at a time, one
 * piece of a channel out at once, so each writer's order holds.  A piece
 * carries a Nats-Msg-Id, by which JetStream stores a piece sent again
 * only once (within its two-minute window), and the write is answered
 * once JetStream says the piece is stored.  bridge.h draws the states of
 * a piece.
 *
 * On the wire a piece is a byte saying how many pad bytes follow, the pad
 * (zeros), then the data: the pad makes what JetStream stores a multiple
 * of the stream's alignment (stream_align).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "bridge.h"

/* What libnats writes of the header that carries the id, without it. */
#define MSGID_HDR	(sizeof "NATS/1.0\r\nNats-Msg-Id: \r\n\r\n" - 1)

static void
piece_id(struct bchan *bc, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%" PRIu64 ".%" PRIu64, br.nuid, bc->num,
	    bc->piece.seq);
}

/* Forget the piece: its bytes, and what they held of max_memory. */
static void
piece_clear(struct bchan *bc)
{
	struct piece	*p = &bc->piece;

	if (p->state != PIECE_NONE && p->w == NULL) {
		br.pool->budget.held -= p->len;
		budget_freed(&br.pool->budget);
	}
	if (p->w != NULL)
		p->w->sending = NULL;
	free(p->wire);
	memset(p, 0, sizeof *p);
}

/*
 * The piece's write is answered without waiting for it: the piece counts
 * against max_memory on its own from now on.  Returns its length.
 */
static size_t
piece_orphan(struct bchan *bc)
{
	struct piece	*p = &bc->piece;

	if (p->w != NULL)
		p->w->sending = NULL;
	p->w = NULL;
	br.pool->budget.held += p->len;
	return (p->len);
}

/* Take the next piece of w: a message whole, a byte stream in pieces. */
static void
piece_take(struct bchan *bc, struct chan *c, struct waiter *w)
{
	struct piece	*p = &bc->piece;
	char		 subj[64], id[96];
	size_t		 left = w->size - w->done, stored, pad;

	if (c->framing == CHAN_MESSAGES || w->size <= CHAN_ATOMIC)
		p->len = left;
	else {
		p->len = left < BRIDGE_PIECE ? left : BRIDGE_PIECE;
		if (p->len > c->capacity)
			p->len = c->capacity;
	}
	p->w = w;
	p->seq = ++bc->pseq;
	stream_subject(subj, sizeof subj, bc->id);
	piece_id(bc, id, sizeof id);
	stored = STORE_OVERHEAD + strlen(subj) + MSGID_HDR + strlen(id) + 1 +
	    p->len;
	pad = wire_pad(stored, stream_align(subj));
	p->wlen = 1 + pad + p->len;
	p->wire = xmalloc(p->wlen);
	p->wire[0] = (char)pad;
	memset(p->wire + 1, 0, pad);
	memcpy(p->wire + 1 + pad, w->data + w->done, p->len);
}

/* Publish the piece, or the same again: the same id each time. */
static void
piece_publish(struct bchan *bc)
{
	struct piece	*p = &bc->piece;
	struct waiter	*w = p->w;
	natsMsg		*m = NULL;
	char		 subj[64], reply[128], id[96];
	natsStatus	 st;

	stream_subject(subj, sizeof subj, bc->id);
	snprintf(reply, sizeof reply, "%s.p.%" PRIu64 ".%" PRIu64, br.inbox,
	    bc->num, p->seq);
	piece_id(bc, id, sizeof id);
	p->state = PIECE_OUT;
	p->sent = now_ms();
	p->fresh = 0;
	p->published = 1;
	if (w != NULL)
		w->sending = bc;
	if ((st = natsMsg_Create(&m, subj, reply, p->wire, (int)p->wlen)) ==
	    NATS_OK && (st = natsMsgHeader_Set(m, "Nats-Msg-Id", id)) ==
	    NATS_OK)
		st = natsConnection_PublishMsg(br.nc, m);
	natsMsg_Destroy(m);
	if (st == NATS_MAX_PAYLOAD) {
		/* Larger than the server takes: it was never sent. */
		piece_clear(bc);
		if (w != NULL)
			chan_link_sent(w, 0, EMSGSIZE);
	}
	/* Otherwise, if it failed, the clock sends it again. */
}

/* The piece could not be stored now: try again at retry_at. */
static void
piece_hold(struct bchan *bc, uint64_t wait)
{
	struct piece	*p = &bc->piece;

	p->state = PIECE_HELD;
	p->retry_at = now_ms() + wait;
	if (p->w != NULL)
		p->w->sending = NULL;
}

/* Move the sending side of bc along. */
void
send_run(struct bchan *bc, struct chan *c)
{
	struct piece	*p = &bc->piece;
	struct waiter	*w, *tw;

	if (!br.connected) {
		/*
		 * Out of reach: a non-blocking write that nothing of is out
		 * gets EAGAIN now, as a full pipe's would.
		 */
		if (p->state == PIECE_HELD && p->w != NULL && p->w->nonblock) {
			w = p->w;
			if (p->published)
				send_disconnected(bc);
			else {
				piece_clear(bc);
				chan_link_sent(w, 0, EAGAIN);
			}
		}
		TAILQ_FOREACH_SAFE(w, &c->wq, entry, tw)
			if (w->nonblock && w != p->w)
				chan_link_sent(w, 0, EAGAIN);
		return;
	}
	switch (p->state) {
	case PIECE_NONE:
		/*
		 * A writer's first data goes out only once the bucket has
		 * it, so that no host takes the end of its data for the end
		 * of the stream.
		 */
		if ((w = TAILQ_FIRST(&c->wq)) == NULL || bc->known_writers == 0)
			break;
		piece_take(bc, c, w);
		piece_publish(bc);
		break;
	case PIECE_HELD:
		if (now_ms() >= p->retry_at)
			piece_publish(bc);
		break;
	case PIECE_OUT:
		if (p->fresh)
			piece_publish(bc);
		break;
	}
}

/* The clock: a piece with no answer goes again; a held one is retried. */
void
send_tick(struct bchan *bc, uint64_t now)
{
	struct piece	*p = &bc->piece;

	if (p->state == PIECE_OUT && br.connected &&
	    now - p->sent > BRIDGE_RESEND_MS)
		piece_publish(bc);
	else if (p->state == PIECE_HELD && now >= p->retry_at)
		bchan_dirty(bc);
}

/* Connected again: what is out may have been lost; send it at once. */
void
send_reconnected(struct bchan *bc)
{
	if (bc->piece.state == PIECE_OUT)
		bc->piece.fresh = 1;
}

/*
 * Out of reach: a non-blocking write whose piece is out cannot be told
 * EAGAIN (the piece may be stored), nor wait for the server; it is
 * answered with the piece counted, and the piece is sent until stored.
 */
void
send_disconnected(struct bchan *bc)
{
	struct piece	*p = &bc->piece;
	struct waiter	*w = p->w;

	if (!p->published || w == NULL || !w->nonblock)
		return;
	chan_link_sent(w, piece_orphan(bc), EAGAIN);
}

/*
 * Held write w is answered early.  Returns the bytes of it that were
 * sent: they may be stored, so they count as written, and the piece goes
 * on as an orphan until it is; a piece never sent goes.
 */
size_t
send_cancel(struct bchan *bc, struct waiter *w)
{
	struct piece	*p = &bc->piece;

	if (p->w != w)
		return (0);
	if (p->published)
		return (piece_orphan(bc));
	piece_clear(bc);
	return (0);
}

void
send_free(struct bchan *bc)
{
	bc->piece.w = NULL;
	piece_clear(bc);
}

/* The piece is stored: tell its write, or forget the orphan. */
static void
piece_stored(struct bchan *bc)
{
	struct waiter	*w = bc->piece.w;
	size_t		 len = bc->piece.len;

	piece_clear(bc);
	if (w != NULL)
		chan_link_sent(w, len, 0);
}

/* The piece failed for good: its write gets err. */
static void
piece_failed(struct bchan *bc, int err)
{
	struct waiter	*w = bc->piece.w;

	if (w == NULL)
		log_warnx("bridge: %s: a write already answered is lost: %s",
		    bc->id, strerror(err));
	piece_clear(bc);
	if (w != NULL)
		chan_link_sent(w, 0, err);
}

/* JetStream's answer to piece seq: stored, or why not. */
void
send_answer(struct bchan *bc, uint64_t seq, natsMsg *m)
{
	struct piece	*p = &bc->piece;
	const char	*data = natsMsg_GetData(m), *status = NULL;
	size_t		 len = (size_t)natsMsg_GetDataLength(m);
	char		 stream[64], name[64];
	uint64_t	 code = 0, sseq;

	if (seq != p->seq || p->state != PIECE_OUT)
		return;
	if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK &&
	    status != NULL) {
		/* No stream answered: it is being made, moving, or gone. */
		piece_hold(bc, 100);
		bchan_restream(bc);
		return;
	}
	if (wire_json_num(data, len, "code", &code) == 0 ||
	    wire_json_num(data, len, "err_code", &code) == 0) {
		if (wire_json_num(data, len, "err_code", &code) == 0 &&
		    (code == JSStreamStoreFailedErr ||
		    code == 10077 /* maximum bytes exceeded */)) {
			if (p->w != NULL && p->w->nonblock) {
				piece_failed(bc, EAGAIN);
				return;
			}
			/*
			 * Full: try again once a reader lets go.  Meanwhile
			 * the write waits as a local one does for room, and
			 * fails with EPIPE if the last reader goes.
			 */
			/*
			 * JetStream looks for a duplicate id before it checks
			 * the limits: a piece refused as full was never
			 * stored, whatever happened to it before.
			 */
			p->published = 0;
			p->wait = p->wait == 0 ? BRIDGE_RETRY_MS :
			    p->wait * 2 > 100 ? 100 : p->wait * 2;
			piece_hold(bc, p->wait);
			chan_link_counts(bc->chan, bc->rreaders, bc->rwriters,
			    bc->chan->rdrained);
			return;
		}
		if (code == JSStreamNotFoundErr) {
			piece_hold(bc, 100);
			bchan_restream(bc);
			return;
		}
		log_warnx("bridge: %s: publish: %.*s", bc->id,
		    len > 200 ? 200 : (int)len, data);
		piece_failed(bc, EIO);
		return;
	}
	/* Stored: the answer must name this channel's stream. */
	stream_name(name, sizeof name, bc->id);
	if (wire_json_str(data, len, "stream", stream, sizeof stream) != 0 ||
	    strcmp(stream, name) != 0 ||
	    wire_json_num(data, len, "seq", &sseq) != 0) {
		bridge_bad("an answer to a piece of %s", bc->id);
		return;
	}
	piece_stored(bc);
}

/* Someone read from a stream: a piece refused as full may go in now. */
void
send_freed(const char *id)
{
	struct bchan	*bc;

	if ((bc = bchan_by_id(id)) != NULL &&
	    bc->piece.state == PIECE_HELD) {
		bc->piece.retry_at = 0;
		bc->piece.wait = 0;
		bchan_dirty(bc);
	}
}
