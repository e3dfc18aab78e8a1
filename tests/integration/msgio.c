/*
 * msgio: message framing from C (issue 11, docs/modes.md), for
 * test_messages.py.  It makes PATH, a new channel on an ipcfs mount, sets
 * user.ipcfs.framing=messages on it with setxattr(2), and checks with
 * read(2), write(2) and stdio that each write is one message and each
 * read one whole message:
 *
 *	- st_blksize is a power of two, not below max_message (the stats);
 *	- messages of 1 byte to max_message go in and come out whole, one
 *	  per read(2), in order;
 *	- a write of max_message + 1 bytes fails with EMSGSIZE and leaves
 *	  nothing; a read(2) with a buffer one byte short fails with
 *	  EMSGSIZE and leaves the message for the next read;
 *	- fread() with setvbuf() of st_blksize gets the messages' bytes, and
 *	  fgets() their lines; a stdio buffer smaller than a message makes
 *	  a short fread() fail with EMSGSIZE, the message still there;
 *	- fwrite() and fflush() with a full buffer make one message per
 *	  fflush().
 *
 * glibc's setvbuf() ignores the size unless it is given the buffer too, so
 * each stream here gets one of its own.
 *
 * usage: msgio PATH
 * Prints "ok - ..." or "not ok - ..." per check, then "msgio: N checks,
 * all ok" and exits 0, or exits 1 if a check failed (2 on a usage or
 * setup error).
 */

#define _GNU_SOURCE

#include <sys/stat.h>
#include <sys/xattr.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int	 nchecks, nfailed;

static void check(int, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
check(int good, const char *fmt, ...)
{
	va_list	 ap;

	nchecks++;
	if (!good)
		nfailed++;
	printf("%s - ", good ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
die(const char *what)
{
	fprintf(stderr, "msgio: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A figure from the channel's user.ipcfs.stats; -1 if it has none. */
static long
figure(const char *path, const char *key)
{
	char	 buf[4096], *line;
	ssize_t	 n;
	size_t	 klen = strlen(key);

	if ((n = getxattr(path, "user.ipcfs.stats", buf, sizeof buf - 1)) < 0)
		die("getxattr user.ipcfs.stats");
	buf[n] = '\0';
	for (line = buf; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return (strtol(line + klen + 1, NULL, 10));
	}
	return (-1);
}

/* Message seq of n bytes: its bytes depend on both. */
static void
fill(unsigned char *p, size_t n, unsigned seq)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seq * 131 + i * 7 + n);
}

static int
is_pattern(const unsigned char *p, size_t n, unsigned seq)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seq * 131 + i * 7 + n))
			return (0);
	return (1);
}

int
main(int argc, char **argv)
{
	const char	*path;
	char		 val[64], line[256];
	unsigned char	*buf, *msg;
	char		*iobuf, small[16];
	size_t		 sizes[8], i, nsizes, bufsize, got;
	long		 maxmsg;
	ssize_t		 n;
	struct stat	 st;
	FILE		*fp;
	int		 w, r, fd, err;

	if (argc != 2) {
		fprintf(stderr, "usage: msgio PATH\n");
		return (2);
	}
	path = argv[1];
	if ((fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600)) == -1)
		die(path);
	close(fd);
	if (setxattr(path, "user.ipcfs.framing", "messages", 8, 0) == -1)
		die("setxattr user.ipcfs.framing");
	n = getxattr(path, "user.ipcfs.framing", val, sizeof val - 1);
	val[n < 0 ? 0 : n] = '\0';
	check(strcmp(val, "messages") == 0, "user.ipcfs.framing is '%s'", val);

	maxmsg = figure(path, "max_message");
	if (stat(path, &st) == -1)
		die("stat");
	bufsize = (size_t)st.st_blksize;
	check(maxmsg > 0 && bufsize >= (size_t)maxmsg &&
	    (bufsize & (bufsize - 1)) == 0,
	    "st_blksize %zu is a power of two, not below max_message %ld",
	    bufsize, maxmsg);
	if (maxmsg <= 0 || bufsize < (size_t)maxmsg)
		return (1);
	if ((buf = malloc(bufsize + 1)) == NULL ||
	    (msg = malloc(maxmsg + 1)) == NULL ||
	    (iobuf = malloc(bufsize)) == NULL)
		die("malloc");

	if ((w = open(path, O_WRONLY)) == -1 ||
	    (r = open(path, O_RDONLY)) == -1)
		die("open");

	/* Messages of every kind of size, one per read(2), whole. */
	nsizes = 0;
	sizes[nsizes++] = 1;
	sizes[nsizes++] = 17;
	sizes[nsizes++] = 4096;
	sizes[nsizes++] = 4097;
	sizes[nsizes++] = (size_t)maxmsg - 1;
	sizes[nsizes++] = (size_t)maxmsg;
	for (i = 0; i < nsizes; i++) {
		fill(msg, sizes[i], i);
		n = write(w, msg, sizes[i]);
		check(n == (ssize_t)sizes[i], "write(2) of a message of %zu "
		    "bytes returns %zd", sizes[i], n);
		n = read(r, buf, bufsize);
		check(n == (ssize_t)sizes[i] && is_pattern(buf, n, i),
		    "read(2) of %zu gets the message of %zu bytes whole (%zd)",
		    bufsize, sizes[i], n);
	}

	/* EMSGSIZE both ways. */
	memset(msg, 'x', maxmsg + 1);
	n = write(w, msg, maxmsg + 1);
	err = errno;
	check(n == -1 && err == EMSGSIZE, "write(2) of max_message + 1 "
	    "bytes: EMSGSIZE (%zd, %s)", n, strerror(err));
	check(figure(path, "buffered_messages") == 0 &&
	    figure(path, "buffered_bytes") == 0,
	    "... and nothing of it is in the channel");
	fill(msg, 100, 42);
	if (write(w, msg, 100) != 100)
		die("write");
	n = read(r, buf, 99);
	err = errno;
	check(n == -1 && err == EMSGSIZE, "read(2) of 99 bytes of a 100-byte "
	    "message: EMSGSIZE (%zd, %s)", n, strerror(err));
	n = read(r, buf, 100);
	check(n == 100 && is_pattern(buf, 100, 42),
	    "... and a read(2) of 100 gets it whole (%zd)", n);

	/* fread() and fgets() with a buffer of st_blksize. */
	if ((fp = fopen(path, "r")) == NULL)
		die("fopen");
	if (setvbuf(fp, iobuf, _IOFBF, bufsize) != 0)
		die("setvbuf");
	close(r);
	if (write(w, "alpha\n", 6) != 6 || write(w, "beta\n", 5) != 5)
		die("write");
	check(fgets(line, sizeof line, fp) != NULL &&
	    strcmp(line, "alpha\n") == 0, "fgets() gets the first line");
	check(fgets(line, sizeof line, fp) != NULL &&
	    strcmp(line, "beta\n") == 0, "fgets() gets the second line");
	fill(msg, (size_t)maxmsg, 7);
	if (write(w, msg, maxmsg) != maxmsg)
		die("write");
	got = fread(buf, 1, (size_t)maxmsg, fp);
	check(got == (size_t)maxmsg && is_pattern(buf, got, 7),
	    "fread() gets the largest message (%zu of %ld bytes)", got,
	    maxmsg);
	if (write(w, "gamma\n", 6) != 6)
		die("write");
	close(w);
	got = fread(buf, 1, bufsize, fp);
	check(got == 6 && memcmp(buf, "gamma\n", 6) == 0 && feof(fp) &&
	    !ferror(fp), "fread() gets the last message, then end of file "
	    "(%zu bytes)", got);
	fclose(fp);

	/* A stdio buffer smaller than the message: an error, not a part. */
	if ((w = open(path, O_WRONLY)) == -1)
		die("open");
	if ((fp = fopen(path, "r")) == NULL)
		die("fopen");
	if (setvbuf(fp, small, _IOFBF, sizeof small) != 0)
		die("setvbuf");
	fill(msg, 100, 9);
	if (write(w, msg, 100) != 100)
		die("write");
	errno = 0;
	got = fread(buf, 1, 10, fp);
	err = errno;
	check(got == 0 && ferror(fp) && err == EMSGSIZE,
	    "fread() through a 16-byte buffer: EMSGSIZE (%zu, %s)", got,
	    strerror(err));
	n = read(fileno(fp), buf, bufsize);
	check(n == 100 && is_pattern(buf, 100, 9),
	    "... and the message is still there whole (%zd)", n);
	fclose(fp);
	close(w);

	/* fwrite() and fflush(): one message per fflush(). */
	if ((r = open(path, O_RDONLY | O_NONBLOCK)) == -1)
		die("open");
	if ((fp = fopen(path, "w")) == NULL)
		die("fopen");
	if (setvbuf(fp, iobuf, _IOFBF, bufsize) != 0)
		die("setvbuf");
	fputs("one ", fp);
	fputs("message\n", fp);
	check(fflush(fp) == 0, "fflush() of two fputs()");
	n = read(r, buf, bufsize);
	check(n == 12 && memcmp(buf, "one message\n", 12) == 0,
	    "... makes one message (%zd)", n);
	fill(msg, (size_t)maxmsg, 8);
	check(fwrite(msg, 1, maxmsg, fp) == (size_t)maxmsg && fflush(fp) == 0,
	    "fwrite() and fflush() of the largest message");
	n = read(r, buf, bufsize);
	check(n == maxmsg && is_pattern(buf, n, 8),
	    "... makes one message (%zd)", n);
	fprintf(fp, "last %d\n", 3);
	check(fclose(fp) == 0, "fclose() flushes the last");
	n = read(r, buf, bufsize);
	check(n == 7 && memcmp(buf, "last 3\n", 7) == 0,
	    "... as one message (%zd)", n);
	n = read(r, buf, bufsize);
	check(n == 0, "then end of file (%zd)", n);
	check(figure(path, "messages_written") == (long)nsizes + 6 + 3 &&
	    figure(path, "buffered_messages") == 0,
	    "the stats count %ld messages written, %ld buffered",
	    figure(path, "messages_written"),
	    figure(path, "buffered_messages"));
	close(r);
	free(buf);
	free(msg);
	free(iobuf);
	if (unlink(path) == -1)
		die("unlink");
	if (nfailed != 0) {
		printf("msgio: %d of %d checks failed\n", nfailed, nchecks);
		return (1);
	}
	printf("msgio: %d checks, all ok\n", nchecks);
	return (0);
}
