/*
 * cr_db.c: the plugin's own small SQLite file (key `database`): the
 * experiences, the sessions that are scheduled or live (so that a restart
 * keeps codes and schedules), the codes of ended sessions (for the
 * "expired" answer) and the attendance of registered students. Chat is
 * never written here. All SQL of the plugin lives in this file.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "classroom.h"

struct cr_db {
	sqlite3	*db_h;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS experiences ("
	" id INTEGER PRIMARY KEY, owner INTEGER NOT NULL,"
	" owner_name TEXT NOT NULL DEFAULT '', title TEXT NOT NULL,"
	" description TEXT NOT NULL DEFAULT '',"
	" media TEXT NOT NULL DEFAULT '[]',"
	" public INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS sessions ("
	" id INTEGER PRIMARY KEY, owner INTEGER NOT NULL,"
	" owner_name TEXT NOT NULL DEFAULT '', owner_mid INTEGER NOT NULL,"
	" experience INTEGER NOT NULL, title TEXT NOT NULL,"
	" starts TEXT NOT NULL, code TEXT, live INTEGER NOT NULL DEFAULT 0,"
	" approval INTEGER NOT NULL DEFAULT 0,"
	" capacity INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS expired_codes ("
	" code TEXT PRIMARY KEY, ended_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS attendance ("
	" session INTEGER NOT NULL, pid INTEGER NOT NULL,"
	" name TEXT NOT NULL, first_seen INTEGER NOT NULL,"
	" PRIMARY KEY (session, pid));";

int
cr_db_open(struct cr_db **dbp, const char *path, char *err, size_t len)
{
	struct cr_db	*db;
	char		*msg = NULL;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	if (sqlite3_open(path, &db->db_h) != SQLITE_OK) {
		snprintf(err, len, "%s: %s", path, db->db_h ?
		    sqlite3_errmsg(db->db_h) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->db_h, 2000);
	if (sqlite3_exec(db->db_h, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, len, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		goto fail;
	}
	*dbp = db;
	return 0;
fail:
	cr_db_close(db);
	return -1;
}

void
cr_db_close(struct cr_db *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->db_h);
	free(db);
}

/* Prepare sql and bind "i" (int64) and "s" (text) arguments. */
static sqlite3_stmt *
prep(struct cr_db *db, const char *sql, const char *types, ...)
{
	sqlite3_stmt	*st;
	va_list		 ap;
	const char	*s;
	int		 i, rc = SQLITE_OK;

	if (sqlite3_prepare_v2(db->db_h, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	va_start(ap, types);
	for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		if (types[i] == 'i')
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else {
			s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1,
			    SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
		}
	}
	va_end(ap);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Run a statement without rows; 0 or -1. */
static int
run(sqlite3_stmt *st)
{
	int	 rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	return strdup(t ? (const char *)t : "");
}

void
cr_exp_clear(struct cr_exp *ex)
{
	free(ex->ex_owner_name);
	free(ex->ex_title);
	free(ex->ex_desc);
	free(ex->ex_media);
	memset(ex, 0, sizeof(*ex));
}

int
cr_db_exp_insert(struct cr_db *db, struct cr_exp *ex)
{
	if (run(prep(db, "INSERT INTO experiences (owner, owner_name, title,"
	    " description, media, public) VALUES (?, ?, ?, ?, ?, ?)",
	    "issssi", ex->ex_owner, ex->ex_owner_name, ex->ex_title,
	    ex->ex_desc, ex->ex_media, (int64_t)ex->ex_public)) != 0)
		return -1;
	ex->ex_id = sqlite3_last_insert_rowid(db->db_h);
	return 0;
}

#define EXP_COLS "id, owner, owner_name, title, description, media, public"

/* Fill ex from a row of EXP_COLS; 0 or -1 (out of memory). */
static int
exp_row(sqlite3_stmt *st, struct cr_exp *ex)
{
	memset(ex, 0, sizeof(*ex));
	ex->ex_id = sqlite3_column_int64(st, 0);
	ex->ex_owner = sqlite3_column_int64(st, 1);
	ex->ex_owner_name = col_dup(st, 2);
	ex->ex_title = col_dup(st, 3);
	ex->ex_desc = col_dup(st, 4);
	ex->ex_media = col_dup(st, 5);
	ex->ex_public = sqlite3_column_int(st, 6) != 0;
	if (ex->ex_owner_name == NULL || ex->ex_title == NULL ||
	    ex->ex_desc == NULL || ex->ex_media == NULL) {
		cr_exp_clear(ex);
		return -1;
	}
	return 0;
}

int
cr_db_exp_get(struct cr_db *db, int64_t id, struct cr_exp *ex)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = prep(db, "SELECT " EXP_COLS " FROM experiences WHERE id = ?",
	    "i", id)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = exp_row(st, ex);
	else
		rc = rc == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(st);
	return rc;
}

int
cr_db_exp_update(struct cr_db *db, const struct cr_exp *ex)
{
	return run(prep(db, "UPDATE experiences SET title = ?,"
	    " description = ?, media = ?, public = ? WHERE id = ?", "sssii",
	    ex->ex_title, ex->ex_desc, ex->ex_media, (int64_t)ex->ex_public,
	    ex->ex_id));
}

int
cr_db_exp_delete(struct cr_db *db, int64_t id)
{
	return run(prep(db, "DELETE FROM experiences WHERE id = ?", "i", id));
}

int
cr_db_exp_list(struct cr_db *db, int64_t owner,
    void (*fn)(const struct cr_exp *, void *), void *arg)
{
	sqlite3_stmt	*st;
	struct cr_exp	 ex;
	int		 rc;

	if ((st = prep(db, "SELECT " EXP_COLS " FROM experiences"
	    " WHERE owner = ? OR public != 0 ORDER BY id", "i", owner)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (exp_row(st, &ex) != 0)
			break;
		fn(&ex, arg);
		cr_exp_clear(&ex);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
cr_db_exp_in_use(struct cr_db *db, int64_t id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = prep(db, "SELECT 1 FROM sessions WHERE experience = ?"
	    " AND ended = 0 LIMIT 1", "i", id)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
cr_db_session_insert(struct cr_db *db, struct cr_srow *r)
{
	if (run(prep(db, "DELETE FROM expired_codes WHERE code = ?", "s",
	    r->sr_code)) != 0)
		return -1;
	if (run(prep(db, "INSERT INTO sessions (owner, owner_name, owner_mid,"
	    " experience, title, starts, code, live, approval, capacity)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "isiisssiii",
	    r->sr_owner, r->sr_owner_name, r->sr_owner_mid, r->sr_experience,
	    r->sr_title, r->sr_when, r->sr_code, (int64_t)r->sr_live,
	    (int64_t)r->sr_approval, (int64_t)r->sr_capacity)) != 0)
		return -1;
	r->sr_id = sqlite3_last_insert_rowid(db->db_h);
	return 0;
}

int
cr_db_session_update(struct cr_db *db, const struct cr_srow *r)
{
	return run(prep(db, "UPDATE sessions SET owner_mid = ?,"
	    " experience = ?, title = ?, starts = ?, live = ?, approval = ?,"
	    " capacity = ? WHERE id = ?", "iissiiii", r->sr_owner_mid,
	    r->sr_experience, r->sr_title, r->sr_when, (int64_t)r->sr_live,
	    (int64_t)r->sr_approval, (int64_t)r->sr_capacity, r->sr_id));
}

int
cr_db_session_end(struct cr_db *db, int64_t id, const char *code)
{
	if (run(prep(db, "UPDATE sessions SET ended = 1, live = 0,"
	    " code = NULL WHERE id = ?", "i", id)) != 0)
		return -1;
	return run(prep(db, "INSERT OR REPLACE INTO expired_codes"
	    " (code, ended_at) VALUES (?, strftime('%s','now'))", "s", code));
}

int
cr_db_session_delete(struct cr_db *db, int64_t id)
{
	return run(prep(db, "DELETE FROM sessions WHERE id = ?", "i", id));
}

int
cr_db_session_load(struct cr_db *db,
    void (*fn)(const struct cr_srow *, void *), void *arg)
{
	sqlite3_stmt	*st;
	struct cr_srow	 r;
	int		 rc;

	if ((st = prep(db, "SELECT id, owner, owner_name, owner_mid,"
	    " experience, title, starts, code, live, approval, capacity"
	    " FROM sessions WHERE ended = 0 ORDER BY id", "")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.sr_id = sqlite3_column_int64(st, 0);
		r.sr_owner = sqlite3_column_int64(st, 1);
		r.sr_owner_name = col_dup(st, 2);
		r.sr_owner_mid = sqlite3_column_int64(st, 3);
		r.sr_experience = sqlite3_column_int64(st, 4);
		r.sr_title = col_dup(st, 5);
		r.sr_when = col_dup(st, 6);
		r.sr_code = col_dup(st, 7);
		r.sr_live = sqlite3_column_int(st, 8);
		r.sr_approval = sqlite3_column_int(st, 9);
		r.sr_capacity = sqlite3_column_int(st, 10);
		if (r.sr_code != NULL && r.sr_title != NULL &&
		    r.sr_when != NULL && r.sr_owner_name != NULL)
			fn(&r, arg);
		free(r.sr_owner_name);
		free(r.sr_title);
		free(r.sr_when);
		free(r.sr_code);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
cr_db_code_expired(struct cr_db *db, const char *code)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = prep(db, "SELECT 1 FROM expired_codes WHERE code = ?", "s",
	    code)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
cr_db_attend(struct cr_db *db, int64_t session, int64_t pid,
    const char *name, time_t first)
{
	return run(prep(db, "INSERT OR IGNORE INTO attendance (session, pid,"
	    " name, first_seen) VALUES (?, ?, ?, ?)", "iisi", session, pid,
	    name, (int64_t)first));
}
