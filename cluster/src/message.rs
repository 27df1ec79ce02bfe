//! The messages nodes exchange, as JSON on the one channel: `{"node": "...", "type": ..., ...}`.

use serde::{Deserialize, Serialize};

/// One message between nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterMessage {
    /// The configuration revision moved to `revision`: rebuild when behind.
    Revision {
        /// The `config_revision` value after the change.
        revision: i64,
    },
    /// Keys whose health changed on the sending node.
    KeyHealth {
        /// The new state of each key.
        keys: Vec<KeyHealthNote>,
    },
    /// Upstreams the sending node ejected.
    UpstreamEjected {
        /// Each ejection.
        upstreams: Vec<UpstreamEjection>,
    },
    /// What the sending node admitted under rate limits since its last report (about every
    /// 100 ms): the receivers charge it to their own buckets, so limits hold cluster-wide.
    RateUsage {
        /// Use per group, or per key of a group.
        usage: Vec<UsageNote>,
    },
}

/// A group's or a key's use on the sending node since its last report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageNote {
    /// The group (the scope itself when `key_id` is absent).
    pub group_id: i64,
    /// The key, when this is a key's use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<i64>,
    /// Requests admitted.
    pub requests: u64,
    /// Tokens used.
    pub tokens: u64,
}

/// A key's health as the sending node holds it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHealthNote {
    /// The key's group.
    pub group_id: i64,
    /// The key.
    pub key_id: i64,
    /// Blacklisted.
    pub invalid: bool,
    /// Consecutive failures.
    pub failures: u32,
    /// End of a cool-down, Unix milliseconds (0 = none).
    pub cooling_until_ms: u64,
}

/// An upstream taken out of rotation until a deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamEjection {
    /// The upstream's group.
    pub group_id: i64,
    /// The upstream's base URL as configured.
    pub url: String,
    /// End of the ejection, Unix milliseconds.
    pub ejected_until_ms: u64,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    node: &'a str,
    #[serde(flatten)]
    message: &'a ClusterMessage,
}

#[derive(Deserialize)]
struct Incoming {
    node: String,
    #[serde(flatten)]
    message: ClusterMessage,
}

/// The wire form of `message` from `node`.
pub(crate) fn encode(node: &str, message: &ClusterMessage) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(&Outgoing { node, message }).unwrap_or_default()
}

/// The sender and the message of a payload.
pub(crate) fn decode(payload: &[u8]) -> Result<(String, ClusterMessage), serde_json::Error> {
    let m: Incoming = serde_json::from_slice(payload)?;
    Ok((m.node, m.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_their_sender() {
        let m = ClusterMessage::KeyHealth {
            keys: vec![KeyHealthNote {
                group_id: 3,
                key_id: 9,
                invalid: true,
                failures: 3,
                cooling_until_ms: 0,
            }],
        };
        let wire = encode("node-a", &m);
        let text = String::from_utf8(wire.clone()).unwrap();
        assert!(text.contains(r#""type":"key_health""#), "{text}");
        assert_eq!(decode(&wire).unwrap(), ("node-a".to_owned(), m));
        assert!(decode(br#"{"node":"x","type":"nonsense"}"#).is_err());
        let usage = ClusterMessage::RateUsage {
            usage: vec![UsageNote {
                group_id: 3,
                key_id: None,
                requests: 2,
                tokens: 40,
            }],
        };
        let wire = encode("node-b", &usage);
        assert!(
            !String::from_utf8_lossy(&wire).contains("key_id"),
            "a group's use names no key"
        );
        assert_eq!(decode(&wire).unwrap(), ("node-b".to_owned(), usage));
    }
}
