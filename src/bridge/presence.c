/*
 * Which hosts have which bridged channels open: a key a host in the
 * bucket NAME_hosts, holding a line "ID READERS WRITERS" for each channel
 * it has open, put on every change and every nats_timeout/5 seconds.  A
 * host counts as gone when its key has been silent for nats_timeout
 * while this host's own puts kept coming back through the same bucket:
 * with NATS out of reach nobody is gone.
 *
 * What other hosts say is checked line by line (wire_presence_next) and
 * bounded: a host's counts are at most WIRE_COUNT_MAX each, the sums
 * cannot wrap, and past BRIDGE_HOSTS_MAX hosts a new one is not taken.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"
#include "bridge.h"

/* The longest presence value taken from a host. */
#define PRESENCE_MAX	(1024 * 1024)

void
presence_send(void)
{
	struct bchan	*bc;
	struct job	*j;
	char		*v = NULL;
	size_t		 len = 0, size = 256;
	int		 n;

	if (br.presence_out || !br.setup)
		return;
	v = xmalloc(size);
	v[0] = '\0';
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->chan == NULL || bc->id[0] == '\0' ||
		    bc->state != BC_READY)
			continue;
		bc->told_readers = bc->chan->readers;
		bc->told_writers = bchan_writers(bc);
		bc->sent_writers = bc->told_writers;
		if (bc->chan->readers == 0 && bc->told_writers == 0)
			continue;
		for (;;) {
			n = snprintf(v + len, size - len, "%s %u %u\n", bc->id,
			    bc->chan->readers, bc->told_writers);
			if (n >= 0 && (size_t)n < size - len)
				break;
			size *= 2;
			v = xreallocarray(v, size, 1);
		}
		len += (size_t)n;
	}
	j = job_new(JOB_PRESENCE);
	j->value = v;
	br.presence_out = 1;
	br.presence_dirty = 0;
	br.presence_at = now_ms();
	job_queue(j);
}

static unsigned
add_sat(unsigned a, unsigned b)
{
	return (a > UINT32_MAX / 2 - b ? UINT32_MAX / 2 : a + b);
}

/* Count every other host's opens again, and tell the channels. */
static void
presence_count(void)
{
	struct bhost	*h;
	struct bchan	*bc;
	const char	*p;
	char		 id[17];
	unsigned	 r, w;
	int		 got;

	RB_FOREACH(bc, bchan_nums, &br.nums)
		bc->said_readers = bc->said_writers = 0;
	LIST_FOREACH(h, &br.hosts, entry) {
		p = h->value;
		while ((got = wire_presence_next(&p, id, &r, &w)) != 0) {
			if (got == -1) {
				bridge_bad("a line of host %s's presence",
				    h->name);
				continue;
			}
			if ((bc = bchan_by_id(id)) != NULL) {
				bc->said_readers = add_sat(bc->said_readers, r);
				bc->said_writers = add_sat(bc->said_writers, w);
			}
		}
	}
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->said_readers == bc->rreaders &&
		    bc->said_writers == bc->rwriters)
			continue;
		bc->rreaders = bc->said_readers;
		bc->rwriters = bc->said_writers;
		if (bc->chan != NULL) {
			if (bc->rwriters > 0)
				bc->chan->rdrained = 0;
			chan_link_counts(bc->chan, bc->rreaders, bc->rwriters,
			    bc->chan->rdrained);
		}
		bchan_dirty(bc);
	}
}

/* How often a host says it is there, in ms. */
static uint64_t
presence_beat(void)
{
	return (br.o.nats_timeout * 1000 / 5);
}

static void
host_free(struct bhost *h)
{
	LIST_REMOVE(h, entry);
	br.nhosts--;
	free(h->name);
	free(h->value);
	free(h);
}

/* A host is gone: its broadcast consumers go too. */
static void
host_drop(struct bhost *h)
{
	struct bchan	*bc;
	struct job	*j;

	log_info("bridge: host %s is gone", h->name);
	RB_FOREACH(bc, bchan_nums, &br.nums) {
		if (bc->delivery != CHAN_BROADCAST || bc->state != BC_READY)
			continue;
		j = job_new(JOB_UNCONSUMER);
		strlcpy(j->id, bc->id, sizeof j->id);
		j->name = xstrdup(h->name);
		job_queue(j);
		j = job_new(JOB_PURGE);
		strlcpy(j->id, bc->id, sizeof j->id);
		job_queue(j);
	}
	host_free(h);
}

/* Whether a host's key may name a consumer: a key's plain bytes. */
static int
host_name_ok(const char *key)
{
	size_t	 n = strlen(key);

	return (n > 0 && n < sizeof br.host &&
	    strspn(key, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n);
}

/* A host's key changed (value NULL: deleted). */
void
presence_on_host(const char *key, const char *value)
{
	struct bhost	*h;

	/* Ours, back through the bucket: the watcher and the bucket work. */
	if (strcmp(key, br.host) == 0) {
		if (value == NULL)
			return;
		/* After a gap, others get a whole timeout from now. */
		if (now_ms() - br.self_seen > 2 * presence_beat())
			br.self_since = now_ms();
		br.self_seen = now_ms();
		return;
	}
	if (!host_name_ok(key)) {
		bridge_bad("a host called %.64s", key);
		return;
	}
	LIST_FOREACH(h, &br.hosts, entry)
		if (strcmp(h->name, key) == 0)
			break;
	if (value != NULL && strlen(value) > PRESENCE_MAX) {
		bridge_bad("host %s's presence of %zu bytes", key,
		    strlen(value));
		value = "";
	}
	if (value == NULL) {
		if (h != NULL)
			host_drop(h);
	} else {
		if (h == NULL) {
			if (br.nhosts >= BRIDGE_HOSTS_MAX) {
				bridge_bad("host %s: too many hosts", key);
				return;
			}
			h = xcalloc(1, sizeof *h);
			h->name = xstrdup(key);
			LIST_INSERT_HEAD(&br.hosts, h, entry);
			br.nhosts++;
		}
		free(h->value);
		h->value = xstrdup(value);
		h->seen = now_ms();
	}
	presence_count();
}

/* The clock: drop silent hosts, and say this host is there. */
void
presence_tick(uint64_t now)
{
	struct bhost	*h, *th;
	int		 dropped = 0;

	LIST_FOREACH_SAFE(h, &br.hosts, entry, th) {
		if (now - h->seen > br.o.nats_timeout * 1000 &&
		    br.self_seen > (h->seen > br.self_since ? h->seen :
		    br.self_since) + br.o.nats_timeout * 1000) {
			host_drop(h);
			dropped = 1;
		}
	}
	if (dropped)
		presence_count();
	if (now - br.presence_at >= presence_beat())
		br.presence_dirty = 1;
}

void
presence_free(void)
{
	struct bhost	*h;

	while ((h = LIST_FIRST(&br.hosts)) != NULL)
		host_free(h);
}
