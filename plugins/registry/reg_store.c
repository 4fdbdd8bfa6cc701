/*
 * reg_store.c: the registry's own SQLite database (all of its SQL).
 * The schema is schema/registry.sql, compiled in as reg_schema_sql;
 * PRAGMA user_version says which version a file has.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "registry.h"

#define REG_DB_VERSION	1

extern const char reg_schema_sql[];

struct reg_store {
	sqlite3		*st_db;
	sqlite3_stmt	*st_stmt[Q__COUNT];
	char		 st_err[256];
};

/* Filters of the offer search: ?1 language .. ?8 text. */
#define OFFER_FILTER \
	" FROM offers WHERE status = 'published'" \
	" AND (?1 IS NULL OR json_extract(data, '$.language') = ?1)" \
	" AND (?2 IS NULL OR json_extract(data, '$.industry') = ?2)" \
	" AND (?3 IS NULL OR json_extract(data, '$.mode') = ?3)" \
	" AND (?4 IS NULL OR json_extract(data, '$.eqf_level') = ?4)" \
	" AND (?5 IS NULL OR json_extract(data, '$.start_date') >= ?5)" \
	" AND (?6 IS NULL OR json_extract(data, '$.start_date') <= ?6)" \
	" AND (?7 IS NULL OR coalesce(json_extract(data, '$.vr_ar'), 0) = ?7)" \
	" AND (?8 IS NULL OR instr(lower(json_extract(data, '$.title') ||" \
	"  ' ' || json_extract(data, '$.description') || ' ' ||" \
	"  coalesce(json_extract(data, '$.learning_outcomes'), '')), " \
	"  lower(?8)) > 0)"

static const char *const sql[Q__COUNT] = {
	[Q_ROLE_SET] = "INSERT OR REPLACE INTO roles (pid, role, name, "
	    "granted_by, granted_at) VALUES (?, ?, ?, ?, ?)",
	[Q_ROLE_DEL] = "DELETE FROM roles WHERE pid = ? AND role = ?",
	[Q_ROLE_HAS] = "SELECT 1 FROM roles WHERE pid = ? AND role = ?",
	[Q_ROLES_OF] = "SELECT role FROM roles WHERE pid = ? ORDER BY role",
	[Q_ROLE_PIDS] = "SELECT pid, name FROM roles WHERE role = ? "
	    "ORDER BY pid",
	[Q_ROLES_ALL] = "SELECT pid, name, role FROM roles ORDER BY pid, role",

	[Q_OFFER_ADD] = "INSERT INTO offers (provider_pid, provider_name, "
	    "provider_mid, status, data, created, updated) "
	    "VALUES (?, ?, ?, 'pending', ?, ?, ?)",
	[Q_OFFER_GET] = "SELECT id, provider_pid, provider_name, "
	    "provider_mid, status, data, pending, courselink_id "
	    "FROM offers WHERE id = ?",
	[Q_OFFER_EDIT] = "UPDATE offers SET pending = ?, updated = ? "
	    "WHERE id = ?",
	[Q_OFFER_STATUS] = "UPDATE offers SET status = ?, updated = ? "
	    "WHERE id = ?",
	[Q_OFFER_APPROVE] = "UPDATE offers SET data = coalesce(pending, data),"
	    " pending = NULL, status = 'published', updated = ? WHERE id = ?",
	[Q_OFFER_DROP_PENDING] = "UPDATE offers SET pending = NULL, "
	    "updated = ? WHERE id = ?",
	[Q_OFFER_LINK] = "UPDATE offers SET courselink_id = ? WHERE id = ?",
	[Q_OFFER_SEARCH] = "SELECT id, provider_name, data" OFFER_FILTER
	    " ORDER BY json_extract(data, '$.start_date'), id "
	    "LIMIT ?9 OFFSET ?10",
	[Q_OFFER_COUNT] = "SELECT count(*)" OFFER_FILTER,
	[Q_OFFERS_OF] = "SELECT id, status FROM offers WHERE provider_pid = ? "
	    "ORDER BY id",

	[Q_APP_ADD] = "INSERT INTO applications (offer_id, trainee_pid, "
	    "trainee_name, trainee_mid, email, status, created) "
	    "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
	[Q_APP_GET] = "SELECT id, offer_id, trainee_pid, trainee_name, "
	    "trainee_mid, email, status FROM applications WHERE id = ?",
	[Q_APP_STATUS] = "UPDATE applications SET status = ?, decided = ? "
	    "WHERE id = ?",
	[Q_APP_COUNT] = "SELECT count(*) FROM applications "
	    "WHERE offer_id = ? AND status IN (?, ?)",
	[Q_APPS_OF_OFFER] = "SELECT id, trainee_name, status "
	    "FROM applications WHERE offer_id = ? ORDER BY id",

	[Q_RATE_ADD] = "INSERT INTO ratings (application_id, target, score, "
	    "opinion, created) VALUES (?, ?, ?, ?, ?)",
	[Q_RATE_AGG_OFFER] = "SELECT r.target, count(*), avg(r.score) "
	    "FROM ratings r JOIN applications a ON a.id = r.application_id "
	    "WHERE a.offer_id = ? GROUP BY r.target ORDER BY r.target",
	[Q_RATE_AGG_PROVIDER] = "SELECT r.target, count(*), avg(r.score) "
	    "FROM ratings r JOIN applications a ON a.id = r.application_id "
	    "JOIN offers o ON o.id = a.offer_id WHERE o.provider_pid = ? "
	    "GROUP BY r.target ORDER BY r.target",
	[Q_RATE_AGG_TRAINER] = "SELECT count(*), avg(r.score) "
	    "FROM ratings r JOIN applications a ON a.id = r.application_id "
	    "JOIN offers o ON o.id = a.offer_id WHERE r.target = 'trainer' "
	    "AND json_extract(o.data, '$.trainer') = ?",

	[Q_ANN_ADD] = "INSERT INTO announcements (employer_pid, "
	    "employer_name, kind, data, created) VALUES (?, ?, ?, ?, ?)",
	[Q_ANN_LIST] = "SELECT id, employer_name, kind, data, created "
	    "FROM announcements WHERE ?1 IS NULL OR kind = ?1 "
	    "ORDER BY id DESC LIMIT ?2 OFFSET ?3",

	[Q_CRED_ADD] = "INSERT INTO credentials (id, application_id, "
	    "offer_id, trainee_pid, body, issued) VALUES (?, ?, ?, ?, ?, ?)",
	[Q_CRED_GET] = "SELECT revoked, revoked_reason, offer_id, "
	    "trainee_pid, application_id FROM credentials WHERE id = ?",
	[Q_CRED_REVOKE] = "UPDATE credentials SET revoked = 1, "
	    "revoked_reason = ?, revoked_at = ? WHERE id = ?",

	[Q_AUDIT] = "INSERT INTO audit (at, actor_pid, actor, action, "
	    "object, detail) VALUES (?, ?, ?, ?, ?, ?)",
	[Q_AUDIT_LIST] = "SELECT id, at, actor, action, object, detail "
	    "FROM audit ORDER BY id DESC LIMIT ?",

	[Q_STATS_OFFER] = "SELECT count(*), "
	    "coalesce(sum(status IN ('confirmed', 'completed')), 0), "
	    "coalesce(sum(status = 'completed'), 0) "
	    "FROM applications WHERE offer_id = ?",
	[Q_STATS_PROVIDER] = "SELECT (SELECT count(*) FROM offers "
	    "WHERE provider_pid = ?1), (SELECT count(*) FROM offers "
	    "WHERE provider_pid = ?1 AND status = 'published'), "
	    "(SELECT count(*) FROM applications a JOIN offers o "
	    "ON o.id = a.offer_id WHERE o.provider_pid = ?1), "
	    "(SELECT count(*) FROM applications a JOIN offers o "
	    "ON o.id = a.offer_id WHERE o.provider_pid = ?1 "
	    "AND a.status = 'completed')"
};

static int
fail(struct reg_store *st, const char *what)
{
	snprintf(st->st_err, sizeof(st->st_err), "%s: %s", what,
	    sqlite3_errmsg(st->st_db));
	return -1;
}

static int
schema_version(struct reg_store *st, int *vp)
{
	sqlite3_stmt	*s;
	int		 rc;

	if (sqlite3_prepare_v2(st->st_db, "PRAGMA user_version", -1, &s,
	    NULL) != SQLITE_OK)
		return fail(st, "user_version");
	rc = sqlite3_step(s);
	*vp = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	return *vp < 0 ? fail(st, "user_version") : 0;
}

struct reg_store *
reg_store_open(const char *path, char *why, size_t whylen)
{
	struct reg_store	*st;
	char			*msg = NULL;
	int			 v, i;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fail(st, path);
		goto bad;
	}
	sqlite3_busy_timeout(st->st_db, 5000);
	if (sqlite3_exec(st->st_db, "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
	    &msg) != SQLITE_OK) {
		snprintf(st->st_err, sizeof(st->st_err), "%s: %s", path,
		    msg ? msg : "pragma");
		sqlite3_free(msg);
		goto bad;
	}
	if (schema_version(st, &v) != 0)
		goto bad;
	if (v == 0) {
		if (sqlite3_exec(st->st_db, "BEGIN", NULL, NULL, NULL) !=
		    SQLITE_OK || sqlite3_exec(st->st_db, reg_schema_sql, NULL,
		    NULL, &msg) != SQLITE_OK || sqlite3_exec(st->st_db,
		    "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(st->st_err, sizeof(st->st_err), "%s: schema: "
			    "%s", path, msg ? msg : sqlite3_errmsg(st->st_db));
			sqlite3_free(msg);
			goto bad;
		}
	} else if (v > REG_DB_VERSION) {
		snprintf(st->st_err, sizeof(st->st_err), "%s: schema version "
		    "%d is newer than this plugin's %d", path, v,
		    REG_DB_VERSION);
		goto bad;
	}
	for (i = 0; i < Q__COUNT; i++)
		if (sqlite3_prepare_v3(st->st_db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->st_stmt[i], NULL) !=
		    SQLITE_OK) {
			fail(st, sql[i]);
			goto bad;
		}
	return st;
bad:
	snprintf(why, whylen, "%s", st->st_err);
	reg_store_close(st);
	return NULL;
}

void
reg_store_close(struct reg_store *st)
{
	int	 i;

	if (st == NULL)
		return;
	for (i = 0; i < Q__COUNT; i++)
		sqlite3_finalize(st->st_stmt[i]);
	sqlite3_close(st->st_db);
	free(st);
}

const char *
reg_store_error(const struct reg_store *st)
{
	return st->st_err;
}

static int
rows_add(struct reg_rows *out, sqlite3_stmt *s)
{
	char		**cell;
	const char	 *t;
	size_t		  i, nc = (size_t)sqlite3_column_count(s);

	if (out->rr_ncol == 0)
		out->rr_ncol = nc;
	cell = reallocarray(out->rr_cell, (out->rr_n + 1) * nc, sizeof(*cell));
	if (cell == NULL)
		return -1;
	out->rr_cell = cell;
	for (i = 0; i < nc; i++) {
		t = (const char *)sqlite3_column_text(s, (int)i);
		cell[out->rr_n * nc + i] = t != NULL ? strdup(t) : NULL;
	}
	out->rr_n++;
	return 0;
}

int
reg_q(struct reg_store *st, enum reg_query q, struct reg_rows *out,
    int64_t *rowidp, const char *fmt, ...)
{
	sqlite3_stmt	*s = st->st_stmt[q];
	va_list		 ap;
	const char	*t;
	int		 i, rc, ret = 0;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	va_start(ap, fmt);
	for (i = 0; fmt[i] != '\0'; i++) {
		switch (fmt[i]) {
		case 'i':
			rc = sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_double(s, i + 1, va_arg(ap, double));
			break;
		case 't':
			t = va_arg(ap, const char *);
			rc = t == NULL ? sqlite3_bind_null(s, i + 1) :
			    sqlite3_bind_text(s, i + 1, t, -1,
			    SQLITE_TRANSIENT);
			break;
		case 'n':	/* an int64_t argument, bound as NULL */
			(void)va_arg(ap, int64_t);
			rc = sqlite3_bind_null(s, i + 1);
			break;
		default:
			rc = sqlite3_bind_null(s, i + 1);
			break;
		}
		if (rc != SQLITE_OK) {
			va_end(ap);
			return fail(st, "bind");
		}
	}
	va_end(ap);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (out != NULL && rows_add(out, s) != 0) {
			ret = -1;
			break;
		}
	if (ret == 0 && rc != SQLITE_DONE) {
		ret = (rc & 0xff) == SQLITE_CONSTRAINT ? 1 : fail(st, sql[q]);
		if (ret == 1)
			snprintf(st->st_err, sizeof(st->st_err), "%s",
			    sqlite3_errmsg(st->st_db));
	}
	sqlite3_reset(s);
	if (ret != 0 && out != NULL)
		reg_rows_free(out);
	if (ret == 0 && rowidp != NULL)
		*rowidp = sqlite3_last_insert_rowid(st->st_db);
	return ret;
}

const char *
reg_cell(const struct reg_rows *r, size_t row, size_t col)
{
	if (row >= r->rr_n || col >= r->rr_ncol)
		return NULL;
	return r->rr_cell[row * r->rr_ncol + col];
}

int64_t
reg_cell_int(const struct reg_rows *r, size_t row, size_t col)
{
	const char	*t = reg_cell(r, row, col);

	return t != NULL ? strtoll(t, NULL, 10) : 0;
}

double
reg_cell_dbl(const struct reg_rows *r, size_t row, size_t col)
{
	const char	*t = reg_cell(r, row, col);

	return t != NULL ? strtod(t, NULL) : 0;
}

void
reg_rows_free(struct reg_rows *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->rr_n * r->rr_ncol; i++)
		free(r->rr_cell[i]);
	free(r->rr_cell);
	memset(r, 0, sizeof(*r));
}
