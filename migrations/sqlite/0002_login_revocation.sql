-- Logins issued before this time (ms since the epoch) no longer count: a revoked shopper or
-- admin logs in again. 0: nothing revoked.
ALTER TABLE users ADD COLUMN logins_revoked_before INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_by_revocation ON users (logins_revoked_before);
