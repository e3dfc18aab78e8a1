/*
 * Unit tests for node.c: names, creation rules, lookup and open counts,
 * unlink, rmdir, rename and readdir snapshots.  Each test starts from a
 * fresh tree and ends with node_done(), after which every channel's memory
 * must be given back; ASan's leak checker sees the rest.
 */

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "check_run.h"

#define MAX_NODES	100
#define ROOT_UID	1000
#define ROOT_GID	2000

static struct chan_pool	 pool;
static int		 nreplies;

static void
cb_data(void *req, const struct iovec *iov, int cnt)
{
	nreplies++;
}

static void
cb_count(void *req, size_t n)
{
	nreplies++;
}

static void
cb_err(void *req, int err)
{
	nreplies++;
}

static void
cb_poll(void *ph)
{
}

static const struct chan_cbs cbs = {
	.reply_data = cb_data,
	.reply_count = cb_count,
	.reply_err = cb_err,
	.poll_notify = cb_poll,
	.poll_free = cb_poll,
};

static void
setup(void)
{
	nreplies = 0;
	chan_pool_init(&pool, &cbs, CAPACITY_DEFAULT, MAX_MEMORY_DEFAULT);
	node_init(&pool, MAX_NODES, 0755, ROOT_UID, ROOT_GID);
}

static void
teardown(void)
{
	node_done();
	ck_assert_uint_eq(pool.budget.mem_used, 0);
	ck_assert_uint_eq(pool.nwaiters, 0);
}

/* Make name in dir with mode, which must succeed. */
static struct node *
mk(struct node *dir, const char *name, mode_t mode)
{
	struct node	*n = NULL;
	int		 error;

	error = node_make(dir, name, mode, 1, 2, &n);
	ck_assert_msg(error == 0, "node_make %s: %s", name, strerror(error));
	ck_assert_ptr_nonnull(n);
	return (n);
}

static struct node *
mkfile(struct node *dir, const char *name)
{
	return (mk(dir, name, S_IFREG | 0644));
}

static struct node *
mkdir_(struct node *dir, const char *name)
{
	return (mk(dir, name, S_IFDIR | 0755));
}

static uint64_t
nnodes(void)
{
	struct node_stats	 st;

	node_stats(&st);
	return (st.nodes);
}

/* A name of len bytes of c. */
static char *
longname(size_t len, char c)
{
	char	*s;

	s = malloc(len + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, len);
	s[len] = '\0';
	return (s);
}

START_TEST(test_root)
{
	struct node		*root;
	struct node_stats	 st;

	root = node_root();
	ck_assert_ptr_nonnull(root);
	ck_assert(S_ISDIR(root->mode));
	ck_assert_uint_eq(root->mode & 07777, 0755);
	ck_assert_uint_eq(root->uid, ROOT_UID);
	ck_assert_uint_eq(root->gid, ROOT_GID);
	ck_assert_ptr_null(root->chan);
	ck_assert_ptr_null(root->parent);
	/* Inode 1 is the root, as FUSE wants. */
	ck_assert_uint_eq(root->ino, 1);
	ck_assert_ptr_eq(node_get(1), root);
	ck_assert_ptr_null(node_get(2));
	node_stats(&st);
	ck_assert_uint_eq(st.nodes, 0);
	ck_assert_uint_eq(st.max_nodes, MAX_NODES);
	/* The root never goes, however often the kernel forgets it. */
	node_forget(root->cur, 5);
	ck_assert_ptr_eq(node_get(1), root);

	/* Only permission bits of the mode are taken. */
	node_done();
	node_init(&pool, MAX_NODES, S_IFREG | 01777, 0, 0);
	ck_assert(S_ISDIR(node_root()->mode));
	ck_assert_uint_eq(node_root()->mode & 07777, 01777);
}
END_TEST

START_TEST(test_make_lookup)
{
	struct node	*root = node_root(), *f, *d, *g;

	f = mkfile(root, "file");
	d = mkdir_(root, "dir");
	g = mkfile(d, "inner");
	ck_assert_ptr_eq(node_lookup(root, "file"), f);
	ck_assert_ptr_eq(node_lookup(root, "dir"), d);
	ck_assert_ptr_eq(node_lookup(d, "inner"), g);
	ck_assert_ptr_null(node_lookup(root, "inner"));
	ck_assert_ptr_null(node_lookup(root, "nope"));
	ck_assert_ptr_null(node_lookup(f, "x"));
	ck_assert_ptr_eq(node_get(f->ino), f);
	ck_assert_ptr_eq(node_get(d->ino), d);
	ck_assert_ptr_eq(node_get(g->ino), g);
	ck_assert_uint_ne(f->ino, d->ino);
	ck_assert_uint_ne(d->ino, g->ino);
	ck_assert_uint_ne(f->ino, 1);

	/* Regular files are channels; directories are not. */
	ck_assert(S_ISREG(f->mode));
	ck_assert_uint_eq(f->mode & 07777, 0644);
	ck_assert_ptr_nonnull(f->chan);
	ck_assert(S_ISDIR(d->mode));
	ck_assert_ptr_null(d->chan);
	ck_assert_str_eq(f->name, "file");
	ck_assert_ptr_eq(f->parent, root);
	ck_assert_ptr_eq(g->parent, d);
	ck_assert_uint_eq(f->uid, 1);
	ck_assert_uint_eq(f->gid, 2);
	ck_assert_uint_eq(root->nsubdirs, 1);
	ck_assert_uint_eq(d->nsubdirs, 0);
	/* A new node has no kernel lookups and no opens yet. */
	ck_assert_uint_eq(f->nlookup, 0);
	ck_assert_uint_eq(f->nopen, 0);
	ck_assert_uint_eq(nnodes(), 3);
}
END_TEST

START_TEST(test_make_errors)
{
	struct node	*root = node_root(), *f, *n;

	f = mkfile(root, "f");
	mkdir_(root, "d");
	n = (struct node *)0x1;
	ck_assert_int_eq(node_make(root, "f", S_IFREG | 0644, 0, 0, &n),
	    EEXIST);
	ck_assert_int_eq(node_make(root, "f", S_IFDIR | 0755, 0, 0, &n),
	    EEXIST);
	ck_assert_int_eq(node_make(root, "d", S_IFREG | 0644, 0, 0, &n),
	    EEXIST);
	ck_assert_int_eq(node_make(root, ".", S_IFREG | 0644, 0, 0, &n),
	    EEXIST);
	ck_assert_int_eq(node_make(root, "..", S_IFDIR | 0755, 0, 0, &n),
	    EEXIST);
	ck_assert_int_eq(node_make(f, "x", S_IFREG | 0644, 0, 0, &n),
	    ENOTDIR);
	ck_assert_int_eq(node_make(root, "", S_IFREG | 0644, 0, 0, &n),
	    EINVAL);
	ck_assert_int_eq(node_make(root, "a/b", S_IFREG | 0644, 0, 0, &n),
	    EINVAL);
	/* Failures leave *np alone and make nothing. */
	ck_assert_ptr_eq(n, (struct node *)0x1);
	ck_assert_uint_eq(nnodes(), 2);
}
END_TEST

/* FIFOs, devices, sockets and symlinks cannot be made: EPERM. */
START_TEST(test_make_eperm)
{
	struct node	*root = node_root(), *n = NULL;
	mode_t		 modes[] = { S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK,
			     S_IFLNK, 0 };
	size_t		 i;

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		ck_assert_msg(node_make(root, "x", modes[i] | 0644, 0, 0,
		    &n) == EPERM, "mode %o not refused", modes[i]);
		ck_assert_ptr_null(node_lookup(root, "x"));
	}
	ck_assert_ptr_null(n);
	ck_assert_uint_eq(nnodes(), 0);
	/* Even over an existing name, the type is refused first. */
	mkfile(root, "x");
	ck_assert_int_eq(node_make(root, "x", S_IFIFO | 0644, 0, 0, &n),
	    EPERM);
}
END_TEST

START_TEST(test_names)
{
	struct node	*root = node_root(), *n, *f;
	char		*s255, *s256, *s1000;

	s255 = longname(NAME_MAX_LEN, 'a');
	s256 = longname(NAME_MAX_LEN + 1, 'b');
	s1000 = longname(1000, 'c');
	ck_assert_int_eq(node_check_name("ok"), 0);
	ck_assert_int_eq(node_check_name(" spaced \n\t\xff"), 0);
	ck_assert_int_eq(node_check_name(".hidden"), 0);
	ck_assert_int_eq(node_check_name("..."), 0);
	ck_assert_int_eq(node_check_name(""), EINVAL);
	ck_assert_int_eq(node_check_name("/"), EINVAL);
	ck_assert_int_eq(node_check_name("a/"), EINVAL);
	ck_assert_int_eq(node_check_name("."), EEXIST);
	ck_assert_int_eq(node_check_name(".."), EEXIST);
	ck_assert_int_eq(node_check_name(s255), 0);
	ck_assert_int_eq(node_check_name(s256), ENAMETOOLONG);
	ck_assert_int_eq(node_check_name(s1000), ENAMETOOLONG);

	/* 255 bytes make a name; 256 do not, for files or directories. */
	n = mkfile(root, s255);
	ck_assert_str_eq(n->name, s255);
	ck_assert_ptr_eq(node_lookup(root, s255), n);
	ck_assert_int_eq(node_make(root, s256, S_IFREG | 0644, 0, 0, &n),
	    ENAMETOOLONG);
	ck_assert_int_eq(node_make(root, s256, S_IFDIR | 0755, 0, 0, &n),
	    ENAMETOOLONG);
	ck_assert_ptr_null(node_lookup(root, s256));

	/* Nor can a rename give one. */
	f = mkfile(root, "short");
	ck_assert_int_eq(node_rename(root, "short", root, s256, 0),
	    ENAMETOOLONG);
	ck_assert_ptr_eq(node_lookup(root, "short"), f);
	ck_assert_int_eq(node_rename(root, "short", root, "a/b", 0), EINVAL);
	ck_assert_int_eq(node_rename(root, s255, root, "shorter", 0), 0);
	ck_assert_str_eq(node_lookup(root, "shorter")->name, "shorter");
	free(s255);
	free(s256);
	free(s1000);
}
END_TEST

/* Past max nodes, creation fails with ENOSPC until one is freed. */
START_TEST(test_enospc)
{
	struct node	*root, *a, *d, *n = NULL;

	node_done();
	node_init(&pool, 3, 0755, 0, 0);
	root = node_root();
	a = mkfile(root, "a");
	d = mkdir_(root, "d");
	mkfile(d, "b");
	ck_assert_uint_eq(nnodes(), 3);
	ck_assert_int_eq(node_make(root, "c", S_IFREG | 0644, 0, 0, &n),
	    ENOSPC);
	ck_assert_int_eq(node_make(d, "c", S_IFDIR | 0755, 0, 0, &n),
	    ENOSPC);
	ck_assert_ptr_null(node_lookup(root, "c"));
	/* The limit does not hide EEXIST. */
	ck_assert_int_eq(node_make(root, "a", S_IFREG | 0644, 0, 0, &n),
	    EEXIST);

	/* An unlinked node still open still counts. */
	node_open(a->cur, 0);
	ck_assert_int_eq(node_unlink(root, "a"), 0);
	ck_assert_uint_eq(nnodes(), 3);
	ck_assert_int_eq(node_make(root, "c", S_IFREG | 0644, 0, 0, &n),
	    ENOSPC);
	node_close(a->cur, 0);
	ck_assert_uint_eq(nnodes(), 2);
	mkfile(root, "c");
	ck_assert_int_eq(node_make(root, "e", S_IFREG | 0644, 0, 0, &n),
	    ENOSPC);
	/* Renames make nothing new. */
	ck_assert_int_eq(node_rename(root, "c", d, "c2", 0), 0);
}
END_TEST

/* Unlink removes the name; the node lives while it is open. */
START_TEST(test_unlink_open)
{
	struct node		*root = node_root(), *n;
	struct chan_handle	*h;
	uint64_t		 ino;
	char			 req;

	n = mkfile(root, "chan");
	ino = n->ino;
	node_open(n->cur, 0);
	h = chan_open(n->chan, CHAN_RD | CHAN_WR);
	ck_assert_ptr_null(chan_write(h, &req, "data", 4, 0, 0));
	ck_assert_int_eq(node_unlink(root, "chan"), 0);
	ck_assert_ptr_null(node_lookup(root, "chan"));
	ck_assert_ptr_eq(node_get(ino), n);
	ck_assert_ptr_null(n->parent);
	/* The channel still works for whoever holds it. */
	ck_assert_uint_eq(n->chan->ring.len, 4);
	ck_assert_ptr_null(chan_read(h, &req, 10, 0, 0));
	ck_assert_uint_eq(n->chan->ring.len, 0);
	ck_assert_int_eq(nreplies, 2);
	/* A new file under the old name is a different node. */
	ck_assert_uint_ne(mkfile(root, "chan")->ino, ino);

	chan_close(h);
	node_close(n->cur, 0);
	ck_assert_ptr_null(node_get(ino));

	/* Without opens or lookups, unlink frees at once. */
	n = mkfile(root, "gone");
	ino = n->ino;
	ck_assert_int_eq(node_unlink(root, "gone"), 0);
	ck_assert_ptr_null(node_get(ino));

	ck_assert_int_eq(node_unlink(root, "gone"), ENOENT);
	mkdir_(root, "dir");
	ck_assert_int_eq(node_unlink(root, "dir"), EISDIR);
	ck_assert_ptr_nonnull(node_lookup(root, "dir"));
}
END_TEST

/* Kernel lookups keep an unlinked node until they are all forgotten. */
START_TEST(test_forget)
{
	struct node	*root = node_root(), *n;
	uint64_t	 ino;

	n = mkfile(root, "f");
	ino = n->ino;
	node_ref(n);
	node_ref(n);
	node_ref(n);
	ck_assert_uint_eq(n->nlookup, 3);
	/* Forgetting a linked node does not free it. */
	node_forget(n->cur, 3);
	ck_assert_uint_eq(n->nlookup, 0);
	ck_assert_ptr_eq(node_get(ino), n);
	node_ref(n);
	node_ref(n);

	ck_assert_int_eq(node_unlink(root, "f"), 0);
	ck_assert_ptr_eq(node_get(ino), n);
	node_forget(n->cur, 1);
	ck_assert_ptr_eq(node_get(ino), n);
	ck_assert_uint_eq(n->nlookup, 1);
	node_forget(n->cur, 1);
	ck_assert_ptr_null(node_get(ino));

	/* Both an open and lookups: the last of them frees. */
	n = mkfile(root, "g");
	ino = n->ino;
	node_ref(n);
	node_open(n->cur, 0);
	node_open(n->cur, 0);
	ck_assert_int_eq(node_unlink(root, "g"), 0);
	node_close(n->cur, 0);
	node_forget(n->cur, 1);
	ck_assert_ptr_eq(node_get(ino), n);
	node_close(n->cur, 0);
	ck_assert_ptr_null(node_get(ino));

	/* Forgetting more than was looked up stops at zero and frees. */
	n = mkfile(root, "h");
	ino = n->ino;
	node_ref(n);
	ck_assert_int_eq(node_unlink(root, "h"), 0);
	node_forget(n->cur, 1000);
	ck_assert_ptr_null(node_get(ino));
}
END_TEST

START_TEST(test_rmdir)
{
	struct node	*root = node_root(), *d, *e;
	uint64_t	 ino;

	d = mkdir_(root, "d");
	ino = d->ino;
	mkfile(d, "f");
	ck_assert_uint_eq(root->nsubdirs, 1);
	ck_assert_int_eq(node_rmdir(root, "d"), ENOTEMPTY);
	ck_assert_int_eq(node_rmdir(d, "f"), ENOTDIR);
	ck_assert_int_eq(node_rmdir(root, "none"), ENOENT);
	ck_assert_int_eq(node_unlink(d, "f"), 0);
	e = mkdir_(d, "e");
	ck_assert_int_eq(node_rmdir(root, "d"), ENOTEMPTY);
	/* An open directory goes from the tree but lives until closed. */
	node_open(e->cur, 0);
	ck_assert_int_eq(node_rmdir(d, "e"), 0);
	ck_assert_uint_eq(d->nsubdirs, 0);
	ck_assert_ptr_eq(node_get(e->ino), e);
	node_close(e->cur, 0);
	ck_assert_int_eq(node_rmdir(root, "d"), 0);
	ck_assert_ptr_null(node_lookup(root, "d"));
	ck_assert_ptr_null(node_get(ino));
	ck_assert_uint_eq(root->nsubdirs, 0);
	ck_assert_uint_eq(nnodes(), 0);
}
END_TEST

START_TEST(test_rename_move)
{
	struct node	*root = node_root(), *f, *d, *e;
	uint64_t	 ino;

	f = mkfile(root, "a");
	ino = f->ino;
	d = mkdir_(root, "d");
	e = mkdir_(root, "e");
	ck_assert_int_eq(node_rename(root, "a", root, "b", 0), 0);
	ck_assert_ptr_null(node_lookup(root, "a"));
	ck_assert_ptr_eq(node_lookup(root, "b"), f);
	ck_assert_str_eq(f->name, "b");
	ck_assert_uint_eq(f->ino, ino);

	/* Across directories. */
	ck_assert_int_eq(node_rename(root, "b", d, "c", 0), 0);
	ck_assert_ptr_null(node_lookup(root, "b"));
	ck_assert_ptr_eq(node_lookup(d, "c"), f);
	ck_assert_ptr_eq(f->parent, d);

	/* Moving a directory moves its subdirectory count. */
	ck_assert_int_eq(node_rename(root, "e", d, "e", 0), 0);
	ck_assert_ptr_eq(e->parent, d);
	ck_assert_uint_eq(root->nsubdirs, 1);
	ck_assert_uint_eq(d->nsubdirs, 1);

	/* Onto itself: nothing happens. */
	ck_assert_int_eq(node_rename(d, "c", d, "c", 0), 0);
	ck_assert_ptr_eq(node_lookup(d, "c"), f);

	ck_assert_int_eq(node_rename(root, "none", root, "x", 0), ENOENT);
	ck_assert_int_eq(node_rename(d, "c", f, "x", 0), ENOTDIR);
	ck_assert_ptr_eq(node_lookup(d, "c"), f);
	ck_assert_uint_eq(nnodes(), 3);
}
END_TEST

/* Rename replaces an existing name in one step. */
START_TEST(test_rename_replace)
{
	struct node	*root = node_root(), *a, *b, *d1, *d2, *d3;
	uint64_t	 bino;

	a = mkfile(root, "a");
	b = mkfile(root, "b");
	bino = b->ino;
	node_open(b->cur, 0);
	ck_assert_int_eq(node_rename(root, "a", root, "b", 0), 0);
	ck_assert_ptr_eq(node_lookup(root, "b"), a);
	ck_assert_ptr_null(node_lookup(root, "a"));
	/* The replaced channel lives on for its opener, unlinked. */
	ck_assert_ptr_eq(node_get(bino), b);
	ck_assert_ptr_null(b->parent);
	node_close(b->cur, 0);
	ck_assert_ptr_null(node_get(bino));

	/* Not open: the replaced one is freed at once. */
	b = mkfile(root, "c");
	bino = b->ino;
	ck_assert_int_eq(node_rename(root, "b", root, "c", 0), 0);
	ck_assert_ptr_null(node_get(bino));
	ck_assert_ptr_eq(node_lookup(root, "c"), a);

	/* A directory replaces an empty directory, not a full one. */
	d1 = mkdir_(root, "d1");
	d2 = mkdir_(root, "d2");
	d3 = mkdir_(root, "d3");
	mkfile(d3, "x");
	ck_assert_int_eq(node_rename(root, "d1", root, "d3", 0), ENOTEMPTY);
	ck_assert_int_eq(node_rename(root, "d1", root, "d2", 0), 0);
	ck_assert_ptr_eq(node_lookup(root, "d2"), d1);
	ck_assert_uint_eq(root->nsubdirs, 2);
	(void)d2;

	/* Types must match. */
	ck_assert_int_eq(node_rename(root, "c", root, "d2", 0), EISDIR);
	ck_assert_int_eq(node_rename(root, "d2", root, "c", 0), ENOTDIR);
	ck_assert_ptr_eq(node_lookup(root, "c"), a);
	ck_assert_ptr_eq(node_lookup(root, "d2"), d1);
}
END_TEST

START_TEST(test_rename_noreplace)
{
	struct node	*root = node_root(), *a, *b;

	a = mkfile(root, "a");
	b = mkfile(root, "b");
	ck_assert_int_eq(node_rename(root, "a", root, "b", RENAME_NOREPLACE),
	    EEXIST);
	ck_assert_ptr_eq(node_lookup(root, "a"), a);
	ck_assert_ptr_eq(node_lookup(root, "b"), b);
	ck_assert_int_eq(node_rename(root, "a", root, "c", RENAME_NOREPLACE),
	    0);
	ck_assert_ptr_eq(node_lookup(root, "c"), a);
	/* Flags that make no sense together, or are unknown. */
	ck_assert_int_eq(node_rename(root, "c", root, "b",
	    RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
	ck_assert_int_eq(node_rename(root, "c", root, "d", 1 << 2), EINVAL);
	ck_assert_ptr_eq(node_lookup(root, "c"), a);
}
END_TEST

START_TEST(test_rename_exchange)
{
	struct node	*root = node_root(), *f, *d, *g, *sub;
	uint64_t	 fino, dino;

	f = mkfile(root, "f");
	d = mkdir_(root, "d");
	fino = f->ino;
	dino = d->ino;
	ck_assert_int_eq(node_rename(root, "f", root, "d", RENAME_EXCHANGE),
	    0);
	ck_assert_ptr_eq(node_lookup(root, "d"), f);
	ck_assert_ptr_eq(node_lookup(root, "f"), d);
	ck_assert_str_eq(f->name, "d");
	ck_assert_str_eq(d->name, "f");
	ck_assert_uint_eq(f->ino, fino);
	ck_assert_uint_eq(d->ino, dino);
	ck_assert_uint_eq(root->nsubdirs, 1);

	/* Across directories: a file in d (now "f") for a dir in root. */
	g = mkfile(d, "g");
	sub = mkdir_(root, "sub");
	ck_assert_int_eq(node_rename(d, "g", root, "sub", RENAME_EXCHANGE),
	    0);
	ck_assert_ptr_eq(node_lookup(d, "g"), sub);
	ck_assert_ptr_eq(node_lookup(root, "sub"), g);
	ck_assert_ptr_eq(sub->parent, d);
	ck_assert_ptr_eq(g->parent, root);
	ck_assert_uint_eq(root->nsubdirs, 1);
	ck_assert_uint_eq(d->nsubdirs, 1);

	/* The other name must exist. */
	ck_assert_int_eq(node_rename(root, "sub", root, "none",
	    RENAME_EXCHANGE), ENOENT);
	/* A directory cannot trade places with something below it. */
	ck_assert_int_eq(node_rename(root, "f", d, "g", RENAME_EXCHANGE),
	    EINVAL);
	ck_assert_int_eq(node_rename(d, "g", root, "f", RENAME_EXCHANGE),
	    EINVAL);
	ck_assert_ptr_eq(node_lookup(root, "f"), d);
	ck_assert_ptr_eq(node_lookup(d, "g"), sub);
	/* With itself: nothing happens. */
	ck_assert_int_eq(node_rename(root, "f", root, "f", RENAME_EXCHANGE),
	    0);
	ck_assert_ptr_eq(node_lookup(root, "f"), d);
}
END_TEST

/* A directory cannot move into its own subtree. */
START_TEST(test_rename_subtree)
{
	struct node	*root = node_root(), *a, *b, *c;

	a = mkdir_(root, "a");
	b = mkdir_(a, "b");
	c = mkdir_(b, "c");
	ck_assert_int_eq(node_rename(root, "a", c, "x", 0), EINVAL);
	ck_assert_int_eq(node_rename(root, "a", a, "x", 0), EINVAL);
	ck_assert_int_eq(node_rename(a, "b", c, "b", 0), EINVAL);
	ck_assert_ptr_eq(node_lookup(root, "a"), a);
	ck_assert_ptr_eq(node_lookup(a, "b"), b);
	ck_assert_ptr_eq(c->parent, b);
	/* Up and sideways is fine. */
	ck_assert_int_eq(node_rename(b, "c", root, "c", 0), 0);
	ck_assert_ptr_eq(c->parent, root);
	ck_assert_int_eq(node_rename(root, "a", c, "a", 0), 0);
	ck_assert_ptr_eq(a->parent, c);
	ck_assert_uint_eq(root->nsubdirs, 1);
	ck_assert_uint_eq(c->nsubdirs, 1);
	ck_assert_uint_eq(b->nsubdirs, 0);
}
END_TEST

/* A set-group-ID directory passes on its group, and the bit to subdirs. */
START_TEST(test_setgid)
{
	struct node	*root = node_root(), *g, *f, *s, *p, *n;

	g = mk(root, "g", S_IFDIR | S_ISGID | 0775);
	g->gid = 500;
	ck_assert_int_eq(node_make(g, "f", S_IFREG | 0644, 7, 8, &f), 0);
	ck_assert_uint_eq(f->uid, 7);
	ck_assert_uint_eq(f->gid, 500);
	ck_assert_uint_eq(f->mode & S_ISGID, 0);
	ck_assert_int_eq(node_make(g, "s", S_IFDIR | 0755, 7, 8, &s), 0);
	ck_assert_uint_eq(s->gid, 500);
	ck_assert_uint_ne(s->mode & S_ISGID, 0);
	ck_assert_uint_eq(s->mode & 0777, 0755);
	/* And on down. */
	ck_assert_int_eq(node_make(s, "n", S_IFREG | 0600, 7, 8, &n), 0);
	ck_assert_uint_eq(n->gid, 500);

	/* A plain directory does not. */
	p = mkdir_(root, "p");
	ck_assert_int_eq(node_make(p, "f", S_IFREG | 0644, 7, 8, &f), 0);
	ck_assert_uint_eq(f->gid, 8);
	ck_assert_int_eq(node_make(p, "s", S_IFDIR | 0755, 7, 8, &s), 0);
	ck_assert_uint_eq(s->gid, 8);
	ck_assert_uint_eq(s->mode & S_ISGID, 0);
}
END_TEST

START_TEST(test_snapshot)
{
	struct node		*root = node_root(), *b, *a, *c;
	struct dirent_snap	*v;
	size_t			 cnt;

	cnt = node_snapshot(root, &v);
	ck_assert_uint_eq(cnt, 0);
	ck_assert_ptr_nonnull(v);
	node_snapshot_free(v, cnt);

	b = mkfile(root, "b");
	a = mkfile(root, "a");
	c = mkdir_(root, "c");
	mkfile(c, "inner");
	cnt = node_snapshot(root, &v);
	ck_assert_uint_eq(cnt, 3);
	/* In name order, with inode numbers and types. */
	ck_assert_str_eq(v[0].name, "a");
	ck_assert_uint_eq(v[0].ino, a->ino);
	ck_assert(S_ISREG(v[0].mode));
	ck_assert_str_eq(v[1].name, "b");
	ck_assert_uint_eq(v[1].ino, b->ino);
	ck_assert_str_eq(v[2].name, "c");
	ck_assert_uint_eq(v[2].ino, c->ino);
	ck_assert(S_ISDIR(v[2].mode));

	/* A snapshot is a copy: later changes leave it alone. */
	ck_assert_int_eq(node_unlink(root, "a"), 0);
	ck_assert_int_eq(node_rename(root, "b", root, "z", 0), 0);
	ck_assert_str_eq(v[0].name, "a");
	ck_assert_str_eq(v[1].name, "b");
	node_snapshot_free(v, cnt);

	cnt = node_snapshot(root, &v);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_str_eq(v[0].name, "c");
	ck_assert_str_eq(v[1].name, "z");
	node_snapshot_free(v, cnt);
}
END_TEST

static void
count_chan(struct chan *ch, void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_walk_chans)
{
	struct node	*root = node_root(), *d, *f;
	int		 n = 0;

	d = mkdir_(root, "d");
	mkfile(root, "a");
	mkfile(d, "b");
	f = mkfile(d, "c");
	node_open(f->cur, 0);
	ck_assert_int_eq(node_unlink(d, "c"), 0);
	/* Unlinked but open channels are walked too; directories not. */
	node_walk_chans(count_chan, &n);
	ck_assert_int_eq(n, 3);
	node_close(f->cur, 0);
	n = 0;
	node_walk_chans(count_chan, &n);
	ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(test_times)
{
	struct node	*root = node_root(), *f;

	memset(&root->mtime, 0, sizeof root->mtime);
	memset(&root->ctime, 0, sizeof root->ctime);
	memset(&root->atime, 0, sizeof root->atime);
	f = mkfile(root, "f");
	ck_assert_int_ne(f->mtime.tv_sec, 0);
	/* Making a child changes the directory's mtime and ctime. */
	ck_assert_int_ne(root->mtime.tv_sec, 0);
	ck_assert_int_ne(root->ctime.tv_sec, 0);
	ck_assert_int_eq(root->atime.tv_sec, 0);

	memset(&f->mtime, 0, sizeof f->mtime);
	memset(&f->ctime, 0, sizeof f->ctime);
	memset(&f->atime, 0, sizeof f->atime);
	node_touch(f, NODE_ATIME);
	ck_assert_int_ne(f->atime.tv_sec, 0);
	ck_assert_int_eq(f->mtime.tv_sec, 0);
	ck_assert_int_eq(f->ctime.tv_sec, 0);
	node_touch(f, NODE_MTIME | NODE_CTIME);
	ck_assert_int_ne(f->mtime.tv_sec, 0);
	ck_assert_int_ne(f->ctime.tv_sec, 0);
}
END_TEST

/* node_done frees everything, channels with data and opens included. */
START_TEST(test_done_frees)
{
	struct node		*root = node_root(), *d, *f;
	struct chan_handle	*h;
	char			 req;

	d = mkdir_(root, "d");
	mkdir_(d, "e");
	f = mkfile(d, "f");
	node_open(f->cur, 0);
	node_ref(f);
	h = chan_open(f->chan, CHAN_WR);
	ck_assert_ptr_null(chan_write(h, &req, "abc", 3, 0, 0));
	ck_assert_uint_gt(pool.budget.mem_used, 0);
	f = mkfile(root, "unlinked");
	node_open(f->cur, 0);
	chan_open(f->chan, CHAN_RD);
	ck_assert_int_eq(node_unlink(root, "unlinked"), 0);
	/* The teardown's node_done must free all of it. */
}
END_TEST

/*
 * A channel's name moves on to a new knode once its knode may be written,
 * so opens made later never share the inode lock a held write keeps.
 */
START_TEST(test_moves_writer)
{
	struct node	*root = node_root(), *f, *d;
	struct knode	*k1, *k2;
	uint64_t	 id1, ino;

	node_set_moves(NODE_MOVES_WRITER);
	f = mkfile(root, "f");
	ino = f->ino;
	k1 = node_ref(f);
	ck_assert_uint_eq(k1->id, ino);
	ck_assert_ptr_eq(node_kget(ino), k1);
	id1 = k1->id;
	/* A reader changes nothing. */
	node_open(k1, 0);
	ck_assert_int_eq(node_busy(k1, NODE_EV_OPEN), 0);
	ck_assert_ptr_eq(node_ref(f), k1);
	/* A writer: the kernel must look again, once. */
	node_open(k1, 1);
	ck_assert_int_eq(node_busy(k1, NODE_EV_OPEN), 1);
	ck_assert_int_eq(node_busy(k1, NODE_EV_WRITE), 0);
	ck_assert_int_eq(node_busy(k1, NODE_EV_HELD), 0);
	k2 = node_ref(f);
	ck_assert_ptr_ne(k2, k1);
	ck_assert_uint_ne(k2->id, id1);
	ck_assert_uint_ne(k2->id, ino);
	ck_assert_ptr_eq(node_get(k2->id), f);
	ck_assert_ptr_eq(node_kget(k2->id), k2);
	ck_assert_ptr_eq(node_ref(f), k2);
	ck_assert_uint_eq(node_nknodes(f), 2);
	ck_assert_uint_eq(f->nlookup, 4);
	/* The old knode stays while the kernel knows it or has it open. */
	node_close(k1, 1);
	node_close(k1, 0);
	ck_assert_ptr_eq(node_kget(id1), k1);
	node_forget(k1, 2);
	ck_assert_ptr_null(node_kget(id1));
	ck_assert_uint_eq(node_nknodes(f), 1);
	ck_assert_ptr_eq(node_get(ino), NULL);
	ck_assert_ptr_eq(node_lookup(root, "f"), f);

	/* A knode whose writers all closed keeps its name. */
	node_open(k2, 1);
	ck_assert_int_eq(node_busy(k2, NODE_EV_WRITE), 1);
	node_close(k2, 1);
	ck_assert_ptr_eq(node_ref(f), k2);

	/* Directories never move. */
	d = mkdir_(root, "d");
	ck_assert_int_eq(node_busy(node_ref(d), NODE_EV_OPEN), 0);

	/* Unlinked, the node goes with the last knode the kernel knows. */
	node_open(k2, 1);
	ck_assert_int_eq(node_busy(k2, NODE_EV_OPEN), 1);
	k1 = node_ref(f);
	ck_assert_int_eq(node_unlink(root, "f"), 0);
	node_forget(k1, 1);
	ck_assert_ptr_eq(node_kget(k2->id), k2);
	node_forget(k2, 3);
	ck_assert_ptr_eq(node_kget(k2->id), k2);
	node_close(k2, 1);
	ck_assert_uint_eq(nnodes(), 1);
}
END_TEST

/* Page-cache regions: only a held write moves a name without a region. */
START_TEST(test_moves_held)
{
	struct node	*root = node_root(), *f, *g;
	struct knode	*k;

	ck_assert_int_eq(node_busy(node_ref(mkfile(root, "x")),
	    NODE_EV_HELD), 0);
	node_set_moves(NODE_MOVES_HELD);
	f = mkfile(root, "f");
	k = node_ref(f);
	node_open(k, 1);
	ck_assert_int_eq(node_busy(k, NODE_EV_OPEN), 0);
	ck_assert_int_eq(node_busy(k, NODE_EV_WRITE), 0);
	ck_assert_ptr_eq(node_ref(f), k);
	ck_assert_int_eq(node_busy(k, NODE_EV_HELD), 1);
	ck_assert_ptr_ne(node_ref(f), k);
	node_close(k, 1);

	g = mkfile(root, "g");
	g->chan->region.used = 1;
	k = node_ref(g);
	node_open(k, 1);
	ck_assert_int_eq(node_busy(k, NODE_EV_HELD), 0);
	ck_assert_ptr_eq(node_ref(g), k);
	node_close(k, 1);
}
END_TEST

/*
 * node_move sends the next lookup to a new knode whatever k has open, but
 * only from the knode the name is bound to.
 */
START_TEST(test_move)
{
	struct node	*root = node_root(), *f, *d;
	struct knode	*k1, *k2;
	uint64_t	 id;

	node_set_moves(NODE_MOVES_NEVER);
	f = mkfile(root, "f");
	k1 = node_ref(f);
	node_open(k1, 0);
	ck_assert_int_eq(node_move(k1), 1);
	k2 = node_ref(f);
	ck_assert_ptr_ne(k2, k1);
	ck_assert_ptr_eq(node_ref(f), k2);
	/* k1 is no longer the name's: nothing to move. */
	ck_assert_int_eq(node_move(k1), 0);
	ck_assert_ptr_eq(node_ref(f), k2);
	/* Nor are directories, or a channel without a name. */
	d = mkdir_(root, "d");
	ck_assert_int_eq(node_move(node_ref(d)), 0);
	ck_assert_int_eq(node_unlink(root, "f"), 0);
	ck_assert_int_eq(node_move(k2), 0);
	id = k2->id;
	node_close(k1, 0);
	node_forget(k1, 1);
	node_forget(k2, 3);
	ck_assert_ptr_null(node_kget(id));
}
END_TEST

/* A new name takes its directory's settings; a new directory copies them. */
START_TEST(test_settings_inherited)
{
	struct node	*root = node_root(), *d, *e, *f;

	ck_assert_uint_eq(root->capacity, pool.capacity);
	d = mkdir_(root, "d");
	d->capacity = 1 << 20;
	f = mkfile(d, "f");
	ck_assert_uint_eq(f->chan->capacity, 1 << 20);
	e = mkdir_(d, "e");
	ck_assert_uint_eq(e->capacity, 1 << 20);
	d->capacity = 8192;
	ck_assert_uint_eq(mkfile(e, "g")->chan->capacity, 1 << 20);
	ck_assert_uint_eq(mkfile(d, "h")->chan->capacity, 8192);
	ck_assert_uint_eq(mkfile(root, "i")->chan->capacity, pool.capacity);
}
END_TEST

/* The suite of node.c tests. */
static Suite *
node_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("node");
	tc = tcase_create("node");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_root);
	tcase_add_test(tc, test_make_lookup);
	tcase_add_test(tc, test_make_errors);
	tcase_add_test(tc, test_make_eperm);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_unlink_open);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_rmdir);
	tcase_add_test(tc, test_rename_move);
	tcase_add_test(tc, test_rename_replace);
	tcase_add_test(tc, test_rename_noreplace);
	tcase_add_test(tc, test_rename_exchange);
	tcase_add_test(tc, test_rename_subtree);
	tcase_add_test(tc, test_setgid);
	tcase_add_test(tc, test_snapshot);
	tcase_add_test(tc, test_walk_chans);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_done_frees);
	tcase_add_test(tc, test_moves_writer);
	tcase_add_test(tc, test_moves_held);
	tcase_add_test(tc, test_move);
	tcase_add_test(tc, test_settings_inherited);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(node_suite()));
}
