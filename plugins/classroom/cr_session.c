/*
 * cr_session.c: sessions, joining, the waiting room, moderation, chat and
 * avatar state.
 *
 * Fan-out goes through the broker: a chat message becomes one message of
 * the plugin on classroom/chat addressed to the memberships of every
 * admitted member (X-EcsReceiverMemberships), so each gets a `created`
 * event; an edit is a PUT of that message (`updated`); terminating deletes
 * the messages as sender (`destroyed`) and forgets the chat. Avatar state
 * is one message per member that later updates replace with PUT, so the
 * broker's event de-duplication drops superseded positions. The chat
 * lives in memory only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classroom.h"

static const char *const kind_names[] = { "teacher", "registered", "guest" };

/* ---- sessions and members ------------------------------------------- */

struct cr_session *
cr_session_find(struct classroom *cr, int64_t id)
{
	struct cr_session	*s;

	TAILQ_FOREACH(s, &cr->cr_sessions, s_entry)
		if (s->s_row.sr_id == id)
			return s;
	return NULL;
}

struct cr_session *
cr_session_by_code(struct classroom *cr, const char *code)
{
	struct cr_session	*s;

	TAILQ_FOREACH(s, &cr->cr_sessions, s_entry)
		if (strcmp(s->s_row.sr_code, code) == 0)
			return s;
	return NULL;
}

static int
code_taken(const char *code, void *arg)
{
	return cr_session_by_code(arg, code) != NULL;
}

struct cr_session *
cr_session_add(struct classroom *cr, const struct cr_srow *row)
{
	struct cr_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	TAILQ_INIT(&s->s_members);
	TAILQ_INIT(&s->s_chat);
	TAILQ_INIT(&s->s_seen);
	TAILQ_INIT(&s->s_bans);
	s->s_row = *row;
	s->s_row.sr_owner_name = strdup(row->sr_owner_name);
	s->s_row.sr_title = strdup(row->sr_title);
	s->s_row.sr_when = strdup(row->sr_when);
	s->s_row.sr_code = strdup(row->sr_code);
	if (s->s_row.sr_owner_name == NULL || s->s_row.sr_title == NULL ||
	    s->s_row.sr_when == NULL || s->s_row.sr_code == NULL) {
		cr_session_free(s);
		return NULL;
	}
	s->s_status = CR_SCHEDULED;
	TAILQ_INSERT_TAIL(&cr->cr_sessions, s, s_entry);
	cr->cr_nsessions++;
	return s;
}

static void
member_free(struct cr_member *m)
{
	if (m == NULL)
		return;
	free(m->m_name);
	free(m->m_avatar);
	free(m->m_state_body);
	free(m);
}

static void
chat_free(struct cr_chat *c)
{
	if (c == NULL)
		return;
	free(c->c_name);
	free(c->c_text);
	free(c);
}

void
cr_session_free(struct cr_session *s)
{
	struct cr_member	*m;
	struct cr_chat		*c;
	struct cr_seen		*se;
	struct cr_ban		*b;

	if (s == NULL)
		return;
	while ((m = TAILQ_FIRST(&s->s_members)) != NULL) {
		TAILQ_REMOVE(&s->s_members, m, m_entry);
		member_free(m);
	}
	while ((c = TAILQ_FIRST(&s->s_chat)) != NULL) {
		TAILQ_REMOVE(&s->s_chat, c, c_entry);
		chat_free(c);
	}
	while ((se = TAILQ_FIRST(&s->s_seen)) != NULL) {
		TAILQ_REMOVE(&s->s_seen, se, se_entry);
		free(se->se_name);
		free(se);
	}
	while ((b = TAILQ_FIRST(&s->s_bans)) != NULL) {
		TAILQ_REMOVE(&s->s_bans, b, ban_entry);
		free(b);
	}
	free(s->s_row.sr_owner_name);
	free(s->s_row.sr_title);
	free(s->s_row.sr_when);
	free(s->s_row.sr_code);
	free(s);
}

static void
session_remove(struct classroom *cr, struct cr_session *s)
{
	TAILQ_REMOVE(&cr->cr_sessions, s, s_entry);
	cr->cr_nsessions--;
	cr_session_free(s);
}

static struct cr_member *
member_find(struct cr_session *s, int64_t mid)
{
	struct cr_member	*m;

	TAILQ_FOREACH(m, &s->s_members, m_entry)
		if (m->m_mid == mid)
			return m;
	return NULL;
}

static int
session_count(const struct cr_session *s, int admitted)
{
	const struct cr_member	*m;
	int			 n = 0;

	TAILQ_FOREACH(m, &s->s_members, m_entry)
		if (m->m_kind != CR_TEACHER &&
		    (m->m_state == CR_ADMITTED) == admitted)
			n++;
	return n;
}

/*
 * The memberships of the members in state st (or all with st -1), except
 * one, as a comma list into b; the number of them.
 */
static int
session_mids(const struct cr_session *s, int st, int64_t except,
    struct cr_buf *b)
{
	const struct cr_member	*m;
	int			 n = 0;

	TAILQ_FOREACH(m, &s->s_members, m_entry) {
		if ((st != -1 && (int)m->m_state != st) || m->m_mid == except)
			continue;
		cr_buf_addf(b, "%s%lld", n ? "," : "", (long long)m->m_mid);
		n++;
	}
	return b->b_err ? 0 : n;
}

void
cr_session_write(struct cr_jw *w, const struct cr_session *s)
{
	cr_jw_obj_open(w);
	cr_jw_kint(w, "id", s->s_row.sr_id);
	cr_jw_kstr(w, "title", s->s_row.sr_title);
	cr_jw_kstr(w, "datetime", s->s_row.sr_when);
	cr_jw_kint(w, "experience", s->s_row.sr_experience);
	cr_jw_kstr(w, "code", s->s_row.sr_code);
	cr_jw_kstr(w, "status", s->s_status == CR_LIVE ? "live" :
	    "scheduled");
	cr_jw_kbool(w, "approval", s->s_row.sr_approval);
	cr_jw_kint(w, "capacity", s->s_row.sr_capacity);
	cr_jw_kint(w, "teacher", s->s_row.sr_owner);
	cr_jw_kint(w, "admitted", session_count(s, 1));
	cr_jw_kint(w, "waiting", session_count(s, 0));
	cr_jw_obj_close(w);
}

/* What a joiner learns about the session. */
static void
session_write_public(struct cr_jw *w, const struct cr_session *s)
{
	cr_jw_obj_open(w);
	cr_jw_kint(w, "id", s->s_row.sr_id);
	cr_jw_kstr(w, "title", s->s_row.sr_title);
	cr_jw_kstr(w, "datetime", s->s_row.sr_when);
	cr_jw_kint(w, "experience", s->s_row.sr_experience);
	cr_jw_kstr(w, "status", s->s_status == CR_LIVE ? "live" :
	    "scheduled");
	cr_jw_obj_close(w);
}

static void
member_write(struct cr_jw *w, const struct cr_member *m)
{
	cr_jw_obj_open(w);
	cr_jw_kint(w, "member", m->m_mid);
	cr_jw_kstr(w, "name", m->m_name);
	cr_jw_key(w, "avatar");
	cr_jw_raw(w, m->m_avatar);
	cr_jw_kstr(w, "role", kind_names[m->m_kind]);
	cr_jw_kstr(w, "state", m->m_state == CR_ADMITTED ? "admitted" :
	    "waiting");
	cr_jw_obj_close(w);
}

static void
chat_write(struct cr_jw *w, const struct cr_session *s,
    const struct cr_chat *c)
{
	cr_jw_obj_open(w);
	cr_jw_kint(w, "session", s->s_row.sr_id);
	if (c->c_id != 0)
		cr_jw_kint(w, "messageId", c->c_id);
	cr_jw_kint(w, "seq", c->c_seq);
	cr_jw_key(w, "from");
	cr_jw_obj_open(w);
	cr_jw_kint(w, "member", c->c_author);
	cr_jw_kstr(w, "name", c->c_name);
	cr_jw_obj_close(w);
	cr_jw_kstr(w, "message", c->c_text);
	cr_jw_ktime(w, "sent", c->c_sent);
	cr_jw_kbool(w, "edited", c->c_edited);
	cr_jw_obj_close(w);
}

/* A notice on classroom/control to the memberships in mids. */
static void
notice(struct classroom *cr, const char *mids, const struct cr_session *s,
    const char *event, const struct cr_member *m, const char *message)
{
	struct cr_buf	 b;
	struct cr_jw	 w;

	if (mids == NULL || *mids == '\0')
		return;
	cr_buf_init(&b, CR_MAX_BODY);
	cr_jw_init(&w, &b);
	cr_jw_obj_open(&w);
	cr_jw_kstr(&w, "event", event);
	cr_jw_kint(&w, "session", s->s_row.sr_id);
	if (m != NULL) {
		cr_jw_key(&w, "member");
		member_write(&w, m);
	}
	if (message != NULL)
		cr_jw_kstr(&w, "message", message);
	cr_jw_obj_close(&w);
	if (!b.b_err)
		cr_post(cr, CR_RES_CONTROL, mids, NULL, cr_buf_str(&b));
	cr_buf_free(&b);
}

static void
notice_one(struct classroom *cr, int64_t mid, const struct cr_session *s,
    const char *event, const struct cr_member *m, const char *message)
{
	char	 buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)mid);
	notice(cr, buf, s, event, m, message);
}

/* A registered student counts as present once admitted. */
static void
session_seen(struct cr_session *s, const struct cr_member *m)
{
	struct cr_seen	*se;

	if (m->m_kind != CR_REGISTERED || m->m_state != CR_ADMITTED)
		return;
	TAILQ_FOREACH(se, &s->s_seen, se_entry)
		if (se->se_pid == m->m_pid)
			return;
	if ((se = calloc(1, sizeof(*se))) == NULL)
		return;
	if ((se->se_name = strdup(m->m_name)) == NULL) {
		free(se);
		return;
	}
	se->se_pid = m->m_pid;
	se->se_first = time(NULL);
	TAILQ_INSERT_TAIL(&s->s_seen, se, se_entry);
}

static int
session_banned(const struct cr_session *s, int64_t pid)
{
	const struct cr_ban	*b;

	TAILQ_FOREACH(b, &s->s_bans, ban_entry)
		if (b->ban_pid == pid)
			return 1;
	return 0;
}

static void
delete_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct classroom	*cr = arg;

	if (err->ee_code != ECS_OK && err->ee_code != ECS_ENOTFOUND)
		cr_log(cr, 0, "delete: %d %s", err->ee_status, err->ee_text);
	ecc_reply_free(r);
}

/* Delete a message the plugin sent; receivers get `destroyed`. */
static void
unsend(struct classroom *cr, enum cr_res res, int64_t id)
{
	if (id > 0 && ecc_delete_async(cr->cr_ecc, cr_resources[res], id,
	    delete_done, cr) != ECS_OK)
		cr_log(cr, 0, "delete %s/%lld: cannot queue",
		    cr_resources[res], (long long)id);
}

/* A member leaves (removed, left, or gone from the broker). */
static void
member_drop(struct classroom *cr, struct cr_session *s, struct cr_member *m)
{
	TAILQ_REMOVE(&s->s_members, m, m_entry);
	unsend(cr, CR_RES_STATE, m->m_state_id);
	member_free(m);
}

void
cr_sessions_prune(struct classroom *cr)
{
	struct cr_session	*s;
	struct cr_member	*m, *next;

	TAILQ_FOREACH(s, &cr->cr_sessions, s_entry)
		for (m = TAILQ_FIRST(&s->s_members); m != NULL; m = next) {
			next = TAILQ_NEXT(m, m_entry);
			if (cr_peer_find(cr, m->m_mid) == NULL) {
				cr_log(cr, 1, "session %lld: membership %lld"
				    " is gone", (long long)s->s_row.sr_id,
				    (long long)m->m_mid);
				member_drop(cr, s, m);
			}
		}
}

/* ---- terminate ------------------------------------------------------ */

static void
attendance_publish(struct classroom *cr, const struct cr_session *s)
{
	const struct cr_seen	*se;
	struct cr_buf		 b;
	struct cr_jw		 w;
	char			 mid[32];
	struct ecc_addr		 a;

	cr_buf_init(&b, CR_MAX_BODY * 16);
	cr_jw_init(&w, &b);
	cr_jw_obj_open(&w);
	cr_jw_key(&w, "session");
	cr_jw_obj_open(&w);
	cr_jw_kint(&w, "id", s->s_row.sr_id);
	cr_jw_kstr(&w, "title", s->s_row.sr_title);
	cr_jw_kstr(&w, "datetime", s->s_row.sr_when);
	cr_jw_kint(&w, "experience", s->s_row.sr_experience);
	cr_jw_ktime(&w, "started", s->s_started);
	cr_jw_ktime(&w, "ended", time(NULL));
	cr_jw_obj_close(&w);
	cr_jw_key(&w, "teacher");
	cr_jw_obj_open(&w);
	cr_jw_kint(&w, "pid", s->s_row.sr_owner);
	cr_jw_kstr(&w, "name", s->s_row.sr_owner_name);
	cr_jw_obj_close(&w);
	cr_jw_key(&w, "attendees");
	cr_jw_arr_open(&w);
	TAILQ_FOREACH(se, &s->s_seen, se_entry) {
		cr_jw_obj_open(&w);
		cr_jw_kint(&w, "pid", se->se_pid);
		cr_jw_kstr(&w, "name", se->se_name);
		cr_jw_ktime(&w, "first_seen", se->se_first);
		cr_jw_obj_close(&w);
	}
	cr_jw_arr_close(&w);
	cr_jw_obj_close(&w);
	if (b.b_err) {
		cr_log(cr, 0, "session %lld: attendance too large",
		    (long long)s->s_row.sr_id);
		cr_buf_free(&b);
		return;
	}
	snprintf(mid, sizeof(mid), "%lld", (long long)s->s_row.sr_owner_mid);
	a.ea_mids = mid;
	a.ea_communities = cr->cr_attendance;
	cr_post(cr, CR_RES_ATTENDANCE, a.ea_mids, a.ea_communities,
	    cr_buf_str(&b));
	cr_buf_free(&b);
}

void
cr_session_terminate(struct classroom *cr, struct cr_session *s,
    struct cr_jw *w, int export)
{
	const struct cr_seen	*se;
	const struct cr_chat	*c;
	const struct cr_member	*m;
	struct cr_buf		 b;

	/* Everyone hears first, before their messages disappear. */
	cr_buf_init(&b, CR_MAX_BODY * 16);
	if (session_mids(s, -1, 0, &b) > 0)
		notice(cr, cr_buf_str(&b), s, "terminated", NULL, NULL);
	cr_buf_free(&b);
	if (w != NULL && export) {
		cr_jw_key(w, "chat");
		cr_jw_arr_open(w);
		TAILQ_FOREACH(c, &s->s_chat, c_entry)
			chat_write(w, s, c);
		cr_jw_arr_close(w);
	}
	TAILQ_FOREACH(c, &s->s_chat, c_entry)
		unsend(cr, CR_RES_CHAT, c->c_id);
	TAILQ_FOREACH(m, &s->s_members, m_entry)
		unsend(cr, CR_RES_STATE, m->m_state_id);
	if (w != NULL) {
		cr_jw_key(w, "attendance");
		cr_jw_arr_open(w);
	}
	TAILQ_FOREACH(se, &s->s_seen, se_entry) {
		if (cr_db_attend(cr->cr_db, s->s_row.sr_id, se->se_pid,
		    se->se_name, se->se_first) != 0)
			cr_log(cr, 0, "session %lld: cannot record attendance",
			    (long long)s->s_row.sr_id);
		if (w != NULL) {
			cr_jw_obj_open(w);
			cr_jw_kint(w, "pid", se->se_pid);
			cr_jw_kstr(w, "name", se->se_name);
			cr_jw_obj_close(w);
		}
	}
	if (w != NULL)
		cr_jw_arr_close(w);
	if (s->s_status == CR_LIVE)
		attendance_publish(cr, s);
	if (cr_db_session_end(cr->cr_db, s->s_row.sr_id, s->s_row.sr_code) != 0)
		cr_log(cr, 0, "session %lld: database error at the end",
		    (long long)s->s_row.sr_id);
	cr_log(cr, 1, "session %lld terminated, code %s free, %zu messages"
	    " deleted", (long long)s->s_row.sr_id, s->s_row.sr_code,
	    s->s_nchat);
	session_remove(cr, s);
}

/* ---- classroom/sessions --------------------------------------------- */

/* The session named by key, owned by the sender; NULL with the error. */
static struct cr_session *
own_session(struct classroom *cr, const struct cr_req *rq, const char *key)
{
	struct cr_session	*s;
	int64_t			 id;

	if (cr_req_int(cr, rq, key, &id) != 0)
		return NULL;
	if ((s = cr_session_find(cr, id)) == NULL) {
		cr_reply_error(cr, rq, 404, "no session %lld", (long long)id);
		return NULL;
	}
	if (s->s_row.sr_owner != rq->rq_peer->pe_pid) {
		cr_reply_error(cr, rq, 403, "session %lld is not yours",
		    (long long)id);
		return NULL;
	}
	return s;
}

/* Fields of a session request into row; 0, or -1 with the error. */
static int
session_fields(struct classroom *cr, const struct cr_req *rq,
    struct cr_srow *row, int creating, const char **titlep,
    const char **whenp)
{
	struct cr_exp	 ex;
	const char	*title, *when;
	int64_t		 v;
	int		 rc;

	if (cr_req_str(cr, rq, "title", CR_MAX_TITLE, creating, &title) != 0 ||
	    cr_req_str(cr, rq, "datetime", 64, creating, &when) != 0 ||
	    cr_req_bool(cr, rq, "approval", &row->sr_approval) != 0)
		return -1;
	if (title != NULL && *title == '\0') {
		cr_reply_error(cr, rq, 400, "\"title\" must not be empty");
		return -1;
	}
	if (when != NULL && (strlen(when) < 16 || when[4] != '-' ||
	    when[7] != '-' || when[10] != 'T' || when[13] != ':')) {
		cr_reply_error(cr, rq, 400, "\"datetime\" must look like"
		    " 2026-03-04T10:00");
		return -1;
	}
	if (cr_json_get(rq->rq_doc, "capacity") != NULL) {
		if (cr_req_int(cr, rq, "capacity", &v) != 0)
			return -1;
		if (v < 1 || v > cr->cr_capacity) {
			cr_reply_error(cr, rq, 400, "\"capacity\" must be"
			    " between 1 and %d", cr->cr_capacity);
			return -1;
		}
		row->sr_capacity = (int)v;
	}
	if (creating || cr_json_get(rq->rq_doc, "experience") != NULL) {
		if (cr_req_int(cr, rq, "experience", &v) != 0)
			return -1;
		memset(&ex, 0, sizeof(ex));
		if ((rc = cr_db_exp_get(cr->cr_db, v, &ex)) == 0 &&
		    !ex.ex_public && ex.ex_owner != rq->rq_peer->pe_pid)
			rc = 1;
		cr_exp_clear(&ex);
		if (rc != 0) {
			cr_reply_error(cr, rq, rc == 1 ? 404 : 500, rc == 1 ?
			    "no experience %lld" : "database error %lld",
			    (long long)v);
			return -1;
		}
		row->sr_experience = v;
	}
	*titlep = title;
	*whenp = when;
	return 0;
}

static void
session_create(struct classroom *cr, struct cr_req *rq)
{
	struct cr_reply		 rp;
	struct cr_srow		 row;
	struct cr_session	*s;
	const char		*title, *when;
	char			 code[CR_CODE_LEN + 1];

	memset(&row, 0, sizeof(row));
	row.sr_capacity = cr->cr_capacity;
	if (session_fields(cr, rq, &row, 1, &title, &when) != 0)
		return;
	if (cr->cr_nsessions >= CR_MAX_SESSIONS) {
		cr_reply_error(cr, rq, 429, "too many sessions");
		return;
	}
	if (cr_code_new(code, code_taken, cr) != 0) {
		cr_reply_error(cr, rq, 503, "no free join code");
		return;
	}
	row.sr_owner = rq->rq_peer->pe_pid;
	row.sr_owner_name = rq->rq_peer->pe_name;
	row.sr_owner_mid = rq->rq_mid;
	row.sr_code = code;
	row.sr_title = strdup(title);
	row.sr_when = strdup(when);
	s = NULL;
	if (row.sr_title == NULL || row.sr_when == NULL)
		cr_reply_error(cr, rq, 500, "out of memory");
	else if (cr_db_session_insert(cr->cr_db, &row) != 0)
		cr_reply_error(cr, rq, 500, "database error");
	else if ((s = cr_session_add(cr, &row)) == NULL) {
		cr_db_session_delete(cr->cr_db, row.sr_id);
		cr_reply_error(cr, rq, 500, "out of memory");
	}
	free(row.sr_title);
	free(row.sr_when);
	if (s == NULL)
		return;
	cr_reply_begin(&rp, rq, 201);
	cr_jw_key(&rp.rp_jw, "session");
	cr_session_write(&rp.rp_jw, s);
	cr_reply_send(cr, &rp, rq);
}

static void
session_update(struct classroom *cr, struct cr_req *rq)
{
	struct cr_session	*s;
	struct cr_srow		 row;
	struct cr_reply		 rp;
	const char		*ntitle, *nwhen;
	char			*title = NULL, *when = NULL;

	if ((s = own_session(cr, rq, "id")) == NULL)
		return;
	row = s->s_row;
	if (session_fields(cr, rq, &row, 0, &ntitle, &nwhen) != 0)
		return;
	if ((ntitle != NULL && (title = strdup(ntitle)) == NULL) ||
	    (nwhen != NULL && (when = strdup(nwhen)) == NULL)) {
		free(title);
		cr_reply_error(cr, rq, 500, "out of memory");
		return;
	}
	if (title != NULL) {
		free(s->s_row.sr_title);
		s->s_row.sr_title = title;
	}
	if (when != NULL) {
		free(s->s_row.sr_when);
		s->s_row.sr_when = when;
	}
	s->s_row.sr_experience = row.sr_experience;
	s->s_row.sr_approval = row.sr_approval;
	s->s_row.sr_capacity = row.sr_capacity;
	if (cr_db_session_update(cr->cr_db, &s->s_row) != 0) {
		cr_reply_error(cr, rq, 500, "database error");
		return;
	}
	cr_reply_begin(&rp, rq, 200);
	cr_jw_key(&rp.rp_jw, "session");
	cr_session_write(&rp.rp_jw, s);
	cr_reply_send(cr, &rp, rq);
}

void
cr_handle_sessions(struct classroom *cr, struct cr_req *rq)
{
	const char		*op = rq->rq_op ? rq->rq_op : "";
	struct cr_session	*s;
	struct cr_reply		 rp;
	int64_t			 id;

	if (!cr_is_teacher(cr, rq->rq_peer)) {
		cr_reply_error(cr, rq, 403, "only teachers manage sessions");
		return;
	}
	if (strcmp(op, "create") == 0)
		session_create(cr, rq);
	else if (strcmp(op, "update") == 0)
		session_update(cr, rq);
	else if (strcmp(op, "get") == 0) {
		if ((s = own_session(cr, rq, "id")) == NULL)
			return;
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "session");
		cr_session_write(&rp.rp_jw, s);
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "delete") == 0) {
		if ((s = own_session(cr, rq, "id")) == NULL)
			return;
		id = s->s_row.sr_id;
		cr_session_terminate(cr, s, NULL, 0);
		cr_db_session_delete(cr->cr_db, id);
		cr_reply_begin(&rp, rq, 200);
		cr_jw_kint(&rp.rp_jw, "id", id);
		cr_jw_kstr(&rp.rp_jw, "message", "session deleted");
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "list") == 0) {
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "sessions");
		cr_jw_arr_open(&rp.rp_jw);
		TAILQ_FOREACH(s, &cr->cr_sessions, s_entry)
			if (s->s_row.sr_owner == rq->rq_peer->pe_pid)
				cr_session_write(&rp.rp_jw, s);
		cr_jw_arr_close(&rp.rp_jw);
		cr_reply_send(cr, &rp, rq);
	} else
		cr_reply_error(cr, rq, 400, "unknown op; one of create, update,"
		    " delete, get, list");
}

/* ---- classroom/joins ------------------------------------------------ */

static struct cr_throttle *
throttle_get(struct classroom *cr, int64_t pid, int create)
{
	struct cr_throttle	*th, *next;
	time_t			 now = time(NULL);

	for (th = TAILQ_FIRST(&cr->cr_throttles); th != NULL; th = next) {
		next = TAILQ_NEXT(th, th_entry);
		if (now - th->th_start >= CR_JOIN_WINDOW) {
			TAILQ_REMOVE(&cr->cr_throttles, th, th_entry);
			free(th);
		} else if (th->th_pid == pid)
			return th;
	}
	if (!create || (th = calloc(1, sizeof(*th))) == NULL)
		return NULL;
	th->th_pid = pid;
	th->th_start = now;
	TAILQ_INSERT_TAIL(&cr->cr_throttles, th, th_entry);
	return th;
}

static void
join_failed(struct classroom *cr, int64_t pid)
{
	struct cr_throttle	*th;

	if ((th = throttle_get(cr, pid, 1)) != NULL)
		th->th_fails++;
}

static void
join_reply(struct classroom *cr, const struct cr_req *rq,
    const struct cr_session *s, const struct cr_member *m)
{
	struct cr_reply	 rp;

	cr_reply_begin(&rp, rq, 200);
	cr_jw_key(&rp.rp_jw, "session");
	session_write_public(&rp.rp_jw, s);
	cr_jw_key(&rp.rp_jw, "member");
	member_write(&rp.rp_jw, m);
	cr_reply_send(cr, &rp, rq);
}

static void
join(struct classroom *cr, struct cr_req *rq)
{
	const struct cr_peer	*pe = rq->rq_peer;
	struct cr_throttle	*th;
	struct cr_session	*s;
	struct cr_member	*m;
	const char		*code, *name;
	char			 norm[CR_CODE_LEN + 1], avatar[128];
	int			 rc;

	if ((th = throttle_get(cr, pe->pe_pid, 0)) != NULL &&
	    th->th_fails >= CR_JOIN_FAILS) {
		cr_reply_error(cr, rq, 429, "too many failed joins; wait a"
		    " minute");
		return;
	}
	if (cr_req_str(cr, rq, "code", 32, 1, &code) != 0 ||
	    cr_req_str(cr, rq, "name", CR_MAX_NAME, 0, &name) != 0)
		return;
	if (cr_code_normalise(code, norm) != 0) {
		join_failed(cr, pe->pe_pid);
		cr_reply_error(cr, rq, 400, "not a join code");
		return;
	}
	if ((s = cr_session_by_code(cr, norm)) == NULL) {
		join_failed(cr, pe->pe_pid);
		if ((rc = cr_db_code_expired(cr->cr_db, norm)) == 1)
			cr_reply_error(cr, rq, 410, "the session of code %s"
			    " has ended; the code expired", norm);
		else
			cr_reply_error(cr, rq, 404, "no session has code %s",
			    norm);
		return;
	}
	if ((m = member_find(s, rq->rq_mid)) != NULL) {
		join_reply(cr, rq, s, m);
		return;
	}
	if (session_banned(s, pe->pe_pid)) {
		cr_reply_error(cr, rq, 403, "you were removed from this"
		    " session");
		return;
	}
	if (pe->pe_pid != s->s_row.sr_owner &&
	    session_count(s, 0) + session_count(s, 1) >= s->s_row.sr_capacity) {
		cr_reply_error(cr, rq, 409, "the session is full (%d)",
		    s->s_row.sr_capacity);
		return;
	}
	if (name != NULL && strspn(name, " ") == strlen(name))
		name = NULL;
	if (strcmp(pe->pe_type, "main") != 0 && name == NULL) {
		cr_reply_error(cr, rq, 400, "guests choose a display name"
		    " (\"name\")");
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		cr_reply_error(cr, rq, 500, "out of memory");
		return;
	}
	cr_avatar_new(avatar, sizeof(avatar));
	m->m_mid = rq->rq_mid;
	m->m_pid = pe->pe_pid;
	m->m_joined = time(NULL);
	m->m_kind = pe->pe_pid == s->s_row.sr_owner ? CR_TEACHER :
	    strcmp(pe->pe_type, "main") == 0 ? CR_REGISTERED : CR_GUEST;
	m->m_name = strdup(name ? name : pe->pe_name);
	m->m_avatar = strdup(avatar);
	if (m->m_name == NULL || m->m_avatar == NULL) {
		member_free(m);
		cr_reply_error(cr, rq, 500, "out of memory");
		return;
	}
	m->m_state = s->s_status == CR_LIVE && (!s->s_row.sr_approval ||
	    m->m_kind == CR_TEACHER) ? CR_ADMITTED : CR_WAITING;
	TAILQ_INSERT_TAIL(&s->s_members, m, m_entry);
	session_seen(s, m);
	join_reply(cr, rq, s, m);
	if (s->s_status == CR_LIVE && m->m_kind != CR_TEACHER &&
	    s->s_row.sr_owner_mid != m->m_mid)
		notice_one(cr, s->s_row.sr_owner_mid, s, m->m_state ==
		    CR_WAITING ? "knock" : "joined", m, NULL);
}

void
cr_handle_joins(struct classroom *cr, struct cr_req *rq)
{
	const char		*op = rq->rq_op ? rq->rq_op : "join";
	struct cr_session	*s;
	struct cr_member	*m;
	struct cr_reply		 rp;
	int64_t			 id;

	if (strcmp(op, "join") == 0)
		join(cr, rq);
	else if (strcmp(op, "leave") == 0) {
		if (cr_req_int(cr, rq, "session", &id) != 0)
			return;
		if ((s = cr_session_find(cr, id)) == NULL ||
		    (m = member_find(s, rq->rq_mid)) == NULL) {
			cr_reply_error(cr, rq, 404, "not a member of session"
			    " %lld", (long long)id);
			return;
		}
		member_drop(cr, s, m);
		cr_reply_begin(&rp, rq, 200);
		cr_jw_kint(&rp.rp_jw, "session", id);
		cr_reply_send(cr, &rp, rq);
	} else
		cr_reply_error(cr, rq, 400, "unknown op; one of join, leave");
}

/* ---- classroom/control ---------------------------------------------- */

static void
admit(struct classroom *cr, struct cr_session *s, struct cr_member *m)
{
	if (m->m_state == CR_ADMITTED)
		return;
	m->m_state = CR_ADMITTED;
	session_seen(s, m);
	notice_one(cr, m->m_mid, s, "admitted", m, NULL);
}

static int
session_start(struct classroom *cr, struct cr_req *rq, struct cr_session *s)
{
	struct cr_member	*m;
	struct cr_buf		 b;
	char			 avatar[128];

	if (s->s_status == CR_LIVE) {
		cr_reply_error(cr, rq, 409, "session %lld is live already",
		    (long long)s->s_row.sr_id);
		return -1;
	}
	if ((m = member_find(s, rq->rq_mid)) == NULL) {
		cr_avatar_new(avatar, sizeof(avatar));
		if ((m = calloc(1, sizeof(*m))) == NULL ||
		    (m->m_name = strdup(rq->rq_peer->pe_name)) == NULL ||
		    (m->m_avatar = strdup(avatar)) == NULL) {
			member_free(m);
			cr_reply_error(cr, rq, 500, "out of memory");
			return -1;
		}
		m->m_mid = rq->rq_mid;
		m->m_pid = rq->rq_peer->pe_pid;
		m->m_kind = CR_TEACHER;
		m->m_joined = time(NULL);
		TAILQ_INSERT_HEAD(&s->s_members, m, m_entry);
	}
	m->m_state = CR_ADMITTED;
	s->s_status = CR_LIVE;
	s->s_started = time(NULL);
	s->s_row.sr_live = 1;
	s->s_row.sr_owner_mid = rq->rq_mid;
	if (cr_db_session_update(cr->cr_db, &s->s_row) != 0)
		cr_log(cr, 0, "session %lld: database error at start",
		    (long long)s->s_row.sr_id);
	/* The waiting room is admitted, whatever the approval setting. */
	TAILQ_FOREACH(m, &s->s_members, m_entry)
		if (m->m_state == CR_WAITING) {
			m->m_state = CR_ADMITTED;
			session_seen(s, m);
		}
	cr_buf_init(&b, CR_MAX_BODY * 16);
	if (session_mids(s, CR_ADMITTED, rq->rq_mid, &b) > 0)
		notice(cr, cr_buf_str(&b), s, "started", NULL, NULL);
	cr_buf_free(&b);
	return 0;
}

static void
members_write(struct cr_jw *w, const struct cr_session *s)
{
	const struct cr_member	*m;

	cr_jw_key(w, "members");
	cr_jw_arr_open(w);
	TAILQ_FOREACH(m, &s->s_members, m_entry)
		member_write(w, m);
	cr_jw_arr_close(w);
}

/* The member a moderation request names; NULL with the error replied. */
static struct cr_member *
target(struct classroom *cr, const struct cr_req *rq, struct cr_session *s)
{
	struct cr_member	*m;
	int64_t			 mid;

	if (cr_req_int(cr, rq, "member", &mid) != 0)
		return NULL;
	if ((m = member_find(s, mid)) == NULL) {
		cr_reply_error(cr, rq, 404, "no member %lld in session %lld",
		    (long long)mid, (long long)s->s_row.sr_id);
		return NULL;
	}
	if (m->m_kind == CR_TEACHER) {
		cr_reply_error(cr, rq, 403, "the teacher cannot be moderated");
		return NULL;
	}
	return m;
}

void
cr_handle_control(struct classroom *cr, struct cr_req *rq)
{
	const char		*op = rq->rq_op ? rq->rq_op : "";
	struct cr_session	*s;
	struct cr_member	*m;
	struct cr_ban		*ban;
	struct cr_reply		 rp;
	struct cr_buf		 b;
	const char		*text;
	int			 all = 0, export = 0, flag;

	if ((s = own_session(cr, rq, "session")) == NULL)
		return;
	cr_reply_begin(&rp, rq, 200);
	if (strcmp(op, "start") == 0) {
		if (session_start(cr, rq, s) != 0)
			goto fail;
		cr_jw_key(&rp.rp_jw, "session");
		cr_session_write(&rp.rp_jw, s);
		members_write(&rp.rp_jw, s);
	} else if (strcmp(op, "terminate") == 0) {
		if (cr_req_bool(cr, rq, "export", &export) != 0)
			goto fail;
		cr_jw_key(&rp.rp_jw, "session");
		cr_session_write(&rp.rp_jw, s);
		cr_session_terminate(cr, s, &rp.rp_jw, export);
	} else if (strcmp(op, "admit") == 0) {
		if (cr_req_bool(cr, rq, "all", &all) != 0)
			goto fail;
		if (all) {
			TAILQ_FOREACH(m, &s->s_members, m_entry)
				admit(cr, s, m);
		} else {
			if ((m = target(cr, rq, s)) == NULL)
				goto fail;
			if (s->s_status != CR_LIVE) {
				cr_reply_error(cr, rq, 409, "start the session"
				    " first");
				goto fail;
			}
			admit(cr, s, m);
		}
		members_write(&rp.rp_jw, s);
	} else if (strcmp(op, "remove") == 0) {
		if ((m = target(cr, rq, s)) == NULL)
			goto fail;
		if ((ban = calloc(1, sizeof(*ban))) != NULL) {
			ban->ban_pid = m->m_pid;
			TAILQ_INSERT_TAIL(&s->s_bans, ban, ban_entry);
		}
		notice_one(cr, m->m_mid, s, "removed", m, NULL);
		member_drop(cr, s, m);
		members_write(&rp.rp_jw, s);
	} else if (strcmp(op, "sendback") == 0) {
		if ((m = target(cr, rq, s)) == NULL)
			goto fail;
		if (m->m_state == CR_ADMITTED) {
			m->m_state = CR_WAITING;
			notice_one(cr, m->m_mid, s, "waiting", m, NULL);
		}
		members_write(&rp.rp_jw, s);
	} else if (strcmp(op, "approval") == 0) {
		if (cr_json_bool(cr_json_get(rq->rq_doc, "approval"), &flag) !=
		    0) {
			cr_reply_error(cr, rq, 400, "\"approval\" must be true"
			    " or false");
			goto fail;
		}
		s->s_row.sr_approval = flag;
		if (cr_db_session_update(cr->cr_db, &s->s_row) != 0)
			cr_log(cr, 0, "session %lld: database error",
			    (long long)s->s_row.sr_id);
		cr_jw_key(&rp.rp_jw, "session");
		cr_session_write(&rp.rp_jw, s);
	} else if (strcmp(op, "lobby") == 0) {
		if (cr_req_str(cr, rq, "message", CR_MAX_TEXT, 1, &text) != 0)
			goto fail;
		cr_buf_init(&b, CR_MAX_BODY * 16);
		if (session_mids(s, CR_WAITING, 0, &b) > 0)
			notice(cr, cr_buf_str(&b), s, "lobby", NULL, text);
		cr_buf_free(&b);
	} else if (strcmp(op, "members") == 0) {
		cr_jw_key(&rp.rp_jw, "session");
		cr_session_write(&rp.rp_jw, s);
		members_write(&rp.rp_jw, s);
	} else if (strcmp(op, "export") == 0) {
		cr_jw_key(&rp.rp_jw, "chat");
		cr_jw_arr_open(&rp.rp_jw);
		{
			const struct cr_chat *c;

			TAILQ_FOREACH(c, &s->s_chat, c_entry)
				chat_write(&rp.rp_jw, s, c);
		}
		cr_jw_arr_close(&rp.rp_jw);
	} else {
		cr_reply_error(cr, rq, 400, "unknown op; one of start,"
		    " terminate, admit, remove, sendback, approval, lobby,"
		    " members, export");
		goto fail;
	}
	cr_reply_send(cr, &rp, rq);
	return;
fail:
	cr_buf_free(&rp.rp_buf);
}

/* ---- classroom/chat ------------------------------------------------- */

/* The live session and admitted member a member request is about. */
static int
member_req(struct classroom *cr, const struct cr_req *rq,
    struct cr_session **sp, struct cr_member **mp)
{
	int64_t	 id;

	if (cr_req_int(cr, rq, "session", &id) != 0)
		return -1;
	if ((*sp = cr_session_find(cr, id)) == NULL ||
	    (*mp = member_find(*sp, rq->rq_mid)) == NULL) {
		cr_reply_error(cr, rq, 403, "not a member of session %lld",
		    (long long)id);
		return -1;
	}
	if ((*sp)->s_status != CR_LIVE || (*mp)->m_state != CR_ADMITTED) {
		cr_reply_error(cr, rq, 403, "session %lld: you are in the"
		    " waiting room", (long long)id);
		return -1;
	}
	return 0;
}

static struct cr_chat *
chat_find(struct cr_session *s, int64_t seq, int64_t id)
{
	struct cr_chat	*c;

	TAILQ_FOREACH(c, &s->s_chat, c_entry)
		if ((seq != 0 && c->c_seq == seq) || (id != 0 && c->c_id == id))
			return c;
	return NULL;
}

static void
chat_posted(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct cr_call		*ca = arg;
	struct classroom	*cr = ca->ca_cr;
	struct cr_session	*s;
	struct cr_chat		*c = NULL;

	if ((s = cr_session_find(cr, ca->ca_a)) != NULL)
		c = chat_find(s, ca->ca_b, 0);
	if (err->ee_code != ECS_OK || r == NULL || r->r_id <= 0) {
		cr_log(cr, 0, "chat fan-out: %d %s", err->ee_status,
		    err->ee_text);
		/* A membership may have vanished: reload and prune. */
		cr_peers_reload(cr);
	} else if (c != NULL)
		c->c_id = r->r_id;
	else
		/* Terminated meanwhile: the message goes too. */
		unsend(cr, CR_RES_CHAT, r->r_id);
	ecc_reply_free(r);
	cr_call_free(ca);
}

static void
put_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct classroom	*cr = arg;

	if (err->ee_code != ECS_OK)
		cr_log(cr, 0, "update: %d %s", err->ee_status, err->ee_text);
	ecc_reply_free(r);
}

/* Send (c_id 0) or replace chat message c for the admitted members. */
static void
chat_send(struct classroom *cr, struct cr_session *s, struct cr_chat *c)
{
	struct cr_buf	 body, mids;
	struct cr_jw	 w;
	struct ecc_addr	 a;
	struct cr_call	*ca = NULL;
	enum ecs_err	 e;

	cr_buf_init(&body, CR_MAX_BODY);
	cr_buf_init(&mids, CR_MAX_BODY * 16);
	cr_jw_init(&w, &body);
	chat_write(&w, s, c);
	if (session_mids(s, CR_ADMITTED, 0, &mids) == 0 || body.b_err)
		goto done;
	a.ea_mids = cr_buf_str(&mids);
	a.ea_communities = NULL;
	if (c->c_id == 0) {
		if ((ca = cr_call_new(cr, CR_RES_CHAT, s->s_row.sr_id,
		    c->c_seq)) == NULL)
			goto done;
		e = ecc_post_async(cr->cr_ecc, cr_resources[CR_RES_CHAT], &a,
		    "application/json", body.b_data, body.b_len, chat_posted,
		    ca);
		if (e != ECS_OK)
			cr_call_free(ca);
	} else
		e = ecc_update_async(cr->cr_ecc, cr_resources[CR_RES_CHAT],
		    c->c_id, &a, "application/json", body.b_data, body.b_len,
		    put_done, cr);
	if (e != ECS_OK)
		cr_log(cr, 0, "chat: cannot queue the fan-out");
done:
	cr_buf_free(&body);
	cr_buf_free(&mids);
}

void
cr_handle_chat(struct classroom *cr, struct cr_req *rq)
{
	const char		*op = rq->rq_op ? rq->rq_op : "send";
	struct cr_session	*s;
	struct cr_member	*m;
	struct cr_chat		*c;
	struct cr_reply		 rp;
	const char		*text;
	char			*t;
	int64_t			 id;

	if (member_req(cr, rq, &s, &m) != 0)
		return;
	if (strcmp(op, "history") == 0) {
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "chat");
		cr_jw_arr_open(&rp.rp_jw);
		TAILQ_FOREACH(c, &s->s_chat, c_entry)
			chat_write(&rp.rp_jw, s, c);
		cr_jw_arr_close(&rp.rp_jw);
		cr_reply_send(cr, &rp, rq);
		return;
	}
	if (strcmp(op, "send") != 0 && strcmp(op, "edit") != 0) {
		cr_reply_error(cr, rq, 400, "unknown op; one of send, edit,"
		    " history");
		return;
	}
	if (cr_req_str(cr, rq, "message", CR_MAX_TEXT, 1, &text) != 0)
		return;
	if (*text == '\0') {
		cr_reply_error(cr, rq, 400, "\"message\" must not be empty");
		return;
	}
	if (strcmp(op, "edit") == 0) {
		if (cr_req_int(cr, rq, "messageId", &id) != 0)
			return;
		if ((c = chat_find(s, 0, id)) == NULL || id <= 0) {
			cr_reply_error(cr, rq, 404, "no message %lld",
			    (long long)id);
			return;
		}
		if (c->c_author != m->m_mid) {
			cr_reply_error(cr, rq, 403, "only its author edits a"
			    " message");
			return;
		}
		if ((t = strdup(text)) == NULL)
			return;
		free(c->c_text);
		c->c_text = t;
		c->c_edited = 1;
		chat_send(cr, s, c);
		return;
	}
	if (s->s_nchat >= CR_MAX_CHAT) {
		cr_reply_error(cr, rq, 429, "the chat of this session is full");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->c_text = strdup(text)) == NULL ||
	    (c->c_name = strdup(m->m_name)) == NULL) {
		chat_free(c);
		cr_reply_error(cr, rq, 500, "out of memory");
		return;
	}
	c->c_seq = ++s->s_chat_seq;
	c->c_author = m->m_mid;
	c->c_sent = time(NULL);
	TAILQ_INSERT_TAIL(&s->s_chat, c, c_entry);
	s->s_nchat++;
	chat_send(cr, s, c);
}

/* ---- classroom/state ------------------------------------------------ */

static void	state_flush(struct classroom *, struct cr_session *,
		    struct cr_member *);

static void
state_sent(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct cr_call		*ca = arg;
	struct classroom	*cr = ca->ca_cr;
	struct cr_session	*s;
	struct cr_member	*m = NULL;
	int			 posted = ca->ca_retry;

	if ((s = cr_session_find(cr, ca->ca_a)) != NULL)
		m = member_find(s, ca->ca_b);
	if (m == NULL) {
		if (posted && r != NULL && err->ee_code == ECS_OK)
			unsend(cr, CR_RES_STATE, r->r_id);
	} else {
		m->m_state_busy = 0;
		if (err->ee_code != ECS_OK) {
			cr_log(cr, 0, "state fan-out: %d %s", err->ee_status,
			    err->ee_text);
			if (!posted)
				m->m_state_id = 0;
		} else if (posted && r != NULL)
			m->m_state_id = r->r_id;
		state_flush(cr, s, m);
	}
	ecc_reply_free(r);
	cr_call_free(ca);
}

/* Send the latest state of m unless a call for it is under way. */
static void
state_flush(struct classroom *cr, struct cr_session *s, struct cr_member *m)
{
	struct cr_buf	 mids;
	struct ecc_addr	 a;
	struct cr_call	*ca;
	enum ecs_err	 e;

	if (m->m_state_busy || m->m_state_body == NULL)
		return;
	cr_buf_init(&mids, CR_MAX_BODY * 16);
	if (session_mids(s, CR_ADMITTED, m->m_mid, &mids) == 0) {
		free(m->m_state_body);
		m->m_state_body = NULL;
		cr_buf_free(&mids);
		return;
	}
	if ((ca = cr_call_new(cr, CR_RES_STATE, s->s_row.sr_id,
	    m->m_mid)) == NULL) {
		cr_buf_free(&mids);
		return;
	}
	a.ea_mids = cr_buf_str(&mids);
	a.ea_communities = NULL;
	ca->ca_retry = m->m_state_id == 0;	/* a POST */
	if (m->m_state_id == 0)
		e = ecc_post_async(cr->cr_ecc, cr_resources[CR_RES_STATE], &a,
		    "application/json", m->m_state_body,
		    strlen(m->m_state_body), state_sent, ca);
	else
		e = ecc_update_async(cr->cr_ecc, cr_resources[CR_RES_STATE],
		    m->m_state_id, &a, "application/json", m->m_state_body,
		    strlen(m->m_state_body), state_sent, ca);
	if (e != ECS_OK)
		cr_call_free(ca);
	else
		m->m_state_busy = 1;
	free(m->m_state_body);
	m->m_state_body = NULL;
	cr_buf_free(&mids);
}

/* An array of n numbers (n in [min, max]). */
static int
numbers(const struct cr_json *v, size_t min, size_t max)
{
	size_t	 i;

	if (cr_json_type(v) != CR_JARRAY || cr_json_len(v) < min ||
	    cr_json_len(v) > max)
		return 0;
	for (i = 0; i < cr_json_len(v); i++)
		if (cr_json_type(cr_json_at(v, i)) != CR_JNUMBER)
			return 0;
	return 1;
}

void
cr_handle_state(struct classroom *cr, struct cr_req *rq)
{
	const struct cr_json	*pos, *rot;
	struct cr_session	*s;
	struct cr_member	*m;
	struct cr_buf		 b;
	struct cr_jw		 w;

	if (member_req(cr, rq, &s, &m) != 0)
		return;
	pos = cr_json_get(rq->rq_doc, "position");
	rot = cr_json_get(rq->rq_doc, "rotation");
	if (!numbers(pos, 3, 3) || (rot != NULL && !numbers(rot, 3, 4))) {
		cr_reply_error(cr, rq, 400, "\"position\" is [x, y, z] and"
		    " \"rotation\" [x, y, z] or [x, y, z, w]");
		return;
	}
	cr_buf_init(&b, 4096);
	cr_jw_init(&w, &b);
	cr_jw_obj_open(&w);
	cr_jw_kint(&w, "session", s->s_row.sr_id);
	cr_jw_kint(&w, "member", m->m_mid);
	cr_jw_kstr(&w, "name", m->m_name);
	cr_jw_key(&w, "position");
	cr_jw_value(&w, pos);
	cr_jw_key(&w, "rotation");
	cr_jw_value(&w, rot);
	cr_jw_obj_close(&w);
	if (b.b_err) {
		cr_buf_free(&b);
		cr_reply_error(cr, rq, 400, "state too large");
		return;
	}
	free(m->m_state_body);
	m->m_state_body = b.b_data;	/* the member takes it */
	state_flush(cr, s, m);
}
