/**
 * Whole captures for scripts: {@linkcode capture} opens a backend and a sink,
 * runs a {@linkcode Dumper}, and closes both; {@linkcode dump} is the same as
 * a small fluent API that reads like the command line it replaces.
 *
 * @module
 */
import { findBackend, parseBackendUrl } from "../backends/mod.ts";
import type { Backend, BackendOpenOptions } from "../backends/types.ts";
import type { Clock } from "./clock.ts";
import { Dumper } from "./dumper.ts";
import {
  checkDumperOptions,
  type DumperOptions,
  type DumpStats,
  type OverrunPolicy,
} from "./dumper_options.ts";
import { type RingGeometry, ringGeometry, type RingGeometryInit } from "./ring.ts";
import { checkSink, DeferredSink, openSink, type OpenSinkOptions, type Sink } from "./sink/mod.ts";
import { parseDuration, parseSize } from "./units.ts";
// Not lib/trace/mod.ts: see lib/dumper.ts.
import { backendTrace, tracing } from "./trace/tracer.ts";
import { traceBackend } from "./trace/instrument.ts";

/** Options of {@linkcode capture}. */
export interface CaptureOptions extends Omit<DumperOptions, "geometry">, OpenSinkOptions {
  /** Backend URL or an open backend (left open); default `sim:`. */
  backend?: string | URL | Backend;
  /** The ring. */
  geometry: RingGeometry | RingGeometryInit;
  /** Output path (`-` for stdout) or an open sink (left open). */
  out: string | Sink;
  /**
   * Called once the backend is open, before the first counter read:
   * `dumper.stats` is live from then on (for a progress line). An output path
   * is opened (created, truncated) only after the baseline counter read.
   */
  onStart?: (started: { backend: Backend; sink: Sink; dumper: Dumper }) => void;
}

function isBackend(b: unknown): b is Backend {
  return typeof b === "object" && b !== null && "readRegister" in b && "read" in b;
}

/**
 * Opens the backend a URL names, for a capture: when tracing is on, the open
 * is traced as a backend call (under the URL's scheme) and so is every call on
 * the backend it returns. Without tracing it is `openBackend`.
 *
 * @example
 * ```ts
 * import { openCaptureBackend } from "./capture.ts";
 * import { ringGeometry } from "./ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const backend = await openCaptureBackend("sim:?pattern=counter", { geometry });
 * console.log(backend.name); // "sim"
 * await backend.close();
 * ```
 */
export async function openCaptureBackend(
  url: string | URL,
  options: BackendOpenOptions,
): Promise<Backend> {
  const u = typeof url === "string" ? parseBackendUrl(url) : url;
  const factory = findBackend(u);
  if (!tracing.enabled) return await factory.open(u, options);
  // Tracing: the open is a backend call too, and so is every call on the result.
  backendTrace.callBegin(factory.scheme, "open");
  try {
    return traceBackend(await factory.open(u, options));
  } finally {
    if (tracing.enabled) backendTrace.callEnd(factory.scheme, "open");
  }
}

/**
 * Checks a capture's options without opening anything: the geometry, the
 * dumper's options, and that a backend URL names a known scheme. Returns the
 * geometry. {@linkcode capture} does this first; a caller that does more
 * before it (starting a trace) can do it earlier.
 *
 * @example
 * ```ts
 * import { checkCaptureOptions } from "./capture.ts";
 * const g = checkCaptureOptions({ geometry: { base: 0n, pageSize: 4096, pages: 16 }, out: "-" });
 * console.log(g.ringBytes); // 65536
 * ```
 */
export function checkCaptureOptions(options: CaptureOptions): RingGeometry {
  const geometry = "ringBytes" in options.geometry
    ? options.geometry as RingGeometry
    : ringGeometry(options.geometry);
  checkDumperOptions({ ...options, geometry });
  if (typeof options.out === "string") checkSink(options.out, options);
  if (!isBackend(options.backend)) findBackend(options.backend ?? "sim:");
  return geometry;
}

/**
 * Runs one capture from start to end: checks the options, opens the backend
 * (first: a bad backend leaves an existing output file alone), then the sink,
 * runs a {@linkcode Dumper}, and closes what it opened, the sink first.
 *
 * @example
 * ```ts
 * import { capture } from "./capture.ts";
 * const out = await Deno.makeTempFile();
 * const stats = await capture({
 *   backend: "sim:?pattern=counter&rate=256KiB",
 *   geometry: { base: 0n, pageSize: 4096, pages: 256 },
 *   out,
 *   period: 20,
 *   duration: 200,
 * });
 * console.log(stats.bytes > 0); // true
 * await Deno.remove(out);
 * ```
 */
export async function capture(options: CaptureOptions): Promise<DumpStats> {
  const geometry = checkCaptureOptions(options);
  const ownBackend = !isBackend(options.backend);
  const backend = isBackend(options.backend) ? options.backend : await openCaptureBackend(
    options.backend ?? "sim:",
    { geometry, clock: options.clock, signal: options.signal, period: options.period },
  );
  let sink: Sink | undefined;
  try {
    // A path is created or truncated only after the baseline counter read
    // (docs/design.md rule 9): a run that captures nothing destroys nothing.
    const out = options.out;
    const deferred = typeof out === "string"
      ? new DeferredSink(out, () => openSink(out, options))
      : undefined;
    sink = deferred ?? (out as Sink);
    const dumper = new Dumper(backend, sink, {
      ...options,
      geometry,
      onBaseline: async (c) => {
        await deferred?.open();
        await options.onBaseline?.(c);
      },
    });
    options.onStart?.({ backend, sink, dumper });
    return await dumper.run();
  } finally {
    try {
      if (sink && typeof options.out === "string") await sink.close();
    } finally {
      if (ownBackend) await backend.close();
    }
  }
}

/**
 * A capture being described, fluently; `to(out)` runs it. Each method returns
 * a new builder, so a half-built one can be reused.
 *
 * @example
 * ```ts
 * import { dump } from "./capture.ts";
 * const out = await Deno.makeTempFile();
 * const stats = await dump("sim:?pattern=counter&rate=256KiB")
 *   .pageSize("4KiB").pages(256).period("20ms").duration("200ms")
 *   .to(out);
 * console.log(stats.periods > 0); // true
 * await Deno.remove(out);
 * ```
 */
export class CaptureBuilder {
  readonly #backend: string | URL | Backend;
  readonly #geometry: RingGeometryInit;
  readonly #options: Omit<CaptureOptions, "geometry" | "out" | "backend">;

  /** Use {@linkcode dump} to start one. */
  constructor(
    backend: string | URL | Backend,
    state: {
      geometry?: RingGeometryInit;
      options?: Omit<CaptureOptions, "geometry" | "out" | "backend">;
    } = {},
  ) {
    this.#backend = backend;
    this.#geometry = state.geometry ?? { base: 0n, pageSize: 4096, pages: 256 };
    this.#options = state.options ?? {};
  }
  #with(
    geometry: Partial<RingGeometryInit>,
    options: Omit<CaptureOptions, "geometry" | "out" | "backend"> = {},
  ): CaptureBuilder {
    return new CaptureBuilder(this.#backend, {
      geometry: { ...this.#geometry, ...geometry },
      options: { ...this.#options, ...options },
    });
  }
  /** Physical address of the ring. */
  base(address: bigint | number): CaptureBuilder {
    return this.#with({ base: address });
  }
  /** Bytes per page (`4096` or `"4KiB"`). */
  pageSize(size: number | string): CaptureBuilder {
    return this.#with({ pageSize: typeof size === "string" ? parseSize(size) : size });
  }
  /** Pages in the ring. */
  pages(n: number): CaptureBuilder {
    return this.#with({ pages: n });
  }
  /** Address of the counter register. */
  counter(address: bigint | number): CaptureBuilder {
    return this.#with({ counterAddress: address });
  }
  /** Counter wrap value. */
  counterWrap(n: number): CaptureBuilder {
    return this.#with({ counterWrap: n });
  }
  /** Pages the hardware may be writing beyond its counter (see `DumperOptions.inFlight`). */
  inFlight(pages: number): CaptureBuilder {
    return this.#with({}, { inFlight: pages });
  }
  /**
   * The reference's fixed beat: a poll every period, not sooner (no adaptive
   * polling; the first poll half a period in).
   */
  fixedPeriod(fixed = true): CaptureBuilder {
    return this.#with({}, { fixedPeriod: fixed });
  }
  /** The longest time between counter reads (`50` ms or `"50ms"`); sooner for a fast writer. */
  period(ms: number | string): CaptureBuilder {
    return this.#with({}, { period: typeof ms === "string" ? parseDuration(ms) : ms });
  }
  /** Stop after this long (`2000` ms or `"2s"`). */
  duration(ms: number | string): CaptureBuilder {
    return this.#with({}, { duration: typeof ms === "string" ? parseDuration(ms) : ms });
  }
  /** Stop after this many bytes (`1048576` or `"1MiB"`). */
  maxBytes(size: number | string): CaptureBuilder {
    return this.#with({}, { maxBytes: typeof size === "string" ? parseSize(size) : size });
  }
  /** Overrun policy. */
  overrun(policy: OverrunPolicy): CaptureBuilder {
    return this.#with({}, { overrun: policy });
  }
  /** Stop on this signal. */
  signal(signal: AbortSignal): CaptureBuilder {
    return this.#with({}, { signal });
  }
  /** Clock (a VirtualClock in tests). */
  clock(clock: Clock): CaptureBuilder {
    return this.#with({}, { clock });
  }
  /** Callback after each append. */
  onDump(callback: NonNullable<DumperOptions["onDump"]>): CaptureBuilder {
    return this.#with({}, { onDump: callback });
  }
  /** Runs the capture into `out` (a path, `-`, or a sink). */
  to(out: string | Sink, options: OpenSinkOptions = {}): Promise<DumpStats> {
    return capture({
      ...this.#options,
      ...options,
      backend: this.#backend,
      geometry: this.#geometry,
      out,
    });
  }
}

/**
 * Starts describing a capture from a backend URL.
 *
 * @example
 * ```ts
 * import { dump } from "./capture.ts";
 * const out = await Deno.makeTempFile();
 * await dump("sim:?pattern=counter&rate=256KiB").pages(256).duration("100ms").to(out);
 * await Deno.remove(out);
 * ```
 */
export function dump(backend: string | URL | Backend = "sim:"): CaptureBuilder {
  return new CaptureBuilder(backend);
}
