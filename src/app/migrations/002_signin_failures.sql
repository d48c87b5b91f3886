-- Sign-in throttling (src/app/throttle.ts): one row per failed sign-in, kept for the
-- throttle's window. In the database, not in each app's memory: the LB spreads one
-- attacker over every app server, and all of them must count the same failures.
CREATE TABLE IF NOT EXISTS signin_failures (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username VARCHAR(32) NOT NULL,
  address VARCHAR(45) NOT NULL,
  failed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY signin_failures_username (username, failed_at),
  KEY signin_failures_address (address, failed_at),
  KEY signin_failures_failed_at (failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
