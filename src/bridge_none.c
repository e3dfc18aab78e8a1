/*
 * The bridge of a daemon built without libnats (the Makefile picks this
 * file when pkg-config does not know libnats): -o nats is refused at
 * start-up and nothing is ever bridged.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipcfs.h"

int
bridge_check(struct opts *o)
{
	if (o->nats[0] == '\0')
		return (0);
	log_warnx("-o nats: this ipcfs was built without libnats "
	    "(install libnats-dev and build again)");
	return (-1);
}

int
bridge_start(struct chan_pool *pool, const struct opts *o)
{
	(void)pool;
	if (o->nats[0] == '\0')
		return (0);
	log_warnx("-o nats: this ipcfs was built without libnats "
	    "(install libnats-dev and build again)");
	return (-1);
}

void
bridge_stop(void)
{
}


int
bridge_fd(void)
{
	return (-1);
}

int
bridge_sync(struct chan_handle *h, void *req, int flush, uint64_t owner)
{
	(void)h;
	(void)req;
	(void)flush;
	(void)owner;
	return (-1);
}

void
bridge_dispatch(void)
{
}

void
bridge_flush(void)
{
}

int
bridge_mark(struct node *n, const char *value, size_t size, void *req)
{
	(void)n;
	(void)req;
	if (size > 0 && value[size - 1] == '\n')
		size--;
	if (size != 4 || memcmp(value, "nats", 4) != 0)
		return (EINVAL);
	return (EOPNOTSUPP);
}

void
bridge_made(struct node *n)
{
	(void)n;
}

void
bridge_changed(struct node *n)
{
	(void)n;
}

int
bridge_time_ok(const struct timespec *ts)
{
	(void)ts;
	return (1);
}

void *
bridge_removing(struct node *dir, const char *name)
{
	(void)dir;
	(void)name;
	return (NULL);
}

void
bridge_removed(void *op, int error)
{
	(void)op;
	(void)error;
}

int
bridge_making(struct node *dir, const char *name)
{
	(void)dir;
	(void)name;
	return (0);
}

int
bridge_renaming(struct node *dir, const char *name, struct node *newdir,
    const char *newname, unsigned flags, void **opp)
{
	(void)flags;
	(void)dir;
	(void)name;
	(void)newdir;
	(void)newname;
	*opp = NULL;
	return (0);
}

void
bridge_renamed(void *op, int error)
{
	(void)op;
	(void)error;
}

int
bridge_setting(struct node *n, void *req, int which, uint64_t value)
{
	(void)n;
	(void)req;
	(void)which;
	(void)value;
	return (0);
}


int
bridge_stats(const struct chan *c, char *buf, size_t len)
{
	return (snprintf(buf, len, c == NULL ? "nats off\n" :
	    "bridge none\n"));
}

int
bridge_open_wait(struct chan *c, void *req, struct fuse_file_info *fi)
{
	(void)c;
	(void)req;
	(void)fi;
	return (0);
}
