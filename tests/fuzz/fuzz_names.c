/*
 * Fuzz node.c, the namespace, with the names and operations a user can send
 * through the kernel: make, unlink, rmdir, rename with its flags, lookup,
 * the kernel's lookup counts (ref and forget), open and close, and readdir
 * snapshots.  Names come from the input: odd bytes, empty, ".", "..", with
 * a '/', and lengths on both sides of NAME_MAX_LEN.
 *
 * A model tree follows along: every answer must be the one rename(2),
 * mkdir(2) and friends give for that tree, lookups must find exactly what
 * the model holds, a node must live exactly while it is linked, looked up
 * or open, and node_done must free everything (LeakSanitizer checks).
 */

#include <sys/stat.h>

#include <errno.h>
#include <string.h>

#include "ipcfs.h"
#include "fuzz.h"

#define MAX_NODES	256
#define MAX_OPS		300
#define NAME_BUF	(NAME_MAX_LEN + 64)

struct mnode {
	struct node	*n;
	uint64_t	 ino;
	char		 name[NAME_BUF];
	int		 parent;	/* model index, or -1 once unlinked */
	int		 alive;
	int		 dir;
	mode_t		 mode;
	gid_t		 gid;
	uint64_t	 nlookup;
	unsigned	 nopen;
};

struct model {
	struct mnode	 v[MAX_NODES];
	int		 nv;
	uint64_t	 max_nodes;
};

static struct model	 M;
static struct chan_pool	 pool;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
no_reply(void *req, const struct iovec *iov, int cnt)
{
	(void)req;
	(void)iov;
	(void)cnt;
	FZ_CHECK(!"a reply from a channel nobody opened");
}

static const struct chan_cbs cbs = { .reply_data = no_reply };

static int
linked(int i)
{
	return (i == 0 || M.v[i].parent != -1);
}

/* The model's child of dir called name, or -1. */
static FZ_NOCOV int
child(int dir, const char *name)
{
	int	 i;

	for (i = 1; i < M.nv; i++)
		if (M.v[i].alive && M.v[i].parent == dir &&
		    strcmp(M.v[i].name, name) == 0)
			return (i);
	return (-1);
}

static FZ_NOCOV int
nchildren(int dir, int dirs_only)
{
	int	 i, cnt = 0;

	for (i = 1; i < M.nv; i++)
		if (M.v[i].alive && M.v[i].parent == dir &&
		    (!dirs_only || M.v[i].dir))
			cnt++;
	return (cnt);
}

/* True if i is d or lies below it. */
static FZ_NOCOV int
within(int i, int d)
{
	for (; i != -1; i = M.v[i].parent)
		if (i == d)
			return (1);
	return (0);
}

static FZ_NOCOV uint64_t
nalive(void)
{
	uint64_t	 cnt = 0;
	int		 i;

	for (i = 1; i < M.nv; i++)
		if (M.v[i].alive)
			cnt++;
	return (cnt);
}

/*
 * The naming rules as docs/semantics.md states them, written from that
 * text and not from node.c: "A name is 1 to 255 bytes, any bytes except
 * / and NUL; . and .. are taken.  An empty name, or one with a /, gets
 * EINVAL; a longer one ENAMETOOLONG; . and .. EEXIST."
 */
static int
name_error(const char *name)
{
	size_t		 bytes = 0;
	const char	*p;
	int		 slash = 0;

	for (p = name; *p != '\0'; p++) {
		bytes++;
		if (*p == '/')
			slash = 1;
	}
	if (bytes == 0 || slash)
		return (EINVAL);
	if (bytes > 255)
		return (ENAMETOOLONG);
	if (name[0] == '.' && (bytes == 1 || (bytes == 2 && name[1] == '.')))
		return (EEXIST);
	return (0);
}

/* A node gone from the tree lives on only while looked up or open. */
static void
maybe_gone(int i)
{
	if (i != 0 && M.v[i].parent == -1 && M.v[i].nlookup == 0 &&
	    M.v[i].nopen == 0)
		M.v[i].alive = 0;
}

static int	 nchans;

static void
count_chan(struct chan *c, void *arg)
{
	(void)arg;
	FZ_CHECK(c != NULL);
	nchans++;
}

/* The model index of the node with inode number ino, or -1. */
static FZ_NOCOV int
by_ino(uint64_t ino)
{
	int	 lo = 0, hi = M.nv - 1, mid;

	/* Model entries are in creation order, so in inode order. */
	while (lo <= hi) {
		mid = (lo + hi) / 2;
		if (M.v[mid].ino == ino)
			return (mid);
		if (M.v[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return (-1);
}

/* Compare node.c with the model, everywhere. */
static FZ_NOCOV void
check_all(void)
{
	static int		 kids[MAX_NODES], subdirs[MAX_NODES];
	struct node_stats	 st;
	struct dirent_snap	*snap;
	struct mnode		*m;
	size_t			 cnt, k;
	int			 i, j, files = 0;

	for (i = 0; i < M.nv; i++)
		kids[i] = subdirs[i] = 0;
	for (i = 1; i < M.nv; i++) {
		FZ_CHECK(M.v[i].ino > M.v[i - 1].ino);
		if (!M.v[i].alive || M.v[i].parent == -1)
			continue;
		kids[M.v[i].parent]++;
		if (M.v[i].dir)
			subdirs[M.v[i].parent]++;
	}
	for (i = 0; i < M.nv; i++) {
		m = &M.v[i];
		if (!m->alive) {
			FZ_CHECK(node_get(m->ino) == NULL);
			continue;
		}
		FZ_CHECK(node_get(m->ino) == m->n);
		FZ_CHECK(strcmp(m->n->name, m->name) == 0);
		FZ_CHECK(m->n->nlookup == m->nlookup);
		FZ_CHECK(m->n->nopen == m->nopen);
		FZ_CHECK(m->n->mode == m->mode);
		FZ_CHECK(m->n->gid == m->gid);
		FZ_CHECK((m->n->chan != NULL) == !m->dir);
		if (!m->dir)
			files++;
		if (i == 0)
			FZ_CHECK(m->n == node_root());
		else if (m->parent == -1)
			FZ_CHECK(m->n->parent == NULL);
		else {
			FZ_CHECK(m->n->parent == M.v[m->parent].n);
			FZ_CHECK(node_lookup(M.v[m->parent].n, m->name) ==
			    m->n);
		}
		if (!m->dir)
			continue;
		FZ_CHECK(m->n->nsubdirs == (unsigned)subdirs[i]);
		/* A snapshot lists exactly the children, in name order. */
		cnt = node_snapshot(m->n, &snap);
		FZ_CHECK(cnt == (size_t)kids[i]);
		for (k = 0; k < cnt; k++) {
			if (k > 0)
				FZ_CHECK(strcmp(snap[k - 1].name,
				    snap[k].name) < 0);
			j = by_ino(snap[k].ino);
			FZ_CHECK(j > 0 && M.v[j].alive && M.v[j].parent == i);
			FZ_CHECK(strcmp(snap[k].name, M.v[j].name) == 0);
			FZ_CHECK(snap[k].mode == M.v[j].mode);
		}
		node_snapshot_free(snap, cnt);
	}
	node_stats(&st);
	FZ_CHECK(st.nodes == nalive());
	FZ_CHECK(st.max_nodes == M.max_nodes);
	nchans = 0;
	node_walk_chans(count_chan, NULL);
	FZ_CHECK(nchans == files);
}

/*
 * A name: often one the model already has (so lookups and renames hit),
 * otherwise bytes from the input, or an edge: "", ".", "..", a '/', or a
 * long run around NAME_MAX_LEN.
 */
static void
pick_name(struct fz *f, char *buf)
{
	size_t	 len, i;
	uint8_t	 kind, c;

	kind = fz_u8(f) % 8;
	switch (kind) {
	case 0: case 1: case 2:
		i = fz_u8(f) % (size_t)M.nv;
		memcpy(buf, M.v[i].name, sizeof M.v[i].name);
		if (i != 0)
			return;
		/* The root's name is empty: make a short one instead. */
		/* FALLTHROUGH */
	case 3: case 4:
		len = 1 + fz_u8(f) % 4;
		for (i = 0; i < len; i++)
			buf[i] = "ab.\x01\xff/"[fz_u8(f) % 6];
		buf[len] = '\0';
		return;
	case 5:
		len = fz_u8(f) % 24;
		for (i = 0; i < len; i++) {
			c = fz_u8(f);
			buf[i] = c == 0 ? 'z' : (char)c;
		}
		buf[len] = '\0';
		return;
	case 6:
		len = NAME_MAX_LEN - 3 + fz_u8(f) % 8;
		c = fz_u8(f);
		memset(buf, c == 0 || c == '/' ? 'L' : c, len);
		buf[len] = '\0';
		return;
	default:
		strcpy(buf, (const char *[]){ "", ".", "..", "a/b", "/",
		    "...", " ", "\n" }[fz_u8(f) % 8]);
		return;
	}
}

/* Any model node still alive; the root when there is no other. */
static FZ_NOCOV int
pick_alive(struct fz *f)
{
	int	 i, k, start;

	start = fz_u8(f) % M.nv;
	for (i = 0; i < M.nv; i++) {
		k = (start + i) % M.nv;
		if (M.v[k].alive)
			return (k);
	}
	return (0);
}

/* A directory the kernel could name: linked, usually a directory. */
static FZ_NOCOV int
pick_dir(struct fz *f)
{
	int	 i, k, start, any;

	any = fz_u8(f) % 8 == 0;
	start = fz_u8(f) % M.nv;
	for (i = 0; i < M.nv; i++) {
		k = (start + i) % M.nv;
		if (M.v[k].alive && linked(k) && (any || M.v[k].dir))
			return (k);
	}
	return (0);
}

static void
op_make(struct fz *f)
{
	static const mode_t types[] = { S_IFREG, S_IFDIR, S_IFREG, S_IFDIR,
	    S_IFIFO, S_IFLNK, S_IFSOCK, S_IFCHR };
	char		 name[NAME_BUF];
	struct node	*n = NULL;
	struct mnode	*m;
	mode_t		 mode;
	gid_t		 gid;
	int		 d, err, want;

	d = pick_dir(f);
	pick_name(f, name);
	mode = types[fz_u8(f) % 8] | (fz_u16(f) & 07777);
	gid = fz_u8(f);
	if (!M.v[d].dir)
		want = ENOTDIR;
	else if ((want = name_error(name)) != 0)
		;
	else if (!S_ISREG(mode) && !S_ISDIR(mode))
		want = EPERM;
	else if (child(d, name) != -1)
		want = EEXIST;
	else if (nalive() >= M.max_nodes)
		want = ENOSPC;
	err = node_make(M.v[d].n, name, mode, 0, gid, &n);
	FZ_CHECK(err == want);
	if (err != 0)
		return;
	FZ_CHECK(M.nv < MAX_NODES);
	m = &M.v[M.nv++];
	memset(m, 0, sizeof *m);
	m->n = n;
	m->ino = n->ino;
	strcpy(m->name, name);
	m->parent = d;
	m->alive = 1;
	m->dir = S_ISDIR(mode);
	m->mode = mode;
	m->gid = gid;
	/* A set-group-ID directory hands on its group, and to subdirs the bit. */
	if (M.v[d].mode & S_ISGID) {
		m->gid = M.v[d].gid;
		if (m->dir)
			m->mode |= S_ISGID;
	}
}

static void
op_unlink(struct fz *f)
{
	char	 name[NAME_BUF];
	int	 d, i, err, want = 0;

	d = pick_dir(f);
	pick_name(f, name);
	i = child(d, name);
	if (i == -1)
		want = ENOENT;
	else if (M.v[i].dir)
		want = EISDIR;
	err = node_unlink(M.v[d].n, name);
	FZ_CHECK(err == want);
	if (err == 0) {
		M.v[i].parent = -1;
		maybe_gone(i);
	}
}

static void
op_rmdir(struct fz *f)
{
	char	 name[NAME_BUF];
	int	 d, i, err, want = 0;

	d = pick_dir(f);
	pick_name(f, name);
	i = child(d, name);
	if (i == -1)
		want = ENOENT;
	else if (!M.v[i].dir)
		want = ENOTDIR;
	else if (nchildren(i, 0) > 0)
		want = ENOTEMPTY;
	err = node_rmdir(M.v[d].n, name);
	FZ_CHECK(err == want);
	if (err == 0) {
		M.v[i].parent = -1;
		maybe_gone(i);
	}
}

/* What rename(2) with flags must answer for the model tree. */
static int
rename_want(int od, const char *on, int nd, const char *nn, unsigned flags,
    int *np, int *oldp)
{
	int	 n, old, err;

	*np = *oldp = -1;
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (EINVAL);
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return (EINVAL);
	if (!M.v[nd].dir)
		return (ENOTDIR);
	if ((n = child(od, on)) == -1)
		return (ENOENT);
	if ((err = name_error(nn)) != 0)
		return (err);
	old = child(nd, nn);
	*np = n;
	*oldp = old;
	if (flags & RENAME_EXCHANGE) {
		if (old == -1)
			return (ENOENT);
		if (old == n)
			return (0);
		/* Neither directory may end up inside itself. */
		if (M.v[n].dir && within(M.v[old].parent, n))
			return (EINVAL);
		if (M.v[old].dir && within(M.v[n].parent, old))
			return (EINVAL);
		return (0);
	}
	if (old == n)
		return (0);
	if (old != -1 && (flags & RENAME_NOREPLACE))
		return (EEXIST);
	if (M.v[n].dir && within(nd, n))
		return (EINVAL);
	if (old != -1) {
		if (M.v[n].dir && !M.v[old].dir)
			return (ENOTDIR);
		if (!M.v[n].dir && M.v[old].dir)
			return (EISDIR);
		if (nchildren(old, 0) > 0)
			return (ENOTEMPTY);
	}
	return (0);
}

static void
op_rename(struct fz *f)
{
	static const unsigned flagset[] = { 0, 0, RENAME_NOREPLACE,
	    RENAME_EXCHANGE, RENAME_NOREPLACE | RENAME_EXCHANGE, 4 };
	char		 on[NAME_BUF], nn[NAME_BUF], tmp[NAME_BUF];
	unsigned	 flags;
	int		 od, nd, n, old, err, want, p;

	od = pick_dir(f);
	pick_name(f, on);
	nd = pick_dir(f);
	pick_name(f, nn);
	flags = flagset[fz_u8(f) % 6];
	want = rename_want(od, on, nd, nn, flags, &n, &old);
	err = node_rename(M.v[od].n, on, M.v[nd].n, nn, flags);
	FZ_CHECK(err == want);
	if (err != 0 || n == old)
		return;
	if (flags & RENAME_EXCHANGE) {
		p = M.v[n].parent;
		M.v[n].parent = M.v[old].parent;
		M.v[old].parent = p;
		strcpy(tmp, M.v[n].name);
		strcpy(M.v[n].name, M.v[old].name);
		strcpy(M.v[old].name, tmp);
		return;
	}
	if (old != -1) {
		M.v[old].parent = -1;
		maybe_gone(old);
	}
	M.v[n].parent = nd;
	strcpy(M.v[n].name, nn);
}

static void
op_lookup(struct fz *f)
{
	char		 name[NAME_BUF];
	struct node	*n;
	int		 d, i;

	d = pick_dir(f);
	pick_name(f, name);
	i = child(d, name);
	n = node_lookup(M.v[d].n, name);
	FZ_CHECK(n == (i == -1 ? NULL : M.v[i].n));
	/* The kernel counts what a lookup found. */
	if (n != NULL && (fz_u8(f) & 1)) {
		node_ref(n);
		M.v[i].nlookup++;
	}
}

static void
op_forget(struct fz *f)
{
	uint64_t	 cnt;
	int		 i;

	i = pick_alive(f);
	cnt = fz_u8(f) % 4;
	node_forget(M.v[i].n->cur, cnt);
	M.v[i].nlookup = cnt > M.v[i].nlookup ? 0 : M.v[i].nlookup - cnt;
	maybe_gone(i);
}

static void
op_open_close(struct fz *f)
{
	int	 i;

	i = pick_alive(f);
	if (M.v[i].dir)
		return;
	if ((fz_u8(f) & 1) || M.v[i].nopen == 0) {
		node_open(M.v[i].n->cur, 0);
		M.v[i].nopen++;
	} else {
		node_close(M.v[i].n->cur, 0);
		M.v[i].nopen--;
		maybe_gone(i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz	 f = { data, size };
	mode_t		 rootmode;
	size_t		 nops = 0;
	gid_t		 rootgid;

	memset(&M, 0, sizeof M);
	chan_pool_init(&pool, &cbs, CAPACITY_MIN, MAX_MEMORY_DEFAULT);
	M.max_nodes = 1 + fz_u8(&f) % 64;
	rootmode = (fz_u8(&f) & 1 ? S_ISGID : 0) | 0755;
	rootgid = 7;
	node_init(&pool, M.max_nodes, rootmode, 0, rootgid);
	M.v[0].n = node_root();
	M.v[0].ino = M.v[0].n->ino;
	M.v[0].alive = 1;
	M.v[0].dir = 1;
	M.v[0].parent = -1;
	M.v[0].mode = S_IFDIR | rootmode;
	M.v[0].gid = rootgid;
	M.v[0].nlookup = 1;
	M.nv = 1;

	while (fz_more(&f) && nops++ < MAX_OPS) {
		switch (fz_u8(&f) % 10) {
		case 0: case 1: case 2:
			op_make(&f);
			break;
		case 3:
			op_unlink(&f);
			break;
		case 4:
			op_rmdir(&f);
			break;
		case 5: case 6:
			op_rename(&f);
			break;
		case 7:
			op_lookup(&f);
			break;
		case 8:
			op_forget(&f);
			break;
		case 9:
			op_open_close(&f);
			break;
		}
		check_all();
	}
	node_done();
	FZ_CHECK(node_root() == NULL);
	FZ_CHECK(node_get(M.v[0].ino) == NULL);
	return (0);
}
