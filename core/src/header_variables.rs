//! The variables of header rules (`${CLIENT_IP}`, `${GROUP_NAME}`, `${API_KEY}`,
//! `${TIMESTAMP_MS}`, `${TIMESTAMP_S}`), shared by the proxy's forwarded requests and the admin
//! process's validation requests.

/// The values header rules may refer to.
pub struct HeaderVariables<'a> {
    /// `${CLIENT_IP}`.
    pub client_ip: &'a str,
    /// `${GROUP_NAME}`.
    pub group_name: &'a str,
    /// `${API_KEY}`: the upstream key of this attempt.
    pub api_key: &'a str,
    /// `${TIMESTAMP_MS}` (and `${TIMESTAMP_S}` derived from it).
    pub now_ms: u64,
}

impl HeaderVariables<'_> {
    /// `value` with every known `${…}` replaced; unknown ones are left as they are.
    pub fn substitute(&self, value: &str) -> String {
        if !value.contains("${") {
            return value.to_owned();
        }
        value
            .replace("${CLIENT_IP}", self.client_ip)
            .replace("${GROUP_NAME}", self.group_name)
            .replace("${API_KEY}", self.api_key)
            .replace("${TIMESTAMP_MS}", &self.now_ms.to_string())
            .replace("${TIMESTAMP_S}", &(self.now_ms / 1000).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_variables_only() {
        let v = HeaderVariables {
            client_ip: "10.0.0.1",
            group_name: "g",
            api_key: "sk-1",
            now_ms: 1_700_000_000_123,
        };
        assert_eq!(
            v.substitute("${GROUP_NAME}/${CLIENT_IP}/${API_KEY}/${TIMESTAMP_S}/${OTHER}"),
            "g/10.0.0.1/sk-1/1700000000/${OTHER}"
        );
        assert_eq!(v.substitute("plain"), "plain");
    }
}
