/*
 * The parts of the daemon that speak FUSE: fs.c (the operations table) and
 * kfeat.c (kernel features libfuse 3.14 cannot ask for).  Kept apart from
 * ipcfs.h so the pure modules never see a FUSE header.
 */

#ifndef FS_H
#define FS_H

struct fuse_args;
struct fuse_session;

/* fs.c */
struct fuse_session *fs_new(struct fuse_args *, const struct opts *);
void	 fs_shutdown(int);

/* kfeat.c */
int	 kfeat_install(struct fuse_session *);

#endif /* FS_H */
