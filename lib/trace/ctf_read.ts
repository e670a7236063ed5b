/**
 * Reading the CTF traces ringdump writes (plain-text TSDL of its own
 * layout, one stream of fixed-layout packets).
 *
 * @module
 */
import { CTF_CONTEXT_BYTES, CTF_HEADER_BYTES, CTF_MAGIC, uuidBytes } from "./ctf_writer.ts";
import { TraceFormatError } from "./errors.ts";
import type { TraceEvent, TraceField, TraceValue } from "./tracepoints.ts";
import { errorMessage } from "../errors.ts";

interface CtfEventDecl {
  id: number;
  name: string;
  fields: TraceField[];
}

/**
 * Parses the TSDL metadata ringdump writes (and CTF metadata of the same
 * layout): the trace UUID and every event's id, name and fields.
 */
function parseCtfMetadata(text: string, path: string): { uuid?: string; events: CtfEventDecl[] } {
  const fail = (why: string) => new TraceFormatError(`${path}: ${why}`, { path, format: "ctf" });
  if (!text.startsWith("/* CTF 1.8")) {
    if (text.length >= 4 && text.charCodeAt(0) === 0x57 && text.charCodeAt(3) === 0x75) {
      throw fail("packetized metadata is not supported; read this trace with babeltrace2");
    }
    throw fail("not CTF 1.8 metadata (it does not start with '/* CTF 1.8 */')");
  }
  if (!/tracer_name\s*=\s*"ringdump"/.test(text)) {
    throw fail('not a ringdump CTF trace (env.tracer_name is not "ringdump"); use babeltrace2');
  }
  if (!/\n};\s*$/.test(text)) throw fail("the metadata is truncated");
  const uuid = /trace\s*\{[^}]*?uuid\s*=\s*"([0-9a-f-]{36})"/.exec(text)?.[1];
  const events: CtfEventDecl[] = [];
  const re = /event\s*\{([\s\S]*?)\n\};/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[1];
    const name = /name\s*=\s*"([^"]+)"/.exec(body)?.[1];
    const id = /\bid\s*=\s*(\d+)\s*;/.exec(body)?.[1];
    const struct = /fields\s*:=\s*struct\s*\{([\s\S]*?)\}\s*;/.exec(body)?.[1];
    if (name === undefined || id === undefined || struct === undefined) {
      throw fail(`an event declaration without name, id or fields: ${body.trim().slice(0, 80)}`);
    }
    const fields: TraceField[] = [];
    for (const line of struct.split(";").map((l) => l.trim()).filter((l) => l)) {
      const f = /^(uint64_t|int64_t|string)\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(line);
      if (!f) throw fail(`event ${name}: unsupported field declaration '${line}'`);
      fields.push({
        name: f[2],
        type: f[1] === "uint64_t" ? "u64" : f[1] === "int64_t" ? "i64" : "string",
      });
    }
    events.push({ id: Number(id), name, fields });
  }
  if (events.length === 0) throw fail("the metadata declares no events");
  return { uuid, events };
}

function getU64(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * 0x1_0000_0000;
}

/**
 * Parses a CTF stream of ringdump's layout, given the TSDL metadata. Throws a
 * {@linkcode TraceFormatError} for a truncated or corrupt stream.
 *
 * @example
 * ```ts
 * import { CtfTraceWriter, parseCtf, sinkTrace, startTracing, tracing } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const session = startTracing(await CtfTraceWriter.open(dir));
 * if (tracing.enabled) sinkTrace.flushBegin("memory");
 * session.stop();
 * const events = parseCtf(
 *   await Deno.readTextFile(`${dir}/metadata`),
 *   await Deno.readFile(`${dir}/stream_0`),
 * );
 * console.log(events[0].name); // "sink_flush_begin"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function parseCtf(
  metadata: string,
  stream: Uint8Array,
  options: { path?: string } = {},
): TraceEvent[] {
  const path = options.path ?? "<ctf>";
  const meta = parseCtfMetadata(metadata, path);
  const decls = new Map(meta.events.map((e) => [e.id, e]));
  const uuid = meta.uuid ? uuidBytes(meta.uuid) : undefined;
  const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out: TraceEvent[] = [];
  const fail = (why: string, offset: number) =>
    new TraceFormatError(`${path}: ${why} (stream offset ${offset})`, {
      path,
      format: "ctf",
      offset,
    });
  let pos = 0;
  let packet = 0;
  while (pos < stream.length) {
    const start = pos;
    if (stream.length - pos < CTF_HEADER_BYTES + CTF_CONTEXT_BYTES) {
      throw fail(
        `the stream is truncated: packet ${packet} has ${stream.length - pos} bytes, ` +
          `less than its header`,
        pos,
      );
    }
    if (v.getUint32(pos, true) !== CTF_MAGIC) throw fail(`packet ${packet}: bad magic`, pos);
    if (uuid && !uuid.every((b, i) => stream[pos + 4 + i] === b)) {
      throw fail(`packet ${packet}: its UUID is not the metadata's`, pos);
    }
    pos += CTF_HEADER_BYTES;
    const contentBits = getU64(v, pos + 16);
    const packetBits = getU64(v, pos + 24);
    pos += CTF_CONTEXT_BYTES;
    if (
      contentBits % 8 !== 0 || packetBits % 8 !== 0 || contentBits > packetBits ||
      contentBits / 8 < CTF_HEADER_BYTES + CTF_CONTEXT_BYTES
    ) {
      throw fail(
        `packet ${packet}: bad sizes (content ${contentBits}, packet ${packetBits} bits)`,
        start,
      );
    }
    const packetEnd = start + packetBits / 8;
    const contentEnd = start + contentBits / 8;
    if (packetEnd > stream.length) {
      throw fail(
        `the stream is truncated: packet ${packet} declares ${packetBits / 8} bytes but only ` +
          `${stream.length - start} remain`,
        start,
      );
    }
    while (pos < contentEnd) {
      if (contentEnd - pos < 10) throw fail(`packet ${packet}: an event header is cut`, pos);
      const id = v.getUint16(pos, true);
      const decl = decls.get(id);
      if (!decl) throw fail(`packet ${packet}: unknown event id ${id}`, pos);
      const timestamp = getU64(v, pos + 2);
      pos += 10;
      const fields: Record<string, TraceValue> = {};
      for (const f of decl.fields) {
        if (f.type === "string") {
          const nul = stream.indexOf(0, pos);
          if (nul < 0 || nul >= contentEnd) {
            throw fail(`packet ${packet}: event ${decl.name}: string ${f.name} is cut`, pos);
          }
          try {
            fields[f.name] = decoder.decode(stream.subarray(pos, nul));
          } catch {
            throw fail(`packet ${packet}: event ${decl.name}: ${f.name} is not UTF-8`, pos);
          }
          pos = nul + 1;
        } else {
          if (contentEnd - pos < 8) {
            throw fail(`packet ${packet}: event ${decl.name}: field ${f.name} is cut`, pos);
          }
          fields[f.name] = f.type === "u64" ? getU64(v, pos) : Number(v.getBigInt64(pos, true));
          pos += 8;
        }
      }
      out.push({ name: decl.name, timestamp, fields });
    }
    pos = packetEnd;
    packet++;
  }
  return out;
}

/**
 * Reads every stream of a CTF trace directory written by ringdump, events in
 * time order. Throws a {@linkcode TraceFormatError} for a directory that is
 * not such a trace.
 *
 * @example
 * ```ts
 * import { readCtf } from "./ctf_read.ts";
 * import { CtfTraceWriter, startTracing } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * startTracing(await CtfTraceWriter.open(dir)).stop();
 * console.log((await readCtf(dir)).length); // 0
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCtf(dir: string): Promise<TraceEvent[]> {
  let metadata: string;
  try {
    metadata = await Deno.readTextFile(`${dir}/metadata`);
  } catch (e) {
    throw new TraceFormatError(
      e instanceof Deno.errors.NotFound
        ? `${dir}: not a CTF trace directory (no 'metadata' file)`
        : `${dir}/metadata: cannot read: ${errorMessage(e)}`,
      { path: dir, format: "ctf", cause: e },
    );
  }
  const streams: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name !== "metadata" && !entry.name.startsWith(".")) {
        streams.push(entry.name);
      }
    }
  } catch (e) {
    throw new TraceFormatError(`${dir}: cannot list: ${errorMessage(e)}`, {
      path: dir,
      format: "ctf",
      cause: e,
    });
  }
  if (streams.length === 0) {
    throw new TraceFormatError(`${dir}: the CTF trace has no stream file`, {
      path: dir,
      format: "ctf",
    });
  }
  const all: TraceEvent[] = [];
  for (const name of streams.sort()) {
    const data = await Deno.readFile(`${dir}/${name}`);
    for (const e of parseCtf(metadata, data, { path: `${dir}/${name}` })) all.push(e);
  }
  if (streams.length > 1) all.sort((a, b) => a.timestamp - b.timestamp);
  return all;
}
