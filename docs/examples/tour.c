/*
 * The ipcfs tour in C: a child writes three lines to a channel; the parent
 * waits for them with poll() and reads them.
 * Usage: tour [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
 */

#include <sys/wait.h>

#include <err.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "/mnt/ipc";
	char		 path[4096], buf[256];
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 fd, i;

	snprintf(path, sizeof path, "%s/tour-c", dir);

	/* Create the channel and open it to read; open never waits. */
	if ((fd = open(path, O_RDONLY | O_CREAT, 0644)) == -1)
		err(1, "%s", path);

	switch (fork()) {
	case -1:
		err(1, "fork");
	case 0:
		/* The child writes; one write() of a line is never split. */
		close(fd);
		if ((fd = open(path, O_WRONLY)) == -1)
			err(1, "%s", path);
		for (i = 0; i < 3; i++) {
			n = snprintf(buf, sizeof buf, "line %d\n", i);
			if (write(fd, buf, n) != n)
				err(1, "write");
		}
		_exit(0);	/* the last writer is gone: end of file */
	}

	/* POLLIN means data, or end of file (with POLLHUP). */
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, -1) == -1)
			err(1, "poll");
		if ((n = read(fd, buf, sizeof buf)) == -1)
			err(1, "read");
		if (n == 0)
			break;
		fwrite(buf, 1, n, stdout);
	}
	printf("end of file\n");
	wait(NULL);
	unlink(path);
	return (0);
}
