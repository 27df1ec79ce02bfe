-- Per-attempt detail and token usage on request logs; usage per group, model and hour.
-- request_body becomes MEDIUMTEXT so the body-logging limit may exceed TEXT's 64 KiB.
ALTER TABLE request_logs
    ADD COLUMN retry_index INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN ttfb_ms BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN total_tokens BIGINT NOT NULL DEFAULT 0,
    MODIFY COLUMN request_body MEDIUMTEXT NOT NULL;

CREATE TABLE usage_hourly_stats (
    id BIGINT PRIMARY KEY AUTO_INCREMENT,
    `time` DATETIME(6) NOT NULL,
    group_id BIGINT NOT NULL,
    model VARCHAR(255) NOT NULL DEFAULT '',
    request_count BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE UNIQUE INDEX idx_usage_time_group_model ON usage_hourly_stats (`time`, group_id, model);
