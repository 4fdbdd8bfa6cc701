/*
 * store.h: the storage interface. All SQL lives behind it (store.c, on the
 * drivers of store_db.h: store_sqlite.c, store_pg.c).
 * Every function runs inside the caller's transaction unless it says so.
 */
#ifndef ECS_STORE_H
#define ECS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ecs/ecs.h>

#include "buf.h"
#include "json.h"

struct store;

enum ev_type {
	EV_CREATED = 1,
	EV_DESTROYED = 2,
	EV_UPDATED = 3,
	EV_NOTLINKED = 4
};

/* A growable vector of integers. */
struct ivec {
	int64_t	*iv_v;
	size_t	 iv_n;
	size_t	 iv_cap;
};

void		 ivec_free(struct ivec *);
enum ecs_err	 ivec_push(struct ivec *, int64_t);
int		 ivec_has(const struct ivec *, int64_t);
enum ecs_err	 ivec_push_unique(struct ivec *, int64_t);

struct ecs_resource {
	int64_t	 r_id;
	char	 r_ns[128];
	char	 r_name[128];
	int	 r_postroute;
	int	 r_events;
};

struct ecs_participant {
	int64_t	 p_id;
	int64_t	 p_org_id;
	int	 p_selfrouting;
	int	 p_events;
	char	 p_ptype[16];		/* "" for null */
	char	 p_abbr[128];		/* organization abbreviation */
	char	 p_name[256];
	char	 p_email[256];
};

/* A participant to create (anonymous and subparticipants). */
struct ecs_newpart {
	const char	*np_name;
	const char	*np_desc;
	const char	*np_dns;
	const char	*np_email;
	int64_t		 np_org;
	int		 np_selfrouting;
	int		 np_events;
	const char	*np_ptype;
	time_t		 np_ttl;	/* 0: none */
};

struct ecs_subpart {
	int64_t	 sp_id;
	int64_t	 sp_pid;
	int64_t	 sp_parent;
	int	 sp_has_realm;
	char	 sp_realm[1024];
};

/* A message; body and content type owned by it (store_msg_clear). */
struct ecs_msg {
	int64_t	 m_id;
	int64_t	 m_resource_id;
	int64_t	 m_sender;
	int	 m_removed;
	time_t	 m_created;
	time_t	 m_updated;
	int64_t	 m_version;
	char	*m_ctype;
	char	*m_body;
	size_t	 m_len;
};

/* One receiver link with the sender's mid in the same community (-1: none). */
struct ecs_link {
	int64_t	 l_mid;
	int64_t	 l_pid;
	int64_t	 l_cid;
	int64_t	 l_sender_mid;
};

struct ecs_linkv {
	struct ecs_link	*lv_v;
	size_t		 lv_n;
};

void	 linkv_free(struct ecs_linkv *);

/* One pending event. */
struct ecs_event {
	int64_t	 e_id;
	int64_t	 e_msg;
	int	 e_type;
	char	 e_path[300];		/* ns/name/msgid */
};

/*
 * target: "sqlite:PATH", "postgresql:DSN" (a libpq connection string or
 * URI), or a bare PATH (SQLite).
 */
enum ecs_err	 store_open(const char *target, int durable, struct store **,
		    struct ecs_error *);
void		 store_close(struct store *);
/* The driver's name: "sqlite" or "postgresql". */
const char	*store_backend(struct store *);
/*
 * Start the backend's helper thread, if it has one; target as for
 * store_open. SQLite: WAL checkpoints move off the caller's thread.
 * PostgreSQL: the tables that pops churn are vacuumed after enough pops.
 */
enum ecs_err	 store_background_start(struct store *, const char *target);
const char	*store_errmsg(struct store *);
/*
 * Several nodes on one database (PostgreSQL): a descriptor that becomes
 * readable when other nodes committed events or changes (-1: the backend
 * has none), and what they reported since the last call: the participants
 * that got events are appended to pids; a change to what lookups cache
 * moves store_generation on.
 */
int		 store_notify_fd(struct store *);
enum ecs_err	 store_notify_read(struct store *, struct ivec *pids);
/*
 * A counter that changes whenever identities, participants, organizations
 * or resources may have changed (and on every rollback): lookups cached
 * under one value are valid while it stays the same.
 */
uint64_t	 store_generation(struct store *);

/*
 * Write statements (INSERT, UPDATE, DELETE) run so far, failed or not: a
 * request that compares two readings knows whether it may have written.
 */
uint64_t	 store_writes(struct store *);

/* Transactions: one batch is one transaction, one request one savepoint. */
int		 store_in_tx(struct store *);
enum ecs_err	 store_begin(struct store *);
enum ecs_err	 store_commit(struct store *);
void		 store_rollback(struct store *);
enum ecs_err	 store_savepoint(struct store *);
void		 store_release(struct store *);
void		 store_rollback_savepoint(struct store *);
enum ecs_err	 store_integrity_check(struct store *);
/*
 * The longest wait in seconds for the database to answer a command (0: no
 * limit, as after store_open); then the command fails with ECS_EBUSY and
 * the next one connects again. PostgreSQL only: SQLite is in the process.
 */
void		 store_set_timeout(struct store *, int);

/* Identities and participants. */
enum ecs_err	 store_identity_pid(struct store *, const char *, int64_t *);
enum ecs_err	 store_participant_get(struct store *, int64_t,
		    struct ecs_participant *);
enum ecs_err	 store_participant_flags(struct store *, int64_t, int events,
		    int selfrouting);
enum ecs_err	 store_participant_delete(struct store *, int64_t);
enum ecs_err	 store_participant_by_name(struct store *, const char *,
		    int64_t *);
/* The first auth id of a participant. */
enum ecs_err	 store_participant_authid(struct store *, int64_t, char *,
		    size_t);
enum ecs_err	 store_participant_add(struct store *,
		    const struct ecs_newpart *, int64_t *);
enum ecs_err	 store_participant_rename(struct store *, int64_t,
		    const char *name, const char *desc);
enum ecs_err	 store_participant_set_ttl(struct store *, int64_t, time_t);
enum ecs_err	 store_identity_add(struct store *, const char *name,
		    const char *desc, int64_t pid);
/* The password hash of identity name (ECS_ENOTFOUND: none set). */
enum ecs_err	 store_identity_password(struct store *, const char *name,
		    int64_t *pid, char *hash, size_t);
/* Set (hash) or clear (NULL) the password of pid's identity name. */
enum ecs_err	 store_identity_set_password(struct store *, int64_t pid,
		    const char *name, const char *hash);
enum ecs_err	 store_org_by_name(struct store *, const char *, int64_t *);
enum ecs_err	 store_membership_add(struct store *, int64_t pid,
		    int64_t cid, int64_t *mid);
enum ecs_err	 store_membership_delete(struct store *, int64_t mid);

/* Subparticipant records. */
enum ecs_err	 store_subpart_add(struct store *, int64_t pid, int64_t parent,
		    const char *realm, int64_t *sid);
enum ecs_err	 store_subpart_get(struct store *, int64_t sid,
		    struct ecs_subpart *);
enum ecs_err	 store_subpart_list(struct store *, int64_t parent,
		    struct ivec *);
enum ecs_err	 store_subpart_set(struct store *, int64_t sid,
		    const char *realm, int selfrouting, int events);
enum ecs_err	 store_subpart_json(struct store *, int64_t sid, struct jw *);

/* Communities and memberships. */
enum ecs_err	 store_community_by_name(struct store *, const char *,
		    int64_t *);
enum ecs_err	 store_community_exists(struct store *, int64_t);
/* Append ", name" (no comma when out is empty) of community cid to out. */
enum ecs_err	 store_community_name(struct store *, int64_t, struct buf *);
/* The participant's membership in a community, or ECS_ENOTFOUND. */
enum ecs_err	 store_member_mid(struct store *, int64_t pid, int64_t cid,
		    int64_t *mid);
enum ecs_err	 store_participant_cids(struct store *, int64_t,
		    struct ivec *);
enum ecs_err	 store_community_mids(struct store *, int64_t cid,
		    struct ivec *mids, struct ivec *pids);
/* The community and participant of a membership. */
enum ecs_err	 store_mid_info(struct store *, int64_t mid, int64_t *cid,
		    int64_t *pid);

/* Resources. */
enum ecs_err	 store_resource_find(struct store *, const char *ns,
		    const char *name, struct ecs_resource *);
enum ecs_err	 store_resource_get(struct store *, int64_t,
		    struct ecs_resource *);

/* Messages. */
enum ecs_err	 store_msg_insert(struct store *, int64_t resource,
		    int64_t sender, const char *ctype, const char *body, size_t,
		    time_t, int64_t *);
enum ecs_err	 store_msg_get(struct store *, int64_t, struct ecs_msg *);
/* The resource of a message (and whether it is a tombstone), no body. */
enum ecs_err	 store_msg_resource(struct store *, int64_t,
		    struct ecs_resource *, int *removed);
void		 store_msg_clear(struct ecs_msg *);
enum ecs_err	 store_msg_update(struct store *, int64_t, const char *ctype,
		    const char *body, size_t, time_t);
/*
 * Tombstone a message when an event still names it, else delete it. Its
 * links must be gone already (a link left fails the foreign key); token:
 * it may have a one-touch token (sys/auths), which goes too.
 */
enum ecs_err	 store_msg_dispose(struct store *, int64_t, int token);
/* A link of mid to msg; nothing if there is one. */
enum ecs_err	 store_link_add(struct store *, int64_t mid, int64_t msg,
		    int64_t resource);
/*
 * The same for a message that has no link yet (just inserted, each mid
 * once): a plain insert, without the conflict check, which PostgreSQL
 * makes a speculative insertion.
 */
enum ecs_err	 store_link_new(struct store *, int64_t mid, int64_t msg,
		    int64_t resource);
/* Links of a message ordered by mid, with the sender's mid per community. */
enum ecs_err	 store_msg_links(struct store *, int64_t msg, int64_t sender,
		    struct ecs_linkv *);
/* Participants receiving a message (distinct, ascending). */
enum ecs_err	 store_msg_receiver_pids(struct store *, int64_t,
		    struct ivec *);
enum ecs_err	 store_links_delete(struct store *, int64_t msg);
enum ecs_err	 store_links_delete_pid(struct store *, int64_t msg,
		    int64_t pid);
enum ecs_err	 store_link_delete(struct store *, int64_t mid, int64_t msg);
/* The last link of msg, which store_msg_dispose then disposes of. */
enum ecs_err	 store_link_delete_last(struct store *, int64_t mid,
		    int64_t msg);
enum ecs_err	 store_msg_link_count(struct store *, int64_t, int64_t *);
enum ecs_err	 store_msg_has_links(struct store *, int64_t, int *);
enum ecs_err	 store_community_record(struct store *, int64_t cid,
		    int64_t msg);
/* Messages a participant sent / receives in a resource, ascending. */
enum ecs_err	 store_list_sent(struct store *, int64_t pid, int64_t res,
		    struct ivec *);
enum ecs_err	 store_list_received(struct store *, int64_t pid, int64_t res,
		    struct ivec *);
/* Every message a participant receives / sent, in any resource. */
enum ecs_err	 store_received_all(struct store *, int64_t pid, struct ivec *);
enum ecs_err	 store_sent_all(struct store *, int64_t pid, struct ivec *);
/*
 * The oldest (lifo 0) or newest message pid received in resource res, m_id
 * 0 when none (store_msg_clear frees it), with all its links as
 * store_msg_links has them (linkv_free).
 */
enum ecs_err	 store_queue_peek(struct store *, int64_t pid, int64_t res,
		    int lifo, struct ecs_msg *, struct ecs_linkv *);
/*
 * Before n pops of pid's queue in one transaction (PostgreSQL; nothing on
 * SQLite): lock and read its first heads in one statement, for the
 * store_queue_peek calls of those pops, which take them in queue order.
 * Only the popping participant's links come with such a head. What is
 * left goes with store_queue_prefetch_clear, or at the end of the
 * transaction or a savepoint.
 */
enum ecs_err	 store_queue_prefetch(struct store *, int64_t pid,
		    int64_t res, int lifo, size_t n);
void		 store_queue_prefetch_clear(struct store *);
/* Whether store_queue_prefetch fetches anything with this backend. */
int		 store_queue_prefetches(struct store *);
/* Messages with a community record for cid in postrouted resources. */
enum ecs_err	 store_postroutable(struct store *, int64_t cid,
		    struct ivec *);
/* Messages linked through a membership, and with a record for its cid. */
enum ecs_err	 store_mid_messages(struct store *, int64_t mid,
		    struct ivec *);
enum ecs_err	 store_community_messages(struct store *, int64_t cid,
		    struct ivec *);

/* Events. Queued only if pid has events on; repeated types merge. */
enum ecs_err	 store_event_add(struct store *, int64_t pid, int64_t msg,
		    int type);
/* The same for a message created in this transaction: nothing to merge. */
enum ecs_err	 store_event_add_new(struct store *, int64_t pid, int64_t msg,
		    int type);
/* Up to limit (negative: all) oldest events of a participant. */
enum ecs_err	 store_events(struct store *, int64_t pid, int64_t limit,
		    struct ecs_event **, size_t *);
/*
 * The same for pops: from what store_events_prefetch read, when it read
 * for pid in this transaction. That reads (and locks) n events of pid at
 * once, before pops that take n in all (PostgreSQL; nothing on SQLite);
 * what is left goes as store_queue_prefetch's heads do.
 */
enum ecs_err	 store_events_take(struct store *, int64_t pid,
		    int64_t limit, struct ecs_event **, size_t *);
enum ecs_err	 store_events_prefetch(struct store *, int64_t pid,
		    size_t n);
/* Delete one event; a tombstone nobody refers to any more goes. */
enum ecs_err	 store_event_delete(struct store *, int64_t id, int64_t msg);
enum ecs_err	 store_events_delete_pid(struct store *, int64_t pid);

/* One-touch tokens. */
enum ecs_err	 store_auth_put(struct store *, int64_t msg, const char *hash,
		    time_t eov);
enum ecs_err	 store_auth_by_hash(struct store *, const char *, int64_t *);
enum ecs_err	 store_auth_eov(struct store *, int64_t msg, time_t *);
enum ecs_err	 store_auths_expired(struct store *, time_t, struct ivec *);

/* Garbage collection candidates. */
/* Delete tombstones no event refers to any more. */
enum ecs_err	 store_gc_tombstones(struct store *, int *);
enum ecs_err	 store_participants_expired(struct store *, time_t now,
		    time_t sub_age, struct ivec *);

/* Representations written straight from the rows. */
enum ecs_err	 store_memberships_json(struct store *, int64_t pid,
		    const char *selector, struct jw *, int *count);
enum ecs_err	 store_configs_json(struct store *, int64_t pid, struct jw *);

/* Admin model: JSON in, JSON out. */
enum ecs_err	 store_admin_list(struct store *, const char *kind,
		    struct jw *);
enum ecs_err	 store_admin_get(struct store *, const char *kind, int64_t,
		    struct jw *);
enum ecs_err	 store_admin_create(struct store *, const char *kind,
		    const struct json *, int64_t *, struct ecs_error *);
enum ecs_err	 store_admin_update(struct store *, const char *kind, int64_t,
		    const struct json *, struct ecs_error *);
enum ecs_err	 store_admin_delete(struct store *, const char *kind, int64_t);
enum ecs_err	 store_admin_export(struct store *, struct jw *);
/* The id of the object named like o (resources: namespace and name). */
enum ecs_err	 store_admin_find(struct store *, const char *kind,
		    const struct json *, int64_t *);
/* Participants that got events since the last call (for waiters). */
enum ecs_err	 store_take_event_pids(struct store *, struct ivec *);
/* New memberships created by admin calls, for postrouting. */
enum ecs_err	 store_take_new_mids(struct store *, struct ivec *);

extern const char store_schema_sql[];
extern const char *const store_migrations[];

#endif /* ECS_STORE_H */
