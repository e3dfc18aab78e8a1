/*
 * Unit tests for opts.c: byte counts with suffixes, and ipcfs's own -o
 * options taken out of a FUSE argument list that keeps everything else.
 */

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <fuse_opt.h>

#include "ipcfs.h"
#include "check_run.h"

#define ARGC(v)		((int)(sizeof (v) / sizeof (v)[0]))

/* opts_size must succeed on s with want. */
#define ck_size(s, want) do {						\
	uint64_t	 v_ = 12345;					\
	int		 e_ = opts_size((s), &v_);			\
	ck_assert_msg(e_ == 0, "\"%s\": error %d", (s), e_);		\
	ck_assert_msg(v_ == (uint64_t)(want), "\"%s\": %llu, expected "	\
	    "%llu", (s), (unsigned long long)v_,			\
	    (unsigned long long)(want));				\
} while (0)

/* opts_size must fail on s with err and leave the result alone. */
#define ck_size_err(s, err) do {					\
	uint64_t	 v_ = 12345;					\
	int		 e_ = opts_size((s), &v_);			\
	ck_assert_msg(e_ == (err), "\"%s\": error %d, expected %d",	\
	    (s), e_, (err));						\
	ck_assert_uint_eq(v_, 12345);					\
} while (0)

static struct fuse_args	 args;
static struct opts	 o;
static char		 err[256];

/* Parse argv into o; returns what opts_parse returns. */
static int
parse(int argc, char **argv)
{
	memset(&o, 0xa5, sizeof o);
	memset(err, 'x', sizeof err);
	err[sizeof err - 1] = '\0';
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	return (opts_parse(&args, &o, err, sizeof err));
}

/* The parse must fail with a one-line message containing word. */
static void
ck_parse_fails(int argc, char **argv, const char *word)
{
	ck_assert_int_eq(parse(argc, argv), -1);
	ck_assert_msg(strstr(err, word) != NULL, "\"%s\" does not name %s",
	    err, word);
	ck_assert_ptr_null(strchr(err, '\n'));
}

/* The remaining arguments must be exactly want. */
static void
ck_args(int argc, const char **want)
{
	int	 i;

	ck_assert_int_eq(args.argc, argc);
	for (i = 0; i < argc; i++)
		ck_assert_str_eq(args.argv[i], want[i]);
}

static void
teardown(void)
{
	fuse_opt_free_args(&args);
}

START_TEST(test_size_plain)
{
	ck_size("0", 0);
	ck_size("1", 1);
	ck_size("4096", 4096);
	ck_size("007", 7);
	ck_size("18446744073709551615", UINT64_MAX);
}
END_TEST

START_TEST(test_size_suffix)
{
	ck_size("1K", 1024);
	ck_size("1k", 1024);
	ck_size("64K", 65536);
	ck_size("64KiB", 65536);
	ck_size("64KB", 65536);
	ck_size("0K", 0);
	ck_size("2M", 2 << 20);
	ck_size("2m", 2 << 20);
	ck_size("2MiB", 2 << 20);
	ck_size("3G", 3ULL << 30);
	ck_size("3g", 3ULL << 30);
	ck_size("3GiB", 3ULL << 30);
	/* One grammar, any case: issue 21. */
	ck_size("128kib", 128ULL << 10);
	ck_size("128KIB", 128ULL << 10);
	ck_size("2mb", 2ULL << 20);
	ck_size("2Mb", 2ULL << 20);
	ck_size("16KB", 16ULL << 10);
	ck_size("4096B", 4096);
	ck_size("4096b", 4096);
	/* The largest multiples that fit. */
	ck_size("17179869183G", UINT64_MAX - ((1ULL << 30) - 1));
	ck_size("18014398509481983K", UINT64_MAX - 1023);
}
END_TEST

START_TEST(test_size_range)
{
	ck_size_err("18446744073709551616", ERANGE);
	ck_size_err("18446744073709551620", ERANGE);
	ck_size_err("99999999999999999999999999", ERANGE);
	ck_size_err("17179869184G", ERANGE);
	ck_size_err("18014398509481984K", ERANGE);
	ck_size_err("17592186044416M", ERANGE);
}
END_TEST

START_TEST(test_size_junk)
{
	ck_size_err("", EINVAL);
	ck_size_err("K", EINVAL);
	ck_size_err("-1", EINVAL);
	ck_size_err("+1", EINVAL);
	ck_size_err(" 1", EINVAL);
	ck_size_err("1 ", EINVAL);
	ck_size_err("1T", EINVAL);
	ck_size_err("1Ki", EINVAL);
	ck_size_err("1KiBx", EINVAL);
	ck_size_err("1ki", EINVAL);
	ck_size_err("1KBB", EINVAL);
	ck_size_err("1iB", EINVAL);
	ck_size_err("1BB", EINVAL);
	ck_size_err("64K\n", EINVAL);	/* a newline: the caller's to cut */
	ck_size_err("1KK", EINVAL);
	ck_size_err("1.5M", EINVAL);
	ck_size_err("0x10", EINVAL);
	ck_size_err("1e3", EINVAL);
	ck_size_err("12abc", EINVAL);
	/* Junk after an overflowing number is still junk, or range. */
	ck_assert_int_ne(opts_size("99999999999999999999x", &(uint64_t){ 0 }),
	    0);
}
END_TEST

START_TEST(test_parse_defaults)
{
	char		*argv[] = { "ipcfs", "-f", "/mnt" };
	const char	*want[] = { "ipcfs", "-f", "/mnt" };

	ck_assert_int_eq(parse(ARGC(argv), argv), 0);
	ck_assert_uint_eq(o.capacity, CAPACITY_DEFAULT);
	ck_assert_uint_eq(o.max_channels, MAX_CHANNELS_DEFAULT);
	ck_assert_uint_eq(o.max_memory, MAX_MEMORY_DEFAULT);
	ck_assert_uint_eq(o.spin_us, SPIN_DEFAULT_US);
	ck_assert_str_eq(err, "");
	ck_args(ARGC(want), want);
}
END_TEST

START_TEST(test_parse_capacity)
{
	char	*a1[] = { "ipcfs", "-o", "capacity=64K", "/mnt" };
	char	*a2[] = { "ipcfs", "-ocapacity=4096", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "capacity=64M", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "capacity=67108864", "/mnt" };
	char	*a5[] = { "ipcfs", "-o", "capacity=1M,capacity=8K", "/mnt" };

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_uint_eq(o.capacity, 65536);
	/* The other options keep their defaults. */
	ck_assert_uint_eq(o.max_channels, MAX_CHANNELS_DEFAULT);
	ck_assert_uint_eq(o.max_memory, MAX_MEMORY_DEFAULT);
	teardown();
	ck_assert_int_eq(parse(ARGC(a2), a2), 0);
	ck_assert_uint_eq(o.capacity, CAPACITY_MIN);
	teardown();
	ck_assert_int_eq(parse(ARGC(a3), a3), 0);
	ck_assert_uint_eq(o.capacity, CAPACITY_MAX);
	teardown();
	ck_assert_int_eq(parse(ARGC(a4), a4), 0);
	ck_assert_uint_eq(o.capacity, CAPACITY_MAX);
	teardown();
	/* The last one given wins. */
	ck_assert_int_eq(parse(ARGC(a5), a5), 0);
	ck_assert_uint_eq(o.capacity, 8192);
}
END_TEST

START_TEST(test_parse_capacity_bad)
{
	char	*a1[] = { "ipcfs", "-o", "capacity=4095", "/mnt" };
	char	*a2[] = { "ipcfs", "-o", "capacity=67108865", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "capacity=lots", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "capacity=", "/mnt" };
	char	*a5[] = { "ipcfs", "-o", "capacity=99999999999999999999",
		    "/mnt" };
	char	*a6[] = { "ipcfs", "-o", "ro,capacity=0,allow_other",
		    "/mnt" };

	ck_parse_fails(ARGC(a1), a1, "capacity");
	ck_assert_ptr_nonnull(strstr(err, "4095"));
	ck_assert_ptr_nonnull(strstr(err, "range"));
	teardown();
	ck_parse_fails(ARGC(a2), a2, "capacity");
	ck_assert_ptr_nonnull(strstr(err, "67108865"));
	teardown();
	ck_parse_fails(ARGC(a3), a3, "capacity");
	ck_assert_ptr_nonnull(strstr(err, "lots"));
	teardown();
	ck_parse_fails(ARGC(a4), a4, "capacity");
	teardown();
	ck_parse_fails(ARGC(a5), a5, "capacity");
	ck_assert_ptr_nonnull(strstr(err, "range"));
	teardown();
	ck_parse_fails(ARGC(a6), a6, "capacity");
}
END_TEST

/* spin= is in microseconds, 0 (never poll) to SPIN_MAX_US. */
START_TEST(test_parse_spin)
{
	char	*a1[] = { "ipcfs", "-o", "spin=0", "/mnt" };
	char	*a2[] = { "ipcfs", "-o", "spin=10000", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "spin=10001", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "spin=-1", "/mnt" };
	char	*a5[] = { "ipcfs", "-o", "spin=", "/mnt" };

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_uint_eq(o.spin_us, 0);
	teardown();
	ck_assert_int_eq(parse(ARGC(a2), a2), 0);
	ck_assert_uint_eq(o.spin_us, SPIN_MAX_US);
	teardown();
	ck_parse_fails(ARGC(a3), a3, "spin");
	ck_assert_msg(strstr(err, "0 to 10000") != NULL, "%s", err);
	teardown();
	ck_parse_fails(ARGC(a4), a4, "spin");
	teardown();
	ck_parse_fails(ARGC(a5), a5, "spin");
}
END_TEST

START_TEST(test_parse_nats)
{
	char	*a1[] = { "ipcfs", "-o", "nats=nats://a:4222,nats=nats://b:1",
		    "/mnt" };
	char	*a2[] = { "ipcfs", "-o", "nats=nats://a:4222\\,nats://b:1",
		    "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "nats_name=jobs-1,nats_host=h_2,"
		    "nats_timeout=2,nats_replicas=3", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "nats=", "/mnt" };
	char	*a5[] = { "ipcfs", "-o", "nats_name=a.b", "/mnt" };
	char	*a6[] = { "ipcfs", "-o", "nats_timeout=0", "/mnt" };
	char	*a7[] = { "ipcfs", "-o", "nats_replicas=6", "/mnt" };
	char	*a8[] = { "ipcfs", "-o", "nats_host=", "/mnt" };

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_str_eq(o.nats, "nats://a:4222,nats://b:1");
	ck_assert_str_eq(o.nats_name, NATS_NAME_DEFAULT);
	ck_assert_str_eq(o.nats_host, "");
	ck_assert_uint_eq(o.nats_timeout, NATS_TIMEOUT_DEFAULT);
	ck_assert_uint_eq(o.nats_replicas, 1);
	teardown();
	ck_assert_int_eq(parse(ARGC(a2), a2), 0);
	ck_assert_str_eq(o.nats, "nats://a:4222,nats://b:1");
	teardown();
	ck_assert_int_eq(parse(ARGC(a3), a3), 0);
	ck_assert_str_eq(o.nats, "");
	ck_assert_str_eq(o.nats_name, "jobs-1");
	ck_assert_str_eq(o.nats_host, "h_2");
	ck_assert_uint_eq(o.nats_timeout, 2);
	ck_assert_uint_eq(o.nats_replicas, 3);
	teardown();
	ck_parse_fails(ARGC(a4), a4, "nats");
	teardown();
	ck_parse_fails(ARGC(a5), a5, "nats_name");
	teardown();
	ck_parse_fails(ARGC(a6), a6, "nats_timeout");
	teardown();
	ck_parse_fails(ARGC(a7), a7, "nats_replicas");
	teardown();
	ck_parse_fails(ARGC(a8), a8, "nats_host");
}
END_TEST

/* bridge=PATH: repeated, each kept; bad components refused, naming it. */
START_TEST(test_parse_bridge)
{
	char	*a1[] = { "ipcfs", "-o", "nats=nats://a:1,bridge=jobs,"
		    "bridge=/lab/q", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "bridge=jobs", "/mnt" };
	char	*bad[] = { "bridge=", "bridge=/", "bridge=..", "bridge=a/../b",
		    "bridge=./a", "bridge=a//b", NULL };
	char	*a2[] = { "ipcfs", "-o", "nats=nats://a:1", "-o", NULL,
		    "/mnt" };
	char	 longname[300 + sizeof "bridge="];
	int	 i;

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_str_eq(o.bridge, "jobs\n/lab/q");
	teardown();
	ck_parse_fails(ARGC(a3), a3, "needs nats");
	teardown();
	for (i = 0; bad[i] != NULL; i++) {
		a2[4] = bad[i];
		ck_parse_fails(ARGC(a2), a2, "bridge");
		teardown();
	}
	memcpy(longname, "bridge=", 7);
	memset(longname + 7, 'x', 256);
	longname[7 + 256] = '\0';
	a2[4] = longname;
	ck_parse_fails(ARGC(a2), a2, "bridge");
}
END_TEST

START_TEST(test_parse_max_channels)
{
	char	*a1[] = { "ipcfs", "-o", "max_channels=10", "/mnt" };
	char	*a2[] = { "ipcfs", "-o", "max_channels=4294967295", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "max_channels=0", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "max_channels=4294967296", "/mnt" };
	char	*a5[] = { "ipcfs", "-o", "max_channels=ten", "/mnt" };

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_uint_eq(o.max_channels, 10);
	ck_assert_uint_eq(o.capacity, CAPACITY_DEFAULT);
	teardown();
	ck_assert_int_eq(parse(ARGC(a2), a2), 0);
	ck_assert_uint_eq(o.max_channels, UINT32_MAX);
	teardown();
	ck_parse_fails(ARGC(a3), a3, "max_channels");
	teardown();
	ck_parse_fails(ARGC(a4), a4, "max_channels");
	teardown();
	ck_parse_fails(ARGC(a5), a5, "max_channels");
}
END_TEST

START_TEST(test_parse_max_memory)
{
	char	*a1[] = { "ipcfs", "-o", "max_memory=1G", "/mnt" };
	char	*a2[] = { "ipcfs", "-o", "max_memory=4096", "/mnt" };
	char	*a3[] = { "ipcfs", "-o", "max_memory=4095", "/mnt" };
	char	*a4[] = { "ipcfs", "-o", "max_memory=1X", "/mnt" };

	ck_assert_int_eq(parse(ARGC(a1), a1), 0);
	ck_assert_uint_eq(o.max_memory, 1ULL << 30);
	teardown();
	ck_assert_int_eq(parse(ARGC(a2), a2), 0);
	ck_assert_uint_eq(o.max_memory, 4096);
	teardown();
	ck_parse_fails(ARGC(a3), a3, "max_memory");
	teardown();
	ck_parse_fails(ARGC(a4), a4, "max_memory");
}
END_TEST

/* FUSE's options and everything else stay, in order, for libfuse. */
START_TEST(test_parse_keeps_others)
{
	char		*argv[] = { "ipcfs", "-f", "-o",
			    "allow_other,capacity=8K,ro,fsname=x=y", "/mnt",
			    "-o", "max_memory=1M", "-d", "-omax_channels=5" };
	const char	*want[] = { "ipcfs", "-o", "allow_other,ro,fsname=x=y",
			    "-f", "/mnt", "-d" };
	int		 i;

	ck_assert_int_eq(parse(ARGC(argv), argv), 0);
	ck_assert_uint_eq(o.capacity, 8192);
	ck_assert_uint_eq(o.max_memory, 1 << 20);
	ck_assert_uint_eq(o.max_channels, 5);
	ck_args(ARGC(want), want);
	for (i = 0; i < args.argc; i++) {
		ck_assert_ptr_null(strstr(args.argv[i], "capacity"));
		ck_assert_ptr_null(strstr(args.argv[i], "max_"));
	}
}
END_TEST

START_TEST(test_parse_only_others)
{
	char		*argv[] = { "ipcfs", "-o", "default_permissions",
			    "/mnt", "--", "-o" };
	const char	*want[] = { "ipcfs", "-o", "default_permissions",
			    "/mnt", "--", "-o" };

	ck_assert_int_eq(parse(ARGC(argv), argv), 0);
	ck_assert_uint_eq(o.capacity, CAPACITY_DEFAULT);
	ck_args(ARGC(want), want);
}
END_TEST

/* A short error buffer is filled, not overrun. */
START_TEST(test_parse_short_err)
{
	char		*argv[] = { "ipcfs", "-o", "capacity=1", "/mnt" };
	char		 small[12];

	memset(small, 'x', sizeof small);
	args = (struct fuse_args)FUSE_ARGS_INIT(ARGC(argv), argv);
	ck_assert_int_eq(opts_parse(&args, &o, small, 8), -1);
	ck_assert_uint_eq(strlen(small), 7);
	ck_assert_int_eq(small[8], 'x');
	ck_assert_int_eq(strncmp(small, "capacit", 7), 0);
}
END_TEST

START_TEST(test_parse_login)
{
	char	*ok1[] = { "ipcfs", "-o", "nats=tls://a:4222,nats_user=u 1,"
		    "nats_password_file=/p,nats_ca=ca.pem,nats_cert=/c,"
		    "nats_key=/k", "/mnt" };
	char	*ok2[] = { "ipcfs", "-o", "nats=nats://a,nats_creds=/c",
		    "/mnt" };
	char	*ok3[] = { "ipcfs", "-o", "nats=nats://u:p@a,nats_ca=/ca",
		    "/mnt" };
	char	*bad[][4] = {
		{ "ipcfs", "-o", "nats_ca=/ca", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_user=u", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_password_file=/p", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_cert=/c", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_key=/k", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_creds=/c,nats_nkey=/n",
		    "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_token_file=/t,nats_user=u,"
		    "nats_password_file=/p", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://tok@a,nats_nkey=/n", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_ca=", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a,nats_ca=/a\nb", "/mnt" },
		{ "ipcfs", "-o", "nats=u:secret@a:4222", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://a\\,u:secret@b", "/mnt" },
		{ "ipcfs", "-o", "nats=nats://u:secret@a b", "/mnt" },
	};
	const char	*why[] = { "nats_ca", "nats_user", "nats_password_file",
		"nats_cert", "nats_key", "nats_nkey", "nats_user",
		"nats_nkey", "nats_ca", "nats_ca", "scheme", "scheme",
		"nats://u:***@a b" };
	size_t		 i;

	ck_assert_int_eq(parse(ARGC(ok1), ok1), 0);
	ck_assert_str_eq(o.nats_user, "u 1");
	ck_assert_str_eq(o.nats_password_file, "/p");
	ck_assert_str_eq(o.nats_ca, "ca.pem");
	ck_assert_str_eq(o.nats_cert, "/c");
	ck_assert_str_eq(o.nats_key, "/k");
	ck_assert_str_eq(o.nats_token_file, "");
	ck_assert_str_eq(o.nats_creds, "");
	ck_assert_str_eq(o.nats_nkey, "");
	teardown();
	ck_assert_int_eq(parse(ARGC(ok2), ok2), 0);
	ck_assert_str_eq(o.nats_creds, "/c");
	ck_assert_str_eq(o.nats_user, "");
	teardown();
	ck_assert_int_eq(parse(ARGC(ok3), ok3), 0);
	teardown();
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_parse_fails(4, bad[i], why[i]);
		ck_assert_ptr_null(strstr(err, "secret"));
		teardown();
	}
}
END_TEST

START_TEST(test_redact)
{
	char		 buf[128];
	const struct {
		const char	*in, *out;
	} cases[] = {
		{ "nats://a:4222", "nats://a:4222" },
		{ "nats://u:pw@a:4222", "nats://u:***@a:4222" },
		{ "tls://tok@a", "tls://***@a" },
		/* libnats takes the user part to the last '@'. */
		{ "nats://u:p@ss@a,nats://b,nats://t@c/x@y",
		    "nats://u:***@a,nats://b,nats://***@y" },
		{ "nats://u:pw/Slash@h", "nats://u:***@h" },
		{ "nats://tok/en@h", "nats://***@h" },
		{ "nats://u:p\\w@h", "nats://u:***@h" },
		{ "", "" },
	};
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_str_eq(opts_redact(buf, sizeof buf, cases[i].in),
		    cases[i].out);
	/* Cut short, but never past the buffer. */
	ck_assert_str_eq(opts_redact(buf, 12, "nats://u:secret@a"),
	    "nats://u:**");
}
END_TEST

START_TEST(test_scrub)
{
	const struct {
		const char	*in, *out;
	} cases[] = {
		{ "nats=nats://u:secret@a:1,nats_host=h",
		    "nats=nats://u:***@a:1,nats_host=h" },
		{ "nats=nats://tok3n@a\\,nats://u:p@b",
		    "nats=nats://***@a\\,nats://u:*@b" },
		{ "-onats=tls://ab@a", "-onats=tls://**@a" },
		{ "/mnt/ipc", "/mnt/ipc" },
	};
	char		 arg[128];
	size_t		 i, len;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(arg, 'x', sizeof arg);
		strlcpy(arg, cases[i].in, sizeof arg);
		len = strlen(arg);
		opts_scrub(arg);
		ck_assert_str_eq(arg, cases[i].out);
		/* What is left of the old string is zeroed, none past it. */
		while (len > strlen(arg))
			ck_assert_int_eq(arg[len--], '\0');
		ck_assert_int_eq(arg[strlen(cases[i].in) + 1], 'x');
	}
}
END_TEST

/* The suite of opts.c tests. */
static Suite *
opts_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("opts");
	tc = tcase_create("size");
	tcase_add_test(tc, test_size_plain);
	tcase_add_test(tc, test_size_suffix);
	tcase_add_test(tc, test_size_range);
	tcase_add_test(tc, test_size_junk);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_parse_defaults);
	tcase_add_test(tc, test_parse_capacity);
	tcase_add_test(tc, test_parse_capacity_bad);
	tcase_add_test(tc, test_parse_max_channels);
	tcase_add_test(tc, test_parse_spin);
	tcase_add_test(tc, test_parse_nats);
	tcase_add_test(tc, test_parse_bridge);
	tcase_add_test(tc, test_parse_max_memory);
	tcase_add_test(tc, test_parse_keeps_others);
	tcase_add_test(tc, test_parse_only_others);
	tcase_add_test(tc, test_parse_short_err);
	tcase_add_test(tc, test_parse_login);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets");
	tcase_add_test(tc, test_redact);
	tcase_add_test(tc, test_scrub);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(opts_suite()));
}
