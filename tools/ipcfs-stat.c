/*
 * ipcfs-stat: one line per channel under the given directories of an ipcfs
 * mount (default /mnt/ipc), from each channel's user.ipcfs.stats, as ipcs
 * or ss show theirs.
 *
 *	ipcfs-stat [DIR ...]
 *
 * Exit status 0, or 1 if a directory could not be read or a name under it
 * is not on an ipcfs mount.
 */

#define _GNU_SOURCE

#include <sys/stat.h>
#include <sys/xattr.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS	"user.ipcfs.stats"

/* The keys shown, in column order, and their headings. */
static const struct {
	const char	*key;
	const char	*head;
	int		 width;
} cols[] = {
	{ "framing", "FRAMING", 8 },
	{ "delivery", "DELIVERY", 9 },
	{ "readers", "R", 3 },
	{ "writers", "W", 3 },
	{ "buffered_bytes", "BUFFERED", 10 },
	{ "buffered_messages", "MSGS", 7 },
	{ "bytes_written", "WRITTEN", 12 },
	{ "bytes_read", "READ", 12 },
	{ "messages_written", "WRITES", 10 },
	{ "messages_read", "READS", 10 },
};
#define NCOLS	(sizeof cols / sizeof cols[0])

static int	 failed;

/* The value of key in the stats text s, or "-". */
static void
value(const char *s, const char *key, char *out, size_t len)
{
	size_t		 klen = strlen(key);
	const char	*p;

	snprintf(out, len, "-");
	for (p = s; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			snprintf(out, len, "%.*s", (int)strcspn(p + klen + 1,
			    "\n"), p + klen + 1);
			return;
		}
	}
}

static int
visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char	 buf[2048], v[64];
	ssize_t	 n;
	size_t	 i;

	(void)ftw;
	if (type == FTW_DNR || type == FTW_NS) {
		fprintf(stderr, "ipcfs-stat: %s: cannot read\n", path);
		failed = 1;
		return (0);
	}
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return (0);
	if ((n = getxattr(path, STATS, buf, sizeof buf - 1)) == -1) {
		fprintf(stderr, "ipcfs-stat: %s: %s\n", path,
		    errno == ENODATA || errno == ENOTSUP ?
		    "not an ipcfs channel" : strerror(errno));
		failed = 1;
		return (0);
	}
	buf[n] = '\0';
	printf("%-24s", path);
	for (i = 0; i < NCOLS; i++) {
		value(buf, cols[i].key, v, sizeof v);
		printf(" %*s", cols[i].width, v);
	}
	printf("\n");
	return (0);
}

int
main(int argc, char *argv[])
{
	size_t	 i;
	int	 k;

	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "usage: ipcfs-stat [DIR ...]\n");
		return (2);
	}
	printf("%-24s", "NAME");
	for (i = 0; i < NCOLS; i++)
		printf(" %*s", cols[i].width, cols[i].head);
	printf("\n");
	if (argc == 1) {
		if (nftw("/mnt/ipc", visit, 16, FTW_PHYS) == -1) {
			perror("ipcfs-stat: /mnt/ipc");
			failed = 1;
		}
	}
	for (k = 1; k < argc; k++) {
		if (nftw(argv[k], visit, 16, FTW_PHYS) == -1) {
			fprintf(stderr, "ipcfs-stat: %s: %s\n", argv[k],
			    strerror(errno));
			failed = 1;
		}
	}
	return (failed);
}
