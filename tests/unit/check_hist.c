/*
 * Unit tests for hist.c: the read history that makes a re-read of a
 * channel return the same bytes again.  Each test feeds reads and writes
 * at the offsets the kernel would send for a real program (bash's read
 * builtin, less, Python's buffered files) and checks the bytes a re-read
 * gets back, not only the counts.
 */

#include <sys/uio.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

#define NOLIMIT		((size_t)1 << 30)

/* Byte i of the stream. */
static char
sbyte(uint64_t i)
{
	return ((char)(i * 13 + 5));
}

/* Give the open n stream bytes, numbered from first, at offset off. */
static void
give(struct hist *h, uint64_t off, uint64_t first, size_t n, size_t limit)
{
	struct iovec	 iov[2];
	char		*buf;
	size_t		 i, half = n / 3;

	buf = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < n; i++)
		buf[i] = sbyte(first + i);
	/* Two pieces, as a reply from the ring and a held write has. */
	iov[0].iov_base = buf;
	iov[0].iov_len = half;
	iov[1].iov_base = buf + half;
	iov[1].iov_len = n - half;
	hist_given(h, off, iov, 2, n, limit);
	free(buf);
}

/* Give the string s at off. */
static void
gives(struct hist *h, uint64_t off, const char *s)
{
	struct iovec	 iov;

	iov.iov_base = (void *)s;
	iov.iov_len = strlen(s);
	hist_given(h, off, &iov, 1, iov.iov_len, NOLIMIT);
}

/* Record a write of the string s through the open at off. */
static void
wrote(struct hist *h, uint64_t off, const char *s)
{
	struct iovec	 iov;

	iov.iov_base = (void *)s;
	iov.iov_len = strlen(s);
	hist_wrote(h, off, &iov, 1, iov.iov_len, NOLIMIT);
}

/* A re-read of size at off: the bytes it gets, NUL-terminated. */
static char *
reread(const struct hist *h, uint64_t off, size_t size, size_t *len)
{
	struct iovec	 iov[2];
	size_t		 total;
	char		*buf;
	int		 cnt, i;

	cnt = hist_find(h, off, size, iov, &total);
	buf = malloc(total + 1);
	ck_assert_ptr_nonnull(buf);
	*len = 0;
	for (i = 0; i < cnt; i++) {
		memcpy(buf + *len, iov[i].iov_base, iov[i].iov_len);
		*len += iov[i].iov_len;
	}
	ck_assert_uint_eq(*len, total);
	ck_assert_int_eq(cnt == 0, total == 0);
	buf[*len] = '\0';
	return (buf);
}

static void
ck_reread(const struct hist *h, uint64_t off, size_t size, const char *want)
{
	size_t	 len;
	char	*got;

	got = reread(h, off, size, &len);
	ck_assert_str_eq(got, want);
	free(got);
}

/* Check that a re-read at off gets n stream bytes numbered from first. */
static void
ck_rereadn(const struct hist *h, uint64_t off, size_t size, uint64_t first,
    size_t n)
{
	size_t	 len, i;
	char	*got;

	got = reread(h, off, size, &len);
	ck_assert_uint_eq(len, n);
	for (i = 0; i < n; i++)
		if (got[i] != sbyte(first + i))
			ck_abort_msg("byte %zu of the re-read at %llu is wrong",
			    i, (unsigned long long)off);
	free(got);
}

START_TEST(test_empty)
{
	struct hist	 h;

	hist_init(&h);
	ck_reread(&h, 0, 100, "");
	ck_assert_uint_eq(hist_free(&h), 0);
}
END_TEST

/* bash: read a block, seek back to the end of each line, read again. */
START_TEST(test_bash_read_builtin)
{
	struct hist	 h;

	hist_init(&h);
	gives(&h, 0, "1\n2\n3\n4\n5\n");
	ck_reread(&h, 2, 4096, "2\n3\n4\n5\n");
	ck_reread(&h, 4, 4096, "3\n4\n5\n");
	ck_reread(&h, 8, 1, "5");
	/* At the end: new bytes, not a re-read. */
	ck_reread(&h, 10, 4096, "");
	gives(&h, 10, "6\n");
	ck_reread(&h, 8, 4096, "5\n6\n");
	ck_reread(&h, 0, 3, "1\n2");
	hist_free(&h);
}
END_TEST

/* less: sniff 256 bytes, seek back to 0. */
START_TEST(test_seek_to_zero)
{
	struct hist	 h;

	hist_init(&h);
	give(&h, 0, 0, 256, NOLIMIT);
	ck_rereadn(&h, 0, 8192, 0, 256);
	ck_rereadn(&h, 100, 10, 100, 10);
	hist_free(&h);
}
END_TEST

/* Small reads: the last HIST_KEEP bytes stay, older ones go. */
START_TEST(test_keeps_last_64k)
{
	struct hist	 h;
	uint64_t	 off = 0;

	hist_init(&h);
	while (off < 5 * HIST_KEEP) {
		give(&h, off, off, 1000, NOLIMIT);
		off += 1000;
	}
	ck_rereadn(&h, off - HIST_KEEP, HIST_KEEP, off - HIST_KEEP,
	    HIST_KEEP);
	ck_reread(&h, off - HIST_KEEP - 1, 10, "");
	/* Not much more than that is allocated for small reads. */
	ck_assert_uint_le(h.ring.size, HIST_KEEP);
	ck_assert_uint_eq(hist_free(&h), HIST_KEEP);
}
END_TEST

/* A read bigger than HIST_KEEP is kept whole, and later shrinks again. */
START_TEST(test_keeps_whole_last_read)
{
	struct hist	 h;
	size_t		 big = 5 * HIST_KEEP + 123;
	uint64_t	 end;
	int		 i;

	hist_init(&h);
	give(&h, 0, 0, 1000, NOLIMIT);
	give(&h, 1000, 1000, big, NOLIMIT);
	ck_rereadn(&h, 1000, big, 1000, big);
	ck_assert_uint_ge(h.ring.size, big);
	/* Small reads: it shrinks, but not at the first one. */
	give(&h, 1000 + big, 1000 + big, 10, NOLIMIT);
	ck_assert_uint_ge(h.ring.size, big);
	for (i = 1; i < HIST_SHRINK; i++)
		give(&h, 1000 + big + 10 * i, 1000 + big + 10 * i, 10,
		    NOLIMIT);
	ck_assert_uint_le(h.ring.size, 2 * HIST_KEEP);
	end = 1000 + big + 10 * HIST_SHRINK;
	ck_rereadn(&h, end - HIST_KEEP, HIST_KEEP, end - HIST_KEEP,
	    HIST_KEEP);
	hist_free(&h);
}
END_TEST

/* Under memory pressure only what the limit allows is kept. */
START_TEST(test_limit)
{
	struct hist	 h;

	hist_init(&h);
	give(&h, 0, 0, 3 * HIST_MIN, 0);
	ck_assert_uint_eq(h.ring.size, 0);
	ck_reread(&h, 0, 10, "");
	ck_assert_uint_eq(h.end, 3 * HIST_MIN);
	give(&h, 3 * HIST_MIN, 3 * HIST_MIN, 3 * HIST_MIN, HIST_MIN);
	ck_assert_uint_eq(h.ring.size, HIST_MIN);
	ck_rereadn(&h, 5 * HIST_MIN, 2 * HIST_MIN, 5 * HIST_MIN, HIST_MIN);
	ck_reread(&h, 5 * HIST_MIN - 1, 10, "");
	ck_assert_uint_eq(hist_free(&h), HIST_MIN);
}
END_TEST

/* A read away from the end (pread, a seek past the end) starts anew. */
START_TEST(test_read_elsewhere_starts_anew)
{
	struct hist	 h;

	hist_init(&h);
	gives(&h, 0, "abcdefghij");
	gives(&h, 1000, "XYZ");
	ck_reread(&h, 0, 10, "");
	ck_reread(&h, 1000, 10, "XYZ");
	ck_reread(&h, 1001, 1, "Y");
	gives(&h, 500, "q");
	ck_reread(&h, 1000, 10, "");
	ck_reread(&h, 500, 10, "q");
	hist_free(&h);
}
END_TEST

/*
 * Python's BufferedRandom and stdio: read ahead, use one line, seek back
 * to it and write.  The unused read-ahead comes back after the write, and
 * a re-read from the start (glibc's fseek reads from a block boundary)
 * sees the file as a regular one would be: read, written, unread.
 */
START_TEST(test_write_keeps_unread)
{
	struct hist	 h;

	hist_init(&h);
	gives(&h, 0, "a\nb\nc\n");
	wrote(&h, 2, "X\n");
	ck_assert_uint_eq(h.end, 8);
	ck_reread(&h, 4, 8192, "b\nc\n");
	ck_reread(&h, 2, 8192, "X\nb\nc\n");
	ck_reread(&h, 0, 8192, "a\nX\nb\nc\n");
	ck_reread(&h, 6, 8192, "c\n");
	/* Nothing unread: the write just goes on the end. */
	wrote(&h, 8, "Y");
	ck_reread(&h, 0, 8192, "a\nX\nb\nc\nY");
	hist_free(&h);
}
END_TEST

/* A write at the end adds to what is kept; away from it, starts anew. */
START_TEST(test_write_elsewhere)
{
	struct hist	 h;

	hist_init(&h);
	gives(&h, 0, "0123456789");
	wrote(&h, 10, "abc");
	ck_assert_uint_eq(h.end, 13);
	ck_reread(&h, 0, 20, "0123456789abc");
	gives(&h, 13, "de");
	ck_reread(&h, 11, 20, "bcde");
	/* Away from what is kept: start again with the write. */
	wrote(&h, 100, "vwxyz");
	ck_assert_uint_eq(h.end, 105);
	ck_reread(&h, 13, 20, "");
	ck_reread(&h, 100, 20, "vwxyz");
	wrote(&h, 105, "");
	ck_assert_uint_eq(h.end, 105);
	hist_free(&h);
}
END_TEST

/* An open that has only written keeps nothing. */
START_TEST(test_writer_keeps_nothing)
{
	struct hist	 h;

	hist_init(&h);
	wrote(&h, 0, "abc");
	wrote(&h, 3, "def");
	ck_assert_uint_eq(h.end, 6);
	ck_assert_uint_eq(h.ring.size, 0);
	ck_reread(&h, 0, 10, "");
	hist_free(&h);
}
END_TEST

/* The kept bytes wrap around the buffer; re-reads still come out whole. */
START_TEST(test_wrapped)
{
	struct hist	 h;
	uint64_t	 off = 0;
	size_t		 n;

	hist_init(&h);
	for (n = 1; off < 3 * HIST_KEEP; n = n * 7 % 9001 + 1) {
		give(&h, off, off, n, NOLIMIT);
		off += n;
	}
	ck_rereadn(&h, off - HIST_KEEP, HIST_KEEP + 10, off - HIST_KEEP,
	    HIST_KEEP);
	ck_rereadn(&h, off - 5000, 3000, off - 5000, 3000);
	ck_rereadn(&h, off - 1, 3000, off - 1, 1);
	hist_free(&h);
}
END_TEST

static Suite *
hist_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("hist");
	tc = tcase_create("hist");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_bash_read_builtin);
	tcase_add_test(tc, test_seek_to_zero);
	tcase_add_test(tc, test_keeps_last_64k);
	tcase_add_test(tc, test_keeps_whole_last_read);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_read_elsewhere_starts_anew);
	tcase_add_test(tc, test_write_keeps_unread);
	tcase_add_test(tc, test_write_elsewhere);
	tcase_add_test(tc, test_writer_keeps_nothing);
	tcase_add_test(tc, test_wrapped);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(hist_suite()));
}
