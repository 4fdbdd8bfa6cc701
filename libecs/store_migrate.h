/*
 * store_migrate.h: copy a whole installation between stores.
 */
#ifndef ECS_STORE_MIGRATE_H
#define ECS_STORE_MIGRATE_H

#include <stdio.h>

#include <ecs/ecs.h>

/*
 * Copy every row of from ("sqlite:PATH" or "postgresql:DSN") into to,
 * ids preserved, in one transaction on each side. The target must be
 * empty or a fresh schema; both ends are brought to the current schema
 * first. A line per table goes to progress when it is not NULL.
 * 0 on success; -1 with err set.
 */
int	 store_migrate(const char *from, const char *to, FILE *progress,
	    struct ecs_error *err);

#endif /* ECS_STORE_MIGRATE_H */
