-- Per-attempt detail and token usage on request logs; usage per group, model and hour.
ALTER TABLE request_logs ADD COLUMN retry_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN ttfb_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN total_tokens BIGINT NOT NULL DEFAULT 0;

CREATE TABLE usage_hourly_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TIMESTAMP NOT NULL,
    group_id BIGINT NOT NULL,
    model VARCHAR(255) NOT NULL DEFAULT '',
    request_count BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX idx_usage_time_group_model ON usage_hourly_stats (time, group_id, model);
