//! Users and their passwords (argon2id, verified off the async runtime: it is slow on purpose).

use std::sync::OnceLock;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use store::{Principal, StoreError};

use crate::db::{is_unique_violation, to_store_error};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

pub(crate) struct UserRecord {
    pub info: UserInfo,
    password_hash: String,
}

/// 1-64 characters of `[A-Za-z0-9._@+-]`, not starting with a dot: safe as a URL segment
/// and as a mail address local part.
pub(crate) fn validate_name(name: &str) -> Result<(), StoreError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(StoreError::Rejected(format!("invalid user name {name:?}: use 1-64 of A-Z a-z 0-9 . _ @ + -")))
    }
}

pub(crate) async fn hash_password(password: String) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::internal(e.to_string()))
    })
    .await
    .map_err(StoreError::internal)?
}

/// Checks the password; an unknown user costs the same as a wrong password, so response time
/// does not tell which user names exist.
pub(crate) async fn verify(record: Option<UserRecord>, password: String) -> Result<UserInfo, StoreError> {
    tokio::task::spawn_blocking(move || {
        let hash = record.as_ref().map(|r| r.password_hash.as_str()).unwrap_or_else(|| dummy_hash());
        let parsed = PasswordHash::new(hash).map_err(|e| StoreError::internal(e.to_string()))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        match (record, matches) {
            (Some(record), true) => Ok(record.info),
            _ => Err(StoreError::Unauthenticated),
        }
    })
    .await
    .map_err(StoreError::internal)?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no user has this password", &salt)
            .map(|h| h.to_string())
            // A fixed valid PHC string: only timing, never a login, depends on it.
            .unwrap_or_else(|_| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$2k6Ilx7S8JrNpm1mQ2mLmaVVFfN9FB0P7bCb0i5Pp8M".into()
            })
    })
}

pub(crate) fn find(conn: &Connection, name: &str) -> Result<Option<UserRecord>, StoreError> {
    conn.query_row("SELECT name, display_name, email, password_hash FROM users WHERE name = ?1", [name], |row| {
        Ok(UserRecord {
            info: UserInfo { name: row.get(0)?, display_name: row.get(1)?, email: row.get(2)? },
            password_hash: row.get(3)?,
        })
    })
    .optional()
    .map_err(to_store_error)
}

/// The user as the DAV layer shows them. Without a stored address they are known by
/// [`store::mail_address::login_address`] at `mail_domain`, the same rule as on JMAP.
pub(crate) fn principal(info: UserInfo, mail_domain: &str) -> Principal {
    let email = info.email.or_else(|| store::mail_address::login_address(&info.name, mail_domain));
    Principal { display_name: info.display_name.unwrap_or_else(|| info.name.clone()), email, user: info.name }
}

/// The user whose calendar user address is `address` (bare, compared ignoring ASCII case),
/// for scheduling between users (RFC 6638 §3). A stored address wins over one made from a
/// name, so an operator can give a user the address another name would have made.
pub(crate) fn by_address(conn: &Connection, address: &str, mail_domain: &str) -> Result<Option<Principal>, StoreError> {
    // A made-up address is the name itself or the name at the domain, possibly as a
    // quoted local part: those are the names that can match; each is checked by the rule.
    let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
    let local = unquote(local);
    let mut statement = conn
        .prepare_cached(
            "SELECT name, display_name, email FROM users
             WHERE email = ?1 COLLATE NOCASE
                OR (email IS NULL AND (name = ?1 COLLATE NOCASE OR name = ?2 COLLATE NOCASE))
             ORDER BY email IS NULL, name",
        )
        .map_err(to_store_error)?;
    let rows = statement
        .query_map(params![address, local], |row| {
            Ok(UserInfo { name: row.get(0)?, display_name: row.get(1)?, email: row.get(2)? })
        })
        .map_err(to_store_error)?;
    for row in rows {
        let principal = principal(row.map_err(to_store_error)?, mail_domain);
        if principal.email.as_deref().is_some_and(|email| email.eq_ignore_ascii_case(address)) {
            return Ok(Some(principal));
        }
    }
    Ok(None)
}

/// The content of an RFC 5322 §3.2.4 quoted local part (`"a b"` is `a b`); others as they are.
fn unquote(local: &str) -> String {
    let Some(inner) = local.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) else {
        return local.to_owned();
    };
    let mut unquoted = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        unquoted.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
    }
    unquoted
}

pub(crate) fn insert(
    tx: &Transaction<'_>,
    name: &str,
    hash: &str,
    display_name: Option<&str>,
    email: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO users (name, display_name, email, password_hash) VALUES (?1, ?2, ?3, ?4)",
        params![name, display_name, email, hash],
    )
    .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { to_store_error(e) })?;
    Ok(())
}

pub(crate) fn set_password(tx: &Transaction<'_>, name: &str, hash: &str) -> Result<(), StoreError> {
    let changed = tx
        .execute("UPDATE users SET password_hash = ?2 WHERE name = ?1", params![name, hash])
        .map_err(to_store_error)?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn delete(tx: &Transaction<'_>, name: &str) -> Result<(), StoreError> {
    let changed = tx.execute("DELETE FROM users WHERE name = ?1", [name]).map_err(to_store_error)?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<UserInfo>, StoreError> {
    let mut statement =
        conn.prepare("SELECT name, display_name, email FROM users ORDER BY name").map_err(to_store_error)?;
    let rows = statement
        .query_map([], |row| Ok(UserInfo { name: row.get(0)?, display_name: row.get(1)?, email: row.get(2)? }))
        .map_err(to_store_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(to_store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_local_parts_are_unquoted() {
        assert_eq!(unquote("alice"), "alice");
        assert_eq!(unquote("\".x\""), ".x");
        assert_eq!(unquote("\"a\\\"b\\\\c\""), "a\"b\\c");
    }

    #[test]
    fn user_names_are_url_and_mail_safe() {
        for good in ["alice", "a.b", "a@b.example", "x+y", "A-1_z"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
