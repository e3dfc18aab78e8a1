/*
 * The namespace: directories, channel files, inode numbers and the kernel's
 * lookup counts.  A node is freed when it is unlinked, the kernel has
 * forgotten it and nothing has it open, so an unlinked channel keeps working
 * for whoever still holds it.  No FUSE here.
 *
 * The kernel knows a node by the node ids of its knodes.  A write the
 * daemon holds keeps the kernel's lock on that knode's inode, and the VFS
 * takes the same lock to unlink, rename, chmod, utimes, setxattr or
 * O_TRUNC-open the file, and for a second write (see
 * ../shared/notes/held-write-lock.md).  So while a knode has a writer the
 * name moves on: the next lookup of it gets a new knode, another inode of
 * the kernel's for the same channel, whose lock is free.  node_busy says
 * when the kernel must be made to look the name up again.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

/* libbsd leaves __unused undefined, but its RB_*_STATIC macros use it. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

static int	node_ino_cmp(struct node *, struct node *);
static int	node_name_cmp(struct node *, struct node *);
static int	knode_cmp(struct knode *, struct knode *);

RB_HEAD(node_inos, node);
RB_GENERATE_STATIC(node_inos, node, ino_entry, node_ino_cmp)
RB_GENERATE_STATIC(node_names, node, name_entry, node_name_cmp)
RB_HEAD(knode_ids, knode);
RB_GENERATE_STATIC(knode_ids, knode, entry, knode_cmp)

static struct node_inos	 inos = RB_INITIALIZER(&inos);
static struct knode_ids	 kids = RB_INITIALIZER(&kids);
static int		 moves = NODE_MOVES_NEVER;
static struct node	*root;
static struct chan_pool	*pool;
static uint64_t		 next_ino;
static uint64_t		 nnodes;
static uint64_t		 max_nodes;

static int
node_ino_cmp(struct node *a, struct node *b)
{
	return (a->ino < b->ino ? -1 : a->ino > b->ino);
}

static int
node_name_cmp(struct node *a, struct node *b)
{
	return (strcmp(a->name, b->name));
}

static int
knode_cmp(struct knode *a, struct knode *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

/*
 * A new knode for n, with a fresh id unless id is given; NULL if memory
 * is short.
 */
static struct knode *
knode_new(struct node *n, uint64_t id)
{
	struct knode	*k;

	if ((k = calloc(1, sizeof *k)) == NULL)
		return (NULL);
	k->node = n;
	k->id = id != 0 ? id : next_ino++;
	RB_INSERT(knode_ids, &kids, k);
	LIST_INSERT_HEAD(&n->knodes, k, nentry);
	return (k);
}

static void
knode_free(struct knode *k)
{
	RB_REMOVE(knode_ids, &kids, k);
	LIST_REMOVE(k, nentry);
	free(k);
}

/*
 * Free k if the kernel has forgotten it, nothing has it open and the name
 * has moved on from it.
 */
static void
knode_maybe_free(struct knode *k)
{
	if (k->nlookup == 0 && k->nopen == 0 && k != k->node->cur)
		knode_free(k);
}

static void
node_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Update the times named by which (NODE_ATIME and so on) to now. */
void
node_touch(struct node *n, int which)
{
	struct timespec	 now;

	node_now(&now);
	if (which & NODE_ATIME)
		n->atime = now;
	if (which & NODE_MTIME)
		n->mtime = now;
	if (which & NODE_CTIME)
		n->ctime = now;
}

/* A new node, or NULL if memory is short. */
static struct node *
node_alloc(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	struct node	*n;

	if ((n = calloc(1, sizeof *n)) == NULL)
		return (NULL);
	RB_INIT(&n->children);
	LIST_INIT(&n->knodes);
	TAILQ_INIT(&n->xattrs);
	n->capacity = pool->capacity;
	n->framing = pool->framing;
	n->delivery = pool->delivery;
	if ((n->name = strdup(name)) == NULL ||
	    (S_ISREG(mode) && (n->chan = chan_new(pool)) == NULL)) {
		free(n->name);
		free(n);
		return (NULL);
	}
	n->ino = next_ino++;
	if ((n->cur = knode_new(n, n->ino)) == NULL) {
		chan_free(n->chan);
		free(n->name);
		free(n);
		return (NULL);
	}
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	node_touch(n, NODE_ATIME | NODE_MTIME | NODE_CTIME);
	RB_INSERT(node_inos, &inos, n);
	nnodes++;
	return (n);
}

static void
node_destroy(struct node *n)
{
	struct knode	*k;

	while ((k = LIST_FIRST(&n->knodes)) != NULL)
		knode_free(k);
	xattr_free_all(&n->xattrs, &pool->budget);
	RB_REMOVE(node_inos, &inos, n);
	chan_free(n->chan);
	free(n->name);
	free(n);
	nnodes--;
}

/* Free n if nothing refers to it any more. */
static void
node_maybe_free(struct node *n)
{
	if (n != root && n->parent == NULL && n->nlookup == 0 &&
	    n->nopen == 0)
		node_destroy(n);
}

/* Create the root directory; the mount's channels share pool. */
void
node_init(struct chan_pool *p, uint64_t limit, mode_t mode, uid_t uid,
    gid_t gid)
{
	pool = p;
	max_nodes = limit;
	next_ino = 1;
	if ((root = node_alloc("", S_IFDIR | (mode & 07777), uid, gid)) ==
	    NULL)
		fatal("%s: the root", __func__);
	root->nlookup = root->cur->nlookup = 1;
	nnodes = 0;
	moves = NODE_MOVES_NEVER;
}

static void
node_free_tree(struct node *dir)
{
	struct node	*n, *tn;

	RB_FOREACH_SAFE(n, node_names, &dir->children, tn) {
		RB_REMOVE(node_names, &dir->children, n);
		node_free_tree(n);
		n->parent = NULL;
	}
}

/* Free every node, at shutdown. */
void
node_done(void)
{
	struct node	*n, *tn;

	if (root == NULL)
		return;
	node_free_tree(root);
	RB_FOREACH_SAFE(n, node_inos, &inos, tn)
		node_destroy(n);
	root = NULL;
}

/* The root directory. */
struct node *
node_root(void)
{
	return (root);
}

/* The knode with node id id, or NULL. */
struct knode *
node_kget(uint64_t id)
{
	struct knode	 key;

	key.id = id;
	return (RB_FIND(knode_ids, &kids, &key));
}

/* The node the kernel knows by node id id, or NULL. */
struct node *
node_get(uint64_t id)
{
	struct knode	*k;

	return ((k = node_kget(id)) != NULL ? k->node : NULL);
}

/* The knode n's name is bound to now; NULL if memory is short. */
struct knode *
node_knode(struct node *n)
{
	struct knode	*k;

	if (n->cur == NULL || n->cur->moving) {
		if ((k = knode_new(n, 0)) == NULL)
			return (NULL);
		n->cur = k;
	}
	return (n->cur);
}

/* How many knodes n has: more than one once its name has moved on. */
unsigned
node_nknodes(const struct node *n)
{
	const struct knode	*k;
	unsigned		 cnt = 0;

	LIST_FOREACH(k, &n->knodes, nentry)
		cnt++;
	return (cnt);
}

/* The child of dir called name, or NULL. */
struct node *
node_lookup(struct node *dir, const char *name)
{
	struct node	 key;

	key.name = (char *)name;
	return (RB_FIND(node_names, &dir->children, &key));
}

/* Zero if name may be created, else an errno. */
int
node_check_name(const char *name)
{
	size_t	 len;

	len = strnlen(name, NAME_MAX_LEN + 1);
	if (len == 0 || strchr(name, '/') != NULL)
		return (EINVAL);
	if (len > NAME_MAX_LEN)
		return (ENAMETOOLONG);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return (EEXIST);
	return (0);
}

/* Link n into dir, under name if given (its own, already allocated). */
static void
node_attach(struct node *dir, struct node *n, char *name)
{
	if (name != NULL) {
		free(n->name);
		n->name = name;
	}
	n->parent = dir;
	RB_INSERT(node_names, &dir->children, n);
	if (S_ISDIR(n->mode))
		dir->nsubdirs++;
	node_touch(dir, NODE_MTIME | NODE_CTIME);
}

static void
node_detach(struct node *n)
{
	struct node	*dir = n->parent;

	RB_REMOVE(node_names, &dir->children, n);
	if (S_ISDIR(n->mode))
		dir->nsubdirs--;
	n->parent = NULL;
	node_touch(dir, NODE_MTIME | NODE_CTIME);
	node_touch(n, NODE_CTIME);
}

/*
 * Make a channel (S_IFREG) or a directory called name in dir.  Any other
 * file type fails with EPERM: a FIFO or device here would be the kernel's,
 * never a channel.
 */
int
node_make(struct node *dir, const char *name, mode_t mode, uid_t uid,
    gid_t gid, struct node **np)
{
	struct node	*n;
	int		 error;

	if (!S_ISDIR(dir->mode))
		return (ENOTDIR);
	if ((error = node_check_name(name)) != 0)
		return (error);
	if (!S_ISREG(mode) && !S_ISDIR(mode))
		return (EPERM);
	if (node_lookup(dir, name) != NULL)
		return (EEXIST);
	if (nnodes >= max_nodes)
		return (ENOSPC);
	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	if ((n = node_alloc(name, mode, uid, gid)) == NULL)
		return (ENOMEM);
	/* Settings come from the directory: its own, or its defaults. */
	n->capacity = dir->capacity;
	n->framing = dir->framing;
	n->delivery = dir->delivery;
	n->bridged = dir->bridged;
	if (n->chan != NULL) {
		n->chan->capacity = dir->capacity;
		(void)chan_set_mode(n->chan, dir->framing, dir->delivery);
	}
	node_attach(dir, n, NULL);
	*np = n;
	return (0);
}

/* Remove the channel called name from dir. */
int
node_unlink(struct node *dir, const char *name)
{
	struct node	*n;

	if ((n = node_lookup(dir, name)) == NULL)
		return (ENOENT);
	if (S_ISDIR(n->mode))
		return (EISDIR);
	node_detach(n);
	node_maybe_free(n);
	return (0);
}

/* Remove the empty directory called name from dir. */
int
node_rmdir(struct node *dir, const char *name)
{
	struct node	*n;

	if ((n = node_lookup(dir, name)) == NULL)
		return (ENOENT);
	if (!S_ISDIR(n->mode))
		return (ENOTDIR);
	if (!RB_EMPTY(&n->children))
		return (ENOTEMPTY);
	node_detach(n);
	node_maybe_free(n);
	return (0);
}

/* True if n is dir or lies below it. */
static int
node_within(struct node *n, struct node *dir)
{
	for (; n != NULL; n = n->parent)
		if (n == dir)
			return (1);
	return (0);
}

static int
node_exchange(struct node *a, struct node *b)
{
	struct node	*adir = a->parent, *bdir = b->parent;
	char		*aname = a->name, *bname = b->name;

	if (S_ISDIR(a->mode) && node_within(bdir, a))
		return (EINVAL);
	if (S_ISDIR(b->mode) && node_within(adir, b))
		return (EINVAL);
	node_detach(a);
	node_detach(b);
	a->name = bname;
	b->name = aname;
	node_attach(bdir, a, NULL);
	node_attach(adir, b, NULL);
	return (0);
}

/*
 * Move olddir/oldname to newdir/newname, replacing what is there in one
 * step, as rename(2) does.  RENAME_NOREPLACE and RENAME_EXCHANGE are
 * supported.
 */
int
node_rename(struct node *olddir, const char *oldname, struct node *newdir,
    const char *newname, unsigned int flags)
{
	struct node	*n, *old;
	char		*name;
	int		 error;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (EINVAL);
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return (EINVAL);
	if (!S_ISDIR(newdir->mode))
		return (ENOTDIR);
	if ((n = node_lookup(olddir, oldname)) == NULL)
		return (ENOENT);
	if ((error = node_check_name(newname)) != 0)
		return (error);
	old = node_lookup(newdir, newname);
	if (flags & RENAME_EXCHANGE) {
		if (old == NULL)
			return (ENOENT);
		return (old == n ? 0 : node_exchange(n, old));
	}
	if (old == n)
		return (0);
	if (old != NULL && (flags & RENAME_NOREPLACE))
		return (EEXIST);
	if (S_ISDIR(n->mode) && node_within(newdir, n))
		return (EINVAL);
	if (old != NULL) {
		if (S_ISDIR(n->mode) && !S_ISDIR(old->mode))
			return (ENOTDIR);
		if (!S_ISDIR(n->mode) && S_ISDIR(old->mode))
			return (EISDIR);
		if (!RB_EMPTY(&old->children))
			return (ENOTEMPTY);
	}
	if ((name = strdup(newname)) == NULL)
		return (ENOMEM);
	if (old != NULL) {
		node_detach(old);
		node_maybe_free(old);
	}
	node_detach(n);
	node_attach(newdir, n, name);
	return (0);
}

/*
 * The kernel looks n up: it learns of the knode the name is bound to, or
 * of a new one if the name is moving on.  NULL if memory is short.
 */
struct knode *
node_ref(struct node *n)
{
	struct knode	*k;

	if ((k = node_knode(n)) == NULL)
		return (NULL);
	k->nlookup++;
	n->nlookup++;
	return (k);
}

/* The kernel dropped count lookups of k. */
void
node_forget(struct knode *k, uint64_t count)
{
	struct node	*n = k->node;

	if (count > k->nlookup)
		count = k->nlookup;
	k->nlookup -= count;
	n->nlookup -= count;
	knode_maybe_free(k);
	node_maybe_free(n);
}

/* Something opened k, for writing if wr. */
void
node_open(struct knode *k, int wr)
{
	k->nopen++;
	k->node->nopen++;
	if (wr)
		k->nwriters++;
}

/*
 * Something closed k; it may go if it was unlinked.  A knode without
 * writers may keep its name.
 */
void
node_close(struct knode *k, int wr)
{
	struct node	*n = k->node;

	k->nopen--;
	n->nopen--;
	if (wr && --k->nwriters == 0)
		k->moving = 0;
	knode_maybe_free(k);
	node_maybe_free(n);
}

/* Say when channel names move on (NODE_MOVES_*), for the region mode. */
void
node_set_moves(int how)
{
	moves = how;
}

/*
 * Something that may keep k's inode lock happened (NODE_EV_*).  Returns 1
 * if the name must move on, so the kernel must be made to look it up again;
 * the next lookup then gets a new knode.  With NODE_MOVES_WRITER a knode
 * moves as soon as it may be written, so opens made later never share its
 * lock; with NODE_MOVES_HELD (page-cache regions: each knode is a page
 * cache of its own) only once a write is held, and only while the channel
 * has no region to keep in step.
 */
int
node_busy(struct knode *k, int ev)
{
	struct node	*n = k->node;

	if (n->chan == NULL || k != n->cur || k->moving || k->nwriters == 0)
		return (0);
	switch (moves) {
	case NODE_MOVES_WRITER:
		break;
	case NODE_MOVES_HELD:
		if (ev != NODE_EV_HELD || n->chan->region.used ||
		    n->chan->region.size > 0)
			return (0);
		break;
	default:
		return (0);
	}
	k->moving = 1;
	return (1);
}

/*
 * The next lookup of k's name gets a new knode, whatever k has open: for
 * an open that cannot share k's inode with them.  False if the name is
 * bound to another knode now, or there is no name.
 */
int
node_move(struct knode *k)
{
	struct node	*n = k->node;

	if (n->chan == NULL || n->parent == NULL || k != n->cur)
		return (0);
	k->moving = 1;
	return (1);
}

/*
 * Copy the entries of dir, for a readdir that stays consistent.  Returns
 * their count, or SIZE_MAX if the memory cannot be had (the opendir that
 * asked fails, not the daemon).
 */
size_t
node_snapshot(struct node *dir, struct dirent_snap **out)
{
	struct dirent_snap	*v;
	struct node		*n;
	size_t			 cnt = 0, i = 0;

	*out = NULL;
	RB_FOREACH(n, node_names, &dir->children)
		cnt++;
	if ((v = reallocarray(NULL, cnt + 1, sizeof *v)) == NULL)
		return (SIZE_MAX);
	RB_FOREACH(n, node_names, &dir->children) {
		if ((v[i].name = strdup(n->name)) == NULL) {
			node_snapshot_free(v, i);
			return (SIZE_MAX);
		}
		v[i].ino = n->ino;
		v[i].mode = n->mode;
		i++;
	}
	*out = v;
	return (cnt);
}

/* Free a snapshot made by node_snapshot. */
void
node_snapshot_free(struct dirent_snap *v, size_t cnt)
{
	size_t	 i;

	for (i = 0; i < cnt; i++)
		free(v[i].name);
	free(v);
}

/* How many nodes exist and may exist. */
void
node_stats(struct node_stats *st)
{
	st->nodes = nnodes;
	st->max_nodes = max_nodes;
}

/* Call fn on every channel, linked or not. */
void
node_walk_chans(void (*fn)(struct chan *, void *), void *arg)
{
	struct node	*n;

	RB_FOREACH(n, node_inos, &inos)
		if (n->chan != NULL)
			fn(n->chan, arg);
}

/* The child of dir after c, in name order: the first if c is NULL. */
struct node *
node_next_child(struct node *dir, struct node *c)
{
	if (c == NULL)
		return (RB_MIN(node_names, &dir->children));
	return (RB_NEXT(node_names, &dir->children, c));
}
