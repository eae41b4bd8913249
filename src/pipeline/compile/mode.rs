//! Stage: the run `mode` (`auto`, `interactive`, `batch`, or `--mode`) and the `interactive` settings, and
//! whether the pipeline has what its mode needs: batch mode (and image or classifier pipelines, which only
//! export) needs an `export` section; interactive mode computes zonal statistics only.

use crate::diag::Code;

use super::Cx;
use crate::pipeline::model::*;
use crate::pipeline::raw::*;

impl Cx<'_> {
    /// The resolved mode. `from_flag` says the mode came from `--mode` (then there is no place in the file).
    pub(super) fn mode(
        &mut self,
        mode: ModeName,
        from_flag: bool,
        kind: KindName,
        engine: Engine,
        has_export: bool,
    ) -> ModeName {
        if engine == Engine::Local {
            // The local engine computes on this machine; the mode is about Earth Engine only.
            return mode;
        }
        let ptr = if from_flag { "" } else { "/mode" };
        if kind != KindName::Zonal {
            let kind_name = format!("{kind:?}").to_lowercase();
            if mode == ModeName::Interactive {
                self.error(
                    ptr,
                    Code::ModeKind,
                    format!("`kind: {kind_name}` pipelines run as export tasks; interactive mode computes zonal statistics only"),
                    "interactive",
                    "remove `mode: interactive` (or `--mode interactive`); image and classifier pipelines run in batch",
                );
            }
            if !has_export {
                self.error(
                    "",
                    Code::ModeNeedsExport,
                    format!("`kind: {kind_name}` pipelines need an `export` section: their results are export tasks"),
                    "no `export` section",
                    "add `export:` with `to: gcs` (and `bucket`), `drive` (and `folder`) or `asset` (and `asset`)",
                );
            }
            return ModeName::Batch;
        }
        if mode == ModeName::Batch && !has_export {
            self.error(
                ptr,
                Code::ModeNeedsExport,
                "batch mode needs an `export` section: each task writes its rows there before `fetch` downloads them",
                "batch",
                "add `export:` with `to: gcs` and `bucket: …` (or `to: drive` and `folder: …`), or use `mode: \
                 interactive`, which needs no destination",
            );
        }
        mode
    }

    /// The `interactive` section, with Earth Engine's defaults.
    pub(super) fn interactive(&mut self, raw: Option<&RawInteractive>) -> Interactive {
        let d = Interactive::default();
        let Some(r) = raw else { return d };
        let range = |cx: &mut Cx, field: &str, ok: bool, help: &str| {
            if !ok {
                cx.error(
                    &format!("/interactive/{field}"),
                    Code::InteractiveRange,
                    format!("`interactive.{field}` is out of range"),
                    "here",
                    help,
                );
            }
        };
        if let Some(n) = r.max_in_flight {
            range(
                self,
                "max_in_flight",
                (1..=1000).contains(&n),
                "use 1 to 1000 (Earth Engine's default limit is 40 per project)",
            );
        }
        if let Some(n) = r.requests_per_second {
            range(
                self,
                "requests_per_second",
                (1..=10_000).contains(&n),
                "use 1 to 10000 (Earth Engine's default is 100 per project)",
            );
        }
        if let Some(n) = r.sites_per_request {
            range(self, "sites_per_request", (1..=100_000).contains(&n), "use at least 1 site per request");
        }
        if let Some(n) = r.page_size {
            range(
                self,
                "page_size",
                (1..=1000).contains(&n),
                "use 1 to 1000 features per page (Earth Engine's default and largest is 1000)",
            );
        }
        if let Some(m) = r.auto_max_minutes {
            range(self, "auto_max_minutes", m.is_finite() && m > 0.0, "give a number of minutes above 0");
        }
        Interactive {
            max_in_flight: r.max_in_flight.map(|n| n.clamp(1, 1000) as usize).unwrap_or(d.max_in_flight),
            requests_per_second: r.requests_per_second.map(|n| n.clamp(1, 10_000)).unwrap_or(d.requests_per_second),
            sites_per_request: r.sites_per_request.map(|n| n.max(1) as usize),
            page_size: r.page_size.map(|n| n.clamp(1, 1000)).unwrap_or(d.page_size),
            auto_max_minutes: r.auto_max_minutes.filter(|m| m.is_finite() && *m > 0.0).unwrap_or(d.auto_max_minutes),
        }
    }
}
