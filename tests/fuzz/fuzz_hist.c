/*
 * Fuzz hist.c: random reads given and writes made through one open, at the
 * offsets a seeking program would use, and re-reads anywhere, against a
 * model written from docs/semantics.md ("Re-reads"): the open's view is a
 * regular file made of what it was given and what it wrote, where a write
 * inside what was given goes between the bytes before it and the unread
 * ones after; a read or a write away from that view starts it anew at its
 * offset.  The model keeps all of it; hist.c must keep at least the last
 * HIST_KEEP bytes and the whole of the last read, and every byte it gives
 * back must be the model's.
 */

#include <sys/uio.h>

#include <string.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MODEL_MAX	(1 << 20)
#define MAX_OPS		400
#define NOLIMIT		((size_t)1 << 30)

/* The open's view: bytes [end - len, end), oldest first. */
struct model {
	uint8_t		 buf[MODEL_MAX];
	size_t		 len;
	uint64_t	 end;
	size_t		 must;		/* newest bytes hist.c must keep */
};

static struct model	 M;
static uint8_t		 data[3 * HIST_KEEP];
static uint8_t		 tmp[MODEL_MAX];
static uint64_t		 nextid;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Keep the model under MODEL_MAX by letting its oldest bytes go. */
static FZ_NOCOV void
model_trim(void)
{
	if (M.len > MODEL_MAX / 2) {
		memmove(M.buf, M.buf + M.len - MODEL_MAX / 2, MODEL_MAX / 2);
		M.len = MODEL_MAX / 2;
	}
}

static FZ_NOCOV void
model_given(uint64_t off, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	if (off != M.end) {
		M.len = 0;
		M.end = off;
	}
	model_trim();
	memcpy(M.buf + M.len, p, n);
	M.len += n;
	M.end += n;
	M.must = n > HIST_KEEP ? n : HIST_KEEP;
}

/*
 * A write at off.  start is where what hist.c kept begins: a write before
 * it starts the view anew there, and that may only be a place the model
 * need not have kept.
 */
static FZ_NOCOV void
model_wrote(uint64_t off, const uint8_t *p, size_t n, uint64_t start)
{
	size_t	 keep, unread, must;
	int	 anew = 0;

	if (n == 0)
		return;
	must = M.must < M.len ? M.must : M.len;
	if (M.len > 0 && off < start && off >= M.end - M.len) {
		FZ_CHECK(off < M.end - must);
		anew = 1;
	}
	if (M.len == 0) {
		/* An open that keeps nothing read keeps none of its writes. */
		M.end = off + n;
		M.must = 0;
		return;
	}
	if (anew || off < M.end - M.len || off > M.end) {
		M.len = 0;
		M.end = off;
		unread = 0;
	} else {
		unread = (size_t)(M.end - off);
		keep = M.len - unread;
		memcpy(tmp, M.buf + keep, unread);
		M.len = keep;
		M.end = off;
	}
	model_trim();
	memcpy(M.buf + M.len, p, n);
	memcpy(M.buf + M.len + n, tmp, unread);
	M.len += n + unread;
	M.end += n + unread;
	M.must = n + unread > HIST_KEEP ? n + unread : HIST_KEEP;
}

/* A re-read at off: what hist.c gives must be the model's bytes. */
static FZ_NOCOV void
check_find(const struct hist *h, uint64_t off, size_t size)
{
	struct iovec	 iov[2];
	size_t		 total, got = 0, must, at;
	int		 cnt, i;

	cnt = hist_find(h, off, size, iov, &total);
	FZ_CHECK(cnt >= 0 && cnt <= 2);
	FZ_CHECK((cnt == 0) == (total == 0));
	for (i = 0; i < cnt; i++)
		got += iov[i].iov_len;
	FZ_CHECK(got == total);
	if (total > 0) {
		FZ_CHECK(off < M.end && off >= M.end - M.len);
		FZ_CHECK(total == (size < M.end - off ? size : M.end - off));
		at = M.len - (size_t)(M.end - off);
		for (i = 0; i < cnt; i++) {
			FZ_CHECK(memcmp(iov[i].iov_base, M.buf + at,
			    iov[i].iov_len) == 0);
			at += iov[i].iov_len;
		}
	}
	/* What it must keep, it has. */
	must = M.must < M.len ? M.must : M.len;
	if (size > 0 && off < M.end && off >= M.end - must)
		FZ_CHECK(total > 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fz	 f = { buf, len };
	struct hist	 h;
	uint64_t	 off;
	size_t		 n;
	int		 op, i;

	hist_init(&h);
	memset(&M, 0, sizeof M);
	for (i = 0; i < MAX_OPS && fz_more(&f); i++) {
		op = fz_u8(&f) % 8;
		/* Mostly near the end, as programs seek; sometimes far. */
		switch (fz_u8(&f) % 4) {
		case 0:
			off = M.end;
			break;
		case 1:
			off = M.end - fz_upto(&f, M.len < 300000 ? M.len :
			    300000);
			break;
		case 2:
			off = M.end + fz_upto(&f, 10);
			break;
		default:
			off = fz_u16(&f);
			break;
		}
		n = fz_upto(&f, fz_u8(&f) & 1 ? 300 : sizeof data);
		fz_fill(data, nextid++, 0, n);
		switch (op) {
		case 0:
		case 1:
		case 2: {
			struct iovec	 iov[2];

			iov[0].iov_base = data;
			iov[0].iov_len = n / 2;
			iov[1].iov_base = data + n / 2;
			iov[1].iov_len = n - n / 2;
			model_given(off, data, n);
			hist_given(&h, off, iov, 2, n, NOLIMIT);
			break;
		}
		case 3: {
			struct iovec	 iov;

			iov.iov_base = data;
			iov.iov_len = n;
			model_wrote(off, data, n, h.end - h.ring.len);
			hist_wrote(&h, off, &iov, 1, n, NOLIMIT);
			break;
		}
		case 4:
			if (fz_u8(&f) == 0) {
				hist_forget(&h, off);
				M.len = 0;
				M.end = off;
				M.must = 0;
			}
			break;
		default:
			check_find(&h, off, n);
			break;
		}
		FZ_CHECK(h.end == M.end);
		FZ_CHECK(h.ring.len <= h.ring.size);
		check_find(&h, M.end - (M.len < 10 ? M.len : 10), 20);
	}
	hist_free(&h);
	return (0);
}
