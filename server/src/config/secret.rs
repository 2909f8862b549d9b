//! Tokens in the configuration: compared in constant time, never printed.

use serde::Deserialize;

/// A token: compared in constant time, never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(token: &str) -> Self {
        Secret(token.to_owned())
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    /// The secret itself, for handing to a client library (never to a log).
    pub fn expose(&self) -> String {
        self.0.clone()
    }

    /// Whether `given` is this token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    pub(super) fn problem(&self) -> Option<&'static str> {
        let t = &self.0;
        if t.is_empty() {
            None
        } else if t.len() < 16 || t.len() > 512 {
            Some("must be 16 to 512 characters long")
        } else if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+/=-".contains(&b))
        {
            Some("may only use letters, digits and . _ ~ + / = -")
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() {
            "Secret(***)"
        } else {
            "Secret(unset)"
        })
    }
}
