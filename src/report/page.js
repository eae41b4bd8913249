// geepipe report page script: inflates the inline data block, draws the aggregate charts with vega-embed,
// the map of the site outlines (coloured by a chosen measure) and the view of one site (site picker).
// Needs no network: the data, the chart libraries and this script are all in the page.
(function () {
  "use strict";
  const statusEl = document.getElementById("status");
  const EMBED = {
    mode: "vega-lite",
    renderer: "svg",
    actions: { export: true, source: false, compiled: false, editor: false },
  };

  function fail(e) {
    console.error(e);
    statusEl.textContent = "Some charts could not be drawn: " + ((e && e.message) || e);
    statusEl.className = "error";
  }

  async function inflate() {
    const text = document.getElementById("report-data").textContent.trim();
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const all = new Uint8Array(await new Response(stream).arrayBuffer());
    // [JSON length, u32 little-endian][JSON][binary per-site streams] (see pack.rs).
    const n = new DataView(all.buffer).getUint32(0, true);
    const d = JSON.parse(new TextDecoder().decode(all.subarray(4, 4 + n)));
    const blob = all.subarray(4 + n);
    const sites = d.sites.ids.length;
    d.layers.forEach((L) => {
      const ny = L.years.length;
      if (L.kind === "categorical") {
        const r = reader(blob, L.site);
        const out = new Array(sites);
        for (let s = 0; s < sites; s++) {
          const nc = r.uint();
          const c = [];
          for (let k = 0; k < nc; k++) c.push(r.uint());
          const t = [];
          for (let y = 0; y < ny; y++) t.push(r.opt());
          const v = [];
          for (let k = 0; k < nc; k++) {
            const row = [];
            for (let y = 0; y < ny; y++) row.push(r.opt());
            v.push(row);
          }
          out[s] = { t: t, c: c, v: v };
        }
        L.site = out;
      } else {
        L.series.forEach((S) => {
          const r = reader(blob, S.site);
          const out = new Array(sites);
          for (let s = 0; s < sites; s++) {
            const m = r.opt();
            if (m === null) { out[s] = []; continue; }
            const e = [m];
            for (let y = 0; y < ny; y++) e.push(r.opt());
            out[s] = e;
          }
          S.site = out;
        });
      }
    });
    return d;
  }

  // Reads one stream of pack.rs: unsigned LEB128 varints; optional integers as 0 or zigzag + 1.
  function reader(bytes, at) {
    let p = at.o;
    const end = at.o + at.n;
    const r = {
      uint() {
        let x = 0, scale = 1, b;
        do {
          if (p >= end) throw new Error("the report's data block is truncated");
          b = bytes[p++];
          x += (b & 127) * scale;
          scale *= 128;
        } while (b & 128);
        return x;
      },
      opt() {
        const u = r.uint();
        if (u === 0) return null;
        const z = u - 1;
        return z % 2 ? -(z + 1) / 2 : z / 2;
      },
    };
    return r;
  }

  // Undoes the delta coding of a series with gaps (null stays null).
  function cumsum(d) {
    let p = 0;
    return d.map((x) => (x === null ? null : (p += x)));
  }
  function scaled(q, step) {
    if (q === null) return null;
    return step < 1 ? q / Math.round(1 / step) : q * step;
  }
  const label = (c) => c.code + " " + c.name;
  const round4 = (x) => (x === null ? null : +x.toPrecision(4));

  let data, ids, names, mapView = null, current = -1, siteViews = [];

  function siteName(s) {
    return names ? names[s] : "";
  }

  // A categorical layer's values for site s: per year the covered hectares and the class shares (‰).
  function classTable(L, s) {
    const e = L.site[s];
    const tot = cumsum(e.t).map((x) => (x === null ? null : x / 100));
    const shares = e.c.map((ci, k) => ({ ci: ci, sh: cumsum(e.v[k]) }));
    return { tot: tot, shares: shares };
  }

  function yearsWithData(tot) {
    const ys = [];
    tot.forEach((x, i) => { if (x !== null) ys.push(i); });
    return ys;
  }

  // ---- map ----------------------------------------------------------------------------------------
  function ringCoords(r) {
    const out = [];
    let x = 0, y = 0;
    for (let i = 0; i < r.length; i += 2) {
      x += r[i];
      y += r[i + 1];
      out.push([x, y]);
    }
    out.push(out[0]);
    return out;
  }

  function dominant(L, s, which) {
    const t = classTable(L, s);
    const ys = yearsWithData(t.tot);
    if (!ys.length || !t.shares.length) return null;
    const y = which === "last" ? ys[ys.length - 1] : ys[0];
    let best = null, bestV = -1;
    t.shares.forEach((c) => { if (c.sh[y] > bestV) { bestV = c.sh[y]; best = c.ci; } });
    return best === null ? null : label(L.classes[best]);
  }

  function shareChange(L, s, ci) {
    const t = classTable(L, s);
    const ys = yearsWithData(t.tot);
    if (ys.length < 2) return null;
    const c = t.shares.find((c) => c.ci === ci);
    if (!c) return 0;
    return (c.sh[ys[ys.length - 1]] - c.sh[ys[0]]) / 10;
  }

  // A continuous series of site s: [mean, deviation per year…] in steps (see stats.rs).
  function seriesValues(L, S, s) {
    const e = S.site[s];
    if (!e.length) return L.years.map(() => null);
    return e.slice(1).map((d) => (d === null ? null : scaled(e[0] + d, S.step)));
  }

  function metrics() {
    const m = [];
    data.layers.forEach((L) => {
      if (L.kind === "categorical") {
        if (!L.classes.length) return;
        const domain = L.classes.map(label), range = L.classes.map((c) => c.color);
        for (const which of ["last", "first"]) {
          m.push({
            label: L.name + ": main class in the site's " + which + " year with data",
            nominal: { domain: domain, range: range },
            value: (s) => dominant(L, s, which),
          });
        }
        L.classes.forEach((c, ci) => {
          m.push({
            label: L.name + ": change of " + label(c) + " (percentage points of the site, first → last year)",
            diverging: true,
            value: (s) => shareChange(L, s, ci),
          });
        });
      } else {
        L.series.forEach((S) => {
          const name = L.name + " " + S.band + " " + S.stat;
          m.push({
            label: name + ", last year with a value",
            value: (s) => { const v = seriesValues(L, S, s).filter((x) => x !== null); return v.length ? round4(v[v.length - 1]) : null; },
          });
          m.push({
            label: name + ", change first → last year",
            diverging: true,
            value: (s) => { const v = seriesValues(L, S, s).filter((x) => x !== null); return v.length > 1 ? round4(v[v.length - 1] - v[0]) : null; },
          });
        });
      }
    });
    if (data.compare) {
      const c = data.compare;
      if (c.area_pct.some((x) => x !== null)) {
        m.push({ label: "difference against " + c.other + " (% of the site's area)", value: (s) => c.area_pct[s] });
      }
      c.series.forEach((name, k) => {
        m.push({ label: "difference against " + c.other + ": max |Δ| " + name, value: (s) => c.values[k][s] });
      });
    }
    return m;
  }

  async function drawMap(metric) {
    const el = document.getElementById("chart-map");
    if (!el || !data.frame) return;
    const features = [];
    data.geom.forEach((g, s) => {
      if (!g) return;
      features.push({
        type: "Feature",
        properties: { i: s, id: ids[s], name: siteName(s), v: metric.value(s) },
        geometry: { type: "MultiPolygon", coordinates: g.map((poly) => poly.map(ringCoords)) },
      });
    });
    let color;
    if (metric.nominal) {
      color = { field: "properties.v", type: "nominal", title: null, scale: metric.nominal, legend: { orient: "top", columns: 4, symbolStrokeColor: "#555", symbolStrokeWidth: 0.5 } };
    } else if (metric.diverging) {
      color = { field: "properties.v", type: "quantitative", title: null, scale: { scheme: "blueorange", domainMid: 0 }, legend: { orient: "top" } };
    } else {
      color = { field: "properties.v", type: "quantitative", title: null, scale: { scheme: "viridis" }, legend: { orient: "top" } };
    }
    // The legend goes above the map, so the sites' extent gets the whole width (the menu button takes
    // about 40 px of it) and the height follows the extent's shape: no empty band beside or below it.
    const width = Math.max(200, (el.clientWidth || 800) - 40);
    const height = Math.round(Math.min(650, Math.max(240, (width * data.frame.height) / Math.max(1, data.frame.width))));
    const stroke = features.length > 2000 ? 0.2 : 0.6;
    const tooltip = [
      { field: "properties.id", title: data.idColumn },
      { field: "properties.name", title: "name" },
      { field: "properties.v", title: metric.label },
    ];
    const spec = {
      description: "Map of " + features.length + " site outlines coloured by " + metric.label + ".",
      width: "container",
      height: height,
      config: { font: "system-ui, sans-serif", view: { stroke: null } },
      params: [{ name: "sel", value: current }],
      data: { values: features },
      projection: { type: "identity", reflectY: false },
      layer: [
        {
          transform: [{ filter: "datum.properties.v === null" }],
          mark: { type: "geoshape", fill: "#d9d9d9", stroke: "#737373", strokeWidth: stroke },
          encoding: { tooltip: tooltip },
        },
        {
          transform: [{ filter: "datum.properties.v !== null" }],
          mark: { type: "geoshape", stroke: "#525252", strokeWidth: stroke },
          encoding: { color: color, tooltip: tooltip },
        },
        {
          transform: [{ filter: "datum.properties.i === sel" }],
          mark: { type: "geoshape", filled: false, stroke: "#e7298a", strokeWidth: 3 },
        },
      ],
    };
    if (mapView) mapView.finalize();
    const res = await vegaEmbed(el, spec, Object.assign({}, EMBED, { renderer: data.mapRenderer }));
    mapView = res.view;
    mapView.addEventListener("click", (_ev, item) => {
      if (item && item.datum && item.datum.properties) showSite(item.datum.properties.i, true);
    });
    el.setAttribute("aria-label", spec.description + " The site picker below gives each site's values as text.");
  }

  // ---- one site -----------------------------------------------------------------------------------
  function fact(dl, k, v) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }

  function textTable(caption, head, rows) {
    const t = document.createElement("table");
    const c = document.createElement("caption");
    c.textContent = caption;
    t.append(c);
    const thead = t.createTHead().insertRow();
    head.forEach((h) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = h; thead.append(th); });
    const tb = t.createTBody();
    rows.forEach((r) => {
      const tr = tb.insertRow();
      r.forEach((x, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        cell.textContent = x === null || x === undefined ? "–" : String(x);
        tr.append(cell);
      });
    });
    const wrap = document.createElement("div");
    wrap.className = "scroll";
    wrap.append(t);
    return wrap;
  }

  function figure(id, description, caption) {
    const fig = document.createElement("figure");
    const div = document.createElement("div");
    div.className = "chart";
    div.id = id;
    div.setAttribute("role", "img");
    div.setAttribute("aria-label", description);
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(div, cap);
    return fig;
  }

  async function showSite(s, updateHash) {
    if (s < 0 || s >= ids.length) return;
    current = s;
    const picker = document.getElementById("site-picker");
    if (![...picker.options].some((o) => +o.value === s)) picker.add(new Option(optionText(s), s), 0);
    picker.value = String(s);
    const view = document.getElementById("site-view");
    view.removeAttribute("data-site");
    document.getElementById("site-title").textContent = ids[s] + (siteName(s) ? " — " + siteName(s) : "");
    const dl = document.getElementById("site-facts");
    dl.replaceChildren();
    fact(dl, data.idColumn, ids[s]);
    Object.keys(data.sites.props).forEach((k) => fact(dl, k, data.sites.props[k][s] || "–"));
    if (data.compare) {
      const c = data.compare;
      if (c.area_pct[s] !== null) fact(dl, "difference against " + c.other, c.area_pct[s] + " % of the site's area (" + c.area_ha[s] + " ha)");
      c.series.forEach((name, k) => { if (c.values[k][s] !== null) fact(dl, "max |Δ| " + name, c.values[k][s]); });
    }
    siteViews.forEach((v) => v.finalize());
    siteViews = [];
    const box = document.getElementById("site-charts");
    box.replaceChildren();
    const embeds = [];
    data.layers.forEach((L, li) => {
      const h = document.createElement("h4");
      h.textContent = L.name;
      box.append(h);
      if (L.kind === "categorical") {
        const t = classTable(L, s);
        const ys = yearsWithData(t.tot);
        if (!ys.length) {
          const p = document.createElement("p");
          p.textContent = "No data for this site.";
          box.append(p);
          return;
        }
        const areas = ys.map((y) => round4(t.tot[y]));
        const span = L.years[ys[0]] + (ys.length > 1 ? "–" + L.years[ys[ys.length - 1]] : "");
        fact(dl, L.name + " area covered", areas.every((a) => a === areas[0])
          ? areas[0] + " ha in each year with data (" + ys.length + " years, " + span + ")"
          : ys.map((y, k) => L.years[y] + ": " + areas[k] + " ha").join(", "));
        const rows = [];
        t.shares.forEach((c) => ys.forEach((y) => {
          rows.push({ year: L.years[y], class: label(L.classes[c.ci]), code: L.classes[c.ci].code, area_ha: round4((t.tot[y] * c.sh[y]) / 1000) });
        }));
        const present = t.shares.map((c) => L.classes[c.ci]);
        const desc = "Stacked areas: area of each class of " + L.name + " in site " + ids[s] + " per year, in hectares.";
        box.append(figure("site-chart-" + li, desc, "Class areas of this site per year (from shares rounded to 0.1%)."));
        const spec = {
          description: desc,
          width: "container",
          height: 220,
          config: { font: "system-ui, sans-serif", view: { stroke: null } },
          data: { values: rows },
          mark: ys.length > 1 ? { type: "area" } : { type: "bar" },
          encoding: {
            x: { field: "year", type: "ordinal", axis: { labelAngle: 0 } },
            y: { field: "area_ha", type: "quantitative", stack: "zero", title: "area (ha)" },
            color: { field: "class", type: "nominal", scale: { domain: present.map(label), range: present.map((c) => c.color) } },
            order: { field: "code", type: "quantitative" },
            tooltip: [{ field: "year" }, { field: "class" }, { field: "area_ha", title: "area (ha)" }],
          },
        };
        embeds.push(vegaEmbed("#site-chart-" + li, spec, EMBED).then((r) => siteViews.push(r.view)));
        box.append(textTable(
          "Area per class (ha) in " + ids[s],
          ["class"].concat(ys.map((y) => String(L.years[y]))),
          present.map((c, k) => [label(c)].concat(ys.map((y) => round4((t.tot[y] * t.shares[k].sh[y]) / 1000)))),
        ));
      } else {
        const rows = [];
        const table = [];
        L.series.forEach((S) => {
          const v = seriesValues(L, S, s);
          const name = S.band + " " + S.stat;
          L.years.forEach((y, yi) => {
            if (v[yi] !== null) rows.push({ year: y, series: name + " (this site)", value: round4(v[yi]) });
            if (S.median[yi] !== null) rows.push({ year: y, series: name + " (median of all sites)", value: S.median[yi] });
          });
          table.push([name].concat(v.map(round4)));
        });
        if (!rows.some((r) => r.series.endsWith("(this site)"))) {
          const p = document.createElement("p");
          p.textContent = "No values for this site.";
          box.append(p);
          return;
        }
        const desc = "Line chart: " + L.name + " values of site " + ids[s] + " per year, with the median of all sites dashed.";
        box.append(figure("site-chart-" + li, desc, "This site's values (solid) and the median of all sites (dashed)."));
        const spec = {
          description: desc,
          width: "container",
          height: 200,
          config: { font: "system-ui, sans-serif", view: { stroke: null } },
          data: { values: rows },
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "year", type: "ordinal", axis: { labelAngle: 0 } },
            y: { field: "value", type: "quantitative", scale: { zero: false }, title: L.units || "value" },
            color: { field: "series", type: "nominal", title: null },
            strokeDash: { condition: { test: "indexof(datum.series, '(median') >= 0", value: [4, 3] }, value: [1, 0] },
            tooltip: [{ field: "year" }, { field: "series" }, { field: "value" }],
          },
        };
        embeds.push(vegaEmbed("#site-chart-" + li, spec, EMBED).then((r) => siteViews.push(r.view)));
        const steps = L.series.map((S) => S.band + " " + S.stat + " to " + S.step).join(", ");
        box.append(textTable("Values of " + ids[s] + " (rounded: " + steps + ")", ["series"].concat(L.years.map(String)), table));
      }
    });
    await Promise.all(embeds);
    if (mapView) await mapView.signal("sel", s).runAsync();
    if (updateHash) history.replaceState(null, "", "#site=" + encodeURIComponent(ids[s]));
    view.setAttribute("data-site", ids[s]);
  }

  function optionText(s) {
    return ids[s] + (siteName(s) ? " — " + siteName(s) : "");
  }

  const LIMIT = 10000;
  function fillPicker(filter) {
    const picker = document.getElementById("site-picker");
    const f = (filter || "").trim().toLowerCase();
    const opts = [];
    let more = 0;
    for (let s = 0; s < ids.length; s++) {
      if (f && !optionText(s).toLowerCase().includes(f)) continue;
      if (opts.length >= LIMIT) { more++; continue; }
      opts.push(new Option(optionText(s), s));
    }
    picker.replaceChildren(...opts);
    if (more) {
      const o = new Option("… " + more + " more: type in Find to narrow", "");
      o.disabled = true;
      picker.add(o);
    }
    if (opts.some((o) => +o.value === current)) picker.value = String(current);
  }

  function siteFromHash() {
    const m = /^#site=(.*)$/.exec(location.hash);
    if (!m) return -1;
    return ids.indexOf(decodeURIComponent(m[1]));
  }

  async function main() {
    data = await inflate();
    ids = data.sites.ids;
    const keep = Object.keys(data.sites.props);
    names = keep.length ? data.sites.props[keep.includes("name") ? "name" : keep[0]] : null;
    const charts = data.charts.map((c) => vegaEmbed("#" + c.id, c.spec, EMBED));
    await Promise.all(charts);
    const ms = metrics();
    const sel = document.getElementById("map-metric");
    if (sel && data.frame && ms.length) {
      ms.forEach((m, i) => sel.add(new Option(m.label, i)));
      sel.addEventListener("change", () => drawMap(ms[+sel.value]).catch(fail));
      await drawMap(ms[0]);
    } else if (data.frame) {
      await drawMap({ label: "site", value: () => null });
    }
    fillPicker("");
    const picker = document.getElementById("site-picker");
    picker.addEventListener("change", () => { if (picker.value !== "") showSite(+picker.value, true).catch(fail); });
    document.getElementById("site-filter").addEventListener("input", (e) => fillPicker(e.target.value));
    document.getElementById("site-prev").addEventListener("click", () => showSite((current - 1 + ids.length) % ids.length, true).catch(fail));
    document.getElementById("site-next").addEventListener("click", () => showSite((current + 1) % ids.length, true).catch(fail));
    window.addEventListener("hashchange", () => {
      const s = siteFromHash();
      if (s >= 0 && s !== current) {
        showSite(s, false).then(() => document.getElementById("site").scrollIntoView()).catch(fail);
      }
    });
    if (ids.length) {
      const s = siteFromHash();
      await showSite(s >= 0 ? s : 0, false);
    }
    statusEl.textContent = "All charts drawn.";
    document.documentElement.setAttribute("data-ready", "true");
  }

  main().catch(fail);
})();
