//! `geepipe catalog`: list the built-in layers, or show one.

use clap::{Args, Subcommand};

use super::Global;
use crate::exit;
use crate::pipeline::raw::{LayerKind, RawLayer, RawYears};

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: Option<CatalogCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Explain one catalog layer: asset, years, scale, legend, expression.
    Show {
        /// Catalog layer name.
        name: String,
    },
}

pub fn run(_g: &Global, a: CatalogArgs) -> i32 {
    match a.command {
        None => {
            print!("{}", table());
            exit::OK
        }
        Some(CatalogCommand::Show { name }) => match crate::catalog::get(&name) {
            Some(l) => {
                print!("{}", show(&name, &l));
                exit::OK
            }
            None => {
                eprintln!("error: no catalog layer is named `{name}`");
                match crate::suggest::did_you_mean(&name, crate::catalog::names()) {
                    Some(s) => eprintln!("  help: did you mean `{s}`? (`geepipe catalog` lists them all)"),
                    None => eprintln!("  help: `geepipe catalog` lists the built-in layers"),
                }
                exit::INVALID_INPUT
            }
        },
    }
}

/// Years as text: `2010..2023` for a run of three or more, else a comma list.
pub fn years_text(years: &[i32]) -> String {
    if years.is_empty() {
        return "-".into();
    }
    if years.len() > 2 && years.windows(2).all(|w| w[1] == w[0] + 1) {
        return format!("{}..{}", years[0], years[years.len() - 1]);
    }
    years.iter().map(|y| y.to_string()).collect::<Vec<_>>().join(", ")
}

fn raw_years(y: &Option<RawYears>) -> String {
    match y {
        None => "-".into(),
        Some(RawYears::Single(v)) => v.to_string(),
        Some(RawYears::Range(s)) => s.clone(),
        Some(RawYears::List(l)) => years_text(&l.iter().map(|v| *v as i32).collect::<Vec<_>>()),
        Some(RawYears::FromTo(s)) => format!("{}..{}", s.from, s.to),
    }
}

fn kind(l: &RawLayer) -> &'static str {
    match l.kind {
        Some(LayerKind::Categorical) => "categorical",
        Some(LayerKind::Continuous) => "continuous",
        None => "-",
    }
}

fn layer_years(l: &RawLayer) -> String {
    if l.available.is_some() {
        raw_years(&l.available)
    } else {
        format!("static ({})", raw_years(&l.years))
    }
}

fn scale(l: &RawLayer) -> String {
    l.scale.map(|s| format!("{s} m")).unwrap_or_else(|| "-".into())
}

/// The catalog as an aligned table.
pub fn table() -> String {
    let mut rows = vec![["NAME".to_string(), "KIND".into(), "YEARS".into(), "SCALE".into(), "TITLE".into()]];
    for name in crate::catalog::names() {
        if let Some(l) = crate::catalog::get(name) {
            rows.push([
                name.to_string(),
                kind(&l).into(),
                layer_years(&l),
                scale(&l),
                l.title.clone().unwrap_or_default(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..4).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[i], w = *w));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

/// One layer explained.
pub fn show(name: &str, l: &RawLayer) -> String {
    let mut out = String::new();
    out.push_str(&format!("{name}: {}\n", l.title.clone().unwrap_or_default()));
    out.push_str(&format!("  kind:    {}\n", kind(l)));
    out.push_str(&format!("  asset:   {}\n", l.asset.clone().unwrap_or_else(|| "-".into())));
    out.push_str(&format!("  years:   {}\n", layer_years(l)));
    out.push_str(&format!("  scale:   {}\n", scale(l)));
    out.push_str(&format!("  grid:    {}\n", grid_text(crate::catalog::grid(name).as_ref(), l.scale)));
    out.push_str(&format!("  no data: {}\n", nodata_text(l.nodata.as_ref())));
    if let Some(u) = &l.units {
        out.push_str(&format!("  units:   {u}\n"));
    }
    if let Some(b) = &l.bands {
        out.push_str(&format!("  bands:   {}\n", b.join(", ")));
    }
    if let Some(s) = &l.stats {
        out.push_str(&format!("  stats:   {}\n", s.join(", ")));
    }
    if let Some(legend) = &l.legend {
        out.push_str("  legend:\n");
        for e in legend {
            out.push_str(&format!(
                "    {:>4}  {}  {}\n",
                e.code,
                e.color.clone().unwrap_or_else(|| "       ".into()),
                e.name
            ));
        }
    }
    if let Some(img) = &l.image {
        out.push_str("  image (one year; placeholders are filled per year):\n");
        let text = serde_json::to_string_pretty(img).unwrap_or_default();
        for line in text.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    let sources = crate::catalog::sources(name);
    if !sources.is_empty() {
        out.push_str("  checked (where each fact comes from):\n");
        for (fact, citation) in sources {
            out.push_str(&format!("    {fact}: {citation}\n"));
        }
    }
    out.push_str(&format!("use it with:  layers: [{{catalog: {name}}}]\n"));
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// The grid a layer is reduced on, in words.
pub fn grid_text(grid: Option<&crate::pipeline::Grid>, nominal: Option<f64>) -> String {
    use crate::pipeline::Grid;
    match grid {
        Some(Grid::Native) => {
            let nominal = nominal.map(|s| format!("; about {} m", number(s))).unwrap_or_default();
            format!("the image's own (the projection of its first band{nominal})")
        }
        Some(Grid::Scale { scale }) => format!("its first band's projection at {} m", number(*scale)),
        Some(Grid::Explicit { crs, scale }) => format!("{crs} at {} m", number(*scale)),
        None => "unknown".into(),
    }
}

/// What a layer masks as no data, in words.
pub fn nodata_text(nodata: Option<&crate::pipeline::raw::RawNoData>) -> String {
    let mut parts = Vec::new();
    if let Some(n) = nodata {
        if let Some(v) = n.values.as_ref().filter(|v| !v.is_empty()) {
            let v: Vec<String> = v.iter().map(|x| number(*x)).collect();
            parts.push(format!("value{} {} masked", if v.len() == 1 { "" } else { "s" }, v.join(", ")));
        }
        if let Some(m) = &n.mask {
            let v: Vec<String> = m.valid.iter().map(|x| number(*x)).collect();
            parts.push(format!("pixels masked where band `{}` is not {}", m.band, v.join(" or ")));
        }
    }
    if parts.is_empty() {
        "no no-data value (masked pixels are not counted)".into()
    } else {
        parts.join("; ")
    }
}
