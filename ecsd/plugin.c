/*
 * plugin.c: the plugin host inside ecsd. Each [plugin NAME] section names
 * a plugin shared object; ecsd provisions its participant, identity,
 * memberships and resources (through the admin model) and runs it as a
 * supervised ecc-host child that talks HTTP to ecsd's own loopback
 * listener. A plugin that crashes is logged and restarted with backoff;
 * it never takes the broker down (the trade-off: a process per plugin,
 * and plugins talk to ecsd over loopback like any participant).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ecsd.h"
#include "passwd.h"
#include "rand.h"
#include "util.h"

#define PLUGIN_BACKOFF_MAX	60
#define PLUGIN_STOP_WAIT	5	/* seconds before SIGKILL */

/* A host key of the section (path, participant, ...), or NULL. */
static const char *
plugin_opt(const struct plugin_conf *pc, const char *key)
{
	size_t	 n = strlen(key);
	int	 i;

	for (i = 0; i < pc->pc_nopts; i++)
		if (strncmp(pc->pc_opts[i], key, n) == 0 &&
		    pc->pc_opts[i][n] == '=')
			return pc->pc_opts[i] + n + 1;
	return NULL;
}

static int
host_key(const char *kv)
{
	static const char *const keys[] = {
		"path=", "participant=", "communities=", "auth_id="
	};
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(kv, keys[i], strlen(keys[i])) == 0)
			return 1;
	return 0;
}

/*
 * Ask `ecc-host --describe` for the plugin's resources, so that no plugin
 * code runs inside ecsd. Lines: "resource ns/name postroute events".
 */
static int
plugin_describe(struct ecsd *env, struct plugin_proc *pp, struct buf *out)
{
	const char	*path = plugin_opt(pp->pp_conf, "path");
	int		 fds[2], status = -1;
	pid_t		 pid;
	char		 chunk[4096];
	ssize_t		 n;

	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		closefrom(STDERR_FILENO + 1);
		execl(env->e_conf.c_plugin_host, env->e_conf.c_plugin_host,
		    "--describe", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0 && buf_add(out, chunk, (size_t)n) != ECS_OK)
			break;
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("plugin %s: %s --describe %s failed (status %d)",
		    pp->pp_conf->pc_name, env->e_conf.c_plugin_host, path,
		    status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) :
		    -1);
		return -1;
	}
	return 0;
}

static enum ecs_err
provision_one(struct store *s, const char *kind, const char *json)
{
	struct ecs_error	 err;
	struct json		*doc;
	int64_t			 id;
	enum ecs_err		 e;

	memset(&err, 0, sizeof(err));
	if ((e = json_parse(json, strlen(json), &doc)) != ECS_OK)
		return e;
	if ((e = store_admin_find(s, kind, doc, &id)) == ECS_ENOTFOUND)
		e = store_admin_create(s, kind, doc, &id, &err);
	else if (e == ECS_OK && strcmp(kind, "participants") == 0)
		e = store_admin_update(s, kind, id, doc, &err);
	if (e != ECS_OK)
		log_warnx("provisioning %s: %s", kind, err.e_msg[0] ?
		    err.e_msg : ecs_strerror(e));
	json_free(doc);
	return e;
}

/*
 * A fresh password for the plugin's identity, handed to ecc-host in a
 * 0600 file: HTTP Basic works whatever trusted_proxies says.
 */
static int
plugin_secret(struct ecsd *env, struct plugin_proc *pp)
{
	char		 pw[33], hash[PASSWD_MAX + 1], dir[4096];
	int64_t		 pid;
	int		 fd, rc = -1;

	if (rand_hex(pw, 16) != ECS_OK ||
	    passwd_hash(pw, hash, sizeof(hash)) != ECS_OK ||
	    store_participant_by_name(env->e_store, pp->pp_participant,
	    &pid) != ECS_OK ||
	    store_identity_set_password(env->e_store, pid, pp->pp_authid,
	    hash) != ECS_OK)
		goto done;
	snprintf(dir, sizeof(dir), "%s/plugins", env->e_conf.c_datadir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto done;
	snprintf(pp->pp_secret, sizeof(pp->pp_secret), "%s/%s.secret", dir,
	    pp->pp_conf->pc_name);
	fd = open(pp->pp_secret, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1)
		goto done;
	if (write(fd, pw, strlen(pw)) == (ssize_t)strlen(pw) &&
	    write(fd, "\n", 1) == 1)
		rc = 0;
	close(fd);
	authn_forget(env);
done:
	if (rc != 0)
		log_warn("plugin %s: cannot set its password",
		    pp->pp_conf->pc_name);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/* Participant, identity, memberships and resources of one plugin. */
static int
plugin_provision(struct ecsd *env, struct plugin_proc *pp)
{
	const struct plugin_conf	*pc = pp->pp_conf;
	struct store			*s = env->e_store;
	struct buf			 desc, doc;
	struct jw			 w;
	const char			*pname, *comms, *p, *q;
	char				 ns[128], name[128], line[512], *t;
	int				 postroute, events, rc = -1;
	int64_t				 pid;

	buf_init(&desc, 1 << 20);
	buf_init(&doc, 0);
	if (plugin_describe(env, pp, &desc) != 0)
		goto done;
	pname = plugin_opt(pc, "participant");
	snprintf(pp->pp_participant, sizeof(pp->pp_participant), "%s%s",
	    pname ? "" : "plugin-", pname ? pname : pc->pc_name);
	if (store_begin(s) != ECS_OK)
		goto done;
	/* Resources, from the descriptor. */
	for (p = buf_str(&desc); *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, '\n');
		if (q == NULL)
			q = p + strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(q - p), p);
		if (sscanf(line, "resource %127[^/]/%127s %d %d", ns, name,
		    &postroute, &events) != 4)
			continue;
		buf_reset(&doc);
		jw_init(&w, &doc, 0);
		jw_obj_open(&w);
		jw_kstr(&w, "namespace", ns);
		jw_kstr(&w, "name", name);
		jw_kbool(&w, "postroute", postroute);
		jw_kbool(&w, "events", events);
		jw_obj_close(&w);
		if (provision_one(s, "resources", buf_str(&doc)) != ECS_OK)
			goto fail;
	}
	/* Communities, created when absent. */
	comms = plugin_opt(pc, "communities");
	for (p = comms ? comms : ""; *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		if ((t = util_trimdup(p, (size_t)(q - p))) == NULL)
			goto fail;
		if (*t != '\0') {
			buf_reset(&doc);
			jw_init(&w, &doc, 0);
			jw_obj_open(&w);
			jw_kstr(&w, "name", t);
			jw_kstr(&w, "description", "");
			jw_obj_close(&w);
			if (provision_one(s, "communities", buf_str(&doc)) !=
			    ECS_OK) {
				free(t);
				goto fail;
			}
		}
		free(t);
	}
	/* The participant keeps its auth id across restarts. */
	if (store_participant_by_name(s, pp->pp_participant, &pid) == ECS_OK &&
	    store_participant_authid(s, pid, pp->pp_authid,
	    sizeof(pp->pp_authid)) == ECS_OK)
		;
	else if (plugin_opt(pc, "auth_id") != NULL)
		snprintf(pp->pp_authid, sizeof(pp->pp_authid), "%s",
		    plugin_opt(pc, "auth_id"));
	else {
		char hex[33];

		if (rand_hex(hex, 16) != ECS_OK)
			goto fail;
		snprintf(pp->pp_authid, sizeof(pp->pp_authid), "plugin-%s-%s",
		    pc->pc_name, hex);
	}
	buf_reset(&doc);
	jw_init(&w, &doc, 0);
	jw_obj_open(&w);
	jw_kstr(&w, "name", pp->pp_participant);
	jw_kstr(&w, "description", "plugin");
	jw_kstr(&w, "organization", "system");
	jw_key(&w, "auth_ids");
	jw_arr_open(&w);
	jw_str(&w, pp->pp_authid);
	jw_arr_close(&w);
	jw_key(&w, "communities");
	jw_arr_open(&w);
	for (p = comms ? comms : ""; *p != '\0'; p = *q ? q + 1 : q) {
		q = strchr(p, ',');
		if (q == NULL)
			q = p + strlen(p);
		if ((t = util_trimdup(p, (size_t)(q - p))) == NULL)
			goto fail;
		if (*t != '\0')
			jw_str(&w, t);
		free(t);
	}
	jw_arr_close(&w);
	jw_obj_close(&w);
	if (provision_one(s, "participants", buf_str(&doc)) != ECS_OK ||
	    broker_admin_settle(s) != ECS_OK ||
	    plugin_secret(env, pp) != 0 || store_commit(s) != ECS_OK)
		goto fail;
	rc = 0;
	goto done;
fail:
	store_rollback(s);
done:
	buf_free(&desc);
	buf_free(&doc);
	return rc;
}

static void
plugin_spawn(struct ecsd *env, struct plugin_proc *pp)
{
	const struct plugin_conf	*pc = pp->pp_conf;
	char				*argv[2 * PLUGIN_OPTS + 12], url[128];
	char				 a_url[] = "--url", a_user[] = "--user";
	char				 a_pwf[] = "--password-file";
	char				 a_name[] = "--name", a_o[] = "-o";
	char				 path[4096];
	const char			*port;
	int				 argc = 0, i;
	pid_t				 pid;

	/* A wildcard listener is reached over loopback. */
	port = strrchr(env->e_bound, ':');
	if (strncmp(env->e_bound, "0.0.0.0:", 8) == 0)
		snprintf(url, sizeof(url), "http://127.0.0.1%s", port);
	else if (strncmp(env->e_bound, "[::]:", 5) == 0)
		snprintf(url, sizeof(url), "http://[::1]%s", port);
	else
		snprintf(url, sizeof(url), "http://%s", env->e_bound);
	snprintf(path, sizeof(path), "%s", plugin_opt(pc, "path"));
	argv[argc++] = env->e_conf.c_plugin_host;
	argv[argc++] = a_url;
	argv[argc++] = url;
	argv[argc++] = a_user;
	argv[argc++] = pp->pp_authid;
	argv[argc++] = a_pwf;
	argv[argc++] = pp->pp_secret;
	argv[argc++] = a_name;
	argv[argc++] = pc->pc_name;
	for (i = 0; i < pc->pc_nopts; i++) {
		if (host_key(pc->pc_opts[i]))
			continue;
		argv[argc++] = a_o;
		argv[argc++] = pc->pc_opts[i];
	}
	argv[argc++] = path;
	argv[argc] = NULL;
	if ((pid = fork()) == -1) {
		log_warn("plugin %s: fork", pc->pc_name);
		return;
	}
	if (pid == 0) {
		static const char msg[] = "ecsd: cannot execute plugin_host\n";

		setpgid(0, 0);
		/* The plugin goes when ecsd goes, even by kill -9. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(1);
		closefrom(STDERR_FILENO + 1);
		execv(argv[0], argv);
		(void)write(STDERR_FILENO, msg, sizeof(msg) - 1);
		_exit(127);
	}
	pp->pp_pid = pid;
	pp->pp_started = time(NULL);
	log_info("plugin %s: started as pid %d (participant %s)",
	    pc->pc_name, (int)pid, pp->pp_participant);
}

static void
plugin_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plugin_proc	*pp = arg;

	if (!pp->pp_env->e_stopping)
		plugin_spawn(pp->pp_env, pp);
}

static void
plugin_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct ecsd		*env = arg;
	struct plugin_proc	*pp;
	struct timeval		 tv;
	pid_t			 pid;
	int			 status, i, delay;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		pp = NULL;
		for (i = 0; i < env->e_nplugins; i++)
			if (env->e_plugins[i].pp_pid == pid)
				pp = &env->e_plugins[i];
		if (pp == NULL)
			continue;
		pp->pp_pid = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			log_info("plugin %s: exited", pp->pp_conf->pc_name);
			continue;
		}
		/* 2 (usage) and 3 (ABI) will not get better by retrying. */
		if (WIFEXITED(status) && (WEXITSTATUS(status) == 2 ||
		    WEXITSTATUS(status) == 3)) {
			log_warnx("plugin %s: exited with status %d; not "
			    "restarting it", pp->pp_conf->pc_name,
			    WEXITSTATUS(status));
			continue;
		}
		if (WIFSIGNALED(status))
			log_warnx("plugin %s: killed by signal %d",
			    pp->pp_conf->pc_name, WTERMSIG(status));
		else
			log_warnx("plugin %s: exited with status %d",
			    pp->pp_conf->pc_name, WEXITSTATUS(status));
		if (env->e_stopping)
			continue;
		if (time(NULL) - pp->pp_started > PLUGIN_BACKOFF_MAX)
			pp->pp_restarts = 0;
		delay = pp->pp_restarts < 6 ? 1 << pp->pp_restarts :
		    PLUGIN_BACKOFF_MAX;
		if (delay > PLUGIN_BACKOFF_MAX)
			delay = PLUGIN_BACKOFF_MAX;
		pp->pp_restarts++;
		log_info("plugin %s: restarting in %d s", pp->pp_conf->pc_name,
		    delay);
		tv.tv_sec = delay;
		tv.tv_usec = 0;
		evtimer_add(pp->pp_timer, &tv);
	}
}

/* Provision and start every configured plugin; 0, or -1 on failure. */
int
plugin_start(struct ecsd *env)
{
	struct plugin_proc	*pp;
	int			 i;

	if (env->e_conf.c_nplugins == 0)
		return 0;
	env->e_sigchld = evsignal_new(env->e_base, SIGCHLD, plugin_sigchld,
	    env);
	if (env->e_sigchld == NULL || evsignal_add(env->e_sigchld, NULL) != 0)
		return -1;
	for (i = 0; i < env->e_conf.c_nplugins; i++) {
		pp = &env->e_plugins[env->e_nplugins++];
		memset(pp, 0, sizeof(*pp));
		pp->pp_env = env;
		pp->pp_conf = &env->e_conf.c_plugins[i];
		if (plugin_opt(pp->pp_conf, "path") == NULL) {
			log_warnx("plugin %s: no path", pp->pp_conf->pc_name);
			return -1;
		}
		if ((pp->pp_timer = evtimer_new(env->e_base, plugin_restart_cb,
		    pp)) == NULL)
			return -1;
		if (plugin_provision(env, pp) != 0) {
			log_warnx("plugin %s: cannot provision it",
			    pp->pp_conf->pc_name);
			return -1;
		}
		plugin_spawn(env, pp);
	}
	return 0;
}

/* SIGTERM to every plugin, SIGKILL to those still there after a while. */
void
plugin_stop(struct ecsd *env)
{
	struct plugin_proc	*pp;
	int			 i, left, waited, status;
	pid_t			 pid;

	for (i = 0; i < env->e_nplugins; i++)
		if (env->e_plugins[i].pp_pid > 0)
			kill(env->e_plugins[i].pp_pid, SIGTERM);
	for (waited = 0; waited <= PLUGIN_STOP_WAIT * 10; waited++) {
		left = 0;
		for (i = 0; i < env->e_nplugins; i++) {
			pp = &env->e_plugins[i];
			if (pp->pp_pid <= 0)
				continue;
			pid = waitpid(pp->pp_pid, &status, WNOHANG);
			if (pid == pp->pp_pid || (pid == -1 && errno == ECHILD))
				pp->pp_pid = 0;
			else
				left++;
		}
		if (left == 0)
			break;
		usleep(100000);
	}
	for (i = 0; i < env->e_nplugins; i++) {
		pp = &env->e_plugins[i];
		if (pp->pp_pid > 0) {
			log_warnx("plugin %s: killed after %d s",
			    pp->pp_conf->pc_name, PLUGIN_STOP_WAIT);
			kill(pp->pp_pid, SIGKILL);
			waitpid(pp->pp_pid, &status, 0);
		}
		if (pp->pp_timer != NULL)
			event_free(pp->pp_timer);
		pp->pp_timer = NULL;
	}
	env->e_nplugins = 0;
	if (env->e_sigchld != NULL)
		event_free(env->e_sigchld);
	env->e_sigchld = NULL;
}
