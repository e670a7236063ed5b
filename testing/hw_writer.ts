/**
 * Independent capture hardware for the fault tests, written apart from
 * ringdump's simulator (backends/sim.ts): it writes each page and only then
 * advances the counter, as most DMA does, so while the counter reads `c`
 * page `c` is being written into the slot of page `c - pages`. Pages hold the
 * stream of testing/page_check.ts (every word its byte offset), so a capture
 * can be checked page by page.
 *
 * - {@linkcode HardwareModel}: in process, on a clock (a virtual one makes a
 *   test exact), shaped like a ringdump Backend; its counter register can be
 *   made to glitch on chosen reads.
 * - {@linkcode ImageWriter}: writes a memory image file in real time (one
 *   page write in two halves, then the counter), for captures run as
 *   subprocesses through `devmem:IMAGE`.
 *
 * @module
 */
import { fillStreamPage } from "./page_check.ts";

/** The ring the hardware writes (the fields of ringdump's RingGeometry it needs). */
export interface HwRing {
  /** Physical address of the ring. */
  readonly base: bigint;
  /** Bytes per page (a multiple of 8). */
  readonly pageSize: number;
  /** Pages in the ring. */
  readonly pages: number;
  /** Address of the u32 counter register. */
  readonly counterAddress: bigint;
  /** Value at which the counter wraps to 0. */
  readonly counterWrap: number;
}

/** A clock (ringdump's Clock interface, structurally). */
export interface HwClock {
  /** Milliseconds. */
  now(): number;
}

/** Options of {@linkcode HardwareModel}. */
export interface HardwareModelOptions {
  /** Pages written per millisecond. */
  pagesPerMs: number;
  /** The clock the hardware runs on. */
  clock: HwClock;
  /** Pages already under way when the model starts (a fraction puts a page half written); default 0. */
  phase?: number;
  /**
   * Offsets added to the counter register on chosen reads: read number (from
   * 1) to offset in pages (negative: behind). Each applies once.
   */
  glitches?: Record<number, number>;
  /** Called after each read of the ring's memory (a test can advance a virtual clock). */
  afterRead?: () => void;
}

/**
 * Write-then-advance capture hardware, in process, as a ringdump backend.
 *
 * @example
 * ```ts
 * import { HardwareModel } from "./hw_writer.ts";
 * let t = 0;
 * const hw = new HardwareModel(
 *   { base: 0n, pageSize: 64, pages: 8, counterAddress: 0x1000n, counterWrap: 0x100 },
 *   { pagesPerMs: 1, clock: { now: () => t } },
 * );
 * t = 3.5; // 3 pages written and counted, the 4th half written
 * console.log(await hw.readRegister(0x1000n, 32)); // 3n
 * ```
 */
export class HardwareModel {
  /** Backend name. */
  readonly name = "hw-model";
  readonly #ring: HwRing;
  readonly #o: HardwareModelOptions;
  readonly #mem: Uint8Array;
  readonly #t0: number;
  /** Pages fully written into memory so far. */
  #done = 0;
  /** Counter reads so far. */
  reads = 0;
  /** Ring reads so far. */
  ringReads = 0;

  /** Creates the hardware; it starts at the clock's time now. */
  constructor(ring: HwRing, options: HardwareModelOptions) {
    this.#ring = ring;
    this.#o = options;
    this.#mem = new Uint8Array(ring.pageSize * ring.pages);
    this.#t0 = options.clock.now();
  }

  /** Pages under way at the clock's time now (whole part: written and counted). */
  progress(): number {
    return (this.#o.clock.now() - this.#t0) * this.#o.pagesPerMs + (this.#o.phase ?? 0);
  }

  /** The true counter (pages written and counted), unwrapped. */
  written(): number {
    return Math.floor(this.progress());
  }

  #slot(page: number): Uint8Array {
    const { pageSize, pages } = this.#ring;
    const s = page % pages;
    return this.#mem.subarray(s * pageSize, (s + 1) * pageSize);
  }

  /** Brings the memory to the clock's time: whole pages, then the one in flight, part written. */
  #catchUp(): void {
    const x = this.progress();
    const whole = Math.floor(x);
    for (let k = Math.max(this.#done, whole - this.#ring.pages); k < whole; k++) {
      fillStreamPage(this.#slot(k), k);
    }
    this.#done = Math.max(this.#done, whole);
    const words = Math.floor((x - whole) * (this.#ring.pageSize / 8));
    if (words > 0) fillStreamPage(this.#slot(whole), whole, words);
  }

  /** The counter register: pages written so far, wrapped (plus a glitch on chosen reads). */
  readRegister(address: bigint, width: number): Promise<bigint> {
    if (address !== this.#ring.counterAddress || width !== 32) {
      return Promise.reject(new Error(`hw-model: no ${width}-bit register at ${address}`));
    }
    this.reads++;
    const glitch = this.#o.glitches?.[this.reads] ?? 0;
    const wrap = this.#ring.counterWrap;
    const v = (((this.written() + glitch) % wrap) + wrap) % wrap;
    return Promise.resolve(BigInt(v));
  }

  /** Copies ring memory as it is now. */
  read(address: bigint, dest: Uint8Array): Promise<void> {
    this.#catchUp();
    const off = Number(address - this.#ring.base);
    if (off < 0 || off + dest.length > this.#mem.length) {
      return Promise.reject(new Error(`hw-model: read outside the ring at ${address}`));
    }
    dest.set(this.#mem.subarray(off, off + dest.length));
    this.ringReads++;
    this.#o.afterRead?.();
    return Promise.resolve();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@linkcode ImageWriter.open}. */
export interface ImageWriterOptions {
  /** Counter value to start from; default 0. */
  start?: number;
}

/**
 * Real-time write-then-advance hardware on a memory image file (origin 0):
 * the ring at `base`, the u32 counter at `counterAddress`. Each page is
 * written in two halves, the second only when the page is due, then the
 * counter: between two pages the next one is always half written.
 *
 * @example
 * ```ts
 * import { ImageWriter } from "./hw_writer.ts";
 * const path = await Deno.makeTempFile();
 * const w = await ImageWriter.open(path, { base: 0n, pageSize: 64, pages: 4, counterAddress: 256n, counterWrap: 16 });
 * await w.advance(3);
 * console.log(w.written, (await Deno.stat(path)).size); // 3 260
 * w.close();
 * await Deno.remove(path);
 * ```
 */
export class ImageWriter {
  readonly #file: Deno.FsFile;
  readonly #ring: HwRing;
  readonly #page: Uint8Array;
  readonly #start: number;
  /** Pages written and counted. */
  written = 0;
  #closed = false;

  private constructor(file: Deno.FsFile, ring: HwRing, start: number) {
    this.#file = file;
    this.#ring = ring;
    this.#page = new Uint8Array(ring.pageSize);
    this.#start = start;
  }

  /** Creates (truncates) the image, publishes the start counter and half-writes the first page. */
  static async open(
    path: string,
    ring: HwRing,
    options: ImageWriterOptions = {},
  ): Promise<ImageWriter> {
    const file = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
    const end = Math.max(
      Number(ring.base) + ring.pageSize * ring.pages,
      Number(ring.counterAddress) + 4,
    );
    await file.truncate(end);
    const w = new ImageWriter(file, ring, options.start ?? 0);
    await w.#counter();
    await w.#half(0);
    return w;
  }

  /** The physical counter value published. */
  get counter(): number {
    return (this.#start + this.written) % this.#ring.counterWrap;
  }

  async #at(offset: number, bytes: Uint8Array): Promise<void> {
    await this.#file.seek(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < bytes.length) done += await this.#file.write(bytes.subarray(done));
  }

  #slotOffset(k: number): number {
    return Number(this.#ring.base) + ((this.#start + k) % this.#ring.pages) * this.#ring.pageSize;
  }

  async #half(k: number): Promise<void> {
    const half = this.#ring.pageSize / 2;
    fillStreamPage(this.#page, this.#start + k);
    await this.#at(this.#slotOffset(k), this.#page.subarray(0, half));
  }

  async #counter(): Promise<void> {
    const c = new Uint8Array(4);
    new DataView(c.buffer).setUint32(0, this.counter, true);
    await this.#at(Number(this.#ring.counterAddress), c);
  }

  /** Finishes `n` pages (second half, then the counter, then the next page's first half). */
  async advance(n: number): Promise<void> {
    const half = this.#ring.pageSize / 2;
    for (let i = 0; i < n; i++) {
      const k = this.written;
      fillStreamPage(this.#page, this.#start + k);
      await this.#at(this.#slotOffset(k) + half, this.#page.subarray(half));
      this.written++;
      await this.#counter();
      await this.#half(this.written);
    }
  }

  /**
   * Writes at `pagesPerSecond` in real time until `signal` aborts (or
   * `untilPages` pages are written), waking every `tickMs`.
   */
  async pace(
    pagesPerSecond: number,
    options: { signal?: AbortSignal; untilPages?: number; tickMs?: number } = {},
  ): Promise<void> {
    const t0 = performance.now();
    const w0 = this.written;
    const tick = options.tickMs ?? 2;
    while (!options.signal?.aborted && !this.#closed) {
      let due = w0 + Math.floor(((performance.now() - t0) / 1000) * pagesPerSecond);
      if (options.untilPages !== undefined) due = Math.min(due, options.untilPages);
      if (due > this.written) await this.advance(due - this.written);
      if (options.untilPages !== undefined && this.written >= options.untilPages) return;
      await new Promise((r) => setTimeout(r, tick));
    }
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}
