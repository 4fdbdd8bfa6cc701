/*
 * badabi: a plugin descriptor of a future ABI, for the test of ecc-host's
 * ABI check (tests/blackbox/plugins.t); it must never run.
 */
#include "config.h"

#include <ecs/plugin.h>

static int
bad_init(struct ecs_plugin_host *host, void **statep)
{
	return -1;
}

static void
bad_event(void *state, const struct ecc_event *ev)
{
}

const struct ecs_plugin ecs_plugin = {
	.ep_abi = ECS_PLUGIN_ABI + 1,
	.ep_name = "badabi",
	.ep_version = "0",
	.ep_resources = NULL,
	.ep_config = NULL,
	.ep_init = bad_init,
	.ep_event = bad_event,
	.ep_shutdown = NULL
};
