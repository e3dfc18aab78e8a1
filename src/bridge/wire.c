/*
 * What the bridge sends to and takes from the cluster, as text: names as
 * keys, the values of keys, hosts' presence lines, the pad of a message,
 * JetStream's acknowledgement subjects and answers.  Everything that
 * comes from the network is taken apart here, and only in one canonical
 * form: anything else is refused, for the caller to log and ignore.  No
 * libnats and no FUSE, so that it is fuzzed alone (tests/fuzz/fuzz_wire.c).
 */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

static int
wire_plain(unsigned char ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_');
}

static int
wire_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/* A stream id: 16 lower-case hexadecimal digits, nothing else. */
int
wire_id_ok(const char *id, size_t len)
{
	size_t	 i;

	if (len != WIRE_ID_LEN)
		return (0);
	for (i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return (0);
	return (1);
}

/*
 * Append one path component to the key in buf at *o: its bytes other than
 * letters, digits, '-' and '_' as =XX, after a '.' unless it is the first.
 * Returns 0, or -1 if it does not fit in len (with its NUL).
 */
int
wire_key_append(char *buf, size_t len, size_t *o, const char *comp)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	size_t			 at = *o;

	if (at > 0) {
		if (at + 1 >= len)
			return (-1);
		buf[at++] = '.';
	}
	for (p = (const unsigned char *)comp; *p != '\0'; p++) {
		if (wire_plain(*p)) {
			if (at + 1 >= len)
				return (-1);
			buf[at++] = (char)*p;
		} else {
			if (at + 3 >= len)
				return (-1);
			buf[at++] = '=';
			buf[at++] = hex[*p >> 4];
			buf[at++] = hex[*p & 15];
		}
	}
	buf[at] = '\0';
	*o = at;
	return (0);
}

/*
 * Take the next component of key at *pp into comp (NAME_MAX_LEN + 1
 * bytes), and move *pp past it and its dot.  Returns 1 if it was the
 * last, 0 if more follow, -1 if it is not the canonical encoding of a
 * name (an escape of a plain byte, lower-case hexadecimal, an empty
 * component, ".", "..", a NUL or a '/').
 */
int
wire_key_next(const char **pp, char *comp)
{
	const char	*p = *pp;
	size_t		 o = 0;
	int		 hi, lo;

	while (*p != '\0' && *p != '.') {
		if (o >= NAME_MAX_LEN)
			return (-1);
		if (*p == '=') {
			if ((hi = wire_hex(p[1])) == -1 ||
			    (lo = wire_hex(p[2])) == -1)
				return (-1);
			comp[o] = (char)(hi << 4 | lo);
			if (comp[o] == '\0' || comp[o] == '/' ||
			    wire_plain((unsigned char)comp[o]))
				return (-1);
			o++;
			p += 3;
		} else if (wire_plain((unsigned char)*p))
			comp[o++] = *p++;
		else
			return (-1);
	}
	comp[o] = '\0';
	if (o == 0 || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
		return (-1);
	if (*p == '\0') {
		*pp = p;
		return (1);
	}
	if (p[1] == '\0')
		return (-1);		/* a trailing dot */
	*pp = p + 1;
	return (0);
}

/* Whether key is canonical in every component, and not too long. */
int
wire_key_ok(const char *key, size_t max)
{
	char	 comp[NAME_MAX_LEN + 1];
	int	 r;

	if (strlen(key) > max)
		return (0);
	while ((r = wire_key_next(&key, comp)) == 0)
		;
	return (r == 1);
}

/* Read a decimal or octal number that is all of tok, up to max. */
static int
wire_num(const char *tok, size_t len, int base, uint64_t max, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;
	int		 d;

	if (len == 0 || len > 20 || (len > 1 && tok[0] == '0'))
		return (-1);
	for (i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] >= '0' + base)
			return (-1);
		d = tok[i] - '0';
		if (v > (max - (uint64_t)d) / (uint64_t)base)
			return (-1);
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return (0);
}

/*
 * Split s into at most n tokens at single spaces: how many, or -1 if
 * there are more, or an empty one.
 */
static int
wire_split(const char *s, const char **tok, size_t *len, int n)
{
	int	 i = 0;

	for (;;) {
		if (i == n)
			return (-1);
		tok[i] = s;
		while (*s != '\0' && *s != ' ')
			s++;
		len[i] = (size_t)(s - tok[i]);
		if (len[i] == 0)
			return (-1);
		i++;
		if (*s == '\0')
			break;
		s++;
	}
	return (i);
}

static int
wire_word(const char *tok, size_t len, const char *const words[2])
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (strlen(words[i]) == len && memcmp(tok, words[i], len) == 0)
			return (i);
	return (-1);
}

/*
 * A key's value: "d MODE UID GID" for a directory, "f ID FRAMING DELIVERY
 * CAPACITY MODE UID GID" for a channel, each with "MTIME ATIME" after it
 * or not (nanoseconds since the epoch); MODE in octal, single spaces, and
 * nothing else.  Returns 0, or -1 if v is anything else.
 */
int
wire_value_parse(const char *v, struct wire_value *wv)
{
	const char	*tok[10];
	size_t		 len[10];
	uint64_t	 mode, uid, gid, cap;
	int		 i = 1, n;

	memset(wv, 0, sizeof *wv);
	if (strlen(v) > WIRE_VALUE_MAX)
		return (-1);
	if (v[0] == 'd' && v[1] == ' ') {
		if ((n = wire_split(v, tok, len, 6)) != 4 && n != 6)
			return (-1);
		wv->dir = 1;
	} else if (v[0] == 'f' && v[1] == ' ') {
		if (((n = wire_split(v, tok, len, 10)) != 8 && n != 10) ||
		    !wire_id_ok(tok[1], len[1]) ||
		    (wv->framing = wire_word(tok[2], len[2],
		    opts_framing)) == -1 ||
		    (wv->delivery = wire_word(tok[3], len[3],
		    opts_delivery)) == -1 ||
		    wire_num(tok[4], len[4], 10, CAPACITY_MAX, &cap) != 0 ||
		    cap < CAPACITY_MIN)
			return (-1);
		memcpy(wv->id, tok[1], WIRE_ID_LEN);
		wv->id[WIRE_ID_LEN] = '\0';
		wv->capacity = (size_t)cap;
		i = 5;
	} else
		return (-1);
	if (len[0] != 1 ||
	    wire_num(tok[i], len[i], 8, 07777, &mode) != 0 ||
	    wire_num(tok[i + 1], len[i + 1], 10, WIRE_ID_MAX, &uid) != 0 ||
	    wire_num(tok[i + 2], len[i + 2], 10, WIRE_ID_MAX, &gid) != 0)
		return (-1);
	if (n == i + 5) {
		if (wire_num(tok[i + 3], len[i + 3], 10, WIRE_TIME_MAX,
		    &wv->mtime) != 0 ||
		    wire_num(tok[i + 4], len[i + 4], 10, WIRE_TIME_MAX,
		    &wv->atime) != 0)
			return (-1);
		wv->times = 1;
	}
	wv->mode = (mode_t)mode;
	wv->uid = (uid_t)uid;
	wv->gid = (gid_t)gid;
	return (0);
}

/* Write a value as wire_value_parse takes it; returns its length. */
int
wire_value_format(char *buf, size_t len, const struct wire_value *wv)
{
	char	 times[48] = "";

	if (wv->times)
		snprintf(times, sizeof times, " %llu %llu",
		    (unsigned long long)wv->mtime,
		    (unsigned long long)wv->atime);
	if (wv->dir)
		return (snprintf(buf, len, "d %o %u %u%s",
		    (unsigned)(wv->mode & 07777), (unsigned)wv->uid,
		    (unsigned)wv->gid, times));
	return (snprintf(buf, len, "f %s %s %s %zu %o %u %u%s", wv->id,
	    opts_framing[wv->framing != 0], opts_delivery[wv->delivery != 0],
	    wv->capacity, (unsigned)(wv->mode & 07777), (unsigned)wv->uid,
	    (unsigned)wv->gid, times));
}

/*
 * The next line "ID READERS WRITERS" of a host's presence at *pp; *pp
 * moves past it.  Returns 1 with a line taken, 0 at the end, -1 for a
 * line that is not one (skipped).  Counts above WIRE_COUNT_MAX are not
 * taken: no host has that many opens.
 */
int
wire_presence_next(const char **pp, char *id, unsigned *readers,
    unsigned *writers)
{
	const char	*p = *pp, *nl, *tok[3];
	size_t		 len[3], l;
	uint64_t	 r, w;
	char		 line[WIRE_ID_LEN + 2 * 21 + 3];

	if (*p == '\0')
		return (0);
	if ((nl = strchr(p, '\n')) == NULL)
		nl = p + strlen(p);
	*pp = *nl == '\n' ? nl + 1 : nl;
	l = (size_t)(nl - p);
	if (l >= sizeof line)
		return (-1);
	memcpy(line, p, l);
	line[l] = '\0';
	if (wire_split(line, tok, len, 3) != 3 ||
	    !wire_id_ok(tok[0], len[0]) ||
	    wire_num(tok[1], len[1], 10, WIRE_COUNT_MAX, &r) != 0 ||
	    wire_num(tok[2], len[2], 10, WIRE_COUNT_MAX, &w) != 0)
		return (-1);
	memcpy(id, tok[0], WIRE_ID_LEN);
	id[WIRE_ID_LEN] = '\0';
	*readers = (unsigned)r;
	*writers = (unsigned)w;
	return (1);
}

/*
 * The pad that makes a message's stored size a multiple of align:
 * stored is what JetStream counts of it without the pad.
 */
size_t
wire_pad(size_t stored, size_t align)
{
	return ((align - stored % align) % align);
}

/*
 * Where the data of a message starts, past its pad byte and pad: -1 if
 * the message has no pad byte, the pad is longer than the message or
 * longer than any sender makes it, or its bytes are not zero.
 */
ssize_t
wire_unpad(const unsigned char *data, size_t len)
{
	size_t	 pad, i;

	if (len == 0)
		return (-1);
	pad = data[0];
	if (pad >= WIRE_PAD_MAX || 1 + pad > len)
		return (-1);
	for (i = 1; i <= pad; i++)
		if (data[i] != 0)
			return (-1);
	return ((ssize_t)(1 + pad));
}

/*
 * The stream sequence of a message, from its acknowledgement subject:
 * $JS.ACK.stream.consumer.delivered.sseq.cseq.time.pending, or with a
 * domain and an account hash two tokens more before the stream (and a
 * random token after).  0 if it is neither.
 */
uint64_t
wire_ack_sseq(const char *reply)
{
	const char	*tok[12], *p;
	size_t		 len[12];
	uint64_t	 v;
	int		 n = 0, at;

	if (strncmp(reply, "$JS.ACK.", 8) != 0)
		return (0);
	for (p = reply; n < 12 && p != NULL; n++) {
		tok[n] = p;
		if ((p = strchr(p, '.')) != NULL) {
			len[n] = (size_t)(p - tok[n]);
			p++;
		} else
			len[n] = strlen(tok[n]);
	}
	if (p != NULL)
		return (0);
	if (n == 9)
		at = 5;
	else if (n == 11 || n == 12)
		at = 7;
	else
		return (0);
	if (wire_num(tok[at], len[at], 10, UINT64_MAX, &v) != 0)
		return (0);
	return (v);
}

/*
 * Where the value of "key": starts in a JSON answer of len bytes (the
 * pattern with tail after the colon), anywhere in it: JetStream's answers
 * are small and flat.  NULL if it is not there.
 */
static const char *
wire_json_at(const char *s, size_t len, const char *key, const char *tail)
{
	char		 pat[40];
	const char	*p;
	size_t		 pl;

	pl = (size_t)snprintf(pat, sizeof pat, "\"%s\":%s", key, tail);
	if (pl >= sizeof pat)
		return (NULL);
	for (p = s; p + pl <= s + len; p++)
		if (memcmp(p, pat, pl) == 0)
			return (p + pl);
	return (NULL);
}

/* The number after "key": in a JSON answer of len bytes.  -1 if none. */
int
wire_json_num(const char *s, size_t len, const char *key, uint64_t *out)
{
	const char	*p, *end = s + len;
	size_t		 n;

	if ((p = wire_json_at(s, len, key, "")) == NULL)
		return (-1);
	while (p < end && *p == ' ')
		p++;
	for (n = 0; p + n < end && isdigit((unsigned char)p[n]); n++)
		;
	if (n == 0)
		return (-1);
	return (wire_num(p, n, 10, UINT64_MAX, out));
}

/*
 * The string after "key": in a JSON answer, into buf.  -1 if none, or if
 * it has escapes or does not fit.
 */
int
wire_json_str(const char *s, size_t len, const char *key, char *buf,
    size_t blen)
{
	const char	*p, *end = s + len;
	size_t		 n;

	if ((p = wire_json_at(s, len, key, "\"")) == NULL)
		return (-1);
	for (n = 0; p + n < end && p[n] != '"'; n++)
		if (p[n] == '\\')
			return (-1);
	if (p + n >= end || n >= blen)
		return (-1);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return (0);
}
