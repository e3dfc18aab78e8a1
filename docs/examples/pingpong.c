/*
 * pingpong: request and reply over two ipcfs channels, in plain C.
 *
 *	pingpong server [DIR]		answer "ping N" with "pong N"
 *	pingpong client [DIR [COUNT]]	send COUNT pings, check every pong
 *
 * Requests go through DIR/req and replies through DIR/rep (DIR defaults
 * to /mnt/ipc).  Either side may start first: open never waits for a peer,
 * and a request written before the server is there waits in the channel.
 * Messages are lines of text.  A read may return less than a line, or more,
 * so each side keeps what it has read until a newline arrives.
 *
 * When one side goes away, whether it finished or was killed, the other
 * sees end of file on read or EPIPE on write, says so and exits.  Each side
 * removes req and rep when it ends well; the second finds them gone.  A run
 * that fails or is killed may leave them behind, with messages in them:
 * remove them (or use a fresh DIR) before the next one.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG_MAX	64

/* A line reader on a file descriptor. */
struct lines {
	int	 fd;
	size_t	 len;
	char	 buf[4096];
};

static const char *prog;

/* Say what went wrong and exit. */
static void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Open a channel, creating it if it is not there yet. */
static int
open_chan(const char *dir, const char *name, int flags)
{
	char	 path[4096];
	int	 fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, flags | O_CREAT, 0666)) == -1)
		die("%s: %s", path, strerror(errno));
	return (fd);
}

/*
 * Read one line without its newline into line.  Returns 1, or 0 at end of
 * file; a line cut short by end of file is an error.
 */
static int
read_line(struct lines *l, char *line, size_t size)
{
	char	*nl;
	size_t	 n;
	ssize_t	 got;

	while ((nl = memchr(l->buf, '\n', l->len)) == NULL) {
		if (l->len == sizeof l->buf)
			die("line too long");
		got = read(l->fd, l->buf + l->len, sizeof l->buf - l->len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			die("read: %s", strerror(errno));
		if (got == 0) {
			if (l->len != 0)
				die("end of file in the middle of a message");
			return (0);
		}
		l->len += got;
	}
	n = nl - l->buf;
	if (n >= size)
		die("line too long");
	memcpy(line, l->buf, n);
	line[n] = '\0';
	l->len -= n + 1;
	memmove(l->buf, nl + 1, l->len);
	return (1);
}

/* Write all of s; returns 0, or -1 with errno set. */
static int
write_all(int fd, const char *s)
{
	size_t	 left = strlen(s);
	ssize_t	 n;

	while (left > 0) {
		if ((n = write(fd, s, left)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		s += n;
		left -= n;
	}
	return (0);
}

/* Remove the channels, unless the other side has already. */
static void
remove_chans(const char *dir)
{
	const char	*names[] = { "req", "rep" };
	char		 path[4096];
	size_t		 i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (unlink(path) == -1 && errno != ENOENT)
			die("%s: %s", path, strerror(errno));
	}
}

/* Answer requests until the client closes its end. */
static int
server(const char *dir)
{
	struct lines	 req = { 0 };
	char		 line[MSG_MAX], reply[MSG_MAX + 8];
	long		 n = 0;
	int		 rep;

	req.fd = open_chan(dir, "req", O_RDONLY);
	rep = open_chan(dir, "rep", O_WRONLY);
	while (read_line(&req, line, sizeof line)) {
		if (strncmp(line, "ping ", 5) != 0)
			die("bad request '%s'", line);
		snprintf(reply, sizeof reply, "pong %s\n", line + 5);
		if (write_all(rep, reply) == -1) {
			if (errno == EPIPE)
				die("client closed rep (EPIPE) after %ld "
				    "requests", n);
			die("write: %s", strerror(errno));
		}
		n++;
	}
	printf("%s: client closed req (end of file) after %ld requests\n",
	    prog, n);
	remove_chans(dir);
	return (0);
}

/* Send count requests and check that every reply matches. */
static int
client(const char *dir, long count)
{
	struct lines	 rep = { 0 };
	char		 msg[MSG_MAX], want[MSG_MAX], line[MSG_MAX];
	long		 i;
	int		 req;

	req = open_chan(dir, "req", O_WRONLY);
	rep.fd = open_chan(dir, "rep", O_RDONLY);
	for (i = 1; i <= count; i++) {
		snprintf(msg, sizeof msg, "ping %ld\n", i);
		if (write_all(req, msg) == -1) {
			if (errno == EPIPE)
				die("server closed req (EPIPE) after %ld "
				    "round trips", i - 1);
			die("write: %s", strerror(errno));
		}
		if (!read_line(&rep, line, sizeof line))
			die("server closed rep (end of file) after %ld "
			    "round trips", i - 1);
		snprintf(want, sizeof want, "pong %ld", i);
		if (strcmp(line, want) != 0)
			die("reply %ld: expected '%s', got '%s'", i, want,
			    line);
	}
	printf("%s: %ld round trips, every reply checked\n", prog, count);
	remove_chans(dir);
	return (0);
}

int
main(int argc, char **argv)
{
	const char	*dir = argc > 2 ? argv[2] : "/mnt/ipc";
	long		 count = argc > 3 ? atol(argv[3]) : 1000;

	if (argc < 2 || argc > 4 || count < 1) {
		fprintf(stderr, "usage: pingpong server [DIR]\n"
		    "       pingpong client [DIR [COUNT]]\n");
		return (2);
	}
	/* ipcfs sends no SIGPIPE, but a real pipe would: take EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "server") == 0) {
		prog = "pingpong server";
		return (server(dir));
	}
	if (strcmp(argv[1], "client") == 0) {
		prog = "pingpong client";
		return (client(dir, count));
	}
	fprintf(stderr, "pingpong: unknown role '%s'\n", argv[1]);
	return (2);
}
