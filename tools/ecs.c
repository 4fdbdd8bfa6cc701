/*
 * ecs: the participant command line tool.  Sends, reads and deletes
 * messages, reads memberships and events and handles one-touch tokens, all
 * through the public ECC API (<ecs/ecc.h>).  See ecs(1).
 *
 * Exit status: 0 success, 1 server or connection error, 2 usage error,
 * 3 empty queue (pop, peek, events).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ecs/ecc.h>
#include <ecs/ecs.h>

#define EX_OK		0
#define EX_SERVER	1
#define EX_USAGE	2
#define EX_EMPTY	3

#define ECS_MAX_INPUT	(64 * 1024 * 1024)
#define FOLLOW_WAIT	25
#define FOLLOW_BATCH	100

enum out_mode {
	OUT_HUMAN = 0,
	OUT_RAW,
	OUT_JSON
};

/* Settings from the config file, the environment and the command line. */
struct settings {
	char		*st_url;
	char		*st_auth_id;
	char		*st_cert;
	char		*st_key;
	char		*st_ca;
	char		*st_user;
	char		*st_password;
	int		 st_insecure;
};

/* Options of the commands. */
struct cmdopts {
	enum out_mode	 co_out;
	const char	*co_to;
	const char	*co_community;
	const char	*co_type;
	const char	*co_realm;
	enum ecc_select	 co_select;
	int		 co_lifo;
	int		 co_pop;
	int		 co_follow;
	int		 co_count;	/* 0: not given; -1: all */
	int		 co_timeout;	/* seconds; -1: not given */
	int		 co_wait;
};

static const char	*usage_line =
    "usage: ecs [-hV] [--url url] [--auth-id id | --cert file --key file | "
    "--user user]\n"
    "           [--raw | --json] command [argument ...]\n";

static void __attribute__((noreturn))
usage(const char *fmt, ...)
{
	va_list	 ap;

	if (fmt != NULL) {
		fputs("ecs: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage_line, stderr);
	exit(EX_USAGE);
}

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("commands:\n"
	    "  send RESOURCE --to MID[,MID] | --community C [--type T] [FILE|-]\n"
	    "  get RESOURCE ID\n"
	    "  update RESOURCE ID --to MID[,MID] | --community C [FILE|-]\n"
	    "  delete RESOURCE ID\n"
	    "  list RESOURCE [--sender | --receiver | --all]\n"
	    "  pop RESOURCE [--lifo]\n"
	    "  peek RESOURCE [--lifo]\n"
	    "  details RESOURCE [ID] [--sender | --receiver | --all]\n"
	    "  memberships\n"
	    "  events [--pop] [--count N] [--follow [--timeout S]]\n"
	    "  token create URL --to MID | --community C [--realm R]\n"
	    "  token get HASH\n"
	    "  token consume HASH\n", stdout);
}

/* Replace *dst by a copy of src (NULL clears); exits when out of memory. */
static void
set_str(char **dst, const char *src)
{
	char	*c = NULL;

	if (src != NULL) {
		c = strdup(src);
		if (c == NULL) {
			fputs("ecs: out of memory\n", stderr);
			exit(EX_SERVER);
		}
	}
	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = c;
}

static void
settings_free(struct settings *st)
{
	set_str(&st->st_url, NULL);
	set_str(&st->st_auth_id, NULL);
	set_str(&st->st_cert, NULL);
	set_str(&st->st_key, NULL);
	set_str(&st->st_ca, NULL);
	set_str(&st->st_user, NULL);
	set_str(&st->st_password, NULL);
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Read ~/.config/ecs/config (key = value, # comments); exits on errors. */
static void
config_load(struct settings *st)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "url", offsetof(struct settings, st_url) },
		{ "auth_id", offsetof(struct settings, st_auth_id) },
		{ "cert", offsetof(struct settings, st_cert) },
		{ "key", offsetof(struct settings, st_key) },
		{ "ca", offsetof(struct settings, st_ca) },
		{ "user", offsetof(struct settings, st_user) },
		{ "password", offsetof(struct settings, st_password) },
	};
	char		 path[PATH_MAX], line[4096], *k, *v, *eq;
	const char	*dir;
	FILE		*f;
	size_t		 i;
	int		 lineno = 0, n;

	dir = getenv("XDG_CONFIG_HOME");
	if (dir != NULL && *dir != '\0')
		n = snprintf(path, sizeof(path), "%s/ecs/config", dir);
	else if ((dir = getenv("HOME")) != NULL && *dir != '\0')
		n = snprintf(path, sizeof(path), "%s/.config/ecs/config", dir);
	else
		return;
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		k = trim(line);
		if (*k == '#' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			fprintf(stderr, "ecs: %s:%d: expected key = value\n",
			    path, lineno);
			fclose(f);
			exit(EX_USAGE);
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i].key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			if (strcmp(k, "insecure") == 0) {
				st->st_insecure = strcmp(v, "1") == 0 ||
				    strcmp(v, "yes") == 0 ||
				    strcmp(v, "true") == 0;
				continue;
			}
			fprintf(stderr, "ecs: %s:%d: unknown key %s\n", path,
			    lineno, k);
			fclose(f);
			exit(EX_USAGE);
		}
		set_str((char **)(void *)((char *)st + keys[i].off), v);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
}

static void
env_load(struct settings *st)
{
	const char	*v;

	if ((v = getenv("ECS_URL")) != NULL && *v != '\0')
		set_str(&st->st_url, v);
	if ((v = getenv("ECS_AUTH_ID")) != NULL && *v != '\0')
		set_str(&st->st_auth_id, v);
	if ((v = getenv("ECS_CERT")) != NULL && *v != '\0')
		set_str(&st->st_cert, v);
	if ((v = getenv("ECS_KEY")) != NULL && *v != '\0')
		set_str(&st->st_key, v);
	if ((v = getenv("ECS_CA")) != NULL && *v != '\0')
		set_str(&st->st_ca, v);
	if ((v = getenv("ECS_USER")) != NULL && *v != '\0')
		set_str(&st->st_user, v);
	if ((v = getenv("ECS_PASSWORD")) != NULL)
		set_str(&st->st_password, v);
}

static int
num_arg(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage("bad %s: %s", what, s);
	return (int)v;
}

/* ---- output ---------------------------------------------------------- */

static void
json_str(const char *s, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	putchar('"');
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
json_kstr(const char *k, const char *v, int *first)
{
	if (!*first)
		putchar(',');
	*first = 0;
	json_str(k, strlen(k));
	putchar(':');
	if (v == NULL)
		fputs("null", stdout);
	else
		json_str(v, strlen(v));
}

/* Write a body as it is, with a final line feed for the eye if asked. */
static void
put_body(const char *b, size_t n, int nl)
{
	fwrite(b, 1, n, stdout);
	if (nl && n > 0 && b[n - 1] != '\n')
		putchar('\n');
}

static void
print_message(const struct ecc_reply *r, const char *res, int64_t id,
    enum out_mode out)
{
	char	 idbuf[32];
	int	 first = 1;

	switch (out) {
	case OUT_RAW:
		put_body(r->r_body, r->r_len, 0);
		break;
	case OUT_JSON:
		putchar('{');
		json_kstr("resource", res, &first);
		if (id > 0) {
			snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
			printf(",\"id\":%s", idbuf);
		}
		json_kstr("content_type", r->r_ctype, &first);
		json_kstr("sender", r->r_sender, &first);
		json_kstr("communities", r->r_communities, &first);
		json_kstr("etag", r->r_etag, &first);
		fputs(",\"body\":", stdout);
		json_str(r->r_body, r->r_len);
		fputs("}\n", stdout);
		break;
	case OUT_HUMAN:
		if (id > 0)
			printf("Message: %s/%" PRId64 "\n", res, id);
		if (r->r_ctype != NULL)
			printf("Content-Type: %s\n", r->r_ctype);
		if (r->r_sender != NULL)
			printf("Sender: %s\n", r->r_sender);
		if (r->r_communities != NULL)
			printf("Communities: %s\n", r->r_communities);
		putchar('\n');
		put_body(r->r_body, r->r_len, 1);
		break;
	}
}

static void
print_token(const struct ecc_token *t, enum out_mode out)
{
	if (out != OUT_HUMAN) {
		put_body(t->tk_json, strlen(t->tk_json), 1);
		return;
	}
	printf("hash: %s\n", t->tk_hash != NULL ? t->tk_hash : "");
	if (t->tk_id > 0)
		printf("id: %" PRId64 "\n", t->tk_id);
	if (t->tk_url != NULL)
		printf("url: %s\n", t->tk_url);
	if (t->tk_realm != NULL)
		printf("realm: %s\n", t->tk_realm);
	printf("pid: %" PRId64 "\n", t->tk_pid);
	if (t->tk_abbr != NULL)
		printf("abbr: %s\n", t->tk_abbr);
	printf("valid: %s to %s\n", t->tk_sov != NULL ? t->tk_sov : "?",
	    t->tk_eov != NULL ? t->tk_eov : "?");
}

static int
fail(const struct ecc_error *err)
{
	if (err->ee_status != 0)
		fprintf(stderr, "ecs: %d %s\n", err->ee_status, err->ee_text);
	else
		fprintf(stderr, "ecs: %s\n", err->ee_text[0] != '\0' ?
		    err->ee_text : ecs_strerror(err->ee_code));
	return err->ee_code == ECS_EINVAL && err->ee_status == 0 &&
	    err->ee_net == ECC_NET_OK ? EX_USAGE : EX_SERVER;
}

/* ---- input ----------------------------------------------------------- */

/* Read FILE or stdin ("-" or NULL) whole; exits on errors. */
static char *
read_input(const char *file, size_t *lenp)
{
	FILE	*f;
	char	*b = NULL, *nb;
	size_t	 len = 0, cap = 0, n;

	if (file == NULL || strcmp(file, "-") == 0)
		f = stdin;
	else if ((f = fopen(file, "rb")) == NULL) {
		fprintf(stderr, "ecs: %s: %s\n", file, strerror(errno));
		exit(EX_USAGE);
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > ECS_MAX_INPUT + 1)
				cap = ECS_MAX_INPUT + 1;
			if (len == cap) {
				fputs("ecs: input too large\n", stderr);
				exit(EX_USAGE);
			}
			nb = realloc(b, cap);
			if (nb == NULL) {
				fputs("ecs: out of memory\n", stderr);
				exit(EX_SERVER);
			}
			b = nb;
		}
		n = fread(b + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "ecs: %s: read error\n", file ? file : "stdin");
		exit(EX_USAGE);
	}
	if (f != stdin)
		fclose(f);
	*lenp = len;
	return b;
}

/* A JSON-looking body is application/json, anything else text/plain. */
static const char *
guess_type(const char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && isspace((unsigned char)b[i]); i++)
		;
	if (i < n && (b[i] == '{' || b[i] == '['))
		return "application/json";
	return "text/plain";
}

/*
 * The RESOURCE ID arguments (also RESOURCE/ID as one word, as printed by
 * list); returns how many arguments were used.
 */
static int
msg_args(int argc, char **argv, char *res, size_t rlen, int64_t *id,
    int need_id)
{
	char	*slash, *end;
	long long v;

	if (argc < 1)
		usage("missing RESOURCE");
	if ((size_t)snprintf(res, rlen, "%s", argv[0]) >= rlen)
		usage("resource name too long");
	*id = 0;
	slash = strrchr(res, '/');
	if (slash != NULL && slash != strchr(res, '/') && slash[1] != '\0') {
		errno = 0;
		v = strtoll(slash + 1, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0) {
			*slash = '\0';
			*id = v;
			return 1;
		}
	}
	if (!need_id || argc < 2)
		return 1;
	errno = 0;
	v = strtoll(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0) {
		if (need_id == 1)
			usage("bad message id: %s", argv[1]);
		return 1;
	}
	*id = v;
	return 2;
}

/* ---- commands -------------------------------------------------------- */

static int
cmd_send(struct ecc *s, int argc, char **argv, const struct cmdopts *o,
    int update)
{
	char		 res[256], *body;
	const char	*ctype;
	struct ecc_addr	 to;
	struct ecc_error err;
	size_t		 len;
	int64_t		 id = 0;
	int		 used, rc;

	used = msg_args(argc, argv, res, sizeof(res), &id, update ? 1 : 0);
	if (update && id == 0)
		usage("update needs RESOURCE ID");
	if (!update && id != 0)
		usage("send takes a RESOURCE, not a message");
	argc -= used;
	argv += used;
	if (argc > 1)
		usage("too many arguments");
	if (o->co_to == NULL && o->co_community == NULL)
		usage("%s needs --to or --community", update ? "update" : "send");
	to.ea_mids = o->co_to;
	to.ea_communities = o->co_community;
	body = read_input(argc == 1 ? argv[0] : NULL, &len);
	ctype = o->co_type != NULL ? o->co_type : guess_type(body, len);
	if (update)
		rc = ecc_update(s, res, id, &to, ctype, body, len, &err);
	else
		rc = ecc_post(s, res, &to, ctype, body, len, &id, &err);
	free(body);
	if (rc != ECS_OK)
		return fail(&err);
	switch (o->co_out) {
	case OUT_RAW:
		printf("%" PRId64 "\n", id);
		break;
	case OUT_JSON:
		printf("{\"resource\":");
		json_str(res, strlen(res));
		printf(",\"id\":%" PRId64 "}\n", id);
		break;
	case OUT_HUMAN:
		printf("%s/%" PRId64 "\n", res, id);
		break;
	}
	return EX_OK;
}

static int
cmd_get(struct ecc *s, int argc, char **argv, const struct cmdopts *o,
    int del)
{
	char			 res[256];
	struct ecc_reply	*r = NULL;
	struct ecc_error	 err;
	int64_t			 id;
	int			 used, rc;

	used = msg_args(argc, argv, res, sizeof(res), &id, 1);
	if (id == 0)
		usage("%s needs RESOURCE ID", del ? "delete" : "get");
	if (argc > used)
		usage("too many arguments");
	if (del)
		rc = ecc_delete(s, res, id, &r, &err);
	else
		rc = ecc_get(s, res, id, &r, &err);
	if (rc != ECS_OK)
		return fail(&err);
	print_message(r, res, id, o->co_out);
	ecc_reply_free(r);
	return EX_OK;
}

static int
cmd_queue(struct ecc *s, int argc, char **argv, const struct cmdopts *o,
    int pop)
{
	struct ecc_reply	*r = NULL;
	struct ecc_error	 err;
	int			 rc;

	if (argc != 1)
		usage("%s needs RESOURCE", pop ? "pop" : "peek");
	rc = ecc_queue(s, argv[0], o->co_lifo ? ECC_LIFO : ECC_FIFO, pop, &r,
	    &err);
	if (rc != ECS_OK)
		return fail(&err);
	if (r == NULL) {
		if (o->co_out == OUT_HUMAN)
			fprintf(stderr, "ecs: %s: queue is empty\n", argv[0]);
		return EX_EMPTY;
	}
	print_message(r, argv[0], 0, o->co_out);
	ecc_reply_free(r);
	return EX_OK;
}

/* Blocking generic GET-ish call used where the raw answer is printed. */
static int
call(struct ecc *s, const char *method, const char *path, const char *qs,
    int json, int extra, struct ecc_reply **rp, struct ecc_error *err)
{
	struct ecc_header	 h[2];
	struct ecc_request	 q;

	memset(&q, 0, sizeof(q));
	q.er_method = method;
	q.er_path = path;
	q.er_headers = h;
	if (json) {
		h[q.er_nheaders].eh_name = "Accept";
		h[q.er_nheaders].eh_value = "application/json";
		q.er_nheaders++;
	}
	if (qs != NULL) {
		h[q.er_nheaders].eh_name = "X-EcsQueryStrings";
		h[q.er_nheaders].eh_value = qs;
		q.er_nheaders++;
	}
	q.er_idempotent = strcmp(method, "GET") == 0;
	q.er_timeout = extra;
	return ecc_call(s, &q, rp, err);
}

static const char *
select_qs(enum ecc_select sel)
{
	switch (sel) {
	case ECC_SENT:
		return "sender=true";
	case ECC_ALL:
		return "all=true";
	case ECC_RECEIVED:
		break;
	}
	return "receiver=true";
}

static int
cmd_list(struct ecc *s, int argc, char **argv, const struct cmdopts *o)
{
	char			 path[300], res[256];
	struct ecc_reply	*r = NULL;
	struct ecc_list		*l = NULL;
	struct ecc_error	 err;
	size_t			 i;
	int64_t			 id;

	if (argc != 1)
		usage("list needs RESOURCE");
	msg_args(argc, argv, res, sizeof(res), &id, 0);
	if (id != 0)
		usage("list takes a RESOURCE, not a message");
	snprintf(path, sizeof(path), "/%s", res[0] == '/' ? res + 1 : res);
	if (call(s, "GET", path, select_qs(o->co_select), 0, 0, &r, &err) !=
	    ECS_OK)
		return fail(&err);
	if (o->co_out == OUT_RAW) {
		put_body(r->r_body, r->r_len, 0);
		ecc_reply_free(r);
		return EX_OK;
	}
	if (ecc_parse_list(r, &l, &err) != ECS_OK) {
		ecc_reply_free(r);
		return fail(&err);
	}
	ecc_reply_free(r);
	if (o->co_out == OUT_JSON)
		putchar('[');
	for (i = 0; i < l->l_n; i++) {
		if (o->co_out == OUT_JSON)
			printf("%s%" PRId64, i ? "," : "", l->l_ids[i]);
		else
			printf("%s/%" PRId64 "\n", path + 1, l->l_ids[i]);
	}
	if (o->co_out == OUT_JSON)
		puts("]");
	ecc_list_free(l);
	return EX_OK;
}

static int
cmd_details(struct ecc *s, int argc, char **argv, const struct cmdopts *o)
{
	char			 res[256];
	struct ecc_reply	*r = NULL;
	struct ecc_error	 err;
	int64_t			 id;
	int			 used;

	used = msg_args(argc, argv, res, sizeof(res), &id, 1);
	if (argc > used)
		usage("too many arguments");
	if (ecc_details(s, res, id, o->co_select, &r, &err) != ECS_OK)
		return fail(&err);
	if (r->r_len == 0 && o->co_out == OUT_JSON)
		puts("[]");
	else
		put_body(r->r_body, r->r_len, o->co_out != OUT_RAW);
	ecc_reply_free(r);
	return EX_OK;
}

static int
cmd_memberships(struct ecc *s, int argc, const struct cmdopts *o)
{
	struct ecc_reply	*r = NULL;
	struct ecc_memberships	*ms = NULL;
	struct ecc_community	*c;
	struct ecc_member	*m;
	struct ecc_error	 err;
	size_t			 i, k;

	if (argc != 0)
		usage("memberships takes no arguments");
	if (call(s, "GET", "/sys/memberships", NULL, 1, 0, &r, &err) != ECS_OK)
		return fail(&err);
	if (o->co_out != OUT_HUMAN) {
		if (r->r_len == 0 && o->co_out == OUT_JSON)
			puts("[]");
		else
			put_body(r->r_body, r->r_len, o->co_out == OUT_JSON);
		ecc_reply_free(r);
		return EX_OK;
	}
	if (ecc_parse_memberships(r, &ms, &err) != ECS_OK) {
		ecc_reply_free(r);
		return fail(&err);
	}
	ecc_reply_free(r);
	for (i = 0; i < ms->ms_n; i++) {
		c = &ms->ms_c[i];
		printf("%s (cid %" PRId64 ")%s%s\n", c->co_name ? c->co_name :
		    "?", c->co_cid, c->co_description && *c->co_description ?
		    ": " : "", c->co_description ? c->co_description : "");
		for (k = 0; k < c->co_n; k++) {
			m = &c->co_members[k];
			printf("  mid %-4" PRId64 " pid %-4" PRId64 " %s",
			    m->mb_mid, m->mb_pid, m->mb_name ? m->mb_name : "?");
			if (m->mb_abbr != NULL)
				printf(" (%s)", m->mb_abbr);
			puts(m->mb_itsyou ? "  <- you" : "");
		}
	}
	ecc_memberships_free(ms);
	return EX_OK;
}

static void
print_events(const struct ecc_reply *r, const struct ecc_events *evs,
    enum out_mode out, int lines)
{
	size_t	 i;
	int	 first;

	if (out == OUT_RAW) {
		put_body(r->r_body, r->r_len, 0);
		return;
	}
	if (out == OUT_JSON && !lines) {
		if (r->r_len == 0)
			puts("[]");
		else
			put_body(r->r_body, r->r_len, 1);
		return;
	}
	for (i = 0; i < evs->evs_n; i++) {
		if (out == OUT_JSON) {
			first = 1;
			putchar('{');
			json_kstr("ressource", evs->evs_ev[i].ev_resource,
			    &first);
			json_kstr("status", evs->evs_ev[i].ev_status, &first);
			puts("}");
		} else
			printf("%-9s %s\n", evs->evs_ev[i].ev_status,
			    evs->evs_ev[i].ev_resource);
	}
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * events --follow: pop with ?wait= until --count events were printed or
 * --timeout seconds passed.  A server that ignores wait answers at once;
 * then we pause a second between empty answers instead of spinning.
 */
static int
events_follow(struct ecc *s, const struct cmdopts *o)
{
	char			 path[80];
	struct ecc_reply	*r;
	struct ecc_events	*evs;
	struct ecc_error	 err;
	double			 t0, deadline, left, started;
	long			 got = 0;
	int			 wait, batch;
	struct timespec		 ts;

	t0 = now();
	deadline = o->co_timeout >= 0 ? t0 + o->co_timeout : 0;
	for (;;) {
		if (o->co_count > 0 && got >= o->co_count)
			return EX_OK;
		wait = o->co_wait > 0 ? o->co_wait : FOLLOW_WAIT;
		if (deadline > 0) {
			left = deadline - now();
			if (left <= 0)
				return EX_OK;
			if (wait > (int)left)
				wait = (int)left;
		}
		batch = FOLLOW_BATCH;
		if (o->co_count > 0 && o->co_count - got < batch)
			batch = (int)(o->co_count - got);
		if (wait > 0)
			snprintf(path, sizeof(path),
			    "/sys/events/fifo?count=%d&wait=%d", batch, wait);
		else
			snprintf(path, sizeof(path),
			    "/sys/events/fifo?count=%d", batch);
		started = now();
		r = NULL;
		if (call(s, "POST", path, NULL, 1, wait, &r, &err) != ECS_OK)
			return fail(&err);
		evs = NULL;
		if (ecc_parse_events(r, &evs, &err) != ECS_OK) {
			ecc_reply_free(r);
			return fail(&err);
		}
		if (evs->evs_n > 0)
			print_events(r, evs, o->co_out, 1);
		fflush(stdout);
		got += (long)evs->evs_n;
		if (evs->evs_n == 0 && now() - started < 1.0) {
			left = 1.0;
			if (deadline > 0 && deadline - now() < left)
				left = deadline - now();
			if (left > 0) {
				ts.tv_sec = (time_t)left;
				ts.tv_nsec = (long)((left - (double)ts.tv_sec) *
				    1e9);
				nanosleep(&ts, NULL);
			}
		}
		ecc_events_free(evs);
		ecc_reply_free(r);
	}
}

static int
cmd_events(struct ecc *s, int argc, const struct cmdopts *o)
{
	char			 path[64];
	struct ecc_reply	*r = NULL;
	struct ecc_events	*evs = NULL;
	struct ecc_error	 err;
	int			 empty;

	if (argc != 0)
		usage("events takes no arguments");
	if (o->co_follow)
		return events_follow(s, o);
	if (o->co_pop)
		snprintf(path, sizeof(path), "/sys/events/fifo");
	else
		snprintf(path, sizeof(path), "/sys/events");
	if (o->co_count != 0)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "?count=%d", o->co_count);
	if (call(s, o->co_pop ? "POST" : "GET", path, NULL, 1, 0, &r, &err) !=
	    ECS_OK)
		return fail(&err);
	if (ecc_parse_events(r, &evs, &err) != ECS_OK) {
		ecc_reply_free(r);
		return fail(&err);
	}
	print_events(r, evs, o->co_out, 0);
	empty = evs->evs_n == 0;
	ecc_events_free(evs);
	ecc_reply_free(r);
	return empty ? EX_EMPTY : EX_OK;
}

static int
cmd_token(struct ecc *s, int argc, char **argv, const struct cmdopts *o)
{
	struct ecc_token	*t = NULL;
	struct ecc_error	 err;
	struct ecc_addr		 to;
	int			 rc;

	if (argc != 2)
		usage("token needs create URL, get HASH or consume HASH");
	if (strcmp(argv[0], "create") == 0) {
		if (o->co_to == NULL && o->co_community == NULL)
			usage("token create needs --to or --community");
		to.ea_mids = o->co_to;
		to.ea_communities = o->co_community;
		rc = ecc_token_create(s, &to, argv[1], o->co_realm, &t, &err);
	} else if (strcmp(argv[0], "get") == 0)
		rc = ecc_token_fetch(s, argv[1], &t, &err);
	else if (strcmp(argv[0], "consume") == 0)
		rc = ecc_token_consume(s, argv[1], &t, &err);
	else
		usage("unknown token command: %s", argv[0]);
	if (rc != ECS_OK)
		return fail(&err);
	print_token(t, o->co_out);
	ecc_token_free(t);
	return EX_OK;
}

enum {
	OPT_URL = 256, OPT_AUTH_ID, OPT_CERT, OPT_KEY, OPT_CA, OPT_USER,
	OPT_INSECURE, OPT_RAW, OPT_JSON, OPT_TO, OPT_COMMUNITY, OPT_TYPE,
	OPT_REALM, OPT_SENDER, OPT_RECEIVER, OPT_ALL, OPT_LIFO, OPT_FIFO,
	OPT_POP, OPT_FOLLOW, OPT_COUNT, OPT_TIMEOUT, OPT_WAIT
};

static const struct option longopts[] = {
	{ "all", no_argument, NULL, OPT_ALL },
	{ "auth-id", required_argument, NULL, OPT_AUTH_ID },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "community", required_argument, NULL, OPT_COMMUNITY },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "fifo", no_argument, NULL, OPT_FIFO },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "help", no_argument, NULL, 'h' },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "lifo", no_argument, NULL, OPT_LIFO },
	{ "pop", no_argument, NULL, OPT_POP },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "realm", required_argument, NULL, OPT_REALM },
	{ "receiver", no_argument, NULL, OPT_RECEIVER },
	{ "sender", no_argument, NULL, OPT_SENDER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "to", required_argument, NULL, OPT_TO },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "url", required_argument, NULL, OPT_URL },
	{ "user", required_argument, NULL, OPT_USER },
	{ "version", no_argument, NULL, 'V' },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ NULL, 0, NULL, 0 }
};

int
main(int argc, char *argv[])
{
	struct settings	 st, cl;
	struct cmdopts	 o;
	struct ecc_params p;
	struct ecc_error err;
	struct ecc	*s = NULL;
	const char	*cmd;
	char		*pw;
	int		 ch, kinds = 0, rc;

	memset(&st, 0, sizeof(st));
	memset(&cl, 0, sizeof(cl));
	memset(&o, 0, sizeof(o));
	o.co_timeout = -1;
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
			return EX_OK;
		case 'V':
			printf("ecs %s\n", ECS_VERSION);
			return EX_OK;
		case OPT_URL:
			set_str(&cl.st_url, optarg);
			break;
		case OPT_AUTH_ID:
			set_str(&cl.st_auth_id, optarg);
			break;
		case OPT_CERT:
			set_str(&cl.st_cert, optarg);
			break;
		case OPT_KEY:
			set_str(&cl.st_key, optarg);
			break;
		case OPT_CA:
			set_str(&cl.st_ca, optarg);
			break;
		case OPT_USER:
			set_str(&cl.st_user, optarg);
			break;
		case OPT_INSECURE:
			cl.st_insecure = 1;
			break;
		case OPT_RAW:
		case OPT_JSON:
			if (o.co_out != OUT_HUMAN)
				usage("--raw and --json exclude each other");
			o.co_out = ch == OPT_RAW ? OUT_RAW : OUT_JSON;
			break;
		case OPT_TO:
			o.co_to = optarg;
			break;
		case OPT_COMMUNITY:
			o.co_community = optarg;
			break;
		case OPT_TYPE:
			o.co_type = optarg;
			break;
		case OPT_REALM:
			o.co_realm = optarg;
			break;
		case OPT_SENDER:
			o.co_select = ECC_SENT;
			break;
		case OPT_RECEIVER:
			o.co_select = ECC_RECEIVED;
			break;
		case OPT_ALL:
			o.co_select = ECC_ALL;
			break;
		case OPT_LIFO:
			o.co_lifo = 1;
			break;
		case OPT_FIFO:
			o.co_lifo = 0;
			break;
		case OPT_POP:
			o.co_pop = 1;
			break;
		case OPT_FOLLOW:
			o.co_follow = 1;
			break;
		case OPT_COUNT:
			o.co_count = strcmp(optarg, "all") == 0 ? -1 :
			    num_arg(optarg, 1, INT_MAX, "count");
			break;
		case OPT_TIMEOUT:
			o.co_timeout = num_arg(optarg, 0, 86400, "timeout");
			break;
		case OPT_WAIT:
			o.co_wait = num_arg(optarg, 0, 3600, "wait");
			break;
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage("no command");
	cmd = argv[0];
	argc--;
	argv++;

	/* File, then environment, then the command line. */
	config_load(&st);
	env_load(&st);
	if (cl.st_auth_id != NULL)
		kinds++;
	if (cl.st_cert != NULL || cl.st_key != NULL)
		kinds++;
	if (cl.st_user != NULL)
		kinds++;
	if (kinds > 1)
		usage("use one of --auth-id, --cert/--key and --user");
	if (kinds == 1) {
		set_str(&st.st_auth_id, cl.st_auth_id);
		set_str(&st.st_cert, cl.st_cert);
		set_str(&st.st_key, cl.st_key);
		if (cl.st_user != NULL)
			set_str(&st.st_user, cl.st_user);
		else
			set_str(&st.st_user, NULL);
	}
	if (cl.st_url != NULL)
		set_str(&st.st_url, cl.st_url);
	if (cl.st_ca != NULL)
		set_str(&st.st_ca, cl.st_ca);
	if (cl.st_insecure)
		st.st_insecure = 1;
	settings_free(&cl);
	if (st.st_url == NULL)
		usage("no server: use --url, ECS_URL or url in "
		    "~/.config/ecs/config");
	if (st.st_user != NULL && st.st_password == NULL) {
		if (!isatty(STDIN_FILENO))
			usage("no password for %s: set ECS_PASSWORD",
			    st.st_user);
		pw = getpass("Password: ");
		if (pw == NULL)
			usage("no password");
		set_str(&st.st_password, pw);
		explicit_bzero(pw, strlen(pw));
	}

	memset(&p, 0, sizeof(p));
	p.ep_url = st.st_url;
	p.ep_auth_id = st.st_auth_id;
	p.ep_user = st.st_user;
	p.ep_password = st.st_password;
	p.ep_cert = st.st_cert;
	p.ep_key = st.st_key;
	p.ep_ca = st.st_ca;
	p.ep_insecure = st.st_insecure;
	p.ep_retries = -1;
	if (ecc_open(&s, &p, NULL, &err) != ECS_OK) {
		fprintf(stderr, "ecs: %s\n", err.ee_text);
		settings_free(&st);
		return err.ee_code == ECS_ENOMEM ? EX_SERVER : EX_USAGE;
	}
	settings_free(&st);

	if (strcmp(cmd, "send") == 0)
		rc = cmd_send(s, argc, argv, &o, 0);
	else if (strcmp(cmd, "update") == 0)
		rc = cmd_send(s, argc, argv, &o, 1);
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_get(s, argc, argv, &o, 0);
	else if (strcmp(cmd, "delete") == 0)
		rc = cmd_get(s, argc, argv, &o, 1);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(s, argc, argv, &o);
	else if (strcmp(cmd, "pop") == 0)
		rc = cmd_queue(s, argc, argv, &o, 1);
	else if (strcmp(cmd, "peek") == 0)
		rc = cmd_queue(s, argc, argv, &o, 0);
	else if (strcmp(cmd, "details") == 0)
		rc = cmd_details(s, argc, argv, &o);
	else if (strcmp(cmd, "memberships") == 0)
		rc = cmd_memberships(s, argc, &o);
	else if (strcmp(cmd, "events") == 0)
		rc = cmd_events(s, argc, &o);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(s, argc, argv, &o);
	else {
		ecc_close(s);
		usage("unknown command: %s", cmd);
	}
	ecc_close(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "ecs: write error: %s\n", strerror(errno));
		return EX_SERVER;
	}
	return rc;
}
