//! Parsing of pasted key lists (`keys_text`).

/// Splits `keys_text` as GPT-Load does: a JSON array of strings when the whole text is one,
/// otherwise on whitespace, commas and semicolons. Trimmed, empties dropped, order kept.
pub fn parse_keys(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed)
        && !list.is_empty()
    {
        return list
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
    }
    trimmed
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_json() {
        assert_eq!(parse_keys(" a,b;c\nd\t e ,,"), ["a", "b", "c", "d", "e"]);
        assert_eq!(parse_keys(r#"["x", " y "]"#), ["x", "y"]);
        assert!(parse_keys("  ").is_empty());
    }
}
