/*
 * ecsd.c: the ECS broker daemon: options, start-up, signals, garbage
 * collection timers and shutdown.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "ecsd.h"
#include "rand.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: ecsd [-hnvV] [-c file] [-D datadir] "
	    "[-l address:port] [-o key=value]\n");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ecsd	*env = arg;

	if (env->e_stopping)
		return;
	env->e_stopping = 1;
	log_info("signal %d: finishing requests in flight and stopping",
	    (int)sig);
	http_commit_now(env);
	event_base_loopexit(env->e_base, NULL);
}

/* Run one GC job inside the batch, like a request that writes. */
static void
on_auth_gc(evutil_socket_t fd, short what, void *arg)
{
	struct ecsd	*env = arg;
	int		 n = 0;
	enum ecs_err	 e;
	int		 fresh = !store_in_tx(env->e_store);

	if (store_savepoint(env->e_store) != ECS_OK)
		return;
	e = broker_gc_auths(env->e_store, time(NULL), &n);
	if (e == ECS_OK)
		store_release(env->e_store);
	else
		store_rollback_savepoint(env->e_store);
	if (n > 0)
		log_info("gc: %d expired one-touch tokens removed", n);
	if (fresh)
		http_commit_now(env);
}

static void
on_gc(evutil_socket_t fd, short what, void *arg)
{
	struct ecsd	*env = arg;
	int		 n = 0, nm = 0;
	enum ecs_err	 e;
	int		 fresh = !store_in_tx(env->e_store);

	if (store_savepoint(env->e_store) != ECS_OK)
		return;
	e = broker_gc_participants(env->e_store, time(NULL),
	    (time_t)env->e_conf.c_sub_gc_age, &n);
	if (e == ECS_OK)
		e = store_gc_tombstones(env->e_store, &nm);
	if (e == ECS_OK)
		store_release(env->e_store);
	else
		store_rollback_savepoint(env->e_store);
	if (n > 0 || nm > 0)
		log_info("gc: %d expired participants, %d unreferenced "
		    "messages removed", n, nm);
	if (fresh)
		http_commit_now(env);
}

/* The admin password: config, environment, or a generated secret file. */
static int
admin_password(struct ecsd *env)
{
	const char	*envpw = getenv("ECSD_ADMIN_PASSWORD");
	char		 path[4096], pw[128];
	FILE		*f;
	int		 fd;
	size_t		 n;

	if (envpw != NULL && *envpw != '\0') {
		env->e_admin_pw = strdup(envpw);
		return env->e_admin_pw ? 0 : -1;
	}
	if (env->e_conf.c_admin_password[0] != '\0') {
		env->e_admin_pw = strdup(env->e_conf.c_admin_password);
		return env->e_admin_pw ? 0 : -1;
	}
	snprintf(path, sizeof(path), "%s/admin.secret", env->e_conf.c_datadir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(pw, sizeof(pw), f) == NULL)
			pw[0] = '\0';
		fclose(f);
		n = strcspn(pw, "\r\n");
		pw[n] = '\0';
		if (n > 0) {
			env->e_admin_pw = strdup(pw);
			log_info("admin password read from %s", path);
			return env->e_admin_pw ? 0 : -1;
		}
	}
	if (rand_hex(pw, 16) != ECS_OK)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, pw, strlen(pw)) != (ssize_t)strlen(pw) ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		log_warn("%s", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	log_info("admin password generated into %s", path);
	env->e_admin_pw = strdup(pw);
	return env->e_admin_pw ? 0 : -1;
}

/*
 * A libpq connection string fit for the log: the value of password (in
 * key=value form or in a URI's user info and query) becomes "*".
 */
static void
dsn_redact(const char *dsn, char *out, size_t len)
{
	struct buf	 b;
	const char	*p = dsn, *k, *at, *colon, *end;
	int		 hide;

	buf_init(&b, 0);
	if (strncmp(dsn, "postgresql://", 13) == 0 ||
	    strncmp(dsn, "postgres://", 11) == 0) {
		end = dsn + strcspn(dsn, "?");
		at = memchr(dsn, '@', (size_t)(end - dsn));
		colon = strchr(strchr(dsn, '/') + 2, ':');
		if (at != NULL && colon != NULL && colon < at) {
			buf_add(&b, dsn, (size_t)(colon - dsn + 1));
			buf_adds(&b, "*");
			p = at;
		}
		/* password=... in the query */
		while (*p != '\0') {
			k = p;
			p += strcspn(p, "?&");
			buf_add(&b, k, (size_t)(p - k));
			if (*p == '\0')
				break;
			buf_add(&b, p++, 1);
			if (strncmp(p, "password=", 9) == 0) {
				buf_adds(&b, "password=*");
				p += strcspn(p, "&");
			}
		}
	} else {
		/* key = value, the value bare or in quotes with \ escapes */
		while (*p != '\0') {
			if (isspace((unsigned char)*p)) {
				buf_add(&b, p++, 1);
				continue;
			}
			k = p;
			p += strcspn(p, "= \t\n");
			hide = (size_t)(p - k) == 8 && strncmp(k, "password",
			    8) == 0;
			buf_add(&b, k, (size_t)(p - k));
			while (isspace((unsigned char)*p))
				buf_add(&b, p++, 1);
			if (*p != '=')
				continue;
			buf_add(&b, p++, 1);
			while (isspace((unsigned char)*p))
				buf_add(&b, p++, 1);
			k = p;
			if (*p == '\'') {
				for (p++; *p != '\0' && *p != '\''; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
				if (*p == '\'')
					p++;
			} else
				p += strcspn(p, " \t\n");
			if (hide)
				buf_adds(&b, "*");
			else
				buf_add(&b, k, (size_t)(p - k));
		}
	}
	snprintf(out, len, "%.*s", (int)b.b_len, b.b_data != NULL ?
	    b.b_data : "");
	buf_free(&b);
}

static void
libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check-config", no_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "datadir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "listen", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct ecsd		 env;
	struct ecs_error	 err;
	struct timeval		 tv;
	struct event_config	*evcfg = NULL;
	struct stat		 sb;
	const char		*cfile = NULL;
	char			*ovr[64], *eq, errbuf[512];
	char			 target[4200], where[4096];
	int			 novr = 0, ch, check = 0, verbose = 0, i, rc = 1;
	int			 level, pg;

	memset(&env, 0, sizeof(env));
	memset(&err, 0, sizeof(err));
	env.e_lfd[0] = env.e_lfd[1] = -1;
	conf_defaults(&env.e_conf);
	while ((ch = getopt_long(argc, argv, "c:D:f:hl:no:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
		case 'f':
			cfile = optarg;
			break;
		case 'D':
		case 'l':
		case 'o':
			if (novr == 64) {
				fprintf(stderr, "ecsd: too many options\n");
				rc = 2;
				goto out;
			}
			if (ch == 'o')
				ovr[novr++] = strdup(optarg);
			else {
				char *s = NULL;

				if (asprintf(&s, "%s=%s", ch == 'D' ?
				    "datadir" : "listen", optarg) == -1)
					goto out;
				ovr[novr++] = s;
			}
			if (ovr[novr - 1] == NULL) {
				novr--;
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("ecsd %s\n", PACKAGE_VERSION);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (cfile != NULL && conf_load(&env.e_conf, cfile) != 0)
		goto out;
	for (i = 0; i < novr; i++) {
		if ((eq = strchr(ovr[i], '=')) == NULL) {
			fprintf(stderr, "ecsd: -o %s: expected key=value\n",
			    ovr[i]);
			goto out;
		}
		*eq = '\0';
		if (conf_set(&env.e_conf, ovr[i], eq + 1, errbuf,
		    sizeof(errbuf)) != 0) {
			fprintf(stderr, "ecsd: -o: %s\n", errbuf);
			goto out;
		}
	}
	if (conf_finish(&env.e_conf) != 0)
		goto out;
	if (check) {
		printf("configuration OK\n");
		rc = 0;
		goto out;
	}
	level = strcmp(env.e_conf.c_log_level, "debug") == 0 ? LOG_LVL_DEBUG :
	    strcmp(env.e_conf.c_log_level, "warn") == 0 ? LOG_LVL_WARN :
	    LOG_LVL_INFO;
	if (verbose)
		level = LOG_LVL_DEBUG;
	log_init(level);
	event_set_log_callback(libevent_log);
#ifdef M_TRIM_THRESHOLD
	/*
	 * Keep freed memory instead of giving it back with brk and faulting
	 * it in again on the next request (seen as 15% of the CPU under
	 * load); the mmap threshold fixed so that it does not creep up.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 8 << 20);
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
#endif
	signal(SIGPIPE, SIG_IGN);

	if (mkdir(env.e_conf.c_datadir, 0700) != 0 && (errno != EEXIST ||
	    stat(env.e_conf.c_datadir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
		if (errno == EEXIST)
			errno = ENOTDIR;
		log_warn("datadir %s", env.e_conf.c_datadir);
		goto out;
	}
	pg = strcmp(env.e_conf.c_store, "postgresql") == 0;
	if (pg) {
		snprintf(target, sizeof(target), "postgresql:%s",
		    env.e_conf.c_pg_dsn);
		dsn_redact(env.e_conf.c_pg_dsn, where, sizeof(where));
	} else {
		if (env.e_conf.c_database[0] != '\0')
			snprintf(where, sizeof(where), "%s",
			    env.e_conf.c_database);
		else
			snprintf(where, sizeof(where), "%s/ecsd.db",
			    env.e_conf.c_datadir);
		snprintf(target, sizeof(target), "sqlite:%s", where);
	}
	if (store_open(target, strcmp(env.e_conf.c_sync, "full") == 0,
	    &env.e_store, &err) != ECS_OK) {
		log_warnx("database: %s", err.e_msg);
		goto out;
	}
	store_set_timeout(env.e_store, (int)env.e_conf.c_pg_timeout);
	if (admin_password(&env) != 0) {
		log_warnx("cannot set up the admin password");
		goto out;
	}
	if (env.e_conf.c_workers > 1) {
		/* The master's connection only made sure of the schema. */
		store_close(env.e_store);
		env.e_store = NULL;
		if ((i = workers_run(&env, &rc)) != 0) {
			if (i < 0)
				rc = 1;
			goto out;
		}
		if (store_open(target, strcmp(env.e_conf.c_sync, "full") == 0,
		    &env.e_store, &err) != ECS_OK) {
			log_warnx("worker %d: database: %s", env.e_worker,
			    err.e_msg);
			goto out;
		}
		store_set_timeout(env.e_store, (int)env.e_conf.c_pg_timeout);
	}
	if (authn_init(&env) != 0) {
		log_warnx("cannot set up authentication");
		goto out;
	}
	/* With postgresql_vacuum = 0, vacuums are the operator's. */
	if ((!pg || env.e_conf.c_pg_vacuum) &&
	    store_background_start(env.e_store, target) != ECS_OK)
		log_warnx(pg ? "no vacuum thread: the tables are left to "
		    "autovacuum" : "no checkpoint thread: commits checkpoint "
		    "themselves");
	/*
	 * epoll's changelist folds an event's add and delete within one turn
	 * of the loop into one epoll_ctl at the next dispatch, or none (ecsd
	 * never dups a socket, the case the changelist gets wrong).
	 */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(evcfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0 ||
	    (env.e_base = event_base_new_with_config(evcfg)) == NULL ||
	    event_base_priority_init(env.e_base, 3) != 0) {
		log_warnx("event_base_new failed");
		if (evcfg != NULL)
			event_config_free(evcfg);
		goto out;
	}
	event_config_free(evcfg);
	if (http_start(&env) != 0 || http_notify_start(&env) != 0)
		goto out;
	env.e_sigterm = evsignal_new(env.e_base, SIGTERM, on_signal, &env);
	env.e_sigint = evsignal_new(env.e_base, SIGINT, on_signal, &env);
	env.e_auth_gc = event_new(env.e_base, -1, EV_PERSIST, on_auth_gc, &env);
	env.e_gc = event_new(env.e_base, -1, EV_PERSIST, on_gc, &env);
	if (env.e_sigterm == NULL || env.e_sigint == NULL ||
	    env.e_auth_gc == NULL || env.e_gc == NULL) {
		log_warnx("cannot set up events");
		goto out;
	}
	evsignal_add(env.e_sigterm, NULL);
	evsignal_add(env.e_sigint, NULL);
	/* With workers, the plugins and the collections run in one. */
	if (env.e_worker == 0) {
		if (plugin_start(&env) != 0)
			goto out;
		tv.tv_sec = (time_t)env.e_conf.c_auth_gc_interval;
		tv.tv_usec = 0;
		event_add(env.e_auth_gc, &tv);
		tv.tv_sec = (time_t)env.e_conf.c_gc_interval;
		event_add(env.e_gc, &tv);
	}
	log_info("store %s %s, sync=%s", env.e_conf.c_store, where,
	    env.e_conf.c_sync);
	if (env.e_conf.c_workers > 1)
		log_info("worker %d (pid %d) serving", env.e_worker,
		    (int)getpid());
	else if (env.e_bound_tls[0] != '\0')
		log_info("ready http=%s https=%s", env.e_bound, env.e_bound_tls);
	else
		log_info("ready http=%s", env.e_bound);
	event_base_dispatch(env.e_base);
	plugin_stop(&env);
	http_stop(&env);
	log_info("stopped after %llu commits",
	    (unsigned long long)env.e_batches);
	rc = 0;
out:
	plugin_stop(&env);
	if (env.e_sigterm != NULL)
		event_free(env.e_sigterm);
	if (env.e_sigint != NULL)
		event_free(env.e_sigint);
	if (env.e_auth_gc != NULL)
		event_free(env.e_auth_gc);
	if (env.e_gc != NULL)
		event_free(env.e_gc);
	if (env.e_nlisteners > 0 || env.e_commit_ev != NULL ||
	    env.e_tls_ctx != NULL || env.e_conns_on)
		http_stop(&env);
	if (env.e_base != NULL)
		event_base_free(env.e_base);
	store_close(env.e_store);
	if (env.e_admin_pw != NULL) {
		memset(env.e_admin_pw, 0, strlen(env.e_admin_pw));
		free(env.e_admin_pw);
	}
	for (i = 0; i < novr; i++)
		free(ovr[i]);
	conf_free(&env.e_conf);
	return rc;
}
