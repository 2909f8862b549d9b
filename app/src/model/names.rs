//! Stream and series names: what a name may be, checked once, and lists of them.

use super::*;

/// The longest stream or series name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// The most streams one connection (`/api/events?streams=`), one page (`/?streams=`) or one
/// composite `Last-Event-ID` may name, whatever the configuration says: the configured
/// `limits.max-streams-per-connection` is checked against it at start-up.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;

/// Why a name was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        len: usize,
    },
    BadChar {
        ch: char,
        index: usize,
    },
    /// `.` or `..`: a path segment that means something else in every URL and file path.
    Dots,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(
                f,
                "name is empty (1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -)"
            ),
            NameError::TooLong { len } => {
                write!(
                    f,
                    "name is {len} characters long; at most {MAX_NAME_LEN} are allowed"
                )
            }
            NameError::BadChar { ch, index } => write!(
                f,
                "character {ch:?} at position {index} is not allowed (only A-Z a-z 0-9 _ . -)"
            ),
            NameError::Dots => write!(
                f,
                "`.` and `..` are not names: they mean this and the parent path segment"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks `[A-Za-z0-9_.-]{1,64}`. Names are rejected, never escaped, so that a name is the
/// same string in a URL, a log line, a metric label and the UI.
fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong { len });
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        Some((index, ch)) => Err(NameError::BadChar { ch, index }),
        None if matches!(name, "." | "..") => Err(NameError::Dots),
        None => Ok(()),
    }
}

/// A comma-separated list of stream names (`?streams=a,b`): each valid, none twice, at most
/// `max` of them. Blank items are skipped. Checked in time linear in the input, and refused
/// before any name is parsed when the text is longer than `max` names could be; the error
/// says which item is wrong and why.
pub fn parse_stream_list(raw: &str, max: usize) -> Result<Vec<StreamName>, String> {
    let too_many = || format!("at most {max} streams may be listed");
    if raw.len() > max.saturating_mul(MAX_NAME_LEN + 2) {
        return Err(too_many());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, part) in raw.split(',').map(str::trim).enumerate() {
        if part.is_empty() {
            continue;
        }
        let name = StreamName::parse(part).map_err(|e| {
            let shown: String = part.chars().take(MAX_NAME_LEN + 1).collect();
            format!("item {} ({shown:?}): {e}", i + 1)
        })?;
        if !seen.insert(name.clone()) {
            return Err(format!("\"{name}\" is listed twice"));
        }
        if out.len() == max {
            return Err(too_many());
        }
        out.push(name);
    }
    Ok(out)
}

/// Defines a validated name type: parsed with [`check_name`], serialized as a plain string,
/// and refused when deserialized from anything else.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(name: &str) -> Result<Self, NameError> {
                check_name(name).map(|()| $name(name.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A validated stream name: `[A-Za-z0-9_.-]{1,64}`.
    StreamName
);
name_type!(
    /// A validated series name: `[A-Za-z0-9_.-]{1,64}`.
    SeriesName
);

impl SeriesName {
    /// The series of points published without one to a stream without series.
    pub fn default_series() -> Self {
        SeriesName(DEFAULT_SERIES.to_owned())
    }
}
