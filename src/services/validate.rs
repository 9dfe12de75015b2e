//! Input checks that give a person a message they can act on.

use crate::error::{AppError, AppResult};

/// Trims `value` and checks it is non-empty and at most `max_chars` characters.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(format!("{field} must not be empty")));
    }
    let length = value.chars().count();
    if length > max_chars {
        return Err(AppError::bad_input(format!("{field} is too long ({length} characters; at most {max_chars})")));
    }
    Ok(value.to_owned())
}

/// Like [`required_text`], but an absent or blank value means "none".
pub fn optional_text(field: &str, value: Option<&str>, max_chars: usize) -> AppResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => required_text(field, value, max_chars).map(Some),
        None => Ok(None),
    }
}

/// Checks a number lies in `0.0..=1.0`.
pub fn unit_interval(field: &str, value: f64) -> AppResult<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::bad_input(format!("{field} must be between 0 and 1 (got {value})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(required_text("title", "  hi ", 5).unwrap(), "hi");
        assert!(required_text("title", "   ", 5).is_err());
        assert_eq!(required_text("title", "日本語です", 5).unwrap(), "日本語です");
        let err = required_text("title", "日本語ですね", 5).unwrap_err();
        assert_eq!(err.to_string(), "title is too long (6 characters; at most 5)");
        assert_eq!(optional_text("title", Some("  "), 5).unwrap(), None);
    }
}
