-- Version 6: no foreign keys to messages. Every produce ran two key checks
-- (its link and its event name its message), each a query that locks the
-- message row, and every deletion of a message ran one check per table
-- that could name it: with these keys gone the server spends 14 % less on
-- produce and a third less on event pops (BENCHMARKS.md). A link, event
-- or token that a batch adds for its own new message needs no check:
-- nobody else can delete what they cannot see yet. One naming an older
-- message (an update, a postroute, an event about it) reads and locks the
-- message in the insert (FOR KEY SHARE, as the key check did), and a
-- disposal locks the message first (FOR UPDATE) and keeps it if a link
-- came meanwhile (store.c, NAMED_MSG). Such inserts refuse a tombstone,
-- so the deletion of one needs no lock.

ALTER TABLE links DROP CONSTRAINT links_message_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_message_id_fkey;
ALTER TABLE auths DROP CONSTRAINT auths_message_id_fkey;
