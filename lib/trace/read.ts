/**
 * Reading a trace back: the format is detected (a CTF directory, its
 * `metadata` file, or a Chrome Trace Event JSON file) and the events are
 * returned in time order.
 *
 * @module
 */
import { readCtf } from "./ctf_read.ts";
import { CTF_MAGIC } from "./ctf_writer.ts";
import { findCtfTraces, readCtfTraces } from "./ctf/lttng.ts";
import { TSDL_MAGIC } from "./ctf/metadata.ts";
import { TraceFormatError } from "./errors.ts";
import { parseChromeTrace } from "./json_read.ts";
import type { TraceEvent } from "./tracepoints.ts";
import type { TraceFormat } from "./writer.ts";
import { errorMessage } from "../errors.ts";

/** A trace read back from a file. */
export interface TraceData {
  /** The format it was read as. */
  readonly format: TraceFormat;
  /** The path read. */
  readonly path: string;
  /** Events in time order. */
  readonly events: TraceEvent[];
}

/**
 * Reads a trace written by ringdump: a CTF directory (or its `metadata`
 * file) or a Chrome Trace Event JSON file; the format is detected unless
 * given. A directory holding other CTF traces (an LTTng session directory or
 * any directory below it) is read whole, every stream merged in timestamp
 * order (for large traces, `analyzeTrace` streams instead). Throws a {@linkcode TraceFormatError} (exit 2) for a missing,
 * truncated, corrupt or unknown trace.
 *
 * @example
 * ```ts
 * import { JsonTraceWriter, readTrace, startTracing } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * startTracing(await JsonTraceWriter.open(path)).stop();
 * console.log((await readTrace(path)).format); // "json"
 * await Deno.remove(path);
 * ```
 */
export async function readTrace(
  path: string,
  options: { format?: string } = {},
): Promise<TraceData> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (e) {
    throw new TraceFormatError(
      e instanceof Deno.errors.NotFound
        ? `${path}: no such trace file or directory`
        : `${path}: cannot read: ${errorMessage(e)}`,
      { path, cause: e },
    );
  }
  let format = options.format;
  if (format !== undefined && format !== "json" && format !== "ctf") {
    throw new TraceFormatError(`${path}: unknown trace format '${format}'; use json or ctf`, {
      path,
      format,
    });
  }
  let dir = path;
  if (st.isDirectory) {
    format ??= "ctf";
  } else if (format === undefined) {
    const head = await readHead(path, 16);
    const text = new TextDecoder().decode(head);
    if (/^\s*[[{]/.test(text)) format = "json";
    else if (text.startsWith("/* CTF 1.8")) {
      format = "ctf";
      dir = path.replace(/\/?[^/]*$/, "") || ".";
    } else if (
      head.length >= 4 &&
      [CTF_MAGIC, TSDL_MAGIC].includes(new DataView(head.buffer).getUint32(0, true))
    ) {
      format = "ctf";
      dir = path.replace(/\/?[^/]*$/, "") || ".";
    } else {
      throw new TraceFormatError(
        `${path}: unknown trace format: neither Chrome Trace Event JSON nor a CTF trace ` +
          `(a directory with a 'metadata' file)`,
        { path },
      );
    }
  }
  if (format === "json") {
    if (st.isDirectory) {
      throw new TraceFormatError(`${path}: is a directory, not a JSON trace`, {
        path,
        format,
      });
    }
    const text = await readText(path);
    return { format: "json", path, events: parseChromeTrace(text, { path }) };
  }
  if (findCtfTraces(dir).length > 0) {
    // Not ringdump's own CTF: LTTng's (or another tracer's), every trace at or below dir.
    const events: TraceEvent[] = [];
    readCtfTraces(dir, (e) => events.push(e));
    return { format: "ctf", path, events };
  }
  return { format: "ctf", path, events: await readCtf(dir) };
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  try {
    using f = await Deno.open(path);
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = await f.read(buf.subarray(got));
      if (r === null) break;
      got += r;
    }
    return buf.subarray(0, got);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read: ${errorMessage(e)}`, { path, cause: e });
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new TraceFormatError(`${path}: cannot read: ${errorMessage(e)}`, { path, cause: e });
  }
}
