//! The upstream's response header as the client gets it: HTTP/1.1, without the upstream's
//! connection-level headers and those its `Connection` header names, with the attempt's key
//! masked in every value; framed for a body relayed as it arrives or sent complete.

use pingora::Result;
use pingora::http::ResponseHeader;

/// The header for a body we send complete (an error body, a rewritten model list): `h`, made by
/// `for_client`, with `Content-Length` set to `len`.
pub fn complete_header(mut h: ResponseHeader, len: usize) -> Result<ResponseHeader> {
    h.remove_header(&http::header::TRANSFER_ENCODING);
    h.insert_header(http::header::CONTENT_LENGTH, len.to_string())?;
    Ok(h)
}

/// The upstream header adapted for an HTTP/1.1 client, for a body relayed as it arrives: the
/// header of `for_client`, with chunked framing when the upstream gave no length.
pub fn downstream_header(upstream: &ResponseHeader, key: &str) -> Result<ResponseHeader> {
    let mut h = for_client(upstream.clone(), key)?;
    if !h.headers.contains_key(http::header::CONTENT_LENGTH)
        && !h.headers.contains_key(http::header::TRANSFER_ENCODING)
    {
        h.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(h)
}

/// The upstream header as HTTP/1.1 for the client: without its connection-level
/// headers (Pingora writes its own) and those its `Connection` header names (RFC 9110 §7.6.1),
/// and with every occurrence of the attempt's upstream `key` masked, raw or URL-encoded (a
/// redirect's `Location` can carry `?key=…`, an upstream can echo a header).
pub fn for_client(mut h: ResponseHeader, key: &str) -> Result<ResponseHeader> {
    h.set_version(http::Version::HTTP_11);
    let named: Vec<String> = h
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in ["connection", "keep-alive", "proxy-connection"] {
        h.remove_header(name);
    }
    for name in &named {
        h.remove_header(name.as_str());
    }
    mask_key_in_headers(h, key)
}

/// Masks `key` (raw or URL-encoded) in every header value that carries it.
fn mask_key_in_headers(mut h: ResponseHeader, key: &str) -> Result<ResponseHeader> {
    if key.is_empty() {
        return Ok(h);
    }
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let carries = |v: &http::HeaderValue| {
        let v = v.as_bytes();
        memchr::memmem::find(v, key.as_bytes()).is_some()
            || memchr::memmem::find(v, encoded.as_bytes()).is_some()
    };
    let mut names: Vec<http::header::HeaderName> = Vec::new();
    for (name, value) in &h.headers {
        if carries(value) && !names.contains(name) {
            names.push(name.clone());
        }
    }
    for name in names {
        let values: Vec<String> = h
            .headers
            .get_all(&name)
            .iter()
            .map(|v| crate::error::redact(&String::from_utf8_lossy(v.as_bytes()), key))
            .collect();
        h.remove_header(&name);
        for value in values {
            h.append_header(name.clone(), value)?;
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers_go_and_the_key_is_masked_raw_and_encoded() {
        let key = "AIza/secret+key=0123";
        let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        let mut up = ResponseHeader::build(302, None).unwrap();
        up.insert_header("connection", "keep-alive, x-hop").unwrap();
        up.insert_header("x-hop", "1").unwrap();
        up.insert_header("keep-alive", "timeout=5").unwrap();
        up.insert_header("location", format!("https://x/v1?key={encoded}"))
            .unwrap();
        up.append_header("x-echo", key).unwrap();
        let h = for_client(up, key).unwrap();
        for gone in ["connection", "x-hop", "keep-alive"] {
            assert!(h.headers.get(gone).is_none(), "{gone}");
        }
        let location = h.headers.get("location").unwrap().to_str().unwrap();
        assert_eq!(location, "https://x/v1?key=AIza****0123");
        assert_eq!(h.headers.get("x-echo").unwrap(), "AIza****0123");
    }

    #[test]
    fn a_relayed_body_without_length_is_chunked_and_a_complete_one_has_its_length() {
        let up = ResponseHeader::build(200, None).unwrap();
        let relayed = downstream_header(&up, "k").unwrap();
        assert_eq!(relayed.headers.get("transfer-encoding").unwrap(), "chunked");
        let complete = complete_header(relayed, 12).unwrap();
        assert!(complete.headers.get("transfer-encoding").is_none());
        assert_eq!(complete.headers.get("content-length").unwrap(), "12");
    }
}
