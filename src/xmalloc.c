/*
 * Allocation that never returns NULL: running out of memory is fatal, as in
 * tmux and the OpenBSD daemons.
 *
 * Only for the daemon's own start-up and bookkeeping: options, the root,
 * and the small fixed-size records behind what the limits already bound
 * (a node and its name, bounded by max_channels; an open; a held request,
 * one per blocked call of a client).  Memory a client makes the daemon
 * hold in proportion to its data (stream buffers, copies of held writes,
 * read histories, readdir snapshots, reply buffers) is counted against
 * max_memory where it lasts, and taken with plain malloc: when it cannot
 * be had, that client's call fails (ENOMEM, or a shorter count) and the
 * daemon runs on.
 */

#include <stdlib.h>
#include <string.h>

#include "ipcfs.h"

/* malloc, or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = malloc(size)) == NULL)
		fatal("%s: allocating %zu bytes", __func__, size);
	return (p);
}

/* calloc, or die. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("%s: allocating %zu * %zu bytes", __func__, nmemb, size);
	return (p);
}

/* reallocarray, or die. */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("%s: zero size", __func__);
	if ((p = reallocarray(ptr, nmemb, size)) == NULL)
		fatal("%s: allocating %zu * %zu bytes", __func__, nmemb, size);
	return (p);
}

/* strdup, or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("%s", __func__);
	return (p);
}
