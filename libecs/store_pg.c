/*
 * store_pg.c: the SQL driver on PostgreSQL (libpq), for several ecsd nodes
 * sharing one database. The only file that includes libpq-fe.h.
 *
 * Statements are translated from the shared SQL of store.c ('?' becomes
 * $1, $2, ...; the lock markers of store_db.h become FOR UPDATE clauses)
 * and prepared on the server on their first run, with the types of that
 * run's bindings (int8, text, bytea). A NULL has no type: the server takes
 * the one of its context (a column, coalesce with a column), and a NULL
 * without one ("? IS NULL") needs a CAST.
 * Results come in binary when every column is of a type decoded here,
 * else in text.
 *
 * Inside a transaction, statements whose results nobody reads wait in
 * libpq's pipeline and go with the next one that is read (see "the
 * pipeline" below). A connection lost between batches is made again by
 * the next command; one lost inside a batch fails the rest of it.
 *
 * The connection LISTENs on ecs_events and ecs_gen; d_notify queues a
 * pg_notify in the current transaction, which other nodes read through
 * d_notify_fd and d_notify_read when it commits.
 *
 * d_background starts the vacuum helper, a thread with a connection of its
 * own (see "vacuums" below).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store_db.h"
#include "util.h"

/* Type oids (pg_type_d.h is a server header). */
#define PG_BOOLOID	16
#define PG_BYTEAOID	17
#define PG_NAMEOID	19
#define PG_INT8OID	20
#define PG_INT2OID	21
#define PG_INT4OID	23
#define PG_TEXTOID	25
#define PG_OIDOID	26
#define PG_BPCHAROID	1042
#define PG_VARCHAROID	1043

/* The version of schema/postgresql/schema.sql; migrations follow. */
#define PG_SCHEMA_BASE	2
/* pg_advisory_xact_lock key taken while creating or migrating ("ecsd"). */
#define PG_LOCK_KEY	"1701016420"
/*
 * A batch that inserts rows naming resources, participants, memberships or
 * communities holds this key shared, and the deletion of such a row takes
 * it exclusively ("ecsr"; see d_share_refs). The statements after the
 * lock read what committed before they started: READ COMMITTED.
 */
#define PG_REFS_KEY	"1701016434"
/* No column, so that it waits in the pipeline as a write does. */
#define PG_SHARE_REFS	"SELECT FROM pg_advisory_xact_lock_shared(" \
			PG_REFS_KEY ")"
#define PG_LOCK_REFS	"SELECT pg_advisory_xact_lock(" PG_REFS_KEY ")"
#define PG_BEGIN	"BEGIN ISOLATION LEVEL READ COMMITTED"
/* pg_notify payloads are shorter than 8000 bytes. */
#define PG_PAYLOAD_MAX	7000

/* Generated from schema/postgresql by tools/schema2c.awk. */
extern const char store_pg_schema_sql[];
extern const char *const store_pg_migrations[];

struct pg_param {
	const char	*pp_val;	/* NULL: SQL NULL */
	int		 pp_bad;	/* text that is not UTF-8 */
	char		*pp_heap;	/* owned copy of text and blobs */
	int		 pp_len;
	int		 pp_fmt;	/* 0 text, 1 binary */
	Oid		 pp_type;	/* 0 for NULL: let the server infer */
	char		 pp_num[24];
};

/* Per column: conversions that outlive the call (until the next step). */
struct pg_col {
	Oid		 pc_type;
	char		 pc_num[24];	/* an integer as text */
	unsigned char	*pc_bytes;	/* bytea unescaped from text */
	size_t		 pc_len;
	int		 pc_row;	/* row of pc_bytes; -1: none */
};

/* What a statement is, from its first word. */
enum pg_kind {
	K_OTHER,
	K_SELECT,
	K_DML,		/* INSERT, UPDATE, DELETE */
	K_SAVEPOINT,
	K_RELEASE,
	K_ROLLBACK_TO,
	K_ROLLBACK,
	K_COMMIT
};

#define PG_PIPE_MAX	64	/* then read the results anyway */

struct pg_vac;

struct pg_db {
	struct db	 pd_db;		/* first: the driver */
	PGconn		*pd_conn;
	int		 pd_durable;
	int		 pd_pid;	/* our backend, to skip our notifies */
	uint64_t	 pd_epoch;	/* bumped by every (re)connection */
	unsigned int	 pd_nstmt;	/* statement names */
	enum ecs_err	 pd_err;
	char		 pd_msg[400];	/* fits in an ecs_error with a prefix */
	int64_t		 pd_changes;
	int		 pd_reconnected; /* notifications may have been lost */
	int		 pd_was_in_tx;	/* before the command under way */
	int		 pd_lost_in_tx;	/* lost inside a transaction */
	time_t		 pd_retry;	/* no reconnection before */
	int		 pd_gap;	/* the wait after the last failed one */
	char		*pd_dealloc;	/* "DEALLOCATE x;" for the next BEGIN */
	size_t		 pd_dealloc_len;
	int		 pd_pipe;	/* in pipeline mode */
	int		 pd_npending;	/* sent, results not read yet */
	enum pg_kind	 pd_pkind[PG_PIPE_MAX]; /* what they are */
	enum ecs_err	 pd_pend_err;	/* a deferred statement failed */
	int		 pd_doomed;	/* a RELEASE failed: only ROLLBACK */
	int		 pd_broken;	/* connect again, as if it was lost */
	int		 pd_timeout;	/* seconds to wait for an answer; 0 ever */
	int		 pd_timedout;	/* the last wait ran out (pd_broken) */
	struct pg_vac	*pd_vac;	/* the vacuum helper, or NULL */
	int64_t		 pd_churn;	/* rows deleted since the last vacuum */
};

struct pg_st {
	struct dbst	 ps_st;		/* first: the connection */
	char		*ps_sql;	/* translated */
	char		 ps_name[24];
	uint64_t	 ps_epoch;	/* prepared on this connection; 0 never */
	enum pg_kind	 ps_kind;
	int		 ps_defer;	/* may wait in the pipeline */
	int		 ps_deferred;	/* sent in the pipeline, not read */
	int		 ps_nparams;
	struct pg_param	*ps_params;
	Oid		*ps_types;	/* prepared with */
	const char	**ps_values;
	int		*ps_lengths;
	int		*ps_formats;
	int		 ps_binary;	/* results in binary */
	int		 ps_ncols;
	struct pg_col	*ps_cols;
	PGresult	*ps_res;
	int		 ps_row;
};

static void	pg_close(struct db *);
static void	pg_finalize(struct dbst *);
static int	pg_in_tx(struct db *);
static enum ecs_err pg_enter(struct pg_db *);
static enum pg_kind pg_kind(const char *);

/* --- errors --------------------------------------------------------------- */

/* Copy s into out on one line: newlines and tabs become spaces, trimmed. */
static void
pg_oneline(char *out, size_t size, const char *s)
{
	size_t	 n = 0;
	int	 space = 0;

	if (size == 0)
		return;
	for (; *s != '\0' && n + 1 < size; s++) {
		if (*s == '\n' || *s == '\t' || *s == '\r' || *s == ' ') {
			space = 1;
			continue;
		}
		if (space && n > 0 && n + 2 < size)
			out[n++] = ' ';
		space = 0;
		out[n++] = *s;
	}
	out[n] = '\0';
}

/*
 * Record the failure of the last call (res may be NULL) as an ecs error
 * and a one-line message; returns the error.
 */
static enum ecs_err
pg_fail(struct pg_db *pd, const PGresult *res)
{
	const char	*state = NULL, *msg = NULL;
	char		 line[300];

	if (pd->pd_timedout)
		return pd->pd_err;	/* pg_await said why */
	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (PQstatus(pd->pd_conn) == CONNECTION_BAD) {
		pg_oneline(line, sizeof(line), PQerrorMessage(pd->pd_conn));
		snprintf(pd->pd_msg, sizeof(pd->pd_msg),
		    "connection to PostgreSQL lost: %s", line[0] != '\0' ?
		    line : "no reason given");
		pd->pd_err = ECS_EBUSY;		/* 503: try again later */
		pd->pd_lost_in_tx = pd->pd_was_in_tx;
		return pd->pd_err;
	}
	if (msg == NULL)
		msg = res != NULL ? PQresultErrorMessage(res) : "";
	if (*msg == '\0')
		msg = PQerrorMessage(pd->pd_conn);
	pg_oneline(pd->pd_msg, sizeof(pd->pd_msg), msg);
	if (pd->pd_msg[0] == '\0')
		snprintf(pd->pd_msg, sizeof(pd->pd_msg),
		    "unknown PostgreSQL error");

	if (state == NULL || strlen(state) != 5)
		pd->pd_err = ECS_ESTORE;
	else if (strncmp(state, "23", 2) == 0)
		pd->pd_err = ECS_EEXIST;	/* integrity constraint */
	else if (strncmp(state, "22", 2) == 0)
		pd->pd_err = ECS_EINVAL;	/* data exception: bad input */
	else if (strcmp(state, "40001") == 0 ||	/* serialization failure */
	    strcmp(state, "40P01") == 0 ||	/* deadlock */
	    strcmp(state, "55P03") == 0 ||	/* lock not available */
	    strcmp(state, "57014") == 0 ||	/* statement timeout */
	    strcmp(state, "53300") == 0)	/* too many connections */
		pd->pd_err = ECS_EBUSY;
	else if (strcmp(state, "53100") == 0 ||	/* disk full */
	    strcmp(state, "25006") == 0)	/* read-only transaction */
		pd->pd_err = ECS_EFULL;
	else if (strcmp(state, "53200") == 0)	/* out of memory */
		pd->pd_err = ECS_ENOMEM;
	else
		pd->pd_err = ECS_ESTORE;
	return pd->pd_err;
}

static enum ecs_err
pg_fail_msg(struct pg_db *pd, enum ecs_err e, const char *msg)
{
	pd->pd_err = e;
	snprintf(pd->pd_msg, sizeof(pd->pd_msg), "%s", msg);
	return e;
}

static enum ecs_err
pg_error(struct db *db)
{
	return ((struct pg_db *)db)->pd_err;
}

static const char *
pg_errmsg(struct db *db)
{
	return ((struct pg_db *)db)->pd_msg;
}

/* --- waiting for the server ---------------------------------------------- */

/*
 * Send what libpq holds and wait until the server's next result can be
 * read without blocking, at most pd_timeout seconds. A server that does
 * not answer (hung, or a host gone in a failover, whose TCP connection
 * only the kernel's retries would end, many minutes later) must not hold
 * the node: the connection is given up as if it was lost, the command
 * fails with ECS_EBUSY (503), and the next command connects again. With a
 * timeout the connection is non-blocking (pg_session), so that a large
 * body that the server does not read cannot hold the sending either.
 * 0: readable (or failed: PQgetResult says).
 */
static int
pg_await(struct pg_db *pd)
{
	PGconn		*c = pd->pd_conn;
	struct pollfd	 pfd;
	struct timespec	 t0, t;
	long		 left;
	int		 more;

	if (pd->pd_timeout <= 0) {
		(void)PQflush(c);	/* blocking: all of it, or fails */
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((more = PQflush(c)) == 1 || (more == 0 && PQisBusy(c))) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = pd->pd_timeout * 1000L - (t.tv_sec - t0.tv_sec) * 1000L -
		    (t.tv_nsec - t0.tv_nsec) / 1000000L;
		if (left <= 0) {
			pd->pd_broken = pd->pd_timedout = 1;
			pd->pd_lost_in_tx = pd->pd_was_in_tx;
			pd->pd_err = ECS_EBUSY;
			snprintf(pd->pd_msg, sizeof(pd->pd_msg), "PostgreSQL "
			    "did not answer within %d s: connection given up",
			    pd->pd_timeout);
			return -1;
		}
		pfd.fd = PQsocket(c);
		pfd.events = more ? POLLIN | POLLOUT : POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return 0;
		if ((pfd.revents & ~POLLOUT) != 0 && PQconsumeInput(c) == 0)
			return 0;
	}
	return 0;
}

/* PQgetResult within pd_timeout; NULL also when the wait ran out. */
static PGresult *
pg_get(struct pg_db *pd)
{
	if (pg_await(pd) != 0)
		return NULL;
	return PQgetResult(pd->pd_conn);
}

/*
 * The outcome of the command just sent (sent: what PQsend* returned), as
 * PQexec would give it: the first failure, else the last result. NULL
 * when the sending failed, the connection went, or the wait ran out.
 */
static PGresult *
pg_wait_result(struct pg_db *pd, int sent)
{
	PGresult	*r, *last = NULL;

	if (sent != 1)
		return NULL;
	while ((r = pg_get(pd)) != NULL) {
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR)
			PQclear(r);
		else {
			PQclear(last);
			last = r;
		}
		if (PQstatus(pd->pd_conn) == CONNECTION_BAD)
			break;
	}
	if (pd->pd_timedout) {
		PQclear(last);
		return NULL;
	}
	return last;
}

/* Remember what a command changed, as sqlite3_changes does. */
static void
pg_count(struct pg_db *pd, PGresult *res)
{
	const char	*cmd = PQcmdStatus(res);

	if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
	    strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
		pd->pd_changes = strtoll(PQcmdTuples(res), NULL, 10);
	if (strncmp(cmd, "DELETE", 6) == 0)
		pd->pd_churn += pd->pd_changes;	/* dead rows, for vacuums */
}

/* --- the pipeline --------------------------------------------------------- */

/*
 * Inside a transaction, statements whose results nobody reads (SAVEPOINT,
 * RELEASE, the writes of pg_deferrable without RETURNING, pg_notify) are
 * not waited for: they go to the server in one write with the next
 * statement that is (libpq's pipeline mode), and their results are read
 * before its. A failure among them is the failure of that statement.
 * A request's deferred failure may so be found only in the next request,
 * after its RELEASE was sent: the server then skips that RELEASE, which
 * dooms the batch (pg_admit) as a RELEASE that failed does. Nothing of a
 * doomed batch is committed and every request in it is answered 503, so
 * no request is told of a change that was not made. d_changes reads the
 * pipeline too.
 *
 * Round trips per request at 16 connections (ecs-bench, strace): produce
 * 7.2 without the pipeline, 5.1 with it; consume 12.1 and 6.1; events 6.1
 * and 3.1.
 */
/* In pipeline mode, entering it when a transaction is open; 0 if not. */
static int
pg_pipe_enter(struct pg_db *pd)
{
	if (pd->pd_pipe)
		return 1;
	if (PQtransactionStatus(pd->pd_conn) != PQTRANS_INTRANS ||
	    PQenterPipelineMode(pd->pd_conn) != 1)
		return 0;
	pd->pd_pipe = 1;
	return 1;
}

/*
 * After the sync: read the results of the deferred statements, then the
 * one of the statement sent last (when mine is not NULL), then the sync,
 * and leave pipeline mode. The first failure is the result.
 */
static enum ecs_err
pg_collect(struct pg_db *pd, PGresult **mine)
{
	PGconn		*c = pd->pd_conn;
	PGresult	*r;
	int		 n = pd->pd_npending + (mine != NULL), i, extra;
	int		 release;
	enum ecs_err	 e = ECS_OK;

	if (mine != NULL)
		*mine = NULL;
	pd->pd_npending = 0;
	for (i = 0; i < n; i++) {
		if ((r = pg_get(pd)) == NULL)
			goto broken;
		/* A RELEASE that failed or did not run dooms the batch. */
		release = i < n - (mine != NULL) &&
		    pd->pd_pkind[i] == K_RELEASE;
		switch (PQresultStatus(r)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			pg_count(pd, r);
			if (mine != NULL && i == n - 1 && e == ECS_OK) {
				*mine = r;
				r = NULL;
			}
			break;
		case PGRES_PIPELINE_ABORTED:
			pd->pd_doomed |= release;
			break;
		default:
			if (e == ECS_OK)
				e = pg_fail(pd, r);
			pd->pd_doomed |= release;
			break;
		}
		PQclear(r);
		/* A statement's results end with a NULL. */
		for (extra = 0; (r = pg_get(pd)) != NULL; extra++) {
			PQclear(r);
			if (extra > 8)
				goto broken;
		}
		if (PQstatus(c) == CONNECTION_BAD)
			goto broken;
	}
	if (mine != NULL && *mine == NULL && e == ECS_OK)
		e = pg_fail_msg(pd, ECS_ESTORE, "no result in the pipeline");
	r = pg_get(pd);
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		PQclear(r);
		goto broken;
	}
	PQclear(r);
	if (PQexitPipelineMode(c) != 1)
		goto broken;
	pd->pd_pipe = 0;
	return e;
broken:
	/* As good as a lost connection: a new one before the next batch. */
	if (mine != NULL) {
		PQclear(*mine);
		*mine = NULL;
	}
	if (PQstatus(c) == CONNECTION_BAD || pd->pd_timedout)
		return pg_fail(pd, NULL);
	pd->pd_broken = 1;
	pd->pd_lost_in_tx = pd->pd_was_in_tx;
	return pg_fail_msg(pd, ECS_ESTORE, "PostgreSQL pipeline out of step");
}

/* Read what the deferred statements did. */
static enum ecs_err
pg_flush(struct pg_db *pd)
{
	if (!pd->pd_pipe)
		return ECS_OK;
	if (PQpipelineSync(pd->pd_conn) != 1)
		return pg_fail(pd, NULL);
	return pg_collect(pd, NULL);
}

/*
 * A statement of kind was sent into the pipeline: note it, and read the
 * results once PG_PIPE_MAX of them wait.
 */
static enum ecs_err
pg_pend(struct pg_db *pd, enum pg_kind kind)
{
	pd->pd_pkind[pd->pd_npending++] = kind;
	return pd->pd_npending < PG_PIPE_MAX ? ECS_OK : pg_flush(pd);
}

/*
 * Whether a statement of kind may run now. After a failed RELEASE a
 * request believes in changes that are gone: the batch may only roll back.
 * A deferred statement's failure that d_changes found is reported by the
 * next statement, unless it rolls back.
 */
static enum ecs_err
pg_admit(struct pg_db *pd, enum pg_kind kind)
{
	if (pd->pd_doomed && kind != K_ROLLBACK)
		return pg_fail_msg(pd, ECS_ESTORE, "the transaction failed: "
		    "a savepoint could not be released");
	if (pd->pd_pend_err != ECS_OK && kind != K_ROLLBACK &&
	    kind != K_ROLLBACK_TO) {
		pd->pd_err = pd->pd_pend_err;	/* pd_msg still says why */
		pd->pd_pend_err = ECS_OK;
		return pd->pd_err;
	}
	return pg_enter(pd);
}

/*
 * After a statement of kind ran (e its result, res its rows): what it
 * means for the transaction. A COMMIT of a transaction in which a
 * statement failed rolls back, without an error: that is a failure here.
 */
static enum ecs_err
pg_done(struct pg_db *pd, enum pg_kind kind, enum ecs_err e, PGresult *res)
{
	if (e == ECS_OK && kind == K_COMMIT && res != NULL &&
	    strcmp(PQcmdStatus(res), "COMMIT") != 0)
		e = pg_fail_msg(pd, ECS_ESTORE, "the transaction was rolled "
		    "back: a statement in it failed");
	switch (kind) {
	case K_RELEASE:
		if (e != ECS_OK)
			pd->pd_doomed = 1;
		break;
	case K_ROLLBACK_TO:
		if (e == ECS_OK)
			pd->pd_pend_err = ECS_OK;
		break;
	case K_ROLLBACK:
		if (e == ECS_OK) {
			pd->pd_pend_err = ECS_OK;
			pd->pd_doomed = 0;
		}
		break;
	default:
		break;
	}
	return e;
}

/* A statement of kind pg_admit refused: a RELEASE still dooms. */
static enum ecs_err
pg_refused(struct pg_db *pd, enum pg_kind kind)
{
	if (kind == K_RELEASE)
		pd->pd_doomed = 1;
	return pd->pd_err;
}

/* --- plain commands ------------------------------------------------------- */

/* The outcome of a command's result res (counted when it succeeded). */
static enum ecs_err
pg_check(struct pg_db *pd, PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		pg_count(pd, res);
		return ECS_OK;
	default:
		return pg_fail(pd, res);
	}
}

static enum ecs_err
pg_exec(struct db *db, const char *sql)
{
	struct pg_db	*pd = (struct pg_db *)db;
	PGresult	*res;
	enum pg_kind	 kind = pg_kind(sql);
	enum ecs_err	 e;

	if (pd->pd_lost_in_tx && kind == K_ROLLBACK) {
		/* The server rolled it back when the connection went. */
		pd->pd_lost_in_tx = pd->pd_was_in_tx = 0;
		pd->pd_npending = pd->pd_pipe = 0;
		return pg_done(pd, kind, ECS_OK, NULL);
	}
	if ((e = pg_admit(pd, kind)) != ECS_OK)
		return pg_refused(pd, kind);
	/* Deferred failures do not matter to a ROLLBACK. */
	if ((e = pg_flush(pd)) != ECS_OK && (kind != K_ROLLBACK ||
	    PQstatus(pd->pd_conn) == CONNECTION_BAD))
		return pg_done(pd, kind, e, NULL);
	if ((res = pg_wait_result(pd, PQsendQuery(pd->pd_conn, sql))) == NULL)
		return pg_done(pd, kind, pg_fail(pd, NULL), NULL);
	e = pg_done(pd, kind, pg_check(pd, res), res);
	PQclear(res);
	return e;
}

/* One integer (or boolean) from the first row of sql; ECS_ENOTFOUND if none. */
static enum ecs_err
pg_query_int(struct pg_db *pd, const char *sql, int64_t *out)
{
	PGresult	*res;
	const char	*v;
	enum ecs_err	 e;

	if ((e = pg_admit(pd, K_SELECT)) != ECS_OK ||
	    (e = pg_flush(pd)) != ECS_OK)
		return e;
	if ((res = pg_wait_result(pd, PQsendQuery(pd->pd_conn, sql))) == NULL)
		return pg_fail(pd, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		e = pg_fail(pd, res);
	else if (PQntuples(res) < 1 || PQnfields(res) < 1 ||
	    PQgetisnull(res, 0, 0))
		e = ECS_ENOTFOUND;
	else {
		v = PQgetvalue(res, 0, 0);
		if (*v == 't' || *v == 'f')
			*out = *v == 't';
		else
			*out = strtoll(v, NULL, 10);
	}
	PQclear(res);
	return e;
}

/* --- connection and schema ------------------------------------------------ */

static void
pg_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Settings of a new session; also after a reconnection. */
static enum ecs_err
pg_session(struct pg_db *pd)
{
	enum ecs_err	 e;

	PQsetNoticeProcessor(pd->pd_conn, pg_notice, NULL);
	(void)PQsetnonblocking(pd->pd_conn, pd->pd_timeout > 0);
	pd->pd_pid = PQbackendPID(pd->pd_conn);
	pd->pd_epoch++;
	/*
	 * A row lock held by another node's batch is released when that
	 * batch commits (milliseconds); waiting longer means trouble, and
	 * the request is answered 503 (ECS_EBUSY) instead of hanging.
	 */
	e = pg_exec(&pd->pd_db, pd->pd_durable ?
	    "SET synchronous_commit = on; SET client_encoding = 'UTF8'; "
	    "SET lock_timeout = '10s'; LISTEN ecs_events; LISTEN ecs_gen" :
	    "SET synchronous_commit = off; SET client_encoding = 'UTF8'; "
	    "SET lock_timeout = '10s'; LISTEN ecs_events; LISTEN ecs_gen");
	/*
	 * No sequential scans where an index serves. On a new database the
	 * tables are empty when the first plans are made, and a generic plan
	 * lives as long as the connection, or until the next ANALYZE: the
	 * foreign key checks of each link and event read the whole messages
	 * table, and produce slowed as it grew (1,023 requests/s after the
	 * first 5,000, 18.5 million rows read by 8,611 scans).
	 */
	if (e == ECS_OK)
		e = pg_exec(&pd->pd_db, "SET enable_seqscan = off");
	/*
	 * Every statement is an index lookup whose plan does not depend on
	 * its parameters, but the server plans a prepared statement anew on
	 * each run when it estimates the generic plan dearer (a LIMIT ?, a
	 * join): planning was 40 % of the backend's CPU for an event pop
	 * (421-545 µs -> 256-302 µs per pop with generic plans). Since 12.
	 * A generic plan cannot see which queue a pop names: schema version
	 * 4 declares the queue columns selective, so that pops always read
	 * their queue's index (test_store_pg: pops_read_the_queue_indexes).
	 */
	if (e == ECS_OK && PQserverVersion(pd->pd_conn) >= 120000)
		e = pg_exec(&pd->pd_db,
		    "SET plan_cache_mode = force_generic_plan");
	return e;
}

static int
pg_schema_version_current(void)
{
	int	 n;

	for (n = 0; store_pg_migrations[n] != NULL; n++)
		;
	return PG_SCHEMA_BASE + n;
}

/* The schema version of the database, 0 when it has no schema yet. */
static enum ecs_err
pg_schema_version(struct pg_db *pd, int64_t *version)
{
	int64_t		 exists;
	enum ecs_err	 e;

	/*
	 * Not to_regclass(): it may answer from a cache that has not yet
	 * seen the table another node created while we waited for the lock.
	 * A scan of pg_class does see it, and so does the query after.
	 */
	*version = 0;
	if ((e = pg_query_int(pd, "SELECT count(*) FROM pg_catalog.pg_class "
	    "WHERE relname = 'schema_version' AND relnamespace = "
	    "(SELECT oid FROM pg_catalog.pg_namespace "
	    "WHERE nspname = current_schema())", &exists)) != ECS_OK)
		return e;
	if (!exists)
		return ECS_OK;
	e = pg_query_int(pd, "SELECT max(version) FROM schema_version",
	    version);
	if (e == ECS_ENOTFOUND)
		return ECS_OK;
	return e;
}

/*
 * Create or migrate the schema, one version per transaction. Nodes that
 * start together serialize on an advisory lock, and each reads the
 * version again once it holds it.
 */
static enum ecs_err
pg_schema(struct pg_db *pd, struct ecs_error *err)
{
	int64_t		 version;
	int		 current = pg_schema_version_current();
	char		 sql[128];
	enum ecs_err	 e;

	for (;;) {
		if ((e = pg_schema_version(pd, &version)) != ECS_OK)
			goto fail;
		if (version == current)
			break;
		if (version > current || (version > 0 &&
		    version < PG_SCHEMA_BASE)) {
			snprintf(err->e_msg, sizeof(err->e_msg),
			    "postgresql: schema version %" PRId64 " is %s "
			    "this ecsd (%d)", version, version > current ?
			    "newer than" : "unknown to", current);
			err->e_code = ECS_ESTORE;
			return ECS_ESTORE;
		}
		if ((e = pg_exec(&pd->pd_db, "BEGIN; SELECT "
		    "pg_advisory_xact_lock(" PG_LOCK_KEY ")")) != ECS_OK)
			goto fail;
		if ((e = pg_schema_version(pd, &version)) != ECS_OK)
			goto rollback;
		if (version == current || version > current) {
			/* Another node got there first. */
			if ((e = pg_exec(&pd->pd_db, "COMMIT")) != ECS_OK)
				goto fail;
			continue;
		}
		if (version == 0)
			e = pg_exec(&pd->pd_db, store_pg_schema_sql);
		else if (version >= PG_SCHEMA_BASE)
			e = pg_exec(&pd->pd_db,
			    store_pg_migrations[version - PG_SCHEMA_BASE]);
		else
			e = pg_fail_msg(pd, ECS_ESTORE, "unknown version");
		if (e != ECS_OK)
			goto rollback;
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET "
		    "version = %d", version == 0 ? PG_SCHEMA_BASE :
		    (int)version + 1);
		if ((e = pg_exec(&pd->pd_db, sql)) != ECS_OK ||
		    (e = pg_exec(&pd->pd_db, "COMMIT")) != ECS_OK)
			goto rollback;
	}
	return ECS_OK;
rollback:
	snprintf(err->e_msg, sizeof(err->e_msg),
	    "postgresql: applying schema version %d: %s",
	    version == 0 ? PG_SCHEMA_BASE : (int)version + 1, pd->pd_msg);
	err->e_code = e;
	PQclear(PQexec(pd->pd_conn, "ROLLBACK"));
	return e;
fail:
	snprintf(err->e_msg, sizeof(err->e_msg), "postgresql: %s",
	    pd->pd_msg);
	err->e_code = e;
	return e;
}

/* --- vacuums -------------------------------------------------------------- */

/*
 * A pop deletes its queue's head link, and often its message or the
 * message's tombstone; PostgreSQL keeps each dead row, and its index
 * entries, until a vacuum. The entries of what was popped lie at the head
 * of the queue's index, where every later pop starts: after 5,000 pops
 * the next one read 27 pages of links_queue to find its head, where 3
 * would do, and a queue popped thousands of times a second slows down as
 * it goes (BENCHMARKS.md, "Vacuums by the node"). Autovacuum looks at a
 * database once a minute by default (autovacuum_naptime): far too rare.
 *
 * So a node vacuums the tables its pops churn: a thread with a connection
 * of its own runs VACUUM once the node deleted PG_VAC_ROWS rows since the
 * last one, at most once per PG_VAC_MS and at most a 1/PG_VAC_SHARE of
 * the time (a vacuum that took 300 ms holds the next one back 3 s). A
 * vacuum costs the other writers too (its WAL, its page locks): with a
 * vacuum every 1,000 deletions, mixed c64 had twice the p99, with one
 * every 10,000 the same as without, and pops still walk at most that many
 * dead entries. SKIP_LOCKED skips a table that another node is
 * vacuuming. INDEX_CLEANUP ON for links and events: since version 14 a
 * vacuum leaves the index entries alone when few of the table's pages
 * have dead rows, which is the case of a long queue popped at its head,
 * and those entries are the ones to go.
 *
 * The thread never blocks on the server: it connects and runs its
 * commands without blocking, and waits in poll() on the connection and on
 * a pipe that wakes it when there is something to do or it is to stop. A
 * stopping node so never waits for a vacuum, nor for a server that does
 * not answer; a vacuum under way is left to finish on the server (and
 * statement_timeout bounds it).
 */
#define PG_VAC_ROWS	10000
#define PG_VAC_MS	1000
#define PG_VAC_SHARE	10
#define PG_VAC_CONNECT	10000	/* ms */

struct pg_vac {
	pthread_t	 pv_thread;
	pthread_mutex_t	 pv_lock;
	int		 pv_stop;	/* pv_lock */
	int		 pv_want;	/* pv_lock */
	int		 pv_wake[2];	/* a byte: look at the flags */
	char		*pv_dsn;
	PGconn		*pv_conn;	/* the thread's */
};

static void	pg_notice(void *, const char *);
static int	pg_vac_command(struct pg_vac *, const char *);

static void
pg_vac_flags(struct pg_vac *pv, int *stop, int *want)
{
	char	 buf[64];

	while (read(pv->pv_wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&pv->pv_lock);
	*stop = pv->pv_stop;
	if (want != NULL)
		*want = pv->pv_want;
	pthread_mutex_unlock(&pv->pv_lock);
}

/*
 * Wait for fd to be ready for events, until deadline (-1: none): 1 ready,
 * 0 the deadline passed, -1 the thread is to stop. With fd -1, for a byte
 * on the pipe (0) or the deadline.
 */
static int
pg_vac_wait(struct pg_vac *pv, int fd, short events, int64_t deadline)
{
	struct pollfd	 p[2];
	int64_t		 left;
	int		 stop, n;

	for (;;) {
		pg_vac_flags(pv, &stop, NULL);
		if (stop)
			return -1;
		left = deadline < 0 ? -1 : deadline - util_now_ms();
		if (deadline >= 0 && left <= 0)
			return 0;
		p[0].fd = pv->pv_wake[0];
		p[0].events = POLLIN;
		p[1].fd = fd;
		p[1].events = events;
		p[0].revents = p[1].revents = 0;
		n = poll(p, fd >= 0 ? 2 : 1, left > INT_MAX ? INT_MAX :
		    (int)left);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0 && fd < 0)
			return 0;
		if (n > 0 && p[1].revents != 0)
			return 1;
	}
}

static void
pg_vac_disconnect(struct pg_vac *pv)
{
	PQfinish(pv->pv_conn);
	pv->pv_conn = NULL;
}

/* The thread's connection, made when there is none: 0, or -1. */
static int
pg_vac_connect(struct pg_vac *pv)
{
	const char		*keys[] = { "dbname",
				    "fallback_application_name", NULL };
	const char		*values[] = { pv->pv_dsn, "ecsd vacuum",
				    NULL };
	int64_t			 deadline = util_now_ms() + PG_VAC_CONNECT;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (pv->pv_conn != NULL && PQstatus(pv->pv_conn) == CONNECTION_OK)
		return 0;
	if (pv->pv_conn != NULL)
		pg_vac_disconnect(pv);
	if ((pv->pv_conn = PQconnectStartParams(keys, values, 1)) == NULL)
		return -1;
	while (PQstatus(pv->pv_conn) != CONNECTION_BAD &&
	    st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		if (pg_vac_wait(pv, PQsocket(pv->pv_conn),
		    st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
		    deadline) != 1)
			break;
		st = PQconnectPoll(pv->pv_conn);
	}
	if (st != PGRES_POLLING_OK ||
	    PQstatus(pv->pv_conn) != CONNECTION_OK ||
	    PQsetnonblocking(pv->pv_conn, 1) != 0)
		goto fail;
	/* "skipping vacuum of ..." and the like would go to stderr. */
	PQsetNoticeProcessor(pv->pv_conn, pg_notice, NULL);
	if (pg_vac_command(pv, "SET statement_timeout = '60s'") != 0)
		goto fail;
	return 0;
fail:
	pg_vac_disconnect(pv);
	return -1;
}

/*
 * Run sql and read its results: 0 when it succeeded, -1 when it failed
 * or the thread is to stop.
 */
static int
pg_vac_command(struct pg_vac *pv, const char *sql)
{
	PGconn		*c = pv->pv_conn;
	PGresult	*r;
	int		 ok = 1, w;

	if (PQsendQuery(c, sql) != 1)
		return -1;
	while ((w = PQflush(c)) == 1)
		if (pg_vac_wait(pv, PQsocket(c), POLLOUT, -1) != 1)
			return -1;
	if (w != 0)
		return -1;
	for (;;) {
		while (PQisBusy(c)) {
			if (pg_vac_wait(pv, PQsocket(c), POLLIN, -1) != 1 ||
			    PQconsumeInput(c) != 1)
				return -1;
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			ok = 0;
		PQclear(r);
	}
	return ok ? 0 : -1;
}

/*
 * One round of vacuums; a failure drops the connection for the next.
 * Only the tables of the queues themselves need INDEX_CLEANUP ON; the
 * messages are read by their key, and their indexes grow with a backlog.
 * TRUNCATE false: giving the empty pages at a table's end back to the
 * system takes an exclusive lock, which holds every pop and produce back
 * while it lasts, and the next writes need the pages again.
 * Before version 12 no options, and before 11 one table per command.
 */
static void
pg_vac_run(struct pg_vac *pv)
{
	static const char *const sql[] = {
		"VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE false) "
		    "links, events",
		"VACUUM (SKIP_LOCKED, TRUNCATE false) messages, "
		    "community_messages",
		NULL
	}, *const sql_old[] = {
		"VACUUM links", "VACUUM events", "VACUUM messages",
		"VACUUM community_messages", NULL
	};
	const char *const *v;

	if (pg_vac_connect(pv) != 0)
		return;
	v = PQserverVersion(pv->pv_conn) >= 120000 ? sql : sql_old;
	for (; *v != NULL; v++)
		if (pg_vac_command(pv, *v) != 0) {
			pg_vac_disconnect(pv);
			return;
		}
}

static void *
pg_vac_main(void *arg)
{
	struct pg_vac	*pv = arg;
	int64_t		 next = 0, start, gap;
	int		 stop, want;

	for (;;) {
		pg_vac_flags(pv, &stop, &want);
		if (stop)
			break;
		/* Nothing to do: wait for a byte; too soon: wait for next. */
		if (!want || util_now_ms() < next) {
			if (pg_vac_wait(pv, -1, 0, want ? next : -1) < 0)
				break;
			continue;
		}
		pthread_mutex_lock(&pv->pv_lock);
		pv->pv_want = 0;
		pthread_mutex_unlock(&pv->pv_lock);
		start = util_now_ms();
		pg_vac_run(pv);
		gap = (util_now_ms() - start) * PG_VAC_SHARE;
		next = start + (gap > PG_VAC_MS ? gap : PG_VAC_MS);
	}
	pg_vac_disconnect(pv);
	return NULL;
}

static void
pg_vac_signal(struct pg_vac *pv, int stop)
{
	pthread_mutex_lock(&pv->pv_lock);
	if (stop)
		pv->pv_stop = 1;
	else
		pv->pv_want = 1;
	pthread_mutex_unlock(&pv->pv_lock);
	/* Full: a byte is already waiting, which is all it takes. */
	if (write(pv->pv_wake[1], "", 1) < 0)
		return;
}

/* After enough churn, ask for a vacuum (the thread decides when). */
static void
pg_vac_poke(struct pg_db *pd)
{
	if (pd->pd_vac == NULL || pd->pd_churn < PG_VAC_ROWS)
		return;
	pd->pd_churn = 0;
	pg_vac_signal(pd->pd_vac, 0);
}

static void
pg_vac_free(struct pg_vac *pv)
{
	if (pv->pv_wake[0] >= 0)
		close(pv->pv_wake[0]);
	if (pv->pv_wake[1] >= 0)
		close(pv->pv_wake[1]);
	pthread_mutex_destroy(&pv->pv_lock);
	free(pv->pv_dsn);
	free(pv);
}

static void
pg_vac_stop(struct pg_db *pd)
{
	if (pd->pd_vac == NULL)
		return;
	pg_vac_signal(pd->pd_vac, 1);
	pthread_join(pd->pd_vac->pv_thread, NULL);
	pg_vac_free(pd->pd_vac);
	pd->pd_vac = NULL;
}

static enum ecs_err
pg_background(struct db *db, const char *target)
{
	struct pg_db	*pd = (struct pg_db *)db;
	struct pg_vac	*pv;

	if (pd->pd_vac != NULL)
		return ECS_OK;
	if ((pv = calloc(1, sizeof(*pv))) == NULL)
		return ECS_ENOMEM;
	pv->pv_wake[0] = pv->pv_wake[1] = -1;
	if (pthread_mutex_init(&pv->pv_lock, NULL) != 0) {
		free(pv);
		return ECS_ESTORE;
	}
	if ((pv->pv_dsn = strdup(target)) == NULL) {
		pg_vac_free(pv);
		return ECS_ENOMEM;
	}
	if (pipe2(pv->pv_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		pv->pv_wake[0] = pv->pv_wake[1] = -1;
		pg_vac_free(pv);
		return ECS_ESTORE;
	}
	if (pthread_create(&pv->pv_thread, NULL, pg_vac_main, pv) != 0) {
		pg_vac_free(pv);
		return ECS_ESTORE;
	}
	pd->pd_vac = pv;
	return ECS_OK;
}

static enum ecs_err
pg_open(const char *target, int durable, struct db **out,
    struct ecs_error *err)
{
	struct pg_db		*pd;
	/*
	 * Keywords before dbname are defaults that the connection string
	 * overrides: a server that takes the connection but never answers
	 * (hung, or gone in a failover) holds a reconnection 10 s at most.
	 */
	const char		*keys[] = { "connect_timeout", "dbname",
				    "fallback_application_name", NULL };
	const char		*values[] = { "10", target, "ecsd", NULL };
	enum ecs_err		 e;

	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return ECS_ENOMEM;
	pd->pd_db.db_drv = &db_postgresql;
	pd->pd_durable = durable;
	/* dbname with expand_dbname: target may be a whole connection string. */
	if ((pd->pd_conn = PQconnectdbParams(keys, values, 1)) == NULL) {
		free(pd);
		return ECS_ENOMEM;
	}
	if (PQstatus(pd->pd_conn) != CONNECTION_OK) {
		char	 line[480];

		pg_oneline(line, sizeof(line), PQerrorMessage(pd->pd_conn));
		snprintf(err->e_msg, sizeof(err->e_msg), "postgresql: %s",
		    line);
		err->e_code = e = ECS_ESTORE;
		goto fail;
	}
	/* Identity columns, pg_sequences. */
	if (PQserverVersion(pd->pd_conn) < 100000) {
		snprintf(err->e_msg, sizeof(err->e_msg), "postgresql: server "
		    "version %d is too old (10 or later is needed)",
		    PQserverVersion(pd->pd_conn));
		err->e_code = e = ECS_ESTORE;
		goto fail;
	}
	if ((e = pg_session(pd)) != ECS_OK) {
		snprintf(err->e_msg, sizeof(err->e_msg), "postgresql: %s",
		    pd->pd_msg);
		err->e_code = e;
		goto fail;
	}
	if ((e = pg_schema(pd, err)) != ECS_OK)
		goto fail;
	*out = &pd->pd_db;
	return ECS_OK;
fail:
	pg_close(&pd->pd_db);
	return e;
}

static void
pg_close(struct db *db)
{
	struct pg_db	*pd = (struct pg_db *)db;

	if (pd == NULL)
		return;
	pg_vac_stop(pd);
	PQfinish(pd->pd_conn);
	free(pd->pd_dealloc);
	free(pd);
}

/*
 * Before every command. After a lost connection, connect again with the
 * session settings (statements are prepared again on their next run), at
 * most once a second -- unless a transaction was open when it was lost:
 * then every command fails until the caller's ROLLBACK, so that the rest
 * of a batch never runs outside its transaction.
 */
static enum ecs_err
pg_enter(struct pg_db *pd)
{
	time_t	 now;

	if (PQstatus(pd->pd_conn) != CONNECTION_BAD && !pd->pd_broken) {
		pd->pd_was_in_tx = pg_in_tx(&pd->pd_db);
		return ECS_OK;
	}
	if (pd->pd_lost_in_tx)
		return pg_fail_msg(pd, ECS_EBUSY, "connection to PostgreSQL "
		    "lost during a transaction");
	now = time(NULL);
	if (now < pd->pd_retry)
		return pg_fail_msg(pd, ECS_EBUSY, "no connection to "
		    "PostgreSQL");
	PQreset(pd->pd_conn);
	pd->pd_pipe = pd->pd_npending = pd->pd_broken = pd->pd_timedout = 0;
	pd->pd_doomed = 0;
	pd->pd_pend_err = ECS_OK;
	if (PQstatus(pd->pd_conn) != CONNECTION_OK) {
		/*
		 * The next try after 1, 2, 4 ... 30 s, counted from now (this
		 * one may have waited connect_timeout): a server that is down
		 * holds the node a little of the time, not all of it, and the
		 * commands in between fail at once.
		 */
		pd->pd_gap = pd->pd_gap == 0 ? 1 : pd->pd_gap * 2;
		if (pd->pd_gap > 30)
			pd->pd_gap = 30;
		pd->pd_retry = time(NULL) + pd->pd_gap;
		return pg_fail(pd, NULL);
	}
	pd->pd_gap = 0;
	(void)PQexitPipelineMode(pd->pd_conn);
	free(pd->pd_dealloc);
	pd->pd_dealloc = NULL;
	pd->pd_dealloc_len = 0;
	pd->pd_reconnected = 1;
	pd->pd_was_in_tx = 0;
	return pg_session(pd);
}

static enum ecs_err
pg_begin(struct db *db)
{
	struct pg_db	*pd = (struct pg_db *)db;
	enum ecs_err	 e;

	if ((e = pg_enter(pd)) != ECS_OK)
		return e;
	pg_vac_poke(pd);
	/* A new transaction: nothing of the last one holds. */
	pd->pd_doomed = 0;
	pd->pd_pend_err = ECS_OK;
	if (pd->pd_dealloc != NULL) {
		char	*sql = pd->pd_dealloc;

		/*
		 * The statements finalized since the last batch go in the
		 * same round trip (pg_finalize left room for PG_BEGIN). If
		 * that fails, nothing ran: begin alone.
		 */
		memcpy(sql + pd->pd_dealloc_len, PG_BEGIN, sizeof(PG_BEGIN));
		pd->pd_dealloc = NULL;
		pd->pd_dealloc_len = 0;
		e = pg_exec(db, sql);
		free(sql);
		if (e == ECS_OK)
			return e;
	}
	/*
	 * A connection lost since the last command (a server restart) shows
	 * only now; BEGIN is safe to send again on a new one.
	 */
	if ((e = pg_exec(db, PG_BEGIN)) != ECS_OK &&
	    PQstatus(pd->pd_conn) == CONNECTION_BAD && !pd->pd_lost_in_tx)
		e = pg_exec(db, PG_BEGIN);
	return e;
}

static void
pg_timeout(struct db *db, int seconds)
{
	struct pg_db	*pd = (struct pg_db *)db;

	pd->pd_timeout = seconds > 0 ? seconds : 0;
	(void)PQsetnonblocking(pd->pd_conn, pd->pd_timeout > 0);
}

static int
pg_in_tx(struct db *db)
{
	struct pg_db	*pd = (struct pg_db *)db;

	if (pd->pd_lost_in_tx || pd->pd_doomed || pd->pd_pipe)
		return 1;	/* until the caller's ROLLBACK */
	switch (PQtransactionStatus(pd->pd_conn)) {
	case PQTRANS_ACTIVE:
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		return 1;
	default:
		return 0;
	}
}

static int64_t
pg_changes(struct db *db)
{
	struct pg_db	*pd = (struct pg_db *)db;
	enum ecs_err	 e;

	if ((e = pg_flush(pd)) != ECS_OK)
		pd->pd_pend_err = e;
	return pd->pd_changes;
}

/* The last value of sequence s (a qualified name), NULL before the first. */
#define PG_SEQ_LAST	"(SELECT last_value FROM pg_catalog.pg_sequences " \
			"WHERE format('%%I.%%I', schemaname, sequencename) = s)"

static const char *const pg_id_tables[] = {
	"organizations", "participants", "identities", "communities",
	"memberships", "resources", "messages", "events", "subparticipants",
	NULL
};

/*
 * What the message tables name without a foreign key (schema versions 5
 * and 6, d_share_refs): table, column, the table of the row it names.
 */
static const char *const pg_refs[][3] = {
	{ "messages", "resource_id", "resources" },
	{ "messages", "sender_id", "participants" },
	{ "links", "membership_id", "memberships" },
	{ "events", "participant_id", "participants" },
	{ "community_messages", "community_id", "communities" },
	{ "community_messages", "message_id", "messages" },
	{ "links", "message_id", "messages" },
	{ "events", "message_id", "messages" },
	{ "auths", "message_id", "messages" },
};

/*
 * The database is what this ecsd knows: its schema version, the system
 * participant, no row naming a missing one where no key sees to it (as
 * SQLite's foreign key check), and no id generator behind the ids already
 * in a table (as after a copy without d_sync_ids).
 */
static enum ecs_err
pg_integrity_check(struct db *db)
{
	struct pg_db	*pd = (struct pg_db *)db;
	int64_t		 v;
	char		 sql[512];
	int		 i;
	enum ecs_err	 e;

	if ((e = pg_schema_version(pd, &v)) != ECS_OK)
		return e;
	if (v != pg_schema_version_current()) {
		snprintf(pd->pd_msg, sizeof(pd->pd_msg), "schema version %"
		    PRId64 ", expected %d", v, pg_schema_version_current());
		return pd->pd_err = ECS_ESTORE;
	}
	if ((e = pg_query_int(pd, "SELECT count(*) FROM participants "
	    "WHERE name = 'ecs'", &v)) != ECS_OK)
		return e;
	if (v != 1)
		return pg_fail_msg(pd, ECS_ESTORE, "no system participant");
	for (i = 0; i < (int)(sizeof(pg_refs) / sizeof(pg_refs[0])); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s x WHERE "
		    "NOT EXISTS (SELECT 1 FROM %s y WHERE y.id = x.%s)",
		    pg_refs[i][0], pg_refs[i][2], pg_refs[i][1]);
		if ((e = pg_query_int(pd, sql, &v)) != ECS_OK)
			return e;
		if (v != 0) {
			snprintf(pd->pd_msg, sizeof(pd->pd_msg), "%s: %" PRId64
			    " rows name a missing row of %s (%s)",
			    pg_refs[i][0], v, pg_refs[i][2], pg_refs[i][1]);
			return pd->pd_err = ECS_ESTORE;
		}
	}
	for (i = 0; pg_id_tables[i] != NULL; i++) {
		snprintf(sql, sizeof(sql), "SELECT coalesce(m, 0) > coalesce("
		    PG_SEQ_LAST ", 0) FROM (SELECT pg_get_serial_sequence("
		    "'%s', 'id') AS s, max(id) AS m FROM %s) x",
		    pg_id_tables[i], pg_id_tables[i]);
		if ((e = pg_query_int(pd, sql, &v)) != ECS_OK)
			return e;
		if (v) {
			snprintf(pd->pd_msg, sizeof(pd->pd_msg), "%s: ids "
			    "past the id sequence", pg_id_tables[i]);
			return pd->pd_err = ECS_ESTORE;
		}
	}
	return ECS_OK;
}

/*
 * The id sequence of every table past its largest id, never back: a
 * deleted row's id is not handed out again (as AUTOINCREMENT in SQLite).
 */
static enum ecs_err
pg_sync_ids(struct db *db)
{
	char		 sql[4096];
	size_t		 n = 0;
	int		 i;

	for (i = 0; pg_id_tables[i] != NULL; i++) {
		n += snprintf(sql + n, sizeof(sql) - n, "SELECT setval("
		    "s::regclass, greatest(m, coalesce(" PG_SEQ_LAST ", 0))) "
		    "FROM (SELECT pg_get_serial_sequence('%s', 'id') AS s, "
		    "max(id) AS m FROM %s) x WHERE m IS NOT NULL;",
		    pg_id_tables[i], pg_id_tables[i]);
		if (n >= sizeof(sql))
			return pg_fail_msg((struct pg_db *)db, ECS_ESTORE,
			    "sync_ids: query too long");
	}
	return pg_exec(db, sql);
}

/* --- notifications -------------------------------------------------------- */

static enum ecs_err
pg_notify1(struct pg_db *pd, const char *channel, const char *payload,
    size_t len)
{
	const char	*values[2];
	int		 lengths[2], formats[2] = { 0, 0 };
	char		*copy;
	PGresult	*res;
	enum ecs_err	 e = ECS_OK;

	if ((e = pg_admit(pd, K_SELECT)) != ECS_OK)
		return e;
	if ((copy = strndup(payload, len)) == NULL)
		return ECS_ENOMEM;
	values[0] = channel;
	values[1] = copy;
	lengths[0] = strlen(channel);
	lengths[1] = len;
	if (pg_pipe_enter(pd)) {
		/* Sent with the COMMIT. */
		if (PQsendQueryParams(pd->pd_conn, "SELECT pg_notify($1, $2)",
		    2, NULL, values, lengths, formats, 0) != 1)
			e = pg_fail(pd, NULL);
		else
			e = pg_pend(pd, K_SELECT);
		free(copy);
		return e;
	}
	res = pg_wait_result(pd, PQsendQueryParams(pd->pd_conn,
	    "SELECT pg_notify($1, $2)", 2, NULL, values, lengths, formats, 0));
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		e = pg_fail(pd, res);
	PQclear(res);
	free(copy);
	return e;
}

/* A long payload (a list of ids) goes in pieces cut at commas. */
static enum ecs_err
pg_notify(struct db *db, const char *channel, const char *payload)
{
	struct pg_db	*pd = (struct pg_db *)db;
	size_t		 len = strlen(payload), n;
	enum ecs_err	 e;

	while (len > PG_PAYLOAD_MAX) {
		for (n = PG_PAYLOAD_MAX; n > 0 && payload[n] != ','; n--)
			;
		if (n == 0)
			return pg_fail_msg(pd, ECS_EINVAL,
			    "notification payload too long");
		if ((e = pg_notify1(pd, channel, payload, n)) != ECS_OK)
			return e;
		payload += n + 1;
		len -= n + 1;
	}
	return pg_notify1(pd, channel, payload, len);
}

static int
pg_notify_fd(struct db *db)
{
	return PQsocket(((struct pg_db *)db)->pd_conn);
}

static enum ecs_err
pg_notify_read(struct db *db, struct ivec *pids, int *stale)
{
	struct pg_db	*pd = (struct pg_db *)db;
	PGnotify	*n;
	const char	*p;
	char		*end;
	long long	 id;
	enum ecs_err	 e;

	if ((e = pg_enter(pd)) != ECS_OK)
		return e;
	if (pd->pd_reconnected) {
		/* What was sent while we were away is lost. */
		*stale = 1;
		pd->pd_reconnected = 0;
	}
	/* With results pending, what arrived is read after them. */
	if (!pd->pd_pipe && PQconsumeInput(pd->pd_conn) == 0)
		return pg_fail(pd, NULL);
	while ((n = PQnotifies(pd->pd_conn)) != NULL) {
		if (n->be_pid == pd->pd_pid)
			;
		else if (strcmp(n->relname, "ecs_gen") == 0)
			*stale = 1;
		else if (strcmp(n->relname, "ecs_events") == 0) {
			for (p = n->extra; e == ECS_OK && *p != '\0'; p = end) {
				id = strtoll(p, &end, 10);
				if (end == p)
					end++;	/* a comma, or junk */
				else if (id > 0)
					e = ivec_push_unique(pids, id);
			}
		}
		PQfreemem(n);
	}
	return e;
}

/* --- statements ----------------------------------------------------------- */

/*
 * Translate the shared SQL for PostgreSQL: '?' outside quotes and comments
 * becomes $n, and the lock markers their clauses. Caller frees.
 */
static char *
pg_translate(const char *sql, int *nparams)
{
	const char	*p = sql, *q;
	char		*out, *o;
	size_t		 len = strlen(sql);
	int		 n = 0;

	/* '?' (1 byte) grows most: "$1234" ; markers grow by fewer bytes. */
	if ((out = malloc(len * 6 + 1)) == NULL)
		return NULL;
	o = out;
	while (*p != '\0') {
		if (*p == '\'' || *p == '"') {
			q = p + 1;
			while (*q != '\0' && *q != *p)
				q++;
			if (*q != '\0')
				q++;	/* '' (an escaped quote) reads as two */
			memcpy(o, p, q - p);
			o += q - p;
			p = q;
		} else if (p[0] == '-' && p[1] == '-') {
			q = p + strcspn(p, "\n");
			memcpy(o, p, q - p);
			o += q - p;
			p = q;
		} else if (p[0] == '/' && p[1] == '*') {
			if ((q = strstr(p + 2, "*/")) == NULL)
				q = p + strlen(p);
			else
				q += 2;
			if (strncmp(p, "/*SKIP_LOCKED*/", q - p) == 0 &&
			    q - p == 15)
				o = stpcpy(o, "FOR UPDATE SKIP LOCKED");
			else if (strncmp(p, "/*LOCK*/", q - p) == 0 &&
			    q - p == 8)
				o = stpcpy(o, "FOR UPDATE");
			else if (strncmp(p, "/*SKIP_LOCKED_OF ", 17) == 0 &&
			    q - p > 19) {
				o = stpcpy(o, "FOR UPDATE OF ");
				memcpy(o, p + 17, q - p - 19);
				o += q - p - 19;
				o = stpcpy(o, " SKIP LOCKED");
			} else {
				memcpy(o, p, q - p);
				o += q - p;
			}
			p = q;
		} else if (*p == '?') {
			o += sprintf(o, "$%d", ++n);
			p++;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	*nparams = n;
	return out;
}

static enum pg_kind
pg_kind(const char *sql)
{
	sql += strspn(sql, " \t\n(");
	if (strncasecmp(sql, "SELECT", 6) == 0)
		return K_SELECT;
	if (strncasecmp(sql, "INSERT", 6) == 0 ||
	    strncasecmp(sql, "UPDATE", 6) == 0 ||
	    strncasecmp(sql, "DELETE", 6) == 0)
		return K_DML;
	if (strncasecmp(sql, "SAVEPOINT", 9) == 0)
		return K_SAVEPOINT;
	if (strncasecmp(sql, "RELEASE", 7) == 0)
		return K_RELEASE;
	if (strncasecmp(sql, "ROLLBACK TO", 11) == 0)
		return K_ROLLBACK_TO;
	if (strncasecmp(sql, "ROLLBACK", 8) == 0)
		return K_ROLLBACK;
	if (strncasecmp(sql, "COMMIT", 6) == 0)
		return K_COMMIT;
	return K_OTHER;
}

/*
 * Whether a statement without result columns may wait in the pipeline:
 * SAVEPOINT, RELEASE, DELETE, and INSERT or UPDATE of the message tables,
 * whose only failures are races lost to another node (a deadlock, a row
 * they name gone). Writes to identities, participants and the other admin
 * tables wait for their answer: a duplicate there is reported from it
 * ("already exists").
 */
static int
pg_deferrable(const char *sql, enum pg_kind kind)
{
	static const char *const tables[] = {
		"messages ", "links ", "community_messages ", "events ",
		"auths ", NULL
	};
	const char	*t;
	int		 i;

	if (kind == K_SAVEPOINT || kind == K_RELEASE)
		return 1;
	/*
	 * A lock without columns (PG_SHARE_REFS, a message's before its
	 * disposal): one that times out fails the batch, as a write would.
	 */
	if (strncmp(sql, "SELECT FROM ", 12) == 0)
		return 1;
	if (kind != K_DML)
		return 0;
	sql += strspn(sql, " \t\n(");
	if (strncasecmp(sql, "DELETE", 6) == 0)
		return 1;
	if (strncasecmp(sql, "INSERT INTO ", 12) == 0)
		t = sql + 12;
	else if (strncasecmp(sql, "UPDATE ", 7) == 0)
		t = sql + 7;
	else
		return 0;
	t += strspn(t, " ");
	for (i = 0; tables[i] != NULL; i++)
		if (strncasecmp(t, tables[i], strlen(tables[i])) == 0 ||
		    (strncasecmp(t, tables[i], strlen(tables[i]) - 1) == 0 &&
		    t[strlen(tables[i]) - 1] == '('))
			return 1;
	return 0;
}

static struct dbst *
pg_prepare(struct db *db, const char *sql)
{
	struct pg_st	*ps;
	int		 n;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return NULL;
	ps->ps_st.ds_db = db;
	ps->ps_row = -1;
	if ((ps->ps_sql = pg_translate(sql, &n)) == NULL)
		goto fail;
	ps->ps_kind = pg_kind(sql);
	ps->ps_defer = pg_deferrable(sql, ps->ps_kind);
	if (n > 0 && ((ps->ps_params = calloc(n, sizeof(*ps->ps_params))) ==
	    NULL || (ps->ps_types = calloc(n, sizeof(*ps->ps_types))) ==
	    NULL || (ps->ps_values = calloc(n, sizeof(*ps->ps_values))) ==
	    NULL || (ps->ps_lengths = calloc(n, sizeof(*ps->ps_lengths))) ==
	    NULL || (ps->ps_formats = calloc(n, sizeof(*ps->ps_formats))) ==
	    NULL))
		goto fail;
	ps->ps_nparams = n;
	return &ps->ps_st;
fail:
	pg_fail_msg((struct pg_db *)db, ECS_ENOMEM, "out of memory");
	pg_finalize(&ps->ps_st);
	return NULL;
}

static void
pg_cols_clear(struct pg_st *ps)
{
	int	 i;

	for (i = 0; i < ps->ps_ncols; i++) {
		free(ps->ps_cols[i].pc_bytes);
		ps->ps_cols[i].pc_bytes = NULL;
		ps->ps_cols[i].pc_row = -1;
	}
}

static void
pg_unbind(struct pg_param *pp)
{
	free(pp->pp_heap);
	pp->pp_heap = NULL;
	pp->pp_val = NULL;
	pp->pp_bad = 0;
	pp->pp_len = 0;
	pp->pp_fmt = 0;
	pp->pp_type = 0;
}

static void
pg_reset(struct dbst *st)
{
	struct pg_st	*ps = (struct pg_st *)st;
	int		 i;

	PQclear(ps->ps_res);
	ps->ps_res = NULL;
	ps->ps_row = -1;
	ps->ps_deferred = 0;
	pg_cols_clear(ps);
	for (i = 0; i < ps->ps_nparams; i++)
		pg_unbind(&ps->ps_params[i]);
}

static void
pg_finalize(struct dbst *st)
{
	struct pg_st	*ps = (struct pg_st *)st;
	struct pg_db	*pd;
	char		*p;
	size_t		 add;

	if (ps == NULL)
		return;
	pd = (struct pg_db *)ps->ps_st.ds_db;
	/* The server forgets it before the next batch (see pg_begin). */
	if (ps->ps_epoch == pd->pd_epoch && ps->ps_name[0] != '\0') {
		add = strlen(ps->ps_name) + sizeof("DEALLOCATE ;");
		/* Room for PG_BEGIN and its NUL after the list. */
		p = realloc(pd->pd_dealloc, pd->pd_dealloc_len + add +
		    sizeof(PG_BEGIN));
		if (p != NULL) {
			pd->pd_dealloc = p;
			pd->pd_dealloc_len += snprintf(p + pd->pd_dealloc_len,
			    add, "DEALLOCATE %s;", ps->ps_name);
		}
	}
	pg_reset(st);
	free(ps->ps_cols);
	free(ps->ps_params);
	free(ps->ps_types);
	free(ps->ps_values);
	free(ps->ps_lengths);
	free(ps->ps_formats);
	free(ps->ps_sql);
	free(ps);
}

static struct pg_param *
pg_param(struct pg_st *ps, int i)
{
	if (i < 1 || i > ps->ps_nparams)
		return NULL;
	pg_unbind(&ps->ps_params[i - 1]);
	return &ps->ps_params[i - 1];
}

static void
pg_bind_int64(struct dbst *st, int i, int64_t v)
{
	struct pg_param	*pp;

	if ((pp = pg_param((struct pg_st *)st, i)) == NULL)
		return;
	pp->pp_len = snprintf(pp->pp_num, sizeof(pp->pp_num), "%" PRId64, v);
	pp->pp_val = pp->pp_num;
	pp->pp_type = PG_INT8OID;
}

/*
 * Whether s is UTF-8 as PostgreSQL takes it: shortest forms only, no
 * surrogates, nothing past U+10FFFF.
 */
static int
pg_utf8(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned int		 c;
	int			 n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			c = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			c = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			c = *p & 0x07;
		} else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

static void
pg_bind_text(struct dbst *st, int i, const char *v)
{
	struct pg_param	*pp;

	if ((pp = pg_param((struct pg_st *)st, i)) == NULL || v == NULL)
		return;
	pp->pp_type = PG_TEXTOID;
	/* A failed copy binds NULL, which a NOT NULL column refuses. */
	if ((pp->pp_heap = strdup(v)) == NULL)
		return;
	pp->pp_val = pp->pp_heap;
	pp->pp_len = strlen(v);
	pp->pp_bad = !pg_utf8(v);
}

static void
pg_bind_blob(struct dbst *st, int i, const void *v, size_t len)
{
	struct pg_param	*pp;

	if ((pp = pg_param((struct pg_st *)st, i)) == NULL || v == NULL ||
	    len > INT32_MAX)
		return;
	pp->pp_type = PG_BYTEAOID;
	if ((pp->pp_heap = malloc(len > 0 ? len : 1)) == NULL)
		return;
	memcpy(pp->pp_heap, v, len);
	pp->pp_val = pp->pp_heap;
	pp->pp_len = len;
	pp->pp_fmt = 1;
}

static int
pg_binary_type(Oid t)
{
	switch (t) {
	case PG_BOOLOID:
	case PG_BYTEAOID:
	case PG_NAMEOID:
	case PG_INT8OID:
	case PG_INT2OID:
	case PG_INT4OID:
	case PG_TEXTOID:
	case PG_OIDOID:
	case PG_BPCHAROID:
	case PG_VARCHAROID:
		return 1;
	default:
		return 0;
	}
}

/* Prepare on the server, with the types of the current bindings. */
static enum ecs_err
pg_server_prepare(struct pg_db *pd, struct pg_st *ps)
{
	PGresult	*res;
	struct pg_col	*cols;
	int		 i, n;

	for (i = 0; i < ps->ps_nparams; i++)
		if (ps->ps_params[i].pp_type != 0)
			ps->ps_types[i] = ps->ps_params[i].pp_type;
	snprintf(ps->ps_name, sizeof(ps->ps_name), "ecs%u", ++pd->pd_nstmt);
	res = pg_wait_result(pd, PQsendPrepare(pd->pd_conn, ps->ps_name,
	    ps->ps_sql, ps->ps_nparams, ps->ps_types));
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(pd, res);
		PQclear(res);
		ps->ps_name[0] = '\0';
		return pd->pd_err;
	}
	PQclear(res);
	res = pg_wait_result(pd, PQsendDescribePrepared(pd->pd_conn,
	    ps->ps_name));
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_fail(pd, res);
		PQclear(res);
		return pd->pd_err;
	}
	n = PQnfields(res);
	if (n != ps->ps_ncols) {
		free(ps->ps_cols);
		ps->ps_ncols = 0;
		if ((cols = calloc(n > 0 ? n : 1, sizeof(*cols))) == NULL) {
			PQclear(res);
			ps->ps_cols = NULL;
			return pg_fail_msg(pd, ECS_ENOMEM, "out of memory");
		}
		ps->ps_cols = cols;
		ps->ps_ncols = n;
	}
	ps->ps_binary = 1;
	for (i = 0; i < n; i++) {
		ps->ps_cols[i].pc_type = PQftype(res, i);
		ps->ps_cols[i].pc_row = -1;
		if (!pg_binary_type(ps->ps_cols[i].pc_type))
			ps->ps_binary = 0;
	}
	PQclear(res);
	ps->ps_epoch = pd->pd_epoch;
	return ECS_OK;
}

static int
pg_step(struct dbst *st)
{
	struct pg_st	*ps = (struct pg_st *)st;
	struct pg_db	*pd = (struct pg_db *)st->ds_db;
	PGconn		*c = pd->pd_conn;
	PGresult	*res = NULL;
	enum ecs_err	 e;
	int		 i;

	if (ps->ps_res != NULL) {
		pg_cols_clear(ps);
		if (ps->ps_row < PQntuples(ps->ps_res))
			ps->ps_row++;
		return ps->ps_row < PQntuples(ps->ps_res) ? DB_ROW : DB_DONE;
	}
	if (ps->ps_deferred)
		return DB_DONE;
	/*
	 * Text that is not UTF-8 is never stored (the server refuses it), so
	 * a query for it finds nothing, as on SQLite, and a change with it
	 * fails; neither goes to the server, where the error would abort the
	 * transaction of the whole batch.
	 */
	for (i = 0; i < ps->ps_nparams; i++) {
		if (!ps->ps_params[i].pp_bad)
			continue;
		if (ps->ps_kind == K_SELECT)
			return DB_DONE;
		pg_fail_msg(pd, ECS_EINVAL, "text is not valid UTF-8");
		return DB_ERROR;
	}
	if (pg_admit(pd, ps->ps_kind) != ECS_OK) {
		pg_refused(pd, ps->ps_kind);
		return DB_ERROR;
	}
	/* Preparing waits for its answer: the pipeline goes first. */
	if (ps->ps_epoch != pd->pd_epoch && ((e = pg_flush(pd)) != ECS_OK ||
	    (e = pg_server_prepare(pd, ps)) != ECS_OK)) {
		pg_done(pd, ps->ps_kind, e, NULL);
		return DB_ERROR;
	}
	for (i = 0; i < ps->ps_nparams; i++) {
		ps->ps_values[i] = ps->ps_params[i].pp_val;
		ps->ps_lengths[i] = ps->ps_params[i].pp_len;
		ps->ps_formats[i] = ps->ps_params[i].pp_fmt;
	}
	if (ps->ps_defer && ps->ps_ncols == 0 && pg_pipe_enter(pd)) {
		if (PQsendQueryPrepared(c, ps->ps_name, ps->ps_nparams,
		    ps->ps_values, ps->ps_lengths, ps->ps_formats, 0) != 1) {
			pg_fail(pd, NULL);
			return DB_ERROR;
		}
		ps->ps_deferred = 1;
		return pg_pend(pd, ps->ps_kind) == ECS_OK ? DB_DONE : DB_ERROR;
	}
	if (pd->pd_pipe) {
		if (PQsendQueryPrepared(c, ps->ps_name, ps->ps_nparams,
		    ps->ps_values, ps->ps_lengths, ps->ps_formats,
		    ps->ps_binary) != 1 || PQpipelineSync(c) != 1)
			e = pg_fail(pd, NULL);
		else
			e = pg_collect(pd, &res);
	} else if ((res = pg_wait_result(pd, PQsendQueryPrepared(c,
	    ps->ps_name, ps->ps_nparams, ps->ps_values, ps->ps_lengths,
	    ps->ps_formats, ps->ps_binary))) == NULL)
		e = pg_fail(pd, NULL);
	else if ((e = pg_check(pd, res)) != ECS_OK) {
		PQclear(res);
		res = NULL;
	}
	if ((e = pg_done(pd, ps->ps_kind, e, res)) != ECS_OK) {
		PQclear(res);
		return DB_ERROR;
	}
	ps->ps_res = res;
	ps->ps_row = 0;
	return PQntuples(res) > 0 ? DB_ROW : DB_DONE;
}

/* --- columns -------------------------------------------------------------- */

static int
pg_column_ok(struct pg_st *ps, int i)
{
	return ps->ps_res != NULL && i >= 0 && i < ps->ps_ncols &&
	    i < PQnfields(ps->ps_res) && ps->ps_row < PQntuples(ps->ps_res);
}

static int
pg_column_null(struct dbst *st, int i)
{
	struct pg_st	*ps = (struct pg_st *)st;

	if (!pg_column_ok(ps, i))
		return 1;
	return PQgetisnull(ps->ps_res, ps->ps_row, i);
}

static uint64_t
pg_be(const unsigned char *p, int len)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

/* An integer column decoded from binary; 0 when it is not one. */
static int
pg_binary_int(struct pg_st *ps, int i, int64_t *out)
{
	const unsigned char	*p;
	int			 len;

	if (!ps->ps_binary)
		return 0;
	p = (const unsigned char *)PQgetvalue(ps->ps_res, ps->ps_row, i);
	len = PQgetlength(ps->ps_res, ps->ps_row, i);
	switch (ps->ps_cols[i].pc_type) {
	case PG_INT2OID:
		if (len != 2)
			return 0;
		*out = (int16_t)pg_be(p, 2);
		return 1;
	case PG_INT4OID:
		if (len != 4)
			return 0;
		*out = (int32_t)pg_be(p, 4);
		return 1;
	case PG_INT8OID:
		if (len != 8)
			return 0;
		*out = (int64_t)pg_be(p, 8);
		return 1;
	case PG_OIDOID:
		if (len != 4)
			return 0;
		*out = (uint32_t)pg_be(p, 4);
		return 1;
	case PG_BOOLOID:
		if (len != 1)
			return 0;
		*out = p[0] != 0;
		return 1;
	default:
		return 0;
	}
}

static int64_t
pg_column_int64(struct dbst *st, int i)
{
	struct pg_st	*ps = (struct pg_st *)st;
	const char	*v;
	int64_t		 x;

	if (!pg_column_ok(ps, i) || PQgetisnull(ps->ps_res, ps->ps_row, i))
		return 0;
	if (pg_binary_int(ps, i, &x))
		return x;
	v = PQgetvalue(ps->ps_res, ps->ps_row, i);
	if (ps->ps_cols[i].pc_type == PG_BOOLOID)
		return *v == 't';
	if (strchr(v, '.') != NULL || strchr(v, 'e') != NULL)
		return (int64_t)strtod(v, NULL);
	return strtoll(v, NULL, 10);
}

/*
 * A bytea column of a text-format result, unescaped once per row and
 * NUL-terminated, so that it also reads as text.
 */
static struct pg_col *
pg_unescaped(struct pg_st *ps, int i)
{
	struct pg_col	*pc = &ps->ps_cols[i];
	unsigned char	*b, *c;
	size_t		 len;

	if (pc->pc_row == ps->ps_row)
		return pc->pc_bytes != NULL ? pc : NULL;
	b = PQunescapeBytea((const unsigned char *)PQgetvalue(ps->ps_res,
	    ps->ps_row, i), &len);
	if (b == NULL)
		return NULL;
	if ((c = malloc(len + 1)) == NULL) {
		PQfreemem(b);
		return NULL;
	}
	memcpy(c, b, len);
	c[len] = '\0';
	PQfreemem(b);
	free(pc->pc_bytes);
	pc->pc_bytes = c;
	pc->pc_len = len;
	pc->pc_row = ps->ps_row;
	return pc;
}

static const char *
pg_column_text(struct dbst *st, int i)
{
	struct pg_st	*ps = (struct pg_st *)st;
	struct pg_col	*pc;
	int64_t		 x;

	if (!pg_column_ok(ps, i) || PQgetisnull(ps->ps_res, ps->ps_row, i))
		return NULL;
	pc = &ps->ps_cols[i];
	if (pg_binary_int(ps, i, &x)) {
		snprintf(pc->pc_num, sizeof(pc->pc_num), "%" PRId64, x);
		return pc->pc_num;
	}
	if (!ps->ps_binary && pc->pc_type == PG_BYTEAOID) {
		if ((pc = pg_unescaped(ps, i)) == NULL)
			return NULL;
		return (const char *)pc->pc_bytes;
	}
	return PQgetvalue(ps->ps_res, ps->ps_row, i);
}

static const void *
pg_column_blob(struct dbst *st, int i)
{
	return pg_column_text(st, i);
}

static size_t
pg_column_bytes(struct dbst *st, int i)
{
	struct pg_st	*ps = (struct pg_st *)st;
	struct pg_col	*pc;
	const char	*v;

	if (!pg_column_ok(ps, i) || PQgetisnull(ps->ps_res, ps->ps_row, i))
		return 0;
	pc = &ps->ps_cols[i];
	if (ps->ps_binary && pg_binary_type(pc->pc_type) &&
	    pc->pc_type != PG_BYTEAOID && pc->pc_type != PG_TEXTOID &&
	    pc->pc_type != PG_VARCHAROID && pc->pc_type != PG_BPCHAROID &&
	    pc->pc_type != PG_NAMEOID) {
		v = pg_column_text(st, i);
		return v != NULL ? strlen(v) : 0;
	}
	if (!ps->ps_binary && pc->pc_type == PG_BYTEAOID) {
		if ((pc = pg_unescaped(ps, i)) == NULL)
			return 0;
		return pc->pc_len;
	}
	return PQgetlength(ps->ps_res, ps->ps_row, i);
}

const struct db_driver db_postgresql = {
	.d_name = "postgresql",
	.d_blind_writes = 1,
	.d_share_refs = PG_SHARE_REFS,
	.d_lock_refs = PG_LOCK_REFS,
	.d_open = pg_open,
	.d_close = pg_close,
	.d_prepare = pg_prepare,
	.d_finalize = pg_finalize,
	.d_reset = pg_reset,
	.d_bind_int64 = pg_bind_int64,
	.d_bind_text = pg_bind_text,
	.d_bind_blob = pg_bind_blob,
	.d_step = pg_step,
	.d_column_null = pg_column_null,
	.d_column_int64 = pg_column_int64,
	.d_column_text = pg_column_text,
	.d_column_blob = pg_column_blob,
	.d_column_bytes = pg_column_bytes,
	.d_changes = pg_changes,
	.d_exec = pg_exec,
	.d_begin = pg_begin,
	.d_error = pg_error,
	.d_errmsg = pg_errmsg,
	.d_in_tx = pg_in_tx,
	.d_integrity_check = pg_integrity_check,
	.d_background = pg_background,
	.d_notify = pg_notify,
	.d_notify_fd = pg_notify_fd,
	.d_notify_read = pg_notify_read,
	.d_sync_ids = pg_sync_ids,
	.d_timeout = pg_timeout,
};
