/*
 * conf.c: the configuration table. One entry per key drives the file
 * parser, -o overrides, --check-config and the man page check.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecsd.h"
#include "util.h"

enum conf_type { CONF_STR, CONF_INT };

typedef int	 conf_check_fn(const char *, char *, size_t);

struct conf_entry {
	const char	*ce_key;
	enum conf_type	 ce_type;
	int64_t		 ce_min;
	int64_t		 ce_max;
	const char	*ce_default;
	size_t		 ce_off;
	const char	*ce_help;
	conf_check_fn	*ce_check;	/* or NULL */
};

static int
check_sync(const char *v, char *err, size_t len)
{
	if (strcmp(v, "full") == 0 || strcmp(v, "normal") == 0)
		return 0;
	snprintf(err, len, "sync: \"%s\" is neither full nor normal", v);
	return -1;
}

static int
check_store(const char *v, char *err, size_t len)
{
	if (strcmp(v, "sqlite") == 0 || strcmp(v, "postgresql") == 0)
		return 0;
	snprintf(err, len, "store: \"%s\" is neither sqlite nor postgresql",
	    v);
	return -1;
}

static int
check_level(const char *v, char *err, size_t len)
{
	if (strcmp(v, "warn") == 0 || strcmp(v, "info") == 0 ||
	    strcmp(v, "debug") == 0)
		return 0;
	snprintf(err, len, "log_level: \"%s\" is not warn, info or debug", v);
	return -1;
}

static int
check_listen(const char *v, char *err, size_t len)
{
	const char	*colon = strrchr(v, ':');
	int64_t		 port;

	if (colon == NULL || colon == v ||
	    util_parse_i64(colon + 1, 0, 65535, &port) != 0) {
		snprintf(err, len, "listen: \"%s\" is not host:port", v);
		return -1;
	}
	return 0;
}

static int
check_listen_opt(const char *v, char *err, size_t len)
{
	if (*v == '\0')
		return 0;
	return check_listen(v, err, len);
}

static int
check_verify(const char *v, char *err, size_t len)
{
	if (strcmp(v, "optional") == 0 || strcmp(v, "require") == 0)
		return 0;
	snprintf(err, len, "tls_verify: \"%s\" is neither optional nor "
	    "require", v);
	return -1;
}

static int
check_nets(const char *v, char *err, size_t len)
{
	struct netlist	 nl;
	char		 e[200];

	if (netlist_parse(&nl, v, e, sizeof(e)) == 0)
		return 0;
	snprintf(err, len, "%s", e);
	return -1;
}

#ifndef ECC_HOST_PATH
#define ECC_HOST_PATH	"ecc-host"
#endif

#define OFF(f)	offsetof(struct conf, f)

static const struct conf_entry conf_table[] = {
	{ "listen", CONF_STR, 0, 0, "127.0.0.1:3000", OFF(c_listen),
	  "HTTP listener host:port; port 0 picks a free port.", check_listen },
	{ "datadir", CONF_STR, 0, 0, "./ecsd-data", OFF(c_datadir),
	  "Data directory holding the database and admin.secret.", NULL },
	{ "database", CONF_STR, 0, 0, "", OFF(c_database),
	  "SQLite database file; default <datadir>/ecsd.db.", NULL },
	{ "store", CONF_STR, 0, 0, "sqlite", OFF(c_store),
	  "Storage backend: sqlite or postgresql.", check_store },
	{ "postgresql_dsn", CONF_STR, 0, 0, "", OFF(c_pg_dsn),
	  "libpq connection string of the database (store = postgresql).",
	  NULL },
	{ "postgresql_timeout", CONF_INT, 1, 3600, "30", OFF(c_pg_timeout),
	  "Seconds to wait for PostgreSQL to answer; then 503, reconnect.",
	  NULL },
	{ "postgresql_vacuum", CONF_INT, 0, 1, "1", OFF(c_pg_vacuum),
	  "1: vacuum the queue tables after every 10000 rows popped.",
	  NULL },
	{ "sync", CONF_STR, 0, 0, "full", OFF(c_sync),
	  "full (durable) or normal.", check_sync },
	{ "trusted_proxies", CONF_STR, 0, 0, "127.0.0.1, ::1", OFF(c_trusted),
	  "Addresses whose X-EcsAuthId header is believed.", check_nets },
	{ "admin_password", CONF_STR, 0, 0, "", OFF(c_admin_password),
	  "Admin API password.", NULL },
	{ "admin_allow", CONF_STR, 0, 0, "127.0.0.1, ::1", OFF(c_admin_allow),
	  "Addresses allowed to use the admin API.", check_nets },
	{ "max_body", CONF_INT, 1024, 1LL << 30, "4194304", OFF(c_max_body),
	  "Largest request body in bytes.", NULL },
	{ "max_headers", CONF_INT, 1024, 1LL << 24, "65536",
	  OFF(c_max_headers), "Largest request header block in bytes.", NULL },
	{ "max_connections", CONF_INT, 1, 1000000, "10000",
	  OFF(c_max_connections), "Most client connections at once.", NULL },
	{ "request_timeout", CONF_INT, 1, 3600, "30", OFF(c_request_timeout),
	  "Seconds a client may take to send one request.", NULL },
	{ "idle_timeout", CONF_INT, 1, 86400, "60", OFF(c_idle_timeout),
	  "Seconds a connection may idle.", NULL },
	{ "auth_gc_interval", CONF_INT, 1, 86400, "30",
	  OFF(c_auth_gc_interval), "Seconds between token collections.",
	  NULL },
	{ "gc_interval", CONF_INT, 1, 604800, "3600", OFF(c_gc_interval),
	  "Seconds between participant collections.", NULL },
	{ "subparticipant_gc_age", CONF_INT, 60, 1LL << 31, "172800",
	  OFF(c_sub_gc_age), "Age in seconds after which subparticipants go.",
	  NULL },
	{ "allow_anonymous", CONF_INT, 0, 1, "0", OFF(c_allow_anonymous),
	  "1: requests without credentials create anonymous participants.",
	  NULL },
	{ "anonymous_ttl", CONF_INT, 60, 86400 * 30, "3600", OFF(c_anon_ttl),
	  "Lifetime in seconds of an idle anonymous participant.", NULL },
	{ "max_wait", CONF_INT, 0, 3600, "60", OFF(c_max_wait),
	  "Longest wait in seconds a /sys/events/fifo?wait=N may ask for.",
	  NULL },
	{ "max_waiters", CONF_INT, 0, 1000000, "10000", OFF(c_max_waiters),
	  "Most requests waiting for events at once.", NULL },
	{ "workers", CONF_INT, 1, 64, "1", OFF(c_workers),
	  "Processes serving requests (more than 1: store = postgresql).",
	  NULL },
	{ "listen_tls", CONF_STR, 0, 0, "", OFF(c_listen_tls),
	  "HTTPS listener host:port; empty: none.", check_listen_opt },
	{ "tls_cert", CONF_STR, 0, 0, "", OFF(c_tls_cert),
	  "Server certificate chain (PEM).", NULL },
	{ "tls_key", CONF_STR, 0, 0, "", OFF(c_tls_key),
	  "Server private key (PEM).", NULL },
	{ "tls_ca", CONF_STR, 0, 0, "", OFF(c_tls_ca),
	  "CA bundle for client certificates; empty: none asked for.", NULL },
	{ "tls_verify", CONF_STR, 0, 0, "optional", OFF(c_tls_verify),
	  "optional or require: a client certificate on HTTPS.", check_verify },
	{ "auth_ttl", CONF_INT, 1, 86400 * 365, "65", OFF(c_auth_ttl),
	  "Default validity of a one-touch token in seconds.", NULL },
	{ "auth_min", CONF_INT, 1, 3600, "5", OFF(c_auth_min),
	  "Least remaining validity of a token's eov in seconds.", NULL },
	{ "plugin_host", CONF_STR, 0, 0, ECC_HOST_PATH, OFF(c_plugin_host),
	  "The ecc-host program that runs plugins.", NULL },
	{ "log_level", CONF_STR, 0, 0, "info", OFF(c_log_level),
	  "warn, info or debug.", check_level },
};

static const struct conf_entry *
conf_find(const char *key)
{
	size_t	 i;

	for (i = 0; i < sizeof(conf_table) / sizeof(conf_table[0]); i++)
		if (strcmp(conf_table[i].ce_key, key) == 0)
			return &conf_table[i];
	return NULL;
}

int
conf_set(struct conf *c, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct conf_entry	*ce;
	char			**sp;
	int64_t			 v;

	/* Keys of [plugin NAME] sections arrive as "plugin NAME.key". */
	if (strncmp(key, "plugin ", 7) == 0 && strchr(key, '.') != NULL) {
		char	 name[128];
		const char *dot = strchr(key, '.');

		snprintf(name, sizeof(name), "%.*s", (int)(dot - key - 7),
		    key + 7);
		return plugin_conf_set(c, name, dot + 1, value, err, errlen);
	}
	if ((ce = conf_find(key)) == NULL) {
		snprintf(err, errlen, "unknown key \"%s\"", key);
		return -1;
	}
	if (ce->ce_type == CONF_INT) {
		if (util_parse_i64(value, ce->ce_min, ce->ce_max, &v) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not a number "
			    "from %lld to %lld", key, value,
			    (long long)ce->ce_min, (long long)ce->ce_max);
			return -1;
		}
		*(int64_t *)(void *)((char *)c + ce->ce_off) = v;
		return 0;
	}
	if (ce->ce_check != NULL && ce->ce_check(value, err, errlen) != 0)
		return -1;
	sp = (char **)(void *)((char *)c + ce->ce_off);
	free(*sp);
	if ((*sp = strdup(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* The keys of [plugin NAME] sections, kept as k=v for plugin.c. */
int
plugin_conf_set(struct conf *c, const char *name, const char *key,
    const char *value, char *err, size_t len)
{
	struct plugin_conf	*pc = NULL;
	char			*kv;
	int			 i;

	for (i = 0; i < c->c_nplugins; i++)
		if (strcmp(c->c_plugins[i].pc_name, name) == 0)
			pc = &c->c_plugins[i];
	if (pc == NULL) {
		if (c->c_nplugins == PLUGIN_MAX) {
			snprintf(err, len, "more than %d plugins", PLUGIN_MAX);
			return -1;
		}
		if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name)) {
			snprintf(err, len, "plugin name \"%s\" is not "
			    "[A-Za-z0-9_-]+", name);
			return -1;
		}
		pc = &c->c_plugins[c->c_nplugins++];
		memset(pc, 0, sizeof(*pc));
		if ((pc->pc_name = strdup(name)) == NULL)
			return -1;
	}
	if (pc->pc_nopts == PLUGIN_OPTS) {
		snprintf(err, len, "plugin %s: more than %d keys", name,
		    PLUGIN_OPTS);
		return -1;
	}
	if (asprintf(&kv, "%s=%s", key, value) == -1)
		return -1;
	pc->pc_opts[pc->pc_nopts++] = kv;
	return 0;
}

void
plugin_conf_free(struct conf *c)
{
	int	 i, j;

	for (i = 0; i < c->c_nplugins; i++) {
		free(c->c_plugins[i].pc_name);
		for (j = 0; j < c->c_plugins[i].pc_nopts; j++)
			free(c->c_plugins[i].pc_opts[j]);
	}
	c->c_nplugins = 0;
}

void
conf_defaults(struct conf *c)
{
	size_t	 i;
	char	 err[256];

	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(conf_table) / sizeof(conf_table[0]); i++)
		if (conf_set(c, conf_table[i].ce_key, conf_table[i].ce_default,
		    err, sizeof(err)) != 0)
			fatalx("default of %s: %s", conf_table[i].ce_key, err);
}

void
conf_free(struct conf *c)
{
	size_t	 i;
	char	**sp;

	plugin_conf_free(c);
	for (i = 0; i < sizeof(conf_table) / sizeof(conf_table[0]); i++) {
		if (conf_table[i].ce_type != CONF_STR)
			continue;
		sp = (char **)(void *)((char *)c + conf_table[i].ce_off);
		if (*sp != NULL && (conf_table[i].ce_off ==
		    OFF(c_admin_password) || conf_table[i].ce_off ==
		    OFF(c_pg_dsn)))
			memset(*sp, 0, strlen(*sp));
		free(*sp);
		*sp = NULL;
	}
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

int
conf_load(struct conf *c, const char *path)
{
	FILE	*f;
	char	 line[4096], section[128] = "", key[300], err[512];
	char	*p, *eq, *k, *v;
	int	 lineno = 0, rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ecsd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		if (*p == '[') {
			if ((eq = strchr(p, ']')) == NULL || eq[1] != '\0' ||
			    eq - p - 1 >= (long)sizeof(section)) {
				fprintf(stderr, "ecsd: %s:%d: bad section "
				    "header\n", path, lineno);
				rc = -1;
				continue;
			}
			*eq = '\0';
			snprintf(section, sizeof(section), "%s", trim(p + 1));
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL) {
			fprintf(stderr, "ecsd: %s:%d: expected key = value\n",
			    path, lineno);
			rc = -1;
			continue;
		}
		*eq = '\0';
		k = trim(p);
		v = trim(eq + 1);
		if (*section != '\0')
			snprintf(key, sizeof(key), "%s.%s", section, k);
		else
			snprintf(key, sizeof(key), "%s", k);
		if (conf_set(c, key, v, err, sizeof(err)) != 0) {
			fprintf(stderr, "ecsd: %s:%d: %s\n", path, lineno, err);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

int
netlist_parse(struct netlist *nl, const char *spec, char *err, size_t len)
{
	char	*copy, *tok, *save = NULL, *slash, *t;
	int	 rc = 0, maxbits;
	int64_t	 bits;
	struct netmask *nm;

	memset(nl, 0, sizeof(*nl));
	if ((copy = strdup(spec)) == NULL)
		return -1;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		t = trim(tok);
		if (*t == '\0')
			continue;
		if (nl->nl_n == ECSD_MAX_NETS) {
			snprintf(err, len, "more than %d addresses",
			    ECSD_MAX_NETS);
			rc = -1;
			break;
		}
		nm = &nl->nl_nets[nl->nl_n];
		bits = -1;
		if ((slash = strchr(t, '/')) != NULL) {
			*slash = '\0';
			if (util_parse_i64(slash + 1, 0, 128, &bits) != 0) {
				snprintf(err, len, "bad prefix length in %s",
				    tok);
				rc = -1;
				break;
			}
		}
		if (inet_pton(AF_INET, t, nm->nm_addr) == 1) {
			nm->nm_family = AF_INET;
			maxbits = 32;
		} else if (inet_pton(AF_INET6, t, nm->nm_addr) == 1) {
			nm->nm_family = AF_INET6;
			maxbits = 128;
		} else {
			snprintf(err, len, "\"%s\" is not an IP address", t);
			rc = -1;
			break;
		}
		if (bits > maxbits) {
			snprintf(err, len, "prefix longer than %d in %s",
			    maxbits, t);
			rc = -1;
			break;
		}
		nm->nm_bits = bits < 0 ? maxbits : (int)bits;
		nl->nl_n++;
	}
	free(copy);
	return rc;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int	 full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

int
netlist_match_str(const struct netlist *nl, const char *addr)
{
	unsigned char	 a[16];
	int		 fam, i;

	if (inet_pton(AF_INET, addr, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		fam = AF_INET6;
	else
		return 0;
	/* An IPv4-mapped IPv6 address counts as its IPv4 address. */
	if (fam == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff",
	    12) == 0) {
		memmove(a, a + 12, 4);
		fam = AF_INET;
	}
	for (i = 0; i < nl->nl_n; i++)
		if (nl->nl_nets[i].nm_family == fam &&
		    prefix_eq(a, nl->nl_nets[i].nm_addr,
		    nl->nl_nets[i].nm_bits))
			return 1;
	return 0;
}

int
netlist_match(const struct netlist *nl, const struct sockaddr *sa)
{
	char	 buf[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, buf, sizeof(buf));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, buf, sizeof(buf));
	else
		return 0;
	return netlist_match_str(nl, buf);
}

/* Turn the checked address lists into masks; 0 if fine. */
int
conf_finish(struct conf *c)
{
	char	 err[256];

	if (c->c_listen_tls[0] != '\0' && (c->c_tls_cert[0] == '\0' ||
	    c->c_tls_key[0] == '\0')) {
		fprintf(stderr, "ecsd: listen_tls needs tls_cert and tls_key\n");
		return -1;
	}

	if (strcmp(c->c_store, "postgresql") == 0) {
#ifdef HAVE_POSTGRESQL
		if (c->c_pg_dsn[0] == '\0') {
			fprintf(stderr, "ecsd: store = postgresql needs "
			    "postgresql_dsn (a libpq connection string, such "
			    "as \"host=/run/postgresql dbname=ecsd\")\n");
			return -1;
		}
#else
		fprintf(stderr, "ecsd: store = postgresql: this ecsd was "
		    "built without PostgreSQL (configure --with-postgresql)\n");
		return -1;
#endif
	} else if (c->c_workers > 1) {
		fprintf(stderr, "ecsd: workers = %lld needs store = postgresql: "
		    "an SQLite database has one writer, keep workers = 1\n",
		    (long long)c->c_workers);
		return -1;
	}

	if (netlist_parse(&c->c_trusted_nets, c->c_trusted, err,
	    sizeof(err)) != 0 || netlist_parse(&c->c_admin_nets,
	    c->c_admin_allow, err, sizeof(err)) != 0) {
		fprintf(stderr, "ecsd: %s\n", err);
		return -1;
	}
	return 0;
}
