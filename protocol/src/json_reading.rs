//! Reading a JSON body field by field, each failure a `ConvertError` that names the field by its
//! path (`messages[2].content[0].image_url`), as the providers' own 400s do.

use serde_json::{Map, Value};

use crate::ConvertError;

/// The body as a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ConvertError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConvertError::malformed("the body must be a JSON object")),
        Err(e) => Err(ConvertError::malformed(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// `value` as an object, or an error naming `path`.
pub(crate) fn object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, ConvertError> {
    value
        .as_object()
        .ok_or_else(|| ConvertError::malformed(format!("{path}: must be an object")))
}

/// `value` as an array, or an error naming `path`.
pub(crate) fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, ConvertError> {
    value
        .as_array()
        .ok_or_else(|| ConvertError::malformed(format!("{path}: must be an array")))
}

/// `value` as text, or an error naming `path`.
pub(crate) fn text<'a>(value: &'a Value, path: &str) -> Result<&'a str, ConvertError> {
    value
        .as_str()
        .ok_or_else(|| ConvertError::malformed(format!("{path}: must be a string")))
}

/// A required text field.
pub(crate) fn required_text<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ConvertError> {
    match map.get(key) {
        Some(v) => text(v, &join(path, key)),
        None => Err(ConvertError::malformed(format!(
            "{}: is required",
            join(path, key)
        ))),
    }
}

/// An optional text field (`null` counts as absent).
pub(crate) fn optional_text<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ConvertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => text(v, &join(path, key)).map(Some),
    }
}

/// An optional number field.
pub(crate) fn optional_f64(
    map: &Map<String, Value>,
    key: &str,
) -> Result<Option<f64>, ConvertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| ConvertError::malformed(format!("{key}: must be a number"))),
    }
}

/// An optional non-negative integer field that fits in `u32`.
pub(crate) fn optional_u32(
    map: &Map<String, Value>,
    key: &str,
) -> Result<Option<u32>, ConvertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ConvertError::malformed(format!("{key}: must be a non-negative integer"))
            }),
    }
}

/// An optional boolean field.
pub(crate) fn optional_bool(
    map: &Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, ConvertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| ConvertError::malformed(format!("{key}: must be true or false"))),
    }
}

/// `path.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Refuses fields other than `known` in `map` at `path`.
pub(crate) fn only_known(
    map: &Map<String, Value>,
    known: &[&str],
    path: &str,
) -> Result<(), ConvertError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ConvertError::malformed(format!(
            "{}: unknown field",
            join(path, k)
        ))),
        None => Ok(()),
    }
}

/// The `error.message` of a provider's error body (Gemini may wrap it in an array), or the body's
/// text when it has none.
pub(crate) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get(0).unwrap_or(&v);
            error["error"]["message"].as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}
