/*
 * ipcfs: start-up, options, signals and the request loop.
 *
 * One thread serves every request.  A read or write that must wait is held
 * and answered later, so the loop never blocks on a client.
 */

#define _GNU_SOURCE		/* statx */
#define FUSE_USE_VERSION 312

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

/* Where fusermount3 looks for user_allow_other. */
#define FUSE_CONF	"/etc/fuse.conf"

/*
 * What main takes from the command line before libfuse parses it: the
 * positional arguments, [SOURCE] MOUNTPOINT, and whether allow_other (or
 * allow_root) was asked for.
 */
struct main_args {
	char		*pos[2];
	int		 npos;
	char		*extra;		/* a third positional argument */
	const char	*allow;		/* "allow_other" or "allow_root" */
	int		 default_permissions;
};

enum {
	KEY_ALLOW_OTHER,
	KEY_ALLOW_ROOT,
	KEY_DEFAULT_PERMISSIONS,
};

static const struct fuse_opt main_args_spec[] = {
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("allow_root", KEY_ALLOW_ROOT),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_END
};

static void
usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n\n"
	    "Every file below MOUNTPOINT is a channel: write() to it as to a\n"
	    "pipe, read() from it to wait for a peer's data.  SOURCE is what\n"
	    "mount(8) and fstab pass first (ipcfs, say): it names the mount in\n"
	    "/proc/mounts and is otherwise ignored.\n\n"
	    "ipcfs options:\n"
	    "    -o capacity=BYTES      stream buffer per channel"
	    " (default 64K, 4K..64M)\n"
	    "    -o framing=WORD        bytes (a stream) or messages"
	    " (default bytes)\n"
	    "    -o delivery=WORD       queue (one reader each) or broadcast"
	    " (default queue)\n"
	    "    -o max_channels=N      channels and directories at most"
	    " (default %d)\n"
	    "    -o max_memory=BYTES    all buffers, copies and regions together"
	    " (default 2G)\n"
	    "    -o max_region=BYTES    region (file size) per channel"
	    " (default 1G)\n"
	    "    -o region=MODE         how mmap maps the region: auto,"
	    " passthrough,\n"
	    "                           pagecache or off (default auto)\n"
	    "    -o spin=USEC           poll for the next request this long"
	    " before\n"
	    "                           sleeping, at most (default %d,"
	    " 0..%d, 0 off)\n"
	    "    -o nats=URL            bridge directories through this NATS"
	    " server\n"
	    "                           (JetStream); repeat for several\n"
	    "    -o nats_name=NAME      namespace on the NATS cluster"
	    " (default ipcfs)\n"
	    "    -o nats_host=ID        this host among the bridged ones"
	    " (default\n"
	    "                           hostname-pid)\n"
	    "    -o nats_timeout=S      a silent host stops counting after S"
	    " seconds\n"
	    "                           (default 5)\n"
	    "    -o nats_replicas=N     JetStream replicas of each stream"
	    " (default 1)\n"
	    "    -o bridge=PATH         make and bridge this directory at start"
	    " (repeat it)\n"
	    "    -o nats_user=NAME      log in to NATS as NAME, with the"
	    " password\n"
	    "    -o nats_password_file=FILE\n"
	    "                           on the first line of FILE\n"
	    "    -o nats_token_file=FILE\n"
	    "                           log in with the token on the first"
	    " line of FILE\n"
	    "    -o nats_creds=FILE     log in with a credentials file"
	    " (JWT, NKey seed)\n"
	    "    -o nats_nkey=FILE      log in with the NKey user seed in"
	    " FILE\n"
	    "    -o nats_ca=FILE        TLS, trusting the CA certificates"
	    " in FILE\n"
	    "    -o nats_cert=FILE      TLS, with this client certificate"
	    " and\n"
	    "    -o nats_key=FILE       its private key; a file with a secret"
	    " must be\n"
	    "                           yours or root's, and no one else's"
	    " to read\n"
	    "    -o allow_other         let other users in"
	    " (default_permissions is always\n"
	    "                           on); a user other than root needs"
	    " a line\n"
	    "                           user_allow_other in " FUSE_CONF "\n"
	    "Sizes take a K, M or G suffix.\n\n", prog, MAX_CHANNELS_DEFAULT,
	    SPIN_DEFAULT_US, SPIN_MAX_US);
}

static void
version(void)
{
	printf("ipcfs version %s\n", IPCFS_VERSION);
	printf("FUSE library version %s\n", fuse_pkgversion());
	fflush(stdout);
	fuse_lowlevel_version();
}

/*
 * libfuse's own messages follow ours, to stderr or syslog.  libfuse may
 * send one line in pieces; they are gathered until the newline.
 */
static void
main_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static char	 line[1024];
	static size_t	 len;
	char		 shown[1024];
	size_t		 n;

	vsnprintf(line + len, sizeof line - len, fmt, ap);
	n = strlen(line);
	if (n == 0 || (line[n - 1] != '\n' && n + 1 < sizeof line)) {
		len = n;
		return;
	}
	if (line[n - 1] == '\n')
		line[n - 1] = '\0';
	len = 0;
	/* An option libfuse does not know is echoed: not its password. */
	opts_redact(shown, sizeof shown, line);
	if (level <= FUSE_LOG_WARNING)
		log_warnx("%s", shown);
	else if (level == FUSE_LOG_DEBUG)
		log_debug("%s", shown);
	else
		log_info("%s", shown);
}

/*
 * Serve the kernel's INIT before going to the background, so a region mode
 * that cannot be had is reported on the terminal and in the exit status.
 */
static int
main_first_request(struct fuse_session *se)
{
	struct fuse_buf	 buf;
	int		 n;

	memset(&buf, 0, sizeof buf);
	if ((n = loop_next(&buf)) > 0)
		fuse_session_process_buf(se, &buf);
	free(buf.mem);
	return (n > 0 && !fs_failed() ? 0 : -1);
}

/*
 * Every region with contents, and every open channel in passthrough mode,
 * holds a memfd: allow as many descriptors as the hard limit does.
 */
static void
main_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("%s: setrlimit", __func__);
	}
}

/*
 * Under an address-space limit (ulimit -v), keep max_memory to half of
 * what the limit leaves: the stream buffers, copies of held writes and
 * read histories that max_memory bounds then never take the memory the
 * daemon's own bookkeeping and libfuse's buffers need, and a client that
 * fills them gets ENOSPC, not a daemon that cannot allocate.
 */
static void
main_cap_memory(struct opts *o)
{
	struct rlimit	 rl;
	unsigned long	 kib = 0;
	char		 line[256];
	size_t		 left, cap;
	FILE		*f;

	if (getrlimit(RLIMIT_AS, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return;
	if ((f = fopen("/proc/self/status", "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "VmSize: %lu", &kib) == 1)
				break;
		fclose(f);
	}
	left = rl.rlim_cur > kib * 1024 ? rl.rlim_cur - kib * 1024 : 0;
	cap = left / 2;
	if (cap < CAPACITY_MIN)
		cap = CAPACITY_MIN;
	if (o->max_memory <= cap)
		return;
	log_info("max_memory lowered to %zu: the address space limit leaves "
	    "%zu bytes", cap, left);
	o->max_memory = cap;
	if (o->max_region > cap)
		o->max_region = cap;
}

static int
main_args_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct main_args	*ma = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (ma->npos < 2) {
			if ((ma->pos[ma->npos++] = strdup(arg)) == NULL)
				return (-1);
		} else if (ma->extra == NULL) {
			if ((ma->extra = strdup(arg)) == NULL)
				return (-1);
		}
		return (0);
	case KEY_ALLOW_OTHER:
		ma->allow = "allow_other";
		return (1);
	case KEY_ALLOW_ROOT:
		ma->allow = "allow_root";
		return (1);
	case KEY_DEFAULT_PERMISSIONS:
		ma->default_permissions = 1;
		return (1);
	}
	return (1);
}

/*
 * Take the positional arguments out of args and put MOUNTPOINT back at
 * the end, for fuse_parse_cmdline: 'ipcfs MOUNTPOINT' as typed, and
 * 'ipcfs SOURCE MOUNTPOINT -o OPTIONS' as mount.fuse3 runs it for mount(8),
 * fstab and systemd.  Returns 0, or -1 with a line on stderr.
 */
static int
main_args(struct fuse_args *args, struct main_args *ma)
{
	char	 q[128], *mp, *dot;
	size_t	 i;

	memset(ma, 0, sizeof *ma);
	if (fuse_opt_parse(args, ma, main_args_spec, main_args_proc) != 0)
		return (-1);
	if (ma->extra != NULL) {
		for (i = 0; ma->extra[i] != '\0' && i + 1 < sizeof q; i++)
			q[i] = isprint((unsigned char)ma->extra[i]) ?
			    ma->extra[i] : '?';
		q[i] = '\0';
		fprintf(stderr, "ipcfs: '%s': one argument too many: "
		    "[SOURCE] MOUNTPOINT (see --help)\n", q);
		return (-1);
	}
	if (ma->npos == 0)
		return (0);
	mp = ma->pos[ma->npos - 1];
	/* A mountpoint that starts with '-' must not look like an option. */
	if (mp[0] == '-') {
		if ((dot = malloc(strlen(mp) + 3)) == NULL)
			return (-1);
		snprintf(dot, strlen(mp) + 3, "./%s", mp);
		free(mp);
		ma->pos[ma->npos - 1] = mp = dot;
	}
	return (fuse_opt_add_arg(args, mp));
}

/*
 * Name the mount after SOURCE, as other file systems do, so that mount -a
 * finds the fstab line mounted already and umount SOURCE works.  Commas
 * and backslashes are escaped for libfuse's option parser.
 */
static int
main_fsname(struct fuse_args *args, const char *given)
{
	const char	*p, *source;
	char		*opt, *o, shown[1024];
	int		 r;

	/* A URL with a password there would be in /proc/mounts. */
	source = opts_redact(shown, sizeof shown, given);
	if ((opt = malloc(strlen("-ofsname=") + 2 * strlen(source) + 1)) ==
	    NULL)
		return (-1);
	o = opt + sprintf(opt, "-ofsname=");
	for (p = source; *p != '\0'; p++) {
		if (*p == ',' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o = '\0';
	r = fuse_opt_add_arg(args, opt);
	free(opt);
	return (r);
}

/*
 * True if fusermount3 would let this user mount with allow_other: root
 * always may, another user only with a line user_allow_other in
 * /etc/fuse.conf, read as fusermount3 reads it ('#' starts a comment,
 * blanks around are ignored).  A file this user cannot read is left for
 * fusermount3, which runs as root, to judge.
 */
static int
main_user_allow_other(void)
{
	char	*line = NULL, *s, *e;
	size_t	 cap = 0;
	int	 yes = 0;
	FILE	*f;

	if (getuid() == 0)
		return (1);
	if ((f = fopen(FUSE_CONF, "r")) == NULL)
		return (errno != ENOENT);
	while (!yes && getline(&line, &cap, f) != -1) {
		if ((s = strchr(line, '#')) != NULL)
			*s = '\0';
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (e = s + strlen(s); e > s &&
		    isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		yes = strcmp(s, "user_allow_other") == 0;
	}
	free(line);
	fclose(f);
	return (yes);
}

/*
 * True if path is /dev/fd/N: mount.fuse3 -o drop_privileges has mounted
 * already and passes the /dev/fuse descriptor, as libfuse reads it.
 */
static int
main_fd_mountpoint(const char *path)
{
	unsigned	 fd;
	int		 len = -1;

	return (sscanf(path, "/dev/fd/%u%n", &fd, &len) == 1 &&
	    len == (int)strlen(path));
}

/* Undo the octal escapes (\040) of a path in /proc/self/mountinfo. */
static void
main_unescape(char *s)
{
	char	*o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
			    (s[3] - '0'));
			s += 4;
		} else
			*o++ = *s++;
	}
	*o = '\0';
}

/*
 * True if the file system users see on path is an ipcfs mounted there:
 * mounting another on it would hide its channels from every program that
 * opens a name from then on.  That is the mount path resolves to, by
 * statx's mount id, not the last line for path in mountinfo: the kernel
 * lists mounts in the order they were made, mount --move puts an older one
 * on top of a newer one, and a mount on a parent hides those below it.
 * Kernels before 5.8 have no mount id: the last line it is, there.
 */
static int
main_ipcfs_on(const char *path)
{
	char			 real[PATH_MAX], *line = NULL, *f[10], *p;
	char			*dash, *end;
	struct statx		 stx;
	unsigned long long	 id;
	size_t			 cap = 0;
	int			 n, byid, found = 0;
	FILE			*fp;

	if (realpath(path, real) == NULL ||
	    (fp = fopen("/proc/self/mountinfo", "r")) == NULL)
		return (0);
	byid = statx(AT_FDCWD, real, 0, STATX_MNT_ID, &stx) == 0 &&
	    (stx.stx_mask & STATX_MNT_ID);
	while (getline(&line, &cap, fp) != -1) {
		/* ID PARENT MAJ:MIN ROOT POINT OPTIONS ... - TYPE SOURCE */
		if ((dash = strstr(line, " - ")) == NULL)
			continue;
		*dash = '\0';
		p = line;
		for (n = 0; n < 5 && (f[n] = strsep(&p, " ")) != NULL; n++)
			;
		if (n < 5)
			continue;
		if (byid) {
			errno = 0;
			id = strtoull(f[0], &end, 10);
			if (errno != 0 || *end != '\0' || id != stx.stx_mnt_id)
				continue;
		}
		main_unescape(f[4]);
		if (strcmp(f[4], real) != 0) {
			if (byid)
				break;	/* inside that mount, not on top */
			continue;
		}
		p = dash + 3;
		f[5] = strsep(&p, " ");
		found = f[5] != NULL && strcmp(f[5], "fuse.ipcfs") == 0;
		if (byid)
			break;
	}
	free(line);
	fclose(fp);
	return (found);
}

/* Refuse a mountpoint that cannot work, with one line saying why. */
static int
main_check_mountpoint(const char *path, const struct main_args *ma)
{
	struct statvfs	 sv;
	struct stat	 st;

	/*
	 * The mount was made with the options ipcfs was given, without the
	 * default_permissions ipcfs adds: only with it does the kernel
	 * check modes and owners, which ipcfs relies on.
	 */
	if (main_fd_mountpoint(path)) {
		if (ma->default_permissions)
			return (0);
		fprintf(stderr, "ipcfs: %s: mounted by mount.fuse3 "
		    "(drop_privileges) without default_permissions; unmount "
		    "it and add default_permissions to the options\n", path);
		return (-1);
	}

	/*
	 * statvfs always asks the file system, where stat may be answered
	 * from the kernel's cache: it is what finds a dead daemon's mount.
	 */
	if (statvfs(path, &sv) == -1 || stat(path, &st) == -1) {
		if (errno == ENOTCONN)
			fprintf(stderr, "ipcfs: %s: a dead ipcfs is still "
			    "mounted here; run 'fusermount3 -u %s' first\n",
			    path, path);
		else
			fprintf(stderr, "ipcfs: %s: %s\n", path,
			    strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ipcfs: %s: not a directory\n", path);
		return (-1);
	}
	if (main_ipcfs_on(path)) {
		fprintf(stderr, "ipcfs: %s: an ipcfs already serves it; run "
		    "'fusermount3 -u %s' first, or mount on another "
		    "directory\n", path, path);
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct fuse_args		 args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts	 copts;
	struct fuse_session		*se;
	struct main_args		 ma;
	struct opts			 o;
	char				 err[256];
	int				 ret = 1, i;

	memset(&copts, 0, sizeof copts);
	memset(&ma, 0, sizeof ma);
	fuse_set_log_func(main_fuse_log);
	if (opts_parse(&args, &o, err, sizeof err) != 0) {
		fprintf(stderr, "ipcfs: %s\n", err);
		goto out;
	}
	/*
	 * args holds copies now: what ps shows of the command line loses
	 * the passwords and tokens of nats= URLs.
	 */
	for (i = 1; i < argc; i++)
		opts_scrub(argv[i]);
	if (main_args(&args, &ma) != 0 ||
	    fuse_parse_cmdline(&args, &copts) != 0)
		goto out;
	if (copts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (copts.show_version) {
		version();
		ret = 0;
		goto out;
	}
	if (copts.mountpoint == NULL) {
		fprintf(stderr, "ipcfs: no mountpoint given (see --help)\n");
		goto out;
	}
	if (ma.allow != NULL && !main_user_allow_other()) {
		fprintf(stderr, "ipcfs: %s: only root may use it, unless "
		    FUSE_CONF " has a line user_allow_other\n", ma.allow);
		goto out;
	}
	if (main_check_mountpoint(copts.mountpoint, &ma) != 0 ||
	    bridge_check(&o) != 0)
		goto out;

	/* Mode bits are the kernel's to enforce, always. */
	fuse_opt_add_arg(&args, "-odefault_permissions,fsname=ipcfs,"
	    "subtype=ipcfs");
	if (ma.npos == 2 && main_fsname(&args, ma.pos[0]) != 0)
		goto out;
	log_init(1, copts.debug);

	main_cap_memory(&o);
	if ((se = fs_new(&args, &o)) == NULL)
		goto out;
	/*
	 * libfuse only takes over signals left at their default, and a
	 * daemon started in the background by a shell inherits SIGINT
	 * ignored: SIGINT, SIGTERM and SIGHUP must always stop it cleanly.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, copts.mountpoint) != 0)
		goto out_signals;
	if (kfeat_install(se, o.region) != 0 ||
	    loop_init(se, o.spin_us) != 0) {
		log_warnx("cannot hook /dev/fuse");
		goto out_unmount;
	}
	main_raise_nofile();
	if (main_first_request(se) != 0)
		goto out_unmount;
	if (fuse_daemonize(copts.foreground) != 0)
		goto out_unmount;
	log_init(copts.foreground, copts.debug);
	/* After the fork: libnats runs threads of its own. */
	if (bridge_start(fs_pool(), &o) != 0)
		goto out_unmount;	/* it said why */
	log_info("mounted on %s: region mode %s, capacity %zu, "
	    "max_channels %llu, max_memory %zu, max_region %zu, spin %llu us%s",
	    copts.mountpoint, opts_region_name(kfeat_mode()), o.capacity,
	    (unsigned long long)o.max_channels, o.max_memory, o.max_region,
	    (unsigned long long)loop_spin_us(),
	    loop_spin_us() != o.spin_us ? " (one CPU: no polling)" : "");

	/* The loop (loop.c): until a signal or the unmount ends it. */
	ret = loop_run() != 0 || fs_failed() ? 1 : 0;

	/* Nobody stays blocked on a daemon that is going away. */
	fs_shutdown(ENOTCONN);
	bridge_stop();
	log_info("unmounting %s", copts.mountpoint);
out_unmount:
	bridge_stop();
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	/* Only the loop holds requests, and it answered them above. */
	fs_free();
	fuse_session_destroy(se);
out:
	free(ma.pos[0]);
	free(ma.pos[1]);
	free(ma.extra);
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	return (ret);
}
