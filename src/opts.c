/*
 * ipcfs's own -o options, parsed with libfuse's fuse_opt so they mix with
 * the FUSE ones on one command line.  Only fuse_opt.h is used here, no
 * session, so the parser can be unit-tested and fuzzed alone.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fuse_opt.h>

#include "ipcfs.h"

enum {
	KEY_CAPACITY,
	KEY_MAX_CHANNELS,
	KEY_MAX_MEMORY,
	KEY_MAX_REGION,
	KEY_REGION,
	KEY_FRAMING,
	KEY_DELIVERY,
	KEY_SPIN,
	KEY_NATS,
	KEY_NATS_NAME,
	KEY_NATS_HOST,
	KEY_NATS_TIMEOUT,
	KEY_NATS_REPLICAS,
	KEY_BRIDGE,
	KEY_NATS_USER,
	KEY_NATS_PASSWORD_FILE,
	KEY_NATS_TOKEN_FILE,
	KEY_NATS_CREDS,
	KEY_NATS_NKEY,
	KEY_NATS_CA,
	KEY_NATS_CERT,
	KEY_NATS_KEY,
};

static const char *region_names[] = {
	[REGION_AUTO] = "auto",
	[REGION_PASSTHROUGH] = "passthrough",
	[REGION_PAGECACHE] = "pagecache",
	[REGION_OFF] = "off",
};

/* The values of the framing and delivery settings, CHAN_* order. */
const char *const opts_framing[2] = { "bytes", "messages" };
const char *const opts_delivery[2] = { "queue", "broadcast" };

static const struct fuse_opt opts_spec[] = {
	FUSE_OPT_KEY("capacity=", KEY_CAPACITY),
	FUSE_OPT_KEY("framing=", KEY_FRAMING),
	FUSE_OPT_KEY("delivery=", KEY_DELIVERY),
	FUSE_OPT_KEY("max_channels=", KEY_MAX_CHANNELS),
	FUSE_OPT_KEY("max_memory=", KEY_MAX_MEMORY),
	FUSE_OPT_KEY("max_region=", KEY_MAX_REGION),
	FUSE_OPT_KEY("region=", KEY_REGION),
	FUSE_OPT_KEY("spin=", KEY_SPIN),
	FUSE_OPT_KEY("nats=", KEY_NATS),
	FUSE_OPT_KEY("nats_name=", KEY_NATS_NAME),
	FUSE_OPT_KEY("nats_host=", KEY_NATS_HOST),
	FUSE_OPT_KEY("nats_timeout=", KEY_NATS_TIMEOUT),
	FUSE_OPT_KEY("nats_replicas=", KEY_NATS_REPLICAS),
	FUSE_OPT_KEY("bridge=", KEY_BRIDGE),
	FUSE_OPT_KEY("nats_user=", KEY_NATS_USER),
	FUSE_OPT_KEY("nats_password_file=", KEY_NATS_PASSWORD_FILE),
	FUSE_OPT_KEY("nats_token_file=", KEY_NATS_TOKEN_FILE),
	FUSE_OPT_KEY("nats_creds=", KEY_NATS_CREDS),
	FUSE_OPT_KEY("nats_nkey=", KEY_NATS_NKEY),
	FUSE_OPT_KEY("nats_ca=", KEY_NATS_CA),
	FUSE_OPT_KEY("nats_cert=", KEY_NATS_CERT),
	FUSE_OPT_KEY("nats_key=", KEY_NATS_KEY),
	FUSE_OPT_END
};

struct opts_state {
	struct opts	*o;
	char		*err;
	size_t		 errlen;
};

/*
 * Parse a byte count, the one grammar of every size in mount options and
 * in user.ipcfs.capacity: decimal digits, then K, M or G (powers of 1024)
 * in either case if you like, then B or iB in either case if you like
 * ("64K", "64KiB", "128kib", "4096B").  Returns 0, or EINVAL or ERANGE.
 */
int
opts_size(const char *s, uint64_t *out)
{
	uint64_t	 v = 0, mult = 1;
	const char	*p = s;

	if (!isdigit((unsigned char)*p))
		return (EINVAL);
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return (ERANGE);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (tolower((unsigned char)*p)) {
	case 'k':
		mult = 1ULL << 10;
		break;
	case 'm':
		mult = 1ULL << 20;
		break;
	case 'g':
		mult = 1ULL << 30;
		break;
	}
	if (mult != 1) {
		p++;
		if (tolower((unsigned char)*p) == 'i')
			p++;
		if (tolower((unsigned char)*p) == 'b')
			p++;
		else if (tolower((unsigned char)p[-1]) == 'i')
			return (EINVAL);	/* "64Ki" */
	} else if (tolower((unsigned char)*p) == 'b')
		p++;
	if (*p != '\0')
		return (EINVAL);
	if (v > UINT64_MAX / mult)
		return (ERANGE);
	*out = v * mult;
	return (0);
}

/*
 * A value as it may appear in a one-line message: bytes that do not print
 * (a newline, a terminal escape) become '?'.
 */
static const char *
opts_quote(const char *val, char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; val[i] != '\0' && i + 1 < len; i++)
		buf[i] = isprint((unsigned char)val[i]) ? val[i] : '?';
	buf[i] = '\0';
	return (buf);
}

static int
opts_value(struct opts_state *st, const char *arg, const char *name,
    uint64_t min, uint64_t max, uint64_t *out)
{
	const char	*val = strchr(arg, '=') + 1;
	char		 q[128];
	int		 error;

	if ((error = opts_size(val, out)) == EINVAL) {
		snprintf(st->err, st->errlen, "%s: '%s' is not a number",
		    name, opts_quote(val, q, sizeof q));
		return (-1);
	}
	if (error != 0 || *out < min || *out > max) {
		snprintf(st->err, st->errlen,
		    "%s: %s is out of range (%llu to %llu)", name,
		    opts_quote(val, q, sizeof q), (unsigned long long)min,
		    (unsigned long long)max);
		return (-1);
	}
	return (0);
}

static int
opts_region(struct opts_state *st, const char *val)
{
	char	 q[128];
	size_t	 i;

	for (i = 0; i < sizeof region_names / sizeof region_names[0]; i++) {
		if (strcmp(val, region_names[i]) == 0) {
			st->o->region = i;
			return (0);
		}
	}
	snprintf(st->err, st->errlen, "region: '%s' is not one of auto, "
	    "passthrough, pagecache, off", opts_quote(val, q, sizeof q));
	return (-1);
}

/* key=word, one of words[0] and words[1]: *out is which. */
static int
opts_word(struct opts_state *st, const char *arg, const char *const words[2],
    int *out)
{
	const char	*val = strchr(arg, '=') + 1;
	char		 q[128];
	int		 i;

	for (i = 0; i < 2; i++) {
		if (strcmp(val, words[i]) == 0) {
			*out = i;
			return (0);
		}
	}
	snprintf(st->err, st->errlen, "%.*s: '%s' is not %s or %s",
	    (int)(val - arg - 1), arg, opts_quote(val, q, sizeof q),
	    words[0], words[1]);
	return (-1);
}

/*
 * nats=URL[,URL...]: the servers, added to any given before, as libnats
 * takes them (comma separated).  A URL has no spaces.
 */
static int
opts_nats(struct opts_state *st, const char *val)
{
	char		 q[128], shown[256];
	const char	*p, *e, *scheme;
	size_t		 len = strlen(st->o->nats);

	/* What is shown of it is without its passwords. */
	opts_redact(shown, sizeof shown, val);
	if (*val == '\0' || strpbrk(val, " \t\n") != NULL) {
		snprintf(st->err, st->errlen, "nats: '%s' is not a server URL",
		    opts_quote(shown, q, sizeof q));
		return (-1);
	}
	/*
	 * libnats takes "user:password@host" without a scheme too, but then
	 * nothing here could tell the password from the host.
	 */
	for (p = val; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		scheme = strstr(p, "://");
		if ((scheme == NULL || scheme >= e) &&
		    memchr(p, '@', (size_t)(e - p)) != NULL) {
			snprintf(st->err, st->errlen, "nats: a URL with a user "
			    "or token needs its scheme, nats:// or tls://");
			return (-1);
		}
	}
	if (len > 0 && strlcat(st->o->nats, ",", sizeof st->o->nats) >=
	    sizeof st->o->nats)
		goto long_list;
	if (strlcat(st->o->nats, val, sizeof st->o->nats) >=
	    sizeof st->o->nats)
		goto long_list;
	return (0);
long_list:
	snprintf(st->err, st->errlen, "nats: the server list is longer than "
	    "%zu bytes", sizeof st->o->nats - 1);
	return (-1);
}

/*
 * key=NAME for a name on the cluster: 1 to size-1 letters, digits, '-'
 * or '_', which NATS takes in stream names, subjects and keys alike.
 */
static int
opts_ident(struct opts_state *st, const char *arg, char *out, size_t size)
{
	const char	*val = strchr(arg, '=') + 1;
	char		 q[128];
	size_t		 len = strspn(val, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

	if (len == 0 || val[len] != '\0' || len >= size) {
		snprintf(st->err, st->errlen, "%.*s: '%s' is not 1 to %zu "
		    "letters, digits, '-' or '_'", (int)(val - arg - 1), arg,
		    opts_quote(val, q, sizeof q), size - 1);
		return (-1);
	}
	memcpy(out, val, len + 1);
	return (0);
}

/*
 * bridge=PATH: a directory to bridge at start, from the mount's root
 * (a leading '/' is the root too); repeated, each is added.  Its
 * components are names: not empty, not "." or "..", at most NAME_MAX_LEN
 * bytes.
 */
static int
opts_bridge(struct opts_state *st, const char *val)
{
	char		 q[128];
	const char	*p = val, *e;
	size_t		 len = strlen(st->o->bridge), n;

	while (*p == '/')
		p++;
	if (*p == '\0')
		goto bad;
	for (; *p != '\0'; p = *e == '/' ? e + 1 : e) {
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (n == 0 || n > NAME_MAX_LEN || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.') ||
		    memchr(p, '\n', n) != NULL)
			goto bad;
	}
	if ((len > 0 && strlcat(st->o->bridge, "\n", sizeof st->o->bridge) >=
	    sizeof st->o->bridge) ||
	    strlcat(st->o->bridge, val, sizeof st->o->bridge) >=
	    sizeof st->o->bridge) {
		snprintf(st->err, st->errlen, "bridge: the directories are "
		    "longer than %zu bytes", sizeof st->o->bridge - 1);
		return (-1);
	}
	return (0);
bad:
	snprintf(st->err, st->errlen, "bridge: '%s' is not a directory's "
	    "path in the mount", opts_quote(val, q, sizeof q));
	return (-1);
}

/*
 * key=TEXT, copied to out: not empty, no control characters (a newline
 * would split a log line), shorter than size.  A file's path, or a user
 * name.
 */
static int
opts_text(struct opts_state *st, const char *arg, char *out, size_t size)
{
	const char	*val = strchr(arg, '=') + 1;
	char		 q[128];
	size_t		 i, len = strlen(val);

	for (i = 0; i < len; i++)
		if (iscntrl((unsigned char)val[i]))
			break;
	if (len == 0 || i < len) {
		snprintf(st->err, st->errlen, "%.*s: '%s' is empty or has a "
		    "control character", (int)(val - arg - 1), arg,
		    opts_quote(val, q, sizeof q));
		return (-1);
	}
	if (len >= size) {
		snprintf(st->err, st->errlen, "%.*s: longer than %zu bytes",
		    (int)(val - arg - 1), arg, size - 1);
		return (-1);
	}
	memcpy(out, val, len + 1);
	return (0);
}

/*
 * The end of the user information ("user:password" or "token") of the
 * URL that starts at p, past its "://", as libnats finds it: the last '@'
 * before the URL ends, whatever comes between ('/' and '\\' may be in a
 * password).  NULL if it has none.  A URL ends at a comma; in an argument
 * as given (escaped), "\\," ends it too and "\\\\" is one backslash.
 */
static const char *
opts_userinfo(const char *p, int escaped)
{
	const char	*at = NULL;

	for (; *p != '\0' && *p != ','; p++) {
		if (escaped && p[0] == '\\') {
			if (p[1] == ',' || p[1] == '\0')
				break;
			p++;
			continue;
		}
		if (*p == '@')
			at = p;
	}
	return (at);
}

/*
 * A list of server URLs as it may be shown: each user information
 * becomes "user:***" or, for a token, "***".  Returns buf.
 */
char *
opts_redact(char *buf, size_t len, const char *urls)
{
	const char	*p = urls, *s, *at, *colon;
	size_t		 n = 0;

	buf[0] = '\0';
	while (*p != '\0') {
		if ((s = strstr(p, "://")) == NULL) {
			n += strlcpy(buf + n, p, n < len ? len - n : 0);
			break;
		}
		s += 3;
		n += snprintf(buf + n, n < len ? len - n : 0, "%.*s",
		    (int)(s - p), p);
		p = s;
		if ((at = opts_userinfo(s, 0)) == NULL)
			continue;
		colon = memchr(s, ':', (size_t)(at - s));
		if (colon != NULL)
			n += snprintf(buf + n, n < len ? len - n : 0,
			    "%.*s:***", (int)(colon - s), s);
		else
			n += snprintf(buf + n, n < len ? len - n : 0, "***");
		p = at;
	}
	if (n >= len && len > 0)
		buf[len - 1] = '\0';
	return (buf);
}

/*
 * Take the secrets out of one argument of the command line, in place, so
 * that ps and /proc/PID/cmdline do not show them: a URL's user
 * information as opts_redact shows it, or, where that would not fit,
 * stars over the secret.  What is left over is zeroed.
 */
void
opts_scrub(char *arg)
{
	char	*s, *at, *colon, *p = arg;
	size_t	 secret;

	while ((s = strstr(p, "://")) != NULL) {
		s += 3;
		p = s;
		/* In an argument, an escaped comma ("\,") ends a URL too. */
		if ((at = (char *)opts_userinfo(s, 1)) == NULL)
			continue;
		colon = memchr(s, ':', (size_t)(at - s));
		s = colon != NULL ? colon + 1 : s;
		secret = (size_t)(at - s);
		if (secret >= 3) {
			memcpy(s, "***", 3);
			memmove(s + 3, at, strlen(at) + 1);
			memset(s + 3 + strlen(s + 3), 0, secret - 3);
			p = s + 3;
		} else {
			memset(s, '*', secret);
			p = at;
		}
	}
}

static int
opts_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts_state	*st = data;
	uint64_t		 v;

	(void)outargs;
	switch (key) {
	case KEY_CAPACITY:
		if (opts_value(st, arg, "capacity", CAPACITY_MIN,
		    CAPACITY_MAX, &v) != 0)
			return (-1);
		st->o->capacity = v;
		return (0);
	case KEY_MAX_CHANNELS:
		if (opts_value(st, arg, "max_channels", 1, UINT32_MAX,
		    &v) != 0)
			return (-1);
		st->o->max_channels = v;
		return (0);
	case KEY_MAX_MEMORY:
		if (opts_value(st, arg, "max_memory", CAPACITY_MIN,
		    SIZE_MAX / 2, &v) != 0)
			return (-1);
		st->o->max_memory = v;
		return (0);
	case KEY_MAX_REGION:
		if (opts_value(st, arg, "max_region", 0, SIZE_MAX / 2,
		    &v) != 0)
			return (-1);
		st->o->max_region = v;
		return (0);
	case KEY_REGION:
		return (opts_region(st, strchr(arg, '=') + 1));
	case KEY_FRAMING:
		return (opts_word(st, arg, opts_framing, &st->o->framing));
	case KEY_DELIVERY:
		return (opts_word(st, arg, opts_delivery, &st->o->delivery));
	case KEY_SPIN:
		return (opts_value(st, arg, "spin", 0, SPIN_MAX_US,
		    &st->o->spin_us));
	case KEY_NATS:
		return (opts_nats(st, strchr(arg, '=') + 1));
	case KEY_NATS_NAME:
		return (opts_ident(st, arg, st->o->nats_name,
		    sizeof st->o->nats_name));
	case KEY_NATS_HOST:
		return (opts_ident(st, arg, st->o->nats_host,
		    sizeof st->o->nats_host));
	case KEY_NATS_TIMEOUT:
		return (opts_value(st, arg, "nats_timeout", 1,
		    NATS_TIMEOUT_MAX, &st->o->nats_timeout));
	case KEY_NATS_REPLICAS:
		return (opts_value(st, arg, "nats_replicas", 1,
		    NATS_REPLICAS_MAX, &st->o->nats_replicas));
	case KEY_BRIDGE:
		return (opts_bridge(st, strchr(arg, '=') + 1));
	case KEY_NATS_USER:
		return (opts_text(st, arg, st->o->nats_user,
		    sizeof st->o->nats_user));
	case KEY_NATS_PASSWORD_FILE:
		return (opts_text(st, arg, st->o->nats_password_file,
		    sizeof st->o->nats_password_file));
	case KEY_NATS_TOKEN_FILE:
		return (opts_text(st, arg, st->o->nats_token_file,
		    sizeof st->o->nats_token_file));
	case KEY_NATS_CREDS:
		return (opts_text(st, arg, st->o->nats_creds,
		    sizeof st->o->nats_creds));
	case KEY_NATS_NKEY:
		return (opts_text(st, arg, st->o->nats_nkey,
		    sizeof st->o->nats_nkey));
	case KEY_NATS_CA:
		return (opts_text(st, arg, st->o->nats_ca,
		    sizeof st->o->nats_ca));
	case KEY_NATS_CERT:
		return (opts_text(st, arg, st->o->nats_cert,
		    sizeof st->o->nats_cert));
	case KEY_NATS_KEY:
		return (opts_text(st, arg, st->o->nats_key,
		    sizeof st->o->nats_key));
	}
	return (1);
}

/* The name of a region mode, as -o region= takes it. */
const char *
opts_region_name(enum region_mode mode)
{
	return (region_names[mode]);
}

/* True if a URL of the list has user information (a password, a token). */
static int
opts_url_secret(const char *urls)
{
	const char	*s;

	for (s = urls; (s = strstr(s, "://")) != NULL; s += 3)
		if (opts_userinfo(s + 3, 0) != NULL)
			return (1);
	return (0);
}

/*
 * The options that go together: each login option and TLS option needs
 * nats=; a user name needs its password and a certificate its key, and
 * the other way round; one way of logging in at most.  Returns 0, or -1
 * with the reason in err.
 */
static int
opts_check_login(const struct opts *o, char *err, size_t errlen)
{
	const struct {
		const char	*name;
		const char	*val;
	} logins[] = {
		{ "nats_user", o->nats_user },
		{ "nats_token_file", o->nats_token_file },
		{ "nats_creds", o->nats_creds },
		{ "nats_nkey", o->nats_nkey },
	}, all[] = {
		{ "nats_user", o->nats_user },
		{ "nats_password_file", o->nats_password_file },
		{ "nats_token_file", o->nats_token_file },
		{ "nats_creds", o->nats_creds },
		{ "nats_nkey", o->nats_nkey },
		{ "nats_ca", o->nats_ca },
		{ "nats_cert", o->nats_cert },
		{ "nats_key", o->nats_key },
	};
	const char	*first = NULL;
	size_t		 i;

	for (i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (all[i].val[0] != '\0' && o->nats[0] == '\0') {
			snprintf(err, errlen, "%s: needs nats=URL, the servers "
			    "to log in to", all[i].name);
			return (-1);
		}
	}
	if ((o->nats_user[0] != '\0') != (o->nats_password_file[0] != '\0')) {
		snprintf(err, errlen, o->nats_user[0] != '\0' ?
		    "nats_user: needs nats_password_file=FILE" :
		    "nats_password_file: needs nats_user=NAME");
		return (-1);
	}
	if ((o->nats_cert[0] != '\0') != (o->nats_key[0] != '\0')) {
		snprintf(err, errlen, o->nats_cert[0] != '\0' ?
		    "nats_cert: needs nats_key=FILE, its private key" :
		    "nats_key: needs nats_cert=FILE, its certificate");
		return (-1);
	}
	for (i = 0; i < sizeof logins / sizeof logins[0]; i++) {
		if (logins[i].val[0] == '\0')
			continue;
		if (first != NULL) {
			snprintf(err, errlen, "%s: one way of logging in only, "
			    "and %s is given", logins[i].name, first);
			return (-1);
		}
		first = logins[i].name;
	}
	if (first != NULL && opts_url_secret(o->nats)) {
		snprintf(err, errlen, "%s: one way of logging in only, and a "
		    "nats= URL has a user or token", first);
		return (-1);
	}
	return (0);
}

/*
 * Take ipcfs's options out of args, leaving the rest for libfuse.  Returns
 * 0, or -1 with a one-line reason in err.
 */
int
opts_parse(struct fuse_args *args, struct opts *o, char *err, size_t errlen)
{
	struct opts_state	 st = { o, err, errlen };

	o->capacity = CAPACITY_DEFAULT;
	o->framing = CHAN_BYTES;
	o->delivery = CHAN_QUEUE;
	o->max_channels = MAX_CHANNELS_DEFAULT;
	o->max_memory = MAX_MEMORY_DEFAULT;
	o->max_region = MAX_REGION_DEFAULT;
	o->region = REGION_AUTO;
	o->spin_us = SPIN_DEFAULT_US;
	o->nats[0] = '\0';
	strlcpy(o->nats_name, NATS_NAME_DEFAULT, sizeof o->nats_name);
	o->nats_host[0] = '\0';
	o->nats_timeout = NATS_TIMEOUT_DEFAULT;
	o->nats_replicas = 1;
	o->bridge[0] = '\0';
	o->nats_user[0] = '\0';
	o->nats_password_file[0] = '\0';
	o->nats_token_file[0] = '\0';
	o->nats_creds[0] = '\0';
	o->nats_nkey[0] = '\0';
	o->nats_ca[0] = '\0';
	o->nats_cert[0] = '\0';
	o->nats_key[0] = '\0';
	err[0] = '\0';
	if (fuse_opt_parse(args, &st, opts_spec, opts_proc) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "bad options");
		return (-1);
	}
	if (o->bridge[0] != '\0' && o->nats[0] == '\0') {
		snprintf(err, errlen, "bridge: needs nats=URL, the servers "
		    "to bridge through");
		return (-1);
	}
	return (opts_check_login(o, err, errlen));
}
