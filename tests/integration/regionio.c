/*
 * regionio: one mapping of a channel's region, driven line by line, for
 * the region tests.
 *
 *	regionio serve PATH	read commands on stdin, answer on stdout
 *	regionio threads PATH same|separate
 *				a read blocked in one thread, a write from
 *				another, on one open or on two
 *
 * Commands for serve, one per line; each answers "ok [result]" or
 * "err ERRNO message":
 *
 *	open rw|ro		open PATH read-write or read-only
 *	map LEN			map LEN bytes MAP_SHARED (0: the file size),
 *				writable if opened rw
 *	unmap			unmap
 *	close			close the descriptor; the mapping stays
 *	size			the size fstat or, once closed, stat gives
 *	trunc SIZE		ftruncate
 *	put OFF TEXT		store TEXT at OFF through the mapping
 *	fill OFF LEN BYTE	store LEN copies of BYTE (a number) at OFF
 *	get OFF LEN		load LEN bytes at OFF, answered in hex
 *	count OFF LEN BYTE	how many of LEN bytes at OFF are BYTE
 *	sync			msync the whole mapping, MS_SYNC
 *
 * Loads and stores touch the mapping and nothing else: no msync (unless
 * asked for), no read() or write().  A load or store past the end of the file raises
 * SIGBUS, which kills this process, as the tests want to see.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char	*path;
static int		 fd = -1;
static int		 writable;
static unsigned char	*map;
static size_t		 maplen;

static void
reply_err(const char *what)
{
	printf("err %d %s: %s\n", errno, what, strerror(errno));
}

/* True if [off, off + len) lies in the mapping. */
static int
in_map(unsigned long off, unsigned long len)
{
	if (map == NULL) {
		errno = EINVAL;
		reply_err("no mapping");
		return (0);
	}
	if (off > maplen || len > maplen - off) {
		errno = ERANGE;
		reply_err("outside the mapping");
		return (0);
	}
	return (1);
}

/* Run one command line. */
static void
command(char *line)
{
	struct stat	 st;
	char		*verb, *arg, *end;
	unsigned long	 off, len, val, i, n;
	int		 rc;

	line[strcspn(line, "\n")] = '\0';
	verb = line;
	if ((arg = strchr(line, ' ')) != NULL)
		*arg++ = '\0';
	else
		arg = line + strlen(line);

	if (strcmp(verb, "open") == 0) {
		writable = strcmp(arg, "rw") == 0;
		if ((fd = open(path, writable ? O_RDWR : O_RDONLY)) == -1)
			reply_err("open");
		else
			printf("ok\n");
	} else if (strcmp(verb, "map") == 0) {
		len = strtoul(arg, NULL, 10);
		if (len == 0) {
			if (fstat(fd, &st) == -1) {
				reply_err("fstat");
				return;
			}
			len = (unsigned long)st.st_size;
		}
		map = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0),
		    MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			reply_err("mmap");
		} else {
			maplen = len;
			printf("ok %lu\n", len);
		}
	} else if (strcmp(verb, "unmap") == 0) {
		if (map != NULL)
			munmap(map, maplen);
		map = NULL;
		printf("ok\n");
	} else if (strcmp(verb, "close") == 0) {
		close(fd);
		fd = -1;
		printf("ok\n");
	} else if (strcmp(verb, "size") == 0) {
		rc = fd != -1 ? fstat(fd, &st) : stat(path, &st);
		if (rc == -1)
			reply_err("stat");
		else
			printf("ok %lld\n", (long long)st.st_size);
	} else if (strcmp(verb, "trunc") == 0) {
		if (ftruncate(fd, (off_t)strtoull(arg, NULL, 10)) == -1)
			reply_err("ftruncate");
		else
			printf("ok\n");
	} else if (strcmp(verb, "put") == 0) {
		off = strtoul(arg, &end, 10);
		arg = *end == ' ' ? end + 1 : end;
		if (in_map(off, strlen(arg))) {
			memcpy(map + off, arg, strlen(arg));
			printf("ok\n");
		}
	} else if (strcmp(verb, "fill") == 0) {
		off = strtoul(arg, &end, 10);
		len = strtoul(end, &end, 10);
		val = strtoul(end, NULL, 10);
		if (in_map(off, len)) {
			memset(map + off, (int)val, len);
			printf("ok\n");
		}
	} else if (strcmp(verb, "get") == 0) {
		off = strtoul(arg, &end, 10);
		len = strtoul(end, NULL, 10);
		if (in_map(off, len)) {
			printf("ok ");
			for (i = 0; i < len; i++)
				printf("%02x", map[off + i]);
			printf("\n");
		}
	} else if (strcmp(verb, "count") == 0) {
		off = strtoul(arg, &end, 10);
		len = strtoul(end, &end, 10);
		val = strtoul(end, NULL, 10);
		if (in_map(off, len)) {
			for (i = n = 0; i < len; i++)
				n += map[off + i] == val;
			printf("ok %lu\n", n);
		}
	} else if (strcmp(verb, "sync") == 0) {
		if (in_map(0, 0) && msync(map, maplen, MS_SYNC) == -1)
			reply_err("msync");
		else if (map != NULL)
			printf("ok\n");
	} else {
		errno = EINVAL;
		reply_err(verb);
	}
}

struct reader {
	int	 fd;
	int	 done;
	ssize_t	 got;
	int	 error;
	char	 buf[64];
};

static void *
reader_main(void *arg)
{
	struct reader	*r = arg;

	r->got = read(r->fd, r->buf, sizeof r->buf);
	r->error = errno;
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return (NULL);
}

/*
 * One thread blocks in read() on the channel while this one writes to it,
 * on the same open file description or on an open of its own.  Exits 0
 * when the read got what was written.
 */
static int
threads(int same)
{
	struct reader	 r;
	pthread_t	 t;
	int		 wfd;

	memset(&r, 0, sizeof r);
	if ((r.fd = open(path, same ? O_RDWR : O_RDONLY)) == -1) {
		perror("regionio: open");
		return (1);
	}
	if (pthread_create(&t, NULL, reader_main, &r) != 0) {
		fprintf(stderr, "regionio: pthread_create failed\n");
		return (1);
	}
	/* Give the reader a moment to block; it must not have returned. */
	poll(NULL, 0, 200);
	if (__atomic_load_n(&r.done, __ATOMIC_SEQ_CST)) {
		fprintf(stderr, "regionio: read returned %zd before any "
		    "write\n", r.got);
		return (1);
	}
	if (same)
		wfd = r.fd;
	else if ((wfd = open(path, O_WRONLY)) == -1) {
		perror("regionio: open for writing");
		return (1);
	}
	if (write(wfd, "wake", 4) != 4) {
		perror("regionio: write");
		return (1);
	}
	pthread_join(t, NULL);
	if (r.got != 4 || memcmp(r.buf, "wake", 4) != 0) {
		fprintf(stderr, "regionio: read returned %zd (%s)\n", r.got,
		    r.got == -1 ? strerror(r.error) : "wrong data");
		return (1);
	}
	printf("ok\n");
	return (0);
}

int
main(int argc, char **argv)
{
	char	 line[8192];

	if (argc == 4 && strcmp(argv[1], "threads") == 0) {
		path = argv[2];
		return (threads(strcmp(argv[3], "same") == 0));
	}
	if (argc != 3 || strcmp(argv[1], "serve") != 0) {
		fprintf(stderr, "usage: regionio serve PATH\n"
		    "       regionio threads PATH same|separate\n");
		return (2);
	}
	path = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof line, stdin) != NULL)
		command(line);
	return (0);
}
