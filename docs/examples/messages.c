/*
 * A message queue and a broadcast channel from C.
 * Usage: messages [DIR]  (DIR is an ipcfs mount, /mnt/ipc by default)
 */
#include <sys/wait.h>
#include <sys/xattr.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * Make a channel with the given framing and delivery.  Settings change
 * only while a channel is idle (EBUSY otherwise): set them, then open.
 */
static void
channel(const char *name, const char *framing, const char *delivery)
{
	int	 fd;

	if ((fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		err(1, "%s", name);
	close(fd);
	if (setxattr(name, "user.ipcfs.framing", framing, strlen(framing),
	    0) == -1 || setxattr(name, "user.ipcfs.delivery", delivery,
	    strlen(delivery), 0) == -1)
		err(1, "%s: settings", name);
}

static char	 buf[128 * 1024];

int
main(int argc, char **argv)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 fd, i, r[2], jobs = 0;

	if (chdir(argc > 1 ? argv[1] : "/mnt/ipc") == -1)
		err(1, "chdir");

	channel("jobs", "messages", "queue");
	if ((fd = open("jobs", O_RDWR)) == -1)
		err(1, "jobs");
	if (fork() == 0) {		/* three workers post one job each */
		for (i = 0; i < 3; i++)
			if (fork() == 0) {
				n = snprintf(buf, sizeof buf, "job from "
				    "worker %d", i);
				_exit(write(fd, buf, n) != n);
			}
		while (wait(NULL) > 0)
			;
		_exit(0);
	}
	wait(NULL);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 0) == 1) {	/* a whole message waits */
		if ((n = read(fd, buf, sizeof buf)) == -1)
			err(1, "read");
		if (n != 17 || strncmp(buf, "job from worker ", 16) != 0)
			errx(1, "not one whole message: %.*s", (int)n, buf);
		jobs++;
	}
	printf("%d whole jobs\n", jobs);
	/* Past the largest message (the capacity here): nothing written. */
	if (write(fd, buf, 70000) == -1 && errno == EMSGSIZE)
		printf("70000 bytes: %s\n", strerror(errno));
	close(fd);
	unlink("jobs");

	/* A broadcast: both readers get every message. */
	channel("feed", "messages", "broadcast");
	if ((r[0] = open("feed", O_RDONLY)) == -1 ||
	    (r[1] = open("feed", O_RDONLY)) == -1 ||
	    (fd = open("feed", O_WRONLY)) == -1)
		err(1, "feed");
	if (write(fd, "tick", 4) != 4 || write(fd, "tock", 4) != 4)
		err(1, "write");
	close(fd);
	for (i = 0; i < 2; i++) {
		while ((n = read(r[i], buf, sizeof buf)) > 0)
			printf("reader %d: %.*s\n", i, (int)n, buf);
		close(r[i]);
	}
	unlink("feed");
	return (0);
}
