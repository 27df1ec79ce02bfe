//! Which surface a request is for: `/health`, `/proxy/{group}/{rest…}`, or anything else
//! (forwarded to the admin process, as is a group's public `/proxy/{group}/api/integration/info`).

/// The route of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /health`.
    Health,
    /// `/metrics`: not served on the public port (the proxy's metrics have their own listener,
    /// the admin process's stay on its loopback address).
    Metrics,
    /// `/proxy/{group}/{rest}`; `rest` keeps its leading `/` (may be empty).
    Proxy {
        /// Group name.
        group: &'a str,
        /// The path after the group, raw (not decoded).
        rest: &'a str,
    },
    /// Any other path: the admin API or UI.
    Admin,
}

/// Classifies a raw request path.
pub fn route(path: &str) -> Route<'_> {
    if path == "/health" {
        return Route::Health;
    }
    if path == "/metrics" {
        return Route::Metrics;
    }
    match path.strip_prefix("/proxy/") {
        Some(tail) => {
            let (group, rest) = match tail.find('/') {
                Some(i) => (&tail[..i], &tail[i..]),
                None => (tail, ""),
            };
            if rest == "/api/integration/info" {
                return Route::Admin;
            }
            Route::Proxy { group, rest }
        }
        None => Route::Admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/metrics"), Route::Metrics);
        assert_eq!(
            route("/proxy/g1/v1/chat/completions"),
            Route::Proxy {
                group: "g1",
                rest: "/v1/chat/completions"
            }
        );
        assert_eq!(
            route("/proxy/g1"),
            Route::Proxy {
                group: "g1",
                rest: ""
            }
        );
        assert_eq!(
            route("/proxy/"),
            Route::Proxy {
                group: "",
                rest: ""
            }
        );
        assert_eq!(route("/api/groups"), Route::Admin);
        assert_eq!(route("/proxyx"), Route::Admin);
        assert_eq!(route("/proxy/g1/api/integration/info"), Route::Admin);
    }
}
