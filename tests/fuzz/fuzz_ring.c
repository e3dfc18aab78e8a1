/*
 * Fuzz ring.c: random sequences of push, peek, drop, pop and resize on one
 * ring, compared byte for byte with a plain array that holds the same
 * contents oldest first.
 */

#include <sys/uio.h>

#include <string.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MAX_SIZE	9000
#define MAX_OPS		2000

/* The reference: the stored bytes, oldest at ref[0]. */
struct ref {
	uint8_t		 buf[MAX_SIZE];
	size_t		 len;
	uint64_t	 next;		/* index of the next byte pushed */
	uint64_t	 first;		/* index of ref[0] */
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Check the ring's fields and that it holds what the reference holds. */
static FZ_NOCOV void
check_ring(const struct ring *r, const struct ref *m)
{
	struct iovec	 iov[2];
	size_t		 total;
	int		 cnt;

	FZ_CHECK(r->len == m->len);
	FZ_CHECK(r->len <= r->size);
	FZ_CHECK(r->size == 0 || r->head < r->size);
	FZ_CHECK((r->size == 0) == (r->buf == NULL));
	cnt = ring_peek(r, SIZE_MAX, iov, &total);
	FZ_CHECK(total == m->len);
	FZ_CHECK(cnt >= 0 && cnt <= 2);
	FZ_CHECK((cnt == 0) == (total == 0));
	if (cnt >= 1)
		FZ_CHECK(memcmp(iov[0].iov_base, m->buf, iov[0].iov_len) == 0);
	if (cnt == 2)
		FZ_CHECK(memcmp(iov[1].iov_base, m->buf + iov[0].iov_len,
		    iov[1].iov_len) == 0);
}

/* Check pieces from ring_peek against the oldest total reference bytes. */
static FZ_NOCOV void
check_peek(const struct ring *r, const struct ref *m, size_t n)
{
	struct iovec	 iov[2];
	size_t		 total, off = 0, want;
	int		 cnt, i;
	char		*lo, *hi, *p;

	want = n < m->len ? n : m->len;
	cnt = ring_peek(r, n, iov, &total);
	FZ_CHECK(total == want);
	FZ_CHECK(cnt >= 0 && cnt <= 2);
	FZ_CHECK((cnt == 0) == (want == 0));
	lo = r->buf;
	hi = cnt > 0 ? r->buf + r->size : NULL;
	for (i = 0; i < cnt; i++) {
		p = iov[i].iov_base;
		FZ_CHECK(iov[i].iov_len > 0);
		FZ_CHECK(p >= lo && p + iov[i].iov_len <= hi);
		FZ_CHECK(memcmp(p, m->buf + off, iov[i].iov_len) == 0);
		off += iov[i].iov_len;
	}
	FZ_CHECK(off == total);
	/* The first piece starts at the oldest byte. */
	if (cnt > 0)
		FZ_CHECK(iov[0].iov_base == r->buf + r->head);
}

static FZ_NOCOV void
ref_drop(struct ref *m, size_t n)
{
	if (n > m->len)
		n = m->len;
	memmove(m->buf, m->buf + n, m->len - n);
	m->len -= n;
	m->first += n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref	 m;
	static uint8_t		 tmp[MAX_SIZE + 1];
	struct fz		 f = { data, size };
	struct ring		 r;
	size_t			 n, want, got, nops = 0, rsize;
	int			 rc;

	memset(&m, 0, sizeof m);
	ring_init(&r);
	while (fz_more(&f) && nops++ < MAX_OPS) {
		switch (fz_u8(&f) % 6) {
		case 0:		/* resize */
			rsize = fz_upto(&f, MAX_SIZE);
			if (fz_u8(&f) & 1)
				rsize = m.len + rsize % 64;
			if (rsize > MAX_SIZE)
				rsize = MAX_SIZE;
			rc = ring_resize(&r, rsize);
			if (rsize < m.len)
				FZ_CHECK(rc == -1);
			else {
				FZ_CHECK(rc == 0);
				FZ_CHECK(r.size == rsize);
			}
			break;
		case 1:		/* push */
		case 2:
			n = fz_upto(&f, MAX_SIZE);
			fz_fill(tmp, 1, m.next, n);
			want = r.size - r.len < n ? r.size - r.len : n;
			got = ring_push(&r, tmp, n);
			FZ_CHECK(got == want);
			FZ_CHECK(m.len + got <= MAX_SIZE);
			memcpy(m.buf + m.len, tmp, got);
			m.len += got;
			m.next += got;
			break;
		case 3:		/* peek */
			check_peek(&r, &m, fz_upto(&f, MAX_SIZE));
			break;
		case 4:		/* drop */
			n = fz_upto(&f, MAX_SIZE);
			ring_drop(&r, n);
			ref_drop(&m, n);
			break;
		case 5:		/* pop */
			n = fz_upto(&f, MAX_SIZE);
			want = n < m.len ? n : m.len;
			memset(tmp, 0xa5, sizeof tmp);
			got = ring_pop(&r, tmp, n);
			FZ_CHECK(got == want);
			FZ_CHECK(memcmp(tmp, m.buf, got) == 0);
			/* Nothing written past what was popped. */
			FZ_CHECK(tmp[got] == 0xa5);
			FZ_CHECK(fz_match(tmp, 1, m.first, got));
			ref_drop(&m, got);
			break;
		}
		check_ring(&r, &m);
	}
	ring_free(&r);
	FZ_CHECK(r.buf == NULL && r.size == 0 && r.len == 0);
	return (0);
}
