/*
 * Fuzz the channel state machine in chan.c with random operation sequences:
 * opens for reading, writing or both, closes, reads and writes of any size,
 * blocking or not, polls, interrupts of held requests, aborts and changes
 * of mode, on one or two channels sharing a small memory budget.  Each
 * channel has a framing (bytes or messages) and a delivery (queue or
 * broadcast) of its own, from the input's first byte (docs/modes.md), and
 * the mount's max_message may be set below the capacity.
 *
 * A reference model follows along and checks, after every call:
 * - the bytes read are the bytes written, in order, each exactly once (in
 *   a broadcast, once to each reader, from where the furthest reader was
 *   when it opened), and a message read is one whole write;
 * - a queue's reads and writes, and a broadcast's reads of one open, are
 *   answered in order; a read gets all it could have (up to its size, or
 *   the next message whole); EMSGSIZE for messages over max_message and
 *   for reads too small for the next message, which stays;
 * - every request is answered exactly once, either during its own call or
 *   later while it is held, and only in the ways the rules allow: end of
 *   file once the writers are gone (for opens that saw one), EPIPE once the
 *   readers are gone (for opens that saw one), EAGAIN only without O_NONBLOCK
 *   room, writes of at most CHAN_ATOMIC bytes whole or not at all;
 * - nothing is left held that could go on (a held read means nothing for
 *   its open and no end of file, a held write means no room for it; the
 *   room for a message leaves max_memory for its length);
 * - a broadcast's ring keeps exactly what its slowest reader (or, with
 *   none, the furthest) has still to read, and its ring of message lengths
 *   one length for each message there;
 * - the pool's counters (mem_used, held, nwaiters) match what is really
 *   allocated and held, and return to zero once everything is closed;
 *   chan_stats gives the model's figures;
 * - a poller is woken whenever an event it could wait for appears, and
 *   every poll handle is released exactly once.
 *
 * One thing is let pass: memory freed by one channel (its ring freed at
 * the last close, or a held write's copy let go) may give another channel
 * room to grow, and that channel's held writes then wait until its own
 * reader moves data (its pollers must be woken, and are checked).
 *
 * FUZZ_TRACE=1 in the environment prints each call, to follow a crash.
 */

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MAX_CHANS	2
#define MAX_HANDLES	8
#define MAX_OPS		400
#define MAX_REQS	(MAX_OPS + 1)
#define MAX_TOKENS	(MAX_OPS + 1)
#define MAX_IO		(2 * 16384 + 64 + 2 * CHAN_ADOPT_MIN)

enum { REQ_FREE, REQ_CALL, REQ_HELD, REQ_DONE };
enum { ANS_NONE, ANS_DATA, ANS_COUNT, ANS_ERR };
enum { CTX_OTHER, CTX_CLOSE, CTX_CANCEL, CTX_ABORT, CTX_POLL, CTX_WRITE };

#define MIN(a, b)	((a) < (b) ? (a) : (b))

struct mreq;

/* One write's place in a channel's byte stream. */
struct wrec {
	uint64_t	 id;
	size_t		 size;
	size_t		 final;		/* bytes that went in, once answered */
	size_t		 consumed;	/* byte queue: bytes read */
	int		 held;		/* not answered yet */
	int		 must_full;	/* read past its end while held */
	/* The other modes: */
	struct mreq	*req;		/* its request */
	size_t		 pushed;	/* bytes known to have gone in */
	int		 counted;	/* a message counted in nmsg */
};

/*
 * A place in a channel's stream, in the modes other than a byte queue: a
 * queue's readers share one, a broadcast's each have their own.
 */
struct mcur {
	size_t		 rec;		/* the record it is in */
	size_t		 off;		/* bytes of it read */
	uint64_t	 pos;		/* bytes read before, all told */
	uint64_t	 msg;		/* messages read before */
};

/* A request handed to chan.c; its address is the opaque req. */
struct mreq {
	int		 state;
	int		 op;		/* WAIT_READ or WAIT_WRITE */
	int		 hidx;
	int		 ch;
	size_t		 size;
	struct waiter	*w;
	struct wrec	*rec;
	size_t		 done;		/* held write: w->done before a call */
	int		 ans;
	size_t		 count;		/* ANS_DATA bytes or ANS_COUNT */
	int		 err;
};

struct mhandle {
	struct chan_handle *h;
	int		 ch;
	int		 mode;
	int		 seen_writer;
	int		 seen_reader;
	int		 token;		/* poll handle held, or -1 */
	unsigned	 registered;	/* events when it was handed over */
	unsigned	 nheldr;	/* its held reads */
	struct mcur	 cur;		/* broadcast: its place */
};

struct mchan {
	struct chan	*c;
	unsigned	 readers;
	unsigned	 writers;
	struct wrec	 recs[MAX_OPS];
	size_t		 nrecs;
	size_t		 cur;		/* first record not fully read */
	unsigned	 nheldw;
	unsigned	 nheldr;
	int		 stale;		/* memory freed elsewhere, no pump yet */
	int		 framing;
	int		 delivery;
	/* The modes other than a byte queue: */
	struct mcur	 q;		/* a queue's readers' place */
	struct mcur	 taken;		/* broadcast: furthest read */
	uint64_t	 end;		/* bytes that went in, all told */
	uint64_t	 nmsg;		/* messages that went in */
	size_t		 sync;		/* first record not in end */
	/* Its figures, for chan_stats. */
	uint64_t	 bytes_written;
	uint64_t	 bytes_read;
	uint64_t	 writes;
	uint64_t	 reads;
};

struct model {
	struct chan_pool pool;
	struct mchan	 ch[MAX_CHANS];
	int		 nch;
	struct mhandle	 h[MAX_HANDLES];
	struct mreq	 reqs[MAX_REQS];
	size_t		 nreqs;
	int		 tokens[MAX_TOKENS];	/* 1 while chan.c holds it */
	size_t		 ntokens;
	uint64_t	 next_id;
	int		 ctx;
	int		 ctx_hidx;
	struct mreq	*ctx_req;
	int		 ctx_ch;
	int		 ctx_err;
	size_t		 ctx_size;	/* CTX_WRITE: its size */
	int		 op_ch;		/* the channel the last call was on */
	unsigned	 held_total;
};

static struct model	 M;
static int		 trace;	/* FUZZ_TRACE=1 prints each call */
static uint8_t		 iobuf[MAX_IO];

static void	check_stats(int);

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define TRACE(...) do {							\
	if (trace)							\
		fprintf(stderr, __VA_ARGS__);				\
} while (0)

/* The most channel ch's ring could hold now, by the pool's rules. */
static size_t
limit_of(int ch)
{
	const struct chan	*c = M.ch[ch].c;
	const struct budget	*b = &M.pool.budget;
	size_t			 budget, limit, used, lens;

	/* Buffers and copies of held writes share max_memory. */
	used = b->mem_used + b->held + b->hist_used + b->region_used;
	budget = b->max_memory > used ? b->max_memory - used : 0;
	/*
	 * A message's length needs max_memory too when the ring of lengths
	 * must grow for it (64 lengths at first, then doubling).
	 */
	if (M.ch[ch].framing == CHAN_MESSAGES &&
	    c->lens.size - c->lens.len < sizeof (uint32_t)) {
		lens = c->lens.size == 0 ? 64 * sizeof (uint32_t) :
		    c->lens.size;
		budget = budget > lens ? budget - lens : 0;
	}
	limit = c->ring.size + budget;
	if (limit > c->capacity || limit < c->ring.size)
		limit = c->capacity;
	return (limit);
}

static size_t
room_of(int ch)
{
	return (limit_of(ch) - M.ch[ch].c->ring.len);
}

/* Bytes a write of total bytes needs free before any of rest goes in. */
static size_t
need_of(int ch, size_t rest, size_t total)
{
	if (M.ch[ch].framing == CHAN_MESSAGES)
		return (rest);
	return (total <= CHAN_ATOMIC ? rest : 1);
}

/* True for a byte queue, the mode the first model below follows. */
static int
is_stream(int ch)
{
	return (M.ch[ch].framing == CHAN_BYTES &&
	    M.ch[ch].delivery == CHAN_QUEUE);
}

/* The largest message of channel ch, by docs/modes.md. */
static size_t
max_msg_of(int ch)
{
	size_t	 cap = M.ch[ch].c->capacity, max = M.pool.max_message;

	if (M.ch[ch].framing == CHAN_BYTES)
		return (CHAN_ATOMIC);
	return (max != 0 && max < cap ? max : cap);
}

/* Unread bytes of answered writes; exact while no write is held. */
static FZ_NOCOV size_t
buffered(int ch)
{
	struct mchan	*mc = &M.ch[ch];
	size_t		 i, n = 0;

	for (i = mc->cur; i < mc->nrecs; i++)
		if (!mc->recs[i].held)
			n += mc->recs[i].final - mc->recs[i].consumed;
	return (n);
}

static int
seen_writer(const struct mhandle *mh)
{
	return (mh->seen_writer);
}

static int
seen_reader(const struct mhandle *mh)
{
	return (mh->seen_reader);
}

/*
 * The model of the other modes.  Writes go into the ring strictly in
 * order, whole for messages, so a channel's stream is its records' bytes
 * in order, each record giving what its answer said went in, or for a
 * write still held what chan.c took of it so far.  end counts them all;
 * a reader's place is a cursor into that stream.
 */

/*
 * What chan.c took so far of record r, whose write is in its own call,
 * not answered yet.  A queue puts no message in the ring before its
 * writer is answered; a broadcast may serve held reads first, and its
 * stream ends where its ring does.
 */
static FZ_NOCOV size_t
call_pushed(int ch, const struct wrec *r)
{
	const struct mchan	*mc = &M.ch[ch];
	uint64_t		 before = mc->end - r->pushed, now;

	if (mc->delivery != CHAN_BROADCAST)
		return (r->pushed);
	now = mc->c->head.pos + mc->c->ring.len;
	FZ_CHECK(now >= before);
	return ((size_t)(now - before));
}

/* Bring end and nmsg up to what went in. */
static FZ_NOCOV void
stream_sync(int ch)
{
	struct mchan	*mc = &M.ch[ch];
	struct wrec	*r;
	size_t		 n;

	while (mc->sync < mc->nrecs) {
		r = &mc->recs[mc->sync];
		if (!r->held)
			n = r->final;
		else if (r->req->state == REQ_HELD)
			n = r->req->w->done;
		else
			n = call_pushed(ch, r);
		FZ_CHECK(n >= r->pushed && n <= r->size);
		mc->end += n - r->pushed;
		r->pushed = n;
		if (mc->framing == CHAN_MESSAGES && n > 0 && !r->counted) {
			/* Whole or nothing. */
			FZ_CHECK(n == r->size);
			r->counted = 1;
			mc->nmsg++;
		}
		/*
		 * Nothing after a write still held has gone in, unless all
		 * of it has (it is answered once the reads it feeds are).
		 */
		if (r->held && n < r->size)
			break;
		mc->sync++;
	}
}

/* Move cu past the records it has read all of that can give no more. */
static FZ_NOCOV void
cur_norm(int ch, struct mcur *cu)
{
	struct mchan	*mc = &M.ch[ch];
	struct wrec	*r;

	while (cu->rec < mc->nrecs) {
		r = &mc->recs[cu->rec];
		if (cu->off < r->pushed)
			return;
		if (r->held && r->pushed < r->size)
			return;
		if (r->held)
			r->must_full = 1;
		cu->rec++;
		cu->off = 0;
	}
}

/* The place of the reader of open hidx. */
static struct mcur *
cur_of(int hidx)
{
	struct mchan	*mc = &M.ch[M.h[hidx].ch];

	return (mc->delivery == CHAN_QUEUE ? &mc->q : &M.h[hidx].cur);
}

/* Bytes there are for cu to read. */
static uint64_t
cur_avail(int ch, const struct mcur *cu)
{
	FZ_CHECK(M.ch[ch].end >= cu->pos);
	return (M.ch[ch].end - cu->pos);
}

/* The next message for cu, or NULL if there is none yet. */
static FZ_NOCOV struct wrec *
cur_next_msg(int ch, struct mcur *cu)
{
	struct mchan	*mc = &M.ch[ch];
	struct wrec	*r;

	cur_norm(ch, cu);
	if (cu->rec >= mc->nrecs)
		return (NULL);
	r = &mc->recs[cu->rec];
	if (r->pushed == 0)
		return (NULL);
	FZ_CHECK(cu->off == 0 && r->pushed == r->size);
	return (r);
}

/* Check n bytes read through cu against the stream, and move on. */
static FZ_NOCOV void
cur_read(int ch, struct mcur *cu, const uint8_t *p, size_t n)
{
	struct mchan	*mc = &M.ch[ch];
	struct wrec	*r;
	size_t		 k;

	while (n > 0) {
		cur_norm(ch, cu);
		FZ_CHECK(cu->rec < mc->nrecs);
		r = &mc->recs[cu->rec];
		k = r->pushed - cu->off;
		FZ_CHECK(k > 0);
		if (k > n)
			k = n;
		FZ_CHECK(fz_match(p, r->id, cu->off, k));
		cu->off += k;
		cu->pos += k;
		p += k;
		n -= k;
	}
}

/*
 * Where a broadcast's ring starts: the slowest reader's place, or with
 * none slower, the furthest any reader got.
 */
static FZ_NOCOV const struct mcur *
low_of(int ch)
{
	const struct mcur	*low = &M.ch[ch].taken;
	int			 k;

	if (M.ch[ch].delivery == CHAN_QUEUE)
		return (&M.ch[ch].q);
	for (k = 0; k < MAX_HANDLES; k++)
		if (M.h[k].h != NULL && M.h[k].ch == ch &&
		    (M.h[k].mode & CHAN_RD) && M.h[k].cur.pos < low->pos)
			low = &M.h[k].cur;
	return (low);
}

/* Bytes the ring of channel ch holds, by the model. */
static FZ_NOCOV size_t
ring_expect(int ch)
{
	if (is_stream(ch))
		return (buffered(ch));
	stream_sync(ch);
	return ((size_t)(M.ch[ch].end - low_of(ch)->pos));
}

/* Messages the ring of channel ch holds, by the model. */
static FZ_NOCOV size_t
msgs_expect(int ch)
{
	if (M.ch[ch].framing == CHAN_BYTES)
		return (0);
	stream_sync(ch);
	return ((size_t)(M.ch[ch].nmsg - low_of(ch)->msg));
}

/*
 * Held request q, a read, is answered with data or EMSGSIZE: a queue
 * answers its held reads in order, a broadcast those of each open.
 */
static FZ_NOCOV void
read_in_order(const struct mreq *q)
{
	const struct mreq	*p;
	int			 queue;

	queue = M.ch[q->ch].delivery == CHAN_QUEUE;
	for (p = M.reqs; p < q; p++) {
		if (p->state != REQ_HELD || p->op != WAIT_READ ||
		    p->ans != ANS_NONE || p->ch != q->ch)
			continue;
		FZ_CHECK(!queue && p->hidx != q->hidx);
	}
}

/* May held read q get EMSGSIZE now? */
static FZ_NOCOV int
msgsize_ok(struct mreq *q)
{
	struct mchan	*mc = &M.ch[q->ch];
	struct mcur	*cu = cur_of(q->hidx);
	struct wrec	*r;

	if (mc->framing != CHAN_MESSAGES)
		return (0);
	stream_sync(q->ch);
	read_in_order(q);
	/* The next message waits for it, and is too big. */
	if ((r = cur_next_msg(q->ch, cu)) != NULL)
		return (r->size > q->size);
	/* A queue's message on its way to a held read big enough. */
	return (mc->delivery == CHAN_QUEUE && M.ctx == CTX_WRITE &&
	    M.ctx_ch == q->ch && M.ctx_size > q->size);
}

/* Data for read q, in a mode other than a byte queue. */
static FZ_NOCOV void
modes_data(struct mreq *q, const struct iovec *iov, int cnt, size_t total)
{
	struct mchan	*mc = &M.ch[q->ch];
	struct mhandle	*mh = &M.h[q->hidx];
	struct mcur	*cu = cur_of(q->hidx);
	struct wrec	*r;
	size_t		 off;
	int		 i;

	stream_sync(q->ch);
	if (q->size == 0) {
		FZ_CHECK(total == 0);
		return;
	}
	if (total == 0) {
		/* End of file: writers gone, seen, nothing left for it. */
		FZ_CHECK(mc->writers == 0);
		FZ_CHECK(seen_writer(mh));
		FZ_CHECK(cur_avail(q->ch, cu) == 0);
		return;
	}
	if (q->state == REQ_HELD)
		read_in_order(q);
	if (mc->framing == CHAN_MESSAGES) {
		/* The next message, whole. */
		r = cur_next_msg(q->ch, cu);
		FZ_CHECK(r != NULL);
		FZ_CHECK(total == r->size);
		off = 0;
		for (i = 0; i < cnt; i++) {
			FZ_CHECK(fz_match(iov[i].iov_base, r->id, off,
			    iov[i].iov_len));
			off += iov[i].iov_len;
		}
		cu->off = r->size;
		cu->pos += total;
		cu->msg++;
	} else {
		/* All there is for it, up to its size. */
		FZ_CHECK(total == MIN(q->size, cur_avail(q->ch, cu)));
		for (i = 0; i < cnt; i++)
			cur_read(q->ch, cu, iov[i].iov_base, iov[i].iov_len);
	}
	if (mc->delivery == CHAN_BROADCAST && cu->pos > mc->taken.pos)
		mc->taken = *cu;
}

/*
 * The poll events of a handle by the rules of pipe(7) as chan.c has them.
 * Bits the rules leave open are set in *open: POLLIN while the ring is
 * empty but a write is held (a read may take bytes straight from it).
 */
static unsigned
events_of(int hidx, unsigned *open)
{
	struct mhandle	*mh = &M.h[hidx];
	struct mchan	*mc = &M.ch[mh->ch];
	unsigned	 ev = 0;

	*open = 0;
	if ((mh->mode & CHAN_RD) && !is_stream(mh->ch)) {
		/* POLLIN when there is something for this open. */
		stream_sync(mh->ch);
		if (cur_avail(mh->ch, cur_of(hidx)) > 0)
			ev |= POLLIN | POLLRDNORM;
		else if (mc->writers == 0 && seen_writer(mh))
			ev |= POLLIN | POLLRDNORM | POLLHUP;
	} else if (mh->mode & CHAN_RD) {
		if (mc->c->ring.len == 0 && mc->nheldw > 0)
			*open = POLLIN | POLLRDNORM;
		if (mc->c->ring.len > 0)
			ev |= POLLIN | POLLRDNORM;
		else if (mc->writers == 0 && seen_writer(mh))
			ev |= POLLIN | POLLRDNORM | POLLHUP;
	}
	if (mh->mode & CHAN_WR) {
		if (mc->readers == 0 && seen_reader(mh))
			ev |= POLLERR | POLLOUT | POLLWRNORM;
		else if (mc->nheldw == 0 && room_of(mh->ch) >= CHAN_ATOMIC)
			ev |= POLLOUT | POLLWRNORM;
	}
	return (ev);
}

/* Check bytes read from channel ch against its stream, and consume them. */
static FZ_NOCOV void
stream_read(int ch, const uint8_t *p, size_t n)
{
	struct mchan	*mc = &M.ch[ch];
	struct wrec	*r;
	size_t		 k;

	while (n > 0) {
		for (;;) {
			FZ_CHECK(mc->cur < mc->nrecs);
			r = &mc->recs[mc->cur];
			if (!r->held && r->consumed == r->final) {
				mc->cur++;
				continue;
			}
			if (r->held && r->consumed == r->size) {
				r->must_full = 1;
				mc->cur++;
				continue;
			}
			break;
		}
		k = (r->held ? r->size : r->final) - r->consumed;
		if (k > n)
			k = n;
		FZ_CHECK(fz_match(p, r->id, r->consumed, k));
		r->consumed += k;
		p += k;
		n -= k;
	}
}

static FZ_NOCOV struct mreq *
req_of(void *req)
{
	struct mreq	*q = req;

	FZ_CHECK(q >= M.reqs && q < M.reqs + MAX_REQS);
	FZ_CHECK(q->state == REQ_CALL || q->state == REQ_HELD);
	FZ_CHECK(q->ans == ANS_NONE);
	return (q);
}

/* A held request answered: leave the held state. */
static void
req_unhold(struct mreq *q)
{
	if (q->state != REQ_HELD)
		return;
	if (q->op == WAIT_WRITE)
		M.ch[q->ch].nheldw--;
	else {
		M.ch[q->ch].nheldr--;
		M.h[q->hidx].nheldr--;
	}
	M.held_total--;
}

/* Request q comes back held as w. */
static void
req_hold(struct mreq *q, struct waiter *w)
{
	FZ_CHECK(w != NULL && q->ans == ANS_NONE);
	FZ_CHECK(w->req == q && w->op == q->op);
	q->state = REQ_HELD;
	q->w = w;
	if (q->op == WAIT_WRITE)
		M.ch[q->ch].nheldw++;
	else {
		M.ch[q->ch].nheldr++;
		M.h[q->hidx].nheldr++;
	}
	M.held_total++;
}

/*
 * May held write q end now short of its size, with err (or for any reason
 * if err is 0)?
 */
static int
write_may_stop(struct mreq *q, int err)
{
	struct mchan	*mc = &M.ch[q->ch];
	struct mhandle	*mh = &M.h[q->hidx];

	if (M.ctx == CTX_CLOSE && q->hidx == M.ctx_hidx &&
	    (err == 0 || err == EBADF))
		return (1);
	if (M.ctx == CTX_CANCEL && q == M.ctx_req &&
	    (err == 0 || err == M.ctx_err))
		return (1);
	if (M.ctx == CTX_ABORT && q->ch == M.ctx_ch &&
	    (err == 0 || err == M.ctx_err))
		return (1);
	if ((err == 0 || err == EPIPE) && mc->readers == 0 && seen_reader(mh))
		return (1);
	/* Another channel took the memory it was waiting for. */
	if ((err == 0 || err == ENOSPC) &&
	    limit_of(q->ch) < need_of(q->ch, q->size - q->done, q->size))
		return (1);
	return (0);
}

/* A held write's final count: close its stream record. */
static void
write_final(struct mreq *q, size_t count)
{
	struct wrec	*r = q->rec;

	FZ_CHECK(r != NULL && r->held);
	FZ_CHECK(count <= q->size);
	FZ_CHECK(count >= r->consumed);
	FZ_CHECK(count >= r->pushed);
	if (r->must_full)
		FZ_CHECK(count == r->size);
	if (q->size <= CHAN_ATOMIC && count != 0 && count != q->size)
		TRACE("atomic write of %zu answered with %zu\n", q->size, count);
	if (q->size <= CHAN_ATOMIC || M.ch[q->ch].framing == CHAN_MESSAGES)
		FZ_CHECK(count == 0 || count == q->size);
	r->held = 0;
	r->final = count;
}

static void
cb_reply_data(void *req, const struct iovec *iov, int cnt)
{
	struct mreq	*q = req_of(req);
	struct mhandle	*mh = &M.h[q->hidx];
	struct mchan	*mc = &M.ch[q->ch];
	size_t		 total = 0;
	int		 i;

	FZ_CHECK(q->op == WAIT_READ);
	FZ_CHECK(cnt >= 0);
	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	FZ_CHECK(total <= q->size);
	if (!is_stream(q->ch))
		modes_data(q, iov, cnt, total);
	else {
		for (i = 0; i < cnt; i++)
			stream_read(q->ch, iov[i].iov_base, iov[i].iov_len);
		if (total == 0 && q->size > 0) {
			/* End of file: writers gone, nothing left, and seen. */
			FZ_CHECK(mc->writers == 0);
			FZ_CHECK(seen_writer(mh));
			FZ_CHECK(mc->nheldw == 0);
			FZ_CHECK(buffered(q->ch) == 0);
		}
	}
	if (total > 0) {
		mc->reads++;
		mc->bytes_read += total;
	}
	req_unhold(q);
	q->ans = ANS_DATA;
	q->count = total;
}

static void
cb_reply_count(void *req, size_t count)
{
	struct mreq	*q = req_of(req);

	FZ_CHECK(q->op == WAIT_WRITE);
	if (q->state == REQ_HELD) {
		FZ_CHECK(count >= q->done);
		if (count < q->size)
			FZ_CHECK(write_may_stop(q, 0));
		write_final(q, count);
	} else if (!is_stream(q->ch)) {
		/* Answered in its call: its place in the stream is settled. */
		FZ_CHECK(count >= q->rec->pushed);
		q->rec->held = 0;
		q->rec->final = count;
	}
	if (count > 0) {
		M.ch[q->ch].writes++;
		M.ch[q->ch].bytes_written += count;
	}
	req_unhold(q);
	q->ans = ANS_COUNT;
	q->count = count;
}

static void
cb_reply_err(void *req, int err)
{
	struct mreq	*q = req_of(req);

	FZ_CHECK(err > 0);
	if (q->state == REQ_HELD) {
		if (q->op == WAIT_WRITE) {
			FZ_CHECK(q->done == 0);
			FZ_CHECK(err != 0 && write_may_stop(q, err));
			write_final(q, 0);
		} else
			FZ_CHECK((M.ctx == CTX_CLOSE && q->hidx == M.ctx_hidx &&
			    err == EBADF) ||
			    (M.ctx == CTX_CANCEL && q == M.ctx_req &&
			    err == M.ctx_err) ||
			    (M.ctx == CTX_ABORT && q->ch == M.ctx_ch &&
			    err == M.ctx_err) ||
			    (err == EMSGSIZE && msgsize_ok(q)));
	} else if (q->op == WAIT_WRITE && !is_stream(q->ch)) {
		FZ_CHECK(q->rec->pushed == 0);
		q->rec->held = 0;
		q->rec->final = 0;
	}
	req_unhold(q);
	q->ans = ANS_ERR;
	q->err = err;
}

/*
 * A poll handle given back, woken or not.  Only a close or a new poll of
 * the same open may drop one without waking it.
 */
static void
token_back(void *ph, int wake)
{
	int	 t, i;

	t = (int)((uintptr_t)ph - 1);
	FZ_CHECK(t >= 0 && (size_t)t < M.ntokens);
	FZ_CHECK(M.tokens[t] == 1);
	M.tokens[t] = 0;
	for (i = 0; i < MAX_HANDLES; i++) {
		if (M.h[i].h != NULL && M.h[i].token == t) {
			if (!wake)
				FZ_CHECK((M.ctx == CTX_CLOSE ||
				    M.ctx == CTX_POLL) && i == M.ctx_hidx);
			M.h[i].token = -1;
			return;
		}
	}
	FZ_CHECK(!"poll handle of no open");
}

static void
cb_poll_notify(void *ph)
{
	token_back(ph, 1);
}

static void
cb_poll_free(void *ph)
{
	token_back(ph, 0);
}

/*
 * The buffer the write being served arrived in, as libfuse's receive
 * buffer (loop.c): a header, then the bytes.  chan.c may take it over
 * (cbs->adopt); fz_write frees it if it did not.
 */
static char	*rbuf;
static size_t	 rbuf_size;

static void *
cb_adopt(void *req, const void *p, size_t max, size_t *size)
{
	void	*mem = rbuf;

	(void)req;
	if (mem == NULL || (const char *)p < rbuf ||
	    (const char *)p >= rbuf + rbuf_size || rbuf_size > max)
		return (NULL);
	rbuf = NULL;
	*size = rbuf_size;
	return (mem);
}

static const struct chan_cbs cbs = {
	.reply_data = cb_reply_data,
	.reply_count = cb_reply_count,
	.reply_err = cb_reply_err,
	.poll_notify = cb_poll_notify,
	.poll_free = cb_poll_free,
	.adopt = cb_adopt,
};

/* chan_write of iobuf's size bytes, from a receive buffer of its own. */
static struct waiter *
fz_write(struct chan_handle *h, void *req, size_t size, int nonblock)
{
	struct waiter	*w;

	rbuf_size = 80 + size + (size & 0xfff);
	if ((rbuf = malloc(rbuf_size)) == NULL)
		abort();
	memset(rbuf, 0xa5, 80);
	memcpy(rbuf + 80, iobuf, size);
	w = chan_write(h, req, rbuf + 80, size, 0, nonblock);
	free(rbuf);		/* unless taken over */
	rbuf = NULL;
	return (w);
}

static struct mreq *
req_new(int op, int hidx, size_t size)
{
	struct mreq	*q;

	FZ_CHECK(M.nreqs < MAX_REQS);
	q = &M.reqs[M.nreqs++];
	memset(q, 0, sizeof *q);
	q->state = REQ_CALL;
	q->op = op;
	q->hidx = hidx;
	q->ch = M.h[hidx].ch;
	q->size = size;
	return (q);
}

/* Note what the held writes have taken so far, before a call. */
static FZ_NOCOV void
snapshot_held(void)
{
	size_t	 i;

	for (i = 0; i < M.nreqs; i++) {
		if (M.reqs[i].state == REQ_HELD &&
		    M.reqs[i].op == WAIT_WRITE)
			M.reqs[i].done = M.reqs[i].w->done;
	}
}

/* After a call: mark answered requests done. */
static FZ_NOCOV void
settle_reqs(void)
{
	size_t	 i;

	for (i = 0; i < M.nreqs; i++) {
		if (M.reqs[i].state == REQ_HELD && M.reqs[i].ans != ANS_NONE)
			M.reqs[i].state = REQ_DONE;
	}
}

/*
 * The invariants that hold between calls.  alert_ok says whether the last
 * call may have changed events without waking pollers (only chan_abort,
 * which is for shutdown).
 *
 * Pollers of every channel are checked: memory freed on one channel can
 * let another take writes (POLLOUT), and its pollers must hear of it.
 */
static FZ_NOCOV void
check_state(int alert_ok)
{
	struct mchan	*mc;
	struct mreq	*q;
	struct waiter	*w;
	size_t		 i, held = 0, mem = 0;
	unsigned	 nheld = 0, now, open;
	int		 ch, k, nh;

	for (i = 0; i < M.nreqs; i++) {
		q = &M.reqs[i];
		if (q->state != REQ_HELD)
			continue;
		nheld++;
		FZ_CHECK(M.h[q->hidx].h != NULL);
		mc = &M.ch[q->ch];
		if (q->op == WAIT_READ) {
			/* A held read means nothing to read and no EOF. */
			if (is_stream(q->ch))
				FZ_CHECK(mc->c->ring.len == 0);
			else {
				stream_sync(q->ch);
				FZ_CHECK(cur_avail(q->ch,
				    cur_of(q->hidx)) == 0);
			}
			FZ_CHECK(mc->writers > 0 || !seen_writer(&M.h[q->hidx]));
		} else {
			FZ_CHECK(mc->readers > 0 || !seen_reader(&M.h[q->hidx]));
			/* A buffer taken over counts whole (extra). */
			held += q->size - q->w->done + q->w->extra;
			FZ_CHECK(q->w->mem != NULL || q->w->extra == 0);
		}
	}
	FZ_CHECK(nheld == M.held_total);
	FZ_CHECK(M.pool.nwaiters == nheld);
	FZ_CHECK(M.pool.budget.held == held);

	for (ch = 0; ch < M.nch; ch++) {
		mc = &M.ch[ch];
		FZ_CHECK(mc->c->readers == mc->readers);
		FZ_CHECK(mc->c->writers == mc->writers);
		FZ_CHECK(mc->c->ring.len <= mc->c->ring.size);
		FZ_CHECK(mc->c->ring.size <= mc->c->capacity);
		FZ_CHECK(mc->c->framing == mc->framing);
		FZ_CHECK(mc->c->delivery == mc->delivery);
		mem += mc->c->ring.size + mc->c->lens.size;
		if (!is_stream(ch)) {
			/* What the slowest reader has still to read. */
			FZ_CHECK(mc->c->ring.len == ring_expect(ch));
			FZ_CHECK(mc->c->lens.len ==
			    msgs_expect(ch) * sizeof (uint32_t));
		} else if (mc->nheldw == 0)
			FZ_CHECK(mc->c->ring.len == buffered(ch));
		if (mc->framing == CHAN_BYTES)
			FZ_CHECK(mc->c->lens.size == 0);
		if (mc->nheldw > 0) {
			/*
			 * The oldest held write waits for room it lacks,
			 * unless memory freed by another channel gave it
			 * room since this one last moved data.
			 */
			w = TAILQ_FIRST(&mc->c->wq);
			FZ_CHECK(w != NULL);
			if (!mc->stale)
				FZ_CHECK(room_of(ch) <
				    need_of(ch, w->size - w->done, w->size));
		}
		nh = 0;
		for (k = 0; k < MAX_HANDLES; k++)
			if (M.h[k].h != NULL && M.h[k].ch == ch)
				nh++;
		if (nh == 0 && mc->c->ring.len == 0)
			FZ_CHECK(mc->c->ring.size == 0 &&
			    mc->c->lens.size == 0);
		check_stats(ch);
	}
	FZ_CHECK(M.pool.budget.mem_used == mem);
	FZ_CHECK(M.pool.budget.mem_used <= M.pool.budget.max_memory);

	/* A poller must hear of every event that appears. */
	for (k = 0; k < MAX_HANDLES; k++) {
		if (M.h[k].h == NULL || M.h[k].token == -1)
			continue;
		now = events_of(k, &open);
		if (alert_ok)
			M.h[k].registered |= now;
		FZ_CHECK((now & ~M.h[k].registered & ~open) == 0);
	}
}

/* The figures chan_stats gives are the model's. */
static FZ_NOCOV void
check_stats(int ch)
{
	struct mchan		*mc = &M.ch[ch];
	struct chan_stats	 st;

	chan_stats(mc->c, &st);
	FZ_CHECK(st.framing == mc->framing);
	FZ_CHECK(st.delivery == mc->delivery);
	FZ_CHECK(st.capacity == mc->c->capacity);
	FZ_CHECK(st.max_message == max_msg_of(ch));
	FZ_CHECK(chan_max_message(mc->c) == max_msg_of(ch));
	FZ_CHECK(st.readers == mc->readers && st.writers == mc->writers);
	FZ_CHECK(st.buffered == mc->c->ring.len);
	FZ_CHECK(st.messages == msgs_expect(ch));
	FZ_CHECK(st.held_reads == mc->nheldr);
	FZ_CHECK(st.held_writes == mc->nheldw);
	FZ_CHECK(st.bytes_written == mc->bytes_written);
	FZ_CHECK(st.writes == mc->writes);
	FZ_CHECK(st.bytes_read == mc->bytes_read);
	FZ_CHECK(st.reads == mc->reads);
}

/* What counts against max_memory here: buffers and held copies. */
static size_t
pool_used(void)
{
	return (M.pool.budget.mem_used + M.pool.budget.held);
}

/* Memory freed by the last call may let other channels' writes go on. */
static FZ_NOCOV void
mark_stale(size_t mem_before)
{
	int	 ch;

	if (pool_used() >= mem_before)
		return;
	for (ch = 0; ch < M.nch; ch++)
		if (ch != M.op_ch)
			M.ch[ch].stale = 1;
}

/*
 * Sizes that reach the edges: zero, small, around CHAN_ATOMIC, around the
 * capacity and the largest message, big, and past CHAN_ADOPT_MIN.
 */
static size_t
pick_size(struct fz *f, int ch)
{
	size_t	 cap = M.ch[ch].c->capacity, max = max_msg_of(ch);

	switch (fz_u8(f) % 8) {
	case 0:
		return (0);
	case 7:
		/* Large: a held one keeps its receive buffer (cbs->adopt). */
		return (CHAN_ADOPT_MIN - 8 + fz_upto(f, CHAN_ADOPT_MIN));
	case 1:
		return (1 + fz_upto(f, 63));
	case 2:
		return (1 + fz_upto(f, CHAN_ATOMIC - 1));
	case 3:
		return (CHAN_ATOMIC - 8 + fz_upto(f, 16));
	case 4:
		return (cap - 8 + fz_upto(f, 16));
	case 5:
		return ((max > 8 ? max - 8 : 0) + fz_upto(f, 16));
	default:
		return (1 + fz_upto(f, 2 * cap + 32));
	}
}

/* A handle slot: in use if want_open, else free; -1 if none. */
static FZ_NOCOV int
pick_handle(struct fz *f, int want_open)
{
	int	 i, k, start;

	start = fz_u8(f) % MAX_HANDLES;
	for (i = 0; i < MAX_HANDLES; i++) {
		k = (start + i) % MAX_HANDLES;
		if ((M.h[k].h != NULL) == want_open)
			return (k);
	}
	return (-1);
}

static void
op_open(struct fz *f)
{
	struct mhandle	*mh;
	struct mchan	*mc;
	int		 hidx, ch, mode, k;

	if ((hidx = pick_handle(f, 0)) == -1)
		return;
	ch = fz_u8(f) % M.nch;
	mode = 1 + fz_u8(f) % 3;
	mc = &M.ch[ch];
	mh = &M.h[hidx];
	if (mode & CHAN_RD)
		mc->readers++;
	if (mode & CHAN_WR)
		mc->writers++;
	for (k = 0; k < MAX_HANDLES; k++) {
		if (M.h[k].h == NULL || M.h[k].ch != ch)
			continue;
		if (mode & CHAN_WR)
			M.h[k].seen_writer = 1;
		if (mode & CHAN_RD)
			M.h[k].seen_reader = 1;
	}
	memset(mh, 0, sizeof *mh);
	mh->ch = ch;
	mh->mode = mode;
	mh->token = -1;
	/* A broadcast's reader starts where the furthest reader got. */
	mh->cur = mc->taken;
	/* A writer, or data for this reader, counts as a writer seen. */
	if (is_stream(ch))
		mh->seen_writer = mc->writers > 0 || mc->nheldw > 0 ||
		    buffered(ch) > 0;
	else {
		stream_sync(ch);
		mh->seen_writer = mc->writers > 0 || ((mode & CHAN_RD) &&
		    cur_avail(ch, cur_of(hidx)) > 0);
	}
	mh->seen_reader = mc->readers > 0;
	TRACE("open h%d ch%d mode %d\n", hidx, ch, mode);
	M.op_ch = ch;
	mh->h = chan_open(mc->c, mode);
	FZ_CHECK(mh->h != NULL);
}

/* Close open hidx; its held requests are answered with EBADF. */
static void
close_handle(int hidx)
{
	struct mhandle	*mh = &M.h[hidx];
	struct mchan	*mc = &M.ch[mh->ch];
	size_t		 i;

	if (mh->mode & CHAN_RD)
		mc->readers--;
	if (mh->mode & CHAN_WR)
		mc->writers--;
	TRACE("close h%d\n", hidx);
	M.op_ch = mh->ch;
	mc->stale = 0;
	M.ctx = CTX_CLOSE;
	M.ctx_hidx = hidx;
	chan_close(mh->h);
	M.ctx = CTX_OTHER;
	/* Its held requests are answered and its poll handle released. */
	for (i = 0; i < M.nreqs; i++)
		if (M.reqs[i].hidx == hidx)
			FZ_CHECK(M.reqs[i].state != REQ_HELD ||
			    M.reqs[i].ans != ANS_NONE);
	FZ_CHECK(mh->token == -1);
	mh->h = NULL;
}

static void
op_close(struct fz *f)
{
	int	 hidx;

	if ((hidx = pick_handle(f, 1)) != -1)
		close_handle(hidx);
}

/*
 * A read of size through open hidx, in a mode other than a byte queue:
 * what is there for this open (all of it up to size, or the next message
 * whole, or EMSGSIZE), unless reads held before it come first; else end
 * of file, EAGAIN, or held.
 */
static void
op_read_modes(int hidx, size_t size, int nonblock)
{
	struct mhandle	*mh = &M.h[hidx];
	struct mchan	*mc = &M.ch[mh->ch];
	struct mcur	*cu;
	struct mreq	*q;
	struct waiter	*w;
	struct wrec	*r;
	size_t		 avail = 0, next = 0;
	int		 behind, ready, eof;

	stream_sync(mh->ch);
	cu = cur_of(hidx);
	behind = mc->delivery == CHAN_QUEUE ? mc->nheldr > 0 : mh->nheldr > 0;
	if (mh->mode & CHAN_RD) {
		avail = cur_avail(mh->ch, cu);
		if (mc->framing == CHAN_MESSAGES &&
		    (r = cur_next_msg(mh->ch, cu)) != NULL)
			next = r->size;
	}
	ready = mc->framing == CHAN_MESSAGES ? next > 0 : avail > 0;
	eof = mc->writers == 0 && seen_writer(mh);
	q = req_new(WAIT_READ, hidx, size);
	M.op_ch = mh->ch;
	TRACE("read h%d ch%d size %zu nb %d (avail %zu next %zu behind %d)\n",
	    hidx, mh->ch, size, nonblock, avail, next, behind);
	w = chan_read(mh->h, q, size, 0, nonblock);
	TRACE("  ans %d count %zu err %d held %d\n", q->ans, q->count, q->err,
	    w != NULL);
	if (!(mh->mode & CHAN_RD)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EBADF);
	} else if (size == 0) {
		FZ_CHECK(w == NULL && q->ans == ANS_DATA && q->count == 0);
	} else if (!behind && ready) {
		FZ_CHECK(w == NULL);
		if (next > size)
			FZ_CHECK(q->ans == ANS_ERR && q->err == EMSGSIZE);
		else
			FZ_CHECK(q->ans == ANS_DATA && q->count ==
			    (next > 0 ? next : MIN(size, avail)));
	} else if (eof) {
		FZ_CHECK(w == NULL && q->ans == ANS_DATA && q->count == 0);
	} else if (nonblock) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EAGAIN);
	} else {
		req_hold(q, w);
		return;
	}
	q->state = REQ_DONE;
}

/*
 * A write of size through open hidx, in a mode other than a byte queue.
 * A message over the largest fails with EMSGSIZE; a queue of messages
 * hands one to the oldest held read big enough, failing those before it
 * with EMSGSIZE.  Otherwise it goes in as a byte queue's would (a message
 * whole or not at all), but always through the ring, from which a
 * broadcast's held reads are served as it goes in.
 */
static void
op_write_modes(int hidx, size_t size, int nonblock)
{
	struct mhandle	*mh = &M.h[hidx];
	int		 ch = mh->ch;
	struct mchan	*mc = &M.ch[ch];
	struct mreq	*q, *taker = NULL, *p;
	struct wrec	*r;
	struct waiter	*w;
	size_t		 limit, room, pushed, got, maxmsg;
	int		 queued, handoff, readers_held;

	stream_sync(ch);
	maxmsg = max_msg_of(ch);
	/* Growing the ring only turns max_memory into ring: same limit. */
	limit = limit_of(ch);
	room = room_of(ch);
	queued = mc->nheldw > 0;
	pushed = 0;
	if (!queued && room >= need_of(ch, size, size))
		pushed = MIN(size, room);
	readers_held = mc->nheldr > 0;
	handoff = mc->framing == CHAN_MESSAGES &&
	    mc->delivery == CHAN_QUEUE && mc->nheldr > 0 && !queued &&
	    mc->c->ring.len == 0;
	if (handoff) {
		for (p = M.reqs; p < M.reqs + M.nreqs; p++)
			if (p->state == REQ_HELD && p->op == WAIT_READ &&
			    p->ch == ch && p->size >= size) {
				taker = p;
				break;
			}
	}

	FZ_CHECK(mc->nrecs < MAX_OPS);
	r = &mc->recs[mc->nrecs];
	memset(r, 0, sizeof *r);
	r->id = M.next_id++;
	r->size = size;
	r->held = 1;
	mc->nrecs++;
	q = req_new(WAIT_WRITE, hidx, size);
	q->rec = r;
	r->req = q;

	M.op_ch = ch;
	M.ctx = CTX_WRITE;
	M.ctx_ch = ch;
	M.ctx_size = size;
	TRACE("write h%d ch%d size %zu nb %d (room %zu limit %zu max %zu)\n",
	    hidx, ch, size, nonblock, room, limit, maxmsg);
	w = fz_write(mh->h, q, size, nonblock);
	M.ctx = CTX_OTHER;
	TRACE("  ans %d count %zu err %d held %d len %zu\n", q->ans, q->count,
	    q->err, w != NULL, mc->c->ring.len);
	got = 0;
	if (!(mh->mode & CHAN_WR)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EBADF);
	} else if (size == 0) {
		FZ_CHECK(w == NULL && q->ans == ANS_COUNT && q->count == 0);
	} else if (mc->framing == CHAN_MESSAGES && size > maxmsg) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EMSGSIZE);
	} else if (mc->readers == 0 && seen_reader(mh)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EPIPE);
	} else if (taker != NULL) {
		/* Straight to the read, which the writer hears before. */
		FZ_CHECK(w == NULL && q->ans == ANS_COUNT && q->count == size);
		FZ_CHECK(taker->ans == ANS_DATA && taker->count == size);
	} else {
		/* Held reads too small for it all failed. */
		if (handoff)
			FZ_CHECK(mc->nheldr == 0);
		got = w != NULL ? w->done : q->ans == ANS_COUNT ? q->count : 0;
		/*
		 * A broadcast's held reads, served as the write goes in,
		 * may free room for more of it.
		 */
		if (readers_held && mc->delivery == CHAN_BROADCAST)
			FZ_CHECK(got >= pushed);
		else
			FZ_CHECK(got == pushed);
		if (got == size) {
			FZ_CHECK(w == NULL && q->ans == ANS_COUNT);
		} else if (got > 0 && nonblock) {
			FZ_CHECK(w == NULL && q->ans == ANS_COUNT &&
			    q->count == got);
		} else if (nonblock) {
			FZ_CHECK(w == NULL && q->ans == ANS_ERR &&
			    q->err == EAGAIN);
		} else if (limit < need_of(ch, size - got, size)) {
			/* It can never fit: it ends short, or fails. */
			FZ_CHECK(w == NULL);
			if (got > 0)
				FZ_CHECK(q->ans == ANS_COUNT &&
				    q->count == got);
			else
				FZ_CHECK(q->ans == ANS_ERR &&
				    q->err == ENOSPC);
		} else if (q->ans == ANS_ERR) {
			/* A message max_memory cannot keep a copy of. */
			FZ_CHECK(w == NULL && q->err == ENOMEM);
			FZ_CHECK(mc->framing == CHAN_MESSAGES && got == 0 &&
			    size > CHAN_ATOMIC &&
			    budget_left(&M.pool.budget) < size);
		} else {
			FZ_CHECK(w != NULL && w->done == got);
			if (mc->framing == CHAN_MESSAGES)
				FZ_CHECK(w->size == size && got == 0);
			else
				FZ_CHECK(w->size <= size && w->size > got &&
				    (size <= CHAN_ATOMIC ? w->size == size :
				    w->size > CHAN_ATOMIC));
			q->size = r->size = w->size;
			req_hold(q, w);
			return;
		}
	}
	q->state = REQ_DONE;
	FZ_CHECK(!r->held);
	FZ_CHECK(r->final == (q->ans == ANS_COUNT ? q->count : 0));
}

/*
 * Change a channel's framing and delivery: always allowed to what it has,
 * else only while nothing has it open and it holds nothing.  A change
 * starts its stream again from nothing.
 */
static void
op_mode(struct fz *f)
{
	struct mchan	*mc;
	int		 ch, framing, delivery, busy, err, k;
	uint8_t		 b;

	ch = fz_u8(f) % M.nch;
	b = fz_u8(f);
	framing = b & 1 ? CHAN_MESSAGES : CHAN_BYTES;
	delivery = b & 2 ? CHAN_BROADCAST : CHAN_QUEUE;
	mc = &M.ch[ch];
	busy = ring_expect(ch) > 0;
	for (k = 0; k < MAX_HANDLES; k++)
		if (M.h[k].h != NULL && M.h[k].ch == ch)
			busy = 1;
	TRACE("mode ch%d framing %d delivery %d (busy %d)\n", ch, framing,
	    delivery, busy);
	M.op_ch = ch;
	err = chan_set_mode(mc->c, framing, delivery);
	if (framing == mc->framing && delivery == mc->delivery)
		FZ_CHECK(err == 0);
	else if (busy)
		FZ_CHECK(err == EBUSY);
	else {
		FZ_CHECK(err == 0);
		mc->framing = framing;
		mc->delivery = delivery;
		mc->cur = mc->sync = mc->nrecs;
		mc->end = mc->nmsg = 0;
		memset(&mc->q, 0, sizeof mc->q);
		mc->q.rec = mc->nrecs;
		mc->taken = mc->q;
	}
}

static void
op_read(struct fz *f)
{
	struct mhandle	*mh;
	struct mchan	*mc;
	struct mreq	*q;
	struct waiter	*w;
	size_t		 size, len, want;
	int		 hidx, nonblock, eof, heldw;

	if ((hidx = pick_handle(f, 1)) == -1)
		return;
	mh = &M.h[hidx];
	mc = &M.ch[mh->ch];
	size = pick_size(f, mh->ch);
	nonblock = fz_u8(f) & 1;
	if (!is_stream(mh->ch)) {
		op_read_modes(hidx, size, nonblock);
		return;
	}
	len = mc->c->ring.len;
	heldw = mc->nheldw > 0;
	eof = mc->writers == 0 && seen_writer(mh);
	q = req_new(WAIT_READ, hidx, size);
	M.op_ch = mh->ch;
	if (len > 0 && size > 0 && (mh->mode & CHAN_RD))
		mc->stale = 0;
	TRACE("read h%d ch%d size %zu nb %d (len %zu)\n", hidx, mh->ch, size,
	    nonblock, len);
	w = chan_read(mh->h, q, size, 0, nonblock);
	TRACE("  ans %d count %zu err %d held %d\n", q->ans, q->count, q->err,
	    w != NULL);
	if (!(mh->mode & CHAN_RD)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EBADF);
	} else if (size == 0 || len > 0 || eof) {
		/* What is buffered, and perhaps more from a held write. */
		want = size < len ? size : len;
		FZ_CHECK(w == NULL && q->ans == ANS_DATA);
		if (heldw)
			FZ_CHECK(q->count >= want && q->count <= size);
		else
			FZ_CHECK(q->count == want);
	} else if (heldw && q->ans == ANS_DATA) {
		/* Nothing buffered, but bytes straight from a held write. */
		FZ_CHECK(w == NULL && q->count >= 1 && q->count <= size);
	} else if (nonblock) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EAGAIN);
	} else {
		req_hold(q, w);
		return;
	}
	q->state = REQ_DONE;
}

static void
op_write(struct fz *f)
{
	struct mhandle	*mh;
	struct mchan	*mc;
	struct mreq	*q;
	struct wrec	*r;
	struct waiter	*w;
	size_t		 size, room, limit, pushed, got;
	int		 hidx, nonblock, ch, readers_held, queued;

	if ((hidx = pick_handle(f, 1)) == -1)
		return;
	mh = &M.h[hidx];
	ch = mh->ch;
	mc = &M.ch[ch];
	size = pick_size(f, ch);
	nonblock = fz_u8(f) & 1;
	fz_fill(iobuf, M.next_id, 0, size);
	if (!is_stream(ch)) {
		op_write_modes(hidx, size, nonblock);
		return;
	}

	/*
	 * What the rules say must happen at once.  A write goes behind
	 * held writes; otherwise it takes what fits (all or nothing up to
	 * CHAN_ATOMIC), and more as held reads take bytes out.
	 */
	limit = limit_of(ch);
	room = room_of(ch);
	pushed = 0;
	if (mc->nheldw == 0 && room >= need_of(ch, size, size))
		pushed = size < room ? size : room;
	readers_held = mc->nheldr > 0;
	queued = mc->nheldw > 0;

	/* Its place in the stream; held until the answer says how much. */
	FZ_CHECK(mc->nrecs < MAX_OPS);
	r = &mc->recs[mc->nrecs];
	memset(r, 0, sizeof *r);
	r->id = M.next_id++;
	r->size = size;
	r->held = 1;
	mc->nrecs++;

	q = req_new(WAIT_WRITE, hidx, size);
	M.op_ch = ch;
	TRACE("write h%d ch%d size %zu nb %d (room %zu limit %zu)\n", hidx, ch,
	    size, nonblock, room, limit);
	w = fz_write(mh->h, q, size, nonblock);
	TRACE("  ans %d count %zu err %d held %d len %zu\n", q->ans, q->count,
	    q->err, w != NULL, mc->c->ring.len);
	if (!(mh->mode & CHAN_WR)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EBADF);
	} else if (size == 0) {
		FZ_CHECK(w == NULL && q->ans == ANS_COUNT && q->count == 0);
	} else if (mc->readers == 0 && seen_reader(mh)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EPIPE);
	} else if (!readers_held && pushed == 0 && nonblock) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == EAGAIN);
	} else if (!readers_held && pushed == 0 &&
	    limit < need_of(ch, size, size)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == ENOSPC);
	} else if (q->ans == ANS_ERR) {
		/*
		 * Held reads may take a write's bytes straight from it, so
		 * with reads held a write can go in without room: nothing
		 * went in here, so there was no room either.
		 */
		FZ_CHECK(readers_held && w == NULL && r->consumed == 0);
		FZ_CHECK(queued || room < need_of(ch, size, size));
		if (nonblock)
			FZ_CHECK(q->err == EAGAIN);
		else
			FZ_CHECK(q->err == ENOSPC &&
			    limit < need_of(ch, size, size));
	} else {
		/* In at once, or in part and held for the rest. */
		got = w != NULL ? w->done : q->count;
		if (readers_held)
			FZ_CHECK(got >= pushed && got <= size);
		else
			FZ_CHECK(got == pushed);
		if (size <= CHAN_ATOMIC && w == NULL)
			FZ_CHECK(got == size);
		/* It took all it could, unless it queued behind others. */
		if (got < size && !queued)
			FZ_CHECK(room_of(ch) < need_of(ch, size - got, size));
		/*
		 * A blocking write whose rest can never fit in the ring
		 * either ends short or waits for reads to take the rest
		 * straight from it.
		 */
		if (got == size || (got > 0 && nonblock) || (got > 0 &&
		    limit < need_of(ch, size - got, size) && w == NULL)) {
			FZ_CHECK(w == NULL && q->ans == ANS_COUNT &&
			    q->count == got);
		} else {
			FZ_CHECK(!nonblock);
			FZ_CHECK(w != NULL && q->ans == ANS_NONE);
			FZ_CHECK(w->req == q && w->op == WAIT_WRITE);
			/*
			 * A copy max_memory cannot hold whole makes it a
			 * shorter write, but still a large one.
			 */
			FZ_CHECK(w->size <= size && w->size > w->done);
			FZ_CHECK(size <= CHAN_ATOMIC ? w->size == size :
			    w->size > CHAN_ATOMIC);
			q->size = r->size = w->size;
			q->rec = r;
			req_hold(q, w);
			return;
		}
	}
	/*
	 * Answered at once.  Held reads may have taken some of the bytes
	 * during the call already; stream_read checked them against r.
	 */
	q->state = REQ_DONE;
	r->held = 0;
	r->final = q->ans == ANS_COUNT ? q->count : 0;
	FZ_CHECK(r->consumed <= r->final);
	if (r->must_full)
		FZ_CHECK(r->final == r->size);
}

static void
op_cancel(struct fz *f)
{
	struct mreq	*q = NULL;
	size_t		 i, k, start;

	if (M.held_total == 0)
		return;
	start = fz_u8(f) % M.nreqs;
	for (i = 0; i < M.nreqs; i++) {
		k = (start + i) % M.nreqs;
		if (M.reqs[k].state == REQ_HELD) {
			q = &M.reqs[k];
			break;
		}
	}
	FZ_CHECK(q != NULL);
	M.ctx = CTX_CANCEL;
	M.ctx_req = q;
	M.ctx_err = EINTR;
	TRACE("cancel req %zu (%s of %zu on ch%d)\n", (size_t)(q - M.reqs),
	    q->op == WAIT_READ ? "read" : "write", q->size, q->ch);
	M.op_ch = q->ch;
	M.ch[q->ch].stale = 0;
	chan_cancel(q->w, EINTR);
	M.ctx = CTX_OTHER;
	FZ_CHECK(q->ans != ANS_NONE);
	if (q->op == WAIT_READ)
		FZ_CHECK(q->ans == ANS_ERR && q->err == EINTR);
	else if (q->done > 0)
		FZ_CHECK(q->ans == ANS_COUNT);
	else
		FZ_CHECK(q->ans == ANS_ERR && q->err == EINTR);
}

static void
op_poll(struct fz *f)
{
	struct mhandle	*mh;
	unsigned	 ev, want, open;
	int		 hidx, old;

	if ((hidx = pick_handle(f, 1)) == -1)
		return;
	mh = &M.h[hidx];
	M.op_ch = mh->ch;
	want = events_of(hidx, &open);
	if (fz_u8(f) & 1) {
		ev = chan_poll(mh->h, NULL);
		FZ_CHECK((ev & ~open) == (want & ~open));
		return;
	}
	TRACE("poll h%d\n", hidx);
	FZ_CHECK(M.ntokens < MAX_TOKENS);
	old = mh->token;
	M.tokens[M.ntokens] = 1;
	M.ctx = CTX_POLL;
	M.ctx_hidx = hidx;
	ev = chan_poll(mh->h, (void *)(uintptr_t)(M.ntokens + 1));
	M.ctx = CTX_OTHER;
	FZ_CHECK((ev & ~open) == (want & ~open));
	/* A handle kept before is released, not woken. */
	if (old != -1)
		FZ_CHECK(M.tokens[old] == 0);
	mh->token = (int)M.ntokens++;
	mh->registered = ev;
}

static void
op_abort(struct fz *f)
{
	static const int errs[] = { EIO, ENOTCONN, EINTR };
	size_t		 i;
	int		 ch;

	ch = fz_u8(f) % M.nch;
	M.ctx = CTX_ABORT;
	M.ctx_ch = ch;
	M.ctx_err = errs[fz_u8(f) % 3];
	TRACE("abort ch%d\n", ch);
	M.op_ch = ch;
	chan_abort(M.ch[ch].c, M.ctx_err);
	M.ctx = CTX_OTHER;
	for (i = 0; i < M.nreqs; i++)
		if (M.reqs[i].ch == ch)
			FZ_CHECK(M.reqs[i].state != REQ_HELD ||
			    M.reqs[i].ans != ANS_NONE);
}

/* Read FUZZ_TRACE once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_TRACE") != NULL;
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz	 f = { data, size };
	size_t		 cap, maxmem, mem, i, nops = 0;
	int		 ch, k, aborted, mode;
	uint8_t		 b;

	/*
	 * The first byte: bit 0 one or two channels, bits 1-2 max_memory,
	 * bits 3-4 and 5-6 each channel's framing and delivery, bit 7 a
	 * mount max_message, from the input, that may be below capacity.
	 */
	memset(&M, 0, sizeof M);
	b = fz_u8(&f);
	M.nch = 1 + (b & 1);
	cap = CAPACITY_MIN + fz_upto(&f, 16384 - CAPACITY_MIN);
	switch ((b >> 1) % 4) {
	case 0:
		maxmem = SIZE_MAX / 2;
		break;
	case 1:
		maxmem = cap * M.nch;
		break;
	default:
		maxmem = CAPACITY_MIN + fz_upto(&f, 2 * cap);
		break;
	}
	chan_pool_init(&M.pool, &cbs, cap, maxmem);
	if (b & 0x80)
		M.pool.max_message = 1 + fz_upto(&f, 2 * cap);
	for (ch = 0; ch < M.nch; ch++) {
		mode = (b >> (3 + 2 * ch)) & 3;
		M.ch[ch].framing = mode & 1 ? CHAN_MESSAGES : CHAN_BYTES;
		M.ch[ch].delivery = mode & 2 ? CHAN_BROADCAST : CHAN_QUEUE;
	}
	TRACE("new: %d channels, capacity %zu, max_memory %zu, "
	    "max_message %zu, modes %d/%d %d/%d\n", M.nch, cap, maxmem,
	    M.pool.max_message, M.ch[0].framing, M.ch[0].delivery,
	    M.ch[1].framing, M.ch[1].delivery);
	/* The first channel takes the pool's mode, the second is set. */
	M.pool.framing = M.ch[0].framing;
	M.pool.delivery = M.ch[0].delivery;
	for (ch = 0; ch < M.nch; ch++) {
		M.ch[ch].c = chan_new(&M.pool);
		FZ_CHECK(M.ch[ch].c != NULL);
		FZ_CHECK(chan_set_mode(M.ch[ch].c, M.ch[ch].framing,
		    M.ch[ch].delivery) == 0);
	}
	for (k = 0; k < MAX_HANDLES; k++)
		M.h[k].token = -1;

	while (fz_more(&f) && nops++ < MAX_OPS) {
		snapshot_held();
		M.op_ch = -1;
		mem = pool_used();
		aborted = 0;
		b = fz_u8(&f);
		switch (b % 16) {
		case 0: case 1: case 2:
			op_open(&f);
			break;
		case 3: case 4:
			op_close(&f);
			break;
		case 5: case 6: case 7: case 8:
			op_read(&f);
			break;
		case 9: case 10: case 11: case 12:
			op_write(&f);
			break;
		case 13:
			op_cancel(&f);
			break;
		case 14:
			op_poll(&f);
			break;
		case 15:
			if ((b >> 4) == 0) {
				op_abort(&f);
				aborted = 1;
			} else if ((b >> 4) == 1)
				op_mode(&f);
			else
				op_poll(&f);
			break;
		}
		settle_reqs();
		mark_stale(mem);
		check_state(aborted);
	}

	/* Close everything: every request answered, every count back. */
	for (k = 0; k < MAX_HANDLES; k++) {
		if (M.h[k].h == NULL)
			continue;
		snapshot_held();
		mem = pool_used();
		close_handle(k);
		settle_reqs();
		mark_stale(mem);
		check_state(0);
	}
	FZ_CHECK(M.held_total == 0);
	FZ_CHECK(M.pool.nwaiters == 0 && M.pool.budget.held == 0);
	for (i = 0; i < M.nreqs; i++)
		FZ_CHECK(M.reqs[i].ans != ANS_NONE);
	for (i = 0; i < M.ntokens; i++)
		FZ_CHECK(M.tokens[i] == 0);
	for (ch = 0; ch < M.nch; ch++) {
		FZ_CHECK(M.ch[ch].c->readers == 0 && M.ch[ch].c->writers == 0);
		FZ_CHECK(chan_idle(M.ch[ch].c) == (ring_expect(ch) == 0));
		chan_free(M.ch[ch].c);
	}
	FZ_CHECK(M.pool.budget.mem_used == 0);
	FZ_CHECK(M.pool.budget.hist_used == 0);
	FZ_CHECK(M.pool.budget.region_used == 0);
	return (0);
}
