//! Checks every domain's body parsing shares: names, optional free texts, a value from a fixed
//! list, PATCH fields that may be set to null. Each reports in the API's problem terms.

use serde::{Deserialize, Deserializer};

use crate::error::{AppError, AppResult, Violations};

/// A display name: trimmed, 1 to `max` characters, no control characters.
pub fn parse_name(raw: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("must have at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_owned())
}

/// A required text checked as [`parse_name`]; a refusal is added to `v` under `field`.
pub fn required_text(v: &mut Violations, field: &str, value: &str, max: usize) -> String {
    match parse_name(value, max) {
        Ok(s) => s,
        Err(m) => {
            v.add(field, m);
            String::new()
        }
    }
}

/// An optional free text of at most `max` characters; blank reads as absent.
pub fn optional_text(v: &mut Violations, field: &str, value: Option<String>, max: usize) -> Option<String> {
    let value = value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
    if value.chars().count() > max {
        v.add(field, format!("must have at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        v.add(field, "must not contain control characters");
    }
    Some(value)
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`) in a PATCH body.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A filter that must be one of `allowed` when given (422 `validation_failed` naming `field`).
pub fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> AppResult<()> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(not_one_of(field, allowed)),
        _ => Ok(()),
    }
}

/// 422 `validation_failed`: `field` must be one of `allowed`.
pub fn not_one_of(field: &str, allowed: &[&str]) -> AppError {
    AppError::invalid_field("validation_failed", field, format!("must be one of {}", allowed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  惠州市教育局 ", 10).unwrap(), "惠州市教育局");
        assert!(parse_name("   ", 10).is_err());
        assert!(parse_name("一二三四五六七八九十十", 10).is_err());
        assert!(parse_name("a\u{7}b", 10).is_err());
    }
}
