/*
 * store_migrate.c: copy a whole installation from one store to another,
 * ids preserved (ecsctl migrate). Both ends are reached through their SQL
 * drivers; the rows are copied table by table in the order their foreign
 * keys need, inside one transaction on each side.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"
#include "store_migrate.h"
#include "util.h"

/*
 * The tables of schema version 3 and their columns; the type letters say
 * how a value is carried: i integer, t text, b blob. "seed" is how many
 * rows a fresh schema holds, which the target may hold and nothing more.
 */
struct mig_table {
	const char	*mt_name;
	const char	*mt_cols;
	const char	*mt_types;
	int64_t		 mt_seed;
};

static const struct mig_table mig_tables[] = {
	{ "organizations", "id, name, abbr, description", "itt t", 2 },
	{ "participants", "id, name, description, dns, email, "
	    "organization_id, selfrouting, events, ptype, ttl, created_at, "
	    "updated_at", "itttt iii tiii", 1 },
	{ "identities", "id, name, description, participant_id, password",
	    "itt it", 0 },
	{ "communities", "id, name, description", "itt", 1 },
	{ "memberships", "id, participant_id, community_id", "iii", 0 },
	{ "resources", "id, namespace, name, postroute, events", "itt ii", 1 },
	{ "messages", "id, resource_id, sender_id, content_type, body, "
	    "removed, created_at, updated_at, version", "iiitb iiii", 0 },
	{ "links", "membership_id, message_id, resource_id", "iii", 0 },
	{ "community_messages", "community_id, message_id", "ii", 0 },
	{ "events", "id, participant_id, message_id, type", "iiii", 0 },
	{ "auths", "message_id, hash, eov", "iti", 0 },
	{ "subparticipants", "id, participant_id, parent_id, realm", "iiit",
	    0 },
};
#define MIG_NTABLES	(sizeof(mig_tables) / sizeof(mig_tables[0]))

struct mig_end {
	const struct db_driver	*me_drv;
	struct db		*me_db;
	const char		*me_target;	/* what follows the scheme */
};

static int
mig_fail(struct ecs_error *err, enum ecs_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
mig_fail(struct ecs_error *err, enum ecs_err e, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	util_vfail(err, e, fmt, ap);
	va_end(ap);
	return -1;
}

static int
mig_driver(const char *spec, struct mig_end *end, struct ecs_error *err)
{
	/* Here the scheme is required: a bare path would be ambiguous. */
	if (strncmp(spec, "sqlite:", 7) != 0 &&
	    strncmp(spec, "postgresql:", 11) != 0)
		return mig_fail(err, ECS_EINVAL, "%s: not sqlite:PATH or "
		    "postgresql:DSN", spec);
	if ((end->me_drv = db_driver_for(spec, &end->me_target)) == NULL)
		return mig_fail(err, ECS_EINVAL, "%s: this build has no "
		    "PostgreSQL support (configure --with-postgresql)", spec);
	if (*end->me_target == '\0')
		return mig_fail(err, ECS_EINVAL, "%s: empty path or DSN", spec);
	return 0;
}

static int
mig_db_fail(struct mig_end *end, struct ecs_error *err, const char *what)
{
	return mig_fail(err, end->me_drv->d_error(end->me_db), "%s: %s: %s",
	    end->me_drv->d_name, what, end->me_drv->d_errmsg(end->me_db));
}

/* One integer from a query without parameters. */
static int
mig_query_i(struct mig_end *end, const char *sql, int64_t *out,
    struct ecs_error *err)
{
	const struct db_driver	*d = end->me_drv;
	struct dbst		*st;
	int			 rc;

	if ((st = d->d_prepare(end->me_db, sql)) == NULL)
		return mig_db_fail(end, err, sql);
	rc = d->d_step(st);
	if (rc == DB_ROW)
		*out = d->d_column_null(st, 0) ? 0 : d->d_column_int64(st, 0);
	d->d_finalize(st);
	if (rc != DB_ROW)
		return mig_db_fail(end, err, sql);
	return 0;
}

/*
 * The target must be what a fresh schema is: at most its seed rows. Tables
 * with an id column are judged by their largest id, so that a target
 * whose seed rows were replaced is refused too.
 */
static int
mig_target_fresh(struct mig_end *to, struct ecs_error *err)
{
	const struct mig_table	*t;
	char			 sql[256];
	int64_t			 n = 0;
	size_t			 i;

	for (i = 0; i < MIG_NTABLES; i++) {
		t = &mig_tables[i];
		if (strncmp(t->mt_cols, "id,", 3) == 0)
			snprintf(sql, sizeof(sql), "SELECT max(id) FROM %s",
			    t->mt_name);
		else
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s",
			    t->mt_name);
		if (mig_query_i(to, sql, &n, err) == -1)
			return -1;
		if (n > t->mt_seed)
			return mig_fail(err, ECS_ECONFLICT, "the target is not "
			    "empty (table %s has data): migrate only into a "
			    "new database", t->mt_name);
	}
	return 0;
}

/* Copy one table's rows; *count gets how many. */
static int
mig_copy_table(struct mig_end *from, struct mig_end *to,
    const struct mig_table *t, int64_t *count, struct ecs_error *err)
{
	const struct db_driver	*fd = from->me_drv, *td = to->me_drv;
	struct dbst		*src = NULL, *dst = NULL;
	char			 sel[512], ins[768], *p;
	const char		*ty;
	const void		*blob;
	size_t			 ncol, off;
	int			 rc, i, col;

	ncol = 0;
	for (ty = t->mt_types; *ty != '\0'; ty++)
		if (*ty != ' ')
			ncol++;
	snprintf(sel, sizeof(sel), "SELECT %s FROM %s ORDER BY 1, 2",
	    t->mt_cols, t->mt_name);
	off = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO %s (%s) "
	    "VALUES (", t->mt_name, t->mt_cols);
	for (i = 0; i < (int)ncol && off + 3 < sizeof(ins); i++) {
		p = ins + off;
		off += (size_t)snprintf(p, sizeof(ins) - off, "%s?",
		    i ? ", " : "");
	}
	if (off + 2 >= sizeof(ins))
		return mig_fail(err, ECS_ESTORE, "%s: statement too long",
		    t->mt_name);
	ins[off++] = ')';
	ins[off] = '\0';

	if ((src = fd->d_prepare(from->me_db, sel)) == NULL)
		return mig_db_fail(from, err, sel);
	if ((dst = td->d_prepare(to->me_db, ins)) == NULL) {
		fd->d_finalize(src);
		return mig_db_fail(to, err, ins);
	}
	*count = 0;
	while ((rc = fd->d_step(src)) == DB_ROW) {
		td->d_reset(dst);
		for (col = 0, ty = t->mt_types; *ty != '\0'; ty++) {
			if (*ty == ' ')
				continue;
			if (fd->d_column_null(src, col))
				td->d_bind_text(dst, col + 1, NULL);
			else if (*ty == 'i')
				td->d_bind_int64(dst, col + 1,
				    fd->d_column_int64(src, col));
			else if (*ty == 't')
				td->d_bind_text(dst, col + 1,
				    fd->d_column_text(src, col));
			else {
				/* An empty blob may come back as NULL. */
				blob = fd->d_column_blob(src, col);
				td->d_bind_blob(dst, col + 1,
				    blob != NULL ? blob : "",
				    fd->d_column_bytes(src, col));
			}
			col++;
		}
		if (td->d_step(dst) == DB_ERROR) {
			mig_db_fail(to, err, t->mt_name);
			goto fail;
		}
		(*count)++;
	}
	if (rc == DB_ERROR) {
		mig_db_fail(from, err, t->mt_name);
		goto fail;
	}
	fd->d_finalize(src);
	td->d_finalize(dst);
	return 0;
fail:
	fd->d_finalize(src);
	td->d_finalize(dst);
	return -1;
}

int
store_migrate(const char *from_spec, const char *to_spec, FILE *progress,
    struct ecs_error *err)
{
	struct mig_end	 from, to;
	int64_t		 n = 0;
	size_t		 i;
	int		 rc = -1;

	memset(&from, 0, sizeof(from));
	memset(&to, 0, sizeof(to));
	memset(err, 0, sizeof(*err));
	if (mig_driver(from_spec, &from, err) == -1 ||
	    mig_driver(to_spec, &to, err) == -1)
		return -1;
	if (from.me_drv == to.me_drv &&
	    strcmp(from.me_target, to.me_target) == 0)
		return mig_fail(err, ECS_EINVAL, "source and target are the "
		    "same");

	/* Opening brings either end to the current schema. */
	if (from.me_drv->d_open(from.me_target, 1, &from.me_db, err) !=
	    ECS_OK)
		return -1;
	if (to.me_drv->d_open(to.me_target, 1, &to.me_db, err) != ECS_OK)
		goto out;

	/* One transaction each: a consistent snapshot, all or nothing. */
	if (from.me_drv->d_begin(from.me_db) != ECS_OK) {
		mig_db_fail(&from, err, "begin");
		goto out;
	}
	if (to.me_drv->d_begin(to.me_db) != ECS_OK) {
		mig_db_fail(&to, err, "begin");
		goto out;
	}
	if (mig_target_fresh(&to, err) == -1)
		goto out;
	/* The seed rows go; the source's own seed rows come back with it. */
	for (i = MIG_NTABLES; i-- > 0;) {
		char	 sql[128];

		snprintf(sql, sizeof(sql), "DELETE FROM %s",
		    mig_tables[i].mt_name);
		if (to.me_drv->d_exec(to.me_db, sql) != ECS_OK) {
			mig_db_fail(&to, err, sql);
			goto out;
		}
	}
	for (i = 0; i < MIG_NTABLES; i++) {
		if (mig_copy_table(&from, &to, &mig_tables[i], &n, err) == -1)
			goto out;
		if (progress != NULL)
			fprintf(progress, "%-20s %" PRId64 " rows\n",
			    mig_tables[i].mt_name, n);
	}
	if (to.me_drv->d_sync_ids != NULL &&
	    to.me_drv->d_sync_ids(to.me_db) != ECS_OK) {
		mig_db_fail(&to, err, "id sequences");
		goto out;
	}
	if (to.me_drv->d_exec(to.me_db, "COMMIT") != ECS_OK) {
		mig_db_fail(&to, err, "commit");
		goto out;
	}
	rc = 0;
out:
	if (to.me_db != NULL) {
		if (to.me_drv->d_in_tx(to.me_db))
			to.me_drv->d_exec(to.me_db, "ROLLBACK");
		to.me_drv->d_close(to.me_db);
	}
	if (from.me_db != NULL) {
		if (from.me_drv->d_in_tx(from.me_db))
			from.me_drv->d_exec(from.me_db, "ROLLBACK");
		from.me_drv->d_close(from.me_db);
	}
	return rc;
}
