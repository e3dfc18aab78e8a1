/*
 * The parts of the daemon that speak FUSE: fs.c (the operations table) and
 * kfeat.c (kernel features libfuse 3.14 cannot ask for).  Kept apart from
 * ipcfs.h so the pure modules never see a FUSE header.
 */

#ifndef FS_H
#define FS_H

#include <fuse_lowlevel.h>

/* fs.c */
struct fuse_session *fs_new(struct fuse_args *, const struct opts *);
void	 fs_shutdown(int);
void	 fs_free(void);
int	 fs_failed(void);
struct chan_pool *fs_pool(void);
void	 fs_open_reply(fuse_req_t, struct fuse_file_info *, int);
void	 fs_setting_reply(fuse_req_t, struct node *, int);
void	 fs_attrs_changed(struct node *, struct knode *);

/* loop.c */
int	 loop_init(struct fuse_session *, uint64_t);
int	 loop_next(struct fuse_buf *);
int	 loop_run(void);
void	*loop_adopt(const void *, size_t, size_t *);
uint64_t loop_spin_us(void);
void	 loop_spin_stats(uint64_t *, uint64_t *, uint64_t *);

/* kfeat.c */

/* How the kernel opens a channel (kfeat_open_kind, kfeat_open_reply). */
#define KF_STREAM	1	/* no file position: FOPEN_STREAM */
#define KF_SEEK		2	/* a position, and no mapping */
#define KF_MAP		3	/* a position; mmap() maps the region */

int	 kfeat_install(struct fuse_session *, enum region_mode);
int	 kfeat_init(struct fuse_conn_info *);
int	 kfeat_want(struct fuse_conn_info *, uint64_t);
void	 kfeat_unwant(struct fuse_conn_info *, uint64_t);
int	 kfeat_refuse_uring(const struct fuse_args *);
enum region_mode kfeat_mode(void);
int	 kfeat_epoch(void);
int	 kfeat_inc_epoch(void);
int	 kfeat_backing_open(fuse_req_t, int);
void	 kfeat_backing_close(int);
int	 kfeat_open_kind(int);
void	 kfeat_open_reply(struct fuse_file_info *, int, int);
int	 kfeat_write_kill_suidgid(void);

#endif /* FS_H */
