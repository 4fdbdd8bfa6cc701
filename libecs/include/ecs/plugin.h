/*
 * plugin.h: the plugin ABI. A plugin is a shared object that exports one
 * constant descriptor, `ecs_plugin`, and is a participant of an ECS like
 * any other: it talks to the broker only through the ECC client API.
 *
 * Hosts: ecc-host(1) runs a plugin against any ECS URL; ecsd(8) runs the
 * plugins of its [plugin NAME] sections as supervised ecc-host children on
 * its own loopback listener (a crash costs the plugin a restart, never the
 * broker).
 *
 * Life of a plugin in its host:
 *   1. ep_config() once per key = value of its configuration (optional);
 *   2. ep_init() with the host, after the session exists;
 *   3. ep_event() once per event of its participant, popped from
 *      /sys/events/fifo by the host with long-poll, oldest first;
 *   4. ep_shutdown() when the host stops (SIGTERM or SIGINT).
 * All callbacks run on the host's event loop, one at a time; a plugin
 * that wants to do asynchronous work uses the *_async calls of ecc.h on
 * ecs_plugin_session()'s event base.
 */
#ifndef ECS_PLUGIN_H
#define ECS_PLUGIN_H

#include <stdarg.h>

#include <ecs/ecc.h>

#define ECS_PLUGIN_ABI	1

struct ecs_plugin_host;		/* opaque: what the host offers */

/* A resource the plugin needs; its host provisions it when absent. */
struct ecs_plugin_resource {
	const char	*pr_name;	/* "namespace/name"; NULL ends a list */
	int		 pr_postroute;
	int		 pr_events;
};

struct ecs_plugin {
	int					 ep_abi;	/* ECS_PLUGIN_ABI */
	const char				*ep_name;
	const char				*ep_version;
	const struct ecs_plugin_resource	*ep_resources;
	/* A configuration value; 0 accepts it, -1 refuses it. May be NULL. */
	int	(*ep_config)(const char *key, const char *value);
	/* Start; *statep is passed to the other callbacks. 0 or -1. */
	int	(*ep_init)(struct ecs_plugin_host *, void **statep);
	/* One event (already popped); the plugin fetches what it needs. */
	void	(*ep_event)(void *state, const struct ecc_event *);
	/* Stop and free state. May be NULL. */
	void	(*ep_shutdown)(void *state);
};

/* The session the plugin talks through (borrowed from the host). */
struct ecc	*ecs_plugin_session(struct ecs_plugin_host *);
/* A configuration value of the plugin, or NULL (borrowed). */
const char	*ecs_plugin_config(struct ecs_plugin_host *, const char *key);
/* One log line through the host; level 0 warning, 1 info, 2 debug. */
void		 ecs_plugin_log(struct ecs_plugin_host *, int level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ask the host to stop after the current callback (exit status). */
void		 ecs_plugin_stop(struct ecs_plugin_host *, int status);

#endif /* ECS_PLUGIN_H */
