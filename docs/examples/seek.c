/*
 * C stdio reads a channel in blocks and seeks back when it must, as on a
 * regular file; no line is lost.
 * Usage: cc -o seek seek.c && ./seek [DIR]  (an ipcfs mount, /mnt/ipc)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	char	 line[64];
	FILE	*f;

	if (chdir(argc > 1 ? argv[1] : "/mnt/ipc") == -1) {
		perror("chdir");
		return (1);
	}
	if ((f = fopen("log", "w")) == NULL) {
		perror("fopen");
		return (1);
	}
	fputs("start\nstep 1\nstep 2\n", f);
	fclose(f);

	/* "r+": read a line, then write; C wants an fseek in between. */
	if ((f = fopen("log", "r+")) == NULL) {
		perror("fopen");
		return (1);
	}
	if (fgets(line, sizeof line, f) != NULL)
		printf("first: %s", line);
	fseek(f, 0, SEEK_CUR);		/* seeks back over the read-ahead */
	fputs("seen start\n", f);
	fseek(f, 0, SEEK_CUR);
	while (fgets(line, sizeof line, f) != NULL) {
		printf("then: %s", line);
		if (line[0] == 's' && line[1] == 'e')
			break;		/* our own line came back round */
	}
	fclose(f);
	unlink("log");
	return (0);
}
