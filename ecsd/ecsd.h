/*
 * ecsd.h: the daemon's one private header. Structures first, then the
 * prototypes of each file under a comment naming it.
 */
#ifndef ECSD_H
#define ECSD_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ecs/ecs.h>

#include "broker.h"
#include "buf.h"
#include "json.h"
#include "store.h"

struct event_base;
struct event;
struct bufferevent;
struct evbuffer;
struct evconnlistener;

#define ECSD_MAX_NETS	32

/* An address range from trusted_proxies or admin_allow. */
struct netmask {
	int		 nm_family;
	unsigned char	 nm_addr[16];
	int		 nm_bits;
};

struct netlist {
	struct netmask	 nl_nets[ECSD_MAX_NETS];
	int		 nl_n;
};

/* A [plugin NAME] section: host keys and the plugin's own, as k=v. */
#define PLUGIN_MAX	16
#define PLUGIN_OPTS	32
struct plugin_conf {
	char		*pc_name;
	char		*pc_opts[PLUGIN_OPTS];
	int		 pc_nopts;
};

struct conf {
	char		*c_listen;
	char		*c_datadir;
	char		*c_database;
	char		*c_store;
	char		*c_pg_dsn;
	char		*c_sync;
	char		*c_trusted;
	char		*c_admin_password;
	char		*c_admin_allow;
	int64_t		 c_max_body;
	int64_t		 c_max_headers;
	int64_t		 c_idle_timeout;
	int64_t		 c_auth_gc_interval;
	int64_t		 c_gc_interval;
	int64_t		 c_sub_gc_age;
	int64_t		 c_allow_anonymous;
	int64_t		 c_anon_ttl;
	int64_t		 c_max_wait;
	int64_t		 c_max_connections;
	int64_t		 c_request_timeout;
	int64_t		 c_max_waiters;
	int64_t		 c_workers;
	int64_t		 c_pg_timeout;
	int64_t		 c_pg_vacuum;
	char		*c_log_level;
	char		*c_listen_tls;
	char		*c_tls_cert;
	char		*c_tls_key;
	char		*c_tls_ca;
	char		*c_tls_verify;
	int64_t		 c_auth_ttl;
	int64_t		 c_auth_min;
	char		*c_plugin_host;
	struct plugin_conf c_plugins[PLUGIN_MAX];
	int		 c_nplugins;
	struct netlist	 c_trusted_nets;
	struct netlist	 c_admin_nets;
};

/* Lookups cached while the store's generation stays the same (cache.c). */
#define CACHE_SLOTS	512
struct idcache_ent {
	uint64_t		 ic_gen;	/* 0: empty */
	char			 ic_name[128];
	struct ecs_participant	 ic_p;
};

struct rescache_ent {
	uint64_t		 rc_gen;
	char			 rc_key[260];	/* ns/name */
	struct ecs_resource	 rc_r;
};

struct lookup_cache {
	struct idcache_ent	 lc_ids[CACHE_SLOTS];
	struct rescache_ent	 lc_res[CACHE_SLOTS];
};

/* A client connection (conn.c). */
enum conn_state {
	CS_HEAD,		/* reading a header block */
	CS_BODY,		/* reading a body by its Content-Length */
	CS_CHUNK_SIZE,		/* reading a chunked body */
	CS_CHUNK_DATA,
	CS_CHUNK_END,
	CS_TRAILER,
	CS_BUSY,		/* its request is with http.c */
	CS_CLOSING,		/* closes once its output is out */
	CS_DEAD			/* to be freed */
};

struct conn {
	struct ecsd		*c_env;
	struct bufferevent	*c_bev;
	TAILQ_ENTRY(conn)	 c_entry;
	struct req		*c_req;		/* being read, or handled */
	enum conn_state		 c_state;
	int			 c_tls;
	int			 c_over;	/* past max_connections */
	int			 c_input;	/* a request has begun */
	int			 c_eof;		/* the client sends no more */
	int			 c_dead;	/* gone: drop the reply */
	int			 c_inparse;	/* conn_parse is on the stack */
	int64_t			 c_mark;	/* accepted or last reply, ms */
	int64_t			 c_start;	/* its request began, ms */
	size_t			 c_scan;	/* header bytes looked at */
	size_t			 c_left;	/* body or chunk bytes to come */
	char			 c_peer[64];
};
TAILQ_HEAD(connlist, conn);

struct listener_ctx {
	struct ecsd		*lc_env;
	int			 lc_tls;
};

/* Basic credentials verified lately, and failures by address. */
#define AUTHN_CACHE	64
#define AUTHN_FAILS	256
struct authn_cached {
	char		 ac_user[128];
	unsigned char	 ac_key[32];	/* SHA-256 of salt, user, password */
	int64_t		 ac_pid;
	time_t		 ac_expires;
};

struct authn_fail {
	char		 af_addr[64];
	int		 af_count;
	time_t		 af_first;
};

struct authn_state {
	unsigned char		 as_salt[16];
	char			 as_dummy[200];	/* hash for unknown users */
	struct authn_cached	 as_cache[AUTHN_CACHE];
	int			 as_next;
	struct authn_fail	 as_fails[AUTHN_FAILS];
};

/* A request header, split in place in the request's header block. */
struct req_hdr {
	const char	*h_name;
	const char	*h_value;
};

#define REQ_H_CTYPE	0x01	/* Content-Type among the reply headers */
#define REQ_H_CACHE	0x02	/* Cache-Control */

/* One request from arrival to reply. */
struct req {
	struct ecsd			*rq_env;
	struct conn			*rq_conn;	/* NULL: gone */
	int				 rq_method;	/* EVHTTP_REQ_* */
	int				 rq_major;	/* HTTP version */
	int				 rq_minor;
	int				 rq_close;	/* close after the reply */
	int				 rq_chunked;
	int				 rq_expect;	/* 100-continue */
	int64_t				 rq_clen;	/* Content-Length */
	char				*rq_uri;	/* as sent, in rq_hblock */
	char				*rq_hblock;	/* header block, split */
	size_t				 rq_hcap;
	size_t				 rq_hbytes;	/* its length */
	struct req_hdr			*rq_hv;		/* its headers */
	size_t				 rq_nhv;
	size_t				 rq_hvcap;
	struct evbuffer			*rq_in;		/* request body */
	struct buf			 rq_hout;	/* reply headers */
	int				 rq_hflags;	/* REQ_H_* in rq_hout */
	struct evbuffer			*rq_out;	/* the reply as sent */
	const char			*rq_mname;
	const char			*rq_path;	/* normalised, no query */
	const char			*rq_query;	/* or NULL */
	char				 rq_peer[64];
	struct timespec			 rq_start;
	int				 rq_authed;
	char				 rq_authid[256];	/* as used */
	struct ecs_participant		 rq_caller;
	int				 rq_admin;
	int				 rq_wrote;	/* took part in a batch */
	int				 rq_plain;	/* writes without a savepoint */
	uint64_t			 rq_wmark;	/* store_writes before */
	int				 rq_status;
	int				 rq_head;
	int				 rq_tls;
	int				 rq_dead;	/* peer went away */
	int				 rq_parked;	/* a waiting events fifo */
	int				 rq_deferred;	/* a pop on e_pops */
	struct ecs_resource		*rq_pop_res;	/* its resource */
	int				 rq_pop_lifo;
	int				 rq_delayed;	/* a throttled reply */
	struct event			*rq_wait_timer;
	int				 rq_wait_fmt;
	int				 rq_wait_pop;
	int64_t				 rq_wait_count;
	TAILQ_ENTRY(req)		 rq_wentry;
	struct evbuffer			*rq_body;
#define REQ_SCRATCH	8
	char				*rq_scratch[REQ_SCRATCH];
	int				 rq_nscratch;
	TAILQ_ENTRY(req)		 rq_entry;
};
TAILQ_HEAD(reqlist, req);

/* A running plugin (plugin.c). */
struct plugin_proc {
	struct ecsd			*pp_env;
	const struct plugin_conf	*pp_conf;
	pid_t				 pp_pid;	/* 0: not running */
	time_t				 pp_started;
	int				 pp_restarts;
	struct event			*pp_timer;
	char				 pp_participant[256];
	char				 pp_authid[128];
	char				 pp_secret[4200];	/* password file */
};

/* The daemon's one context. */
struct ecsd {
	struct conf		 e_conf;
	struct event_base	*e_base;
	void			*e_tls_ctx;	/* SSL_CTX */
	char			 e_bound_tls[80];
	struct store		*e_store;
	struct event		*e_commit_ev;
	struct event		*e_notify_ev;	/* other nodes' commits */
	struct event		*e_notify_timer;
	int			 e_notify_fd;
	int			 e_notify_lost;
	struct event		*e_sigterm;
	struct event		*e_sigint;
	struct event		*e_auth_gc;
	struct event		*e_gc;
	struct reqlist		 e_pending;	/* replies waiting for commit */
	struct reqlist		 e_waiters;	/* parked /sys/events/fifo */
	struct reqlist		 e_pops;	/* pops run at the commit */
	struct reqlist		 e_reqpool;	/* freed requests for reuse */
	int			 e_nreqpool;
	int			 e_reqpool_max;	/* 0 once stopping */
	int			 e_nwaiters;
	struct authn_state	 e_authn;
	struct lookup_cache	*e_cache;
	struct connlist		 e_connlist;
	int			 e_conns_on;
	size_t			 e_nconns;
	struct event		*e_sweep;
	struct evconnlistener	*e_listeners[2];
	int			 e_nlisteners;
	int			 e_listeners_off;
	struct listener_ctx	 e_lctx[2];
	struct plugin_proc	 e_plugins[PLUGIN_MAX];
	int			 e_nplugins;
	struct event		*e_sigchld;
	char			*e_admin_pw;
	char			 e_bound[80];
	int			 e_lfd[2];	/* a worker's sockets, or -1 */
	int			 e_worker;	/* 0..workers-1 */
	int			 e_stopping;
	uint64_t		 e_batches;
	int			 e_batch_writes;
};

/* conf.c */
void	 conf_defaults(struct conf *);
void	 conf_free(struct conf *);
int	 conf_set(struct conf *, const char *key, const char *value,
	    char *err, size_t);
int	 conf_load(struct conf *, const char *path);
int	 conf_finish(struct conf *);
int	 netlist_parse(struct netlist *, const char *, char *, size_t);
int	 netlist_match(const struct netlist *, const struct sockaddr *);
int	 netlist_match_str(const struct netlist *, const char *);
int	 plugin_conf_set(struct conf *, const char *name, const char *key,
	    const char *value, char *err, size_t);
void	 plugin_conf_free(struct conf *);

/* log.c */
enum { LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
void	 log_init(int level);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 log_escape(const char *, char *, size_t);
int	 log_enabled(int level);
void	 log_write(const char *, size_t);

/* http.c */
int	 http_start(struct ecsd *);
void	 http_stop(struct ecsd *);
void	 http_commit_now(struct ecsd *);
int	 http_notify_start(struct ecsd *);
void	 http_send_now(struct req *);
struct req *http_req_new(struct ecsd *);
void	 http_req_free(struct req *);
void	 http_request(struct req *);
void	 http_refuse(struct req *, int, const char *);
void	 http_gone(struct req *);
void	 http_park(struct req *, int seconds);
void	 http_unpark(struct req *);
void	 http_delay(struct req *, int seconds);
int	 http_begin_write(struct req *);
int	 http_begin_plain_write(struct req *);
int	 http_defer_pop(struct req *, const struct ecs_resource *, int lifo);
void	 http_end_write(struct req *, int ok);
const char *req_header(struct req *, const char *);
const char *req_header_list(struct req *, const char *);
void	 reply_add_header(struct req *, const char *, const char *);
void	 reply(struct req *, int status, const char *ctype, const void *,
	    size_t);
void	 reply_text(struct req *, int status, const char *text);
void	 reply_empty(struct req *, int status);
void	 reply_repr(struct req *, int status, int fmt, const struct buf *);
void	 reply_error(struct req *, const struct ecs_error *);
int	 err_status(enum ecs_err);
const char *req_body(struct req *, size_t *);
void	 req_base_url(struct req *, char *, size_t);
int	 req_query_flag(struct req *, const char *key, char *val, size_t);
int	 req_flag(struct req *, const char *key, char *val, size_t);
int	 http_split_addr(const char *, char *, size_t, int *);
int	 http_sock_name(int, char *, size_t);

/* workers.c */
int	 workers_run(struct ecsd *, int *rc);

/* cache.c */
int	 cache_init(struct ecsd *);
void	 cache_free(struct ecsd *);
enum ecs_err cache_identity(struct ecsd *, const char *, struct ecs_participant *);
enum ecs_err cache_resource(struct ecsd *, const char *ns, const char *name,
	    struct ecs_resource *);

/* hparse.c */
size_t	 hparse_end(const unsigned char *, size_t, size_t);
int	 hparse_head(struct req *, char *, size_t, const char **);
int	 hparse_framing(struct req *, int64_t, const char **);
const char *hparse_method_name(int);

/* conn.c */
int	 conn_start(struct ecsd *);
void	 conn_stop(struct ecsd *);
int	 conn_listen(struct ecsd *, const char *, char *, size_t, int);
int	 conn_request(struct req *);
void	 conn_write(struct req *, struct evbuffer *);
void	 conn_done(struct conn *, struct req *);

/* plugin.c */
int	 plugin_start(struct ecsd *);
void	 plugin_stop(struct ecsd *);

/* tls.c */
struct bufferevent;
void	*tls_server_ctx(const struct conf *);
void	 tls_ctx_free(void *);
struct bufferevent *tls_bev_new(struct event_base *, int, void *);
int	 tls_peer_identity(struct bufferevent *, char *, size_t, char *,
	    size_t);

/* authn.c */
#define AUTHN_COOKIES	0x01
#define AUTHN_TTL	0x02
int	 authn_participant(struct req *, int);
int	 authn_admin(struct req *);
int	 authn_init(struct ecsd *);
void	 authn_forget(struct ecsd *);

/* route.c */
void	 route_dispatch(struct req *);

/* res_messages.c */
void	 res_messages_pop(struct req *, const struct ecs_resource *, int lifo);
void	 res_messages(struct req *, const struct ecs_resource *, char **seg,
	    int nseg);

/* res_subparticipants.c */
void	 res_subparticipants(struct req *, char **seg, int nseg, int fmt);

/* res_sys.c */
void	 res_events(struct req *, int fifo, int fmt);
void	 res_events_wake(struct ecsd *, const struct ivec *pids);
int	 res_events_answer(struct req *);
void	 res_memberships(struct req *, int fmt);
void	 res_configs(struct req *, int fmt);
int	 res_negotiate(struct req *, const char *offers, char suffix);

/* admin.c */
void	 admin_dispatch(struct req *, char **seg, int nseg);

#endif /* ECSD_H */
