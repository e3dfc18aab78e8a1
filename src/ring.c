/*
 * A bounded byte ring with no knowledge of FUSE.  It owns its buffer, which
 * stays unallocated until the first push asks for room; ring_resize grows or
 * shrinks it and straightens the stored bytes as it goes.
 */

#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

/* Start empty with no buffer. */
void
ring_init(struct ring *r)
{
	memset(r, 0, sizeof *r);
}

/* Release the buffer; the ring is empty afterwards. */
void
ring_free(struct ring *r)
{
	free(r->buf);
	ring_init(r);
}

/*
 * Change the allocation to size bytes, keeping the contents.  Fails with -1
 * if size is smaller than what is stored, or with -1 and errno ENOMEM if
 * the memory cannot be had: the caller, acting for a client, gives that
 * client an error.  A size of 0 frees the buffer.
 */
int
ring_resize(struct ring *r, size_t size)
{
	char	*nbuf;
	size_t	 first;

	if (size < r->len)
		return (-1);
	if (size == r->size)
		return (0);
	if (size == 0) {
		ring_free(r);
		return (0);
	}
	if ((nbuf = malloc(size)) == NULL)
		return (-1);
	first = r->size - r->head;
	if (first > r->len)
		first = r->len;
	if (r->len > 0) {
		memcpy(nbuf, r->buf + r->head, first);
		memcpy(nbuf + first, r->buf, r->len - first);
	}
	free(r->buf);
	r->buf = nbuf;
	r->size = size;
	r->head = 0;
	return (0);
}

/* Append up to n bytes, as many as fit; return how many went in. */
size_t
ring_push(struct ring *r, const void *p, size_t n)
{
	size_t	 tail, first;

	if (n > r->size - r->len)
		n = r->size - r->len;
	if (n == 0)
		return (0);
	tail = r->head + r->len;
	if (tail >= r->size)
		tail -= r->size;
	first = r->size - tail;
	if (first > n)
		first = n;
	memcpy(r->buf + tail, p, first);
	memcpy(r->buf, (const char *)p + first, n - first);
	r->len += n;
	return (n);
}

/*
 * Describe the oldest min(n, len) bytes as at most two pieces.  Returns the
 * number of pieces and sets *total to the bytes they cover.
 */
int
ring_peek(const struct ring *r, size_t n, struct iovec iov[2], size_t *total)
{
	return (ring_peek_at(r, 0, n, iov, total));
}

/*
 * Describe at most n bytes from the skip'th oldest on, as at most two
 * pieces.  Returns the number of pieces and sets *total to the bytes they
 * cover.
 */
int
ring_peek_at(const struct ring *r, size_t skip, size_t n, struct iovec iov[2],
    size_t *total)
{
	size_t	 start, first;

	if (skip > r->len)
		skip = r->len;
	if (n > r->len - skip)
		n = r->len - skip;
	*total = n;
	if (n == 0)
		return (0);
	start = r->head + skip;
	if (start >= r->size)
		start -= r->size;
	first = r->size - start;
	iov[0].iov_base = r->buf + start;
	if (first >= n) {
		iov[0].iov_len = n;
		return (1);
	}
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = n - first;
	return (2);
}

/* Discard the oldest n bytes (at most len). */
void
ring_drop(struct ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
	else {
		r->head += n;
		if (r->head >= r->size)
			r->head -= r->size;
	}
}

/* Copy out and discard up to n bytes; return how many. */
size_t
ring_pop(struct ring *r, void *p, size_t n)
{
	struct iovec	 iov[2];
	size_t		 total;
	int		 i, cnt;
	char		*q = p;

	cnt = ring_peek(r, n, iov, &total);
	for (i = 0; i < cnt; i++) {
		memcpy(q, iov[i].iov_base, iov[i].iov_len);
		q += iov[i].iov_len;
	}
	ring_drop(r, total);
	return (total);
}
