/*
 * The read history of one open: the last bytes the stream gave it, and the
 * file offset just past them.
 *
 * A channel in a region mode is a seekable regular file, and programs rely
 * on that: bash's read builtin reads a block and seeks back to the end of
 * the line, less reads 256 bytes and seeks back to 0, Python's buffered
 * files seek back over their read-ahead before they write.  The kernel
 * hands the daemon each read's offset, so a read that lands inside what
 * this open was already given is answered from here, as a regular file
 * would answer it, and only a read at the end takes new bytes from the
 * stream.  No FUSE here.
 */

#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

/* An empty history at offset 0, with no buffer. */
void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
	ring_init(&h->ring);
}

/* The bytes of memory the history holds. */
size_t
hist_size(const struct hist *h)
{
	return (h->ring.size + h->ref_size);
}

/* Let go of a buffer taken over, and its bytes. */
static void
hist_unref_free(struct hist *h)
{
	free(h->ref_mem);
	h->ref_mem = NULL;
	h->ref = NULL;
	h->ref_len = 0;
	h->ref_size = 0;
}

/* Free the buffers; returns the bytes they held allocated. */
size_t
hist_free(struct hist *h)
{
	size_t	 size = hist_size(h);

	ring_free(&h->ring);
	hist_unref_free(h);
	h->end = 0;
	return (size);
}

/* The offset of the oldest byte kept. */
static uint64_t
hist_start(const struct hist *h)
{
	return (h->end - h->ring.len - h->ref_len);
}

/*
 * If a read of size bytes at off lands inside the history, describe the
 * bytes it gets again (at most up to the end of the history) in iov and
 * return the number of pieces, with their length in *total.  Returns 0 for
 * a read that must take new bytes from the stream.
 */
int
hist_find(const struct hist *h, uint64_t off, size_t size,
    struct iovec iov[2], size_t *total)
{
	struct ring	 view;
	size_t		 skip, first;

	int		 cnt;

	*total = 0;
	if (h->ring.len + h->ref_len == 0 || off < hist_start(h) ||
	    off >= h->end || size == 0)
		return (0);
	skip = (size_t)(off - hist_start(h));
	if (skip >= h->ring.len) {
		/* In the buffer taken over. */
		skip -= h->ring.len;
		iov[0].iov_base = (void *)(h->ref + skip);
		iov[0].iov_len = h->ref_len - skip < size ?
		    h->ref_len - skip : size;
		*total = iov[0].iov_len;
		return (1);
	}
	/* A view of the ring without its oldest skip bytes. */
	view = h->ring;
	first = view.head + skip;
	view.head = first >= view.size ? first - view.size : first;
	view.len -= skip;
	cnt = ring_peek(&view, size, iov, total);
	/* Then the buffer's bytes, if a piece is left for them. */
	if (cnt == 1 && *total < size && h->ref_len > 0) {
		iov[1].iov_base = (void *)h->ref;
		iov[1].iov_len = h->ref_len < size - *total ? h->ref_len :
		    size - *total;
		*total += iov[1].iov_len;
		cnt = 2;
	}
	return (cnt);
}

/* Drop the oldest n bytes kept. */
static void
hist_trim(struct hist *h, size_t n)
{
	ring_drop(&h->ring, n);
}

/*
 * Make room for want bytes, within limit bytes of buffer in all: grow by
 * doubling from HIST_MIN; shrink a buffer more than twice too big only
 * after HIST_SHRINK calls in a row found it so, as reads of a stream
 * often alternate between large and small and a buffer freed and
 * allocated again costs page faults.  What cannot be kept is dropped,
 * oldest first.
 */
static void
hist_room(struct hist *h, size_t want, size_t limit)
{
	size_t	 size;

	if (want > limit)
		want = limit;
	size = h->ring.size;
	if (size > 2 * want && size > HIST_MIN && size <= limit &&
	    ++h->shrink < HIST_SHRINK)
		return;
	h->shrink = 0;
	if (size < want) {
		if (size < HIST_MIN)
			size = HIST_MIN;
		while (size < want)
			size = size > limit / 2 ? limit : size * 2;
		if (size > limit)
			size = limit;
	} else if (size > 2 * want && size > HIST_MIN) {
		size = want < HIST_MIN ? HIST_MIN : want;
		if (size > limit)
			size = limit;
	} else if (size > limit)
		size = limit;
	if (size == h->ring.size)
		return;
	if (h->ring.len > size)
		hist_trim(h, h->ring.len - size);
	if (size == 0)
		ring_free(&h->ring);
	else
		ring_resize(&h->ring, size);
}

/*
 * Append n bytes in cnt pieces at the end, dropping the oldest bytes kept
 * to make room, and the first of these if even they do not all fit.
 */
static void
hist_push(struct hist *h, const struct iovec *iov, int cnt, size_t n)
{
	size_t	 skip, len;
	int	 i;

	skip = n > h->ring.size ? n - h->ring.size : 0;
	if (h->ring.len + n - skip > h->ring.size)
		hist_trim(h, h->ring.len + n - skip - h->ring.size);
	for (i = 0; i < cnt; i++) {
		len = iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		ring_push(&h->ring, (const char *)iov[i].iov_base + skip,
		    len - skip);
		skip = 0;
	}
	h->end += n;
}

/* Forget what is kept and start again at off. */
static void
hist_restart(struct hist *h, uint64_t off)
{
	ring_drop(&h->ring, h->ring.len);
	hist_unref_free(h);
	h->end = off;
}

/*
 * Copy the bytes of a buffer taken over into the ring, as far as limit
 * allows (the oldest go first), and let the buffer go.
 */
static void
hist_unref(struct hist *h, size_t limit)
{
	struct iovec	 iov;
	size_t		 size;

	if (h->ref_mem == NULL)
		return;
	iov.iov_base = (void *)h->ref;
	iov.iov_len = h->ref_len;
	size = h->ref_size;
	h->ref_size = 0;		/* the ring may have it */
	limit = limit > size ? limit - size : 0;
	h->end -= h->ref_len;
	hist_room(h, h->ring.len + h->ref_len, limit);
	hist_push(h, &iov, 1, iov.iov_len);
	h->ref_size = size;
	hist_unref_free(h);
}

/*
 * Keep nothing from now on to end: what the open was given before cannot
 * be read again (its memory could not be had).
 */
void
hist_forget(struct hist *h, uint64_t end)
{
	hist_restart(h, end);
}

/* How much to keep with n new bytes: HIST_KEEP, or all of them. */
static size_t
hist_want(const struct hist *h, size_t n)
{
	size_t	 want = n > HIST_KEEP ? n : HIST_KEEP;

	return (h->ring.len + n < want ? h->ring.len + n : want);
}

/*
 * Record that n bytes, in cnt pieces, were given to the open at off.  The
 * history keeps at least the last HIST_KEEP bytes and the whole of this
 * read, within limit bytes of buffer; a read away from the end starts it
 * anew.
 */
void
hist_given(struct hist *h, uint64_t off, const struct iovec *iov, int cnt,
    size_t n, size_t limit)
{
	if (n == 0)
		return;
	if (off != h->end)
		hist_restart(h, off);
	hist_unref(h, limit);
	hist_room(h, hist_want(h, n), limit);
	hist_push(h, iov, cnt, n);
}

/*
 * As hist_given, for a read of at least HIST_KEEP bytes whose last piece
 * lies in mem, a buffer of size bytes given to the history (it frees it):
 * the history is then this read alone, its last piece kept where it is,
 * the others copied.
 */
void
hist_given_ref(struct hist *h, uint64_t off, const struct iovec *iov,
    int cnt, size_t n, void *mem, size_t size, size_t limit)
{
	size_t	 last = iov[cnt - 1].iov_len;

	hist_restart(h, off);
	if (n - last > 0) {
		limit = limit > size ? limit - size : 0;
		hist_room(h, n - last, limit);
		hist_push(h, iov, cnt - 1, n - last);
	} else if (h->ring.size > 0)
		ring_free(&h->ring);
	h->ref_mem = mem;
	h->ref = iov[cnt - 1].iov_base;
	h->ref_len = last;
	h->ref_size = size;
	h->end = off + n;
}

/*
 * Record that n bytes, in cnt pieces, were written through the open at
 * off; the kernel moves the file position past them.  As in a regular
 * file, a re-read there gets them.  Bytes the open was given past off but
 * had not used (it sought back over them to write, as stdio and Python's
 * buffered files do) come after them, so the next read gets them still.
 * An open that keeps nothing, one that has only written, keeps nothing
 * of its writes either.
 */
void
hist_wrote(struct hist *h, uint64_t off, const struct iovec *iov, int cnt,
    size_t n, size_t limit)
{
	struct iovec	 unread[2], u;
	size_t		 ulen = 0, i, j;
	char		*copy = NULL;
	int		 ucnt;

	if (n == 0)
		return;
	hist_unref(h, limit);
	/* An open that keeps nothing read (a writer) keeps no writes. */
	if (h->ring.len == 0) {
		h->end = off + n;
		return;
	}
	if (off < hist_start(h) || off > h->end)
		hist_restart(h, off);
	else if (off < h->end) {
		/* Take the unread bytes off the end, to put back after. */
		ucnt = hist_find(h, off, (size_t)(h->end - off), unread, &ulen);
		if ((copy = malloc(ulen)) == NULL) {
			hist_forget(h, off + n);
			return;
		}
		for (i = j = 0; i < (size_t)ucnt; i++) {
			memcpy(copy + j, unread[i].iov_base, unread[i].iov_len);
			j += unread[i].iov_len;
		}
		h->ring.len -= ulen;
		if (h->ring.len == 0)
			h->ring.head = 0;
		h->end = off;
	}
	hist_room(h, hist_want(h, n + ulen), limit);
	hist_push(h, iov, cnt, n);
	if (ulen > 0) {
		u.iov_base = copy;
		u.iov_len = ulen;
		hist_push(h, &u, 1, ulen);
		free(copy);
	}
}
