/*
 * store_sqlite.c: the storage interface on SQLite. The only file that
 * includes sqlite3.h and the only place with SQL.
 *
 * Statements are prepared once per store handle and kept in a small cache
 * keyed by the address of their SQL text (always a string literal here).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <sqlite3.h>

#include "store.h"
#include "util.h"

#define STMT_CACHE	256
#define SCHEMA_VERSION	2

struct stmt_slot {
	const char	*ss_sql;
	sqlite3_stmt	*ss_stmt;
};

/*
 * The checkpointer: a thread with its own connection that copies the WAL
 * into the database every CKPT_MS (PASSIVE: it never blocks the writer),
 * so that the event loop's commits never run a checkpoint themselves.
 */
#define CKPT_MS		200
#define CKPT_RESTART	8192	/* WAL frames: then wrap the WAL */

struct ckpt {
	pthread_t	 ck_thread;
	pthread_mutex_t	 ck_lock;
	pthread_cond_t	 ck_cond;
	int		 ck_stop;
	int		 ck_running;
	sqlite3		*ck_db;
	uint64_t	 ck_runs;
};

struct store {
	sqlite3			*st_db;
	struct ckpt		 st_ckpt;
	int			 st_tx;		/* a batch transaction is open */
	int			 st_sp;		/* savepoint depth */
	struct ivec		 st_new_mids;
	struct ivec		 st_event_pids;	/* got events in this batch */
	uint64_t		 st_gen;	/* bumped by every change that
						   cached lookups depend on */
	struct stmt_slot	 st_cache[STMT_CACHE];
};

/* --- vectors ------------------------------------------------------------ */

void
ivec_free(struct ivec *v)
{
	free(v->iv_v);
	memset(v, 0, sizeof(*v));
}

enum ecs_err
ivec_push(struct ivec *v, int64_t x)
{
	int64_t	*p;
	size_t	 ncap;

	if (v->iv_n == v->iv_cap) {
		ncap = v->iv_cap ? v->iv_cap * 2 : 16;
		p = reallocarray(v->iv_v, ncap, sizeof(*p));
		if (p == NULL)
			return ECS_ENOMEM;
		v->iv_v = p;
		v->iv_cap = ncap;
	}
	v->iv_v[v->iv_n++] = x;
	return ECS_OK;
}

int
ivec_has(const struct ivec *v, int64_t x)
{
	size_t	 i;

	for (i = 0; i < v->iv_n; i++)
		if (v->iv_v[i] == x)
			return 1;
	return 0;
}

enum ecs_err
ivec_push_unique(struct ivec *v, int64_t x)
{
	if (ivec_has(v, x))
		return ECS_OK;
	return ivec_push(v, x);
}

void
linkv_free(struct ecs_linkv *v)
{
	free(v->lv_v);
	v->lv_v = NULL;
	v->lv_n = 0;
}

/* --- statements ----------------------------------------------------------- */

static enum ecs_err
sql_err(struct store *s, int rc)
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
		(void)s;
		return ECS_ESTORE;
	}
}

/* A prepared, reset statement for sql (a string literal), or NULL. */
static sqlite3_stmt *
st(struct store *s, const char *sql)
{
	size_t		 h, i;
	sqlite3_stmt	*stmt;

	h = ((uintptr_t)sql >> 3) % STMT_CACHE;
	for (i = 0; i < STMT_CACHE; i++) {
		struct stmt_slot *slot = &s->st_cache[(h + i) % STMT_CACHE];

		if (slot->ss_sql == sql) {
			sqlite3_reset(slot->ss_stmt);
			sqlite3_clear_bindings(slot->ss_stmt);
			return slot->ss_stmt;
		}
		if (slot->ss_sql == NULL) {
			if (sqlite3_prepare_v3(s->st_db, sql, -1,
			    SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
				return NULL;
			slot->ss_sql = sql;
			slot->ss_stmt = stmt;
			return stmt;
		}
	}
	return NULL;
}

static void
bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(stmt, i);
	else
		sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT);
}

/* Run a statement without result rows; binds are int64 only. */
static enum ecs_err
exec_i(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    int64_t c)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		sqlite3_bind_int64(stmt, 1, a);
	if (n > 1)
		sqlite3_bind_int64(stmt, 2, b);
	if (n > 2)
		sqlite3_bind_int64(stmt, 3, c);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_err(s, rc);
	return ECS_OK;
}

/* One int64 from the first row; ECS_ENOTFOUND without rows. */
static enum ecs_err
query_i(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    int64_t *out)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		sqlite3_bind_int64(stmt, 1, a);
	if (n > 1)
		sqlite3_bind_int64(stmt, 2, b);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
			e = ECS_ENOTFOUND;
		else
			*out = sqlite3_column_int64(stmt, 0);
	} else if (rc == SQLITE_DONE)
		e = ECS_ENOTFOUND;
	else
		e = sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

/* One int64 from the first row of a query with one text parameter. */
static enum ecs_err
query_i_text(struct store *s, const char *sql, const char *text,
    int64_t *out)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, sql)) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, text);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

/* Every first column into v. */
static enum ecs_err
query_iv(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    struct ivec *v)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		sqlite3_bind_int64(stmt, 1, a);
	if (n > 1)
		sqlite3_bind_int64(stmt, 2, b);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((e = ivec_push(v, sqlite3_column_int64(stmt, 0))) != ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != SQLITE_DONE)
		e = sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

static enum ecs_err
exec_sql(struct store *s, const char *sql)
{
	int	 rc;

	rc = sqlite3_exec(s->st_db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? ECS_OK : sql_err(s, rc);
}

/* --- open, close, transactions ------------------------------------------ */

enum ecs_err
store_open(const char *path, int durable, struct store **out,
    struct ecs_error *err)
{
	struct store	*s;
	int64_t		 version = 0;
	enum ecs_err	 e;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ECS_ENOMEM;
	if (sqlite3_open_v2(path, &s->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    s->st_db ? sqlite3_errmsg(s->st_db) : "cannot open");
		e = ECS_ESTORE;
		goto fail;
	}
	sqlite3_busy_timeout(s->st_db, 5000);
	sqlite3_extended_result_codes(s->st_db, 1);
	if (exec_sql(s, "PRAGMA journal_mode = WAL") != ECS_OK ||
	    exec_sql(s, "PRAGMA journal_size_limit = 67108864") != ECS_OK ||
	    exec_sql(s, durable ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL") != ECS_OK ||
	    exec_sql(s, "PRAGMA foreign_keys = ON") != ECS_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    sqlite3_errmsg(s->st_db));
		e = ECS_ESTORE;
		goto fail;
	}
	if ((e = query_i(s, "PRAGMA user_version", 0, 0, 0, &version)) !=
	    ECS_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "%s: %s", path,
		    sqlite3_errmsg(s->st_db));
		goto fail;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(err->e_msg, sizeof(err->e_msg),
		    "%s: schema version %" PRId64 " is newer than this ecsd "
		    "(%d)", path, version, SCHEMA_VERSION);
		e = ECS_ESTORE;
		goto fail;
	}
	/* The base schema, then each migration, each in one transaction. */
	while (version < SCHEMA_VERSION) {
		char	 pragma[64];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
		    (int)version + 1);
		if (exec_sql(s, "BEGIN IMMEDIATE") != ECS_OK ||
		    exec_sql(s, version == 0 ? store_schema_sql :
		    store_migrations[version - 1]) != ECS_OK ||
		    exec_sql(s, pragma) != ECS_OK ||
		    exec_sql(s, "COMMIT") != ECS_OK) {
			snprintf(err->e_msg, sizeof(err->e_msg),
			    "%s: applying schema version %d: %s", path,
			    (int)version + 1, sqlite3_errmsg(s->st_db));
			exec_sql(s, "ROLLBACK");
			e = ECS_ESTORE;
			goto fail;
		}
		version++;
	}
	*out = s;
	return ECS_OK;
fail:
	store_close(s);
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

enum ecs_err
store_checkpointer_start(struct store *s, const char *path)
{
	struct ckpt	*ck = &s->st_ckpt;

	if (sqlite3_open_v2(path, &ck->ck_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(ck->ck_db);
		ck->ck_db = NULL;
		return ECS_ESTORE;
	}
	sqlite3_busy_timeout(ck->ck_db, 1000);
	/*
	 * A connection that never read the database does not know it is in
	 * WAL mode, and its checkpoints do nothing: read once first.
	 */
	if (sqlite3_exec(ck->ck_db, "SELECT count(*) FROM sqlite_master",
	    NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(ck->ck_db);
		ck->ck_db = NULL;
		return ECS_ESTORE;
	}
	/* The loop's connection no longer checkpoints by itself. */
	if (exec_sql(s, "PRAGMA wal_autocheckpoint = 0") != ECS_OK ||
	    pthread_mutex_init(&ck->ck_lock, NULL) != 0) {
		sqlite3_close(ck->ck_db);
		ck->ck_db = NULL;
		return ECS_ESTORE;
	}
	pthread_cond_init(&ck->ck_cond, NULL);
	if (pthread_create(&ck->ck_thread, NULL, ckpt_main, ck) != 0) {
		pthread_cond_destroy(&ck->ck_cond);
		pthread_mutex_destroy(&ck->ck_lock);
		sqlite3_close(ck->ck_db);
		ck->ck_db = NULL;
		exec_sql(s, "PRAGMA wal_autocheckpoint = 1000");
		return ECS_ESTORE;
	}
	ck->ck_running = 1;
	return ECS_OK;
}

static void
ckpt_stop(struct store *s)
{
	struct ckpt	*ck = &s->st_ckpt;

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

void
store_close(struct store *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	ckpt_stop(s);
	for (i = 0; i < STMT_CACHE; i++)
		if (s->st_cache[i].ss_stmt != NULL)
			sqlite3_finalize(s->st_cache[i].ss_stmt);
	ivec_free(&s->st_new_mids);
	ivec_free(&s->st_event_pids);
	sqlite3_close(s->st_db);
	free(s);
}

const char *
store_errmsg(struct store *s)
{
	return sqlite3_errmsg(s->st_db);
}

int
store_in_tx(struct store *s)
{
	return s->st_tx;
}

enum ecs_err
store_begin(struct store *s)
{
	enum ecs_err	 e;

	if (s->st_tx)
		return ECS_OK;
	if ((e = exec_i(s, "BEGIN IMMEDIATE", 0, 0, 0, 0)) != ECS_OK)
		return e;
	s->st_tx = 1;
	return ECS_OK;
}

enum ecs_err
store_commit(struct store *s)
{
	enum ecs_err	 e;

	if (!s->st_tx)
		return ECS_OK;
	e = exec_i(s, "COMMIT", 0, 0, 0, 0);
	if (e != ECS_OK) {
		store_rollback(s);
		return e;
	}
	s->st_tx = 0;
	return ECS_OK;
}

void
store_rollback(struct store *s)
{
	s->st_gen++;
	if (sqlite3_get_autocommit(s->st_db) == 0)
		exec_sql(s, "ROLLBACK");
	s->st_tx = 0;
	s->st_sp = 0;
}

enum ecs_err
store_savepoint(struct store *s)
{
	enum ecs_err	 e;

	if ((e = store_begin(s)) != ECS_OK)
		return e;
	if ((e = exec_i(s, "SAVEPOINT req", 0, 0, 0, 0)) != ECS_OK)
		return e;
	s->st_sp++;
	s->st_new_mids.iv_n = 0;
	return ECS_OK;
}

void
store_release(struct store *s)
{
	if (s->st_sp > 0) {
		exec_i(s, "RELEASE req", 0, 0, 0, 0);
		s->st_sp--;
	}
}

void
store_rollback_savepoint(struct store *s)
{
	s->st_gen++;
	if (s->st_sp > 0) {
		exec_i(s, "ROLLBACK TO req", 0, 0, 0, 0);
		exec_i(s, "RELEASE req", 0, 0, 0, 0);
		s->st_sp--;
	}
}

enum ecs_err
store_integrity_check(struct store *s)
{
	sqlite3_stmt	*stmt;
	enum ecs_err	 e = ECS_ESTORE;

	if (sqlite3_prepare_v2(s->st_db, "PRAGMA integrity_check", -1, &stmt,
	    NULL) != SQLITE_OK)
		return ECS_ESTORE;
	if (sqlite3_step(stmt) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") == 0)
		e = ECS_OK;
	sqlite3_finalize(stmt);
	return e;
}

/* --- identities and participants ---------------------------------------- */

static void
copy_col(sqlite3_stmt *stmt, int i, char *out, size_t len)
{
	const unsigned char	*p = sqlite3_column_text(stmt, i);

	snprintf(out, len, "%s", p ? (const char *)p : "");
}

enum ecs_err
store_identity_pid(struct store *s, const char *name, int64_t *pid)
{
	return query_i_text(s, "SELECT participant_id FROM identities "
	    "WHERE name = ?", name, pid);
}

enum ecs_err
store_participant_get(struct store *s, int64_t pid,
    struct ecs_participant *p)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT p.id, p.organization_id, p.selfrouting, "
	    "p.events, p.ptype, o.abbr, p.name, p.email FROM participants p "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE p.id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, pid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		memset(p, 0, sizeof(*p));
		p->p_id = sqlite3_column_int64(stmt, 0);
		p->p_org_id = sqlite3_column_int64(stmt, 1);
		p->p_selfrouting = sqlite3_column_int(stmt, 2);
		p->p_events = sqlite3_column_int(stmt, 3);
		copy_col(stmt, 4, p->p_ptype, sizeof(p->p_ptype));
		copy_col(stmt, 5, p->p_abbr, sizeof(p->p_abbr));
		copy_col(stmt, 6, p->p_name, sizeof(p->p_name));
		copy_col(stmt, 7, p->p_email, sizeof(p->p_email));
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_participant_flags(struct store *s, int64_t pid, int events,
    int selfrouting)
{
	s->st_gen++;
	return exec_i(s, "UPDATE participants SET events = ?, "
	    "selfrouting = ?, updated_at = strftime('%s','now') WHERE id = ?",
	    3, events, selfrouting, pid);
}

enum ecs_err
store_participant_delete(struct store *s, int64_t pid)
{
	struct ivec	 kids;
	enum ecs_err	 e;
	size_t		 i;

	s->st_gen++;

	/* Subparticipant children go with their parent. */
	memset(&kids, 0, sizeof(kids));
	e = query_iv(s, "SELECT participant_id FROM subparticipants "
	    "WHERE parent_id = ?", 1, pid, 0, &kids);
	for (i = 0; e == ECS_OK && i < kids.iv_n; i++)
		e = store_participant_delete(s, kids.iv_v[i]);
	ivec_free(&kids);
	if (e != ECS_OK)
		return e;
	return exec_i(s, "DELETE FROM participants WHERE id = ?", 1, pid, 0,
	    0);
}

/* --- communities and memberships ---------------------------------------- */

enum ecs_err
store_community_by_name(struct store *s, const char *name, int64_t *cid)
{
	return query_i_text(s, "SELECT id FROM communities WHERE name = ?",
	    name, cid);
}

enum ecs_err
store_community_exists(struct store *s, int64_t cid)
{
	int64_t	 x;

	return query_i(s, "SELECT id FROM communities WHERE id = ?", 1, cid,
	    0, &x);
}

enum ecs_err
store_community_name(struct store *s, int64_t cid, struct buf *out)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT name FROM communities WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, cid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		buf_printf(out, "%s%s", out->b_len ? ", " : "",
		    (const char *)sqlite3_column_text(stmt, 0));
	else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_mid_info(struct store *s, int64_t mid, int64_t *cid, int64_t *pid)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT community_id, participant_id FROM "
	    "memberships WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, mid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*cid = sqlite3_column_int64(stmt, 0);
		*pid = sqlite3_column_int64(stmt, 1);
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_member_mid(struct store *s, int64_t pid, int64_t cid, int64_t *mid)
{
	return query_i(s, "SELECT id FROM memberships WHERE participant_id = ? "
	    "AND community_id = ?", 2, pid, cid, mid);
}

enum ecs_err
store_participant_cids(struct store *s, int64_t pid, struct ivec *v)
{
	return query_iv(s, "SELECT community_id FROM memberships "
	    "WHERE participant_id = ? ORDER BY id", 1, pid, 0, v);
}

enum ecs_err
store_community_mids(struct store *s, int64_t cid, struct ivec *mids,
    struct ivec *pids)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT id, participant_id FROM memberships "
	    "WHERE community_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, cid);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((e = ivec_push(mids, sqlite3_column_int64(stmt, 0))) !=
		    ECS_OK ||
		    (e = ivec_push(pids, sqlite3_column_int64(stmt, 1))) !=
		    ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != SQLITE_DONE)
		e = sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

/* --- resources ------------------------------------------------------------ */

static enum ecs_err
resource_row(struct store *s, sqlite3_stmt *stmt, struct ecs_resource *r)
{
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		r->r_id = sqlite3_column_int64(stmt, 0);
		copy_col(stmt, 1, r->r_ns, sizeof(r->r_ns));
		copy_col(stmt, 2, r->r_name, sizeof(r->r_name));
		r->r_postroute = sqlite3_column_int(stmt, 3);
		r->r_events = sqlite3_column_int(stmt, 4);
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_resource_find(struct store *s, const char *ns, const char *name,
    struct ecs_resource *r)
{
	sqlite3_stmt	*stmt;

	if ((stmt = st(s, "SELECT id, namespace, name, postroute, events "
	    "FROM resources WHERE namespace = ? AND name = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, ns);
	bind_text(stmt, 2, name);
	return resource_row(s, stmt, r);
}

enum ecs_err
store_resource_get(struct store *s, int64_t id, struct ecs_resource *r)
{
	sqlite3_stmt	*stmt;

	if ((stmt = st(s, "SELECT id, namespace, name, postroute, events "
	    "FROM resources WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, id);
	return resource_row(s, stmt, r);
}

/* --- messages ------------------------------------------------------------- */

enum ecs_err
store_msg_insert(struct store *s, int64_t resource, int64_t sender,
    const char *ctype, const char *body, size_t len, time_t now, int64_t *id)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, "INSERT INTO messages (resource_id, sender_id, "
	    "content_type, body, created_at, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?)")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, resource);
	sqlite3_bind_int64(stmt, 2, sender);
	bind_text(stmt, 3, ctype);
	sqlite3_bind_blob64(stmt, 4, body, len, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, now);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE)
		return sql_err(s, rc);
	*id = sqlite3_last_insert_rowid(s->st_db);
	return ECS_OK;
}

enum ecs_err
store_msg_get(struct store *s, int64_t id, struct ecs_msg *m)
{
	sqlite3_stmt	*stmt;
	int		 rc, n;
	enum ecs_err	 e = ECS_OK;
	const void	*body;

	if ((stmt = st(s, "SELECT id, resource_id, sender_id, removed, "
	    "created_at, updated_at, version, content_type, body "
	    "FROM messages WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		memset(m, 0, sizeof(*m));
		m->m_id = sqlite3_column_int64(stmt, 0);
		m->m_resource_id = sqlite3_column_int64(stmt, 1);
		m->m_sender = sqlite3_column_int64(stmt, 2);
		m->m_removed = sqlite3_column_int(stmt, 3);
		m->m_created = (time_t)sqlite3_column_int64(stmt, 4);
		m->m_updated = (time_t)sqlite3_column_int64(stmt, 5);
		m->m_version = sqlite3_column_int64(stmt, 6);
		m->m_ctype = strdup((const char *)sqlite3_column_text(stmt, 7));
		body = sqlite3_column_blob(stmt, 8);
		n = sqlite3_column_bytes(stmt, 8);
		m->m_body = malloc((size_t)n + 1);
		if (m->m_ctype == NULL || m->m_body == NULL) {
			store_msg_clear(m);
			e = ECS_ENOMEM;
		} else {
			if (n > 0)
				memcpy(m->m_body, body, (size_t)n);
			m->m_body[n] = '\0';
			m->m_len = (size_t)n;
		}
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_msg_resource(struct store *s, int64_t id, struct ecs_resource *r,
    int *removed)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT r.id, r.namespace, r.name, r.postroute, "
	    "r.events, m.removed FROM messages m "
	    "JOIN resources r ON r.id = m.resource_id WHERE m.id = ?")) ==
	    NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		r->r_id = sqlite3_column_int64(stmt, 0);
		copy_col(stmt, 1, r->r_ns, sizeof(r->r_ns));
		copy_col(stmt, 2, r->r_name, sizeof(r->r_name));
		r->r_postroute = sqlite3_column_int(stmt, 3);
		r->r_events = sqlite3_column_int(stmt, 4);
		*removed = sqlite3_column_int(stmt, 5);
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

void
store_msg_clear(struct ecs_msg *m)
{
	free(m->m_ctype);
	free(m->m_body);
	m->m_ctype = NULL;
	m->m_body = NULL;
	m->m_len = 0;
}

enum ecs_err
store_msg_update(struct store *s, int64_t id, const char *ctype,
    const char *body, size_t len, time_t now)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, "UPDATE messages SET content_type = ?, body = ?, "
	    "updated_at = ?, version = version + 1 WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, ctype);
	sqlite3_bind_blob64(stmt, 2, body, len, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_int64(stmt, 4, id);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

enum ecs_err
store_msg_dispose(struct store *s, int64_t id)
{
	int64_t		 x;
	enum ecs_err	 e;

	e = query_i(s, "SELECT 1 FROM events WHERE message_id = ? LIMIT 1",
	    1, id, 0, &x);
	if (e == ECS_OK) {
		if ((e = exec_i(s, "DELETE FROM links WHERE message_id = ?",
		    1, id, 0, 0)) != ECS_OK)
			return e;
		if ((e = exec_i(s, "DELETE FROM auths WHERE message_id = ?",
		    1, id, 0, 0)) != ECS_OK)
			return e;
		if ((e = exec_i(s, "DELETE FROM community_messages "
		    "WHERE message_id = ?", 1, id, 0, 0)) != ECS_OK)
			return e;
		return exec_i(s, "UPDATE messages SET removed = 1, body = x'', "
		    "version = version + 1 WHERE id = ?", 1, id, 0, 0);
	}
	if (e != ECS_ENOTFOUND)
		return e;
	return exec_i(s, "DELETE FROM messages WHERE id = ?", 1, id, 0, 0);
}

enum ecs_err
store_link_add(struct store *s, int64_t mid, int64_t msg, int64_t resource)
{
	return exec_i(s, "INSERT OR IGNORE INTO links (membership_id, "
	    "message_id, resource_id) VALUES (?, ?, ?)", 3, mid, msg,
	    resource);
}

enum ecs_err
store_msg_links(struct store *s, int64_t msg, int64_t sender,
    struct ecs_linkv *v)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;
	struct ecs_link	*p;
	size_t		 cap = 0;

	v->lv_v = NULL;
	v->lv_n = 0;
	if ((stmt = st(s, "SELECT l.membership_id, m.participant_id, "
	    "m.community_id, (SELECT sm.id FROM memberships sm "
	    "WHERE sm.participant_id = ? AND sm.community_id = m.community_id) "
	    "FROM links l JOIN memberships m ON m.id = l.membership_id "
	    "WHERE l.message_id = ? ORDER BY l.membership_id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, sender);
	sqlite3_bind_int64(stmt, 2, msg);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (v->lv_n == cap) {
			cap = cap ? cap * 2 : 8;
			p = reallocarray(v->lv_v, cap, sizeof(*p));
			if (p == NULL) {
				e = ECS_ENOMEM;
				break;
			}
			v->lv_v = p;
		}
		p = &v->lv_v[v->lv_n++];
		p->l_mid = sqlite3_column_int64(stmt, 0);
		p->l_pid = sqlite3_column_int64(stmt, 1);
		p->l_cid = sqlite3_column_int64(stmt, 2);
		p->l_sender_mid = sqlite3_column_type(stmt, 3) == SQLITE_NULL ?
		    -1 : sqlite3_column_int64(stmt, 3);
	}
	if (e == ECS_OK && rc != SQLITE_DONE)
		e = sql_err(s, rc);
	sqlite3_reset(stmt);
	if (e != ECS_OK)
		linkv_free(v);
	return e;
}

enum ecs_err
store_msg_receiver_pids(struct store *s, int64_t msg, struct ivec *v)
{
	return query_iv(s, "SELECT DISTINCT m.participant_id FROM links l "
	    "JOIN memberships m ON m.id = l.membership_id "
	    "WHERE l.message_id = ? ORDER BY m.participant_id", 1, msg, 0, v);
}

enum ecs_err
store_links_delete(struct store *s, int64_t msg)
{
	return exec_i(s, "DELETE FROM links WHERE message_id = ?", 1, msg, 0,
	    0);
}

enum ecs_err
store_link_delete(struct store *s, int64_t mid, int64_t msg)
{
	return exec_i(s, "DELETE FROM links WHERE membership_id = ? AND "
	    "message_id = ?", 2, mid, msg, 0);
}

enum ecs_err
store_links_delete_pid(struct store *s, int64_t msg, int64_t pid)
{
	return exec_i(s, "DELETE FROM links WHERE message_id = ? AND "
	    "membership_id IN (SELECT id FROM memberships "
	    "WHERE participant_id = ?)", 2, msg, pid, 0);
}

enum ecs_err
store_msg_link_count(struct store *s, int64_t msg, int64_t *n)
{
	return query_i(s, "SELECT count(*) FROM links WHERE message_id = ?",
	    1, msg, 0, n);
}

enum ecs_err
store_msg_has_links(struct store *s, int64_t msg, int *yes)
{
	int64_t		 x;
	enum ecs_err	 e;

	e = query_i(s, "SELECT 1 FROM links WHERE message_id = ? LIMIT 1", 1,
	    msg, 0, &x);
	if (e != ECS_OK && e != ECS_ENOTFOUND)
		return e;
	*yes = e == ECS_OK;
	return ECS_OK;
}

enum ecs_err
store_community_record(struct store *s, int64_t cid, int64_t msg)
{
	return exec_i(s, "INSERT OR IGNORE INTO community_messages "
	    "(community_id, message_id) VALUES (?, ?)", 2, cid, msg, 0);
}

enum ecs_err
store_list_sent(struct store *s, int64_t pid, int64_t res, struct ivec *v)
{
	return query_iv(s, "SELECT id FROM messages WHERE sender_id = ? AND "
	    "resource_id = ? AND removed = 0 ORDER BY id", 2, pid, res, v);
}

enum ecs_err
store_list_received(struct store *s, int64_t pid, int64_t res,
    struct ivec *v)
{
	return query_iv(s, "SELECT DISTINCT l.message_id FROM memberships m "
	    "JOIN links l ON l.membership_id = m.id AND l.resource_id = ?2 "
	    "WHERE m.participant_id = ?1 ORDER BY l.message_id", 2, pid, res,
	    v);
}

enum ecs_err
store_queue_peek(struct store *s, int64_t pid, int64_t res, int lifo,
    int64_t *id)
{
	struct ivec	 mids;
	int64_t		 best = 0, x;
	size_t		 i;
	enum ecs_err	 e;

	/*
	 * One index seek per membership of the caller (links_queue), not a
	 * join: min() over a join would scan the whole queue.
	 */
	memset(&mids, 0, sizeof(mids));
	e = query_iv(s, "SELECT id FROM memberships WHERE participant_id = ?",
	    1, pid, 0, &mids);
	for (i = 0; e == ECS_OK && i < mids.iv_n; i++) {
		if (lifo)
			e = query_i(s, "SELECT message_id FROM links "
			    "WHERE membership_id = ? AND resource_id = ? "
			    "ORDER BY message_id DESC LIMIT 1", 2, mids.iv_v[i],
			    res, &x);
		else
			e = query_i(s, "SELECT message_id FROM links "
			    "WHERE membership_id = ? AND resource_id = ? "
			    "ORDER BY message_id LIMIT 1", 2, mids.iv_v[i], res,
			    &x);
		if (e == ECS_ENOTFOUND) {
			e = ECS_OK;
			continue;
		}
		if (e == ECS_OK && (best == 0 || (lifo ? x > best : x < best)))
			best = x;
	}
	ivec_free(&mids);
	if (e == ECS_OK)
		*id = best;
	return e;
}

enum ecs_err
store_postroutable(struct store *s, int64_t cid, struct ivec *v)
{
	return query_iv(s, "SELECT cm.message_id FROM community_messages cm "
	    "JOIN messages m ON m.id = cm.message_id "
	    "JOIN resources r ON r.id = m.resource_id "
	    "WHERE cm.community_id = ? AND r.postroute = 1 AND m.removed = 0 "
	    "ORDER BY cm.message_id", 1, cid, 0, v);
}

enum ecs_err
store_mid_messages(struct store *s, int64_t mid, struct ivec *v)
{
	return query_iv(s, "SELECT message_id FROM links "
	    "WHERE membership_id = ? ORDER BY message_id", 1, mid, 0, v);
}

enum ecs_err
store_community_messages(struct store *s, int64_t cid, struct ivec *v)
{
	return query_iv(s, "SELECT message_id FROM community_messages "
	    "WHERE community_id = ? ORDER BY message_id", 1, cid, 0, v);
}

/* --- events --------------------------------------------------------------- */

enum ecs_err
store_event_add(struct store *s, int64_t pid, int64_t msg, int type)
{
	enum ecs_err	 e;

	/*
	 * One statement: only for a participant with events on, and not
	 * when its most recent event about the message has the same type
	 * (de-duplication, 10.2).
	 */
	if ((e = exec_i(s, "INSERT INTO events (participant_id, message_id, "
	    "type) SELECT ?1, ?2, ?3 FROM participants WHERE id = ?1 AND "
	    "events = 1 AND coalesce((SELECT type FROM events "
	    "WHERE participant_id = ?1 AND message_id = ?2 "
	    "ORDER BY id DESC LIMIT 1), 0) <> ?3", 3, pid, msg, type)) !=
	    ECS_OK)
		return e;
	if (sqlite3_changes(s->st_db) == 0)
		return ECS_OK;
	if (s->st_event_pids.iv_n > 0 &&
	    s->st_event_pids.iv_v[s->st_event_pids.iv_n - 1] == pid)
		return ECS_OK;
	return ivec_push(&s->st_event_pids, pid);
}

enum ecs_err
store_events(struct store *s, int64_t pid, int64_t limit,
    struct ecs_event **out, size_t *n)
{
	sqlite3_stmt		*stmt;
	struct ecs_event	*v = NULL, *p;
	size_t			 cap = 0, cnt = 0;
	int			 rc;
	enum ecs_err		 e = ECS_OK;

	if ((stmt = st(s, "SELECT e.id, e.message_id, e.type, r.namespace, "
	    "r.name FROM events e JOIN messages m ON m.id = e.message_id "
	    "JOIN resources r ON r.id = m.resource_id "
	    "WHERE e.participant_id = ? ORDER BY e.id LIMIT ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, pid);
	sqlite3_bind_int64(stmt, 2, limit);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			p = reallocarray(v, cap, sizeof(*p));
			if (p == NULL) {
				e = ECS_ENOMEM;
				break;
			}
			v = p;
		}
		p = &v[cnt++];
		p->e_id = sqlite3_column_int64(stmt, 0);
		p->e_msg = sqlite3_column_int64(stmt, 1);
		p->e_type = sqlite3_column_int(stmt, 2);
		snprintf(p->e_path, sizeof(p->e_path), "%s/%s/%" PRId64,
		    (const char *)sqlite3_column_text(stmt, 3),
		    (const char *)sqlite3_column_text(stmt, 4), p->e_msg);
	}
	if (e == ECS_OK && rc != SQLITE_DONE)
		e = sql_err(s, rc);
	sqlite3_reset(stmt);
	if (e != ECS_OK) {
		free(v);
		return e;
	}
	*out = v;
	*n = cnt;
	return ECS_OK;
}

enum ecs_err
store_event_delete(struct store *s, int64_t id, int64_t msg)
{
	int64_t		 x;
	enum ecs_err	 e;

	if ((e = exec_i(s, "DELETE FROM events WHERE id = ?", 1, id, 0, 0)) !=
	    ECS_OK)
		return e;
	e = query_i(s, "SELECT 1 FROM events WHERE message_id = ? LIMIT 1",
	    1, msg, 0, &x);
	if (e == ECS_OK)
		return ECS_OK;
	if (e != ECS_ENOTFOUND)
		return e;
	return exec_i(s, "DELETE FROM messages WHERE id = ? AND removed = 1",
	    1, msg, 0, 0);
}

enum ecs_err
store_events_delete_pid(struct store *s, int64_t pid)
{
	struct ivec	 msgs;
	enum ecs_err	 e;
	size_t		 i;

	memset(&msgs, 0, sizeof(msgs));
	e = query_iv(s, "SELECT DISTINCT message_id FROM events "
	    "WHERE participant_id = ?", 1, pid, 0, &msgs);
	if (e == ECS_OK)
		e = exec_i(s, "DELETE FROM events WHERE participant_id = ?", 1,
		    pid, 0, 0);
	for (i = 0; e == ECS_OK && i < msgs.iv_n; i++)
		e = exec_i(s, "DELETE FROM messages WHERE id = ?1 AND "
		    "removed = 1 AND NOT EXISTS (SELECT 1 FROM events "
		    "WHERE message_id = ?1)", 1, msgs.iv_v[i], 0, 0);
	ivec_free(&msgs);
	return e;
}

/* --- one-touch tokens ----------------------------------------------------- */

enum ecs_err
store_auth_put(struct store *s, int64_t msg, const char *hash, time_t eov)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, "INSERT OR REPLACE INTO auths (message_id, hash, "
	    "eov) VALUES (?, ?, ?)")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, msg);
	bind_text(stmt, 2, hash);
	sqlite3_bind_int64(stmt, 3, eov);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

enum ecs_err
store_auth_by_hash(struct store *s, const char *hash, int64_t *msg)
{
	return query_i_text(s, "SELECT message_id FROM auths WHERE hash = ?",
	    hash, msg);
}

enum ecs_err
store_auth_eov(struct store *s, int64_t msg, time_t *eov)
{
	int64_t		 v;
	enum ecs_err	 e;

	e = query_i(s, "SELECT eov FROM auths WHERE message_id = ?", 1, msg, 0,
	    &v);
	if (e == ECS_OK)
		*eov = (time_t)v;
	return e;
}

enum ecs_err
store_auths_expired(struct store *s, time_t now, struct ivec *v)
{
	return query_iv(s, "SELECT message_id FROM auths WHERE eov <= ? "
	    "ORDER BY message_id LIMIT 1000", 1, now, 0, v);
}

enum ecs_err
store_participants_expired(struct store *s, time_t now, time_t sub_age,
    struct ivec *v)
{
	return query_iv(s, "SELECT id FROM participants WHERE "
	    "(ptype = 'anonym' AND ttl IS NOT NULL AND ttl < ?1) OR "
	    "(ptype = 'sub' AND created_at <= ?2) ORDER BY id LIMIT 1000", 2,
	    now, now - sub_age, v);
}

/* --- representations ------------------------------------------------------ */

static void
jw_col_str(struct jw *w, const char *k, sqlite3_stmt *stmt, int i)
{
	jw_key(w, k);
	if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
		jw_null(w);
	else
		jw_str(w, (const char *)sqlite3_column_text(stmt, i));
}

enum ecs_err
store_memberships_json(struct store *s, int64_t pid, const char *selector,
    struct jw *w, int *count)
{
	sqlite3_stmt	*ms, *ps;
	struct ivec	 mids, cids;
	enum ecs_err	 e = ECS_OK;
	size_t		 i;
	int		 rc;

	memset(&mids, 0, sizeof(mids));
	memset(&cids, 0, sizeof(cids));
	if ((ms = st(s, "SELECT id, community_id FROM memberships "
	    "WHERE participant_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(ms, 1, pid);
	while ((rc = sqlite3_step(ms)) == SQLITE_ROW) {
		if (ivec_push(&mids, sqlite3_column_int64(ms, 0)) != ECS_OK ||
		    ivec_push(&cids, sqlite3_column_int64(ms, 1)) != ECS_OK) {
			e = ECS_ENOMEM;
			break;
		}
	}
	if (e == ECS_OK && rc != SQLITE_DONE)
		e = sql_err(s, rc);
	sqlite3_reset(ms);
	*count = (int)mids.iv_n;
	if (e != ECS_OK || mids.iv_n == 0)
		goto done;
	jw_arr_open(w);
	for (i = 0; e == ECS_OK && i < cids.iv_n; i++) {
		if ((ps = st(s, "SELECT name, description, id FROM communities "
		    "WHERE id = ?")) == NULL) {
			e = ECS_ESTORE;
			break;
		}
		sqlite3_bind_int64(ps, 1, cids.iv_v[i]);
		jw_obj_open(w);
		jw_key(w, "community");
		jw_obj_open(w);
		if (sqlite3_step(ps) == SQLITE_ROW) {
			jw_col_str(w, "name", ps, 0);
			jw_col_str(w, "description", ps, 1);
			jw_kint(w, "cid", sqlite3_column_int64(ps, 2));
		}
		sqlite3_reset(ps);
		jw_obj_close(w);
		jw_key(w, "participants");
		jw_arr_open(w);
		if ((ps = st(s, "SELECT p.name, p.description, p.email, p.dns, "
		    "m.id, o.name, o.abbr, p.id, p.ptype FROM memberships m "
		    "JOIN participants p ON p.id = m.participant_id "
		    "JOIN organizations o ON o.id = p.organization_id "
		    "WHERE m.community_id = ?1 AND (?2 = 'all' OR "
		    "(?2 = 'main' AND p.ptype = 'main') OR "
		    "(?2 = 'sub' AND p.ptype = 'sub') OR "
		    "(?2 = 'anonym' AND p.ptype = 'anonym')) "
		    "ORDER BY p.id")) == NULL) {
			e = ECS_ESTORE;
			break;
		}
		sqlite3_bind_int64(ps, 1, cids.iv_v[i]);
		bind_text(ps, 2, selector);
		while ((rc = sqlite3_step(ps)) == SQLITE_ROW) {
			jw_obj_open(w);
			jw_col_str(w, "name", ps, 0);
			jw_col_str(w, "description", ps, 1);
			jw_col_str(w, "email", ps, 2);
			jw_col_str(w, "dns", ps, 3);
			jw_kint(w, "mid", sqlite3_column_int64(ps, 4));
			jw_key(w, "org");
			jw_obj_open(w);
			jw_col_str(w, "name", ps, 5);
			jw_col_str(w, "abbr", ps, 6);
			jw_obj_close(w);
			jw_kbool(w, "itsyou", sqlite3_column_int64(ps, 7) == pid);
			jw_kint(w, "pid", sqlite3_column_int64(ps, 7));
			jw_col_str(w, "type", ps, 8);
			jw_obj_close(w);
		}
		if (rc != SQLITE_DONE)
			e = sql_err(s, rc);
		sqlite3_reset(ps);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	jw_arr_close(w);
done:
	ivec_free(&mids);
	ivec_free(&cids);
	return e;
}

enum ecs_err
store_configs_json(struct store *s, int64_t pid, struct jw *w)
{
	sqlite3_stmt	*stmt;
	int		 rc, events = 0, selfrouting = 0;
	char		 key[300];

	if ((stmt = st(s, "SELECT events, selfrouting FROM participants "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, pid);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		events = sqlite3_column_int(stmt, 0);
		selfrouting = sqlite3_column_int(stmt, 1);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	jw_obj_open(w);
	jw_kbool(w, "participant_events", events);
	jw_key(w, "resource_events");
	jw_obj_open(w);
	if ((stmt = st(s, "SELECT namespace, name, events FROM resources "
	    "ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		snprintf(key, sizeof(key), "/%s/%s",
		    (const char *)sqlite3_column_text(stmt, 0),
		    (const char *)sqlite3_column_text(stmt, 1));
		jw_kbool(w, key, sqlite3_column_int(stmt, 2));
	}
	sqlite3_reset(stmt);
	jw_obj_close(w);
	jw_kbool(w, "selfrouting", selfrouting);
	jw_obj_close(w);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

/* --- the admin model ------------------------------------------------------ */

static enum ecs_err
field_err(struct ecs_error *err, enum ecs_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum ecs_err
field_err(struct ecs_error *err, enum ecs_err code, const char *fmt, ...)
{
	va_list	 ap;

	err->e_code = code;
	va_start(ap, fmt);
	vsnprintf(err->e_msg, sizeof(err->e_msg), fmt, ap);
	va_end(ap);
	return code;
}

#define F_REQUIRED	0x01	/* must be present */
#define F_NONBLANK	0x02	/* when present, must not be blank */

/* A string member: absent → NULL; present and not a string → error. */
static enum ecs_err
get_str(const struct json *o, const char *k, int flags, const char **out,
    struct ecs_error *err)
{
	const struct json	*v = json_get(o, k);

	if (v == NULL || json_type(v) == JSON_NULL) {
		if (flags & F_REQUIRED)
			return field_err(err, ECS_EINVAL,
			    "%s: required string missing", k);
		*out = NULL;
		return ECS_OK;
	}
	if (json_type(v) != JSON_STRING)
		return field_err(err, ECS_EINVAL, "%s: must be a string", k);
	if ((flags & (F_REQUIRED | F_NONBLANK)) && util_blank(json_string(v)))
		return field_err(err, ECS_EINVAL, "%s: must not be blank", k);
	if (strlen(json_string(v)) > 1000)
		return field_err(err, ECS_EINVAL, "%s: longer than 1000 bytes",
		    k);
	*out = json_string(v);
	return ECS_OK;
}

/* A boolean member: -1 when absent. */
static enum ecs_err
get_bool(const struct json *o, const char *k, int *out, struct ecs_error *err)
{
	const struct json	*v = json_get(o, k);

	*out = -1;
	if (v == NULL || json_type(v) == JSON_NULL)
		return ECS_OK;
	if (json_type(v) == JSON_TRUE)
		*out = 1;
	else if (json_type(v) == JSON_FALSE)
		*out = 0;
	else
		return field_err(err, ECS_EINVAL, "%s: must be true or false",
		    k);
	return ECS_OK;
}

/* An id member: 0 when absent. */
static enum ecs_err
get_id(const struct json *o, const char *k, int64_t *out,
    struct ecs_error *err)
{
	const struct json	*v = json_get(o, k);

	*out = 0;
	if (v == NULL || json_type(v) == JSON_NULL)
		return ECS_OK;
	if (json_int(v, out) != 0 || *out < 1)
		return field_err(err, ECS_EINVAL,
		    "%s: must be a positive integer", k);
	return ECS_OK;
}

static int
valid_resource_part(const char *p)
{
	if (*p == '\0' || strlen(p) > 100)
		return 0;
	for (; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

static enum ecs_err
step_done(struct store *s, sqlite3_stmt *stmt, struct ecs_error *err,
    const char *what)
{
	int	 rc;

	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc == SQLITE_DONE)
		return ECS_OK;
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return field_err(err, ECS_EEXIST, "%s already exists", what);
	err->e_code = sql_err(s, rc);
	snprintf(err->e_msg, sizeof(err->e_msg), "storage failure");
	return err->e_code;
}

static void
write_org(struct jw *w, sqlite3_stmt *stmt)
{
	jw_obj_open(w);
	jw_kint(w, "id", sqlite3_column_int64(stmt, 0));
	jw_col_str(w, "name", stmt, 1);
	jw_col_str(w, "abbr", stmt, 2);
	jw_col_str(w, "description", stmt, 3);
	jw_obj_close(w);
}

static void
write_community(struct jw *w, sqlite3_stmt *stmt)
{
	jw_obj_open(w);
	jw_kint(w, "id", sqlite3_column_int64(stmt, 0));
	jw_col_str(w, "name", stmt, 1);
	jw_col_str(w, "description", stmt, 2);
	jw_obj_close(w);
}

static void
write_resource(struct jw *w, sqlite3_stmt *stmt)
{
	jw_obj_open(w);
	jw_kint(w, "id", sqlite3_column_int64(stmt, 0));
	jw_col_str(w, "namespace", stmt, 1);
	jw_col_str(w, "name", stmt, 2);
	jw_kbool(w, "postroute", sqlite3_column_int(stmt, 3));
	jw_kbool(w, "events", sqlite3_column_int(stmt, 4));
	jw_obj_close(w);
}

static void
write_membership(struct jw *w, sqlite3_stmt *stmt)
{
	jw_obj_open(w);
	jw_kint(w, "id", sqlite3_column_int64(stmt, 0));
	jw_kint(w, "participant_id", sqlite3_column_int64(stmt, 1));
	jw_kint(w, "community_id", sqlite3_column_int64(stmt, 2));
	jw_obj_close(w);
}

static enum ecs_err
write_participant(struct store *s, struct jw *w, sqlite3_stmt *stmt)
{
	sqlite3_stmt	*sub;
	int64_t		 pid = sqlite3_column_int64(stmt, 0);
	int		 rc;

	jw_obj_open(w);
	jw_kint(w, "id", pid);
	jw_col_str(w, "name", stmt, 1);
	jw_col_str(w, "description", stmt, 2);
	jw_col_str(w, "dns", stmt, 3);
	jw_col_str(w, "email", stmt, 4);
	jw_kint(w, "organization_id", sqlite3_column_int64(stmt, 5));
	jw_kbool(w, "community_selfrouting", sqlite3_column_int(stmt, 6));
	jw_kbool(w, "events", sqlite3_column_int(stmt, 7));
	jw_col_str(w, "type", stmt, 8);
	jw_key(w, "auth_ids");
	jw_arr_open(w);
	if ((sub = st(s, "SELECT name FROM identities WHERE participant_id = ? "
	    "ORDER BY id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(sub, 1, pid);
	while ((rc = sqlite3_step(sub)) == SQLITE_ROW)
		jw_str(w, (const char *)sqlite3_column_text(sub, 0));
	sqlite3_reset(sub);
	jw_arr_close(w);
	jw_key(w, "memberships");
	jw_arr_open(w);
	if ((sub = st(s, "SELECT id, community_id FROM memberships "
	    "WHERE participant_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(sub, 1, pid);
	while ((rc = sqlite3_step(sub)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_kint(w, "mid", sqlite3_column_int64(sub, 0));
		jw_kint(w, "community_id", sqlite3_column_int64(sub, 1));
		jw_obj_close(w);
	}
	sqlite3_reset(sub);
	jw_arr_close(w);
	jw_obj_close(w);
	return ECS_OK;
}

#define PARTICIPANT_COLS "SELECT id, name, description, dns, email, " \
	"organization_id, selfrouting, events, ptype FROM participants "

static const struct admin_kind {
	const char	*ak_name;
	const char	*ak_list;
	const char	*ak_get;
	void		(*ak_write)(struct jw *, sqlite3_stmt *);
} admin_kinds[] = {
	{ "organizations",
	  "SELECT id, name, abbr, description FROM organizations ORDER BY id",
	  "SELECT id, name, abbr, description FROM organizations WHERE id = ?",
	  write_org },
	{ "communities",
	  "SELECT id, name, description FROM communities ORDER BY id",
	  "SELECT id, name, description FROM communities WHERE id = ?",
	  write_community },
	{ "resources",
	  "SELECT id, namespace, name, postroute, events FROM resources "
	  "ORDER BY id",
	  "SELECT id, namespace, name, postroute, events FROM resources "
	  "WHERE id = ?",
	  write_resource },
	{ "memberships",
	  "SELECT id, participant_id, community_id FROM memberships "
	  "ORDER BY id",
	  "SELECT id, participant_id, community_id FROM memberships "
	  "WHERE id = ?",
	  write_membership },
	{ "participants",
	  PARTICIPANT_COLS "WHERE ptype = 'main' ORDER BY id",
	  PARTICIPANT_COLS "WHERE id = ? AND ptype IS NOT NULL",
	  NULL },
};

static const struct admin_kind *
admin_kind(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(admin_kinds) / sizeof(admin_kinds[0]); i++)
		if (strcmp(admin_kinds[i].ak_name, name) == 0)
			return &admin_kinds[i];
	return NULL;
}

enum ecs_err
store_admin_list(struct store *s, const char *kind, struct jw *w)
{
	const struct admin_kind	*k;
	sqlite3_stmt		*stmt;
	int			 rc;
	enum ecs_err		 e = ECS_OK;

	if ((k = admin_kind(kind)) == NULL)
		return ECS_ENOTFOUND;
	if ((stmt = st(s, k->ak_list)) == NULL)
		return ECS_ESTORE;
	jw_arr_open(w);
	while (e == ECS_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (k->ak_write != NULL)
			k->ak_write(w, stmt);
		else
			e = write_participant(s, w, stmt);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	return e;
}

enum ecs_err
store_admin_get(struct store *s, const char *kind, int64_t id, struct jw *w)
{
	const struct admin_kind	*k;
	sqlite3_stmt		*stmt;
	enum ecs_err		 e = ECS_OK;

	if ((k = admin_kind(kind)) == NULL)
		return ECS_ENOTFOUND;
	if ((stmt = st(s, k->ak_get)) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		e = ECS_ENOTFOUND;
	else if (k->ak_write != NULL)
		k->ak_write(w, stmt);
	else
		e = write_participant(s, w, stmt);
	sqlite3_reset(stmt);
	return e;
}

/* Replace a participant's identities with the array auth_ids. */
static enum ecs_err
set_identities(struct store *s, int64_t pid, const struct json *ids,
    struct ecs_error *err)
{
	sqlite3_stmt	*stmt;
	size_t		 i;
	enum ecs_err	 e;
	const char	*name;

	if (json_type(ids) != JSON_ARRAY)
		return field_err(err, ECS_EINVAL, "%s: must be an array",
		    "auth_ids");
	if ((e = exec_i(s, "DELETE FROM identities WHERE participant_id = ?",
	    1, pid, 0, 0)) != ECS_OK)
		return e;
	for (i = 0; i < json_len(ids); i++) {
		name = json_string(json_at(ids, i));
		if (name == NULL || util_blank(name) || strlen(name) > 1000)
			return field_err(err, ECS_EINVAL,
			    "%s: must hold non-blank strings", "auth_ids");
		if ((stmt = st(s, "INSERT INTO identities (name, description, "
		    "participant_id) VALUES (?, 'admin', ?)")) == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		sqlite3_bind_int64(stmt, 2, pid);
		if ((e = step_done(s, stmt, err, "auth id")) != ECS_OK)
			return e;
	}
	return ECS_OK;
}

/* A community given as id or name. */
static enum ecs_err
community_ref(struct store *s, const struct json *v, int64_t *cid,
    struct ecs_error *err)
{
	if (json_string(v) != NULL) {
		if (store_community_by_name(s, json_string(v), cid) != ECS_OK)
			return field_err(err, ECS_EINVAL,
			    "communities: no community named %s",
			    json_string(v));
		return ECS_OK;
	}
	if (json_int(v, cid) != 0 || store_community_exists(s, *cid) != ECS_OK)
		return field_err(err, ECS_EINVAL, "%s: unknown community id",
		    "communities");
	return ECS_OK;
}

static enum ecs_err
add_membership(struct store *s, int64_t pid, int64_t cid, int64_t *mid,
    struct ecs_error *err)
{
	enum ecs_err	 e;

	e = store_membership_add(s, pid, cid, mid);
	if (e == ECS_EEXIST)
		return field_err(err, ECS_EEXIST, "%s already exists",
		    "membership");
	if (e != ECS_OK)
		return e;
	return ivec_push(&s->st_new_mids, *mid);
}

/*
 * Make the participant's memberships the given set: missing ones are
 * added (and noted for postrouting), others are left to the caller.
 * The mids no longer wanted are returned in gone.
 */
static enum ecs_err
set_communities(struct store *s, int64_t pid, const struct json *cs,
    struct ivec *gone, struct ecs_error *err)
{
	struct ivec	 want, have;
	int64_t		 cid, mid;
	size_t		 i;
	enum ecs_err	 e = ECS_OK;

	if (json_type(cs) != JSON_ARRAY)
		return field_err(err, ECS_EINVAL, "%s: must be an array",
		    "communities");
	memset(&want, 0, sizeof(want));
	memset(&have, 0, sizeof(have));
	for (i = 0; e == ECS_OK && i < json_len(cs); i++)
		if ((e = community_ref(s, json_at(cs, i), &cid, err)) == ECS_OK)
			e = ivec_push_unique(&want, cid);
	if (e == ECS_OK)
		e = store_participant_cids(s, pid, &have);
	for (i = 0; e == ECS_OK && i < want.iv_n; i++)
		if (!ivec_has(&have, want.iv_v[i]))
			e = add_membership(s, pid, want.iv_v[i], &mid, err);
	for (i = 0; e == ECS_OK && i < have.iv_n; i++)
		if (!ivec_has(&want, have.iv_v[i]) &&
		    (e = store_member_mid(s, pid, have.iv_v[i], &mid)) ==
		    ECS_OK)
			e = ivec_push(gone, mid);
	ivec_free(&want);
	ivec_free(&have);
	return e;
}

static enum ecs_err
org_ref(struct store *s, const struct json *o, int64_t *org,
    struct ecs_error *err)
{
	const char	*name;
	enum ecs_err	 e;
	int64_t		 x;

	if ((e = get_id(o, "organization_id", org, err)) != ECS_OK)
		return e;
	if (*org != 0) {
		if (query_i(s, "SELECT id FROM organizations WHERE id = ?", 1,
		    *org, 0, &x) != ECS_OK)
			return field_err(err, ECS_EINVAL,
			    "%s: no such organization", "organization_id");
		return ECS_OK;
	}
	if ((e = get_str(o, "organization", 0, &name, err)) != ECS_OK)
		return e;
	if (name != NULL) {
		sqlite3_stmt	*stmt;
		int		 rc;

		if ((stmt = st(s, "SELECT id FROM organizations "
		    "WHERE name = ?")) == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			*org = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
		if (rc != SQLITE_ROW)
			return field_err(err, ECS_EINVAL,
			    "organization: no organization named %s", name);
	}
	return ECS_OK;
}

static enum ecs_err
participant_write(struct store *s, int64_t *id, const struct json *o,
    struct ivec *gone, struct ecs_error *err)
{
	const char		*name, *desc, *dns, *email;
	int			 selfrouting, events;
	int64_t			 org;
	sqlite3_stmt		*stmt;
	enum ecs_err		 e;
	const struct json	*v;

	if ((e = get_str(o, "name", F_NONBLANK | (*id == 0 ? F_REQUIRED : 0), &name,
	    err)) != ECS_OK ||
	    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK ||
	    (e = get_str(o, "dns", 0, &dns, err)) != ECS_OK ||
	    (e = get_str(o, "email", 0, &email, err)) != ECS_OK ||
	    (e = get_bool(o, "community_selfrouting", &selfrouting, err)) !=
	    ECS_OK ||
	    (e = get_bool(o, "events", &events, err)) != ECS_OK ||
	    (e = org_ref(s, o, &org, err)) != ECS_OK)
		return e;
	if (name != NULL && util_blank(name))
		return field_err(err, ECS_EINVAL, "%s: must not be blank",
		    "name");
	if (*id == 0) {
		if (org == 0)
			return field_err(err, ECS_EINVAL,
			    "%s: required for a new participant",
			    "organization_id");
		if ((stmt = st(s, "INSERT INTO participants (name, description, "
		    "dns, email, organization_id, selfrouting, events, ptype, "
		    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'main', "
		    "strftime('%s','now'), strftime('%s','now'))")) == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		bind_text(stmt, 2, desc ? desc : "");
		bind_text(stmt, 3, dns ? dns : "");
		bind_text(stmt, 4, email ? email : "");
		sqlite3_bind_int64(stmt, 5, org);
		sqlite3_bind_int(stmt, 6, selfrouting == 1);
		sqlite3_bind_int(stmt, 7, events != 0);
		if ((e = step_done(s, stmt, err, "participant name")) != ECS_OK)
			return e;
		*id = sqlite3_last_insert_rowid(s->st_db);
	} else {
		if ((stmt = st(s, "UPDATE participants SET "
		    "name = coalesce(?, name), "
		    "description = coalesce(?, description), "
		    "dns = coalesce(?, dns), email = coalesce(?, email), "
		    "organization_id = coalesce(?, organization_id), "
		    "selfrouting = coalesce(?, selfrouting), "
		    "events = coalesce(?, events), "
		    "updated_at = strftime('%s','now') WHERE id = ?")) == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		bind_text(stmt, 2, desc);
		bind_text(stmt, 3, dns);
		bind_text(stmt, 4, email);
		if (org != 0)
			sqlite3_bind_int64(stmt, 5, org);
		if (selfrouting != -1)
			sqlite3_bind_int(stmt, 6, selfrouting);
		if (events != -1)
			sqlite3_bind_int(stmt, 7, events);
		sqlite3_bind_int64(stmt, 8, *id);
		if ((e = step_done(s, stmt, err, "participant name")) != ECS_OK)
			return e;
	}
	if ((v = json_get(o, "auth_ids")) != NULL &&
	    (e = set_identities(s, *id, v, err)) != ECS_OK)
		return e;
	if ((v = json_get(o, "communities")) != NULL &&
	    (e = set_communities(s, *id, v, gone, err)) != ECS_OK)
		return e;
	return ECS_OK;
}

static enum ecs_err
simple_write(struct store *s, const char *kind, int64_t *id,
    const struct json *o, struct ecs_error *err)
{
	const char	*name, *abbr, *desc, *ns;
	int		 postroute, events;
	int64_t		 pid, cid;
	sqlite3_stmt	*stmt;
	enum ecs_err	 e;
	int		 create = *id == 0;

	if (strcmp(kind, "organizations") == 0) {
		if ((e = get_str(o, "name", F_NONBLANK | (create ? F_REQUIRED : 0),
		    &name, err)) != ECS_OK ||
		    (e = get_str(o, "abbr", F_NONBLANK | (create ? F_REQUIRED : 0),
		    &abbr, err)) != ECS_OK ||
		    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK)
			return e;
		if (create)
			stmt = st(s, "INSERT INTO organizations (name, abbr, "
			    "description) VALUES (?, ?, coalesce(?, ''))");
		else
			stmt = st(s, "UPDATE organizations SET "
			    "name = coalesce(?, name), abbr = coalesce(?, abbr), "
			    "description = coalesce(?, description) WHERE id = ?");
		if (stmt == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		bind_text(stmt, 2, abbr);
		bind_text(stmt, 3, desc);
		if (!create)
			sqlite3_bind_int64(stmt, 4, *id);
		e = step_done(s, stmt, err, "organization name or abbr");
	} else if (strcmp(kind, "communities") == 0) {
		if ((e = get_str(o, "name", F_NONBLANK | (create ? F_REQUIRED : 0),
		    &name, err)) != ECS_OK ||
		    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK)
			return e;
		if (create)
			stmt = st(s, "INSERT INTO communities (name, description) "
			    "VALUES (?, coalesce(?, ''))");
		else
			stmt = st(s, "UPDATE communities SET "
			    "name = coalesce(?, name), "
			    "description = coalesce(?, description) WHERE id = ?");
		if (stmt == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, name);
		bind_text(stmt, 2, desc);
		if (!create)
			sqlite3_bind_int64(stmt, 3, *id);
		e = step_done(s, stmt, err, "community name");
	} else if (strcmp(kind, "resources") == 0) {
		if ((e = get_str(o, "namespace", F_NONBLANK | (create ? F_REQUIRED : 0),
		    &ns, err)) != ECS_OK ||
		    (e = get_str(o, "name", F_NONBLANK | (create ? F_REQUIRED : 0),
		    &name, err)) != ECS_OK ||
		    (e = get_bool(o, "postroute", &postroute, err)) != ECS_OK ||
		    (e = get_bool(o, "events", &events, err)) != ECS_OK)
			return e;
		if (ns != NULL && !valid_resource_part(ns))
			return field_err(err, ECS_EINVAL, "%s: must match "
			    "[A-Za-z0-9_-]+", "namespace");
		if (name != NULL && !valid_resource_part(name))
			return field_err(err, ECS_EINVAL, "%s: must match "
			    "[A-Za-z0-9_-]+", "name");
		if (ns != NULL && (strcmp(ns, "sys") == 0 ||
		    strcmp(ns, "admin") == 0))
			return field_err(err, ECS_EINVAL,
			    "namespace: %s is reserved", ns);
		if (create)
			stmt = st(s, "INSERT INTO resources (namespace, name, "
			    "postroute, events) VALUES (?, ?, ?, ?)");
		else
			stmt = st(s, "UPDATE resources SET "
			    "namespace = coalesce(?, namespace), "
			    "name = coalesce(?, name), "
			    "postroute = coalesce(?, postroute), "
			    "events = coalesce(?, events) WHERE id = ?");
		if (stmt == NULL)
			return ECS_ESTORE;
		bind_text(stmt, 1, ns);
		bind_text(stmt, 2, name);
		if (create || postroute != -1)
			sqlite3_bind_int(stmt, 3, postroute == 1);
		if (create || events != -1)
			sqlite3_bind_int(stmt, 4, events != 0);
		if (!create)
			sqlite3_bind_int64(stmt, 5, *id);
		e = step_done(s, stmt, err, "resource");
	} else if (strcmp(kind, "memberships") == 0) {
		if (!create)
			return field_err(err, ECS_EINVAL, "%s cannot be changed",
			    "membership");
		if ((e = get_id(o, "participant_id", &pid, err)) != ECS_OK ||
		    (e = get_id(o, "community_id", &cid, err)) != ECS_OK)
			return e;
		if (pid == 0)
			return field_err(err, ECS_EINVAL, "%s: required",
			    "participant_id");
		if (cid == 0)
			return field_err(err, ECS_EINVAL, "%s: required",
			    "community_id");
		if (query_i(s, "SELECT id FROM participants WHERE id = ? AND "
		    "ptype IS NOT NULL", 1, pid, 0, &pid) != ECS_OK)
			return field_err(err, ECS_ENOTFOUND,
			    "%s: no such participant", "participant_id");
		if (store_community_exists(s, cid) != ECS_OK)
			return field_err(err, ECS_ENOTFOUND,
			    "%s: no such community", "community_id");
		return add_membership(s, pid, cid, id, err);
	} else
		return field_err(err, ECS_ENOTFOUND, "no such collection: %s",
		    kind);
	if (e == ECS_OK && create)
		*id = sqlite3_last_insert_rowid(s->st_db);
	return e;
}

enum ecs_err
store_admin_create(struct store *s, const char *kind, const struct json *o,
    int64_t *id, struct ecs_error *err)
{
	struct ivec	 gone;
	enum ecs_err	 e;

	s->st_gen++;

	if (json_type(o) != JSON_OBJECT)
		return field_err(err, ECS_EINVAL, "%s: must be a JSON object",
		    "body");
	*id = 0;
	if (strcmp(kind, "participants") != 0)
		return simple_write(s, kind, id, o, err);
	memset(&gone, 0, sizeof(gone));
	e = participant_write(s, id, o, &gone, err);
	ivec_free(&gone);
	return e;
}

enum ecs_err
store_admin_update(struct store *s, const char *kind, int64_t id,
    const struct json *o, struct ecs_error *err)
{
	struct jw	 w;
	struct buf	 b;
	enum ecs_err	 e;

	s->st_gen++;

	if (json_type(o) != JSON_OBJECT)
		return field_err(err, ECS_EINVAL, "%s: must be a JSON object",
		    "body");
	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	e = store_admin_get(s, kind, id, &w);
	buf_free(&b);
	if (e != ECS_OK)
		return field_err(err, e, "%s: no such id", kind);
	if (strcmp(kind, "participants") == 0) {
		struct ivec	 gone;
		size_t		 i;

		memset(&gone, 0, sizeof(gone));
		e = participant_write(s, &id, o, &gone, err);
		/* Memberships no longer wanted leave like admin deletions. */
		for (i = 0; e == ECS_OK && i < gone.iv_n; i++)
			e = ivec_push(&s->st_new_mids, -gone.iv_v[i]);
		ivec_free(&gone);
		return e;
	}
	return simple_write(s, kind, &id, o, err);
}

enum ecs_err
store_admin_delete(struct store *s, const char *kind, int64_t id)
{
	s->st_gen++;
	if (strcmp(kind, "organizations") == 0) {
		struct ivec	 ps;
		size_t		 i;
		enum ecs_err	 e;

		memset(&ps, 0, sizeof(ps));
		e = query_iv(s, "SELECT id FROM participants "
		    "WHERE organization_id = ?", 1, id, 0, &ps);
		for (i = 0; e == ECS_OK && i < ps.iv_n; i++)
			e = store_participant_delete(s, ps.iv_v[i]);
		ivec_free(&ps);
		if (e != ECS_OK)
			return e;
		return exec_i(s, "DELETE FROM organizations WHERE id = ?", 1, id,
		    0, 0);
	}
	if (strcmp(kind, "communities") == 0)
		return exec_i(s, "DELETE FROM communities WHERE id = ?", 1, id,
		    0, 0);
	if (strcmp(kind, "resources") == 0)
		return exec_i(s, "DELETE FROM resources WHERE id = ?", 1, id, 0,
		    0);
	if (strcmp(kind, "memberships") == 0)
		return exec_i(s, "DELETE FROM memberships WHERE id = ?", 1, id,
		    0, 0);
	if (strcmp(kind, "participants") == 0)
		return store_participant_delete(s, id);
	return ECS_ENOTFOUND;
}

enum ecs_err
store_admin_find(struct store *s, const char *kind, const struct json *o,
    int64_t *id)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;
	const char	*a = json_string(json_get(o, "name"));
	const char	*b = NULL;

	if (a == NULL)
		return ECS_ENOTFOUND;
	if (strcmp(kind, "organizations") == 0)
		stmt = st(s, "SELECT id FROM organizations WHERE name = ?");
	else if (strcmp(kind, "communities") == 0)
		stmt = st(s, "SELECT id FROM communities WHERE name = ?");
	else if (strcmp(kind, "participants") == 0)
		stmt = st(s, "SELECT id FROM participants WHERE name = ?");
	else if (strcmp(kind, "resources") == 0) {
		b = a;
		a = json_string(json_get(o, "namespace"));
		if (a == NULL)
			return ECS_ENOTFOUND;
		stmt = st(s, "SELECT id FROM resources WHERE namespace = ? "
		    "AND name = ?");
	} else
		return ECS_ENOTFOUND;
	if (stmt == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, a);
	if (b != NULL)
		bind_text(stmt, 2, b);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(stmt, 0);
	else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_admin_export(struct store *s, struct jw *w)
{
	sqlite3_stmt	*stmt, *sub;
	int		 rc;

	jw_obj_open(w);
	jw_key(w, "organizations");
	jw_arr_open(w);
	if ((stmt = st(s, "SELECT name, abbr, description FROM organizations "
	    "WHERE name NOT IN ('not available', 'system') ORDER BY id")) ==
	    NULL)
		return ECS_ESTORE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 0);
		jw_col_str(w, "abbr", stmt, 1);
		jw_col_str(w, "description", stmt, 2);
		jw_obj_close(w);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	jw_key(w, "communities");
	jw_arr_open(w);
	if ((stmt = st(s, "SELECT name, description FROM communities "
	    "WHERE name <> 'public' ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 0);
		jw_col_str(w, "description", stmt, 1);
		jw_obj_close(w);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	jw_key(w, "resources");
	jw_arr_open(w);
	if ((stmt = st(s, "SELECT namespace, name, postroute, events "
	    "FROM resources WHERE namespace <> 'sys' ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "namespace", stmt, 0);
		jw_col_str(w, "name", stmt, 1);
		jw_kbool(w, "postroute", sqlite3_column_int(stmt, 2));
		jw_kbool(w, "events", sqlite3_column_int(stmt, 3));
		jw_obj_close(w);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	jw_key(w, "participants");
	jw_arr_open(w);
	if ((stmt = st(s, "SELECT p.id, p.name, p.description, p.dns, "
	    "p.email, o.name, p.selfrouting, p.events FROM participants p "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE p.ptype = 'main' ORDER BY p.id")) == NULL)
		return ECS_ESTORE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 1);
		jw_col_str(w, "description", stmt, 2);
		jw_col_str(w, "dns", stmt, 3);
		jw_col_str(w, "email", stmt, 4);
		jw_col_str(w, "organization", stmt, 5);
		jw_kbool(w, "community_selfrouting",
		    sqlite3_column_int(stmt, 6));
		jw_kbool(w, "events", sqlite3_column_int(stmt, 7));
		jw_key(w, "auth_ids");
		jw_arr_open(w);
		if ((sub = st(s, "SELECT name FROM identities "
		    "WHERE participant_id = ? ORDER BY id")) == NULL)
			return ECS_ESTORE;
		sqlite3_bind_int64(sub, 1, sqlite3_column_int64(stmt, 0));
		while (sqlite3_step(sub) == SQLITE_ROW)
			jw_str(w, (const char *)sqlite3_column_text(sub, 0));
		sqlite3_reset(sub);
		jw_arr_close(w);
		jw_key(w, "communities");
		jw_arr_open(w);
		if ((sub = st(s, "SELECT c.name FROM memberships m "
		    "JOIN communities c ON c.id = m.community_id "
		    "WHERE m.participant_id = ? ORDER BY m.id")) == NULL)
			return ECS_ESTORE;
		sqlite3_bind_int64(sub, 1, sqlite3_column_int64(stmt, 0));
		while (sqlite3_step(sub) == SQLITE_ROW)
			jw_str(w, (const char *)sqlite3_column_text(sub, 0));
		sqlite3_reset(sub);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	jw_obj_close(w);
	return rc == SQLITE_DONE ? ECS_OK : ECS_ESTORE;
}

enum ecs_err
store_take_event_pids(struct store *s, struct ivec *out)
{
	struct ivec	 t;

	t = *out;
	*out = s->st_event_pids;
	s->st_event_pids = t;
	s->st_event_pids.iv_n = 0;
	return ECS_OK;
}

enum ecs_err
store_take_new_mids(struct store *s, struct ivec *out)
{
	size_t		 i;
	enum ecs_err	 e = ECS_OK;

	for (i = 0; e == ECS_OK && i < s->st_new_mids.iv_n; i++)
		e = ivec_push(out, s->st_new_mids.iv_v[i]);
	s->st_new_mids.iv_n = 0;
	return e;
}

enum ecs_err
store_received_all(struct store *s, int64_t pid, struct ivec *v)
{
	return query_iv(s, "SELECT DISTINCT l.message_id FROM memberships m "
	    "JOIN links l ON l.membership_id = m.id "
	    "WHERE m.participant_id = ? ORDER BY l.message_id", 1, pid, 0, v);
}

enum ecs_err
store_sent_all(struct store *s, int64_t pid, struct ivec *v)
{
	return query_iv(s, "SELECT id FROM messages WHERE sender_id = ? AND "
	    "removed = 0 ORDER BY id", 1, pid, 0, v);
}

/* --- anonymous participants and subparticipants --------------------------- */

enum ecs_err
store_participant_add(struct store *s, const struct ecs_newpart *np,
    int64_t *pid)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	s->st_gen++;

	if ((stmt = st(s, "INSERT INTO participants (name, description, dns, "
	    "email, organization_id, selfrouting, events, ptype, ttl, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "strftime('%s','now'), strftime('%s','now'))")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, np->np_name);
	bind_text(stmt, 2, np->np_desc ? np->np_desc : "");
	bind_text(stmt, 3, np->np_dns ? np->np_dns : "");
	bind_text(stmt, 4, np->np_email ? np->np_email : "");
	sqlite3_bind_int64(stmt, 5, np->np_org);
	sqlite3_bind_int(stmt, 6, np->np_selfrouting != 0);
	sqlite3_bind_int(stmt, 7, np->np_events != 0);
	bind_text(stmt, 8, np->np_ptype);
	if (np->np_ttl != 0)
		sqlite3_bind_int64(stmt, 9, np->np_ttl);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE)
		return sql_err(s, rc);
	*pid = sqlite3_last_insert_rowid(s->st_db);
	return ECS_OK;
}

enum ecs_err
store_participant_rename(struct store *s, int64_t pid, const char *name,
    const char *desc)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	s->st_gen++;

	if ((stmt = st(s, "UPDATE participants SET name = ?, description = ? "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, name);
	bind_text(stmt, 2, desc);
	sqlite3_bind_int64(stmt, 3, pid);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

enum ecs_err
store_participant_set_ttl(struct store *s, int64_t pid, time_t ttl)
{
	return exec_i(s, "UPDATE participants SET ttl = ? WHERE id = ?", 2,
	    ttl, pid, 0);
}

enum ecs_err
store_identity_add(struct store *s, const char *name, const char *desc,
    int64_t pid)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	s->st_gen++;

	if ((stmt = st(s, "INSERT INTO identities (name, description, "
	    "participant_id) VALUES (?, ?, ?)")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, name);
	bind_text(stmt, 2, desc);
	sqlite3_bind_int64(stmt, 3, pid);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

enum ecs_err
store_org_by_name(struct store *s, const char *name, int64_t *id)
{
	return query_i_text(s, "SELECT id FROM organizations WHERE name = ?",
	    name, id);
}

enum ecs_err
store_membership_add(struct store *s, int64_t pid, int64_t cid, int64_t *mid)
{
	enum ecs_err	 e;

	e = exec_i(s, "INSERT INTO memberships (participant_id, community_id) "
	    "VALUES (?, ?)", 2, pid, cid, 0);
	if (e != ECS_OK)
		return e;
	*mid = sqlite3_last_insert_rowid(s->st_db);
	return ECS_OK;
}

enum ecs_err
store_membership_delete(struct store *s, int64_t mid)
{
	return exec_i(s, "DELETE FROM memberships WHERE id = ?", 1, mid, 0, 0);
}

enum ecs_err
store_subpart_add(struct store *s, int64_t pid, int64_t parent,
    const char *realm, int64_t *sid)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, "INSERT INTO subparticipants (participant_id, "
	    "parent_id, realm) VALUES (?, ?, ?)")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, pid);
	sqlite3_bind_int64(stmt, 2, parent);
	bind_text(stmt, 3, realm);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sql_err(s, rc);
	*sid = sqlite3_last_insert_rowid(s->st_db);
	return ECS_OK;
}

enum ecs_err
store_subpart_get(struct store *s, int64_t sid, struct ecs_subpart *sp)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT id, participant_id, parent_id, realm "
	    "FROM subparticipants WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, sid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		memset(sp, 0, sizeof(*sp));
		sp->sp_id = sqlite3_column_int64(stmt, 0);
		sp->sp_pid = sqlite3_column_int64(stmt, 1);
		sp->sp_parent = sqlite3_column_int64(stmt, 2);
		sp->sp_has_realm = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
		copy_col(stmt, 3, sp->sp_realm, sizeof(sp->sp_realm));
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_subpart_list(struct store *s, int64_t parent, struct ivec *v)
{
	return query_iv(s, "SELECT id FROM subparticipants WHERE parent_id = ? "
	    "ORDER BY id", 1, parent, 0, v);
}

enum ecs_err
store_subpart_set(struct store *s, int64_t sid, const char *realm,
    int selfrouting, int events)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e;

	s->st_gen++;

	if ((stmt = st(s, "UPDATE subparticipants SET realm = ? "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, realm);
	sqlite3_bind_int64(stmt, 2, sid);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sql_err(s, rc);
	e = exec_i(s, "UPDATE participants SET selfrouting = ?, events = ?, "
	    "updated_at = strftime('%s','now') WHERE id = "
	    "(SELECT participant_id FROM subparticipants WHERE id = ?)", 3,
	    selfrouting, events, sid);
	return e;
}

enum ecs_err
store_subpart_json(struct store *s, int64_t sid, struct jw *w)
{
	struct ecs_subpart	 sp;
	sqlite3_stmt		*stmt, *ps;
	enum ecs_err		 e;
	int			 rc;

	if ((e = store_subpart_get(s, sid, &sp)) != ECS_OK)
		return e;
	if ((stmt = st(s, "SELECT name, description, dns, email, selfrouting, "
	    "events FROM participants WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, sp.sp_pid);
	if ((rc = sqlite3_step(stmt)) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	}
	jw_obj_open(w);
	jw_col_str(w, "name", stmt, 0);
	jw_col_str(w, "description", stmt, 1);
	jw_key(w, "auth_ids");
	jw_arr_open(w);
	if ((ps = st(s, "SELECT name, description FROM identities "
	    "WHERE participant_id = ? ORDER BY id")) == NULL) {
		sqlite3_reset(stmt);
		return ECS_ESTORE;
	}
	sqlite3_bind_int64(ps, 1, sp.sp_pid);
	while (sqlite3_step(ps) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "auth_id", ps, 0);
		jw_col_str(w, "desc", ps, 1);
		jw_obj_close(w);
	}
	sqlite3_reset(ps);
	jw_arr_close(w);
	jw_col_str(w, "dns", stmt, 2);
	jw_col_str(w, "email", stmt, 3);
	jw_kbool(w, "community_selfrouting", sqlite3_column_int(stmt, 4));
	jw_kbool(w, "events", sqlite3_column_int(stmt, 5));
	sqlite3_reset(stmt);
	jw_key(w, "memberships");
	jw_arr_open(w);
	if ((stmt = st(s, "SELECT c.name, c.description, c.id, p.name, "
	    "p.description, p.email, p.dns, m.id, o.name, o.abbr, p.id, p.ptype "
	    "FROM memberships m JOIN communities c ON c.id = m.community_id "
	    "JOIN participants p ON p.id = m.participant_id "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE m.participant_id = ? ORDER BY m.id")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, sp.sp_pid);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jw_obj_open(w);
		jw_key(w, "community");
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 0);
		jw_col_str(w, "description", stmt, 1);
		jw_kint(w, "cid", sqlite3_column_int64(stmt, 2));
		jw_obj_close(w);
		jw_key(w, "participants");
		jw_arr_open(w);
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 3);
		jw_col_str(w, "description", stmt, 4);
		jw_col_str(w, "email", stmt, 5);
		jw_col_str(w, "dns", stmt, 6);
		jw_kint(w, "mid", sqlite3_column_int64(stmt, 7));
		jw_key(w, "org");
		jw_obj_open(w);
		jw_col_str(w, "name", stmt, 8);
		jw_col_str(w, "abbr", stmt, 9);
		jw_obj_close(w);
		jw_kbool(w, "itsyou", 1);
		jw_kint(w, "pid", sqlite3_column_int64(stmt, 10));
		jw_col_str(w, "type", stmt, 11);
		jw_obj_close(w);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	sqlite3_reset(stmt);
	jw_arr_close(w);
	jw_key(w, "realm");
	jw_str(w, sp.sp_has_realm ? sp.sp_realm : NULL);
	jw_obj_close(w);
	return rc == SQLITE_DONE ? ECS_OK : sql_err(s, rc);
}

/* --- passwords ------------------------------------------------------------ */

enum ecs_err
store_identity_password(struct store *s, const char *name, int64_t *pid,
    char *hash, size_t len)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT participant_id, password FROM identities "
	    "WHERE name = ? AND password IS NOT NULL")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*pid = sqlite3_column_int64(stmt, 0);
		copy_col(stmt, 1, hash, len);
	} else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

enum ecs_err
store_identity_set_password(struct store *s, int64_t pid, const char *name,
    const char *hash)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = st(s, "UPDATE identities SET password = ? "
	    "WHERE participant_id = ? AND name = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, pid);
	bind_text(stmt, 3, name);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return sql_err(s, rc);
	return sqlite3_changes(s->st_db) == 1 ? ECS_OK : ECS_ENOTFOUND;
}

enum ecs_err
store_gc_tombstones(struct store *s, int *n)
{
	enum ecs_err	 e;

	e = exec_i(s, "DELETE FROM messages WHERE removed = 1 AND NOT EXISTS "
	    "(SELECT 1 FROM events WHERE events.message_id = messages.id)", 0,
	    0, 0, 0);
	*n = e == ECS_OK ? sqlite3_changes(s->st_db) : 0;
	return e;
}

enum ecs_err
store_participant_by_name(struct store *s, const char *name, int64_t *pid)
{
	return query_i_text(s, "SELECT id FROM participants WHERE name = ?",
	    name, pid);
}

enum ecs_err
store_participant_authid(struct store *s, int64_t pid, char *out, size_t len)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((stmt = st(s, "SELECT name FROM identities WHERE participant_id = ? "
	    "ORDER BY id LIMIT 1")) == NULL)
		return ECS_ESTORE;
	sqlite3_bind_int64(stmt, 1, pid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		copy_col(stmt, 0, out, len);
	else
		e = rc == SQLITE_DONE ? ECS_ENOTFOUND : sql_err(s, rc);
	sqlite3_reset(stmt);
	return e;
}

uint64_t
store_generation(struct store *s)
{
	return s->st_gen;
}
