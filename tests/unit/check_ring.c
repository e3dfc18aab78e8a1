/*
 * Unit tests for ring.c: the byte ring under channels.  Every test checks
 * bytes as well as counts, and most of them put the stored bytes across the
 * end of the buffer, where the interesting code is.
 */

#include <sys/uio.h>

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

/* Fill p with n bytes of a pattern that starts at position off. */
static void
pattern(char *p, size_t off, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = (char)((off + i) * 7 + 3);
}

/* Check that p holds n bytes of the pattern from position off. */
static void
ck_pattern(const char *p, size_t off, size_t n)
{
	char	*want;

	want = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(want);
	pattern(want, off, n);
	ck_assert_mem_eq(p, want, n);
	free(want);
}

/*
 * Make a ring of size bytes holding len pattern bytes from position 0 whose
 * oldest byte is at offset head, so the contents wrap if head + len > size.
 */
static void
ring_setup(struct ring *r, size_t size, size_t head, size_t len)
{
	char	*tmp;
	size_t	 first;

	ck_assert_uint_ge(len, 1);
	ck_assert_uint_le(len, size);
	ck_assert_uint_lt(head, size);
	ring_init(r);
	ck_assert_int_eq(ring_resize(r, size), 0);
	tmp = calloc(1, size + len);
	ck_assert_ptr_nonnull(tmp);
	/*
	 * Push head bytes of filler and the part of the real bytes that fits
	 * after them, drop the filler (the ring is not empty, so head moves),
	 * then push the rest, which wraps.
	 */
	first = size - head < len ? size - head : len;
	pattern(tmp + head, 0, len);
	ck_assert_uint_eq(ring_push(r, tmp, head + first), head + first);
	ring_drop(r, head);
	ck_assert_uint_eq(r->head, head);
	ck_assert_uint_eq(ring_push(r, tmp + head + first, len - first),
	    len - first);
	ck_assert_uint_eq(r->len, len);
	free(tmp);
}

START_TEST(test_init_empty)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total = 99;
	char		 c = 'x';

	ring_init(&r);
	ck_assert_ptr_null(r.buf);
	ck_assert_uint_eq(r.size, 0);
	ck_assert_uint_eq(r.len, 0);
	/* No buffer yet: nothing fits, nothing comes out. */
	ck_assert_uint_eq(ring_push(&r, &c, 1), 0);
	ck_assert_int_eq(ring_peek(&r, 10, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	ck_assert_uint_eq(ring_pop(&r, &c, 1), 0);
	ring_drop(&r, 5);
	ck_assert_uint_eq(r.len, 0);
	ring_free(&r);
	ck_assert_ptr_null(r.buf);
}
END_TEST

START_TEST(test_push_pop_simple)
{
	struct ring	 r;
	char		 in[100], out[100];

	ring_init(&r);
	ck_assert_int_eq(ring_resize(&r, 64), 0);
	pattern(in, 0, sizeof in);
	ck_assert_uint_eq(ring_push(&r, in, 10), 10);
	ck_assert_uint_eq(ring_push(&r, in + 10, 20), 20);
	ck_assert_uint_eq(r.len, 30);
	/* Pop never gives more than asked, nor more than stored. */
	ck_assert_uint_eq(ring_pop(&r, out, 7), 7);
	ck_pattern(out, 0, 7);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 23);
	ck_pattern(out, 7, 23);
	ck_assert_uint_eq(r.len, 0);
	/* Emptying the ring resets head, so the next push does not wrap. */
	ck_assert_uint_eq(r.head, 0);
	ring_free(&r);
}
END_TEST

START_TEST(test_push_full_partial)
{
	struct ring	 r;
	char		 in[100], out[100];

	ring_init(&r);
	ck_assert_int_eq(ring_resize(&r, 50), 0);
	pattern(in, 0, sizeof in);
	ck_assert_uint_eq(ring_push(&r, in, 30), 30);
	/* Only 20 of 40 fit. */
	ck_assert_uint_eq(ring_push(&r, in + 30, 40), 20);
	ck_assert_uint_eq(r.len, 50);
	/* Full: nothing more goes in. */
	ck_assert_uint_eq(ring_push(&r, in + 50, 1), 0);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 50);
	ck_pattern(out, 0, 50);
	ring_free(&r);
}
END_TEST

START_TEST(test_push_full_wrapped)
{
	struct ring	 r;
	char		 in[64], out[64];

	/* 10 bytes stored from offset 40 of 50; 40 more fit, wrapping. */
	ring_setup(&r, 50, 40, 10);
	pattern(in, 10, sizeof in);
	ck_assert_uint_eq(ring_push(&r, in, sizeof in), 40);
	ck_assert_uint_eq(r.len, 50);
	ck_assert_uint_eq(r.head, 40);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 50);
	ck_pattern(out, 0, 50);
	ring_free(&r);
}
END_TEST

START_TEST(test_wrap_roundtrip)
{
	struct ring	 r;
	char		 in[37], out[37];
	size_t		 wpos = 0, rpos = 0, n, i;

	/*
	 * Stream 5000 bytes through a 64-byte ring in odd-sized pieces so the
	 * head and tail pass the end of the buffer many times.
	 */
	ring_init(&r);
	ck_assert_int_eq(ring_resize(&r, 64), 0);
	for (i = 0; rpos < 5000; i++) {
		n = 1 + (i * 13) % sizeof in;
		if (wpos + n > 5000)
			n = 5000 - wpos;
		pattern(in, wpos, n);
		wpos += ring_push(&r, in, n);
		ck_assert_uint_le(r.len, 64);
		n = 1 + (i * 11) % sizeof out;
		n = ring_pop(&r, out, n);
		ck_pattern(out, rpos, n);
		rpos += n;
		ck_assert_uint_eq(wpos - rpos, r.len);
	}
	ck_assert_uint_eq(wpos, 5000);
	ring_free(&r);
}
END_TEST

START_TEST(test_peek_one_piece)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;

	ring_setup(&r, 64, 10, 20);
	memset(iov, 0, sizeof iov);
	ck_assert_int_eq(ring_peek(&r, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 20);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 10);
	ck_assert_uint_eq(iov[0].iov_len, 20);
	ck_pattern(iov[0].iov_base, 0, 20);

	/* Asking for less gives less; peek does not consume. */
	ck_assert_int_eq(ring_peek(&r, 5, iov, &total), 1);
	ck_assert_uint_eq(total, 5);
	ck_assert_uint_eq(iov[0].iov_len, 5);
	ck_assert_uint_eq(r.len, 20);
	ck_assert_int_eq(ring_peek(&r, 0, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	ring_free(&r);
}
END_TEST

START_TEST(test_peek_full_unwrapped)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;

	/* Full from offset 0: exactly one piece, the whole buffer. */
	ring_setup(&r, 32, 0, 32);
	ck_assert_int_eq(ring_peek(&r, 32, iov, &total), 1);
	ck_assert_uint_eq(total, 32);
	ck_assert_uint_eq(iov[0].iov_len, 32);
	ck_pattern(iov[0].iov_base, 0, 32);
	ring_free(&r);
}
END_TEST

START_TEST(test_peek_two_pieces)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;

	/* 20 bytes from offset 50 of 64: 14 at the end, 6 at the start. */
	ring_setup(&r, 64, 50, 20);
	ck_assert_int_eq(ring_peek(&r, 100, iov, &total), 2);
	ck_assert_uint_eq(total, 20);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 50);
	ck_assert_uint_eq(iov[0].iov_len, 14);
	ck_assert_ptr_eq(iov[1].iov_base, r.buf);
	ck_assert_uint_eq(iov[1].iov_len, 6);
	ck_pattern(iov[0].iov_base, 0, 14);
	ck_pattern(iov[1].iov_base, 14, 6);

	/* Exactly up to the end of the buffer is still one piece. */
	ck_assert_int_eq(ring_peek(&r, 14, iov, &total), 1);
	ck_assert_uint_eq(total, 14);
	ck_assert_uint_eq(iov[0].iov_len, 14);

	/* One byte past it is two. */
	ck_assert_int_eq(ring_peek(&r, 15, iov, &total), 2);
	ck_assert_uint_eq(total, 15);
	ck_assert_uint_eq(iov[0].iov_len, 14);
	ck_assert_uint_eq(iov[1].iov_len, 1);
	ring_free(&r);
}
END_TEST

START_TEST(test_drop_across_wrap)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;
	char		 out[64];

	ring_setup(&r, 64, 50, 20);
	/* Dropping past the end of the buffer moves head to the start. */
	ring_drop(&r, 16);
	ck_assert_uint_eq(r.len, 4);
	ck_assert_uint_eq(r.head, 2);
	ck_assert_int_eq(ring_peek(&r, 64, iov, &total), 1);
	ck_assert_uint_eq(total, 4);
	ck_pattern(iov[0].iov_base, 16, 4);

	/* Dropping exactly to the end of the buffer wraps head to 0. */
	ring_free(&r);
	ring_setup(&r, 64, 50, 20);
	ring_drop(&r, 14);
	ck_assert_uint_eq(r.head, 0);
	ck_assert_uint_eq(r.len, 6);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 6);
	ck_pattern(out, 14, 6);

	/* Dropping more than stored empties the ring. */
	ring_free(&r);
	ring_setup(&r, 64, 50, 20);
	ring_drop(&r, 1000);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_uint_eq(r.head, 0);
	ring_free(&r);
}
END_TEST

START_TEST(test_pop_across_wrap)
{
	struct ring	 r;
	char		 out[64];

	ring_setup(&r, 64, 60, 30);
	ck_assert_uint_eq(ring_pop(&r, out, 10), 10);
	ck_pattern(out, 0, 10);
	ck_assert_uint_eq(r.head, 6);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 20);
	ck_pattern(out, 10, 20);
	ring_free(&r);
}
END_TEST

START_TEST(test_resize_grow_wrapped)
{
	struct ring	 r;
	char		 in[100], out[200];

	/* Grow a ring whose contents wrap: order is kept, head goes to 0. */
	ring_setup(&r, 64, 50, 40);
	ck_assert_int_eq(ring_resize(&r, 128), 0);
	ck_assert_uint_eq(r.size, 128);
	ck_assert_uint_eq(r.len, 40);
	ck_assert_uint_eq(r.head, 0);
	/* The new room is usable and follows the old bytes. */
	pattern(in, 40, sizeof in);
	ck_assert_uint_eq(ring_push(&r, in, sizeof in), 88);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 128);
	ck_pattern(out, 0, 128);
	ring_free(&r);
}
END_TEST

START_TEST(test_resize_full_wrapped)
{
	struct ring	 r;
	char		 out[64];

	/* A full ring, wrapped, grown by one byte. */
	ring_setup(&r, 32, 31, 32);
	ck_assert_int_eq(ring_resize(&r, 33), 0);
	ck_assert_uint_eq(r.len, 32);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 32);
	ck_pattern(out, 0, 32);
	ring_free(&r);
}
END_TEST

START_TEST(test_resize_shrink)
{
	struct ring	 r;
	char		 out[64];

	ring_setup(&r, 64, 50, 20);
	/* Below what is stored: refused, nothing changes. */
	ck_assert_int_eq(ring_resize(&r, 19), -1);
	ck_assert_uint_eq(r.size, 64);
	ck_assert_uint_eq(r.len, 20);
	ck_assert_uint_eq(r.head, 50);
	/* Exactly what is stored: allowed, contents straightened. */
	ck_assert_int_eq(ring_resize(&r, 20), 0);
	ck_assert_uint_eq(r.size, 20);
	ck_assert_uint_eq(r.head, 0);
	ck_assert_uint_eq(ring_push(&r, "x", 1), 0);
	ck_assert_uint_eq(ring_pop(&r, out, sizeof out), 20);
	ck_pattern(out, 0, 20);
	/* Resize 0 on a non-empty ring is refused too. */
	ck_assert_uint_eq(ring_push(&r, "ab", 2), 2);
	ck_assert_int_eq(ring_resize(&r, 0), -1);
	ck_assert_ptr_nonnull(r.buf);
	ring_free(&r);
}
END_TEST

START_TEST(test_resize_zero_frees)
{
	struct ring	 r;

	ring_init(&r);
	ck_assert_int_eq(ring_resize(&r, 0), 0);
	ck_assert_ptr_null(r.buf);
	ck_assert_int_eq(ring_resize(&r, 100), 0);
	ck_assert_ptr_nonnull(r.buf);
	ck_assert_uint_eq(ring_push(&r, "abc", 3), 3);
	ck_assert_uint_eq(ring_pop(&r, (char [3]){ 0 }, 3), 3);
	/* Empty again: resize 0 frees the buffer (ASan sees a leak if not). */
	ck_assert_int_eq(ring_resize(&r, 0), 0);
	ck_assert_ptr_null(r.buf);
	ck_assert_uint_eq(r.size, 0);
	ck_assert_uint_eq(r.len, 0);
	ck_assert_uint_eq(r.head, 0);
	ck_assert_uint_eq(ring_push(&r, "x", 1), 0);
}
END_TEST

START_TEST(test_resize_same)
{
	struct ring	 r;
	char		*buf;

	ring_setup(&r, 64, 50, 20);
	buf = r.buf;
	ck_assert_int_eq(ring_resize(&r, 64), 0);
	ck_assert_ptr_eq(r.buf, buf);
	ck_assert_uint_eq(r.head, 50);
	ring_free(&r);
}
END_TEST

/* ring_peek_at: a skip inside one piece, and n past the end clamped. */
START_TEST(test_peek_at_inside)
{
	struct ring	 r;
	struct iovec	 iov[2], iov2[2];
	size_t		 total, total2;

	/* 30 bytes from offset 10 of 64: one piece. */
	ring_setup(&r, 64, 10, 30);
	ck_assert_int_eq(ring_peek_at(&r, 5, 10, iov, &total), 1);
	ck_assert_uint_eq(total, 10);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 15);
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_pattern(iov[0].iov_base, 5, 10);
	/* Asking past the end gives what there is after the skip. */
	ck_assert_int_eq(ring_peek_at(&r, 20, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 10);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 30);
	ck_pattern(iov[0].iov_base, 20, 10);
	/* Nothing asked, nothing given. */
	total = 99;
	ck_assert_int_eq(ring_peek_at(&r, 5, 0, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	/* A skip of 0 is ring_peek. */
	ck_assert_int_eq(ring_peek_at(&r, 0, 100, iov, &total), 1);
	ck_assert_int_eq(ring_peek(&r, 100, iov2, &total2), 1);
	ck_assert_uint_eq(total, total2);
	ck_assert_ptr_eq(iov[0].iov_base, iov2[0].iov_base);
	ck_assert_uint_eq(iov[0].iov_len, iov2[0].iov_len);
	/* Peeking consumes nothing. */
	ck_assert_uint_eq(r.len, 30);
	ck_assert_uint_eq(r.head, 10);
	ring_free(&r);
}
END_TEST

/* ring_peek_at across the end of the buffer. */
START_TEST(test_peek_at_wrap)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;

	/* 20 bytes from offset 50 of 64: 14 at the end, 6 at the start. */
	ring_setup(&r, 64, 50, 20);
	/* From inside the first piece across the wrap: two pieces. */
	ck_assert_int_eq(ring_peek_at(&r, 4, 100, iov, &total), 2);
	ck_assert_uint_eq(total, 16);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 54);
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_assert_ptr_eq(iov[1].iov_base, r.buf);
	ck_assert_uint_eq(iov[1].iov_len, 6);
	ck_pattern(iov[0].iov_base, 4, 10);
	ck_pattern(iov[1].iov_base, 14, 6);
	/* Up to the end of the buffer exactly: one piece; one more: two. */
	ck_assert_int_eq(ring_peek_at(&r, 4, 10, iov, &total), 1);
	ck_assert_uint_eq(total, 10);
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_assert_int_eq(ring_peek_at(&r, 4, 11, iov, &total), 2);
	ck_assert_uint_eq(total, 11);
	ck_assert_uint_eq(iov[0].iov_len, 10);
	ck_assert_uint_eq(iov[1].iov_len, 1);
	ck_pattern(iov[1].iov_base, 14, 1);
	/* A skip that ends at the end of the buffer: one piece at 0. */
	ck_assert_int_eq(ring_peek_at(&r, 14, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 6);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf);
	ck_pattern(iov[0].iov_base, 14, 6);
	/* A skip past the wrap. */
	ck_assert_int_eq(ring_peek_at(&r, 16, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 4);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 2);
	ck_pattern(iov[0].iov_base, 16, 4);
	ck_assert_int_eq(ring_peek_at(&r, 19, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 1);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 5);
	ck_pattern(iov[0].iov_base, 19, 1);
	ring_free(&r);

	/* Full and wrapped: 32 bytes from offset 20 of 32. */
	ring_setup(&r, 32, 20, 32);
	ck_assert_int_eq(ring_peek_at(&r, 11, 100, iov, &total), 2);
	ck_assert_uint_eq(total, 21);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf + 31);
	ck_assert_uint_eq(iov[0].iov_len, 1);
	ck_assert_ptr_eq(iov[1].iov_base, r.buf);
	ck_assert_uint_eq(iov[1].iov_len, 20);
	ck_pattern(iov[0].iov_base, 11, 1);
	ck_pattern(iov[1].iov_base, 12, 20);
	ck_assert_int_eq(ring_peek_at(&r, 12, 100, iov, &total), 1);
	ck_assert_uint_eq(total, 20);
	ck_assert_ptr_eq(iov[0].iov_base, r.buf);
	ck_pattern(iov[0].iov_base, 12, 20);
	ring_free(&r);
}
END_TEST

/* ring_peek_at with a skip at or beyond what is stored gives nothing. */
START_TEST(test_peek_at_beyond)
{
	struct ring	 r;
	struct iovec	 iov[2];
	size_t		 total;

	ring_setup(&r, 64, 50, 20);
	total = 99;
	ck_assert_int_eq(ring_peek_at(&r, 20, 5, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	total = 99;
	ck_assert_int_eq(ring_peek_at(&r, 21, 5, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	total = 99;
	ck_assert_int_eq(ring_peek_at(&r, SIZE_MAX, SIZE_MAX, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	/* A huge n from inside is clamped, without overflow. */
	ck_assert_int_eq(ring_peek_at(&r, 19, SIZE_MAX, iov, &total), 1);
	ck_assert_uint_eq(total, 1);
	ck_pattern(iov[0].iov_base, 19, 1);
	ck_assert_uint_eq(r.len, 20);
	ring_free(&r);

	/* An empty ring, with or without a buffer. */
	ring_init(&r);
	total = 99;
	ck_assert_int_eq(ring_peek_at(&r, 0, 10, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	ck_assert_int_eq(ring_peek_at(&r, 5, 10, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	ck_assert_int_eq(ring_resize(&r, 16), 0);
	ck_assert_int_eq(ring_peek_at(&r, 3, 10, iov, &total), 0);
	ck_assert_uint_eq(total, 0);
	ring_free(&r);
}
END_TEST

/* The suite of ring.c tests. */
static Suite *
ring_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("ring");
	tc = tcase_create("ring");
	tcase_add_test(tc, test_init_empty);
	tcase_add_test(tc, test_push_pop_simple);
	tcase_add_test(tc, test_push_full_partial);
	tcase_add_test(tc, test_push_full_wrapped);
	tcase_add_test(tc, test_wrap_roundtrip);
	tcase_add_test(tc, test_peek_one_piece);
	tcase_add_test(tc, test_peek_full_unwrapped);
	tcase_add_test(tc, test_peek_two_pieces);
	tcase_add_test(tc, test_peek_at_inside);
	tcase_add_test(tc, test_peek_at_wrap);
	tcase_add_test(tc, test_peek_at_beyond);
	tcase_add_test(tc, test_drop_across_wrap);
	tcase_add_test(tc, test_pop_across_wrap);
	tcase_add_test(tc, test_resize_grow_wrapped);
	tcase_add_test(tc, test_resize_full_wrapped);
	tcase_add_test(tc, test_resize_shrink);
	tcase_add_test(tc, test_resize_zero_frees);
	tcase_add_test(tc, test_resize_same);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(ring_suite()));
}
