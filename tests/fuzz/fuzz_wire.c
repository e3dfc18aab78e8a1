/*
 * Fuzz bridge/wire.c, everything the bridge takes from the cluster as
 * text: keys, values of keys, hosts' presence lines, the pad of a
 * message, acknowledgement subjects and JetStream's JSON answers.
 *
 * The first byte chooses what is fuzzed and how.  Raw, the rest of the
 * input is the text itself; built, it is numbers (fuzz.h's reader) that
 * make text, well-formed or with numbers of every kind in it, and what
 * is well-formed must come back as what made it.  Text is compared with
 * references written from the rules wire.c states, not from its code:
 * a key or a value is taken exactly when it is canonical, and then
 * encodes again to exactly the text it came from; numbers keep to their
 * limits.  Presence lines, acknowledgement subjects and JSON answers are
 * held to less: every canonical one must be taken, and nothing that a
 * loose reference (leading zeros allowed) refuses.  Every buffer handed
 * over is exactly as long as its contents, from malloc, so ASan sees a
 * read past its end.
 */

#include <sys/types.h>

#include <string.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MAX_COMPS	8
#define COMP_BUF	(NAME_MAX_LEN + 16)
#define MAX_LINES	8

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

enum {
	KEY_RAW, KEY_BUILT, VALUE_RAW, VALUE_BUILT, PRESENCE_RAW,
	PRESENCE_BUILT, UNPAD_RAW, UNPAD_BUILT, ACK_RAW, ACK_BUILT,
	JSON_RAW, JSON_BUILT, NMODES
};

/* Keys of JSON answers, as the bridge asks for them, and a few more. */
static const char *const json_keys[] = { "seq", "last_seq", "stream",
	"domain", "k", "", "messages", "a\"b" };
#define NJSON_KEYS	(sizeof json_keys / sizeof json_keys[0])

static FZ_NOCOV void *
xalloc(size_t n)
{
	void	*p;

	p = malloc(n);
	FZ_CHECK(p != NULL);
	return (p);
}

/* The input up to its first NUL, in a buffer just long enough. */
static FZ_NOCOV char *
cstr(const uint8_t *data, size_t size)
{
	size_t	 len = strnlen((const char *)data, size);
	char	*s = xalloc(len + 1);

	memcpy(s, data, len);
	s[len] = '\0';
	return (s);
}

/* Eight bytes, little-endian. */
static uint64_t
fz_u64(struct fz *f)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)fz_u8(f) << (8 * i);
	return (v);
}

/* A number up to max, often one of its edges. */
static uint64_t
fz_num(struct fz *f, uint64_t max)
{
	uint64_t	 v;

	switch (fz_u8(f) % 6) {
	case 0:
		return (0);
	case 1:
		return (max);
	case 2:
		return (max > 0 ? max - 1 : 0);
	case 3:
		return (fz_u8(f) % (max < 255 ? max + 1 : 256));
	default:
		v = fz_u64(f);
		return (max == UINT64_MAX ? v : v % (max + 1));
	}
}

/*
 * A number as text, in base 8 or 10: usually as printf writes it, up to
 * a little over max; or digits from the input (leading zeros, beyond
 * 2^64), a sign, an edge of 64 bits, or nothing.
 */
static void
pick_numtok(struct fz *f, char *buf, int base, uint64_t max)
{
	static const char *const edges[] = { "18446744073709551615",
	    "18446744073709551616", "18446744073709551619",
	    "18446744073709551625", "18446744073709551700",
	    "99999999999999999999", "36893488147419103232", "00",
	    "00000000000000000001", "4294967295", "4294967296",
	    "2000000000000000000000", "1777777777777777777777",
	    "37777777777", "10000", "7777", "1000001", "67108865" };
	uint64_t	 v;
	size_t		 len, i;

	switch (fz_u8(f) % 8) {
	case 0: case 1: case 2:
		v = fz_num(f, max);
		break;
	case 3:
		v = max + fz_u8(f) % 3;
		if (v < max)
			v = max;
		break;
	case 4:
		len = 1 + fz_u8(f) % 23;
		for (i = 0; i < len; i++)
			buf[i] = (char)('0' + fz_u8(f) % base);
		buf[len] = '\0';
		return;
	case 5:
		strcpy(buf, edges[fz_u8(f) % (sizeof edges / sizeof edges[0])]);
		return;
	case 6:
		buf[0] = "-+ 0x"[fz_u8(f) % 5];
		sprintf(buf + 1, base == 8 ? "%llo" : "%llu",
		    (unsigned long long)fz_num(f, max));
		return;
	default:
		buf[0] = '\0';
		return;
	}
	sprintf(buf, base == 8 ? "%llo" : "%llu", (unsigned long long)v);
}

/* Letters, digits, '-' and '_': what a key carries as itself. */
static int
ref_plain(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_');
}

/* An upper-case hexadecimal digit's value, or -1. */
static int
ref_hex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* A stream id: 16 lower-case hexadecimal digits. */
static int
ref_id(const char *p, size_t len)
{
	size_t	 i;

	if (len != WIRE_ID_LEN)
		return (0);
	for (i = 0; i < len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return (0);
	return (1);
}

/*
 * A number in base 8 or 10, all of the len bytes at p, at most max.
 * Strict, it is canonical: "0" or no leading zero.  Loose, any number
 * of leading zeros.  Returns 0 with *out, or -1.
 */
static int
ref_num(const char *p, size_t len, int base, uint64_t max, int strict,
    uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;

	if (len == 0 || (strict && len > 1 && p[0] == '0'))
		return (-1);
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] >= '0' + base)
			return (-1);
		if (__builtin_mul_overflow(v, (uint64_t)base, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v))
			return (-1);
	}
	if (v > max)
		return (-1);
	*out = v;
	return (0);
}

struct tok {
	const char	*p;
	size_t		 len;
};

/* Split the len bytes at s at every space: the count, or -1 if over max. */
static int
ref_split(const char *s, size_t len, struct tok *t, int max)
{
	const char	*end = s + len, *q;
	int		 n = 0;

	for (;;) {
		if (n == max)
			return (-1);
		if ((q = memchr(s, ' ', (size_t)(end - s))) == NULL)
			q = end;
		t[n].p = s;
		t[n].len = (size_t)(q - s);
		n++;
		if (q == end)
			return (n);
		s = q + 1;
	}
}

static int
ref_is(const struct tok *t, const char *word)
{
	return (t->len == strlen(word) && memcmp(t->p, word, t->len) == 0);
}

/*
 * Keys.  The canonical encoding, from wire_key_next's comment: dots
 * between components; in a component, letters, digits, '-' and '_' as
 * themselves and every other byte as '=' and two upper-case hexadecimal
 * digits; a component decodes to 1 to NAME_MAX_LEN bytes, none NUL or
 * '/', and not "." or "..".
 */
static int
ref_key(const char *k, size_t max)
{
	const char	*p = k, *end, *q;
	size_t		 n;
	int		 c, dots;

	if (strlen(k) > max)
		return (0);
	for (;;) {
		if ((end = strchr(p, '.')) == NULL)
			end = p + strlen(p);
		n = 0;
		dots = 0;
		for (q = p; q < end; n++) {
			if (*q == '=') {
				if (end - q < 3 || ref_hex(q[1]) == -1 ||
				    ref_hex(q[2]) == -1)
					return (0);
				c = ref_hex(q[1]) << 4 | ref_hex(q[2]);
				if (c == 0 || c == '/' || ref_plain((unsigned char)c))
					return (0);
				q += 3;
			} else if (ref_plain((unsigned char)*q))
				c = (unsigned char)*q++;
			else
				return (0);
			if (c == '.')
				dots++;
		}
		if (n == 0 || n > NAME_MAX_LEN || (n <= 2 && dots == (int)n))
			return (0);
		if (*end == '\0')
			return (1);
		p = end + 1;
	}
}

/* What wire_key_append makes of comp: its length, without a dot. */
static size_t
ref_enc_len(const char *comp)
{
	size_t	 n = 0;

	for (; *comp != '\0'; comp++)
		n += ref_plain((unsigned char)*comp) ? 1 : 3;
	return (n);
}

/* Whether comp is a name a key may carry. */
static int
ref_comp_ok(const char *comp)
{
	size_t	 n = strlen(comp);

	return (n >= 1 && n <= NAME_MAX_LEN && strchr(comp, '/') == NULL &&
	    strcmp(comp, ".") != 0 && strcmp(comp, "..") != 0);
}

/*
 * A raw key: wire_key_ok must agree with the reference, and decoding it
 * component by component with wire_key_next and encoding again with
 * wire_key_append must give it back exactly whenever it decodes.
 */
static void
key_raw(const uint8_t *data, size_t size)
{
	char		*k, *re, comp[NAME_MAX_LEN + 1];
	const char	*p, *before;
	size_t		 max, klen, relen, o = 0, cl, steps = 0;
	int		 ok, r, whole;

	if (size == 0)
		return;
	max = data[0] == 255 ? SIZE_MAX : (size_t)data[0] * 4;
	k = cstr(data + 1, size - 1);
	klen = strlen(k);
	ok = wire_key_ok(k, max);
	FZ_CHECK(ok == 0 || ok == 1);
	FZ_CHECK(ok == ref_key(k, max));

	relen = 3 * klen + 2;
	re = xalloc(relen);
	re[0] = '\0';
	p = k;
	for (;;) {
		before = p;
		memset(comp, 'x', sizeof comp);
		r = wire_key_next(&p, comp);
		FZ_CHECK(r >= -1 && r <= 1);
		if (r == -1)
			break;
		FZ_CHECK(p > before && p <= k + klen);
		cl = strnlen(comp, sizeof comp);
		FZ_CHECK(cl < sizeof comp);
		FZ_CHECK(ref_comp_ok(comp));
		FZ_CHECK(wire_key_append(re, relen, &o, comp) == 0);
		FZ_CHECK(++steps <= klen);
		if (r == 1) {
			FZ_CHECK(*p == '\0');
			break;
		}
		FZ_CHECK(p[-1] == '.');
	}
	whole = r == 1 && o == klen && strcmp(re, k) == 0;
	/* A key that decodes is the encoding of what it decodes to. */
	FZ_CHECK(r != 1 || whole);
	FZ_CHECK(ok == (whole && klen <= max));
	free(re);
	free(k);
}

/* A component: short and odd, an edge, or long around NAME_MAX_LEN. */
static void
pick_comp(struct fz *f, char *buf)
{
	static const char *const edges[] = { "", ".", "..", "/", "a/b",
	    "...", "=", "=41", "a.b", "x=2Ey", " ", "\xff" };
	size_t	 len, i;
	uint8_t	 c;

	switch (fz_u8(f) % 8) {
	case 0: case 1: case 2: case 3:
		len = fz_u8(f) % 12;
		for (i = 0; i < len; i++) {
			c = fz_u8(f);
			buf[i] = c == 0 ? 'a' : (char)c;
		}
		buf[len] = '\0';
		return;
	case 4:
		len = 1 + fz_u8(f) % 6;
		for (i = 0; i < len; i++)
			buf[i] = "aZ9-_.=/ \x7f"[fz_u8(f) % 10];
		buf[len] = '\0';
		return;
	case 5:
		strcpy(buf, edges[fz_u8(f) % (sizeof edges / sizeof edges[0])]);
		return;
	default:
		len = NAME_MAX_LEN - 4 + fz_u8(f) % 9;
		c = fz_u8(f);
		memset(buf, c == 0 ? 'n' : c, len);
		buf[len] = '\0';
		return;
	}
}

/*
 * Built keys: components appended one by one into a buffer of a chosen
 * length fit exactly when the reference says so; the key decodes to the
 * same components if they are all names, and is refused otherwise.
 */
static void
key_built(struct fz *f)
{
	char		 comps[MAX_COMPS][COMP_BUF], got[NAME_MAX_LEN + 1];
	char		*buf;
	const char	*p, *c;
	size_t		 buflen, o = 0, was, enc;
	int		 n, i, k = 0, bad = -1, r, rc, keep[MAX_COMPS];

	n = 1 + fz_u8(f) % MAX_COMPS;
	for (i = 0; i < n; i++)
		pick_comp(f, comps[i]);
	if (fz_u8(f) & 1)
		buflen = MAX_COMPS * (3 * COMP_BUF + 1) + 1;
	else
		buflen = 1 + fz_u16(f) % 2048;
	buf = xalloc(buflen);
	for (i = 0; i < n; i++) {
		was = o;
		enc = ref_enc_len(comps[i]) + (o > 0);
		rc = wire_key_append(buf, buflen, &o, comps[i]);
		if (was + enc + 1 > buflen) {
			FZ_CHECK(rc == -1);
			FZ_CHECK(o == was);
			free(buf);
			return;
		}
		FZ_CHECK(rc == 0);
		FZ_CHECK(o == was + enc);
		FZ_CHECK(strlen(buf) == o);
		/* Empty ones at the start leave no trace, not even a dot. */
		if (o > 0 || comps[i][0] != '\0')
			keep[k++] = i;
	}
	for (i = 0; i < k; i++)
		if (bad == -1 && !ref_comp_ok(comps[keep[i]]))
			bad = i;
	if (k == 0)
		bad = 0;
	FZ_CHECK(wire_key_ok(buf, SIZE_MAX) == (bad == -1));
	if (bad == -1) {
		FZ_CHECK(wire_key_ok(buf, o) == 1);
		FZ_CHECK(wire_key_ok(buf, o - 1) == 0);
	}
	p = buf;
	for (i = 0; i < (k > 0 ? k : 1); i++) {
		r = wire_key_next(&p, got);
		/*
		 * Refused at the first component that is not a name, or
		 * at the one before an empty last one: "a." ends in a dot.
		 */
		if (r == -1 && (i == bad || (i == bad - 1 && bad == k - 1 &&
		    comps[keep[bad]][0] == '\0')))
			break;
		FZ_CHECK(bad == -1 || i < bad);
		FZ_CHECK(r == (i == k - 1 ? 1 : 0));
		c = comps[keep[i]];
		FZ_CHECK(strcmp(got, c) == 0);
	}
	if (bad == -1)
		FZ_CHECK(*p == '\0');
	else
		FZ_CHECK(i < (k > 0 ? k : 1));
	free(buf);
}

/*
 * Values, from wire_value_parse's comment: "d MODE UID GID" or "f ID
 * FRAMING DELIVERY CAPACITY MODE UID GID", each with "MTIME ATIME" or
 * not, single spaces, MODE in octal, every number as printf writes it,
 * nothing else.
 */
static int
ref_value(const char *v, struct wire_value *wv)
{
	struct tok	 t[11];
	uint64_t	 mode, uid, gid, cap;
	int		 n, i, at;

	memset(wv, 0, sizeof *wv);
	if ((n = ref_split(v, strlen(v), t, 11)) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		if (t[i].len == 0)
			return (-1);
	if ((n == 4 || n == 6) && ref_is(&t[0], "d")) {
		wv->dir = 1;
		at = 1;
	} else if ((n == 8 || n == 10) && ref_is(&t[0], "f")) {
		if (!ref_id(t[1].p, t[1].len))
			return (-1);
		memcpy(wv->id, t[1].p, WIRE_ID_LEN);
		if (ref_is(&t[2], opts_framing[0]))
			wv->framing = 0;
		else if (ref_is(&t[2], opts_framing[1]))
			wv->framing = 1;
		else
			return (-1);
		if (ref_is(&t[3], opts_delivery[0]))
			wv->delivery = 0;
		else if (ref_is(&t[3], opts_delivery[1]))
			wv->delivery = 1;
		else
			return (-1);
		if (ref_num(t[4].p, t[4].len, 10, CAPACITY_MAX, 1, &cap) != 0 ||
		    cap < CAPACITY_MIN)
			return (-1);
		wv->capacity = (size_t)cap;
		at = 5;
	} else
		return (-1);
	if (ref_num(t[at].p, t[at].len, 8, 07777, 1, &mode) != 0 ||
	    ref_num(t[at + 1].p, t[at + 1].len, 10, WIRE_ID_MAX, 1, &uid) != 0 ||
	    ref_num(t[at + 2].p, t[at + 2].len, 10, WIRE_ID_MAX, 1, &gid) != 0)
		return (-1);
	if (n == at + 5) {
		if (ref_num(t[at + 3].p, t[at + 3].len, 10, WIRE_TIME_MAX, 1,
		    &wv->mtime) != 0 || ref_num(t[at + 4].p, t[at + 4].len, 10,
		    WIRE_TIME_MAX, 1, &wv->atime) != 0)
			return (-1);
		wv->times = 1;
	}
	wv->mode = (mode_t)mode;
	wv->uid = (uid_t)uid;
	wv->gid = (gid_t)gid;
	return (0);
}

/* A parsed value keeps to its limits. */
static void
check_value(const struct wire_value *wv)
{
	FZ_CHECK(wv->dir == 0 || wv->dir == 1);
	FZ_CHECK(wv->mode <= 07777);
	FZ_CHECK((uint64_t)wv->uid <= WIRE_ID_MAX);
	FZ_CHECK((uint64_t)wv->gid <= WIRE_ID_MAX);
	FZ_CHECK(wv->times == 0 || wv->times == 1);
	FZ_CHECK(wv->mtime <= WIRE_TIME_MAX && wv->atime <= WIRE_TIME_MAX);
	FZ_CHECK(wv->times || (wv->mtime == 0 && wv->atime == 0));
	if (wv->dir)
		return;
	FZ_CHECK(strnlen(wv->id, sizeof wv->id) == WIRE_ID_LEN);
	FZ_CHECK(wire_id_ok(wv->id, WIRE_ID_LEN) == 1);
	FZ_CHECK(ref_id(wv->id, WIRE_ID_LEN));
	FZ_CHECK(wv->framing == 0 || wv->framing == 1);
	FZ_CHECK(wv->delivery == 0 || wv->delivery == 1);
	FZ_CHECK(wv->capacity >= CAPACITY_MIN && wv->capacity <= CAPACITY_MAX);
}

static int
same_value(const struct wire_value *a, const struct wire_value *b)
{
	if (a->dir != b->dir || a->mode != b->mode || a->uid != b->uid ||
	    a->gid != b->gid || a->times != b->times ||
	    a->mtime != b->mtime || a->atime != b->atime)
		return (0);
	return (a->dir || (strcmp(a->id, b->id) == 0 &&
	    a->framing == b->framing && a->delivery == b->delivery &&
	    a->capacity == b->capacity));
}

/*
 * A value formatted into a buffer just long enough, then parsed: it must
 * be taken, as wv, and format again to the same text.  Returns the text.
 */
static char *
value_round(const struct wire_value *wv)
{
	struct wire_value	 got;
	char			*buf;
	int			 n;

	n = wire_value_format(NULL, 0, wv);
	FZ_CHECK(n > 0 && n <= WIRE_VALUE_MAX);
	buf = xalloc((size_t)n + 1);
	FZ_CHECK(wire_value_format(buf, (size_t)n + 1, wv) == n);
	FZ_CHECK(strlen(buf) == (size_t)n);
	FZ_CHECK(wire_value_parse(buf, &got) == 0);
	check_value(&got);
	FZ_CHECK(same_value(&got, wv));
	return (buf);
}

/*
 * A raw value is taken exactly when the reference takes it, as the same
 * value, and a taken one formats to exactly the text it came from.
 */
static void
value_check(const char *v)
{
	struct wire_value	 got, want;
	char			*again;
	int			 rc, ref;

	rc = wire_value_parse(v, &got);
	FZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_value(&got);
		again = value_round(&got);
		FZ_CHECK(strcmp(again, v) == 0);
		free(again);
	}
	ref = ref_value(v, &want);
	FZ_CHECK(rc == ref);
	if (rc == 0)
		FZ_CHECK(same_value(&got, &want));
}

static void
value_raw(const uint8_t *data, size_t size)
{
	char	*v;

	v = cstr(data, size);
	value_check(v);
	free(v);
}

static void
pick_id(struct fz *f, char *id)
{
	int	 i;

	for (i = 0; i < WIRE_ID_LEN; i++)
		id[i] = "0123456789abcdef"[fz_u8(f) % 16];
	id[WIRE_ID_LEN] = '\0';
}

/*
 * Any value within the limits formats, parses back and formats the same.
 * Or a value's text with numbers of every kind, checked as raw text.
 */
static void
value_built(struct fz *f)
{
	struct wire_value	 wv;
	char			*v, text[WIRE_VALUE_MAX], id[WIRE_ID_LEN + 1];
	char			 n[6][32], times[72] = "";

	if (fz_u8(f) & 1) {
		pick_id(f, id);
		if (fz_u8(f) % 4 == 0)
			id[fz_u8(f) % WIRE_ID_LEN] = (char)fz_u8(f);
		pick_numtok(f, n[0], 10, CAPACITY_MAX);
		pick_numtok(f, n[1], 8, 07777);
		pick_numtok(f, n[2], 10, WIRE_ID_MAX);
		pick_numtok(f, n[3], 10, WIRE_ID_MAX);
		if (fz_u8(f) & 1) {
			pick_numtok(f, n[4], 10, WIRE_TIME_MAX);
			pick_numtok(f, n[5], 10, WIRE_TIME_MAX);
			snprintf(times, sizeof times, " %s %s", n[4], n[5]);
		}
		if (fz_u8(f) & 1)
			snprintf(text, sizeof text, "d %s %s %s%s", n[1], n[2],
			    n[3], times);
		else
			snprintf(text, sizeof text,
			    "f %s %s %s %s %s %s %s%s", id,
			    opts_framing[fz_u8(f) & 1],
			    opts_delivery[fz_u8(f) & 1], n[0], n[1], n[2],
			    n[3], times);
		v = cstr((const uint8_t *)text, strlen(text));
		value_check(v);
		free(v);
		return;
	}
	memset(&wv, 0, sizeof wv);
	wv.dir = fz_u8(f) & 1;
	if (!wv.dir) {
		pick_id(f, wv.id);
		wv.framing = fz_u8(f) & 1;
		wv.delivery = fz_u8(f) & 1;
		wv.capacity = CAPACITY_MIN +
		    (size_t)fz_num(f, CAPACITY_MAX - CAPACITY_MIN);
	}
	wv.mode = (mode_t)fz_num(f, 07777);
	wv.uid = (uid_t)fz_num(f, WIRE_ID_MAX);
	wv.gid = (gid_t)fz_num(f, WIRE_ID_MAX);
	if ((wv.times = fz_u8(f) & 1)) {
		wv.mtime = fz_num(f, WIRE_TIME_MAX);
		wv.atime = fz_num(f, WIRE_TIME_MAX);
	}
	v = value_round(&wv);
	free(v);
}

/*
 * A presence line, "ID READERS WRITERS": strict, canonical numbers;
 * loose, leading zeros allowed.  Returns 1 with the line's numbers, or 0.
 */
static int
ref_presence(const char *line, size_t len, int strict, uint64_t *r,
    uint64_t *w)
{
	struct tok	 t[3];

	if (ref_split(line, len, t, 3) != 3 || !ref_id(t[0].p, t[0].len) ||
	    ref_num(t[1].p, t[1].len, 10, WIRE_COUNT_MAX, strict, r) != 0 ||
	    ref_num(t[2].p, t[2].len, 10, WIRE_COUNT_MAX, strict, w) != 0)
		return (0);
	return (1);
}

/*
 * Raw presence: every call ends or moves on by one line; a taken line
 * has a valid id and counts within WIRE_COUNT_MAX, and is one the loose
 * reference takes with the same numbers; a line the strict reference
 * takes is taken.
 */
static void
presence_check(const char *s)
{
	char		 id[WIRE_ID_LEN + 8];
	const char	*p, *before, *nl;
	unsigned	 rd, wr;
	uint64_t	 r, w;
	size_t		 len, ll, steps = 0;
	int		 got;

	len = strlen(s);
	p = s;
	for (;;) {
		before = p;
		memset(id, 'x', sizeof id);
		got = wire_presence_next(&p, id, &rd, &wr);
		FZ_CHECK(got >= -1 && got <= 1);
		if (got == 0) {
			FZ_CHECK(*before == '\0' && p == before);
			break;
		}
		FZ_CHECK(++steps <= len);
		FZ_CHECK(p > before && p <= s + len);
		if ((nl = memchr(before, '\n', (size_t)(s + len - before))) ==
		    NULL)
			FZ_CHECK(p == s + len);
		else
			FZ_CHECK(p == nl + 1);
		ll = (size_t)((nl == NULL ? s + len : nl) - before);
		if (got == 1) {
			FZ_CHECK(strnlen(id, sizeof id) == WIRE_ID_LEN);
			FZ_CHECK(ref_id(id, WIRE_ID_LEN));
			FZ_CHECK(rd <= WIRE_COUNT_MAX && wr <= WIRE_COUNT_MAX);
			FZ_CHECK(ref_presence(before, ll, 0, &r, &w));
			FZ_CHECK(memcmp(before, id, WIRE_ID_LEN) == 0);
			FZ_CHECK(r == rd && w == wr);
		} else
			FZ_CHECK(!ref_presence(before, ll, 1, &r, &w));
	}
}

static void
presence_raw(const uint8_t *data, size_t size)
{
	char	*s;

	s = cstr(data, size);
	presence_check(s);
	free(s);
}

/* Lines that are not presence lines, each without its newline. */
static const char *const bad_lines[] = {
	"", " ", "0123456789abcdef 1", "0123456789abcdef 1 2 3",
	"0123456789abcdef  1 2", "0123456789abcdef 1 2 ", " 0123456789abcdef 1 2",
	"0123456789ABCDEF 1 2", "0123456789abcde 1 2", "0123456789abcdef0 1 2",
	"0123456789abcdef 1000001 0", "0123456789abcdef 0 1000001",
	"0123456789abcdef 4294967295 0", "0123456789abcdef 0 4294967296",
	"0123456789abcdef 18446744073709551616 0", "0123456789abcdef -1 0",
	"0123456789abcdef +1 0", "0123456789abcdef 1x 0",
	"0123456789abcdef\t1 2", "0123456789abcdef 1 2\r",
	"0123456789abcdef 1 0000000000000000000000000000000000000000001",
};
#define NBAD_LINES	(sizeof bad_lines / sizeof bad_lines[0])

/*
 * Built presence: lines from valid ids and counts come back exactly, in
 * order; lines that are not presence lines are skipped with -1.
 */
static void
presence_built(struct fz *f)
{
	char		 ids[MAX_LINES][WIRE_ID_LEN + 1], id[WIRE_ID_LEN + 1];
	char		 text[MAX_LINES * 80], *s, num[2][32];
	const char	*p;
	unsigned	 rs[MAX_LINES], ws[MAX_LINES], rd, wr;
	size_t		 len = 0, start;
	int		 good[MAX_LINES], n, i;

	n = 1 + fz_u8(f) % MAX_LINES;
	for (i = 0; i < n; i++) {
		start = len;
		good[i] = fz_u8(f) % 4 != 0;
		if (good[i]) {
			pick_id(f, ids[i]);
			rs[i] = (unsigned)fz_num(f, WIRE_COUNT_MAX);
			ws[i] = (unsigned)fz_num(f, WIRE_COUNT_MAX);
			len += (size_t)sprintf(text + len, "%s %u %u", ids[i],
			    rs[i], ws[i]);
		} else
			len += (size_t)sprintf(text + len, "%s",
			    bad_lines[fz_u8(f) % NBAD_LINES]);
		/* The last line needs no newline, unless it is empty. */
		if (i < n - 1 || len == start || (fz_u8(f) & 1))
			text[len++] = '\n';
		text[len] = '\0';
	}
	s = xalloc(len + 1);
	memcpy(s, text, len + 1);
	p = s;
	for (i = 0; i < n; i++) {
		if (good[i]) {
			FZ_CHECK(wire_presence_next(&p, id, &rd, &wr) == 1);
			FZ_CHECK(strcmp(id, ids[i]) == 0);
			FZ_CHECK(rd == rs[i] && wr == ws[i]);
		} else
			FZ_CHECK(wire_presence_next(&p, id, &rd, &wr) == -1);
	}
	FZ_CHECK(*p == '\0');
	FZ_CHECK(wire_presence_next(&p, id, &rd, &wr) == 0);
	FZ_CHECK(wire_presence_next(&p, id, &rd, &wr) == 0);
	free(s);

	/* Lines with numbers of every kind, checked as raw text. */
	len = 0;
	n = 1 + fz_u8(f) % MAX_LINES;
	for (i = 0; i < n; i++) {
		pick_id(f, id);
		pick_numtok(f, num[0], 10, WIRE_COUNT_MAX);
		pick_numtok(f, num[1], 10, WIRE_COUNT_MAX);
		len += (size_t)sprintf(text + len, "%s %s %s\n", id, num[0],
		    num[1]);
	}
	s = cstr((const uint8_t *)text, len);
	presence_check(s);
	free(s);
}

/*
 * The pad, from wire_unpad's comment: a pad byte P < WIRE_PAD_MAX, then
 * P zero bytes, all within the message; the data starts after them.
 */
static ssize_t
ref_unpad(const uint8_t *d, size_t len)
{
	size_t	 i;

	if (len == 0 || d[0] >= WIRE_PAD_MAX || (size_t)d[0] + 1 > len)
		return (-1);
	for (i = 1; i <= d[0]; i++)
		if (d[i] != 0)
			return (-1);
	return ((ssize_t)d[0] + 1);
}

static void
unpad_raw(const uint8_t *data, size_t size)
{
	uint8_t		*m;
	ssize_t		 o;
	size_t		 i;

	m = xalloc(size);
	memcpy(m, data, size);
	o = wire_unpad(m, size);
	FZ_CHECK(o == -1 || (o >= 1 && (size_t)o <= size));
	if (o != -1) {
		FZ_CHECK(m[0] == (size_t)o - 1 && m[0] < WIRE_PAD_MAX);
		for (i = 1; i < (size_t)o; i++)
			FZ_CHECK(m[i] == 0);
	}
	FZ_CHECK(o == ref_unpad(m, size));
	free(m);
}

/*
 * Built pads: wire_pad rounds up to a multiple of align by less than
 * align; a message of pad byte, pad and data unpads to the data, and not
 * once a pad byte is not zero or the pad is too long.
 */
static void
unpad_built(struct fz *f)
{
	uint8_t		*m;
	uint64_t	 stored;
	size_t		 align, pad, dlen, len, i;
	ssize_t		 o;
	int		 how;

	stored = fz_u64(f);
	if (fz_u8(f) & 1)
		stored %= 1 << 20;
	align = fz_u8(f) % 4 == 0 ? (size_t)1 << (fz_u8(f) % 20) :
	    1 + (size_t)fz_num(f, 65535);
	pad = wire_pad((size_t)stored, align);
	FZ_CHECK(pad < align);
	FZ_CHECK(((size_t)stored % align + pad) % align == 0);

	how = fz_u8(f) % 4;
	pad = fz_u8(f);
	if (how != 3)
		pad %= WIRE_PAD_MAX;
	dlen = fz_u8(f) % 64;
	len = 1 + pad + dlen;
	m = xalloc(len);
	m[0] = (uint8_t)pad;
	memset(m + 1, 0, pad);
	for (i = 0; i < dlen; i++)
		m[1 + pad + i] = fz_u8(f);
	if (how == 2 && pad > 0) {
		m[1 + fz_u8(f) % pad] = 1 + fz_u8(f) % 255;
		FZ_CHECK(wire_unpad(m, len) == -1);
	} else if (how == 3 && pad >= WIRE_PAD_MAX)
		FZ_CHECK(wire_unpad(m, len) == -1);
	else {
		o = wire_unpad(m, len);
		FZ_CHECK(o == (ssize_t)(1 + pad));
		FZ_CHECK(len - (size_t)o == dlen);
		/* Cut inside the pad, it is refused. */
		if (pad > 0)
			FZ_CHECK(wire_unpad(m, pad) == -1);
	}
	free(m);
}

/*
 * An acknowledgement subject, from wire_ack_sseq's comment: "$JS.ACK."
 * and 9 tokens in all with the stream sequence the sixth, or 11 or 12
 * with it the eighth.  Strict, the sequence is canonical; loose, it may
 * have leading zeros.  Returns 1 with the sequence, or 0.
 */
static int
ref_ack(const char *s, int strict, uint64_t *v)
{
	struct tok	 t[13];
	const char	*p = s, *q;
	int		 n = 0, at;

	if (strncmp(s, "$JS.ACK.", 8) != 0)
		return (0);
	for (;;) {
		if (n == 13)
			return (0);
		if ((q = strchr(p, '.')) == NULL)
			q = p + strlen(p);
		t[n].p = p;
		t[n].len = (size_t)(q - p);
		n++;
		if (*q == '\0')
			break;
		p = q + 1;
	}
	if (n == 9)
		at = 5;
	else if (n == 11 || n == 12)
		at = 7;
	else
		return (0);
	return (ref_num(t[at].p, t[at].len, 10, UINT64_MAX, strict, v) == 0);
}

static void
ack_check(const char *s)
{
	uint64_t	 got, v;

	got = wire_ack_sseq(s);
	if (strncmp(s, "$JS.ACK.", 8) != 0)
		FZ_CHECK(got == 0);
	if (ref_ack(s, 1, &v))
		FZ_CHECK(got == v);
	if (got != 0)
		FZ_CHECK(ref_ack(s, 0, &v) && got == v);
}

static void
ack_raw(const uint8_t *data, size_t size)
{
	char	*s;

	s = cstr(data, size);
	ack_check(s);
	free(s);
}

/* A name token of a subject: no dot, not empty. */
static void
pick_token(struct fz *f, char *buf)
{
	size_t	 len, i;

	len = 1 + fz_u8(f) % 10;
	for (i = 0; i < len; i++)
		buf[i] = "abcXYZ019_-$*>"[fz_u8(f) % 14];
	buf[len] = '\0';
}

/* Subjects in each form from random names and numbers give the sequence. */
static void
ack_built(struct fz *f)
{
	char		 s[16 * 32], tok[32], alt[16 * 32 + 32];
	uint64_t	 nums[5], sseq;
	size_t		 len, seqat = 0;
	int		 form, ntok, i, k;

	form = fz_u8(f) % 4;
	len = (size_t)sprintf(s, "$JS.ACK");
	if (form == 1 || form == 2) {
		for (i = 0; i < 2; i++) {	/* domain, account hash */
			pick_token(f, tok);
			len += (size_t)sprintf(s + len, ".%s", tok);
		}
	}
	for (i = 0; i < 2; i++) {		/* stream, consumer */
		pick_token(f, tok);
		len += (size_t)sprintf(s + len, ".%s", tok);
	}
	for (i = 0; i < 5; i++) {
		nums[i] = fz_num(f, UINT64_MAX);
		len += (size_t)sprintf(s + len, ".%llu",
		    (unsigned long long)nums[i]);
		if (i == 1)
			seqat = len;
	}
	sseq = nums[1];
	if (form == 2) {
		pick_token(f, tok);
		len += (size_t)sprintf(s + len, ".%s", tok);
	}
	if (form == 3) {
		/* 10 or 13 tokens: neither form. */
		ntok = 1 + 3 * (fz_u8(f) & 1);
		for (k = 0; k < ntok; k++) {
			pick_token(f, tok);
			len += (size_t)sprintf(s + len, ".%s", tok);
		}
		sseq = 0;
	}
	FZ_CHECK(wire_ack_sseq(s) == sseq);
	ack_check(s);

	/* The sequence as numbers of every kind, checked as raw text. */
	pick_numtok(f, tok, 10, UINT64_MAX);
	k = (int)(seqat - 1);
	while (s[k] != '.')
		k--;
	snprintf(alt, sizeof alt, "%.*s.%s%s", k, s, tok, s + seqat);
	ack_check(alt);

	/* Not an acknowledgement once its prefix is wrong. */
	s[1 + fz_u8(f) % 7] = 'x';
	FZ_CHECK(wire_ack_sseq(s) == 0);
}

/* The first place pattern pat occurs in the len bytes at s, or NULL. */
static const char *
ref_find(const char *s, size_t len, const char *pat)
{
	size_t	 pl = strlen(pat), i;

	for (i = 0; i + pl <= len; i++)
		if (memcmp(s + i, pat, pl) == 0)
			return (s + i);
	return (NULL);
}

/*
 * "key": then spaces and digits, at the first place "key": occurs.
 * Strict, canonical digits; loose, leading zeros too.
 */
static int
ref_json_num(const char *s, size_t len, const char *key, int strict,
    uint64_t *v)
{
	const char	*p, *end = s + len;
	char		 pat[64];
	size_t		 n;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	if ((p = ref_find(s, len, pat)) == NULL)
		return (-1);
	p += strlen(pat);
	while (p < end && *p == ' ')
		p++;
	for (n = 0; p + n < end && p[n] >= '0' && p[n] <= '9'; n++)
		;
	return (ref_num(p, n, 10, UINT64_MAX, strict, v));
}

/* "key":"...", at the first place it occurs: no escapes, fits in blen. */
static int
ref_json_str(const char *s, size_t len, const char *key, char *buf,
    size_t blen)
{
	const char	*p, *end = s + len;
	char		 pat[64];
	size_t		 n;

	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	if ((p = ref_find(s, len, pat)) == NULL)
		return (-1);
	p += strlen(pat);
	for (n = 0; p + n < end && p[n] != '"'; n++)
		if (p[n] == '\\')
			return (-1);
	if (p + n == end || n >= blen)
		return (-1);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return (0);
}

/* Check both JSON readers on the len bytes at s, for key. */
static void
json_check(const char *s, size_t len, const char *key, size_t blen)
{
	uint64_t	 got = 0, v;
	char		*buf, want[300];
	int		 rc, ref;

	rc = wire_json_num(s, len, key, &got);
	FZ_CHECK(rc == 0 || rc == -1);
	if (ref_json_num(s, len, key, 1, &v) == 0)
		FZ_CHECK(rc == 0 && got == v);
	if (rc == 0)
		FZ_CHECK(ref_json_num(s, len, key, 0, &v) == 0 && got == v);

	buf = xalloc(blen > 0 ? blen : 1);
	rc = wire_json_str(s, len, key, buf, blen);
	ref = ref_json_str(s, len, key, want, blen < sizeof want ?
	    blen : sizeof want);
	FZ_CHECK(rc == ref);
	if (rc == 0)
		FZ_CHECK(strcmp(buf, want) == 0);
	free(buf);
}

/* Raw JSON: a key and a string length, then the answer, not terminated. */
static void
json_raw(const uint8_t *data, size_t size)
{
	char	*s;

	if (size < 2)
		return;
	s = xalloc(size - 2);
	memcpy(s, data + 2, size - 2);
	json_check(s, size - 2, json_keys[data[0] % NJSON_KEYS], data[1]);
	free(s);
}

/*
 * Built JSON: {"key":N} among other fields gives N; {"key":"S"} gives S
 * if it fits.  Then every shorter cut of the answer is read in a buffer
 * of that length.
 */
static void
json_built(struct fz *f)
{
	char		 text[512], str[40], buf[40], *s;
	const char	*key;
	uint64_t	 n, got;
	size_t		 len = 0, slen, blen, cut, i;
	int		 sp;

	key = json_keys[fz_u8(f) % 5];	/* plain keys only */
	n = fz_num(f, UINT64_MAX);
	slen = fz_u8(f) % 32;
	for (i = 0; i < slen; i++) {
		str[i] = (char)fz_u8(f);
		if (str[i] == '"' || str[i] == '\\' || str[i] == '\0')
			str[i] = '.';
	}
	str[slen] = '\0';
	if (fz_u8(f) & 1)
		len += (size_t)sprintf(text + len, "{\"type\":\"io.nats\",");
	else
		len += (size_t)sprintf(text + len, "{");
	sp = fz_u8(f) % 3;
	len += (size_t)sprintf(text + len, "\"%s\":%.*s%llu,\"%s_s\":\"%s\"",
	    key, sp, "  ", (unsigned long long)n, key, str);
	len += (size_t)sprintf(text + len, ",\"x\":{\"y\":1}}");
	s = xalloc(len);
	memcpy(s, text, len);
	FZ_CHECK(wire_json_num(s, len, key, &got) == 0 && got == n);
	snprintf(text, sizeof text, "%s_s", key);
	blen = fz_u8(f) % 40;
	FZ_CHECK(wire_json_str(s, len, text, buf, blen) ==
	    (slen < blen ? 0 : -1));
	if (slen < blen)
		FZ_CHECK(strcmp(buf, str) == 0);
	free(s);

	/*
	 * The number alone, or numbers of every kind; then cut short, each
	 * answer in a buffer of its own length.
	 */
	cut = fz_u8(f);
	if (fz_u8(f) & 1)
		snprintf(text, sizeof text, "{\"%s\":%llu}", key,
		    (unsigned long long)n);
	else {
		pick_numtok(f, str, 10, UINT64_MAX);
		snprintf(text, sizeof text, "{\"%s\":%s}", key, str);
	}
	len = strlen(text);
	s = xalloc(len);
	memcpy(s, text, len);
	json_check(s, len, key, 1 + cut % 32);
	free(s);
	for (i = cut % (len + 1); i < len; i += 1 + cut % 7) {
		s = xalloc(i > 0 ? i : 1);
		memcpy(s, text, i);
		json_check(s, i, key, 1 + cut % 32);
		free(s);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz	 f;
	int		 mode;

	if (size == 0)
		return (0);
	mode = data[0] % NMODES;
	data++;
	size--;
	f.p = data;
	f.n = size;
	switch (mode) {
	case KEY_RAW:
		key_raw(data, size);
		break;
	case KEY_BUILT:
		key_built(&f);
		break;
	case VALUE_RAW:
		value_raw(data, size);
		break;
	case VALUE_BUILT:
		value_built(&f);
		break;
	case PRESENCE_RAW:
		presence_raw(data, size);
		break;
	case PRESENCE_BUILT:
		presence_built(&f);
		break;
	case UNPAD_RAW:
		unpad_raw(data, size);
		break;
	case UNPAD_BUILT:
		unpad_built(&f);
		break;
	case ACK_RAW:
		ack_raw(data, size);
		break;
	case ACK_BUILT:
		ack_built(&f);
		break;
	case JSON_RAW:
		json_raw(data, size);
		break;
	default:
		json_built(&f);
		break;
	}
	return (0);
}
