//! Parsed identity values: a service never sees an invalid one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Platform,
    Coordinator,
    Agency,
    Producer,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Platform => "platform",
            OrgKind::Coordinator => "coordinator",
            OrgKind::Agency => "agency",
            OrgKind::Producer => "producer",
        }
    }
    pub fn parse(s: &str) -> AppResult<Self> {
        match s {
            "platform" => Ok(OrgKind::Platform),
            "coordinator" => Ok(OrgKind::Coordinator),
            "agency" => Ok(OrgKind::Agency),
            "producer" => Ok(OrgKind::Producer),
            other => Err(AppError::Unexpected(anyhow::anyhow!("unknown organisation kind in database: {other}"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    pub fn parse(s: &str) -> AppResult<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(AppError::Unexpected(anyhow::anyhow!("unknown role in database: {other}"))),
        }
    }
}

/// A mail address, trimmed and lower-cased, so one person cannot hold two accounts by case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.len() > 254 {
            return Err("is longer than 254 characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("is not a mail address");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c == '@') || !domain_ok {
            return Err("is not a mail address");
        }
        Ok(Email(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least 10 characters (not bytes, so 10 Chinese characters do), at most 256.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;

impl Password {
    pub fn parse(raw: &str) -> AppResult<Password> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(AppError::invalid_field(
                "weak_password",
                "password",
                format!("must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > 256 {
            return Err(AppError::invalid_field("validation_failed", "password", "must have at most 256 characters"));
        }
        Ok(Password(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_and_reject_junk() {
        assert_eq!(Email::parse("  Li.Ming@HZ.gov.cn ").unwrap().as_str(), "li.ming@hz.gov.cn");
        for bad in ["", "no-at", "@x.cn", "a@", "a@b", "a b@c.cn", "a@b..cn", "a@.b.cn", "a@b@c.cn"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("黔西南州普安县红茶合作社").is_ok());
        let err = Password::parse("123456789").unwrap_err();
        assert_eq!(err.code(), Some("weak_password"));
        assert_eq!(Password::parse(&"x".repeat(257)).unwrap_err().code(), Some("validation_failed"));
        assert!(!format!("{:?}", Password::parse("secret-password-1").unwrap()).contains("secret"));
    }
}
