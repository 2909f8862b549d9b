//! The on-disk form of a list of points: compact, exact (a point read back is bit for bit the
//! point written, so its JSON is byte for byte the JSON that was served), and checked on the
//! way in, since a file on disk is input like any other.
//!
//! Layout (little-endian): `u8` version, `u16` count of series names, each as `u8` length and
//! bytes, `u32` count of points, each as `u16` series index, `i64` ts, `f64` value.

use app::model::{Point, SeriesName};

const VERSION: u8 = 1;

/// Encodes points (any number of series, in their order).
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut names: Vec<&SeriesName> = Vec::new();
    let mut index = Vec::with_capacity(points.len());
    for p in points {
        // A batch or a window has a handful of series: a linear search beats a map here.
        let i = match names.iter().position(|n| **n == p.series) {
            Some(i) => i,
            None => {
                names.push(&p.series);
                names.len() - 1
            }
        };
        index.push(i as u16);
    }
    let mut out = Vec::with_capacity(7 + names.len() * 16 + points.len() * 18);
    out.push(VERSION);
    out.extend_from_slice(&(names.len() as u16).to_le_bytes());
    for n in &names {
        out.push(n.as_str().len() as u8);
        out.extend_from_slice(n.as_str().as_bytes());
    }
    out.extend_from_slice(&(points.len() as u32).to_le_bytes());
    for (p, i) in points.iter().zip(index) {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&p.ts.to_le_bytes());
        out.extend_from_slice(&p.value.to_bits().to_le_bytes());
    }
    out
}

/// Decoded points kept as their series names and, per point, an index into them: no copy of
/// a name per point (what recovering millions of retained points would otherwise allocate).
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    pub names: Vec<SeriesName>,
    /// (index into `names`, ts, value), in their order; every index valid, every value finite.
    pub points: Vec<(u16, i64, f64)>,
}

impl Columns {
    pub fn to_points(&self) -> Vec<Point> {
        self.points
            .iter()
            .map(|&(i, ts, value)| Point {
                series: self.names[usize::from(i)].clone(),
                ts,
                value,
            })
            .collect()
    }
}

/// Decodes what [`encode`] wrote; says what is wrong with anything else.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>, String> {
    decode_columns(bytes).map(|c| c.to_points())
}

/// Decodes what [`encode`] wrote, as [`Columns`]; says what is wrong with anything else.
pub fn decode_columns(bytes: &[u8]) -> Result<Columns, String> {
    let mut r = Reader(bytes);
    let version = r.take::<1>()?[0];
    if version != VERSION {
        return Err(format!(
            "points encoded in version {version}, expected {VERSION}"
        ));
    }
    let count = u16::from_le_bytes(r.take()?) as usize;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.take::<1>()?[0] as usize;
        let raw = r.bytes(len)?;
        let name = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| SeriesName::parse(s).ok())
            .ok_or_else(|| format!("series name {raw:?} is not valid"))?;
        names.push(name);
    }
    let count = u32::from_le_bytes(r.take()?) as usize;
    // Each point takes 18 bytes: a count larger than what is left is a lie, not an allocation.
    if count > r.0.len() / 18 {
        return Err(format!(
            "{count} points announced, {} bytes left",
            r.0.len()
        ));
    }
    let mut points = Vec::with_capacity(count);
    for _ in 0..count {
        let i = u16::from_le_bytes(r.take()?);
        if usize::from(i) >= names.len() {
            return Err(format!("series index {i} of {}", names.len()));
        }
        let ts = i64::from_le_bytes(r.take()?);
        let value = f64::from_bits(u64::from_le_bytes(r.take()?));
        if !value.is_finite() {
            return Err(format!("value {value} is not finite"));
        }
        points.push((i, ts, value));
    }
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the last point", r.0.len()));
    }
    Ok(Columns { names, points })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "ends early ({} bytes left, {n} needed)",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn series(s: &str) -> SeriesName {
        SeriesName::parse(s).unwrap()
    }

    #[test]
    fn round_trips_exactly_and_so_does_the_json() {
        let points = vec![
            Point {
                series: series("a"),
                ts: i64::MIN,
                value: -0.0,
            },
            Point {
                series: series("b.c-d_e"),
                ts: 1_763_700_000_123,
                value: 0.1 + 0.2,
            },
            Point {
                series: series("a"),
                ts: i64::MAX,
                value: f64::MAX,
            },
        ];
        let back = decode(&encode(&points)).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&points).unwrap()
        );
        assert_eq!(back[0].value.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn bad_bytes_are_errors_that_say_what() {
        let good = encode(&[Point {
            series: series("a"),
            ts: 1,
            value: 2.0,
        }]);
        assert!(decode(&good[..4]).unwrap_err().contains("ends early"));
        assert!(decode(&good[..good.len() - 1])
            .unwrap_err()
            .contains("points announced"));
        assert!(decode(&[9]).unwrap_err().contains("version 9"));
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode(&extra).unwrap_err().contains("after the last point"));
        // A huge announced count is refused before anything is allocated for it.
        let mut lie = good[..good.len() - 18].to_vec();
        let n = lie.len() - 4;
        lie[n..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lie).unwrap_err().contains("points announced"));
        let mut nan = good.clone();
        let n = nan.len() - 8;
        nan[n..].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert!(decode(&nan).unwrap_err().contains("not finite"));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
