//! Reading the request headers that choose a file's representation: `Accept-Encoding`,
//! `If-None-Match` and `Range`. Pure functions over header values; the answers are built in
//! `site::respond`.

/// The forms a file may be sent in, best first when a client accepts several equally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

impl Coding {
    /// The `Content-Encoding` value (none for identity).
    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Br => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }

    /// What tells this representation's ETag apart from the others of the same file.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Br => "-br",
            Coding::Gzip => "-gz",
            Coding::Identity => "",
        }
    }
}

/// A weight as RFC 9110 writes it: `0`, `0.` and up to three digits, `1`, or `1.` and up to
/// three zeros.
fn qvalue(text: &str) -> Option<f32> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = fraction.len() <= 3 && fraction.bytes().all(|b| b.is_ascii_digit());
    match whole {
        "0" if digits => Some(format!("0.{fraction}0").parse().ok()?),
        "1" if digits && fraction.bytes().all(|b| b == b'0') => Some(1.0),
        _ => None,
    }
}

/// The form to send, given the client's `Accept-Encoding` (all its values) and whether the
/// file has a brotli and a gzip form: the highest `q` the client gives one it may have, brotli
/// before gzip on a tie. Identity when nothing else fits (even if the client refused it: a
/// readable answer beats a 406).
pub fn choose_coding<'a>(
    accept_encoding: impl Iterator<Item = &'a str>,
    has_br: bool,
    has_gzip: bool,
) -> Coding {
    let (mut br, mut gzip, mut star) = (None::<f32>, None::<f32>, None::<f32>);
    for item in accept_encoding.flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = match parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .map(qvalue)
            .next()
        {
            None => 1.0,
            Some(Some(q)) => q,
            // Not a qvalue (`NaN`, `2`, `0.5x`): the item says nothing.
            Some(None) => continue,
        };
        match name.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = if has_br {
        br.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    let gzip = if has_gzip {
        gzip.or(star).unwrap_or(0.0)
    } else {
        0.0
    };
    if br > 0.0 && br >= gzip {
        Coding::Br
    } else if gzip > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Whether `If-None-Match` (all its values) names `etag` (quoted, as sent) or is `*`: weak
/// comparison, as RFC 9110 asks for this header.
pub fn none_match<'a>(if_none_match: impl Iterator<Item = &'a str>, etag: &str) -> bool {
    if_none_match.flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsk {
    /// The whole file: no header, one this server does not do (several ranges, another unit)
    /// or a malformed one, which RFC 9110 lets a server ignore.
    Whole,
    /// Bytes `start..end` (end exclusive), within the file.
    Part { start: u64, end: u64 },
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

/// Reads one `bytes=` range: `a-b`, `a-` or `-n` (the last `n` bytes).
pub fn range(value: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (number(first), number(last), last.trim().is_empty()) {
        // The last n bytes.
        (None, Some(n), _) if first.trim().is_empty() => {
            if n == 0 || len == 0 {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part {
                    start: len.saturating_sub(n),
                    end: len,
                }
            }
        }
        (Some(start), None, true) if start < len => RangeAsk::Part { start, end: len },
        (Some(start), Some(last), _) if start <= last => {
            if start < len {
                RangeAsk::Part {
                    start,
                    end: last.saturating_add(1).min(len),
                }
            } else {
                RangeAsk::Unsatisfiable
            }
        }
        (Some(_), None, true) => RangeAsk::Unsatisfiable,
        _ => RangeAsk::Whole,
    }
}
