//! The one list of the admin API's operations: every route with its handler, access and
//! documentation. `routes::router` serves exactly these and `openapi::document` describes exactly
//! these. To add a route, add its handler to the resource's module and one entry here.

use super::{channel_types, dashboard, groups, health, integration, keys, login, logs, metrics};
use super::{openapi_json, settings, sub_groups};
use crate::dto::{GroupResponse, UpdateGroup};
use crate::openapi::{
    chart, counts, dashboard_stats, encryption_status, health_answer, key_page, list_of, log_page,
    schema, string_list, task_status, upstream_health, usage_report,
};
use crate::operation::Verb::{Delete, Get, Post, Put};
use crate::operation::{Answer, Operation, Param, Values};

const ID: Param = Param::path("id", Values::ID, "Group id");
const SUB: Param = Param::path("sub", Values::ID, "Member group id");
const GROUP_ID: Param = Param::query("group_id", Values::ID, "Group id").required();
const PAGE: Param = Param::query(
    "page",
    Values::Integer {
        min: 1,
        max: i64::MAX,
    },
    "Page, from 1",
);
const PAGE_SIZE: Param = Param::query(
    "page_size",
    Values::Integer { min: 1, max: 1000 },
    "Rows a page (default 15, at most 1000)",
);
const KEY_STATES: &[&str] = &["active", "cooling", "invalid", "disabled"];
const PROXY_KEY: Param = Param::query("key", Values::Text, "A proxy key").required();

/// Filters of `/api/logs` and its export.
const LOG_FILTERS: &[Param] = &[
    PAGE,
    PAGE_SIZE,
    Param::query("parent_group_name", Values::Text, "Aggregate name contains"),
    Param::query("group_name", Values::Text, "Group name contains"),
    Param::query("key_value", Values::Text, "Exactly this upstream key"),
    Param::query("model", Values::Text, "Model contains"),
    Param::query("is_success", Values::Boolean, "Success or failure"),
    Param::query(
        "request_type",
        Values::OneOf(&["retry", "final"]),
        "retry or final",
    ),
    Param::query(
        "status_code",
        Values::Integer { min: 100, max: 599 },
        "Exactly this status",
    ),
    Param::query("source_ip", Values::Text, "Exactly this client address"),
    Param::query("error_contains", Values::Text, "Error message contains"),
    Param::query("start_time", Values::DateTime, "RFC 3339; from (inclusive)"),
    Param::query("end_time", Values::DateTime, "RFC 3339; to (inclusive)"),
];

const KEY_LIST: &[Param] = &[
    GROUP_ID,
    PAGE,
    PAGE_SIZE,
    Param::query(
        "status",
        Values::OneOf(KEY_STATES),
        "active, cooling, invalid or disabled",
    ),
    Param::query("key_value", Values::Text, "Exact key"),
];

const KEY_EXPORT: &[Param] = &[
    GROUP_ID,
    Param::query(
        "status",
        Values::OneOf(&["all", "active", "cooling", "invalid", "disabled"]),
        "all (default), active, cooling, invalid or disabled",
    ),
];

const CHART: &[Param] = &[Param::query(
    "groupId",
    Values::ID,
    "Only this group (every standard group when absent)",
)];

const USAGE: &[Param] = &[
    Param::query(
        "period",
        Values::OneOf(&["24h", "7d", "30d"]),
        "24h (default), 7d or 30d",
    ),
    Param::query("group_id", Values::ID, "Only this group"),
];

const GROUP_INFO: &[Param] = &[Param::path("group", Values::Text, "Group name"), PROXY_KEY];

const KEY_ID: Param = Param::path("id", Values::ID, "Key id");

/// Every operation of the admin API.
pub(crate) fn operations() -> Vec<Operation> {
    let mut all = vec![
        Operation::new(
            Post,
            "/api/auth/login",
            "auth",
            "Check an admin key (answers {success, message}, not the envelope)",
            login,
        )
        .body(schema::<crate::dto::Login>)
        .answer(Answer::Login)
        .public(),
        Operation::new(
            Get,
            "/api/integration/info",
            "integration",
            "Groups a proxy key may call, with their paths",
            integration::all,
        )
        .params(&[PROXY_KEY])
        .public(),
        Operation::new(
            Get,
            "/api/openapi.json",
            "meta",
            "This document",
            openapi_json,
        )
        .public(),
        Operation::new(
            Get,
            "/api/channel-types",
            "groups",
            "Channel types, in a stable order",
            channel_types,
        )
        .data(string_list),
    ];
    all.extend(group_operations());
    all.extend(key_operations());
    all.extend(report_operations());
    all.extend(outside_api());
    all
}

fn group_operations() -> Vec<Operation> {
    vec![
        Operation::new(
            Get,
            "/api/groups",
            "groups",
            "Every group, sort ASC, id DESC",
            groups::list,
        )
        .data(list_of::<GroupResponse>),
        Operation::new(
            Post,
            "/api/groups",
            "groups",
            "Create a group (standard or aggregate)",
            groups::create,
        )
        .body(crate::dto::create_group_schema)
        .data(schema::<GroupResponse>),
        Operation::new(
            Get,
            "/api/groups/list",
            "groups",
            "id, name and display_name of every group",
            groups::list_lite,
        ),
        Operation::new(
            Get,
            "/api/groups/config-options",
            "groups",
            "Settings a group may override, with their current system values",
            groups::config_options,
        ),
        Operation::new(
            Put,
            "/api/groups/reorder",
            "groups",
            "Set the sort order of groups, all or nothing",
            groups::reorder,
        )
        .body(schema::<crate::dto::Reorder>),
        Operation::new(
            Put,
            "/api/groups/{id}",
            "groups",
            "Update a group (partial)",
            groups::update,
        )
        .params(&[ID])
        .body(schema::<UpdateGroup>)
        .data(schema::<GroupResponse>),
        Operation::new(
            Delete,
            "/api/groups/{id}",
            "groups",
            "Delete a group, its keys and memberships",
            groups::delete,
        )
        .params(&[ID]),
        Operation::new(
            Get,
            "/api/groups/{id}/stats",
            "groups",
            "Keys by state and request totals over 24 h, 7 d, 30 d",
            groups::stats,
        )
        .params(&[ID]),
        Operation::new(
            Post,
            "/api/groups/{id}/copy",
            "groups",
            "Copy a group, with none, the valid or all of its keys",
            groups::copy,
        )
        .params(&[ID])
        .body(schema::<crate::dto::CopyGroup>),
        Operation::new(
            Get,
            "/api/groups/{id}/sub-groups",
            "aggregates",
            "Members of an aggregate group",
            sub_groups::list,
        )
        .params(&[ID]),
        Operation::new(
            Post,
            "/api/groups/{id}/sub-groups",
            "aggregates",
            "Add members to an aggregate group",
            sub_groups::add,
        )
        .params(&[ID])
        .body(schema::<crate::dto::AddMembers>),
        Operation::new(
            Put,
            "/api/groups/{id}/sub-groups/{sub}/weight",
            "aggregates",
            "Set a member's weight (0-1000)",
            sub_groups::set_weight,
        )
        .params(&[ID, SUB])
        .body(schema::<crate::dto::Weight>),
        Operation::new(
            Delete,
            "/api/groups/{id}/sub-groups/{sub}",
            "aggregates",
            "Remove a member",
            sub_groups::remove,
        )
        .params(&[ID, SUB]),
        Operation::new(
            Get,
            "/api/groups/{id}/parent-aggregate-groups",
            "aggregates",
            "Aggregates a group belongs to",
            sub_groups::parents,
        )
        .params(&[ID]),
    ]
}

fn key_operations() -> Vec<Operation> {
    vec![
        Operation::new(
            Get,
            "/api/keys",
            "keys",
            "A page of a group's keys, last used first",
            keys::list,
        )
        .params(KEY_LIST)
        .data(key_page),
        Operation::new(
            Post,
            "/api/keys/add-multiple",
            "keys",
            "Add up to 5000 keys now",
            keys::add_multiple,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(|| counts("added_count")),
        Operation::new(
            Post,
            "/api/keys/add-async",
            "keys",
            "Import keys in the background (JSON, or multipart/form-data with group_id and a .txt file)",
            keys::add_async,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(task_status)
        .body_limit(keys::ASYNC_BODY_LIMIT),
        Operation::new(
            Post,
            "/api/keys/delete-async",
            "keys",
            "Delete keys in the background",
            keys::delete_async,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(task_status)
        .body_limit(keys::ASYNC_BODY_LIMIT),
        Operation::new(
            Get,
            "/api/tasks/status",
            "keys",
            "The running or last key task",
            keys::task_status,
        )
        .data(task_status),
        Operation::new(
            Post,
            "/api/keys/validate-group",
            "keys",
            "Validate a group's keys in the background",
            keys::validate_group,
        )
        .body(schema::<crate::dto::ValidateGroup>)
        .data(task_status),
        Operation::new(
            Post,
            "/api/keys/test-multiple",
            "keys",
            "Validate the listed keys now",
            keys::test_multiple,
        )
        .body(schema::<crate::dto::KeysBody>),
        Operation::new(
            Post,
            "/api/keys/delete-multiple",
            "keys",
            "Delete the listed keys",
            keys::delete_multiple,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(|| counts("deleted_count")),
        Operation::new(
            Post,
            "/api/keys/restore-multiple",
            "keys",
            "Return the listed invalid keys to rotation",
            keys::restore_multiple,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(|| counts("restored_count")),
        Operation::new(
            Post,
            "/api/keys/disable-multiple",
            "keys",
            "Switch the listed keys off: out of rotation and validation until enabled (ours)",
            keys::disable_multiple,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(|| counts("disabled_count")),
        Operation::new(
            Post,
            "/api/keys/enable-multiple",
            "keys",
            "Switch the listed disabled keys back on, as active with no failures (ours)",
            keys::enable_multiple,
        )
        .body(schema::<crate::dto::KeysBody>)
        .data(|| counts("enabled_count")),
        Operation::new(
            Post,
            "/api/keys/restore-all-invalid",
            "keys",
            "Return every invalid key of a group to rotation",
            keys::restore_all_invalid,
        )
        .body(schema::<crate::dto::GroupBody>),
        Operation::new(
            Post,
            "/api/keys/clear-all-invalid",
            "keys",
            "Delete every invalid key of a group",
            keys::clear_all_invalid,
        )
        .body(schema::<crate::dto::GroupBody>),
        Operation::new(
            Post,
            "/api/keys/clear-all",
            "keys",
            "Delete every key of a group",
            keys::clear_all,
        )
        .body(schema::<crate::dto::GroupBody>),
        Operation::new(
            Get,
            "/api/keys/export",
            "keys",
            "Keys as a text file, one a line",
            keys::export,
        )
        .params(KEY_EXPORT)
        .answer(Answer::File("text/plain", "The keys, one a line")),
        Operation::new(
            Put,
            "/api/keys/{id}/notes",
            "keys",
            "Set a key's notes (at most 255 characters)",
            keys::notes,
        )
        .params(&[KEY_ID])
        .body(schema::<crate::dto::NotesBody>),
    ]
}

fn report_operations() -> Vec<Operation> {
    vec![
        Operation::new(
            Get,
            "/api/settings",
            "settings",
            "Every setting with value, default and description, by category",
            settings::list,
        ),
        Operation::new(
            Put,
            "/api/settings",
            "settings",
            "Change settings (partial; validated)",
            settings::update,
        )
        .body(settings::body_schema),
        Operation::new(
            Get,
            "/api/logs",
            "logs",
            "Request logs (one per upstream attempt), newest first; key_value is the key while it exists, masked once deleted",
            logs::list,
        )
        .params(LOG_FILTERS)
        .data(log_page),
        Operation::new(
            Get,
            "/api/logs/export",
            "logs",
            "CSV key_value,group_name,status_code: the latest log of each key (not enveloped)",
            logs::export,
        )
        .params(LOG_FILTERS)
        .answer(Answer::File("text/csv", "key_value,group_name,status_code rows")),
        Operation::new(
            Get,
            "/api/dashboard/stats",
            "dashboard",
            "Keys, requests per minute, 24 h requests and error rate with trends, warnings",
            dashboard::stats,
        )
        .data(dashboard_stats),
        Operation::new(
            Get,
            "/api/dashboard/chart",
            "dashboard",
            "Successes and failures of the last 24 hours",
            dashboard::chart,
        )
        .params(CHART)
        .data(chart),
        Operation::new(
            Get,
            "/api/dashboard/encryption-status",
            "dashboard",
            "Whether the stored keys match ENCRYPTION_KEY",
            dashboard::encryption_status,
        )
        .data(encryption_status),
        Operation::new(
            Get,
            "/api/dashboard/upstreams",
            "dashboard",
            "Every upstream's attempts, failures and latency over the last hour",
            dashboard::upstreams,
        )
        .data(upstream_health),
        Operation::new(
            Get,
            "/api/usage",
            "usage",
            "Requests and tokens by group and model over a period",
            dashboard::usage,
        )
        .params(USAGE)
        .data(usage_report),
    ]
}

/// The public routes outside `/api`.
fn outside_api() -> Vec<Operation> {
    vec![
        Operation::new(
            Get,
            "/proxy/{group}/api/integration/info",
            "integration",
            "The same for one group",
            integration::one,
        )
        .params(GROUP_INFO)
        .public(),
        Operation::new(
            Get,
            "/metrics",
            "meta",
            "Prometheus metrics of the admin process (text format; loopback only)",
            metrics,
        )
        .answer(Answer::File("text/plain", "Prometheus text format 0.0.4"))
        .public(),
        Operation::new(
            Get,
            "/health",
            "meta",
            "Health of the admin process and its database (not enveloped)",
            health,
        )
        .answer(Answer::Json(health_answer))
        .public(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Access;

    #[test]
    fn every_operation_is_listed_once_and_outside_api_only_public_ones() {
        let all = operations();
        let mut seen = std::collections::BTreeSet::new();
        for op in &all {
            assert!(seen.insert(op.route()), "{:?} listed twice", op.route());
            if !op.path.starts_with("/api/") {
                assert_eq!(op.access, Access::Public, "{:?}", op.route());
            }
            for name in op
                .path
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next())
            {
                assert!(
                    op.params.iter().any(|p| p.name == name),
                    "{:?}: path parameter {name} not described",
                    op.route()
                );
            }
        }
        assert!(all.len() > 40, "{}", all.len());
    }
}
