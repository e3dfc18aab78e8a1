/*
 * Unit tests for chan.c: the pipe rules of a channel, driven through
 * recorder callbacks.  Requests are fake: each is a struct req whose
 * address chan.c sees as the opaque request pointer.  The recorder fails a
 * test the moment a request is answered twice or a poll handle released
 * twice, and ck_finish fails it if any request was never answered or any
 * memory is still accounted for, so every test ends with all of its
 * requests answered and the pool back to zero.
 */

#include <sys/uio.h>

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

#define NREQ		8192
#define NPOLLH		32

enum { R_NONE, R_DATA, R_COUNT, R_ERR };

/* A fake FUSE request and what it was answered with. */
struct req {
	int		 op;		/* WAIT_READ or WAIT_WRITE */
	size_t		 asked;		/* bytes asked for or offered */
	unsigned	 tag;		/* write: the pattern it carries */
	int		 nonblock;
	struct waiter	*w;		/* non-NULL while held */
	int		 nreply;
	int		 kind;		/* R_DATA, R_COUNT or R_ERR */
	char		*data;		/* R_DATA: the bytes */
	size_t		 len;		/* R_DATA: bytes; R_COUNT: count */
	int		 err;		/* R_ERR */
	unsigned	 seq;		/* order of the answer */
};

/* A fake poll handle. */
struct pollh {
	int		 notified;
	int		 freed;
};

static struct req	*reqs;
static size_t		 nreqs;
static unsigned		 nseq;
static struct pollh	 pollhs[NPOLLH];
static size_t		 npollhs;
static char		*out;		/* every byte read, in answer order */
static size_t		 outlen, outsize;

static struct chan_pool	 pool;
static struct chan	*c;

/* Byte off of the pattern a write tagged tag carries. */
static char
pat(unsigned tag, size_t off)
{
	return ((char)(tag * 37 + off * 11 + (off >> 8) + 1));
}

static void
pat_fill(char *p, unsigned tag, size_t off, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = pat(tag, off + i);
}

/* True if n bytes at p are the pattern of tag from off. */
static int
pat_match(const char *p, unsigned tag, size_t off, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != pat(tag, off + i))
			return (0);
	return (1);
}

static struct req *
req_check(void *req)
{
	struct req	*r = req;

	ck_assert_msg(r >= reqs && r < reqs + nreqs, "unknown request %p",
	    req);
	ck_assert_msg(r->nreply == 0, "request %zu answered twice",
	    (size_t)(r - reqs));
	r->nreply++;
	r->seq = ++nseq;
	return (r);
}

static void
rec_data(void *req, const struct iovec *iov, int cnt)
{
	struct req	*r = req_check(req);
	size_t		 len = 0;
	int		 i;

	ck_assert_int_eq(r->op, WAIT_READ);
	ck_assert_int_ge(cnt, 0);
	ck_assert_int_le(cnt, 3);	/* two ring pieces and a held write */
	for (i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	ck_assert_msg(len <= r->asked, "read of %zu answered with %zu",
	    r->asked, len);
	r->kind = R_DATA;
	r->len = len;
	r->data = malloc(len + 1);
	ck_assert_ptr_nonnull(r->data);
	len = 0;
	for (i = 0; i < cnt; i++) {
		memcpy(r->data + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (outlen + len > outsize) {
		while (outlen + len > outsize)
			outsize = outsize ? outsize * 2 : 65536;
		out = realloc(out, outsize);
		ck_assert_ptr_nonnull(out);
	}
	if (len > 0)
		memcpy(out + outlen, r->data, len);
	outlen += len;
}

static void
rec_count(void *req, size_t n)
{
	struct req	*r = req_check(req);

	ck_assert_int_eq(r->op, WAIT_WRITE);
	ck_assert_msg(n <= r->asked, "write of %zu answered with %zu",
	    r->asked, n);
	r->kind = R_COUNT;
	r->len = n;
}

static void
rec_err(void *req, int err)
{
	struct req	*r = req_check(req);

	ck_assert_int_ne(err, 0);
	r->kind = R_ERR;
	r->err = err;
}

static void
rec_poll_notify(void *ph)
{
	struct pollh	*p = ph;

	ck_assert(p >= pollhs && p < pollhs + npollhs);
	ck_assert_msg(!p->notified && !p->freed, "poll handle reused");
	p->notified = 1;
}

static void
rec_poll_free(void *ph)
{
	struct pollh	*p = ph;

	ck_assert(p >= pollhs && p < pollhs + npollhs);
	ck_assert_msg(!p->notified && !p->freed, "poll handle reused");
	p->freed = 1;
}

/*
 * The buffer wr() is writing from, which chan.c may take over as fs.c
 * takes libfuse's (cbs->adopt), when adopt_on.
 */
static char	*adoptable;
static size_t	 adoptable_len;
static int	 adopt_on = 1;
static unsigned	 nadopted;

static void *
rec_adopt(void *req, const void *p, size_t max, size_t *size)
{
	void	*mem = adoptable;

	(void)req;
	if (!adopt_on || mem == NULL || (const char *)p < adoptable ||
	    (const char *)p >= adoptable + adoptable_len ||
	    adoptable_len > max)
		return (NULL);
	adoptable = NULL;
	*size = adoptable_len;
	nadopted++;
	return (mem);
}

static const struct chan_cbs rec_cbs = {
	.reply_data = rec_data,
	.reply_count = rec_count,
	.reply_err = rec_err,
	.poll_notify = rec_poll_notify,
	.poll_free = rec_poll_free,
	.adopt = rec_adopt,
};

/* Forget every request and byte recorded so far. */
static void
rec_reset(void)
{
	size_t	 i;

	for (i = 0; i < nreqs; i++)
		free(reqs[i].data);
	memset(reqs, 0, NREQ * sizeof *reqs);
	nreqs = 0;
	nseq = 0;
	memset(pollhs, 0, sizeof pollhs);
	npollhs = 0;
	outlen = 0;
}

/* A pool with the given limits and a fresh channel on it. */
static void
pool_setup(size_t capacity, size_t max_memory)
{
	chan_pool_init(&pool, &rec_cbs, capacity, max_memory);
	c = chan_new(&pool);
}

static void
setup(void)
{
	reqs = calloc(NREQ, sizeof *reqs);
	ck_assert_ptr_nonnull(reqs);
	pool_setup(CAPACITY_DEFAULT, MAX_MEMORY_DEFAULT);
}

static void
teardown(void)
{
	rec_reset();
	free(reqs);
	free(out);
	out = NULL;
	outsize = 0;
}

static struct req *
req_new(int op, size_t size, int nonblock)
{
	struct req	*r;

	ck_assert_uint_lt(nreqs, NREQ);
	r = &reqs[nreqs++];
	memset(r, 0, sizeof *r);
	r->op = op;
	r->asked = size;
	r->nonblock = nonblock;
	return (r);
}

/*
 * A held read waits for data and a held write for room, so both at once,
 * or a write held while the ring is empty, is a channel stuck for good.
 */
static void
ck_not_stuck(const struct chan *ch)
{
	const struct waiter	*w;

	/* A bridged channel's writes wait for the link, not for room. */
	if (ch->link != NULL)
		return;
	/*
	 * A broadcast's reads wait each for its own open, and may be held
	 * beside a write that waits for a slower reader.
	 */
	if (ch->delivery == CHAN_BROADCAST) {
		TAILQ_FOREACH(w, &ch->rq, entry)
			if (w->h->cur.pos != ch->head.pos + ch->ring.len)
				ck_abort_msg("a read is held with data for its "
				    "open");
		if (!TAILQ_EMPTY(&ch->wq) && ch->ring.len == 0)
			ck_abort_msg("a write is held with the ring empty");
		return;
	}
	if (!TAILQ_EMPTY(&ch->rq) && !TAILQ_EMPTY(&ch->wq))
		ck_abort_msg("a read and a write are held together");
	if (!TAILQ_EMPTY(&ch->wq) && ch->ring.len == 0)
		ck_abort_msg("a write is held with the ring empty");
	if (!TAILQ_EMPTY(&ch->rq) && ch->ring.len != 0)
		ck_abort_msg("a read is held with data in the ring");
}

/*
 * Check the promise of chan_read and chan_write: a request either comes
 * back held and unanswered, or answered exactly once and not held.
 */
static void
req_issued(struct req *r)
{
	ck_not_stuck(c);
	if (r->w != NULL) {
		ck_assert_int_eq(r->nreply, 0);
		ck_assert_ptr_eq(r->w->req, r);
		ck_assert_int_eq(r->w->op, r->op);
	} else
		ck_assert_int_eq(r->nreply, 1);
}

/* Read size bytes through h at file offset off. */
static struct req *
rd_at(struct chan_handle *h, uint64_t off, size_t size, int nonblock)
{
	struct req	*r;

	r = req_new(WAIT_READ, size, nonblock);
	r->w = chan_read(h, r, size, off, nonblock);
	req_issued(r);
	return (r);
}

/* Read size bytes through h. */
static struct req *
rd(struct chan_handle *h, size_t size, int nonblock)
{
	return (rd_at(h, 0, size, nonblock));
}

/* Write size bytes of the pattern tagged tag through h. */
static struct req *
wr(struct chan_handle *h, unsigned tag, size_t size, int nonblock)
{
	struct req	*r;
	char		*buf;

	r = req_new(WAIT_WRITE, size, nonblock);
	r->tag = tag;
	buf = malloc(size ? size : 1);
	ck_assert_ptr_nonnull(buf);
	pat_fill(buf, tag, 0, size);
	adoptable = buf;
	adoptable_len = size ? size : 1;
	r->w = chan_write(h, r, buf, size, 0, nonblock);
	/* A held write keeps its own copy: scribble on ours. */
	if (adoptable == buf) {
		memset(buf, 0xee, size);
		free(buf);
	}
	adoptable = NULL;
	req_issued(r);
	return (r);
}

/* Write the string s through h at file offset off. */
static struct req *
wrs_at(struct chan_handle *h, uint64_t off, const char *s, int nonblock)
{
	struct req	*r;
	size_t		 len = strlen(s);

	r = req_new(WAIT_WRITE, len, nonblock);
	r->w = chan_write(h, r, s, len, off, nonblock);
	req_issued(r);
	return (r);
}

/* Write the string s through h. */
static struct req *
wrs(struct chan_handle *h, const char *s, int nonblock)
{
	return (wrs_at(h, 0, s, nonblock));
}

/* Answer a held request early, as an interrupt does. */
static void
cancel(struct req *r, int err)
{
	ck_assert_ptr_nonnull(r->w);
	ck_assert_int_eq(r->nreply, 0);
	chan_cancel(r->w, err);
	ck_assert_int_eq(r->nreply, 1);
	ck_not_stuck(c);
}

static struct pollh *
pollh_new(void)
{
	ck_assert_uint_lt(npollhs, NPOLLH);
	return (&pollhs[npollhs++]);
}

/*
 * The checks below bind their request argument once, so it may be a call
 * such as rd(...).  ck_answered also marks the request as no longer held.
 */
#define ck_held(r) do {							\
	struct req	*h_ = (r);					\
	ck_assert_msg(h_->nreply == 0, "%s: answered, expected held", #r); \
	ck_assert_ptr_nonnull(h_->w);					\
} while (0)

#define ck_answered(r, k) do {						\
	struct req	*a_ = (r);					\
	ck_assert_msg(a_->nreply == 1, "%s: not answered", #r);		\
	ck_assert_msg(a_->kind == (k), "%s: answered with kind %d, "	\
	    "expected %d (err %d)", #r, a_->kind, (k), a_->err);	\
	a_->w = NULL;							\
} while (0)

#define ck_data(r, s) do {						\
	struct req	*q_ = (r);					\
	ck_answered(q_, R_DATA);					\
	ck_assert_msg(q_->len == strlen(s) &&				\
	    memcmp(q_->data, (s), q_->len) == 0,			\
	    "%s: read \"%.*s\", expected \"%s\"", #r, (int)q_->len,	\
	    q_->data, (s));						\
} while (0)

#define ck_data_pat(r, tag, off, n) do {				\
	struct req	*q_ = (r);					\
	ck_answered(q_, R_DATA);					\
	ck_assert_uint_eq(q_->len, (n));				\
	ck_assert_msg(pat_match(q_->data, (tag), (off), (n)),		\
	    "%s: wrong bytes", #r);					\
} while (0)

#define ck_eof(r) do {							\
	struct req	*q_ = (r);					\
	ck_answered(q_, R_DATA);					\
	ck_assert_msg(q_->len == 0, "%s: %zu bytes, expected EOF", #r,	\
	    q_->len);							\
} while (0)

#define ck_count(r, n) do {						\
	struct req	*q_ = (r);					\
	ck_answered(q_, R_COUNT);					\
	ck_assert_msg(q_->len == (size_t)(n), "%s: count %zu, "		\
	    "expected %zu", #r, q_->len, (size_t)(n));			\
} while (0)

#define ck_err(r, e) do {						\
	struct req	*q_ = (r);					\
	ck_answered(q_, R_ERR);						\
	ck_assert_msg(q_->err == (e), "%s: error %d, expected %d", #r,	\
	    q_->err, (e));						\
} while (0)

#define ck_before(a, b)							\
	ck_assert_msg((a)->seq < (b)->seq, "%s answered after %s", #a, #b)

/* Check that out holds, from pos, n bytes of tag's pattern from off. */
#define ck_out_pat(pos, tag, off, n) do {				\
	ck_assert_uint_le((pos) + (n), outlen);				\
	ck_assert_msg(pat_match(out + (pos), (tag), (off), (n)),	\
	    "stream bytes %zu to %zu are not tag %u", (size_t)(pos),	\
	    (size_t)(pos) + (n), (unsigned)(tag));			\
} while (0)

/*
 * Read n bytes through h from file offset off, in pieces of at most piece,
 * each at the offset the kernel would give; all must be there.  Returns
 * the offset after them.
 */
static uint64_t
drain_at(struct chan_handle *h, uint64_t off, size_t n, size_t piece)
{
	struct req	*r;

	while (n > 0) {
		r = rd_at(h, off, piece < n ? piece : n, 1);
		ck_answered(r, R_DATA);
		ck_assert_uint_gt(r->len, 0);
		n -= r->len;
		off += r->len;
	}
	return (off);
}

/* Read n bytes through an open without offsets. */
static void
drain(struct chan_handle *h, size_t n, size_t piece)
{
	drain_at(h, 0, n, piece);
}

/* Fill the channel through h until exactly room bytes are left. */
static void
fill_to_room(struct chan_handle *h, unsigned tag, size_t room)
{
	struct req	*r;

	ck_assert_uint_eq(c->ring.len, 0);
	r = wr(h, tag, c->capacity - room, 0);
	ck_count(r, c->capacity - room);
	ck_assert_uint_eq(c->ring.len, c->capacity - room);
}

/*
 * End a test: free the channel, then check every request was answered
 * exactly once, every poll handle released exactly once and the pool's
 * accounting is back to zero.
 */
static void
ck_finish(void)
{
	size_t	 i;

	chan_free(c);
	c = NULL;
	for (i = 0; i < nreqs; i++)
		ck_assert_msg(reqs[i].nreply == 1,
		    "request %zu answered %d times", i, reqs[i].nreply);
	for (i = 0; i < npollhs; i++)
		ck_assert_msg(pollhs[i].notified + pollhs[i].freed == 1,
		    "poll handle %zu never released", i);
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	ck_assert_uint_eq(pool.budget.hist_used, 0);
	ck_assert_uint_eq(pool.budget.held, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
}

/* Rule 4: a read gets what is there, never more than asked. */
START_TEST(test_read_available)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "hello", 0), 5);
	q = rd(r, 100, 0);
	ck_data(q, "hello");

	ck_count(wrs(w, "abcdef", 0), 6);
	q = rd(r, 3, 0);
	ck_data(q, "abc");
	q = rd(r, 1, 1);
	ck_data(q, "d");
	q = rd(r, 100, 0);
	ck_data(q, "ef");
	ck_assert_uint_eq(c->ring.len, 0);

	/* Empty with a writer: EAGAIN when non-blocking. */
	ck_err(rd(r, 10, 1), EAGAIN);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Zero-byte calls and calls on the wrong side of an open. */
START_TEST(test_zero_and_badf)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	/* A zero-byte read returns at once even on an empty channel. */
	ck_eof(rd(r, 0, 0));
	ck_count(wrs(w, "", 0), 0);
	ck_err(rd(w, 10, 0), EBADF);
	ck_err(wrs(r, "x", 0), EBADF);
	ck_assert_uint_eq(c->ring.len, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 4: an empty channel holds a blocking read until data comes. */
START_TEST(test_read_blocks)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	r = chan_open(c, CHAN_RD);
	q = rd(r, 10, 0);
	ck_held(q);
	ck_assert_uint_eq(pool.nwaiters, 1);
	ck_assert_uint_eq(r->nwait, 1);
	ck_err(rd(r, 10, 1), EAGAIN);
	ck_held(q);

	w = chan_open(c, CHAN_WR);
	ck_held(q);
	ck_count(wrs(w, "abc", 0), 3);
	ck_data(q, "abc");
	ck_assert_uint_eq(c->ring.len, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
	ck_assert_uint_eq(r->nwait, 0);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 2: held readers are served in arrival order, each byte once. */
START_TEST(test_fifo_readers)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b, *d, *e, *f;

	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	a = rd(r1, 4, 0);
	b = rd(r2, 4, 0);
	d = rd(r1, 4, 0);
	e = rd(r2, 4, 0);
	ck_held(a);
	ck_held(e);

	/* Ten bytes: four, four and two; the fourth reader waits on. */
	ck_count(wrs(w, "0123456789", 0), 10);
	ck_data(a, "0123");
	ck_data(b, "4567");
	ck_data(d, "89");
	ck_before(a, b);
	ck_before(b, d);
	ck_held(e);
	ck_assert_uint_eq(c->ring.len, 0);

	/* A reader arriving now queues behind e. */
	f = rd(r1, 4, 0);
	ck_held(f);
	ck_count(wrs(w, "ab", 0), 2);
	ck_data(e, "ab");
	ck_held(f);
	ck_count(wrs(w, "cdefgh", 0), 6);
	ck_data(f, "cdef");
	/* What nobody asked for stays buffered. */
	ck_assert_uint_eq(c->ring.len, 2);
	ck_data(rd(r2, 10, 0), "gh");

	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	ck_finish();
}
END_TEST

/* Rule 3: with no reader at all a write is buffered at once. */
START_TEST(test_write_no_reader)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	w = chan_open(c, CHAN_WR);
	q = wr(w, 1, 100, 0);
	ck_count(q, 100);
	q = wr(w, 2, 50, 1);
	ck_count(q, 50);
	ck_assert_uint_eq(c->ring.len, 150);
	chan_close(w);
	/* The data waits for the next reader, which then sees EOF. */
	ck_assert_uint_eq(c->ring.len, 150);
	ck_assert(!chan_idle(c));
	r = chan_open(c, CHAN_RD);
	q = rd(r, 100, 0);
	ck_data_pat(q, 1, 0, 100);
	q = rd(r, 1000, 0);
	ck_data_pat(q, 2, 0, 50);
	ck_eof(rd(r, 1000, 0));
	chan_close(r);
	ck_assert(chan_idle(c));
	ck_finish();
}
END_TEST

/* Rule 4: EOF once empty, writerless and a writer or data was seen. */
START_TEST(test_eof_after_data)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "0123456789", 0), 10);
	chan_close(w);
	/* This open saw no writer, but it saw data. */
	r = chan_open(c, CHAN_RD);
	ck_assert(r->seen_writer);
	ck_data(rd(r, 4, 0), "0123");
	/* Data left: no EOF yet. */
	ck_data(rd(r, 4, 1), "4567");
	ck_data(rd(r, 4, 0), "89");
	ck_eof(rd(r, 4, 0));
	/* EOF, not EAGAIN, for a non-blocking read too; and it stays. */
	ck_eof(rd(r, 4, 1));
	ck_eof(rd(r, 4, 0));
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 4: a writer that came and went without writing still means EOF. */
START_TEST(test_eof_writer_came_and_went)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	r = chan_open(c, CHAN_RD);
	q = rd(r, 10, 0);
	ck_held(q);
	w = chan_open(c, CHAN_WR);
	ck_held(q);
	chan_close(w);
	ck_eof(q);
	ck_eof(rd(r, 10, 0));
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 4: an open that never saw a writer or data keeps waiting. */
START_TEST(test_eof_never_saw_writer)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b;

	/* No writer ever: a read waits, it does not see EOF. */
	r1 = chan_open(c, CHAN_RD);
	a = rd(r1, 10, 0);
	ck_held(a);
	ck_err(rd(r1, 10, 1), EAGAIN);

	/* A writer comes and goes: r1 saw it. */
	w = chan_open(c, CHAN_WR);
	chan_close(w);
	ck_eof(a);

	/* r2 opens after the writer left: it saw nothing and waits. */
	r2 = chan_open(c, CHAN_RD);
	ck_assert(!r2->seen_writer);
	b = rd(r2, 10, 0);
	ck_held(b);
	ck_err(rd(r2, 10, 1), EAGAIN);
	ck_eof(rd(r1, 10, 0));

	/* Closing another reader does not wake it either. */
	chan_close(r1);
	ck_held(b);
	cancel(b, EINTR);
	ck_err(b, EINTR);
	chan_close(r2);
	ck_finish();
}
END_TEST

/* Rule 7: EOF only when the last of several writers closes. */
START_TEST(test_eof_last_writer)
{
	struct chan_handle	*w1, *w2, *r1, *r2;
	struct req		*a, *b, *d;

	w1 = chan_open(c, CHAN_WR);
	w2 = chan_open(c, CHAN_WR);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	a = rd(r1, 10, 0);
	b = rd(r2, 10, 0);
	d = rd(r1, 10, 0);
	chan_close(w1);
	ck_held(a);
	ck_held(b);
	ck_held(d);
	/* Every held read wakes with EOF, in arrival order. */
	chan_close(w2);
	ck_eof(a);
	ck_eof(b);
	ck_eof(d);
	ck_before(a, b);
	ck_before(b, d);
	ck_assert_uint_eq(pool.nwaiters, 0);

	/* A new writer ends EOF for those who saw one: they wait again. */
	w1 = chan_open(c, CHAN_WR);
	a = rd(r1, 10, 0);
	ck_held(a);
	ck_count(wrs(w1, "more", 0), 4);
	ck_data(a, "more");
	chan_close(w1);
	ck_eof(rd(r2, 10, 0));
	chan_close(r1);
	chan_close(r2);
	ck_finish();
}
END_TEST

/* Rule 5: EPIPE once this open has seen a reader and none is left. */
START_TEST(test_epipe_after_reader)
{
	struct chan_handle	*w1, *w2, *r;

	w1 = chan_open(c, CHAN_WR);
	ck_count(wrs(w1, "abc", 0), 3);
	ck_assert(!w1->seen_reader);
	r = chan_open(c, CHAN_RD);
	chan_close(r);
	ck_err(wrs(w1, "def", 0), EPIPE);
	ck_err(wrs(w1, "def", 1), EPIPE);
	/* Zero bytes never fail. */
	ck_count(wrs(w1, "", 0), 0);
	/* What went in before stays for the next reader. */
	ck_assert_uint_eq(c->ring.len, 3);

	/* An open made after the reader left has not seen it: buffered. */
	w2 = chan_open(c, CHAN_WR);
	ck_count(wrs(w2, "ghi", 0), 3);
	ck_err(wrs(w1, "x", 0), EPIPE);

	/* A reader again: w1 writes again. */
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w1, "jk", 0), 2);
	ck_data(rd(r, 100, 0), "abcghijk");
	chan_close(w1);
	chan_close(w2);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 5: before any reader is seen a full channel blocks, never EPIPE. */
START_TEST(test_no_epipe_before_reader)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	w = chan_open(c, CHAN_WR);
	fill_to_room(w, 1, 0);
	ck_err(wr(w, 2, 10, 1), EAGAIN);
	q = wr(w, 3, 10, 0);
	ck_held(q);
	/* Another open closing does not fail it: this open saw no reader. */
	chan_close(chan_open(c, CHAN_WR));
	ck_held(q);
	/* A reader comes and drains: the write goes in. */
	r = chan_open(c, CHAN_RD);
	ck_held(q);
	drain(r, 100, 100);
	ck_count(q, 10);
	drain(r, c->capacity - 100, 8192);
	ck_data_pat(rd(r, 100, 0), 3, 0, 10);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 3: a write of at most 4096 bytes waits whole, never split. */
START_TEST(test_atomic_held_whole)
{
	struct chan_handle	*w1, *w2, *r;
	struct req		*q;
	size_t			 cap = c->capacity;

	w1 = chan_open(c, CHAN_WR);
	w2 = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w1, 1, 100);

	/* 100 bytes free: a non-blocking 4096 gets EAGAIN, nothing in. */
	ck_err(wr(w2, 2, CHAN_ATOMIC, 1), EAGAIN);
	ck_err(wr(w2, 2, 101, 1), EAGAIN);
	ck_assert_uint_eq(c->ring.len, cap - 100);

	/* A blocking one is held with none of its bytes in. */
	q = wr(w2, 2, CHAN_ATOMIC, 0);
	ck_held(q);
	ck_assert_uint_eq(c->ring.len, cap - 100);
	ck_assert_uint_eq(pool.budget.held, CHAN_ATOMIC);

	/* Room for part of it is not enough. */
	drain(r, 50, 50);
	ck_held(q);
	ck_assert_uint_eq(c->ring.len, cap - 150);
	drain(r, CHAN_ATOMIC - 151, 8192);
	ck_held(q);
	ck_assert_uint_eq(c->capacity - c->ring.len, CHAN_ATOMIC - 1);

	/* One more byte of room and it goes in, whole, after the read. */
	drain(r, 1, 1);
	ck_count(q, CHAN_ATOMIC);
	ck_assert_uint_eq(reqs[nreqs - 1].seq + 1, q->seq);
	ck_assert_uint_eq(c->ring.len, cap);
	ck_assert_uint_eq(pool.budget.held, 0);

	drain(r, cap, 65536);
	ck_out_pat(0, 1, 0, cap - 100);
	ck_out_pat(cap - 100, 2, 0, CHAN_ATOMIC);
	chan_close(w1);
	chan_close(w2);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 3: exactly 4096 bytes of room takes a 4096-byte write. */
START_TEST(test_atomic_exact_fit)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w, 1, CHAN_ATOMIC);
	ck_count(wr(w, 2, CHAN_ATOMIC, 1), CHAN_ATOMIC);
	ck_assert_uint_eq(c->ring.len, c->capacity);
	ck_err(wr(w, 3, 1, 1), EAGAIN);
	drain(r, c->capacity, 65536);
	ck_out_pat(c->capacity - CHAN_ATOMIC, 2, 0, CHAN_ATOMIC);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 3: held writes of several writers are never interleaved. */
START_TEST(test_atomic_no_interleave)
{
	struct chan_handle	*w[4], *r;
	struct req		*q[8];
	size_t			 pos, sizes[8], cap = c->capacity;
	int			 i;

	for (i = 0; i < 4; i++)
		w[i] = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w[0], 100, 10);
	for (i = 0; i < 8; i++) {
		sizes[i] = i % 2 ? CHAN_ATOMIC : 1000 + 300 * i;
		q[i] = wr(w[i % 4], 1 + i, sizes[i], 0);
		ck_held(q[i]);
	}
	/* Drain in odd pieces so room never matches a write exactly. */
	while (outlen < cap - 10)
		drain(r, 777 < c->ring.len ? 777 : c->ring.len, 777);
	while (c->ring.len > 0)
		drain(r, c->ring.len, 333);
	for (i = 0; i < 8; i++)
		ck_count(q[i], sizes[i]);
	for (i = 1; i < 8; i++)
		ck_before(q[i - 1], q[i]);
	ck_out_pat(0, 100, 0, cap - 10);
	pos = cap - 10;
	for (i = 0; i < 8; i++) {
		ck_out_pat(pos, 1 + i, 0, sizes[i]);
		pos += sizes[i];
	}
	ck_assert_uint_eq(pos, outlen);
	for (i = 0; i < 4; i++)
		chan_close(w[i]);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 3: over 4096 bytes, a non-blocking write may be partial. */
START_TEST(test_large_nonblock_partial)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w, 1, 1000);
	ck_count(wr(w, 2, 8192, 1), 1000);
	ck_assert_uint_eq(c->ring.len, c->capacity);
	ck_err(wr(w, 3, 8192, 1), EAGAIN);
	/* On an empty channel it takes capacity bytes. */
	drain(r, c->capacity, 65536);
	ck_count(wr(w, 4, c->capacity + 5000, 1), c->capacity);
	drain(r, c->capacity, 65536);
	ck_out_pat(0, 1, 0, c->capacity - 1000);
	ck_out_pat(c->capacity - 1000, 2, 0, 1000);
	ck_out_pat(c->capacity, 4, 0, c->capacity);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 3: a blocking write of N returns N once all of it is in. */
START_TEST(test_large_blocking_completes)
{
	struct chan_handle	*w, *r;
	struct req		*q, *x;
	size_t			 big = 200000, cap = c->capacity;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w, 1, 1000);
	q = wr(w, 2, big, 0);
	ck_held(q);
	/* What fitted went in; the rest is held. */
	ck_assert_uint_eq(c->ring.len, cap);
	ck_assert_uint_eq(q->w->done, 1000);
	/* Its buffer was taken over, all of it counted, or copied. */
	ck_assert_uint_eq(pool.budget.held, nadopted ? big : big - 1000);
	/* A later write queues behind it. */
	x = wr(w, 3, 10, 0);
	ck_held(x);

	while (q->nreply == 0) {
		drain(r, 5000, 5000);
		ck_assert_uint_le(c->ring.len, cap);
		if (q->nreply == 0)
			ck_held(x);
	}
	ck_count(q, big);
	ck_count(x, 10);
	ck_before(q, x);
	ck_assert_uint_eq(pool.budget.held, 0);
	drain(r, c->ring.len, 65536);
	ck_assert_uint_eq(outlen, cap - 1000 + big + 10);
	ck_out_pat(0, 1, 0, cap - 1000);
	ck_out_pat(cap - 1000, 2, 0, big);
	ck_out_pat(cap - 1000 + big, 3, 0, 10);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * Rule 3: a write larger than the ring, arriving while a read is held,
 * is handed to that read directly and goes on filling the ring; what is
 * left is held with the ring full, so the next read finds data.
 */
START_TEST(test_large_write_feeds_held_read)
{
	struct chan_handle	*w, *r;
	struct req		*a, *q, *b;
	size_t			 big = 5 * CAPACITY_DEFAULT, cap = c->capacity;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	a = rd(r, 2 * cap, 0);
	ck_held(a);
	q = wr(w, 1, big, 0);
	ck_data_pat(a, 1, 0, 2 * cap);
	ck_held(q);
	ck_assert_uint_eq(c->ring.len, cap);
	ck_assert_uint_eq(q->w->done, 3 * cap);
	/* Every read now finds data, until the write is all in. */
	while (q->nreply == 0) {
		b = rd(r, 2 * cap, 0);
		ck_answered(b, R_DATA);
		ck_assert_uint_gt(b->len, 0);
	}
	ck_count(q, big);
	drain(r, c->ring.len, 2 * cap);
	ck_assert_uint_eq(outlen, big);
	ck_out_pat(0, 1, 0, big);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * A write that held reads take whole is answered before them, so the
 * writer's next write is on its way while they are answered; one they
 * take only in part is answered after them, once the rest is placed.
 */
START_TEST(test_handoff_answers_writer_first)
{
	struct chan_handle	*w, *r;
	struct req		*a, *b, *q, *d, *p;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	a = rd(r, 100, 0);
	b = rd(r, 100, 0);
	q = wr(w, 1, 150, 0);
	ck_count(q, 150);
	ck_data_pat(a, 1, 0, 100);
	ck_data_pat(b, 1, 100, 50);
	ck_assert_uint_lt(q->seq, a->seq);
	ck_assert_uint_lt(a->seq, b->seq);
	d = rd(r, 100, 0);
	p = wr(w, 2, 300, 0);
	ck_count(p, 300);
	ck_data_pat(d, 2, 0, 100);
	ck_assert_uint_lt(d->seq, p->seq);
	drain(r, 200, 200);
	ck_out_pat(250, 2, 100, 200);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 6: an O_RDWR open is a reader and a writer. */
START_TEST(test_rdwr)
{
	struct chan_handle	*x, *r, *w;
	struct req		*q;

	x = chan_open(c, CHAN_RD | CHAN_WR);
	ck_assert_uint_eq(c->readers, 1);
	ck_assert_uint_eq(c->writers, 1);
	ck_count(wrs(x, "self", 0), 4);
	ck_data(rd(x, 10, 0), "self");
	/* Empty, but x itself writes: wait, not EOF. */
	q = rd(x, 10, 0);
	ck_held(q);
	ck_err(rd(x, 10, 1), EAGAIN);
	cancel(q, EINTR);
	ck_err(q, EINTR);

	/* x is the last writer: closing it gives a waiting reader EOF. */
	r = chan_open(c, CHAN_RD);
	q = rd(r, 10, 0);
	ck_held(q);
	chan_close(x);
	ck_eof(q);
	chan_close(r);

	/* x is the last reader: closing it fails a held write with EPIPE. */
	x = chan_open(c, CHAN_RD | CHAN_WR);
	w = chan_open(c, CHAN_WR);
	fill_to_room(w, 1, 0);
	q = wr(w, 2, 100, 0);
	ck_held(q);
	chan_close(x);
	ck_err(q, EPIPE);
	ck_err(wrs(w, "x", 0), EPIPE);
	chan_close(w);
	ck_finish();
}
END_TEST

/* Rule 7: the last reader closing fails held writes, or gives counts. */
START_TEST(test_close_last_reader)
{
	struct chan_handle	*w1, *w2, *r1, *r2;
	struct req		*a, *b, *d;

	w1 = chan_open(c, CHAN_WR);
	w2 = chan_open(c, CHAN_WR);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	fill_to_room(w1, 1, 500);
	a = wr(w1, 2, 20000, 0);	/* 500 bytes go in */
	b = wr(w2, 3, 100, 0);
	d = wr(w2, 4, CHAN_ATOMIC, 0);
	ck_held(a);
	ck_held(b);
	ck_held(d);
	chan_close(r1);
	ck_held(a);
	ck_held(d);
	chan_close(r2);
	ck_count(a, 500);
	ck_err(b, EPIPE);
	ck_err(d, EPIPE);
	ck_before(a, b);
	ck_before(b, d);
	ck_assert_uint_eq(pool.budget.held, 0);
	ck_assert_uint_eq(c->ring.len, c->capacity);
	chan_close(w1);
	chan_close(w2);
	ck_finish();
}
END_TEST

/* Rule 5: a held write from an open that saw no reader is not failed. */
START_TEST(test_close_reader_unseen)
{
	struct chan_handle	*w1, *w2, *r;
	struct req		*q;

	r = chan_open(c, CHAN_RD);
	chan_close(r);
	w1 = chan_open(c, CHAN_WR);
	w2 = chan_open(c, CHAN_WR);
	fill_to_room(w1, 1, 0);
	q = wr(w1, 2, 10, 0);
	ck_held(q);
	/* A close while no reader is open does not fail it. */
	chan_close(w2);
	ck_held(q);
	r = chan_open(c, CHAN_RD);
	drain(r, 10, 10);
	ck_count(q, 10);
	chan_close(w1);
	chan_close(r);
	ck_finish();
}
END_TEST

/* A handle closed with requests still held answers them, once each. */
START_TEST(test_close_own_held)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b, *d;

	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	a = rd(r1, 10, 0);
	b = rd(r2, 10, 0);
	d = rd(r1, 10, 0);
	chan_close(r1);
	ck_answered(a, R_ERR);
	ck_answered(d, R_ERR);
	ck_held(b);
	ck_count(wrs(w, "z", 0), 1);
	ck_data(b, "z");
	chan_close(w);
	chan_close(r2);
	ck_finish();
}
END_TEST

/* Rule 8: a cancelled read gets the error and no data. */
START_TEST(test_cancel_read)
{
	struct chan_handle	*w, *r;
	struct req		*a, *b;

	r = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	a = rd(r, 10, 0);
	b = rd(r, 10, 0);
	cancel(a, EINTR);
	ck_err(a, EINTR);
	ck_assert_uint_eq(pool.nwaiters, 1);
	/* The data goes to the reader still waiting. */
	ck_count(wrs(w, "xyz", 0), 3);
	ck_data(b, "xyz");
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 8: a cancelled write gets the error, or the count that went in. */
START_TEST(test_cancel_write)
{
	struct chan_handle	*w, *r;
	struct req		*a, *b, *d;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	fill_to_room(w, 1, 100);
	/* Nothing of a held atomic write went in: EINTR. */
	a = wr(w, 2, 1000, 0);
	ck_held(a);
	cancel(a, EINTR);
	ck_err(a, EINTR);
	ck_assert_uint_eq(c->ring.len, c->capacity - 100);
	ck_assert_uint_eq(pool.budget.held, 0);

	/* Part of a large one went in: its count. */
	b = wr(w, 3, 10000, 0);
	ck_held(b);
	drain(r, 300, 300);
	ck_held(b);
	cancel(b, EINTR);
	ck_count(b, 400);
	ck_assert_uint_eq(pool.budget.held, 0);

	/* Cancelling the first held write lets the next one go. */
	d = wr(w, 4, CHAN_ATOMIC, 0);
	a = wr(w, 5, 10, 0);
	drain(r, 100, 100);
	ck_held(d);
	ck_held(a);
	cancel(d, EINTR);
	ck_err(d, EINTR);
	ck_count(a, 10);

	drain(r, c->ring.len, 65536);
	ck_out_pat(0, 1, 0, c->capacity - 100);
	ck_out_pat(c->capacity - 100, 3, 0, 400);
	ck_out_pat(c->capacity + 300, 5, 0, 10);
	ck_assert_uint_eq(outlen, c->capacity + 310);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Shutdown: chan_abort answers every held request. */
START_TEST(test_abort)
{
	struct chan_handle	*w, *r, *w2, *r2;
	struct chan		*c2;
	struct req		*a, *b, *d, *e;

	/* Held reads on c, held writes on c2. */
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	a = rd(r, 10, 0);
	b = rd(r, 10, 0);
	c2 = chan_new(&pool);
	w2 = chan_open(c2, CHAN_WR);
	r2 = chan_open(c2, CHAN_RD);
	ck_count(wr(w2, 1, c2->capacity, 0), c2->capacity);
	d = wr(w2, 2, 1000, 0);
	e = wr(w2, 3, 10000, 0);
	ck_held(d);
	ck_held(e);

	/* Aborting one channel leaves the other alone. */
	chan_abort(c, ESHUTDOWN);
	ck_err(a, ESHUTDOWN);
	ck_err(b, ESHUTDOWN);
	ck_before(a, b);
	ck_held(d);
	ck_held(e);
	chan_abort(c2, ESHUTDOWN);
	ck_err(d, ESHUTDOWN);
	ck_err(e, ESHUTDOWN);
	ck_assert_uint_eq(pool.nwaiters, 0);
	ck_assert_uint_eq(pool.budget.held, 0);
	/* Nothing left to answer: a second abort does nothing. */
	chan_abort(c2, ESHUTDOWN);
	chan_close(w);
	chan_close(r);
	chan_close(w2);
	chan_close(r2);
	chan_free(c2);
	ck_finish();
}
END_TEST

/* Shutdown: a partly written large write reports its count. */
START_TEST(test_abort_partial)
{
	struct chan_handle	*w;
	struct req		*a;

	w = chan_open(c, CHAN_WR);
	chan_open(c, CHAN_RD);
	fill_to_room(w, 1, 100);
	a = wr(w, 2, 10000, 0);
	ck_held(a);
	chan_abort(c, ESHUTDOWN);
	ck_count(a, 100);
	/* Free the channel with handles still open, as at shutdown. */
	ck_finish();
}
END_TEST

/* Rule 9: POLLIN on data; a poll handle is notified once, then dropped. */
START_TEST(test_poll_in)
{
	struct chan_handle	*w, *r;
	struct pollh		*p1, *p2;

	r = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_assert_uint_eq(chan_poll(r, NULL), 0);
	p1 = pollh_new();
	ck_assert_uint_eq(chan_poll(r, p1), 0);
	ck_assert_int_eq(p1->notified, 0);

	ck_count(wrs(w, "a", 0), 1);
	ck_assert_int_eq(p1->notified, 1);
	ck_assert_ptr_null(r->ph);
	ck_assert_uint_eq(chan_poll(r, NULL), POLLIN | POLLRDNORM);
	/* Notified once: further changes do not touch p1 again. */
	ck_count(wrs(w, "b", 0), 1);
	ck_data(rd(r, 10, 0), "ab");
	ck_assert_int_eq(p1->notified, 1);
	ck_assert_int_eq(p1->freed, 0);
	ck_assert_uint_eq(chan_poll(r, NULL), 0);

	/* A read that empties the channel notifies too. */
	ck_count(wrs(w, "c", 0), 1);
	p2 = pollh_new();
	ck_assert_uint_eq(chan_poll(r, p2), POLLIN | POLLRDNORM);
	ck_data(rd(r, 10, 0), "c");
	ck_assert_int_eq(p2->notified, 1);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 9: POLLHUP and POLLIN under the EOF rule, and only under it. */
START_TEST(test_poll_hup)
{
	struct chan_handle	*w, *r1, *r2;
	struct pollh		*p1, *p2;

	r1 = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(r1, NULL), 0);
	w = chan_open(c, CHAN_WR);
	p1 = pollh_new();
	ck_assert_uint_eq(chan_poll(r1, p1), 0);
	chan_close(w);
	ck_assert_int_eq(p1->notified, 1);
	ck_assert_uint_eq(chan_poll(r1, NULL),
	    POLLIN | POLLRDNORM | POLLHUP);

	/* r2 never saw a writer: no POLLHUP, it waits. */
	r2 = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(r2, NULL), 0);
	p2 = pollh_new();
	ck_assert_uint_eq(chan_poll(r2, p2), 0);
	/* A writer opening changes things for r2: notified. */
	w = chan_open(c, CHAN_WR);
	ck_assert_int_eq(p2->notified, 1);
	ck_assert_uint_eq(chan_poll(r1, NULL), 0);

	/* Data left after the writer goes: POLLIN, no POLLHUP yet. */
	ck_count(wrs(w, "x", 0), 1);
	chan_close(w);
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM);
	ck_data(rd(r2, 10, 0), "x");
	ck_assert_uint_eq(chan_poll(r2, NULL),
	    POLLIN | POLLRDNORM | POLLHUP);
	chan_close(r1);
	chan_close(r2);
	ck_finish();
}
END_TEST

/* Rule 9: POLLOUT when 4096 bytes would fit. */
START_TEST(test_poll_out)
{
	struct chan_handle	*w, *r;
	struct pollh		*p;
	struct req		*q;

	w = chan_open(c, CHAN_WR);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	fill_to_room(w, 1, CHAN_ATOMIC);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	ck_count(wr(w, 2, 1, 0), 1);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);

	p = pollh_new();
	ck_assert_uint_eq(chan_poll(w, p), 0);
	drain(r, 1, 1);
	ck_assert_int_eq(p->notified, 1);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);

	/* A held write goes in before POLLOUT comes back. */
	ck_count(wr(w, 3, 100, 0), 100);
	q = wr(w, 4, CHAN_ATOMIC, 0);
	ck_held(q);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	drain(r, CHAN_ATOMIC + 99, 8192);
	ck_count(q, CHAN_ATOMIC);
	ck_assert_uint_eq(c->capacity - c->ring.len, CHAN_ATOMIC - 1);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	drain(r, 1, 1);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	/* A read-only open never has POLLOUT. */
	ck_assert_uint_eq(chan_poll(r, NULL) & POLLOUT, 0);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Rule 9: POLLERR under the EPIPE rule, and only under it. */
START_TEST(test_poll_err)
{
	struct chan_handle	*w1, *w2, *r;
	struct pollh		*p;

	w1 = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	p = pollh_new();
	ck_assert_uint_eq(chan_poll(w1, p), POLLOUT | POLLWRNORM);
	chan_close(r);
	ck_assert_int_eq(p->notified, 1);
	ck_assert_uint_eq(chan_poll(w1, NULL), POLLERR | POLLOUT | POLLWRNORM);
	/* w2 has seen no reader: plain POLLOUT. */
	w2 = chan_open(c, CHAN_WR);
	ck_assert_uint_eq(chan_poll(w2, NULL), POLLOUT | POLLWRNORM);
	/* Full: still no POLLERR for w2, and none of POLLOUT. */
	fill_to_room(w2, 1, 0);
	ck_assert_uint_eq(chan_poll(w2, NULL), 0);
	ck_assert_uint_eq(chan_poll(w1, NULL), POLLERR | POLLOUT | POLLWRNORM);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(w1, NULL), 0);
	drain(r, c->capacity, 65536);
	chan_close(r);
	chan_close(w1);
	chan_close(w2);
	ck_finish();
}
END_TEST

/* A poll handle replaced, closed with its open, or freed with the chan. */
START_TEST(test_poll_release)
{
	struct chan_handle	*r1, *r2, *r3;
	struct pollh		*p1, *p2, *p3, *p4;

	chan_open(c, CHAN_WR);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	r3 = chan_open(c, CHAN_RD);
	p1 = pollh_new();
	p2 = pollh_new();
	p3 = pollh_new();
	p4 = pollh_new();
	/* A new handle replaces the old one, which is freed, not woken. */
	chan_poll(r1, p1);
	chan_poll(r1, p2);
	ck_assert_int_eq(p1->freed, 1);
	ck_assert_int_eq(p1->notified, 0);
	/* Closing an open frees its handle, and is news to the others. */
	chan_poll(r2, p3);
	chan_close(r2);
	ck_assert_int_eq(p3->freed, 1);
	ck_assert_int_eq(p3->notified, 0);
	ck_assert_int_eq(p2->notified, 1);
	/* Freeing the channel frees what is left (ck_finish checks). */
	chan_poll(r3, p4);
	ck_assert_int_eq(p4->freed + p4->notified, 0);
	ck_finish();
	ck_assert_int_eq(p4->freed, 1);
}
END_TEST

/* The buffer is allocated when first needed and bounded by capacity. */
START_TEST(test_lazy_alloc)
{
	struct chan_handle	*w, *r;

	ck_assert_uint_eq(c->ring.size, 0);
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(c->ring.size, 0);
	ck_err(rd(r, 10, 1), EAGAIN);
	ck_assert_uint_eq(c->ring.size, 0);
	ck_count(wrs(w, "small", 0), 5);
	/* Small messages keep the buffer small. */
	ck_assert_uint_ge(c->ring.size, 5);
	ck_assert_uint_lt(c->ring.size, c->capacity);
	ck_assert_uint_eq(pool.budget.mem_used, c->ring.size);
	ck_data(rd(r, 10, 0), "small");
	ck_count(wr(w, 1, c->capacity, 0), c->capacity);
	ck_assert_uint_eq(c->ring.size, c->capacity);
	ck_assert_uint_eq(pool.budget.mem_used, c->capacity);
	drain(r, c->capacity, 65536);
	/* The last close of an empty channel gives the buffer back. */
	chan_close(w);
	ck_assert_uint_eq(pool.budget.mem_used, c->capacity);
	chan_close(r);
	ck_assert_uint_eq(c->ring.size, 0);
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	ck_finish();
}
END_TEST

/* Capacity bounds what a channel buffers. */
START_TEST(test_capacity_bound)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wr(w, 1, 10000, 1), CAPACITY_MIN);
	ck_assert_uint_eq(c->ring.size, CAPACITY_MIN);
	ck_err(wr(w, 2, 1, 1), EAGAIN);
	q = wr(w, 3, 20000, 0);
	ck_held(q);
	while (q->nreply == 0) {
		drain(r, 3000, 3000);
		ck_assert_uint_le(c->ring.size, CAPACITY_MIN);
		ck_assert_uint_le(pool.budget.mem_used, CAPACITY_MIN);
	}
	ck_count(q, 20000);
	drain(r, c->ring.len, 65536);
	ck_out_pat(0, 1, 0, CAPACITY_MIN);
	ck_out_pat(CAPACITY_MIN, 3, 0, 20000);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* max_memory: a write that can never fit gets ENOSPC; others wait. */
START_TEST(test_max_memory_small)
{
	struct chan_handle	*w, *r;
	struct req		*a, *b;

	chan_free(c);
	pool_setup(CAPACITY_DEFAULT, 1000);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	/* 2000 atomic bytes can never be in a 1000-byte budget. */
	ck_err(wr(w, 1, 2000, 0), ENOSPC);
	ck_assert_uint_eq(pool.nwaiters, 0);
	ck_count(wr(w, 2, 600, 0), 600);
	ck_assert_uint_le(pool.budget.mem_used, 1000);
	/* 600 more could fit once 200 are read: held. */
	a = wr(w, 3, 600, 0);
	ck_held(a);
	drain(r, 199, 199);
	ck_held(a);
	drain(r, 1, 1);
	ck_count(a, 600);
	/*
	 * A large write goes piecewise through the small budget.  Its copy
	 * counts against max_memory too: it keeps what is left, but at least
	 * enough to stay a large write, and is answered with that count.
	 */
	b = wr(w, 4, 5000, 0);
	ck_held(b);
	ck_assert_uint_eq(pool.budget.held, CHAN_ATOMIC + 1);
	while (b->nreply == 0) {
		drain(r, 300, 300);
		ck_assert_uint_le(pool.budget.mem_used, 1000);
	}
	ck_count(b, CHAN_ATOMIC + 1);
	drain(r, c->ring.len, 65536);
	ck_out_pat(0, 2, 0, 600);
	ck_out_pat(600, 3, 0, 600);
	ck_out_pat(1200, 4, 0, CHAN_ATOMIC + 1);
	ck_assert_uint_eq(outlen, 1200 + CHAN_ATOMIC + 1);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * max_memory is shared: with the budget spent by one channel, another
 * with no buffer yet gets nothing in.  A blocking write fails with ENOSPC
 * rather than waiting, since nothing on its own channel would wake it.
 */
START_TEST(test_max_memory_shared)
{
	struct chan_handle	*w, *r, *w2, *r2;
	struct chan		*c2;
	struct req		*q;
	size_t			 budget = 2 * CAPACITY_MIN;

	chan_free(c);
	pool_setup(CAPACITY_DEFAULT, budget);
	c2 = chan_new(&pool);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	w2 = chan_open(c2, CHAN_WR);
	r2 = chan_open(c2, CHAN_RD);
	ck_count(wr(w, 1, budget + 1000, 1), budget);
	ck_assert_uint_eq(pool.budget.mem_used, budget);
	ck_assert_uint_eq(chan_poll(w2, NULL), 0);
	ck_err(wr(w2, 2, 10, 1), EAGAIN);
	ck_err(wr(w2, 2, 10, 0), ENOSPC);
	ck_assert_uint_eq(c2->ring.len, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
	/*
	 * A reader waiting on c2 takes a small write whole: that needs no
	 * buffer, so no memory (issue 10, item 2).
	 */
	q = rd(r2, 100, 0);
	ck_held(q);
	ck_count(wr(w2, 5, 10, 0), 10);
	ck_data_pat(q, 5, 0, 10);
	/* Two waiting readers that take it whole between them. */
	q = rd(r2, 6, 0);
	ck_held(q);
	ck_held(rd(r2, 100, 0));
	ck_count(wr(w2, 6, 10, 0), 10);
	ck_data_pat(q, 6, 0, 6);
	ck_data_pat(&reqs[nreqs - 2], 6, 6, 4);
	ck_assert_uint_eq(c2->ring.len, 0);
	/* The full channel itself waits: its own reader will make room. */
	q = wr(w, 3, 10, 0);
	ck_held(q);
	drain(r, 10, 10);
	ck_count(q, 10);

	/* Once c is closed and empty its memory comes back. */
	drain(r, budget, 65536);
	chan_close(w);
	chan_close(r);
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	ck_count(wr(w2, 4, 10, 0), 10);
	ck_assert_uint_le(pool.budget.mem_used, budget);
	chan_close(w2);
	chan_close(r2);
	chan_free(c2);
	ck_finish();
}
END_TEST

/*
 * A held write's copy counts against max_memory: when a read lets its
 * bytes into the ring, the copy shrinks, and a writer polling another
 * channel for the memory must hear of the room (found by fuzz_chan).
 */
START_TEST(test_held_copy_frees_memory)
{
	struct chan_handle	*w, *r, *w2, *r2;
	struct chan		*c2;
	struct pollh		*p;
	struct req		*q;

	chan_free(c);
	pool_setup(CAPACITY_MIN, 3 * CAPACITY_MIN);
	c2 = chan_new(&pool);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	w2 = chan_open(c2, CHAN_WR);
	r2 = chan_open(c2, CHAN_RD);
	/* c's ring takes a third, a held write's copy the rest. */
	ck_count(wr(w, 1, CAPACITY_MIN, 0), CAPACITY_MIN);
	q = wr(w, 2, 2 * CAPACITY_MIN, 0);
	ck_held(q);
	ck_assert_uint_eq(budget_left(&pool.budget), 0);
	p = pollh_new();
	ck_assert_uint_eq(chan_poll(w2, p), 0);
	/* A read moves bytes of the copy into c's ring: memory comes back. */
	drain(r, CAPACITY_MIN, CAPACITY_MIN);
	ck_assert_uint_gt(budget_left(&pool.budget), 0);
	ck_assert_int_eq(p->notified, 1);
	drain(r, 2 * CAPACITY_MIN, CAPACITY_MIN);
	ck_count(q, 2 * CAPACITY_MIN);
	chan_close(w);
	chan_close(r);
	chan_close(w2);
	chan_close(r2);
	chan_free(c2);
	ck_finish();
}
END_TEST

/* A small xorshift generator, so a failing seed can be replayed. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/*
 * Random opens, closes, reads, writes and cancels on one small channel.
 * Since held writes go in strictly in order, the bytes read, in answer
 * order, must be the accepted prefix of every write, in issue order.  Along
 * the way the channel's invariants must hold after every step.
 */
START_TEST(test_random_stream)
{
	struct chan_handle	*h[6];
	struct req		*q;
	uint64_t		 seed, held;
	size_t			 i, j, n, pos, step;
	int			 modes[6] = { CHAN_RD, CHAN_RD, CHAN_WR,
				     CHAN_WR, CHAN_RD | CHAN_WR, CHAN_WR };

	seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(_i + 1);
	chan_free(c);
	pool_setup(CAPACITY_MIN * 2, MAX_MEMORY_DEFAULT);
	for (i = 0; i < 6; i++)
		h[i] = chan_open(c, modes[i]);

	for (step = 0; step < 3000 && nreqs < NREQ - 100; step++) {
		i = rnd(&seed) % 6;
		switch (rnd(&seed) % 16) {
		case 0:
			/*
			 * Close or reopen.  The kernel releases an open only
			 * once its requests are answered, so cancel them.
			 */
			if (h[i] == NULL) {
				h[i] = chan_open(c, modes[i]);
				break;
			}
			for (j = 0; j < nreqs; j++)
				if (reqs[j].nreply == 0 &&
				    reqs[j].w->h == h[i])
					cancel(&reqs[j], EINTR);
			chan_close(h[i]);
			h[i] = NULL;
			break;
		case 1:
		case 2:
			for (j = 0; j < nreqs; j++)
				if (reqs[j].nreply == 0 &&
				    rnd(&seed) % 4 == 0) {
					cancel(&reqs[j], EINTR);
					break;
				}
			break;
		case 3:
		case 4:
		case 5:
		case 6:
		case 7:
			if (h[i] == NULL || !(h[i]->mode & CHAN_WR))
				break;
			n = rnd(&seed) % 3 ? 1 + rnd(&seed) % CHAN_ATOMIC :
			    1 + rnd(&seed) % 20000;
			q = wr(h[i], (unsigned)nreqs, n, rnd(&seed) % 2);
			if (q->kind == R_ERR && q->err == EPIPE &&
			    c->readers != 0)
				ck_abort_msg("seed %d: EPIPE with a reader",
				    _i);
			if (q->kind == R_ERR && q->err == EAGAIN &&
			    n <= CHAN_ATOMIC && TAILQ_EMPTY(&c->wq) &&
			    c->capacity - c->ring.len >= n)
				ck_abort_msg("seed %d: EAGAIN with room", _i);
			break;
		default:
			if (h[i] == NULL || !(h[i]->mode & CHAN_RD))
				break;
			q = rd(h[i], 1 + rnd(&seed) % 9000, rnd(&seed) % 2);
			if (q->kind == R_DATA && q->len == 0 &&
			    (c->writers != 0 || c->ring.len != 0))
				ck_abort_msg("seed %d: EOF with a writer or "
				    "data", _i);
			if (q->kind == R_ERR && c->ring.len != 0)
				ck_abort_msg("seed %d: read error %d with data",
				    _i, q->err);
			break;
		}
		/* Answered requests are no longer held. */
		held = 0;
		for (j = 0; j < nreqs; j++) {
			q = &reqs[j];
			if (q->nreply > 0)
				q->w = NULL;
			else if (q->op == WAIT_WRITE)
				held += q->asked - q->w->done;
			if (q->nreply == 0)
				continue;
			/*
			 * Plain tests here: each passing ck_assert costs a
			 * message to the parent, and this loop is hot.
			 */
			if (q->op == WAIT_WRITE && q->asked <= CHAN_ATOMIC &&
			    q->kind == R_COUNT && q->len != q->asked)
				ck_abort_msg("seed %d: atomic write %zu split: "
				    "%zu of %zu", _i, j, q->len, q->asked);
			if (!q->nonblock && q->kind == R_ERR &&
			    q->err == EAGAIN)
				ck_abort_msg("seed %d: blocking request %zu "
				    "got EAGAIN", _i, j);
		}
		ck_assert_uint_le(c->ring.len, c->capacity);
		ck_assert_uint_le(c->ring.size, c->capacity);
		ck_assert_uint_eq(pool.budget.mem_used, c->ring.size);
		ck_assert_uint_eq(pool.budget.held, held);
		ck_not_stuck(c);
	}

	/* Close everything, then read what is left with a fresh open. */
	for (i = 0; i < 6; i++)
		if (h[i] != NULL)
			chan_close(h[i]);
	h[0] = chan_open(c, CHAN_RD);
	while (c->ring.len > 0)
		drain(h[0], c->ring.len, 5000);
	/* EOF if it saw data, else it waits like any first reader. */
	if (h[0]->seen_writer)
		ck_eof(rd(h[0], 5000, 1));
	else
		ck_err(rd(h[0], 5000, 1), EAGAIN);
	chan_close(h[0]);

	pos = 0;
	for (j = 0; j < nreqs; j++) {
		q = &reqs[j];
		if (q->op != WAIT_WRITE || q->kind != R_COUNT)
			continue;
		ck_assert_msg(pos + q->len <= outlen &&
		    pat_match(out + pos, (unsigned)j, 0, q->len),
		    "seed %d: write %zu not at stream offset %zu", _i, j, pos);
		pos += q->len;
	}
	ck_assert_uint_eq(pos, outlen);
	ck_finish();
}
END_TEST

/*
 * A seekable open gets the bytes it was given again when it reads at an
 * offset inside them (bash's read builtin seeks back to the end of each
 * line); the stream is not touched.
 */
START_TEST(test_reread_from_ring)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD | CHAN_SEEK);
	ck_count(wrs(w, "1\n2\n3\n", 0), 6);
	ck_data(rd_at(r, 0, 4096, 0), "1\n2\n3\n");
	ck_data(rd_at(r, 2, 4096, 0), "2\n3\n");
	ck_data(rd_at(r, 4, 1, 0), "3");
	ck_assert_uint_gt(pool.budget.hist_used, 0);
	/* At the end: new bytes, or EAGAIN on an empty channel. */
	ck_err(rd_at(r, 6, 4096, 1), EAGAIN);
	ck_count(wrs(w, "4\n", 0), 2);
	ck_data(rd_at(r, 6, 4096, 0), "4\n");
	ck_data(rd_at(r, 4, 4096, 0), "3\n4\n");
	chan_close(w);
	/* End of file at the end, the history still before it. */
	ck_eof(rd_at(r, 8, 4096, 0));
	ck_data(rd_at(r, 0, 2, 0), "1\n");
	chan_close(r);
	ck_assert_uint_eq(pool.budget.hist_used, 0);
	ck_finish();
}
END_TEST

/*
 * A large write handed to a held read of an open with offsets: the read's
 * history keeps the write's buffer, taken over, not a copy; a re-read
 * gets the bytes from it, and a later small read copies them into the
 * ring of the history again, which a re-read across both finds.
 */
START_TEST(test_adopt_handoff_history)
{
	struct chan_handle	*w, *r;
	struct req		*q;
	size_t			 big = 131072;

	nadopted = 0;
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD | CHAN_SEEK);
	q = rd_at(r, 0, big, 0);
	ck_held(q);
	ck_count(wr(w, 7, big, 0), big);
	ck_data_pat(q, 7, 0, big);
	ck_assert_uint_eq(nadopted, 1);
	ck_assert_ptr_nonnull(r->hist.ref_mem);
	ck_assert_uint_eq(pool.budget.hist_used, big);
	ck_data_pat(rd_at(r, 1000, 5000, 0), 7, 1000, 5000);
	ck_data_pat(rd_at(r, big - 10, 100, 0), 7, big - 10, 10);
	/* A small read: the history copies what it keeps of the buffer. */
	ck_count(wr(w, 8, 100, 0), 100);
	ck_data_pat(rd_at(r, big, 100, 0), 8, 0, 100);
	ck_assert_ptr_null(r->hist.ref_mem);
	ck_assert_uint_eq(pool.budget.hist_used, r->hist.ring.size);
	q = rd_at(r, big - 50, 100, 0);
	ck_answered(q, R_DATA);
	ck_assert_uint_eq(q->len, 100);
	ck_assert(pat_match(q->data, 7, big - 50, 50));
	ck_assert(pat_match(q->data + 50, 8, 0, 50));
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * A large write held for room keeps its bytes in its own buffer, taken
 * over; the read that completes it leaves that buffer to its history,
 * which then holds the ring's bytes as a copy and the write's in place.
 * Nothing is lost or counted twice.
 */
START_TEST(test_adopt_held_write_history)
{
	struct chan_handle	*w, *r;
	struct req		*q;
	size_t			 big = 262144, cap = c->capacity;

	nadopted = 0;
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD | CHAN_SEEK);
	q = wr(w, 3, big, 0);
	ck_held(q);
	ck_assert_uint_eq(nadopted, 1);
	ck_assert_uint_eq(c->ring.len, cap);
	ck_assert_uint_eq(pool.budget.held, big);
	ck_data_pat(rd_at(r, 0, big, 0), 3, 0, big);
	ck_count(q, big);
	ck_assert_uint_eq(pool.budget.held, 0);
	ck_assert_ptr_nonnull(r->hist.ref_mem);
	ck_assert_uint_eq(r->hist.ring.len, cap);
	ck_assert_uint_eq(pool.budget.hist_used, r->hist.ring.size + big);
	/* Across the ring's copy and the buffer kept in place. */
	ck_data_pat(rd_at(r, cap - 100, 200, 0), 3, cap - 100, 200);
	ck_data_pat(rd_at(r, 0, big, 0), 3, 0, big);
	ck_data_pat(rd_at(r, cap, big, 0), 3, cap, big - cap);
	chan_close(w);
	ck_eof(rd_at(r, big, 4096, 0));
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * Under a small max_memory no buffer larger than what is left is taken
 * over: the write is copied as before, and every count stays right.
 */
START_TEST(test_adopt_budget)
{
	struct chan_handle	*w, *r;
	struct req		*q;
	size_t			 big = 262144;

	chan_free(c);
	pool_setup(65536, 65536 + 150000);
	nadopted = 0;
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	q = wr(w, 5, big, 0);
	ck_held(q);
	ck_assert_uint_eq(nadopted, 0);
	ck_assert_uint_le(pool.budget.held, 150000);
	while (q->nreply == 0)
		drain(r, c->ring.len, 65536);
	ck_assert_uint_le(q->len, big);
	ck_assert_uint_eq(pool.budget.held, 0);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* Bytes handed over from a writer to a held read are kept too. */
START_TEST(test_reread_after_handoff)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD | CHAN_SEEK);
	q = rd_at(r, 0, 100, 0);
	ck_held(q);
	ck_count(wrs(w, "ping", 0), 4);
	ck_data(q, "ping");
	ck_data(rd_at(r, 0, 100, 0), "ping");
	ck_data(rd_at(r, 1, 2, 0), "in");
	/* From a held write's copy, straight to the read. */
	fill_to_room(w, 1, 0);
	q = wr(w, 2, 5000, 0);
	ck_held(q);
	ck_data_pat(rd_at(r, 4, c->capacity, 0), 1, 0, c->capacity);
	ck_data_pat(rd_at(r, 4 + c->capacity, 5000, 0), 2, 0, 5000);
	ck_count(q, 5000);
	ck_data_pat(rd_at(r, 4 + c->capacity + 1000, 5000, 0), 2, 1000, 4000);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/* An open without offsets (region=off: FOPEN_STREAM) keeps nothing. */
START_TEST(test_no_history_without_seek)
{
	struct chan_handle	*w, *r;

	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "abcdef", 0), 6);
	ck_data(rd_at(r, 0, 3, 0), "abc");
	ck_data(rd_at(r, 0, 3, 0), "def");
	ck_assert_uint_eq(pool.budget.hist_used, 0);
	chan_close(w);
	chan_close(r);
	ck_finish();
}
END_TEST

/*
 * Python's BufferedRandom reads ahead, seeks back to the line it used and
 * writes: the read-ahead it did not use comes back after the write, and
 * the write goes into the stream.
 */
START_TEST(test_rdwr_write_keeps_unread)
{
	struct chan_handle	*w, *x, *r;

	w = chan_open(c, CHAN_WR);
	x = chan_open(c, CHAN_RD | CHAN_WR | CHAN_SEEK);
	ck_count(wrs(w, "a\nb\nc\n", 0), 6);
	ck_data(rd_at(x, 0, 8192, 0), "a\nb\nc\n");
	ck_count(wrs_at(x, 2, "X\n", 0), 2);
	ck_data(rd_at(x, 4, 8192, 0), "b\nc\n");
	ck_data(rd_at(x, 6, 8192, 0), "c\n");
	r = chan_open(c, CHAN_RD);
	ck_data(rd(r, 100, 0), "X\n");
	chan_close(r);
	chan_close(w);
	chan_close(x);
	ck_finish();
}
END_TEST

/* Histories count against max_memory and give it back at close. */
START_TEST(test_history_memory)
{
	struct chan_handle	*w, *r1, *r2;

	chan_free(c);
	pool_setup(CAPACITY_DEFAULT, 5 * HIST_KEEP / 2);
	w = chan_open(c, CHAN_WR);
	r1 = chan_open(c, CHAN_RD | CHAN_SEEK);
	r2 = chan_open(c, CHAN_RD | CHAN_SEEK);
	fill_to_room(w, 1, 0);
	drain_at(r1, 0, c->capacity, 4096);
	ck_assert_uint_eq(pool.budget.hist_used, HIST_KEEP);
	fill_to_room(w, 2, 0);
	drain_at(r2, 0, c->capacity, 4096);
	/* Only what max_memory left after the stream buffer. */
	ck_assert_uint_le(pool.budget.mem_used + pool.budget.hist_used,
	    5 * HIST_KEEP / 2);
	ck_assert_uint_lt(r2->hist.ring.size, HIST_KEEP);
	chan_close(r1);
	ck_assert_uint_eq(pool.budget.hist_used, r2->hist.ring.size);
	chan_close(r2);
	chan_close(w);
	ck_finish();
}
END_TEST

/* Framing and delivery (docs/modes.md). */

/* Put c in the given framing and delivery. */
static void
set_mode(int framing, int delivery)
{
	ck_assert_int_eq(chan_set_mode(c, framing, delivery), 0);
	ck_assert_int_eq(c->framing, framing);
	ck_assert_int_eq(c->delivery, delivery);
}

/*
 * Everything is closed and read: c holds no memory, its ring of message
 * lengths included, before the channel itself is freed.
 */
static void
ck_mem_zero(void)
{
	ck_assert(chan_idle(c));
	ck_assert_uint_eq(c->ring.size, 0);
	ck_assert_uint_eq(c->lens.size, 0);
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	ck_assert_uint_eq(pool.budget.held, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
}

/* c's figures: buffered bytes and messages. */
static void
ck_buffered(size_t bytes, size_t messages)
{
	struct chan_stats	 st;

	chan_stats(c, &st);
	ck_assert_uint_eq(st.buffered, bytes);
	ck_assert_uint_eq(st.messages, messages);
	ck_assert_uint_eq(c->ring.len, bytes);
	ck_assert_uint_eq(c->lens.len, messages * sizeof (uint32_t));
	/* The ring of lengths counts against max_memory with the bytes. */
	ck_assert_uint_eq(pool.budget.mem_used, c->ring.size + c->lens.size);
}

/* Messages, queue: each write is one message, each read gets one. */
START_TEST(test_msg_boundaries)
{
	struct chan_handle	*w, *r;
	struct chan_stats	 st;

	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "ab", 0), 2);
	ck_count(wrs(w, "cde", 0), 3);
	ck_count(wrs(w, "f", 1), 1);
	ck_buffered(6, 3);
	ck_assert_uint_gt(c->lens.size, 0);
	chan_stats(c, &st);
	ck_assert_int_eq(st.framing, CHAN_MESSAGES);
	ck_assert_int_eq(st.delivery, CHAN_QUEUE);
	ck_assert_uint_eq(st.max_message, c->capacity);
	ck_assert_uint_eq(st.writes, 3);
	ck_assert_uint_eq(st.bytes_written, 6);
	/* A stream would give all six bytes to the first read. */
	ck_data(rd(r, 100, 0), "ab");
	ck_data(rd(r, 100, 1), "cde");
	ck_buffered(1, 1);
	/* A read of exactly the message's size takes it. */
	ck_data(rd(r, 1, 0), "f");
	ck_buffered(0, 0);
	chan_stats(c, &st);
	ck_assert_uint_eq(st.reads, 3);
	ck_assert_uint_eq(st.bytes_read, 6);
	ck_err(rd(r, 100, 1), EAGAIN);
	/* A write of nothing makes no message. */
	ck_count(wrs(w, "", 0), 0);
	ck_buffered(0, 0);
	ck_err(rd(r, 100, 1), EAGAIN);
	chan_close(w);
	ck_eof(rd(r, 100, 0));
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: a write over the largest message fails with EMSGSIZE and
 * leaves nothing; the largest is the capacity, capped by the mount's
 * max_message when that is set and smaller.
 */
START_TEST(test_msg_write_too_big)
{
	struct chan_handle	*w, *r;
	struct chan_stats	 st;
	struct chan		*c2;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	/* A stream's largest write kept whole is CHAN_ATOMIC. */
	ck_assert_uint_eq(chan_max_message(c), CHAN_ATOMIC);
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_max_message(c), CAPACITY_MIN);
	ck_err(wr(w, 1, CAPACITY_MIN + 1, 0), EMSGSIZE);
	ck_err(wr(w, 1, CAPACITY_MIN + 1, 1), EMSGSIZE);
	ck_buffered(0, 0);
	ck_count(wr(w, 2, CAPACITY_MIN, 0), CAPACITY_MIN);
	ck_buffered(CAPACITY_MIN, 1);
	/* Too big is too big even when the channel is full. */
	ck_err(wr(w, 3, CAPACITY_MIN + 1, 0), EMSGSIZE);
	ck_assert_uint_eq(pool.nwaiters, 0);
	ck_data_pat(rd(r, CAPACITY_MIN, 0), 2, 0, CAPACITY_MIN);

	/* The mount's max_message caps it below the capacity... */
	pool.max_message = 1000;
	ck_assert_uint_eq(chan_max_message(c), 1000);
	chan_stats(c, &st);
	ck_assert_uint_eq(st.max_message, 1000);
	ck_err(wr(w, 4, 1001, 0), EMSGSIZE);
	ck_buffered(0, 0);
	ck_count(wr(w, 5, 1000, 0), 1000);
	ck_data_pat(rd(r, 4096, 0), 5, 0, 1000);
	/* ...but never raises it above the capacity. */
	pool.max_message = 2 * CAPACITY_MIN;
	ck_assert_uint_eq(chan_max_message(c), CAPACITY_MIN);
	ck_err(wr(w, 6, CAPACITY_MIN + 1, 0), EMSGSIZE);
	/* A stream ignores it. */
	c2 = chan_new(&pool);
	ck_assert_uint_eq(chan_max_message(c2), CHAN_ATOMIC);
	chan_free(c2);
	chan_close(w);
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: a read smaller than the next message fails with EMSGSIZE,
 * and the message stays for a read big enough, even once the writers
 * are gone.
 */
START_TEST(test_msg_read_too_small)
{
	struct chan_handle	*w, *r;
	struct chan_stats	 st;

	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "hello", 0), 5);
	ck_err(rd(r, 4, 0), EMSGSIZE);
	ck_err(rd(r, 1, 1), EMSGSIZE);
	ck_buffered(5, 1);
	chan_stats(c, &st);
	ck_assert_uint_eq(st.reads, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
	ck_data(rd(r, 5, 0), "hello");
	ck_count(wrs(w, "world!", 0), 6);
	chan_close(w);
	ck_err(rd(r, 3, 0), EMSGSIZE);
	ck_data(rd(r, 6, 0), "world!");
	ck_eof(rd(r, 3, 0));
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: a held read too small for a message that arrives fails with
 * EMSGSIZE; the message goes to the next held read big enough, or stays.
 */
START_TEST(test_msg_held_read_too_small)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b, *d, *e, *q;

	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	a = rd(r1, 3, 0);
	ck_held(a);
	ck_count(wrs(w, "hello", 0), 5);
	ck_err(a, EMSGSIZE);
	ck_buffered(5, 1);
	ck_data(rd(r2, 10, 0), "hello");

	/* The small one fails, the next one takes the message whole. */
	a = rd(r1, 3, 0);
	b = rd(r2, 10, 0);
	d = rd(r1, 10, 0);
	ck_held(a);
	ck_held(b);
	ck_held(d);
	q = wrs(w, "hello", 0);
	ck_count(q, 5);
	ck_err(a, EMSGSIZE);
	ck_data(b, "hello");
	ck_before(a, b);
	/* The writer hears first, as for a stream's handoff. */
	ck_before(q, b);
	ck_held(d);
	ck_buffered(0, 0);

	/* A message that fits goes to the oldest held read. */
	e = rd(r2, 3, 0);
	ck_held(e);
	ck_count(wrs(w, "hi", 0), 2);
	ck_data(d, "hi");
	ck_held(e);
	ck_count(wrs(w, "abc", 0), 3);
	ck_data(e, "abc");
	ck_buffered(0, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);

	/* Every held read too small: all fail, and the message stays. */
	a = rd(r1, 2, 0);
	b = rd(r2, 3, 0);
	ck_count(wrs(w, "four", 0), 4);
	ck_err(a, EMSGSIZE);
	ck_err(b, EMSGSIZE);
	ck_buffered(4, 1);
	ck_data(rd(r1, 4, 0), "four");
	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: a message goes in whole or not at all.  With too little room
 * a blocking write is held with nothing in, one with O_NONBLOCK gets
 * EAGAIN, and the held write completes once the whole message fits; a
 * smaller message from another writer waits behind it.
 */
START_TEST(test_msg_whole_or_nothing)
{
	struct chan_handle	*w1, *w2, *r;
	struct req		*q, *q2;

	chan_free(c);
	pool_setup(2 * CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w1 = chan_open(c, CHAN_WR);
	w2 = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wr(w1, 1, 8100, 0), 8100);
	/* 92 bytes of room: none of a message of 200 goes in. */
	ck_err(wr(w1, 2, 200, 1), EAGAIN);
	ck_buffered(8100, 1);
	q = wr(w1, 2, 200, 0);
	ck_held(q);
	ck_assert_uint_eq(q->w->done, 0);
	ck_buffered(8100, 1);
	/* 50 bytes would fit, but they queue behind the held message. */
	q2 = wr(w2, 3, 50, 0);
	ck_held(q2);
	ck_err(wr(w2, 4, 50, 1), EAGAIN);
	ck_buffered(8100, 1);
	ck_data_pat(rd(r, 8192, 0), 1, 0, 8100);
	ck_count(q, 200);
	ck_count(q2, 50);
	ck_before(q, q2);
	ck_buffered(250, 2);
	ck_data_pat(rd(r, 4096, 0), 2, 0, 200);
	ck_data_pat(rd(r, 4096, 0), 3, 0, 50);

	/*
	 * A message over CHAN_ATOMIC bytes is not split either, as a stream
	 * write of that size would be: it waits for the whole of it.
	 */
	ck_count(wr(w1, 5, 100, 0), 100);
	ck_err(wr(w2, 6, 2 * CAPACITY_MIN, 1), EAGAIN);
	ck_buffered(100, 1);
	q = wr(w2, 6, 2 * CAPACITY_MIN, 0);
	ck_held(q);
	ck_assert_uint_eq(q->w->done, 0);
	ck_buffered(100, 1);
	ck_data_pat(rd(r, 8192, 0), 5, 0, 100);
	ck_count(q, 2 * CAPACITY_MIN);
	ck_buffered(2 * CAPACITY_MIN, 1);
	ck_data_pat(rd(r, 8192, 0), 6, 0, 2 * CAPACITY_MIN);
	chan_close(w1);
	chan_close(w2);
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Messages: end of file and EPIPE are a stream's. */
START_TEST(test_msg_eof_epipe)
{
	struct chan_handle	*w, *r;
	struct req		*q;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "a", 0), 1);
	ck_count(wrs(w, "bc", 0), 2);
	chan_close(w);
	/* Messages left are read before end of file. */
	ck_data(rd(r, 10, 0), "a");
	ck_data(rd(r, 10, 0), "bc");
	ck_eof(rd(r, 10, 0));
	/* A held read gets end of file when the last writer goes. */
	w = chan_open(c, CHAN_WR);
	q = rd(r, 10, 0);
	ck_held(q);
	chan_close(w);
	ck_eof(q);

	/* A held message fails with EPIPE when the last reader goes. */
	w = chan_open(c, CHAN_WR);
	ck_count(wr(w, 1, CAPACITY_MIN, 0), CAPACITY_MIN);
	q = wr(w, 2, 10, 0);
	ck_held(q);
	chan_close(r);
	ck_err(q, EPIPE);
	ck_err(wrs(w, "x", 0), EPIPE);
	ck_err(wrs(w, "x", 1), EPIPE);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLERR | POLLOUT | POLLWRNORM);
	/* The message nobody read waits for the next reader. */
	ck_buffered(CAPACITY_MIN, 1);
	chan_close(w);
	r = chan_open(c, CHAN_RD);
	ck_data_pat(rd(r, CAPACITY_MIN, 0), 1, 0, CAPACITY_MIN);
	ck_eof(rd(r, 10, 0));
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: POLLIN while a message waits (even one too big for the next
 * read), POLLOUT while a message of CHAN_ATOMIC bytes would fit.
 */
START_TEST(test_msg_poll)
{
	struct chan_handle	*w, *r;
	struct pollh		*p, *p2;

	chan_free(c);
	pool_setup(2 * CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(r, NULL), 0);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	p = pollh_new();
	ck_assert_uint_eq(chan_poll(r, p), 0);
	ck_count(wrs(w, "msg", 0), 3);
	ck_assert_int_eq(p->notified, 1);
	ck_assert_uint_eq(chan_poll(r, NULL), POLLIN | POLLRDNORM);
	ck_err(rd(r, 2, 0), EMSGSIZE);
	ck_assert_uint_eq(chan_poll(r, NULL), POLLIN | POLLRDNORM);

	/* Exactly CHAN_ATOMIC bytes of room: POLLOUT; one less, none. */
	ck_count(wr(w, 1, c->capacity - 3 - CHAN_ATOMIC, 0),
	    c->capacity - 3 - CHAN_ATOMIC);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	ck_count(wrs(w, "z", 0), 1);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	p2 = pollh_new();
	ck_assert_uint_eq(chan_poll(w, p2), 0);
	ck_data(rd(r, 3, 0), "msg");
	ck_assert_int_eq(p2->notified, 1);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	ck_buffered(c->capacity - CHAN_ATOMIC - 2, 2);
	ck_data_pat(rd(r, c->capacity, 0), 1, 0, c->capacity - 3 - CHAN_ATOMIC);
	ck_data(rd(r, c->capacity, 0), "z");
	ck_assert_uint_eq(chan_poll(r, NULL), 0);
	chan_close(w);
	ck_assert_uint_eq(chan_poll(r, NULL), POLLIN | POLLRDNORM | POLLHUP);
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast, bytes: every reader gets every byte, each at its own pace;
 * the ring keeps what the slowest has still to read.
 */
START_TEST(test_bcast_every_reader)
{
	struct chan_handle	*w, *r1, *r2;
	struct chan_stats	 st;
	size_t			 pos;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "hello", 0), 5);
	ck_assert_uint_eq(chan_poll(r1, NULL), POLLIN | POLLRDNORM);
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM);
	ck_data(rd(r1, 2, 0), "he");
	ck_data(rd(r2, 100, 0), "hello");
	ck_buffered(3, 0);
	ck_assert_uint_eq(chan_poll(r2, NULL), 0);
	ck_err(rd(r2, 100, 1), EAGAIN);
	ck_data(rd(r1, 100, 0), "llo");
	ck_buffered(0, 0);
	ck_err(rd(r1, 100, 1), EAGAIN);
	chan_stats(c, &st);
	ck_assert_int_eq(st.delivery, CHAN_BROADCAST);
	ck_assert_int_eq(st.framing, CHAN_BYTES);
	ck_assert_uint_eq(st.writes, 1);
	ck_assert_uint_eq(st.bytes_written, 5);
	ck_assert_uint_eq(st.reads, 3);
	ck_assert_uint_eq(st.bytes_read, 10);

	/* Three writes, read in different pieces by each reader. */
	ck_count(wr(w, 1, 3000, 0), 3000);
	ck_count(wr(w, 2, 3000, 0), 3000);
	ck_count(wr(w, 3, 3000, 1), 3000);
	ck_buffered(9000, 0);
	pos = outlen;
	drain(r1, 9000, 1000);
	ck_buffered(9000, 0);
	drain(r2, 9000, 4096);
	ck_buffered(0, 0);
	ck_out_pat(pos, 1, 0, 3000);
	ck_out_pat(pos + 3000, 2, 0, 3000);
	ck_out_pat(pos + 6000, 3, 0, 3000);
	ck_out_pat(pos + 9000, 1, 0, 3000);
	ck_out_pat(pos + 12000, 2, 0, 3000);
	ck_out_pat(pos + 15000, 3, 0, 3000);
	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast: a reader that opens starts where the furthest reader has
 * got to: it gets what no reader has had, and nothing some reader has.
 */
START_TEST(test_bcast_late_joiner)
{
	struct chan_handle	*w, *r1, *r2, *r3, *r4;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	w = chan_open(c, CHAN_WR);
	/* Written with no reader open: kept for the first that comes. */
	ck_count(wrs(w, "abc", 0), 3);
	r1 = chan_open(c, CHAN_RD);
	ck_data(rd(r1, 100, 0), "abc");
	ck_count(wrs(w, "def", 0), 3);
	/* r1 had "abc", nobody had "def": r2 gets "def". */
	r2 = chan_open(c, CHAN_RD);
	ck_data(rd(r2, 100, 0), "def");
	/* r2 had "def" too: nothing for r3, though r1 has still to read. */
	r3 = chan_open(c, CHAN_RD);
	ck_err(rd(r3, 100, 1), EAGAIN);
	ck_assert_uint_eq(chan_poll(r3, NULL), 0);
	ck_buffered(3, 0);
	ck_data(rd(r1, 100, 0), "def");
	ck_buffered(0, 0);
	ck_count(wrs(w, "ghi", 0), 3);
	ck_data(rd(r3, 100, 0), "ghi");
	ck_data(rd(r1, 100, 0), "ghi");
	ck_data(rd(r2, 100, 0), "ghi");
	/* Part of a write read by one: a newcomer gets the rest. */
	ck_count(wrs(w, "jklmn", 0), 5);
	ck_data(rd(r1, 2, 0), "jk");
	r4 = chan_open(c, CHAN_RD);
	ck_data(rd(r4, 100, 0), "lmn");
	ck_buffered(5, 0);
	/*
	 * Readers that close let go of what they did not read, but only of
	 * what some reader had.
	 */
	chan_close(r2);
	chan_close(r3);
	ck_buffered(3, 0);
	chan_close(r1);
	chan_close(r4);
	ck_buffered(0, 0);
	/* w saw readers, all gone: EPIPE.  A new writer has seen none. */
	ck_err(wrs(w, "xyz", 0), EPIPE);
	chan_close(w);
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "xyz", 0), 3);
	r1 = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "123", 0), 3);
	ck_data(rd(r1, 2, 0), "xy");
	chan_close(r1);
	ck_buffered(4, 0);
	r2 = chan_open(c, CHAN_RD);
	ck_data(rd(r2, 100, 0), "z123");
	chan_close(r2);
	chan_close(w);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast: a writer waits while the slowest reader is capacity bytes
 * behind, until that reader reads or closes; never silent loss.
 */
START_TEST(test_bcast_backpressure)
{
	struct chan_handle	*w, *slow, *fast;
	struct req		*q, *a;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	slow = chan_open(c, CHAN_RD);
	fast = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	fill_to_room(w, 1, 0);
	drain(fast, CAPACITY_MIN, 1000);
	ck_buffered(CAPACITY_MIN, 0);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	ck_err(wr(w, 2, 100, 1), EAGAIN);
	q = wr(w, 2, 100, 0);
	ck_held(q);
	ck_err(rd(fast, 100, 1), EAGAIN);
	a = rd(fast, 1000, 0);
	ck_held(a);
	/* 99 bytes of room are not enough for 100 written together. */
	drain(slow, 99, 99);
	ck_held(q);
	ck_held(a);
	/* Once they go in, the held read of the fast reader gets them. */
	drain(slow, 1, 1);
	ck_count(q, 100);
	ck_data_pat(a, 2, 0, 100);
	ck_buffered(CAPACITY_MIN, 0);

	/* The slow reader closing lets the held write go. */
	q = wr(w, 3, 500, 0);
	ck_held(q);
	chan_close(slow);
	ck_count(q, 500);
	ck_buffered(500, 0);
	ck_data_pat(rd(fast, 1000, 0), 3, 0, 500);

	/* A write larger than the ring goes in as the reader reads. */
	q = wr(w, 4, 3 * CAPACITY_MIN, 0);
	ck_held(q);
	ck_buffered(CAPACITY_MIN, 0);
	drain(fast, 3 * CAPACITY_MIN, 1500);
	ck_count(q, 3 * CAPACITY_MIN);
	ck_buffered(0, 0);
	chan_close(w);
	ck_eof(rd(fast, 100, 0));
	chan_close(fast);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Broadcast: end of file is each reader's, once it has read everything. */
START_TEST(test_bcast_eof_per_reader)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*q;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "abc", 0), 3);
	ck_data(rd(r1, 10, 0), "abc");
	q = rd(r1, 10, 0);
	ck_held(q);
	ck_assert_uint_eq(chan_poll(r1, NULL), 0);
	chan_close(w);
	ck_eof(q);
	ck_eof(rd(r1, 10, 0));
	ck_assert_uint_eq(chan_poll(r1, NULL), POLLIN | POLLRDNORM | POLLHUP);
	/* r2 has still to read "abc". */
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM);
	ck_data(rd(r2, 2, 0), "ab");
	ck_data(rd(r2, 10, 1), "c");
	ck_eof(rd(r2, 10, 0));
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM | POLLHUP);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast: a reader that opens with nothing of its own to read, the
 * writers gone, has seen no writer: it waits for one, as in a pipe, even
 * while a slower reader still has data (which is not its own).
 */
START_TEST(test_bcast_eof_late_reader)
{
	struct chan_handle	*w, *r1, *r2, *r3;
	struct req		*q;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "abc", 0), 3);
	ck_data(rd(r2, 10, 0), "abc");
	chan_close(w);
	ck_buffered(3, 0);
	r3 = chan_open(c, CHAN_RD);
	ck_err(rd(r3, 10, 1), EAGAIN);
	ck_assert_uint_eq(chan_poll(r3, NULL), 0);
	q = rd(r3, 10, 0);
	ck_held(q);
	/* The others: r1 has "abc" to read, r2 is at its end. */
	ck_data(rd(r1, 10, 0), "abc");
	ck_eof(rd(r1, 10, 0));
	ck_eof(rd(r2, 10, 0));
	ck_held(q);
	/* A writer that comes and goes is end of file for r3 too. */
	w = chan_open(c, CHAN_WR);
	ck_held(q);
	chan_close(w);
	ck_eof(q);
	/* Data left with no writer counts as one seen, for the reader. */
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "d", 0), 1);
	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	chan_close(r3);
	r1 = chan_open(c, CHAN_RD);
	ck_data(rd(r1, 10, 0), "d");
	ck_eof(rd(r1, 10, 0));
	chan_close(r1);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Broadcast: POLLIN per reader, POLLOUT by the slowest reader. */
START_TEST(test_bcast_poll)
{
	struct chan_handle	*w, *r1, *r2;
	struct pollh		*p1, *p2, *p3;

	chan_free(c);
	pool_setup(2 * CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	p1 = pollh_new();
	p2 = pollh_new();
	ck_assert_uint_eq(chan_poll(r1, p1), 0);
	ck_assert_uint_eq(chan_poll(r2, p2), 0);
	ck_count(wrs(w, "x", 0), 1);
	ck_assert_int_eq(p1->notified, 1);
	ck_assert_int_eq(p2->notified, 1);
	ck_data(rd(r1, 10, 0), "x");
	ck_assert_uint_eq(chan_poll(r1, NULL), 0);
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM);

	/* r2 is one byte behind: room for CHAN_ATOMIC more, then none. */
	ck_count(wr(w, 1, c->capacity - 1 - CHAN_ATOMIC, 0),
	    c->capacity - 1 - CHAN_ATOMIC);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	ck_count(wrs(w, "y", 0), 1);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	drain(r1, c->capacity - CHAN_ATOMIC, 4096);
	ck_assert_uint_eq(chan_poll(r1, NULL), 0);
	/* r1 has read all; r2 still holds the writer back. */
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	p3 = pollh_new();
	ck_assert_uint_eq(chan_poll(w, p3), 0);
	ck_data(rd(r2, 1, 0), "x");
	ck_assert_int_eq(p3->notified, 1);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLOUT | POLLWRNORM);
	drain(r2, c->capacity - CHAN_ATOMIC, 4096);
	chan_close(w);
	ck_assert_uint_eq(chan_poll(r1, NULL), POLLIN | POLLRDNORM | POLLHUP);
	ck_assert_uint_eq(chan_poll(r2, NULL), POLLIN | POLLRDNORM | POLLHUP);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Broadcast: an O_RDWR open reads its own writes, as every reader does. */
START_TEST(test_bcast_rdwr)
{
	struct chan_handle	*x, *r;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	x = chan_open(c, CHAN_RD | CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(x, "ping", 0), 4);
	ck_data(rd(x, 10, 0), "ping");
	ck_data(rd(r, 10, 0), "ping");
	/* Alone, it is still a reader: no EPIPE. */
	chan_close(r);
	ck_count(wrs(x, "pong", 0), 4);
	ck_data(rd(x, 10, 1), "pong");
	ck_err(rd(x, 10, 1), EAGAIN);
	chan_close(x);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Broadcast: EPIPE once the last reader is gone. */
START_TEST(test_bcast_epipe)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*q;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	fill_to_room(w, 1, 0);
	drain(r1, CAPACITY_MIN, CAPACITY_MIN);
	q = wr(w, 2, 10, 0);
	ck_held(q);
	chan_close(r1);
	ck_held(q);
	chan_close(r2);
	ck_err(q, EPIPE);
	/* What r1 had is let go with the last reader. */
	ck_buffered(0, 0);
	ck_err(wrs(w, "x", 0), EPIPE);
	ck_assert_uint_eq(chan_poll(w, NULL), POLLERR | POLLOUT | POLLWRNORM);
	chan_close(w);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast messages: each reader gets each message whole; a read too
 * small fails for that reader only, and the message stays for it.
 */
START_TEST(test_msgbcast_each_reader)
{
	struct chan_handle	*w, *r1, *r2, *r3;

	set_mode(CHAN_MESSAGES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_count(wrs(w, "a", 0), 1);
	ck_count(wrs(w, "bcd", 0), 3);
	ck_buffered(4, 2);
	ck_data(rd(r1, 10, 0), "a");
	ck_data(rd(r1, 10, 0), "bcd");
	ck_buffered(4, 2);
	ck_data(rd(r2, 1, 0), "a");
	ck_buffered(3, 1);
	ck_err(rd(r2, 2, 0), EMSGSIZE);
	ck_err(rd(r2, 2, 1), EMSGSIZE);
	ck_buffered(3, 1);
	ck_data(rd(r2, 3, 0), "bcd");
	ck_buffered(0, 0);

	/* Late joiners, by messages. */
	ck_count(wrs(w, "e", 0), 1);
	ck_data(rd(r1, 10, 0), "e");
	r3 = chan_open(c, CHAN_RD);
	ck_err(rd(r3, 10, 1), EAGAIN);
	ck_count(wrs(w, "fg", 0), 2);
	ck_data(rd(r3, 10, 0), "fg");
	ck_data(rd(r2, 10, 0), "e");
	ck_data(rd(r2, 10, 0), "fg");
	ck_buffered(2, 1);
	ck_data(rd(r1, 10, 0), "fg");
	ck_buffered(0, 0);
	chan_close(w);
	ck_eof(rd(r1, 10, 0));
	ck_eof(rd(r2, 10, 0));
	ck_eof(rd(r3, 10, 0));
	chan_close(r1);
	chan_close(r2);
	chan_close(r3);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Broadcast messages: a message waits whole for room the slowest reader
 * has still to free; when it goes in, a held read too small for it fails
 * with EMSGSIZE and the message stays for that reader.
 */
START_TEST(test_msgbcast_backpressure)
{
	struct chan_handle	*w, *slow, *fast;
	struct req		*q, *a;

	chan_free(c);
	pool_setup(CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	set_mode(CHAN_MESSAGES, CHAN_BROADCAST);
	slow = chan_open(c, CHAN_RD);
	fast = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_count(wr(w, 1, 3000, 0), 3000);
	ck_data_pat(rd(fast, CAPACITY_MIN, 0), 1, 0, 3000);
	ck_err(wr(w, 2, 2000, 1), EAGAIN);
	q = wr(w, 2, 2000, 0);
	ck_held(q);
	ck_assert_uint_eq(q->w->done, 0);
	ck_buffered(3000, 1);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	a = rd(fast, 1000, 0);
	ck_held(a);
	ck_data_pat(rd(slow, CAPACITY_MIN, 0), 1, 0, 3000);
	ck_count(q, 2000);
	ck_err(a, EMSGSIZE);
	ck_buffered(2000, 1);
	ck_data_pat(rd(slow, CAPACITY_MIN, 0), 2, 0, 2000);
	ck_data_pat(rd(fast, CAPACITY_MIN, 0), 2, 0, 2000);
	/* A whole capacity's message, with one reader closing. */
	q = wr(w, 3, CAPACITY_MIN, 0);
	ck_count(q, CAPACITY_MIN);
	q = wr(w, 4, 1, 0);
	ck_held(q);
	ck_data_pat(rd(fast, CAPACITY_MIN, 0), 3, 0, CAPACITY_MIN);
	ck_held(q);
	chan_close(slow);
	ck_count(q, 1);
	ck_data_pat(rd(fast, CAPACITY_MIN, 0), 4, 0, 1);
	chan_close(w);
	ck_eof(rd(fast, 10, 0));
	chan_close(fast);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * chan_set_mode: any change on a channel neither open nor holding data;
 * EBUSY otherwise; setting what it has always succeeds.
 */
START_TEST(test_set_mode_rules)
{
	struct chan_handle	*w, *r;
	struct chan_stats	 st;
	struct chan		*c2;
	int			 f, d;

	/* A new channel takes the pool's settings. */
	pool.framing = CHAN_MESSAGES;
	pool.delivery = CHAN_BROADCAST;
	c2 = chan_new(&pool);
	ck_assert_int_eq(c2->framing, CHAN_MESSAGES);
	ck_assert_int_eq(c2->delivery, CHAN_BROADCAST);
	chan_free(c2);
	pool.framing = CHAN_BYTES;
	pool.delivery = CHAN_QUEUE;

	/* Idle: every change is allowed. */
	for (f = CHAN_BYTES; f <= CHAN_MESSAGES; f++)
		for (d = CHAN_QUEUE; d <= CHAN_BROADCAST; d++)
			set_mode(f, d);
	set_mode(CHAN_BYTES, CHAN_QUEUE);

	/* Open: only what it has. */
	w = chan_open(c, CHAN_WR);
	for (f = CHAN_BYTES; f <= CHAN_MESSAGES; f++)
		for (d = CHAN_QUEUE; d <= CHAN_BROADCAST; d++)
			ck_assert_int_eq(chan_set_mode(c, f, d),
			    f == CHAN_BYTES && d == CHAN_QUEUE ? 0 : EBUSY);
	ck_assert_int_eq(c->framing, CHAN_BYTES);
	ck_assert_int_eq(c->delivery, CHAN_QUEUE);

	/* Holding data with nothing open: the same. */
	ck_count(wrs(w, "abc", 0), 3);
	chan_close(w);
	ck_assert(!chan_idle(c));
	for (f = CHAN_BYTES; f <= CHAN_MESSAGES; f++)
		for (d = CHAN_QUEUE; d <= CHAN_BROADCAST; d++)
			ck_assert_int_eq(chan_set_mode(c, f, d),
			    f == CHAN_BYTES && d == CHAN_QUEUE ? 0 : EBUSY);
	r = chan_open(c, CHAN_RD);
	ck_data(rd(r, 10, 0), "abc");
	ck_assert_int_eq(chan_set_mode(c, CHAN_MESSAGES, CHAN_QUEUE), EBUSY);
	chan_close(r);
	ck_assert(chan_idle(c));

	/* Idle again: a new mode, and the stream starts from nothing. */
	set_mode(CHAN_MESSAGES, CHAN_BROADCAST);
	chan_stats(c, &st);
	ck_assert_int_eq(st.framing, CHAN_MESSAGES);
	ck_assert_int_eq(st.delivery, CHAN_BROADCAST);
	r = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	ck_assert_int_eq(chan_set_mode(c, CHAN_MESSAGES, CHAN_BROADCAST), 0);
	ck_assert_int_eq(chan_set_mode(c, CHAN_BYTES, CHAN_BROADCAST), EBUSY);
	ck_assert_int_eq(chan_set_mode(c, CHAN_MESSAGES, CHAN_QUEUE), EBUSY);
	ck_count(wrs(w, "one", 0), 3);
	ck_count(wrs(w, "two", 0), 3);
	ck_data(rd(r, 10, 0), "one");
	ck_data(rd(r, 10, 0), "two");
	chan_close(w);
	ck_eof(rd(r, 10, 0));
	chan_close(r);
	/* After a broadcast's traffic, a queue again. */
	set_mode(CHAN_BYTES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_count(wrs(w, "one", 0), 3);
	ck_count(wrs(w, "two", 0), 3);
	ck_data(rd(r, 10, 0), "onetwo");
	chan_close(w);
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Memory: message lengths count in mem_used, and with the bytes come
 * back once everything is read and closed, in every mode.
 */
START_TEST(test_mode_memory)
{
	struct chan_handle	*w, *r1, *r2;
	int			 f, d, i;
	char			 b[2] = "x";

	for (f = CHAN_BYTES; f <= CHAN_MESSAGES; f++) {
		for (d = CHAN_QUEUE; d <= CHAN_BROADCAST; d++) {
			set_mode(f, d);
			w = chan_open(c, CHAN_WR);
			r1 = chan_open(c, CHAN_RD);
			r2 = chan_open(c, CHAN_RD);
			/* More messages than a first ring of lengths holds. */
			for (i = 0; i < 100; i++) {
				b[0] = (char)('a' + i % 26);
				ck_count(wrs(w, b, 0), 1);
			}
			ck_buffered(100, f == CHAN_MESSAGES ? 100 : 0);
			ck_assert_uint_eq(c->lens.size > 0,
			    f == CHAN_MESSAGES);
			ck_assert_uint_ge(c->lens.size,
			    f == CHAN_MESSAGES ? 400 : 0);
			for (i = 0; i < 100; i++) {
				drain(r1, 1, f == CHAN_MESSAGES ? 10 : 1);
				if (d == CHAN_BROADCAST)
					drain(r2, 1, f == CHAN_MESSAGES ?
					    10 : 1);
			}
			ck_buffered(0, 0);
			/* Open, the buffers stay. */
			ck_assert_uint_gt(pool.budget.mem_used, 0);
			chan_close(r2);
			/* Data nobody read, at the last close, is kept. */
			ck_count(wrs(w, "left", 0), 4);
			chan_close(r1);
			chan_close(w);
			ck_assert_uint_gt(pool.budget.mem_used, 0);
			r1 = chan_open(c, CHAN_RD);
			ck_data(rd(r1, 10, 0), "left");
			ck_eof(rd(r1, 10, 0));
			chan_close(r1);
			ck_mem_zero();
		}
	}
	ck_finish();
}
END_TEST

/*
 * Broadcast: a write serves the held reads of every open at once (a
 * subscriber blocked in read() wakes with the data, not at the next call
 * that happens to pump the channel).
 */
START_TEST(test_bcast_write_wakes_held_read)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b;

	set_mode(CHAN_BYTES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	a = rd(r1, 10, 0);
	b = rd(r2, 10, 0);
	ck_held(a);
	ck_held(b);
	ck_count(wrs(w, "news", 0), 4);
	ck_data(a, "news");
	ck_data(b, "news");
	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * The same with messages: a held read big enough gets the message, one
 * too small fails with EMSGSIZE and the message stays for its open.
 */
START_TEST(test_msgbcast_write_wakes_held_read)
{
	struct chan_handle	*w, *r1, *r2;
	struct req		*a, *b;

	set_mode(CHAN_MESSAGES, CHAN_BROADCAST);
	r1 = chan_open(c, CHAN_RD);
	r2 = chan_open(c, CHAN_RD);
	w = chan_open(c, CHAN_WR);
	a = rd(r1, 10, 0);
	b = rd(r2, 2, 0);
	ck_held(a);
	ck_held(b);
	ck_count(wrs(w, "news", 0), 4);
	ck_data(a, "news");
	ck_err(b, EMSGSIZE);
	ck_data(rd(r2, 10, 0), "news");
	chan_close(w);
	chan_close(r1);
	chan_close(r2);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Messages: a message's length needs memory in the ring of lengths, and
 * the room a channel reports leaves it (found by this test).  With
 * max_memory nearly spent, a message that does not fit with its length
 * is not polled POLLOUT, gets EAGAIN, or ENOSPC when blocking: a write to
 * an empty channel is never held with nothing to wake it.
 */
START_TEST(test_msg_length_memory)
{
	struct chan_handle	*w, *r;

	chan_free(c);
	pool_setup(CAPACITY_MIN, CAPACITY_MIN + 100);
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	w = chan_open(c, CHAN_WR);
	r = chan_open(c, CHAN_RD);
	ck_assert_uint_eq(chan_poll(w, NULL), 0);
	ck_err(wr(w, 1, CHAN_ATOMIC, 1), EAGAIN);
	ck_err(wr(w, 2, CHAN_ATOMIC, 0), ENOSPC);
	ck_assert_uint_eq(pool.nwaiters, 0);
	/* A smaller message goes in, with its length. */
	ck_count(wr(w, 3, 1000, 0), 1000);
	ck_buffered(1000, 1);
	ck_assert_uint_le(pool.budget.mem_used, CAPACITY_MIN + 100);
	ck_data_pat(rd(r, CAPACITY_MIN, 1), 3, 0, 1000);
	chan_close(w);
	chan_close(r);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* The suite of chan.c tests. */

/*
 * A bridged channel (bridge.c's link): what chan.c tells the link and what
 * the link calls back, with a recorder standing in for it.
 */
static struct {
	unsigned	 sends;
	unsigned	 kicks;
	struct waiter	*cancelled;
	size_t		 took;		/* what cancel says went */
	int		 gone;
} lk;

static void
lk_send(struct chan *ch)
{
	ck_assert_ptr_eq(ch, c);
	lk.sends++;
}

static void
lk_kick(struct chan *ch)
{
	lk.kicks++;
}

static size_t
lk_cancel(struct chan *ch, struct waiter *w)
{
	lk.cancelled = w;
	return (lk.took);
}

static void
lk_gone(struct chan *ch)
{
	lk.gone = 1;
	ch->link = NULL;
}

static const struct chan_link_ops lk_ops = {
	.send = lk_send,
	.kick = lk_kick,
	.cancel = lk_cancel,
	.gone = lk_gone,
};

static void
link_setup(void)
{
	memset(&lk, 0, sizeof lk);
	pool.link = &lk_ops;
	c->link = &lk;
}

/* A write goes to the link whole, is held, and is answered once sent. */
START_TEST(test_link_write)
{
	struct chan_handle	*w;
	struct req		*r;

	link_setup();
	w = chan_open(c, CHAN_WR);
	c->rreaders = 1;
	r = wr(w, 7, 10000, 0);
	ck_assert_ptr_nonnull(r->w);
	ck_assert_uint_eq(lk.sends, 1);
	ck_assert_uint_eq(c->ring.len, 0);
	ck_assert_uint_eq(pool.budget.held, 10000);
	/* The copy is the caller's bytes. */
	ck_assert(pat_match(r->w->data, 7, 0, 10000));
	chan_link_sent(r->w, 4096, 0);
	ck_assert_int_eq(r->nreply, 0);
	chan_link_sent(r->w, 10000 - 4096, 0);
	ck_count(r, 10000);
	ck_assert_uint_eq(c->ring.len, 0);
	/* One that fails reports what went before it. */
	r = wr(w, 8, 100, 0);
	chan_link_sent(r->w, 0, EAGAIN);
	ck_err(r, EAGAIN);
	chan_close(w);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* Data from the link wakes held reads; a message stays one. */
START_TEST(test_link_push)
{
	struct chan_handle	*rh;
	struct req		*r, *r2;
	unsigned		 kicks;

	link_setup();
	set_mode(CHAN_MESSAGES, CHAN_QUEUE);
	rh = chan_open(c, CHAN_RD);
	kicks = lk.kicks;
	r = rd(rh, 100, 0);
	ck_assert_ptr_nonnull(r->w);
	/* A held read tells the link to fetch. */
	ck_assert_uint_gt(lk.kicks, kicks);
	ck_assert_int_eq(chan_link_demand(c), 2);
	ck_assert_uint_eq(chan_link_push(c, "hello", 5), 5);
	ck_data(r, "hello");
	ck_assert_int_eq(chan_link_demand(c), 0);
	/* A non-blocking read that finds nothing asks for data too. */
	ck_err(rd(rh, 100, 1), EAGAIN);
	ck_assert_int_eq(chan_link_demand(c), 1);
	ck_assert_uint_eq(chan_link_push(c, "abcdef", 6), 6);
	ck_assert_int_eq(chan_link_demand(c), 0);
	ck_err(rd(rh, 3, 0), EMSGSIZE);
	r2 = rd(rh, 6, 0);
	ck_data(r2, "abcdef");
	chan_close(rh);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/*
 * Writers elsewhere count: a reader that saw one gets end of file only
 * once none is left anywhere and the link says nothing more is coming.
 */
START_TEST(test_link_eof)
{
	struct chan_handle	*rh;
	struct req		*r;

	link_setup();
	rh = chan_open(c, CHAN_RD);
	r = rd(rh, 100, 0);
	chan_link_counts(c, 0, 1, 0);
	ck_assert_int_eq(r->nreply, 0);
	ck_assert(!(chan_poll(rh, NULL) & POLLHUP));
	/* Gone elsewhere, but the stream may still hold its data. */
	chan_link_counts(c, 0, 0, 0);
	ck_assert_int_eq(r->nreply, 0);
	chan_link_counts(c, 0, 0, 1);
	ck_eof(r);
	ck_assert(chan_poll(rh, NULL) & POLLHUP);
	chan_close(rh);
	ck_finish();
}
END_TEST

/*
 * Readers elsewhere count: a write that saw one fails with EPIPE once
 * none is left, unless it is on its way; then it is the link's to answer.
 */
START_TEST(test_link_epipe)
{
	struct chan_handle	*w;
	struct req		*r1, *r2;
	struct waiter		*w2;

	link_setup();
	w = chan_open(c, CHAN_WR);
	chan_link_counts(c, 1, 0, 0);
	r1 = wr(w, 1, 10, 0);
	r2 = wr(w, 2, 10, 0);
	w2 = r2->w;
	r1->w->sending = &lk;
	chan_link_counts(c, 0, 0, 0);
	ck_assert_int_eq(r1->nreply, 0);
	ck_err(r2, EPIPE);
	ck_assert_ptr_eq(lk.cancelled, w2);
	/* Its first part went: the rest is refused, the count reported. */
	chan_link_sent(r1->w, 4, 0);
	ck_count(r1, 4);
	ck_err(wr(w, 3, 10, 0), EPIPE);
	chan_close(w);
	ck_finish();
}
END_TEST

/* An interrupted write tells the link it is gone. */
START_TEST(test_link_cancel)
{
	struct chan_handle	*w;
	struct req		*r;
	struct waiter		*held;

	link_setup();
	w = chan_open(c, CHAN_WR);
	r = wr(w, 1, 10, 0);
	held = r->w;
	chan_cancel(held, EINTR);
	ck_assert_ptr_eq(lk.cancelled, held);
	ck_err(r, EINTR);
	chan_close(w);
	ck_mem_zero();
	ck_finish();
}
END_TEST

/* A link that goes leaves a local channel; its held writes go in. */
START_TEST(test_link_detach)
{
	struct chan_handle	*w, *rh;
	struct req		*r;

	link_setup();
	w = chan_open(c, CHAN_WR);
	rh = chan_open(c, CHAN_RD);
	r = wr(w, 5, 3000, 0);
	ck_assert_ptr_nonnull(r->w);
	chan_link_sent(r->w, 1000, 0);
	ck_assert_int_eq(r->nreply, 0);
	r->w->sending = &lk;
	chan_link_detach(c);
	ck_assert_ptr_null(c->link);
	ck_count(r, 3000);
	/* What the link had not sent is in the ring now. */
	ck_data_pat(rd(rh, 5000, 0), 5, 1000, 2000);
	chan_close(w);
	chan_close(rh);
	ck_mem_zero();
	ck_finish();
}
END_TEST
static Suite *
chan_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("chan");

	tc = tcase_create("reread");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reread_from_ring);
	tcase_add_test(tc, test_reread_after_handoff);
	tcase_add_test(tc, test_no_history_without_seek);
	tcase_add_test(tc, test_rdwr_write_keeps_unread);
	tcase_add_test(tc, test_history_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_available);
	tcase_add_test(tc, test_zero_and_badf);
	tcase_add_test(tc, test_read_blocks);
	tcase_add_test(tc, test_fifo_readers);
	suite_add_tcase(s, tc);

	tc = tcase_create("eof");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_no_reader);
	tcase_add_test(tc, test_eof_after_data);
	tcase_add_test(tc, test_eof_writer_came_and_went);
	tcase_add_test(tc, test_eof_never_saw_writer);
	tcase_add_test(tc, test_eof_last_writer);
	suite_add_tcase(s, tc);

	tc = tcase_create("epipe");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_epipe_after_reader);
	tcase_add_test(tc, test_no_epipe_before_reader);
	tcase_add_test(tc, test_close_last_reader);
	tcase_add_test(tc, test_close_reader_unseen);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_atomic_held_whole);
	tcase_add_test(tc, test_atomic_exact_fit);
	tcase_add_test(tc, test_atomic_no_interleave);
	tcase_add_test(tc, test_large_nonblock_partial);
	tcase_add_test(tc, test_large_blocking_completes);
	tcase_add_test(tc, test_adopt_handoff_history);
	tcase_add_test(tc, test_adopt_held_write_history);
	tcase_add_test(tc, test_adopt_budget);
	tcase_add_test(tc, test_large_write_feeds_held_read);
	tcase_add_test(tc, test_handoff_answers_writer_first);
	tcase_add_test(tc, test_rdwr);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_own_held);
	tcase_add_test(tc, test_cancel_read);
	tcase_add_test(tc, test_cancel_write);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_abort_partial);
	suite_add_tcase(s, tc);

	tc = tcase_create("poll");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_poll_in);
	tcase_add_test(tc, test_poll_hup);
	tcase_add_test(tc, test_poll_out);
	tcase_add_test(tc, test_poll_err);
	tcase_add_test(tc, test_poll_release);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lazy_alloc);
	tcase_add_test(tc, test_capacity_bound);
	tcase_add_test(tc, test_max_memory_small);
	tcase_add_test(tc, test_max_memory_shared);
	tcase_add_test(tc, test_held_copy_frees_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("messages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_msg_boundaries);
	tcase_add_test(tc, test_msg_write_too_big);
	tcase_add_test(tc, test_msg_read_too_small);
	tcase_add_test(tc, test_msg_held_read_too_small);
	tcase_add_test(tc, test_msg_whole_or_nothing);
	tcase_add_test(tc, test_msg_eof_epipe);
	tcase_add_test(tc, test_msg_poll);
	tcase_add_test(tc, test_msg_length_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("broadcast");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bcast_every_reader);
	tcase_add_test(tc, test_bcast_late_joiner);
	tcase_add_test(tc, test_bcast_backpressure);
	tcase_add_test(tc, test_bcast_eof_per_reader);
	tcase_add_test(tc, test_bcast_poll);
	tcase_add_test(tc, test_bcast_rdwr);
	tcase_add_test(tc, test_bcast_epipe);
	tcase_add_test(tc, test_bcast_eof_late_reader);
	tcase_add_test(tc, test_bcast_write_wakes_held_read);
	tcase_add_test(tc, test_msgbcast_each_reader);
	tcase_add_test(tc, test_msgbcast_backpressure);
	tcase_add_test(tc, test_msgbcast_write_wakes_held_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("mode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_set_mode_rules);
	tcase_add_test(tc, test_mode_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("link");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_link_write);
	tcase_add_test(tc, test_link_push);
	tcase_add_test(tc, test_link_eof);
	tcase_add_test(tc, test_link_epipe);
	tcase_add_test(tc, test_link_cancel);
	tcase_add_test(tc, test_link_detach);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_random_stream, 0, 12);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(chan_suite()));
}
