/*
 * fuzz_broker.c: the broker with fuzzed request parts, against a temporary
 * SQLite database provisioned once per process. Every input runs in one
 * transaction that is rolled back afterwards, so inputs do not see each
 * other and the database never grows.
 *
 * Input: byte 0 picks the operation ('0'..'9' map to 0..9), byte 1 is a
 * flag byte ('@' + bits), the rest is the payload.
 *
 *	0 broker_msg_create on numlab/exercises
 *	1 broker_msg_create on sys/auths (one-touch token JSON)
 *	2 broker_msg_create on numlab/courses (postrouted)
 *	3 broker_apply with the payload as setup document
 *	4 broker_subpart_create with the payload as JSON (empty: defaults)
 *	5-9 store_admin_create of organizations, communities, resources,
 *	    participants, memberships
 *
 * Flags: bits 0-2 choose the caller p1..p5 ((bits % 5) + 1); for the
 * creates, bit 3 drops Content-Type, bit 4 X-EcsReceiverMemberships, bit 5
 * X-EcsReceiverCommunities. A create's payload is four fields split at the
 * first three newlines: Content-Type, X-EcsReceiverMemberships,
 * X-EcsReceiverCommunities, then the body (which may hold anything).
 * A missing field counts as an absent header.
 *
 * After a successful create every participant pops its queue, the sender
 * shows and details the message, and the events are read, so that what
 * was stored is read back through the broker.
 *
 * The fixture (memberships in the order created, mids from 1 upwards after
 * the seed objects; see corpus/README):
 *	p1 (U1) alpha beta, p2 alpha, p3 beta, p4 alpha beta (selfrouting),
 *	p5 gamma.
 */
#include "config.h"

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "buf.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define NOW	((time_t)1393927200)	/* 2014-03-04T10:00:00Z */

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	 LLVMFuzzerInitialize(int *, char ***);

static const char setup_doc[] =
    "{\"organizations\":["
    "  {\"name\":\"Uni One\",\"abbr\":\"U1\",\"description\":\"\"},"
    "  {\"name\":\"Uni Two\",\"abbr\":\"U2\"}],"
    " \"communities\":["
    "  {\"name\":\"alpha\",\"description\":\"A\"},"
    "  {\"name\":\"beta\"},{\"name\":\"gamma\"}],"
    " \"resources\":["
    "  {\"namespace\":\"numlab\",\"name\":\"exercises\","
    "   \"postroute\":false,\"events\":true},"
    "  {\"namespace\":\"numlab\",\"name\":\"courses\","
    "   \"postroute\":true,\"events\":true}],"
    " \"participants\":["
    "  {\"name\":\"p1\",\"organization\":\"Uni One\",\"auth_ids\":[\"p1\"],"
    "   \"communities\":[\"alpha\",\"beta\"]},"
    "  {\"name\":\"p2\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p2\"],"
    "   \"communities\":[\"alpha\"]},"
    "  {\"name\":\"p3\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p3\"],"
    "   \"communities\":[\"beta\"]},"
    "  {\"name\":\"p4\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p4\"],"
    "   \"community_selfrouting\":true,\"communities\":[\"alpha\",\"beta\"]},"
    "  {\"name\":\"p5\",\"organization\":\"Uni Two\",\"auth_ids\":[\"p5\"],"
    "   \"communities\":[\"gamma\"]}]}";

static const char *const kinds[] = {
	"organizations", "communities", "resources", "participants",
	"memberships"
};

static struct {
	int			 verbose;	/* FUZZ_VERBOSE set */
	char			 dir[256];
	struct store		*s;
	struct ecs_participant	 p[6];		/* p[1] is p1 */
	struct ecs_resource	 ex, auths, co;
} fx;

static void
die(const char *what, const struct ecs_error *err)
{
	fprintf(stderr, "fuzz_broker: %s%s%s\n", what, err ? ": " : "",
	    err ? err->e_msg : "");
	exit(1);
}

static void
cleanup(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[600];

	if (fx.s != NULL) {
		store_rollback(fx.s);
		store_close(fx.s);
		fx.s = NULL;
	}
	if (fx.dir[0] == '\0' || (d = opendir(fx.dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", fx.dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(fx.dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char		*tmp = getenv("TMPDIR");
	char			 db[300], name[16];
	struct ecs_error	 err;
	struct json		*doc = NULL;
	struct buf		 b;
	struct jw		 w;
	int64_t			 pid;
	int			 i;

	(void)argc;
	(void)argv;
	memset(&err, 0, sizeof(err));
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	fx.verbose = getenv("FUZZ_VERBOSE") != NULL;
	snprintf(fx.dir, sizeof(fx.dir), "%s/fuzz_broker.XXXXXX", tmp);
	if (mkdtemp(fx.dir) == NULL)
		die("mkdtemp", NULL);
	atexit(cleanup);
	snprintf(db, sizeof(db), "%s/ecsd.db", fx.dir);
	if (store_open(db, 0, &fx.s, &err) != ECS_OK)
		die("store_open", &err);
	if (json_parse(setup_doc, strlen(setup_doc), &doc) != ECS_OK)
		die("setup document", NULL);
	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	if (store_savepoint(fx.s) != ECS_OK ||
	    broker_apply(fx.s, doc, &w, &err) != ECS_OK)
		die("broker_apply", &err);
	store_release(fx.s);
	if (store_commit(fx.s) != ECS_OK)
		die("store_commit", NULL);
	json_free(doc);
	buf_free(&b);
	for (i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		if (broker_auth_id(fx.s, name, &pid, &err) != ECS_OK ||
		    store_participant_get(fx.s, pid, &fx.p[i]) != ECS_OK)
			die("participant", &err);
	}
	if (store_resource_find(fx.s, "numlab", "exercises", &fx.ex) !=
	    ECS_OK ||
	    store_resource_find(fx.s, "numlab", "courses", &fx.co) != ECS_OK ||
	    store_resource_find(fx.s, "sys", "auths", &fx.auths) != ECS_OK)
		die("resources", NULL);
	return 0;
}

/* With FUZZ_VERBOSE, say how an operation ended (for writing seeds). */
static void
report(const char *what, enum ecs_err e, const struct ecs_error *err)
{
	if (fx.verbose)
		fprintf(stderr, "%s: %s%s%s\n", what, ecs_strerror(e),
		    e != ECS_OK ? ": " : "", e != ECS_OK ? err->e_msg : "");
}

/* Next newline-terminated field of [*p, end) as a new string, or NULL. */
static char *
field(const char **p, const char *end)
{
	const char	*nl;
	char		*f;
	size_t		 n;

	if (*p >= end)
		return NULL;
	if ((nl = memchr(*p, '\n', (size_t)(end - *p))) == NULL)
		return NULL;
	n = (size_t)(nl - *p);
	if ((f = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(f, *p, n);
	f[n] = '\0';
	*p = nl + 1;
	return f;
}

/*
 * A stored one-touch token is a JSON object that ecsd can serve and parse
 * again, with the fields of 11.2 written by the broker.
 */
static void
check_token(int sender, int64_t id)
{
	struct ecs_msg		 m;
	struct json		*doc = NULL;
	const struct json	*h, *pid;
	int64_t			 v;

	memset(&m, 0, sizeof(m));
	if (store_msg_get(fx.s, id, &m) != ECS_OK) {
		fprintf(stderr, "fuzz_broker: token %lld not stored\n",
		    (long long)id);
		abort();
	}
	if (json_parse(m.m_body, m.m_len, &doc) != ECS_OK ||
	    json_type(doc) != JSON_OBJECT ||
	    (h = json_get(doc, "hash")) == NULL || json_string(h) == NULL ||
	    strlen(json_string(h)) != 40 ||
	    (pid = json_get(doc, "pid")) == NULL || json_int(pid, &v) != 0 ||
	    v != fx.p[sender].p_id || json_get(doc, "sov") == NULL ||
	    json_get(doc, "eov") == NULL) {
		fprintf(stderr, "fuzz_broker: stored token is not a valid "
		    "token object: %.*s\n", (int)(m.m_len > 2000 ? 2000 :
		    m.m_len), m.m_body);
		abort();
	}
	json_free(doc);
	store_msg_clear(&m);
}

/* Read back what a create stored, as the participants would. */
static void
read_back(const struct ecs_resource *r, int sender, int64_t id)
{
	struct ecs_view		 v;
	struct ecs_error	 err;
	struct buf		 b;
	struct jw		 w;
	struct ivec		 ids;
	char			 idtext[32];
	int			 i, n;

	memset(&err, 0, sizeof(err));
	memset(&v, 0, sizeof(v));
	if (broker_msg_show(fx.s, &fx.p[sender], r, id, NOW, &v, &err) ==
	    ECS_OK)
		broker_view_clear(&v);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	buf_init(&b, 0);
	jw_init(&w, &b, 0);
	(void)broker_details(fx.s, &fx.p[sender], r, id, idtext, 1, &w,
	    &err);
	buf_free(&b);
	memset(&ids, 0, sizeof(ids));
	(void)broker_list(fx.s, &fx.p[sender], r, 'a', &ids);
	ivec_free(&ids);
	for (i = 1; i <= 5; i++) {
		memset(&v, 0, sizeof(v));
		if (broker_queue(fx.s, &fx.p[i], r, 0, 1, &v, &err) == ECS_OK)
			broker_view_clear(&v);
		buf_init(&b, 0);
		(void)broker_events(fx.s, fx.p[i].p_id, -1, 1, i & 1 ? 'j' :
		    't', &b, &n);
		buf_free(&b);
	}
}

static void
msg_create(const struct ecs_resource *r, int sender, unsigned flags,
    const char *p, const char *end)
{
	struct ecs_post		 post;
	struct ecs_error	 err;
	char			*ctype, *mids = NULL, *comms = NULL;
	int64_t			 id = 0;
	enum ecs_err		 e;

	memset(&post, 0, sizeof(post));
	memset(&err, 0, sizeof(err));
	ctype = field(&p, end);
	if (ctype != NULL && (mids = field(&p, end)) != NULL)
		comms = field(&p, end);
	post.ep_ctype = flags & 0x08 ? NULL : ctype;
	post.ep_mids = flags & 0x10 ? NULL : mids;
	post.ep_comms = flags & 0x20 ? NULL : comms;
	post.ep_body = p;
	post.ep_len = (size_t)(end - p);
	post.ep_now = NOW;
	if (store_savepoint(fx.s) == ECS_OK) {
		e = broker_msg_create(fx.s, &fx.p[sender], r, &post, &id,
		    &err);
		report("broker_msg_create", e, &err);
		if (e == ECS_OK) {
			store_release(fx.s);
			if (r == &fx.auths)
				check_token(sender, id);
			read_back(r, sender, id);
		} else
			store_rollback_savepoint(fx.s);
	}
	free(ctype);
	free(mids);
	free(comms);
}

static void
json_op(int op, int sender, const char *p, const char *end)
{
	struct json		*doc = NULL;
	struct ecs_error	 err;
	struct buf		 b;
	struct jw		 w;
	int64_t			 id;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	/* As ecsd: a blank subparticipant body means all defaults, the
	 * admin API takes objects only. */
	if (op == 4 && util_blankn(p, (size_t)(end - p)))
		doc = NULL;
	else if (json_parse(p, (size_t)(end - p), &doc) != ECS_OK)
		return;
	else if (op >= 5 && json_type(doc) != JSON_OBJECT) {
		json_free(doc);
		return;
	}
	if (store_savepoint(fx.s) != ECS_OK) {
		json_free(doc);
		return;
	}
	buf_init(&b, 0);
	jw_init(&w, &b, 1);
	if (op == 3)
		e = broker_apply(fx.s, doc, &w, &err);
	else if (op == 4)
		e = broker_subpart_create(fx.s, &fx.p[sender], doc, &id, &err);
	else {
		e = store_admin_create(fx.s, kinds[op - 5], doc, &id, &err);
		if (e == ECS_OK) {
			e = broker_admin_settle(fx.s);
			if (e == ECS_OK)
				e = store_admin_get(fx.s, kinds[op - 5], id,
				    &w);
		}
	}
	report(op == 3 ? "broker_apply" : op == 4 ? "broker_subpart_create" :
	    kinds[op - 5], e, &err);
	if (e == ECS_OK) {
		store_release(fx.s);
		buf_reset(&b);
		jw_init(&w, &b, 0);
		(void)store_admin_export(fx.s, &w);
	} else
		store_rollback_savepoint(fx.s);
	buf_free(&b);
	json_free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *end = p + size;
	int		 op, sender;
	unsigned	 flags;

	if (size < 2)
		return 0;
	op = (data[0] + 2) % 10;	/* '0' is 0 */
	flags = data[1] & 0x3f;		/* '@' is 0 */
	sender = (int)(flags & 7) % 5 + 1;
	p += 2;
	switch (op) {
	case 0:
		msg_create(&fx.ex, sender, flags, p, end);
		break;
	case 1:
		msg_create(&fx.auths, sender, flags, p, end);
		break;
	case 2:
		msg_create(&fx.co, sender, flags, p, end);
		break;
	default:
		json_op(op, sender, p, end);
		break;
	}
	/* Forget everything this input did. */
	store_rollback(fx.s);
	return 0;
}
