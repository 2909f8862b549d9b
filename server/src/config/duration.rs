//! Durations in the configuration: `"90s"`, `"15m"`, `"1h"`, `"7d"`, `"250ms"`, or a whole
//! number of milliseconds.

use serde::{Deserialize, Deserializer};

/// A duration in whole milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration(pub u64);

impl Duration {
    pub fn ms(self) -> u64 {
        self.0
    }

    /// Reads `NUMBER UNIT` (`ms`, `s`, `m`, `h`, `d`) or a bare number of milliseconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let bad = || {
            format!(
                "{:?} is not a duration: expected a whole number with a unit (ms, s, m, h, d), \
                 e.g. \"90s\" or \"1h\"",
                text.chars().take(40).collect::<String>()
            )
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        let scale: u64 = match unit.trim() {
            "" | "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        n.checked_mul(scale).map(Duration).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Ms(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Ms(n) => Ok(Duration(n)),
            Raw::Text(t) => Duration::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn units_and_bad_input() {
        for (text, ms) in [
            ("1h", 3_600_000),
            ("90s", 90_000),
            ("15m", 900_000),
            ("250ms", 250),
            ("2500", 2500),
            ("7d", 604_800_000),
            (" 5 s ", 5000),
        ] {
            assert_eq!(Duration::parse(text), Ok(Duration(ms)), "{text}");
        }
        for bad in ["", "h", "1.5h", "-1h", "1w", "99999999999999999999d"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }
}
