-- Every decision and every authorization-server and login event is an entry in
-- the hash-chained audit log (0007), written in the transaction of what it records.
-- These tables held the same facts a second time, unchained; the log is now their
-- one record. No release has carried these tables: only a development database
-- that predates 0007 held rows here that its log does not.
DROP TABLE decisions;
DROP TABLE audit_events;
