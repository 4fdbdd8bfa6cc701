/*
 * broker.h: the protocol's semantics on top of the store: addressing,
 * messages, queues, events, one-touch tokens, postrouting, administration.
 * No sockets here: the daemon hands in what the request said.
 */
#ifndef ECS_BROKER_H
#define ECS_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ecs/ecs.h>

#include "buf.h"
#include "json.h"
#include "store.h"

#define AUTH_TTL	65	/* default token validity, seconds */
#define AUTH_MIN	5	/* minimum remaining validity of eov */

/* What a create or update request carried. */
struct ecs_post {
	const char	*ep_ctype;	/* NULL when absent */
	const char	*ep_body;
	size_t		 ep_len;
	const char	*ep_mids;	/* X-EcsReceiverMemberships or NULL */
	const char	*ep_comms;	/* X-EcsReceiverCommunities or NULL */
	time_t		 ep_now;
	time_t		 ep_auth_ttl;	/* 0: AUTH_TTL */
	time_t		 ep_auth_min;	/* 0: AUTH_MIN */
};

/* A message as answered to one caller. */
struct ecs_view {
	struct ecs_msg	 v_msg;
	struct ecs_linkv v_links;	/* the caller's links (headers) */
	int		 v_found;	/* queues: 0 when empty */
};

void		 broker_view_clear(struct ecs_view *);

enum ecs_err	 broker_auth_id(struct store *, const char *, int64_t *,
		    struct ecs_error *);

enum ecs_err	 broker_msg_create(struct store *,
		    const struct ecs_participant *, const struct ecs_resource *,
		    const struct ecs_post *, int64_t *, struct ecs_error *);
/* Resolve the id (or token hash) of a path within the resource. */
enum ecs_err	 broker_msg_find(struct store *, const struct ecs_resource *,
		    const char *, int64_t *, struct ecs_error *);
enum ecs_err	 broker_msg_show(struct store *,
		    const struct ecs_participant *, const struct ecs_resource *,
		    int64_t, time_t, struct ecs_view *, struct ecs_error *);
enum ecs_err	 broker_msg_update(struct store *,
		    const struct ecs_participant *, const struct ecs_resource *,
		    int64_t, const struct ecs_post *, struct ecs_error *);
/*
 * Delete as receiver or sender; v gets the representation from before.
 * An expired token deleted by a receiver fails with ECS_ECONFLICT and
 * err->e_keep set: the deletion itself stands.
 */
enum ecs_err	 broker_msg_delete(struct store *,
		    const struct ecs_participant *, const struct ecs_resource *,
		    int64_t, const char *idtext, time_t, struct ecs_view *,
		    struct ecs_error *);
enum ecs_err	 broker_queue(struct store *, const struct ecs_participant *,
		    const struct ecs_resource *, int lifo, int pop,
		    struct ecs_view *, struct ecs_error *);
/* sel: 's' sender, 'r' receiver, 'a' all. */
enum ecs_err	 broker_list(struct store *, const struct ecs_participant *,
		    const struct ecs_resource *, int sel, struct ivec *);
enum ecs_err	 broker_details(struct store *,
		    const struct ecs_participant *, const struct ecs_resource *,
		    int64_t, const char *idtext, int check, struct jw *,
		    struct ecs_error *);
/* count < 0: all. fmt 'j' JSON, 't' text. */
enum ecs_err	 broker_events(struct store *, int64_t pid, int64_t count,
		    int pop, int fmt, struct buf *, int *n);

enum ecs_err	 broker_postroute(struct store *, int64_t mid);
enum ecs_err	 broker_membership_remove(struct store *, int64_t mid);
enum ecs_err	 broker_participant_reset(struct store *, int64_t pid);
/* Postroute new memberships and retire dropped ones after admin calls. */
enum ecs_err	 broker_admin_settle(struct store *);
enum ecs_err	 broker_apply(struct store *, const struct json *,
		    struct jw *, struct ecs_error *);
/* A new anonymous participant joined to public (4.4); cookie: 41 bytes. */
enum ecs_err	 broker_anonymous_create(struct store *, time_t ttl,
		    char *cookie, int64_t *pid);
/* Subparticipants (12.5): doc may be NULL for all defaults. */
enum ecs_err	 broker_subpart_create(struct store *,
		    const struct ecs_participant *parent, const struct json *,
		    int64_t *sid, struct ecs_error *);
enum ecs_err	 broker_subpart_update(struct store *,
		    const struct ecs_participant *parent, int64_t sid,
		    const struct json *, struct ecs_error *);
/* The record of sid if the parent owns it; texts of 12.5 otherwise. */
enum ecs_err	 broker_subpart_owned(struct store *, int64_t parent,
		    const char *sidtext, struct ecs_subpart *,
		    struct ecs_error *);
enum ecs_err	 broker_gc_auths(struct store *, time_t, int *);
enum ecs_err	 broker_gc_participants(struct store *, time_t, time_t,
		    int *);

#endif /* ECS_BROKER_H */
