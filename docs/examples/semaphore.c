/*
 * A counting semaphore from a channel: write(2) of one byte posts, a
 * blocking one-byte read(2) waits for a post and takes it.
 * Usage: cc -o semaphore semaphore.c && ./semaphore [DIR]  (an ipcfs mount)
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define NWAITERS	4

int
main(int argc, char *argv[])
{
	int	 i, fd, taken = 0, status;
	char	 c;

	if (chdir(argc > 1 ? argv[1] : "/mnt/ipc") == -1) {
		perror("chdir");
		return (1);
	}
	/* Held open for reading and writing: waiters never see end of file. */
	if ((fd = open("sem", O_RDWR | O_CREAT, 0600)) == -1) {
		perror("open");
		return (1);
	}
	for (i = 0; i < NWAITERS; i++) {
		if (fork() == 0) {
			int	 w = open("sem", O_RDONLY);

			_exit(w != -1 && read(w, &c, 1) == 1 ? 0 : 1);
		}
	}
	for (i = 0; i < NWAITERS; i++)
		if (write(fd, "x", 1) != 1)
			perror("write");
	for (i = 0; i < NWAITERS; i++)
		if (wait(&status) > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			taken++;
	printf("%d waiters, %d posts taken\n", NWAITERS, taken);
	close(fd);
	unlink("sem");
	return (0);
}
