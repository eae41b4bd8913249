//! Unit tests of compile: diagnostics found together, in file order, each once.

use super::*;
use crate::pipeline::load::{parse_lenient, Format};

fn run(text: &str, format: Format) -> Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>> {
    let name = if format == Format::Toml { "p.toml" } else { "p.yaml" };
    let (doc, diags) = parse_lenient(name, text, format);
    assert!(diags.is_empty(), "{diags:?}");
    // The site file the tests name exists (compile checks that much; its content is the sites module's).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("s.geojson"), "{}").expect("site file");
    compile(&doc.expect("document"), &dir.path().join(name), &Overrides::default())
}

fn codes(r: Result<(Pipeline, Vec<Diagnostic>), Vec<Diagnostic>>) -> Vec<(String, usize, usize)> {
    let diags = match r {
        Ok((_, w)) => w,
        Err(d) => d,
    };
    diags
        .iter()
        .map(|d| {
            let loc = d.location.clone().expect("located");
            (d.code.to_string(), loc.line, loc.column)
        })
        .collect()
}

const SITES: &str = "sites: {file: s.geojson, id: id}\n";

#[test]
fn valid_pipeline_compiles_with_defaults() {
    let text =
        format!("{SITES}years: 2010..2012\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g}}\n");
    let (p, warnings) = run(&text, Format::Yaml).expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(p.layers[0].name, "mapbiomas_lulc");
    assert_eq!(p.chunks.sites_per_task, Chunks::DEFAULT_SITES_PER_TASK);
    assert_eq!(p.name, "p");
}

#[test]
fn schema_and_semantic_errors_come_together_in_file_order() {
    let text = format!(
        "{SITES}years: 2012..2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g, foldr: x}}\n"
    );
    assert_eq!(
        codes(run(&text, Format::Yaml)),
        [("years::empty-range".to_string(), 2, 8), ("schema::unknown-field".to_string(), 4, 32)]
    );
}

#[test]
fn a_rejected_value_is_reported_once() {
    // `bucket: 5` is a type error; "`to: gcs` needs `bucket`" would only repeat it.
    let text = format!("{SITES}years: 2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: gcs, bucket: 5}}\n");
    assert_eq!(codes(run(&text, Format::Yaml)), [("schema::type".to_string(), 4, 27)]);
}

#[test]
fn one_unreadable_layer_does_not_hide_the_others() {
    let text = format!(
        "{SITES}years: 2010\nlayers:\n  - oops\n  - catalog: mapbiomas_lulcc\nexport: {{to: drive, folder: g}}\n"
    );
    assert_eq!(
        codes(run(&text, Format::Yaml)),
        [("schema::type".to_string(), 4, 5), ("layers::unknown-catalog".to_string(), 5, 14)]
    );
}

#[test]
fn missing_section_still_checks_the_others() {
    let text = "years: 2010\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: drive, folder: g, priority: 10000}\n";
    assert_eq!(
        codes(run(text, Format::Yaml)),
        [("schema::missing-field".to_string(), 1, 1), ("export::priority".to_string(), 3, 42)]
    );
}

#[test]
fn toml_positions_are_lines_and_columns_of_the_toml_file() {
    let text = "years = 2010\n\n[sites]\nfile = \"s.geojson\"\nid = \"id\"\n\n[[layers]]\ncatalog = \"mapbiomas_lulc\"\n\n[[layers]]\ncatalog = \"mapbiomas_lulc\"\nname = \"Bad Name\"\n\n[export]\nto = \"gcs\"\nbucket = \"gs://b\"\n";
    assert_eq!(
        codes(run(text, Format::Toml)),
        [("layers::name".to_string(), 12, 8), ("export::bucket".to_string(), 16, 10)]
    );
}

#[test]
fn overflowing_number_is_reported_and_the_rest_read() {
    let text = format!(
        "{SITES}years: 2010\nlayers: [{{catalog: mapbiomas_lulc}}]\nexport: {{to: drive, folder: g, priority: 99999999999, workload_tag: Bad}}\n"
    );
    assert_eq!(
        codes(run(&text, Format::Yaml)),
        [("schema::shape".to_string(), 4, 42), ("export::workload-tag".to_string(), 4, 69)]
    );
}

proptest::proptest! {
    /// Small random edits of real pipelines (the fuzz target does this at scale): parse, compile and
    /// render never panic, and every diagnostic has a place in the file.
    #[test]
    fn edited_pipelines_never_panic(
        which in 0usize..3,
        pos in 0usize..2000,
        insert in "[ -~\n\t]{0,6}",
        delete in 0usize..6,
    ) {
        let (text, format) = [
            (include_str!("../../../pipelines/ndvi_lulc.yaml"), Format::Yaml),
            (include_str!("../../../pipelines/lulc_drive.toml"), Format::Toml),
            (include_str!("../../../pipelines/elevation.yaml"), Format::Yaml),
        ][which];
        let mut t = text.to_string();
        let mut at = pos % (t.len() + 1);
        while !t.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + delete).min(t.len());
        while !t.is_char_boundary(end) {
            end += 1;
        }
        t.replace_range(at..end, &insert);
        let (doc, mut diags) = parse_lenient("p", &t, format);
        if let Some(doc) = doc {
            match compile(&doc, Path::new("p"), &Overrides::default()) {
                Ok((_, more)) | Err(more) => diags.extend(more),
            }
        }
        for d in &diags {
            proptest::prop_assert!(d.location.is_some(), "unlocated: {d:?}");
        }
        let _ = crate::diag::render_all(&diags, crate::diag::RenderOptions::default());
    }
}

#[cfg(unix)]
#[test]
fn a_site_path_that_is_not_a_regular_file_is_not_read_for_the_hash() {
    // Reading /dev/zero would never end.
    let text = "sites: {file: /dev/zero, id: id}\nyears: 2010\nlayers: [{catalog: mapbiomas_lulc}]\nexport: {to: drive, folder: g}\n";
    assert!(run(text, Format::Yaml).is_ok());
}
