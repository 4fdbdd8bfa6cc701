/*
 * test_store_pg.c: the PostgreSQL driver (store_pg.c) and the store on it,
 * with several connections to one database standing for several nodes.
 *
 * ECSD_TEST_PG_DSN is a libpq connection string to a server on which the
 * test may create databases (tests/unit/store_pg.sh starts a private one);
 * without it the test is skipped (exit 77). Every test gets a new database.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_db.h"

static const struct db_driver	*D = &db_postgresql;
static const char		*base_dsn;
static int			 ndb;

struct fx {
	char		 f_name[64];
	char		 f_dsn[1024];	/* for the driver */
	char		 f_target[1100];	/* for store_open */
};

/* Run sql on the server (the base DSN's database, or f's). */
/* The id of the message store_queue_peek finds, 0 for none. */
static int64_t
peek(struct store *s, int64_t pid, int64_t res, int lifo)
{
	struct ecs_msg	 m;
	struct ecs_linkv lv;
	int64_t		 id;

	assert_int_equal(store_queue_peek(s, pid, res, lifo, &m, &lv), ECS_OK);
	id = m.m_id;
	store_msg_clear(&m);
	linkv_free(&lv);
	return id;
}

/*
 * Run sql as the superuser in f's database (the server's own when f is
 * NULL). With out, the last result must have rows: their first columns,
 * one per line, go into out.
 */
static void
admin_text(const struct fx *f, const char *sql, char *out, size_t len)
{
	char		 dsn[1200];
	PGconn		*c;
	PGresult	*r;
	size_t		 n = 0;
	int		 i;

	snprintf(dsn, sizeof(dsn), "%s%s%s", base_dsn, f ? " dbname=" : "",
	    f ? f->f_name : "");
	c = PQconnectdb(dsn);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && (out != NULL ||
	    PQresultStatus(r) != PGRES_COMMAND_OK))
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	if (out != NULL)
		out[0] = '\0';
	for (i = 0; out != NULL && i < PQntuples(r) && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s\n",
		    PQgetvalue(r, i, 0));
	PQclear(r);
	PQfinish(c);
}

static void
admin_sql(const struct fx *f, const char *sql)
{
	admin_text(f, sql, NULL, 0);
}

static int
setup(void **state)
{
	struct fx	*f;
	char		 sql[128];

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->f_name, sizeof(f->f_name), "ecsd_unit_%ld_%d",
	    (long)getpid(), ++ndb);
	snprintf(f->f_dsn, sizeof(f->f_dsn), "%s dbname=%s", base_dsn,
	    f->f_name);
	snprintf(f->f_target, sizeof(f->f_target), "postgresql:%s",
	    f->f_dsn);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->f_name);
	admin_sql(NULL, sql);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*f = *state;
	char		 sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)",
	    f->f_name);
	admin_sql(NULL, sql);
	free(f);
	return 0;
}

static struct store *
open_store(const struct fx *f)
{
	struct ecs_error	 err;
	struct store		*s = NULL;

	memset(&err, 0, sizeof(err));
	if (store_open(f->f_target, 1, &s, &err) != ECS_OK)
		fail_msg("store_open: %s", err.e_msg);
	return s;
}

static struct db *
open_db(const struct fx *f)
{
	struct ecs_error	 err;
	struct db		*db = NULL;

	memset(&err, 0, sizeof(err));
	if (D->d_open(f->f_dsn, 1, &db, &err) != ECS_OK)
		fail_msg("d_open: %s", err.e_msg);
	return db;
}

/* A participant with a membership in the public community (cid 1). */
static int64_t
participant(struct store *s, const char *name, int64_t *mid)
{
	struct ecs_newpart	 np;
	int64_t			 pid;

	memset(&np, 0, sizeof(np));
	np.np_name = name;
	np.np_desc = np.np_dns = np.np_email = "";
	np.np_org = 1;
	np.np_events = 1;
	np.np_ptype = "main";
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_participant_add(s, &np, &pid), ECS_OK);
	assert_int_equal(store_membership_add(s, pid, 1, mid), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	return pid;
}

/* n messages from sender, linked to mid in resource 1 (sys/auths). */
static void
messages(struct store *s, int64_t sender, int64_t mid, int n, int64_t *ids)
{
	int	 i;

	assert_int_equal(store_begin(s), ECS_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(store_msg_insert(s, 1, sender, "text/plain",
		    "x", 1, 1000, &ids[i]), ECS_OK);
		assert_int_equal(store_link_add(s, mid, ids[i], 1), ECS_OK);
	}
	assert_int_equal(store_commit(s), ECS_OK);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Nodes that start together on an empty database create the schema once. */
static void
schema_created_once_by_nodes_starting_together(void **state)
{
	struct fx	*f = *state;
	struct store	*s;
	pid_t		 kids[8];
	int		 i, status;

	for (i = 0; i < 8; i++) {
		if ((kids[i] = fork()) == 0) {
			struct ecs_error	 err;

			memset(&err, 0, sizeof(err));
			if (store_open(f->f_target, 1, &s, &err) != ECS_OK) {
				fprintf(stderr, "node %d: %s\n", i, err.e_msg);
				_exit(1);
			}
			store_close(s);
			_exit(0);
		}
		assert_true(kids[i] > 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	s = open_store(f);
	assert_string_equal(store_backend(s), "postgresql");
	assert_int_equal(store_integrity_check(s), ECS_OK);
	store_close(s);
}

static void
schema_newer_version_refused(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct store		*s;

	store_close(open_store(f));
	admin_sql(f, "UPDATE schema_version SET version = 99");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open(f->f_target, 1, &s, &err), ECS_ESTORE);
	assert_non_null(strstr(err.e_msg, "newer"));
	assert_null(strchr(err.e_msg, '\n'));
}

static void
connection_failure_is_one_line(void **state)
{
	struct ecs_error	 err;
	struct store		*s;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open("postgresql:host=/nonexistent "
	    "dbname=x", 1, &s, &err), ECS_ESTORE);
	assert_non_null(strstr(err.e_msg, "postgresql: "));
	assert_null(strchr(err.e_msg, '\n'));
}

/* '?' in strings and comments stays; the lock markers become clauses. */
static void
sql_translation(void **state)
{
	struct fx	*f = *state;
	struct db	*db = open_db(f);
	struct dbst	*q;

	q = D->d_prepare(db, "SELECT '?', 'it''s ?', \"name\" "
	    "FROM participants -- a ? here\n WHERE id = ? /* ? */" DB_LOCK);
	assert_non_null(q);
	D->d_bind_int64(q, 1, 1);
	assert_int_equal(D->d_step(q), DB_ROW);
	assert_string_equal(D->d_column_text(q, 0), "?");
	assert_string_equal(D->d_column_text(q, 1), "it's ?");
	assert_string_equal(D->d_column_text(q, 2), "ecs");
	assert_int_equal(D->d_step(q), DB_DONE);
	D->d_finalize(q);

	q = D->d_prepare(db, "SELECT e.id FROM events e JOIN messages m "
	    "ON m.id = e.message_id WHERE e.participant_id = ? "
	    "ORDER BY e.id LIMIT ?" DB_SKIP_LOCKED_OF("e"));
	D->d_bind_int64(q, 1, 1);
	D->d_bind_int64(q, 2, INT64_MAX);
	assert_int_equal(D->d_step(q), DB_DONE);
	D->d_finalize(q);

	/* A NULL takes the type of its context; without one, of a CAST. */
	q = D->d_prepare(db, "SELECT count(*) FROM participants "
	    "WHERE CAST(? AS TEXT) IS NULL OR name = ?");
	D->d_bind_text(q, 1, NULL);
	D->d_bind_text(q, 2, "nobody");
	assert_int_equal(D->d_step(q), DB_ROW);
	assert_int_equal(D->d_column_int64(q, 0), 1);
	D->d_finalize(q);
	q = D->d_prepare(db, "UPDATE participants SET ttl = ?, "
	    "ptype = coalesce(?, ptype) WHERE id = 1");
	D->d_bind_text(q, 1, NULL);
	D->d_bind_text(q, 2, NULL);
	assert_int_equal(D->d_step(q), DB_DONE);
	assert_int_equal(D->d_changes(db), 1);
	D->d_reset(q);
	D->d_bind_int64(q, 1, 60);
	D->d_bind_text(q, 2, "main");
	assert_int_equal(D->d_step(q), DB_DONE);
	D->d_finalize(q);
	D->d_close(db);
}

/* Binary and text results: integers, NULL, bytea with NULs, numeric. */
static void
column_types(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	struct db	*db = open_db(f);
	struct dbst	*q;
	struct ecs_msg	 m;
	char		*big;
	int64_t		 id, id2;
	size_t		 n = 1 << 20, i;

	assert_non_null(big = malloc(n));
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_msg_insert(s, 1, 1, "application/octet-stream",
	    big, n, 1000, &id), ECS_OK);
	assert_int_equal(store_msg_insert(s, 1, 1, "text/plain; charset=utf-8",
	    "a\0b\xff", 4, 1000, &id2), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	memset(&m, 0, sizeof(m));
	assert_int_equal(store_msg_get(s, id, &m), ECS_OK);
	assert_int_equal(m.m_len, n);
	assert_memory_equal(m.m_body, big, n);
	assert_int_equal(m.m_created, 1000);
	store_msg_clear(&m);
	assert_int_equal(store_msg_get(s, id2, &m), ECS_OK);
	assert_int_equal(m.m_len, 4);
	assert_memory_equal(m.m_body, "a\0b\xff", 4);
	assert_string_equal(m.m_ctype, "text/plain; charset=utf-8");
	store_msg_clear(&m);

	/* A numeric column makes the whole result text; bytea unescaped. */
	q = D->d_prepare(db, "SELECT sum(messages.id), body, ptype, true, "
	    "length(body) FROM messages, participants WHERE messages.id = ? "
	    "AND participants.id = 1 GROUP BY body, ptype");
	D->d_bind_int64(q, 1, id2);
	assert_int_equal(D->d_step(q), DB_ROW);
	assert_int_equal(D->d_column_int64(q, 0), id2);
	assert_int_equal(D->d_column_bytes(q, 1), 4);
	assert_memory_equal(D->d_column_blob(q, 1), "a\0b\xff", 4);
	assert_true(D->d_column_null(q, 2));
	assert_null(D->d_column_text(q, 2));
	assert_int_equal(D->d_column_int64(q, 3), 1);
	assert_string_equal(D->d_column_text(q, 4), "4");
	assert_int_equal(D->d_column_bytes(q, 4), 1);
	D->d_finalize(q);
	free(big);
	D->d_close(db);
	store_close(s);
}

static void
errors_map_to_ecs_errors(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	int64_t		 x;

	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "dup", "", 1), ECS_OK);
	assert_int_equal(store_identity_add(s, "dup", "", 1), ECS_EEXIST);
	assert_non_null(strstr(store_errmsg(s), "duplicate key"));
	store_rollback_savepoint(s);
	/* The batch goes on after a request failed. */
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "dup", "", 1), ECS_OK);
	store_release(s);
	assert_int_equal(store_commit(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "dup", &x), ECS_OK);
	assert_int_equal(x, 1);

	/* Text that is not UTF-8: nothing found, nothing stored. */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "bad\xff", &x), ECS_ENOTFOUND);
	assert_int_equal(store_identity_add(s, "bad\xc0\xaf", "", 1),
	    ECS_EINVAL);
	assert_int_equal(store_identity_add(s, "gr\xc3\xbc\xc3\x9f", "", 1),
	    ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	store_close(s);
}

/*
 * Statements whose results nobody reads wait in the pipeline; a failure
 * among them is reported by the next statement that is read, within the
 * request, and no request that failed is committed as if it had not.
 */
static void
pipeline_failures(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	int64_t		 mid, pid, ids[2], n, x;
	enum ecs_err	 e;

	pid = participant(s, "rcv", &mid);
	messages(s, 1, mid, 2, ids);

	/* Found by the next query; the request rolls back, the batch goes on. */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "kept", "", 1), ECS_OK);
	store_release(s);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_link_delete(s, mid, ids[0]), ECS_OK);
	assert_int_equal(store_link_add(s, mid, 999999, 1), ECS_OK);
	assert_int_not_equal(store_msg_link_count(s, ids[1], &n), ECS_OK);
	assert_non_null(strstr(store_errmsg(s), "\"message_id\""));
	store_rollback_savepoint(s);
	assert_int_equal(store_commit(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "kept", &x), ECS_OK);
	assert_int_equal(store_msg_link_count(s, ids[0], &n), ECS_OK);
	assert_int_equal(n, 1);

	/*
	 * Found only after the request's RELEASE went into the pipeline too:
	 * the server skipped that RELEASE, so the whole batch fails, the
	 * next request's query and the COMMIT alike.
	 */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "lost", "", 1), ECS_OK);
	store_release(s);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_link_add(s, mid, 999999, 1), ECS_OK);
	store_release(s);
	assert_int_equal(store_savepoint(s), ECS_OK);
	e = store_identity_pid(s, "lost", &x);
	assert_true(e != ECS_OK && e != ECS_ENOTFOUND);
	store_rollback_savepoint(s);
	assert_true(store_in_tx(s));
	assert_int_not_equal(store_commit(s), ECS_OK);
	assert_false(store_in_tx(s));
	assert_int_equal(store_identity_pid(s, "lost", &x), ECS_ENOTFOUND);

	/* A failure outside a savepoint: COMMIT does not roll back silently. */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "lost", "", 1), ECS_OK);
	assert_int_equal(store_identity_add(s, "lost", "", 1), ECS_EEXIST);
	assert_int_not_equal(store_commit(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "lost", &x), ECS_ENOTFOUND);

	/* d_changes reads the pipeline: a repeated event type merges. */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_event_add(s, pid, ids[0], EV_CREATED), ECS_OK);
	assert_int_equal(store_event_add(s, pid, ids[0], EV_CREATED), ECS_OK);
	assert_int_equal(store_event_add(s, pid, ids[0], EV_UPDATED), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	{
		struct ecs_event	*ev;
		size_t			 nev;

		assert_int_equal(store_events(s, pid, -1, &ev, &nev), ECS_OK);
		assert_int_equal(nev, 2);
		free(ev);
	}
	store_close(s);
}

/* Two nodes popping one queue at once get different messages. */
static void
queue_pop_hands_each_message_to_one_node(void **state)
{
	struct fx	*f = *state;
	struct store	*a = open_store(f), *b = open_store(f);
	int64_t		 mid, pid, ids[3], x, y;

	pid = participant(a, "rcv", &mid);
	messages(a, 1, mid, 3, ids);

	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_begin(b), ECS_OK);
	x = peek(a, pid, 1, 0);
	y = peek(b, pid, 1, 0);
	assert_int_equal(x, ids[0]);
	assert_int_equal(y, ids[1]);
	assert_int_equal(store_link_delete(a, mid, x), ECS_OK);
	assert_int_equal(store_link_delete(b, mid, y), ECS_OK);
	assert_int_equal(store_commit(b), ECS_OK);
	/* lifo on a: the newest is free. */
	assert_int_equal(peek(a, pid, 1, 1), ids[2]);
	store_rollback(a);
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(peek(a, pid, 1, 0), ids[0]);
	store_rollback(a);
	store_close(a);
	store_close(b);
}

static void
event_pop_hands_each_event_to_one_node(void **state)
{
	struct fx		*f = *state;
	struct store		*a = open_store(f), *b = open_store(f);
	struct ecs_event	*ea, *eb;
	size_t			 na, nb;
	int64_t			 mid, pid, ids[4];
	char			 path[64];
	int			 i;

	pid = participant(a, "rcv", &mid);
	messages(a, 1, mid, 4, ids);
	assert_int_equal(store_begin(a), ECS_OK);
	for (i = 0; i < 4; i++)
		assert_int_equal(store_event_add(a, pid, ids[i], EV_CREATED),
		    ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);

	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_begin(b), ECS_OK);
	assert_int_equal(store_events(a, pid, 2, &ea, &na), ECS_OK);
	assert_int_equal(store_events(b, pid, -1, &eb, &nb), ECS_OK);
	assert_int_equal(na, 2);
	assert_int_equal(nb, 2);
	assert_int_equal(ea[0].e_msg, ids[0]);
	assert_int_equal(ea[1].e_msg, ids[1]);
	assert_int_equal(eb[0].e_msg, ids[2]);
	assert_int_equal(eb[1].e_msg, ids[3]);
	snprintf(path, sizeof(path), "sys/auths/%" PRId64, ids[3]);
	assert_string_equal(eb[1].e_path, path);
	free(ea);
	free(eb);
	store_rollback(a);
	store_rollback(b);
	store_close(a);
	store_close(b);
}

/* The second node of token_consumed_once, on a thread of its own. */
struct consumer {
	const struct fx	*c_fx;
	int		 c_pipe;
	enum ecs_err	 c_err;
	double		 c_waited;
};

static void *
consume(void *arg)
{
	struct consumer	*c = arg;
	struct store	*b = open_store(c->c_fx);
	int64_t		 x;
	double		 t0;

	c->c_err = store_begin(b);
	if (write(c->c_pipe, "x", 1) != 1)
		c->c_err = ECS_ESTORE;
	if (c->c_err == ECS_OK) {
		t0 = now();
		c->c_err = store_auth_by_hash(b, "cafe01", &x);
		c->c_waited = now() - t0;
		store_rollback(b);
	}
	store_close(b);
	return NULL;
}

/*
 * A token consumed on one node: a second node asking for it waits for the
 * first one's commit, then finds it gone.
 */
static void
token_consumed_once(void **state)
{
	struct fx	*f = *state;
	struct store	*a = open_store(f);
	struct consumer	 c;
	pthread_t	 t;
	int64_t		 msg, x;
	int		 p[2];
	char		 ch;

	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_msg_insert(a, 1, 1, "text/plain", "t", 1, 1000,
	    &msg), ECS_OK);
	assert_int_equal(store_auth_put(a, msg, "cafe01", 2000), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);

	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_auth_by_hash(a, "cafe01", &x), ECS_OK);
	assert_int_equal(x, msg);
	assert_int_equal(pipe(p), 0);
	memset(&c, 0, sizeof(c));
	c.c_fx = f;
	c.c_pipe = p[1];
	assert_int_equal(pthread_create(&t, NULL, consume, &c), 0);
	assert_int_equal(read(p[0], &ch, 1), 1);
	usleep(400 * 1000);
	assert_int_equal(store_msg_dispose(a, msg, 1), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(c.c_err, ECS_ENOTFOUND);
	assert_true(c.c_waited >= 0.2);
	store_close(a);
}

/* What one node commits wakes the other; its own commits do not. */
static void
notifications_between_nodes(void **state)
{
	struct fx	*f = *state;
	struct store	*a = open_store(f), *b = open_store(f);
	struct ivec	 pids;
	struct pollfd	 pfd;
	uint64_t	 gen;
	int64_t		 mid, pid, ids[1];

	pid = participant(a, "rcv", &mid);
	messages(a, 1, mid, 1, ids);
	memset(&pids, 0, sizeof(pids));
	/* What participant() and messages() sent. */
	usleep(100 * 1000);
	assert_int_equal(store_notify_read(b, &pids), ECS_OK);
	pids.iv_n = 0;

	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_event_add(a, pid, ids[0], EV_CREATED), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);
	pfd.fd = store_notify_fd(b);
	pfd.events = POLLIN;
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(store_notify_read(b, &pids), ECS_OK);
	assert_int_equal(pids.iv_n, 1);
	assert_int_equal(pids.iv_v[0], pid);
	pids.iv_n = 0;
	assert_int_equal(store_notify_read(a, &pids), ECS_OK);
	assert_int_equal(pids.iv_n, 0);

	/* A changed participant makes what the other node cached stale. */
	gen = store_generation(b);
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_participant_flags(a, pid, 0, 0), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);
	pfd.fd = store_notify_fd(b);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(store_notify_read(b, &pids), ECS_OK);
	assert_true(store_generation(b) != gen);

	/* Nothing arrives for a rolled back batch. */
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_participant_flags(a, pid, 1, 0), ECS_OK);
	store_rollback(a);
	pfd.fd = store_notify_fd(b);
	assert_int_equal(poll(&pfd, 1, 300), 0);
	ivec_free(&pids);
	store_close(a);
	store_close(b);
}

/* Kill the backends of f's database (other than the caller's). */
static void
kill_backends(const struct fx *f)
{
	char	 sql[256];

	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM "
	    "pg_stat_activity WHERE datname = '%s' AND "
	    "pid <> pg_backend_pid()", f->f_name);
	admin_sql(NULL, sql);
	usleep(100 * 1000);
}

/*
 * A connection lost between batches comes back by itself; one lost in a
 * batch fails the batch (ECS_EBUSY, 503: try again), and the next one runs
 * on a new connection.
 */
static void
connection_loss(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	struct ivec	 pids;
	int64_t		 x, mid, pid, ids[1], n;

	memset(&pids, 0, sizeof(pids));
	assert_int_equal(store_identity_pid(s, "ecs", &x), ECS_ENOTFOUND);
	kill_backends(f);
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "one", "", 1), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);

	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "two", "", 1), ECS_OK);
	kill_backends(f);
	assert_int_equal(store_identity_add(s, "three", "", 1), ECS_EBUSY);
	assert_non_null(strstr(store_errmsg(s), "lost"));
	/* The rest of the batch must not run outside a transaction. */
	assert_int_equal(store_identity_add(s, "four", "", 1), ECS_EBUSY);
	assert_int_equal(store_commit(s), ECS_EBUSY);
	assert_false(store_in_tx(s));

	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "one", &x), ECS_OK);
	assert_int_equal(store_identity_pid(s, "two", &x), ECS_ENOTFOUND);
	assert_int_equal(store_identity_pid(s, "four", &x), ECS_ENOTFOUND);
	assert_int_equal(store_commit(s), ECS_OK);
	/* Reads between batches come back too. */
	kill_backends(f);
	assert_int_equal(store_identity_pid(s, "one", &x), ECS_EBUSY);
	assert_int_equal(store_identity_pid(s, "one", &x), ECS_OK);
	/* Notifications may have been lost meanwhile: all is stale. */
	x = (int64_t)store_generation(s);
	assert_int_equal(store_notify_read(s, &pids), ECS_OK);
	assert_true((int64_t)store_generation(s) != x);

	/* Lost with statements waiting in the pipeline. */
	pid = participant(s, "rcv", &mid);
	messages(s, 1, mid, 1, ids);
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_savepoint(s), ECS_OK);
	assert_int_equal(store_link_add(s, mid, ids[0], 1), ECS_OK);
	kill_backends(f);
	/* Prepared before: it waits in the pipeline; the count finds out. */
	assert_int_equal(store_link_add(s, mid, ids[0], 1), ECS_OK);
	assert_int_equal(store_msg_link_count(s, ids[0], &n), ECS_EBUSY);
	assert_non_null(strstr(store_errmsg(s), "lost"));
	store_rollback_savepoint(s);
	assert_int_not_equal(store_commit(s), ECS_OK);
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_msg_link_count(s, ids[0], &n), ECS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_commit(s), ECS_OK);
	(void)pid;
	store_close(s);
}

/* After rows copied with their ids, the sequences go on past them. */
static void
sync_ids_and_integrity(void **state)
{
	struct fx	*f = *state;
	struct db	*db = open_db(f);
	struct dbst	*q;

	assert_int_equal(D->d_integrity_check(db), ECS_OK);
	assert_int_equal(D->d_exec(db, "INSERT INTO communities (id, name) "
	    "VALUES (100, 'copied')"), ECS_OK);
	assert_int_equal(D->d_changes(db), 1);
	assert_int_equal(D->d_integrity_check(db), ECS_ESTORE);
	assert_non_null(strstr(D->d_errmsg(db), "communities"));
	assert_int_equal(D->d_sync_ids(db), ECS_OK);
	assert_int_equal(D->d_integrity_check(db), ECS_OK);
	q = D->d_prepare(db, "INSERT INTO communities (name) VALUES (?) "
	    "RETURNING id");
	D->d_bind_text(q, 1, "next");
	assert_int_equal(D->d_step(q), DB_ROW);
	assert_int_equal(D->d_column_int64(q, 0), 101);
	D->d_finalize(q);
	/* Never back: a deleted row's id is not handed out again. */
	assert_int_equal(D->d_exec(db, "DELETE FROM communities "
	    "WHERE id >= 100"), ECS_OK);
	assert_int_equal(D->d_changes(db), 2);
	assert_int_equal(D->d_sync_ids(db), ECS_OK);
	q = D->d_prepare(db, "INSERT INTO communities (name) VALUES (?) "
	    "RETURNING id");
	D->d_bind_text(q, 1, "later");
	assert_int_equal(D->d_step(q), DB_ROW);
	assert_int_equal(D->d_column_int64(q, 0), 102);
	D->d_finalize(q);
	D->d_close(db);
}

/*
 * The generic plan of query (two bigint parameters, given p1 and p2) has
 * want in it: the index condition that a query of one queue must use.
 */
static void
generic_plan(const struct fx *f, const char *query, int64_t p1, int64_t p2,
    const char *want)
{
	char	 sql[2048], plan[8192];

	snprintf(sql, sizeof(sql), "SET plan_cache_mode = force_generic_plan;"
	    "PREPARE g(bigint, bigint) AS %s;"
	    "EXPLAIN EXECUTE g(%lld, %lld)", query, (long long)p1,
	    (long long)p2);
	admin_text(f, sql, plan, sizeof(plan));
	if (strstr(plan, want) == NULL)
		fail_msg("%s:\n%s", query, plan);
}

/*
 * A pop reads the head of its own queue by the queue's index, however
 * long the other queues are, and a message's event is found by the
 * message, however many events its participant has (schema version 4). The generic plans the
 * driver asks for once walked the message ids in order and filtered when
 * there were few memberships: a short queue's pop then read all of a long
 * one first. The statements are the pops' own (store.c), without the
 * columns that do not change the plan.
 */
static void
pops_read_the_queue_indexes(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	char		 sql[2048];
	int64_t		 a, b, ma, mb;

	a = participant(s, "long", &ma);
	b = participant(s, "short", &mb);
	store_close(s);
	/* 3000 messages queued for a, then 3 for b: b's are the newest. */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO messages (resource_id, sender_id, content_type, "
	    "body, created_at, updated_at) SELECT 1, %lld, 'text/plain', 'x', "
	    "0, 0 FROM generate_series(1, 3003);"
	    "INSERT INTO links (membership_id, message_id, resource_id) "
	    "SELECT CASE WHEN id > (SELECT max(id) - 3 FROM messages) "
	    "THEN %lld ELSE %lld END, id, 1 FROM messages;"
	    "INSERT INTO events (participant_id, message_id, type) "
	    "SELECT CASE WHEN id > (SELECT max(id) - 3 FROM messages) "
	    "THEN %lld ELSE %lld END, id, 0 FROM messages;"
	    "ANALYZE", (long long)a, (long long)mb, (long long)ma,
	    (long long)b, (long long)a);
	admin_sql(f, sql);
	/* The queue's two columns looked up in the index. */
	generic_plan(f, "SELECT message_id FROM links "
	    "WHERE membership_id = $1 AND resource_id = $2 "
	    "ORDER BY message_id LIMIT 1 FOR UPDATE SKIP LOCKED", mb, 1,
	    "Index Cond: ((membership_id = $1) AND (resource_id = $2))");
	generic_plan(f, "SELECT e.id, r.name FROM events e "
	    "JOIN messages m ON m.id = e.message_id "
	    "JOIN resources r ON r.id = m.resource_id "
	    "WHERE e.participant_id = $1 ORDER BY e.id LIMIT $2 "
	    "FOR UPDATE OF e SKIP LOCKED", b, 10,
	    "Index Cond: (participant_id = $1)");
	/* And the other way: an event of a message goes by the message. */
	generic_plan(f, "SELECT type FROM events "
	    "WHERE message_id = $1 AND participant_id = $2 "
	    "ORDER BY id DESC LIMIT 1", 1, a,
	    "Index Cond: (message_id = $1)");
}

/*
 * On a new database the first plans are made while the tables are empty;
 * they live as long as the connection. The foreign key checks of the
 * links of new messages must still read the messages by their index, not
 * scan the table, which then grows by each message: 300 messages read
 * 45,000 rows that way.
 */
static void
fresh_database_reads_by_index(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	char		 out[256];
	int64_t		 a, ma, ids[50];
	long long	 rows = -1, scans = -1;
	int		 i;

	a = participant(s, "fresh", &ma);
	for (i = 0; i < 6; i++)
		messages(s, a, ma, 50, ids);
	store_close(s);
	/* the backend's counters reach the statistics when it has exited */
	for (i = 0; i < 100 && scans < 300; i++) {
		admin_text(f, "SELECT seq_tup_read || ' ' || "
		    "(seq_scan + idx_scan) FROM pg_stat_user_tables "
		    "WHERE relname = 'messages'", out, sizeof(out));
		if (sscanf(out, "%lld %lld", &rows, &scans) != 2)
			fail_msg("pg_stat_user_tables: %s", out);
		if (scans < 300)
			usleep(100 * 1000);
	}
	if (scans < 300)
		fail_msg("the 300 links' checks never reached the statistics "
		    "(%lld scans of messages)", scans);
	if (rows >= 300)
		fail_msg("300 new messages read %lld rows of messages by "
		    "sequential scans", rows);
}

/*
 * The one backend of f's database other than the admin's (the store's);
 * one that was let go may take a moment to exit.
 */
static pid_t
backend_pid_of(const struct fx *f)
{
	char	 sql[256], out[256];
	long	 pid = 0;
	int	 i;

	snprintf(sql, sizeof(sql), "SELECT pid FROM pg_stat_activity WHERE "
	    "datname = '%s' AND pid <> pg_backend_pid()", f->f_name);
	for (i = 0; i < 50; i++) {
		admin_text(f, sql, out, sizeof(out));
		pid = strtol(out, NULL, 10);
		if (pid > 0 && strchr(out, '\n') == strrchr(out, '\n'))
			return (pid_t)pid;
		usleep(100 * 1000);
	}
	fail_msg("not one backend: \"%s\"", out);
	return -1;
}

/*
 * Stop backend be (SIGSTOP), with a watchdog that continues it after 10 s:
 * a driver that waits for ever then sees its answer late and fails the
 * test's checks instead of hanging it. resume() continues be at once.
 * Only the waits on the stopped server have s's timeout cut to 1 s (when
 * s is given): the others have 30, room for a busy machine.
 */
static pid_t
stop_backend(struct store *s, pid_t be)
{
	pid_t	 dog;

	if (s != NULL)
		store_set_timeout(s, 1);
	assert_int_equal(kill(be, SIGSTOP), 0);
	if ((dog = fork()) == 0) {
		sleep(10);
		kill(be, SIGCONT);
		_exit(0);
	}
	assert_true(dog > 0);
	return dog;
}

static void
resume(struct store *s, pid_t be, pid_t dog)
{
	kill(be, SIGCONT);
	kill(dog, SIGKILL);
	waitpid(dog, NULL, 0);
	if (s != NULL)
		store_set_timeout(s, 30);
}

/*
 * A server that stops answering (the store's backend stopped, as a hung
 * server or a host gone in a failover that left the connection open) fails
 * the command with ECS_EBUSY once the timeout has run out, instead of
 * holding the node for ever; a batch it was in fails whole; the next
 * command connects again. The backend is continued before the outcome is
 * checked, so that a failure does not leave it stopped.
 */
static void
a_server_that_does_not_answer(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	char		 msg[512];
	int64_t		 x;
	pid_t		 be, dog;
	enum ecs_err	 e, e2, e3;
	char		*big;
	enum { BIG = 8 << 20 };

	store_set_timeout(s, 30);
	assert_int_equal(store_identity_pid(s, "nobody", &x), ECS_ENOTFOUND);

	/* Between batches. */
	be = backend_pid_of(f);
	dog = stop_backend(s, be);
	e = store_identity_pid(s, "nobody", &x);
	snprintf(msg, sizeof(msg), "%s", store_errmsg(s));
	resume(s, be, dog);
	assert_int_equal(e, ECS_EBUSY);
	assert_non_null(strstr(msg, "did not answer within 1 s"));
	assert_int_equal(store_identity_pid(s, "nobody", &x), ECS_ENOTFOUND);
	assert_int_not_equal(backend_pid_of(f), be);

	/* In a batch: all of it fails, nothing of it stays. */
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_add(s, "one", "", 1), ECS_OK);
	be = backend_pid_of(f);
	dog = stop_backend(s, be);
	e = store_identity_add(s, "two", "", 1);
	e2 = store_identity_add(s, "three", "", 1);
	e3 = store_commit(s);
	resume(s, be, dog);
	assert_int_equal(e, ECS_EBUSY);
	assert_int_equal(e2, ECS_EBUSY);
	assert_int_not_equal(e3, ECS_OK);
	assert_false(store_in_tx(s));
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "one", &x), ECS_ENOTFOUND);
	assert_int_equal(store_identity_add(s, "four", "", 1), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	assert_int_equal(store_identity_pid(s, "four", &x), ECS_OK);

	/*
	 * A body larger than the socket's buffers, which nobody reads; the
	 * statement is prepared first, with a small one.
	 */
	big = malloc(BIG);
	assert_non_null(big);
	memset(big, 'b', BIG);
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_msg_insert(s, 1, 1, "text/plain", "s", 1, 1000,
	    &x), ECS_OK);
	be = backend_pid_of(f);
	dog = stop_backend(s, be);
	e = store_msg_insert(s, 1, 1, "text/plain", big, BIG, 1000, &x);
	store_rollback(s);
	resume(s, be, dog);
	free(big);
	assert_int_equal(e, ECS_EBUSY);
	assert_int_equal(store_identity_pid(s, "four", &x), ECS_OK);
	store_close(s);
}

/*
 * A server that takes no connections (its postmaster stopped: a host gone
 * or a failover under way): a command on the cut connection fails, the
 * next one's connecting gives up after the DSN's connect_timeout, both
 * ECS_EBUSY; the command right after fails at once, without trying; once
 * the server is back, a later command connects again.
 */
static void
a_server_that_takes_no_connections(void **state)
{
	struct fx	*f = *state;
	struct store	*s;
	struct ecs_error err;
	char		 target[1200], dir[512], path[600], msg2[512], msg3[512];
	FILE		*fp;
	long		 pm = 0;
	int64_t		 x;
	pid_t		 dog;
	enum ecs_err	 e1, e2, e3;
	int		 i;

	snprintf(target, sizeof(target), "%s connect_timeout=2", f->f_target);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open(target, 1, &s, &err), ECS_OK);
	store_set_timeout(s, 30);
	admin_text(f, "SHOW data_directory", dir, sizeof(dir));
	dir[strcspn(dir, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
	if ((fp = fopen(path, "r")) == NULL || fscanf(fp, "%ld", &pm) != 1)
		fail_msg("%s: no postmaster pid", path);
	fclose(fp);
	kill_backends(f);
	dog = stop_backend(NULL, (pid_t)pm);
	/* the cut connection; then connecting again, which times out */
	e1 = store_identity_pid(s, "nobody", &x);
	e2 = store_identity_pid(s, "nobody", &x);
	snprintf(msg2, sizeof(msg2), "%s", store_errmsg(s));
	e3 = store_identity_pid(s, "nobody", &x);
	snprintf(msg3, sizeof(msg3), "%s", store_errmsg(s));
	resume(NULL, (pid_t)pm, dog);
	assert_int_equal(e1, ECS_EBUSY);
	assert_int_equal(e2, ECS_EBUSY);
	assert_non_null(strstr(msg2, "timeout expired"));
	assert_int_equal(e3, ECS_EBUSY);
	assert_string_equal(msg3, "no connection to PostgreSQL");
	for (i = 0; i < 80 && e3 == ECS_EBUSY; i++) {
		usleep(500 * 1000);
		e3 = store_identity_pid(s, "nobody", &x);
	}
	assert_int_equal(e3, ECS_ENOTFOUND);
	store_close(s);
}

/* The first column of the first row of sql in f's database, as a number. */
static int64_t
admin_int(const struct fx *f, const char *sql)
{
	char	 out[64];

	admin_text(f, sql, out, sizeof(out));
	return strtoll(out, NULL, 10);
}

/*
 * A database of schema version 4, whose message tables had the keys, comes
 * to version 6 without them, and with its rows.
 */
static void
version_4_database_migrated(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	int64_t		 rcv, mid, ids[3];

	rcv = participant(s, "rcv", &mid);
	messages(s, 1, mid, 3, ids);
	store_close(s);
	admin_sql(f, "ALTER TABLE messages ADD CONSTRAINT "
	    "messages_resource_id_fkey FOREIGN KEY (resource_id) "
	    "REFERENCES resources(id) ON DELETE CASCADE, ADD CONSTRAINT "
	    "messages_sender_id_fkey FOREIGN KEY (sender_id) "
	    "REFERENCES participants(id) ON DELETE CASCADE; "
	    "ALTER TABLE links ADD CONSTRAINT links_membership_id_fkey "
	    "FOREIGN KEY (membership_id) REFERENCES memberships(id) "
	    "ON DELETE CASCADE; "
	    "ALTER TABLE events ADD CONSTRAINT events_participant_id_fkey "
	    "FOREIGN KEY (participant_id) REFERENCES participants(id) "
	    "ON DELETE CASCADE; "
	    "ALTER TABLE community_messages ADD CONSTRAINT "
	    "community_messages_community_id_fkey FOREIGN KEY (community_id) "
	    "REFERENCES communities(id) ON DELETE CASCADE, ADD CONSTRAINT "
	    "community_messages_message_id_fkey FOREIGN KEY (message_id) "
	    "REFERENCES messages(id); "
	    "ALTER TABLE links ADD CONSTRAINT links_message_id_fkey "
	    "FOREIGN KEY (message_id) REFERENCES messages(id); "
	    "ALTER TABLE events ADD CONSTRAINT events_message_id_fkey "
	    "FOREIGN KEY (message_id) REFERENCES messages(id); "
	    "ALTER TABLE auths ADD CONSTRAINT auths_message_id_fkey "
	    "FOREIGN KEY (message_id) REFERENCES messages(id); "
	    "UPDATE schema_version SET version = 4");
	assert_int_equal(admin_int(f, "SELECT count(*) FROM pg_constraint "
	    "WHERE contype = 'f' AND conrelid IN ('messages'::regclass, "
	    "'links'::regclass, 'events'::regclass, 'auths'::regclass, "
	    "'community_messages'::regclass)"), 9);
	s = open_store(f);
	assert_int_equal(admin_int(f, "SELECT version FROM schema_version"), 6);
	/* No key is left on the message tables (versions 5 and 6). */
	assert_int_equal(admin_int(f, "SELECT count(*) FROM pg_constraint "
	    "WHERE contype = 'f' AND conrelid IN ('messages'::regclass, "
	    "'links'::regclass, 'events'::regclass, 'auths'::regclass, "
	    "'community_messages'::regclass)"), 0);
	assert_int_equal(peek(s, rcv, 1, 0), ids[0]);
	assert_int_equal(store_integrity_check(s), ECS_OK);
	store_close(s);
}

/* No row names a missing one (the check of the keys schema 5 dropped). */
static void
assert_nothing_dangles(const struct fx *f)
{
	struct store	*s = open_store(f);

	if (store_integrity_check(s) != ECS_OK)
		fail_msg("integrity check: %s", store_errmsg(s));
	store_close(s);
}

/* A message from sender in resource res, linked to mid, an event for pid. */
static int64_t
linked_message(struct store *s, int64_t res, int64_t sender, int64_t mid,
    int64_t pid, int64_t cid)
{
	int64_t	 msg;

	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_msg_insert(s, res, sender, "text/plain", "x", 1,
	    1000, &msg), ECS_OK);
	assert_int_equal(store_link_new(s, mid, msg, res), ECS_OK);
	assert_int_equal(store_event_add_new(s, pid, msg, EV_CREATED), ECS_OK);
	if (cid != 0)
		assert_int_equal(store_community_record(s, cid, msg), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	return msg;
}

static void
admin_delete(struct store *s, const char *kind, int64_t id)
{
	assert_int_equal(store_begin(s), ECS_OK);
	if (store_admin_delete(s, kind, id) != ECS_OK)
		fail_msg("delete %s %" PRId64 ": %s", kind, id,
		    store_errmsg(s));
	assert_int_equal(store_commit(s), ECS_OK);
}

/* The integrity check finds what insert made, and not once undo ran. */
static void
integrity_finds(struct db *db, const char *insert, const char *what,
    const char *undo)
{
	assert_int_equal(D->d_exec(db, insert), ECS_OK);
	assert_int_equal(D->d_integrity_check(db), ECS_ESTORE);
	if (strstr(D->d_errmsg(db), what) == NULL)
		fail_msg("integrity check: \"%s\", not \"%s\"",
		    D->d_errmsg(db), what);
	assert_int_equal(D->d_exec(db, undo), ECS_OK);
	assert_int_equal(D->d_integrity_check(db), ECS_OK);
}

/*
 * The message tables name resources, participants, memberships,
 * communities (schema version 5) and messages (6) without foreign keys:
 * the integrity check
 * finds a row naming a missing one, and each deletion removes what names
 * the row it deletes, as the keys' cascades did.
 */
static void
deletions_remove_what_names_the_row(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	struct db	*db = open_db(f);
	int64_t		 snd, smid, rcv, rmid, cid, cmid, res, m1, m2, m3, m4;
	char		 sql[256];

	snd = participant(s, "snd", &smid);
	rcv = participant(s, "rcv", &rmid);
	m1 = linked_message(s, 1, snd, rmid, rcv, 1);
	/* A link naming a membership that is not there. */
	snprintf(sql, sizeof(sql), "INSERT INTO links (membership_id, "
	    "message_id, resource_id) VALUES (999, %" PRId64 ", 1)", m1);
	integrity_finds(db, sql, "links: 1 rows name a missing row of "
	    "memberships", "DELETE FROM links WHERE membership_id = 999");
	/* An event naming a message that is not there (schema version 6). */
	snprintf(sql, sizeof(sql), "INSERT INTO events (participant_id, "
	    "message_id, type) VALUES (%" PRId64 ", 999999, 0)", rcv);
	integrity_finds(db, sql, "events: 1 rows name a missing row of "
	    "messages", "DELETE FROM events WHERE message_id = 999999");

	/* A participant: its messages, their links and events, its own. */
	m2 = linked_message(s, 1, rcv, smid, snd, 0);
	admin_delete(s, "participants", snd);
	assert_nothing_dangles(f);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE id "
	    "IN (%" PRId64 ", %" PRId64 ")", m1, m2);
	assert_int_equal(admin_int(f, sql), 1);		/* m2, to rcv */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM links WHERE "
	    "message_id = %" PRId64, m2);
	assert_int_equal(admin_int(f, sql), 0);

	/* A resource: its messages. */
	res = admin_int(f, "INSERT INTO resources (namespace, name) VALUES "
	    "('test', 'things') RETURNING id");
	m3 = linked_message(s, res, rcv, rmid, rcv, 1);
	admin_delete(s, "resources", res);
	assert_nothing_dangles(f);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE id = "
	    "%" PRId64, m3);
	assert_int_equal(admin_int(f, sql), 0);

	/* A community: the links of its memberships and its records. */
	cid = admin_int(f, "INSERT INTO communities (name) VALUES ('c2') "
	    "RETURNING id");
	assert_int_equal(store_begin(s), ECS_OK);
	assert_int_equal(store_membership_add(s, rcv, cid, &cmid), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	m4 = linked_message(s, 1, rcv, cmid, rcv, cid);
	admin_delete(s, "communities", cid);
	assert_nothing_dangles(f);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM links WHERE "
	    "message_id = %" PRId64, m4);
	assert_int_equal(admin_int(f, sql), 0);

	/* A membership: its links. */
	admin_delete(s, "memberships", rmid);
	assert_nothing_dangles(f);
	assert_int_equal(admin_int(f, "SELECT count(*) FROM links"), 0);
	D->d_close(db);
	store_close(s);
}

/* The deleting node of a_deletion_and_a_batch_naming_the_row. */
struct deleter {
	const struct fx	*d_fx;
	int64_t		 d_mid;
	int		 d_pipe;	/* a byte once the deletion is under way */
	int		 d_hold;	/* then keep the batch open 1 s */
	enum ecs_err	 d_err;
	_Atomic int	 d_deleted;	/* the deletion returned */
	_Atomic int	 d_committing;	/* its batch is about to commit */
};

static void *
delete_membership(void *arg)
{
	struct deleter	*d = arg;
	struct store	*b = open_store(d->d_fx);

	if ((d->d_err = store_begin(b)) != ECS_OK)
		goto out;
	if (!d->d_hold && write(d->d_pipe, "x", 1) != 1)
		d->d_err = ECS_ESTORE;
	if (d->d_err == ECS_OK)
		d->d_err = store_membership_delete(b, d->d_mid);
	d->d_deleted = 1;
	if (d->d_hold && write(d->d_pipe, "x", 1) != 1)
		d->d_err = ECS_ESTORE;
	if (d->d_hold)
		usleep(1000 * 1000);
	d->d_committing = 1;
	if (d->d_err == ECS_OK)
		d->d_err = store_commit(b);
	else
		store_rollback(b);
out:
	store_close(b);
	return NULL;
}

/*
 * Two nodes: one deletes a membership while the other links a message to
 * it. Without a foreign key in between, the deletion waits for the batch
 * that made the link and removes it; a batch that writes during the
 * deletion waits for it, and its link is refused as the key refused it,
 * while a batch that only reads goes on. Either way no link is left
 * naming the membership.
 */
static void
a_deletion_and_a_batch_naming_the_row(void **state)
{
	struct fx	*f = *state;
	struct store	*a = open_store(f);
	struct deleter	 d;
	pthread_t	 t;
	int64_t		 rcv, mid, mid2, msg, n;
	enum ecs_err	 e;
	int		 p[2];
	char		 ch, sql[128];

	rcv = participant(a, "rcv", &mid);
	assert_int_equal(pipe(p), 0);

	/* The link first: the deletion waits for its batch. */
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_msg_insert(a, 1, 1, "text/plain", "x", 1, 1000,
	    &msg), ECS_OK);
	assert_int_equal(store_link_new(a, mid, msg, 1), ECS_OK);
	assert_int_equal(store_msg_link_count(a, msg, &n), ECS_OK);
	assert_int_equal(n, 1);
	memset(&d, 0, sizeof(d));
	d.d_fx = f;
	d.d_mid = mid;
	d.d_pipe = p[1];
	assert_int_equal(pthread_create(&t, NULL, delete_membership, &d), 0);
	assert_int_equal(read(p[0], &ch, 1), 1);
	usleep(400 * 1000);
	assert_false(d.d_deleted);
	assert_int_equal(store_commit(a), ECS_OK);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(d.d_err, ECS_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM links WHERE "
	    "membership_id = %" PRId64, mid);
	assert_int_equal(admin_int(f, sql), 0);
	assert_nothing_dangles(f);

	/* The deletion first: a read goes on, a write waits and is refused. */
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_membership_add(a, rcv, 1, &mid2), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);
	memset(&d, 0, sizeof(d));
	d.d_fx = f;
	d.d_mid = mid2;
	d.d_pipe = p[1];
	d.d_hold = 1;
	assert_int_equal(pthread_create(&t, NULL, delete_membership, &d), 0);
	assert_int_equal(read(p[0], &ch, 1), 1);
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(peek(a, rcv, 1, 0), 0);
	assert_false(d.d_committing);
	assert_int_equal(store_msg_insert(a, 1, 1, "text/plain", "x", 1, 1000,
	    &msg), ECS_OK);
	assert_true(d.d_committing);
	e = store_link_new(a, mid2, msg, 1);
	if (e == ECS_OK)
		e = store_commit(a);
	assert_int_equal(e, ECS_EEXIST);
	assert_non_null(strstr(store_errmsg(a), "membership_id"));
	store_rollback(a);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(d.d_err, ECS_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM links WHERE "
	    "membership_id = %" PRId64, mid2);
	assert_int_equal(admin_int(f, sql), 0);
	assert_nothing_dangles(f);
	close(p[0]);
	close(p[1]);
	store_close(a);
}

/* The disposing node of a_disposal_and_a_batch_naming_the_message. */
struct disposer {
	const struct fx	*x_fx;
	int64_t		 x_mid, x_msg;
	int		 x_pipe;	/* a byte as the batch begins */
	int		 x_hold;	/* or once the disposal is read back; then
					   keep the batch open 1 s */
	int		 x_last;	/* the link goes by store_link_delete_last */
	enum ecs_err	 x_err;
	_Atomic int	 x_committing;	/* its batch is about to commit */
	_Atomic int	 x_committed;	/* and has */
};

/* A receiver's pop of its last link: the message is disposed of. */
static void *
pop_and_dispose(void *arg)
{
	struct disposer	*x = arg;
	struct store	*b = open_store(x->x_fx);
	int64_t		 n;

	if ((x->x_err = store_begin(b)) == ECS_OK && !x->x_hold &&
	    write(x->x_pipe, "x", 1) != 1)
		x->x_err = ECS_ESTORE;
	/* Its statements wait in the pipeline: the wait is anywhere. */
	if (x->x_err == ECS_OK && (x->x_err = x->x_last ?
	    store_link_delete_last(b, x->x_mid, x->x_msg) :
	    store_link_delete(b, x->x_mid, x->x_msg)) == ECS_OK)
		x->x_err = store_msg_dispose(b, x->x_msg, 0);
	if (x->x_err == ECS_OK && x->x_hold &&
	    ((x->x_err = store_msg_link_count(b, x->x_msg, &n)) != ECS_OK ||
	    write(x->x_pipe, "x", 1) != 1))
		x->x_err = ECS_ESTORE;
	if (x->x_hold)
		usleep(1000 * 1000);
	x->x_committing = 1;
	if (x->x_err == ECS_OK)
		x->x_err = store_commit(b);
	else
		store_rollback(b);
	x->x_committed = 1;
	store_close(b);
	return NULL;
}

/* Whether message msg is there, and a tombstone (2) or not (1), or 0. */
static int
message_state(const struct fx *f, int64_t msg)
{
	char	 sql[128];

	snprintf(sql, sizeof(sql), "SELECT coalesce(max(removed + 1), 0) "
	    "FROM messages WHERE id = %" PRId64, msg);
	return (int)admin_int(f, sql);
}

/*
 * Two nodes: one disposes of a message (its last receiver popped it) while
 * the other names it in a new link or event (an update, a postroute).
 * Without a foreign key to messages (schema version 6), the disposal waits
 * for the batch that linked the message and then keeps it, linked; a
 * batch that names the message during a disposal waits for it and is
 * refused, the message gone or a tombstone. No row is left naming a
 * missing message either way.
 */
static void
a_disposal_and_a_batch_naming_the_message(void **state)
{
	struct fx	*f = *state;
	struct store	*a = open_store(f);
	struct disposer	 x;
	pthread_t	 t;
	int64_t		 rcv, mid, rcv2, mid2, msg, n;
	enum ecs_err	 e;
	int		 p[2], last;
	char		 ch, sql[128];

	rcv = participant(a, "rcv", &mid);
	rcv2 = participant(a, "rcv2", &mid2);
	assert_int_equal(pipe(p), 0);

	/*
	 * The new link first: the disposal waits, then keeps the message.
	 * Its lock is taken by the disposal itself, or by the pop's delete
	 * of the last link (last).
	 */
	for (last = 0; last < 2; last++) {
		assert_int_equal(store_begin(a), ECS_OK);
		assert_int_equal(store_msg_insert(a, 1, 1, "text/plain", "x",
		    1, 1000, &msg), ECS_OK);
		assert_int_equal(store_link_new(a, mid, msg, 1), ECS_OK);
		assert_int_equal(store_commit(a), ECS_OK);
		assert_int_equal(store_begin(a), ECS_OK);
		assert_int_equal(store_link_add(a, mid2, msg, 1), ECS_OK);
		assert_int_equal(store_msg_link_count(a, msg, &n), ECS_OK);
		assert_int_equal(n, 2);
		memset(&x, 0, sizeof(x));
		x.x_fx = f;
		x.x_mid = mid;
		x.x_msg = msg;
		x.x_pipe = p[1];
		x.x_last = last;
		assert_int_equal(pthread_create(&t, NULL, pop_and_dispose, &x),
		    0);
		assert_int_equal(read(p[0], &ch, 1), 1);
		usleep(400 * 1000);
		assert_false(x.x_committed);
		assert_int_equal(store_commit(a), ECS_OK);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(x.x_err, ECS_OK);
		assert_int_equal(message_state(f, msg), 1);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM links WHERE "
		    "message_id = %" PRId64 " AND membership_id = %" PRId64,
		    msg, mid2);
		assert_int_equal(admin_int(f, sql), 1);
		assert_int_equal(store_msg_link_count(a, msg, &n), ECS_OK);
		assert_int_equal(n, 1);
		assert_nothing_dangles(f);
	}
	assert_int_equal(peek(a, rcv, 1, 0), 0);

	/*
	 * The disposal first, of a message with an event (a tombstone is
	 * left): the link and the event that name it wait and are refused.
	 */
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_msg_insert(a, 1, 1, "text/plain", "x", 1, 1000,
	    &msg), ECS_OK);
	assert_int_equal(store_link_new(a, mid, msg, 1), ECS_OK);
	assert_int_equal(store_event_add_new(a, rcv, msg, EV_CREATED), ECS_OK);
	assert_int_equal(store_commit(a), ECS_OK);
	memset(&x, 0, sizeof(x));
	x.x_fx = f;
	x.x_mid = mid;
	x.x_msg = msg;
	x.x_pipe = p[1];
	x.x_hold = 1;
	assert_int_equal(pthread_create(&t, NULL, pop_and_dispose, &x), 0);
	assert_int_equal(read(p[0], &ch, 1), 1);
	assert_int_equal(store_begin(a), ECS_OK);
	assert_int_equal(store_link_add(a, mid2, msg, 1), ECS_OK);
	assert_false(x.x_committing);
	e = store_msg_link_count(a, msg, &n);
	assert_true(x.x_committing);
	assert_int_equal(e, ECS_EEXIST);
	assert_non_null(strstr(store_errmsg(a), "message_id"));
	store_rollback(a);
	assert_int_equal(store_begin(a), ECS_OK);
	e = store_event_add(a, rcv2, msg, EV_UPDATED);
	if (e == ECS_OK)
		e = store_commit(a);
	assert_int_equal(e, ECS_EEXIST);
	store_rollback(a);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(x.x_err, ECS_OK);
	assert_int_equal(message_state(f, msg), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE "
	    "message_id = %" PRId64 " AND participant_id = %" PRId64, msg,
	    rcv2);
	assert_int_equal(admin_int(f, sql), 0);
	assert_nothing_dangles(f);
	close(p[0]);
	close(p[1]);
	store_close(a);
}

/* n messages linked to mid, then popped in one batch. */
static void
churn(struct store *s, int64_t mid, int n)
{
	int64_t	*ids;
	int	 i;

	assert_non_null(ids = calloc((size_t)n, sizeof(*ids)));
	messages(s, 1, mid, n, ids);
	assert_int_equal(store_begin(s), ECS_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(store_link_delete(s, mid, ids[i]), ECS_OK);
	assert_int_equal(store_commit(s), ECS_OK);
	free(ids);
}

#define LINKS_STAT(col) "SELECT " col " FROM pg_stat_user_tables " \
			"WHERE relname = 'links'"

/*
 * The vacuum helper: a node that deleted 10,000 rows vacuums the tables
 * (vacuum_count of links moves, and none of the popped links is left
 * dead); fewer leave them to autovacuum. The request goes with the next
 * batch's begin.
 */
static void
pops_vacuum_the_queue_tables(void **state)
{
	struct fx	*f = *state;
	struct store	*s = open_store(f);
	int64_t		 mid, before;
	double		 t;
	char		 sql[256];
	pid_t		 be, dog;

	participant(s, "rcv", &mid);
	/* An autovacuum under way would make the node's skip links. */
	admin_sql(f, "ALTER TABLE links SET (autovacuum_enabled = false)");
	assert_int_equal(store_background_start(s, f->f_target), ECS_OK);
	before = admin_int(f, LINKS_STAT("vacuum_count"));

	churn(s, mid, 6000);		/* 6,000 links deleted */
	assert_int_equal(store_begin(s), ECS_OK);
	store_rollback(s);
	usleep(1500 * 1000);
	assert_int_equal(admin_int(f, LINKS_STAT("vacuum_count")), before);

	churn(s, mid, 6000);		/* 12,000 */
	assert_int_equal(store_begin(s), ECS_OK);
	store_rollback(s);
	for (t = now(); now() - t < 15; usleep(100 * 1000))
		if (admin_int(f, LINKS_STAT("vacuum_count")) > before)
			break;
	assert_true(admin_int(f, LINKS_STAT("vacuum_count")) > before);
	assert_int_equal(admin_int(f, LINKS_STAT("n_dead_tup")), 0);

	/*
	 * A vacuum waiting for a server that does not answer does not hold
	 * the node's stop: the vacuum's backend stopped, another vacuum
	 * asked for, store_close returns long before the watchdog continues
	 * the backend (10 s).
	 */
	snprintf(sql, sizeof(sql), "SELECT pid FROM pg_stat_activity WHERE "
	    "application_name = 'ecsd vacuum' AND datname = '%s'", f->f_name);
	assert_true((be = (pid_t)admin_int(f, sql)) > 0);
	dog = stop_backend(NULL, be);
	churn(s, mid, 10000);
	assert_int_equal(store_begin(s), ECS_OK);
	store_rollback(s);
	usleep(500 * 1000);
	t = now();
	store_close(s);
	t = now() - t;
	resume(NULL, be, dog);
	assert_true(t < 3);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(connection_failure_is_one_line),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(schema_created_once_by_nodes_starting_together),
		T(schema_newer_version_refused),
		T(sql_translation),
		T(column_types),
		T(errors_map_to_ecs_errors),
		T(pipeline_failures),
		T(queue_pop_hands_each_message_to_one_node),
		T(event_pop_hands_each_event_to_one_node),
		T(token_consumed_once),
		T(notifications_between_nodes),
		T(connection_loss),
		T(sync_ids_and_integrity),
		T(pops_read_the_queue_indexes),
		T(fresh_database_reads_by_index),
		T(a_server_that_does_not_answer),
		T(a_server_that_takes_no_connections),
		T(version_4_database_migrated),
		T(deletions_remove_what_names_the_row),
		T(a_deletion_and_a_batch_naming_the_row),
		T(a_disposal_and_a_batch_naming_the_message),
		T(pops_vacuum_the_queue_tables),
#undef T
	};

	base_dsn = getenv("ECSD_TEST_PG_DSN");
	if (base_dsn == NULL || *base_dsn == '\0') {
		fprintf(stderr, "test_store_pg: ECSD_TEST_PG_DSN not set, "
		    "skipped (tests/unit/store_pg.sh starts a server)\n");
		return 77;
	}
	return cmocka_run_group_tests_name("store_pg", tests, NULL, NULL);
}
