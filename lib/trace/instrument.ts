/**
 * Instrumentation wrappers: a backend or a sink whose calls emit begin/end
 * tracepoints. Applied where a capture is assembled.
 *
 * @module
 */
import type { Backend, RegisterWidth } from "../../backends/types.ts";
import type { Sink } from "../sink/mod.ts";
import { backendTrace, sinkTrace, tracing } from "./tracer.ts";

/** The key under which a traced wrapper keeps what it wraps. */
const TRACED = Symbol("ringdump.traced");

/**
 * What a traced wrapper ({@linkcode traceBackend}, {@linkcode traceSink})
 * wraps, and whether `x` was one: for a caller that frames its own calls
 * with the same events, in its own `await`s (lib/dumper.ts: one promise
 * less per read than through the wrapper's).
 *
 * @example
 * ```ts
 * import { traceSink, unwrapTraced } from "./instrument.ts";
 * import { MemorySink } from "../sink/mod.ts";
 * const sink = new MemorySink();
 * console.log(unwrapTraced(traceSink(sink)).inner === sink); // true
 * console.log(unwrapTraced(sink).traced); // false
 * ```
 */
export function unwrapTraced<T extends object>(x: T): { inner: T; traced: boolean } {
  const inner = (x as Record<symbol, unknown>)[TRACED] as T | undefined;
  return inner === undefined ? { inner: x, traced: false } : { inner, traced: true };
}

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
  if (unwrapTraced(backend).traced) return backend;
  const name = backend.name;
  const readRegister = framer(
    () => backendTrace.callBegin(name, "readRegister"),
    () => backendTrace.callEnd(name, "readRegister"),
  );
  const read = framer(
    () => backendTrace.callBegin(name, "read"),
    () => backendTrace.callEnd(name, "read"),
  );
  const close = framer(
    () => backendTrace.callBegin(name, "close"),
    () => backendTrace.callEnd(name, "close"),
  );
  const traced: Backend & { [TRACED]: Backend } = {
    [TRACED]: backend,
    name,
    // The dumper's read plan is the backend's own, traced or not.
    maxReadBytes: backend.maxReadBytes,
    checkBatchBytes: backend.checkBatchBytes,
    pipelineBytes: backend.pipelineBytes,
    readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
      readRegister.begin();
      try {
        return readRegister.settle(backend.readRegister(address, width));
      } catch (e) {
        return readRegister.fail(e);
      }
    },
    read(address: bigint, dest: Uint8Array): Promise<void> {
      read.begin();
      try {
        return read.settle(backend.read(address, dest));
      } catch (e) {
        return read.fail(e);
      }
    },
    close(): Promise<void> {
      close.begin();
      try {
        return close.settle(backend.close());
      } catch (e) {
        return close.fail(e);
      }
    },
  };
  const readThenRegister = backend.readThenRegister?.bind(backend);
  if (readThenRegister) {
    const frame = framer(
      () => backendTrace.callBegin(name, "readThenRegister"),
      () => backendTrace.callEnd(name, "readThenRegister"),
    );
    traced.readThenRegister = (reads, register) => {
      frame.begin();
      try {
        return frame.settle(readThenRegister(reads, register));
      } catch (e) {
        return frame.fail(e);
      }
    };
  }
  return traced;
}

/**
 * Frames the calls of one function with a begin and an end event, each
 * emitted when tracing is on at that moment, without an `async` function's
 * frame and promise per call: `begin()` emits the begin event; `settle(p)`
 * returns a new promise of `p`'s outcome and emits the end event when `p`
 * settles, either way, in the reaction an async wrapper's `await` would have
 * run (the same ticks); `fail(e)`, for a call that threw instead of
 * returning a promise, emits it at once and rejects with `e`, as an async
 * wrapper would have. The handlers are made once, not per call.
 */
function framer(emitBegin: () => void, emitEnd: () => void) {
  const end = () => {
    if (tracing.enabled) emitEnd();
  };
  const ok = <T>(v: T): T => {
    end();
    return v;
  };
  const failed = (e: unknown): never => {
    end();
    throw e;
  };
  return {
    begin(): void {
      if (tracing.enabled) emitBegin();
    },
    settle<T>(p: Promise<T>): Promise<T> {
      return Promise.resolve(p).then(ok, failed);
    },
    fail(e: unknown): Promise<never> {
      end();
      return Promise.reject(e);
    },
  };
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
  if (unwrapTraced(sink).traced) return sink;
  const name = sink.name;
  return {
    [TRACED]: sink,
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
