-- Version 4: pops read a queue by its own index, however long the other
-- queues are. The driver runs prepared statements with generic plans
-- (plan_cache_mode = force_generic_plan), which estimate
-- "membership_id = $1" from the number of distinct values. With few
-- memberships the planner judged it cheaper to walk the message ids in
-- order (links_message, the primary key of events) and filter than to use
-- the queue index (links_queue, events_queue): a pop from a short queue
-- then read every row of a long one first (77 ms behind 325,000 links).
-- These columns are declared to have at least a thousand distinct values,
-- so that the queue indexes serve every pop and listing, while an id that
-- is really near unique (message_id) still wins over them: a look-up by
-- message and participant must take the message's index, not walk the
-- participant's events. The statistics are taken again at once.

ALTER TABLE links ALTER COLUMN membership_id SET (n_distinct = 1000);
ALTER TABLE events ALTER COLUMN participant_id SET (n_distinct = 1000);
ALTER TABLE messages ALTER COLUMN sender_id SET (n_distinct = 1000);
ALTER TABLE community_messages ALTER COLUMN community_id SET (n_distinct = 1000);
ANALYZE links, events, messages, community_messages;
