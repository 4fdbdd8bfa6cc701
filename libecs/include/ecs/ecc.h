/*
 * ecc.h: the ECC client API, for programs that are participants of an ECS
 * (the ecs(1) tool, plugins, ecc-host).  See libecs(3).
 *
 * A session (struct ecc) talks to one ECS URL with one identity over one
 * keep-alive HTTP/1.1 connection (HTTPS with an optional client
 * certificate).  Calls on a session are queued and sent one at a time.
 *
 * Every operation exists twice:
 *   - ecc_X_async() starts the call on the session's event_base and returns
 *     at once; the callback runs exactly once, later, from the event loop
 *     (never from inside ecc_X_async()); the callback must not be NULL;
 *   - ecc_X() is the blocking convenience form: it runs the event_base until
 *     its call is done.  It must not be called from inside a callback of
 *     that event_base.
 *
 * Errors are values: a call returns enum ecs_err and fills a caller-owned
 * struct ecc_error with the HTTP status and the server's text.  Calls that
 * reach the server and get a non-2xx answer return the ecs_err of that
 * status (401 ECS_EAUTH, 403 ECS_EDENIED, 404 ECS_ENOTFOUND, ...).  When the
 * server could not be reached or did not answer in time the call returns
 * ECS_EBUSY with ee_status 0 and ee_net saying why.
 *
 * Ownership: every pointer a call writes to an out-parameter belongs to the
 * caller, who frees it with the matching ecc_*_free(); out-parameters are
 * written only on success.  Strings passed in are copied; nothing passed in
 * is kept after the call returns.
 */
#ifndef ECS_ECC_H
#define ECS_ECC_H

#include <stddef.h>
#include <stdint.h>

#include <ecs/ecs.h>

struct event_base;
struct ecc;			/* a session; opaque */

/* Why a call got no HTTP answer. */
enum ecc_net {
	ECC_NET_OK = 0,		/* the server answered */
	ECC_NET_CONNECT,	/* connection refused or reset, name unknown */
	ECC_NET_TIMEOUT,	/* no answer within the timeout */
	ECC_NET_TLS,		/* TLS handshake or certificate failure */
	ECC_NET_PROTO,		/* malformed or oversized answer */
	ECC_NET_CLOSED		/* the session was closed */
};

/* What went wrong; written by every call that takes one. */
struct ecc_error {
	enum ecs_err	 ee_code;	/* ECS_OK or the class of failure */
	int		 ee_status;	/* HTTP status; 0 when none */
	enum ecc_net	 ee_net;	/* transport detail when ee_status is 0 */
	char		 ee_text[512];	/* server text without the final
					   line feed, or a local message */
};

/* How to reach the server and who we are; strings are copied by ecc_open. */
struct ecc_params {
	const char	*ep_url;	/* http[s]://host[:port][/prefix] */
	const char	*ep_auth_id;	/* X-EcsAuthId (behind a trusted
					   proxy), or NULL */
	const char	*ep_user;	/* HTTP Basic user, or NULL */
	const char	*ep_password;	/* HTTP Basic password, or NULL */
	const char	*ep_cert;	/* PEM client certificate (chain) */
	const char	*ep_key;	/* PEM private key; NULL: in ep_cert */
	const char	*ep_ca;		/* PEM CA file; NULL: system store */
	int		 ep_insecure;	/* 1: do not verify the server */
	int		 ep_timeout;	/* seconds per attempt; 0: 30 */
	int		 ep_retries;	/* extra attempts of idempotent calls;
					   0: none, -1: the default (2) */
	size_t		 ep_max_body;	/* largest answer; 0: 64 MiB */
};

/* A header of a generic call. */
struct ecc_header {
	const char	*eh_name;
	const char	*eh_value;
};

/* A generic call (ecc_call); paths are relative to the URL's prefix. */
struct ecc_request {
	const char		*er_method;	/* GET, POST, PUT, DELETE, HEAD */
	const char		*er_path;	/* "/numlab/exercises?all=true" */
	const struct ecc_header	*er_headers;
	size_t			 er_nheaders;
	const char		*er_ctype;	/* Content-Type of the body */
	const void		*er_body;
	size_t			 er_len;
	int			 er_idempotent;	/* may be retried */
	int			 er_timeout;	/* extra seconds to wait */
};

/* An answer of the server. */
struct ecc_reply {
	int		 r_status;
	char		*r_ctype;	/* Content-Type, or NULL */
	char		*r_body;	/* r_len bytes, NUL-terminated */
	size_t		 r_len;
	char		*r_location;	/* Location, or NULL */
	int64_t		 r_id;		/* the id ending r_location, or 0 */
	char		*r_sender;	/* X-EcsSender, or NULL */
	char		*r_communities;	/* X-EcsReceiverCommunities, or NULL */
	char		*r_etag;	/* ETag, or NULL */
};

/* Receivers of a message: comma lists as on the wire; one may be NULL. */
struct ecc_addr {
	const char	*ea_mids;	/* X-EcsReceiverMemberships: "2,5" */
	const char	*ea_communities; /* X-EcsReceiverCommunities: "SUV" */
};

/* Which messages a list or collection details call selects (6.2). */
enum ecc_select {
	ECC_RECEIVED = 0,	/* the default: messages I receive */
	ECC_SENT,		/* sender=true */
	ECC_ALL			/* all=true: sent, then received */
};

enum ecc_queue {
	ECC_FIFO = 0,
	ECC_LIFO
};

/* A message listing: the ids in server order. */
struct ecc_list {
	int64_t		*l_ids;
	size_t		 l_n;
};

struct ecc_event {
	char		*ev_resource;	/* "ns/res/id" (the "ressource" key) */
	char		*ev_status;	/* created, updated or destroyed */
	int64_t		 ev_id;		/* the message id, or 0 */
};

struct ecc_events {
	struct ecc_event	*evs_ev;
	size_t			 evs_n;
};

struct ecc_member {
	int64_t		 mb_pid;
	int64_t		 mb_mid;
	char		*mb_name;
	char		*mb_description;
	char		*mb_email;
	char		*mb_dns;
	char		*mb_org;	/* organization name */
	char		*mb_abbr;	/* organization abbreviation */
	char		*mb_type;	/* main, sub, anonym, or NULL */
	int		 mb_itsyou;
};

struct ecc_community {
	int64_t			 co_cid;
	char			*co_name;
	char			*co_description;
	struct ecc_member	*co_members;
	size_t			 co_n;
};

struct ecc_memberships {
	struct ecc_community	*ms_c;
	size_t			 ms_n;
};

/* A one-touch token (/sys/auths). */
struct ecc_token {
	int64_t		 tk_id;		/* message id, when known */
	char		*tk_hash;
	char		*tk_url;	/* or NULL */
	char		*tk_realm;	/* or NULL */
	char		*tk_sov;
	char		*tk_eov;
	char		*tk_abbr;
	int64_t		 tk_pid;
	char		*tk_json;	/* the whole token as served */
};

/*
 * Completion of an asynchronous call.  reply is the server's answer (any
 * status) or NULL when there was none; the callback owns it and frees it
 * with ecc_reply_free().  err->ee_code is ECS_OK for a 2xx answer.
 */
typedef void (*ecc_done_fn)(struct ecc_reply *reply,
    const struct ecc_error *err, void *arg);

/*
 * Open a session.  base is the event_base to run on, or NULL for a private
 * one (blocking use only).  Nothing is sent yet.  On success *sp is the
 * caller's, to be closed with ecc_close().
 */
enum ecs_err	 ecc_open(struct ecc **sp, const struct ecc_params *p,
		    struct event_base *base, struct ecc_error *err);
/*
 * Close the session and its connection.  Calls still queued are dropped
 * without their callbacks.  Not from inside a completion callback.
 */
void		 ecc_close(struct ecc *);
/* TCP connections the session has opened so far (keep-alive check). */
unsigned int	 ecc_connections(const struct ecc *);
/* The session's event_base (borrowed). */
struct event_base *ecc_base(const struct ecc *);

/* Generic calls; anything the protocol offers. */
enum ecs_err	 ecc_call_async(struct ecc *, const struct ecc_request *,
		    ecc_done_fn, void *);
enum ecs_err	 ecc_call(struct ecc *, const struct ecc_request *,
		    struct ecc_reply **, struct ecc_error *);

/*
 * Messages.  resource is "namespace/name".  Creating (POST) and popping are
 * never retried; GET and PUT are retried with backoff.
 */
enum ecs_err	 ecc_post_async(struct ecc *, const char *resource,
		    const struct ecc_addr *, const char *ctype, const void *,
		    size_t, ecc_done_fn, void *);
enum ecs_err	 ecc_post(struct ecc *, const char *resource,
		    const struct ecc_addr *, const char *ctype, const void *,
		    size_t, int64_t *idp, struct ecc_error *);
enum ecs_err	 ecc_get_async(struct ecc *, const char *resource, int64_t id,
		    ecc_done_fn, void *);
enum ecs_err	 ecc_get(struct ecc *, const char *resource, int64_t id,
		    struct ecc_reply **, struct ecc_error *);
enum ecs_err	 ecc_update_async(struct ecc *, const char *resource,
		    int64_t id, const struct ecc_addr *, const char *ctype,
		    const void *, size_t, ecc_done_fn, void *);
enum ecs_err	 ecc_update(struct ecc *, const char *resource, int64_t id,
		    const struct ecc_addr *, const char *ctype, const void *,
		    size_t, struct ecc_error *);
enum ecs_err	 ecc_delete_async(struct ecc *, const char *resource,
		    int64_t id, ecc_done_fn, void *);
/* rp may be NULL; otherwise it receives the deleted message. */
enum ecs_err	 ecc_delete(struct ecc *, const char *resource, int64_t id,
		    struct ecc_reply **rp, struct ecc_error *);
enum ecs_err	 ecc_list_async(struct ecc *, const char *resource,
		    enum ecc_select, ecc_done_fn, void *);
enum ecs_err	 ecc_list(struct ecc *, const char *resource, enum ecc_select,
		    struct ecc_list **, struct ecc_error *);
/* Peek (pop 0) or pop (pop 1) the oldest or newest received message. */
enum ecs_err	 ecc_queue_async(struct ecc *, const char *resource,
		    enum ecc_queue, int pop, ecc_done_fn, void *);
/* An empty queue is success with *rp set to NULL. */
enum ecs_err	 ecc_queue(struct ecc *, const char *resource, enum ecc_queue,
		    int pop, struct ecc_reply **rp, struct ecc_error *);
/* Details of message id, or (id 0) of the selected messages (6.9). */
enum ecs_err	 ecc_details_async(struct ecc *, const char *resource,
		    int64_t id, enum ecc_select, ecc_done_fn, void *);
enum ecs_err	 ecc_details(struct ecc *, const char *resource, int64_t id,
		    enum ecc_select, struct ecc_reply **, struct ecc_error *);

enum ecs_err	 ecc_memberships_async(struct ecc *, ecc_done_fn, void *);
enum ecs_err	 ecc_memberships(struct ecc *, struct ecc_memberships **,
		    struct ecc_error *);

/*
 * Events: peek (pop 0) or pop (pop 1) the first count events (count 0: the
 * server's default of one, -1: all); wait > 0 asks the server to hold the
 * request up to wait seconds until an event exists.
 */
enum ecs_err	 ecc_events_async(struct ecc *, int pop, int count, int wait,
		    ecc_done_fn, void *);
enum ecs_err	 ecc_events(struct ecc *, int pop, int count, int wait,
		    struct ecc_events **, struct ecc_error *);

/* One-touch tokens: url and/or realm (at least one) for the receivers. */
enum ecs_err	 ecc_token_create_async(struct ecc *, const struct ecc_addr *,
		    const char *url, const char *realm, ecc_done_fn, void *);
enum ecs_err	 ecc_token_create(struct ecc *, const struct ecc_addr *,
		    const char *url, const char *realm, struct ecc_token **,
		    struct ecc_error *);
/* Fetch (GET) leaves the token, consume (DELETE) uses it up. */
enum ecs_err	 ecc_token_fetch_async(struct ecc *, const char *hash,
		    ecc_done_fn, void *);
enum ecs_err	 ecc_token_fetch(struct ecc *, const char *hash,
		    struct ecc_token **, struct ecc_error *);
enum ecs_err	 ecc_token_consume_async(struct ecc *, const char *hash,
		    ecc_done_fn, void *);
enum ecs_err	 ecc_token_consume(struct ecc *, const char *hash,
		    struct ecc_token **, struct ecc_error *);

/* Parse answers (for the asynchronous forms); results are the caller's. */
enum ecs_err	 ecc_parse_list(const struct ecc_reply *, struct ecc_list **,
		    struct ecc_error *);
enum ecs_err	 ecc_parse_events(const struct ecc_reply *,
		    struct ecc_events **, struct ecc_error *);
enum ecs_err	 ecc_parse_memberships(const struct ecc_reply *,
		    struct ecc_memberships **, struct ecc_error *);
enum ecs_err	 ecc_parse_token(const struct ecc_reply *, struct ecc_token **,
		    struct ecc_error *);

/* Free results; NULL is a no-op. */
void		 ecc_reply_free(struct ecc_reply *);
void		 ecc_list_free(struct ecc_list *);
void		 ecc_events_free(struct ecc_events *);
void		 ecc_memberships_free(struct ecc_memberships *);
void		 ecc_token_free(struct ecc_token *);

#endif /* ECS_ECC_H */
