/*
 * echo: the example plugin and the template for new ones (see
 * ecc-host(1)).  For every message it receives on echo/messages it posts
 * the same body with the same Content-Type to echo/replies, addressed to
 * the sender's membership, and then deletes the original.  The answers go
 * to a second resource so that the plugin never receives, and echoes, its
 * own answers.
 *
 * Configuration: crash_on = TEXT makes the plugin abort() on a message
 * whose body is exactly TEXT; the supervision tests of ecsd use it.
 *
 * Like every plugin it exports one symbol, the descriptor `ecs_plugin`;
 * everything else is static.  It talks to the broker only through the ECC
 * calls of <ecs/ecc.h>, which it resolves from its host.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ecs/ecc.h>
#include <ecs/ecs.h>
#include <ecs/plugin.h>

#define ECHO_IN		"echo/messages"
#define ECHO_OUT	"echo/replies"

/* One message on its way: GET it, POST the answer, DELETE it. */
struct echo_job {
	TAILQ_ENTRY(echo_job)	 j_entry;
	struct echo		*j_echo;
	int64_t			 j_id;
};

TAILQ_HEAD(echo_jobs, echo_job);

/* The plugin's state (*statep of ep_init). */
struct echo {
	struct ecs_plugin_host	*e_host;
	struct ecc		*e_s;		/* borrowed from the host */
	char			*e_crash_on;	/* or NULL */
	struct echo_jobs	 e_jobs;	/* calls in flight */
};

static void	echo_got(struct ecc_reply *, const struct ecc_error *, void *);
static void	echo_posted(struct ecc_reply *, const struct ecc_error *,
		    void *);
static void	echo_deleted(struct ecc_reply *, const struct ecc_error *,
		    void *);

static void
job_free(struct echo_job *j)
{
	TAILQ_REMOVE(&j->j_echo->e_jobs, j, j_entry);
	free(j);
}

/* Log why a job stops and free it. */
static void
job_fail(struct echo_job *j, const char *what, const struct ecc_error *err)
{
	const char	*text = "cannot start the call";

	if (err != NULL)
		text = err->ee_text[0] != '\0' ? err->ee_text :
		    ecs_strerror(err->ee_code);
	ecs_plugin_log(j->j_echo->e_host, 0, "message %lld: %s: %s",
	    (long long)j->j_id, what, text);
	job_free(j);
}

/* The message is here: answer its sender (the first of X-EcsSender). */
static void
echo_got(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct echo_job	*j = arg;
	struct echo	*e = j->j_echo;
	struct ecc_addr	 to;
	const char	*ctype;
	char		 mid[32];
	size_t		 n;
	enum ecs_err	 rc;

	if (err->ee_code != ECS_OK) {
		ecc_reply_free(r);
		job_fail(j, "GET", err);
		return;
	}
	if (e->e_crash_on != NULL && r->r_len == strlen(e->e_crash_on) &&
	    memcmp(r->r_body, e->e_crash_on, r->r_len) == 0) {
		ecs_plugin_log(e->e_host, 0, "message %lld is the crash_on "
		    "text: aborting", (long long)j->j_id);
		abort();
	}
	n = r->r_sender != NULL ? strcspn(r->r_sender, ", ") : 0;
	if (n == 0 || n >= sizeof(mid)) {
		ecs_plugin_log(e->e_host, 0, "message %lld: no sender",
		    (long long)j->j_id);
		ecc_reply_free(r);
		job_free(j);
		return;
	}
	memcpy(mid, r->r_sender, n);
	mid[n] = '\0';
	memset(&to, 0, sizeof(to));
	to.ea_mids = mid;
	ctype = r->r_ctype != NULL ? r->r_ctype : "application/octet-stream";
	/* The call copies what it is given; r may go at once. */
	rc = ecc_post_async(e->e_s, ECHO_OUT, &to, ctype, r->r_body, r->r_len,
	    echo_posted, j);
	ecc_reply_free(r);
	if (rc != ECS_OK)
		job_fail(j, "POST " ECHO_OUT, NULL);
}

/* The answer exists: delete the original (as its receiver). */
static void
echo_posted(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct echo_job	*j = arg;
	struct echo	*e = j->j_echo;

	if (err->ee_code != ECS_OK) {
		ecc_reply_free(r);
		job_fail(j, "POST " ECHO_OUT, err);
		return;
	}
	ecs_plugin_log(e->e_host, 2, "message %lld answered as %s/%lld",
	    (long long)j->j_id, ECHO_OUT, (long long)r->r_id);
	ecc_reply_free(r);
	if (ecc_delete_async(e->e_s, ECHO_IN, j->j_id, echo_deleted, j) !=
	    ECS_OK)
		job_fail(j, "DELETE", NULL);
}

static void
echo_deleted(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct echo_job	*j = arg;

	ecc_reply_free(r);
	if (err->ee_code != ECS_OK)
		job_fail(j, "DELETE", err);
	else
		job_free(j);
}

/* ---- the descriptor's callbacks ---------------------------------------- */

/* Called before echo_init for each key; the value is read there. */
static int
echo_config(const char *key, const char *value)
{
	if (strcmp(key, "crash_on") == 0)
		return *value != '\0' ? 0 : -1;
	return -1;
}

static int
echo_init(struct ecs_plugin_host *host, void **statep)
{
	struct echo	*e;
	const char	*crash_on;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->e_host = host;
	e->e_s = ecs_plugin_session(host);
	TAILQ_INIT(&e->e_jobs);
	crash_on = ecs_plugin_config(host, "crash_on");
	if (crash_on != NULL && (e->e_crash_on = strdup(crash_on)) == NULL) {
		free(e);
		return -1;
	}
	ecs_plugin_log(host, 1, "echoing %s to %s%s", ECHO_IN, ECHO_OUT,
	    crash_on != NULL ? " (crash_on set)" : "");
	*statep = e;
	return 0;
}

static void
echo_event(void *state, const struct ecc_event *ev)
{
	struct echo	*e = state;
	struct echo_job	*j;
	size_t		 n = strlen(ECHO_IN);

	if (strcmp(ev->ev_status, "created") != 0 || ev->ev_id <= 0 ||
	    strncmp(ev->ev_resource, ECHO_IN, n) != 0 ||
	    ev->ev_resource[n] != '/')
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		ecs_plugin_log(e->e_host, 0, "message %lld: out of memory",
		    (long long)ev->ev_id);
		return;
	}
	j->j_echo = e;
	j->j_id = ev->ev_id;
	TAILQ_INSERT_TAIL(&e->e_jobs, j, j_entry);
	if (ecc_get_async(e->e_s, ECHO_IN, j->j_id, echo_got, j) != ECS_OK)
		job_fail(j, "GET", NULL);
}

/* Calls still in flight are dropped by the host without callbacks. */
static void
echo_shutdown(void *state)
{
	struct echo	*e = state;
	struct echo_job	*j;

	if (e == NULL)
		return;
	while ((j = TAILQ_FIRST(&e->e_jobs)) != NULL)
		job_free(j);
	free(e->e_crash_on);
	free(e);
}

static const struct ecs_plugin_resource echo_resources[] = {
	{ ECHO_IN, 0, 1 },
	{ ECHO_OUT, 0, 1 },
	{ NULL, 0, 0 }
};

const struct ecs_plugin ecs_plugin = {
	.ep_abi = ECS_PLUGIN_ABI,
	.ep_name = "echo",
	.ep_version = ECS_VERSION,
	.ep_resources = echo_resources,
	.ep_config = echo_config,
	.ep_init = echo_init,
	.ep_event = echo_event,
	.ep_shutdown = echo_shutdown
};
