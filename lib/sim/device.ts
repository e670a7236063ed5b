/**
 * The simulated capture device: a writer that fills a ring with a pattern at
 * a set byte rate and advances a page counter that wraps at `counterWrap`,
 * exactly as capture hardware does. In process it is the `sim:` backend
 * (`backends/sim.ts`); it is also the engine behind `ringdump sim`, which
 * writes a memory image ({@link ./image.ts}) that the other backends read.
 *
 * @module
 */
import type { RingGeometry } from "../ring.ts";
import { type Clock, systemClock } from "../clock.ts";
import { UsageError } from "../errors.ts";
import { fillCounter, fillSine, type PatternName } from "./pattern.ts";

/** Options of the simulated device. */
export interface SimOptions {
  /** Bytes per second the device writes; default: real-time audio for `sine`, 1 MiB/s for `counter`. */
  rate?: number;
  /** Data pattern; default `sine`. */
  pattern?: PatternName;
  /** Pages per hardware write (the counter advances by this much at once); default 1. */
  burst?: number;
  /** Physical counter value when the device starts; default 0. */
  start?: number;
  /** Tone frequency for `sine`, Hz; default 440. */
  tone?: number;
  /** Sample rate for `sine`, Hz; default 48000. */
  sampleRate?: number;
  /** Channels for `sine`; default 2. */
  channels?: number;
  /** Clock; default the system clock. */
  clock?: Clock;
}

/** Where a {@linkcode SimDevice} writes: ring pages and the counter register. */
export interface SimMemory {
  /** A writable view of ring slot `slot` (pageSize bytes) to fill in place. */
  page(slot: number): Uint8Array;
  /** Called after `page(slot)` was filled, for stores that must copy it out. */
  commit(slot: number, page: Uint8Array): void;
  /** Publishes the counter register value (physical, already wrapped). */
  setCounter(value: number): void;
}

/**
 * An in-memory ring and counter register for a {@linkcode SimDevice}.
 *
 * @example
 * ```ts
 * import { MemoryRing } from "./device.ts";
 * const mem = new MemoryRing(4096, 8);
 * console.log(mem.bytes.length, mem.counter); // 32768 0
 * ```
 */
export class MemoryRing implements SimMemory {
  /** The ring's bytes. */
  readonly bytes: Uint8Array;
  /** The counter register. */
  counter = 0;
  readonly #pageSize: number;
  /** Creates a zeroed ring of `pages` pages of `pageSize` bytes. */
  constructor(pageSize: number, pages: number) {
    this.#pageSize = pageSize;
    this.bytes = new Uint8Array(pageSize * pages);
  }
  /** A view of one slot. */
  page(slot: number): Uint8Array {
    return this.bytes.subarray(slot * this.#pageSize, (slot + 1) * this.#pageSize);
  }
  /** Nothing to do: pages are filled in place. */
  commit(_slot: number, _page: Uint8Array): void {}
  /** Stores the counter value. */
  setCounter(value: number): void {
    this.counter = value;
  }
}

/**
 * The simulated hardware. Time-driven and lazy: every {@linkcode SimDevice.step}
 * writes the pages that are due by `clock.now()` (only the last lap's worth,
 * since older ones would be overwritten anyway), then advances the counter.
 * Page `n` of the stream (counting from the start value) lands in slot
 * `n % pages`.
 *
 * @example
 * ```ts
 * import { MemoryRing, SimDevice } from "./device.ts";
 * import { ringGeometry } from "../ring.ts";
 * import { VirtualClock } from "../clock.ts";
 * const g = ringGeometry({ base: 0n, pageSize: 4096, pages: 8 });
 * const clock = new VirtualClock();
 * const mem = new MemoryRing(g.pageSize, g.pages);
 * const dev = new SimDevice(g, { memory: mem, clock, rate: 4096 * 1000, pattern: "counter" });
 * clock.advance(3); // 3 ms at 1000 pages/s
 * dev.step();
 * console.log(dev.written, mem.counter); // 3 3
 * ```
 */
export class SimDevice {
  /** The geometry simulated. */
  readonly geometry: RingGeometry;
  /** The byte rate. */
  readonly rate: number;
  /** Pages per write. */
  readonly burst: number;
  /** The pattern. */
  readonly pattern: PatternName;
  readonly #memory: SimMemory;
  readonly #clock: Clock;
  readonly #t0: number;
  readonly #start: number;
  readonly #sine: { frequency: number; sampleRate: number; channels: number };
  #written = 0;

  /** Creates the device; it starts writing at the clock's current time. */
  constructor(geometry: RingGeometry, options: SimOptions & { memory: SimMemory }) {
    this.geometry = geometry;
    this.pattern = options.pattern ?? "sine";
    this.#sine = {
      frequency: options.tone ?? 440,
      sampleRate: options.sampleRate ?? 48000,
      channels: options.channels ?? 2,
    };
    this.rate = options.rate ??
      (this.pattern === "sine" ? this.#sine.sampleRate * this.#sine.channels * 2 : 1024 * 1024);
    this.burst = options.burst ?? 1;
    this.#start = options.start ?? 0;
    this.#memory = options.memory;
    this.#clock = options.clock ?? systemClock;
    this.#t0 = this.#clock.now();
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) {
      throw new UsageError(`sim: rate must be a positive number of bytes per second`, {
        option: "rate",
        value: String(this.rate),
      });
    }
    if (!Number.isSafeInteger(this.burst) || this.burst <= 0) {
      throw new UsageError(`sim: burst must be a positive integer`, {
        option: "burst",
        value: String(this.burst),
      });
    }
    if (
      !Number.isSafeInteger(this.#start) || this.#start < 0 || this.#start >= geometry.counterWrap
    ) {
      throw new UsageError(`sim: start must be an integer below the counter wrap`, {
        option: "start",
        value: String(this.#start),
      });
    }
    if (this.pattern === "counter" && geometry.pageSize % 8 !== 0) {
      throw new UsageError(`sim: the counter pattern needs a page size that is a multiple of 8`, {
        option: "pageSize",
        value: String(geometry.pageSize),
      });
    }
    if (this.pattern === "sine" && geometry.pageSize % (2 * this.#sine.channels) !== 0) {
      throw new UsageError(
        `sim: the sine pattern needs a page size that is a multiple of the frame size ${
          2 * this.#sine.channels
        }`,
        { option: "pageSize", value: String(geometry.pageSize) },
      );
    }
    this.#memory.setCounter(this.#start % geometry.counterWrap);
  }

  /** Pages written since the device started. */
  get written(): number {
    return this.#written;
  }

  /** The physical counter value now published. */
  get counter(): number {
    return (this.#start + this.#written) % this.geometry.counterWrap;
  }

  /** Pages that are due at time `now` (whole bursts only). */
  due(now: number = this.#clock.now()): number {
    const pages = Math.floor(((now - this.#t0) / 1000) * this.rate / this.geometry.pageSize);
    return pages - (pages % this.burst);
  }

  /**
   * Writes every page due by `now` (default: the clock's now), then publishes
   * the counter. Returns pages written.
   */
  step(now?: number): number {
    const target = this.due(now);
    const n = target - this.#written;
    if (n <= 0) return 0;
    const { pages, pageSize } = this.geometry;
    // Pages older than one lap would be overwritten within this step: skip them.
    const from = Math.max(this.#written, target - pages);
    for (let k = from; k < target; k++) {
      const slot = (this.#start + k) % pages;
      const page = this.#memory.page(slot);
      if (this.pattern === "counter") fillCounter(page, k * pageSize);
      else fillSine(page, k * pageSize, this.#sine);
      this.#memory.commit(slot, page);
    }
    this.#written = target;
    this.#memory.setCounter((this.#start + target) % this.geometry.counterWrap);
    return n;
  }
}
