//! The dense layer of a surface plot: a perceptually uniform colour map, the colour scale of a
//! surface with a large dynamic range, filled contour bands with their boundary lines, and
//! the PNG image that carries them (into a PNG plot directly, into an SVG plot as an embedded
//! `<image>`, so the SVG stays small: one element instead of one rectangle per cell).

use std::fmt::Write as _;

/// Viridis (van der Walt & Smith, matplotlib 2015) at `t ∈ [0, 1]`, linear between its nine
/// samples at `t = k/8`; `t` outside `[0, 1]` is clamped. Its lightness rises monotonically
/// from dark purple to yellow, so darker always means lower, in colour and in grey print.
pub fn viridis(t: f64) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [0x44, 0x01, 0x54],
        [0x47, 0x2D, 0x7B],
        [0x3B, 0x52, 0x8B],
        [0x2C, 0x72, 0x8E],
        [0x21, 0x90, 0x8C],
        [0x27, 0xAD, 0x81],
        [0x5D, 0xC8, 0x63],
        [0xAA, 0xDC, 0x32],
        [0xFD, 0xE7, 0x25],
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |i: usize| (a[i] as f64 + f * (b[i] as f64 - a[i] as f64)).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// Relative luminance (ITU-R BT.709 weights on linearised sRGB) of an sRGB colour, in `[0, 1]`.
pub fn luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

/// The percentile of the sampled values at which the colour scale stops (see [`SurfaceScale`]).
pub const SCALE_TOP_PERCENTILE: f64 = 99.0;

/// The percentile of `f − m` over the samples that sets the scale's offset `δ`
/// (see [`SurfaceScale`]).
pub const SCALE_OFFSET_PERCENTILE: f64 = 10.0;

/// The fewest and the most decades the colour scale spans (see [`SurfaceScale`]).
pub const SCALE_DECADES: (f64, f64) = (1.0, 6.0);

/// The colour scale of a surface `f` (here `Σ L`) whose values may span many orders of
/// magnitude:
///
/// ```text
/// t(f) = log10((f − m + δ)/δ) / log10((top − m + δ)/δ),   clamped to [0, 1],
/// ```
///
/// with `m` the lowest value seen (the sampled grid and the equilibria), `top` the
/// [`SCALE_TOP_PERCENTILE`]th percentile of the sampled values (a few huge values at the edge
/// of a region would otherwise take every colour), and `δ` the
/// [`SCALE_OFFSET_PERCENTILE`]th percentile of `f − m` over the samples, kept between
/// `(top − m)·10⁻⁶` and `(top − m)·10⁻¹` ([`SCALE_DECADES`]). Values of `f − m` well below `δ`
/// are coloured linearly, those above it logarithmically: a surface whose values stay within
/// a decade or two of its lowest (a Rastrigin-like field of wells) gets a nearly linear scale,
/// one whose walls rise a million times above its valleys gets up to six decades, and the
/// valleys keep their colours either way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceScale {
    /// `m`, the lowest value seen.
    pub floor: f64,
    /// `δ`.
    pub offset: f64,
    /// `top`: values above it get the top colour.
    pub top: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    sorted[rank.round() as usize]
}

impl SurfaceScale {
    /// The scale of `samples` (non-finite ones ignored); `lows` are further values that must
    /// fit (the surface at the equilibria, which a grid can miss). A surface that is
    /// constant, or has no finite value, gets `top = m + 1`.
    pub fn new(samples: &[f64], lows: &[f64]) -> Self {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let lowest = sorted
            .first()
            .copied()
            .into_iter()
            .chain(lows.iter().copied().filter(|v| v.is_finite()))
            .fold(f64::INFINITY, f64::min);
        let floor = if lowest.is_finite() { lowest } else { 0.0 };
        let top = if sorted.is_empty() {
            floor
        } else {
            percentile(&sorted, SCALE_TOP_PERCENTILE)
        };
        let span = top - floor;
        if !(span > 0.0 && span.is_finite()) {
            return Self {
                floor,
                offset: 10f64.powf(-SCALE_DECADES.0),
                top: floor + 1.0,
            };
        }
        let low = percentile(&sorted, SCALE_OFFSET_PERCENTILE) - floor;
        let offset = low.clamp(
            span * 10f64.powf(-SCALE_DECADES.1),
            span * 10f64.powf(-SCALE_DECADES.0),
        );
        Self { floor, offset, top }
    }

    fn log_span(&self) -> f64 {
        ((self.top - self.floor + self.offset) / self.offset).log10()
    }

    /// `t(f) ∈ [0, 1]`; `None` for a non-finite `f`.
    pub fn position(&self, f: f64) -> Option<f64> {
        if !f.is_finite() {
            return None;
        }
        let u = (f - self.floor).max(0.0);
        Some((((u + self.offset) / self.offset).log10() / self.log_span()).clamp(0.0, 1.0))
    }

    /// The value `f` at position `t` (the inverse of [`position`](Self::position) on `[0, 1]`).
    pub fn value_at(&self, t: f64) -> f64 {
        self.floor + self.offset * (10f64.powf(t * self.log_span()) - 1.0)
    }

    /// Tick marks for a colour bar, ascending: `(t, f)` at `f = m` and at round values of `f`
    /// near `m + u` for `u` = 1, 2, 5 times the powers of ten from `δ/2` to `top − m` (each
    /// rounded to a multiple of its power of ten).
    pub fn ticks(&self) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, self.floor)];
        let span = self.top - self.floor;
        let lo = (self.offset * 0.5).log10().floor() as i32;
        let hi = span.log10().floor() as i32;
        for k in lo..=hi {
            let unit = 10f64.powi(k);
            for m in [1.0, 2.0, 5.0] {
                let u = m * unit;
                if u < 0.5 * self.offset {
                    continue;
                }
                let value = ((self.floor + u) / unit).round() * unit;
                if value > self.floor && value <= self.top {
                    let t = self.position(value).unwrap_or(0.0);
                    if out.last().is_none_or(|last| t > last.0) {
                        out.push((t, value));
                    }
                }
            }
        }
        out
    }

    /// One line that states the transform, for the colour bar.
    pub fn describe(&self) -> String {
        format!(
            "log scale of Σ L − m + δ, m = {}, δ = {}; above {} (P{}) clipped",
            short_number(self.floor),
            short_number(self.offset),
            short_number(self.top),
            SCALE_TOP_PERCENTILE
        )
    }
}

/// A number in at most about 4 significant digits: `0`, `12.5`, `-3.07`, `1.2e6`, `4e-5`.
pub fn short_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{x:.2e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exp}")
    }
}

/// Number of filled contour bands across the colour scale (5 per decade).
pub const BANDS: usize = 15;

/// The band of a position `t ∈ [0, 1]`: `⌊t · BANDS⌋`, with `t = 1` in the top band.
pub fn band_of(t: f64) -> usize {
    ((t * BANDS as f64).floor().max(0.0) as usize).min(BANDS - 1)
}

/// The colour of band `b`: viridis at the band's centre.
pub fn band_colour(b: usize) -> [u8; 3] {
    viridis((b as f64 + 0.5) / BANDS as f64)
}

/// The colour of cells where the surface is undefined (a loss is NaN or infinite there).
pub const UNDEFINED_COLOUR: [u8; 3] = [205, 205, 205];

/// Values of a surface on a grid of `nx × ny` nodes spanning a box corner to corner, rows from
/// the bottom (`values[j * nx + i]` at `x_i`, `y_j`).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Nodes per row.
    pub nx: usize,
    /// Rows.
    pub ny: usize,
    /// The values, row-major from the bottom row; non-finite where undefined.
    pub values: Vec<f64>,
}

impl Grid {
    /// The surface `f` on `nx × ny` nodes over `[x0, x1] × [y0, y1]` (corners included), rows
    /// evaluated in parallel; the result does not depend on the thread count.
    pub fn sample(
        nx: usize,
        ny: usize,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        f: &(dyn Fn(f64, f64) -> f64 + Sync),
    ) -> Self {
        use rayon::prelude::*;
        let at = |k: usize, n: usize, lo: f64, hi: f64| {
            if n < 2 {
                0.5 * (lo + hi)
            } else {
                lo + (hi - lo) * k as f64 / (n - 1) as f64
            }
        };
        let values = (0..ny)
            .into_par_iter()
            .flat_map_iter(|j| {
                let y = at(j, ny, y0, y1);
                (0..nx).map(move |i| f(at(i, nx, x0, x1), y))
            })
            .collect();
        Self { nx, ny, values }
    }

    /// Bilinear interpolation at fractional node coordinates `(u, v)` (`u ∈ [0, nx − 1]`);
    /// non-finite when any of the four surrounding nodes is.
    pub fn interpolate(&self, u: f64, v: f64) -> f64 {
        let u = u.clamp(0.0, (self.nx - 1) as f64);
        let v = v.clamp(0.0, (self.ny - 1) as f64);
        let (i, j) = (
            (u.floor() as usize).min(self.nx.saturating_sub(2)),
            (v.floor() as usize).min(self.ny.saturating_sub(2)),
        );
        let (fu, fv) = (u - i as f64, v - j as f64);
        let i1 = (i + 1).min(self.nx - 1);
        let j1 = (j + 1).min(self.ny - 1);
        let g = |i: usize, j: usize| self.values[j * self.nx + i];
        let (a, b, c, d) = (g(i, j), g(i1, j), g(i, j1), g(i1, j1));
        if !(a.is_finite() && b.is_finite() && c.is_finite() && d.is_finite()) {
            return f64::NAN;
        }
        (1.0 - fv) * ((1.0 - fu) * a + fu * b) + fv * ((1.0 - fu) * c + fu * d)
    }
}

/// An RGB image, rows from the top.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `3 · width · height` bytes, row-major from the top.
    pub rgb: Vec<u8>,
}

impl Image {
    /// The colour at pixel `(x, y)` (y from the top).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let k = 3 * (y * self.width + x);
        [self.rgb[k], self.rgb[k + 1], self.rgb[k + 2]]
    }

    /// The image as PNG bytes.
    ///
    /// # Errors
    /// The encoder's message (it fails only for an empty image).
    pub fn png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Best);
            let mut writer = enc.write_header().map_err(|e| e.to_string())?;
            writer
                .write_image_data(&self.rgb)
                .map_err(|e| e.to_string())?;
        }
        Ok(out)
    }
}

/// The filled contour image of `grid` at `width × height` pixels (pixel centres mapped
/// linearly onto the grid's box, the top row of pixels at the grid's top row): each pixel gets
/// the colour of its band of `scale`, pixels where the band changes towards the right or
/// downward neighbour are darkened (the contour lines between bands, one pixel wide), and
/// undefined pixels get [`UNDEFINED_COLOUR`].
pub fn contour_image(grid: &Grid, scale: &SurfaceScale, width: usize, height: usize) -> Image {
    let band = |px: usize, py: usize| -> Option<usize> {
        let u = (px as f64 + 0.5) / width as f64 * (grid.nx - 1) as f64;
        let v = (1.0 - (py as f64 + 0.5) / height as f64) * (grid.ny - 1) as f64;
        scale.position(grid.interpolate(u, v)).map(band_of)
    };
    let bands: Vec<Option<usize>> = (0..height)
        .flat_map(|py| (0..width).map(move |px| (px, py)))
        .map(|(px, py)| band(px, py))
        .collect();
    let mut rgb = Vec::with_capacity(3 * width * height);
    for py in 0..height {
        for px in 0..width {
            let here = bands[py * width + px];
            let colour = match here {
                None => UNDEFINED_COLOUR,
                Some(b) => {
                    let right = (px + 1 < width).then(|| bands[py * width + px + 1]);
                    let below = (py + 1 < height).then(|| bands[(py + 1) * width + px]);
                    let edge = [right, below]
                        .into_iter()
                        .flatten()
                        .any(|n| n.is_some_and(|n| n != b));
                    let c = band_colour(b);
                    if edge { darken(c, 0.45) } else { c }
                }
            };
            rgb.extend_from_slice(&colour);
        }
    }
    Image { width, height, rgb }
}

/// `c` mixed with black: `(1 − amount) · c`.
pub fn darken(c: [u8; 3], amount: f64) -> [u8; 3] {
    c.map(|x| (x as f64 * (1.0 - amount)).round() as u8)
}

/// Standard base64 (RFC 4648 §4, with `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Fill colours of placeholder rectangles that [`embed_image`] replaces. Nothing else in a
/// plot uses them.
pub const PLACEHOLDER_COLOURS: [[u8; 3]; 2] = [[0x01, 0x02, 0x03], [0x01, 0x02, 0x04]];

/// Replaces the rectangle filled with `placeholder` in `svg` (as plotters' SVG backend writes
/// it: `<rect … fill="#010203" …/>`) with an `<image>` element carrying `png` at pixel box
/// `(x, y, width, height)`, drawn where the rectangle was in the element order (so markers
/// drawn after it stay on top).
///
/// # Errors
/// When `svg` holds no such rectangle.
pub fn embed_image(
    svg: &str,
    placeholder: [u8; 3],
    png: &[u8],
    (x, y, width, height): (i32, i32, u32, u32),
) -> Result<String, String> {
    let [r, g, b] = placeholder;
    let needle = format!("fill=\"#{r:02X}{g:02X}{b:02X}\"");
    let at = svg
        .find(&needle)
        .ok_or("no placeholder for the raster layer")?;
    let start = svg[..at]
        .rfind("<rect")
        .ok_or("placeholder is not a rect")?;
    let end = at + svg[at..].find("/>").ok_or("unterminated placeholder")? + 2;
    let mut image = String::new();
    let _ = write!(
        image,
        "<image x=\"{x}\" y=\"{y}\" width=\"{width}\" height=\"{height}\" \
         preserveAspectRatio=\"none\" href=\"data:image/png;base64,{}\"/>",
        base64(png)
    );
    Ok(format!("{}{image}{}", &svg[..start], &svg[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_ends_are_the_published_colours_and_lightness_rises() {
        assert_eq!(viridis(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(viridis(1.0), [0xFD, 0xE7, 0x25]);
        assert_eq!(viridis(0.5), [0x21, 0x90, 0x8C]);
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        let lum: Vec<f64> = (0..=200)
            .map(|k| luminance(viridis(k as f64 / 200.0)))
            .collect();
        for w in lum.windows(2) {
            assert!(w[1] >= w[0] - 1e-3, "lightness falls: {w:?}");
        }
        assert!(lum[200] > 10.0 * lum[0]);
        // The bands are distinct colours, darkest first.
        for b in 1..BANDS {
            assert!(luminance(band_colour(b)) > luminance(band_colour(b - 1)));
        }
    }

    #[test]
    fn surface_scale_is_logarithmic_between_the_floor_and_the_percentile() {
        // A valley of 200 samples near 0 and walls rising to 10⁶, plus one huge outlier: the
        // top is the 99th percentile (sample 1089 of 1101), not the outlier; δ the 10th
        // percentile of f − m (sample 110, f = 1.1).
        let mut samples: Vec<f64> = (0..200).map(|k| f64::from(k) * 1e-2).collect();
        samples.extend((1..=900).map(|k| 1e6 * f64::from(k) / 900.0));
        samples.push(1e12);
        samples.push(f64::NAN);
        let s = SurfaceScale::new(&samples, &[-0.5]);
        assert_eq!(s.floor, -0.5);
        assert_eq!(s.top, 1e6 * 890.0 / 900.0);
        assert!((s.offset - (1.1 + 0.5)).abs() < 1e-12, "{}", s.offset);
        assert_eq!(s.position(-0.5), Some(0.0));
        assert_eq!(s.position(-5.0), Some(0.0));
        assert_eq!(s.position(1e12), Some(1.0));
        assert_eq!(s.position(f64::INFINITY), None);
        // Well above δ, each decade of f − m takes the same share of the scale.
        let d = |a: f64, b: f64| s.position(b - 0.5).unwrap() - s.position(a - 0.5).unwrap();
        assert!((d(1e3, 1e4) - d(1e4, 1e5)).abs() < 1e-3);
        assert!((d(1e3, 1e4) - 1.0 / (s.top / s.offset).log10()).abs() < 1e-3);
        for t in [0.0, 0.2, 0.7, 1.0] {
            assert!((s.position(s.value_at(t)).unwrap() - t).abs() < 1e-12);
        }
        let ticks = s.ticks();
        assert_eq!(ticks[0], (0.0, -0.5));
        let values: Vec<f64> = ticks.iter().map(|t| t.1).collect();
        assert_eq!(&values[1..4], &[1.0, 2.0, 5.0]);
        assert!(values.contains(&1e5) && values.contains(&5e5));
        for w in ticks.windows(2) {
            assert!(w[1].0 > w[0].0 && w[1].1 > w[0].1);
        }
    }

    #[test]
    fn a_surface_within_a_decade_of_its_floor_gets_a_nearly_linear_scale() {
        // Uniform values on [18, 200]: δ is capped at a tenth of the range, one decade.
        let samples: Vec<f64> = (0..=1000).map(|k| 18.0 + 0.182 * f64::from(k)).collect();
        let s = SurfaceScale::new(&samples, &[]);
        assert!((s.offset - 0.1 * (s.top - s.floor)).abs() < 1e-9);
        let mid = s.position(0.5 * (s.floor + s.top)).unwrap();
        assert!(mid > 0.6 && mid < 0.8, "{mid}");
        // Ticks are round values of f, not of f − m.
        let values: Vec<f64> = s.ticks().iter().map(|t| t.1).collect();
        assert_eq!(values, vec![18.0, 30.0, 40.0, 70.0, 100.0]);
    }

    #[test]
    fn surface_scale_of_a_constant_or_undefined_surface_is_still_a_scale() {
        let s = SurfaceScale::new(&[2.0; 10], &[]);
        assert_eq!((s.floor, s.top), (2.0, 3.0));
        assert_eq!(s.position(2.0), Some(0.0));
        assert_eq!(s.position(3.0), Some(1.0));
        let s = SurfaceScale::new(&[f64::NAN; 4], &[]);
        assert_eq!((s.floor, s.top), (0.0, 1.0));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(12.5), "12.5");
        assert_eq!(short_number(-3.0712), "-3.071");
        assert_eq!(short_number(1234.0), "1234");
        assert_eq!(short_number(1.2e6), "1.2e6");
        assert_eq!(short_number(4e-5), "4e-5");
        assert_eq!(short_number(0.1), "0.1");
    }

    #[test]
    fn bands_partition_the_unit_interval() {
        assert_eq!(band_of(0.0), 0);
        assert_eq!(band_of(1.0), BANDS - 1);
        assert_eq!(band_of(0.9999), BANDS - 1);
        assert_eq!(band_of(1.0 / BANDS as f64 + 1e-12), 1);
        assert_eq!(band_of(-1.0), 0);
    }

    #[test]
    fn bilinear_interpolation_is_exact_on_planes_and_refuses_undefined_nodes() {
        let g = Grid::sample(5, 4, (0.0, 4.0), (-1.0, 2.0), &|x, y| {
            2.0 * x - 3.0 * y + 1.0
        });
        assert_eq!(g.values.len(), 20);
        assert_eq!(g.values[0], 2.0 * 0.0 + 3.0 + 1.0);
        assert_eq!(g.values[19], 8.0 - 6.0 + 1.0);
        // Node (u, v) is at x = u, y = v − 1.
        for (u, v) in [(0.0, 0.0), (1.25, 2.5), (4.0, 3.0), (3.7, 0.1)] {
            let want = 2.0 * u - 3.0 * (v - 1.0) + 1.0;
            assert!((g.interpolate(u, v) - want).abs() < 1e-12);
        }
        let mut h = g.clone();
        h.values[6] = f64::NAN; // node (1, 1)
        assert!(h.interpolate(0.5, 0.5).is_nan());
        assert!(h.interpolate(1.5, 1.5).is_nan());
        assert!(h.interpolate(2.5, 2.5).is_finite());
    }

    #[test]
    fn contour_image_draws_bands_lines_between_them_and_undefined_cells() {
        // f = x on [0, 1]: the scale puts band boundaries at fixed x; a pixel column where
        // the band changes is darkened, columns inside a band are not.
        let g = Grid::sample(50, 2, (0.0, 1.0), (0.0, 1.0), &|x, _| {
            if x > 0.95 { f64::NAN } else { x }
        });
        let scale = SurfaceScale::new(&g.values, &[]);
        let img = contour_image(&g, &scale, 200, 10);
        assert_eq!(img.rgb.len(), 3 * 200 * 10);
        let row: Vec<[u8; 3]> = (0..200).map(|x| img.pixel(x, 5)).collect();
        let band_pixels = row
            .iter()
            .filter(|c| (0..BANDS).any(|b| band_colour(b) == **c))
            .count();
        let edges = row
            .iter()
            .filter(|c| (0..BANDS).any(|b| darken(band_colour(b), 0.45) == **c))
            .count();
        assert!((5..=BANDS).contains(&edges), "{edges} contour lines");
        assert_eq!(row[199], UNDEFINED_COLOUR);
        // Inside the bands, colours get lighter as f grows.
        let lum: Vec<f64> = row
            .iter()
            .filter(|c| (0..BANDS).any(|b| band_colour(b) == **c))
            .map(|c| luminance(*c))
            .collect();
        assert!(lum.windows(2).all(|w| w[1] >= w[0]));
        assert!(lum[lum.len() - 1] > 2.0 * lum[0], "{lum:?}");
        let undefined = row.iter().filter(|c| **c == UNDEFINED_COLOUR).count();
        assert!((10..=20).contains(&undefined), "{undefined}");
        assert_eq!(band_pixels + edges + undefined, 200);
        let png = img.png().unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xFF, 0xFE, 0xFD]), "//79");
    }

    #[test]
    fn embed_image_replaces_only_the_placeholder() {
        let svg = "<svg><rect x=\"0\" y=\"0\" width=\"9\" height=\"9\" fill=\"#FFFFFF\"/>\n\
                   <rect x=\"5\" y=\"6\" width=\"7\" height=\"8\" opacity=\"1\" fill=\"#010203\" stroke=\"none\"/>\n\
                   <circle cx=\"1\"/></svg>";
        let out = embed_image(svg, PLACEHOLDER_COLOURS[0], b"foo", (5, 6, 7, 8)).unwrap();
        assert!(out.contains("fill=\"#FFFFFF\""));
        assert!(!out.contains("#010203"));
        assert!(out.contains(
            "<image x=\"5\" y=\"6\" width=\"7\" height=\"8\" preserveAspectRatio=\"none\" \
             href=\"data:image/png;base64,Zm9v\"/>"
        ));
        assert!(out.find("<image").unwrap() < out.find("<circle").unwrap());
        assert!(embed_image("<svg></svg>", PLACEHOLDER_COLOURS[0], b"", (0, 0, 1, 1)).is_err());
        assert!(embed_image(svg, PLACEHOLDER_COLOURS[1], b"", (0, 0, 1, 1)).is_err());
    }
}
