//! The picture of a two-parameter map: the surface `Σ L` as filled contours with a colour bar
//! and the equilibria marked by Morse index (left), and the basin map, each start coloured by
//! the equilibrium its B-flow reached (right). Legends are drawn with the very functions that
//! draw the plot's symbols, so they match.
//!
//! The contour layer is one raster image: drawn into a PNG directly, embedded in an SVG as a
//! base64 PNG `<image>` (a few hundred kB at most, where one `<rect>` per cell took megabytes);
//! axes, markers and text stay vector. Text uses the DejaVu Sans font embedded in the binary.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::CliError;
use crate::report::MapContext;
use crate::report::raster::{
    BANDS, Grid, Image, PLACEHOLDER_COLOURS, SurfaceScale, UNDEFINED_COLOUR, band_colour,
    contour_image, darken, embed_image, short_number,
};
use bflow::map::{EquilibriumMap, Kind, Outcome};

/// Nodes per side of the grid on which `Σ L` is evaluated (the image interpolates between).
const GRID_NODES: usize = 241;

/// At most this many equilibria get their `#` written beside their marker.
pub(super) const MAX_LABELS: usize = 40;

/// How a plot file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Svg,
    Png,
}

pub(super) fn format_of(path: &Path) -> Format {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        Format::Svg
    } else {
        Format::Png
    }
}

pub(super) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// The symbol of an equilibrium by its classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Morse {
    /// Morse index 0.
    Minimum,
    /// Index k with 0 < k < n.
    Saddle(usize),
    /// Index n.
    Maximum,
    /// A zero eigenvalue: the second-order test cannot decide.
    Degenerate,
}

impl Morse {
    pub(super) fn of(e: &bflow::map::Equilibrium) -> Self {
        match e.classification.kind {
            Kind::Minimum => Morse::Minimum,
            Kind::Saddle => Morse::Saddle(e.classification.morse_index),
            Kind::Maximum => Morse::Maximum,
            Kind::Degenerate => Morse::Degenerate,
        }
    }

    pub(super) fn name(self, n: usize) -> String {
        match self {
            Morse::Minimum => "minimum".into(),
            Morse::Saddle(k) => format!("index-{k} saddle"),
            Morse::Maximum if n == 2 => "maximum".into(),
            Morse::Maximum => format!("maximum (index {n})"),
            Morse::Degenerate => "degenerate (zero eigenvalue)".into(),
        }
    }
}

/// Everything drawn as a symbol, in the plot and in its legend alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Symbol {
    /// An equilibrium's marker.
    Equilibrium(Morse),
    /// A filled dot (a start in the basin map).
    Dot(RGBColor),
    /// A dot with a dark edge, for light colours.
    EdgedDot(RGBColor),
    /// A cross (a diverged start).
    Cross(RGBColor),
    /// A ring (where an equilibrium of a colour is).
    Ring(RGBColor),
    /// A square patch of colour.
    Swatch(RGBColor),
    /// An open circle on a line (a saddle leading out of a disconnectivity graph).
    Open,
    /// A short horizontal line (a join level of a disconnectivity graph).
    Level,
}

/// The colour of a start whose B-flow ended at a point of this kind (when there are too many
/// equilibria for a colour each).
fn morse_colour(m: Morse) -> RGBColor {
    match m {
        Morse::Minimum => RGBColor(31, 119, 180),
        Morse::Saddle(1) => SADDLE_RED,
        Morse::Saddle(_) => HIGH_SADDLE_PINK,
        Morse::Maximum => MAX_ORANGE,
        Morse::Degenerate => RGBColor(148, 103, 189),
    }
}

const SADDLE_RED: RGBColor = RGBColor(228, 26, 28);
const MAX_ORANGE: RGBColor = RGBColor(255, 127, 0);
const HIGH_SADDLE_PINK: RGBColor = RGBColor(231, 41, 138);

/// Draws `symbol` centred at pixel `at` of `area` (`scale` 1 is the plot's size).
pub(super) fn draw_symbol<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    symbol: Symbol,
    (x, y): (i32, i32),
    dot_radius: i32,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let edge = BLACK.stroke_width(1);
    match symbol {
        Symbol::Equilibrium(Morse::Minimum) => {
            area.draw(&Circle::new((x, y), 6, WHITE.filled()))
                .map_err(err)?;
            area.draw(&Circle::new((x, y), 6, edge)).map_err(err)?;
        }
        Symbol::Equilibrium(Morse::Saddle(1)) => {
            let tri = vec![(x, y - 8), (x + 7, y + 5), (x - 7, y + 5)];
            area.draw(&Polygon::new(tri.clone(), SADDLE_RED.filled()))
                .map_err(err)?;
            let mut closed = tri;
            closed.push(closed[0]);
            area.draw(&PathElement::new(closed, edge)).map_err(err)?;
        }
        Symbol::Equilibrium(Morse::Saddle(_)) => {
            let dia = vec![(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y)];
            area.draw(&Polygon::new(dia.clone(), HIGH_SADDLE_PINK.filled()))
                .map_err(err)?;
            let mut closed = dia;
            closed.push(closed[0]);
            area.draw(&PathElement::new(closed, edge)).map_err(err)?;
        }
        Symbol::Equilibrium(Morse::Maximum) => {
            let r = [(x - 6, y - 6), (x + 6, y + 6)];
            area.draw(&Rectangle::new(r, MAX_ORANGE.filled()))
                .map_err(err)?;
            area.draw(&Rectangle::new(r, edge)).map_err(err)?;
        }
        Symbol::Equilibrium(Morse::Degenerate) => {
            for (w, c) in [(5, WHITE), (2, BLACK)] {
                for (dx, dy) in [(6, 6), (6, -6)] {
                    area.draw(&PathElement::new(
                        vec![(x - dx, y - dy), (x + dx, y + dy)],
                        c.stroke_width(w),
                    ))
                    .map_err(err)?;
                }
            }
        }
        Symbol::Dot(c) => area
            .draw(&Circle::new((x, y), dot_radius, c.filled()))
            .map_err(err)?,
        Symbol::EdgedDot(c) => {
            area.draw(&Circle::new((x, y), dot_radius, c.filled()))
                .map_err(err)?;
            area.draw(&Circle::new(
                (x, y),
                dot_radius,
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(err)?;
        }
        Symbol::Cross(c) => {
            let d = dot_radius + 1;
            for (dx, dy) in [(d, d), (d, -d)] {
                area.draw(&PathElement::new(
                    vec![(x - dx, y - dy), (x + dx, y + dy)],
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            }
        }
        Symbol::Ring(c) => area
            .draw(&Circle::new((x, y), 10, c.stroke_width(3)))
            .map_err(err)?,
        Symbol::Swatch(c) => {
            let r = [(x - 7, y - 6), (x + 7, y + 6)];
            area.draw(&Rectangle::new(r, c.filled())).map_err(err)?;
            area.draw(&Rectangle::new(r, RGBColor(90, 90, 90).stroke_width(1)))
                .map_err(err)?;
        }
        Symbol::Level => area
            .draw(&PathElement::new(
                vec![(x - 8, y), (x + 8, y)],
                BLACK.stroke_width(2),
            ))
            .map_err(err)?,
        Symbol::Open => {
            area.draw(&Circle::new((x, y), 5, WHITE.filled()))
                .map_err(err)?;
            area.draw(&Circle::new((x, y), 5, BLACK.stroke_width(2)))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Text in the embedded font at `size`, anchored at `(h, v)`.
pub(super) fn text_style(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v))
}

/// Text with a white halo, readable on any colour of the map.
pub(super) fn draw_halo_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
    (x, y): (i32, i32),
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let style = |c: RGBColor| {
        ("sans-serif", size)
            .into_font()
            .color(&c)
            .pos(Pos::new(HPos::Left, VPos::Center))
    };
    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
        area.draw_text(text, &style(WHITE), (x + dx, y + dy))
            .map_err(err)?;
    }
    area.draw_text(text, &style(BLACK), (x, y)).map_err(err)
}

/// One entry of a legend: a symbol and what it means.
pub(super) struct Entry {
    pub symbol: Symbol,
    pub text: String,
}

/// Draws `entries` left to right in `area` from `(x0, y0)`, wrapping to a new line before an
/// entry that would cross the right edge; returns the y below the last line.
pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    (x0, y0): (i32, i32),
    dot_radius: i32,
) -> Result<i32, String> {
    const LINE: i32 = 22;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let font = TextStyle::from(("sans-serif", 14.0).into_font());
    let style = font.clone().pos(Pos::new(HPos::Left, VPos::Center));
    let width = area.dim_in_pixel().0 as i32;
    let (mut x, mut y) = (x0, y0 + LINE / 2);
    for e in entries {
        let w = area.estimate_text_size(&e.text, &font).map_err(err)?.0 as i32 + 24 + 18;
        if x > x0 && x + w > width - 8 {
            x = x0;
            y += LINE;
        }
        draw_symbol(area, e.symbol, (x + 8, y), dot_radius)?;
        area.draw_text(&e.text, &style, (x + 22, y)).map_err(err)?;
        x += w;
    }
    Ok(y + LINE / 2)
}

const PALETTE_SIZE: usize = 12;

/// Tab10-like colours for the basins, repeating after [`PALETTE_SIZE`].
pub(super) fn palette(k: usize) -> RGBColor {
    const P: [(u8, u8, u8); PALETTE_SIZE] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
        (0, 0, 128),
        (128, 0, 0),
        (0, 100, 0),
    ];
    let (r, g, b) = P[k % P.len()];
    RGBColor(r, g, b)
}

/// Writes the two-panel plot of a two-parameter map to `path` (SVG for `.svg`, else PNG).
pub fn plot(
    problem: &bflow::problems::Problem<f64>,
    map: &EquilibriumMap,
    ctx: &MapContext,
    path: &Path,
) -> Result<(), CliError> {
    crate::report::plot::ensure_font();
    let fail = |e: String| CliError::failure(format!("{}: cannot plot: {e}", path.display()));
    let size = (1500, 800);
    match format_of(path) {
        Format::Svg => {
            let mut svg = String::new();
            let raster = {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                let raster = draw(problem, map, ctx, &root, false).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
                raster
            };
            for layer in raster {
                let png = layer.image.png().map_err(fail)?;
                svg = embed_image(&svg, layer.placeholder, &png, layer.frame).map_err(fail)?;
            }
            super::write_file(path, &svg)
        }
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(problem, map, ctx, &root, true).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

/// A raster layer for an SVG: the image, where it goes (`(x, y, width, height)` in pixels)
/// and the placeholder it replaces.
struct Raster {
    image: Image,
    frame: (i32, i32, u32, u32),
    placeholder: [u8; 3],
}

/// Above this many starts, an SVG carries the basin map's dots as one image too: each dot
/// costs about 80 bytes as a vector `<circle>`, so 10⁵ starts would take 8 MB.
const VECTOR_DOTS_MAX: usize = 4000;

fn draw<DB: DrawingBackend>(
    problem: &bflow::problems::Problem<f64>,
    map: &EquilibriumMap,
    ctx: &MapContext,
    root: &DrawingArea<DB, Shift>,
    blit: bool,
) -> Result<Vec<Raster>, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let region = problem.region.clone().ok_or("the problem has no region")?;
    let (xr, yr) = (region[0].0..region[0].1, region[1].0..region[1].1);
    let n = ctx.names.len();
    let (xname, yname) = (ctx.names[0].as_str(), ctx.names[1].as_str());

    let (title, body) = root.split_vertically(44);
    title
        .draw_text(
            &format!("{} — {}", map.problem, crate::report::kind_counts(map, n)),
            &text_style(20.0, HPos::Center, VPos::Center),
            (750, 24),
        )
        .map_err(err)?;
    let (left, right) = body.split_horizontally(800);
    let legend_height = 120;
    let (left_main, left_legend) = left.split_vertically(800 - 44 - legend_height);
    let (right_main, right_legend) = right.split_vertically(800 - 44 - legend_height);
    let (chart_area, _bar_area) = left_main.split_horizontally(650);

    // Left: the surface.
    let mut chart = ChartBuilder::on(&chart_area)
        .caption("Σ L = L_1 + … + L_K: filled contours", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(xr.clone(), yr.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(xname)
        .y_desc(yname)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (w, h) = ((px.end - px.start) as usize, (py.end - py.start) as usize);
    let objectives = problem.objectives.as_ref();
    let grid = Grid::sample(
        GRID_NODES,
        GRID_NODES,
        (xr.start, xr.end),
        (yr.start, yr.end),
        &|x, y| crate::report::loss_sum(objectives, &[x, y]),
    );
    let scale = SurfaceScale::new(&grid.values, &ctx.loss_sums);
    let image = contour_image(&grid, &scale, w, h);
    let undefined = image.rgb.chunks(3).any(|c| c == UNDEFINED_COLOUR);
    if blit {
        let element = BitMapElement::with_owned_buffer(
            (px.start, py.start),
            (w as u32, h as u32),
            image.rgb.clone(),
        )
        .ok_or("raster size mismatch")?;
        root.draw(&element).map_err(err)?;
    } else {
        root.draw(&Rectangle::new(
            [(px.start, py.start), (px.end, py.end)],
            rgb(PLACEHOLDER_COLOURS[0]).filled(),
        ))
        .map_err(err)?;
    }
    root.draw(&Rectangle::new(
        [(px.start, py.start), (px.end, py.end)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    let label_all = map.equilibria.len() <= MAX_LABELS;
    for (k, e) in map.equilibria.iter().enumerate() {
        let at = chart.backend_coord(&(e.point[0], e.point[1]));
        draw_symbol(root, Symbol::Equilibrium(Morse::of(e)), at, 3)?;
        if label_all {
            draw_halo_text(root, &format!("{}", k + 1), 13.0, (at.0 + 8, at.1 - 9))?;
        }
    }
    draw_colour_bar(root, &scale, (px.end + 30, py.start, py.end))?;

    // The legend of the surface: markers by Morse index, then how colour is read.
    let mut kinds: Vec<Morse> = map.equilibria.iter().map(Morse::of).collect();
    kinds.sort();
    kinds.dedup();
    let mut entries: Vec<Entry> = kinds
        .iter()
        .map(|&m| Entry {
            symbol: Symbol::Equilibrium(m),
            text: format!(
                "{} ({})",
                m.name(n),
                map.equilibria.iter().filter(|e| Morse::of(e) == m).count()
            ),
        })
        .collect();
    if entries.is_empty() {
        entries.push(Entry {
            symbol: Symbol::Swatch(WHITE),
            text: "no equilibria found".into(),
        });
    }
    if undefined {
        entries.push(Entry {
            symbol: Symbol::Swatch(rgb(UNDEFINED_COLOUR)),
            text: "Σ L undefined (NaN or ±∞)".into(),
        });
    }
    let y = draw_legend(&left_legend, &entries, (80, 4), 3)?;
    let note = format!(
        "colour: log10(1 + (Σ L − m)/δ), m = {} (lowest Σ L), δ = {} (10th percentile of \
         Σ L − m; linear below δ, logarithmic above); {} bands; above {} (99th percentile) \
         drawn as the top colour",
        short_number(scale.floor),
        short_number(scale.offset),
        BANDS,
        short_number(scale.top),
    );
    draw_wrapped(&left_legend, &note, (80, y + 4), 13.0)?;

    // Right: the basins.
    let mut basins = ChartBuilder::on(&right_main)
        .caption(
            format!(
                "where each start's first search ended ({} starts)",
                map.starts_mapped
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(xr.clone(), yr.clone())
        .map_err(err)?;
    basins
        .configure_mesh()
        .disable_mesh()
        .x_desc(xname)
        .y_desc(yname)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let (bx, by) = basins.plotting_area().get_pixel_range();
    // The starts drawn: all of them, or the first ones of a large map (a prefix of the
    // Halton sequence, spread evenly over the region). Dots about half their spacing, 2 to
    // 6 pixels.
    let records = map.records.as_deref().unwrap_or(&[]);
    let spacing = ((bx.end - bx.start) as f64 * (by.end - by.start) as f64
        / records.len().max(1) as f64)
        .sqrt();
    let dot = ((0.3 * spacing).round() as i32).clamp(2, 6);
    let tol = f64::EPSILON.sqrt() * map.scale;
    let escaped = Symbol::Dot(RGBColor(200, 200, 200));
    let diverged = Symbol::Cross(RGBColor(120, 0, 0));
    let spurious = Symbol::Dot(BLACK);
    let unresolved = Symbol::EdgedDot(WHITE);
    let reached: Vec<usize> = (0..map.equilibria.len())
        .filter(|&k| map.equilibria[k].basin_starts > 0)
        .collect();
    // Up to PALETTE_SIZE equilibria reached: a colour each, ringed where it is. More: colours
    // would repeat and say nothing, so a start is coloured by the kind of point it reached.
    let per_equilibrium = reached.len() <= PALETTE_SIZE;
    let colour_of = |k: usize| {
        if per_equilibrium {
            palette(reached.iter().position(|&r| r == k).unwrap_or(k))
        } else {
            morse_colour(Morse::of(&map.equilibria[k]))
        }
    };
    let symbol_of =
        |r: &bflow::map::StartRecord| match (r.searches[0].outcome, &r.searches[0].point) {
            (Outcome::Equilibrium, Some(p)) => map
                .equilibria
                .iter()
                .position(|e| bflow::real::distance(&e.point, p) <= tol)
                .map_or(unresolved, |k| Symbol::Dot(colour_of(k))),
            (Outcome::Equilibrium, None) | (Outcome::Unresolved, _) => unresolved,
            (Outcome::Spurious, _) => spurious,
            (Outcome::Escaped, _) => escaped,
            (Outcome::Diverged, _) => diverged,
        };
    let (bw, bh) = ((bx.end - bx.start) as u32, (by.end - by.start) as u32);
    let mut dots_layer = None;
    if blit || records.len() <= VECTOR_DOTS_MAX {
        for r in records {
            let at = basins.backend_coord(&(r.start[0], r.start[1]));
            draw_symbol(root, symbol_of(r), at, dot)?;
        }
    } else {
        // The same symbols, drawn by plotters into an RGB buffer, embedded after drawing.
        let mut rgb_buffer = vec![255u8; 3 * (bw * bh) as usize];
        {
            let layer = BitMapBackend::with_buffer(&mut rgb_buffer, (bw, bh)).into_drawing_area();
            for r in records {
                let at = basins.backend_coord(&(r.start[0], r.start[1]));
                draw_symbol(
                    &layer,
                    symbol_of(r),
                    (at.0 - bx.start, at.1 - by.start),
                    dot,
                )?;
            }
            layer.present().map_err(|e| e.to_string())?;
        }
        root.draw(&Rectangle::new(
            [(bx.start, by.start), (bx.end, by.end)],
            rgb(PLACEHOLDER_COLOURS[1]).filled(),
        ))
        .map_err(err)?;
        dots_layer = Some(Raster {
            image: Image {
                width: bw as usize,
                height: bh as usize,
                rgb: rgb_buffer,
            },
            frame: (bx.start, by.start, bw, bh),
            placeholder: PLACEHOLDER_COLOURS[1],
        });
    }
    root.draw(&Rectangle::new(
        [(bx.start, by.start), (bx.end, by.end)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    for (k, e) in map.equilibria.iter().enumerate() {
        let at = basins.backend_coord(&(e.point[0], e.point[1]));
        if per_equilibrium && e.basin_starts > 0 {
            draw_symbol(root, Symbol::Ring(colour_of(k)), at, dot)?;
        }
        draw_symbol(root, Symbol::Equilibrium(Morse::of(e)), at, dot)?;
        if label_all {
            draw_halo_text(root, &format!("{}", k + 1), 13.0, (at.0 + 10, at.1 - 11))?;
        }
    }
    let mut entries: Vec<Entry> = if reached.len() <= 4 {
        reached
            .iter()
            .map(|&k| Entry {
                symbol: Symbol::Dot(colour_of(k)),
                text: format!(
                    "ended at #{} ({:.0}%)",
                    k + 1,
                    100.0 * map.equilibria[k].basin_share
                ),
            })
            .collect()
    } else if per_equilibrium {
        vec![Entry {
            symbol: Symbol::Ring(colour_of(reached[0])),
            text: format!(
                "ended at the equilibrium ringed in the start's colour ({} equilibria)",
                reached.len()
            ),
        }]
    } else {
        let mut kinds: Vec<Morse> = reached
            .iter()
            .map(|&k| Morse::of(&map.equilibria[k]))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
            .into_iter()
            .map(|m| {
                let name = m.name(n);
                let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                Entry {
                    symbol: Symbol::Dot(morse_colour(m)),
                    text: format!("ended at {article} {name}"),
                }
            })
            .collect()
    };
    entries.extend([
        Entry {
            symbol: escaped,
            text: format!("escaped: left the region ({})", map.escaped()),
        },
        Entry {
            symbol: diverged,
            text: format!("diverged: NaN or ∞ ({})", map.diverged()),
        },
        Entry {
            symbol: spurious,
            text: format!(
                "spurious: ended where B > 0 ({})",
                map.params
                    .searchers
                    .first()
                    .and_then(|s| map.outcomes.get(s))
                    .map_or(0, |o| o.spurious)
            ),
        },
        Entry {
            symbol: unresolved,
            text: format!("unresolved: Newton failed ({})", map.unresolved()),
        },
    ]);
    draw_legend(&right_legend, &entries, (80, 4), dot.max(4))?;
    let contours = Raster {
        image,
        frame: (px.start, py.start, w as u32, h as u32),
        placeholder: PLACEHOLDER_COLOURS[0],
    };
    Ok([Some(contours), dots_layer].into_iter().flatten().collect())
}

/// Draws `text` from `(x, y)`, wrapped at word boundaries to the area's width.
pub(super) fn draw_wrapped<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (x, y): (i32, i32),
    size: f64,
) -> Result<i32, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let font = TextStyle::from(("sans-serif", size).into_font());
    let style = font.clone().pos(Pos::new(HPos::Left, VPos::Top));
    let width = area.dim_in_pixel().0 as i32 - x - 8;
    let line_height = (size * 1.35).round() as i32;
    let mut line = String::new();
    let mut y = y;
    for word in text.split(' ') {
        let trial = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && area.estimate_text_size(&trial, &font).map_err(err)?.0 as i32 > width
        {
            area.draw_text(&line, &style, (x, y)).map_err(err)?;
            y += line_height;
            line = word.to_string();
        } else {
            line = trial;
        }
    }
    if !line.is_empty() {
        area.draw_text(&line, &style, (x, y)).map_err(err)?;
        y += line_height;
    }
    Ok(y)
}

/// The colour bar at pixel column `x`, from `top` to `bottom`: the bands with their edges,
/// ticks labelled with values of `Σ L`, the title and the scale's kind.
fn draw_colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    scale: &SurfaceScale,
    (x, top, bottom): (i32, i32, i32),
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let width = 22;
    let height = (bottom - top) as f64;
    let y_of = |t: f64| bottom - (t * height).round() as i32;
    for b in 0..BANDS {
        let (t0, t1) = (b as f64 / BANDS as f64, (b + 1) as f64 / BANDS as f64);
        root.draw(&Rectangle::new(
            [(x, y_of(t1)), (x + width, y_of(t0))],
            rgb(band_colour(b)).filled(),
        ))
        .map_err(err)?;
        if b > 0 {
            root.draw(&PathElement::new(
                vec![(x, y_of(t0)), (x + width, y_of(t0))],
                rgb(darken(band_colour(b), 0.45)).stroke_width(1),
            ))
            .map_err(err)?;
        }
    }
    root.draw(&Rectangle::new(
        [(x, top), (x + width, bottom)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    let label = text_style(13.0, HPos::Left, VPos::Center);
    // Ticks from the bottom up, each at least 16 pixels above the last; the top of the bar is
    // labelled with the clip value, and ticks too close below it give way.
    let top_label = format!("≥ {}", short_number(scale.top));
    let mut last = i32::MAX;
    for (t, value) in scale.ticks() {
        let y = y_of(t);
        if last - y < 16 || y - top < 16 {
            continue;
        }
        root.draw(&PathElement::new(
            vec![(x + width, y), (x + width + 5, y)],
            BLACK,
        ))
        .map_err(err)?;
        root.draw_text(&short_number(value), &label, (x + width + 8, y))
            .map_err(err)?;
        last = y;
    }
    root.draw(&PathElement::new(
        vec![(x + width, top), (x + width + 5, top)],
        BLACK,
    ))
    .map_err(err)?;
    root.draw_text(&top_label, &label, (x + width + 8, top))
        .map_err(err)?;
    let title = text_style(18.0, HPos::Left, VPos::Bottom);
    root.draw_text("Σ L", &title, (x - 2, top - 22))
        .map_err(err)?;
    root.draw_text(
        "(log scale)",
        &text_style(12.0, HPos::Left, VPos::Bottom),
        (x - 2, top - 8),
    )
    .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of e2 whose records are repeated over `starts` start points, as many-start maps
    /// have them (only the plot is under test here).
    fn map_with_starts(starts: usize) -> (bflow::problems::Problem<f64>, EquilibriumMap) {
        let problem = bflow::problems::builtin::<f64>("e2").unwrap();
        let params = bflow::map::MapParams {
            starts: Some(8),
            ..bflow::map::MapParams::default()
        };
        let mut mapper = bflow::map::Mapper::new(&problem, &params).unwrap();
        let mut on_record = |_: &bflow::map::StartRecord| std::ops::ControlFlow::Continue(());
        let mut on_batch = |_: &bflow::map::MapProgress| std::ops::ControlFlow::Continue(());
        mapper
            .run(&mut bflow::map::MapControl {
                max_time: None,
                keep_records: true,
                progress: &|_, _| {},
                on_record: &mut on_record,
                on_batch: &mut on_batch,
            })
            .unwrap();
        let mut map = mapper.finish().unwrap();
        let region = problem.region.clone().unwrap();
        let template = map.records.as_ref().unwrap()[0].clone();
        map.records = Some(
            (0..starts)
                .map(|i| {
                    let mut r = template.clone();
                    r.index = i;
                    r.start = bflow::map::start_point(&region, 1, i, true);
                    if i % 7 == 3 {
                        r.searches[0].outcome = Outcome::Escaped;
                    }
                    r
                })
                .collect(),
        );
        (problem, map)
    }

    fn svg_of(starts: usize) -> String {
        let (problem, map) = map_with_starts(starts);
        let ctx = MapContext::new(vec!["p".into(), "q".into()], &map);
        let path =
            std::env::temp_dir().join(format!("bflow-plot-{starts}-{}.svg", std::process::id()));
        plot(&problem, &map, &ctx, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        svg
    }

    #[test]
    fn many_starts_go_into_an_image_and_few_stay_vector() {
        let few = svg_of(300);
        assert_eq!(few.matches("data:image/png;base64,").count(), 1);
        assert!(few.matches("<circle").count() > 300);
        let many = svg_of(VECTOR_DOTS_MAX + 1000);
        assert_eq!(many.matches("data:image/png;base64,").count(), 2);
        assert!(many.matches("<circle").count() < 100);
        assert!(many.len() < 400_000, "{} bytes", many.len());
        // Neither placeholder survives, and the legend still explains the escaped starts.
        assert!(!many.contains("#010203") && !many.contains("#010204"));
        assert!(many.contains("escaped: left the region"));
    }

    #[test]
    fn morse_names_read_as_words() {
        assert_eq!(Morse::Saddle(2).name(4), "index-2 saddle");
        assert_eq!(Morse::Maximum.name(2), "maximum");
        assert_eq!(Morse::Maximum.name(3), "maximum (index 3)");
    }
}
