/*
 * Events, from any thread to the loop: messages and connection changes
 * from libnats's threads, job results from the worker, changes of the two
 * buckets from their watchers, and the clock.  The queue is bounded:
 * libnats's messages past BRIDGE_EVENTS_MAX are dropped (the bridge asks
 * again, as after a reconnection), and a watcher waits for room, since a
 * change of a name must not be lost.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipcfs.h"
#include "bridge.h"

struct bev *
bev_new(enum bev_type type)
{
	struct bev	*ev;

	ev = xcalloc(1, sizeof *ev);
	ev->type = type;
	return (ev);
}

void
bev_free(struct bev *ev)
{
	if (ev->msg != NULL)
		natsMsg_Destroy(ev->msg);
	if (ev->job != NULL)
		job_free(ev->job);
	free(ev->key);
	free(ev->value);
	free(ev);
}

/* Queue ev for the loop, and wake it if the queue was empty. */
void
bev_post(struct bev *ev)
{
	uint64_t	 one = 1;
	int		 was_empty;

	pthread_mutex_lock(&br.mtx);
	was_empty = TAILQ_EMPTY(&br.events);
	TAILQ_INSERT_TAIL(&br.events, ev, entry);
	br.nevents++;
	pthread_mutex_unlock(&br.mtx);
	if (was_empty && write(br.efd, &one, sizeof one) == -1 &&
	    errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
}

/* Queue ev unless the loop is that far behind: 0 if it was dropped. */
static int
bev_post_bounded(struct bev *ev)
{
	size_t	 n;

	pthread_mutex_lock(&br.mtx);
	n = br.nevents;
	pthread_mutex_unlock(&br.mtx);
	if (n >= BRIDGE_EVENTS_MAX) {
		bev_free(ev);
		return (0);
	}
	bev_post(ev);
	return (1);
}

/* libnats's callback for every message of the bridge's subscriptions. */
void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	static int	 dropping;
	struct bev	*ev;

	ev = bev_new(EV_MSG);
	ev->msg = msg;
	if (bev_post_bounded(ev))
		dropping = 0;
	else if (!dropping) {
		dropping = 1;
		bev_post(bev_new(EV_SLOW));
	}
}

/* libnats's callback for a connection lost (arg 0) or made again (1). */
void
on_conn_cb(natsConnection *nc, void *arg)
{
	struct bev	*ev;

	ev = bev_new(EV_CONN);
	ev->flag = (int)(intptr_t)arg;
	bev_post(ev);
}

/* libnats's callback for an asynchronous error: a slow consumer. */
void
on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *arg)
{
	if (err == NATS_SLOW_CONSUMER && sub == br.sub)
		bev_post_bounded(bev_new(EV_SLOW));
}

/* Queue a bucket's change, waiting while the loop is far behind. */
static void
watch_post(enum bev_type type, kvEntry *e)
{
	struct bev	*ev;
	const char	*v;

	pthread_mutex_lock(&br.mtx);
	while (br.nevents >= BRIDGE_EVENTS_MAX && !br.stopping)
		pthread_cond_wait(&br.room, &br.mtx);
	pthread_mutex_unlock(&br.mtx);
	ev = bev_new(type);
	ev->key = xstrdup(kvEntry_Key(e));
	ev->rev = kvEntry_Revision(e);
	if (kvEntry_Operation(e) == kvOp_Put &&
	    (v = kvEntry_ValueString(e)) != NULL)
		ev->value = xstrdup(v);
	bev_post(ev);
}

/*
 * A watcher of one bucket: the names (arg 0), which also keeps the clock,
 * or the hosts (arg 1).  Each has a thread, so that neither waits for
 * the other: a host's presence must come before the data it then sends.
 */
void *
watcher_main(void *arg)
{
	int		 hosts = (int)(intptr_t)arg;
	kvWatcher	*w = NULL;
	kvEntry		*e;
	uint64_t	 tick = 0;
	size_t		 n;
	int		 stop, setup;

	for (;;) {
		pthread_mutex_lock(&br.mtx);
		stop = br.stopping;
		setup = br.setup;
		n = br.nevents;
		pthread_mutex_unlock(&br.mtx);
		if (stop)
			break;
		if (!hosts && now_ms() - tick >= 50 && n < BRIDGE_EVENTS_MAX) {
			tick = now_ms();
			bev_post(bev_new(EV_TICK));
		}
		if (w == NULL && setup && kvStore_WatchAll(&w, hosts ?
		    br.hosts_kv : br.names_kv, NULL) != NATS_OK)
			w = NULL;
		if (w == NULL) {
			usleep(50000);
			continue;
		}
		e = NULL;
		if (kvWatcher_Next(&e, w, 50) == NATS_OK && e != NULL) {
			watch_post(hosts ? EV_HOST : EV_NAME, e);
			kvEntry_Destroy(e);
		}
	}
	if (w != NULL) {
		kvWatcher_Stop(w);
		kvWatcher_Destroy(w);
	}
	return (NULL);
}
