/*
 * classroom.h: the classroom sessions plugin (Classy-like), one private
 * header grouped by defining file.
 *
 * The plugin is an ordinary ECS participant. Clients (teachers, students,
 * the frontends of guests) send JSON requests as messages on the
 * classroom resources addressed to the plugin's membership; the plugin
 * answers with messages addressed to the sender's membership, and fans
 * chat and avatar state out to the memberships of a live session. See
 * classroom(7) for the resources and their JSON.
 *
 * Everything runs on the ecc-host event loop, one callback at a time, so
 * nothing here is locked. Calls to the broker are asynchronous; a callback
 * that needs a session or a member looks it up again by id, because the
 * session may have ended while the call was under way.
 */
#ifndef CLASSROOM_H
#define CLASSROOM_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ecs/plugin.h>

#define CR_NS			"classroom"
#define CR_CODE_LEN		5
#define CR_CODE_ALPHABET	"34679ACDEFGHJKMNPQRTVWXY"
#define CR_CODE_TRIES		64	/* attempts before giving up */
#define CR_CAPACITY		30	/* default members per session */
#define CR_CAPACITY_MAX		1000
#define CR_MAX_BODY		(64 * 1024)	/* largest request body */
#define CR_MAX_TEXT		4096	/* largest chat message, bytes */
#define CR_MAX_NAME		64	/* largest display name, bytes */
#define CR_MAX_TITLE		200
#define CR_MAX_DESC		8192
#define CR_MAX_SESSIONS		10000	/* scheduled and live at once */
#define CR_MAX_CHAT		10000	/* chat messages per session */
#define CR_JOIN_FAILS		10	/* failed joins per window */
#define CR_JOIN_WINDOW		60	/* seconds */
#define CR_JSON_DEPTH		16

/* The resources of the plugin, in the order of cr_resources[]. */
enum cr_res {
	CR_RES_EXPERIENCES = 0,
	CR_RES_SESSIONS,
	CR_RES_JOINS,
	CR_RES_CONTROL,
	CR_RES_CHAT,
	CR_RES_STATE,
	CR_RES_ATTENDANCE,
	CR_RES_NONE
};

/* ---- cr_buf.c: bounded strings and a JSON writer ---------------------- */

struct cr_buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_cap;
	size_t	 b_max;		/* largest length; past it b_err is set */
	int	 b_err;		/* out of memory or over b_max */
};

#define CR_JW_DEPTH	(CR_JSON_DEPTH + 2)

struct cr_jw {
	struct cr_buf	*jw_buf;
	int		 jw_depth;
	int		 jw_count[CR_JW_DEPTH];
	int		 jw_after_key;
};

void		 cr_buf_init(struct cr_buf *, size_t max);
void		 cr_buf_free(struct cr_buf *);
void		 cr_buf_add(struct cr_buf *, const char *, size_t);
void		 cr_buf_adds(struct cr_buf *, const char *);
void		 cr_buf_addf(struct cr_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* The text so far, NUL-terminated (borrowed; "" when empty). */
const char	*cr_buf_str(const struct cr_buf *);

void	 cr_jw_init(struct cr_jw *, struct cr_buf *);
void	 cr_jw_obj_open(struct cr_jw *);
void	 cr_jw_obj_close(struct cr_jw *);
void	 cr_jw_arr_open(struct cr_jw *);
void	 cr_jw_arr_close(struct cr_jw *);
void	 cr_jw_key(struct cr_jw *, const char *);
void	 cr_jw_str(struct cr_jw *, const char *);	/* NULL: null */
void	 cr_jw_int(struct cr_jw *, int64_t);
void	 cr_jw_bool(struct cr_jw *, int);
void	 cr_jw_null(struct cr_jw *);
/* A value already in JSON (trusted: written by this plugin). */
void	 cr_jw_raw(struct cr_jw *, const char *);
void	 cr_jw_kstr(struct cr_jw *, const char *, const char *);
void	 cr_jw_kint(struct cr_jw *, const char *, int64_t);
void	 cr_jw_kbool(struct cr_jw *, const char *, int);
/* Time t as "YYYY-MM-DDTHH:MM:SSZ". */
void	 cr_jw_ktime(struct cr_jw *, const char *, time_t);

/* ---- cr_json.c: parsing (the only user of yajl) ----------------------- */

struct cr_json;		/* a parsed value; owned by its root */

enum cr_jtype {
	CR_JNULL,
	CR_JFALSE,
	CR_JTRUE,
	CR_JNUMBER,
	CR_JSTRING,
	CR_JARRAY,
	CR_JOBJECT
};

/* Parse a NUL-terminated text; NULL on error with a reason in err. */
struct cr_json		*cr_json_parse(const char *, char *err, size_t);
void			 cr_json_free(struct cr_json *);
enum cr_jtype		 cr_json_type(const struct cr_json *);
const struct cr_json	*cr_json_get(const struct cr_json *, const char *);
const char		*cr_json_str(const struct cr_json *);
int			 cr_json_int(const struct cr_json *, int64_t *);
int			 cr_json_bool(const struct cr_json *, int *);
size_t			 cr_json_len(const struct cr_json *);
const struct cr_json	*cr_json_at(const struct cr_json *, size_t);
/* Write a parsed value back out. */
void			 cr_jw_value(struct cr_jw *, const struct cr_json *);

/* ---- cr_code.c: join codes and avatars -------------------------------- */

/* Random bytes from the kernel; 0 or -1. */
int	 cr_random(void *, size_t);
/*
 * A new code in out (CR_CODE_LEN characters and a NUL) that taken() says
 * is free; 0, or -1 after CR_CODE_TRIES collisions or without randomness.
 */
int	 cr_code_new(char *out, int (*taken)(const char *, void *), void *);
/* Normalise what a user typed into out; 0 if it can be a code, else -1. */
int	 cr_code_normalise(const char *in, char *out);
/* A generated avatar: a JSON object text into out. */
void	 cr_avatar_new(char *out, size_t);

/* ---- cr_db.c: experiences, sessions and attendance in SQLite ---------- */

struct cr_db;

struct cr_exp {
	int64_t	 ex_id;
	int64_t	 ex_owner;	/* pid of the teacher */
	char	*ex_owner_name;
	char	*ex_title;
	char	*ex_desc;
	char	*ex_media;	/* a JSON array */
	int	 ex_public;
};

/* What survives a restart of a session; the live state is memory only. */
struct cr_srow {
	int64_t	 sr_id;
	int64_t	 sr_owner;
	char	*sr_owner_name;
	int64_t	 sr_owner_mid;
	int64_t	 sr_experience;
	char	*sr_title;
	char	*sr_when;
	char	*sr_code;
	int	 sr_live;
	int	 sr_approval;
	int	 sr_capacity;
};

int	 cr_db_open(struct cr_db **, const char *path, char *err, size_t);
void	 cr_db_close(struct cr_db *);
int	 cr_db_exp_insert(struct cr_db *, struct cr_exp *);
/* 0 found, 1 not found, -1 error. */
int	 cr_db_exp_get(struct cr_db *, int64_t, struct cr_exp *);
int	 cr_db_exp_update(struct cr_db *, const struct cr_exp *);
int	 cr_db_exp_delete(struct cr_db *, int64_t);
/* Own (owner) and public experiences, by id. */
int	 cr_db_exp_list(struct cr_db *, int64_t owner,
	    void (*)(const struct cr_exp *, void *), void *);
void	 cr_exp_clear(struct cr_exp *);
int	 cr_db_session_insert(struct cr_db *, struct cr_srow *);
int	 cr_db_session_update(struct cr_db *, const struct cr_srow *);
/* The session ends: its code goes to the expired ones. */
int	 cr_db_session_end(struct cr_db *, int64_t, const char *code);
int	 cr_db_session_delete(struct cr_db *, int64_t);
/* Scheduled and live sessions, for a restart. */
int	 cr_db_session_load(struct cr_db *,
	    void (*)(const struct cr_srow *, void *), void *);
/* 1 if an ended session had this code, 0 if not, -1 error. */
int	 cr_db_code_expired(struct cr_db *, const char *);
int	 cr_db_attend(struct cr_db *, int64_t session, int64_t pid,
	    const char *name, time_t);
/* 1 if the experience is used by a scheduled or live session. */
int	 cr_db_exp_in_use(struct cr_db *, int64_t);

/* ---- cr_session.c: live sessions -------------------------------------- */

enum cr_kind {
	CR_TEACHER,
	CR_REGISTERED,
	CR_GUEST
};

enum cr_mstate {
	CR_WAITING,
	CR_ADMITTED
};

struct cr_member {
	TAILQ_ENTRY(cr_member)	 m_entry;
	int64_t			 m_mid;		/* the address */
	int64_t			 m_pid;
	enum cr_kind		 m_kind;
	enum cr_mstate		 m_state;
	char			*m_name;	/* display name */
	char			*m_avatar;	/* JSON object */
	time_t			 m_joined;
	/* The member's avatar state message (position, rotation). */
	int64_t			 m_state_id;	/* broker id, 0: none yet */
	int			 m_state_busy;	/* a POST or PUT under way */
	char			*m_state_body;	/* latest, not yet sent */
};

struct cr_chat {
	TAILQ_ENTRY(cr_chat)	 c_entry;
	int64_t			 c_seq;
	int64_t			 c_id;		/* broker id, 0 until posted */
	int64_t			 c_author;	/* member mid */
	char			*c_name;
	char			*c_text;
	time_t			 c_sent;
	int			 c_edited;
};

/* A registered student seen admitted; the attendance list. */
struct cr_seen {
	TAILQ_ENTRY(cr_seen)	 se_entry;
	int64_t			 se_pid;
	char			*se_name;
	time_t			 se_first;
};

struct cr_ban {
	TAILQ_ENTRY(cr_ban)	 ban_entry;
	int64_t			 ban_pid;
};

enum cr_sstatus {
	CR_SCHEDULED,
	CR_LIVE
};

struct cr_session {
	TAILQ_ENTRY(cr_session)		 s_entry;
	struct cr_srow			 s_row;
	enum cr_sstatus			 s_status;
	time_t				 s_started;
	int64_t				 s_chat_seq;
	size_t				 s_nchat;
	TAILQ_HEAD(, cr_member)		 s_members;
	TAILQ_HEAD(, cr_chat)		 s_chat;
	TAILQ_HEAD(, cr_seen)		 s_seen;
	TAILQ_HEAD(, cr_ban)		 s_bans;
};

/* ---- classroom.c: the plugin and its request pipeline ----------------- */

/* A participant as the plugin's memberships show it. */
struct cr_peer {
	int64_t	 pe_mid;
	int64_t	 pe_cid;
	int64_t	 pe_pid;
	char	*pe_name;
	char	*pe_type;	/* main, sub, anonym */
};

/* One request: a message a client sent to the plugin. */
struct cr_req {
	TAILQ_ENTRY(cr_req)	 rq_entry;
	enum cr_res		 rq_res;
	int64_t			 rq_id;		/* the request message */
	int64_t			 rq_mid;	/* the sender's membership */
	int			 rq_refreshed;	/* peers reloaded for it */
	struct cr_json		*rq_doc;
	const char		*rq_op;		/* borrowed from rq_doc */
	const struct cr_peer	*rq_peer;	/* set while handled */
};

struct cr_throttle {
	TAILQ_ENTRY(cr_throttle) th_entry;
	int64_t			 th_pid;
	time_t			 th_start;
	int			 th_fails;
};

/* An asynchronous call's context, freed by its callback or at shutdown. */
struct cr_call {
	TAILQ_ENTRY(cr_call)	 ca_entry;
	struct classroom	*ca_cr;
	enum cr_res		 ca_res;
	int64_t			 ca_a;		/* message or session id */
	int64_t			 ca_b;		/* chat seq or member mid */
	int			 ca_retry;
};

struct classroom {
	struct ecs_plugin_host		*cr_host;
	struct ecc			*cr_ecc;
	struct cr_db			*cr_db;
	int				 cr_capacity;
	char				*cr_teachers;	/* names, or NULL */
	char				*cr_attendance;	/* communities */
	TAILQ_HEAD(, cr_req)		 cr_reqs;
	int				 cr_refreshing;
	struct cr_peer			*cr_peers;
	size_t				 cr_npeers;
	TAILQ_HEAD(, cr_session)	 cr_sessions;
	size_t				 cr_nsessions;
	TAILQ_HEAD(, cr_throttle)	 cr_throttles;
	TAILQ_HEAD(, cr_call)		 cr_calls;
	int				 cr_stopping;
};

/* A reply under construction: the envelope is written by reply_begin. */
struct cr_reply {
	struct cr_buf	 rp_buf;
	struct cr_jw	 rp_jw;
};

extern const char *const cr_resources[];

void	 cr_log(struct classroom *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 cr_reply_begin(struct cr_reply *, const struct cr_req *, int status);
void	 cr_reply_send(struct classroom *, struct cr_reply *,
	    const struct cr_req *);
void	 cr_reply_error(struct classroom *, const struct cr_req *, int,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
/* Post a JSON body on resource to the mids; the body is copied. */
void	 cr_post(struct classroom *, enum cr_res, const char *mids,
	    const char *communities, const char *body);
struct cr_call *cr_call_new(struct classroom *, enum cr_res, int64_t,
	    int64_t);
void	 cr_call_free(struct cr_call *);
int	 cr_is_teacher(struct classroom *, const struct cr_peer *);
const struct cr_peer *cr_peer_find(struct classroom *, int64_t mid);
void	 cr_peers_reload(struct classroom *);
/* Request fields, with the error replied when absent or wrong. */
int	 cr_req_int(struct classroom *, const struct cr_req *, const char *,
	    int64_t *);
/* A string field: 0 (*out NULL when absent and optional) or -1. */
int	 cr_req_str(struct classroom *, const struct cr_req *, const char *,
	    size_t max, int required, const char **out);
int	 cr_req_bool(struct classroom *, const struct cr_req *, const char *,
	    int *);
/* At most max bytes, no control characters (lines: tabs and newlines). */
int	 cr_text_ok(const char *, size_t max, int lines);

/* cr_session.c */
struct cr_session *cr_session_find(struct classroom *, int64_t);
struct cr_session *cr_session_by_code(struct classroom *, const char *);
struct cr_session *cr_session_add(struct classroom *, const struct cr_srow *);
void	 cr_session_free(struct cr_session *);
void	 cr_session_write(struct cr_jw *, const struct cr_session *);
/*
 * End a session for everyone and free it; w (or NULL) receives the
 * attendance and, with export, the chat.
 */
void	 cr_session_terminate(struct classroom *, struct cr_session *,
	    struct cr_jw *w, int export);
void	 cr_handle_sessions(struct classroom *, struct cr_req *);
void	 cr_handle_joins(struct classroom *, struct cr_req *);
void	 cr_handle_control(struct classroom *, struct cr_req *);
void	 cr_handle_chat(struct classroom *, struct cr_req *);
void	 cr_handle_state(struct classroom *, struct cr_req *);
/* Members whose memberships vanished (garbage collection) leave. */
void	 cr_sessions_prune(struct classroom *);

/* cr_experience.c */
void	 cr_handle_experiences(struct classroom *, struct cr_req *);

#endif /* CLASSROOM_H */
