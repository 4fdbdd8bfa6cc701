/*
 * workers.c: several ecsd processes on one PostgreSQL database (workers).
 *
 * A worker is an ordinary ecsd with a database connection of its own, as
 * if it were a node on another machine: the store's notifications wake
 * its waiters and empty its caches when another worker commits. The
 * master binds one listening socket per worker and address, all on the
 * same port with SO_REUSEPORT, so that the kernel spreads connections
 * over the workers; then it forks the workers and waits. A worker that
 * dies is started again a second later, on the same sockets, so that no
 * connection waiting in its queue is refused. SIGTERM or SIGINT is passed
 * on to every worker, and the master exits once all have. Worker 0 also
 * runs the plugins and the collections.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netdb.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ecsd.h"

#define WORKERS_MAX	64	/* conf.c's limit */
#define STOP_GRACE	20	/* seconds before a stopping worker is killed */

struct worker {
	pid_t	 w_pid;		/* 0: not running */
	time_t	 w_due;		/* when to start it (again) */
	int	 w_fd[2];	/* its sockets: plain, TLS; -1: none */
};

/*
 * A listening socket on addr that other sockets may share (SO_REUSEPORT),
 * on port if it is not 0 (the port the first one got): the descriptor, or
 * -1 after logging why.
 */
static int
bind_shared(const char *addr, int port)
{
	struct addrinfo	 hints, *ai = NULL;
	char		 host[128], serv[16];
	int		 fd = -1, on = 1, p, e;

	if (http_split_addr(addr, host, sizeof(host), &p) != 0)
		return -1;
	snprintf(serv, sizeof(serv), "%d", port != 0 ? port : p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host[0] != '\0' ? host : NULL, serv, &hints,
	    &ai)) != 0) {
		log_warnx("%s: %s", addr, gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		log_warn("cannot listen on %s", addr);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void
close_all(struct worker *w, int n)
{
	int	 i, t;

	for (i = 0; i < n; i++)
		for (t = 0; t < 2; t++) {
			if (w[i].w_fd[t] != -1)
				close(w[i].w_fd[t]);
			w[i].w_fd[t] = -1;
		}
}

/* The sockets of every worker, for the listen and listen_tls addresses. */
static int
bind_all(struct ecsd *env, struct worker *w, int n)
{
	const char	*addr;
	char		*out, host[128];
	size_t		 outlen;
	int		 i, t, port;

	for (t = 0; t < 2; t++) {
		addr = t ? env->e_conf.c_listen_tls : env->e_conf.c_listen;
		out = t ? env->e_bound_tls : env->e_bound;
		outlen = t ? sizeof(env->e_bound_tls) : sizeof(env->e_bound);
		if (*addr == '\0')
			continue;
		port = 0;
		for (i = 0; i < n; i++) {
			if ((w[i].w_fd[t] = bind_shared(addr, port)) == -1)
				return -1;
			if (i == 0 && (http_sock_name(w[0].w_fd[t], out,
			    outlen) != 0 || http_split_addr(out, host,
			    sizeof(host), &port) != 0))
				return -1;
		}
	}
	return 0;
}

/*
 * Fork worker k: 0 in the worker (set up to serve on its own sockets), 1
 * in the master.
 */
static int
spawn(struct ecsd *env, struct worker *w, int n, int k,
    const sigset_t *mask)
{
	pid_t	 master = getpid(), pid;
	int	 i, t;

	w[k].w_due = time(NULL) + 1;	/* if it fails */
	if ((pid = fork()) == -1) {
		log_warn("worker %d: fork", k);
		return 1;
	}
	if (pid > 0) {
		w[k].w_pid = pid;
		return 1;
	}
	/* The worker goes when the master goes, even by kill -9. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(1);
	sigprocmask(SIG_SETMASK, mask, NULL);
	for (i = 0; i < n; i++)
		for (t = 0; t < 2; t++)
			if (i != k && w[i].w_fd[t] != -1)
				close(w[i].w_fd[t]);
	env->e_worker = k;
	env->e_lfd[0] = w[k].w_fd[0];
	env->e_lfd[1] = w[k].w_fd[1];
	return 0;
}

static void
log_exit(int k, pid_t pid, int status, const char *then)
{
	if (WIFSIGNALED(status))
		log_warnx("worker %d (pid %d) killed by signal %d%s", k,
		    (int)pid, WTERMSIG(status), then);
	else
		log_warnx("worker %d (pid %d) exited with status %d%s", k,
		    (int)pid, WEXITSTATUS(status), then);
}

/*
 * Run env->e_conf.c_workers workers. In a worker this returns 0, and the
 * worker goes on to serve; in the master it returns 1 once every worker
 * has stopped (*rc: the exit status), or -1 if it could not start.
 */
int
workers_run(struct ecsd *env, int *rc)
{
	struct worker	 w[WORKERS_MAX];
	struct timespec	 tick = { 1, 0 };
	sigset_t	 set, old;
	time_t		 now, stop_at = 0;
	pid_t		 pid;
	int		 n = (int)env->e_conf.c_workers, i, t, sig, status;
	int		 alive, stopping = 0, failed = 0;

	for (i = 0; i < WORKERS_MAX; i++) {
		w[i].w_pid = 0;
		w[i].w_due = 0;
		for (t = 0; t < 2; t++)
			w[i].w_fd[t] = -1;
	}
	if (n > WORKERS_MAX || bind_all(env, w, n) != 0) {
		close_all(w, n);
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (i = 0; i < n; i++)
		if (spawn(env, w, n, i, &old) == 0)
			return 0;
	if (env->e_bound_tls[0] != '\0')
		log_info("ready http=%s https=%s workers=%d", env->e_bound,
		    env->e_bound_tls, n);
	else
		log_info("ready http=%s workers=%d", env->e_bound, n);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		now = time(NULL);
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			log_info("signal %d: stopping %d workers", sig, n);
			stopping = 1;
			stop_at = now + STOP_GRACE;
			for (i = 0; i < n; i++)
				if (w[i].w_pid != 0)
					kill(w[i].w_pid, SIGTERM);
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n && w[i].w_pid != pid; i++)
				;
			if (i == n)
				continue;
			w[i].w_pid = 0;
			if (!stopping) {
				log_exit(i, pid, status,
				    ": starting it again in 1 s");
				w[i].w_due = now + 1;
			} else if (!WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0) {
				log_exit(i, pid, status, " while stopping");
				failed = 1;
			}
		}
		for (alive = 0, i = 0; i < n; i++)
			alive += w[i].w_pid != 0;
		if (stopping && alive == 0)
			break;
		if (stopping && now >= stop_at) {
			for (i = 0; i < n; i++)
				if (w[i].w_pid != 0) {
					log_warnx("worker %d (pid %d) still "
					    "running: killed", i,
					    (int)w[i].w_pid);
					kill(w[i].w_pid, SIGKILL);
				}
			stop_at = now + STOP_GRACE;
			failed = 1;
		}
		if (stopping)
			continue;
		for (i = 0; i < n; i++)
			if (w[i].w_pid == 0 && w[i].w_due <= now &&
			    spawn(env, w, n, i, &old) == 0)
				return 0;
	}
	close_all(w, n);
	sigprocmask(SIG_SETMASK, &old, NULL);
	log_info("%d workers stopped", n);
	*rc = failed;
	return 1;
}
