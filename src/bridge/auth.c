/*
 * Logging in to NATS, and TLS (docs/bridge.md, "Secured set-up"): the
 * files the options name, checked before anything is mounted; what they
 * give libnats; and a server's refusal of the login or of the TLS
 * handshake, told in one line.
 *
 * The options name files, never secrets, so that no secret is on the
 * command line (ps, /proc/PID/cmdline).  A file that holds a secret (a
 * password, a token, a credentials file, an NKey seed, a client key) is
 * refused, as ssh refuses an unprotected private key, unless it belongs
 * to the daemon's user or root and group and others have no access to
 * it.  libnats reads the credentials, seed and key files itself, at each
 * connection; the password and token are read here, once for each
 * connection made.  Nothing read from a file is ever logged.
 */

#define _GNU_SOURCE

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#define LIBBSD_OPENBSD_VIS
#include <vis.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "ipcfs.h"
#include "bridge.h"

/* The longest password or token, and the longest seed file, read. */
#define AUTH_SECRET_MAX	4096
#define AUTH_FILE_MAX	65536
/* An NKey seed: 2 prefix bytes, the 32-byte Ed25519 seed, a CRC-16. */
#define NKEY_SEED_RAW	36
#define NKEY_SEED_LEN	58
/* A public NKey: 1 prefix byte, the 32-byte key, a CRC-16. */
#define NKEY_PUB_RAW	35
/* The nkeys prefix bytes: a seed, and a user's key. */
#define NKEY_PREFIX_SEED (18 << 3)
#define NKEY_PREFIX_USER (20 << 3)

/* The file options, and whether what they name is a secret. */
static const struct auth_file {
	const char	*name;
	size_t		 off;
	int		 secret;
} auth_files[] = {
	{ "nats_password_file", offsetof(struct opts, nats_password_file), 1 },
	{ "nats_token_file", offsetof(struct opts, nats_token_file), 1 },
	{ "nats_creds", offsetof(struct opts, nats_creds), 1 },
	{ "nats_nkey", offsetof(struct opts, nats_nkey), 1 },
	{ "nats_key", offsetof(struct opts, nats_key), 1 },
	{ "nats_ca", offsetof(struct opts, nats_ca), 0 },
	{ "nats_cert", offsetof(struct opts, nats_cert), 0 },
};

static const char	 base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Refusals after the start, logged once a second at most. */
static pthread_mutex_t	 auth_mtx = PTHREAD_MUTEX_INITIALIZER;
static uint64_t		 auth_logged;
static unsigned		 auth_quiet;
static uint64_t		 auth_perm_logged;

/*
 * Open the file an option names, for reading, and check it: a regular
 * file, and for a secret, the daemon's user's or root's, with no access
 * for group or others.  Returns the descriptor, or -1 after one line.
 */
/*
 * Whether the directories of path are safe as ssh asks: each this user's
 * or root's, and not writable by group or others unless sticky (where no
 * one else may replace a file not theirs).  libnats reads some files
 * again at every connection, by name: whoever could swap one would choose
 * the account, or the server, we trust.  0, or -1 after one line.
 */
static int
auth_dirs(const char *name, const char *path)
{
	struct stat	 sb;
	char		 real[PATH_MAX], *slash;
	uid_t		 uid = geteuid();

	if (realpath(path, real) == NULL) {
		log_warnx("%s: %s: %s", name, path, strerror(errno));
		return (-1);
	}
	while ((slash = strrchr(real, '/')) != NULL) {
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(real, &sb) == -1) {
			log_warnx("%s: %s: %s", name, real, strerror(errno));
			return (-1);
		}
		if ((sb.st_uid != uid && sb.st_uid != 0) ||
		    ((sb.st_mode & 022) != 0 && (sb.st_mode & S_ISVTX) == 0)) {
			log_warnx("%s: %s: refused: others may replace it, in "
			    "%s (uid %lu, mode %04o)", name, path, real,
			    (unsigned long)sb.st_uid,
			    (unsigned)(sb.st_mode & 07777));
			return (-1);
		}
		if (strcmp(real, "/") == 0)
			break;
	}
	return (0);
}

static int
auth_open(const char *name, const char *path, int secret)
{
	struct stat	 sb;
	uid_t		 uid = geteuid();
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &sb) == -1) {
		log_warnx("%s: %s: %s", name, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_warnx("%s: %s: not a regular file", name, path);
		goto fail;
	}
	if (secret && sb.st_uid != uid && sb.st_uid != 0) {
		log_warnx("%s: %s: refused: it holds a secret and belongs to "
		    "uid %lu, not to this user (uid %lu) or root", name, path,
		    (unsigned long)sb.st_uid, (unsigned long)uid);
		goto fail;
	}
	if (secret && (sb.st_mode & 077) != 0) {
		log_warnx("%s: %s: refused: it holds a secret and group or "
		    "others have access to it (mode %04o); chmod 600 it", name,
		    path, (unsigned)(sb.st_mode & 07777));
		goto fail;
	}
	/* Whoever may change a CA or certificate chooses whom we trust. */
	if (!secret && ((sb.st_uid != uid && sb.st_uid != 0) ||
	    (sb.st_mode & 022) != 0)) {
		log_warnx("%s: %s: refused: others may change it (uid %lu, "
		    "mode %04o); make it this user's or root's, and chmod "
		    "go-w it", name, path, (unsigned long)sb.st_uid,
		    (unsigned)(sb.st_mode & 07777));
		goto fail;
	}
	if (auth_dirs(name, path) != 0)
		goto fail;
	return (fd);
fail:
	if (fd != -1)
		close(fd);
	return (-1);
}

/* Check a file again, as auth_open does: 0, or -1 after one line. */
static int
auth_recheck(const char *name, const char *path, int secret)
{
	int	 fd;

	if ((fd = auth_open(name, path, secret)) == -1)
		return (-1);
	close(fd);
	return (0);
}

/*
 * Read what the file an option names holds, at most len - 1 bytes and a
 * NUL.  Returns the length, or -1 after one line.
 */
static ssize_t
auth_slurp(const char *name, const char *path, int secret, char *buf,
    size_t len)
{
	ssize_t	 n;
	size_t	 got = 0;
	int	 fd;

	if ((fd = auth_open(name, path, secret)) == -1)
		return (-1);
	while (got < len - 1) {
		if ((n = read(fd, buf + got, len - 1 - got)) == -1) {
			if (errno == EINTR)
				continue;
			log_warnx("%s: %s: %s", name, path, strerror(errno));
			close(fd);
			return (-1);
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got == len - 1) {
		log_warnx("%s: %s: longer than %zu bytes", name, path,
		    len - 2);
		explicit_bzero(buf, len);
		return (-1);
	}
	buf[got] = '\0';
	return ((ssize_t)got);
}

/*
 * A password or token: the first line of its file, without its line
 * end.  Returns 0, or -1 after one line.
 */
static int
auth_secret(const char *name, const char *path, char *buf, size_t len)
{
	if (auth_slurp(name, path, 1, buf, len) == -1)
		return (-1);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		log_warnx("%s: %s: empty", name, path);
		return (-1);
	}
	return (0);
}

/* The CRC-16 of the nkeys encoding (XMODEM: polynomial 0x1021, 0 first). */
static uint16_t
nkey_crc16(const unsigned char *p, size_t len)
{
	uint16_t	 crc = 0;
	int		 i;

	while (len-- > 0) {
		crc ^= (uint16_t)(*p++ << 8);
		for (i = 0; i < 8; i++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021 :
			    (uint16_t)(crc << 1);
	}
	return (crc);
}

/* Base32 (RFC 4648, no padding) of len bytes; out has room for it. */
static void
nkey_encode(const unsigned char *in, size_t len, char *out)
{
	unsigned	 acc = 0, bits = 0;
	size_t		 i;

	for (i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		for (bits += 8; bits >= 5; bits -= 5)
			*out++ = base32[(acc >> (bits - 5)) & 31];
	}
	if (bits > 0)
		*out++ = base32[(acc << (5 - bits)) & 31];
	*out = '\0';
}

/* Decode len base32 characters into exactly want bytes: 0 or -1. */
static int
nkey_decode(const char *in, size_t len, unsigned char *out, size_t want)
{
	const char	*c;
	unsigned	 acc = 0, bits = 0;
	size_t		 i, n = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\0' || (c = strchr(base32, in[i])) == NULL)
			return (-1);
		acc = acc << 5 | (unsigned)(c - base32);
		if ((bits += 5) >= 8) {
			bits -= 8;
			if (n == want)
				return (-1);
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (n == want ? 0 : -1);
}

/*
 * The public key of the user NKey seed in path, as libnats looks for it
 * (the first line that starts, after blanks, with "SU"), in pub.  libnats
 * takes the key with the seed's file but cannot work it out itself: the
 * seed is an Ed25519 seed, and the key is its public key, encoded as
 * nkeys encodes a user's.  Returns 0, or -1 after one line.
 */
static int
auth_nkey_public(const char *name, const char *path, char *pub, size_t len)
{
	char		*buf, *line, *s;
	unsigned char	 raw[NKEY_SEED_RAW], key[NKEY_PUB_RAW];
	EVP_PKEY	*pk = NULL;
	size_t		 klen = 32;
	uint16_t	 crc;
	int		 ok = 0;

	buf = xmalloc(AUTH_FILE_MAX);
	if (auth_slurp(name, path, 1, buf, AUTH_FILE_MAX) == -1) {
		free(buf);
		return (-1);
	}
	for (line = buf; line != NULL; line = (s = strchr(line, '\n')) ?
	    s + 1 : NULL) {
		line += strspn(line, " \t");
		if (line[0] == 'S' && line[1] == 'U')
			break;
	}
	if (line != NULL && strcspn(line, " \t\r\n") == NKEY_SEED_LEN &&
	    nkey_decode(line, NKEY_SEED_LEN, raw, sizeof raw) == 0) {
		crc = nkey_crc16(raw, NKEY_SEED_RAW - 2);
		ok = raw[NKEY_SEED_RAW - 2] == (crc & 0xff) &&
		    raw[NKEY_SEED_RAW - 1] == crc >> 8 &&
		    (raw[0] & 0xf8) == NKEY_PREFIX_SEED &&
		    ((raw[0] & 7) << 5 | (raw[1] & 0xf8) >> 3) ==
		    NKEY_PREFIX_USER;
	}
	explicit_bzero(buf, AUTH_FILE_MAX);
	free(buf);
	if (ok && (pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    raw + 2, 32)) != NULL && EVP_PKEY_get_raw_public_key(pk, key + 1,
	    &klen) == 1 && klen == 32 && len > (NKEY_PUB_RAW * 8 + 4) / 5) {
		key[0] = NKEY_PREFIX_USER;
		crc = nkey_crc16(key, NKEY_PUB_RAW - 2);
		key[NKEY_PUB_RAW - 2] = crc & 0xff;
		key[NKEY_PUB_RAW - 1] = crc >> 8;
		nkey_encode(key, sizeof key, pub);
	} else if (ok) {
		log_warnx("%s: %s: the seed gives no key", name, path);
		ok = 0;
	} else
		log_warnx("%s: %s: holds no NKey user seed (a line SU..., "
		    "58 characters)", name, path);
	EVP_PKEY_free(pk);
	explicit_bzero(raw, sizeof raw);
	return (ok ? 0 : -1);
}

/*
 * Check every file the options name, before anything is mounted, and
 * make each path absolute (the daemon goes to / in the background, and
 * libnats reads some of them at each connection).  Returns 0, or -1
 * after one line.
 */
int
auth_check(struct opts *o)
{
	char	 cwd[NATS_PATH_MAX], *path, *buf, pub[64];
	size_t	 i;
	int	 fd, error = 0;

	for (i = 0; i < sizeof auth_files / sizeof auth_files[0]; i++) {
		path = (char *)o + auth_files[i].off;
		if (path[0] == '\0')
			continue;
		if (path[0] != '/') {
			if (getcwd(cwd, sizeof cwd) == NULL ||
			    strlcat(cwd, "/", sizeof cwd) >= sizeof cwd ||
			    strlcat(cwd, path, sizeof cwd) >= sizeof cwd) {
				log_warnx("%s: %s: cannot make the path "
				    "absolute", auth_files[i].name, path);
				return (-1);
			}
			strlcpy(path, cwd, NATS_PATH_MAX);
		}
		if ((fd = auth_open(auth_files[i].name, path,
		    auth_files[i].secret)) == -1)
			return (-1);
		close(fd);
	}
	buf = xmalloc(AUTH_SECRET_MAX);
	if (o->nats_password_file[0] != '\0')
		error = auth_secret("nats_password_file", o->nats_password_file,
		    buf, AUTH_SECRET_MAX);
	if (error == 0 && o->nats_token_file[0] != '\0')
		error = auth_secret("nats_token_file", o->nats_token_file, buf,
		    AUTH_SECRET_MAX);
	explicit_bzero(buf, AUTH_SECRET_MAX);
	free(buf);
	if (error == 0 && o->nats_nkey[0] != '\0')
		error = auth_nkey_public("nats_nkey", o->nats_nkey, pub,
		    sizeof pub);
	return (error);
}

/* True if a URL of the comma-separated list asks for TLS (tls://). */
static int
auth_tls_url(const char *urls)
{
	const char	*p;

	for (p = urls; p != NULL; p = (p = strchr(p, ',')) ? p + 1 : NULL)
		if (strncasecmp(p, "tls://", 6) == 0)
			return (1);
	return (0);
}

/*
 * Give libnats the login and TLS the options ask for; servers is the
 * list this connection uses.  Returns 0, or -1 after one line.
 */
int
auth_options(natsOptions *no, const struct opts *o, const char *servers)
{
	char		*buf, pub[64];
	natsStatus	 st = NATS_OK;
	const char	*what = NULL;
	int		 secure;

	secure = auth_tls_url(servers);
	if (o->nats_ca[0] != '\0') {
		what = "nats_ca";
		st = natsOptions_LoadCATrustedCertificates(no, o->nats_ca);
		secure = 1;
	}
	if (st == NATS_OK && o->nats_cert[0] != '\0') {
		if (auth_recheck("nats_key", o->nats_key, 1) == -1)
			return (-1);
		what = "nats_cert";
		st = natsOptions_LoadCertificatesChain(no, o->nats_cert,
		    o->nats_key);
		secure = 1;
	}
	if (st == NATS_OK && secure) {
		what = "TLS";
		st = natsOptions_SetSecure(no, true);
	}
	if (st != NATS_OK) {
		log_warnx("%s: %s", what, nats_GetLastError(NULL));
		return (-1);
	}

	buf = xmalloc(AUTH_SECRET_MAX);
	if (o->nats_user[0] != '\0') {
		what = "nats_password_file";
		if (auth_secret(what, o->nats_password_file, buf,
		    AUTH_SECRET_MAX) == 0)
			st = natsOptions_SetUserInfo(no, o->nats_user, buf);
		else
			st = NATS_ERR;
	} else if (o->nats_token_file[0] != '\0') {
		what = "nats_token_file";
		if (auth_secret(what, o->nats_token_file, buf,
		    AUTH_SECRET_MAX) == 0)
			st = natsOptions_SetToken(no, buf);
		else
			st = NATS_ERR;
	} else if (o->nats_creds[0] != '\0') {
		what = "nats_creds";
		if (auth_recheck(what, o->nats_creds, 1) == 0)
			st = natsOptions_SetUserCredentialsFromFiles(no,
			    o->nats_creds, NULL);
		else
			st = NATS_ERR;
	} else if (o->nats_nkey[0] != '\0') {
		what = "nats_nkey";
		if (auth_nkey_public(what, o->nats_nkey, pub, sizeof pub) == 0)
			st = natsOptions_SetNKeyFromSeed(no, pub, o->nats_nkey);
		else
			st = NATS_ERR;
	}
	explicit_bzero(buf, AUTH_SECRET_MAX);
	free(buf);
	if (st != NATS_OK && st != NATS_ERR)
		log_warnx("%s: %s", what, nats_GetLastError(NULL));
	return (st == NATS_OK ? 0 : -1);
}

/*
 * True if st, what connecting to one server gave, says that the server
 * answered and refused (the login, the TLS handshake, the connection),
 * not that it could not be reached.
 */
int
auth_refused(natsStatus st)
{
	return (st != NATS_OK && st != NATS_NO_SERVER && st != NATS_TIMEOUT &&
	    st != NATS_NOT_YET_CONNECTED);
}

/*
 * What OpenSSL says went wrong last in this thread, if anything: a
 * server that wants a client certificate says so in an alert that comes
 * after the handshake, which libnats takes for a connection closed.
 * Clears what OpenSSL kept.
 */
void
auth_tls_error(char *buf, size_t len)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r;

	buf[0] = '\0';
	if (e != 0 && (r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, len, "%s", r);
	ERR_clear_error();
}

/*
 * The one line for a refusal: by url, or with url NULL by a server of
 * the daemon's list; why is what the server or libnats said.
 */
void
auth_report(const char *url, natsStatus st, const char *why)
{
	char		 who[1024 + 64], safe[512];
	const char	*p;

	if (url != NULL)
		opts_redact(who, sizeof who, url);
	else if (strchr(br.o.nats, ',') == NULL)
		opts_redact(who, sizeof who, br.o.nats);
	else {
		strlcpy(who, "a server of ", sizeof who);
		opts_redact(who + strlen(who), sizeof who - strlen(who),
		    br.o.nats);
	}
	if (why == NULL || why[0] == '\0')
		why = natsStatus_GetText(st);
	/* libnats's last error starts with where it was: "(conn.c:1905): ". */
	if (why[0] == '(' && (p = strstr(why, "): ")) != NULL &&
	    strcspn(why, " ") > (size_t)(p - why))
		why = p + 3;
	/* The server's words, or a certificate's: no control bytes. */
	strnvis(safe, why, sizeof safe, VIS_CSTYLE | VIS_NL | VIS_TAB |
	    VIS_OCTAL);
	why = safe;
	switch (st) {
	case NATS_CONNECTION_AUTH_FAILED:
		log_warnx("%s refused the login: %s", who, why);
		break;
	case NATS_SSL_ERROR:
		log_warnx("%s: TLS failed: %s", who, why);
		break;
	case NATS_SECURE_CONNECTION_WANTED:
		log_warnx("%s: TLS failed: the server does not offer it (asked "
		    "for by tls://, nats_ca or nats_cert)", who);
		break;
	default:
		log_warnx("%s refused the connection: %s", who, why);
		break;
	}
}

/* auth_report, once a second at most: for what happens after the start. */
static void
auth_report_later(natsStatus st, const char *why)
{
	uint64_t	 now = now_ms();
	unsigned	 quiet;

	pthread_mutex_lock(&auth_mtx);
	if (auth_logged != 0 && now - auth_logged < 1000) {
		auth_quiet++;
		pthread_mutex_unlock(&auth_mtx);
		return;
	}
	auth_logged = now;
	quiet = auth_quiet;
	auth_quiet = 0;
	pthread_mutex_unlock(&auth_mtx);
	auth_report(NULL, st, why);
	if (quiet > 0)
		log_warnx("bridge: (and %u more refusals)", quiet);
}

/*
 * libnats's error handler: a refused login during a reconnection, and a
 * permission the server refused, are logged (once a second at most); the
 * rest goes to on_error.  libnats gives the server's words as its last
 * error, in this thread.
 */
void
auth_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *arg)
{
	const char	*why = nats_GetLastError(NULL);

	if (err == NATS_CONNECTION_AUTH_FAILED)
		auth_report_later(err, why);
	else if (err == NATS_NOT_PERMITTED) {
		pthread_mutex_lock(&auth_mtx);
		if (auth_perm_logged == 0 ||
		    now_ms() - auth_perm_logged >= 1000) {
			auth_perm_logged = now_ms();
			pthread_mutex_unlock(&auth_mtx);
			log_warnx("bridge: the server refused: %s",
			    why != NULL ? why : natsStatus_GetText(err));
		} else
			pthread_mutex_unlock(&auth_mtx);
	} else
		on_error(nc, sub, err, arg);
}

/*
 * libnats's reconnection delay, asked after each round of the servers:
 * a round that ended in a refusal (TLS, mostly: libnats goes on trying
 * those for ever, and says nothing) is logged.  100 to 200 ms, as the
 * reconnection wait and jitter were.
 */
int64_t
auth_delay_cb(natsConnection *nc, int attempts, void *arg)
{
	const char	*why = NULL;
	natsStatus	 st, tst = NATS_OK;
	const char	*twhy;

	st = natsConnection_GetLastError(nc, &why);
	twhy = nats_GetLastError(&tst);
	if (tst == st && twhy != NULL && twhy[0] != '\0')
		why = twhy;
	if (auth_refused(st) && st != NATS_CONNECTION_AUTH_FAILED)
		auth_report_later(st, why);
	return (100 + arc4random_uniform(100));
}

/*
 * libnats closed the connection for good: it does so when a server
 * refuses the same login twice in a row.  Nothing is bridged from then
 * on, until the daemon is started again.
 */
void
auth_closed_cb(natsConnection *nc, void *arg)
{
	const char	*why = NULL;
	natsStatus	 st;
	int		 stopping;

	pthread_mutex_lock(&br.mtx);
	stopping = br.stopping;
	pthread_mutex_unlock(&br.mtx);
	if (stopping)
		return;
	st = natsConnection_GetLastError(nc, &why);
	log_warnx("bridge: the connection to NATS is closed (%s); nothing "
	    "is bridged until ipcfs is mounted again", st != NATS_OK &&
	    why != NULL ? why : "closed");
}
