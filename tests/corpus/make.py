#!/usr/bin/env python3
"""Writes the bad-input corpus: hostile pipeline files (pipelines/) and site files (sites/).

Run from this folder (`python3 make.py`) to rewrite the files; `tests/corpus.rs` runs `geepipe validate` on
each one and compares the exit code and the first reported place with `manifest.tsv`. New cases: add them
here, run this script, run `GEEPIPE_BLESS=1 cargo test --test corpus` to record what geepipe says, and read
the recorded lines before committing (exit 2 with a place for every bad input; 0 only where noted).
"""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

VALID = """name: corpus
sites:
  file: ../sites.geojson
  id: site_id
  keep: [name]
years: 2010..2012
layers:
  - catalog: mapbiomas_lulc
export:
  to: drive
  folder: geepipe
"""

TOML = """name = "corpus"
years = "2010..2012"
[sites]
file = "../sites.geojson"
id = "site_id"
[[layers]]
catalog = "mapbiomas_lulc"
[export]
to = "drive"
folder = "geepipe"
"""


def sub(old, new, base=VALID):
    assert old in base, old
    return base.replace(old, new, 1)


PIPELINES = {
    # Syntax.
    "tab_indent.yaml": sub("  id: site_id", "\tid: site_id"),
    "unclosed_quote.yaml": sub("name: corpus", 'name: "corpus'),
    "unclosed_flow.yaml": sub("keep: [name]", "keep: [name"),
    "bad_indent.yaml": sub("  id: site_id", "    id: site_id"),
    "stray_colon.yaml": sub("years: 2010..2012", "years: : 2010"),
    "block_in_flow.yaml": sub("keep: [name]", "keep: [- name]"),
    "empty.yaml": "",
    "only_comments.yaml": "# nothing here\n# at all\n",
    "null_document.yaml": "null\n",
    "list_document.yaml": "- name: x\n- name: y\n",
    "scalar_document.yaml": "just text\n",
    "two_documents.yaml": VALID + "---\nname: other\n",
    "bom.yaml": "\ufeff" + sub("name: corpus", "name: corpus\nnmae: x"),
    "nul_byte.yaml": sub("name: corpus", "name: cor\x00pus"),
    "control_chars.yaml": sub("name: corpus", "name: \x1b[31mred\x1b[0m"),
    "crlf.yaml": sub("years: 2010..2012", "yeras: 2010").replace("\n", "\r\n"),
    "lone_cr.yaml": sub("years: 2010..2012", "yeras: 2010").replace("\n", "\r"),
    # Keys.
    "duplicate_top_key.yaml": VALID + "name: again\n",
    "duplicate_nested_key.yaml": sub("  id: site_id", "  id: site_id\n  id: other"),
    "duplicate_keys_many.yaml": VALID + "".join(f"vars:\n  k{i}: 1\n" for i in range(50)),
    "alias.yaml": sub("name: corpus", "name: &n corpus\nproject: *n"),
    "merge_key.yaml": sub("export:\n", "base: &b {to: drive}\nexport:\n  <<: *b\n"),
    "python_tag.yaml": sub("name: corpus", "name: !!python/object:os.system ls"),
    "complex_key.yaml": sub("name: corpus", "? [a, b]\n: 1\nname: corpus"),
    "numeric_key.yaml": sub("name: corpus", "name: corpus\n12: x"),
    "unknown_top.yaml": VALID + "layres: []\n",
    "unknown_sites.yaml": sub("  id: site_id", "  id: site_id\n  fiel: x"),
    "unknown_layer.yaml": sub("  - catalog: mapbiomas_lulc", "  - catalog: mapbiomas_lulc\n    stat: [mean]"),
    "unknown_export.yaml": sub("  folder: geepipe", "  folder: geepipe\n  buket: b"),
    "missing_sites.yaml": VALID.replace("sites:\n  file: ../sites.geojson\n  id: site_id\n  keep: [name]\n", ""),
    "missing_layers.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", ""),
    # Without `export:` a pipeline runs interactively; `mode: batch` needs one.
    "missing_export.yaml": VALID.replace("export:\n  to: drive\n  folder: geepipe\n", "mode: batch\n"),
    "missing_name.yaml": VALID.replace("name: corpus\n", ""),
    # Types and values.
    "name_number.yaml": sub("name: corpus", "name: 123"),
    "name_list.yaml": sub("name: corpus", "name: [a, b]"),
    "name_spaces.yaml": sub("name: corpus", "name: my pipeline!"),
    "name_rtl.yaml": sub("name: corpus", "name: cor\u202epus"),
    "name_huge.yaml": sub("name: corpus", "name: " + "n" * 100_000),
    "project_newline.yaml": sub("name: corpus", 'name: corpus\nproject: "my-project\\nX-Evil: 1"'),
    "project_path.yaml": sub("name: corpus", "name: corpus\nproject: projects/my-project"),
    "project_spaces.yaml": sub("name: corpus", "name: corpus\nproject: my project"),
    "years_text.yaml": sub("years: 2010..2012", "years: twenty"),
    "years_reversed.yaml": sub("years: 2010..2012", "years: 2012..2010"),
    "years_1800.yaml": sub("years: 2010..2012", "years: 1800"),
    "years_3000.yaml": sub("years: 2010..2012", "years: 2010..3000"),
    "years_open_end.yaml": sub("years: 2010..2012", "years: 2010.."),
    "years_open_start.yaml": sub("years: 2010..2012", "years: ..2012"),
    "years_fraction.yaml": sub("years: 2010..2012", "years: 2010.5"),
    "years_nan.yaml": sub("years: 2010..2012", "years: .nan"),
    "years_inf_list.yaml": sub("years: 2010..2012", "years: [2010, .inf]"),
    "years_empty_list.yaml": sub("years: 2010..2012", "years: []"),
    "years_huge.yaml": sub("years: 2010..2012", "years: 99999999999999999999999"),
    "years_negative.yaml": sub("years: 2010..2012", "years: -2010"),
    "years_map_bad.yaml": sub("years: 2010..2012", "years: {from: 2010, till: 2012}"),
    "years_repeated_line.yaml": sub("years: 2010..2012", "years: [" + ", ".join(["2010"] * 3000) + "]"),
    "layers_map.yaml": sub("layers:\n  - catalog: mapbiomas_lulc", "layers: {catalog: mapbiomas_lulc}"),
    "layers_empty.yaml": sub("layers:\n  - catalog: mapbiomas_lulc", "layers: []"),
    "layers_null.yaml": sub("layers:\n  - catalog: mapbiomas_lulc", "layers:"),
    "catalog_typo.yaml": sub("catalog: mapbiomas_lulc", "catalog: mapbiomas_lucl"),
    "catalog_traversal.yaml": sub("catalog: mapbiomas_lulc", "catalog: ../../etc/passwd"),
    "duplicate_layer.yaml": sub("  - catalog: mapbiomas_lulc", "  - catalog: mapbiomas_lulc\n  - catalog: mapbiomas_lulc"),
    "stats_unknown.yaml": sub("  - catalog: mapbiomas_lulc", "  - catalog: modis_ndvi\n    stats: [mean, p101, average]"),
    "scale_negative.yaml": VALID + "reduce:\n  scale: -30\n",
    "scale_nan.yaml": VALID + "reduce:\n  scale: .nan\n",
    "scale_text.yaml": VALID + "reduce:\n  scale: thirty\n",
    "tile_scale_huge.yaml": VALID + "reduce:\n  tile_scale: 1e308\n",
    "max_pixels_negative.yaml": VALID + "reduce:\n  max_pixels: -1\n",
    "crs_bad.yaml": VALID + "reduce:\n  crs: EPSG:abc\n",
    "export_unknown_to.yaml": sub("to: drive", "to: dropbox"),
    "export_gcs_no_bucket.yaml": sub("  to: drive\n  folder: geepipe", "  to: gcs"),
    "export_gcs_bad_bucket.yaml": sub("  to: drive\n  folder: geepipe", "  to: gcs\n  bucket: Bad_Bucket!"),
    "export_asset_no_id.yaml": sub("  to: drive\n  folder: geepipe", "  to: asset"),
    "export_bigquery_bad.yaml": sub("  to: drive\n  folder: geepipe", "  to: bigquery\n  table: not a table"),
    "export_format_bad.yaml": sub("  folder: geepipe", "  folder: geepipe\n  format: xlsx"),
    "export_folder_list.yaml": sub("folder: geepipe", "folder: [a, b]"),
    "chunks_zero.yaml": VALID + "chunks:\n  sites_per_task: 0\n",
    "chunks_negative.yaml": VALID + "chunks:\n  sites_per_task: -5\n",
    "chunks_huge.yaml": VALID + "chunks:\n  max_concurrent: 99999999999999999999\n",
    "chunks_text.yaml": VALID + "chunks:\n  max_concurrent: many\n",
    "output_layout_bad.yaml": VALID + "output:\n  path: ../out.csv\n  layout: tall\n",
    "output_format_bad.yaml": VALID + "output:\n  path: ../out.csv\n  format: xls\n",
    "output_path_empty.yaml": VALID + 'output:\n  path: ""\n',
    "output_path_dot.yaml": VALID + 'output:\n  path: "."\n',
    "output_path_folder.yaml": VALID + "output:\n  path: ../pipelines\n",
    "output_path_device.yaml": VALID + "output:\n  path: /dev/null\n",
    "output_extension_other_format.yaml": VALID + "output:\n  path: ../out.geojson\n  format: parquet\n",
    "drive_folder_dotdot.yaml": sub("folder: geepipe", 'folder: ".."'),
    "engine_bad.yaml": sub("name: corpus", "name: corpus\nengine: gpu"),
    "kind_bad.yaml": sub("name: corpus", "name: corpus\nkind: video"),
    "local_without_path.yaml": sub("name: corpus", "name: corpus\nengine: local").replace("to: drive\n  folder: geepipe", "to: local"),
    # Sites section.
    "sites_missing_file.yaml": sub("file: ../sites.geojson", "file: ../nope.geojson"),
    "sites_folder.yaml": sub("file: ../sites.geojson", "file: .."),
    "sites_traversal.yaml": sub("file: ../sites.geojson", "file: ../../../../../../etc/passwd"),
    "sites_dev_zero.yaml": sub("file: ../sites.geojson", "file: /dev/null"),
    "sites_id_empty.yaml": sub("id: site_id", 'id: ""'),
    "sites_id_missing.yaml": sub("id: site_id", "id: no_such_property"),
    "sites_keep_text.yaml": sub("keep: [name]", "keep: name"),
    "sites_both_file_asset.yaml": sub("file: ../sites.geojson", "file: ../sites.geojson\n  asset: projects/p/assets/a"),
    "sites_asset_bad.yaml": sub("file: ../sites.geojson", "asset: not an asset id"),
    # Templates and expressions.
    "vars_object_in_template.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "vars:\n  obj: {a: 1}\nlayers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      id: \"projects/x/{{obj}}\"\n"),
    "asset_placeholder.yaml": sub("years: 2010..2012", "years: 2010..2012\nvars:\n  x: projects/x/assets/y").replace("  - catalog: mapbiomas_lulc", '  - name: custom\n    kind: continuous\n    asset: "{{x}}"\n    image:\n      call: Image.load\n      id: "{{asset}}"'),
    "template_unknown_var.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      id: \"projects/x/{{nope}}\"\n"),
    "template_helper.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      id: \"{{#each x}}{{this}}{{/each}}\"\n"),
    "template_partial.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      id: \"{{> secret}}\"\n"),
    "template_unclosed.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      id: \"projects/x/{{year\"\n"),
    "expr_unknown_algorithm.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.lod\n      id: projects/x\n"),
    "expr_unknown_argument.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.load\n      idd: projects/x\n"),
    "expr_wrong_type.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n      call: Image.select\n      input: 5\n      bandSelectors: [b1]\n"),
    "expr_deep_calls.yaml": VALID.replace("layers:\n  - catalog: mapbiomas_lulc\n", "layers:\n  - name: custom\n    kind: continuous\n    image:\n" + "".join("      " + "  " * i + "call: Image.abs\n" + "      " + "  " * i + "value:\n" for i in range(70)) + "      " + "  " * 70 + "call: Image.load\n" + "      " + "  " * 70 + "id: projects/x\n"),
    # Sizes.
    "deep_block.yaml": "name: x\nvars:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(300)) + "  " * 301 + "1\n",
    "deep_flow.yaml": "name: x\nvars: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep_flow_map.yaml": "name: x\nvars: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "minified_typo.yaml": json.dumps({"name": "corpus", "vars": {"pad": "x" * 80_000}, "sites": {"file": "../sites.geojson", "id": "site_id"}, "years": "2010..2012", "layers": [{"catalog": "mapbiomas_lulc"}], "export": {"to": "drive", "folder": "g"}, "layres": 1}) + "\n",
    "many_unknown_keys.yaml": VALID + "".join(f"unknown_{i}: {i}\n" for i in range(2000)),
    "many_years_lines.yaml": sub("years: 2010..2012", "years:\n" + "  - 2010\n" * 20000),
    "long_key.yaml": VALID + "k" * 100_000 + ": 1\n",
    "huge_scalar_error.yaml": sub("to: drive", "to: d" + "r" * 100_000),
}

TOMLS = {
    "syntax.toml": TOML.replace('name = "corpus"', "name = corpus"),
    "unclosed_table.toml": TOML.replace("[sites]", "[sites"),
    "duplicate_key.toml": TOML.replace('name = "corpus"', 'name = "corpus"\nname = "again"'),
    "duplicate_table.toml": TOML + '[sites]\nfile = "x"\n',
    "nan.toml": TOML + "[reduce]\nscale = nan\n",
    "inf_years.toml": TOML.replace('years = "2010..2012"', "years = [2010, inf]"),
    "neg_inf.toml": TOML + "[reduce]\nscale = -inf\n",
    "deep_arrays.toml": TOML.replace('years = "2010..2012"', 'years = "2010..2012"\nvars = { x = ' + "[" * 3000 + "]" * 3000 + " }"),
    "deep_dotted.toml": TOML + "[vars]\n" + ".".join(["a"] * 2000) + " = 1\n",
    "wrong_type.toml": TOML.replace('name = "corpus"', "name = 5"),
    "unknown_field.toml": TOML + "[output]\npaht = \"x.csv\"\n",
    "datetime.toml": TOML.replace('years = "2010..2012"', "years = 2010-01-01T00:00:00Z"),
    "int_overflow.toml": TOML + "[chunks]\nsites_per_task = 99999999999999999999\n",
    "bad_escape.toml": TOML.replace('name = "corpus"', 'name = "cor\\qpus"'),
    "control_char.toml": TOML.replace('name = "corpus"', 'name = "cor\x07pus"'),
    "empty.toml": "",
    "array_of_layers_bad.toml": TOML.replace('[[layers]]\ncatalog = "mapbiomas_lulc"', "layers = 5"),
    "minified.toml": "name = \"corpus\"\nvars = { pad = \"" + "x" * 80_000 + "\" }\nlayres = 1\n",
    "invalid_utf8.toml": None,  # written below
}

FEATURE = {"type": "Feature", "properties": {"site_id": "a", "name": "A"},
           "geometry": {"type": "Polygon", "coordinates": [[[-48.0, -15.0], [-47.99, -15.0], [-47.99, -14.99], [-48.0, -15.0]]]}}


def fc(features, **top):
    d = {"type": "FeatureCollection"}
    d.update(top)
    d["features"] = features
    return json.dumps(d)


def feat(site_id="a", coords=None, gtype="Polygon", props=None, **extra):
    f = json.loads(json.dumps(FEATURE))
    f["properties"]["site_id"] = site_id
    if props is not None:
        f["properties"] = props
    if coords is not None:
        f["geometry"]["coordinates"] = coords
    f["geometry"]["type"] = gtype
    f.update(extra)
    return f


SQUARE = [[[-48.0, -15.0], [-47.99, -15.0], [-47.99, -14.99], [-48.0, -14.99], [-48.0, -15.0]]]

SITES = {
    "not_json.geojson": "this is not json",
    "empty.geojson": "",
    "whitespace.geojson": "   \n\n  ",
    "top_array.geojson": json.dumps([FEATURE]),
    "top_string.geojson": '"FeatureCollection"',
    "no_features.geojson": json.dumps({"type": "FeatureCollection"}),
    "features_object.geojson": json.dumps({"type": "FeatureCollection", "features": {"a": 1}}),
    "features_null.geojson": json.dumps({"type": "FeatureCollection", "features": None}),
    "wrong_type.geojson": json.dumps({"type": "Topology", "features": [FEATURE]}),
    "truncated.geojson": fc([feat("a"), feat("b")])[:-30],
    "unterminated_string.geojson": '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"site_id": "a',
    "trailing_garbage.geojson": fc([feat("a")]) + " trailing",
    "trailing_comma.geojson": fc([feat("a")])[:-2] + ",]}",
    "nan_token.geojson": fc([feat("a")]).replace("-48.0, -15.0], [-47.99", "NaN, -15.0], [-47.99", 1),
    "infinity_token.geojson": fc([feat("a")]).replace("-47.99, -14.99", "Infinity, -14.99", 1),
    "huge_number.geojson": fc([feat("a")]).replace("-47.99, -14.99", "1e400, -14.99", 1),
    "duplicate_ids.geojson": fc([feat("a", SQUARE), feat("b", SQUARE), feat("a", SQUARE)]),
    "many_duplicate_ids.geojson": fc([feat("dup", SQUARE) for _ in range(500)]),
    "missing_id.geojson": fc([feat(props={"name": "x"}, coords=SQUARE)]),
    "null_id.geojson": fc([feat(None, SQUARE)]),
    "float_id.geojson": fc([feat(1.5, SQUARE)]),
    "bool_id.geojson": fc([feat(True, SQUARE)]),
    "object_id.geojson": fc([feat({"x": 1}, SQUARE)]),
    "empty_id.geojson": fc([feat("", SQUARE)]),
    "huge_id.geojson": fc([feat("i" * 100_000, SQUARE)]),
    "properties_null.geojson": fc([feat(props=None, coords=SQUARE) | {"properties": None}]),
    "properties_list.geojson": fc([feat(coords=SQUARE) | {"properties": [1, 2]}]),
    "geometry_null.geojson": fc([feat("a") | {"geometry": None}]),
    "geometry_missing.geojson": fc([{"type": "Feature", "properties": {"site_id": "a"}}]),
    "point.geojson": fc([feat("a", [-48.0, -15.0], "Point")]),
    "linestring.geojson": fc([feat("a", [[-48.0, -15.0], [-47.0, -14.0]], "LineString")]),
    "geometry_collection.geojson": fc([feat("a") | {"geometry": {"type": "GeometryCollection", "geometries": []}}]),
    "unknown_geometry.geojson": fc([feat("a", SQUARE, "Square")]),
    "ring_not_closed.geojson": fc([feat("a", [[[-48.0, -15.0], [-47.99, -15.0], [-47.99, -14.99], [-48.0, -14.99]]])]),
    "ring_too_short.geojson": fc([feat("a", [[[-48.0, -15.0], [-47.99, -15.0], [-48.0, -15.0]]])]),
    "ring_empty.geojson": fc([feat("a", [[]])]),
    "polygon_empty.geojson": fc([feat("a", [])]),
    "coords_text.geojson": fc([feat("a", [[["-48", "-15"], [-47.99, -15.0], [-47.99, -14.99], [-48.0, -15.0]]])]),
    "coords_one_value.geojson": fc([feat("a", [[[-48.0], [-47.99, -15.0], [-47.99, -14.99], [-48.0]]])]),
    "coords_four_values.geojson": fc([feat("a", [[[-48.0, -15.0, 1, 2], [-47.99, -15.0], [-47.99, -14.99], [-48.0, -15.0, 1, 2]]])]),
    "lon_out_of_range.geojson": fc([feat("a", [[[200.0, -15.0], [201.0, -15.0], [201.0, -14.0], [200.0, -15.0]]])]),
    "lat_out_of_range.geojson": fc([feat("a", [[[-48.0, 95.0], [-47.0, 95.0], [-47.0, 96.0], [-48.0, 95.0]]])]),
    "bowtie.geojson": fc([feat("a", [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])]),
    "multipolygon_bad.geojson": fc([feat("a", [[[[-48.0, -15.0], [-47.0, -15.0]]]], "MultiPolygon")]),
    "coords_too_deep.geojson": fc([feat("a", [[[[[[[-48.0, -15.0]]]]]]])]),
    "json_too_deep.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"site_id":"a","x":' + "[" * 5000 + "]" * 5000 + '},"geometry":null}]}',
    "control_chars_id.geojson": fc([feat("a\u001b[31m", SQUARE)]),
    "features_scalar_items.geojson": json.dumps({"type": "FeatureCollection", "features": [1, "x", None]}),
    "feature_wrong_type.geojson": fc([feat("a", SQUARE) | {"type": "Fature"}]),
    "long_line_error.geojson": fc([feat("p" * 50_000, SQUARE) | {"type": "Fature"}]),
    "unbalanced_brackets.geojson": '{"type": "FeatureCollection", "features": [{"type": "Feature"]]}',
    # Keys given twice: the second `features` array, and `site_id` / `coordinates` / `geometry` in one feature.
    "two_features_arrays.geojson": fc([feat("a", SQUARE)])[:-1] + ', "features": ' + json.dumps([feat("b", SQUARE)]) + "}",
    "duplicate_site_id_key.geojson": fc([feat("a", SQUARE)]).replace('"site_id": "a"', '"site_id": "a", "site_id": "b"', 1),
    "duplicate_coordinates_key.geojson": fc([feat("a", SQUARE)]).replace('"coordinates": [[[-48.0', '"coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]], "coordinates": [[[-48.0', 1),
    "duplicate_geometry_key.geojson": fc([feat("a", SQUARE)])[:-3] + ', "geometry": null}]}',
    # Ids that look the same: a Latin `a` and a Cyrillic `а` (a warning at both).
    "lookalike_ids.geojson": fc([feat("a", SQUARE), feat("\u0430", SQUARE)]),
    # Rings without area, holes outside their outer ring.
    "zero_area_ring.geojson": fc([feat("a", [[[-48.0, -15.0], [-47.99, -14.99], [-47.98, -14.98], [-48.0, -15.0]]])]),
    "zero_area_hole.geojson": fc([feat("a", SQUARE + [[[-47.995, -14.995], [-47.994, -14.995], [-47.993, -14.995], [-47.995, -14.995]]])]),
    "hole_outside.geojson": fc([feat("a", SQUARE + [[[-46.0, -15.0], [-45.99, -15.0], [-45.99, -14.99], [-46.0, -15.0]]])]),
    "hole_crossing_shell.geojson": fc([feat("a", SQUARE + [[[-47.995, -14.995], [-47.98, -14.995], [-47.98, -14.994], [-47.995, -14.995]]])]),
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def main():
    for d in ("pipelines", "sites"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    for name, text in PIPELINES.items():
        write(os.path.join(HERE, "pipelines", name), text)
    for name, text in TOMLS.items():
        if text is not None:
            write(os.path.join(HERE, "pipelines", name), text)
    with open(os.path.join(HERE, "pipelines", "invalid_utf8.toml"), "wb") as f:
        f.write(TOML.encode().replace(b"corpus", b"corp\xff\xfeus", 1))
    with open(os.path.join(HERE, "pipelines", "invalid_utf8.yaml"), "wb") as f:
        f.write(VALID.encode().replace(b"corpus", b"corp\xc3\x28us", 1))
    for name, text in SITES.items():
        write(os.path.join(HERE, "sites", name), text)
    with open(os.path.join(HERE, "sites", "invalid_utf8.geojson"), "wb") as f:
        f.write(fc([feat("a", SQUARE)]).encode().replace(b'"A"', b'"\xff\xfe"', 1))
    with open(os.path.join(HERE, "sites", "bom.geojson"), "wb") as f:
        f.write(b"\xef\xbb\xbf" + fc([feat("a", SQUARE), feat("a", SQUARE)]).encode())
    write(os.path.join(HERE, "sites.geojson"), fc([feat("a", SQUARE), feat("b", SQUARE)]))


if __name__ == "__main__":
    main()
