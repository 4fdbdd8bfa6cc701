/*
 * ecc-host: runs one plugin, a shared object that exports the constant
 * descriptor `ecs_plugin` of <ecs/plugin.h>, as a participant of an ECS.
 * It opens the plugin's ECC session on its event loop, pops the
 * participant's events with long-poll and hands them to the plugin, and
 * stops the plugin on SIGTERM or SIGINT.  ecsd(8) runs its plugins through
 * this program; `--describe` prints what ecsd needs to provision them
 * without running plugin code in its own process.  See ecc-host(1).
 *
 * The plugin resolves the ecc_* and ecs_plugin_* functions from this
 * program (linked with --export-dynamic); it does not link libecc itself.
 *
 * Exit status: 0 stopped by a signal (or the status the plugin asked for),
 * 1 init failure, 2 usage error, 3 ABI mismatch.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <ecs/ecc.h>
#include <ecs/ecs.h>
#include <ecs/plugin.h>

#define EX_OK		0
#define EX_INIT		1
#define EX_USAGE	2
#define EX_ABI		3

#define HOST_WAIT	25	/* seconds the server may hold an empty pop */
#define HOST_BATCH	16	/* events popped at a time */
#define HOST_BACKOFF_MAX 30	/* longest pause between failed polls, s */
#define HOST_NAMELEN	64
#define HOST_PW_MAX	1024

/* What the plugin sees as its host; one per process. */
struct ecs_plugin_host {
	const struct ecs_plugin	*h_plugin;
	void			*h_dl;
	char			 h_name[HOST_NAMELEN];	/* log prefix */
	int			 h_named;	/* --name given */
	int			 h_verbose;
	const char	       **h_opts;	/* "key=value", from argv */
	int			 h_nopts;
	struct event_base	*h_base;
	struct ecc		*h_session;	/* the plugin's session */
	struct ecc		*h_poll;	/* ours: events, long-poll */
	struct event		*h_sigterm;
	struct event		*h_sigint;
	struct event		*h_timer;	/* the next poll */
	void			*h_state;	/* the plugin's */
	int			 h_backoff;	/* seconds; 0: polls work */
	int			 h_stopping;
	int			 h_status;	/* exit status when stopping */
	struct timespec		 h_polled;	/* when the last poll left */
};

/* Where the connection options go before the session is opened. */
struct hostopts {
	const char	*ho_url;
	const char	*ho_auth_id;
	const char	*ho_cert;
	const char	*ho_key;
	const char	*ho_ca;
	const char	*ho_user;
	const char	*ho_pwfile;
	int		 ho_describe;
};

/* For ecs_plugin_log() and ecs_plugin_config() with a NULL host. */
static struct ecs_plugin_host	*host_self;

static const char		*usage_text =
    "usage: ecc-host [-v] [--url url] [--auth-id id | --cert file --key file |\n"
    "                --user user --password-file file] [--ca file]\n"
    "                [--name name] [-o key=value ...] plugin.so\n"
    "       ecc-host --describe plugin.so\n";

/* Print the usage (after a message, if any); returns EX_USAGE. */
static int __attribute__((format(printf, 1, 2)))
usage(const char *fmt, ...)
{
	va_list	 ap;

	if (fmt != NULL) {
		fputs("ecc-host: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage_text, stderr);
	return EX_USAGE;
}

/* One log line; control characters are replaced so a line stays one. */
static void
vlog_line(const struct ecs_plugin_host *h, int level, const char *fmt,
    va_list ap)
{
	static const char *const levels[] = { "warning", "info", "debug" };
	char		 line[2048], *p;

	if (level < 0)
		level = 0;
	if (level > 2)
		level = 2;
	if (level == 2 && (h == NULL || !h->h_verbose))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "ecc-host[%s]: %s: %s\n",
	    h != NULL && h->h_name[0] != '\0' ? h->h_name : "-",
	    levels[level], line);
}

static void __attribute__((format(printf, 3, 4)))
hlog(const struct ecs_plugin_host *h, int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_line(h, level, fmt, ap);
	va_end(ap);
}

/* The text of an ECC error for a log line, written into buf (returned). */
static const char *
err_text(const struct ecc_error *err, char *buf, size_t len)
{
	const char	*t;

	t = err->ee_text[0] != '\0' ? err->ee_text : ecs_strerror(err->ee_code);
	if (err->ee_status != 0)
		snprintf(buf, len, "%d %s", err->ee_status, t);
	else
		snprintf(buf, len, "%s", t);
	return buf;
}

/* ---- the host functions of <ecs/plugin.h> -------------------------------- */

struct ecc *
ecs_plugin_session(struct ecs_plugin_host *h)
{
	if (h == NULL)
		h = host_self;
	return h != NULL ? h->h_session : NULL;
}

const char *
ecs_plugin_config(struct ecs_plugin_host *h, const char *key)
{
	const char	*v = NULL;
	size_t		 n;
	int		 i;

	if (h == NULL)
		h = host_self;
	if (h == NULL || key == NULL)
		return NULL;
	n = strlen(key);
	/* The last of several values wins, as in a configuration file. */
	for (i = 0; i < h->h_nopts; i++)
		if (strncmp(h->h_opts[i], key, n) == 0 &&
		    h->h_opts[i][n] == '=')
			v = h->h_opts[i] + n + 1;
	return v;
}

void
ecs_plugin_log(struct ecs_plugin_host *h, int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_line(h != NULL ? h : host_self, level, fmt, ap);
	va_end(ap);
}

void
ecs_plugin_stop(struct ecs_plugin_host *h, int status)
{
	if (h == NULL)
		h = host_self;
	if (h == NULL || h->h_stopping)
		return;
	h->h_stopping = 1;
	h->h_status = status;
	hlog(h, 1, "the plugin asks to stop (status %d)", status);
	if (h->h_base != NULL)
		event_base_loopexit(h->h_base, NULL);
}

/* ---- loading ----------------------------------------------------------- */

/* A resource name the provisioning understands: "namespace/name". */
static int
resource_ok(const char *name)
{
	const char	*slash;
	size_t		 len;

	len = strlen(name);
	slash = strchr(name, '/');
	if (slash == NULL || slash == name || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL || len > 255)
		return 0;
	return strcspn(name, " \t\r\n") == len;
}

/*
 * Load the shared object and check its descriptor.  EX_OK, EX_INIT (not
 * loadable, no descriptor) or EX_ABI (another ABI, incomplete descriptor).
 * The handle stays in h->h_dl, also after a failure: plugin_unload()
 * closes it.
 */
static int
plugin_load(struct ecs_plugin_host *h, const char *path)
{
	const struct ecs_plugin			*p;
	const struct ecs_plugin_resource	*r;
	char					 local[PATH_MAX];
	const char				*base;

	if (!h->h_named) {
		base = strrchr(path, '/');
		base = base != NULL ? base + 1 : path;
		snprintf(h->h_name, sizeof(h->h_name), "%.*s",
		    (int)strcspn(base, "."), base);
	}
	/* Without a slash dlopen() would search the library path. */
	if (strchr(path, '/') == NULL) {
		snprintf(local, sizeof(local), "./%s", path);
		path = local;
	}
	if ((h->h_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		hlog(h, 0, "cannot load the plugin: %s", dlerror());
		return EX_INIT;
	}
	dlerror();
	if ((p = dlsym(h->h_dl, "ecs_plugin")) == NULL) {
		hlog(h, 0, "%s: no ecs_plugin descriptor", path);
		return EX_INIT;
	}
	if (p->ep_abi != ECS_PLUGIN_ABI) {
		hlog(h, 0, "%s: plugin ABI %d, this host runs ABI %d", path,
		    p->ep_abi, ECS_PLUGIN_ABI);
		return EX_ABI;
	}
	if (p->ep_name == NULL || *p->ep_name == '\0' || p->ep_init == NULL ||
	    p->ep_event == NULL) {
		hlog(h, 0, "%s: incomplete descriptor (ep_name, ep_init and "
		    "ep_event are required)", path);
		return EX_ABI;
	}
	for (r = p->ep_resources; r != NULL && r->pr_name != NULL; r++)
		if (!resource_ok(r->pr_name)) {
			hlog(h, 0, "%s: bad resource name \"%s\" (want "
			    "namespace/name)", path, r->pr_name);
			return EX_ABI;
		}
	h->h_plugin = p;
	if (!h->h_named)
		snprintf(h->h_name, sizeof(h->h_name), "%s", p->ep_name);
	return EX_OK;
}

static void
plugin_unload(struct ecs_plugin_host *h)
{
	h->h_plugin = NULL;
	if (h->h_dl != NULL)
		dlclose(h->h_dl);
	h->h_dl = NULL;
}

/* --describe: what ecsd reads to provision the plugin. */
static int
plugin_describe(const struct ecs_plugin_host *h)
{
	const struct ecs_plugin			*p = h->h_plugin;
	const struct ecs_plugin_resource	*r;

	printf("name %s\n", p->ep_name);
	printf("version %s\n", p->ep_version != NULL ? p->ep_version : "");
	for (r = p->ep_resources; r != NULL && r->pr_name != NULL; r++)
		printf("resource %s %d %d\n", r->pr_name, r->pr_postroute ? 1 : 0,
		    r->pr_events ? 1 : 0);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		hlog(h, 0, "write error: %s", strerror(errno));
		return EX_INIT;
	}
	return EX_OK;
}

/* Hand the -o options to ep_config, in order; 0 or -1. */
static int
plugin_configure(struct ecs_plugin_host *h)
{
	const char	*kv, *eq;
	char		*key;
	int		 i, rc;

	if (h->h_plugin->ep_config == NULL)
		return 0;
	for (i = 0; i < h->h_nopts; i++) {
		kv = h->h_opts[i];
		eq = strchr(kv, '=');
		if ((key = strndup(kv, (size_t)(eq - kv))) == NULL) {
			hlog(h, 0, "out of memory");
			return -1;
		}
		rc = h->h_plugin->ep_config(key, eq + 1);
		if (rc != 0)
			hlog(h, 0, "the plugin refuses the configuration "
			    "key %s", key);
		free(key);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- the event loop ------------------------------------------------------ */

static void	poll_start(struct ecs_plugin_host *);

static double
since(const struct timespec *t0)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
poll_later(struct ecs_plugin_host *h, int seconds)
{
	struct timeval	 tv;

	tv.tv_sec = seconds;
	tv.tv_usec = 0;
	evtimer_add(h->h_timer, &tv);
}

/* The next pause after a failure: 1, 2, 4 ... HOST_BACKOFF_MAX seconds. */
static int
backoff_next(struct ecs_plugin_host *h)
{
	if (h->h_backoff == 0)
		h->h_backoff = 1;
	else if (h->h_backoff * 2 <= HOST_BACKOFF_MAX)
		h->h_backoff *= 2;
	else
		h->h_backoff = HOST_BACKOFF_MAX;
	return h->h_backoff;
}

static void
poll_failed(struct ecs_plugin_host *h, const struct ecc_error *err)
{
	char	 text[600];
	int	 delay;

	delay = backoff_next(h);
	hlog(h, 0, "cannot get events: %s; again in %d s",
	    err_text(err, text, sizeof(text)), delay);
	poll_later(h, delay);
}

/* Completion of a pop: hand the events over, oldest first, and go on. */
static void
poll_done(struct ecc_reply *r, const struct ecc_error *err, void *arg)
{
	struct ecs_plugin_host	*h = arg;
	struct ecc_events	*evs = NULL;
	struct ecc_error	 perr;
	const struct ecc_event	*ev;
	size_t			 i, n;

	if (err->ee_code == ECS_OK && ecc_parse_events(r, &evs, &perr) !=
	    ECS_OK)
		err = &perr;
	ecc_reply_free(r);
	if (evs == NULL) {
		poll_failed(h, err);
		return;
	}
	if (h->h_backoff > 0) {
		hlog(h, 1, "getting events again");
		h->h_backoff = 0;
	}
	for (i = 0; i < evs->evs_n && !h->h_stopping; i++) {
		ev = &evs->evs_ev[i];
		hlog(h, 2, "event %s %s", ev->ev_status, ev->ev_resource);
		h->h_plugin->ep_event(h->h_state, ev);
	}
	n = evs->evs_n;
	if (i < n)
		hlog(h, 0, "%zu popped events not handed over", n - i);
	ecc_events_free(evs);
	if (h->h_stopping)
		return;
	/* A server that does not hold empty pops must not make us spin. */
	if (n == 0 && since(&h->h_polled) < 1.0)
		poll_later(h, 1);
	else
		poll_start(h);
}

static void
poll_start(struct ecs_plugin_host *h)
{
	struct ecc_error	 err;
	enum ecs_err		 e;

	if (h->h_stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &h->h_polled);
	e = ecc_events_async(h->h_poll, 1, HOST_BATCH, HOST_WAIT, poll_done, h);
	if (e != ECS_OK) {
		memset(&err, 0, sizeof(err));
		err.ee_code = e;
		poll_failed(h, &err);
	}
}

static void
poll_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	poll_start(arg);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ecs_plugin_host	*h = arg;

	hlog(h, 1, "stopping (signal %d)", (int)sig);
	if (!h->h_stopping) {
		h->h_stopping = 1;
		h->h_status = EX_OK;
	}
	event_base_loopexit(h->h_base, NULL);
}

/* Events, sessions and the loop; ep_init() is called after this. */
static int
host_open(struct ecs_plugin_host *h, const struct ecc_params *p)
{
	struct ecc_error	 err;
	char			 text[600];

	if ((h->h_base = event_base_new()) == NULL) {
		hlog(h, 0, "cannot create the event loop");
		return -1;
	}
	h->h_sigterm = evsignal_new(h->h_base, SIGTERM, on_signal, h);
	h->h_sigint = evsignal_new(h->h_base, SIGINT, on_signal, h);
	h->h_timer = evtimer_new(h->h_base, poll_timer_cb, h);
	if (h->h_sigterm == NULL || h->h_sigint == NULL || h->h_timer == NULL ||
	    evsignal_add(h->h_sigterm, NULL) != 0 ||
	    evsignal_add(h->h_sigint, NULL) != 0) {
		hlog(h, 0, "cannot set up events");
		return -1;
	}
	/*
	 * Two sessions: a session sends its calls one at a time, so the
	 * plugin's calls must not queue behind a pop the server holds.
	 */
	memset(&err, 0, sizeof(err));
	if (ecc_open(&h->h_session, p, h->h_base, &err) != ECS_OK ||
	    ecc_open(&h->h_poll, p, h->h_base, &err) != ECS_OK) {
		hlog(h, 0, "%s", err_text(&err, text, sizeof(text)));
		return -1;
	}
	return 0;
}

static void
host_close(struct ecs_plugin_host *h)
{
	if (h->h_poll != NULL)
		ecc_close(h->h_poll);
	h->h_poll = NULL;
	if (h->h_session != NULL)
		ecc_close(h->h_session);
	h->h_session = NULL;
	if (h->h_timer != NULL)
		event_free(h->h_timer);
	h->h_timer = NULL;
	if (h->h_sigterm != NULL)
		event_free(h->h_sigterm);
	h->h_sigterm = NULL;
	if (h->h_sigint != NULL)
		event_free(h->h_sigint);
	h->h_sigint = NULL;
	if (h->h_base != NULL)
		event_base_free(h->h_base);
	h->h_base = NULL;
}

/* Configure, open, init, run until stopped, shut down; the exit status. */
static int
host_run(struct ecs_plugin_host *h, const struct ecc_params *p)
{
	const struct ecs_plugin	*pl = h->h_plugin;

	if (plugin_configure(h) != 0 || host_open(h, p) != 0)
		return EX_INIT;
	if (pl->ep_init(h, &h->h_state) != 0) {
		hlog(h, 0, "the plugin failed to start");
		return EX_INIT;
	}
	hlog(h, 1, "running %s %s against %s", pl->ep_name,
	    pl->ep_version != NULL ? pl->ep_version : "", p->ep_url);
	if (!h->h_stopping) {
		poll_start(h);
		event_base_dispatch(h->h_base);
	}
	/* No more events; the plugin may still use its session. */
	ecc_close(h->h_poll);
	h->h_poll = NULL;
	if (pl->ep_shutdown != NULL)
		pl->ep_shutdown(h->h_state);
	h->h_state = NULL;
	hlog(h, 1, "stopped");
	return h->h_status;
}

/* The first line of file, without its line end; 0 or -1. */
static int
read_password(const char *file, char *pw, size_t len)
{
	FILE	*f;
	int	 rc = 0;

	if ((f = fopen(file, "r")) == NULL)
		return -1;
	if (fgets(pw, (int)len, f) == NULL)
		rc = -1;
	fclose(f);
	if (rc == 0) {
		pw[strcspn(pw, "\r\n")] = '\0';
		if (*pw == '\0')
			rc = -1;
	}
	return rc;
}

enum {
	OPT_URL = 256, OPT_AUTH_ID, OPT_CERT, OPT_KEY, OPT_CA, OPT_USER,
	OPT_PWFILE, OPT_NAME, OPT_DESCRIBE
};

static const struct option longopts[] = {
	{ "auth-id", required_argument, NULL, OPT_AUTH_ID },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "describe", no_argument, NULL, OPT_DESCRIBE },
	{ "help", no_argument, NULL, 'h' },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "password-file", required_argument, NULL, OPT_PWFILE },
	{ "url", required_argument, NULL, OPT_URL },
	{ "user", required_argument, NULL, OPT_USER },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 }
};

int
main(int argc, char *argv[])
{
	struct ecs_plugin_host	 h;
	struct hostopts		 o;
	struct ecc_params	 p;
	char			 pw[HOST_PW_MAX];
	const char		*eq, *bad = NULL;
	int			 ch, kinds = 0, rc;

	memset(&h, 0, sizeof(h));
	memset(&o, 0, sizeof(o));
	memset(pw, 0, sizeof(pw));
	if ((h.h_opts = calloc((size_t)argc + 1, sizeof(*h.h_opts))) == NULL) {
		fputs("ecc-host: out of memory\n", stderr);
		return EX_INIT;
	}
	while ((ch = getopt_long(argc, argv, "ho:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			fputs(usage_text, stdout);
			rc = EX_OK;
			goto out;
		case 'o':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				rc = usage("-o wants key=value, not \"%s\"",
				    optarg);
				goto out;
			}
			h.h_opts[h.h_nopts++] = optarg;
			break;
		case 'v':
			h.h_verbose = 1;
			break;
		case OPT_URL:
			o.ho_url = optarg;
			break;
		case OPT_AUTH_ID:
			o.ho_auth_id = optarg;
			break;
		case OPT_CERT:
			o.ho_cert = optarg;
			break;
		case OPT_KEY:
			o.ho_key = optarg;
			break;
		case OPT_CA:
			o.ho_ca = optarg;
			break;
		case OPT_USER:
			o.ho_user = optarg;
			break;
		case OPT_PWFILE:
			o.ho_pwfile = optarg;
			break;
		case OPT_NAME:
			if (*optarg == '\0' ||
			    strlen(optarg) >= sizeof(h.h_name)) {
				rc = usage("bad --name \"%s\"", optarg);
				goto out;
			}
			snprintf(h.h_name, sizeof(h.h_name), "%s", optarg);
			h.h_named = 1;
			break;
		case OPT_DESCRIBE:
			o.ho_describe = 1;
			break;
		default:
			rc = usage(NULL);
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (o.ho_auth_id != NULL)
		kinds++;
	if (o.ho_cert != NULL || o.ho_key != NULL)
		kinds++;
	if (o.ho_user != NULL || o.ho_pwfile != NULL)
		kinds++;
	if (argc != 1)
		bad = argc == 0 ? "no plugin" : "one plugin only";
	else if (o.ho_describe)
		bad = NULL;	/* the connection options are not used */
	else if (o.ho_url == NULL)
		bad = "no server: use --url";
	else if (kinds > 1)
		bad = "use one of --auth-id, --cert/--key and "
		    "--user/--password-file";
	else if (o.ho_key != NULL && o.ho_cert == NULL)
		bad = "--key needs --cert";
	else if ((o.ho_user == NULL) != (o.ho_pwfile == NULL))
		bad = "--user and --password-file go together";
	if (bad != NULL) {
		rc = usage("%s", bad);
		goto out;
	}
	host_self = &h;
	signal(SIGPIPE, SIG_IGN);

	if ((rc = plugin_load(&h, argv[0])) != EX_OK)
		goto out;
	if (o.ho_describe) {
		rc = plugin_describe(&h);
		goto out;
	}
	if (o.ho_pwfile != NULL && read_password(o.ho_pwfile, pw,
	    sizeof(pw)) != 0) {
		hlog(&h, 0, "cannot read a password from %s", o.ho_pwfile);
		rc = EX_INIT;
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.ep_url = o.ho_url;
	p.ep_auth_id = o.ho_auth_id;
	p.ep_user = o.ho_user;
	p.ep_password = o.ho_pwfile != NULL ? pw : NULL;
	p.ep_cert = o.ho_cert;
	p.ep_key = o.ho_key;
	p.ep_ca = o.ho_ca;
	p.ep_retries = -1;
	rc = host_run(&h, &p);
out:
	explicit_bzero(pw, sizeof(pw));
	host_close(&h);
	plugin_unload(&h);
	host_self = NULL;
	free(h.h_opts);
	return rc;
}
