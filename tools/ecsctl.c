/*
 * ecsctl: command line client of the ecsd admin API (/admin/).
 *
 * The arguments are parsed with chained keyword tables in the manner of
 * relayctl(8): each keyword names the table for the next word, unique
 * prefixes are accepted, and on a bad or missing word the valid words
 * are listed.  Everything goes over HTTP; ecsctl never opens the
 * database.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "httpc.h"
#include "store_migrate.h"

#define ECSCTL_USAGE		"usage: ecsctl [-j] [-u url] " \
				    "[-p password-file] command [argument ...]"
#define ECSCTL_URL		"http://127.0.0.1:3000"
#define ECSCTL_DATADIR		"./ecsd-data"
#define ECSCTL_USER		"admin"
#define ECSCTL_TIMEOUT		30000		/* milliseconds */
#define ECSCTL_MAXPASS		4096
#define ECSCTL_MAXDEPTH		64

#define EXIT_OK			0
#define EXIT_FAIL		1
#define EXIT_USAGE		2

enum action {
	A_NONE,
	A_ADD,
	A_LIST,
	A_SHOW,
	A_SET,
	A_DELETE,
	A_RESET,
	A_APPLY,
	A_EXPORT,
	A_PASSWORD,
	A_GC,
	A_MIGRATE
};

enum kind {
	K_NONE,
	K_ORGANIZATION,
	K_COMMUNITY,
	K_RESOURCE,
	K_PARTICIPANT,
	K_MEMBERSHIP
};

enum token_type {
	NOTOKEN,
	ENDTOKEN,
	KEYWORD,
	OBJID,		/* numeric id, into pr_id */
	OBJID2,		/* second numeric id, into pr_id2 */
	AUTHID,		/* an auth id (identity name), into pr_arg */
	RESNAME,	/* namespace/name */
	FILENAME,	/* a file or "-" */
	OPTIONS		/* the rest of the words are --options */
};

struct token {
	enum token_type		 t_type;
	const char		*t_keyword;
	enum action		 t_action;
	enum kind		 t_kind;
	const struct token	*t_next;
};

enum field_type {
	F_STRING,	/* --flag value: a JSON string */
	F_TRUE,		/* --flag: true */
	F_FALSE,	/* --flag: false */
	F_STRINGS,	/* repeatable --flag value: an array of strings */
	F_REFS,		/* repeatable --flag id|name: an array */
	F_ORGREF	/* --flag id|name: an organization id */
};

#define F_REQUIRED	0x01	/* required by add */

struct field {
	const char	*f_flag;
	const char	*f_key;
	enum field_type	 f_type;
	int		 f_flags;
};

struct column {
	const char	*col_header;
	const char	*col_key;
	const char	*col_sub;	/* member of the objects of an array */
};

struct kind_info {
	const char		*ki_name;
	const char		*ki_path;
	const struct field	*ki_fields;
	const struct column	*ki_columns;
};

struct parse_result {
	enum action	 pr_action;
	enum kind	 pr_kind;
	long long	 pr_id;
	long long	 pr_id2;
	const char	*pr_arg;
	int		 pr_optc;
	char		**pr_optv;
};

struct optval {
	const struct field	*ov_field;
	const char		*ov_value;
	char			 ov_id[32];	/* resolved organization id */
};

struct ctl {
	const char	*c_url;
	char		*c_password;
	int		 c_json;
};

static const struct token t_main[];
static const struct token t_organization[];
static const struct token t_community[];
static const struct token t_resource[];
static const struct token t_participant[];
static const struct token t_membership[];
static const struct token t_id[];
static const struct token t_id_opts[];
static const struct token t_id_id2[];
static const struct token t_id2[];
static const struct token t_id_authid[];
static const struct token t_authid[];
static const struct token t_opts[];
static const struct token t_resname[];
static const struct token t_file[];

static const struct token t_main[] = {
	{ KEYWORD,	"apply",	A_APPLY,	K_NONE,	t_file },
	{ KEYWORD,	"community",	A_NONE,	K_COMMUNITY,	t_community },
	{ KEYWORD,	"export",	A_EXPORT,	K_NONE,	NULL },
	{ KEYWORD,	"gc",		A_GC,		K_NONE,	NULL },
	{ KEYWORD,	"membership",	A_NONE,	K_MEMBERSHIP,	t_membership },
	{ KEYWORD,	"migrate",	A_MIGRATE,	K_NONE,	t_opts },
	{ KEYWORD, "organization", A_NONE, K_ORGANIZATION, t_organization },
	{ KEYWORD,	"participant",	A_NONE,	K_PARTICIPANT,	t_participant },
	{ KEYWORD,	"resource",	A_NONE,	K_RESOURCE,	t_resource },
	{ ENDTOKEN,	"",		A_NONE,	K_NONE,	NULL }
};

static const struct token t_organization[] = {
	{ KEYWORD,	"add",		A_ADD,		K_NONE,	t_opts },
	{ KEYWORD,	"delete",	A_DELETE,	K_NONE,	t_id },
	{ KEYWORD,	"list",		A_LIST,		K_NONE,	NULL },
	{ KEYWORD,	"set",		A_SET,		K_NONE,	t_id_opts },
	{ KEYWORD,	"show",		A_SHOW,		K_NONE,	t_id },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_community[] = {
	{ KEYWORD,	"add",		A_ADD,		K_NONE,	t_opts },
	{ KEYWORD,	"delete",	A_DELETE,	K_NONE,	t_id },
	{ KEYWORD,	"list",		A_LIST,		K_NONE,	NULL },
	{ KEYWORD,	"set",		A_SET,		K_NONE,	t_id_opts },
	{ KEYWORD,	"show",		A_SHOW,		K_NONE,	t_id },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_resource[] = {
	{ KEYWORD,	"add",		A_ADD,		K_NONE,	t_resname },
	{ KEYWORD,	"delete",	A_DELETE,	K_NONE,	t_id },
	{ KEYWORD,	"list",		A_LIST,		K_NONE,	NULL },
	{ KEYWORD,	"show",		A_SHOW,		K_NONE,	t_id },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_participant[] = {
	{ KEYWORD,	"add",		A_ADD,		K_NONE,	t_opts },
	{ KEYWORD,	"delete",	A_DELETE,	K_NONE,	t_id },
	{ KEYWORD,	"list",		A_LIST,		K_NONE,	NULL },
	{ KEYWORD,	"password",	A_PASSWORD,	K_NONE,	t_id_authid },
	{ KEYWORD,	"reset",	A_RESET,	K_NONE,	t_id },
	{ KEYWORD,	"set",		A_SET,		K_NONE,	t_id_opts },
	{ KEYWORD,	"show",		A_SHOW,		K_NONE,	t_id },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_membership[] = {
	{ KEYWORD,	"add",		A_ADD,		K_NONE,	t_id_id2 },
	{ KEYWORD,	"delete",	A_DELETE,	K_NONE,	t_id },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_id[] = {
	{ OBJID,	"",		A_NONE,		K_NONE,	NULL },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_id_opts[] = {
	{ OBJID,	"",		A_NONE,		K_NONE,	t_opts },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_id_id2[] = {
	{ OBJID,	"",		A_NONE,		K_NONE,	t_id2 },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_id2[] = {
	{ OBJID2,	"",		A_NONE,		K_NONE,	NULL },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_id_authid[] = {
	{ OBJID,	"",		A_NONE,		K_NONE,	t_authid },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_authid[] = {
	{ AUTHID,	"",		A_NONE,		K_NONE,	t_opts },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_opts[] = {
	{ OPTIONS,	"",		A_NONE,		K_NONE,	NULL },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_resname[] = {
	{ RESNAME,	"",		A_NONE,		K_NONE,	t_opts },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct token t_file[] = {
	{ FILENAME,	"",		A_NONE,		K_NONE,	NULL },
	{ ENDTOKEN,	"",		A_NONE,		K_NONE,	NULL }
};

static const struct field f_organization[] = {
	{ "--abbr",		"abbr",		F_STRING,	F_REQUIRED },
	{ "--description",	"description",	F_STRING,	0 },
	{ "--name",		"name",		F_STRING,	F_REQUIRED },
	{ NULL,			NULL,		F_STRING,	0 }
};

static const struct field f_community[] = {
	{ "--description",	"description",	F_STRING,	0 },
	{ "--name",		"name",		F_STRING,	F_REQUIRED },
	{ NULL,			NULL,		F_STRING,	0 }
};

static const struct field f_resource[] = {
	{ "--no-events",	"events",	F_FALSE,	0 },
	{ "--postroute",	"postroute",	F_TRUE,		0 },
	{ NULL,			NULL,		F_STRING,	0 }
};

static const struct field f_participant[] = {
	{ "--auth-id",		"auth_ids",	F_STRINGS,	0 },
	{ "--community",	"communities",	F_REFS,		0 },
	{ "--description",	"description",	F_STRING,	0 },
	{ "--dns",		"dns",		F_STRING,	0 },
	{ "--email",		"email",	F_STRING,	0 },
	{ "--events",		"events",	F_TRUE,		0 },
	{ "--name",		"name",		F_STRING,	F_REQUIRED },
	{ "--no-events",	"events",	F_FALSE,	0 },
	{ "--no-selfrouting",	"community_selfrouting", F_FALSE, 0 },
	{ "--organization",	"organization_id", F_ORGREF,	F_REQUIRED },
	{ "--selfrouting",	"community_selfrouting", F_TRUE, 0 },
	{ NULL,			NULL,		F_STRING,	0 }
};

/* Options of participant password; not sent as such. */
static const struct field f_password[] = {
	{ "--password-file",	"password",	F_STRING,	0 },
	{ "--remove",		"remove",	F_TRUE,		0 },
	{ NULL,			NULL,		F_STRING,	0 }
};

static const struct kind_info ki_password = {
	"participant password", "/admin/participants", f_password, NULL
};

static const struct field f_none[] = {
	{ NULL,			NULL,		F_STRING,	0 }
};

static const struct column c_organization[] = {
	{ "ID",		"id",		NULL },
	{ "NAME",	"name",		NULL },
	{ "ABBR",	"abbr",		NULL },
	{ "DESCRIPTION", "description",	NULL },
	{ NULL,		NULL,		NULL }
};

static const struct column c_community[] = {
	{ "ID",		"id",		NULL },
	{ "NAME",	"name",		NULL },
	{ "DESCRIPTION", "description",	NULL },
	{ NULL,		NULL,		NULL }
};

static const struct column c_resource[] = {
	{ "ID",		"id",		NULL },
	{ "NAMESPACE",	"namespace",	NULL },
	{ "NAME",	"name",		NULL },
	{ "POSTROUTE",	"postroute",	NULL },
	{ "EVENTS",	"events",	NULL },
	{ NULL,		NULL,		NULL }
};

static const struct column c_participant[] = {
	{ "ID",		"id",		NULL },
	{ "NAME",	"name",		NULL },
	{ "ORG",	"organization_id", NULL },
	{ "TYPE",	"type",		NULL },
	{ "EVENTS",	"events",	NULL },
	{ "AUTH_IDS",	"auth_ids",	NULL },
	{ "COMMUNITIES", "memberships",	"community_id" },
	{ NULL,		NULL,		NULL }
};

static const struct column c_membership[] = {
	{ "ID",		"id",		NULL },
	{ "PARTICIPANT", "participant_id", NULL },
	{ "COMMUNITY",	"community_id",	NULL },
	{ NULL,		NULL,		NULL }
};

/* Indexed by enum kind. */
static const struct kind_info kinds[] = {
	{ "",		"",	f_none,	c_organization },
	{ "organization", "/admin/organizations", f_organization,
	    c_organization },
	{ "community",	"/admin/communities", f_community, c_community },
	{ "resource",	"/admin/resources", f_resource, c_resource },
	{ "participant", "/admin/participants", f_participant,
	    c_participant },
	{ "membership",	"/admin/memberships", f_none, c_membership }
};

static struct ctl		ctl;
static struct parse_result	res;

static void	 usage(void) __attribute__((noreturn));
static void	 warnmsg(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	 parse(int, char **);
static const struct token *match_token(const char *, const struct token *);
static void	 show_valid_args(const struct token *);
static int	 parse_id(const char *, long long *);
static int	 is_number(const char *);
static char	*read_file(const char *, size_t, size_t *);
static char	*get_password(const char *);
static void	 put_safe(FILE *, const char *);
static size_t	 text_width(const char *);
static int	 api(const char *, const char *, const char *, size_t,
		    yajl_val *);
static int	 render(FILE *, yajl_val, const char *, int);
static char	*render_cell(yajl_val, const char *);
static int	 print_object(yajl_val);
static int	 print_table(yajl_val, const struct column *);
static int	 gen_tree(yajl_gen, yajl_val, int);
static int	 print_reply(yajl_val, int);
static const struct field *match_field(const struct field *,
		    const char *, size_t);
static void	 show_valid_fields(const struct field *);
static int	 parse_options(const struct kind_info *, int, char **,
		    struct optval *, int *);
static int	 resolve_organization(const char *, char *, size_t);
static int	 gen_fields(yajl_gen, const struct kind_info *,
		    struct optval *, int);
static int	 gen_finish(yajl_gen, char **, size_t *);
static int	 build_body(char **, size_t *);
static int	 api_print(const char *, const char *, const char *, size_t,
		    int);
static int	 cmd_add(void);
static int	 cmd_list(void);
static int	 cmd_object(const char *, const char *);
static int	 cmd_set(void);
static int	 cmd_apply(void);
static int	 cmd_export(void);
static char	*read_secret(const char *);
static int	 cmd_password(void);
static int	 cmd_gc(void);
static int	 cmd_migrate(void);

static void
usage(void)
{
	fprintf(stderr, "%s\n", ECSCTL_USAGE);
	exit(EXIT_USAGE);
}

static void
warnmsg(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "ecsctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json",		no_argument,		NULL,	'j' },
		{ "password-file",	required_argument,	NULL,	'p' },
		{ "url",		required_argument,	NULL,	'u' },
		{ NULL,			0,			NULL,	0 }
	};
	const char	*pfile, *env;
	int		 ch, rc;

	pfile = NULL;
	ctl.c_url = ECSCTL_URL;
	env = getenv("ECSD_URL");
	if (env != NULL && *env != '\0')
		ctl.c_url = env;

	for (;;) {
		ch = getopt_long(argc, argv, "+jp:u:", longopts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 'j':
			ctl.c_json = 1;
			break;
		case 'p':
			pfile = optarg;
			break;
		case 'u':
			ctl.c_url = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	rc = parse(argc, argv);
	if (rc != EXIT_OK)
		return (rc);
	/* The one command that talks to the databases, not to ecsd. */
	if (res.pr_action == A_MIGRATE)
		return (cmd_migrate());

	ctl.c_password = get_password(pfile);
	if (ctl.c_password == NULL && pfile != NULL)
		return (EXIT_FAIL);

	switch (res.pr_action) {
	case A_ADD:
		rc = cmd_add();
		break;
	case A_LIST:
		rc = cmd_list();
		break;
	case A_SHOW:
		rc = cmd_object("GET", "");
		break;
	case A_SET:
		rc = cmd_set();
		break;
	case A_DELETE:
		rc = cmd_object("DELETE", "");
		break;
	case A_RESET:
		rc = cmd_object("POST", "/reset");
		break;
	case A_APPLY:
		rc = cmd_apply();
		break;
	case A_EXPORT:
		rc = cmd_export();
		break;
	case A_PASSWORD:
		rc = cmd_password();
		break;
	case A_GC:
		rc = cmd_gc();
		break;
	default:
		usage();
	}

	if (ctl.c_password != NULL) {
		explicit_bzero(ctl.c_password, strlen(ctl.c_password));
		free(ctl.c_password);
	}
	return (rc);
}

/*
 * Walk the token tables.  Returns EXIT_OK or EXIT_USAGE (after saying
 * why).
 */
static int
parse(int argc, char **argv)
{
	const struct token	*table, *match;

	memset(&res, 0, sizeof(res));
	table = t_main;
	for (;;) {
		match = match_token(argc > 0 ? argv[0] : NULL, table);
		if (match == NULL) {
			if (table == t_main)
				fprintf(stderr, "%s\n", ECSCTL_USAGE);
			fprintf(stderr, "valid commands/args:\n");
			show_valid_args(table);
			return (EXIT_USAGE);
		}
		if (match->t_type == ENDTOKEN)
			return (EXIT_USAGE);
		if (match->t_type == OPTIONS) {
			res.pr_optc = argc;
			res.pr_optv = argv;
			return (EXIT_OK);
		}
		if (match->t_type != NOTOKEN) {
			argc--;
			argv++;
		}
		if (match->t_next == NULL)
			break;
		table = match->t_next;
	}
	if (argc > 0) {
		warnmsg("superfluous argument: %s", argv[0]);
		return (EXIT_USAGE);
	}
	return (EXIT_OK);
}

/*
 * Match one word against a table.  A keyword matches by unique prefix;
 * an exact match wins.  Returns the token, NULL on no match (after
 * saying why), or the table's ENDTOKEN when the word matched but was
 * bad (the reason is already printed).
 */
static const struct token *
match_token(const char *word, const struct token *table)
{
	const struct token	*t, *end;
	size_t			 len;
	int			 i, nmatch;

	t = NULL;
	nmatch = 0;
	for (i = 0; table[i].t_type != ENDTOKEN; i++)
		;
	end = &table[i];
	for (i = 0; table[i].t_type != ENDTOKEN; i++) {
		switch (table[i].t_type) {
		case NOTOKEN:
			if (word == NULL || *word == '\0') {
				t = &table[i];
				nmatch++;
			}
			break;
		case KEYWORD:
			if (word == NULL || *word == '\0')
				break;
			len = strlen(word);
			if (strcmp(word, table[i].t_keyword) == 0) {
				t = &table[i];
				nmatch = 1;
				goto found;
			}
			if (strncmp(word, table[i].t_keyword, len) == 0) {
				t = &table[i];
				nmatch++;
			}
			break;
		case OBJID:
		case OBJID2:
			if (word == NULL)
				break;
			if (parse_id(word, table[i].t_type == OBJID ?
			    &res.pr_id : &res.pr_id2) == -1) {
				warnmsg("bad id: %s", word);
				return (end);
			}
			t = &table[i];
			nmatch++;
			break;
		case AUTHID:
			if (word == NULL || *word == '\0')
				break;
			res.pr_arg = word;
			t = &table[i];
			nmatch++;
			break;
		case RESNAME:
			if (word == NULL)
				break;
			len = strcspn(word, "/");
			if (len == 0 || word[len] != '/' ||
			    word[len + 1] == '\0' ||
			    strchr(word + len + 1, '/') != NULL) {
				warnmsg("bad resource name (want "
				    "namespace/name): %s", word);
				return (end);
			}
			res.pr_arg = word;
			t = &table[i];
			nmatch++;
			break;
		case FILENAME:
			if (word == NULL || *word == '\0')
				break;
			res.pr_arg = word;
			t = &table[i];
			nmatch++;
			break;
		case OPTIONS:
			t = &table[i];
			nmatch++;
			break;
		case ENDTOKEN:
			break;
		}
	}
	if (nmatch != 1) {
		if (word == NULL)
			warnmsg("missing argument");
		else if (nmatch > 1)
			warnmsg("ambiguous argument: %s", word);
		else
			warnmsg("unknown argument: %s", word);
		return (NULL);
	}
found:
	if (t->t_action != A_NONE)
		res.pr_action = t->t_action;
	if (t->t_kind != K_NONE)
		res.pr_kind = t->t_kind;
	return (t);
}

static void
show_valid_args(const struct token *table)
{
	int	i;

	for (i = 0; table[i].t_type != ENDTOKEN; i++) {
		switch (table[i].t_type) {
		case NOTOKEN:
			fprintf(stderr, "  <cr>\n");
			break;
		case KEYWORD:
			fprintf(stderr, "  %s\n", table[i].t_keyword);
			break;
		case OBJID:
		case OBJID2:
			fprintf(stderr, "  <id>\n");
			break;
		case AUTHID:
			fprintf(stderr, "  <auth-id>\n");
			break;
		case RESNAME:
			fprintf(stderr, "  <namespace/name>\n");
			break;
		case FILENAME:
			fprintf(stderr, "  <file>\n");
			break;
		case OPTIONS:
			fprintf(stderr, "  <options>\n");
			break;
		case ENDTOKEN:
			break;
		}
	}
}

static int
is_number(const char *s)
{
	size_t	len;

	len = strlen(s);
	return (len > 0 && len <= 18 && strspn(s, "0123456789") == len);
}

static int
parse_id(const char *s, long long *id)
{
	long long	v;

	if (!is_number(s))
		return (-1);
	v = strtoll(s, NULL, 10);
	if (v < 1)
		return (-1);
	*id = v;
	return (0);
}

/*
 * Read a whole file ("-" is standard input) of at most max bytes.
 * Returns a NUL-terminated buffer the caller frees, or NULL with errno
 * set.
 */
static char *
read_file(const char *path, size_t max, size_t *lenp)
{
	FILE	*fp;
	char	*buf, *nbuf;
	size_t	 len, size, n;
	int	 saved;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else
		fp = fopen(path, "r");
	if (fp == NULL)
		return (NULL);
	buf = NULL;
	len = size = 0;
	for (;;) {
		if (size - len < 4096 + 1) {
			size = size == 0 ? 8192 : size * 2;
			nbuf = realloc(buf, size);
			if (nbuf == NULL)
				goto fail;
			buf = nbuf;
		}
		n = fread(buf + len, 1, size - len - 1, fp);
		len += n;
		if (len > max) {
			errno = EFBIG;
			goto fail;
		}
		if (n == 0) {
			if (ferror(fp)) {
				errno = EIO;
				goto fail;
			}
			break;
		}
	}
	buf[len] = '\0';
	if (fp != stdin)
		fclose(fp);
	*lenp = len;
	return (buf);
fail:
	saved = errno;
	if (buf != NULL)
		explicit_bzero(buf, size);
	free(buf);
	if (fp != stdin)
		fclose(fp);
	errno = saved;
	return (NULL);
}

/*
 * The admin password: $ECSD_ADMIN_PASSWORD, else the first line of the
 * -p file, else <datadir>/admin.secret.  Returns NULL when there is none;
 * a -p file that cannot be read is an error (reported here).
 */
static char *
get_password(const char *pfile)
{
	const char	*env, *dir;
	char		 path[4096];
	char		*buf, *pw;
	size_t		 len;
	int		 n;

	env = getenv("ECSD_ADMIN_PASSWORD");
	if (env != NULL && *env != '\0')
		return (strdup(env));
	if (pfile == NULL) {
		dir = getenv("ECSD_DATADIR");
		if (dir == NULL || *dir == '\0')
			dir = ECSCTL_DATADIR;
		n = snprintf(path, sizeof(path), "%s/admin.secret", dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return (NULL);
	}
	buf = read_file(pfile != NULL ? pfile : path, ECSCTL_MAXPASS, &len);
	if (buf == NULL) {
		if (pfile != NULL)
			warnmsg("%s: %s", pfile, strerror(errno));
		else if (errno != ENOENT)
			warnmsg("%s: %s", path, strerror(errno));
		return (NULL);
	}
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	pw = strdup(buf);
	explicit_bzero(buf, len);
	free(buf);
	if (pw == NULL && pfile != NULL)
		warnmsg("out of memory");
	return (pw);
}

/* Print text with control characters replaced, so a reply cannot drive
 * the terminal. */
static void
put_safe(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fputc('?', fp);
		else
			fputc(*s, fp);
	}
}

/* Width in columns: UTF-8 continuation bytes do not count. */
static size_t
text_width(const char *s)
{
	size_t	w;

	for (w = 0; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return (w);
}

/*
 * One admin API call.  On a 2xx answer with a body, *valp (when not
 * NULL) gets the parsed JSON, which the caller frees.  Returns EXIT_OK,
 * or EXIT_FAIL after printing the server's refusal or the transport
 * error.
 */
static int
api(const char *method, const char *path, const char *body, size_t len,
    yajl_val *valp)
{
	struct httpc_request	hq;
	struct httpc_response	hr;
	char			err[512];
	const char		*text;
	size_t			n;
	int			i;

	if (valp != NULL)
		*valp = NULL;
	memset(&hq, 0, sizeof(hq));
	hq.hq_url = ctl.c_url;
	hq.hq_method = method;
	hq.hq_path = path;
	hq.hq_user = ECSCTL_USER;
	hq.hq_password = ctl.c_password;
	hq.hq_ctype = body != NULL ? "application/json" : NULL;
	hq.hq_body = body;
	hq.hq_bodylen = len;
	hq.hq_timeout = ECSCTL_TIMEOUT;
	if (httpc_do(&hq, &hr, err, sizeof(err)) == -1) {
		warnmsg("%s: %s", ctl.c_url, err);
		return (EXIT_FAIL);
	}
	if (hr.hr_status < 200 || hr.hr_status > 299) {
		text = hr.hr_body;
		while (*text == ' ' || *text == '\t' || *text == '\r' ||
		    *text == '\n')
			text++;
		n = strcspn(text, "\r\n");
		if (n == 0) {
			text = hr.hr_reason;
			n = strlen(text);
		}
		if (n > 400)
			n = 400;
		fprintf(stderr, "ecsctl: %d: ", hr.hr_status);
		for (i = 0; (size_t)i < n; i++)
			fputc((unsigned char)text[i] < 0x20 ? '?' : text[i],
			    stderr);
		fputc('\n', stderr);
		httpc_response_free(&hr);
		return (EXIT_FAIL);
	}
	if (valp != NULL && hr.hr_bodylen > 0) {
		*valp = yajl_tree_parse(hr.hr_body, err, sizeof(err));
		if (*valp == NULL) {
			n = strcspn(err, "\r\n");
			err[n] = '\0';
			warnmsg("bad JSON from the server: %s", err);
			httpc_response_free(&hr);
			return (EXIT_FAIL);
		}
	}
	if (ctl.c_json && valp == NULL) {
		fwrite(hr.hr_body, 1, hr.hr_bodylen, stdout);
		if (hr.hr_bodylen > 0 && hr.hr_body[hr.hr_bodylen - 1] != '\n')
			fputc('\n', stdout);
	}
	httpc_response_free(&hr);
	return (EXIT_OK);
}

/*
 * Render a value for a table cell: strings as they are, booleans as
 * yes/no, empty values as "-", arrays joined with commas (objects in an
 * array are shown as key=value pairs, or only their member sub).
 */
static int
render(FILE *fp, yajl_val v, const char *sub, int depth)
{
	yajl_val	e;
	size_t		i;

	if (depth > ECSCTL_MAXDEPTH)
		return (-1);
	if (v == NULL || YAJL_IS_NULL(v))
		fputs("-", fp);
	else if (YAJL_IS_STRING(v))
		fputs(*v->u.string == '\0' ? "-" : v->u.string, fp);
	else if (YAJL_IS_NUMBER(v))
		fputs(YAJL_GET_NUMBER(v), fp);
	else if (YAJL_IS_TRUE(v))
		fputs("yes", fp);
	else if (YAJL_IS_FALSE(v))
		fputs("no", fp);
	else if (YAJL_IS_ARRAY(v)) {
		if (v->u.array.len == 0)
			fputs("-", fp);
		for (i = 0; i < v->u.array.len; i++) {
			if (i > 0)
				fputs(sub == NULL &&
				    YAJL_IS_OBJECT(v->u.array.values[i]) ?
				    ", " : ",", fp);
			e = v->u.array.values[i];
			if (sub != NULL && YAJL_IS_OBJECT(e))
				e = yajl_tree_get(e,
				    (const char *[]){ sub, NULL }, yajl_t_any);
			if (render(fp, e, NULL, depth + 1) == -1)
				return (-1);
		}
	} else if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++) {
			fprintf(fp, "%s%s=", i > 0 ? " " : "",
			    v->u.object.keys[i]);
			if (render(fp, v->u.object.values[i], NULL,
			    depth + 1) == -1)
				return (-1);
		}
	}
	return (0);
}

static char *
render_cell(yajl_val v, const char *sub)
{
	FILE	*fp;
	char	*s;
	size_t	 len;

	s = NULL;
	fp = open_memstream(&s, &len);
	if (fp == NULL)
		return (NULL);
	if (render(fp, v, sub, 0) == -1) {
		fclose(fp);
		free(s);
		return (NULL);
	}
	if (fclose(fp) != 0) {
		free(s);
		return (NULL);
	}
	return (s);
}

/* One object as aligned "key value" lines, in the server's order. */
static int
print_object(yajl_val v)
{
	char	*cell;
	size_t	 i, w;

	if (!YAJL_IS_OBJECT(v)) {
		warnmsg("unexpected reply from the server");
		return (EXIT_FAIL);
	}
	w = 0;
	for (i = 0; i < v->u.object.len; i++)
		if (strlen(v->u.object.keys[i]) > w)
			w = strlen(v->u.object.keys[i]);
	for (i = 0; i < v->u.object.len; i++) {
		cell = render_cell(v->u.object.values[i], NULL);
		if (cell == NULL) {
			warnmsg("cannot render the reply");
			return (EXIT_FAIL);
		}
		put_safe(stdout, v->u.object.keys[i]);
		printf("%*s", (int)(w + 2 - strlen(v->u.object.keys[i])), "");
		put_safe(stdout, cell);
		putchar('\n');
		free(cell);
	}
	return (EXIT_OK);
}

/* An array of objects as an aligned table with a header line. */
static int
print_table(yajl_val v, const struct column *cols)
{
	char		**cells;
	size_t		  ncols, nrows, r, c, w[16], cw;
	int		  rc;
	yajl_val	  row;

	if (!YAJL_IS_ARRAY(v)) {
		warnmsg("unexpected reply from the server");
		return (EXIT_FAIL);
	}
	for (ncols = 0; cols[ncols].col_header != NULL && ncols < 16; ncols++)
		w[ncols] = strlen(cols[ncols].col_header);
	nrows = v->u.array.len;
	cells = calloc(nrows * ncols + 1, sizeof(*cells));
	if (cells == NULL) {
		warnmsg("out of memory");
		return (EXIT_FAIL);
	}
	rc = EXIT_OK;
	for (r = 0; r < nrows; r++) {
		row = v->u.array.values[r];
		for (c = 0; c < ncols; c++) {
			cells[r * ncols + c] = render_cell(YAJL_IS_OBJECT(row) ?
			    yajl_tree_get(row,
			    (const char *[]){ cols[c].col_key, NULL },
			    yajl_t_any) : NULL, cols[c].col_sub);
			if (cells[r * ncols + c] == NULL) {
				warnmsg("cannot render the reply");
				rc = EXIT_FAIL;
				goto done;
			}
			cw = text_width(cells[r * ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	for (c = 0; c < ncols; c++) {
		if (c + 1 < ncols)
			printf("%-*s  ", (int)w[c], cols[c].col_header);
		else
			printf("%s\n", cols[c].col_header);
	}
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			put_safe(stdout, cells[r * ncols + c]);
			if (c + 1 < ncols)
				printf("%*s", (int)(w[c] + 2 -
				    text_width(cells[r * ncols + c])), "");
		}
		putchar('\n');
	}
done:
	for (r = 0; r < nrows * ncols; r++)
		free(cells[r]);
	free(cells);
	return (rc);
}

static int
gen_tree(yajl_gen g, yajl_val v, int depth)
{
	const char	*s;
	size_t		 i;

	if (depth > ECSCTL_MAXDEPTH)
		return (-1);
	if (YAJL_IS_STRING(v)) {
		s = YAJL_GET_STRING(v);
		return (yajl_gen_string(g, (const unsigned char *)s,
		    strlen(s)) == yajl_gen_status_ok ? 0 : -1);
	}
	if (YAJL_IS_NUMBER(v))
		return (yajl_gen_number(g, YAJL_GET_NUMBER(v),
		    strlen(YAJL_GET_NUMBER(v))) == yajl_gen_status_ok ? 0 : -1);
	if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		return (yajl_gen_bool(g, YAJL_IS_TRUE(v)) ==
		    yajl_gen_status_ok ? 0 : -1);
	if (YAJL_IS_OBJECT(v)) {
		if (yajl_gen_map_open(g) != yajl_gen_status_ok)
			return (-1);
		for (i = 0; i < v->u.object.len; i++) {
			s = v->u.object.keys[i];
			if (yajl_gen_string(g, (const unsigned char *)s,
			    strlen(s)) != yajl_gen_status_ok)
				return (-1);
			if (gen_tree(g, v->u.object.values[i], depth + 1) == -1)
				return (-1);
		}
		return (yajl_gen_map_close(g) == yajl_gen_status_ok ? 0 : -1);
	}
	if (YAJL_IS_ARRAY(v)) {
		if (yajl_gen_array_open(g) != yajl_gen_status_ok)
			return (-1);
		for (i = 0; i < v->u.array.len; i++)
			if (gen_tree(g, v->u.array.values[i], depth + 1) == -1)
				return (-1);
		return (yajl_gen_array_close(g) == yajl_gen_status_ok ?
		    0 : -1);
	}
	return (yajl_gen_null(g) == yajl_gen_status_ok ? 0 : -1);
}

/*
 * Print a parsed reply: pretty JSON with -j (or when pretty is set),
 * otherwise as a table (arrays) or key/value lines (objects).
 */
static int
print_reply(yajl_val v, int pretty)
{
	yajl_gen		 g;
	const unsigned char	*buf;
	size_t			 len;
	int			 rc;

	if (v == NULL) {
		warnmsg("empty reply from the server");
		return (EXIT_FAIL);
	}
	if (!ctl.c_json && !pretty) {
		if (YAJL_IS_ARRAY(v))
			return (print_table(v, kinds[res.pr_kind].ki_columns));
		return (print_object(v));
	}
	g = yajl_gen_alloc(NULL);
	if (g == NULL) {
		warnmsg("out of memory");
		return (EXIT_FAIL);
	}
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_config(g, yajl_gen_indent_string, "  ");
	rc = EXIT_FAIL;
	if (gen_tree(g, v, 0) == -1 ||
	    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		warnmsg("cannot print the reply");
	else {
		fwrite(buf, 1, len, stdout);
		if (len == 0 || buf[len - 1] != '\n')
			putchar('\n');
		rc = EXIT_OK;
	}
	yajl_gen_free(g);
	return (rc);
}

/* Match an option name (without "=value") by unique prefix. */
static const struct field *
match_field(const struct field *fields, const char *name, size_t len)
{
	const struct field	*f;
	int			 i, nmatch;

	f = NULL;
	nmatch = 0;
	for (i = 0; fields[i].f_flag != NULL; i++) {
		if (strncmp(name, fields[i].f_flag, len) != 0)
			continue;
		if (fields[i].f_flag[len] == '\0')
			return (&fields[i]);
		f = &fields[i];
		nmatch++;
	}
	return (nmatch == 1 ? f : NULL);
}

static void
show_valid_fields(const struct field *fields)
{
	int	i;

	fprintf(stderr, "valid options:\n");
	if (fields[0].f_flag == NULL)
		fprintf(stderr, "  <cr>\n");
	for (i = 0; fields[i].f_flag != NULL; i++) {
		switch (fields[i].f_type) {
		case F_TRUE:
		case F_FALSE:
			fprintf(stderr, "  %s\n", fields[i].f_flag);
			break;
		default:
			fprintf(stderr, "  %s value\n", fields[i].f_flag);
			break;
		}
	}
}

/*
 * Parse the --options of add and set into ov (room for argc entries).
 * Returns EXIT_OK or EXIT_USAGE.
 */
static int
parse_options(const struct kind_info *ki, int argc, char **argv,
    struct optval *ov, int *novp)
{
	const struct field	*f;
	const char		*word, *eq;
	size_t			 len;
	int			 i, n, k;

	n = 0;
	for (i = 0; i < argc; i++) {
		word = argv[i];
		if (strncmp(word, "--", 2) != 0 || word[2] == '\0') {
			warnmsg("unexpected argument: %s", word);
			show_valid_fields(ki->ki_fields);
			return (EXIT_USAGE);
		}
		eq = strchr(word, '=');
		len = eq != NULL ? (size_t)(eq - word) : strlen(word);
		f = match_field(ki->ki_fields, word, len);
		if (f == NULL) {
			warnmsg("unknown or ambiguous option: %.*s", (int)len,
			    word);
			show_valid_fields(ki->ki_fields);
			return (EXIT_USAGE);
		}
		memset(&ov[n], 0, sizeof(ov[n]));
		ov[n].ov_field = f;
		switch (f->f_type) {
		case F_TRUE:
		case F_FALSE:
			if (eq != NULL) {
				warnmsg("option %s takes no value", f->f_flag);
				return (EXIT_USAGE);
			}
			break;
		default:
			if (eq != NULL)
				ov[n].ov_value = eq + 1;
			else if (i + 1 < argc)
				ov[n].ov_value = argv[++i];
			else {
				warnmsg("option %s needs a value", f->f_flag);
				return (EXIT_USAGE);
			}
			break;
		}
		n++;
	}
	if (res.pr_action == A_ADD) {
		for (i = 0; ki->ki_fields[i].f_flag != NULL; i++) {
			if (!(ki->ki_fields[i].f_flags & F_REQUIRED))
				continue;
			for (k = 0; k < n; k++)
				if (ov[k].ov_field == &ki->ki_fields[i])
					break;
			if (k == n) {
				warnmsg("%s add: %s is required", ki->ki_name,
				    ki->ki_fields[i].f_flag);
				return (EXIT_USAGE);
			}
		}
	}
	*novp = n;
	return (EXIT_OK);
}

/* An organization given by id or by name; the id goes into buf. */
static int
resolve_organization(const char *ref, char *buf, size_t bufsize)
{
	yajl_val	 list, o, name, id;
	size_t		 i;
	int		 rc;

	if (is_number(ref)) {
		snprintf(buf, bufsize, "%s", ref);
		return (EXIT_OK);
	}
	rc = api("GET", kinds[K_ORGANIZATION].ki_path, NULL, 0, &list);
	if (rc != EXIT_OK)
		return (rc);
	rc = EXIT_FAIL;
	if (YAJL_IS_ARRAY(list)) {
		for (i = 0; i < list->u.array.len; i++) {
			o = list->u.array.values[i];
			name = yajl_tree_get(o,
			    (const char *[]){ "name", NULL }, yajl_t_string);
			id = yajl_tree_get(o, (const char *[]){ "id", NULL },
			    yajl_t_number);
			if (name == NULL || id == NULL ||
			    strcmp(name->u.string, ref) != 0)
				continue;
			snprintf(buf, bufsize, "%s", YAJL_GET_NUMBER(id));
			rc = EXIT_OK;
			break;
		}
	}
	if (rc != EXIT_OK)
		warnmsg("no such organization: %s", ref);
	yajl_tree_free(list);
	return (rc);
}

/* Emit the fields given as options, each JSON key once, in table order. */
static int
gen_fields(yajl_gen g, const struct kind_info *ki, struct optval *ov,
    int nov)
{
	const struct field	*f, *fields;
	const char		*key, *val;
	int			 i, j, k, last, seen, isarray;

	fields = ki->ki_fields;
	for (i = 0; fields[i].f_flag != NULL; i++) {
		key = fields[i].f_key;
		for (j = 0; j < i; j++)
			if (strcmp(fields[j].f_key, key) == 0)
				break;
		if (j < i)
			continue;	/* emitted with an earlier flag */
		last = -1;
		seen = 0;
		for (k = 0; k < nov; k++)
			if (strcmp(ov[k].ov_field->f_key, key) == 0) {
				last = k;
				seen++;
			}
		if (last == -1)
			continue;
		f = ov[last].ov_field;
		isarray = f->f_type == F_STRINGS || f->f_type == F_REFS;
		if (yajl_gen_string(g, (const unsigned char *)key,
		    strlen(key)) != yajl_gen_status_ok)
			return (-1);
		if (isarray && yajl_gen_array_open(g) != yajl_gen_status_ok)
			return (-1);
		for (k = 0; k < nov; k++) {
			if (strcmp(ov[k].ov_field->f_key, key) != 0)
				continue;
			if (!isarray && k != last)
				continue;
			val = ov[k].ov_value;
			switch (ov[k].ov_field->f_type) {
			case F_TRUE:
			case F_FALSE:
				if (yajl_gen_bool(g, ov[k].ov_field->f_type ==
				    F_TRUE) != yajl_gen_status_ok)
					return (-1);
				break;
			case F_ORGREF:
				if (yajl_gen_number(g, ov[k].ov_id,
				    strlen(ov[k].ov_id)) != yajl_gen_status_ok)
					return (-1);
				break;
			case F_REFS:
				if (is_number(val)) {
					if (yajl_gen_number(g, val,
					    strlen(val)) != yajl_gen_status_ok)
						return (-1);
					break;
				}
				/* FALLTHROUGH */
			case F_STRING:
			case F_STRINGS:
				if (yajl_gen_string(g,
				    (const unsigned char *)val,
				    strlen(val)) != yajl_gen_status_ok)
					return (-1);
				break;
			}
		}
		if (isarray && yajl_gen_array_close(g) != yajl_gen_status_ok)
			return (-1);
	}
	return (0);
}

/* Close the top-level map and copy the text out. */
static int
gen_finish(yajl_gen g, char **bodyp, size_t *lenp)
{
	const unsigned char	*buf;
	size_t			 len;

	if (yajl_gen_map_close(g) != yajl_gen_status_ok ||
	    yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
		return (-1);
	*bodyp = malloc(len + 1);
	if (*bodyp == NULL)
		return (-1);
	memcpy(*bodyp, buf, len);
	(*bodyp)[len] = '\0';
	*lenp = len;
	return (0);
}

/*
 * Build the JSON body of add or set from the options (and, for add, the
 * positional arguments).
 */
static int
build_body(char **bodyp, size_t *lenp)
{
	const struct kind_info	*ki;
	struct optval		*ov;
	yajl_gen		 g;
	const char		*slash;
	char			 num[32];
	int			 nov, rc, i;

	ki = &kinds[res.pr_kind];
	*bodyp = NULL;
	g = NULL;
	ov = calloc((size_t)res.pr_optc + 1, sizeof(*ov));
	if (ov == NULL) {
		warnmsg("out of memory");
		return (EXIT_FAIL);
	}
	rc = parse_options(ki, res.pr_optc, res.pr_optv, ov, &nov);
	if (rc != EXIT_OK)
		goto done;
	if (res.pr_action == A_SET && nov == 0) {
		warnmsg("%s set: nothing to change", ki->ki_name);
		show_valid_fields(ki->ki_fields);
		rc = EXIT_USAGE;
		goto done;
	}
	for (i = 0; i < nov; i++) {
		if (ov[i].ov_field->f_type != F_ORGREF)
			continue;
		rc = resolve_organization(ov[i].ov_value, ov[i].ov_id,
		    sizeof(ov[i].ov_id));
		if (rc != EXIT_OK)
			goto done;
	}
	rc = EXIT_FAIL;
	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		goto fail;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	if (yajl_gen_map_open(g) != yajl_gen_status_ok)
		goto fail;
	if (res.pr_kind == K_RESOURCE && res.pr_action == A_ADD) {
		slash = strchr(res.pr_arg, '/');
		if (yajl_gen_string(g, (const unsigned char *)"namespace",
		    9) != yajl_gen_status_ok ||
		    yajl_gen_string(g, (const unsigned char *)res.pr_arg,
		    (size_t)(slash - res.pr_arg)) != yajl_gen_status_ok ||
		    yajl_gen_string(g, (const unsigned char *)"name",
		    4) != yajl_gen_status_ok ||
		    yajl_gen_string(g, (const unsigned char *)slash + 1,
		    strlen(slash + 1)) != yajl_gen_status_ok)
			goto fail;
	}
	if (res.pr_kind == K_MEMBERSHIP) {
		snprintf(num, sizeof(num), "%lld", res.pr_id);
		if (yajl_gen_string(g, (const unsigned char *)"participant_id",
		    14) != yajl_gen_status_ok ||
		    yajl_gen_number(g, num, strlen(num)) != yajl_gen_status_ok)
			goto fail;
		snprintf(num, sizeof(num), "%lld", res.pr_id2);
		if (yajl_gen_string(g, (const unsigned char *)"community_id",
		    12) != yajl_gen_status_ok ||
		    yajl_gen_number(g, num, strlen(num)) != yajl_gen_status_ok)
			goto fail;
	}
	if (gen_fields(g, ki, ov, nov) == -1 ||
	    gen_finish(g, bodyp, lenp) == -1)
		goto fail;
	rc = EXIT_OK;
	goto done;
fail:
	warnmsg("cannot build the request (is every argument UTF-8?)");
	rc = EXIT_USAGE;
done:
	if (g != NULL)
		yajl_gen_free(g);
	free(ov);
	return (rc);
}

/*
 * One request whose answer is printed (as a table or object, or as the
 * server's JSON with -j). An empty answer is fine when empty_ok is set,
 * else an error.
 */
static int
api_print(const char *method, const char *path, const char *body,
    size_t len, int empty_ok)
{
	yajl_val	v;
	int		rc;

	rc = api(method, path, body, len, ctl.c_json ? NULL : &v);
	if (rc != EXIT_OK || ctl.c_json)
		return (rc);
	if (v == NULL && empty_ok)
		return (EXIT_OK);
	rc = print_reply(v, 0);
	yajl_tree_free(v);
	return (rc);
}

static int
cmd_add(void)
{
	char		*body;
	size_t		 len;
	int		 rc;

	rc = build_body(&body, &len);
	if (rc != EXIT_OK)
		return (rc);
	rc = api_print("POST", kinds[res.pr_kind].ki_path, body, len, 0);
	free(body);
	return (rc);
}

static int
cmd_list(void)
{
	return (api_print("GET", kinds[res.pr_kind].ki_path, NULL, 0, 0));
}

/* show, delete and reset: one request on /path/ID[suffix]. */
static int
cmd_object(const char *method, const char *suffix)
{
	char		path[256];

	snprintf(path, sizeof(path), "%s/%lld%s", kinds[res.pr_kind].ki_path,
	    res.pr_id, suffix);
	return (api_print(method, path, NULL, 0, 1));
}

static int
cmd_set(void)
{
	char		 path[256];
	char		*body;
	size_t		 len;
	int		 rc;

	rc = build_body(&body, &len);
	if (rc != EXIT_OK)
		return (rc);
	snprintf(path, sizeof(path), "%s/%lld", kinds[res.pr_kind].ki_path,
	    res.pr_id);
	rc = api_print("PUT", path, body, len, 0);
	free(body);
	return (rc);
}

static int
cmd_apply(void)
{
	char		*body;
	size_t		 len;
	int		 rc;

	body = read_file(res.pr_arg, HTTPC_MAX_BODY, &len);
	if (body == NULL) {
		warnmsg("%s: %s", res.pr_arg, strerror(errno));
		return (EXIT_FAIL);
	}
	rc = api_print("POST", "/admin/apply", body, len, 0);
	free(body);
	return (rc);
}

static int
cmd_export(void)
{
	yajl_val	v;
	int		rc;

	rc = api("GET", "/admin/export", NULL, 0, &v);
	if (rc != EXIT_OK)
		return (rc);
	rc = print_reply(v, 1);
	yajl_tree_free(v);
	return (rc);
}

/*
 * A new password for participant password: the first line of the file
 * ("-" is standard input), or of standard input, read without echo when
 * it is a terminal.  Returns NULL after saying why.
 */
static char *
read_secret(const char *pfile)
{
	struct termios	 tio, saved;
	char		*buf, *pw;
	size_t		 len;
	int		 tty;

	tty = pfile == NULL && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		fprintf(stderr, "New password: ");
		fflush(stderr);
		tio = saved;
		tio.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
		buf = malloc(ECSCTL_MAXPASS + 2);
		if (buf != NULL && fgets(buf, ECSCTL_MAXPASS + 2, stdin) == NULL)
			buf[0] = '\0';
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
		if (buf == NULL) {
			warnmsg("out of memory");
			return (NULL);
		}
		len = strlen(buf);
	} else {
		buf = read_file(pfile != NULL ? pfile : "-", ECSCTL_MAXPASS,
		    &len);
		if (buf == NULL) {
			warnmsg("%s: %s", pfile != NULL ? pfile : "stdin",
			    strerror(errno));
			return (NULL);
		}
	}
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	pw = NULL;
	if (len == 0)
		warnmsg("%s: empty password", pfile != NULL ? pfile : "stdin");
	else if ((pw = strdup(buf)) == NULL)
		warnmsg("out of memory");
	explicit_bzero(buf, len);
	free(buf);
	return (pw);
}

/*
 * participant password ID AUTH_ID [--password-file F | --remove]:
 * PUT /admin/participants/ID/password {"auth_id","password"}.
 */
static int
cmd_password(void)
{
	struct optval	*ov;
	yajl_gen	 g;
	const char	*pfile;
	char		 path[256];
	char		*pw, *body;
	size_t		 len;
	int		 nov, i, rc, unset;

	ov = calloc((size_t)res.pr_optc + 1, sizeof(*ov));
	if (ov == NULL) {
		warnmsg("out of memory");
		return (EXIT_FAIL);
	}
	rc = parse_options(&ki_password, res.pr_optc, res.pr_optv, ov, &nov);
	pfile = NULL;
	unset = 0;
	for (i = 0; rc == EXIT_OK && i < nov; i++) {
		if (ov[i].ov_field->f_type == F_TRUE)
			unset = 1;
		else
			pfile = ov[i].ov_value;
	}
	free(ov);
	if (rc != EXIT_OK)
		return (rc);
	if (unset && pfile != NULL) {
		warnmsg("participant password: --remove and --password-file "
		    "exclude each other");
		return (EXIT_USAGE);
	}
	pw = NULL;
	if (!unset && (pw = read_secret(pfile)) == NULL)
		return (EXIT_FAIL);

	rc = EXIT_FAIL;
	body = NULL;
	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		goto fail;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	if (yajl_gen_map_open(g) != yajl_gen_status_ok ||
	    yajl_gen_string(g, (const unsigned char *)"auth_id", 7) !=
	    yajl_gen_status_ok ||
	    yajl_gen_string(g, (const unsigned char *)res.pr_arg,
	    strlen(res.pr_arg)) != yajl_gen_status_ok ||
	    yajl_gen_string(g, (const unsigned char *)"password", 8) !=
	    yajl_gen_status_ok ||
	    (pw != NULL ? yajl_gen_string(g, (const unsigned char *)pw,
	    strlen(pw)) : yajl_gen_null(g)) != yajl_gen_status_ok ||
	    gen_finish(g, &body, &len) == -1)
		goto fail;
	snprintf(path, sizeof(path), "%s/%lld/password",
	    kinds[K_PARTICIPANT].ki_path, res.pr_id);
	rc = api_print("PUT", path, body, len, 0);
	goto done;
fail:
	warnmsg("cannot build the request (is every argument UTF-8?)");
	rc = EXIT_USAGE;
done:
	if (g != NULL)
		yajl_gen_free(g);
	if (body != NULL) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (pw != NULL) {
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	return (rc);
}

/* gc: one collection pass, POST /admin/gc; prints the counts. */
static int
cmd_gc(void)
{
	return (api_print("POST", "/admin/gc", NULL, 0, 0));
}

/*
 * migrate --from SPEC --to SPEC: copy a whole installation between
 * databases (sqlite:PATH, postgresql:DSN), ids preserved. Run it with
 * every ecsd on both databases stopped.
 */
static int
cmd_migrate(void)
{
	struct ecs_error	 err;
	const char		*from = NULL, *to = NULL, *opt, *val;
	int			 i;

	for (i = 0; i < res.pr_optc; i++) {
		opt = res.pr_optv[i];
		if (strncmp(opt, "--from=", 7) == 0) {
			from = opt + 7;
			continue;
		}
		if (strncmp(opt, "--to=", 5) == 0) {
			to = opt + 5;
			continue;
		}
		if (strcmp(opt, "--from") != 0 && strcmp(opt, "--to") != 0) {
			warnmsg("migrate: unknown option %s "
			    "(valid: --from SPEC --to SPEC)", opt);
			return (EXIT_USAGE);
		}
		if (i + 1 == res.pr_optc) {
			warnmsg("migrate: %s needs a value", opt);
			return (EXIT_USAGE);
		}
		val = res.pr_optv[++i];
		if (strcmp(opt, "--from") == 0)
			from = val;
		else
			to = val;
	}
	if (from == NULL || to == NULL) {
		warnmsg("migrate: usage: ecsctl migrate --from sqlite:PATH "
		    "--to postgresql:DSN");
		return (EXIT_USAGE);
	}
	if (store_migrate(from, to, ctl.c_json ? NULL : stdout, &err) == -1) {
		warnmsg("migrate: %s", err.e_msg);
		return (EXIT_FAIL);
	}
	if (!ctl.c_json)
		printf("migration complete\n");
	return (EXIT_OK);
}
