/*
 * The doorbell pattern, C side: store a frame in the region of DIR/frame,
 * ring with a byte on its stream, wait for the byte back on DIR/frame.done.
 * Usage: doorbell [DIR]  (an ipcfs mount, /mnt/ipc by default)
 */

#include <sys/mman.h>

#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define N	(512 * 512)

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "/mnt/ipc";
	char		 path[4096], c;
	float		*frame;
	int		 bell, done, round, i;

	snprintf(path, sizeof path, "%s/frame", dir);
	if ((bell = open(path, O_RDWR | O_CREAT, 0644)) == -1 ||
	    ftruncate(bell, N * sizeof *frame) == -1)
		err(1, "%s", path);
	frame = mmap(NULL, N * sizeof *frame, PROT_READ | PROT_WRITE,
	    MAP_SHARED, bell, 0);
	if (frame == MAP_FAILED)
		err(1, "mmap");
	snprintf(path, sizeof path, "%s/frame.done", dir);
	if ((done = open(path, O_RDONLY | O_CREAT, 0644)) == -1)
		err(1, "%s", path);

	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++)
			frame[i] = round;		/* straight into the region */
		if (write(bell, "!", 1) != 1)		/* ring */
			err(1, "write");
		if (read(done, &c, 1) != 1)		/* wait for the peer */
			errx(1, "the peer has gone");
		for (i = 0; i < N; i++)
			if (frame[i] != round + 1.0f)
				errx(1, "frame[%d] is %g", i, frame[i]);
		printf("round %d: every value is %d\n", round, round + 1);
	}
	unlink(path);			/* frame.done; the peer may have already */
	snprintf(path, sizeof path, "%s/frame", dir);
	unlink(path);
	return (0);
}
