/*
 * Fuzz opts.c, the text a user hands the daemon on its command line.
 *
 * The first byte chooses a mode.  Mostly the input is split on NUL bytes
 * into up to eight arguments after "ipcfs" and given to opts_parse as its
 * fuse_args; values it accepts must lie in their documented ranges, and a
 * refusal must come with a one-line reason.  Otherwise the input is one
 * string for opts_size, checked against a small reference parser, and also
 * handed over as -o capacity=<string> so the two must agree.
 */

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <fuse_log.h>
#include <fuse_opt.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MAX_ARGS	8

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* libfuse's own complaints (a -o with nothing after it) are not news. */
static void
quiet_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

/* Silence libfuse once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuse_set_log_func(quiet_log);
	return (0);
}

/*
 * The reference for opts_size: decimal digits, then nothing, "B", or one
 * of k, m, g followed by nothing, "B" or "iB", every letter in any case.
 */
static int
ref_size(const char *s, uint64_t *out)
{
	const char	*p = s, *suffix;
	uint64_t	 v = 0, mult = 1;
	int		 overflow = 0;

	while (*p >= '0' && *p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			overflow = 1;
		p++;
	}
	if (p == s)
		return (EINVAL);
	suffix = p;
	if (strcasecmp(suffix, "b") == 0)
		suffix += 1;
	else if (*suffix != '\0') {
		switch (*suffix) {
		case 'k': case 'K':
			mult = 1ULL << 10;
			break;
		case 'm': case 'M':
			mult = 1ULL << 20;
			break;
		case 'g': case 'G':
			mult = 1ULL << 30;
			break;
		default:
			return (overflow ? ERANGE : EINVAL);
		}
		suffix++;
		if (strcmp(suffix, "") != 0 && strcasecmp(suffix, "B") != 0 &&
		    strcasecmp(suffix, "iB") != 0)
			return (overflow ? ERANGE : EINVAL);
	}
	if (overflow || __builtin_mul_overflow(v, mult, &v))
		return (ERANGE);
	*out = v;
	return (0);
}

/* A refusal's reason: present, one line, inside the buffer. */
static void
check_reason(const char *err, size_t errlen)
{
	size_t	 len;

	len = strnlen(err, errlen);
	FZ_CHECK(len < errlen);
	if (errlen > 1)
		FZ_CHECK(len > 0);
	FZ_CHECK(memchr(err, '\n', len) == NULL);
}

/* Values opts_parse accepted must be in their ranges. */
static void
check_opts(const struct opts *o)
{
	FZ_CHECK(o->capacity >= CAPACITY_MIN && o->capacity <= CAPACITY_MAX);
	FZ_CHECK(o->max_channels >= 1 && o->max_channels <= UINT32_MAX);
	FZ_CHECK(o->max_memory >= CAPACITY_MIN &&
	    o->max_memory <= SIZE_MAX / 2);
	FZ_CHECK(o->max_region <= SIZE_MAX / 2);
	FZ_CHECK(o->region == REGION_AUTO || o->region == REGION_PASSTHROUGH ||
	    o->region == REGION_PAGECACHE || o->region == REGION_OFF);
	FZ_CHECK(opts_region_name(o->region) != NULL);
	FZ_CHECK(o->spin_us <= SPIN_MAX_US);
}

/* Parse argv (argc entries) with an error buffer of errlen bytes. */
static int
parse(int argc, char **argv, size_t errlen, struct opts *o)
{
	struct fuse_args	 args = FUSE_ARGS_INIT(argc, argv);
	char			*err;
	int			 rc, i;

	err = malloc(errlen);
	FZ_CHECK(err != NULL);
	memset(o, 0xa5, sizeof *o);
	rc = opts_parse(&args, o, err, errlen);
	FZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FZ_CHECK(err[0] == '\0');
		check_opts(o);
		/* What is left for libfuse is still a proper argv. */
		FZ_CHECK(args.argc >= 1);
		for (i = 0; i < args.argc; i++)
			FZ_CHECK(args.argv[i] != NULL);
		FZ_CHECK(args.argv[args.argc] == NULL);
	} else
		check_reason(err, errlen);
	fuse_opt_free_args(&args);
	free(err);
	return (rc);
}

/* The argv mode: split the input on NULs. */
static void
fuzz_argv(const uint8_t *data, size_t size, size_t errlen)
{
	char		*argv[MAX_ARGS + 2], *copy;
	struct opts	 o;
	size_t		 i, start = 0;
	int		 argc = 1;

	copy = malloc(size + 1);
	FZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = (char *)"ipcfs";
	for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (copy[i] == '\0') {
			argv[argc++] = copy + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	parse(argc, argv, errlen, &o);
	free(copy);
}

/* The string mode: opts_size against the reference and opts_parse. */
static void
fuzz_size(const uint8_t *data, size_t size)
{
	char		*s, *arg;
	char		*argv[4];
	struct opts	 o;
	uint64_t	 got = 0, want = 0;
	size_t		 len;
	int		 rc, ref;

	s = malloc(size + 1);
	FZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	rc = opts_size(s, &got);
	ref = ref_size(s, &want);
	FZ_CHECK(rc == 0 || rc == EINVAL || rc == ERANGE);
	FZ_CHECK(rc == ref);
	if (rc == 0)
		FZ_CHECK(got == want);

	/*
	 * As -o capacity=<s>, when s holds nothing fuse_opt would split or
	 * unescape: accepted exactly when opts_size takes it in range.
	 */
	len = strlen(s);
	if (strpbrk(s, ",\\") == NULL) {
		arg = malloc(len + sizeof "capacity=");
		FZ_CHECK(arg != NULL);
		memcpy(arg, "capacity=", sizeof "capacity=" - 1);
		memcpy(arg + sizeof "capacity=" - 1, s, len + 1);
		argv[0] = (char *)"ipcfs";
		argv[1] = (char *)"-o";
		argv[2] = arg;
		argv[3] = NULL;
		rc = parse(3, argv, 256, &o);
		if (ref == 0 && want >= CAPACITY_MIN && want <= CAPACITY_MAX) {
			FZ_CHECK(rc == 0);
			FZ_CHECK(o.capacity == want);
		} else
			FZ_CHECK(rc == -1);
		free(arg);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	 mode;

	if (size == 0)
		return (0);
	mode = data[0];
	data++;
	size--;
	if (mode < 64)
		fuzz_size(data, size);
	else
		fuzz_argv(data, size, mode < 96 ? 1 + mode % 16 : 256);
	return (0);
}
