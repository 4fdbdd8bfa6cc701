/*
 * test_store.c: the SQLite store of libecs against a real database in a
 * temporary directory.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "buf.h"
#include "json.h"
#include "store.h"

#define NOW	((time_t)1393927200)	/* 2014-03-04T10:00:00Z */

struct fx {
	char		 f_dir[256];
	char		 f_db[300];
	struct store	*f_s;
};

static int
setup(void **state)
{
	struct fx		*f;
	struct ecs_error	 err;
	const char		*tmp = getenv("TMPDIR");

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(f->f_dir, sizeof(f->f_dir), "%s/test_store.XXXXXX", tmp);
	if (mkdtemp(f->f_dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->f_db, sizeof(f->f_db), "%s/ecsd.db", f->f_dir);
	memset(&err, 0, sizeof(err));
	if (store_open(f->f_db, 0, &f->f_s, &err) != ECS_OK) {
		fprintf(stderr, "store_open: %s\n", err.e_msg);
		rmdir(f->f_dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*f = *state;
	DIR		*d;
	struct dirent	*de;
	char		 p[600];

	store_close(f->f_s);
	if ((d = opendir(f->f_dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->f_dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(f->f_dir);
	free(f);
	return 0;
}

/* Close and open the database again. */
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

static void
reopen(struct fx *f)
{
	struct ecs_error	 err;

	store_close(f->f_s);
	f->f_s = NULL;
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open(f->f_db, 0, &f->f_s, &err), ECS_OK);
}

/* The 32-bit big-endian field at off in the database header. */
static uint32_t
header_u32(const char *path, off_t off)
{
	unsigned char	 b[4];
	int		 fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 4, off), 4);
	close(fd);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

static void
header_put_u32(const char *path, off_t off, uint32_t v)
{
	unsigned char	 b[4];
	int		 fd;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, 4, off), 4);
	close(fd);
}

static struct json *
parse(const char *text)
{
	struct json	*j = NULL;

	assert_int_equal(json_parse(text, strlen(text), &j), ECS_OK);
	return j;
}

/* Create an admin object from JSON text; its id. */
static int64_t
create(struct store *s, const char *kind, const char *text)
{
	struct json		*j = parse(text);
	struct ecs_error	 err;
	int64_t			 id = 0;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	e = store_admin_create(s, kind, j, &id, &err);
	json_free(j);
	if (e != ECS_OK)
		fail_msg("create %s %s: %s", kind, text, err.e_msg);
	assert_true(id > 0);
	return id;
}

/* A create that must fail with code and a text containing want. */
static void
create_fails(struct store *s, const char *kind, const char *text,
    enum ecs_err code, const char *want)
{
	struct json		*j = parse(text);
	struct ecs_error	 err;
	int64_t			 id = 0;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	/* A failed request leaves nothing behind, as in the daemon. */
	assert_int_equal(store_savepoint(s), ECS_OK);
	e = store_admin_create(s, kind, j, &id, &err);
	store_rollback_savepoint(s);
	json_free(j);
	assert_int_equal(e, code);
	if (strstr(err.e_msg, want) == NULL)
		fail_msg("create %s %s: \"%s\" lacks \"%s\"", kind, text,
		    err.e_msg, want);
}

static int64_t
find(struct store *s, const char *kind, const char *text)
{
	struct json	*j = parse(text);
	int64_t		 id = 0;
	enum ecs_err	 e;

	e = store_admin_find(s, kind, j, &id);
	json_free(j);
	return e == ECS_OK ? id : e == ECS_ENOTFOUND ? 0 : -1;
}

/* The admin representation of one object, parsed; NULL if absent. */
static struct json *
get(struct store *s, const char *kind, int64_t id)
{
	struct buf	 b;
	struct jw	 w;
	struct json	*j = NULL;
	enum ecs_err	 e;

	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	e = store_admin_get(s, kind, id, &w);
	if (e == ECS_OK)
		assert_int_equal(json_parse(b.b_data, b.b_len, &j), ECS_OK);
	else
		assert_int_equal(e, ECS_ENOTFOUND);
	buf_free(&b);
	return j;
}

/* A participant in a fresh organization and community; its pid. */
static int64_t
participant(struct store *s, const char *name, int64_t *cid)
{
	char	 o[300], c[300], p[600];
	int64_t	 org;

	snprintf(o, sizeof(o), "{\"name\":\"org-%s\",\"abbr\":\"%s\"}", name,
	    name);
	org = create(s, "organizations", o);
	snprintf(c, sizeof(c), "{\"name\":\"c-%s\"}", name);
	*cid = create(s, "communities", c);
	snprintf(p, sizeof(p), "{\"name\":\"%s\",\"organization_id\":%lld,"
	    "\"auth_ids\":[\"%s\"],\"communities\":[%lld]}", name,
	    (long long)org, name, (long long)*cid);
	return create(s, "participants", p);
}

static int64_t
resource(struct store *s)
{
	return create(s, "resources",
	    "{\"namespace\":\"numlab\",\"name\":\"exercises\"}");
}

static int64_t
message(struct store *s, int64_t res, int64_t sender, const char *body)
{
	int64_t	 id = 0;

	assert_int_equal(store_msg_insert(s, res, sender, "text/plain", body,
	    strlen(body), NOW, &id), ECS_OK);
	return id;
}

/* --- opening -------------------------------------------------------------- */

static void
open_applies_the_schema_with_its_seed_data(void **state)
{
	struct fx		*f = *state;
	struct ecs_resource	 r;
	struct ecs_participant	 p;
	int64_t			 cid = 0;

	assert_int_equal(store_resource_find(f->f_s, "sys", "auths", &r),
	    ECS_OK);
	assert_string_equal(r.r_ns, "sys");
	assert_string_equal(r.r_name, "auths");
	assert_int_equal(r.r_postroute, 0);
	assert_int_equal(r.r_events, 0);
	assert_int_equal(store_community_by_name(f->f_s, "public", &cid),
	    ECS_OK);
	assert_true(cid > 0);
	assert_int_equal(find(f->f_s, "organizations",
	    "{\"name\":\"not available\"}") > 0, 1);
	assert_int_equal(find(f->f_s, "organizations",
	    "{\"name\":\"system\"}") > 0, 1);
	assert_int_equal(store_participant_get(f->f_s, find(f->f_s,
	    "participants", "{\"name\":\"ecs\"}"), &p), ECS_OK);
	assert_string_equal(p.p_abbr, "sys");
	assert_string_equal(p.p_ptype, "");
	assert_int_equal(store_integrity_check(f->f_s), ECS_OK);
}

static void
open_records_the_schema_version_and_reopening_keeps_data(void **state)
{
	struct fx	*f = *state;
	int64_t		 id, cid = 0;

	assert_int_equal(store_begin(f->f_s), ECS_OK);
	id = create(f->f_s, "communities", "{\"name\":\"kept\"}");
	assert_int_equal(store_commit(f->f_s), ECS_OK);
	store_close(f->f_s);
	f->f_s = NULL;
	/* PRAGMA user_version lives at offset 60 of the database header. */
	assert_int_equal(header_u32(f->f_db, 60), 4);
	reopen(f);
	assert_int_equal(store_community_by_name(f->f_s, "kept", &cid),
	    ECS_OK);
	assert_int_equal(cid, id);
	/* The seed was not applied twice. */
	assert_int_equal(find(f->f_s, "communities", "{\"name\":\"public\"}"),
	    1);
	assert_int_equal(create(f->f_s, "communities", "{\"name\":\"next\"}"),
	    id + 1);
}

static void
open_refuses_a_database_from_a_newer_schema(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;

	store_close(f->f_s);
	f->f_s = NULL;
	header_put_u32(f->f_db, 60, 5);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open(f->f_db, 0, &f->f_s, &err), ECS_ESTORE);
	assert_non_null(strstr(err.e_msg, "schema version 5 is newer"));
	header_put_u32(f->f_db, 60, 4);
	reopen(f);
}

/* SQL on the database file, outside the store; the store must be closed. */
static void
raw_sql(struct fx *f, const char *sql)
{
	sqlite3	*h = NULL;
	char	*msg = NULL;

	assert_int_equal(sqlite3_open(f->f_db, &h), SQLITE_OK);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : sqlite3_errmsg(h));
	sqlite3_close(h);
}

/* One integer from a query on the database file. */
static int64_t
raw_int(struct fx *f, const char *sql)
{
	sqlite3		*h = NULL;
	sqlite3_stmt	*q = NULL;
	int64_t		 v = -1;

	assert_int_equal(sqlite3_open(f->f_db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return v;
}

/*
 * Version 4 makes the events table without AUTOINCREMENT: a version 3
 * database keeps its events, in order, and new ones come after them.
 */
static void
open_migrates_the_events_of_a_version_3_database(void **state)
{
	struct fx		*f = *state;
	struct ecs_event	*ev = NULL;
	size_t			 n = 0;
	int64_t			 snd, rcv, cid, res, m[4];
	int			 i;

	snd = participant(f->f_s, "snd", &cid);
	rcv = participant(f->f_s, "rcv", &cid);
	res = resource(f->f_s);
	for (i = 0; i < 3; i++) {
		m[i] = message(f->f_s, res, snd, "x");
		assert_int_equal(store_event_add(f->f_s, rcv, m[i], EV_CREATED),
		    ECS_OK);
	}
	store_close(f->f_s);
	f->f_s = NULL;
	/* Back to version 3's events table, as migrate-003.sql made it. */
	raw_sql(f, "PRAGMA foreign_keys = OFF; BEGIN; "
	    "CREATE TABLE events3 (id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "participant_id INTEGER NOT NULL REFERENCES participants(id) "
	    "ON DELETE CASCADE, message_id INTEGER NOT NULL REFERENCES "
	    "messages(id), type INTEGER NOT NULL); "
	    "INSERT INTO events3 SELECT id, participant_id, message_id, type "
	    "FROM events; DROP TABLE events; "
	    "ALTER TABLE events3 RENAME TO events; "
	    "UPDATE sqlite_sequence SET seq = 7 WHERE name = 'events'; "
	    "CREATE INDEX events_queue ON events(participant_id, id); "
	    "CREATE INDEX events_message ON events(message_id); "
	    "PRAGMA user_version = 3; COMMIT");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_sequence "
	    "WHERE name = 'events'"), 1);

	reopen(f);
	store_close(f->f_s);
	f->f_s = NULL;
	assert_int_equal(header_u32(f->f_db, 60), 4);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'events' AND sql LIKE '%AUTOINCREMENT%'"), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_sequence "
	    "WHERE name LIKE 'events%'"), 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'index' AND name IN ('events_queue', "
	    "'events_message')"), 2);
	reopen(f);

	m[3] = message(f->f_s, res, snd, "y");
	assert_int_equal(store_event_add(f->f_s, rcv, m[3], EV_CREATED),
	    ECS_OK);
	assert_int_equal(store_events(f->f_s, rcv, -1, &ev, &n), ECS_OK);
	assert_int_equal(n, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(ev[i].e_msg, m[i]);
	free(ev);
}

/* --- transactions --------------------------------------------------------- */

static void
savepoint_rollback_undoes_one_request_but_keeps_the_batch(void **state)
{
	struct fx	*f = *state;
	int64_t		 cid;

	assert_int_equal(store_begin(f->f_s), ECS_OK);
	assert_int_equal(store_in_tx(f->f_s), 1);

	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	create(f->f_s, "communities", "{\"name\":\"first\"}");
	store_release(f->f_s);

	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	create(f->f_s, "communities", "{\"name\":\"second\"}");
	create(f->f_s, "organizations", "{\"name\":\"o2\",\"abbr\":\"o2\"}");
	store_rollback_savepoint(f->f_s);

	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	create(f->f_s, "communities", "{\"name\":\"third\"}");
	store_release(f->f_s);

	assert_int_equal(store_in_tx(f->f_s), 1);
	assert_int_equal(store_community_by_name(f->f_s, "second", &cid),
	    ECS_ENOTFOUND);
	assert_int_equal(find(f->f_s, "organizations", "{\"name\":\"o2\"}"),
	    0);
	assert_int_equal(store_commit(f->f_s), ECS_OK);
	assert_int_equal(store_in_tx(f->f_s), 0);

	reopen(f);
	assert_int_equal(store_community_by_name(f->f_s, "first", &cid),
	    ECS_OK);
	assert_int_equal(store_community_by_name(f->f_s, "third", &cid),
	    ECS_OK);
	assert_int_equal(store_community_by_name(f->f_s, "second", &cid),
	    ECS_ENOTFOUND);
}

static void
rollback_discards_the_whole_batch(void **state)
{
	struct fx	*f = *state;
	int64_t		 cid;

	assert_int_equal(store_savepoint(f->f_s), ECS_OK);
	assert_int_equal(store_in_tx(f->f_s), 1);
	create(f->f_s, "communities", "{\"name\":\"lost\"}");
	store_release(f->f_s);
	store_rollback(f->f_s);
	assert_int_equal(store_in_tx(f->f_s), 0);
	reopen(f);
	assert_int_equal(store_community_by_name(f->f_s, "lost", &cid),
	    ECS_ENOTFOUND);
}

/* --- the admin model ------------------------------------------------------ */

static void
admin_objects_are_created_found_updated_and_deleted(void **state)
{
	struct fx		*f = *state;
	struct json		*j, *u;
	struct ecs_error	 err;
	int64_t			 org, cid, pid, v;

	assert_int_equal(store_begin(f->f_s), ECS_OK);
	org = create(f->f_s, "organizations",
	    "{\"name\":\"Uni\",\"abbr\":\"U\",\"description\":\"d\"}");
	cid = create(f->f_s, "communities", "{\"name\":\"demo\"}");
	pid = create(f->f_s, "participants", "{\"name\":\"lms1\","
	    "\"organization\":\"Uni\",\"auth_ids\":[\"lms1\",\"lms1b\"],"
	    "\"communities\":[\"demo\"]}");
	assert_int_equal(find(f->f_s, "organizations", "{\"name\":\"Uni\"}"),
	    org);
	assert_int_equal(find(f->f_s, "communities", "{\"name\":\"demo\"}"),
	    cid);
	assert_int_equal(find(f->f_s, "participants", "{\"name\":\"lms1\"}"),
	    pid);
	assert_int_equal(find(f->f_s, "participants", "{\"name\":\"nope\"}"),
	    0);
	assert_int_equal(store_identity_pid(f->f_s, "lms1b", &v), ECS_OK);
	assert_int_equal(v, pid);

	j = get(f->f_s, "participants", pid);
	assert_non_null(j);
	assert_string_equal(json_string(json_get(j, "name")), "lms1");
	assert_string_equal(json_string(json_get(j, "type")), "main");
	assert_int_equal(json_int(json_get(j, "organization_id"), &v), 0);
	assert_int_equal(v, org);
	assert_int_equal(json_type(json_get(j, "events")), JSON_TRUE);
	assert_int_equal(json_type(json_get(j, "community_selfrouting")),
	    JSON_FALSE);
	assert_int_equal(json_len(json_get(j, "auth_ids")), 2);
	assert_int_equal(json_len(json_get(j, "memberships")), 1);
	assert_int_equal(json_int(json_get(json_at(json_get(j, "memberships"),
	    0), "community_id"), &v), 0);
	assert_int_equal(v, cid);
	json_free(j);

	u = parse("{\"description\":\"changed\",\"abbr\":\"UU\"}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_admin_update(f->f_s, "organizations", org, u,
	    &err), ECS_OK);
	json_free(u);
	j = get(f->f_s, "organizations", org);
	assert_string_equal(json_string(json_get(j, "name")), "Uni");
	assert_string_equal(json_string(json_get(j, "abbr")), "UU");
	assert_string_equal(json_string(json_get(j, "description")),
	    "changed");
	json_free(j);

	u = parse("{\"events\":false,\"auth_ids\":[\"lms1c\"]}");
	assert_int_equal(store_admin_update(f->f_s, "participants", pid, u,
	    &err), ECS_OK);
	json_free(u);
	assert_int_equal(store_identity_pid(f->f_s, "lms1b", &v),
	    ECS_ENOTFOUND);
	assert_int_equal(store_identity_pid(f->f_s, "lms1c", &v), ECS_OK);
	j = get(f->f_s, "participants", pid);
	assert_int_equal(json_type(json_get(j, "events")), JSON_FALSE);
	assert_string_equal(json_string(json_get(j, "name")), "lms1");
	json_free(j);

	u = parse("{\"name\":\"x\"}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_admin_update(f->f_s, "communities", 999, u,
	    &err), ECS_ENOTFOUND);
	json_free(u);

	assert_int_equal(store_admin_delete(f->f_s, "participants", pid),
	    ECS_OK);
	assert_null(get(f->f_s, "participants", pid));
	assert_int_equal(store_identity_pid(f->f_s, "lms1c", &v),
	    ECS_ENOTFOUND);
	assert_int_equal(store_admin_delete(f->f_s, "communities", cid),
	    ECS_OK);
	assert_null(get(f->f_s, "communities", cid));
	assert_int_equal(store_admin_delete(f->f_s, "organizations", org),
	    ECS_OK);
	assert_int_equal(find(f->f_s, "organizations", "{\"name\":\"Uni\"}"),
	    0);
	assert_int_equal(store_commit(f->f_s), ECS_OK);
}

static void
admin_resources_are_found_by_namespace_and_name(void **state)
{
	struct fx	*f = *state;
	struct json	*j;
	int64_t		 id;

	id = create(f->f_s, "resources", "{\"namespace\":\"numlab\","
	    "\"name\":\"exercises\",\"postroute\":true}");
	assert_int_equal(find(f->f_s, "resources",
	    "{\"namespace\":\"numlab\",\"name\":\"exercises\"}"), id);
	assert_int_equal(find(f->f_s, "resources",
	    "{\"namespace\":\"other\",\"name\":\"exercises\"}"), 0);
	assert_int_equal(find(f->f_s, "resources", "{\"name\":\"exercises\"}"),
	    0);
	j = get(f->f_s, "resources", id);
	assert_int_equal(json_type(json_get(j, "postroute")), JSON_TRUE);
	assert_int_equal(json_type(json_get(j, "events")), JSON_TRUE);
	json_free(j);
}

static void
admin_duplicate_names_are_refused_with_eexist(void **state)
{
	struct fx	*f = *state;
	int64_t		 cid, pid;
	char		 m[200];

	create(f->f_s, "organizations", "{\"name\":\"Uni\",\"abbr\":\"U\"}");
	create_fails(f->f_s, "organizations",
	    "{\"name\":\"Uni\",\"abbr\":\"V\"}", ECS_EEXIST, "already exists");
	create_fails(f->f_s, "organizations",
	    "{\"name\":\"Other\",\"abbr\":\"U\"}", ECS_EEXIST,
	    "already exists");
	create_fails(f->f_s, "communities", "{\"name\":\"public\"}",
	    ECS_EEXIST, "community name already exists");
	create(f->f_s, "resources", "{\"namespace\":\"a\",\"name\":\"b\"}");
	create_fails(f->f_s, "resources",
	    "{\"namespace\":\"a\",\"name\":\"b\"}", ECS_EEXIST,
	    "resource already exists");
	pid = create(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization\":\"Uni\",\"auth_ids\":[\"p\"],"
	    "\"communities\":[\"public\"]}");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization\":\"Uni\"}", ECS_EEXIST,
	    "participant name already exists");
	create_fails(f->f_s, "participants", "{\"name\":\"q\","
	    "\"organization\":\"Uni\",\"auth_ids\":[\"p\"]}", ECS_EEXIST,
	    "auth id already exists");
	assert_int_equal(store_community_by_name(f->f_s, "public", &cid),
	    ECS_OK);
	snprintf(m, sizeof(m), "{\"participant_id\":%lld,"
	    "\"community_id\":%lld}", (long long)pid, (long long)cid);
	create_fails(f->f_s, "memberships", m, ECS_EEXIST,
	    "membership already exists");
}

static void
admin_bad_fields_are_refused_naming_the_field(void **state)
{
	struct fx		*f = *state;
	struct json		*j;
	struct ecs_error	 err;
	int64_t			 pid, mid;

	create_fails(f->f_s, "organizations", "{\"name\":\"x\"}", ECS_EINVAL,
	    "abbr: required string missing");
	create_fails(f->f_s, "organizations", "{\"name\":7,\"abbr\":\"x\"}",
	    ECS_EINVAL, "name: must be a string");
	create_fails(f->f_s, "communities", "{\"name\":\"  \"}", ECS_EINVAL,
	    "name: must not be blank");
	create_fails(f->f_s, "resources", "{\"namespace\":\"sys\","
	    "\"name\":\"x\"}", ECS_EINVAL, "namespace: sys is reserved");
	create_fails(f->f_s, "resources", "{\"namespace\":\"a b\","
	    "\"name\":\"x\"}", ECS_EINVAL, "namespace: must match");
	create_fails(f->f_s, "resources", "{\"namespace\":\"a\","
	    "\"name\":\"x\",\"postroute\":\"yes\"}", ECS_EINVAL,
	    "postroute: must be true or false");
	create_fails(f->f_s, "participants", "{\"name\":\"p\"}", ECS_EINVAL,
	    "organization_id: required");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":\"one\"}", ECS_EINVAL,
	    "organization_id: must be a positive integer");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":999}", ECS_EINVAL,
	    "organization_id: no such organization");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization\":\"nowhere\"}", ECS_EINVAL,
	    "organization: no organization named nowhere");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":1,\"communities\":[\"nowhere\"]}",
	    ECS_EINVAL, "communities: no community named nowhere");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":1,\"communities\":[999]}", ECS_EINVAL,
	    "communities: unknown community id");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":1,\"auth_ids\":\"p\"}", ECS_EINVAL,
	    "auth_ids: must be an array");
	create_fails(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":1,\"auth_ids\":[\"\"]}", ECS_EINVAL,
	    "auth_ids: must hold non-blank strings");
	create_fails(f->f_s, "memberships", "{\"community_id\":1}",
	    ECS_EINVAL, "participant_id: required");
	create_fails(f->f_s, "memberships", "{\"participant_id\":999,"
	    "\"community_id\":1}", ECS_ENOTFOUND,
	    "participant_id: no such participant");
	create_fails(f->f_s, "communities", "[]", ECS_EINVAL,
	    "body: must be a JSON object");

	pid = create(f->f_s, "participants", "{\"name\":\"p\","
	    "\"organization_id\":1,\"communities\":[\"public\"]}");
	assert_int_equal(store_member_mid(f->f_s, pid, 1, &mid), ECS_OK);
	j = parse("{\"community_id\":1}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_admin_update(f->f_s, "memberships", mid, j,
	    &err), ECS_EINVAL);
	assert_string_equal(err.e_msg, "membership cannot be changed");
	assert_int_equal(store_admin_update(f->f_s, "memberships", mid + 1, j,
	    &err), ECS_ENOTFOUND);
	json_free(j);
}

/* --- queues, events, disposal --------------------------------------------- */

static void
fifo_peeks_the_lowest_id_and_lifo_the_highest(void **state)
{
	struct fx	*f = *state;
	int64_t		 snd, rcv, cs, cr, res, mid, a, b, c;

	snd = participant(f->f_s, "snd", &cs);
	rcv = participant(f->f_s, "rcv", &cr);
	res = resource(f->f_s);
	assert_int_equal(store_member_mid(f->f_s, rcv, cr, &mid), ECS_OK);

	assert_int_equal(peek(f->f_s, rcv, res, 0), 0);
	a = message(f->f_s, res, snd, "a");
	b = message(f->f_s, res, snd, "b");
	c = message(f->f_s, res, snd, "c");
	assert_int_equal(store_link_add(f->f_s, mid, b, res), ECS_OK);
	assert_int_equal(store_link_add(f->f_s, mid, c, res), ECS_OK);
	assert_int_equal(store_link_add(f->f_s, mid, a, res), ECS_OK);

	assert_int_equal(peek(f->f_s, rcv, res, 0), a);
	assert_int_equal(peek(f->f_s, rcv, res, 1), c);
	/* The message comes whole, with all its links. */
	{
		struct ecs_msg		 m;
		struct ecs_linkv	 lv;
		int64_t			 other, co, omid, smid;

		other = participant(f->f_s, "other", &co);
		assert_int_equal(store_member_mid(f->f_s, other, co, &omid),
		    ECS_OK);
		assert_int_equal(store_link_add(f->f_s, omid, c, res), ECS_OK);
		assert_int_equal(store_member_mid(f->f_s, snd, cs, &smid),
		    ECS_OK);
		assert_int_equal(store_queue_peek(f->f_s, rcv, res, 1, &m,
		    &lv), ECS_OK);
		assert_int_equal(m.m_id, c);
		assert_int_equal(m.m_sender, snd);
		assert_int_equal(m.m_resource_id, res);
		assert_int_equal(m.m_len, 1);
		assert_string_equal(m.m_body, "c");
		assert_int_equal(lv.lv_n, 2);
		assert_int_equal(lv.lv_v[0].l_mid, mid < omid ? mid : omid);
		assert_int_equal(lv.lv_v[1].l_mid, mid < omid ? omid : mid);
		assert_int_equal(lv.lv_v[mid < omid ? 0 : 1].l_pid, rcv);
		assert_int_equal(lv.lv_v[mid < omid ? 1 : 0].l_pid, other);
		/* The sender's mid in the receiver's community, if any. */
		assert_int_equal(lv.lv_v[mid < omid ? 0 : 1].l_sender_mid,
		    cs == cr ? smid : -1);
		store_msg_clear(&m);
		linkv_free(&lv);
		/* The body of a message with several links comes once. */
		assert_int_equal(store_queue_peek(f->f_s, other, res, 0, &m,
		    &lv), ECS_OK);
		assert_int_equal(m.m_id, c);
		assert_string_equal(m.m_body, "c");
		store_msg_clear(&m);
		linkv_free(&lv);
		assert_int_equal(store_link_delete(f->f_s, omid, c), ECS_OK);
	}
	/* The sender has no queue for what it only sent. */
	assert_int_equal(peek(f->f_s, snd, res, 0), 0);

	assert_int_equal(store_links_delete_pid(f->f_s, a, rcv), ECS_OK);
	assert_int_equal(peek(f->f_s, rcv, res, 0), b);
}

static void
event_of_the_same_type_twice_is_queued_once(void **state)
{
	struct fx		*f = *state;
	struct ecs_event	*ev = NULL;
	size_t			 n = 0;
	int64_t			 snd, rcv, cid, res, msg;

	snd = participant(f->f_s, "snd", &cid);
	rcv = participant(f->f_s, "rcv", &cid);
	res = resource(f->f_s);
	msg = message(f->f_s, res, snd, "x");

	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_CREATED), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_CREATED), ECS_OK);
	assert_int_equal(store_events(f->f_s, rcv, -1, &ev, &n), ECS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].e_type, EV_CREATED);
	assert_int_equal(ev[0].e_msg, msg);
	free(ev);

	/* Only the most recent event counts: created, updated, created. */
	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_UPDATED), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_UPDATED), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_CREATED), ECS_OK);
	assert_int_equal(store_events(f->f_s, rcv, -1, &ev, &n), ECS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(ev[1].e_type, EV_UPDATED);
	assert_int_equal(ev[2].e_type, EV_CREATED);
	assert_true(ev[0].e_id < ev[1].e_id && ev[1].e_id < ev[2].e_id);
	free(ev);

	/* Another participant's events are its own. */
	assert_int_equal(store_event_add(f->f_s, snd, msg, EV_CREATED), ECS_OK);
	assert_int_equal(store_events(f->f_s, snd, 5, &ev, &n), ECS_OK);
	assert_int_equal(n, 1);
	free(ev);
	assert_int_equal(store_events(f->f_s, rcv, 2, &ev, &n), ECS_OK);
	assert_int_equal(n, 2);
	free(ev);
}

static void
dispose_tombstones_a_message_an_event_refers_to(void **state)
{
	struct fx		*f = *state;
	struct ecs_msg		 m;
	struct ecs_event	*ev = NULL;
	size_t			 n = 0;
	int64_t			 snd, rcv, cid, res, mid, msg, cnt, x;
	char			 path[300];

	snd = participant(f->f_s, "snd", &cid);
	rcv = participant(f->f_s, "rcv", &cid);
	assert_int_equal(store_member_mid(f->f_s, rcv, cid, &mid), ECS_OK);
	res = resource(f->f_s);
	msg = message(f->f_s, res, snd, "secret");
	assert_int_equal(store_link_add(f->f_s, mid, msg, res), ECS_OK);
	assert_int_equal(store_community_record(f->f_s, cid, msg), ECS_OK);
	assert_int_equal(store_auth_put(f->f_s, msg, "abc", NOW), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, rcv, msg, EV_CREATED), ECS_OK);

	assert_int_equal(store_links_delete(f->f_s, msg), ECS_OK);
	assert_int_equal(store_msg_dispose(f->f_s, msg, 1), ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, msg, &m), ECS_OK);
	assert_int_equal(m.m_removed, 1);
	assert_int_equal(m.m_len, 0);
	assert_int_equal(m.m_version, 2);
	store_msg_clear(&m);
	assert_int_equal(store_msg_link_count(f->f_s, msg, &cnt), ECS_OK);
	assert_int_equal(cnt, 0);
	assert_int_equal(store_auth_by_hash(f->f_s, "abc", &x), ECS_ENOTFOUND);
	assert_int_equal(peek(f->f_s, rcv, res, 0), 0);

	/* The event still names the tombstone. */
	assert_int_equal(store_events(f->f_s, rcv, -1, &ev, &n), ECS_OK);
	assert_int_equal(n, 1);
	snprintf(path, sizeof(path), "numlab/exercises/%lld", (long long)msg);
	assert_string_equal(ev[0].e_path, path);
	free(ev);
}

static void
dispose_deletes_a_message_no_event_refers_to(void **state)
{
	struct fx	*f = *state;
	struct ecs_msg	 m;
	int64_t		 snd, cid, res, msg;

	snd = participant(f->f_s, "snd", &cid);
	res = resource(f->f_s);
	msg = message(f->f_s, res, snd, "x");
	assert_int_equal(store_community_record(f->f_s, cid, msg), ECS_OK);
	assert_int_equal(store_msg_dispose(f->f_s, msg, 0), ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, msg, &m), ECS_ENOTFOUND);
}

static void
event_delete_removes_the_tombstone_with_its_last_event(void **state)
{
	struct fx		*f = *state;
	struct ecs_msg		 m;
	struct ecs_event	*e1 = NULL, *e2 = NULL;
	size_t			 n1 = 0, n2 = 0;
	int64_t			 snd, a, b, cid, res, msg, live;

	snd = participant(f->f_s, "snd", &cid);
	a = participant(f->f_s, "a", &cid);
	b = participant(f->f_s, "b", &cid);
	res = resource(f->f_s);
	msg = message(f->f_s, res, snd, "x");
	live = message(f->f_s, res, snd, "y");
	assert_int_equal(store_event_add(f->f_s, a, msg, EV_DESTROYED), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, b, msg, EV_DESTROYED), ECS_OK);
	assert_int_equal(store_event_add(f->f_s, a, live, EV_CREATED), ECS_OK);
	assert_int_equal(store_msg_dispose(f->f_s, msg, 0), ECS_OK);

	assert_int_equal(store_events(f->f_s, a, -1, &e1, &n1), ECS_OK);
	assert_int_equal(n1, 2);
	assert_int_equal(store_events(f->f_s, b, -1, &e2, &n2), ECS_OK);
	assert_int_equal(n2, 1);

	assert_int_equal(store_event_delete(f->f_s, e1[0].e_id, e1[0].e_msg),
	    ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, msg, &m), ECS_OK);
	assert_int_equal(m.m_removed, 1);
	store_msg_clear(&m);

	assert_int_equal(store_event_delete(f->f_s, e2[0].e_id, e2[0].e_msg),
	    ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, msg, &m), ECS_ENOTFOUND);

	/* A live message stays when its last event goes. */
	assert_int_equal(store_event_delete(f->f_s, e1[1].e_id, e1[1].e_msg),
	    ECS_OK);
	assert_int_equal(store_msg_get(f->f_s, live, &m), ECS_OK);
	assert_int_equal(m.m_removed, 0);
	assert_string_equal(m.m_body, "y");
	store_msg_clear(&m);
	free(e1);
	free(e2);
}

/* --- the durable store's WAL (store_sqlite_wal.c) ------------------------ */

/* A body of n bytes that differs for each seed and at every offset. */
static char *
body_of(size_t n, unsigned seed)
{
	char	*b;
	size_t	 i;

	b = malloc(n + 1);
	assert_non_null(b);
	for (i = 0; i < n; i++)
		b[i] = 'a' + (char)((i * 7 + seed * 13 + i / 4096) % 26);
	b[n] = '\0';
	return b;
}

/*
 * Another connection, on SQLite's own VFS, reads what the store committed:
 * the count of messages and each body, compared byte for byte.
 */
static void
check_bodies(const char *db, const int64_t *ids, const size_t *sizes,
    size_t n)
{
	sqlite3		*h;
	sqlite3_stmt	*q;
	size_t		 i;
	char		*want;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT body FROM messages "
	    "WHERE id = ?", -1, &q, NULL), SQLITE_OK);
	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(q, 1, ids[i]);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal((size_t)sqlite3_column_bytes(q, 0), sizes[i]);
		want = body_of(sizes[i], (unsigned)i);
		assert_memory_equal(sqlite3_column_blob(q, 0), want, sizes[i]);
		free(want);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1,
	    &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(h);
}

/*
 * One durable transaction of count messages of the sizes in want (ids and
 * sizes grow by count at *n), committed and read back at once.
 */
static void
commit_batch(struct fx *f, int64_t res, int64_t snd, int64_t *ids,
    size_t *sizes, size_t *n, const size_t *want, size_t count)
{
	size_t	 i;
	char	*b;

	assert_int_equal(store_begin(f->f_s), ECS_OK);
	for (i = 0; i < count; i++, (*n)++) {
		sizes[*n] = want[i];
		b = body_of(want[i], (unsigned)*n);
		ids[*n] = message(f->f_s, res, snd, b);
		free(b);
	}
	assert_int_equal(store_commit(f->f_s), ECS_OK);
	check_bodies(f->f_db, ids, sizes, *n);
}

/*
 * Durable, the writer's WAL frames are gathered and written at the sync.
 * What each commit wrote must be in the file when the commit returns, for
 * every size of transaction: small ones, a body larger than the buffer,
 * more pages than the page cache holds. A rolled back batch leaves
 * nothing, and the database stays whole after a reopen.
 */
static void
durable_commits_are_in_the_wal_when_the_commit_returns(void **state)
{
	struct fx		*f = *state;
	struct ecs_error	 err;
	struct ecs_msg		 m;
	int64_t			 res, snd, cid, ids[400], gone;
	size_t			 sizes[400], want[300], n = 0, i, k;
	char			*b;

	store_close(f->f_s);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_open(f->f_db, 1, &f->f_s, &err), ECS_OK);
	res = resource(f->f_s);
	snd = participant(f->f_s, "walsender", &cid);
	/* Batches of 16 small messages, as under load. */
	for (k = 0; k < 5; k++) {
		for (i = 0; i < 16; i++)
			want[i] = 100 + (n + i) * 37 % 900;
		commit_batch(f, res, snd, ids, sizes, &n, want, 16);
	}
	/* One body larger than the buffer, between two small ones. */
	want[0] = want[2] = 50;
	want[1] = 300 * 1024;
	commit_batch(f, res, snd, ids, sizes, &n, want, 3);
	/* Some 4 MB in one transaction: more than SQLite's page cache. */
	for (i = 0; i < 300; i++)
		want[i] = 14000 + i;
	commit_batch(f, res, snd, ids, sizes, &n, want, 300);
	/* A batch rolled back leaves no trace. */
	assert_int_equal(store_begin(f->f_s), ECS_OK);
	b = body_of(200 * 1024, 9999);
	gone = message(f->f_s, res, snd, b);
	free(b);
	store_rollback(f->f_s);
	check_bodies(f->f_db, ids, sizes, n);
	/* Reopened, durable again: all there, and the rolled back one not. */
	store_close(f->f_s);
	assert_int_equal(store_open(f->f_db, 1, &f->f_s, &err), ECS_OK);
	check_bodies(f->f_db, ids, sizes, n);
	assert_int_equal(store_msg_get(f->f_s, ids[n - 1], &m), ECS_OK);
	assert_int_equal(m.m_len, sizes[n - 1]);
	store_msg_clear(&m);
	assert_int_not_equal(store_msg_get(f->f_s, gone, &m), ECS_OK);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test_setup_teardown(
		    open_applies_the_schema_with_its_seed_data,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    open_records_the_schema_version_and_reopening_keeps_data,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    open_refuses_a_database_from_a_newer_schema,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    open_migrates_the_events_of_a_version_3_database,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    savepoint_rollback_undoes_one_request_but_keeps_the_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    rollback_discards_the_whole_batch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    admin_objects_are_created_found_updated_and_deleted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    admin_resources_are_found_by_namespace_and_name,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    admin_duplicate_names_are_refused_with_eexist,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    admin_bad_fields_are_refused_naming_the_field,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    fifo_peeks_the_lowest_id_and_lifo_the_highest,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    event_of_the_same_type_twice_is_queued_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    dispose_tombstones_a_message_an_event_refers_to,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    dispose_deletes_a_message_no_event_refers_to,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    event_delete_removes_the_tombstone_with_its_last_event,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    durable_commits_are_in_the_wal_when_the_commit_returns,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
