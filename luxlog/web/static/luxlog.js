// luxlog serve: fetches /api/v1/... and draws with uPlot. Plain JS, no build step, no
// inline script (the page's CSP is default-src 'self').
"use strict";
(function () {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const RETAIN = 1; // uPlot.join: keep our nulls (gaps); other series' holes are joined

  function fail(message) {
    const el = $("error");
    el.textContent = message;
    el.hidden = false;
  }

  async function get(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const json = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(json.error || response.statusText);
    return json;
  }

  function fmt(value, unit, digits) {
    if (value === null || value === undefined) return "–";
    const text = typeof value === "number" ? value.toFixed(digits === undefined ? 1 : digits) : value;
    return unit ? text + " " + unit : String(text);
  }

  function cards(el, items) {
    el.replaceChildren();
    for (const [label, text] of items) {
      const card = document.createElement("div");
      card.className = "card";
      const span = document.createElement("span");
      span.textContent = label;
      const b = document.createElement("b");
      b.textContent = text;
      card.append(span, b);
      el.append(card);
    }
  }

  function link(id, href) {
    const a = $(id);
    if (!a) return;
    if (href) a.href = href;
    else a.hidden = true;
  }

  function chartWidth(el) {
    return Math.max(320, el.clientWidth - 2 || 900);
  }

  function drawn(el, plot) {
    el.dataset.drawn = "1";
    window.luxlogCharts = (window.luxlogCharts || 0) + 1;
    window.luxlogDrawnAt = performance.now();
    return plot;
  }

  function shade(spansList, colours) {
    return (u) => {
      const ctx = u.ctx;
      ctx.save();
      spansList.forEach((spans, i) => {
        ctx.fillStyle = colours[i];
        for (const [a, b] of spans) {
          const x0 = u.valToPos(a, "x", true);
          const x1 = u.valToPos(b, "x", true);
          ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
        }
      });
      ctx.restore();
    };
  }

  function timeOpts(tz) {
    return tz ? { tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz) } : {};
  }

  function lineChart(el, data, seriesList, opts) {
    const tables = seriesList.map((s) => [s.t, s.v]);
    const joined = tables.length ? uPlot.join(tables, tables.map(() => [RETAIN])) : [[]];
    const options = Object.assign(
      {
        width: chartWidth(el),
        height: 260,
        scales: { x: { time: true, range: [data.start, data.end] } },
        series: [{}].concat(
          seriesList.map((s) => ({ label: s.label, stroke: s.colour, width: 1.5, value: (u, v) => fmt(v, s.unit) }))
        ),
        axes: [{}, { label: seriesList.length ? seriesList[0].unit : "" }],
      },
      timeOpts(data.timezone),
      opts || {}
    );
    return drawn(el, new uPlot(options, joined, el));
  }

  function bandChart(el, data) {
    const bands = data.bands;
    const options = Object.assign(
      {
        width: chartWidth(el),
        height: 40 + 22 * bands.length,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: [data.start, data.end] }, y: { auto: false, range: [0, bands.length] } },
        series: [{}, { show: false }],
        axes: [
          {},
          {
            size: 110,
            splits: () => bands.map((_, i) => bands.length - i - 0.5),
            values: () => bands.map((b) => b.label),
            grid: { show: false },
          },
        ],
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              bands.forEach((band, i) => {
                const top = u.valToPos(bands.length - i, "y", true);
                const bottom = u.valToPos(bands.length - i - 1, "y", true);
                ctx.fillStyle = band.colour;
                for (const [a, b] of band.spans) {
                  const x0 = u.valToPos(a, "x", true);
                  const x1 = u.valToPos(b, "x", true);
                  ctx.fillRect(x0, top + 2, Math.max(1, x1 - x0), bottom - top - 4);
                }
              });
              ctx.restore();
            },
          ],
        },
      },
      timeOpts(data.timezone)
    );
    return drawn(el, new uPlot(options, [[data.start, data.end], [null, null]], el));
  }

  async function dayPage() {
    const el = $("chart-temperatures");
    const data = await get(`/api/v1/day/${body.dataset.day}?width=${chartWidth(el)}`);
    link("prev", `/day/${data.previous}`);
    link("next", data.next && `/day/${data.next}`);
    const f = data.figures;
    cards($("figures"), [
      ["Heat", fmt(f.heat_kwh, "kWh")],
      ["Electricity", fmt(f.electricity_kwh, "kWh")],
      ["COP", fmt(f.cop, "", 2)],
      ["Compressor starts", fmt(f.compressor_starts, "", 0)],
      ["Compressor", fmt(f.compressor_hours, "h")],
      ["Outdoor mean", fmt(f.outdoor_mean_c, "°C")],
      ["Coverage", fmt(f.coverage_pct, "%", 0)],
    ]);
    const band = (key) => (data.bands.find((b) => b.key === key) || { spans: [] }).spans;
    lineChart(el, data, data.temperatures, {
      hooks: {
        drawClear: [
          shade(
            [band("hot_water_mode"), band("defrost"), data.gaps],
            ["rgba(204,121,167,0.15)", "rgba(86,180,233,0.25)", "rgba(0,0,0,0.08)"]
          ),
        ],
      },
    });
    bandChart($("chart-bands"), data);
    lineChart($("chart-power"), data, data.power);
    $("power-note").textContent = data.power_note;
  }

  function bars(size) {
    return uPlot.paths.bars({ size: [size, 80] });
  }

  async function periodPage() {
    const data = await get(`/api/v1/period/${body.dataset.kind}/${body.dataset.day}`);
    $("label").textContent = `${data.kind[0].toUpperCase()}${data.kind.slice(1)} ${data.label}`;
    link("prev", data.previous && `/period/${data.kind}/${data.previous}`);
    link("next", data.next && `/period/${data.kind}/${data.next}`);
    const t = data.totals;
    cards($("figures"), [
      ["Heat", fmt(t.heat_kwh, "kWh", 0)],
      ["Electricity", fmt(t.electricity_kwh, "kWh", 0)],
      ["COP", fmt(t.cop, "", 2)],
      ["Compressor starts", fmt(t.compressor_starts, "", 0)],
      ["Minutes per start", fmt(t.minutes_per_start, "min")],
      ["Heating", fmt(t.heating_hours, "h")],
      ["Hot water", fmt(t.hot_water_hours, "h")],
      ["Coverage", fmt(t.coverage_pct, "%", 0)],
    ]);
    const d = data.days;
    const half = 43200;
    const base = {
      height: 240,
      scales: { x: { time: true, range: [d.t[0] - half, d.t[d.t.length - 1] + half] } },
    };
    const plot = (id, series, columns, axes, scales) => {
      const el = $(id);
      const options = Object.assign({}, base, {
        width: chartWidth(el),
        series: [{}].concat(series),
        axes: [{}].concat(axes),
        // Bars start at zero: a day with 8 starts must not look like none.
        scales: Object.assign({ y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } }, base.scales, scales || {}),
      });
      drawn(el, new uPlot(options, [d.t].concat(columns), el));
    };
    plot(
      "chart-energy",
      [
        { label: "Heat kWh", fill: "rgba(213,94,0,0.5)", stroke: "#D55E00", paths: bars(0.8) },
        { label: "Electricity kWh", fill: "rgba(0,158,115,0.7)", stroke: "#009E73", paths: bars(0.4) },
        { label: "COP", stroke: "#0072B2", width: 2, scale: "cop" },
      ],
      [d.heat_kwh, d.electricity_kwh, d.cop],
      [{ label: "kWh" }, { scale: "cop", side: 1, label: "COP", grid: { show: false } }]
    );
    plot(
      "chart-starts",
      [
        { label: "Starts", fill: "rgba(68,68,68,0.5)", stroke: "#444", paths: bars(0.7) },
        { label: "Minutes per start", stroke: "#E69F00", width: 2, scale: "min" },
      ],
      [d.compressor_starts, d.minutes_per_start],
      [{ label: "starts" }, { scale: "min", side: 1, label: "min", grid: { show: false } }]
    );
    plot(
      "chart-modes",
      [
        { label: "Heating h", fill: "rgba(213,94,0,0.5)", stroke: "#D55E00", paths: bars(0.8) },
        { label: "Hot water h", fill: "rgba(204,121,167,0.8)", stroke: "#CC79A7", paths: bars(0.4) },
      ],
      [d.heating_hours, d.hot_water_hours],
      [{ label: "h" }]
    );
    plot(
      "chart-coverage",
      [
        { label: "Coverage %", fill: "rgba(0,114,178,0.4)", stroke: "#0072B2", paths: bars(0.8) },
        { label: "Hours missing", stroke: "#b00020", width: 2, scale: "h", points: { show: true } },
      ],
      [d.coverage_pct, d.gap_hours],
      [{ label: "%" }, { scale: "h", side: 1, label: "h missing", grid: { show: false } }],
      { y: { auto: false, range: [0, 100] } }
    );
    $("source").textContent = `daily figures from: ${data.source}`;
  }

  async function curvePage() {
    const days = new URLSearchParams(location.search).get("days") || "14";
    const data = await get(`/api/v1/curve?last=${body.dataset.last}&days=${encodeURIComponent(days)}`);
    const el = $("chart-curve");
    const options = {
      width: chartWidth(el),
      height: 360,
      scales: { x: { time: false } },
      series: [
        { label: "Outdoor °C" },
        { label: "Return target", stroke: "#000", width: 2 },
        { label: "Return", stroke: "#E69F00", width: 0, points: { show: true, size: 6, fill: "#E69F00" } },
        { label: "Flow", stroke: "#D55E00", width: 0, points: { show: true, size: 6, fill: "#D55E00" } },
      ],
      axes: [{ label: "outdoor °C" }, { label: "°C" }],
    };
    const columns = [data.outdoor_c, data.return_target_c, data.return_c, data.flow_c];
    drawn(el, new uPlot(options, columns, el));
  }

  async function nowPage() {
    const data = await get("/api/v1/now");
    const v = data.values;
    $("v-mode").textContent = fmt(v.mode);
    for (const key of ["flow_c", "return_c", "return_target_c", "outdoor_c", "hot_water_c"]) {
      $("v-" + key).textContent = fmt(v[key], "°C");
    }
    $("v-age").textContent = data.age_sec === null ? "none yet" : `${fmt(data.age_sec / 60, "", 1)} min ago`;
    const verdict = $("verdict");
    verdict.textContent = data.healthy ? "healthy" : "needs attention";
    verdict.className = "verdict " + (data.healthy ? "ok" : "bad");
    const list = $("reasons");
    list.replaceChildren(
      ...data.reasons.map((r) => {
        const li = document.createElement("li");
        li.textContent = r;
        return li;
      })
    );
    body.dataset.loaded = "1";
  }

  const pages = { now: nowPage, day: dayPage, period: periodPage, curve: curvePage };
  document.addEventListener("DOMContentLoaded", () => {
    const page = pages[body.dataset.page];
    if (!page) return;
    const run = () => page().catch((e) => fail(e.message));
    run();
    if (body.dataset.page === "now") setInterval(run, 30000);
  });
})();
