/**
 * One pass over a trace for `trace stats` and `trace report`: ringdump's own
 * traces (Chrome JSON, ringdump's CTF) and LTTng's (any CTF trace under a
 * session directory, streamed a packet at a time), with the pairing rule
 * that fits what the trace holds: libcamera's IPA calls when it has them,
 * ringdump's backend calls otherwise.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { findCtfTraces, readCtfTraces } from "./ctf/lttng.ts";
import { TSDL_MAGIC } from "./ctf/metadata.ts";
import { CTF_MAGIC } from "./ctf_writer.ts";
import { readTrace } from "./read.ts";
import { ReportCollector } from "./report.ts";
import {
  BACKEND_CALLS,
  backendMatches,
  CallCollector,
  LIBCAMERA_IPA_CALLS,
  type PairingRule,
  type TraceStats,
} from "./stats.ts";
import type { TraceEvent } from "./tracepoints.ts";

/** Options of {@linkcode analyzeTrace}. */
export interface AnalyzeOptions {
  /** Read as this format (`json` or `ctf`); default: detected. */
  format?: string;
  /** Only this backend's calls (`ssh` takes in `ssh+agent`): ringdump traces. */
  backend?: string;
  /** Only this pipeline's IPA calls (like analyze-ipa-trace.py's `-p`): libcamera traces. */
  pipeline?: string;
}

/** What one pass over a trace found. */
export interface TraceAnalysis {
  /** The path read. */
  readonly path: string;
  /** `json` or `ctf`. */
  readonly format: "json" | "ctf";
  /** The tracer that wrote it (`ringdump`, `lttng-ust`, ...). */
  readonly tracer: string;
  /** The CTF trace directories read (LTTng: one per buffer scheme and ABI). */
  readonly traces: readonly string[];
  /** Events in the trace. */
  readonly events: number;
  /** Events the tracer discarded (LTTng's full buffers); > 0 means the statistics are of a lossy trace. */
  readonly discarded: number;
  /** The pairing rule applied. */
  readonly rule: PairingRule;
  /** The calls of that rule, and every group (backend, pipeline) seen. */
  readonly calls: CallCollector;
  /** Their statistics. */
  readonly stats: TraceStats;
  /** What `trace report` draws. */
  readonly report: ReportCollector;
}

/** The directory to read with the CTF reader when `path` is (or holds) CTF traces not ringdump's. */
function foreignCtf(path: string): string | undefined {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    return undefined; // readTrace says what is wrong
  }
  const dir = st.isDirectory ? path : path.replace(/\/?[^/]*$/, "") || ".";
  if (!st.isDirectory) {
    try {
      using f = Deno.openSync(path);
      const head = new Uint8Array(4);
      if ((f.readSync(head) ?? 0) < 4) return undefined;
      const magic = new DataView(head.buffer).getUint32(0, true);
      const magicBe = new DataView(head.buffer).getUint32(0, false);
      if (![TSDL_MAGIC, CTF_MAGIC].includes(magic) && ![TSDL_MAGIC, CTF_MAGIC].includes(magicBe)) {
        return undefined;
      }
    } catch {
      return undefined;
    }
  }
  // ringdump's own CTF traces are not listed: ringdump's reader reads them.
  return findCtfTraces(dir).length > 0 ? dir : undefined;
}

/**
 * Reads a trace once and pairs its calls: per key count, min, max, mean,
 * stddev, p50, p99, the unmatched ends and begins, and what the HTML report
 * needs. An LTTng trace is streamed (memory stays flat); ringdump's own
 * traces are read whole. Throws a {@linkcode TraceFormatError} (exit 2) for
 * a trace that cannot be read, and a {@linkcode UsageError} for a filter of
 * the other kind of trace (`--pipeline` on backend calls, `--backend` on
 * libcamera's).
 *
 * @example
 * ```ts
 * import { analyzeTrace } from "./analyze.ts";
 * import { JsonTraceWriter, startTracing } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * const a = await analyzeTrace(path);
 * console.log(a.format, a.events, a.rule.what); // "json" 0 "backend calls"
 * await Deno.remove(path);
 * ```
 */
export async function analyzeTrace(
  path: string,
  options: AnalyzeOptions = {},
): Promise<TraceAnalysis> {
  const { backend, pipeline } = options;
  const backendCalls = new CallCollector(
    BACKEND_CALLS,
    backend === undefined ? undefined : (g) => backendMatches(g, backend),
  );
  const ipaCalls = new CallCollector(
    LIBCAMERA_IPA_CALLS,
    pipeline === undefined ? undefined : (g) => g === pipeline,
  );
  const backendReport = new ReportCollector(backendCalls);
  const ipaReport = new ReportCollector(ipaCalls);
  const add = (e: TraceEvent) => {
    backendReport.add(e);
    ipaReport.add(e);
  };
  let format: "json" | "ctf";
  let tracer = "ringdump";
  let traces: readonly string[] = [];
  let discarded = 0;
  const foreign = options.format === "json" ? undefined : foreignCtf(path);
  if (foreign !== undefined) {
    const summary = readCtfTraces(foreign, add);
    format = "ctf";
    tracer = summary.tracer;
    traces = summary.traces;
    discarded = summary.discarded;
  } else {
    const data = await readTrace(path, { format: options.format });
    format = data.format;
    if (data.format === "ctf") traces = [path];
    for (const e of data.events) add(e);
  }
  const ipa = ipaCalls.events > 0 || (pipeline !== undefined && backendCalls.events === 0);
  if (ipa && backend !== undefined) {
    throw new UsageError(
      `${path}: a backend filter applies to ringdump's backend calls; this trace has ` +
        `libcamera IPA calls (filter them by pipeline)`,
      { option: "backend", value: backend },
    );
  }
  if (!ipa && pipeline !== undefined) {
    throw new UsageError(
      `${path}: a pipeline filter applies to libcamera IPA calls; this trace has ringdump's ` +
        `backend calls (filter them by backend)`,
      { option: "pipeline", value: pipeline },
    );
  }
  const calls = ipa ? ipaCalls : backendCalls;
  const report = ipa ? ipaReport : backendReport;
  return {
    path,
    format,
    tracer,
    traces,
    events: report.count,
    discarded,
    rule: calls.rule,
    calls,
    stats: calls.stats(),
    report,
  };
}
