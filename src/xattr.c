/*
 * The user.* extended attributes a node keeps for its owner, as tmpfs
 * keeps them: any name in the user namespace, any bytes, for as long as
 * the node lives.  Each value is at most XATTR_VALUE_MAX bytes (E2BIG past
 * it), a node's names and values together at most XATTR_NODE_MAX (ENOSPC
 * past it), and every stored byte counts against max_memory.  The
 * user.ipcfs.* names are the daemon's own and are never stored here.  No
 * FUSE here.
 */

#include <sys/xattr.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

/* What one attribute takes of the budget. */
static size_t
xattr_cost(const struct xattr *x)
{
	return (strlen(x->name) + 1 + x->len);
}

/* The attribute called name, or NULL. */
const struct xattr *
xattr_get(const struct xattrs *xs, const char *name)
{
	const struct xattr	*x;

	TAILQ_FOREACH(x, xs, entry)
		if (strcmp(x->name, name) == 0)
			return (x);
	return (NULL);
}

/* Unlink x and give its bytes back. */
static void
xattr_drop(struct xattrs *xs, struct xattr *x, struct budget *b)
{
	TAILQ_REMOVE(xs, x, entry);
	b->xattr_used -= xattr_cost(x);
	free(x->name);
	free(x);
}

/*
 * Set name to the len bytes at value.  flags are setxattr(2)'s:
 * XATTR_CREATE fails with EEXIST if it exists, XATTR_REPLACE with ENODATA
 * if it does not.  Returns 0 or an errno: E2BIG, ENOSPC (this node's limit
 * or max_memory), ENOMEM.
 */
int
xattr_set(struct xattrs *xs, struct budget *b, const char *name,
    const void *value, size_t len, int flags)
{
	struct xattr	*x, *old;
	size_t		 node = 0, cost;

	old = (struct xattr *)xattr_get(xs, name);
	if ((flags & XATTR_CREATE) && old != NULL)
		return (EEXIST);
	if ((flags & XATTR_REPLACE) && old == NULL)
		return (ENODATA);
	if (len > XATTR_VALUE_MAX)
		return (E2BIG);
	TAILQ_FOREACH(x, xs, entry)
		if (x != old)
			node += xattr_cost(x);
	cost = strlen(name) + 1 + len;
	if (node + cost > XATTR_NODE_MAX)
		return (ENOSPC);
	if (cost > (old != NULL ? xattr_cost(old) : 0) +
	    budget_left(b))
		return (ENOSPC);
	if ((x = malloc(sizeof *x + len)) == NULL)
		return (ENOMEM);
	if ((x->name = strdup(name)) == NULL) {
		free(x);
		return (ENOMEM);
	}
	x->len = len;
	if (len > 0)
		memcpy(x->value, value, len);
	if (old != NULL)
		xattr_drop(xs, old, b);
	TAILQ_INSERT_TAIL(xs, x, entry);
	b->xattr_used += cost;
	return (0);
}

/* Remove name: 0, or ENODATA if there is none. */
int
xattr_remove(struct xattrs *xs, struct budget *b, const char *name)
{
	struct xattr	*x;

	if ((x = (struct xattr *)xattr_get(xs, name)) == NULL)
		return (ENODATA);
	xattr_drop(xs, x, b);
	budget_freed(b);
	return (0);
}

/*
 * Copy the names, each ending in a NUL, to buf if it is not NULL (it has
 * room for the total).  Returns the total.
 */
size_t
xattr_list(const struct xattrs *xs, char *buf)
{
	const struct xattr	*x;
	size_t			 total = 0, n;

	TAILQ_FOREACH(x, xs, entry) {
		n = strlen(x->name) + 1;
		if (buf != NULL)
			memcpy(buf + total, x->name, n);
		total += n;
	}
	return (total);
}

/* Free every attribute, as the node goes. */
void
xattr_free_all(struct xattrs *xs, struct budget *b)
{
	struct xattr	*x;

	while ((x = TAILQ_FIRST(xs)) != NULL)
		xattr_drop(xs, x, b);
}
