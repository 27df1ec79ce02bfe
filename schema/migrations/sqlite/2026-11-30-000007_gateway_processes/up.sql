-- Every running gateway process (proxy or admin) keeps a row here, refreshed every few seconds, so
-- maintenance commands such as migrate-keys can refuse to run while the database is in use.
CREATE TABLE gateway_processes (
    id VARCHAR(64) PRIMARY KEY NOT NULL,
    role VARCHAR(16) NOT NULL,
    hostname VARCHAR(255) NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    started_at DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL
);
