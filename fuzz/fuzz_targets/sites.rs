//! Fuzzes the site file checker: arbitrary bytes as a GeoJSON site file → streaming scanner → every
//! feature checked → every diagnostic rendered. None of it may panic, whatever the input. The bytes are
//! read once from memory and once streamed (the path large files take), through a file in a temporary
//! folder because that is the checker's only entry.
#![no_main]

use geepipe::diag::{render_all, RenderOptions};
use geepipe::pipeline::{SiteFormatName, SiteLocation, SiteSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("sites.geojson");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let source = SiteSource {
        location: SiteLocation::File(path),
        id_property: "site_id".into(),
        keep: vec!["name".into()],
        first_year_property: Some("planted".into()),
        label_property: None,
        format: SiteFormatName::Geojson,
        layer: None,
        crs: None,
    };
    for limit in [u64::MAX, 0] {
        let report = geepipe::sites::scan_with_limit(&source, limit, |_| Ok(()));
        let _ = render_all(&report.diagnostics, RenderOptions { color: false, width: 100 });
    }
});
