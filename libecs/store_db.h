/*
 * store_db.h: the SQL driver under store.c. store.c holds every query of
 * the store interface, written once in the SQL that SQLite and PostgreSQL
 * share; a driver (store_sqlite.c, store_pg.c) runs them.
 *
 * Conventions every query in store.c keeps:
 *  - parameters are '?', numbered left to right (PostgreSQL's driver turns
 *    them into $1, $2, ...);
 *  - new ids come back with "RETURNING id" at the very end of an INSERT
 *    (the SQLite driver reads the rowid instead), never a rowid call;
 *  - no SQL functions one dialect lacks (no strftime: times are bound);
 *  - "INSERT ... ON CONFLICT ... DO NOTHING/UPDATE" instead of OR IGNORE;
 *  - the comment markers below, which SQLite ignores and PostgreSQL's
 *    driver replaces, ask for row locks where several nodes may race:
 *      DB_SKIP_LOCKED  "FOR UPDATE SKIP LOCKED" (queue and event pops)
 *      DB_LOCK         "FOR UPDATE" (token consumption, sender updates)
 *    A query with one of them must select from a single table (or name
 *    the table with "OF x" inside the marker's replacement: see
 *    DB_SKIP_LOCKED_OF).
 *
 * Nothing here is thread safe: a connection belongs to one thread.
 */
#ifndef ECS_STORE_DB_H
#define ECS_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <ecs/ecs.h>

#include "store.h"

#define DB_SKIP_LOCKED		" /*SKIP_LOCKED*/"
#define DB_LOCK			" /*LOCK*/"
/* "FOR UPDATE OF <alias> SKIP LOCKED": alias is one lower-case letter. */
#define DB_SKIP_LOCKED_OF(a)	" /*SKIP_LOCKED_OF " a "*/"

/* db_step results. */
#define DB_ERROR	-1
#define DB_DONE		0
#define DB_ROW		1

struct db;
struct dbst;

struct db_driver {
	const char	*d_name;		/* "sqlite", "postgresql" */
	/*
	 * Writes that return nothing cost no wait (they go with the next
	 * query): store.c then prefers a conditional write to a look-up
	 * first (PostgreSQL). Without it, a look-up that spares a write is
	 * cheaper (SQLite).
	 */
	int		 d_blind_writes;
	/*
	 * The message tables (messages, links, events, community_messages)
	 * have no foreign keys to the rows that many batches name at once
	 * (resources, participants, memberships, communities): a key check
	 * locks the row it reads, and concurrent batches locking the same
	 * sender and resource rows cost a third of the server's time on
	 * produce (PostgreSQL, schema version 5). Instead a batch that
	 * inserts such rows first runs d_share_refs, a shared lock, and a
	 * deletion of such a row first runs d_lock_refs, which takes it
	 * exclusively: it waits until no other batch that ran d_share_refs
	 * is open, and keeps the next ones waiting until its batch ends.
	 * store.c's inserts read the rows they name in the same statement (a
	 * missing one is NULL, refused by NOT NULL as the key refused it),
	 * and its deletions remove what names the row first. Both NULL where
	 * foreign keys see to it (SQLite).
	 *
	 * With d_share_refs set, links, events and auths have no foreign key
	 * to messages either (schema version 6): an insert naming a message
	 * of an earlier batch reads and locks it in the statement, and a
	 * disposal locks the message before it decides (store.c, NAMED_MSG).
	 */
	const char	*d_share_refs;
	const char	*d_lock_refs;

	/*
	 * Connect to target (a file path, or a libpq connection string),
	 * create or migrate the schema (each version in one transaction),
	 * and set the durability (sqlite: synchronous FULL or NORMAL;
	 * postgresql: synchronous_commit on or off).
	 */
	enum ecs_err	 (*d_open)(const char *target, int durable,
			    struct db **, struct ecs_error *);
	void		 (*d_close)(struct db *);

	/* Prepare sql (see the conventions above); NULL on failure. */
	struct dbst	*(*d_prepare)(struct db *, const char *sql);
	void		 (*d_finalize)(struct dbst *);
	/* Forget the last execution's rows and every binding. */
	void		 (*d_reset)(struct dbst *);
	void		 (*d_bind_int64)(struct dbst *, int, int64_t);
	/* NULL binds SQL NULL. Text and blobs are copied. */
	void		 (*d_bind_text)(struct dbst *, int, const char *);
	void		 (*d_bind_blob)(struct dbst *, int, const void *,
			    size_t);
	/* Run (first call after reset) or advance: DB_ROW, DB_DONE, DB_ERROR. */
	int		 (*d_step)(struct dbst *);
	int		 (*d_column_null)(struct dbst *, int);
	int64_t		 (*d_column_int64)(struct dbst *, int);
	/* NUL-terminated; NULL for SQL NULL; valid until the next step. */
	const char	*(*d_column_text)(struct dbst *, int);
	const void	*(*d_column_blob)(struct dbst *, int);
	size_t		 (*d_column_bytes)(struct dbst *, int);
	/* Rows changed by the connection's last INSERT, UPDATE or DELETE. */
	int64_t		 (*d_changes)(struct db *);

	/* Run one or more statements without parameters or rows. */
	enum ecs_err	 (*d_exec)(struct db *, const char *sql);
	/* Open the batch transaction ("BEGIN IMMEDIATE" / "BEGIN"). */
	enum ecs_err	 (*d_begin)(struct db *);
	/* The failure of the last call, as an ecs error, and its text. */
	enum ecs_err	 (*d_error)(struct db *);
	const char	*(*d_errmsg)(struct db *);
	/* Whether a transaction is open on the connection. */
	int		 (*d_in_tx)(struct db *);
	enum ecs_err	 (*d_integrity_check)(struct db *);

	/*
	 * Optional (NULL when the backend has none).
	 * d_background: start the backend's own helper thread (SQLite: the
	 * WAL checkpointer; PostgreSQL: vacuums); it stops in d_close.
	 * d_notify: queue a notification that other nodes receive when the
	 * current transaction commits (channel "ecs_events" with a payload
	 * of participant ids, "ecs_gen" when cached lookups went stale).
	 * d_notify_fd / d_notify_read: a descriptor to watch for reading, and
	 * the notifications that arrived from other nodes since the last
	 * call: participant ids into pids, *stale set when a node changed
	 * what lookups cache.
	 */
	enum ecs_err	 (*d_background)(struct db *, const char *target);
	enum ecs_err	 (*d_notify)(struct db *, const char *channel,
			    const char *payload);
	int		 (*d_notify_fd)(struct db *);
	enum ecs_err	 (*d_notify_read)(struct db *, struct ivec *pids,
			    int *stale);
	/*
	 * After rows were inserted with explicit ids (ecsctl migrate): make
	 * the id generators continue past the largest id of every table.
	 */
	enum ecs_err	 (*d_sync_ids)(struct db *);
	/*
	 * The longest wait for the database's answer to a command, in
	 * seconds (0: no limit, the default); then the command fails with
	 * ECS_EBUSY and the connection is made again (PostgreSQL).
	 */
	void		 (*d_timeout)(struct db *, int seconds);
};

/* Every driver struct starts with these. */
struct db {
	const struct db_driver	*db_drv;
};

struct dbst {
	struct db		*ds_db;
};

/*
 * The driver of a target: "sqlite:PATH", "postgresql:DSN" or a bare PATH
 * (SQLite); *rest is what follows the scheme. NULL for "postgresql:" in a
 * build without it.
 */
const struct db_driver	*db_driver_for(const char *target, const char **rest);

extern const struct db_driver db_sqlite;
#ifdef HAVE_POSTGRESQL
extern const struct db_driver db_postgresql;
#endif

#endif /* ECS_STORE_DB_H */
