/*
 * store_sqlite_wal.h: a VFS that writes a commit's WAL frames in one go
 * (store_sqlite_wal.c).
 */
#ifndef STORE_SQLITE_WAL_H
#define STORE_SQLITE_WAL_H

struct sq_walvfs;

struct sq_walvfs	*sq_walvfs_new(void);
const char		*sq_walvfs_name(const struct sq_walvfs *);
void			 sq_walvfs_free(struct sq_walvfs *);

#endif /* STORE_SQLITE_WAL_H */
