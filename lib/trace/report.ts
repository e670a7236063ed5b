/**
 * The self-contained HTML report of a trace: period timeline, headroom, and
 * a latency histogram per call.
 *
 * @module
 */
import { formatBytes } from "../units.ts";
import { BACKEND_CALLS, CallCollector } from "./stats.ts";
import type { TraceEvent } from "./tracepoints.ts";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function fmtNs(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns} ns`;
}

/** "Nice" axis maximum at or above `x`. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const W = 900, H = 240, L = 70, R = 20, T = 20, B = 40;

function axes(xLabel: string, yLabel: string, xMax: string, yMax: string): string {
  return `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/>` +
    `<line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>` +
    `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${
      (T + H - B) / 2
    })" text-anchor="middle">${esc(yLabel)}</text>` +
    `<text x="${L - 4}" y="${T + 4}" text-anchor="end">${esc(yMax)}</text>` +
    `<text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>` +
    `<text x="${W - R}" y="${H - B + 14}" text-anchor="end">${esc(xMax)}</text>`;
}

/**
 * What a report is drawn from, gathered one event at a time (so a trace can
 * be streamed through it): the period events, the capture's geometry, the
 * time span, the event count and the calls.
 *
 * @example
 * ```ts
 * import { ReportCollector } from "./report.ts";
 * const c = new ReportCollector();
 * c.add({ name: "dumper_period_end", timestamp: 5, fields: { bytes: 4096 } });
 * console.log(c.periods.length, c.count); // 1 1
 * ```
 */
export class ReportCollector {
  /** `dumper_period_end` events. */
  readonly periods: TraceEvent[] = [];
  /** The first `dumper_capture_begin`. */
  capture: TraceEvent | undefined;
  /** The first event's timestamp. */
  t0 = 0;
  /** The last event's timestamp. */
  tEnd = 0;
  /** Events seen. */
  count = 0;
  /** The calls drawn (ringdump's backend calls unless given). */
  readonly calls: CallCollector;

  /** Collects the calls of `calls` (default: every backend call). */
  constructor(calls: CallCollector = new CallCollector(BACKEND_CALLS)) {
    this.calls = calls;
  }

  /** Takes one event. */
  add(e: TraceEvent): void {
    if (this.count++ === 0) this.t0 = e.timestamp;
    this.tEnd = e.timestamp;
    if (e.name === "dumper_period_end") this.periods.push(e);
    else if (e.name === "dumper_capture_begin") this.capture ??= e;
    this.calls.add(e);
  }
}

/**
 * A self-contained HTML report of a trace (inline SVG and CSS, no script, no
 * network): the period timeline (bytes per period, one point per
 * `dumper_period_end`; headroom per period against the ring size) and a
 * latency histogram per backend call with its statistics.
 *
 * @example
 * ```ts
 * import { traceReport } from "./mod.ts";
 * const html = traceReport([], { title: "empty" });
 * console.log(html.startsWith("<!DOCTYPE html>")); // true
 * ```
 */
export function traceReport(
  events: readonly TraceEvent[],
  options: { title?: string; source?: string } = {},
): string {
  const c = new ReportCollector();
  for (const e of events) c.add(e);
  return renderReport(c, options);
}

/**
 * The HTML page of {@linkcode traceReport}, from what a
 * {@linkcode ReportCollector} gathered (the calls drawn are its collector's:
 * backend calls, or libcamera IPA calls).
 *
 * @example
 * ```ts
 * import { renderReport, ReportCollector } from "./report.ts";
 * console.log(renderReport(new ReportCollector()).includes("0 events")); // true
 * ```
 */
export function renderReport(
  input: ReportCollector,
  options: { title?: string; source?: string } = {},
): string {
  const title = options.title ?? "ringdump trace report";
  const { periods, capture, t0, tEnd } = input;
  const span = Math.max(1, tEnd - t0);
  const num = (e: TraceEvent, k: string) => Number(e.fields[k] ?? 0);
  const ringPages = capture
    ? num(capture, "ring_pages")
    : periods.length
    ? num(periods[0], "ring_pages")
    : 0;
  const pageSize = capture ? num(capture, "page_size") : 0;
  const xOf = (t: number) => L + ((t - t0) / span) * (W - L - R);
  const parts: string[] = [];

  // Bytes per period.
  const maxBytes = niceMax(Math.max(0, ...periods.map((p) => num(p, "bytes"))));
  const yBytes = (b: number) => H - B - (b / maxBytes) * (H - B - T);
  let svg = `<svg class="timeline" id="bytes" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="bytes per period">` +
    axes(
      "time since the trace started (s)",
      "bytes per period",
      (span / 1e9).toFixed(3) + " s",
      formatBytes(maxBytes, { digits: 1 }),
    );
  svg += `<polyline class="line" points="${
    periods.map((p) => `${xOf(p.timestamp).toFixed(1)},${yBytes(num(p, "bytes")).toFixed(1)}`)
      .join(" ")
  }"/>`;
  for (const p of periods) {
    svg += `<circle class="period" cx="${xOf(p.timestamp).toFixed(1)}" cy="${
      yBytes(num(p, "bytes")).toFixed(1)
    }" r="2.5"><title>period ${num(p, "period")}: ${num(p, "bytes")} bytes, ${
      num(p, "pages")
    } pages, ${num(p, "reads")} reads, ${num(p, "lost_pages")} lost</title></circle>`;
  }
  svg += "</svg>";
  // A trace of another tracer (LTTng) has no periods: only its calls are drawn.
  const captureTrace = periods.length > 0 || capture !== undefined ||
    input.calls.rule === BACKEND_CALLS;
  if (captureTrace) parts.push(`<h2>Period timeline</h2><p>${periods.length} periods.</p>`, svg);

  // Headroom per period against the ring.
  const maxHead = Math.max(1.1, ...periods.map((p) => num(p, "headroom_ppm") / 1e6)) * 1.05;
  const yHead = (h: number) => H - B - (h / maxHead) * (H - B - T);
  let hsvg =
    `<svg class="timeline" id="headroom" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
    `role="img" aria-label="headroom per period">` +
    axes(
      "time since the trace started (s)",
      "headroom (share of the ring)",
      (span / 1e9).toFixed(3) + " s",
      `${(maxHead * 100).toFixed(0)}%`,
    );
  hsvg +=
    `<line class="ring" x1="${L}" y1="${yHead(1).toFixed(1)}" x2="${W - R}" y2="${
      yHead(1).toFixed(1)
    }"/><text class="ring" x="${W - R - 4}" y="${(yHead(1) - 4).toFixed(1)}" text-anchor="end">` +
    `ring size${
      ringPages
        ? ` (${ringPages} pages${
          pageSize ? `, ${formatBytes(ringPages * pageSize, { digits: 1 })}` : ""
        })`
        : ""
    }: data is lost above this line</text>`;
  for (const p of periods) {
    const h = num(p, "headroom_ppm") / 1e6;
    hsvg += `<circle class="headroom${h >= 1 ? " over" : ""}" cx="${
      xOf(p.timestamp).toFixed(1)
    }" cy="${yHead(h).toFixed(1)}" r="2.5"><title>period ${num(p, "period")}: headroom ${
      (h * 100).toFixed(1)
    }% of the ring (${num(p, "new_pages")} new pages)</title></circle>`;
  }
  hsvg += "</svg>";
  if (captureTrace) parts.push(`<h2>Headroom per period</h2>`, hsvg);

  // Latency histograms.
  const pairs = input.calls.pairer;
  const stats = input.calls.stats();
  const what = input.calls.rule.what;
  parts.push(`<h2>${esc(input.calls.rule.heading)}</h2>`);
  if (stats.calls.length === 0) parts.push(`<p>No ${esc(what)} in the trace.</p>`);
  else {
    parts.push(
      `<table><tr>${
        ["call", "count", "min", "max", "mean", "stddev", "p50", "p99"].map((h) => `<th>${h}</th>`)
          .join("")
      }</tr>${
        stats.calls.map((c) =>
          `<tr><td>${esc(c.key)}</td><td>${c.count}</td>${
            [c.min, c.max, c.mean, c.stddev, c.p50, c.p99].map((x) => `<td>${fmtNs(x)}</td>`).join(
              "",
            )
          }</tr>`
        ).join("")
      }</table>`,
    );
  }
  for (const c of stats.calls) {
    const d = pairs.durations.get(c.key)!;
    const bins = 40;
    const lo = c.min, hi = Math.max(c.max, c.min + 1);
    const counts = new Array<number>(bins).fill(0);
    for (const x of d) counts[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]++;
    const maxCount = Math.max(...counts);
    const bw = (W - L - R) / bins;
    let h = `<svg class="histogram" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ` +
      `role="img" aria-label="latency of ${esc(c.key)}">` +
      axes(`duration (${fmtNs(lo)} .. ${fmtNs(hi)})`, "calls", fmtNs(hi), String(maxCount));
    counts.forEach((n, i) => {
      if (n === 0) return;
      const bh = (n / maxCount) * (H - B - T);
      const from = lo + ((hi - lo) * i) / bins, to = lo + ((hi - lo) * (i + 1)) / bins;
      h += `<rect class="bin" x="${(L + i * bw + 1).toFixed(1)}" y="${(H - B - bh).toFixed(1)}" ` +
        `width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}"><title>${
          fmtNs(Math.round(from))
        }` +
        ` .. ${fmtNs(Math.round(to))}: ${n} calls</title></rect>`;
    });
    h += "</svg>";
    parts.push(`<h3>${esc(c.key)}</h3>`, h);
  }
  if (stats.unmatchedEnds.length || stats.unmatchedBegins.length) {
    parts.push(
      `<p class="warn">${stats.unmatchedEnds.length} ends without a begin, ${stats.unmatchedBegins.length} begins without an end.</p>`,
    );
  }
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
svg{display:block;margin:0.5em 0 1.5em;background:#fafafa;border:1px solid #ddd}
svg text{font-size:11px;fill:#444}
.axis{stroke:#888}
.line{fill:none;stroke:#7aa6d8;stroke-width:1}
circle.period{fill:#1f5fa8}
circle.headroom{fill:#2a9d4b}
circle.headroom.over{fill:#c0392b}
line.ring{stroke:#c0392b;stroke-dasharray:6 4}
text.ring{fill:#c0392b}
rect.bin{fill:#8e6cc1}
table{border-collapse:collapse}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}
.warn{color:#c0392b}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(options.source ?? "")} ${input.count} events over ${fmtNs(span)}.</p>
${parts.join("\n")}
</body></html>
`;
}
