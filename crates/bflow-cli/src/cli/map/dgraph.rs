//! The disconnectivity graph of a map (any number of parameters): minima as leaves at their
//! `Σ L`, joined at the saddle levels that connect them (see [`crate::report::landscape`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::CliError;
use super::plot::{
    Entry, Format, Morse, Symbol, draw_legend, draw_symbol, draw_wrapped, format_of, text_style,
};
use crate::report::MapContext;
use crate::report::landscape::{Connection, DisconnectivityGraph, Landscape};
use bflow::map::{EquilibriumMap, Kind};

/// Leaves get their `#` written under them up to this many.
const MAX_LEAF_LABELS: usize = 60;

/// The landscape of `map`: its minima at their `Σ L`, and each index-1 saddle at its `Σ L`
/// with the minima its two descent paths reach ([`EquilibriumMap::connections`]; a side that
/// reached no mapped minimum is `None`, drawn as an escape).
pub fn landscape_of(map: &EquilibriumMap, ctx: &MapContext) -> Landscape {
    let loss = |k: usize| ctx.loss_sums.get(k).copied().unwrap_or(f64::NAN);
    Landscape {
        minima: map
            .equilibria
            .iter()
            .enumerate()
            .filter(|(_, e)| e.classification.kind == Kind::Minimum)
            .map(|(k, _)| (k, loss(k)))
            .collect(),
        connections: map
            .connections
            .iter()
            .map(|c| Connection {
                saddle: c.saddle,
                saddle_energy: loss(c.saddle),
                minima: c.minima,
            })
            .collect(),
    }
}

/// The energy scale of a map for the graph's vertical axis: the spread of `Σ L` over all its
/// equilibria (minima, saddles, maxima), or `max(|Σ L|, 1)` when they all have one value.
/// Minima whose `Σ L` differ by rounding alone (common-stationary minima at `Σ L ≈ 10⁻³⁰`)
/// then stand at one height instead of filling the axis.
pub fn energy_scale(ctx: &MapContext) -> f64 {
    let finite = ctx.loss_sums.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if hi > lo {
        hi - lo
    } else if lo.is_finite() {
        lo.abs().max(1.0)
    } else {
        1.0
    }
}

/// Writes the disconnectivity graph of `landscape` to `path` (SVG for `.svg`, else PNG);
/// `scale` as [`energy_scale`].
pub fn plot(
    map: &EquilibriumMap,
    landscape: &Landscape,
    scale: f64,
    path: &Path,
) -> Result<(), CliError> {
    crate::report::plot::ensure_font();
    let fail = |e: String| CliError::failure(format!("{}: cannot plot: {e}", path.display()));
    let size = (1100, 720);
    match format_of(path) {
        Format::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(map, landscape, scale, &root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(map, landscape, scale, &root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

/// Draws the graph on `root`. Every vertical line is a group of minima over a range of
/// `Σ L`; a horizontal line is the level where groups join. The axis extends at least
/// `scale / 20` beyond the lowest and highest levels.
pub fn draw<DB: DrawingBackend>(
    map: &EquilibriumMap,
    landscape: &Landscape,
    scale: f64,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let graph = DisconnectivityGraph::new(landscape);
    let leaves = graph.leaves();
    let x = graph.positions();
    let levels = graph
        .nodes
        .iter()
        .map(|n| n.level)
        .chain(graph.escapes.iter().map(|e| e.level));
    let (lo, hi) = levels.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = (0.08 * (hi - lo)).max(0.05 * scale);
    let pad = if pad > 0.0 && pad.is_finite() {
        pad
    } else {
        1.0
    };
    // Room above the highest node for the lines that go up from each tree's top.
    let (y0, y1) = (lo - pad, hi + 2.0 * pad);
    let (main, legend) = root.split_vertically(720 - 70);
    let mut chart = ChartBuilder::on(&main)
        .caption(
            format!(
                "{}: disconnectivity graph of Σ L ({})",
                map.problem,
                crate::report::count_noun(leaves, "minimum", "minima")
            ),
            ("sans-serif", 20),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.6..(leaves.max(1) as f64 - 0.4), y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc("Σ L")
        .x_desc("minima, labelled by their # in the table")
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 14))
        .y_label_formatter(&|v| crate::report::raster::short_number(*v))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    let line = BLACK.stroke_width(2);
    let top = hi + 1.5 * pad;
    for (id, node) in graph.nodes.iter().enumerate() {
        if x[id].is_nan() {
            continue;
        }
        let up_to = node.parent.map_or(top, |p| graph.nodes[p].level);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x[id], node.level), (x[id], up_to)],
                line,
            )))
            .map_err(err)?;
        if let (Some(&a), Some(&b)) = (node.children.first(), node.children.last()) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x[a], node.level), (x[b], node.level)],
                    line,
                )))
                .map_err(err)?;
        }
    }
    let label = text_style(13.0, HPos::Center, VPos::Top);
    for &id in &graph.leaf_order {
        let node = &graph.nodes[id];
        let at = chart.backend_coord(&(x[id], node.level));
        draw_symbol(root, Symbol::Equilibrium(Morse::Minimum), at, 3)?;
        if leaves <= MAX_LEAF_LABELS
            && let crate::report::landscape::NodeKind::Leaf { equilibrium } = node.kind
        {
            root.draw_text(&format!("{}", equilibrium + 1), &label, (at.0, at.1 + 9))
                .map_err(err)?;
        }
    }
    // Saddle numbers beside each join (right of its upward line, above its bar) and each
    // escape, as long as the leaves are numbered too.
    let saddle_label = text_style(12.0, HPos::Left, VPos::Bottom).color(&RGBColor(150, 0, 0));
    let saddle_names = |s: &[usize]| {
        s.iter()
            .map(|k| format!("#{}", k + 1))
            .collect::<Vec<_>>()
            .join(",")
    };
    for (id, node) in graph.nodes.iter().enumerate() {
        if let crate::report::landscape::NodeKind::Join { saddles } = &node.kind
            && leaves <= MAX_LEAF_LABELS
            && !x[id].is_nan()
        {
            let at = chart.backend_coord(&(x[id], node.level));
            root.draw_text(&saddle_names(saddles), &saddle_label, (at.0 + 4, at.1 - 3))
                .map_err(err)?;
        }
    }
    for e in &graph.escapes {
        if !x[e.node].is_nan() {
            let at = chart.backend_coord(&(x[e.node], e.level));
            draw_symbol(root, Symbol::Open, at, 3)?;
            if leaves <= MAX_LEAF_LABELS {
                root.draw_text(
                    &saddle_names(&[e.saddle]),
                    &saddle_label,
                    (at.0 + 6, at.1 - 3),
                )
                .map_err(err)?;
            }
        }
    }
    let mut entries = vec![Entry {
        symbol: Symbol::Equilibrium(Morse::Minimum),
        text: "minimum, at its Σ L".into(),
    }];
    if !landscape.connections.is_empty() {
        entries.push(Entry {
            symbol: Symbol::Level,
            text: if leaves <= MAX_LEAF_LABELS {
                "groups join at the Σ L of the lowest index-1 saddle between them (#: the \
                 saddle's number in the table)"
                    .into()
            } else {
                "groups join at the Σ L of the lowest index-1 saddle between them".into()
            },
        });
    }
    if !graph.escapes.is_empty() {
        entries.push(Entry {
            symbol: Symbol::Open,
            text: "index-1 saddle whose other side leaves the region".into(),
        });
    }
    let mut y = draw_legend(&legend, &entries, (90, 0), 3)?;
    let note = if leaves == 0 {
        Some("no minima found")
    } else if landscape.connections.is_empty() {
        Some("no index-1 saddle found: each minimum is drawn as its own tree, at its Σ L")
    } else {
        None
    };
    if let Some(note) = note {
        legend
            .draw_text(
                note,
                &("sans-serif", 15)
                    .into_font()
                    .color(&RGBColor(160, 0, 0))
                    .pos(Pos::new(HPos::Left, VPos::Top)),
                (90, y + 2),
            )
            .map_err(err)?;
        y += 22;
    }
    if !graph.raised.is_empty() {
        draw_wrapped(
            &legend,
            &format!(
                "{} saddle level(s) below a minimum they join were drawn at that minimum's level",
                graph.raised.len()
            ),
            (90, y),
            12.0,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map with no equilibria (only the drawing of a hand-made landscape is under test).
    fn empty_map(name: &str) -> EquilibriumMap {
        let problem = bflow::problems::builtin::<f64>("e2").unwrap();
        let params = bflow::map::MapParams {
            starts: Some(1),
            ..bflow::map::MapParams::default()
        };
        let mut map = bflow::map::map_equilibria(&problem, &params).unwrap();
        map.problem = name.into();
        map.equilibria.clear();
        map
    }

    fn svg_of(landscape: &Landscape) -> String {
        crate::report::plot::ensure_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1100, 720)).into_drawing_area();
            draw(&empty_map("three-wells"), landscape, 100.0, &root).unwrap();
            root.present().unwrap();
        }
        svg
    }

    fn muller_brown_like() -> Landscape {
        Landscape {
            minima: vec![(0, -146.7), (1, -108.2), (2, -80.8)],
            connections: vec![
                Connection {
                    saddle: 3,
                    saddle_energy: -40.7,
                    minima: [Some(0), Some(1)],
                },
                Connection {
                    saddle: 4,
                    saddle_energy: -72.2,
                    minima: [Some(1), Some(2)],
                },
                Connection {
                    saddle: 5,
                    saddle_energy: -20.0,
                    minima: [Some(2), None],
                },
            ],
        }
    }

    #[test]
    fn a_hand_made_landscape_draws_leaves_joins_and_escapes() {
        let l = muller_brown_like();
        let svg = svg_of(&l);
        assert!(svg.contains("disconnectivity graph of Σ L (3 minima)"));
        assert!(
            svg.contains(">Σ L<") || svg.contains("Σ L\n"),
            "y axis title"
        );
        for leaf in ["1", "2", "3"] {
            assert!(svg.contains(&format!(">\n{leaf}\n<")) || svg.contains(&format!(">{leaf}<")));
        }
        assert!(svg.contains("leaves the region"));
        assert!(!svg.contains("no index-1 saddle found"));
        // Five nodes (three leaves, two joins): five vertical lines and two horizontal ones.
        assert!(svg.matches("<polyline").count() >= 7);
    }

    #[test]
    fn the_landscape_of_a_map_carries_its_connections_at_the_saddles_levels() {
        let problem = bflow::problems::builtin::<f64>("himmelblau-split").unwrap();
        let params = bflow::map::MapParams {
            starts: Some(96),
            ..bflow::map::MapParams::default()
        };
        let map = bflow::map::map_equilibria(&problem, &params).unwrap();
        let ctx = MapContext::new(vec!["x".into(), "y".into()], &map);
        let l = landscape_of(&map, &ctx);
        assert_eq!(l.minima.len(), 4);
        assert_eq!(l.connections.len(), map.connections.len());
        assert_eq!(l.connections.len(), 4);
        for (a, b) in l.connections.iter().zip(&map.connections) {
            assert_eq!(a.saddle, b.saddle);
            assert_eq!(a.minima, b.minima);
            assert_eq!(a.saddle_energy, map.equilibria[b.saddle].loss_sum);
        }
        // Four saddles around a cycle of four minima: one tree, three joins.
        let g = DisconnectivityGraph::new(&l);
        assert_eq!(g.roots.len(), 1);
        assert!(g.escapes.is_empty());
        let top = map
            .connections
            .iter()
            .map(|c| map.equilibria[c.saddle].loss_sum);
        let second_highest = {
            let mut v: Vec<f64> = top.collect();
            v.sort_by(f64::total_cmp);
            v[2]
        };
        // The cycle's highest saddle is redundant: the tree's top is the second highest.
        assert_eq!(g.nodes[g.roots[0]].level, second_highest);
    }

    #[test]
    fn without_connections_the_minima_stand_apart_with_a_note() {
        let svg = svg_of(&Landscape {
            minima: vec![(0, 1.0), (4, 2.0)],
            connections: Vec::new(),
        });
        assert!(svg.contains("no index-1 saddle found"));
        let svg = svg_of(&Landscape::default());
        assert!(svg.contains("no minima found"));
    }

    #[test]
    fn the_png_of_a_hand_made_landscape_is_written() {
        let path = std::env::temp_dir().join(format!("bflow-dgraph-{}.png", std::process::id()));
        plot(
            &empty_map("muller-brown-like"),
            &muller_brown_like(),
            100.0,
            &path,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000);
        if std::env::var_os("BFLOW_KEEP_TEST_PLOTS").is_none() {
            std::fs::remove_file(&path).ok();
        }
    }
}
