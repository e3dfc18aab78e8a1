/*
 * Writes to a bridged channel.  A write is cut into pieces (a message
 * whole, a byte stream up to BRIDGE_PIECE a piece) and answered once
 * they are in the channel's local buffer, as a pipe answers once the
 * bytes are in its buffer; the buffer holds at most the channel's
 * capacity, and a write that does not fit waits (or gets EAGAIN) as on a
 * full pipe.  The pieces are published asynchronously, many at once (up
 * to the channel's window), in the order they were written; an fsync or
 * a close (FLUSH) of an open waits until JetStream has stored every
 * piece that open wrote, and says whether one failed.  bridge.h draws
 * the states of a piece.
 *
 * Exactly once and order.  Each piece carries a Nats-Msg-Id, by which
 * JetStream stores a piece sent again only once (within its two-minute
 * window; a piece is given up well before, BRIDGE_GIVEUP).  Each piece
 * but the first of the buffer also carries Nats-Expected-Last-Msg-Id,
 * its predecessor's id: JetStream checks the id for a duplicate first,
 * then stores the piece only if its predecessor is the stream's last
 * message.  So:
 *
 * - a piece stored means every piece before it in the buffer was stored:
 *   an answer "stored" frees every piece up to it, even if their own
 *   answers were lost;
 * - a piece refused (the stream full, no leader, another host's message
 *   came between) makes every piece after it that is on its way refused
 *   too, and the channel sends again from the refused one, in order
 *   ("rewind"); the first piece of the buffer goes with no expectation;
 * - an answer to an earlier publish of a piece that was sent again
 *   (tries) says nothing, unless it says "stored".
 *
 * Two hosts that write to one stream at once break each other's chains:
 * each refusal halves the channel's window, each piece stored opens it
 * by one, so contention costs round trips, never order.
 *
 * On the wire a piece is a byte saying how many pad bytes follow, the
 * pad (zeros), then the data: the pad makes what JetStream stores a
 * multiple of the stream's alignment (stream_align), headers included.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcfs.h"
#include "bridge.h"

/* What libnats writes of the headers, without the ids. */
#define MSGID_HDR	(sizeof "NATS/1.0\r\nNats-Msg-Id: \r\n\r\n" - 1)
#define EXPECT_KEY	"Nats-Expected-Last-Msg-Id"
#define EXPECT_HDR	(sizeof EXPECT_KEY ": \r\n" - 1)

static void
piece_id(struct bchan *bc, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%" PRIu64 ".%" PRIu64, br.nuid, bc->num, seq);
}

/* How long a channel's pieces wait for JetStream before they go, ms. */
static uint64_t
giveup_ms(void)
{
	uint64_t	 ms = br.o.nats_timeout * 1000 * BRIDGE_GIVEUP;

	return (ms > BRIDGE_GIVEUP_MAX ? BRIDGE_GIVEUP_MAX : ms);
}

/* Whether piece p is one sync s waits for. */
static int
sync_wants(const struct bsync *s, const struct piece *p)
{
	return (p->h == s->h && p->seq <= s->last &&
	    (!s->flush || p->owner == s->owner));
}

/*
 * What sync s says: an fsync the first error of its open, and none of
 * them again; a close the first error of its own process's data.
 */
static int
sync_error(struct bsync *s)
{
	struct chan_handle	*h = s->h;
	size_t			 i;
	int			 err;

	if (!s->flush) {
		/* An error is said once, as a file system says a write-back's. */
		err = h->lerr;
		h->lerr = 0;
		h->nlerrs = 0;
		return (err);
	}
	for (i = 0; i < h->nlerrs; i++)
		if (h->lerrs[i].owner == s->owner)
			break;
	if (i == h->nlerrs)
		return (0);
	err = h->lerrs[i].err;
	h->lerrs[i] = h->lerrs[--h->nlerrs];
	if (h->nlerrs == 0)
		h->lerr = 0;
	return (err);
}

/* Piece p, of an open, failed with err: its fsync and its close say so. */
static void
sync_failed(struct chan_handle *h, const struct piece *p, int err)
{
	size_t	 i;

	if (h->lerr == 0)
		h->lerr = err;
	for (i = 0; i < h->nlerrs; i++)
		if (h->lerrs[i].owner == p->owner)
			return;
	h->lerrs = xreallocarray(h->lerrs, h->nlerrs + 1, sizeof *h->lerrs);
	h->lerrs[h->nlerrs].owner = p->owner;
	h->lerrs[h->nlerrs++].err = err;
}

/*
 * Piece p is done: answer the fsyncs and closes that waited for it and
 * for nothing else now.  Each counts what it waits for, so that a
 * buffer of many pieces and many closes waiting costs no scan of it.
 */
static void
sync_done(struct bchan *bc, const struct piece *p)
{
	struct bsync	*s, *ts;

	LIST_FOREACH_SAFE(s, &bc->syncs, entry, ts) {
		if (!sync_wants(s, p) || --s->left > 0)
			continue;
		LIST_REMOVE(s, entry);
		fuse_reply_err(s->req, sync_error(s));
		free(s);
	}
}

static void
sync_interrupted(fuse_req_t req, void *arg)
{
	struct bsync	*s = arg;

	LIST_REMOVE(s, entry);
	fuse_reply_err(req, EINTR);
	free(s);
}

/* The kernel's PF_EXITING, in the flags of /proc/PID/stat. */
#define TASK_EXITING	0x00000004

/*
 * Whether the caller of req is exiting (its exit closes its descriptors,
 * or a signal killed it): 0 if it is not, or if it cannot be told (a
 * caller the daemon's pid namespace cannot see).
 */
static int
sync_exiting(fuse_req_t req)
{
	pid_t		 pid = fuse_req_ctx(req)->pid;
	char		 path[32], buf[1024], *p;
	unsigned long	 flags;
	ssize_t		 n;
	int		 fd;

	if (pid <= 0)
		return (0);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	/* The name may hold anything; the fields start after its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return (0);
	return ((flags & TASK_EXITING) != 0);
}

/*
 * fsync() (flush 0), or FLUSH at a close() by the process of lock owner
 * owner (flush 1), of open h: answered once every piece h wrote (at a
 * close, the pieces that process wrote) is stored, with the first error
 * met since the last one said.  Returns 1 if req is answered (now or
 * later), 0 if the caller answers it with success, -1 if there is no
 * bridge here.
 *
 * The close of a process that is exiting is answered at once: the
 * kernel ignores every signal, SIGKILL too, for a process that is
 * exiting, so it would wait unkillably (for a reader, with the stream
 * full), and nobody sees what its exit's close says.  Its pieces go on.
 */
int
bridge_sync(struct chan_handle *h, void *req, int flush, uint64_t owner)
{
	struct bchan	*bc = h->chan->link;
	struct piece	*p = NULL;
	struct bsync	*s;
	int		 err;

	if (br.efd == -1)
		return (-1);
	s = xcalloc(1, sizeof *s);
	s->req = req;
	s->h = h;
	s->flush = flush;
	s->owner = owner;
	s->last = UINT64_MAX;
	if (h->lout > 0 && bc != NULL)
		TAILQ_FOREACH_REVERSE(p, &bc->pieces, pieces, entry)
			if (sync_wants(s, p)) {
				if (s->left++ == 0)
					s->last = p->seq;
				/* An fsync waits for all of its open's. */
				if (!flush) {
					s->left = h->lout;
					break;
				}
			}
	if (s->left == 0 || (flush && sync_exiting(req))) {
		err = sync_error(s);
		free(s);
		if (err == 0)
			return (0);
		fuse_reply_err(req, err);
		return (1);
	}
	LIST_INSERT_HEAD(&bc->syncs, s, entry);
	/* Last: if the kernel already interrupted req, this answers it. */
	fuse_req_interrupt_func(req, sync_interrupted, s);
	return (1);
}

/*
 * Piece p is done: stored (err 0) or failed.  It leaves the buffer and
 * gives back what it held of max_memory; its open is told.
 */
static void
piece_done(struct bchan *bc, struct piece *p, int err)
{
	struct chan_handle	*h = p->h;

	if (bc->next == p)
		bc->next = TAILQ_NEXT(p, entry);
	if (p->state == PIECE_OUT)
		bc->nout--;
	TAILQ_REMOVE(&bc->pieces, p, entry);
	bc->pbytes -= p->len;
	br.pool->budget.held -= p->charged;
	budget_freed(&br.pool->budget);
	if (h != NULL) {
		if (err != 0)
			sync_failed(h, p, err);
		h->lout--;
		if (!LIST_EMPTY(&bc->syncs))
			sync_done(bc, p);
	} else if (err != 0)
		log_warnx("bridge: %s: %zu bytes written by an open now "
		    "closed are lost: %s", bc->id, p->len, strerror(err));
	free(p->buf);
	free(p);
}

/* Send p and every piece after it again, in order. */
static void
send_rewind(struct bchan *bc, struct piece *p)
{
	struct piece	*q;

	for (q = p; q != NULL && q != bc->next; q = TAILQ_NEXT(q, entry))
		if (q->state == PIECE_OUT) {
			q->state = PIECE_QUEUED;
			bc->nout--;
		}
	if (bc->next == NULL || p->seq < bc->next->seq)
		bc->next = p;
	bchan_dirty(bc);
}

/* Publish nothing for wait ms (a full stream, no leader). */
static void
send_hold(struct bchan *bc, uint64_t wait)
{
	bc->hold_until = now_ms() + wait;
}

/* Publish p: the same id each time, and its predecessor's expected. */
static void
piece_publish(struct bchan *bc, struct piece *p)
{
	struct piece	*prev = TAILQ_PREV(p, pieces, entry);
	natsMsg		*m = NULL;
	char		 subj[64], reply[160], id[96], pid[96], *wire;
	size_t		 stored, pad;
	natsStatus	 st;

	stream_subject(subj, sizeof subj, bc->id);
	piece_id(bc, p->seq, id, sizeof id);
	stored = STORE_OVERHEAD + strlen(subj) + MSGID_HDR + strlen(id) + 1 +
	    p->len;
	if (prev != NULL) {
		piece_id(bc, prev->seq, pid, sizeof pid);
		stored += EXPECT_HDR + strlen(pid);
	}
	pad = wire_pad(stored, stream_align(subj));
	wire = p->buf + p->room - 1 - pad;
	wire[0] = (char)pad;
	memset(wire + 1, 0, pad);
	p->tries++;
	snprintf(reply, sizeof reply, "%s.p.%" PRIu64 ".%" PRIu64 ".%u",
	    br.inbox, bc->num, p->seq, p->tries);
	p->state = PIECE_OUT;
	p->sent = now_ms();
	p->expect = prev != NULL;
	bc->nout++;
	if ((st = natsMsg_Create(&m, subj, reply, wire, (int)(1 + pad +
	    p->len))) == NATS_OK &&
	    (st = natsMsgHeader_Set(m, "Nats-Msg-Id", id)) == NATS_OK &&
	    (prev == NULL ||
	    (st = natsMsgHeader_Set(m, EXPECT_KEY, pid)) == NATS_OK))
		st = natsConnection_PublishMsg(br.nc, m);
	natsMsg_Destroy(m);
	/* If it failed, the clock sends it again. */
}

/* The most data one piece may carry. */
static size_t
piece_max(struct chan *c)
{
	int64_t		 mp = natsConnection_GetMaxPayload(br.nc);
	size_t		 max = BRIDGE_PIECE;

	/* Room for the pad and the headers within the server's limit. */
	if (mp > 2048 && (size_t)mp - 1024 < max)
		max = (size_t)mp - 1024;
	if (c->framing == CHAN_MESSAGES)
		return (mp > 1024 ? (size_t)mp - 1024 : (size_t)mp);
	return (max < c->capacity ? max : c->capacity);
}

/* What a piece of len bytes holds of max_memory, its bookkeeping too. */
static size_t
piece_cost(const struct bchan *bc, size_t len)
{
	char	 subj[64];

	stream_subject(subj, sizeof subj, bc->id);
	return (sizeof(struct piece) + 1 + stream_align(subj) + len);
}

/* Put len bytes of held write w in the buffer, as one piece. */
static void
piece_take(struct bchan *bc, struct waiter *w, size_t len)
{
	struct piece	*p;
	char		 subj[64];

	p = xcalloc(1, sizeof *p);
	stream_subject(subj, sizeof subj, bc->id);
	p->room = 1 + stream_align(subj);
	p->buf = xmalloc(p->room + len);
	memcpy(p->buf + p->room, w->data + (w->done - w->base), len);
	p->len = len;
	p->seq = ++bc->pseq;
	p->state = PIECE_QUEUED;
	p->h = w->h;
	p->h->lout++;
	p->owner = w->owner;
	if (TAILQ_EMPTY(&bc->pieces))
		bc->progress = now_ms();
	TAILQ_INSERT_TAIL(&bc->pieces, p, entry);
	if (bc->next == NULL)
		bc->next = p;
	bc->pbytes += len;
	p->charged = sizeof *p + p->room + len;
	br.pool->budget.held += p->charged;
	/* The write's copy gives way to the piece's. */
	chan_link_sent(w, len, 0);
}

/*
 * Take held writes into the buffer while it has room: a message whole, a
 * byte stream a piece at a time (and, for a write larger than
 * CHAN_ATOMIC, as much as there is room for).  An empty buffer takes a
 * message of the channel's capacity.
 */
static void
send_take(struct bchan *bc, struct chan *c)
{
	struct waiter	*w;
	size_t		 left, len, room, max;

	while ((w = TAILQ_FIRST(&c->wq)) != NULL) {
		left = w->size - w->done;
		max = piece_max(c);
		if (c->framing == CHAN_MESSAGES && left > max) {
			/* Larger than the server takes. */
			chan_link_sent(w, 0, EMSGSIZE);
			continue;
		}
		len = c->framing == CHAN_MESSAGES || left < max ? left : max;
		/*
		 * A write answered from the buffer no longer holds its
		 * writer: the buffer counts against max_memory, and once
		 * that is used up the write waits here, as for a full
		 * buffer, until memory comes back (chan_link_starve).  An
		 * empty buffer takes a piece all the same: the write's own
		 * copy was counted when it came.
		 */
		if (bc->pbytes > 0 && budget_left(&br.pool->budget) <
		    piece_cost(bc, len) - len) {
			chan_link_starve(c);
			if (!w->nonblock)
				break;
			chan_link_sent(w, 0, EAGAIN);
			continue;
		}
		room = bc->pbytes < c->capacity ? c->capacity - bc->pbytes : 0;
		if (len > room && bc->pbytes > 0) {
			if (c->framing == CHAN_BYTES && w->size > CHAN_ATOMIC &&
			    room > 0)
				len = room;
			else {
				/* Full, as a pipe: wait, or EAGAIN. */
				if (!w->nonblock)
					break;
				chan_link_sent(w, 0, EAGAIN);
				continue;
			}
		}
		piece_take(bc, w, len);
	}
}

/*
 * A stream that is full with no reader left anywhere will never take
 * the pieces of an open that has seen one: they fail with EPIPE, as the
 * writes of a local channel do.
 */
static void
send_epipe(struct bchan *bc)
{
	struct piece	*p, *tp;
	int		 freed = 0;

	if (!bc->full)
		return;
	TAILQ_FOREACH_SAFE(p, &bc->pieces, entry, tp)
		if (p->h != NULL && chan_link_noreader(p->h)) {
			piece_done(bc, p, EPIPE);
			freed = 1;
		}
	if (freed && bc->chan != NULL)
		chan_link_wake(bc->chan);
}

/* Move the sending side of bc along. */
void
send_run(struct bchan *bc, struct chan *c)
{
	struct piece	*p;

	send_take(bc, c);
	send_epipe(bc);
	/*
	 * A writer's first data goes out only once the bucket has it, so
	 * that no host takes the end of its data for the end of the stream.
	 */
	if (!br.connected || bc->known_writers == 0)
		return;
	if (bc->hold_until != 0) {
		if (now_ms() < bc->hold_until)
			return;
		bc->hold_until = 0;
	}
	if (bc->window == 0)
		bc->window = BRIDGE_WINDOW;
	while ((p = bc->next) != NULL && bc->nout < bc->window) {
		bc->next = TAILQ_NEXT(p, entry);
		piece_publish(bc, p);
	}
}

/* Whether a write of CHAN_ATOMIC bytes would go in the buffer now. */
int
send_writable(const struct bchan *bc)
{
	size_t	 cap = bc->chan != NULL ? bc->chan->capacity : 0;
	size_t	 want = cap < CHAN_ATOMIC ? cap : CHAN_ATOMIC;

	if (bc->pbytes == 0)
		return (1);
	if (budget_left(&br.pool->budget) < piece_cost(bc, want) - want) {
		chan_link_starve(bc->chan);
		return (0);
	}
	return (bc->pbytes + want <= cap);
}

/* Every piece fails with err: the stream is gone, or JetStream silent. */
static void
send_fail_all(struct bchan *bc, int err)
{
	struct piece	*p;

	while ((p = TAILQ_FIRST(&bc->pieces)) != NULL)
		piece_done(bc, p, err);
	bc->full = 0;
	bc->hold_until = 0;
	if (bc->chan != NULL)
		chan_link_wake(bc->chan);
}

/*
 * The clock: pieces with no answer go again; a held buffer is tried
 * again; a channel JetStream has said nothing of for too long gives up.
 */
void
send_tick(struct bchan *bc, uint64_t now)
{
	struct piece	*p = TAILQ_FIRST(&bc->pieces);
	size_t		 n = 0;

	if (p == NULL)
		return;
	if (now - bc->progress > giveup_ms()) {
		TAILQ_FOREACH(p, &bc->pieces, entry)
			n += p->len;
		log_warnx("bridge: %s: no answer from JetStream for %" PRIu64
		    " s: %zu bytes written here are given up", bc->id,
		    giveup_ms() / 1000, n);
		send_fail_all(bc, EIO);
		return;
	}
	/* The pieces before next are out, the oldest first. */
	if (p != bc->next && p->state == PIECE_OUT && br.connected &&
	    now - p->sent > BRIDGE_RESEND_MS)
		send_rewind(bc, p);
	else if (bc->hold_until != 0 && now >= bc->hold_until)
		bchan_dirty(bc);
}

/* Connected again: what is out may have been lost; all goes again. */
void
send_reconnected(struct bchan *bc)
{
	struct piece	*p;

	if ((p = TAILQ_FIRST(&bc->pieces)) != NULL)
		send_rewind(bc, p);
	bc->hold_until = 0;
}

/* Out of reach: the pieces wait in the buffer (send_tick's bound). */
void
send_disconnected(struct bchan *bc)
{
	(void)bc;
}

/* Open h is closed: its pieces go on, with no one to tell. */
void
send_closed(struct bchan *bc, struct chan_handle *h)
{
	struct piece	*p;
	struct bsync	*s, *ts;

	TAILQ_FOREACH(p, &bc->pieces, entry)
		if (p->h == h)
			p->h = NULL;
	/* The kernel holds the file while a FLUSH waits; be safe anyway. */
	LIST_FOREACH_SAFE(s, &bc->syncs, entry, ts)
		if (s->h == h) {
			LIST_REMOVE(s, entry);
			fuse_reply_err(s->req, EBADF);
			free(s);
		}
	h->lout = 0;
}

/*
 * The channel goes (err: its stream is gone, its opens are told), or the
 * daemon stops (0: its opens are not looked at).
 */
void
send_free(struct bchan *bc, int err)
{
	struct piece	*p;
	struct bsync	*s;

	if (err == 0)
		TAILQ_FOREACH(p, &bc->pieces, entry)
			p->h = NULL;
	while ((p = TAILQ_FIRST(&bc->pieces)) != NULL)
		piece_done(bc, p, err != 0 ? err : EIO);
	while ((s = LIST_FIRST(&bc->syncs)) != NULL) {
		LIST_REMOVE(s, entry);
		fuse_reply_err(s->req, EIO);
		free(s);
	}
}

static struct piece *
piece_find(struct bchan *bc, uint64_t seq)
{
	struct piece	*p;

	TAILQ_FOREACH(p, &bc->pieces, entry)
		if (p->seq >= seq)
			return (p->seq == seq ? p : NULL);
	return (NULL);
}

/* Piece p is stored, and so is every piece before it. */
static void
piece_stored(struct bchan *bc, struct piece *p)
{
	struct piece	*q;
	int		 last = 0;

	while (!last && (q = TAILQ_FIRST(&bc->pieces)) != NULL) {
		last = q == p;
		piece_done(bc, q, 0);
		if (bc->window < BRIDGE_WINDOW_MAX)
			bc->window++;
	}
	bc->full = 0;
	bc->backoff = 0;
	if (bc->chan != NULL)
		chan_link_wake(bc->chan);
}

/* JetStream's answer to try tries of piece seq: stored, or why not. */
void
send_answer(struct bchan *bc, uint64_t seq, unsigned tries, natsMsg *m)
{
	struct piece	*p;
	const char	*data = natsMsg_GetData(m), *status = NULL;
	size_t		 len = (size_t)natsMsg_GetDataLength(m);
	char		 stream[64], name[64];
	uint64_t	 code = 0, ecode = 0, sseq;
	int		 current;

	if ((p = piece_find(bc, seq)) == NULL)
		return;
	/* Only "stored" is news from an earlier publish of it. */
	current = p->state == PIECE_OUT && tries == p->tries;
	if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK &&
	    status != NULL) {
		/* No stream answered: it is being made, moving, or gone. */
		if (current) {
			send_hold(bc, 100);
			send_rewind(bc, p);
			bchan_restream(bc);
		}
		return;
	}
	if (wire_json_num(data, len, "err_code", &ecode) == 0 ||
	    wire_json_num(data, len, "code", &code) == 0) {
		if (!current)
			return;
		if (ecode == JSStreamStoreFailedErr) {
			/*
			 * Full: JetStream looks for a duplicate id before it
			 * checks the limits, so it was never stored.  Try
			 * again once a reader lets go, or a little later;
			 * the writers wait as they do for room locally.
			 */
			bc->progress = now_ms();
			/*
			 * Its expectation makes a piece larger: only the first,
			 * sent without, tells that nothing more goes in.
			 */
			if (!p->expect)
				bc->full = 1;
			bc->window = 1;
			bc->backoff = bc->backoff == 0 ? BRIDGE_RETRY_MS :
			    bc->backoff * 2 > 100 ? 100 : bc->backoff * 2;
			send_hold(bc, bc->backoff);
			send_rewind(bc, p);
			return;
		}
		if (ecode == JSStreamWrongLastMsgIDErr) {
			/* Its predecessor is not the last: send again. */
			bc->progress = now_ms();
			bc->window = bc->window > 2 ? bc->window / 2 : 1;
			send_rewind(bc, p);
			return;
		}
		if (ecode == JSStreamNotFoundErr || code == 503) {
			send_hold(bc, 100);
			send_rewind(bc, p);
			if (ecode == JSStreamNotFoundErr)
				bchan_restream(bc);
			return;
		}
		log_warnx("bridge: %s: publish: %.*s", bc->id,
		    len > 200 ? 200 : (int)len, data);
		bc->progress = now_ms();
		piece_done(bc, p, EIO);
		if (bc->chan != NULL)
			chan_link_wake(bc->chan);
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
	bc->progress = now_ms();
	piece_stored(bc, p);
}

/* Someone read from a stream: a buffer held as full may go in now. */
void
send_freed(const char *id)
{
	struct bchan	*bc;

	if ((bc = bchan_by_id(id)) != NULL && bc->hold_until != 0 &&
	    bc->full) {
		bc->hold_until = 0;
		bc->backoff = 0;
		bchan_dirty(bc);
	}
}
