/*
 * cr_experience.c: requests on classroom/experiences. Teachers create,
 * edit and delete their own experiences (title, description, media
 * references); a public experience is visible to every teacher.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "classroom.h"

static void
exp_write(struct cr_jw *w, const struct cr_exp *ex)
{
	cr_jw_obj_open(w);
	cr_jw_kint(w, "id", ex->ex_id);
	cr_jw_kstr(w, "title", ex->ex_title);
	cr_jw_kstr(w, "description", ex->ex_desc);
	cr_jw_key(w, "media");
	cr_jw_raw(w, ex->ex_media);
	cr_jw_kbool(w, "public", ex->ex_public);
	cr_jw_kint(w, "owner", ex->ex_owner);
	cr_jw_kstr(w, "owner_name", ex->ex_owner_name);
	cr_jw_obj_close(w);
}

/*
 * Title, description, media and public from the request into ex (the
 * strings are new copies); 0, or -1 with the error replied.
 */
static int
exp_fields(struct classroom *cr, const struct cr_req *rq, struct cr_exp *ex,
    int creating)
{
	const struct cr_json	*media;
	const char		*title, *desc;
	struct cr_buf		 b;
	struct cr_jw		 w;
	size_t			 i;
	char			*t;

	if (cr_req_str(cr, rq, "title", CR_MAX_TITLE, creating, &title) != 0 ||
	    cr_req_str(cr, rq, "description", CR_MAX_DESC, 0, &desc) != 0 ||
	    cr_req_bool(cr, rq, "public", &ex->ex_public) != 0)
		return -1;
	if (title != NULL && *title == '\0') {
		cr_reply_error(cr, rq, 400, "\"title\" must not be empty");
		return -1;
	}
	if ((media = cr_json_get(rq->rq_doc, "media")) != NULL) {
		if (cr_json_type(media) != CR_JARRAY || cr_json_len(media) > 100) {
			cr_reply_error(cr, rq, 400, "\"media\" must be an array"
			    " of at most 100 references");
			return -1;
		}
		for (i = 0; i < cr_json_len(media); i++) {
			enum cr_jtype jt = cr_json_type(cr_json_at(media, i));

			if (jt != CR_JSTRING && jt != CR_JOBJECT) {
				cr_reply_error(cr, rq, 400, "a media reference"
				    " is a URL string or an object");
				return -1;
			}
		}
		cr_buf_init(&b, 64 * 1024);
		cr_jw_init(&w, &b);
		cr_jw_value(&w, media);
		if (b.b_err) {
			cr_buf_free(&b);
			cr_reply_error(cr, rq, 413, "\"media\" is too large");
			return -1;
		}
		free(ex->ex_media);
		ex->ex_media = strdup(cr_buf_str(&b));
		cr_buf_free(&b);
	} else if (creating)
		ex->ex_media = strdup("[]");
	if (title != NULL && (t = strdup(title)) != NULL) {
		free(ex->ex_title);
		ex->ex_title = t;
	}
	if (desc != NULL && (t = strdup(desc)) != NULL) {
		free(ex->ex_desc);
		ex->ex_desc = t;
	} else if (creating && ex->ex_desc == NULL)
		ex->ex_desc = strdup("");
	if (ex->ex_media == NULL || ex->ex_title == NULL ||
	    ex->ex_desc == NULL) {
		cr_reply_error(cr, rq, 500, "out of memory");
		return -1;
	}
	return 0;
}

/* Load experience "id" of the request; 0, or -1 with the error replied. */
static int
exp_load(struct classroom *cr, const struct cr_req *rq, struct cr_exp *ex,
    int mine)
{
	int64_t	 id;
	int	 rc;

	if (cr_req_int(cr, rq, "id", &id) != 0)
		return -1;
	if ((rc = cr_db_exp_get(cr->cr_db, id, ex)) == -1) {
		cr_reply_error(cr, rq, 500, "database error");
		return -1;
	}
	if (rc == 1 || (ex->ex_owner != rq->rq_peer->pe_pid &&
	    !ex->ex_public)) {
		if (rc == 0)
			cr_exp_clear(ex);
		cr_reply_error(cr, rq, 404, "no experience %lld",
		    (long long)id);
		return -1;
	}
	if (mine && ex->ex_owner != rq->rq_peer->pe_pid) {
		cr_exp_clear(ex);
		cr_reply_error(cr, rq, 403, "experience %lld is not yours",
		    (long long)id);
		return -1;
	}
	return 0;
}

static void
list_one(const struct cr_exp *ex, void *arg)
{
	exp_write(arg, ex);
}

void
cr_handle_experiences(struct classroom *cr, struct cr_req *rq)
{
	const char	*op = rq->rq_op ? rq->rq_op : "";
	struct cr_reply	 rp;
	struct cr_exp	 ex;
	int		 rc;

	memset(&ex, 0, sizeof(ex));
	if (!cr_is_teacher(cr, rq->rq_peer)) {
		cr_reply_error(cr, rq, 403, "only teachers manage experiences");
		return;
	}
	if (strcmp(op, "create") == 0) {
		ex.ex_owner = rq->rq_peer->pe_pid;
		if ((ex.ex_owner_name = strdup(rq->rq_peer->pe_name)) == NULL ||
		    exp_fields(cr, rq, &ex, 1) != 0)
			goto done;
		if (cr_db_exp_insert(cr->cr_db, &ex) != 0) {
			cr_reply_error(cr, rq, 500, "database error");
			goto done;
		}
		cr_reply_begin(&rp, rq, 201);
		cr_jw_key(&rp.rp_jw, "experience");
		exp_write(&rp.rp_jw, &ex);
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "update") == 0) {
		if (exp_load(cr, rq, &ex, 1) != 0 ||
		    exp_fields(cr, rq, &ex, 0) != 0)
			goto done;
		if (cr_db_exp_update(cr->cr_db, &ex) != 0) {
			cr_reply_error(cr, rq, 500, "database error");
			goto done;
		}
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "experience");
		exp_write(&rp.rp_jw, &ex);
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "delete") == 0) {
		if (exp_load(cr, rq, &ex, 1) != 0)
			goto done;
		if ((rc = cr_db_exp_in_use(cr->cr_db, ex.ex_id)) != 0) {
			cr_reply_error(cr, rq, rc == 1 ? 409 : 500, rc == 1 ?
			    "a scheduled or live session uses it" :
			    "database error");
			goto done;
		}
		if (cr_db_exp_delete(cr->cr_db, ex.ex_id) != 0) {
			cr_reply_error(cr, rq, 500, "database error");
			goto done;
		}
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "experience");
		exp_write(&rp.rp_jw, &ex);
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "get") == 0) {
		if (exp_load(cr, rq, &ex, 0) != 0)
			goto done;
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "experience");
		exp_write(&rp.rp_jw, &ex);
		cr_reply_send(cr, &rp, rq);
	} else if (strcmp(op, "list") == 0) {
		cr_reply_begin(&rp, rq, 200);
		cr_jw_key(&rp.rp_jw, "experiences");
		cr_jw_arr_open(&rp.rp_jw);
		if (cr_db_exp_list(cr->cr_db, rq->rq_peer->pe_pid, list_one,
		    &rp.rp_jw) != 0) {
			cr_buf_free(&rp.rp_buf);
			cr_reply_error(cr, rq, 500, "database error");
			goto done;
		}
		cr_jw_arr_close(&rp.rp_jw);
		cr_reply_send(cr, &rp, rq);
	} else
		cr_reply_error(cr, rq, 400, "unknown op; one of create, update,"
		    " delete, get, list");
done:
	cr_exp_clear(&ex);
}
