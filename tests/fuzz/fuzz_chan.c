/*
 * Fuzz the channel state machine in chan.c with random operation sequences:
 * opens for reading, writing or both, closes, reads and writes of any size,
 * blocking or not, polls, interrupts of held requests and aborts, on one or
 * two channels sharing a small memory budget.
 *
 * A reference model follows along and checks, after every call:
 * - the bytes read are the bytes written, in order, each exactly once;
 * - every request is answered exactly once, either during its own call or
 *   later while it is held, and only in the ways the rules allow: end of
 *   file once the writers are gone (for opens that saw one), EPIPE once the
 *   readers are gone (for opens that saw one), EAGAIN only without O_NONBLOCK
 *   room, writes of at most CHAN_ATOMIC bytes whole or not at all;
 * - nothing is left held that could go on (a held read means an empty ring
 *   and no end of file, a held write means no room for it and a ring that
 *   is not empty);
 * - the pool's counters (mem_used, held, nwaiters) match what is really
 *   allocated and held, and return to zero once everything is closed;
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
#define MAX_IO		(2 * 16384 + 64)

enum { REQ_FREE, REQ_CALL, REQ_HELD, REQ_DONE };
enum { ANS_NONE, ANS_DATA, ANS_COUNT, ANS_ERR };
enum { CTX_OTHER, CTX_CLOSE, CTX_CANCEL, CTX_ABORT, CTX_POLL };

/* One write's place in a channel's byte stream. */
struct wrec {
	uint64_t	 id;
	size_t		 size;
	size_t		 final;		/* bytes that went in, once answered */
	size_t		 consumed;	/* bytes read so far */
	int		 held;		/* not answered yet */
	int		 must_full;	/* read past its end while held */
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
	int		 op_ch;		/* the channel the last call was on */
	unsigned	 held_total;
};

static struct model	 M;
static int		 trace;	/* FUZZ_TRACE=1 prints each call */
static uint8_t		 iobuf[MAX_IO];

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
	size_t			 budget, limit, used;

	/* Buffers and copies of held writes share max_memory. */
	used = b->mem_used + b->held + b->hist_used + b->region_used;
	budget = b->max_memory > used ? b->max_memory - used : 0;
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
need_of(size_t rest, size_t total)
{
	return (total <= CHAN_ATOMIC ? rest : 1);
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
	if (mh->mode & CHAN_RD) {
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
	else
		M.ch[q->ch].nheldr--;
	M.held_total--;
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
	    limit_of(q->ch) < need_of(q->size - q->done, q->size))
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
	if (r->must_full)
		FZ_CHECK(count == r->size);
	if (q->size <= CHAN_ATOMIC && count != 0 && count != q->size)
		TRACE("atomic write of %zu answered with %zu\n", q->size, count);
	if (q->size <= CHAN_ATOMIC)
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
	for (i = 0; i < cnt; i++) {
		stream_read(q->ch, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	FZ_CHECK(total <= q->size);
	if (total == 0 && q->size > 0) {
		/* End of file: writers gone, nothing left, and seen. */
		FZ_CHECK(mc->writers == 0);
		FZ_CHECK(seen_writer(mh));
		FZ_CHECK(mc->nheldw == 0);
		FZ_CHECK(buffered(q->ch) == 0);
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
			    err == M.ctx_err));
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

static const struct chan_cbs cbs = {
	.reply_data = cb_reply_data,
	.reply_count = cb_reply_count,
	.reply_err = cb_reply_err,
	.poll_notify = cb_poll_notify,
	.poll_free = cb_poll_free,
};

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
			FZ_CHECK(mc->c->ring.len == 0);
			FZ_CHECK(mc->writers > 0 || !seen_writer(&M.h[q->hidx]));
		} else {
			FZ_CHECK(mc->readers > 0 || !seen_reader(&M.h[q->hidx]));
			held += q->size - q->w->done;
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
		mem += mc->c->ring.size;
		if (mc->nheldw == 0)
			FZ_CHECK(mc->c->ring.len == buffered(ch));
		else {
			/*
			 * The oldest held write waits for room it lacks,
			 * unless memory freed by another channel gave it
			 * room since this one last moved data.
			 */
			w = TAILQ_FIRST(&mc->c->wq);
			FZ_CHECK(w != NULL);
			if (!mc->stale)
				FZ_CHECK(room_of(ch) <
				    need_of(w->size - w->done, w->size));
		}
		nh = 0;
		for (k = 0; k < MAX_HANDLES; k++)
			if (M.h[k].h != NULL && M.h[k].ch == ch)
				nh++;
		if (nh == 0 && mc->c->ring.len == 0)
			FZ_CHECK(mc->c->ring.size == 0);
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

/* Sizes that reach the edges: zero, small, around CHAN_ATOMIC, big. */
static size_t
pick_size(struct fz *f, size_t cap)
{
	switch (fz_u8(f) % 6) {
	case 0:
		return (0);
	case 1:
		return (1 + fz_upto(f, 63));
	case 2:
		return (1 + fz_upto(f, CHAN_ATOMIC - 1));
	case 3:
		return (CHAN_ATOMIC - 8 + fz_upto(f, 16));
	case 4:
		return (cap - 8 + fz_upto(f, 16));
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
	mh->seen_writer = mc->writers > 0 || mc->nheldw > 0 ||
	    buffered(ch) > 0;
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
	size = pick_size(f, mc->c->capacity);
	nonblock = fz_u8(f) & 1;
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
		FZ_CHECK(w != NULL && q->ans == ANS_NONE);
		FZ_CHECK(w->req == q && w->op == WAIT_READ);
		q->state = REQ_HELD;
		q->w = w;
		mc->nheldr++;
		M.held_total++;
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
	size = pick_size(f, mc->c->capacity);
	nonblock = fz_u8(f) & 1;
	fz_fill(iobuf, M.next_id, 0, size);

	/*
	 * What the rules say must happen at once.  A write goes behind
	 * held writes; otherwise it takes what fits (all or nothing up to
	 * CHAN_ATOMIC), and more as held reads take bytes out.
	 */
	limit = limit_of(ch);
	room = room_of(ch);
	pushed = 0;
	if (mc->nheldw == 0 && room >= need_of(size, size))
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
	w = chan_write(mh->h, q, iobuf, size, 0, nonblock);
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
	    limit < need_of(size, size)) {
		FZ_CHECK(w == NULL && q->ans == ANS_ERR && q->err == ENOSPC);
	} else if (q->ans == ANS_ERR) {
		/*
		 * Held reads may take a write's bytes straight from it, so
		 * with reads held a write can go in without room: nothing
		 * went in here, so there was no room either.
		 */
		FZ_CHECK(readers_held && w == NULL && r->consumed == 0);
		FZ_CHECK(queued || room < need_of(size, size));
		if (nonblock)
			FZ_CHECK(q->err == EAGAIN);
		else
			FZ_CHECK(q->err == ENOSPC &&
			    limit < need_of(size, size));
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
			FZ_CHECK(room_of(ch) < need_of(size - got, size));
		/*
		 * A blocking write whose rest can never fit in the ring
		 * either ends short or waits for reads to take the rest
		 * straight from it.
		 */
		if (got == size || (got > 0 && nonblock) || (got > 0 &&
		    limit < need_of(size - got, size) && w == NULL)) {
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
			q->state = REQ_HELD;
			q->w = w;
			q->rec = r;
			mc->nheldw++;
			M.held_total++;
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
	int		 ch, k, aborted;
	uint8_t		 b;

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
	TRACE("new: %d channels, capacity %zu, max_memory %zu\n", M.nch, cap,
	    maxmem);
	chan_pool_init(&M.pool, &cbs, cap, maxmem);
	for (ch = 0; ch < M.nch; ch++)
		M.ch[ch].c = chan_new(&M.pool);
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
			} else
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
		FZ_CHECK(chan_idle(M.ch[ch].c) == (buffered(ch) == 0));
		chan_free(M.ch[ch].c);
	}
	FZ_CHECK(M.pool.budget.mem_used == 0);
	return (0);
}
