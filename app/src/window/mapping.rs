//! Where the plotting area of a drawn frame is, and the mapping between data and screen:
//! overflow-free for any range.

/// Where the plotting area of the last drawn frame sits on screen (CSS pixels) and which data
/// ranges it shows: enough to map the mouse to a point and a point back to the screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapping {
    pub x_px: (f64, f64),
    pub y_px: (f64, f64),
    pub t: (f64, f64),
    pub v: (f64, f64),
}

impl Mapping {
    /// The timestamp under screen x.
    pub fn ts_at(&self, x: f64) -> f64 {
        lerp(self.t, fraction(x, self.x_px))
    }

    /// The value under screen y.
    pub fn value_at(&self, y: f64) -> f64 {
        // Screen y grows downwards: the top of the area shows the largest value.
        lerp(self.v, 1.0 - fraction(y, self.y_px))
    }

    /// The screen position of a point.
    pub fn to_screen(&self, ts: i64, value: f64) -> (f64, f64) {
        let fx = fraction(ts as f64, self.t);
        let fy = fraction(value, self.v);
        (lerp(self.x_px, fx), lerp((self.y_px.1, self.y_px.0), fy))
    }
}

/// Where `x` lies between `a` (0) and `b` (1); the middle when they are equal. Halves are
/// subtracted so that ranges as wide as ±1e308 do not overflow.
fn fraction(x: f64, (a, b): (f64, f64)) -> f64 {
    let span = b / 2.0 - a / 2.0;
    if span == 0.0 || !span.is_finite() {
        return 0.5;
    }
    (x / 2.0 - a / 2.0) / span
}

/// The point at fraction `f` from `a` to `b`, without overflowing for any finite pair.
fn lerp((a, b): (f64, f64), f: f64) -> f64 {
    a + f * (b / 2.0 - a / 2.0) * 2.0
}
