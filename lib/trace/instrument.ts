/**
 * Instrumentation wrappers: a backend or a sink whose calls emit begin/end
 * tracepoints. Applied where a capture is assembled.
 *
 * @module
 */
import type { Backend, RegisterWidth } from "../../backends/types.ts";
import type { Sink } from "../sink/mod.ts";
import { backendTrace, sinkTrace, tracing } from "./tracer.ts";

const TRACED = Symbol("ringdump.traced");

/**
 * Wraps a backend so every call (`readRegister`, `read`, `close`) is framed by
 * `backend_call_begin`/`backend_call_end` with the backend's name and the
 * function's name, also when it throws. Wrapping twice returns the same
 * wrapper. The events are emitted only while tracing is on.
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, startTracing, traceBackend } from "./mod.ts";
 * import { openSim } from "../../backends/sim.ts";
 * import { ringGeometry } from "../ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * const backend = traceBackend(openSim(geometry, { pattern: "counter" }));
 * await backend.readRegister(geometry.counterAddress, 32);
 * session.stop();
 * console.log(memory.events.map((e) => e.fields.function_name)); // ["readRegister", "readRegister"]
 * ```
 */
export function traceBackend(backend: Backend): Backend {
  if ((backend as unknown as Record<symbol, unknown>)[TRACED]) return backend;
  const name = backend.name;
  const traced = {
    [TRACED]: true,
    name,
    async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
      if (tracing.enabled) backendTrace.callBegin(name, "readRegister");
      try {
        return await backend.readRegister(address, width);
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "readRegister");
      }
    },
    async read(address: bigint, dest: Uint8Array): Promise<void> {
      if (tracing.enabled) backendTrace.callBegin(name, "read");
      try {
        return await backend.read(address, dest);
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "read");
      }
    },
    async close(): Promise<void> {
      if (tracing.enabled) backendTrace.callBegin(name, "close");
      try {
        return await backend.close();
      } finally {
        if (tracing.enabled) backendTrace.callEnd(name, "close");
      }
    },
  };
  return traced;
}

/**
 * Wraps a sink so every `write` and `flush` is framed by
 * `sink_write_begin`/`_end` (with the byte count) and
 * `sink_flush_begin`/`_end`. Wrapping twice returns the same wrapper.
 *
 * @example
 * ```ts
 * import { MemoryTraceWriter, startTracing, traceSink } from "./mod.ts";
 * import { MemorySink } from "../sink/mod.ts";
 * const memory = new MemoryTraceWriter();
 * const session = startTracing(memory);
 * const sink = traceSink(new MemorySink());
 * await sink.write(new Uint8Array(8));
 * session.stop();
 * console.log(memory.events[1].fields); // { sink_name: "memory", bytes: 8 }
 * ```
 */
export function traceSink(sink: Sink): Sink {
  if ((sink as unknown as Record<symbol, unknown>)[TRACED]) return sink;
  const name = sink.name;
  return {
    [TRACED]: true,
    name,
    get bytesWritten(): number {
      return sink.bytesWritten;
    },
    async write(chunk: Uint8Array): Promise<void> {
      if (tracing.enabled) sinkTrace.writeBegin(name, chunk.length);
      try {
        return await sink.write(chunk);
      } finally {
        if (tracing.enabled) sinkTrace.writeEnd(name, chunk.length);
      }
    },
    async flush(): Promise<void> {
      if (tracing.enabled) sinkTrace.flushBegin(name);
      try {
        return await sink.flush();
      } finally {
        if (tracing.enabled) sinkTrace.flushEnd(name);
      }
    },
    close(): Promise<void> {
      return sink.close();
    },
  } as Sink;
}
