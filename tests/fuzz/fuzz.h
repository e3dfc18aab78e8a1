/*
 * Shared by the libFuzzer targets: a reader that takes numbers from the
 * fuzzer's input and yields zeros once it runs out, so every input decodes
 * to some sequence of operations, and a check that aborts with the line that
 * failed, which libFuzzer reports as a crash.
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fz {
	const uint8_t	*p;
	size_t		 n;
};

/* Loops over data need no coverage feedback, and are much faster without. */
#define FZ_NOCOV	__attribute__((no_sanitize("coverage")))

#define FZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* One byte, or 0 once the input is used up. */
static inline uint8_t
fz_u8(struct fz *f)
{
	if (f->n == 0)
		return (0);
	f->n--;
	return (*f->p++);
}

/* Two bytes, little-endian. */
static inline uint16_t
fz_u16(struct fz *f)
{
	uint16_t	 v;

	v = fz_u8(f);
	return (v | (uint16_t)(fz_u8(f) << 8));
}

/* A number from 0 to max inclusive. */
static inline size_t
fz_upto(struct fz *f, size_t max)
{
	uint32_t	 v;

	if (max < 256)
		return (fz_u8(f) % (max + 1));
	v = fz_u16(f);
	if (max >= 65536)
		v |= (uint32_t)fz_u8(f) << 16;
	return (v % (max + 1));
}

/* True while input is left. */
static inline int
fz_more(const struct fz *f)
{
	return (f->n > 0);
}

/*
 * The byte at offset i of the data of write number id: different for
 * different writes and offsets, so lost, repeated or reordered bytes show.
 */
static inline FZ_NOCOV uint8_t
fz_byte(uint64_t id, uint64_t i)
{
	uint64_t	 x = id * 0x9e3779b97f4a7c15ULL + i;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return ((uint8_t)x);
}

/* Fill p with the n bytes of write id from offset off on. */
static inline FZ_NOCOV void
fz_fill(uint8_t *p, uint64_t id, uint64_t off, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = fz_byte(id, off + i);
}

/* True if p holds the n bytes of write id from offset off on. */
static inline FZ_NOCOV int
fz_match(const uint8_t *p, uint64_t id, uint64_t off, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != fz_byte(id, off + i))
			return (0);
	return (1);
}

#endif /* FUZZ_H */
