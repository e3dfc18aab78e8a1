/*
 * The memory budget of a mount: everything its clients can make the daemon
 * hold in proportion to their data (stream buffers, read histories, copies
 * of held writes, stored attributes, regions) counts against one limit,
 * max_memory.  Each module adds what it takes to its own counter and says
 * when it gives memory back, so that whoever waits for memory (chan.c's
 * pollers) hears of it.  No FUSE here.
 */

#include <string.h>

#include "ipcfs.h"

/*
 * An empty budget of max_memory bytes; freed(arg) is called whenever
 * memory comes back.
 */
void
budget_init(struct budget *b, size_t max_memory, void (*freed)(void *),
    void *arg)
{
	memset(b, 0, sizeof *b);
	b->max_memory = max_memory;
	b->max_region = max_memory;
	b->freed = freed;
	b->arg = arg;
}

/* Bytes of max_memory that nothing uses now. */
size_t
budget_left(const struct budget *b)
{
	size_t	 used = b->mem_used + b->hist_used + b->held + b->xattr_used +
	    b->region_used + b->link_used + b->names_used;

	return (b->max_memory > used ? b->max_memory - used : 0);
}

/* Memory came back: tell whoever waits for it. */
void
budget_freed(struct budget *b)
{
	if (b->freed != NULL)
		b->freed(b->arg);
}
