//! Plots of a two-parameter map: the B landscape (log10 B heat map, equilibria marked by
//! kind) and the basin map (each start coloured by the equilibrium its B-flow reached).
//! Text uses the DejaVu Sans font embedded in the binary: no system font is needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::CliError;
use bflow::map::{EquilibriumMap, Kind, Outcome, log_balance_grid};
use bflow::problems::Problem;

const GRID: usize = 320;

/// Viridis-like colour ramp for `t ∈ [0, 1]`.
fn ramp(t: f64) -> RGBColor {
    let stops = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let k = (t.floor() as usize).min(stops.len() - 2);
    let f = t - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn palette(k: usize) -> RGBColor {
    const P: [(u8, u8, u8); 12] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (0, 0, 128),
        (128, 0, 0),
    ];
    let (r, g, b) = P[k % P.len()];
    RGBColor(r, g, b)
}

/// Writes the plot to `path` (SVG for `.svg`, PNG otherwise).
pub fn plot(problem: &Problem<f64>, map: &EquilibriumMap, path: &Path) -> Result<(), CliError> {
    crate::report::plot::ensure_font();
    let fail = |e: String| CliError::failure(format!("{}: cannot plot: {e}", path.display()));
    let size = (1300, 600);
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if is_svg {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw(problem, map, &root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw(problem, map, &root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))
    }
}

fn draw<DB: DrawingBackend>(
    problem: &Problem<f64>,
    map: &EquilibriumMap,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let region = problem.region.clone().ok_or("no region")?;
    let (xr, yr) = (region[0].0..region[0].1, region[1].0..region[1].1);
    let grid = log_balance_grid(problem, GRID, GRID).map_err(|e| e.to_string())?;
    // Colour from the 2nd percentile to the maximum of log10 B: B dips to 0 only in small
    // neighbourhoods of the equilibria, so a min-to-max scale would spend most colours on a
    // few cells. Cells below the 2nd percentile get the darkest colour.
    let mut sorted: Vec<f64> = grid.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let lo = sorted.get(sorted.len() / 50).copied().unwrap_or(0.0);
    let hi = sorted.last().copied().unwrap_or(1.0);
    let panels = root.split_evenly((1, 2));
    let font = ("sans-serif", 16).into_font();

    let mut left = ChartBuilder::on(&panels[0])
        .caption(
            format!("{}: log10 B  [{lo:.1}, {hi:.1}]", map.problem),
            font.clone(),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(xr.clone(), yr.clone())
        .map_err(err)?;
    left.configure_mesh().disable_mesh().draw().map_err(err)?;
    let (dx, dy) = (
        (xr.end - xr.start) / GRID as f64,
        (yr.end - yr.start) / GRID as f64,
    );
    left.draw_series(grid.iter().enumerate().map(|(k, v)| {
        let (i, j) = (k % GRID, k / GRID);
        let x0 = xr.start + i as f64 * dx;
        let y0 = yr.start + j as f64 * dy;
        let colour = v.map_or(BLACK, |v| ramp((v - lo) / (hi - lo).max(1e-300)));
        Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], colour.filled())
    }))
    .map_err(err)?;
    for kind in [Kind::Minimum, Kind::Saddle, Kind::Maximum, Kind::Degenerate] {
        let pts: Vec<(f64, f64)> = map
            .equilibria
            .iter()
            .filter(|e| e.classification.kind == kind)
            .map(|e| (e.point[0], e.point[1]))
            .collect();
        let series: Vec<DynElement<DB, (f64, f64)>> = pts
            .iter()
            .map(|&p| match kind {
                Kind::Minimum => Circle::new(p, 5, WHITE.filled()).into_dyn(),
                Kind::Saddle => TriangleMarker::new(p, 6, RED.filled()).into_dyn(),
                Kind::Maximum => Cross::new(p, 6, MAGENTA.stroke_width(2)).into_dyn(),
                Kind::Degenerate => Rectangle::new([p, p], CYAN.stroke_width(6)).into_dyn(),
            })
            .collect();
        let legend_colour = match kind {
            Kind::Minimum => WHITE,
            Kind::Saddle => RED,
            Kind::Maximum => MAGENTA,
            Kind::Degenerate => CYAN,
        };
        if !series.is_empty() {
            left.draw_series(series)
                .map_err(err)?
                .label(format!("{} ({})", kind.name(), pts.len()))
                .legend(move |(x, y)| Circle::new((x, y), 5, legend_colour.filled()));
        }
    }
    left.configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;

    let mut right = ChartBuilder::on(&panels[1])
        .caption(
            format!("basins of the first search ({} starts)", map.starts_mapped),
            font,
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(xr, yr)
        .map_err(err)?;
    right.configure_mesh().disable_mesh().draw().map_err(err)?;
    let tol = f64::EPSILON.sqrt() * map.scale;
    right
        .draw_series(map.records.iter().flatten().map(|r| {
            let first = &r.searches[0];
            let colour = match (first.outcome, &first.point) {
                (Outcome::Equilibrium, Some(p)) => map
                    .equilibria
                    .iter()
                    .position(|e| bflow::real::distance(&e.point, p) <= tol)
                    .map_or(BLACK, palette),
                (Outcome::Spurious, _) => BLACK,
                _ => RGBColor(200, 200, 200),
            };
            Circle::new((r.start[0], r.start[1]), 3, colour.filled())
        }))
        .map_err(err)?;
    right
        .draw_series(
            map.equilibria
                .iter()
                .enumerate()
                .map(|(k, e)| Circle::new((e.point[0], e.point[1]), 6, palette(k).stroke_width(2))),
        )
        .map_err(err)?;
    Ok(())
}
