//! Diesel table definitions, kept in the shape `diesel print-schema` produces. The column types are
//! the subset all three backends share; JSON columns are `Text` holding JSON.

diesel::table! {
    system_settings (id) {
        id -> BigInt,
        setting_key -> Text,
        setting_value -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    groups (id) {
        id -> BigInt,
        name -> Text,
        display_name -> Text,
        proxy_keys -> Text,
        description -> Text,
        group_type -> Text,
        upstreams -> Text,
        validation_endpoint -> Text,
        channel_type -> Text,
        sort -> Integer,
        test_model -> Text,
        param_overrides -> Text,
        config -> Text,
        header_rules -> Text,
        model_redirect_rules -> Text,
        model_redirect_strict -> Bool,
        last_validated_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        enabled -> Bool,
    }
}

diesel::table! {
    group_sub_groups (id) {
        id -> BigInt,
        group_id -> BigInt,
        sub_group_id -> BigInt,
        weight -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        key_value -> Text,
        key_hash -> Text,
        group_id -> BigInt,
        status -> Text,
        notes -> Text,
        request_count -> BigInt,
        failure_count -> BigInt,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        cooldown_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    request_logs (id) {
        id -> Text,
        timestamp -> Timestamp,
        group_id -> BigInt,
        group_name -> Text,
        parent_group_id -> BigInt,
        parent_group_name -> Text,
        key_value -> Text,
        key_hash -> Text,
        model -> Text,
        is_success -> Bool,
        source_ip -> Text,
        status_code -> Integer,
        request_path -> Text,
        duration -> BigInt,
        error_message -> Text,
        user_agent -> Text,
        request_type -> Text,
        upstream_addr -> Text,
        is_stream -> Bool,
        request_body -> Text,
        retry_index -> Integer,
        ttfb_ms -> BigInt,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        total_tokens -> BigInt,
    }
}

diesel::table! {
    usage_hourly_stats (id) {
        id -> BigInt,
        time -> Timestamp,
        group_id -> BigInt,
        model -> Text,
        request_count -> BigInt,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
        total_tokens -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_hourly_stats (id) {
        id -> BigInt,
        time -> Timestamp,
        group_id -> BigInt,
        success_count -> BigInt,
        failure_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    config_revision (id) {
        id -> Integer,
        revision -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    admin_task (id) {
        id -> Integer,
        task_type -> Text,
        is_running -> Bool,
        group_name -> Text,
        processed -> BigInt,
        total -> BigInt,
        result -> Text,
        error -> Text,
        owner -> Text,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        heartbeat_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gateway_processes (id) {
        id -> Text,
        role -> Text,
        hostname -> Text,
        pid -> Integer,
        started_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    system_settings,
    groups,
    group_sub_groups,
    api_keys,
    request_logs,
    group_hourly_stats,
    usage_hourly_stats,
    config_revision,
);
