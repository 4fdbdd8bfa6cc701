/*
 * store.c: the storage interface, on an SQL driver (store_db.h). Every
 * query of the store lives here, written once in the SQL that SQLite and
 * PostgreSQL share; the drivers (store_sqlite.c, store_pg.c) run them.
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

#include "store.h"
#include "store_db.h"
#include "util.h"

#define STMT_CACHE	256

/* Largest payload of one notification (PostgreSQL's limit is 8000). */
#define NOTIFY_MAX	7000

struct stmt_slot {
	const char	*ss_sql;
	struct dbst	*ss_stmt;
	int		 ss_write;	/* INSERT, UPDATE or DELETE */
};

/*
 * Look-ups that every message asks for, valid for one generation (st_gen + 1,
 * so that a zeroed slot never matches): the community and participant of a
 * membership, whether a participant is a member of a community, the
 * memberships of a participant, and whether a participant gets events.
 * On PostgreSQL each saved look-up is a round trip to the server. Another
 * node's change moves the generation when its notification is read; a
 * write that names what it deleted before then fails on a foreign key,
 * and its batch with it.
 */
#define LOOKUP_SLOTS	256	/* per kind; a power of two */
#define LOOKUP_MIDS	4	/* memberships of a participant kept */

struct mid_slot {
	uint64_t	 ms_gen;
	int64_t		 ms_mid;
	int64_t		 ms_cid;
	int64_t		 ms_pid;
};

struct member_slot {
	uint64_t	 mb_gen;
	int64_t		 mb_pid;
	int64_t		 mb_cid;
	int64_t		 mb_mid;	/* 0: not a member */
};

struct pmids_slot {
	uint64_t	 pm_gen;
	int64_t		 pm_pid;
	size_t		 pm_n;
	int64_t		 pm_mids[LOOKUP_MIDS];
};

struct pflag_slot {
	uint64_t	 pf_gen;
	int64_t		 pf_pid;
	int		 pf_events;
};

struct lookups {
	struct mid_slot		 lk_mid[LOOKUP_SLOTS];
	struct member_slot	 lk_member[LOOKUP_SLOTS];
	struct pmids_slot	 lk_pmids[LOOKUP_SLOTS];
	struct pflag_slot	 lk_pflag[LOOKUP_SLOTS];
};

/*
 * Queue heads fetched ahead for the pops of one batch
 * (store_queue_prefetch): one membership's queue in one direction, the
 * messages in the order the pops take them, each with the links of the
 * participant that pops it. An item taken, or gone by another queue's pop
 * of the same message, has m_id 0.
 */
struct qhead {
	struct ecs_msg		 qh_msg;
	struct ecs_linkv	 qh_lv;
};

struct qahead {
	int64_t			 qa_mid;
	int64_t			 qa_res;
	int			 qa_lifo;
	struct qhead		*qa_v;
	size_t			 qa_n;
	size_t			 qa_next;	/* first not taken */
};

/* A participant's events fetched ahead (store_events_prefetch). */
struct evahead {
	int64_t			 ea_pid;
	struct ecs_event	*ea_v;
	size_t			 ea_n;
	size_t			 ea_next;	/* first not taken */
	int			 ea_all;	/* fewer than asked: all */
};

struct store {
	struct db		*st_db;
	int			 st_tx;		/* a batch transaction is open */
	int			 st_sp;		/* savepoint depth */
	struct ivec		 st_new_mids;
	struct ivec		 st_event_pids;	/* got events in this batch */
	uint64_t		 st_gen;	/* bumped by every change that
						   cached lookups depend on */
	int			 st_gen_tx;	/* this batch bumped st_gen */
	int			 st_refs_shared; /* ran d_share_refs */
	int64_t			 st_msg_locked;	/* msg_lock ran for it */
	uint64_t		 st_writes;	/* write statements run */
	struct stmt_slot	 st_cache[STMT_CACHE];
	struct lookups		 st_lk;
	struct qahead		*st_qa;		/* queue heads fetched ahead */
	size_t			 st_nqa;
	size_t			 st_qacap;
	struct evahead		*st_ea;		/* events fetched ahead */
	size_t			 st_nea;
	size_t			 st_eacap;
};

static void	 qa_clear(struct store *);

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

/* A change that cached lookups depend on. */
static void
gen_bump(struct store *s)
{
	s->st_gen++;
	s->st_gen_tx = 1;
}

/* The slot of a look-up by one or two ids. */
static size_t
lookup_slot(int64_t a, int64_t b)
{
	uint64_t	 h = (uint64_t)a * 0x9e3779b97f4a7c15ULL ^ (uint64_t)b;

	h *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 56) & (LOOKUP_SLOTS - 1);
}

/* The error of the connection's last failed call. */
static enum ecs_err
db_err(struct store *s)
{
	return s->st_db->db_drv->d_error(s->st_db);
}

static void
bind_i(struct dbst *q, int i, int64_t v)
{
	q->ds_db->db_drv->d_bind_int64(q, i, v);
}

/* NULL binds SQL NULL. */
static void
bind_text(struct dbst *q, int i, const char *v)
{
	q->ds_db->db_drv->d_bind_text(q, i, v);
}

static void
bind_blob(struct dbst *q, int i, const void *v, size_t len)
{
	q->ds_db->db_drv->d_bind_blob(q, i, v, len);
}

static int
step(struct dbst *q)
{
	return q->ds_db->db_drv->d_step(q);
}

static void
reset(struct dbst *q)
{
	q->ds_db->db_drv->d_reset(q);
}

static int
col_null(struct dbst *q, int i)
{
	return q->ds_db->db_drv->d_column_null(q, i);
}

static int64_t
col_i(struct dbst *q, int i)
{
	return q->ds_db->db_drv->d_column_int64(q, i);
}

/* "" for SQL NULL. */
static const char *
col_text(struct dbst *q, int i)
{
	const char	*p = q->ds_db->db_drv->d_column_text(q, i);

	return p != NULL ? p : "";
}

static int64_t
changes(struct store *s)
{
	return s->st_db->db_drv->d_changes(s->st_db);
}

/* A prepared, reset statement for sql (a string literal), or NULL. */
static struct dbst *
st(struct store *s, const char *sql)
{
	const struct db_driver	*drv = s->st_db->db_drv;
	struct stmt_slot	*slot;
	struct dbst		*q;
	size_t			 h, i;

	h = ((uintptr_t)sql >> 3) % STMT_CACHE;
	for (i = 0; i < STMT_CACHE; i++) {
		slot = &s->st_cache[(h + i) % STMT_CACHE];
		if (slot->ss_sql == sql) {
			drv->d_reset(slot->ss_stmt);
			s->st_writes += slot->ss_write;
			return slot->ss_stmt;
		}
		if (slot->ss_sql == NULL) {
			if ((q = drv->d_prepare(s->st_db, sql)) == NULL)
				return NULL;
			slot->ss_sql = sql;
			slot->ss_stmt = q;
			slot->ss_write = strncmp(sql, "INSERT", 6) == 0 ||
			    strncmp(sql, "UPDATE", 6) == 0 ||
			    strncmp(sql, "DELETE", 6) == 0;
			s->st_writes += slot->ss_write;
			return q;
		}
	}
	return NULL;
}

/* Step a statement without result rows (or ignoring them) and reset it. */
static enum ecs_err
run(struct store *s, struct dbst *q)
{
	enum ecs_err	 e = ECS_OK;

	if (step(q) == DB_ERROR)
		e = db_err(s);
	reset(q);
	return e;
}

/* Step a statement that returns one id ("RETURNING id") and reset it. */
static enum ecs_err
run_id(struct store *s, struct dbst *q, int64_t *id)
{
	enum ecs_err	 e = ECS_OK;
	int		 rc;

	rc = step(q);
	if (rc == DB_ROW)
		*id = col_i(q, 0);
	else
		e = rc == DB_DONE ? ECS_ESTORE : db_err(s);
	reset(q);
	return e;
}

/* Run a statement without result rows; binds are int64 only. */
static enum ecs_err
exec_i(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    int64_t c)
{
	struct dbst	*q;

	if ((q = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		bind_i(q, 1, a);
	if (n > 1)
		bind_i(q, 2, b);
	if (n > 2)
		bind_i(q, 3, c);
	return run(s, q);
}

/*
 * Of two statements, the one for the backend: plain where foreign keys
 * check what a row names, checked where the statement reads it itself
 * (d_share_refs).
 */
#define REFS(s, plain, checked) \
	((s)->st_db->db_drv->d_share_refs != NULL ? (checked) : (plain))

/*
 * Before the first insert of a batch that names a resource, participant,
 * membership or community without a foreign key: the shared side of
 * refs_lock (d_share_refs). On PostgreSQL it waits in the pipeline.
 */
static enum ecs_err
refs_share(struct store *s)
{
	const char	*sql = s->st_db->db_drv->d_share_refs;

	if (sql == NULL || s->st_refs_shared)
		return ECS_OK;
	s->st_refs_shared = 1;
	return exec_i(s, sql, 0, 0, 0, 0);
}

/*
 * Insert a row that names a resource, participant, membership or community:
 * plain where a foreign key checks the name, checked where the statement
 * reads the row itself, under the shared lock (d_share_refs).
 */
static enum ecs_err
exec_naming(struct store *s, const char *plain, const char *checked, int n,
    int64_t a, int64_t b, int64_t c)
{
	enum ecs_err	 e;

	if ((e = refs_share(s)) != ECS_OK)
		return e;
	return exec_i(s, REFS(s, plain, checked), n, a, b, c);
}

/*
 * The statement of exec_naming for one that binds more than numbers, in *q.
 */
static enum ecs_err
st_naming(struct store *s, const char *plain, const char *checked,
    struct dbst **q)
{
	enum ecs_err	 e;

	if ((e = refs_share(s)) != ECS_OK)
		return e;
	return (*q = st(s, REFS(s, plain, checked))) != NULL ? ECS_OK :
	    ECS_ESTORE;
}

/*
 * An older message that a checked insert names (schema version 6 on
 * PostgreSQL, no foreign keys to messages): read in the statement and
 * locked against its deletion as a key check would lock it, or NULL when
 * it is gone or a tombstone, which NOT NULL refuses. A disposal locks the
 * message before it decides (msg_dispose_blind), so the two wait for each
 * other; a tombstone never gets a new row naming it, so deleting one needs
 * no lock.
 */
#define NAMED_MSG	"(SELECT id FROM messages WHERE id = ? AND " \
			"removed = 0 FOR KEY SHARE)"

/*
 * Before a disposal decides whether a message goes (msg_dispose_blind):
 * its row locked as a deletion locks it, unless the batch just did
 * (store_link_delete_last). On PostgreSQL the lock waits in the pipeline.
 */
static enum ecs_err
msg_lock(struct store *s, int64_t msg)
{
	enum ecs_err	 e;

	if (s->st_msg_locked == msg)
		return ECS_OK;
	if ((e = exec_i(s, "SELECT FROM messages WHERE id = ? FOR UPDATE", 1,
	    msg, 0, 0)) == ECS_OK)
		s->st_msg_locked = msg;
	return e;
}

/*
 * Before a resource, participant, membership or community is deleted: no
 * batch that may name it is still open, and none starts naming one until
 * this one ends (d_lock_refs).
 */
static enum ecs_err
refs_lock(struct store *s)
{
	const struct db_driver	*drv = s->st_db->db_drv;

	return drv->d_lock_refs != NULL ? drv->d_exec(s->st_db,
	    drv->d_lock_refs) : ECS_OK;
}

/* One int64 from the first row; ECS_ENOTFOUND without rows. */
static enum ecs_err
query_i(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    int64_t *out)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		bind_i(q, 1, a);
	if (n > 1)
		bind_i(q, 2, b);
	rc = step(q);
	if (rc == DB_ROW) {
		if (col_null(q, 0))
			e = ECS_ENOTFOUND;
		else
			*out = col_i(q, 0);
	} else if (rc == DB_DONE)
		e = ECS_ENOTFOUND;
	else
		e = db_err(s);
	reset(q);
	return e;
}

/* One int64 from the first row of a query with one text parameter. */
static enum ecs_err
query_i_text(struct store *s, const char *sql, const char *text,
    int64_t *out)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, sql)) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, text);
	rc = step(q);
	if (rc == DB_ROW)
		*out = col_i(q, 0);
	else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

/* Every first column of a bound statement into v; resets it. */
static enum ecs_err
rows_iv(struct store *s, struct dbst *q, struct ivec *v)
{
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	while ((rc = step(q)) == DB_ROW) {
		if ((e = ivec_push(v, col_i(q, 0))) != ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	return e;
}

/* Every first column into v. */
static enum ecs_err
query_iv(struct store *s, const char *sql, int n, int64_t a, int64_t b,
    struct ivec *v)
{
	struct dbst	*q;

	if ((q = st(s, sql)) == NULL)
		return ECS_ESTORE;
	if (n > 0)
		bind_i(q, 1, a);
	if (n > 1)
		bind_i(q, 2, b);
	return rows_iv(s, q, v);
}

/* --- open, close, transactions ------------------------------------------ */

const struct db_driver *
db_driver_for(const char *target, const char **rest)
{
	if (strncmp(target, "sqlite:", 7) == 0) {
		*rest = target + 7;
		return &db_sqlite;
	}
	if (strncmp(target, "postgresql:", 11) == 0) {
		*rest = target + 11;
#ifdef HAVE_POSTGRESQL
		return &db_postgresql;
#else
		return NULL;
#endif
	}
	*rest = target;
	return &db_sqlite;
}

enum ecs_err
store_open(const char *target, int durable, struct store **out,
    struct ecs_error *err)
{
	const struct db_driver	*drv;
	const char		*rest;
	struct store		*s;
	enum ecs_err		 e;

	if ((drv = db_driver_for(target, &rest)) == NULL) {
		snprintf(err->e_msg, sizeof(err->e_msg), "this ecsd was built "
		    "without PostgreSQL support (configure --with-postgresql)");
		err->e_code = ECS_ESTORE;
		return ECS_ESTORE;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ECS_ENOMEM;
	if ((e = drv->d_open(rest, durable, &s->st_db, err)) != ECS_OK) {
		free(s);
		return e;
	}
	*out = s;
	return ECS_OK;
}

const char *
store_backend(struct store *s)
{
	return s->st_db->db_drv->d_name;
}

enum ecs_err
store_background_start(struct store *s, const char *target)
{
	const struct db_driver	*drv = s->st_db->db_drv;
	const char		*rest;

	if (drv->d_background == NULL)
		return ECS_OK;
	if (db_driver_for(target, &rest) != drv)
		return ECS_EINVAL;
	return drv->d_background(s->st_db, rest);
}

int
store_notify_fd(struct store *s)
{
	const struct db_driver	*drv = s->st_db->db_drv;

	if (drv->d_notify_fd == NULL)
		return -1;
	return drv->d_notify_fd(s->st_db);
}

enum ecs_err
store_notify_read(struct store *s, struct ivec *pids)
{
	const struct db_driver	*drv = s->st_db->db_drv;
	enum ecs_err		 e;
	int			 stale = 0;

	if (drv->d_notify_read == NULL)
		return ECS_OK;
	e = drv->d_notify_read(s->st_db, pids, &stale);
	if (stale)
		s->st_gen++;
	return e;
}

void
store_close(struct store *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < STMT_CACHE; i++)
		if (s->st_cache[i].ss_stmt != NULL)
			s->st_db->db_drv->d_finalize(s->st_cache[i].ss_stmt);
	qa_clear(s);
	free(s->st_qa);
	free(s->st_ea);
	ivec_free(&s->st_new_mids);
	ivec_free(&s->st_event_pids);
	s->st_db->db_drv->d_close(s->st_db);
	free(s);
}

const char *
store_errmsg(struct store *s)
{
	return s->st_db->db_drv->d_errmsg(s->st_db);
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
	if ((e = s->st_db->db_drv->d_begin(s->st_db)) != ECS_OK)
		return e;
	s->st_tx = 1;
	s->st_refs_shared = 0;
	s->st_msg_locked = 0;
	return ECS_OK;
}

/*
 * Tell the other nodes (when the driver can) which participants got events
 * in this batch, and whether what they cache went stale: one or more
 * "ecs_events" notifications of comma-separated ids, and "ecs_gen".
 */
static enum ecs_err
notify_batch(struct store *s)
{
	const struct db_driver	*drv = s->st_db->db_drv;
	struct buf		 b;
	size_t			 i;
	enum ecs_err		 e = ECS_OK;

	buf_init(&b, 0);
	for (i = 0; e == ECS_OK && i < s->st_event_pids.iv_n; i++) {
		if ((e = buf_printf(&b, "%s%" PRId64, b.b_len ? "," : "",
		    s->st_event_pids.iv_v[i])) != ECS_OK)
			break;
		if (b.b_len > NOTIFY_MAX || i + 1 == s->st_event_pids.iv_n) {
			e = drv->d_notify(s->st_db, "ecs_events", buf_str(&b));
			buf_reset(&b);
		}
	}
	buf_free(&b);
	if (e == ECS_OK && s->st_gen_tx)
		e = drv->d_notify(s->st_db, "ecs_gen", "");
	return e;
}

enum ecs_err
store_commit(struct store *s)
{
	enum ecs_err	 e = ECS_OK;

	if (!s->st_tx)
		return ECS_OK;
	if (s->st_db->db_drv->d_notify != NULL)
		e = notify_batch(s);
	if (e == ECS_OK)
		e = exec_i(s, "COMMIT", 0, 0, 0, 0);
	if (e != ECS_OK) {
		store_rollback(s);
		return e;
	}
	qa_clear(s);
	s->st_tx = 0;
	s->st_gen_tx = 0;
	return ECS_OK;
}

void
store_rollback(struct store *s)
{
	qa_clear(s);
	s->st_gen++;
	if (s->st_db->db_drv->d_in_tx(s->st_db))
		s->st_db->db_drv->d_exec(s->st_db, "ROLLBACK");
	s->st_tx = 0;
	s->st_sp = 0;
	s->st_gen_tx = 0;
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
	qa_clear(s);		/* and the locks of the heads */
	s->st_gen++;
	s->st_refs_shared = 0;	/* a lock taken since goes with it */
	s->st_msg_locked = 0;
	if (s->st_sp > 0) {
		exec_i(s, "ROLLBACK TO req", 0, 0, 0, 0);
		exec_i(s, "RELEASE req", 0, 0, 0, 0);
		s->st_sp--;
	}
}

enum ecs_err
store_integrity_check(struct store *s)
{
	return s->st_db->db_drv->d_integrity_check(s->st_db);
}

void
store_set_timeout(struct store *s, int seconds)
{
	if (s->st_db->db_drv->d_timeout != NULL)
		s->st_db->db_drv->d_timeout(s->st_db, seconds);
}

uint64_t
store_writes(struct store *s)
{
	return s->st_writes;
}

uint64_t
store_generation(struct store *s)
{
	return s->st_gen;
}

/* --- identities and participants ---------------------------------------- */

static void
copy_col(struct dbst *q, int i, char *out, size_t len)
{
	snprintf(out, len, "%s", col_text(q, i));
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
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT p.id, p.organization_id, p.selfrouting, "
	    "p.events, p.ptype, o.abbr, p.name, p.email FROM participants p "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE p.id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	rc = step(q);
	if (rc == DB_ROW) {
		memset(p, 0, sizeof(*p));
		p->p_id = col_i(q, 0);
		p->p_org_id = col_i(q, 1);
		p->p_selfrouting = (int)col_i(q, 2);
		p->p_events = (int)col_i(q, 3);
		copy_col(q, 4, p->p_ptype, sizeof(p->p_ptype));
		copy_col(q, 5, p->p_abbr, sizeof(p->p_abbr));
		copy_col(q, 6, p->p_name, sizeof(p->p_name));
		copy_col(q, 7, p->p_email, sizeof(p->p_email));
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_participant_flags(struct store *s, int64_t pid, int events,
    int selfrouting)
{
	struct dbst	*q;

	gen_bump(s);
	if ((q = st(s, "UPDATE participants SET events = ?, selfrouting = ?, "
	    "updated_at = ? WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, events);
	bind_i(q, 2, selfrouting);
	bind_i(q, 3, time(NULL));
	bind_i(q, 4, pid);
	return run(s, q);
}

/*
 * The rows that name the messages of a sender or of a resource (no
 * cascades on message_id: schema version 3), deleted before the messages
 * go by the cascade from their sender or resource. One statement per
 * table, each with the id as its one parameter.
 */
static const char *const naming_sent[] = {
	"DELETE FROM links WHERE message_id IN "
	    "(SELECT id FROM messages WHERE sender_id = ?)",
	"DELETE FROM community_messages WHERE message_id IN "
	    "(SELECT id FROM messages WHERE sender_id = ?)",
	"DELETE FROM events WHERE message_id IN "
	    "(SELECT id FROM messages WHERE sender_id = ?)",
	"DELETE FROM auths WHERE message_id IN "
	    "(SELECT id FROM messages WHERE sender_id = ?)",
	NULL
};

/*
 * What names a participant without a foreign key to cascade (schema
 * version 5 on PostgreSQL), after what names its messages; the rest goes
 * by cascade with the participant.
 */
static const char *const naming_participant[] = {
	"DELETE FROM links WHERE membership_id IN "
	    "(SELECT id FROM memberships WHERE participant_id = ?)",
	"DELETE FROM events WHERE participant_id = ?",
	"DELETE FROM messages WHERE sender_id = ?",
	NULL
};

static const char *const naming_resource[] = {
	"DELETE FROM links WHERE message_id IN "
	    "(SELECT id FROM messages WHERE resource_id = ?)",
	"DELETE FROM community_messages WHERE message_id IN "
	    "(SELECT id FROM messages WHERE resource_id = ?)",
	"DELETE FROM events WHERE message_id IN "
	    "(SELECT id FROM messages WHERE resource_id = ?)",
	"DELETE FROM auths WHERE message_id IN "
	    "(SELECT id FROM messages WHERE resource_id = ?)",
	"DELETE FROM messages WHERE resource_id = ?",
	NULL
};

static const char *const naming_community[] = {
	"DELETE FROM links WHERE membership_id IN "
	    "(SELECT id FROM memberships WHERE community_id = ?)",
	"DELETE FROM community_messages WHERE community_id = ?",
	NULL
};

static enum ecs_err
delete_naming(struct store *s, const char *const *sql, int64_t id)
{
	enum ecs_err	 e = ECS_OK;

	for (; e == ECS_OK && *sql != NULL; sql++)
		e = exec_i(s, *sql, 1, id, 0, 0);
	return e;
}

enum ecs_err
store_participant_delete(struct store *s, int64_t pid)
{
	struct ivec	 kids;
	enum ecs_err	 e;
	size_t		 i;

	gen_bump(s);
	if ((e = refs_lock(s)) != ECS_OK)
		return e;

	/* Subparticipant children go with their parent (Q-24). */
	memset(&kids, 0, sizeof(kids));
	e = query_iv(s, "SELECT participant_id FROM subparticipants "
	    "WHERE parent_id = ?", 1, pid, 0, &kids);
	for (i = 0; e == ECS_OK && i < kids.iv_n; i++)
		e = store_participant_delete(s, kids.iv_v[i]);
	ivec_free(&kids);
	if (e != ECS_OK)
		return e;
	/* What names its messages, its messages, what names it. */
	if ((e = delete_naming(s, naming_sent, pid)) != ECS_OK ||
	    (e = delete_naming(s, naming_participant, pid)) != ECS_OK)
		return e;
	return exec_i(s, "DELETE FROM participants WHERE id = ?", 1, pid, 0,
	    0);
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
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT name FROM identities WHERE participant_id = ? "
	    "ORDER BY id LIMIT 1")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	rc = step(q);
	if (rc == DB_ROW)
		copy_col(q, 0, out, len);
	else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
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
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT name FROM communities WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, cid);
	rc = step(q);
	if (rc == DB_ROW)
		buf_printf(out, "%s%s", out->b_len ? ", " : "", col_text(q, 0));
	else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_mid_info(struct store *s, int64_t mid, int64_t *cid, int64_t *pid)
{
	struct mid_slot	*ms = &s->st_lk.lk_mid[lookup_slot(mid, 0)];
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if (ms->ms_gen == s->st_gen + 1 && ms->ms_mid == mid) {
		*cid = ms->ms_cid;
		*pid = ms->ms_pid;
		return ECS_OK;
	}
	if ((q = st(s, "SELECT community_id, participant_id FROM "
	    "memberships WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, mid);
	rc = step(q);
	if (rc == DB_ROW) {
		*cid = col_i(q, 0);
		*pid = col_i(q, 1);
		ms->ms_gen = s->st_gen + 1;
		ms->ms_mid = mid;
		ms->ms_cid = *cid;
		ms->ms_pid = *pid;
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_member_mid(struct store *s, int64_t pid, int64_t cid, int64_t *mid)
{
	struct member_slot	*mb;
	enum ecs_err		 e;

	mb = &s->st_lk.lk_member[lookup_slot(pid, cid)];
	if (mb->mb_gen == s->st_gen + 1 && mb->mb_pid == pid &&
	    mb->mb_cid == cid) {
		if (mb->mb_mid == 0)
			return ECS_ENOTFOUND;
		*mid = mb->mb_mid;
		return ECS_OK;
	}
	e = query_i(s, "SELECT id FROM memberships WHERE participant_id = ? "
	    "AND community_id = ?", 2, pid, cid, mid);
	if (e != ECS_OK && e != ECS_ENOTFOUND)
		return e;
	mb->mb_gen = s->st_gen + 1;
	mb->mb_pid = pid;
	mb->mb_cid = cid;
	mb->mb_mid = e == ECS_OK ? *mid : 0;
	return e;
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
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT id, participant_id FROM memberships "
	    "WHERE community_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, cid);
	while ((rc = step(q)) == DB_ROW) {
		if ((e = ivec_push(mids, col_i(q, 0))) != ECS_OK ||
		    (e = ivec_push(pids, col_i(q, 1))) != ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	return e;
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
	struct dbst	*q;

	gen_bump(s);
	if ((q = st(s, "INSERT INTO memberships (participant_id, "
	    "community_id) VALUES (?, ?) RETURNING id")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	bind_i(q, 2, cid);
	return run_id(s, q, mid);
}

enum ecs_err
store_membership_delete(struct store *s, int64_t mid)
{
	enum ecs_err	 e;

	gen_bump(s);
	if ((e = refs_lock(s)) != ECS_OK ||
	    (e = exec_i(s, "DELETE FROM links WHERE membership_id = ?", 1,
	    mid, 0, 0)) != ECS_OK)
		return e;
	return exec_i(s, "DELETE FROM memberships WHERE id = ?", 1, mid, 0, 0);
}

/* --- resources ------------------------------------------------------------ */

static enum ecs_err
resource_row(struct store *s, struct dbst *q, struct ecs_resource *r)
{
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	rc = step(q);
	if (rc == DB_ROW) {
		r->r_id = col_i(q, 0);
		copy_col(q, 1, r->r_ns, sizeof(r->r_ns));
		copy_col(q, 2, r->r_name, sizeof(r->r_name));
		r->r_postroute = (int)col_i(q, 3);
		r->r_events = (int)col_i(q, 4);
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_resource_find(struct store *s, const char *ns, const char *name,
    struct ecs_resource *r)
{
	struct dbst	*q;

	if ((q = st(s, "SELECT id, namespace, name, postroute, events "
	    "FROM resources WHERE namespace = ? AND name = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, ns);
	bind_text(q, 2, name);
	return resource_row(s, q, r);
}

enum ecs_err
store_resource_get(struct store *s, int64_t id, struct ecs_resource *r)
{
	struct dbst	*q;

	if ((q = st(s, "SELECT id, namespace, name, postroute, events "
	    "FROM resources WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, id);
	return resource_row(s, q, r);
}

/* --- messages ------------------------------------------------------------- */

enum ecs_err
store_msg_insert(struct store *s, int64_t resource, int64_t sender,
    const char *ctype, const char *body, size_t len, time_t now, int64_t *id)
{
	struct dbst	*q;
	enum ecs_err	 e;

	if ((e = st_naming(s, "INSERT INTO messages (resource_id, sender_id, "
	    "content_type, body, created_at, updated_at) "
	    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
	    "INSERT INTO messages (resource_id, sender_id, "
	    "content_type, body, created_at, updated_at) "
	    "VALUES ((SELECT id FROM resources WHERE id = ?), "
	    "(SELECT id FROM participants WHERE id = ?), ?, ?, ?, ?) "
	    "RETURNING id", &q)) != ECS_OK)
		return e;
	bind_i(q, 1, resource);
	bind_i(q, 2, sender);
	bind_text(q, 3, ctype);
	bind_blob(q, 4, body != NULL ? body : "", len);
	bind_i(q, 5, now);
	bind_i(q, 6, now);
	return run_id(s, q, id);
}

/*
 * Append the link in the four columns of q from col on (membership,
 * participant, community, the sender's membership there or NULL) to v,
 * whose room is *cap.
 */
static enum ecs_err
link_row(struct dbst *q, int col, struct ecs_linkv *v, size_t *cap)
{
	struct ecs_link	*p;

	if (v->lv_n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		if ((p = reallocarray(v->lv_v, *cap, sizeof(*p))) == NULL)
			return ECS_ENOMEM;
		v->lv_v = p;
	}
	p = &v->lv_v[v->lv_n++];
	p->l_mid = col_i(q, col);
	p->l_pid = col_i(q, col + 1);
	p->l_cid = col_i(q, col + 2);
	p->l_sender_mid = col_null(q, col + 3) ? -1 : col_i(q, col + 3);
	return ECS_OK;
}

/* The columns msg_row reads, from "messages m". */
#define MSG_COLS	"m.id, m.resource_id, m.sender_id, m.removed, " \
			"m.created_at, m.updated_at, m.version, " \
			"m.content_type, m.body"

/*
 * The columns of a queue head (queue_head): MSG_COLS with the body only on
 * the row of the link named by the first parameter, then each link of the
 * message, as store_msg_links has them.
 */
#define MSG_HEAD_COLS	"m.id, m.resource_id, m.sender_id, m.removed, " \
			"m.created_at, m.updated_at, m.version, " \
			"m.content_type, " \
			"CASE WHEN l.membership_id = ? THEN m.body END, " \
			"l.membership_id, mm.participant_id, mm.community_id, " \
			"(SELECT sm.id FROM memberships sm " \
			"WHERE sm.participant_id = m.sender_id " \
			"AND sm.community_id = mm.community_id)"
#define MSG_HEAD_JOIN	"JOIN links l ON l.message_id = m.id " \
			"JOIN memberships mm ON mm.id = l.membership_id "

/*
 * The first limit heads of a membership's queue in a resource (order desc
 * "" or " DESC"), with their links, in MSG_HEAD_COLS; op is "=" for one
 * head (a scalar subquery), "IN" for several. Heads another node is
 * popping are skipped. Parameters: the membership (for the body), the
 * membership, the resource, and the limit if it is "?".
 */
#define QUEUE_HEADS(op, desc, limit, order) \
	"SELECT " MSG_HEAD_COLS " FROM messages m " MSG_HEAD_JOIN \
	"WHERE m.id " op " (SELECT message_id FROM links " \
	"WHERE membership_id = ? AND resource_id = ? " \
	"ORDER BY message_id" desc " LIMIT " limit DB_SKIP_LOCKED ") " \
	"ORDER BY " order

/* A message from the MSG_COLS of q's current row. */
static enum ecs_err
msg_row(struct store *s, struct dbst *q, struct ecs_msg *m)
{
	const struct db_driver	*drv = s->st_db->db_drv;
	const void		*body;
	size_t			 n;

	memset(m, 0, sizeof(*m));
	m->m_id = col_i(q, 0);
	m->m_resource_id = col_i(q, 1);
	m->m_sender = col_i(q, 2);
	m->m_removed = (int)col_i(q, 3);
	m->m_created = (time_t)col_i(q, 4);
	m->m_updated = (time_t)col_i(q, 5);
	m->m_version = col_i(q, 6);
	m->m_ctype = strdup(col_text(q, 7));
	body = drv->d_column_blob(q, 8);
	n = drv->d_column_bytes(q, 8);
	m->m_body = malloc(n + 1);
	if (m->m_ctype == NULL || m->m_body == NULL) {
		store_msg_clear(m);
		return ECS_ENOMEM;
	}
	if (n > 0)
		memcpy(m->m_body, body, n);
	m->m_body[n] = '\0';
	m->m_len = n;
	return ECS_OK;
}

enum ecs_err
store_msg_get(struct store *s, int64_t id, struct ecs_msg *m)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e;

	if ((q = st(s, "SELECT " MSG_COLS " FROM messages m "
	    "WHERE m.id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, id);
	rc = step(q);
	if (rc == DB_ROW)
		e = msg_row(s, q, m);
	else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_msg_resource(struct store *s, int64_t id, struct ecs_resource *r,
    int *removed)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT r.id, r.namespace, r.name, r.postroute, "
	    "r.events, m.removed FROM messages m "
	    "JOIN resources r ON r.id = m.resource_id WHERE m.id = ?")) ==
	    NULL)
		return ECS_ESTORE;
	bind_i(q, 1, id);
	rc = step(q);
	if (rc == DB_ROW) {
		r->r_id = col_i(q, 0);
		copy_col(q, 1, r->r_ns, sizeof(r->r_ns));
		copy_col(q, 2, r->r_name, sizeof(r->r_name));
		r->r_postroute = (int)col_i(q, 3);
		r->r_events = (int)col_i(q, 4);
		*removed = (int)col_i(q, 5);
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
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
	struct dbst	*q;

	if ((q = st(s, "UPDATE messages SET content_type = ?, body = ?, "
	    "updated_at = ?, version = version + 1 WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, ctype);
	bind_blob(q, 2, body != NULL ? body : "", len);
	bind_i(q, 3, now);
	bind_i(q, 4, id);
	return run(s, q);
}

/*
 * store_msg_dispose without reading first, for PostgreSQL: the statements
 * wait in the pipeline. The message goes, unless events name it: then it
 * stays as a tombstone until they are read.
 *
 * There are no foreign keys to messages (schema version 6), so the message
 * is first locked as a deletion locks it (msg_lock): an insert that names
 * it (NAMED_MSG) and is still open is waited for, and one that comes later
 * waits for this batch and then finds the message gone or a tombstone.
 * The statements after the lock read what committed before they started
 * (READ COMMITTED): a link another batch added meanwhile keeps the
 * message, with its community records and token. The look-up of links
 * is a correlated subquery, run only for a row that is there.
 */
static enum ecs_err
msg_dispose_blind(struct store *s, int64_t id, int token)
{
	enum ecs_err	 e;

#define UNLINKED(t)	"NOT EXISTS (SELECT 1 FROM links l " \
			"WHERE l.message_id = " t ")"
	if ((e = msg_lock(s, id)) != ECS_OK ||
	    (token && (e = exec_i(s, "DELETE FROM auths WHERE message_id = ? "
	    "AND " UNLINKED("auths.message_id"), 1, id, 0, 0)) != ECS_OK) ||
	    (e = exec_i(s, "DELETE FROM community_messages WHERE "
	    "message_id = ? AND " UNLINKED("community_messages.message_id"), 1,
	    id, 0, 0)) != ECS_OK ||
	    (e = exec_i(s, "DELETE FROM messages WHERE id = ? AND NOT EXISTS "
	    "(SELECT 1 FROM events WHERE message_id = ?) AND "
	    UNLINKED("messages.id"), 2, id, id, 0)) != ECS_OK)
		return e;
	return exec_i(s, "UPDATE messages SET removed = 1, body = '', "
	    "version = version + 1 WHERE id = ? AND " UNLINKED("messages.id"),
	    1, id, 0, 0);
#undef UNLINKED
}

enum ecs_err
store_msg_dispose(struct store *s, int64_t id, int token)
{
	struct dbst	*q;
	int		 rc, events, records;
	enum ecs_err	 e;

	if (s->st_db->db_drv->d_blind_writes)
		return msg_dispose_blind(s, id, token);
	/*
	 * What names the message, which goes before the message itself (no
	 * cascades: schema version 3). With foreign keys on, SQLite builds a
	 * temporary table for a DELETE of several rows of a WITHOUT ROWID
	 * table even when none match: community records are deleted only
	 * when there are some.
	 */
	if ((q = st(s, "SELECT "
	    "CASE WHEN EXISTS (SELECT 1 FROM events WHERE message_id = ?) "
	    "THEN 1 ELSE 0 END, "
	    "CASE WHEN EXISTS (SELECT 1 FROM community_messages "
	    "WHERE message_id = ?) THEN 1 ELSE 0 END")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, id);
	bind_i(q, 2, id);
	if ((rc = step(q)) != DB_ROW) {
		e = rc == DB_ERROR ? db_err(s) : ECS_ESTORE;
		reset(q);
		return e;
	}
	events = col_i(q, 0) != 0;
	records = col_i(q, 1) != 0;
	reset(q);
	if (token && (e = exec_i(s, "DELETE FROM auths WHERE message_id = ?",
	    1, id, 0, 0)) != ECS_OK)
		return e;
	if (records && (e = exec_i(s, "DELETE FROM community_messages "
	    "WHERE message_id = ?", 1, id, 0, 0)) != ECS_OK)
		return e;
	/* Nothing else names it (no cascades: schema version 3). */
	if (!events)
		return exec_i(s, "DELETE FROM messages WHERE id = ?", 1, id, 0,
		    0);
	if ((q = st(s, "UPDATE messages SET removed = 1, body = ?, "
	    "version = version + 1 WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_blob(q, 1, "", 0);
	bind_i(q, 2, id);
	return run(s, q);
}

enum ecs_err
store_link_add(struct store *s, int64_t mid, int64_t msg, int64_t resource)
{
	return exec_naming(s, "INSERT INTO links (membership_id, "
	    "message_id, resource_id) VALUES (?, ?, ?) "
	    "ON CONFLICT (membership_id, message_id) DO NOTHING",
	    "INSERT INTO links (membership_id, message_id, resource_id) "
	    "VALUES ((SELECT id FROM memberships WHERE id = ?), " NAMED_MSG
	    ", ?) ON CONFLICT (membership_id, message_id) DO NOTHING", 3, mid,
	    msg, resource);
}

enum ecs_err
store_link_new(struct store *s, int64_t mid, int64_t msg, int64_t resource)
{
	return exec_naming(s, "INSERT INTO links (membership_id, "
	    "message_id, resource_id) VALUES (?, ?, ?)",
	    "INSERT INTO links (membership_id, message_id, resource_id) "
	    "VALUES ((SELECT id FROM memberships WHERE id = ?), ?, ?)", 3, mid,
	    msg, resource);
}

enum ecs_err
store_msg_links(struct store *s, int64_t msg, int64_t sender,
    struct ecs_linkv *v)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;
	size_t		 cap = 0;

	v->lv_v = NULL;
	v->lv_n = 0;
	if ((q = st(s, "SELECT l.membership_id, m.participant_id, "
	    "m.community_id, (SELECT sm.id FROM memberships sm "
	    "WHERE sm.participant_id = ? AND sm.community_id = m.community_id) "
	    "FROM links l JOIN memberships m ON m.id = l.membership_id "
	    "WHERE l.message_id = ? ORDER BY l.membership_id")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, sender);
	bind_i(q, 2, msg);
	while ((rc = step(q)) == DB_ROW)
		if ((e = link_row(q, 0, v, &cap)) != ECS_OK)
			break;
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
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
store_link_delete_last(struct store *s, int64_t mid, int64_t msg)
{
	enum ecs_err	 e;

	if (s->st_db->db_drv->d_share_refs == NULL)
		return store_link_delete(s, mid, msg);	/* keys: no lock */
	/* The message locked in the same statement (msg_lock). */
	if ((e = exec_i(s, "DELETE FROM links WHERE membership_id = ? AND "
	    "message_id = (SELECT id FROM messages WHERE id = ? FOR UPDATE)",
	    2, mid, msg, 0)) == ECS_OK)
		s->st_msg_locked = msg;
	return e;
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
	return exec_naming(s, "INSERT INTO community_messages "
	    "(community_id, message_id) VALUES (?, ?) "
	    "ON CONFLICT (community_id, message_id) DO NOTHING",
	    "INSERT INTO community_messages (community_id, message_id) "
	    "VALUES ((SELECT id FROM communities WHERE id = ?), ?) "
	    "ON CONFLICT (community_id, message_id) DO NOTHING", 2, cid, msg,
	    0);
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
	    "JOIN links l ON l.membership_id = m.id AND l.resource_id = ? "
	    "WHERE m.participant_id = ? ORDER BY l.message_id", 2, res, pid,
	    v);
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

/* The memberships of a participant, remembered when there are few. */
static enum ecs_err
participant_mids(struct store *s, int64_t pid, struct ivec *v)
{
	struct pmids_slot	*pm = &s->st_lk.lk_pmids[lookup_slot(pid, 0)];
	size_t			 i;
	enum ecs_err		 e;

	if (pm->pm_gen == s->st_gen + 1 && pm->pm_pid == pid) {
		for (i = 0; i < pm->pm_n; i++)
			if ((e = ivec_push(v, pm->pm_mids[i])) != ECS_OK)
				return e;
		return ECS_OK;
	}
	if ((e = query_iv(s, "SELECT id FROM memberships "
	    "WHERE participant_id = ?", 1, pid, 0, v)) != ECS_OK)
		return e;
	if (v->iv_n <= LOOKUP_MIDS) {
		pm->pm_gen = s->st_gen + 1;
		pm->pm_pid = pid;
		pm->pm_n = v->iv_n;
		for (i = 0; i < v->iv_n; i++)
			pm->pm_mids[i] = v->iv_v[i];
	}
	return ECS_OK;
}

/* The head of one membership's queue: its message and all its links. */
static enum ecs_err
queue_head(struct store *s, int64_t mid, int64_t res, int lifo,
    struct ecs_msg *m, struct ecs_linkv *lv)
{
	struct dbst	*q;
	size_t		 cap = 0;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	/*
	 * One index seek (links_queue), not a min() over a join, which would
	 * scan the whole queue; then the message and its links in the same
	 * query, one round trip on PostgreSQL (a scalar subquery, not a WITH:
	 * SQLite would materialise that and sort). The body comes once, on
	 * the row of the queue's own link. Heads another node is popping are
	 * skipped.
	 */
	if (lifo)
		q = st(s, QUEUE_HEADS("=", " DESC", "1", "l.membership_id"));
	else
		q = st(s, QUEUE_HEADS("=", "", "1", "l.membership_id"));
	if (q == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, mid);	/* the row that has the body */
	bind_i(q, 2, mid);
	bind_i(q, 3, res);
	while ((rc = step(q)) == DB_ROW) {
		if ((e = link_row(q, 9, lv, &cap)) != ECS_OK)
			break;
		if (lv->lv_v[lv->lv_n - 1].l_mid == mid && m->m_id == 0 &&
		    (e = msg_row(s, q, m)) != ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	if (e == ECS_OK && lv->lv_n > 0 && m->m_id == 0)
		e = ECS_ESTORE;		/* the queue's own link is missing */
	if (e != ECS_OK) {
		store_msg_clear(m);
		m->m_id = 0;
		linkv_free(lv);
	}
	return e;
}

/*
 * Heads fetched ahead. A batch on PostgreSQL runs the pops it gathered
 * together (ecsd's http.c): when n of them pop one participant's queue,
 * one statement locks and reads the n first heads of each of its
 * memberships' queues, instead of n statements, each a round trip that
 * the node waits for. The locks are the transaction's own, so a later
 * query in the same transaction would read the same heads again: a query
 * of a queue (queue_head) first drops what is left of its heads here, and
 * a message a pop takes is dropped from the heads of its participant's
 * other queues. Only the popping participant's links are kept with a head:
 * the others may go before the pop (another participant's pop in the same
 * batch), so the pop does not know whether it takes the last link, and
 * the disposal on PostgreSQL checks that itself (msg_dispose_blind). The
 * bodies are those the batch's pops reply with anyway.
 */
#define QA_MAX		32	/* heads fetched ahead per queue at most */

/* Free a head; it reads as taken (m_id 0). */
static void
qh_clear(struct qhead *qh)
{
	store_msg_clear(&qh->qh_msg);
	qh->qh_msg.m_id = 0;
	linkv_free(&qh->qh_lv);
}

static void
qa_drop(struct qahead *qa)
{
	for (; qa->qa_next < qa->qa_n; qa->qa_next++)
		qh_clear(&qa->qa_v[qa->qa_next]);
}

/* Drop every head and event fetched ahead (their locks stay). */
static void
qa_clear(struct store *s)
{
	size_t	 i;

	for (i = 0; i < s->st_nqa; i++) {
		qa_drop(&s->st_qa[i]);
		free(s->st_qa[i].qa_v);
	}
	s->st_nqa = 0;
	for (i = 0; i < s->st_nea; i++)
		free(s->st_ea[i].ea_v);
	s->st_nea = 0;
}

static struct qahead *
qa_find(struct store *s, int64_t mid, int64_t res)
{
	size_t	 i;

	for (i = 0; i < s->st_nqa; i++)
		if (s->st_qa[i].qa_mid == mid && s->st_qa[i].qa_res == res)
			return &s->st_qa[i];
	return NULL;
}

/* The next head of qa not taken, or NULL. */
static struct qhead *
qa_front(struct qahead *qa)
{
	while (qa->qa_next < qa->qa_n &&
	    qa->qa_v[qa->qa_next].qh_msg.m_id == 0)
		qa->qa_next++;
	return qa->qa_next < qa->qa_n ? &qa->qa_v[qa->qa_next] : NULL;
}

/*
 * Message id was popped through the memberships mids (all the links of
 * their participant go with it): it is not a head of their queues here any
 * more. Other participants keep their links, and their heads.
 */
static void
qa_forget(struct store *s, int64_t id, const struct ivec *mids)
{
	struct qahead	*qa;
	size_t		 i, j;

	for (i = 0; i < s->st_nqa; i++) {
		qa = &s->st_qa[i];
		if (!ivec_has(mids, qa->qa_mid))
			continue;
		for (j = qa->qa_next; j < qa->qa_n; j++)
			if (qa->qa_v[j].qh_msg.m_id == id)
				qh_clear(&qa->qa_v[j]);
	}
}

/* Read up to n heads of membership mid's queue into qa. */
static enum ecs_err
qa_fetch(struct store *s, struct qahead *qa, int64_t pid, size_t n)
{
	struct dbst	*q;
	struct qhead	*qh = NULL;
	int64_t		 id, cur = 0;
	size_t		 cap = 0, j;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((qa->qa_v = calloc(n, sizeof(*qa->qa_v))) == NULL)
		return ECS_ENOMEM;
	if (qa->qa_lifo)
		q = st(s, QUEUE_HEADS("IN", " DESC", "?",
		    "m.id DESC, l.membership_id"));
	else
		q = st(s, QUEUE_HEADS("IN", "", "?", "m.id, l.membership_id"));
	if (q == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, qa->qa_mid);	/* the row that has the body */
	bind_i(q, 2, qa->qa_mid);
	bind_i(q, 3, qa->qa_res);
	bind_i(q, 4, (int64_t)n);
	while ((rc = step(q)) == DB_ROW) {
		if ((id = col_i(q, 0)) != cur) {
			if (qa->qa_n == n) {
				e = ECS_ESTORE;	/* more heads than asked */
				break;
			}
			qh = &qa->qa_v[qa->qa_n++];
			cur = id;
			cap = 0;
		}
		if (col_i(q, 10) == pid &&
		    (e = link_row(q, 9, &qh->qh_lv, &cap)) != ECS_OK)
			break;
		if (col_i(q, 9) == qa->qa_mid &&
		    (e = msg_row(s, q, &qh->qh_msg)) != ECS_OK)
			break;
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	for (j = 0; e == ECS_OK && j < qa->qa_n; j++)
		if (qa->qa_v[j].qh_msg.m_id == 0)
			e = ECS_ESTORE;	/* the queue's own link is missing */
	return e;
}

enum ecs_err
store_queue_prefetch(struct store *s, int64_t pid, int64_t res, int lifo,
    size_t n)
{
	struct ivec	 mids;
	struct qahead	*qa;
	size_t		 i;
	enum ecs_err	 e;

	if (!s->st_db->db_drv->d_blind_writes || !s->st_tx || n < 2)
		return ECS_OK;
	if (n > QA_MAX)
		n = QA_MAX;
	memset(&mids, 0, sizeof(mids));
	e = participant_mids(s, pid, &mids);
	for (i = 0; e == ECS_OK && i < mids.iv_n; i++) {
		if (qa_find(s, mids.iv_v[i], res) != NULL)
			continue;	/* fetched already */
		if (s->st_nqa == s->st_qacap) {
			size_t	 ncap = s->st_qacap ? s->st_qacap * 2 : 8;

			if ((qa = reallocarray(s->st_qa, ncap,
			    sizeof(*qa))) == NULL) {
				e = ECS_ENOMEM;
				break;
			}
			s->st_qa = qa;
			s->st_qacap = ncap;
		}
		qa = &s->st_qa[s->st_nqa++];
		memset(qa, 0, sizeof(*qa));
		qa->qa_mid = mids.iv_v[i];
		qa->qa_res = res;
		qa->qa_lifo = lifo;
		e = qa_fetch(s, qa, pid, n);
	}
	ivec_free(&mids);
	if (e != ECS_OK)
		qa_clear(s);
	return e;
}

void
store_queue_prefetch_clear(struct store *s)
{
	qa_clear(s);
}

int
store_queue_prefetches(struct store *s)
{
	return s->st_db->db_drv->d_blind_writes;
}

/* Whether id comes before cur (0: none yet) in a queue read as lifo says. */
static int
head_before(int64_t id, int64_t cur, int lifo)
{
	return cur == 0 || (lifo ? id > cur : id < cur);
}

enum ecs_err
store_queue_peek(struct store *s, int64_t pid, int64_t res, int lifo,
    struct ecs_msg *m, struct ecs_linkv *lv)
{
	struct ivec	 mids;
	struct ecs_msg	 x;
	struct ecs_linkv xl;
	struct qahead	*qa;
	struct qhead	*qh, *best = NULL;	/* a head fetched ahead */
	int64_t		 cur;			/* best's or m's id, or 0 */
	size_t		 i;
	enum ecs_err	 e;

	memset(m, 0, sizeof(*m));
	memset(lv, 0, sizeof(*lv));
	memset(&mids, 0, sizeof(mids));
	e = participant_mids(s, pid, &mids);
	for (i = 0; e == ECS_OK && i < mids.iv_n; i++) {
		cur = best != NULL ? best->qh_msg.m_id : m->m_id;
		if ((qa = qa_find(s, mids.iv_v[i], res)) != NULL) {
			if (qa->qa_lifo == lifo && (qh = qa_front(qa)) != NULL) {
				if (head_before(qh->qh_msg.m_id, cur, lifo)) {
					store_msg_clear(m);
					m->m_id = 0;
					linkv_free(lv);
					best = qh;
				}
				continue;
			}
			qa_drop(qa);	/* the query reads them again */
		}
		memset(&x, 0, sizeof(x));
		memset(&xl, 0, sizeof(xl));
		if ((e = queue_head(s, mids.iv_v[i], res, lifo, &x, &xl)) !=
		    ECS_OK || x.m_id == 0)
			continue;
		if (head_before(x.m_id, cur, lifo)) {
			store_msg_clear(m);
			linkv_free(lv);
			*m = x;
			*lv = xl;
			best = NULL;
		} else {
			store_msg_clear(&x);
			linkv_free(&xl);
		}
	}
	if (e == ECS_OK && best != NULL) {
		*m = best->qh_msg;
		*lv = best->qh_lv;
		memset(best, 0, sizeof(*best));	/* taken */
	}
	if (e == ECS_OK && m->m_id != 0 && s->st_nqa > 0)
		qa_forget(s, m->m_id, &mids);
	ivec_free(&mids);
	if (e != ECS_OK) {
		store_msg_clear(m);
		m->m_id = 0;
		linkv_free(lv);
	}
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

/* Whether pid gets events (a participant gone gets none). */
static enum ecs_err
participant_events(struct store *s, int64_t pid, int *on)
{
	struct pflag_slot	*pf = &s->st_lk.lk_pflag[lookup_slot(pid, 0)];
	int64_t			 v;
	enum ecs_err		 e;

	if (pf->pf_gen == s->st_gen + 1 && pf->pf_pid == pid) {
		*on = pf->pf_events;
		return ECS_OK;
	}
	e = query_i(s, "SELECT events FROM participants WHERE id = ?", 1, pid,
	    0, &v);
	if (e == ECS_ENOTFOUND)
		v = 0;		/* gone: no events */
	else if (e != ECS_OK)
		return e;
	*on = v != 0;
	pf->pf_gen = s->st_gen + 1;
	pf->pf_pid = pid;
	pf->pf_events = *on;
	return ECS_OK;
}

/*
 * An event for pid, if pid gets events; pid is noted for the waiters. The
 * insert reads nothing back, so on PostgreSQL it waits in the pipeline.
 * older: msg was not made by this batch (NAMED_MSG).
 */
static enum ecs_err
event_insert(struct store *s, int64_t pid, int64_t msg, int type, int older)
{
	enum ecs_err	 e;
	int		 on;

	if ((e = participant_events(s, pid, &on)) != ECS_OK || !on)
		return e;
	if ((e = exec_naming(s, "INSERT INTO events (participant_id, "
	    "message_id, type) VALUES (?, ?, ?)", older ?
	    "INSERT INTO events (participant_id, message_id, type) "
	    "VALUES ((SELECT id FROM participants WHERE id = ?), " NAMED_MSG
	    ", ?)" :
	    "INSERT INTO events (participant_id, message_id, type) "
	    "VALUES ((SELECT id FROM participants WHERE id = ?), ?, ?)", 3,
	    pid, msg, type)) != ECS_OK)
		return e;
	if (s->st_event_pids.iv_n > 0 &&
	    s->st_event_pids.iv_v[s->st_event_pids.iv_n - 1] == pid)
		return ECS_OK;
	return ivec_push(&s->st_event_pids, pid);
}

enum ecs_err
store_event_add(struct store *s, int64_t pid, int64_t msg, int type)
{
	int64_t		 last;
	enum ecs_err	 e;

	/*
	 * Not when pid's most recent event about the message has the same
	 * type (de-duplication, 10.2): by the index on message_id, whose
	 * few events come in id order.
	 */
	e = query_i(s, "SELECT type FROM events WHERE message_id = ? AND "
	    "participant_id = ? ORDER BY id DESC LIMIT 1", 2, msg, pid, &last);
	if (e == ECS_OK && last == type)
		return ECS_OK;
	if (e != ECS_OK && e != ECS_ENOTFOUND)
		return e;
	return event_insert(s, pid, msg, type, 1);
}

enum ecs_err
store_event_add_new(struct store *s, int64_t pid, int64_t msg, int type)
{
	return event_insert(s, pid, msg, type, 0);
}

enum ecs_err
store_events(struct store *s, int64_t pid, int64_t limit,
    struct ecs_event **out, size_t *n)
{
	struct dbst		*q;
	struct ecs_event	*v = NULL, *p;
	size_t			 cap = 0, cnt = 0;
	int			 rc;
	enum ecs_err		 e = ECS_OK;

	/* Events another node is popping are skipped. */
	if ((q = st(s, "SELECT e.id, e.message_id, e.type, r.namespace, "
	    "r.name FROM events e JOIN messages m ON m.id = e.message_id "
	    "JOIN resources r ON r.id = m.resource_id "
	    "WHERE e.participant_id = ? ORDER BY e.id LIMIT ?"
	    DB_SKIP_LOCKED_OF("e"))) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	bind_i(q, 2, limit < 0 ? INT64_MAX : limit);
	while ((rc = step(q)) == DB_ROW) {
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
		p->e_id = col_i(q, 0);
		p->e_msg = col_i(q, 1);
		p->e_type = (int)col_i(q, 2);
		snprintf(p->e_path, sizeof(p->e_path), "%s/%s/%" PRId64,
		    col_text(q, 3), col_text(q, 4), p->e_msg);
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	if (e != ECS_OK) {
		free(v);
		return e;
	}
	*out = v;
	*n = cnt;
	return ECS_OK;
}

/*
 * Events fetched ahead, as queue heads are (above): the pops of one
 * participant's events in a batch read them with one statement. A query of
 * the participant's events in the same transaction would read those not
 * taken yet again, so a pop that queries (store_events_take: all of them,
 * or more than are left) first drops them.
 */
#define EA_MAX		256	/* events fetched ahead per participant */

static struct evahead *
ea_find(struct store *s, int64_t pid)
{
	size_t	 i;

	for (i = 0; i < s->st_nea; i++)
		if (s->st_ea[i].ea_pid == pid)
			return &s->st_ea[i];
	return NULL;
}

enum ecs_err
store_events_prefetch(struct store *s, int64_t pid, size_t n)
{
	struct evahead	*ea;
	enum ecs_err	 e;

	if (!s->st_db->db_drv->d_blind_writes || !s->st_tx || n < 2 ||
	    ea_find(s, pid) != NULL)
		return ECS_OK;
	if (n > EA_MAX)
		n = EA_MAX;
	if (s->st_nea == s->st_eacap) {
		size_t	 ncap = s->st_eacap ? s->st_eacap * 2 : 8;

		if ((ea = reallocarray(s->st_ea, ncap, sizeof(*ea))) == NULL)
			return ECS_ENOMEM;
		s->st_ea = ea;
		s->st_eacap = ncap;
	}
	ea = &s->st_ea[s->st_nea];
	memset(ea, 0, sizeof(*ea));
	ea->ea_pid = pid;
	if ((e = store_events(s, pid, (int64_t)n, &ea->ea_v, &ea->ea_n)) !=
	    ECS_OK) {
		qa_clear(s);
		return e;
	}
	ea->ea_all = ea->ea_n < n;
	s->st_nea++;
	return ECS_OK;
}

enum ecs_err
store_events_take(struct store *s, int64_t pid, int64_t limit,
    struct ecs_event **out, size_t *n)
{
	struct evahead	*ea;
	size_t		 left, k;

	if ((ea = ea_find(s, pid)) == NULL)
		return store_events(s, pid, limit, out, n);
	left = ea->ea_n - ea->ea_next;
	if (limit < 0 || (left < (uint64_t)limit && !ea->ea_all)) {
		ea->ea_next = ea->ea_n;	/* the query reads them again */
		return store_events(s, pid, limit, out, n);
	}
	k = left < (uint64_t)limit ? left : (size_t)limit;
	*out = NULL;
	*n = 0;
	if (k == 0)
		return ECS_OK;
	if ((*out = reallocarray(NULL, k, sizeof(**out))) == NULL)
		return ECS_ENOMEM;
	memcpy(*out, ea->ea_v + ea->ea_next, k * sizeof(**out));
	ea->ea_next += k;
	*n = k;
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
	if (s->st_db->db_drv->d_blind_writes)
		return exec_i(s, "DELETE FROM messages WHERE id = ? AND "
		    "removed = 1 AND NOT EXISTS (SELECT 1 FROM events "
		    "WHERE message_id = ?)", 2, msg, msg, 0);
	e = query_i(s, "SELECT 1 FROM events WHERE message_id = ? LIMIT 1",
	    1, msg, 0, &x);
	if (e == ECS_OK)
		return ECS_OK;
	if (e != ECS_ENOTFOUND)
		return e;
	/* Only events name a tombstone (store_msg_dispose). */
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
		e = exec_i(s, "DELETE FROM messages WHERE id = ? AND "
		    "removed = 1 AND NOT EXISTS (SELECT 1 FROM events "
		    "WHERE message_id = ?)", 2, msgs.iv_v[i], msgs.iv_v[i], 0);
	ivec_free(&msgs);
	return e;
}

/* --- one-touch tokens ----------------------------------------------------- */

enum ecs_err
store_auth_put(struct store *s, int64_t msg, const char *hash, time_t eov)
{
	struct dbst	*q;
	enum ecs_err	 e;

	if ((e = st_naming(s, "INSERT INTO auths (message_id, hash, eov) "
	    "VALUES (?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
	    "hash = excluded.hash, eov = excluded.eov",
	    "INSERT INTO auths (message_id, hash, eov) "
	    "VALUES (" NAMED_MSG ", ?, ?) ON CONFLICT (message_id) DO UPDATE "
	    "SET hash = excluded.hash, eov = excluded.eov", &q)) != ECS_OK)
		return e;
	bind_i(q, 1, msg);
	bind_text(q, 2, hash);
	bind_i(q, 3, eov);
	return run(s, q);
}

enum ecs_err
store_auth_by_hash(struct store *s, const char *hash, int64_t *msg)
{
	/* The token is being consumed: another node waits for the row. */
	return query_i_text(s, "SELECT message_id FROM auths WHERE hash = ?"
	    DB_LOCK, hash, msg);
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

/* --- garbage collection --------------------------------------------------- */

enum ecs_err
store_gc_tombstones(struct store *s, int *n)
{
	enum ecs_err	 e;

	e = exec_i(s, "DELETE FROM messages WHERE removed = 1 AND NOT EXISTS "
	    "(SELECT 1 FROM events WHERE events.message_id = messages.id)", 0,
	    0, 0, 0);
	*n = e == ECS_OK ? (int)changes(s) : 0;
	return e;
}

enum ecs_err
store_participants_expired(struct store *s, time_t now, time_t sub_age,
    struct ivec *v)
{
	return query_iv(s, "SELECT id FROM participants WHERE "
	    "(ptype = 'anonym' AND ttl IS NOT NULL AND ttl < ?) OR "
	    "(ptype = 'sub' AND created_at <= ?) ORDER BY id LIMIT 1000", 2,
	    now, now - sub_age, v);
}

/* --- representations ------------------------------------------------------ */

static void
jw_col_str(struct jw *w, const char *k, struct dbst *q, int i)
{
	jw_key(w, k);
	if (col_null(q, i))
		jw_null(w);
	else
		jw_str(w, col_text(q, i));
}

enum ecs_err
store_memberships_json(struct store *s, int64_t pid, const char *selector,
    struct jw *w, int *count)
{
	struct dbst	*ms, *ps;
	struct ivec	 mids, cids;
	enum ecs_err	 e = ECS_OK;
	size_t		 i;
	int		 rc;

	memset(&mids, 0, sizeof(mids));
	memset(&cids, 0, sizeof(cids));
	if ((ms = st(s, "SELECT id, community_id FROM memberships "
	    "WHERE participant_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	bind_i(ms, 1, pid);
	while ((rc = step(ms)) == DB_ROW) {
		if (ivec_push(&mids, col_i(ms, 0)) != ECS_OK ||
		    ivec_push(&cids, col_i(ms, 1)) != ECS_OK) {
			e = ECS_ENOMEM;
			break;
		}
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(ms);
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
		bind_i(ps, 1, cids.iv_v[i]);
		jw_obj_open(w);
		jw_key(w, "community");
		jw_obj_open(w);
		if ((rc = step(ps)) == DB_ROW) {
			jw_col_str(w, "name", ps, 0);
			jw_col_str(w, "description", ps, 1);
			jw_kint(w, "cid", col_i(ps, 2));
		} else if (rc == DB_ERROR)
			e = db_err(s);
		reset(ps);
		jw_obj_close(w);
		if (e != ECS_OK)
			break;
		jw_key(w, "participants");
		jw_arr_open(w);
		if ((ps = st(s, "SELECT p.name, p.description, p.email, p.dns, "
		    "m.id, o.name, o.abbr, p.id, p.ptype FROM memberships m "
		    "JOIN participants p ON p.id = m.participant_id "
		    "JOIN organizations o ON o.id = p.organization_id "
		    "WHERE m.community_id = ? AND (? = 'all' OR "
		    "(? = 'main' AND p.ptype = 'main') OR "
		    "(? = 'sub' AND p.ptype = 'sub') OR "
		    "(? = 'anonym' AND p.ptype = 'anonym')) "
		    "ORDER BY p.id")) == NULL) {
			e = ECS_ESTORE;
			break;
		}
		bind_i(ps, 1, cids.iv_v[i]);
		bind_text(ps, 2, selector);
		bind_text(ps, 3, selector);
		bind_text(ps, 4, selector);
		bind_text(ps, 5, selector);
		while ((rc = step(ps)) == DB_ROW) {
			jw_obj_open(w);
			jw_col_str(w, "name", ps, 0);
			jw_col_str(w, "description", ps, 1);
			jw_col_str(w, "email", ps, 2);
			jw_col_str(w, "dns", ps, 3);
			jw_kint(w, "mid", col_i(ps, 4));
			jw_key(w, "org");
			jw_obj_open(w);
			jw_col_str(w, "name", ps, 5);
			jw_col_str(w, "abbr", ps, 6);
			jw_obj_close(w);
			jw_kbool(w, "itsyou", col_i(ps, 7) == pid);
			jw_kint(w, "pid", col_i(ps, 7));
			jw_col_str(w, "type", ps, 8);
			jw_obj_close(w);
		}
		if (rc != DB_DONE)
			e = db_err(s);
		reset(ps);
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
	struct dbst	*q;
	int		 rc, events = 0, selfrouting = 0;
	enum ecs_err	 e = ECS_OK;
	char		 key[300];

	if ((q = st(s, "SELECT events, selfrouting FROM participants "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	if ((rc = step(q)) == DB_ROW) {
		events = (int)col_i(q, 0);
		selfrouting = (int)col_i(q, 1);
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	if (e != ECS_OK)
		return e;
	jw_obj_open(w);
	jw_kbool(w, "participant_events", events);
	jw_key(w, "resource_events");
	jw_obj_open(w);
	if ((q = st(s, "SELECT namespace, name, events FROM resources "
	    "ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = step(q)) == DB_ROW) {
		snprintf(key, sizeof(key), "/%s/%s", col_text(q, 0),
		    col_text(q, 1));
		jw_kbool(w, key, (int)col_i(q, 2));
	}
	if (rc != DB_DONE)
		e = db_err(s);
	reset(q);
	jw_obj_close(w);
	jw_kbool(w, "selfrouting", selfrouting);
	jw_obj_close(w);
	return e;
}

/* --- the admin model ------------------------------------------------------ */

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
			return util_fail(err, ECS_EINVAL,
			    "%s: required string missing", k);
		*out = NULL;
		return ECS_OK;
	}
	if (json_type(v) != JSON_STRING)
		return util_fail(err, ECS_EINVAL, "%s: must be a string", k);
	if ((flags & (F_REQUIRED | F_NONBLANK)) && util_blank(json_string(v)))
		return util_fail(err, ECS_EINVAL, "%s: must not be blank", k);
	if (strlen(json_string(v)) > 1000)
		return util_fail(err, ECS_EINVAL, "%s: longer than 1000 bytes",
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
		return util_fail(err, ECS_EINVAL, "%s: must be true or false",
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
		return util_fail(err, ECS_EINVAL,
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

/*
 * Step an admin write and reset it: a duplicate is "what already exists".
 * With id, the statement returns the new row's id.
 */
static enum ecs_err
step_write(struct store *s, struct dbst *q, int64_t *id,
    struct ecs_error *err, const char *what)
{
	enum ecs_err	 e = ECS_OK;
	int		 rc;

	rc = step(q);
	if (rc == DB_ROW && id != NULL)
		*id = col_i(q, 0);
	else if (rc == DB_ERROR)
		e = db_err(s);
	else if (id != NULL)
		e = ECS_ESTORE;
	reset(q);
	if (e == ECS_OK)
		return ECS_OK;
	if (e == ECS_EEXIST)
		return util_fail(err, ECS_EEXIST, "%s already exists", what);
	return util_fail(err, e, "storage failure");
}

static void
write_org(struct jw *w, struct dbst *q)
{
	jw_obj_open(w);
	jw_kint(w, "id", col_i(q, 0));
	jw_col_str(w, "name", q, 1);
	jw_col_str(w, "abbr", q, 2);
	jw_col_str(w, "description", q, 3);
	jw_obj_close(w);
}

static void
write_community(struct jw *w, struct dbst *q)
{
	jw_obj_open(w);
	jw_kint(w, "id", col_i(q, 0));
	jw_col_str(w, "name", q, 1);
	jw_col_str(w, "description", q, 2);
	jw_obj_close(w);
}

static void
write_resource(struct jw *w, struct dbst *q)
{
	jw_obj_open(w);
	jw_kint(w, "id", col_i(q, 0));
	jw_col_str(w, "namespace", q, 1);
	jw_col_str(w, "name", q, 2);
	jw_kbool(w, "postroute", (int)col_i(q, 3));
	jw_kbool(w, "events", (int)col_i(q, 4));
	jw_obj_close(w);
}

static void
write_membership(struct jw *w, struct dbst *q)
{
	jw_obj_open(w);
	jw_kint(w, "id", col_i(q, 0));
	jw_kint(w, "participant_id", col_i(q, 1));
	jw_kint(w, "community_id", col_i(q, 2));
	jw_obj_close(w);
}

static enum ecs_err
write_participant(struct store *s, struct jw *w, struct dbst *q)
{
	struct dbst	*sub;
	int64_t		 pid = col_i(q, 0);
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	jw_obj_open(w);
	jw_kint(w, "id", pid);
	jw_col_str(w, "name", q, 1);
	jw_col_str(w, "description", q, 2);
	jw_col_str(w, "dns", q, 3);
	jw_col_str(w, "email", q, 4);
	jw_kint(w, "organization_id", col_i(q, 5));
	jw_kbool(w, "community_selfrouting", (int)col_i(q, 6));
	jw_kbool(w, "events", (int)col_i(q, 7));
	jw_col_str(w, "type", q, 8);
	jw_key(w, "auth_ids");
	jw_arr_open(w);
	if ((sub = st(s, "SELECT name FROM identities WHERE participant_id = ? "
	    "ORDER BY id")) == NULL)
		return ECS_ESTORE;
	bind_i(sub, 1, pid);
	while ((rc = step(sub)) == DB_ROW)
		jw_str(w, col_text(sub, 0));
	if (rc != DB_DONE)
		e = db_err(s);
	reset(sub);
	if (e != ECS_OK)
		return e;
	jw_arr_close(w);
	jw_key(w, "memberships");
	jw_arr_open(w);
	if ((sub = st(s, "SELECT id, community_id FROM memberships "
	    "WHERE participant_id = ? ORDER BY id")) == NULL)
		return ECS_ESTORE;
	bind_i(sub, 1, pid);
	while ((rc = step(sub)) == DB_ROW) {
		jw_obj_open(w);
		jw_kint(w, "mid", col_i(sub, 0));
		jw_kint(w, "community_id", col_i(sub, 1));
		jw_obj_close(w);
	}
	if (rc != DB_DONE)
		e = db_err(s);
	reset(sub);
	jw_arr_close(w);
	jw_obj_close(w);
	return e;
}

#define PARTICIPANT_COLS "SELECT id, name, description, dns, email, " \
	"organization_id, selfrouting, events, ptype FROM participants "

static const struct admin_kind {
	const char	*ak_name;
	const char	*ak_list;
	const char	*ak_get;
	void		(*ak_write)(struct jw *, struct dbst *);
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
	struct dbst		*q;
	int			 rc = DB_DONE;
	enum ecs_err		 e = ECS_OK;

	if ((k = admin_kind(kind)) == NULL)
		return ECS_ENOTFOUND;
	if ((q = st(s, k->ak_list)) == NULL)
		return ECS_ESTORE;
	jw_arr_open(w);
	while (e == ECS_OK && (rc = step(q)) == DB_ROW) {
		if (k->ak_write != NULL)
			k->ak_write(w, q);
		else
			e = write_participant(s, w, q);
	}
	if (e == ECS_OK && rc != DB_DONE)
		e = db_err(s);
	reset(q);
	jw_arr_close(w);
	return e;
}

enum ecs_err
store_admin_get(struct store *s, const char *kind, int64_t id, struct jw *w)
{
	const struct admin_kind	*k;
	struct dbst		*q;
	int			 rc;
	enum ecs_err		 e = ECS_OK;

	if ((k = admin_kind(kind)) == NULL)
		return ECS_ENOTFOUND;
	if ((q = st(s, k->ak_get)) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, id);
	if ((rc = step(q)) != DB_ROW)
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	else if (k->ak_write != NULL)
		k->ak_write(w, q);
	else
		e = write_participant(s, w, q);
	reset(q);
	return e;
}

/*
 * Replace a participant's identities with the array auth_ids. Every name
 * is checked before anything is written, so that a duplicate is found by
 * a query and not by a failing insert.
 */
static enum ecs_err
set_identities(struct store *s, int64_t pid, const struct json *ids,
    struct ecs_error *err)
{
	struct dbst	*q;
	size_t		 i, j;
	enum ecs_err	 e;
	const char	*name;
	int64_t		 owner;

	if (json_type(ids) != JSON_ARRAY)
		return util_fail(err, ECS_EINVAL, "%s: must be an array",
		    "auth_ids");
	for (i = 0; i < json_len(ids); i++) {
		name = json_string(json_at(ids, i));
		if (name == NULL || util_blank(name) || strlen(name) > 1000)
			return util_fail(err, ECS_EINVAL,
			    "%s: must hold non-blank strings", "auth_ids");
		for (j = 0; j < i; j++)
			if (strcmp(name, json_string(json_at(ids, j))) == 0)
				return util_fail(err, ECS_EEXIST,
				    "%s already exists", "auth id");
		e = store_identity_pid(s, name, &owner);
		if (e == ECS_OK && owner != pid)
			return util_fail(err, ECS_EEXIST, "%s already exists",
			    "auth id");
		if (e != ECS_OK && e != ECS_ENOTFOUND)
			return util_fail(err, e, "storage failure");
	}
	if ((e = exec_i(s, "DELETE FROM identities WHERE participant_id = ?",
	    1, pid, 0, 0)) != ECS_OK)
		return e;
	for (i = 0; i < json_len(ids); i++) {
		if ((q = st(s, "INSERT INTO identities (name, description, "
		    "participant_id) VALUES (?, 'admin', ?)")) == NULL)
			return ECS_ESTORE;
		bind_text(q, 1, json_string(json_at(ids, i)));
		bind_i(q, 2, pid);
		if ((e = step_write(s, q, NULL, err, "auth id")) != ECS_OK)
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
			return util_fail(err, ECS_EINVAL,
			    "communities: no community named %s",
			    json_string(v));
		return ECS_OK;
	}
	if (json_int(v, cid) != 0 || store_community_exists(s, *cid) != ECS_OK)
		return util_fail(err, ECS_EINVAL, "%s: unknown community id",
		    "communities");
	return ECS_OK;
}

static enum ecs_err
add_membership(struct store *s, int64_t pid, int64_t cid, int64_t *mid,
    struct ecs_error *err)
{
	enum ecs_err	 e;
	int64_t		 x;

	/* Checked first: a failing insert would spoil the transaction. */
	e = store_member_mid(s, pid, cid, &x);
	if (e == ECS_OK)
		return util_fail(err, ECS_EEXIST, "%s already exists",
		    "membership");
	if (e != ECS_ENOTFOUND)
		return e;
	e = store_membership_add(s, pid, cid, mid);
	if (e == ECS_EEXIST)
		return util_fail(err, ECS_EEXIST, "%s already exists",
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
		return util_fail(err, ECS_EINVAL, "%s: must be an array",
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
		e = query_i(s, "SELECT id FROM organizations WHERE id = ?", 1,
		    *org, 0, &x);
		if (e == ECS_ENOTFOUND)
			return util_fail(err, ECS_EINVAL,
			    "%s: no such organization", "organization_id");
		if (e != ECS_OK)
			return util_fail(err, e, "storage failure");
		return ECS_OK;
	}
	if ((e = get_str(o, "organization", 0, &name, err)) != ECS_OK)
		return e;
	if (name != NULL) {
		e = store_org_by_name(s, name, org);
		if (e == ECS_ENOTFOUND)
			return util_fail(err, ECS_EINVAL,
			    "organization: no organization named %s", name);
		if (e != ECS_OK)
			return util_fail(err, e, "storage failure");
	}
	return ECS_OK;
}

/*
 * Whether another row of table (a literal query "SELECT id FROM t WHERE
 * name = ?") already has the name: checked before a write so that the
 * write does not fail on the unique constraint.
 */
static enum ecs_err
name_taken(struct store *s, const char *sql, const char *name, int64_t self,
    struct ecs_error *err, const char *what)
{
	int64_t		 id;
	enum ecs_err	 e;

	if (name == NULL)
		return ECS_OK;
	e = query_i_text(s, sql, name, &id);
	if (e == ECS_ENOTFOUND || (e == ECS_OK && id == self))
		return ECS_OK;
	if (e == ECS_OK)
		return util_fail(err, ECS_EEXIST, "%s already exists", what);
	return util_fail(err, e, "storage failure");
}

static enum ecs_err
participant_write(struct store *s, int64_t *id, const struct json *o,
    struct ivec *gone, struct ecs_error *err)
{
	const char		*name, *desc, *dns, *email;
	int			 selfrouting, events;
	int64_t			 org;
	struct dbst		*q;
	enum ecs_err		 e;
	const struct json	*v;

	if ((e = get_str(o, "name", F_NONBLANK | (*id == 0 ? F_REQUIRED : 0),
	    &name, err)) != ECS_OK ||
	    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK ||
	    (e = get_str(o, "dns", 0, &dns, err)) != ECS_OK ||
	    (e = get_str(o, "email", 0, &email, err)) != ECS_OK ||
	    (e = get_bool(o, "community_selfrouting", &selfrouting, err)) !=
	    ECS_OK ||
	    (e = get_bool(o, "events", &events, err)) != ECS_OK ||
	    (e = org_ref(s, o, &org, err)) != ECS_OK)
		return e;
	if (name != NULL && util_blank(name))
		return util_fail(err, ECS_EINVAL, "%s: must not be blank",
		    "name");
	if (*id == 0 && org == 0)
		return util_fail(err, ECS_EINVAL,
		    "%s: required for a new participant", "organization_id");
	if ((e = name_taken(s, "SELECT id FROM participants WHERE name = ?",
	    name, *id, err, "participant name")) != ECS_OK)
		return e;
	if (*id == 0) {
		if ((q = st(s, "INSERT INTO participants (name, description, "
		    "dns, email, organization_id, selfrouting, events, ptype, "
		    "created_at, updated_at) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, 'main', ?, ?) "
		    "RETURNING id")) == NULL)
			return ECS_ESTORE;
		bind_text(q, 1, name);
		bind_text(q, 2, desc ? desc : "");
		bind_text(q, 3, dns ? dns : "");
		bind_text(q, 4, email ? email : "");
		bind_i(q, 5, org);
		bind_i(q, 6, selfrouting == 1);
		bind_i(q, 7, events != 0);
		bind_i(q, 8, time(NULL));
		bind_i(q, 9, time(NULL));
		if ((e = step_write(s, q, id, err, "participant name")) !=
		    ECS_OK)
			return e;
	} else {
		if ((q = st(s, "UPDATE participants SET "
		    "name = coalesce(?, name), "
		    "description = coalesce(?, description), "
		    "dns = coalesce(?, dns), email = coalesce(?, email), "
		    "organization_id = coalesce(?, organization_id), "
		    "selfrouting = coalesce(?, selfrouting), "
		    "events = coalesce(?, events), "
		    "updated_at = ? WHERE id = ?")) == NULL)
			return ECS_ESTORE;
		bind_text(q, 1, name);
		bind_text(q, 2, desc);
		bind_text(q, 3, dns);
		bind_text(q, 4, email);
		if (org != 0)
			bind_i(q, 5, org);
		if (selfrouting != -1)
			bind_i(q, 6, selfrouting);
		if (events != -1)
			bind_i(q, 7, events);
		bind_i(q, 8, time(NULL));
		bind_i(q, 9, *id);
		if ((e = step_write(s, q, NULL, err, "participant name")) !=
		    ECS_OK)
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
org_write(struct store *s, int64_t *id, const struct json *o,
    struct ecs_error *err)
{
	const char	*name, *abbr, *desc;
	struct dbst	*q;
	enum ecs_err	 e;
	int		 create = *id == 0;
	int		 req = F_NONBLANK | (create ? F_REQUIRED : 0);

	if ((e = get_str(o, "name", req, &name, err)) != ECS_OK ||
	    (e = get_str(o, "abbr", req, &abbr, err)) != ECS_OK ||
	    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK)
		return e;
	if ((e = name_taken(s, "SELECT id FROM organizations WHERE name = ?",
	    name, *id, err, "organization name or abbr")) != ECS_OK ||
	    (e = name_taken(s, "SELECT id FROM organizations WHERE abbr = ?",
	    abbr, *id, err, "organization name or abbr")) != ECS_OK)
		return e;
	if (create)
		q = st(s, "INSERT INTO organizations (name, abbr, description) "
		    "VALUES (?, ?, coalesce(?, '')) RETURNING id");
	else
		q = st(s, "UPDATE organizations SET "
		    "name = coalesce(?, name), abbr = coalesce(?, abbr), "
		    "description = coalesce(?, description) WHERE id = ?");
	if (q == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, name);
	bind_text(q, 2, abbr);
	bind_text(q, 3, desc);
	if (!create)
		bind_i(q, 4, *id);
	return step_write(s, q, create ? id : NULL, err,
	    "organization name or abbr");
}

static enum ecs_err
community_write(struct store *s, int64_t *id, const struct json *o,
    struct ecs_error *err)
{
	const char	*name, *desc;
	struct dbst	*q;
	enum ecs_err	 e;
	int		 create = *id == 0;

	if ((e = get_str(o, "name", F_NONBLANK | (create ? F_REQUIRED : 0),
	    &name, err)) != ECS_OK ||
	    (e = get_str(o, "description", 0, &desc, err)) != ECS_OK)
		return e;
	if ((e = name_taken(s, "SELECT id FROM communities WHERE name = ?",
	    name, *id, err, "community name")) != ECS_OK)
		return e;
	if (create)
		q = st(s, "INSERT INTO communities (name, description) "
		    "VALUES (?, coalesce(?, '')) RETURNING id");
	else
		q = st(s, "UPDATE communities SET name = coalesce(?, name), "
		    "description = coalesce(?, description) WHERE id = ?");
	if (q == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, name);
	bind_text(q, 2, desc);
	if (!create)
		bind_i(q, 3, *id);
	return step_write(s, q, create ? id : NULL, err, "community name");
}

static enum ecs_err
resource_write(struct store *s, int64_t *id, const struct json *o,
    struct ecs_error *err)
{
	const char		*name, *ns;
	int			 postroute, events;
	struct dbst		*q;
	struct ecs_resource	 r, other;
	enum ecs_err		 e;
	int			 create = *id == 0;
	int			 req;

	req = F_NONBLANK | (create ? F_REQUIRED : 0);
	if ((e = get_str(o, "namespace", req, &ns, err)) != ECS_OK ||
	    (e = get_str(o, "name", req, &name, err)) != ECS_OK ||
	    (e = get_bool(o, "postroute", &postroute, err)) != ECS_OK ||
	    (e = get_bool(o, "events", &events, err)) != ECS_OK)
		return e;
	if (ns != NULL && !valid_resource_part(ns))
		return util_fail(err, ECS_EINVAL, "%s: must match "
		    "[A-Za-z0-9_-]+", "namespace");
	if (name != NULL && !valid_resource_part(name))
		return util_fail(err, ECS_EINVAL, "%s: must match "
		    "[A-Za-z0-9_-]+", "name");
	if (ns != NULL && (strcmp(ns, "sys") == 0 ||
	    strcmp(ns, "admin") == 0))
		return util_fail(err, ECS_EINVAL,
		    "namespace: %s is reserved", ns);
	/* The pair after the change must not name another resource. */
	if ((ns == NULL || name == NULL) && !create) {
		if ((e = store_resource_get(s, *id, &r)) == ECS_OK) {
			if (ns == NULL)
				ns = r.r_ns;
			if (name == NULL)
				name = r.r_name;
		} else if (e != ECS_ENOTFOUND)
			return util_fail(err, e, "storage failure");
	}
	if (ns != NULL && name != NULL) {
		e = store_resource_find(s, ns, name, &other);
		if (e == ECS_OK && other.r_id != *id)
			return util_fail(err, ECS_EEXIST, "%s already exists",
			    "resource");
		if (e != ECS_OK && e != ECS_ENOTFOUND)
			return util_fail(err, e, "storage failure");
	}
	if (create)
		q = st(s, "INSERT INTO resources (namespace, name, postroute, "
		    "events) VALUES (?, ?, ?, ?) RETURNING id");
	else
		q = st(s, "UPDATE resources SET "
		    "namespace = coalesce(?, namespace), "
		    "name = coalesce(?, name), "
		    "postroute = coalesce(?, postroute), "
		    "events = coalesce(?, events) WHERE id = ?");
	if (q == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, ns);
	bind_text(q, 2, name);
	if (create || postroute != -1)
		bind_i(q, 3, postroute == 1);
	if (create || events != -1)
		bind_i(q, 4, events != 0);
	if (!create)
		bind_i(q, 5, *id);
	return step_write(s, q, create ? id : NULL, err, "resource");
}

static enum ecs_err
membership_write(struct store *s, int64_t *id, const struct json *o,
    struct ecs_error *err)
{
	int64_t		 pid, cid;
	enum ecs_err	 e;

	if (*id != 0)
		return util_fail(err, ECS_EINVAL, "%s cannot be changed",
		    "membership");
	if ((e = get_id(o, "participant_id", &pid, err)) != ECS_OK ||
	    (e = get_id(o, "community_id", &cid, err)) != ECS_OK)
		return e;
	if (pid == 0)
		return util_fail(err, ECS_EINVAL, "%s: required",
		    "participant_id");
	if (cid == 0)
		return util_fail(err, ECS_EINVAL, "%s: required",
		    "community_id");
	if (query_i(s, "SELECT id FROM participants WHERE id = ? AND "
	    "ptype IS NOT NULL", 1, pid, 0, &pid) != ECS_OK)
		return util_fail(err, ECS_ENOTFOUND,
		    "%s: no such participant", "participant_id");
	if (store_community_exists(s, cid) != ECS_OK)
		return util_fail(err, ECS_ENOTFOUND,
		    "%s: no such community", "community_id");
	return add_membership(s, pid, cid, id, err);
}

static enum ecs_err
simple_write(struct store *s, const char *kind, int64_t *id,
    const struct json *o, struct ecs_error *err)
{
	if (strcmp(kind, "organizations") == 0)
		return org_write(s, id, o, err);
	if (strcmp(kind, "communities") == 0)
		return community_write(s, id, o, err);
	if (strcmp(kind, "resources") == 0)
		return resource_write(s, id, o, err);
	if (strcmp(kind, "memberships") == 0)
		return membership_write(s, id, o, err);
	return util_fail(err, ECS_ENOTFOUND, "no such collection: %s", kind);
}

enum ecs_err
store_admin_create(struct store *s, const char *kind, const struct json *o,
    int64_t *id, struct ecs_error *err)
{
	struct ivec	 gone;
	enum ecs_err	 e;

	gen_bump(s);

	if (json_type(o) != JSON_OBJECT)
		return util_fail(err, ECS_EINVAL, "%s: must be a JSON object",
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

	gen_bump(s);

	if (json_type(o) != JSON_OBJECT)
		return util_fail(err, ECS_EINVAL, "%s: must be a JSON object",
		    "body");
	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	e = store_admin_get(s, kind, id, &w);
	buf_free(&b);
	if (e != ECS_OK)
		return util_fail(err, e, "%s: no such id", kind);
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

/* What names its messages, then its messages. */
static enum ecs_err
resource_delete(struct store *s, int64_t id)
{
	enum ecs_err	 e;

	if ((e = refs_lock(s)) != ECS_OK ||
	    (e = delete_naming(s, naming_resource, id)) != ECS_OK)
		return e;
	return exec_i(s, "DELETE FROM resources WHERE id = ?", 1, id, 0, 0);
}

enum ecs_err
store_admin_delete(struct store *s, const char *kind, int64_t id)
{
	gen_bump(s);
	if (strcmp(kind, "organizations") == 0) {
		struct ivec	 ps;
		size_t		 i;
		enum ecs_err	 e;

		if ((e = refs_lock(s)) != ECS_OK)
			return e;
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
	if (strcmp(kind, "communities") == 0) {
		enum ecs_err	 e;

		/* Its memberships go by cascade, what names them first. */
		if ((e = refs_lock(s)) != ECS_OK ||
		    (e = delete_naming(s, naming_community, id)) != ECS_OK)
			return e;
		return exec_i(s, "DELETE FROM communities WHERE id = ?", 1, id,
		    0, 0);
	}
	if (strcmp(kind, "resources") == 0)
		return resource_delete(s, id);
	if (strcmp(kind, "memberships") == 0)
		return store_membership_delete(s, id);
	if (strcmp(kind, "participants") == 0)
		return store_participant_delete(s, id);
	return ECS_ENOTFOUND;
}

enum ecs_err
store_admin_find(struct store *s, const char *kind, const struct json *o,
    int64_t *id)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;
	const char	*a = json_string(json_get(o, "name"));
	const char	*b = NULL;

	if (a == NULL)
		return ECS_ENOTFOUND;
	if (strcmp(kind, "organizations") == 0)
		q = st(s, "SELECT id FROM organizations WHERE name = ?");
	else if (strcmp(kind, "communities") == 0)
		q = st(s, "SELECT id FROM communities WHERE name = ?");
	else if (strcmp(kind, "participants") == 0)
		q = st(s, "SELECT id FROM participants WHERE name = ?");
	else if (strcmp(kind, "resources") == 0) {
		b = a;
		a = json_string(json_get(o, "namespace"));
		if (a == NULL)
			return ECS_ENOTFOUND;
		q = st(s, "SELECT id FROM resources WHERE namespace = ? "
		    "AND name = ?");
	} else
		return ECS_ENOTFOUND;
	if (q == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, a);
	if (b != NULL)
		bind_text(q, 2, b);
	rc = step(q);
	if (rc == DB_ROW)
		*id = col_i(q, 0);
	else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

/* The names of a participant's identities, or of its communities. */
static enum ecs_err
export_names(struct store *s, struct jw *w, const char *sql, int64_t pid)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, sql)) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	jw_arr_open(w);
	while ((rc = step(q)) == DB_ROW)
		jw_str(w, col_text(q, 0));
	if (rc != DB_DONE)
		e = db_err(s);
	reset(q);
	jw_arr_close(w);
	return e;
}

enum ecs_err
store_admin_export(struct store *s, struct jw *w)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	jw_obj_open(w);
	jw_key(w, "organizations");
	jw_arr_open(w);
	if ((q = st(s, "SELECT name, abbr, description FROM organizations "
	    "WHERE name NOT IN ('not available', 'system') ORDER BY id")) ==
	    NULL)
		return ECS_ESTORE;
	while ((rc = step(q)) == DB_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", q, 0);
		jw_col_str(w, "abbr", q, 1);
		jw_col_str(w, "description", q, 2);
		jw_obj_close(w);
	}
	reset(q);
	if (rc != DB_DONE)
		return ECS_ESTORE;
	jw_arr_close(w);
	jw_key(w, "communities");
	jw_arr_open(w);
	if ((q = st(s, "SELECT name, description FROM communities "
	    "WHERE name <> 'public' ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = step(q)) == DB_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", q, 0);
		jw_col_str(w, "description", q, 1);
		jw_obj_close(w);
	}
	reset(q);
	if (rc != DB_DONE)
		return ECS_ESTORE;
	jw_arr_close(w);
	jw_key(w, "resources");
	jw_arr_open(w);
	if ((q = st(s, "SELECT namespace, name, postroute, events "
	    "FROM resources WHERE namespace <> 'sys' ORDER BY id")) == NULL)
		return ECS_ESTORE;
	while ((rc = step(q)) == DB_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "namespace", q, 0);
		jw_col_str(w, "name", q, 1);
		jw_kbool(w, "postroute", (int)col_i(q, 2));
		jw_kbool(w, "events", (int)col_i(q, 3));
		jw_obj_close(w);
	}
	reset(q);
	if (rc != DB_DONE)
		return ECS_ESTORE;
	jw_arr_close(w);
	jw_key(w, "participants");
	jw_arr_open(w);
	if ((q = st(s, "SELECT p.id, p.name, p.description, p.dns, "
	    "p.email, o.name, p.selfrouting, p.events FROM participants p "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE p.ptype = 'main' ORDER BY p.id")) == NULL)
		return ECS_ESTORE;
	while (e == ECS_OK && (rc = step(q)) == DB_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "name", q, 1);
		jw_col_str(w, "description", q, 2);
		jw_col_str(w, "dns", q, 3);
		jw_col_str(w, "email", q, 4);
		jw_col_str(w, "organization", q, 5);
		jw_kbool(w, "community_selfrouting", (int)col_i(q, 6));
		jw_kbool(w, "events", (int)col_i(q, 7));
		jw_key(w, "auth_ids");
		e = export_names(s, w, "SELECT name FROM identities "
		    "WHERE participant_id = ? ORDER BY id", col_i(q, 0));
		if (e != ECS_OK)
			break;
		jw_key(w, "communities");
		e = export_names(s, w, "SELECT c.name FROM memberships m "
		    "JOIN communities c ON c.id = m.community_id "
		    "WHERE m.participant_id = ? ORDER BY m.id", col_i(q, 0));
		jw_obj_close(w);
	}
	reset(q);
	if (e != ECS_OK)
		return e;
	jw_arr_close(w);
	jw_obj_close(w);
	return rc == DB_DONE ? ECS_OK : ECS_ESTORE;
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

/* --- anonymous participants and subparticipants --------------------------- */

enum ecs_err
store_participant_add(struct store *s, const struct ecs_newpart *np,
    int64_t *pid)
{
	struct dbst	*q;
	time_t		 now = time(NULL);

	gen_bump(s);

	if ((q = st(s, "INSERT INTO participants (name, description, dns, "
	    "email, organization_id, selfrouting, events, ptype, ttl, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	    "RETURNING id")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, np->np_name);
	bind_text(q, 2, np->np_desc ? np->np_desc : "");
	bind_text(q, 3, np->np_dns ? np->np_dns : "");
	bind_text(q, 4, np->np_email ? np->np_email : "");
	bind_i(q, 5, np->np_org);
	bind_i(q, 6, np->np_selfrouting != 0);
	bind_i(q, 7, np->np_events != 0);
	bind_text(q, 8, np->np_ptype);
	if (np->np_ttl != 0)
		bind_i(q, 9, np->np_ttl);
	bind_i(q, 10, now);
	bind_i(q, 11, now);
	return run_id(s, q, pid);
}

enum ecs_err
store_participant_rename(struct store *s, int64_t pid, const char *name,
    const char *desc)
{
	struct dbst	*q;

	gen_bump(s);

	if ((q = st(s, "UPDATE participants SET name = ?, description = ? "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, name);
	bind_text(q, 2, desc);
	bind_i(q, 3, pid);
	return run(s, q);
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
	struct dbst	*q;

	gen_bump(s);

	if ((q = st(s, "INSERT INTO identities (name, description, "
	    "participant_id) VALUES (?, ?, ?)")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, name);
	bind_text(q, 2, desc);
	bind_i(q, 3, pid);
	return run(s, q);
}

enum ecs_err
store_subpart_add(struct store *s, int64_t pid, int64_t parent,
    const char *realm, int64_t *sid)
{
	struct dbst	*q;

	if ((q = st(s, "INSERT INTO subparticipants (participant_id, "
	    "parent_id, realm) VALUES (?, ?, ?) RETURNING id")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, pid);
	bind_i(q, 2, parent);
	bind_text(q, 3, realm);
	return run_id(s, q, sid);
}

enum ecs_err
store_subpart_get(struct store *s, int64_t sid, struct ecs_subpart *sp)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT id, participant_id, parent_id, realm "
	    "FROM subparticipants WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, sid);
	rc = step(q);
	if (rc == DB_ROW) {
		memset(sp, 0, sizeof(*sp));
		sp->sp_id = col_i(q, 0);
		sp->sp_pid = col_i(q, 1);
		sp->sp_parent = col_i(q, 2);
		sp->sp_has_realm = !col_null(q, 3);
		copy_col(q, 3, sp->sp_realm, sizeof(sp->sp_realm));
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
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
	struct dbst	*q;
	enum ecs_err	 e;

	gen_bump(s);

	if ((q = st(s, "UPDATE subparticipants SET realm = ? "
	    "WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, realm);
	bind_i(q, 2, sid);
	if ((e = run(s, q)) != ECS_OK)
		return e;
	if ((q = st(s, "UPDATE participants SET selfrouting = ?, events = ?, "
	    "updated_at = ? WHERE id = "
	    "(SELECT participant_id FROM subparticipants WHERE id = ?)")) ==
	    NULL)
		return ECS_ESTORE;
	bind_i(q, 1, selfrouting);
	bind_i(q, 2, events);
	bind_i(q, 3, time(NULL));
	bind_i(q, 4, sid);
	return run(s, q);
}

enum ecs_err
store_subpart_json(struct store *s, int64_t sid, struct jw *w)
{
	struct ecs_subpart	 sp;
	struct dbst		*q, *ps;
	enum ecs_err		 e;
	int			 rc;

	if ((e = store_subpart_get(s, sid, &sp)) != ECS_OK)
		return e;
	if ((q = st(s, "SELECT name, description, dns, email, selfrouting, "
	    "events FROM participants WHERE id = ?")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, sp.sp_pid);
	if ((rc = step(q)) != DB_ROW) {
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
		reset(q);
		return e;
	}
	jw_obj_open(w);
	jw_col_str(w, "name", q, 0);
	jw_col_str(w, "description", q, 1);
	jw_key(w, "auth_ids");
	jw_arr_open(w);
	if ((ps = st(s, "SELECT name, description FROM identities "
	    "WHERE participant_id = ? ORDER BY id")) == NULL) {
		reset(q);
		return ECS_ESTORE;
	}
	bind_i(ps, 1, sp.sp_pid);
	while ((rc = step(ps)) == DB_ROW) {
		jw_obj_open(w);
		jw_col_str(w, "auth_id", ps, 0);
		jw_col_str(w, "desc", ps, 1);
		jw_obj_close(w);
	}
	if (rc != DB_DONE)
		e = db_err(s);
	reset(ps);
	if (e != ECS_OK) {
		reset(q);
		return e;
	}
	jw_arr_close(w);
	jw_col_str(w, "dns", q, 2);
	jw_col_str(w, "email", q, 3);
	jw_kbool(w, "community_selfrouting", (int)col_i(q, 4));
	jw_kbool(w, "events", (int)col_i(q, 5));
	reset(q);
	jw_key(w, "memberships");
	jw_arr_open(w);
	if ((q = st(s, "SELECT c.name, c.description, c.id, p.name, "
	    "p.description, p.email, p.dns, m.id, o.name, o.abbr, p.id, p.ptype "
	    "FROM memberships m JOIN communities c ON c.id = m.community_id "
	    "JOIN participants p ON p.id = m.participant_id "
	    "JOIN organizations o ON o.id = p.organization_id "
	    "WHERE m.participant_id = ? ORDER BY m.id")) == NULL)
		return ECS_ESTORE;
	bind_i(q, 1, sp.sp_pid);
	while ((rc = step(q)) == DB_ROW) {
		jw_obj_open(w);
		jw_key(w, "community");
		jw_obj_open(w);
		jw_col_str(w, "name", q, 0);
		jw_col_str(w, "description", q, 1);
		jw_kint(w, "cid", col_i(q, 2));
		jw_obj_close(w);
		jw_key(w, "participants");
		jw_arr_open(w);
		jw_obj_open(w);
		jw_col_str(w, "name", q, 3);
		jw_col_str(w, "description", q, 4);
		jw_col_str(w, "email", q, 5);
		jw_col_str(w, "dns", q, 6);
		jw_kint(w, "mid", col_i(q, 7));
		jw_key(w, "org");
		jw_obj_open(w);
		jw_col_str(w, "name", q, 8);
		jw_col_str(w, "abbr", q, 9);
		jw_obj_close(w);
		jw_kbool(w, "itsyou", 1);
		jw_kint(w, "pid", col_i(q, 10));
		jw_col_str(w, "type", q, 11);
		jw_obj_close(w);
		jw_arr_close(w);
		jw_obj_close(w);
	}
	if (rc != DB_DONE)
		e = db_err(s);
	reset(q);
	jw_arr_close(w);
	jw_key(w, "realm");
	jw_str(w, sp.sp_has_realm ? sp.sp_realm : NULL);
	jw_obj_close(w);
	return e;
}

/* --- passwords ------------------------------------------------------------ */

enum ecs_err
store_identity_password(struct store *s, const char *name, int64_t *pid,
    char *hash, size_t len)
{
	struct dbst	*q;
	int		 rc;
	enum ecs_err	 e = ECS_OK;

	if ((q = st(s, "SELECT participant_id, password FROM identities "
	    "WHERE name = ? AND password IS NOT NULL")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, name);
	rc = step(q);
	if (rc == DB_ROW) {
		*pid = col_i(q, 0);
		copy_col(q, 1, hash, len);
	} else
		e = rc == DB_DONE ? ECS_ENOTFOUND : db_err(s);
	reset(q);
	return e;
}

enum ecs_err
store_identity_set_password(struct store *s, int64_t pid, const char *name,
    const char *hash)
{
	struct dbst	*q;
	enum ecs_err	 e;

	/* Other nodes forget the credentials they verified. */
	gen_bump(s);
	if ((q = st(s, "UPDATE identities SET password = ? "
	    "WHERE participant_id = ? AND name = ?")) == NULL)
		return ECS_ESTORE;
	bind_text(q, 1, hash);
	bind_i(q, 2, pid);
	bind_text(q, 3, name);
	if ((e = run(s, q)) != ECS_OK)
		return e;
	return changes(s) == 1 ? ECS_OK : ECS_ENOTFOUND;
}
