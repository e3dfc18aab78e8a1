/*
 * The bridged namespace: every name in a bridged directory is a key of
 * the bucket NAME_names, its path from the mount's root with each
 * component encoded (wire_key_append) and joined by dots.  A channel's
 * value names its stream; a directory's has its mode and owner.
 *
 * Here are both directions: what fs.c asks before and after a name
 * changes on this host (the key is put, moved or deleted by a job), and
 * the cluster's names applied to this host's tree as the watcher brings
 * them.  A key is taken only in its canonical encoding and only if it is
 * no longer than a key this host could send (br.key_max, from the
 * server's longest protocol line); a value only as wire_value_parse
 * takes it.  Walks of a tree are loops over a list or the ordered table
 * of keys: nothing here recurses, however deep a tree a user or a peer
 * makes.
 */

#define _GNU_SOURCE
#define FUSE_USE_VERSION 312

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "fs.h"
#include "bridge.h"

static int
bname_cmp(struct bname *a, struct bname *b)
{
	return (strcmp(a->key, b->key));
}

static int
bname_id_cmp(struct bname *a, struct bname *b)
{
	int	 r;

	if ((r = strcmp(a->id, b->id)) != 0)
		return (r);
	return (strcmp(a->key, b->key));
}

RB_GENERATE_STATIC(bnames, bname, entry, bname_cmp)
RB_GENERATE_STATIC(bname_ids, bname, ientry, bname_id_cmp)

/*
 * The key of name in dir (name NULL: of dir itself), in buf.  Returns 0,
 * -1 if dir is not linked, or is the root, or the key does not fit in len.
 */
int
name_key(struct node *dir, const char *name, char *buf, size_t len)
{
	struct node	*n;
	const char	**comps = NULL;
	size_t		 nc = 0, i, o = 0;
	int		 r = 0;

	for (n = dir; n != NULL && n != node_root(); n = n->parent)
		nc++;
	if (n == NULL)
		return (-1);		/* unlinked */
	comps = xreallocarray(NULL, nc + 1, sizeof *comps);
	i = nc;
	for (n = dir; n != node_root(); n = n->parent)
		comps[--i] = n->name;
	if (name != NULL)
		comps[nc++] = name;
	buf[0] = '\0';
	for (i = 0; i < nc && r == 0; i++)
		r = wire_key_append(buf, len, &o, comps[i]);
	free(comps);
	return (r != 0 || o == 0 ? -1 : 0);
}

/* The key of name in dir, or ENAMETOOLONG if a host cannot send it. */
static int
name_key_max(struct node *dir, const char *name, char *buf, size_t len)
{
	struct node	*n;

	/* A directory removed meanwhile (by the cluster) holds no names. */
	for (n = dir; n != node_root(); n = n->parent)
		if (n->parent == NULL)
			return (ENOENT);
	if (name_key(dir, name, buf, len) != 0 || strlen(buf) > br.key_max)
		return (ENAMETOOLONG);
	return (0);
}

/*
 * Walk key to the directory that holds its last component, which is put
 * in last.  NULL if the key is not canonical, or that directory is not
 * here.
 */
static struct node *
key_walk(const char *key, char *last)
{
	struct node	*dir = node_root(), *n;
	const char	*p = key;
	int		 r;

	while ((r = wire_key_next(&p, last)) == 0) {
		if ((n = node_lookup(dir, last)) == NULL || !S_ISDIR(n->mode))
			return (NULL);
		dir = n;
	}
	return (r == -1 ? NULL : dir);
}

/* As key_walk, and NULL too if that directory is not bridged. */
static struct node *
key_dir(const char *key, char *last)
{
	struct node	*dir;

	if ((dir = key_walk(key, last)) == NULL || !dir->bridged)
		return (NULL);
	return (dir);
}

/* A time as the bucket has it: nanoseconds since the epoch, not before. */
static uint64_t
time_ns(const struct timespec *ts)
{
	if (ts->tv_sec < 0)
		return (0);
	if ((uint64_t)ts->tv_sec >= WIRE_TIME_MAX / 1000000000)
		return (WIRE_TIME_MAX / 1000000000 * 1000000000 - 1);
	return ((uint64_t)ts->tv_sec * 1000000000 + (uint64_t)ts->tv_nsec);
}

/* Whether a time set on a bridged name can be sent: 1970 to 2262. */
int
bridge_time_ok(const struct timespec *ts)
{
	return (ts->tv_sec >= 0 &&
	    (uint64_t)ts->tv_sec < WIRE_TIME_MAX / 1000000000);
}

static struct timespec
ns_time(uint64_t ns)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return (ts);
}

/* What every value has of n: its owner, mode and times. */
static void
node_value(struct wire_value *wv, struct node *n)
{
	wv->mode = n->mode & 07777;
	wv->uid = n->uid;
	wv->gid = n->gid;
	wv->times = 1;
	wv->mtime = time_ns(&n->mtime);
	wv->atime = time_ns(&n->atime);
}

/* The value of a channel's key. */
char *
chan_value(const char *id, struct node *n)
{
	struct wire_value	 wv;
	char			 buf[WIRE_VALUE_MAX + 1];

	memset(&wv, 0, sizeof wv);
	strlcpy(wv.id, id, sizeof wv.id);
	wv.framing = n->chan->framing;
	wv.delivery = n->chan->delivery;
	wv.capacity = n->chan->capacity;
	node_value(&wv, n);
	wire_value_format(buf, sizeof buf, &wv);
	return (xstrdup(buf));
}

static char *
dir_value(struct node *n)
{
	struct wire_value	 wv;
	char			 buf[WIRE_VALUE_MAX + 1];

	memset(&wv, 0, sizeof wv);
	wv.dir = 1;
	node_value(&wv, n);
	wire_value_format(buf, sizeof buf, &wv);
	return (xstrdup(buf));
}

/* ---- This host's changes on their way to the bucket. ---- */

/*
 * A host's tree follows the bucket (names_reconcile), but not while its
 * own changes are on their way there: they are counted, and the tree is
 * looked at only once none is out, the watcher has brought the bucket up
 * to the revision the last of them left it at (so this host's view has
 * its own changes), and the names have been still for NAMES_CALM_MS.
 */
#define NAMES_CALM_MS	500

static unsigned	 names_out;	/* name jobs queued, not done */
static uint64_t	 names_moved;	/* ms: the last change seen */
static int	 names_dirty;	/* changed since the last look */
static uint64_t	 names_want;	/* the revision its changes reached */
static uint64_t	 names_seen;	/* the revision the watcher brought */

static void
names_touch(void)
{
	names_moved = now_ms();
	names_dirty = 1;
}

static void	 marks_tick(uint64_t);

/*
 * The room a change of names in a bridged directory needs in max_memory
 * before it is made: what waits to be sent counts there (it grows while
 * the server is away, or slower than a program that makes and removes
 * names in a loop).
 */
#define NAMES_ROOM	(64 * 1024)

/* What a name job holds while it waits. */
static size_t
names_job_size(const struct job *j)
{
	size_t	 len, i;

	len = sizeof *j;
	if (j->key != NULL)
		len += strlen(j->key) + 1;
	if (j->value != NULL)
		len += strlen(j->value) + 1;
	for (i = 0; i < j->nmoves * 3; i++)
		if (j->moves[i] != NULL)
			len += strlen(j->moves[i]) + 1;
	return (len + j->nmoves * 3 * sizeof *j->moves);
}

static void
names_queue(struct job *j)
{
	names_out++;
	names_touch();
	names_expect(j);
	j->charged = names_job_size(j);
	br.pool->budget.names_used += j->charged;
	job_queue(j);
}

/* A name job is done (j->type JOB_PUT, JOB_CREATE, JOB_MOVE, JOB_DELETE). */
void
names_job_done(struct job *j)
{
	if (names_out > 0)
		names_out--;
	if (j->rev > names_want)
		names_want = j->rev;
	names_touch();
	br.pool->budget.names_used -= j->charged;
	j->charged = 0;
	budget_freed(&br.pool->budget);
}

/*
 * Whether names may be made or moved in dir: 0, or ENOSPC while what
 * waits to be sent to the cluster has used up max_memory.  A removal is
 * always let through: it frees memory, and each name goes once.
 */
static int
bridge_room(struct node *dir)
{
	if (br.efd == -1 || !dir->bridged)
		return (0);
	return (budget_left(&br.pool->budget) < NAMES_ROOM ? ENOSPC : 0);
}

/* ---- The cluster's names, applied here. ---- */

static void
names_changed(void)
{
	/* Make the kernel look names up again: they changed elsewhere. */
	if (kfeat_inc_epoch() == -1)
		log_debug("%s: the kernel keeps its cached names", __func__);
}

/*
 * Give n the owner, mode and times of the cluster's value (its mode
 * bits already cut to what the network may set).
 */
static void
apply_attrs(struct node *n, const struct wire_value *wv)
{
	struct timespec	 ts;
	mode_t		 mode = (n->mode & S_IFMT) | wv->mode;
	int		 changed = 0;

	if (n->mode != mode || n->uid != wv->uid || n->gid != wv->gid) {
		n->mode = mode;
		n->uid = wv->uid;
		n->gid = wv->gid;
		changed = 1;
	}
	if (wv->times) {
		ts = ns_time(wv->mtime);
		if (ts.tv_sec != n->mtime.tv_sec ||
		    ts.tv_nsec != n->mtime.tv_nsec) {
			n->mtime = ts;
			changed = 1;
		}
		ts = ns_time(wv->atime);
		if (ts.tv_sec != n->atime.tv_sec ||
		    ts.tv_nsec != n->atime.tv_nsec) {
			n->atime = ts;
			changed = 1;
		}
	}
	if (changed) {
		node_touch(n, NODE_CTIME);
		/* The kernel checks permissions on what it has cached. */
		fs_attrs_changed(n, NULL);
	}
}

/*
 * This host's own changes of names, on their way to the bucket: until the
 * watcher brings a key to the revision of this host's last change of it,
 * older values of the key (what another host put before, or this host's
 * own earlier puts) are not applied, for they would undo that change for a
 * moment: a channel renamed here would come back under its old name, one
 * removed here would be made again.
 */
#define EXPECT_MS	10000	/* the longest wait after the change */

static int
bexpect_cmp(struct bexpect *a, struct bexpect *b)
{
	return (strcmp(a->key, b->key));
}

RB_GENERATE_STATIC(bexpects, bexpect, entry, bexpect_cmp)

static struct bexpect *
expect_find(const char *key)
{
	struct bexpect	 find;

	find.key = (char *)key;
	return (RB_FIND(bexpects, &br.expects, &find));
}

static void
expect_free(struct bexpect *e)
{
	RB_REMOVE(bexpects, &br.expects, e);
	free(e->key);
	free(e->value);
	free(e);
}

/* This host puts value as key's (NULL: deletes key). */
static void
expect_one(const char *key, const char *value)
{
	struct bexpect	*e;

	if ((e = expect_find(key)) == NULL) {
		e = xcalloc(1, sizeof *e);
		e->key = xstrdup(key);
		RB_INSERT(bexpects, &br.expects, e);
	}
	free(e->value);
	e->value = value != NULL ? xstrdup(value) : NULL;
	e->out++;
}

/* The keys job j changes, each with its new value, to f. */
static void
job_keys(struct job *j, void (*f)(const char *, const char *, void *),
    void *arg)
{
	size_t	 i;

	switch (j->type) {
	case JOB_PUT:
	case JOB_CREATE:
	case JOB_UPDATE:
	case JOB_ATTRS:
		if (j->key != NULL)
			f(j->key, j->value, arg);
		break;
	case JOB_DELETE:
		if (j->key != NULL)
			f(j->key, NULL, arg);
		break;
	case JOB_MOVE:
		for (i = 0; i < j->nmoves; i++) {
			f(j->moves[3 * i + 2], NULL, arg);
			f(j->moves[3 * i], j->moves[3 * i + 1], arg);
		}
		break;
	default:
		break;
	}
}

static void
expect_key(const char *key, const char *value, void *arg)
{
	(void)arg;
	expect_one(key, value);
}

/* This host's job j changes keys: each waits for it (names_queue's). */
void
names_expect(struct job *j)
{
	job_keys(j, expect_key, NULL);
}

/*
 * Whether key waits for this host's own change: then older values of it
 * are not applied.  The wait ends once the watcher has brought the
 * change's revision.
 */
static int
names_expecting(const char *key)
{
	struct bexpect	*e;

	if ((e = expect_find(key)) == NULL)
		return (0);
	if (e->out > 0 || e->rev == 0 || names_seen < e->rev)
		return (1);
	expect_free(e);
	return (0);
}

static struct node	*apply_one(const char *, const char *);
static void		 unapply(const char *, const char *);

/* The wait for key ends: make here what the bucket has now. */
static void
expect_end(struct bexpect *e)
{
	struct bname	 find, *bn;
	char		*key = e->key;

	e->key = NULL;
	RB_REMOVE(bexpects, &br.expects, e);
	free(e->value);
	free(e);
	find.key = key;
	if ((bn = RB_FIND(bnames, &br.names, &find)) != NULL)
		apply_one(bn->key, bn->value);
	free(key);
}

static void
expect_done(const char *key, const char *value, void *arg)
{
	struct job	*j = arg;
	struct bexpect	*e;
	uint64_t	 rev = j->krev != 0 ? j->krev : j->rev;

	(void)value;
	if ((e = expect_find(key)) == NULL)
		return;
	if (e->out > 0)
		e->out--;
	if (j->ok && rev > e->rev)
		e->rev = rev;
	if (e->out > 0)
		return;
	e->done = now_ms();
	/*
	 * Failed: the bucket keeps what it had, and so does this host.  Or
	 * the watcher brought the change already.
	 */
	if (!j->ok || (e->rev != 0 && names_seen >= e->rev))
		expect_end(e);
}

/* A job that changed names is done, or failed. */
void
names_expect_done(struct job *j)
{
	job_keys(j, expect_done, j);
}

/*
 * The clock: waits whose change the watcher has brought end, and so do
 * those the server said no revision for, after EXPECT_MS.
 */
static void
expect_tick(uint64_t now)
{
	struct bexpect	*e, *next;

	RB_FOREACH_SAFE(e, bexpects, &br.expects, next)
		if (e->out == 0 && ((e->rev != 0 && names_seen >= e->rev) ||
		    now - e->done > EXPECT_MS))
			expect_end(e);
}

static void
apply_settings(struct node *n, const struct wire_value *wv)
{
	struct chan	*c = n->chan;
	struct bchan	*bc = c->link;

	if (c->framing != wv->framing || c->delivery != wv->delivery) {
		if (chan_set_mode(c, wv->framing, wv->delivery) != 0)
			log_warnx("bridge: %s: busy here, keeps its settings",
			    n->name);
		else if (bc != NULL && bc->delivery != wv->delivery) {
			bchan_reset_stream(bc);
			bchan_opens_done(bc, 0);
			bc->delivery = wv->delivery;
		}
	}
	if (c->capacity != wv->capacity &&
	    chan_set_capacity(c, wv->capacity) != 0)
		log_warnx("bridge: %s: cannot take capacity %zu here",
		    n->name, wv->capacity);
}

/* Whether n's own key is in the cluster's table, naming stream id. */
int
names_key_holds(struct node *n, const char *id)
{
	struct wire_value	 wv;
	struct bname		 find, *bn;
	char			 key[4096];

	if (name_key(n->parent, n->name, key, sizeof key) != 0)
		return (0);
	find.key = key;
	return ((bn = RB_FIND(bnames, &br.names, &find)) != NULL &&
	    wire_value_parse(bn->value, &wv) == 0 && !wv.dir &&
	    strcmp(wv.id, id) == 0);
}

/*
 * The key that names stream id, if any: of the keys that name it, the
 * first in order.  Every host that has the bucket's keys picks the same,
 * a host started later too.
 */
static struct bname *
key_of_stream(const char *id)
{
	struct bname	 find, *bn;

	strlcpy(find.id, id, sizeof find.id);
	find.key = (char *)"";
	if ((bn = RB_NFIND(bname_ids, &br.name_ids, &find)) == NULL ||
	    strcmp(bn->id, id) != 0)
		return (NULL);
	return (bn);
}

/*
 * Make here what one key of the cluster says.  Returns the directory it
 * made, for the caller to make what the cluster has under it, or NULL.
 */
static struct node *
apply_one(const char *key, const char *value)
{
	struct wire_value	 wv;
	struct node		*dir, *n, *made;
	struct bchan		*bc;
	struct bname		*win;
	char			 last[NAME_MAX_LEN + 1];
	int			 error;

	if ((dir = key_walk(key, last)) == NULL ||
	    wire_value_parse(value, &wv) != 0 || names_expecting(key))
		return (NULL);
	/* No set-user-ID from the network; set-group-ID on directories. */
	wv.mode &= wv.dir ? 03777 : 0777;
	n = node_lookup(dir, last);
	if (!dir->bridged) {
		/* A bridged top, if it is one here: its owner and mode. */
		if (wv.dir && n != NULL && S_ISDIR(n->mode) && n->bridged)
			apply_attrs(n, &wv);
		return (NULL);
	}
	if (wv.dir) {
		if (n != NULL) {
			if (S_ISDIR(n->mode))
				apply_attrs(n, &wv);
			return (NULL);
		}
		if (node_make(dir, last, S_IFDIR | wv.mode, wv.uid, wv.gid,
		    &made) != 0)
			return (NULL);
		apply_attrs(made, &wv);
		made->bridged = 1;
		names_changed();
		return (made);
	}
	/*
	 * A stream has one name: the first in order of the keys that name
	 * it.  Two moves of one channel at once leave two keys, and a move
	 * elsewhere has both until it deletes the old one; every host takes
	 * the same, and removing or renaming the channel deletes the others.
	 */
	if ((win = key_of_stream(wv.id)) == NULL || strcmp(win->key, key) != 0)
		return (NULL);
	bc = bchan_by_id(wv.id);
	if (n != NULL && n->chan != NULL && n->chan->link != NULL &&
	    n->chan->link == bc) {
		apply_settings(n, &wv);
		apply_attrs(n, &wv);
		return (NULL);
	}
	if (bc != NULL && bc->node != NULL && bc->node != n &&
	    bc->node->parent != NULL && bc->node->parent->bridged) {
		/* Renamed elsewhere, over n if it is here. */
		if (n != NULL && n->chan != NULL && n->chan->link != NULL)
			bchan_kill(n->chan->link);
		error = node_rename(bc->node->parent, bc->node->name, dir,
		    last, 0);
		if (error != 0)
			log_warnx("bridge: rename to %s: %s", key,
			    strerror(error));
		names_changed();
		return (NULL);
	}
	if (n != NULL && n->chan != NULL && n->chan->link != NULL) {
		/*
		 * Made here and there at once (the cluster's wins), or made
		 * again elsewhere: its stream is the one the key names.
		 */
		bc = n->chan->link;
		if (bc->state != BC_READY)
			return (NULL);
		bchan_set_id(bc, wv.id);
		bchan_reset_stream(bc);
		apply_settings(n, &wv);
		apply_attrs(n, &wv);
		bchan_dirty(bc);
		return (NULL);
	}
	if (n != NULL)
		return (NULL);
	if ((error = node_make(dir, last, S_IFREG | wv.mode, wv.uid, wv.gid,
	    &made)) != 0) {
		log_warnx("bridge: make %s: %s", key, strerror(error));
		return (NULL);
	}
	apply_settings(made, &wv);
	apply_attrs(made, &wv);
	bc = bchan_new(made, wv.id);
	bc->state = bc->id[0] != '\0' ? BC_READY : BC_DEAD;
	bc->delivery = wv.delivery;
	bchan_dirty(bc);
	/* A lookup here may have cached that it was not there. */
	names_changed();
	return (NULL);
}

/*
 * Make what the cluster has under dir (NULL: everything).  The table is
 * ordered by key, and a directory's key is a prefix of its children's,
 * so one pass in order makes every parent before its children.
 */
static void
apply_under(struct node *dir)
{
	struct bname	 find, *bn;
	char		 key[4096];
	size_t		 kl = 0;

	if (dir == NULL || name_key(dir, NULL, key, sizeof key) != 0) {
		RB_FOREACH(bn, bnames, &br.names)
			apply_one(bn->key, bn->value);
		return;
	}
	kl = strlen(key);
	if (kl + 1 >= sizeof key)
		return;
	key[kl] = '.';
	key[kl + 1] = '\0';
	find.key = key;
	for (bn = RB_NFIND(bnames, &br.names, &find);
	    bn != NULL && strncmp(bn->key, key, kl + 1) == 0;
	    bn = RB_NEXT(bnames, &br.names, bn))
		apply_one(bn->key, bn->value);
}

static void
unapply(const char *key, const char *old)
{
	struct wire_value	 wv;
	struct node		*dir, *n;
	struct bchan		*bc;
	struct bname		*bn;
	char			 last[NAME_MAX_LEN + 1];

	if (old == NULL || wire_value_parse(old, &wv) != 0 ||
	    (dir = key_dir(key, last)) == NULL ||
	    (n = node_lookup(dir, last)) == NULL)
		return;
	if (wv.dir) {
		if (S_ISDIR(n->mode) && node_rmdir(dir, last) == 0)
			names_changed();
		return;
	}
	if (n->chan == NULL || (bc = n->chan->link) == NULL ||
	    strcmp(bc->id, wv.id) != 0)
		return;
	/* Moved: its new key came first, and now it can go there. */
	if ((bn = key_of_stream(wv.id)) != NULL) {
		apply_one(bn->key, bn->value);
		if (node_lookup(dir, last) != n)
			return;
	}
	bchan_kill(bc);
	if (node_unlink(dir, last) == 0)
		names_changed();
}

/* Give bn its value, and its place among the channels by stream id. */
static void
bname_set(struct bname *bn, const char *value, const struct wire_value *wv)
{
	if (bn->id[0] != '\0')
		RB_REMOVE(bname_ids, &br.name_ids, bn);
	free(bn->value);
	bn->value = xstrdup(value);
	bn->id[0] = '\0';
	if (!wv->dir) {
		strlcpy(bn->id, wv->id, sizeof bn->id);
		RB_INSERT(bname_ids, &br.name_ids, bn);
	}
}

static void
bname_free(struct bname *bn)
{
	if (bn->id[0] != '\0')
		RB_REMOVE(bname_ids, &br.name_ids, bn);
	RB_REMOVE(bnames, &br.names, bn);
	br.nnames--;
	free(bn->key);
	free(bn->value);
	free(bn);
}

/* A key of the names bucket changed (value NULL: deleted). */
void
names_on_event(const char *key, const char *value, uint64_t rev)
{
	struct wire_value	 wv;
	struct bname		 find, *bn;
	struct node		*made;
	struct bexpect		*e;
	char			*old;

	names_touch();
	if (rev > names_seen)
		names_seen = rev;
	if (!wire_key_ok(key, br.key_max)) {
		bridge_bad("a name's key %.64s", key);
		return;
	}
	find.key = (char *)key;
	bn = RB_FIND(bnames, &br.names, &find);
	/* This host's last change of the key is back: the wait is over. */
	if ((e = expect_find(key)) != NULL && e->out == 0 && rev >= e->rev &&
	    (value == NULL ? e->value == NULL : e->value != NULL &&
	    strcmp(value, e->value) == 0))
		expect_free(e);
	if (value == NULL) {
		if (bn == NULL)
			return;
		old = bn->value;
		bn->value = NULL;
		bname_free(bn);
		if (!names_expecting(key))
			unapply(key, old);
		free(old);
		return;
	}
	if (wire_value_parse(value, &wv) != 0) {
		bridge_bad("the value of key %.64s", key);
		return;
	}
	if (bn == NULL) {
		if (br.nnames >= BRIDGE_NAMES_MAX) {
			bridge_bad("key %.64s: too many names", key);
			return;
		}
		bn = xcalloc(1, sizeof *bn);
		bn->key = xstrdup(key);
		RB_INSERT(bnames, &br.names, bn);
		br.nnames++;
	}
	bname_set(bn, value, &wv);
	if ((made = apply_one(key, value)) != NULL)
		apply_under(made);
}

/* One name of a move: its node, old key and new key. */
struct move_item {
	struct node	*n;
	char		*ok;
	char		*nk;
};

/* A key and one more component: NULL if it is too long to send. */
static char *
key_join(const char *key, const char *comp)
{
	char	 buf[4096];
	size_t	 o;

	strlcpy(buf, key, sizeof buf);
	o = strlen(buf);
	if (wire_key_append(buf, sizeof buf, &o, comp) != 0 ||
	    o > br.key_max)
		return (NULL);
	return (xstrdup(buf));
}

/*
 * Remove n, and everything below it, here only: the cluster has no such
 * name.  Children go before their parents; a channel open here goes on
 * as a local one.
 */
static void
names_drop(struct node *top)
{
	struct node	**list, *n, *c;
	size_t		 len = 1, size = 16, i;

	list = xreallocarray(NULL, size, sizeof *list);
	list[0] = top;
	for (i = 0; i < len; i++) {
		if (!S_ISDIR(list[i]->mode))
			continue;
		for (c = node_next_child(list[i], NULL); c != NULL;
		    c = node_next_child(list[i], c)) {
			if (len == size) {
				size *= 2;
				list = xreallocarray(list, size, sizeof *list);
			}
			list[len++] = c;
		}
	}
	while (len-- > 0) {
		n = list[len];
		if (n->chan != NULL && n->chan->link != NULL)
			bchan_kill(n->chan->link);
		if (S_ISDIR(n->mode))
			node_rmdir(n->parent, n->name);
		else
			node_unlink(n->parent, n->name);
	}
	free(list);
}

/*
 * Whether name c, whose key is key, is as the bucket has it: a key of the
 * same kind, and for a channel the one that names its stream, with the
 * stream here.  A channel being made is left alone.
 */
static int
names_matches(struct node *c, const char *key)
{
	struct wire_value	 wv;
	struct bname		 find, *bn;
	struct bchan		*bc;

	bc = c->chan != NULL ? c->chan->link : NULL;
	if (bc != NULL && bc->state == BC_MAKING)
		return (1);
	find.key = (char *)key;
	if ((bn = RB_FIND(bnames, &br.names, &find)) == NULL ||
	    wire_value_parse(bn->value, &wv) != 0 ||
	    wv.dir != S_ISDIR(c->mode))
		return (0);
	if (wv.dir)
		return (1);
	return (key_of_stream(wv.id) == bn && bc != NULL &&
	    bc->state == BC_READY && strcmp(bc->id, wv.id) == 0);
}

/*
 * Make one bridged tree, from its top, what the bucket says: a name the
 * bucket does not have, or has as the other kind, goes; then what it has
 * is made (apply_under).  Keys are built as the walk goes down, and the
 * walk is a list: each name costs its key's length, however deep.
 */
static int
names_reconcile_top(struct node *top)
{
	struct move_item	*list;
	struct node		*d, *c, *next;
	char			*key, *kd;
	size_t			 len = 1, size = 16;
	int			 changed = 0;

	list = xreallocarray(NULL, size, sizeof *list);
	list[0].n = top;
	list[0].ok = NULL;
	if (top != node_root()) {
		list[0].ok = xmalloc(4096);
		if (name_key(top->parent, top->name, list[0].ok, 4096) != 0) {
			free(list[0].ok);
			free(list);
			return (0);
		}
	}
	while (len > 0) {
		d = list[--len].n;
		kd = list[len].ok;
		for (c = node_next_child(d, NULL); c != NULL; c = next) {
			next = node_next_child(d, c);
			key = kd != NULL ? key_join(kd, c->name) :
			    key_join("", c->name);
			if (key == NULL || !names_matches(c, key)) {
				free(key);
				names_drop(c);
				changed = 1;
				continue;
			}
			if (!S_ISDIR(c->mode)) {
				free(key);
				continue;
			}
			if (len == size) {
				size *= 2;
				list = xreallocarray(list, size, sizeof *list);
			}
			list[len].n = c;
			list[len++].ok = key;
		}
		free(kd);
	}
	free(list);
	apply_under(top == node_root() ? NULL : top);
	return (changed);
}

/*
 * Make this host's bridged trees what the bucket says.  Hosts that
 * changed the same names at once each applied their own change first;
 * once all is still, each ends with the bucket's tree, and so with the
 * same one.  A key whose parent is not a directory in the bucket (its
 * directory went elsewhere meanwhile) is made nowhere.
 */
static void
names_reconcile(void)
{
	struct node	**list, *d, *c;
	size_t		 len = 1, size = 16;
	int		 changed = 0;

	/* The tops: bridged directories whose parent is not bridged. */
	list = xreallocarray(NULL, size, sizeof *list);
	list[0] = node_root();
	while (len > 0) {
		d = list[--len];
		if (d->bridged) {
			changed |= names_reconcile_top(d);
			continue;
		}
		for (c = node_next_child(d, NULL); c != NULL;
		    c = node_next_child(d, c)) {
			if (!S_ISDIR(c->mode))
				continue;
			if (len == size) {
				size *= 2;
				list = xreallocarray(list, size, sizeof *list);
			}
			list[len++] = c;
		}
	}
	free(list);
	if (changed)
		names_changed();
}

/* The clock: once this host's names are still, they follow the bucket. */
void
names_tick(uint64_t now)
{
	expect_tick(now);
	marks_tick(now);
	if (!names_dirty || names_out > 0 || names_seen < names_want ||
	    !br.setup || now - names_moved < NAMES_CALM_MS)
		return;
	names_dirty = 0;
	names_reconcile();
}

void
names_free(void)
{
	struct bname	*bn;

	struct bexpect	*e;
	struct bmark	*m;

	while ((bn = RB_ROOT(&br.names)) != NULL)
		bname_free(bn);
	while ((e = RB_ROOT(&br.expects)) != NULL)
		expect_free(e);
	/* Marks still waiting: the daemon stops. */
	while ((m = LIST_FIRST(&br.marks)) != NULL) {
		LIST_REMOVE(m, entry);
		if (m->req != NULL && !m->interrupted)
			fuse_reply_err(m->req, EIO);
		if (m->job != NULL)
			job_free(m->job);
		free(m);
	}
}

/* ---- What fs.c asks. ---- */

static void
mark_interrupted(fuse_req_t req, void *arg)
{
	struct bmark	*m = arg;

	if (m->interrupted)
		return;
	m->interrupted = 1;
	fuse_reply_err(req, EINTR);
}

/* Ask the bucket for the top n's key (JOB_MARK), for req if not NULL. */
static void
mark_queue(struct node *n, const char *key, void *req, uid_t uid)
{
	struct bmark	*m;
	struct job	*j;

	m = xcalloc(1, sizeof *m);
	m->req = req;
	m->ino = n->ino;
	m->uid = uid;
	m->since = now_ms();
	LIST_INSERT_HEAD(&br.marks, m, entry);
	j = job_new(JOB_MARK);
	j->key = xstrdup(key);
	j->value = dir_value(n);
	j->mark = m;
	job_queue(j);
	if (req != NULL)
		fuse_req_interrupt_func(req, mark_interrupted, m);
}

/*
 * Whether the bucket has a name above key (a tree another host bridged
 * from higher up), or, unless own (the bucket has key itself), names
 * below it (trees bridged from lower down): a directory there would nest
 * one bridged tree in another, and make its marker master of names
 * others made.
 */
static int
mark_nests(const char *key, int own)
{
	struct bname	 find, *bn;
	char		 prefix[4096];
	size_t		 i, kl = strlen(key);

	if (kl + 2 > sizeof prefix)
		return (1);
	memcpy(prefix, key, kl + 1);
	for (i = kl; i > 0; i--) {
		if (prefix[i] != '.')
			continue;
		prefix[i] = '\0';
		find.key = prefix;
		if (RB_FIND(bnames, &br.names, &find) != NULL)
			return (1);
	}
	if (own)
		return (0);
	memcpy(prefix, key, kl);
	prefix[kl] = '.';
	prefix[kl + 1] = '\0';
	find.key = prefix;
	return ((bn = RB_NFIND(bnames, &br.names, &find)) != NULL &&
	    strncmp(bn->key, prefix, kl + 1) == 0);
}

/*
 * setxattr user.ipcfs.bridge on n, by req.  A directory the cluster does
 * not have yet gives the cluster its owner and mode.  One it has takes
 * the cluster's, and only its owner (or root) may bridge it.  Returns an
 * error, 0, or -1 if req is answered later, once the bucket says.
 */
int
bridge_mark(struct node *n, const char *value, size_t size, void *req)
{
	const struct fuse_ctx	*ctx = fuse_req_ctx(req);
	struct bname		 find;
	char			 key[4096];

	if (size > 0 && value[size - 1] == '\n')
		size--;
	if (size != 4 || memcmp(value, "nats", 4) != 0)
		return (EINVAL);
	if (br.efd == -1)
		return (EOPNOTSUPP);
	if (!S_ISDIR(n->mode))
		return (EINVAL);
	if (n->bridged)
		return (0);
	if (!RB_EMPTY(&n->children))
		return (ENOTEMPTY);
	if (n == node_root()) {
		n->bridged = 1;
		apply_under(NULL);
		return (0);
	}
	if (name_key_max(n->parent, n->name, key, sizeof key) != 0)
		return (ENAMETOOLONG);
	find.key = key;
	if (mark_nests(key, RB_FIND(bnames, &br.names, &find) != NULL))
		return (EBUSY);
	mark_queue(n, key, req, ctx->uid);
	return (-1);
}

/*
 * A mark this host gave up on (interrupted, or too slow) made the key:
 * it goes again, unless another host has changed it since.
 */
static void
mark_undo(struct job *j)
{
	struct bname	 find, *bn;
	struct job	*dj;

	if (j->found != NULL || !j->ok)
		return;
	find.key = j->key;
	if ((bn = RB_FIND(bnames, &br.names, &find)) != NULL &&
	    strcmp(bn->value, j->value) != 0)
		return;
	dj = job_new(JOB_DELETE);
	dj->key = xstrdup(j->key);
	names_queue(dj);
}

/*
 * Decide a mark, the bucket having answered and the watcher having
 * brought it at least as far as that answer: the owner and mode taken,
 * and what is above and below, are the bucket's latest, not what one
 * reply or a lagging view said.
 */
static void
mark_decide(struct bmark *m)
{
	struct job		*j = m->job;
	struct wire_value	 wv;
	struct bname		 find, *bn;
	struct node		*n;
	char			 key[4096];
	int			 error = 0;

	LIST_REMOVE(m, entry);
	if (m->interrupted) {
		mark_undo(j);
		goto done;
	}
	if (m->req != NULL)
		fuse_req_interrupt_func(m->req, NULL, NULL);
	find.key = j->key;
	bn = RB_FIND(bnames, &br.names, &find);
	if ((n = node_get(m->ino)) == NULL || !S_ISDIR(n->mode) ||
	    n->parent == NULL)
		error = ENOENT;
	else if (name_key(n->parent, n->name, key, sizeof key) != 0 ||
	    strcmp(key, j->key) != 0)
		error = EBUSY;		/* moved meanwhile */
	else if (!j->ok)
		error = EIO;
	else if (m->req != NULL && mark_nests(key, j->found != NULL))
		error = EBUSY;
	else if (bn == NULL || wire_value_parse(bn->value, &wv) != 0)
		error = EAGAIN;		/* deleted meanwhile */
	else if (!wv.dir)
		error = EEXIST;
	else if (j->found != NULL && m->uid != 0 && m->uid != wv.uid)
		error = EPERM;
	else if (j->found != NULL || strcmp(bn->value, j->value) != 0) {
		wv.mode &= 03777;
		apply_attrs(n, &wv);
	}
	if (error == 0 && !n->bridged && !RB_EMPTY(&n->children))
		error = ENOTEMPTY;
	if (error != 0)
		mark_undo(j);
	if (error == 0 && !n->bridged) {
		n->bridged = 1;
		apply_under(n);
	}
	if (m->req != NULL)
		fs_setting_reply(m->req, n, error);
	else if (error != 0)
		log_warnx("bridge=%s: %s", j->key, strerror(error));
done:
	job_free(j);
	free(m);
}

/* The bucket answered a mark: decide once the watcher is as far. */
void
names_mark_done(struct job *j)
{
	struct bmark	*m = j->mark;

	m->job = j;
	if (names_seen >= j->rev || !j->ok)
		mark_decide(m);
}

/*
 * The clock, for marks.  One waits at most MARK_WAIT_MS: the kernel holds
 * the directory's lock meanwhile, and anyone else's call on it waits
 * unkillably, so a mark the cluster cannot answer soon gets ETIMEDOUT
 * (the kernel makes EAGAIN from setxattr EOPNOTSUPP).
 */
#define MARK_WAIT_MS	3000

static void
marks_tick(uint64_t now)
{
	struct bmark	*m, *next;

	for (m = LIST_FIRST(&br.marks); m != NULL; m = next) {
		next = LIST_NEXT(m, entry);
		if (m->job != NULL && (names_seen >= m->job->rev ||
		    now - m->since > 2 * MARK_WAIT_MS)) {
			mark_decide(m);
			continue;
		}
		if (m->req != NULL && !m->interrupted &&
		    now - m->since > MARK_WAIT_MS) {
			m->interrupted = 1;
			fuse_req_interrupt_func(m->req, NULL, NULL);
			fuse_reply_err(m->req, ETIMEDOUT);
		}
	}
}

/*
 * n's owner, mode or times changed here (chmod, chown, utimensat): the
 * other hosts take them from its key.  A change made while the last one
 * still waits to be sent goes with it.
 */
void
bridge_changed(struct node *n)
{
	struct bchan	*bc;
	struct job	*j;
	char		 key[4096];

	if (br.efd == -1 || !n->bridged || n == node_root() ||
	    n->parent == NULL ||
	    name_key(n->parent, n->name, key, sizeof key) != 0)
		return;
	j = job_new(JOB_ATTRS);
	if (S_ISDIR(n->mode))
		j->value = dir_value(n);
	else if (n->chan != NULL && (bc = n->chan->link) != NULL &&
	    bc->state == BC_MAKING) {
		/* Its stream may yet be another host's: once it is made. */
		bc->reput = 1;
		job_free(j);
		return;
	} else if (n->chan != NULL && (bc = n->chan->link) != NULL &&
	    bc->id[0] != '\0' && bc->state == BC_READY)
		j->value = chan_value(bc->id, n);
	else {
		job_free(j);
		return;
	}
	if (job_attrs_merge(key, j->value)) {
		j->value = NULL;
		job_free(j);
		return;
	}
	j->key = xstrdup(key);
	names_queue(j);
}

/* Whether name may be made in dir: 0, ENAMETOOLONG or ENOSPC. */
int
bridge_making(struct node *dir, const char *name)
{
	char	 key[4096];
	int	 error;

	if (br.efd == -1 || !dir->bridged)
		return (0);
	if ((error = name_key_max(dir, name, key, sizeof key)) != 0)
		return (error);
	return (bridge_room(dir));
}

/* n was made here, in a bridged directory. */
void
bridge_made(struct node *n)
{
	struct bchan	*bc;
	struct job	*j;
	char		 key[4096];

	if (br.efd == -1 || !n->bridged ||
	    name_key_max(n->parent, n->name, key, sizeof key) != 0)
		return;
	if (S_ISDIR(n->mode)) {
		j = job_new(JOB_PUT);
		j->key = xstrdup(key);
		j->value = dir_value(n);
		names_queue(j);
		return;
	}
	bc = bchan_new(n, NULL);
	if (bc->id[0] == '\0') {
		bchan_kill(bc);
		return;
	}
	j = job_new(JOB_CREATE);
	j->num = bc->num;
	strlcpy(j->id, bc->id, sizeof j->id);
	j->key = xstrdup(key);
	j->value = chan_value(bc->id, n);
	j->capacity = n->chan->capacity;
	j->delivery = n->chan->delivery;
	names_queue(j);
}

/* What a removal or rename needs to know from before it. */
struct bridge_op {
	char	 key[4096];
	char	 id[17];
	uint64_t num;
	int	 dir;
};

/* Delete the bucket's other keys that name stream id: keys only. */
static void
names_unalias(const char *id, const char *keep)
{
	struct bname	 find, *bn;
	struct job	*j;

	strlcpy(find.id, id, sizeof find.id);
	find.key = (char *)"";
	for (bn = RB_NFIND(bname_ids, &br.name_ids, &find);
	    bn != NULL && strcmp(bn->id, id) == 0;
	    bn = RB_NEXT(bname_ids, &br.name_ids, bn)) {
		if (keep != NULL && strcmp(bn->key, keep) == 0)
			continue;
		j = job_new(JOB_DELETE);
		j->key = xstrdup(bn->key);
		names_queue(j);
	}
}

/*
 * A directory with key went: the keys the bucket still has below it
 * (made nowhere: their directory went elsewhere while they were put, or
 * a move was cut short) go too, and their streams unless a key outside
 * it names them, so that a directory made again starts empty.
 */
static void
names_unorphan(const char *key)
{
	struct bname	 find, *bn, *win;
	struct job	*j;
	char		 prefix[4096];
	size_t		 pl;

	pl = (size_t)snprintf(prefix, sizeof prefix, "%s.", key);
	if (pl >= sizeof prefix)
		return;
	find.key = prefix;
	for (bn = RB_NFIND(bnames, &br.names, &find);
	    bn != NULL && strncmp(bn->key, prefix, pl) == 0;
	    bn = RB_NEXT(bnames, &br.names, bn)) {
		j = job_new(JOB_DELETE);
		j->key = xstrdup(bn->key);
		if (bn->id[0] != '\0' && (win = key_of_stream(bn->id)) !=
		    NULL && strncmp(win->key, prefix, pl) == 0)
			strlcpy(j->id, bn->id, sizeof j->id);
		names_queue(j);
	}
}

void *
bridge_removing(struct node *dir, const char *name)
{
	struct bridge_op	*op;
	struct node		*n;
	struct bchan		*bc;

	if (br.efd == -1 || !dir->bridged)
		return (NULL);
	op = xcalloc(1, sizeof *op);
	if (name_key(dir, name, op->key, sizeof op->key) != 0) {
		free(op);
		return (NULL);
	}
	if ((n = node_lookup(dir, name)) != NULL && n->chan != NULL &&
	    (bc = n->chan->link) != NULL) {
		strlcpy(op->id, bc->id, sizeof op->id);
		op->num = bc->num;
	}
	op->dir = n != NULL && S_ISDIR(n->mode);
	return (op);
}

void
bridge_removed(void *arg, int error)
{
	struct bridge_op	*op = arg;
	struct job		*j;
	struct bchan		*bc;

	if (op == NULL)
		return;
	if (error == 0) {
		if (op->num != 0 && (bc = bchan_by_num(op->num)) != NULL)
			bchan_kill(bc);
		j = job_new(JOB_DELETE);
		j->key = xstrdup(op->key);
		strlcpy(j->id, op->id, sizeof j->id);
		names_queue(j);
		if (op->id[0] != '\0')
			names_unalias(op->id, op->key);
		if (op->dir)
			names_unorphan(op->key);
	}
	free(op);
}

/* Whether dir, or a directory below it, is a bridged one's top. */
static int
holds_bridge(struct node *dir)
{
	struct node	**stack, *n, *c;
	size_t		 len = 0, size = 16;
	int		 found = 0;

	stack = xreallocarray(NULL, size, sizeof *stack);
	stack[len++] = dir;
	while (len > 0 && !found) {
		n = stack[--len];
		if (n->bridged) {
			found = 1;
			break;
		}
		for (c = node_next_child(n, NULL); c != NULL;
		    c = node_next_child(n, c)) {
			if (!S_ISDIR(c->mode))
				continue;
			if (len == size) {
				size *= 2;
				stack = xreallocarray(stack, size,
				    sizeof *stack);
			}
			stack[len++] = c;
		}
	}
	free(stack);
	return (found);
}

/*
 * Add n, under its old and new keys, and all below it, parents first, to
 * a move: a breadth-first walk with a list, so no depth of tree can
 * overflow the stack.
 */
static int
move_add(struct job *j, struct node *top, const char *oldkey,
    const char *newkey)
{
	struct move_item	*list;
	struct node		*n, *c;
	char			*value;
	size_t			 len = 1, size = 16, i;
	int			 error = 0;

	list = xreallocarray(NULL, size, sizeof *list);
	list[0].n = top;
	list[0].ok = xstrdup(oldkey);
	list[0].nk = xstrdup(newkey);
	for (i = 0; i < len; i++) {
		n = list[i].n;
		if (error != 0)
			continue;
		if (S_ISDIR(n->mode))
			value = dir_value(n);
		else if (n->chan != NULL && n->chan->link != NULL)
			value = chan_value(((struct bchan *)n->chan->link)->id,
			    n);
		else
			continue;	/* not bridged yet: nothing to move */
		j->moves = xreallocarray(j->moves, (j->nmoves + 1) * 3,
		    sizeof *j->moves);
		j->moves[3 * j->nmoves] = list[i].nk;
		j->moves[3 * j->nmoves + 1] = value;
		j->moves[3 * j->nmoves + 2] = list[i].ok;
		list[i].nk = list[i].ok = NULL;
		j->nmoves++;
		if (!S_ISDIR(n->mode))
			continue;
		for (c = node_next_child(n, NULL); c != NULL;
		    c = node_next_child(n, c)) {
			if (len == size) {
				size *= 2;
				list = xreallocarray(list, size, sizeof *list);
			}
			list[len].n = c;
			list[len].ok = key_join(j->moves[3 * (j->nmoves - 1) +
			    2], c->name);
			list[len].nk = key_join(j->moves[3 * (j->nmoves - 1)],
			    c->name);
			if (list[len].ok == NULL || list[len].nk == NULL)
				error = ENAMETOOLONG;
			len++;
		}
	}
	for (i = 0; i < len; i++) {
		free(list[i].ok);
		free(list[i].nk);
	}
	free(list);
	return (error);
}

/*
 * A rename.  Refused: one that would move a name in or out of a bridged
 * directory (EXDEV); one that moves a bridged directory's top, or a
 * directory that holds one, since every key below would change on this
 * host only (EBUSY, as for a mount point); an exchange with a bridged
 * side (EXDEV: the two moves cannot be one on other hosts); a new name
 * too long to send (ENAMETOOLONG).  Otherwise the keys to move, for
 * bridge_renamed, with all a directory holds.
 */
int
bridge_renaming(struct node *dir, const char *name, struct node *newdir,
    const char *newname, unsigned flags, void **opp)
{
	struct node	*n, *old;
	struct job	*j;
	char		 oldkey[4096], newkey[4096];
	int		 error;

	*opp = NULL;
	if ((flags & RENAME_EXCHANGE) && (dir->bridged ||
	    newdir->bridged))
		return (EXDEV);
	if ((n = node_lookup(dir, name)) != NULL && S_ISDIR(n->mode) &&
	    !dir->bridged && holds_bridge(n))
		return (EBUSY);
	if ((flags & RENAME_EXCHANGE) &&
	    (old = node_lookup(newdir, newname)) != NULL &&
	    S_ISDIR(old->mode) && !newdir->bridged && holds_bridge(old))
		return (EBUSY);
	if (dir->bridged != newdir->bridged)
		return (EXDEV);
	if (br.efd == -1 || !dir->bridged || n == NULL)
		return (0);
	if ((error = bridge_room(dir)) != 0)
		return (error);
	if ((error = name_key_max(newdir, newname, newkey,
	    sizeof newkey)) != 0)
		return (error);
	if (name_key(dir, name, oldkey, sizeof oldkey) != 0)
		return (ENAMETOOLONG);
	j = job_new(JOB_MOVE);
	if ((error = move_add(j, n, oldkey, newkey)) != 0) {
		job_free(j);
		return (error);
	}
	/* A channel it replaces goes, with its stream. */
	if ((old = node_lookup(newdir, newname)) != NULL && old != n &&
	    old->chan != NULL && old->chan->link != NULL) {
		strlcpy(j->id, ((struct bchan *)old->chan->link)->id,
		    sizeof j->id);
		j->num = ((struct bchan *)old->chan->link)->num;
	}
	*opp = j;
	return (0);
}

void
bridge_renamed(void *arg, int error)
{
	struct wire_value	 wv;
	struct job	*j = arg;
	struct bchan	*bc;
	char		**moved, *id;
	size_t		 i, n;

	if (j == NULL)
		return;
	if (error != 0 || j->nmoves == 0) {
		job_free(j);
		return;
	}
	if (j->num != 0 && (bc = bchan_by_num(j->num)) != NULL)
		bchan_kill(bc);
	j->num = 0;
	id = xstrdup(j->id);
	moved = j->moves;
	n = j->nmoves;
	names_queue(j);
	/*
	 * The other keys of each stream moved, and of the one it replaced,
	 * go: so no other name stands for them once this one goes.  The
	 * worker only reads the job, and only the loop (this thread) frees
	 * it, once it is done.
	 */
	for (i = 0; i < n; i++)
		if (wire_value_parse(moved[3 * i + 1], &wv) == 0 && !wv.dir)
			names_unalias(wv.id, moved[3 * i]);
	if (id[0] != '\0')
		names_unalias(id, moved[0]);
	free(id);
}

/* ---- -o bridge=PATH ---- */

/*
 * Make each directory -o bridge names, with any missing parents, as the
 * root's owner and mode, and bridge it.  Returns 0, or -1 if one cannot
 * be made.
 */
int
bridge_paths(const struct opts *o)
{
	struct node	*dir, *n;
	char		*copy, *p, *path, *comp, *left, *lcopy;
	char		 key[4096];
	int		 error = 0;

	copy = p = xstrdup(o->bridge);
	while (error == 0 && (path = strsep(&p, "\n")) != NULL) {
		if (*path == '\0')
			continue;
		dir = node_root();
		lcopy = left = xstrdup(path);
		while (error == 0 && (comp = strsep(&left, "/")) != NULL) {
			if (*comp == '\0')
				continue;
			if ((n = node_lookup(dir, comp)) == NULL) {
				if ((error = bridge_making(dir, comp)) != 0 ||
				    (error = node_make(dir, comp, S_IFDIR |
				    (node_root()->mode & 07777),
				    node_root()->uid, node_root()->gid,
				    &n)) != 0)
					break;
				bridge_made(n);
			} else if (!S_ISDIR(n->mode))
				error = ENOTDIR;
			dir = n;
		}
		free(lcopy);
		if (error != 0)
			log_warnx("bridge=%s: %s", path, strerror(error));
		else if (!dir->bridged) {
			dir->bridged = 1;
			if (dir != node_root() &&
			    name_key(dir->parent, dir->name, key,
			    sizeof key) == 0)
				mark_queue(dir, key, NULL, 0);
			apply_under(dir == node_root() ? NULL : dir);
		}
	}
	free(copy);
	return (error != 0 ? -1 : 0);
}
