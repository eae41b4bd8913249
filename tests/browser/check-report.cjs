// Opens a geepipe HTML report in Debian's headless Chromium (driven by playwright-core) and prints, as one
// JSON object on stdout, what a person would see: console errors, every network request, each chart's
// SVG element counts and whether its screenshot has ink, what the site picker and the map metric do,
// keyboard reachability of the picker, and how the page looks in print.
//
// Usage: node check-report.cjs REPORT.html [--pick SITE_ID] [--screenshot OUT.png [--screenshot-height PX]] [--width PX]
// Environment: GEEPIPE_NODE_MODULES (folder holding playwright-core), CHROMIUM (default /usr/bin/chromium).
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.env.GEEPIPE_NODE_MODULES || "node_modules", "playwright-core"));

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

// Counts the SVG marks of every chart container (by Vega mark class) and the pixels of its screenshot.
async function charts(page, selector) {
  const out = {};
  for (const el of await page.$$(selector)) {
    const id = await el.getAttribute("id");
    const counts = await el.evaluate((e) => {
      const c = { svg: e.querySelectorAll("svg").length, canvas: e.querySelectorAll("canvas").length };
      for (const m of ["area", "rect", "shape", "line", "symbol", "rule", "text"]) {
        const g = ".mark-" + m + ".role-mark";
        c[m] = e.querySelectorAll(g + " > path, " + g + " > text, " + g + " > line").length;
      }
      const box = e.getBoundingClientRect();
      c.width = Math.round(box.width);
      c.height = Math.round(box.height);
      c.aria = (e.querySelector("svg") || e).getAttribute("aria-label") || e.getAttribute("aria-label");
      return c;
    });
    counts.ink = await ink(page, el);
    out[id] = counts;
  }
  return out;
}

// Share of non-white pixels in an element's screenshot and the number of distinct colours.
async function ink(page, el) {
  await el.scrollIntoViewIfNeeded();
  const png = await el.screenshot();
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) ink++;
      if (colours.size < 5000) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    return { share: ink / (d.length / 4), colours: colours.size };
  }, png.toString("base64"));
}

async function main() {
  const file = path.resolve(process.argv[2]);
  const url = "file://" + file;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    // playwright-core gives every launch a new empty --user-data-dir of its own and removes it on close.
  });
  const result = { console_errors: [], page_errors: [], requests: [] };
  try {
    const width = +(arg("--width") || 1200);
    const context = await browser.newContext({ viewport: { width: width, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") result.console_errors.push(m.type() + ": " + m.text()); });
    page.on("pageerror", (e) => result.page_errors.push(String(e)));
    page.on("request", (r) => { if (!r.url().startsWith("data:") && r.url() !== url) result.requests.push(r.url()); });
    await context.route("**/*", (route) => {
      const u = route.request().url();
      if (u.startsWith("file:") || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
      return route.abort();
    });
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForSelector("html[data-ready=true], #status.error", { timeout: 240000 });
    result.load_ms = Date.now() - t0;
    result.status = await page.textContent("#status");
    result.title = await page.title();
    result.charts = await charts(page, "main > section .chart");
    result.site_view = { site: await page.getAttribute("#site-view", "data-site"), charts: await charts(page, "#site-charts .chart") };
    result.picker_options = await page.$$eval("#site-picker option", (o) => o.filter((x) => !x.disabled).length);
    result.map_metrics = await page.$$eval("#map-metric option", (o) => o.map((x) => x.textContent));

    const shot = arg("--screenshot");
    if (shot) {
      await page.evaluate(() => window.scrollTo(0, 0));
      const height = +(arg("--screenshot-height") || 900);
      await page.screenshot({ path: shot, fullPage: true, clip: { x: 0, y: 0, width: width, height: height } });
    }

    // Keyboard: Tab from the top reaches the picker; ArrowDown there opens the next site.
    await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
    let tabs = 0;
    for (; tabs < 400; tabs++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement && document.activeElement.id === "site-picker")) break;
    }
    result.tabs_to_picker = tabs < 400 ? tabs + 1 : null;
    if (result.tabs_to_picker) {
      const before = await page.getAttribute("#site-view", "data-site");
      await page.keyboard.press("ArrowDown");
      await page.waitForFunction((b) => { const s = document.querySelector("#site-view").getAttribute("data-site"); return s && s !== b; }, before, { timeout: 60000 });
      result.keyboard_site = await page.getAttribute("#site-view", "data-site");
    }

    // The picker: choose a site by id.
    const pick = arg("--pick");
    if (pick) {
      const value = await page.$$eval("#site-picker option", (o, id) => { const x = o.find((x) => x.textContent.split(" — ")[0] === id); return x ? x.value : null; }, pick);
      if (value !== null) {
        await page.selectOption("#site-picker", value);
        await page.waitForSelector(`#site-view[data-site="${pick}"]`, { timeout: 60000 });
      }
      result.picked = {
        site: await page.getAttribute("#site-view", "data-site"),
        title: await page.textContent("#site-title"),
        facts: await page.$$eval("#site-facts dt", (d) => d.map((x) => [x.textContent, x.nextElementSibling.textContent])),
        charts: await charts(page, "#site-charts .chart"),
        tables: await page.$$eval("#site-charts table", (ts) => ts.map((t) => [...t.rows].map((r) => [...r.cells].map((c) => c.textContent)))),
        hash: await page.evaluate(() => location.hash),
      };
    }

    // Hover a site on the map: the tooltip names it.
    const shape = await page.$("#chart-map .mark-shape.role-mark > path");
    if (shape) {
      await shape.scrollIntoViewIfNeeded();
      await shape.hover({ force: true });
      await page.waitForTimeout(300);
      result.tooltip = await page.evaluate(() => { const t = document.getElementById("vg-tooltip-element"); return t && t.classList.contains("visible") ? t.textContent : null; });
    }

    // Another map metric redraws the map.
    const metrics = await page.$$eval("#map-metric option", (o) => o.length);
    if (metrics > 1) {
      await page.selectOption("#map-metric", "1");
      await page.waitForTimeout(500);
      await page.waitForFunction(() => document.querySelectorAll("#chart-map .mark-shape > path, #chart-map canvas").length > 0, null, { timeout: 60000 });
      result.map_after_metric = (await charts(page, "#chart-map"))["chart-map"];
    }

    // Print: controls hidden, charts still drawn.
    await page.emulateMedia({ media: "print" });
    result.print = await page.evaluate(() => ({
      controls_hidden: [...document.querySelectorAll(".controls, nav")].every((e) => getComputedStyle(e).display === "none"),
      charts_with_size: [...document.querySelectorAll("main .chart svg")].filter((s) => s.getBoundingClientRect().width > 0).length,
    }));
    const pdf = await page.pdf({ format: "A4" });
    result.print.pdf_bytes = pdf.length;
    await page.emulateMedia({ media: "screen" });

  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result, null, 1) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
