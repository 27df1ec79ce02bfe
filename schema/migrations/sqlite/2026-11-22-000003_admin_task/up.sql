-- The one long-running admin task (key import, delete, validation) of the whole installation:
-- a lock with a heartbeat, shared by every admin process on this database, and its progress.
CREATE TABLE admin_task (
    id INTEGER PRIMARY KEY NOT NULL,
    task_type VARCHAR(32) NOT NULL DEFAULT '',
    is_running BOOLEAN NOT NULL DEFAULT FALSE,
    group_name VARCHAR(255) NOT NULL DEFAULT '',
    processed BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    result TEXT NOT NULL,
    error TEXT NOT NULL,
    owner VARCHAR(64) NOT NULL DEFAULT '',
    started_at TIMESTAMP NULL,
    finished_at TIMESTAMP NULL,
    heartbeat_at TIMESTAMP NULL
);
INSERT INTO admin_task (id, task_type, is_running, group_name, processed, total, result, error, owner)
VALUES (1, '', FALSE, '', 0, 0, '', '', '');
