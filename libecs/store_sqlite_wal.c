/*
 * store_sqlite_wal.c: a VFS over SQLite's own that gathers the writes to a
 * WAL file and hands them to the kernel in one pwrite at the sync.
 *
 * SQLite writes each WAL frame as two pwrites, its 24-byte header and
 * then the page, so a commit of 17 pages (a produce batch of 16
 * messages) is 34 system calls, each touching two page-cache pages at
 * offsets that are not page aligned. Through this VFS the frames of a
 * commit are copied into one buffer as long as they follow each other,
 * and written at once when SQLite syncs the WAL.
 *
 * That is only right when every commit syncs the WAL before it is
 * published in the wal-index (synchronous = FULL: walFrames() calls xSync
 * before walIndexAppend()), so other connections never read a frame
 * that is still in the buffer; store_sqlite.c uses this VFS for its
 * writer's connection only in that mode. Within the connection, anything
 * but a write (a read, a truncation, the size, a file control, a close)
 * writes the buffer out first, so SQLite never sees the file out of step
 * with what it wrote. Files other than WAL files are SQLite's own: their
 * methods are not wrapped at all.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_sqlite_wal.h"

/*
 * The most one write hands down: SQLite's unix VFS writes at most
 * 0x1ffff bytes at a time (its own writes are a page at most), and takes
 * a longer one for a full disk.
 */
#define WB_CAP		(127 * 1024)

struct sq_walvfs {
	sqlite3_vfs	 wv_vfs;	/* first: what SQLite sees */
	sqlite3_vfs	*wv_real;
	char		 wv_name[64];
};

struct sq_walfile {
	sqlite3_file	 wf_base;	/* first: pMethods = walfile_methods */
	sqlite3_file	*wf_real;	/* after this, in the same block */
	unsigned char	*wf_buf;
	size_t		 wf_len;
	sqlite3_int64	 wf_off;	/* where wf_buf goes in the file */
};

/* Where the real file starts in a wrapped file's block. */
#define WF_REAL_OFF	((sizeof(struct sq_walfile) + 7) & ~(size_t)7)

#define WF(f)		((struct sq_walfile *)(void *)(f))
#define REAL(f)		(WF(f)->wf_real)

static int
wf_flush(sqlite3_file *f)
{
	struct sq_walfile	*wf = WF(f);
	int			 rc;

	if (wf->wf_len == 0)
		return SQLITE_OK;
	rc = REAL(f)->pMethods->xWrite(REAL(f), wf->wf_buf, (int)wf->wf_len,
	    wf->wf_off);
	wf->wf_len = 0;
	return rc;
}

static int
wf_close(sqlite3_file *f)
{
	struct sq_walfile	*wf = WF(f);
	int			 rc, rc2;

	rc = wf_flush(f);
	rc2 = REAL(f)->pMethods->xClose(REAL(f));
	free(wf->wf_buf);
	wf->wf_buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wf_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	int	 rc;

	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int
wf_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct sq_walfile	*wf = WF(f);
	int			 rc;

	if (n < 0)
		return SQLITE_IOERR_WRITE;
	if (wf->wf_len > 0 && off == wf->wf_off + (sqlite3_int64)wf->wf_len &&
	    wf->wf_len + (size_t)n <= WB_CAP) {
		memcpy(wf->wf_buf + wf->wf_len, p, (size_t)n);
		wf->wf_len += (size_t)n;
		return SQLITE_OK;
	}
	/* Not the next bytes, or no room: what is gathered goes first. */
	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	if ((size_t)n >= WB_CAP)
		return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
	if (wf->wf_buf == NULL && (wf->wf_buf = malloc(WB_CAP)) == NULL)
		return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
	memcpy(wf->wf_buf, p, (size_t)n);
	wf->wf_len = (size_t)n;
	wf->wf_off = off;
	return SQLITE_OK;
}

static int
wf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int	 rc;

	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
wf_sync(sqlite3_file *f, int flags)
{
	int	 rc;

	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
wf_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int	 rc;

	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
wf_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
wf_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
wf_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
wf_control(sqlite3_file *f, int op, void *arg)
{
	int	 rc;

	if ((rc = wf_flush(f)) != SQLITE_OK)
		return rc;
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
wf_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
wf_device(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

/* A WAL file has no shared memory or mapping of its own. */
static const sqlite3_io_methods walfile_methods = {
	.iVersion = 1,
	.xClose = wf_close,
	.xRead = wf_read,
	.xWrite = wf_write,
	.xTruncate = wf_truncate,
	.xSync = wf_sync,
	.xFileSize = wf_size,
	.xLock = wf_lock,
	.xUnlock = wf_unlock,
	.xCheckReservedLock = wf_reserved,
	.xFileControl = wf_control,
	.xSectorSize = wf_sector,
	.xDeviceCharacteristics = wf_device,
};

/*
 * A WAL file is wrapped: this VFS's part first, the real file after it.
 * Any other file is the real VFS's own, at the start of the block, with
 * the real methods.
 */
static int
wv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *outflags)
{
	sqlite3_vfs		*real = ((struct sq_walvfs *)vfs)->wv_real;
	struct sq_walfile	*wf = WF(f);
	int			 rc;

	if ((flags & SQLITE_OPEN_WAL) == 0)
		return real->xOpen(real, name, f, flags, outflags);
	memset(wf, 0, sizeof(*wf));
	wf->wf_real = (sqlite3_file *)(void *)((char *)f + WF_REAL_OFF);
	rc = real->xOpen(real, name, wf->wf_real, flags, outflags);
	if (wf->wf_real->pMethods != NULL)
		wf->wf_base.pMethods = &walfile_methods;
	return rc;
}

#define FWD(fn, ...)	(((struct sq_walvfs *)vfs)->wv_real->fn( \
	((struct sq_walvfs *)vfs)->wv_real, __VA_ARGS__))

static int
wv_delete(sqlite3_vfs *vfs, const char *name, int syncdir)
{
	return FWD(xDelete, name, syncdir);
}

static int
wv_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return FWD(xAccess, name, flags, out);
}

static int
wv_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return FWD(xFullPathname, name, n, out);
}

static void *
wv_dlopen(sqlite3_vfs *vfs, const char *name)
{
	return FWD(xDlOpen, name);
}

static void
wv_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	FWD(xDlError, n, msg);
}

static void
(*wv_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return FWD(xDlSym, h, sym);
}

static void
wv_dlclose(sqlite3_vfs *vfs, void *h)
{
	FWD(xDlClose, h);
}

static int
wv_random(sqlite3_vfs *vfs, int n, char *out)
{
	return FWD(xRandomness, n, out);
}

static int
wv_sleep(sqlite3_vfs *vfs, int us)
{
	return FWD(xSleep, us);
}

static int
wv_time(sqlite3_vfs *vfs, double *out)
{
	return FWD(xCurrentTime, out);
}

static int
wv_lasterror(sqlite3_vfs *vfs, int n, char *out)
{
	return FWD(xGetLastError, n, out);
}

static int
wv_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return FWD(xCurrentTimeInt64, out);
}

/*
 * Register a VFS over the default one, named uniquely for its owner, who
 * unregisters and frees it with sq_walvfs_free() once no connection
 * uses it. NULL when it cannot be made; the caller goes on without it.
 */
struct sq_walvfs *
sq_walvfs_new(void)
{
	struct sq_walvfs	*wv;
	sqlite3_vfs		*real, *v;

	if ((real = sqlite3_vfs_find(NULL)) == NULL || real->iVersion < 2)
		return NULL;
	if ((wv = calloc(1, sizeof(*wv))) == NULL)
		return NULL;
	wv->wv_real = real;
	snprintf(wv->wv_name, sizeof(wv->wv_name), "ecs-walbuf-%p", (void *)wv);
	v = &wv->wv_vfs;
	v->iVersion = 2;
	v->szOsFile = (int)WF_REAL_OFF + real->szOsFile;
	v->mxPathname = real->mxPathname;
	v->zName = wv->wv_name;
	v->xOpen = wv_open;
	v->xDelete = wv_delete;
	v->xAccess = wv_access;
	v->xFullPathname = wv_fullpath;
	v->xDlOpen = wv_dlopen;
	v->xDlError = wv_dlerror;
	v->xDlSym = wv_dlsym;
	v->xDlClose = wv_dlclose;
	v->xRandomness = wv_random;
	v->xSleep = wv_sleep;
	v->xCurrentTime = wv_time;
	v->xGetLastError = wv_lasterror;
	v->xCurrentTimeInt64 = wv_time64;
	if (sqlite3_vfs_register(v, 0) != SQLITE_OK) {
		free(wv);
		return NULL;
	}
	return wv;
}

const char *
sq_walvfs_name(const struct sq_walvfs *wv)
{
	return wv == NULL ? NULL : wv->wv_name;
}

void
sq_walvfs_free(struct sq_walvfs *wv)
{
	if (wv == NULL)
		return;
	sqlite3_vfs_unregister(&wv->wv_vfs);
	free(wv);
}
