/*
 * The channel state machine: a stream per channel with pipe(7) semantics,
 * and the requests held while they wait.  No FUSE here: held requests are
 * opaque pointers answered through the pool's callbacks, so the rules can
 * be unit-tested and fuzzed alone.
 *
 * Framing and delivery (docs/modes.md) change what a unit is and who gets
 * it, not the code path: a read takes what its open's cursor has ahead of
 * it, a byte range or one whole message, and the ring lets go of what
 * every cursor is past.  A queue's opens share the ring's head as their
 * cursor; a broadcast's each have their own.  Only a byte queue has the
 * short cuts that skip the ring: a write handed straight to held reads,
 * and a read served from a held write's copy.
 *
 * Invariants:
 * - a held read exists only while its open has nothing to read and no
 *   write is held (data is handed to held reads as soon as it arrives);
 * - held writes are served oldest first; a write of at most CHAN_ATOMIC
 *   bytes, and any message, goes into the ring whole or not at all;
 * - the ring starts at the slowest cursor; a broadcast's taken is the
 *   furthest, where a new reader starts;
 * - every held request leaves its queue exactly when it is answered.
 */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

#define RING_MIN	4096
#define LENS_MIN	(64 * sizeof (uint32_t))

static void	chan_pump(struct chan *);
static void	chan_ends(struct chan *);
static struct waiter *chan_link_write(struct chan_handle *, void *,
	    const void *, size_t, uint64_t, int);
static void	chan_notify(struct chan *);
static void	chan_pool_freed(void *);

/* Set up the accounting shared by every channel of a mount. */
void
chan_pool_init(struct chan_pool *pool, const struct chan_cbs *cbs,
    size_t capacity, size_t max_memory)
{
	memset(pool, 0, sizeof *pool);
	pool->cbs = cbs;
	pool->capacity = capacity;
	budget_init(&pool->budget, max_memory, chan_pool_freed, pool);
	LIST_INIT(&pool->starved);
}

/*
 * Memory was given back: wake the pollers of every channel that had no
 * room only because other channels held the memory.
 */
void
chan_pool_wake(struct chan_pool *pool)
{
	struct chan	*c;

	while ((c = LIST_FIRST(&pool->starved)) != NULL) {
		LIST_REMOVE(c, sentry);
		c->starved = 0;
		chan_notify(c);
	}
}

/* The budget's memory came back (budget_freed). */
static void
chan_pool_freed(void *arg)
{
	chan_pool_wake(arg);
}

/* A new channel with no buffer yet, or NULL if memory is short. */
struct chan *
chan_new(struct chan_pool *pool)
{
	struct chan	*c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return (NULL);
	c->pool = pool;
	c->capacity = pool->capacity;
	c->framing = pool->framing;
	c->delivery = pool->delivery;
	ring_init(&c->ring);
	ring_init(&c->lens);
	region_init(&c->region);
	TAILQ_INIT(&c->rq);
	TAILQ_INIT(&c->wq);
	LIST_INIT(&c->handles);
	LIST_INIT(&c->polled);
	return (c);
}

/*
 * Free a channel.  Opens still left (only at shutdown, when the kernel sends
 * no more releases) go with it; held requests must have been answered.
 */
void
chan_free(struct chan *c)
{
	struct chan_handle	*h;

	if (c == NULL)
		return;
	if (!TAILQ_EMPTY(&c->rq) || !TAILQ_EMPTY(&c->wq))
		fatalx("%s: requests still held", __func__);
	if (c->link != NULL)
		c->pool->link->gone(c);
	while ((h = LIST_FIRST(&c->handles)) != NULL) {
		if (h->ph != NULL)
			c->pool->cbs->poll_free(h->ph);
		LIST_REMOVE(h, entry);
		c->pool->budget.hist_used -= hist_free(&h->hist);
		free(h->lerrs);
		free(h);
	}
	if (c->starved)
		LIST_REMOVE(c, sentry);
	c->pool->budget.mem_used -= c->ring.size + c->lens.size;
	ring_free(&c->ring);
	ring_free(&c->lens);
	region_free(&c->region, &c->pool->budget);
	chan_pool_wake(c->pool);
	free(c);
}

/*
 * The furthest file offset at which an open still reading the channel met
 * end of file (for an open without offsets: after how many bytes), or 0.
 */
uint64_t
chan_eof_mark(const struct chan *c)
{
	const struct chan_handle	*h;
	uint64_t			 mark = 0;

	LIST_FOREACH(h, &c->handles, entry)
		if (h->eof_at > mark)
			mark = h->eof_at;
	return (mark);
}

/* The channel's figures now. */
void
chan_stats(const struct chan *c, struct chan_stats *st)
{
	const struct waiter	*w;

	memset(st, 0, sizeof *st);
	st->framing = c->framing;
	st->delivery = c->delivery;
	st->capacity = c->capacity;
	st->max_message = chan_max_message(c);
	st->readers = c->readers;
	st->writers = c->writers;
	st->buffered = c->ring.len;
	st->messages = c->lens.len / sizeof (uint32_t);
	TAILQ_FOREACH(w, &c->rq, entry)
		st->held_reads++;
	TAILQ_FOREACH(w, &c->wq, entry)
		st->held_writes++;
	st->region = c->region.size;
	st->bytes_written = c->bytes_written;
	st->bytes_read = c->bytes_read;
	st->writes = c->writes;
	st->reads = c->reads;
}

/*
 * Set the most the stream buffer holds: EBUSY below what it holds now.
 * More room lets held writes go on; a buffer larger than the new capacity
 * shrinks to it.
 */
int
chan_set_capacity(struct chan *c, size_t capacity)
{
	size_t	 old = c->ring.size;

	if (capacity < c->ring.len)
		return (EBUSY);
	c->capacity = capacity;
	if (c->ring.size > capacity && ring_resize(&c->ring, capacity) == 0) {
		c->pool->budget.mem_used -= old - c->ring.size;
		chan_pool_wake(c->pool);
	}
	chan_pump(c);
	chan_notify(c);
	return (0);
}

/*
 * The largest write kept whole: a message as large as the capacity, but
 * one the kernel sends in one request (docs/modes.md); for a stream,
 * CHAN_ATOMIC.
 */
size_t
chan_max_message(const struct chan *c)
{
	size_t	 max = c->pool->max_message;

	if (c->framing == CHAN_BYTES)
		return (CHAN_ATOMIC);
	return (max != 0 && max < c->capacity ? max : c->capacity);
}

/*
 * Set framing and delivery: EBUSY if the channel is open or holds data and
 * they would change.  The stream starts again from nothing.
 */
int
chan_set_mode(struct chan *c, int framing, int delivery)
{
	if (framing == c->framing && delivery == c->delivery)
		return (0);
	if (!LIST_EMPTY(&c->handles) || c->ring.len > 0)
		return (EBUSY);
	c->framing = framing;
	c->delivery = delivery;
	memset(&c->head, 0, sizeof c->head);
	memset(&c->taken, 0, sizeof c->taken);
	return (0);
}

/* True if nothing holds the channel open and nothing is buffered. */
int
chan_idle(const struct chan *c)
{
	return (LIST_EMPTY(&c->handles) && c->ring.len == 0);
}

/*
 * True if no writer is left anywhere: none here, none on other hosts, and
 * for a bridged channel, nothing left on its way.
 */
static int
chan_nowriters(const struct chan *c)
{
	return (c->writers == 0 && c->rwriters == 0 &&
	    (c->link == NULL || c->rdrained));
}

/* True if no reader is left here or on other hosts. */
static int
chan_noreaders(const struct chan *c)
{
	return (c->readers == 0 && c->rreaders == 0);
}

static int
seen_writer(const struct chan_handle *h)
{
	return (h->seen_writer || h->chan->wopens != h->wopens);
}

static int
seen_reader(const struct chan_handle *h)
{
	return (h->seen_reader || h->chan->ropens != h->ropens);
}

/* What the lengths ring must grow by before it takes one more, or 0. */
static size_t
chan_lens_grow(const struct chan *c)
{
	if (c->framing != CHAN_MESSAGES ||
	    c->lens.size - c->lens.len >= sizeof (uint32_t))
		return (0);
	return (c->lens.size == 0 ? LENS_MIN : c->lens.size);
}

/*
 * The most the ring could hold now: capacity, less what memory forbids.
 * Stream buffers share max_memory with the regions; a message's length
 * needs its room too, so that a message the ring has room for goes in.
 */
static size_t
chan_limit(const struct chan *c)
{
	size_t	 limit, left, grow;

	left = budget_left(&c->pool->budget);
	grow = chan_lens_grow(c);
	left = left > grow ? left - grow : 0;
	limit = c->ring.size + left;
	if (limit > c->capacity || limit < c->ring.size)
		limit = c->capacity;
	return (limit);
}

/* Bytes a write could add now, growing the ring if it must. */
static size_t
chan_room(const struct chan *c)
{
	return (chan_limit(c) - c->ring.len);
}

/*
 * Make the ring big enough for want bytes in all, growing by doubling so a
 * channel that only ever carries small messages stays small.
 */
static void
chan_reserve(struct chan *c, size_t want)
{
	size_t	 size, limit, old;

	if (want <= c->ring.size)
		return;
	limit = chan_limit(c);
	size = c->ring.size < RING_MIN ? RING_MIN : c->ring.size;
	while (size < want && size < limit)
		size = size > limit / 2 ? limit : size * 2;
	if (size > limit)
		size = limit;
	if (size <= c->ring.size)
		return;
	old = c->ring.size;
	/* Out of memory: the ring stays as it is, and has less room. */
	if (ring_resize(&c->ring, size) == -1)
		return;
	c->pool->budget.mem_used += size - old;
}

/*
 * The bytes of a write's n remaining (of total) that must go in together:
 * all of a message, or of a write of at most CHAN_ATOMIC bytes, so it is
 * never split; one byte otherwise.
 */
static size_t
chan_need(const struct chan *c, size_t n, size_t total)
{
	return (c->framing == CHAN_MESSAGES || total <= CHAN_ATOMIC ? n : 1);
}

/* Make room for one more message length.  Returns 0, or -1 if short. */
static int
chan_reserve_len(struct chan *c)
{
	size_t	 size, old = c->lens.size;

	if (c->lens.size - c->lens.len >= sizeof (uint32_t))
		return (0);
	size = old + chan_lens_grow(c);
	if (budget_left(&c->pool->budget) < size - old ||
	    ring_resize(&c->lens, size) == -1)
		return (-1);
	c->pool->budget.mem_used += size - old;
	return (0);
}

/*
 * Put as much of a write as its rules allow into the ring, with its length
 * if it is a message.  Returns the bytes taken.
 */
static size_t
chan_push(struct chan *c, const char *p, size_t n, size_t total)
{
	size_t		 need, room;
	uint32_t	 len;

	need = chan_need(c, n, total);
	room = chan_room(c);
	if (room < need)
		return (0);
	if (n > room)
		n = room;
	chan_reserve(c, c->ring.len + n);
	if (c->ring.size - c->ring.len < need)
		return (0);
	if (c->framing == CHAN_MESSAGES) {
		if (chan_reserve_len(c) == -1)
			return (0);
		len = (uint32_t)n;
		ring_push(&c->lens, &len, sizeof len);
	}
	return (ring_push(&c->ring, p, n));
}

/* True if this write could never be taken, even by an empty channel. */
static int
chan_never_fits(const struct chan *c, size_t n, size_t total)
{
	return (chan_limit(c) < chan_need(c, n, total));
}

/* The error for a write that never fits. */
static int
chan_too_big(const struct chan *c, size_t total)
{
	if (c->framing == CHAN_MESSAGES && total > chan_max_message(c))
		return (EMSGSIZE);
	return (ENOSPC);
}

/* Where h reads from, as an offset into the ring. */
static size_t
chan_skip(const struct chan_handle *h)
{
	const struct chan	*c = h->chan;

	if (c->delivery == CHAN_QUEUE)
		return (0);
	return ((size_t)(h->cur.pos - c->head.pos));
}

/* The bytes h has to read in the ring. */
static size_t
chan_avail(const struct chan_handle *h)
{
	return (h->chan->ring.len - chan_skip(h));
}

/* The length of the next message h has to read, or 0. */
static size_t
chan_next_len(const struct chan_handle *h)
{
	const struct chan	*c = h->chan;
	struct iovec		 iov[2];
	uint32_t		 len;
	size_t			 skip = 0, total;
	int			 cnt;

	if (c->delivery == CHAN_BROADCAST)
		skip = (size_t)(h->cur.msg - c->head.msg) * sizeof len;
	cnt = ring_peek_at(&c->lens, skip, sizeof len, iov, &total);
	if (total < sizeof len)
		return (0);
	memcpy(&len, iov[0].iov_base, iov[0].iov_len);
	if (cnt == 2)
		memcpy((char *)&len + iov[0].iov_len, iov[1].iov_base,
		    iov[1].iov_len);
	return (len);
}

/* Let go of the oldest n bytes and m messages of the ring. */
static void
chan_drop(struct chan *c, size_t n, size_t m)
{
	ring_drop(&c->ring, n);
	ring_drop(&c->lens, m * sizeof (uint32_t));
	c->head.pos += n;
	c->head.msg += m;
}

/*
 * A broadcast keeps what some reader is still to get: the ring starts at
 * the slowest reader's cursor, or with no reader at where the furthest
 * got, so that data no reader had waits for the next.
 */
static void
chan_settle(struct chan *c)
{
	const struct chan_handle	*h;
	struct cursor			 low = c->taken;

	LIST_FOREACH(h, &c->handles, entry)
		if ((h->mode & CHAN_RD) && h->cur.pos < low.pos)
			low = h->cur;
	if (low.pos > c->head.pos)
		chan_drop(c, (size_t)(low.pos - c->head.pos),
		    (size_t)(low.msg - c->head.msg));
}

/* h read n bytes in m messages from the ring. */
static void
chan_advance(struct chan_handle *h, size_t n, size_t m)
{
	struct chan	*c = h->chan;

	if (c->delivery == CHAN_QUEUE) {
		chan_drop(c, n, m);
		return;
	}
	h->cur.pos += n;
	h->cur.msg += m;
	if (h->cur.pos > c->taken.pos)
		c->taken = h->cur;
	chan_settle(c);
}

/* True if h keeps a read history. */
static int
chan_keeps(const struct chan_handle *h)
{
	return ((h->mode & (CHAN_RD | CHAN_SEEK)) == (CHAN_RD | CHAN_SEEK));
}

/* What h's history may take: what it has, and what max_memory leaves. */
static size_t
chan_hist_limit(const struct chan_handle *h)
{
	return (hist_size(&h->hist) + budget_left(&h->chan->pool->budget));
}

/* h's history had old bytes of buffer: account for what it has now. */
static void
chan_hist_resized(struct chan_handle *h, size_t old)
{
	struct chan_pool	*pool = h->chan->pool;

	pool->budget.hist_used = pool->budget.hist_used - old +
	    hist_size(&h->hist);
	if (hist_size(&h->hist) < old)
		chan_pool_wake(pool);
}

/*
 * Keep what a read of h at off was given, for a re-read, as far as
 * max_memory allows.  Only opens that read and have offsets keep any.
 */
static void
chan_given(struct chan_handle *h, uint64_t off, const struct iovec *iov,
    int cnt, size_t n)
{
	size_t	 old = hist_size(&h->hist);

	h->given += n;
	h->chan->bytes_read += n;
	h->chan->reads++;
	if (!chan_keeps(h))
		return;
	hist_given(&h->hist, off, iov, cnt, n, chan_hist_limit(h));
	chan_hist_resized(h, old);
}

/*
 * As chan_given, for a read whose last piece lies in mem, a buffer of size
 * bytes taken over: a large read's history keeps it there, no copy.
 * Returns 1 if it did (mem is the history's now), 0 if mem stays the
 * caller's.
 */
static int
chan_given_ref(struct chan_handle *h, uint64_t off, const struct iovec *iov,
    int cnt, size_t n, void *mem, size_t size)
{
	size_t	 old = hist_size(&h->hist);

	if (!chan_keeps(h) || n < HIST_KEEP || mem == NULL ||
	    size > chan_hist_limit(h))
		return (0);
	h->given += n;
	h->chan->bytes_read += n;
	h->chan->reads++;
	hist_given_ref(&h->hist, off, iov, cnt, n, mem, size,
	    chan_hist_limit(h));
	chan_hist_resized(h, old);
	return (1);
}

/*
 * The n bytes at iov, the last of an answered write wreq, were given to a
 * read of h at off: its history takes over the buffer they arrived in
 * (cbs->adopt), if it is at most twice as large.  Returns 1 if it did.
 * Nothing may use the write's bytes afterwards.
 */
static int
chan_given_adopt(struct chan_handle *h, uint64_t off, void *wreq,
    const struct iovec *iov, size_t n)
{
	const struct chan_cbs	*cbs = h->chan->pool->cbs;
	size_t			 max, size;
	void			*mem;

	if (cbs->adopt == NULL || !chan_keeps(h) || n < HIST_KEEP)
		return (0);
	max = chan_hist_limit(h);
	if (max > n * 2)
		max = n * 2;
	if ((mem = cbs->adopt(wreq, iov->iov_base, max, &size)) == NULL)
		return (0);
	if (!chan_given_ref(h, off, iov, 1, n, mem, size)) {
		chan_given(h, off, iov, 1, n);
		free(mem);
	}
	return (1);
}

/*
 * A write of n bytes, in cnt pieces, through h at off was answered: a
 * re-read there gets them, as in a regular file.
 */
static void
chan_wrote(struct chan_handle *h, uint64_t off, const struct iovec *iov,
    int cnt, size_t n)
{
	size_t	 old = hist_size(&h->hist);

	if (!chan_keeps(h))
		return;
	hist_wrote(&h->hist, off, iov, cnt, n, chan_hist_limit(h));
	chan_hist_resized(h, old);
}

/* A write that put n bytes in is answered: count it. */
static void
chan_counted(struct chan *c, size_t n)
{
	c->bytes_written += n;
	c->writes++;
}

/* A write of the n bytes at buf through h at off was answered. */
static void
chan_wrote_buf(struct chan_handle *h, uint64_t off, const char *buf,
    size_t n)
{
	struct iovec	 iov;

	chan_counted(h->chan, n);
	iov.iov_base = (void *)buf;
	iov.iov_len = n;
	chan_wrote(h, off, &iov, 1, n);
}

/* The held write w is answered with a count of n. */
static void
waiter_wrote(struct waiter *w, size_t n)
{
	struct iovec	 iov[2];

	if (n > 0)
		chan_counted(w->h->chan, n);
	if (!chan_keeps(w->h) || n == 0)
		return;
	/* No copy of what went in at first: the history starts after it. */
	if (w->base > 0 && w->head == NULL) {
		hist_forget(&w->h->hist, w->off + n);
		return;
	}
	iov[0].iov_base = w->head;
	iov[0].iov_len = n < w->base ? n : w->base;
	iov[1].iov_base = w->data;
	iov[1].iov_len = n - iov[0].iov_len;
	chan_wrote(w->h, w->off, iov, 2, n);
}

/* A held request, or NULL if memory is short. */
static struct waiter *
waiter_new(struct chan_handle *h, void *req, int op, size_t size)
{
	struct waiter	*w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return (NULL);
	w->h = h;
	w->req = req;
	w->op = op;
	w->size = size;
	h->nwait++;
	if (op == WAIT_READ)
		h->nreads++;
	h->chan->pool->nwaiters++;
	return (w);
}

/* Undo waiter_new for a request that is answered at once after all. */
static void
waiter_unmake(struct waiter *w)
{
	w->h->nwait--;
	if (w->op == WAIT_READ)
		w->h->nreads--;
	w->h->chan->pool->nwaiters--;
	free(w);
}

/* Free a held request that is off its queue; it must be answered. */
static void
waiter_release(struct waiter *w)
{
	struct chan	*c = w->h->chan;

	if (w->op == WAIT_WRITE) {
		c->pool->budget.held -= w->size - w->done + w->extra;
		if (w->mem != NULL)
			free(w->mem);
		else {
			free(w->data);
			if (w->head != NULL) {
				c->pool->budget.held -= w->base;
				free(w->head);
			}
		}
		chan_pool_wake(c->pool);
	}
	w->h->nwait--;
	if (w->op == WAIT_READ)
		w->h->nreads--;
	c->pool->nwaiters--;
	free(w);
}

/* Take a held request off its queue and free it. */
static void
waiter_free(struct waiter *w)
{
	struct chan	*c = w->h->chan;

	TAILQ_REMOVE(w->op == WAIT_READ ? &c->rq : &c->wq, w, entry);
	waiter_release(w);
}

/*
 * A held write of a bridged channel is about to be answered early: the
 * link says how much of it is already on its way to being stored (a
 * piece it cannot call back), and that much counts as written, so that
 * the caller never writes it again.
 */
static void
chan_link_cancel(struct chan *c, struct waiter *w)
{
	size_t	 n;

	if (c->link == NULL || w->op != WAIT_WRITE)
		return;
	n = c->pool->link->cancel(c, w);
	w->done += n;
	c->pool->budget.held -= n;
}

/* Answer a held write with its count, or err if nothing went in. */
static void
waiter_end_write(struct waiter *w, int err)
{
	const struct chan_cbs	*cbs = w->h->chan->pool->cbs;
	void			*req = w->req;
	size_t			 done = w->done;

	waiter_wrote(w, done);
	waiter_free(w);
	if (done > 0 || err == 0)
		cbs->reply_count(req, done);
	else
		cbs->reply_err(req, err);
}

/*
 * A read of h at off gets end of file.  Where it met it is kept for
 * chan_eof_mark; an open without offsets met it after all it was given.
 */
static void
chan_eof(struct chan_handle *h, void *req, uint64_t off)
{
	h->eof_at = (h->mode & CHAN_SEEK) ? off : h->given;
	h->chan->pool->cbs->reply_data(req, NULL, 0);
}

static void
waiter_end_read(struct waiter *w, int err)
{
	const struct chan_cbs	*cbs = w->h->chan->pool->cbs;
	struct chan_handle	*h = w->h;
	void			*req = w->req;
	uint64_t		 off = w->off;

	waiter_free(w);
	if (err != 0)
		cbs->reply_err(req, err);
	else
		chan_eof(h, req, off);
}

/*
 * How many bytes of the oldest held write a read of size may take once
 * ring bytes are drained.  A write of at most CHAN_ATOMIC bytes is taken
 * whole, or in part only if the rest is sure to fit in the emptied ring,
 * so it is never left half done.
 */
static size_t
chan_take(const struct chan *c, size_t size, size_t ringbytes)
{
	const struct waiter	*w = TAILQ_FIRST(&c->wq);
	size_t			 take, left;

	if (w == NULL || c->link != NULL || ringbytes != c->ring.len ||
	    ringbytes >= size ||
	    c->framing != CHAN_BYTES || c->delivery != CHAN_QUEUE)
		return (0);
	left = w->size - w->done;
	take = left < size - ringbytes ? left : size - ringbytes;
	if (w->size <= CHAN_ATOMIC && take < left &&
	    chan_limit(c) < left - take)
		return (0);
	return (take);
}

/*
 * True if a read of size through h would be answered now: with data, or
 * with EMSGSIZE if the next message is longer.
 */
static int
chan_ready(const struct chan_handle *h, size_t size)
{
	if (h->chan->framing == CHAN_MESSAGES)
		return (chan_next_len(h) > 0);
	return (chan_avail(h) > 0 || chan_take(h->chan, size, 0) > 0);
}

/*
 * Hand up to size bytes to req, a read of h at off: one whole message, or
 * EMSGSIZE if it is longer; or for a stream, buffered bytes first and
 * then, once the ring is drained, bytes of the oldest held write straight
 * from its copy, so a read is never shorter than the ring.  Call only if
 * chan_ready.
 * Returns that write, off its queue, if this completed it; the caller
 * answers it after the read.
 */
static struct waiter *
chan_serve(struct chan *c, struct chan_handle *h, uint64_t off, void *req,
    size_t size)
{
	struct iovec	 iov[3];
	struct waiter	*w;
	size_t		 total, take, len, msgs = 0, msize;
	int		 cnt, given = 0;

	if (c->framing == CHAN_MESSAGES) {
		if ((len = chan_next_len(h)) > size) {
			c->pool->cbs->reply_err(req, EMSGSIZE);
			return (NULL);
		}
		size = len;
		msgs = 1;
	}
	cnt = ring_peek_at(&c->ring, chan_skip(h), size, iov, &total);
	if ((take = chan_take(c, size, total)) > 0) {
		w = TAILQ_FIRST(&c->wq);
		iov[cnt].iov_base = w->data + (w->done - w->base);
		iov[cnt].iov_len = take;
		cnt++;
	}
	c->pool->cbs->reply_data(req, iov, cnt);
	w = take > 0 ? TAILQ_FIRST(&c->wq) : NULL;
	/*
	 * A write this completes leaves its buffer taken over (chan_write)
	 * to the reader's history, if its own open keeps none.
	 */
	if (w != NULL && w->mem != NULL && !chan_keeps(w->h) &&
	    w->done + take == w->size) {
		msize = w->size - w->base + w->extra;
		c->pool->budget.held -= take + w->extra;
		if (chan_given_ref(h, off, iov, cnt, total + take, w->mem,
		    msize)) {
			w->mem = NULL;
			w->data = NULL;
			w->extra = 0;
			w->done = w->size;
			given = 1;
		} else
			c->pool->budget.held += take + w->extra;
	}
	if (!given)
		chan_given(h, off, iov, cnt, total + take);
	chan_advance(h, total, msgs);
	if (take == 0)
		return (NULL);
	if (!given) {
		w->done += take;
		c->pool->budget.held -= take;
	}
	/* Memory came back: other channels' pollers may have room now. */
	chan_pool_wake(c->pool);
	if (w->done < w->size)
		return (NULL);
	TAILQ_REMOVE(&c->wq, w, entry);
	return (w);
}

/* Answer a write that chan_serve completed. */
static void
chan_served(struct chan *c, struct waiter *w)
{
	void	*req = w->req;
	size_t	 size = w->size;

	waiter_wrote(w, size);
	waiter_release(w);
	c->pool->cbs->reply_count(req, size);
}

/*
 * Give a message straight to the oldest held read that can take it whole;
 * reads too small for it before that one fail with EMSGSIZE.  The writer
 * is answered first.  Returns the bytes handed over: all or none.
 */
static size_t
chan_handoff_msg(struct chan_handle *wh, uint64_t woff, void *wreq,
    const char *buf, size_t size)
{
	struct chan		*c = wh->chan;
	struct chan_handle	*rh;
	struct iovec		 iov;
	struct waiter		*r;
	uint64_t		 roff;
	void			*req;

	while ((r = TAILQ_FIRST(&c->rq)) != NULL && r->size < size)
		waiter_end_read(r, EMSGSIZE);
	if (r == NULL)
		return (0);
	chan_wrote_buf(wh, woff, buf, size);
	c->pool->cbs->reply_count(wreq, size);
	req = r->req;
	rh = r->h;
	roff = r->off;
	waiter_free(r);
	iov.iov_base = (void *)buf;
	iov.iov_len = size;
	c->pool->cbs->reply_data(req, &iov, 1);
	if (!chan_given_adopt(rh, roff, wreq, &iov, size))
		chan_given(rh, roff, &iov, 1, size);
	return (size);
}

/*
 * Give the bytes of a write straight to held reads, oldest first, with no
 * stop in the ring; the ring is empty whenever a read is held.  A write of
 * at most CHAN_ATOMIC bytes is handed over only if what the reads leave is
 * sure to fit, so it is never split.  If the reads take the whole write,
 * its writer wreq (a write of wh at woff) is answered first: its next
 * write is then on its way while the reads are answered.  Returns the
 * bytes handed over.
 */
static size_t
chan_handoff(struct chan_handle *wh, uint64_t woff, void *wreq,
    const char *buf, size_t size)
{
	struct chan		*c = wh->chan;
	const struct chan_cbs	*cbs = c->pool->cbs;
	struct chan_handle	*rh;
	struct iovec		 iov;
	struct waiter		*r;
	size_t			 n = 0, take;
	uint64_t		 roff;
	void			*req;
	int			 whole;

	if (TAILQ_EMPTY(&c->rq) || !TAILQ_EMPTY(&c->wq) || c->ring.len > 0 ||
	    c->delivery != CHAN_QUEUE)
		return (0);
	if (c->framing == CHAN_MESSAGES)
		return (chan_handoff_msg(wh, woff, wreq, buf, size));
	TAILQ_FOREACH(r, &c->rq, entry)
		if ((n += r->size) >= size)
			break;
	/* Reads that take the whole write need no room at all. */
	if (n < size && size <= CHAN_ATOMIC && chan_room(c) < size - n)
		return (0);
	if ((whole = n >= size)) {
		chan_wrote_buf(wh, woff, buf, size);
		cbs->reply_count(wreq, size);
	}
	n = 0;
	while (n < size && (r = TAILQ_FIRST(&c->rq)) != NULL) {
		take = r->size < size - n ? r->size : size - n;
		req = r->req;
		rh = r->h;
		roff = r->off;
		waiter_free(r);
		iov.iov_base = (char *)buf + n;
		iov.iov_len = take;
		cbs->reply_data(req, &iov, 1);
		/* The last read of a whole write may keep its buffer. */
		if (!whole || n + take < size ||
		    !chan_given_adopt(rh, roff, wreq, &iov, take))
			chan_given(rh, roff, &iov, 1, take);
		n += take;
	}
	return (n);
}

/*
 * Open the channel for reading, writing or both.  NULL if memory is
 * short.
 */
struct chan_handle *
chan_open(struct chan *c, int mode)
{
	struct chan_handle	*h;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return (NULL);
	h->chan = c;
	h->mode = mode;
	hist_init(&h->hist);
	if (mode & CHAN_RD) {
		c->readers++;
		c->ropens++;
		/* A broadcast's new reader gets what no reader has had. */
		h->cur = c->taken;
	}
	if (mode & CHAN_WR) {
		c->writers++;
		c->wopens++;
	}
	h->seen_writer = c->writers + c->rwriters > 0 ||
	    ((mode & CHAN_RD) && chan_avail(h) > 0);
	h->seen_reader = c->readers + c->rreaders > 0;
	h->wopens = c->wopens;
	h->ropens = c->ropens;
	LIST_INSERT_HEAD(&c->handles, h, entry);
	chan_notify(c);
	return (h);
}

/*
 * With no writer left anywhere, held reads that have seen one and have
 * nothing to read get end of file; with no reader left, held writes that
 * have seen one fail with EPIPE.
 */
static void
chan_ends(struct chan *c)
{
	struct waiter	*w, *tw;

	if (chan_nowriters(c)) {
		TAILQ_FOREACH_SAFE(w, &c->rq, entry, tw)
			if (chan_avail(w->h) == 0 && seen_writer(w->h))
				waiter_end_read(w, 0);
	}
	if (chan_noreaders(c)) {
		TAILQ_FOREACH_SAFE(w, &c->wq, entry, tw)
			if (seen_reader(w->h) && w->sending == NULL) {
				chan_link_cancel(c, w);
				waiter_end_write(w, EPIPE);
			}
	}
}

/*
 * Close one open.  The last writer gone wakes every held read that has seen
 * a writer with end of file; the last reader gone fails every held write
 * that has seen a reader with EPIPE.
 */
void
chan_close(struct chan_handle *h)
{
	struct chan	*c = h->chan;
	struct waiter	*w, *tw;

	/* The kernel holds the file while a request is out; be safe anyway. */
	if (h->nwait > 0) {
		TAILQ_FOREACH_SAFE(w, &c->rq, entry, tw)
			if (w->h == h)
				waiter_end_read(w, EBADF);
		TAILQ_FOREACH_SAFE(w, &c->wq, entry, tw)
			if (w->h == h) {
				chan_link_cancel(c, w);
				waiter_end_write(w, EBADF);
			}
	}
	if (h->ph != NULL) {
		LIST_REMOVE(h, pentry);
		c->pool->cbs->poll_free(h->ph);
	}
	if (c->link != NULL && c->pool->link->closed != NULL)
		c->pool->link->closed(c, h);
	LIST_REMOVE(h, entry);
	if (h->mode & CHAN_RD)
		c->readers--;
	if (h->mode & CHAN_WR)
		c->writers--;
	if (hist_size(&h->hist) > 0) {
		c->pool->budget.hist_used -= hist_free(&h->hist);
		chan_pool_wake(c->pool);
	}
	free(h->lerrs);
	free(h);

	if (c->delivery == CHAN_BROADCAST)
		chan_settle(c);
	chan_ends(c);
	chan_pump(c);
	if (chan_idle(c) && c->ring.size + c->lens.size > 0) {
		c->pool->budget.mem_used -= c->ring.size + c->lens.size;
		ring_free(&c->ring);
		ring_free(&c->lens);
		chan_pool_wake(c->pool);
	}
	chan_notify(c);
}

/*
 * Move data along: buffered bytes to held reads, then held writes into the
 * freed room, until neither can go on.  Writes that complete are answered
 * after the reads they fed.
 */
static void
chan_pump(struct chan *c)
{
	struct waitq	 done;
	struct waiter	*w, *tw;
	size_t		 n, left;
	int		 progress, never;

	TAILQ_INIT(&done);
	do {
		progress = 0;
		/*
		 * A queue's held reads wait in one line, a broadcast's each
		 * for its own open.
		 */
		TAILQ_FOREACH_SAFE(w, &c->rq, entry, tw) {
			struct chan_handle *h = w->h;
			void		*req = w->req;
			uint64_t	 off = w->off;
			size_t		 size = w->size;

			if (!chan_ready(h, size)) {
				if (c->delivery == CHAN_QUEUE)
					break;
				continue;
			}
			waiter_free(w);
			if ((w = chan_serve(c, h, off, req, size)) != NULL)
				TAILQ_INSERT_TAIL(&done, w, entry);
			progress = 1;
		}
		/* A bridged channel's writes go out, never in the ring. */
		while (c->link == NULL && (w = TAILQ_FIRST(&c->wq)) != NULL) {
			/*
			 * The write's own copy gives way to the ring as its
			 * bytes go in: it does not stand in their way.
			 */
			left = w->size - w->done;
			c->pool->budget.held -= left;
			n = chan_push(c, w->data + (w->done - w->base), left,
			    w->size);
			never = n == 0 && chan_never_fits(c, left, w->size);
			c->pool->budget.held += left - n;
			if (n > 0)
				chan_pool_wake(c->pool);
			if (n == 0) {
				if (!never)
					break;
				waiter_end_write(w, chan_too_big(c, w->size));
				continue;
			}
			w->done += n;
			progress = 1;
			if (w->done < w->size)
				break;
			TAILQ_REMOVE(&c->wq, w, entry);
			TAILQ_INSERT_TAIL(&done, w, entry);
		}
	} while (progress);

	while ((w = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, w, entry);
		chan_served(c, w);
	}
}

/*
 * Read up to size bytes at file offset off.  A read inside what this open
 * was already given gets those bytes again (hist.c).  Otherwise it answers
 * at once with data, end of file or EAGAIN, or holds the request and
 * returns it so the caller can arrange for an interrupt to cancel it.
 */
struct waiter *
chan_read(struct chan_handle *h, void *req, size_t size, uint64_t off,
    int nonblock)
{
	struct chan		*c = h->chan;
	const struct chan_cbs	*cbs = c->pool->cbs;
	struct iovec		 iov[2];
	struct waiter		*w;
	size_t			 total;
	int			 cnt;

	if (!(h->mode & CHAN_RD)) {
		cbs->reply_err(req, EBADF);
		return (NULL);
	}
	if (size == 0) {
		cbs->reply_data(req, NULL, 0);
		return (NULL);
	}
	if ((h->mode & CHAN_SEEK) &&
	    (cnt = hist_find(&h->hist, off, size, iov, &total)) > 0) {
		cbs->reply_data(req, iov, cnt);
		return (NULL);
	}
	/* Behind held reads of the queue, or of this open in a broadcast. */
	if ((c->delivery == CHAN_QUEUE ? TAILQ_EMPTY(&c->rq) :
	    h->nreads == 0) && chan_ready(h, size)) {
		w = chan_serve(c, h, off, req, size);
		chan_pump(c);
		if (w != NULL)
			chan_served(c, w);
		chan_notify(c);
		return (NULL);
	}
	if (chan_nowriters(c) && seen_writer(h)) {
		chan_eof(h, req, off);
		return (NULL);
	}
	if (nonblock) {
		cbs->reply_err(req, EAGAIN);
		if (c->link != NULL && !c->rwant) {
			c->rwant = 1;
			chan_notify(c);
		}
		return (NULL);
	}
	if ((w = waiter_new(h, req, WAIT_READ, size)) == NULL) {
		cbs->reply_err(req, ENOMEM);
		return (NULL);
	}
	w->off = off;
	TAILQ_INSERT_TAIL(&c->rq, w, entry);
	/* A bridged channel's link fetches for it. */
	if (c->link != NULL)
		c->pool->link->kick(c);
	return (w);
}

/*
 * Write size bytes at file offset off.  Answers at once when they all fit,
 * or with EPIPE, EAGAIN, ENOSPC or a partial count; otherwise keeps a copy
 * of what did not fit and holds the request until it all goes in.
 */
struct waiter *
chan_write(struct chan_handle *h, void *req, const void *buf, size_t size,
    uint64_t off, int nonblock)
{
	struct chan		*c = h->chan;
	const struct chan_cbs	*cbs = c->pool->cbs;
	struct waiter		*w;
	size_t			 n = 0, k, keep, room, floor, msize = 0;
	char			*data;
	void			*mem;

	if (!(h->mode & CHAN_WR)) {
		cbs->reply_err(req, EBADF);
		return (NULL);
	}
	if (size == 0) {
		cbs->reply_count(req, 0);
		return (NULL);
	}
	if (c->framing == CHAN_MESSAGES && size > chan_max_message(c)) {
		cbs->reply_err(req, EMSGSIZE);
		return (NULL);
	}
	if (chan_noreaders(c) && seen_reader(h)) {
		cbs->reply_err(req, EPIPE);
		return (NULL);
	}
	if (c->link != NULL)
		return (chan_link_write(h, req, buf, size, off, nonblock));
	if ((n = chan_handoff(h, off, req, buf, size)) == size) {
		chan_notify(c);
		return (NULL);
	}
	/*
	 * What is left goes in the ring, behind any write already held.  A
	 * queue holds no read now: chan_handoff gave the write to all of
	 * them, or there were none.  A broadcast's held reads are those of
	 * opens that had read everything: they get what goes in at once.
	 */
	while (TAILQ_EMPTY(&c->wq) && n < size &&
	    (k = chan_push(c, (const char *)buf + n, size - n, size)) > 0) {
		n += k;
		/* A broadcast's readers may wait while others have data. */
		if (!TAILQ_EMPTY(&c->rq))
			chan_pump(c);
	}
	if (n == size || (n > 0 && nonblock)) {
		chan_wrote_buf(h, off, buf, n);
		cbs->reply_count(req, n);
		chan_notify(c);
		return (NULL);
	}
	if (nonblock || chan_never_fits(c, size - n, size)) {
		if (n > 0) {
			chan_wrote_buf(h, off, buf, n);
			cbs->reply_count(req, n);
		} else
			cbs->reply_err(req, nonblock ? EAGAIN :
			    chan_too_big(c, size));
		chan_notify(c);
		return (NULL);
	}
	/*
	 * Hold the rest: keep a copy of it, counted against max_memory.  A
	 * large write that does not fit whole is held for what fits and
	 * answered with that shorter count, as a pipe answers an interrupted
	 * write; the caller writes the rest again.  Every write may keep
	 * about CHAN_ATOMIC bytes, past max_memory if it must, so that a
	 * writer to a full channel waits for its reader even when other
	 * channels use all the memory; such a copy costs the daemon no more
	 * than the blocked write costs its caller.  Memory that cannot be had
	 * fails the write, never the daemon.  A message is kept whole or
	 * fails with ENOMEM.
	 */
	keep = size - n;
	room = budget_left(&c->pool->budget);
	/* A large write stays one, over CHAN_ATOMIC bytes, and piecewise. */
	floor = size <= CHAN_ATOMIC ? keep : n > CHAN_ATOMIC ? 1 :
	    CHAN_ATOMIC + 1 - n;
	if (room < floor)
		room = floor;
	if (keep > room && c->framing == CHAN_MESSAGES)
		keep = 0;
	else if (keep > room)
		keep = room;
	data = NULL;
	mem = NULL;
	w = keep > 0 ? waiter_new(h, req, WAIT_WRITE, n + keep) : NULL;
	/*
	 * A large write keeps its bytes where they arrived, if the buffer
	 * can be taken over and is at most twice as large: no copy.  All of
	 * the buffer counts against max_memory.
	 */
	room = budget_left(&c->pool->budget);
	if (room > keep * 2)
		room = keep * 2;
	if (w != NULL && keep >= CHAN_ADOPT_MIN && cbs->adopt != NULL &&
	    (mem = cbs->adopt(req, buf, room, &msize)) != NULL)
		data = (char *)buf + n;
	else if (w != NULL && (data = malloc(keep)) != NULL)
		memcpy(data, (const char *)buf + n, keep);
	if (data == NULL) {
		if (keep > 0)
			log_warn("%s: a copy of %zu bytes", __func__, keep);
		if (w != NULL)
			waiter_unmake(w);
		if (n > 0) {
			chan_wrote_buf(h, off, buf, n);
			cbs->reply_count(req, n);
		} else
			cbs->reply_err(req, ENOMEM);
		chan_notify(c);
		return (NULL);
	}
	w->off = off;
	w->done = w->base = n;
	w->data = data;
	c->pool->budget.held += keep;
	if (mem != NULL) {
		w->mem = mem;
		w->extra = msize > keep ? msize - keep : 0;
		c->pool->budget.held += w->extra;
		/* The history's bytes are in the same buffer. */
		if (chan_keeps(h) && n > 0)
			w->head = (char *)buf;
	} else if (chan_keeps(h) && n > 0 && (w->head = malloc(n)) != NULL) {
		/* What went in already, for this open's history. */
		memcpy(w->head, buf, n);
		c->pool->budget.held += n;
	}
	TAILQ_INSERT_TAIL(&c->wq, w, entry);
	chan_notify(c);
	return (w);
}

/*
 * Answer a held request early, for an interrupt or a shutdown: a write that
 * got some bytes in reports them, anything else gets err.
 */
void
chan_cancel(struct waiter *w, int err)
{
	struct chan	*c = w->h->chan;

	if (w->op == WAIT_WRITE)
		chan_link_cancel(c, w);
	if (w->op == WAIT_READ)
		waiter_end_read(w, err);
	else {
		waiter_end_write(w, err);
		chan_pump(c);
	}
	chan_notify(c);
}

/* Answer every held request of the channel with err. */
void
chan_abort(struct chan *c, int err)
{
	struct waiter	*w;

	while ((w = TAILQ_FIRST(&c->rq)) != NULL)
		waiter_end_read(w, err);
	while ((w = TAILQ_FIRST(&c->wq)) != NULL) {
		chan_link_cancel(c, w);
		waiter_end_write(w, err);
	}
}

/*
 * The poll events of one open, as pipe(7) gives them.  If ph is not NULL it
 * replaces any handle kept before and is notified at the next change.
 */
unsigned
chan_poll(struct chan_handle *h, void *ph)
{
	struct chan	*c = h->chan;
	unsigned	 ev = 0;

	if (h->mode & CHAN_RD) {
		if (chan_avail(h) > 0)
			ev |= POLLIN | POLLRDNORM;
		else if (chan_nowriters(c) && seen_writer(h))
			ev |= POLLIN | POLLRDNORM | POLLHUP;
		else if (c->link != NULL && ph != NULL && !c->rwant) {
			/* The link fetches for a poller too. */
			c->rwant = 1;
			c->pool->link->kick(c);
		}
	}
	if (h->mode & CHAN_WR) {
		if (chan_noreaders(c) && seen_reader(h))
			ev |= POLLERR | POLLOUT | POLLWRNORM;
		else if (c->link != NULL) {
			/* A bridged write waits for room in the link's buffer. */
			if (TAILQ_EMPTY(&c->wq) &&
			    (c->pool->link->writable == NULL ||
			    c->pool->link->writable(c)))
				ev |= POLLOUT | POLLWRNORM;
		} else if (TAILQ_EMPTY(&c->wq) && chan_room(c) >= CHAN_ATOMIC)
			ev |= POLLOUT | POLLWRNORM;
		else if (ph != NULL && !c->starved &&
		    chan_limit(c) < c->capacity) {
			/* Other channels hold the memory; wait for it too. */
			LIST_INSERT_HEAD(&c->pool->starved, c, sentry);
			c->starved = 1;
		}
	}
	if (ph != NULL) {
		if (h->ph != NULL)
			c->pool->cbs->poll_free(h->ph);
		else
			LIST_INSERT_HEAD(&c->polled, h, pentry);
		h->ph = ph;
	}
	return (ev);
}

/*
 * Tell every poller that something changed.  Each poll handle is notified
 * once and dropped; the kernel polls again and hands over a new one if it
 * is still waiting, so an idle channel costs nothing.
 */
static void
chan_notify(struct chan *c)
{
	struct chan_handle	*h;

	if (c->link != NULL)
		c->pool->link->kick(c);
	while ((h = LIST_FIRST(&c->polled)) != NULL) {
		LIST_REMOVE(h, pentry);
		c->pool->cbs->poll_notify(h->ph);
		h->ph = NULL;
	}
}

/*
 * A write to a bridged channel: it goes to the link whole, and is answered
 * once the link has stored it elsewhere (chan_link_sent), never from the
 * ring.  The caller's bytes are copied, counted against max_memory as a
 * held write's are.
 */
static struct waiter *
chan_link_write(struct chan_handle *h, void *req, const void *buf,
    size_t size, uint64_t off, int nonblock)
{
	struct chan	*c = h->chan;
	struct waiter	*w;
	char		*data;

	if (size > CHAN_ATOMIC && size > budget_left(&c->pool->budget)) {
		c->pool->cbs->reply_err(req, ENOMEM);
		return (NULL);
	}
	if ((data = malloc(size)) == NULL ||
	    (w = waiter_new(h, req, WAIT_WRITE, size)) == NULL) {
		free(data);
		c->pool->cbs->reply_err(req, ENOMEM);
		return (NULL);
	}
	memcpy(data, buf, size);
	w->off = off;
	w->data = data;
	w->nonblock = nonblock;
	w->owner = h->owner;
	c->pool->budget.held += size;
	TAILQ_INSERT_TAIL(&c->wq, w, entry);
	c->pool->link->send(c);
	return (w);
}

/*
 * The link stored n more bytes of the held write w, or failed it with err.
 * It is answered when it is all stored, fails, or has no reader left;
 * otherwise the link sends the rest.
 */
void
chan_link_sent(struct waiter *w, size_t n, int err)
{
	struct chan	*c = w->h->chan;

	w->done += n;
	c->pool->budget.held -= n;
	w->sending = NULL;
	if (err != 0 || w->done == w->size)
		waiter_end_write(w, err);
	else if (chan_noreaders(c) && seen_reader(w->h))
		waiter_end_write(w, EPIPE);
	chan_notify(c);
}

/*
 * The link holds c's writes until max_memory has room again: memory that
 * comes back wakes c (chan_notify, and so the link).
 */
void
chan_link_starve(struct chan *c)
{
	if (c == NULL || c->starved)
		return;
	LIST_INSERT_HEAD(&c->pool->starved, c, sentry);
	c->starved = 1;
}

/* The bytes the link could put in the ring now. */
size_t
chan_link_room(const struct chan *c)
{
	return (chan_room(c));
}

/*
 * Put len bytes from another host in the ring: one message, or stream
 * bytes, which a read may take in any pieces.  Held reads get them at
 * once.  Returns the bytes taken: all, or for a message none.
 */
size_t
chan_link_push(struct chan *c, const void *data, size_t len)
{
	size_t	 n = 0, k;

	while (n < len && (k = chan_push(c, (const char *)data + n, len - n,
	    c->framing == CHAN_MESSAGES ? len : len - n)) > 0)
		n += k;
	if (n > 0) {
		chan_counted(c, n);
		c->rwant = 0;
		/* It came from a writer: readers here have seen one. */
		c->wopens++;
		chan_pump(c);
		chan_notify(c);
	}
	return (n);
}

/*
 * Readers and writers on other hosts, and whether the link has nothing
 * more on its way.  Opens that come elsewhere count as opens seen here.
 */
void
chan_link_counts(struct chan *c, unsigned readers, unsigned writers,
    int drained)
{
	if (readers > c->rreaders)
		c->ropens++;
	if (writers > c->rwriters)
		c->wopens++;
	c->rreaders = readers;
	c->rwriters = writers;
	c->rdrained = drained;
	chan_ends(c);
	chan_pump(c);
	chan_notify(c);
}

/*
 * The link is gone (its stream was removed): the channel goes on as a
 * local one, with its held writes now waiting for room in the ring.
 */
void
chan_link_detach(struct chan *c)
{
	struct waiter	*w;

	TAILQ_FOREACH(w, &c->wq, entry)
		w->sending = NULL;
	c->link = NULL;
	c->rreaders = 0;
	c->rwriters = 0;
	c->rdrained = 0;
	c->rwant = 0;
	chan_ends(c);
	chan_pump(c);
	chan_notify(c);
}

/* The link's buffer has room again: pollers look again. */
void
chan_link_wake(struct chan *c)
{
	chan_notify(c);
}

/* Whether h has seen a reader and none is left anywhere (EPIPE). */
int
chan_link_noreader(const struct chan_handle *h)
{
	return (chan_noreaders(h->chan) && seen_reader(h));
}

/*
 * What the channel's readers want from the link: 2 if a read is held, 1
 * if a poll or a non-blocking read found nothing, 0 if nothing.
 */
int
chan_link_demand(const struct chan *c)
{
	if (!TAILQ_EMPTY(&c->rq))
		return (2);
	return (c->rwant ? 1 : 0);
}
