/*
 * frame: share a 512x512 float32 frame through an ipcfs channel's region,
 * with the channel's stream as the doorbell.  This is the C side; frame.py
 * is the other.
 *
 *	frame [DIR [ROUNDS]]
 *
 * DIR/frame (DIR defaults to /mnt/ipc) is sized to one frame and mapped.
 * Each round fills the frame with the round number, rings the doorbell
 * with a one-byte write() on DIR/frame, waits for the answering ring on
 * DIR/frame.done, and checks that every value is now one more.  The frame
 * itself never goes through read() or write(): both sides map the same
 * memory.  The answer needs a channel of its own, or this side could read
 * its own doorbell back.
 *
 * If the other side goes away, the read on DIR/frame.done sees end of
 * file: say so and exit non-zero.  After the last round, remove DIR/frame
 * and DIR/frame.done, unless frame.py has already.
 */

#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIDE	512
#define VALUES	(SIDE * SIDE)
#define BYTES	(VALUES * sizeof(float))

/* Open DIR/name, creating the channel if it is not there yet. */
static int
open_chan(const char *dir, const char *name, int flags)
{
	char	 path[4096];
	int	 fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, flags | O_CREAT, 0666)) == -1) {
		fprintf(stderr, "frame: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return (fd);
}

/* Remove DIR/name, unless the other side has already. */
static void
remove_chan(const char *dir, const char *name)
{
	char	 path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (unlink(path) == -1 && errno != ENOENT) {
		fprintf(stderr, "frame: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* Wait for one ring on fd; 0 at end of file, -1 on error. */
static int
wait_ring(int fd)
{
	char	 c;
	ssize_t	 n;

	while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
		;
	return (n == -1 ? -1 : (int)n);
}

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "/mnt/ipc";
	long		 rounds = argc > 2 ? atol(argv[2]) : 1000;
	long		 r, bad;
	float		*frame;
	size_t		 i;
	int		 fd, done, rc;

	if (argc > 3 || rounds < 1) {
		fprintf(stderr, "usage: frame [DIR [ROUNDS]]\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);

	/* The region is the file: its size is set by ftruncate. */
	fd = open_chan(dir, "frame", O_RDWR);
	done = open_chan(dir, "frame.done", O_RDONLY);
	if (ftruncate(fd, BYTES) == -1) {
		perror("frame: ftruncate");
		return (1);
	}
	frame = mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (frame == MAP_FAILED) {
		perror("frame: mmap");
		return (1);
	}

	for (r = 1; r <= rounds; r++) {
		for (i = 0; i < VALUES; i++)
			frame[i] = (float)r;

		/* Ring: the frame is ready. */
		if (write(fd, "!", 1) == -1) {
			perror("frame: write");
			return (1);
		}
		/* Wait: the other side has changed it. */
		if ((rc = wait_ring(done)) != 1) {
			fprintf(stderr, "frame: round %ld: %s\n", r, rc == 0 ?
			    "the other side went away (end of file)" :
			    strerror(errno));
			return (1);
		}

		bad = 0;
		for (i = 0; i < VALUES; i++) {
			if (frame[i] != (float)r + 1.0f && bad++ == 0)
				fprintf(stderr, "frame: round %ld: value %zu "
				    "is %g, not %g\n", r, i, frame[i],
				    (float)r + 1.0f);
		}
		if (bad != 0) {
			fprintf(stderr, "frame: round %ld: %ld of %d values "
			    "wrong\n", r, bad, VALUES);
			return (1);
		}
	}
	printf("frame: %ld rounds, every value checked\n", rounds);
	remove_chan(dir, "frame");
	remove_chan(dir, "frame.done");
	return (0);
}
