/*
 * store_sqlite.c: the SQLite driver under store.c (store_db.h). The only
 * file that includes sqlite3.h: it opens the database (WAL, durability,
 * foreign keys), creates and migrates the schema by user_version, runs
 * statements and moves WAL checkpoints to a thread of their own.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <sqlite3.h>

#include "store.h"
#include "store_db.h"
#include "store_sqlite_wal.h"
#include "util.h"

#define SCHEMA_VERSION	4

/*
 * The checkpointer: a thread with its own connection that copies the WAL
 * into the database every CKPT_MS (PASSIVE: it never blocks the writer),
 * so that the event loop's commits never run a checkpoint themselves.
 */
#define CKPT_MS		200
#define CKPT_RESTART	8192	/* WAL frames: then wrap the WAL */
#define BUSY_MS		5000	/* the loop's longest wait for a lock */
#define CKPT_BUSY_MS	1000	/* the checkpointer's */
#define BUSY_STEP_NS	100000	/* looking again every 0.1 ms */

/* A connection's wait for a lock (sq_busy). */
struct busy {
	int64_t		 bz_end;	/* ms: when the wait ends */
	int		 bz_ms;		/* how long a wait may be */
};

struct ckpt {
	struct busy	 ck_busy;
	pthread_t	 ck_thread;
	pthread_mutex_t	 ck_lock;
	pthread_cond_t	 ck_cond;
	int		 ck_stop;
	int		 ck_running;
	sqlite3		*ck_db;
	uint64_t	 ck_runs;
};

struct sqlite_db {
	struct db	 sd_db;		/* first: the driver's view */
	sqlite3		*sd_h;
	sqlite3_stmt	*sd_begin;
	int		 sd_rc;		/* the last failure */
	struct ckpt	 sd_ckpt;
	struct busy	 sd_busy;
	struct sq_walvfs *sd_vfs;	/* the writer's WAL in one write */
};

/*
 * "INSERT ... RETURNING id" costs SQLite an ephemeral table on every run:
 * such a statement is prepared without the clause, and its one row is
 * the connection's last rowid.
 */
#define RETURNING_ID	" RETURNING id"

struct sqlite_st {
	struct dbst	 ss_st;		/* first */
	sqlite3_stmt	*ss_h;
	int		 ss_rowid;	/* RETURNING id from the rowid */
	int		 ss_state;	/* 0 not run, 1 row, 2 done */
	int64_t		 ss_id;
};

#define SDB(d)	((struct sqlite_db *)(void *)(d))
#define SST(q)	((struct sqlite_st *)(void *)(q))

static void	 sq_close(struct db *);

/*
 * The busy handler of both connections. While the checkpointer wraps the
 * WAL (a RESTART checkpoint) the loop's writer must wait, and while it
 * waits for the loop's batch to end it holds new writers back already;
 * sqlite3_busy_timeout() would sleep 1, 2, 5, 10, 15 ms and on, so a wait
 * of 3 ms stalled the loop, and every client, for 8 ms or more (wrk's
 * mixed c16 had a p99 of 10-80 ms, BENCHMARKS.md). Looking again every
 * 0.1 ms ends each wait as soon as the lock is free, within the same
 * bounds as before.
 */
static int
sq_busy(void *arg, int n)
{
	struct busy	*bz = arg;
	struct timespec	 ts;
	int64_t		 now = util_now_ms();

	if (n == 0)
		bz->bz_end = now + bz->bz_ms;
	else if (now >= bz->bz_end)
		return 0;
	ts.tv_sec = 0;
	ts.tv_nsec = BUSY_STEP_NS;
	nanosleep(&ts, NULL);
	return 1;
}

static enum ecs_err
sql_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return ECS_EEXIST;
	case SQLITE_NOMEM:
		return ECS_ENOMEM;
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
		return ECS_EFULL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ECS_EBUSY;
	default:
		return ECS_ESTORE;
	}
}

static enum ecs_err
sq_exec(struct db *d, const char *sql)
{
	struct sqlite_db	*sd = SDB(d);
	int			 rc;

	rc = sqlite3_exec(sd->sd_h, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return ECS_OK;
	sd->sd_rc = rc;
	return sql_err(rc);
}

/* PRAGMA user_version, or -1. */
static int64_t
user_version(struct sqlite_db *sd)
{
	sqlite3_stmt	*stmt;
	int64_t		 v = -1;

	if (sqlite3_prepare_v2(sd->sd_h, "PRAGMA user_version", -1, &stmt,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Whether PRAGMA foreign_key_check finds a row that breaks one, or fails. */
static int
foreign_keys_broken(struct sqlite_db *sd)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((rc = sqlite3_prepare_v2(sd->sd_h, "PRAGMA foreign_key_check", -1,
	    &stmt, NULL)) != SQLITE_OK) {
		sd->sd_rc = rc;
		return 1;
	}
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	sd->sd_rc = rc == SQLITE_ROW ? SQLITE_CONSTRAINT_FOREIGNKEY : rc;
	return 1;
}

static enum ecs_err
sq_open(const char *path, int durable, struct db **out,
    struct ecs_error *err)
{
	struct sqlite_db	*sd;
	struct db		*d;
	int64_t			 version;
	enum ecs_err		 e;

	if ((sd = calloc(1, sizeof(*sd))) == NULL)
		return ECS_ENOMEM;
	d = &sd->sd_db;
	d->db_drv = &db_sqlite;
	/*
	 * SQLite's memory statistics take a mutex around every allocation;
	 * nothing here reads them. Only possible before SQLite initialises,
	 * so a second open is told SQLITE_MISUSE, which changes nothing.
	 */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/*
	 * Durable, every commit syncs the WAL, and the writer's frames can
	 * wait for that sync to be written in one go (store_sqlite_wal.c).
	 */
	if (durable)
		sd->sd_vfs = sq_walvfs_new();
	if (sqlite3_open_v2(path, &sd->sd_h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    sq_walvfs_name(sd->sd_vfs)) != SQLITE_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    sd->sd_h ? sqlite3_errmsg(sd->sd_h) : "cannot open");
		e = ECS_ESTORE;
		goto fail;
	}
	sd->sd_busy.bz_ms = BUSY_MS;
	sqlite3_busy_handler(sd->sd_h, sq_busy, &sd->sd_busy);
	sqlite3_extended_result_codes(sd->sd_h, 1);
	if (sq_exec(d, "PRAGMA journal_mode = WAL") != ECS_OK ||
	    sq_exec(d, "PRAGMA journal_size_limit = 67108864") != ECS_OK ||
	    sq_exec(d, durable ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL") != ECS_OK ||
	    (version = user_version(sd)) < 0) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    sqlite3_errmsg(sd->sd_h));
		e = ECS_ESTORE;
		goto fail;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(err->e_msg, sizeof(err->e_msg),
		    "%s: schema version %" PRId64 " is newer than this ecsd "
		    "(%d)", path, version, SCHEMA_VERSION);
		e = ECS_ESTORE;
		goto fail;
	}
	/*
	 * The base schema, then each migration, each in one transaction,
	 * with foreign keys off (a migration may make a table anew, which
	 * must not delete what refers to the old one) and checked before
	 * the commit.
	 */
	while (version < SCHEMA_VERSION) {
		char	 pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
		    (int)version + 1);
		if (sq_exec(d, "BEGIN IMMEDIATE") != ECS_OK ||
		    sq_exec(d, version == 0 ? store_schema_sql :
		    store_migrations[version - 1]) != ECS_OK ||
		    sq_exec(d, pragma) != ECS_OK ||
		    foreign_keys_broken(sd) ||
		    sq_exec(d, "COMMIT") != ECS_OK) {
			snprintf(err->e_msg, sizeof(err->e_msg),
			    "%s: applying schema version %d: %s", path,
			    (int)version + 1, sd->sd_rc ==
			    SQLITE_CONSTRAINT_FOREIGNKEY ? "foreign key check "
			    "failed" : sqlite3_errmsg(sd->sd_h));
			sq_exec(d, "ROLLBACK");
			e = ECS_ESTORE;
			goto fail;
		}
		version++;
	}
	if (sq_exec(d, "PRAGMA foreign_keys = ON") != ECS_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    sqlite3_errmsg(sd->sd_h));
		e = ECS_ESTORE;
		goto fail;
	}
	*out = d;
	return ECS_OK;
fail:
	sq_close(d);
	return e;
}

static void
ckpt_stop(struct ckpt *ck)
{
	if (!ck->ck_running)
		return;
	pthread_mutex_lock(&ck->ck_lock);
	ck->ck_stop = 1;
	pthread_cond_signal(&ck->ck_cond);
	pthread_mutex_unlock(&ck->ck_lock);
	pthread_join(ck->ck_thread, NULL);
	pthread_cond_destroy(&ck->ck_cond);
	pthread_mutex_destroy(&ck->ck_lock);
	sqlite3_close(ck->ck_db);
	ck->ck_db = NULL;
	ck->ck_running = 0;
}

static void
sq_close(struct db *d)
{
	struct sqlite_db	*sd = SDB(d);

	if (sd == NULL)
		return;
	ckpt_stop(&sd->sd_ckpt);
	sqlite3_finalize(sd->sd_begin);
	/* The VFS goes only with the last connection that used it. */
	if (sqlite3_close(sd->sd_h) == SQLITE_OK)
		sq_walvfs_free(sd->sd_vfs);
	free(sd);
}

static struct dbst *
sq_prepare(struct db *d, const char *sql)
{
	struct sqlite_db	*sd = SDB(d);
	struct sqlite_st	*ss;
	size_t			 len, rlen = strlen(RETURNING_ID);
	int			 rc;

	len = strlen(sql);
	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		sd->sd_rc = SQLITE_NOMEM;
		return NULL;
	}
	if (strncmp(sql, "INSERT ", 7) == 0 && len > rlen &&
	    strcmp(sql + len - rlen, RETURNING_ID) == 0) {
		ss->ss_rowid = 1;
		len -= rlen;
	}
	rc = sqlite3_prepare_v3(sd->sd_h, sql, (int)len,
	    SQLITE_PREPARE_PERSISTENT, &ss->ss_h, NULL);
	if (rc != SQLITE_OK) {
		sd->sd_rc = rc;
		free(ss);
		return NULL;
	}
	ss->ss_st.ds_db = d;
	return &ss->ss_st;
}

static void
sq_finalize(struct dbst *q)
{
	if (q == NULL)
		return;
	sqlite3_finalize(SST(q)->ss_h);
	free(SST(q));
}

static void
sq_reset(struct dbst *q)
{
	SST(q)->ss_state = 0;
	sqlite3_reset(SST(q)->ss_h);
	sqlite3_clear_bindings(SST(q)->ss_h);
}

static void
sq_bind_int64(struct dbst *q, int i, int64_t v)
{
	sqlite3_bind_int64(SST(q)->ss_h, i, v);
}

static void
sq_bind_text(struct dbst *q, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(SST(q)->ss_h, i);
	else
		sqlite3_bind_text(SST(q)->ss_h, i, v, -1, SQLITE_TRANSIENT);
}

static void
sq_bind_blob(struct dbst *q, int i, const void *v, size_t len)
{
	if (v == NULL)
		sqlite3_bind_null(SST(q)->ss_h, i);
	else
		sqlite3_bind_blob64(SST(q)->ss_h, i, v, len,
		    SQLITE_TRANSIENT);
}

static int
sq_step(struct dbst *q)
{
	struct sqlite_st	*ss = SST(q);
	sqlite3			*h = SDB(q->ds_db)->sd_h;
	int			 rc;

	if (ss->ss_rowid && ss->ss_state > 0) {
		ss->ss_state = 2;
		return DB_DONE;
	}
	rc = sqlite3_step(ss->ss_h);
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE) {
		/* No row when ON CONFLICT DO NOTHING inserted nothing. */
		if (!ss->ss_rowid || sqlite3_changes(h) == 0)
			return DB_DONE;
		ss->ss_id = sqlite3_last_insert_rowid(h);
		ss->ss_state = 1;
		return DB_ROW;
	}
	SDB(q->ds_db)->sd_rc = rc;
	return DB_ERROR;
}

static int
sq_column_null(struct dbst *q, int i)
{
	if (SST(q)->ss_rowid)
		return 0;
	return sqlite3_column_type(SST(q)->ss_h, i) == SQLITE_NULL;
}

static int64_t
sq_column_int64(struct dbst *q, int i)
{
	if (SST(q)->ss_rowid)
		return SST(q)->ss_id;
	return sqlite3_column_int64(SST(q)->ss_h, i);
}

static const char *
sq_column_text(struct dbst *q, int i)
{
	return (const char *)sqlite3_column_text(SST(q)->ss_h, i);
}

static const void *
sq_column_blob(struct dbst *q, int i)
{
	return sqlite3_column_blob(SST(q)->ss_h, i);
}

static size_t
sq_column_bytes(struct dbst *q, int i)
{
	return (size_t)sqlite3_column_bytes(SST(q)->ss_h, i);
}

static int64_t
sq_changes(struct db *d)
{
	return sqlite3_changes(SDB(d)->sd_h);
}

static enum ecs_err
sq_begin(struct db *d)
{
	struct sqlite_db	*sd = SDB(d);
	int			 rc;

	if (sd->sd_begin == NULL && (rc = sqlite3_prepare_v3(sd->sd_h,
	    "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &sd->sd_begin,
	    NULL)) != SQLITE_OK) {
		sd->sd_rc = rc;
		return sql_err(rc);
	}
	rc = sqlite3_step(sd->sd_begin);
	sqlite3_reset(sd->sd_begin);
	if (rc == SQLITE_DONE)
		return ECS_OK;
	sd->sd_rc = rc;
	return sql_err(rc);
}

static enum ecs_err
sq_error(struct db *d)
{
	return sql_err(SDB(d)->sd_rc);
}

static const char *
sq_errmsg(struct db *d)
{
	return sqlite3_errmsg(SDB(d)->sd_h);
}

static int
sq_in_tx(struct db *d)
{
	return sqlite3_get_autocommit(SDB(d)->sd_h) == 0;
}

static enum ecs_err
sq_integrity_check(struct db *d)
{
	sqlite3_stmt	*stmt;
	const char	*t;
	enum ecs_err	 e = ECS_ESTORE;

	if (sqlite3_prepare_v2(SDB(d)->sd_h, "PRAGMA integrity_check", -1,
	    &stmt, NULL) != SQLITE_OK)
		return ECS_ESTORE;
	if (sqlite3_step(stmt) == SQLITE_ROW &&
	    (t = (const char *)sqlite3_column_text(stmt, 0)) != NULL &&
	    strcmp(t, "ok") == 0)
		e = ECS_OK;
	sqlite3_finalize(stmt);
	return e;
}

static void *
ckpt_main(void *arg)
{
	struct ckpt	*ck = arg;
	struct timespec	 ts;
	int		 logf, done;

	pthread_mutex_lock(&ck->ck_lock);
	while (!ck->ck_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += CKPT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ck->ck_cond, &ck->ck_lock, &ts);
		if (ck->ck_stop)
			break;
		pthread_mutex_unlock(&ck->ck_lock);
		logf = done = 0;
		sqlite3_wal_checkpoint_v2(ck->ck_db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &logf, &done);
		/*
		 * Under steady writes a passive checkpoint never finds the
		 * WAL idle, and the WAL would only grow. Past CKPT_RESTART
		 * frames, a RESTART checkpoint (the passive one did most of
		 * the copying) makes the next writer start the WAL over; it
		 * holds new writers back only for what is left to copy.
		 */
		if (logf > CKPT_RESTART)
			sqlite3_wal_checkpoint_v2(ck->ck_db, NULL,
			    SQLITE_CHECKPOINT_RESTART, &logf, &done);
		pthread_mutex_lock(&ck->ck_lock);
		ck->ck_runs++;
	}
	pthread_mutex_unlock(&ck->ck_lock);
	return NULL;
}

/* Move WAL checkpoints off the caller's thread. */
static enum ecs_err
sq_background(struct db *d, const char *path)
{
	struct sqlite_db	*sd = SDB(d);
	struct ckpt		*ck = &sd->sd_ckpt;

	if (ck->ck_running)
		return ECS_OK;
	if (sqlite3_open_v2(path, &ck->ck_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	ck->ck_busy.bz_ms = CKPT_BUSY_MS;
	sqlite3_busy_handler(ck->ck_db, sq_busy, &ck->ck_busy);
	/*
	 * A connection that never read the database does not know it is in
	 * WAL mode, and its checkpoints do nothing: read once first.
	 */
	if (sqlite3_exec(ck->ck_db, "SELECT count(*) FROM sqlite_master",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	/* The loop's connection no longer checkpoints by itself. */
	if (sq_exec(d, "PRAGMA wal_autocheckpoint = 0") != ECS_OK ||
	    pthread_mutex_init(&ck->ck_lock, NULL) != 0)
		goto fail;
	pthread_cond_init(&ck->ck_cond, NULL);
	if (pthread_create(&ck->ck_thread, NULL, ckpt_main, ck) != 0) {
		pthread_cond_destroy(&ck->ck_cond);
		pthread_mutex_destroy(&ck->ck_lock);
		sq_exec(d, "PRAGMA wal_autocheckpoint = 1000");
		goto fail;
	}
	ck->ck_running = 1;
	return ECS_OK;
fail:
	sqlite3_close(ck->ck_db);
	ck->ck_db = NULL;
	return ECS_ESTORE;
}

/* AUTOINCREMENT already continues past ids inserted explicitly. */
static enum ecs_err
sq_sync_ids(struct db *d)
{
	(void)d;
	return ECS_OK;
}

const struct db_driver db_sqlite = {
	.d_name = "sqlite",
	.d_blind_writes = 0,
	.d_share_refs = NULL,	/* foreign keys; one writer */
	.d_lock_refs = NULL,
	.d_open = sq_open,
	.d_close = sq_close,
	.d_prepare = sq_prepare,
	.d_finalize = sq_finalize,
	.d_reset = sq_reset,
	.d_bind_int64 = sq_bind_int64,
	.d_bind_text = sq_bind_text,
	.d_bind_blob = sq_bind_blob,
	.d_step = sq_step,
	.d_column_null = sq_column_null,
	.d_column_int64 = sq_column_int64,
	.d_column_text = sq_column_text,
	.d_column_blob = sq_column_blob,
	.d_column_bytes = sq_column_bytes,
	.d_changes = sq_changes,
	.d_exec = sq_exec,
	.d_begin = sq_begin,
	.d_error = sq_error,
	.d_errmsg = sq_errmsg,
	.d_in_tx = sq_in_tx,
	.d_integrity_check = sq_integrity_check,
	.d_background = sq_background,
	.d_notify = NULL,
	.d_notify_fd = NULL,
	.d_notify_read = NULL,
	.d_sync_ids = sq_sync_ids,
};
