//! What every plot shares: the embedded font, and the plot of one run's trace.
//!
//! Text in plots uses DejaVu Sans, compiled into the binary (`assets/fonts/`), so no system
//! font library is needed at run time, for SVG and PNG alike.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use bflow::flow::SeriesPoint;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`, once per process.
pub fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Registration fails only for a malformed font file, which the tests would catch.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Values below this are drawn at it: an exact zero has no place on a log axis.
const Y_FLOOR: f64 = 1e-300;

/// The trace of a run: `||s||` and B against the step, on a log10 axis. Writes SVG when `path`
/// ends in `.svg`, PNG when it ends in `.png`.
///
/// # Errors
/// A one-line message when the run has no trace, the extension is neither, or drawing or
/// writing fails.
pub fn run_plot(points: &[SeriesPoint], title: &str, path: &std::path::Path) -> Result<(), String> {
    if points.is_empty() {
        return Err("the run kept no trace".into());
    }
    ensure_font();
    let size = (900, 560);
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw_run(
            points,
            title,
            SVGBackend::new(path, size).into_drawing_area(),
        ),
        Some("png") => draw_run(
            points,
            title,
            BitMapBackend::new(path, size).into_drawing_area(),
        ),
        _ => Err(format!(
            "{}: the plot file must end in .svg or .png",
            path.display()
        )),
    }
}

fn draw_run<DB: DrawingBackend>(
    points: &[SeriesPoint],
    title: &str,
    root: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("plot: {e}");
    root.fill(&WHITE).map_err(err)?;
    // log10 on a linear axis: plotters' log axis labels only part of a 30-decade range.
    let to_y = |x: f64| x.max(Y_FLOOR).log10();
    let s: Vec<(f64, f64)> = points
        .iter()
        .map(|r| (r.step as f64, to_y(r.sum_norm)))
        .collect();
    let b: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|r| r.b.map(|b| (r.step as f64, to_y(b))))
        .collect();
    let ys = s.iter().chain(&b).map(|p| p.1);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), y| {
        (a.min(y), c.max(y))
    });
    let steps = points.last().map_or(1.0, |r| r.step.max(1) as f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: ||s|| and B per step"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..steps, (lo - 1.0).floor()..(hi + 1.0).ceil())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("log10")
        .y_label_formatter(&|y| format!("1e{y:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(s, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("||s||")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(b, RED.stroke_width(2)))
        .map_err(err)?
        .label("B")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
