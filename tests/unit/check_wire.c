/*
 * Unit tests for bridge/wire.c: stream ids, keys, values of keys,
 * presence lines, the pad of a message, acknowledgement subjects and
 * JSON answers.  Each is taken only in its canonical form: these are the
 * normal cases, the limits on both sides, and the refusals.  JSON is
 * read from buffers exactly as long as the answer, without a NUL, so
 * ASan sees a read past the end.
 */

#include <sys/stat.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

#define ID	"0123456789abcdef"

/* A key must decode to exactly the n components in want. */
static void
ck_key(const char *key, int n, const char *const *want)
{
	char		 comp[NAME_MAX_LEN + 1];
	const char	*p = key;
	int		 i, r;

	ck_assert_msg(wire_key_ok(key, strlen(key)) == 1, "\"%s\" refused",
	    key);
	for (i = 0; i < n; i++) {
		r = wire_key_next(&p, comp);
		ck_assert_int_eq(r, i == n - 1 ? 1 : 0);
		ck_assert_str_eq(comp, want[i]);
	}
	ck_assert_int_eq(*p, '\0');
}

/* A key must be refused, by wire_key_ok and by some wire_key_next. */
static void
ck_key_bad(const char *key)
{
	char		 comp[NAME_MAX_LEN + 1];
	const char	*p = key;
	int		 r, steps = 0;

	ck_assert_msg(wire_key_ok(key, SIZE_MAX) == 0, "\"%s\" taken", key);
	while ((r = wire_key_next(&p, comp)) == 0)
		ck_assert_int_le(++steps, (int)strlen(key));
	ck_assert_int_eq(r, -1);
}

/* A value must be taken as want, and format back to itself. */
static void
ck_value(const char *v, const struct wire_value *want)
{
	struct wire_value	 wv;
	char			 buf[WIRE_VALUE_MAX + 1];

	ck_assert_msg(wire_value_parse(v, &wv) == 0, "\"%s\" refused", v);
	ck_assert_int_eq(wv.dir, want->dir);
	ck_assert_uint_eq(wv.mode, want->mode);
	ck_assert_uint_eq(wv.uid, want->uid);
	ck_assert_uint_eq(wv.gid, want->gid);
	ck_assert_int_eq(wv.times, want->times);
	ck_assert_uint_eq(wv.mtime, want->mtime);
	ck_assert_uint_eq(wv.atime, want->atime);
	if (!want->dir) {
		ck_assert_str_eq(wv.id, want->id);
		ck_assert_int_eq(wv.framing, want->framing);
		ck_assert_int_eq(wv.delivery, want->delivery);
		ck_assert_uint_eq(wv.capacity, want->capacity);
	}
	ck_assert_int_eq(wire_value_format(buf, sizeof buf, &wv),
	    (int)strlen(v));
	ck_assert_str_eq(buf, v);
}

static void
ck_value_bad(const char *v)
{
	struct wire_value	 wv;

	ck_assert_msg(wire_value_parse(v, &wv) == -1, "\"%s\" taken", v);
}

/* The next presence line of *pp must be got, with the id and counts. */
static void
ck_presence(const char **pp, int got, const char *id, unsigned r,
    unsigned w)
{
	char		 gid[WIRE_ID_LEN + 1];
	unsigned	 gr = 12345, gw = 12345;

	ck_assert_int_eq(wire_presence_next(pp, gid, &gr, &gw), got);
	if (got != 1)
		return;
	ck_assert_str_eq(gid, id);
	ck_assert_uint_eq(gr, r);
	ck_assert_uint_eq(gw, w);
}

/* A copy of the string s without its NUL, in a buffer just as long. */
static char *
exact(const char *s, size_t len)
{
	char	*b = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(b);
	memcpy(b, s, len);
	return (b);
}

/* wire_json_num on the first len bytes of s. */
static int
json_num(const char *s, size_t len, const char *key, uint64_t *v)
{
	char	*b = exact(s, len);
	int	 rc;

	rc = wire_json_num(b, len, key, v);
	free(b);
	return (rc);
}

/* wire_json_str on the first len bytes of s, into blen bytes. */
static int
json_str(const char *s, size_t len, const char *key, char *buf, size_t blen)
{
	char	*b = exact(s, len);
	int	 rc;

	rc = wire_json_str(b, len, key, buf, blen);
	free(b);
	return (rc);
}

START_TEST(test_id)
{
	ck_assert_int_eq(wire_id_ok(ID, 16), 1);
	ck_assert_int_eq(wire_id_ok("ffffffffffffffff", 16), 1);
	ck_assert_int_eq(wire_id_ok("0000000000000000", 16), 1);
	ck_assert_int_eq(wire_id_ok(ID, 15), 0);
	ck_assert_int_eq(wire_id_ok(ID "0", 17), 0);
	ck_assert_int_eq(wire_id_ok("", 0), 0);
	ck_assert_int_eq(wire_id_ok("0123456789ABCDEF", 16), 0);
	ck_assert_int_eq(wire_id_ok("0123456789abcdeg", 16), 0);
	ck_assert_int_eq(wire_id_ok("0123456789abcde.", 16), 0);
	ck_assert_int_eq(wire_id_ok("0123456789abcde*", 16), 0);
	ck_assert_int_eq(wire_id_ok("0123456789abcde>", 16), 0);
	ck_assert_int_eq(wire_id_ok("0123456789abcde ", 16), 0);
	/* Only len bytes count: a NUL among them is not a digit. */
	ck_assert_int_eq(wire_id_ok("0123456789abcde\0", 16), 0);
}
END_TEST

START_TEST(test_key_append)
{
	char	 buf[64];
	size_t	 o = 0;

	ck_assert_int_eq(wire_key_append(buf, sizeof buf, &o, "a"), 0);
	ck_assert_str_eq(buf, "a");
	ck_assert_uint_eq(o, 1);
	ck_assert_int_eq(wire_key_append(buf, sizeof buf, &o, "x.y"), 0);
	ck_assert_str_eq(buf, "a.x=2Ey");
	ck_assert_int_eq(wire_key_append(buf, sizeof buf, &o, "caf\xc3\xa9"),
	    0);
	ck_assert_str_eq(buf, "a.x=2Ey.caf=C3=A9");
	ck_assert_int_eq(wire_key_append(buf, sizeof buf, &o, "Az09-_"), 0);
	ck_assert_str_eq(buf, "a.x=2Ey.caf=C3=A9.Az09-_");
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, sizeof buf, &o, " /=*>.\x7f"),
	    0);
	ck_assert_str_eq(buf, "=20=2F=3D=2A=3E=2E=7F");
	ck_assert_uint_eq(o, strlen(buf));
}
END_TEST

/* A key fits with its NUL, or is refused and *o stays. */
START_TEST(test_key_append_limits)
{
	char	 buf[16];
	size_t	 o;

	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 4, &o, "abc"), 0);
	ck_assert_str_eq(buf, "abc");
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 3, &o, "abc"), -1);
	ck_assert_uint_eq(o, 0);
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 4, &o, "."), 0);
	ck_assert_str_eq(buf, "=2E");
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 3, &o, "."), -1);
	ck_assert_uint_eq(o, 0);
	/* The dot counts: "ab" + ".c" needs 5 bytes. */
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 5, &o, "ab"), 0);
	ck_assert_int_eq(wire_key_append(buf, 5, &o, "c"), 0);
	ck_assert_str_eq(buf, "ab.c");
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 4, &o, "ab"), 0);
	ck_assert_int_eq(wire_key_append(buf, 4, &o, "c"), -1);
	ck_assert_uint_eq(o, 2);
	o = 0;
	ck_assert_int_eq(wire_key_append(buf, 3, &o, "ab"), 0);
	ck_assert_int_eq(wire_key_append(buf, 3, &o, "c"), -1);
	ck_assert_uint_eq(o, 2);
}
END_TEST

START_TEST(test_key_next)
{
	ck_key("a", 1, (const char *[]){ "a" });
	ck_key("a.b", 2, (const char *[]){ "a", "b" });
	ck_key("x=2Ey", 1, (const char *[]){ "x.y" });
	ck_key("caf=C3=A9.dir.f", 3, (const char *[]){ "caf\xc3\xa9", "dir",
	    "f" });
	ck_key("=2E=2E=2E", 1, (const char *[]){ "..." });
	ck_key("=2Ea", 1, (const char *[]){ ".a" });
	ck_key("a=2E", 1, (const char *[]){ "a." });
	ck_key("=20", 1, (const char *[]){ " " });
	ck_key("=FF.=01", 2, (const char *[]){ "\xff", "\x01" });
	ck_key("-._", 2, (const char *[]){ "-", "_" });
}
END_TEST

START_TEST(test_key_refused)
{
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "a.", "a.b.", "=", "=0", "=4",
		"a=4", "a=4.b", "x=2ey", "=2e", "=41", "a=5Fb", "a=2Db",
		"a=30", "a=00b", "=00", "a=2Fb", "=2F", "=2E", "=2E=2E",
		"a.=2E", "=2E=2E.a", "a b", "a/b", "a*", "a>", "a=G0",
		"a=0G", "a==41", "a=+1", "\xc3\xa9", "a\n", "A=7e",
	};
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_key_bad(bad[i]);
}
END_TEST

/* Components up to NAME_MAX_LEN decoded bytes, escaped or not. */
START_TEST(test_key_name_max)
{
	char	 key[3 * NAME_MAX_LEN + 8], comp[NAME_MAX_LEN + 1];
	const char	*p;
	int	 i;

	memset(key, 'a', NAME_MAX_LEN);
	key[NAME_MAX_LEN] = '\0';
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 1);
	p = key;
	ck_assert_int_eq(wire_key_next(&p, comp), 1);
	ck_assert_uint_eq(strlen(comp), NAME_MAX_LEN);
	key[NAME_MAX_LEN] = 'a';
	key[NAME_MAX_LEN + 1] = '\0';
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 0);

	for (i = 0; i < NAME_MAX_LEN; i++)
		memcpy(key + 3 * i, "=FF", 3);
	key[3 * NAME_MAX_LEN] = '\0';
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 1);
	p = key;
	ck_assert_int_eq(wire_key_next(&p, comp), 1);
	ck_assert_uint_eq(strlen(comp), NAME_MAX_LEN);
	memcpy(key + 3 * NAME_MAX_LEN, "=FF", 4);
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 0);

	/* The longest name after a short one, and one byte more. */
	memcpy(key, "b.", 2);
	memset(key + 2, 'a', NAME_MAX_LEN);
	key[2 + NAME_MAX_LEN] = '\0';
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 1);
	p = key;
	ck_assert_int_eq(wire_key_next(&p, comp), 0);
	ck_assert_str_eq(comp, "b");
	ck_assert_int_eq(wire_key_next(&p, comp), 1);
	ck_assert_uint_eq(strlen(comp), NAME_MAX_LEN);
	memcpy(key + 2 + NAME_MAX_LEN, "=2E", 4);
	ck_assert_int_eq(wire_key_ok(key, SIZE_MAX), 0);
}
END_TEST

/* wire_key_ok's max is the longest key, in bytes. */
START_TEST(test_key_max)
{
	ck_assert_int_eq(wire_key_ok("a.b", 3), 1);
	ck_assert_int_eq(wire_key_ok("a.b", 2), 0);
	ck_assert_int_eq(wire_key_ok("a=2Eb", 5), 1);
	ck_assert_int_eq(wire_key_ok("a=2Eb", 4), 0);
	ck_assert_int_eq(wire_key_ok("a", 0), 0);
}
END_TEST

START_TEST(test_value)
{
	ck_value("d 755 0 0", &(struct wire_value){ .dir = 1, .mode = 0755 });
	ck_value("d 0 0 0", &(struct wire_value){ .dir = 1 });
	ck_value("d 7777 4294967294 4294967294", &(struct wire_value){
	    .dir = 1, .mode = 07777, .uid = 4294967294U,
	    .gid = 4294967294U });
	ck_value("d 1755 1000 100", &(struct wire_value){ .dir = 1,
	    .mode = 01755, .uid = 1000, .gid = 100 });
	ck_value("f " ID " bytes queue 65536 644 1000 100",
	    &(struct wire_value){ .id = ID, .framing = 0, .delivery = 0,
	    .capacity = 65536, .mode = 0644, .uid = 1000, .gid = 100 });
	ck_value("f ffffffffffffffff messages broadcast 4096 0 0 0",
	    &(struct wire_value){ .id = "ffffffffffffffff", .framing = 1,
	    .delivery = 1, .capacity = CAPACITY_MIN });
	ck_value("f " ID " bytes broadcast 67108864 7777 4294967294 0",
	    &(struct wire_value){ .id = ID, .delivery = 1,
	    .capacity = CAPACITY_MAX, .mode = 07777, .uid = 4294967294U });
	/* Times, in nanoseconds since the epoch. */
	ck_value("d 700 1000 100 1765000000123456789 0", &(struct wire_value){
	    .dir = 1, .mode = 0700, .uid = 1000, .gid = 100, .times = 1,
	    .mtime = 1765000000123456789ULL });
	ck_value("f " ID " bytes queue 65536 600 1000 100 1 "
	    "9223372036854775807", &(struct wire_value){ .id = ID,
	    .capacity = 65536, .mode = 0600, .uid = 1000, .gid = 100,
	    .times = 1, .mtime = 1, .atime = INT64_MAX });
}
END_TEST

START_TEST(test_value_refused)
{
	static const char *const bad[] = {
		"", "d", "d ", "f", "x 755 0 0", "D 755 0 0", "dd 755 0 0",
		/* Numbers: signs, range, base, overflow. */
		"d -1 0 0", "d 755 -1 0", "d 755 0 -1", "d +755 0 0",
		"d 755 4294967295 0", "d 755 0 4294967295",
		"d 755 18446744073709551616 0",
		"d 755 18446744073709551615 0",
		"d 755 99999999999999999999999 0",
		"d 10000 0 0", "d 8 0 0", "d 79 0 0", "d 0x1ed 0 0",
		"d 755 1e3 0", "d 755 1.0 0", "d 755 0x10 0",
		/* Spaces and what follows. */
		"d  755 0 0", " d 755 0 0", "d 755 0 0 ", "d 755 0  0",
		"d 755 0 0 x", "d 755 0 0\n", "d\t755 0 0", "d 755 0",
		/* Channels. */
		"f 0123456789ABCDEF bytes queue 65536 644 0 0",
		"f 0123456789abcdeF bytes queue 65536 644 0 0",
		"f 0123456789abcde. bytes queue 65536 644 0 0",
		"f 0123456789abcde* bytes queue 65536 644 0 0",
		"f 0123456789abcde> bytes queue 65536 644 0 0",
		"f 0123456789abcde bytes queue 65536 644 0 0",
		"f 0123456789abcdef0 bytes queue 65536 644 0 0",
		"f " ID " byte queue 65536 644 0 0",
		"f " ID " Bytes queue 65536 644 0 0",
		"f " ID " bytes Queue 65536 644 0 0",
		"f " ID " queue bytes 65536 644 0 0",
		"f " ID " bytes queue 4095 644 0 0",
		"f " ID " bytes queue 67108865 644 0 0",
		"f " ID " bytes queue 0 644 0 0",
		"f " ID " bytes queue -65536 644 0 0",
		"f " ID " bytes queue 65536 644 0",
		"f " ID " bytes queue 65536 644 0 0 ",
		"f " ID " bytes queue 65536 10000 0 0",
		"f " ID " bytes queue 65536 644 4294967295 0",
		"d 755 0 0 " ID,
		/* Times: both or neither, in range, one form. */
		"d 755 0 0 1", "d 755 0 0 1 2 3", "d 755 0 0 01 2",
		"d 755 0 0 1 -2", "d 755 0 0 9223372036854775808 0",
		"d 755 0 0 1.5 2", "d 755 0 0 1 2 ",
		"f " ID " bytes queue 65536 644 0 0 1",
		"f " ID " bytes queue 65536 644 0 0 1 2 3",
		"f " ID " bytes queue 65536 644 0 0 1 02",
		"f 755 0 0",
		/* Leading zeros: one value, one form. */
		"d 0755 0 0", "d 755 00 0", "d 755 0 007",
		"f " ID " bytes queue 065536 644 0 0",
	};
	char	 longv[WIRE_VALUE_MAX + 8];
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_value_bad(bad[i]);
	/* Longer than any value. */
	memset(longv, '0', sizeof longv - 1);
	memcpy(longv, "d 755 0 ", 8);
	longv[sizeof longv - 1] = '\0';
	ck_value_bad(longv);
}
END_TEST

/* Format writes what parse takes, and says how long it is when cut. */
START_TEST(test_value_format)
{
	struct wire_value	 wv = { .dir = 1, .mode = 0755, .uid = 1,
				    .gid = 2 };
	char			 buf[8];

	ck_assert_int_eq(wire_value_format(buf, sizeof buf, &wv), 9);
	ck_assert_str_eq(buf, "d 755 1");
	/* Only the permission bits of a mode go out. */
	wv.mode = S_IFDIR | 0700;
	ck_assert_int_eq(wire_value_format(buf, sizeof buf, &wv), 9);
	ck_assert_str_eq(buf, "d 700 1");
}
END_TEST

START_TEST(test_presence)
{
	const char	*p, *s;

	s = ID " 1 2\nfedcba9876543210 0 1000000\n";
	p = s;
	ck_presence(&p, 1, ID, 1, 2);
	ck_presence(&p, 1, "fedcba9876543210", 0, 1000000);
	ck_presence(&p, 0, NULL, 0, 0);
	ck_assert_ptr_eq(p, s + strlen(s));
	ck_presence(&p, 0, NULL, 0, 0);

	/* No newline after the last line. */
	p = ID " 0 0";
	ck_presence(&p, 1, ID, 0, 0);
	ck_presence(&p, 0, NULL, 0, 0);

	p = "";
	ck_presence(&p, 0, NULL, 0, 0);
}
END_TEST

/* A line that is not one is skipped, and the next one taken. */
START_TEST(test_presence_refused)
{
	static const char *const bad[] = {
		"", " ", ID, ID " 1", ID " 1 2 3", ID "  1 2", " " ID " 1 2",
		ID " 1 2 ", ID " 1  2", "0123456789ABCDEF 1 2",
		"0123456789abcde 1 2", ID "0 1 2", ID " 1000001 0",
		ID " 0 1000001", ID " 4294967295 0", ID " 0 4294967295",
		ID " 4294967296 0", ID " 18446744073709551616 0",
		ID " -1 0", ID " +1 0", ID " 1x 0", ID "\t1 2", ID " 1 2\r",
		ID " 1 2 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	};
	char		 text[256];
	const char	*p;
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "%s\nfedcba9876543210 3 4\n",
		    bad[i]);
		p = text;
		ck_presence(&p, -1, NULL, 0, 0);
		ck_assert_ptr_eq(p, text + strlen(bad[i]) + 1);
		ck_presence(&p, 1, "fedcba9876543210", 3, 4);
		ck_presence(&p, 0, NULL, 0, 0);
	}
}
END_TEST

START_TEST(test_pad)
{
	ck_assert_uint_eq(wire_pad(0, 8), 0);
	ck_assert_uint_eq(wire_pad(1, 8), 7);
	ck_assert_uint_eq(wire_pad(7, 8), 1);
	ck_assert_uint_eq(wire_pad(8, 8), 0);
	ck_assert_uint_eq(wire_pad(9, 8), 7);
	ck_assert_uint_eq(wire_pad(5, 1), 0);
	ck_assert_uint_eq(wire_pad(13, 4096), 4083);
	ck_assert_uint_eq(wire_pad(SIZE_MAX, 2), 1);
}
END_TEST

START_TEST(test_unpad)
{
	unsigned char	 m[WIRE_PAD_MAX + 8];

	memset(m, 0, sizeof m);
	ck_assert_int_eq(wire_unpad(m, 0), -1);
	ck_assert_int_eq(wire_unpad(m, 1), 1);
	m[1] = 'x';
	ck_assert_int_eq(wire_unpad(m, 2), 1);
	m[0] = 2;
	m[1] = m[2] = 0;
	m[3] = 'd';
	ck_assert_int_eq(wire_unpad(m, 4), 3);
	ck_assert_int_eq(wire_unpad(m, 3), 3);	/* no data at all */
	ck_assert_int_eq(wire_unpad(m, 2), -1);	/* pad past the end */
	m[2] = 1;
	ck_assert_int_eq(wire_unpad(m, 4), -1);	/* pad not zero */
	m[2] = 0;
	m[1] = 0x80;
	ck_assert_int_eq(wire_unpad(m, 4), -1);

	memset(m, 0, sizeof m);
	m[0] = WIRE_PAD_MAX - 1;
	ck_assert_int_eq(wire_unpad(m, WIRE_PAD_MAX), WIRE_PAD_MAX);
	ck_assert_int_eq(wire_unpad(m, WIRE_PAD_MAX - 1), -1);
	m[0] = WIRE_PAD_MAX;
	ck_assert_int_eq(wire_unpad(m, sizeof m), -1);
	m[0] = 255;
	ck_assert_int_eq(wire_unpad(m, sizeof m), -1);
}
END_TEST

START_TEST(test_ack)
{
	ck_assert_uint_eq(wire_ack_sseq(
	    "$JS.ACK.S.C.1.42.7.1700000000000000000.0"), 42);
	ck_assert_uint_eq(wire_ack_sseq(
	    "$JS.ACK.dom.0123abcd.S.C.1.42.7.1700000000000000000.0"), 42);
	ck_assert_uint_eq(wire_ack_sseq(
	    "$JS.ACK.dom.0123abcd.S.C.1.42.7.1700000000000000000.0.rnd"), 42);
	ck_assert_uint_eq(wire_ack_sseq("$JS.ACK.S.C.1.0.7.1.0"), 0);
	ck_assert_uint_eq(wire_ack_sseq(
	    "$JS.ACK.S.C.1.18446744073709551615.7.1.0"), UINT64_MAX);
}
END_TEST

START_TEST(test_ack_refused)
{
	static const char *const bad[] = {
		"", "_INBOX.abc.def", "$JS.ACK", "$JS.ACK.", "$js.ack.S.C.1.42.7.1.0",
		"$JS.ACk.S.C.1.42.7.1.0", "JS.ACK.S.C.1.42.7.1.0.x",
		"$JS.ACK.S.C.1.42.7.1",				/* 8 */
		"$JS.ACK.S.C.1.42.7.1.0.x",			/* 10 */
		"$JS.ACK.d.h.S.C.1.42.7.1.0.x.y",		/* 13 */
		"$JS.ACK.d.h.S.C.1.42.7.1.0.x.y.z.w",
		"$JS.ACK.S.C.1..7.1.0", "$JS.ACK.S.C.1.x.7.1.0",
		"$JS.ACK.S.C.1.-1.7.1.0", "$JS.ACK.S.C.1.+1.7.1.0",
		"$JS.ACK.S.C.1.4 2.7.1.0",
		"$JS.ACK.S.C.1.18446744073709551616.7.1.0",
		"$JS.ACK.S.C.1.99999999999999999999999.7.1.0",
		"$JS.ACK.S.C.1.42.7.1.0.",
		"$JS.ACK.d.h.S.C.1.x.42.1.0",
	};
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(wire_ack_sseq(bad[i]) == 0, "\"%s\" taken",
		    bad[i]);
}
END_TEST

START_TEST(test_json_num)
{
	const char	*s;
	uint64_t	 v = 0;

	s = "{\"type\":\"io.nats.jetstream.api.v1.pub_ack\",\"stream\":\"S\","
	    "\"seq\":17}";
	ck_assert_int_eq(json_num(s, strlen(s), "seq", &v), 0);
	ck_assert_uint_eq(v, 17);
	s = "{\"seq\": 42,\"x\":1}";
	ck_assert_int_eq(json_num(s, strlen(s), "seq", &v), 0);
	ck_assert_uint_eq(v, 42);
	/* Anywhere: JetStream's answers are flat enough. */
	s = "{\"state\":{\"messages\":3,\"last_seq\":9}}";
	ck_assert_int_eq(json_num(s, strlen(s), "last_seq", &v), 0);
	ck_assert_uint_eq(v, 9);
	/* "seq" is not "last_seq". */
	ck_assert_int_eq(json_num(s, strlen(s), "seq", &v), -1);
	s = "{\"seq\":0}";
	ck_assert_int_eq(json_num(s, strlen(s), "seq", &v), 0);
	ck_assert_uint_eq(v, 0);
	s = "{\"seq\":18446744073709551615}";
	ck_assert_int_eq(json_num(s, strlen(s), "seq", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_json_num_refused)
{
	static const char *const bad[] = {
		"", "{}", "{\"seq\":}", "{\"seq\":\"17\"}", "{\"seq\":-1}",
		"{\"seq\":18446744073709551616}", "{\"seq\" :17}",
		"{\"seq\":null}", "{seq:17}", "{\"Seq\":17}",
		"{\"seq\":\t17}",
	};
	uint64_t	 v;
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(json_num(bad[i], strlen(bad[i]), "seq", &v) ==
		    -1, "\"%s\" taken", bad[i]);
	/* A key too long to look for. */
	ck_assert_int_eq(json_num("{}", 2,
	    "0123456789012345678901234567890123456789", &v), -1);
}
END_TEST

/* Cut short, the answer is read only as far as it goes. */
START_TEST(test_json_num_truncated)
{
	const char	*s = "{\"seq\":123}";
	uint64_t	 v = 0;
	size_t		 len;

	ck_assert_int_eq(json_num(s, 10, "seq", &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_int_eq(json_num(s, 9, "seq", &v), 0);
	ck_assert_uint_eq(v, 12);
	ck_assert_int_eq(json_num(s, 8, "seq", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(json_num(s, 7, "seq", &v), -1);
	ck_assert_int_eq(json_num(s, 6, "seq", &v), -1);
	for (len = 0; len < 6; len++)
		ck_assert_int_eq(json_num(s, len, "seq", &v), -1);
	/* Spaces to the end. */
	ck_assert_int_eq(json_num("{\"seq\":   ", 10, "seq", &v), -1);
}
END_TEST

START_TEST(test_json_str)
{
	const char	*s;
	char		 buf[16];

	s = "{\"stream\":\"ORDERS\",\"seq\":1}";
	ck_assert_int_eq(json_str(s, strlen(s), "stream", buf, sizeof buf),
	    0);
	ck_assert_str_eq(buf, "ORDERS");
	/* Exactly fits with its NUL, and one less does not. */
	ck_assert_int_eq(json_str(s, strlen(s), "stream", buf, 7), 0);
	ck_assert_str_eq(buf, "ORDERS");
	ck_assert_int_eq(json_str(s, strlen(s), "stream", buf, 6), -1);
	s = "{\"domain\":\"\"}";
	ck_assert_int_eq(json_str(s, strlen(s), "domain", buf, 1), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(json_str(s, strlen(s), "domain", buf, 0), -1);
	/* The first one counts. */
	s = "{\"a\":\"1\",\"a\":\"2\"}";
	ck_assert_int_eq(json_str(s, strlen(s), "a", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "1");
}
END_TEST

START_TEST(test_json_str_refused)
{
	static const char *const bad[] = {
		"", "{}", "{\"stream\":1}", "{\"stream\": \"S\"}",
		"{\"stream\":\"a\\\"b\"}", "{\"stream\":\"a\\nb\"}",
		"{\"stream\":\"abc", "{\"stream\":\"", "{\"stream\":",
		"{\"Stream\":\"S\"}",
	};
	char	 buf[16];
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(json_str(bad[i], strlen(bad[i]), "stream", buf,
		    sizeof buf) == -1, "\"%s\" taken", bad[i]);
}
END_TEST

/* Cut short before its closing quote, a string is not there. */
START_TEST(test_json_str_truncated)
{
	const char	*s = "{\"stream\":\"ORDERS\"}";
	char		 buf[16];
	size_t		 len;

	ck_assert_int_eq(json_str(s, 19, "stream", buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "ORDERS");
	ck_assert_int_eq(json_str(s, 18, "stream", buf, sizeof buf), 0);
	for (len = 0; len < 18; len++)
		ck_assert_int_eq(json_str(s, len, "stream", buf, sizeof buf),
		    -1);
}
END_TEST

/* The suite of bridge/wire.c tests. */
static Suite *
wire_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("wire");
	tc = tcase_create("keys");
	tcase_add_test(tc, test_id);
	tcase_add_test(tc, test_key_append);
	tcase_add_test(tc, test_key_append_limits);
	tcase_add_test(tc, test_key_next);
	tcase_add_test(tc, test_key_refused);
	tcase_add_test(tc, test_key_name_max);
	tcase_add_test(tc, test_key_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_value);
	tcase_add_test(tc, test_value_refused);
	tcase_add_test(tc, test_value_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("presence");
	tcase_add_test(tc, test_presence);
	tcase_add_test(tc, test_presence_refused);
	tcase_add_test(tc, test_pad);
	tcase_add_test(tc, test_unpad);
	suite_add_tcase(s, tc);

	tc = tcase_create("jetstream");
	tcase_add_test(tc, test_ack);
	tcase_add_test(tc, test_ack_refused);
	tcase_add_test(tc, test_json_num);
	tcase_add_test(tc, test_json_num_refused);
	tcase_add_test(tc, test_json_num_truncated);
	tcase_add_test(tc, test_json_str);
	tcase_add_test(tc, test_json_str_refused);
	tcase_add_test(tc, test_json_str_truncated);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(wire_suite()));
}
