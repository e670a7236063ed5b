/**
 * The lap harness: a large ring image whose bytes are written once up front,
 * and a counter that advances by one full ring per period, written into the
 * image's little-endian u32 counter register through a real file write
 * between periods (by {@linkcode LapClock}, the dumper's clock). A capture of
 * it exercises exactly the capture path (counter read, backend reads, torn
 * check, sink write) on a known number of bytes, without a writer spending
 * CPU on generating data; the references copy the same bytes.
 *
 * @module
 */
import type { Backend } from "../backends/types.ts";
import { closeFd, Mapping, openReadOnly } from "../backends/libc_util.ts";
import type { Clock } from "../lib/clock.ts";
import { Dumper } from "../lib/dumper.ts";
import type { DumpStats } from "../lib/dumper_options.ts";
import { imageLayout } from "../lib/sim/image.ts";
import { type RingGeometry, ringGeometry } from "../lib/ring.ts";
import type { Sink } from "../lib/sink/mod.ts";
import { run } from "./util.ts";

/** Page size of lap rings: large pages keep a GiB ring under the counter wrap. */
export const LAP_PAGE_SIZE = 64 * 1024;

/** A ring image for the lap harness. */
export interface LapRing {
  /** The image file (origin 0). */
  readonly path: string;
  /** Its ring (base 0, counter right after the ring). */
  readonly geometry: RingGeometry;
  /** Removes the image. */
  remove(): Promise<void>;
}

/**
 * Creates a ring image of `ringBytes` (rounded up to whole 64 KiB pages) in
 * `dir`: every u32 word holds its word index, and the counter register is 0.
 *
 * @example
 * ```ts ignore
 * import { createLapRing } from "./lap.ts";
 * const ring = await createLapRing("/dev/shm", 1 << 20);
 * await ring.remove();
 * ```
 */
export async function createLapRing(dir: string, ringBytes: number): Promise<LapRing> {
  const pages = Math.max(2, Math.ceil(ringBytes / LAP_PAGE_SIZE));
  const geometry = ringGeometry({
    base: 0n,
    pageSize: LAP_PAGE_SIZE,
    pages,
    // The widest counter (32 bits): a lap per period arrives at a rate no
    // writer has, and the dumper's stall judgement (a pause long enough to
    // wrap the counter unseen) must not take a read's own time for one.
    counterWrap: 2 ** 32,
  });
  const layout = imageLayout(geometry, { origin: 0n });
  const path = await Deno.makeTempFile({ dir, prefix: "ringdump-bench-", suffix: ".img" });
  const file = await Deno.open(path, { write: true, truncate: true });
  try {
    const chunk = 4 * 1024 * 1024;
    const words = new Uint32Array(chunk / 4);
    const bytes = new Uint8Array(words.buffer);
    for (let off = 0; off < geometry.ringBytes; off += chunk) {
      const n = Math.min(chunk, geometry.ringBytes - off);
      const w0 = off / 4;
      for (let i = 0; i < n / 4; i++) words[i] = w0 + i;
      let done = 0;
      while (done < n) done += await file.write(bytes.subarray(done, n));
    }
    await file.truncate(layout.size); // the counter register: 0
  } finally {
    file.close();
  }
  return { path, geometry, remove: () => Deno.remove(path).catch(() => {}) };
}

/**
 * The dumper's clock in the lap harness: `sleep()` returns at once after
 * advancing the image's counter register by one full ring (a real 4-byte file
 * write), so every period finds exactly one new lap. `now()` is virtual time
 * that `sleep()` advances, so the writer's rate is steady as the dumper sees
 * it (a real-time clock would make a slow period look like a stall long
 * enough for the counter to wrap); the harness times the capture itself.
 *
 * @example
 * ```ts ignore
 * import { createLapRing, LapClock } from "./lap.ts";
 * const ring = await createLapRing("/dev/shm", 1 << 20);
 * const clock = LapClock.open(ring);
 * await clock.sleep(1);
 * clock.close();
 * ```
 */
export class LapClock implements Clock {
  readonly #file: Deno.FsFile;
  readonly #g: RingGeometry;
  readonly #bytes = new Uint8Array(4);
  #counter = 0;
  #now = 0;

  private constructor(file: Deno.FsFile, geometry: RingGeometry) {
    this.#file = file;
    this.#g = geometry;
  }

  /** Opens the ring's image for writing its counter (which it resets to 0). */
  static open(ring: LapRing): LapClock {
    const clock = new LapClock(Deno.openSync(ring.path, { write: true }), ring.geometry);
    clock.#write();
    return clock;
  }

  #write(): void {
    new DataView(this.#bytes.buffer).setUint32(0, this.#counter, true);
    this.#file.seekSync(Number(this.#g.counterAddress), Deno.SeekMode.Start);
    let done = 0;
    while (done < 4) done += this.#file.writeSync(this.#bytes.subarray(done));
  }

  /** Virtual time, ms: what the sleeps added up to. */
  now(): number {
    return this.#now;
  }

  /** Advances the counter by one ring (and the time by `ms`) and returns. */
  sleep(ms: number, _signal?: AbortSignal): Promise<void> {
    this.#now += Math.max(ms, 0);
    this.#counter = (this.#counter + this.#g.pages) % this.#g.counterWrap;
    this.#write();
    return Promise.resolve();
  }

  /** Closes the image. */
  close(): void {
    this.#file.close();
  }
}

/** A timed capture or copy of some bytes. */
export interface Timed {
  /** Bytes moved. */
  readonly bytes: number;
  /** Wall time, s. */
  readonly seconds: number;
}

/** Options of {@linkcode lapCapture}. */
export interface LapCaptureOptions {
  /** An open backend on the ring's image (left open). */
  backend: Backend;
  /** The sink (flushed by the dumper, left open). */
  sink: Sink;
  /** The ring. */
  ring: LapRing;
  /** Full rings to capture. */
  laps: number;
  /** The dumper's largest read; default the dumper's own default. */
  maxReadBytes?: number;
}

/**
 * Captures `laps` full rings through the dumper (one lap per period) and
 * times it, flush included.
 *
 * @example
 * ```ts ignore
 * import { createLapRing, lapCapture } from "./lap.ts";
 * import { openDevmem } from "../backends/devmem.ts";
 * import { DiscardSink } from "../lib/sink/mod.ts";
 * const ring = await createLapRing("/dev/shm", 1 << 20);
 * const backend = await openDevmem(ring.path, { geometry: ring.geometry });
 * console.log(await lapCapture({ backend, sink: new DiscardSink(), ring, laps: 2 }));
 * ```
 */
export async function lapCapture(
  options: LapCaptureOptions,
): Promise<Timed & { stats: DumpStats }> {
  const { ring, laps } = options;
  const clock = LapClock.open(ring);
  try {
    const total = laps * ring.geometry.ringBytes;
    const dumper = new Dumper(options.backend, options.sink, {
      geometry: ring.geometry,
      period: 1,
      // One lap per period by construction: the beat, not adaptive polling
      // (every sleep of the LapClock is a whole lap).
      fixedPeriod: true,
      maxBytes: total,
      clock,
      maxReadBytes: options.maxReadBytes,
      // The lap "writer" publishes a whole lap between periods and writes
      // nothing while the reader reads: no page is in flight (the default 1
      // would count the oldest page of every full lap as torn).
      inFlight: 0,
    });
    const t0 = performance.now();
    const stats = await dumper.run();
    const seconds = (performance.now() - t0) / 1000;
    if (stats.bytes !== total || stats.lostPages !== 0) {
      throw new Error(
        `lap capture: ${stats.bytes} bytes (${stats.lostPages} pages lost), expected ${total}`,
      );
    }
    return { bytes: stats.bytes, seconds, stats };
  } finally {
    clock.close();
  }
}

/**
 * The copy ceiling's reference: a plain `UnsafePointerView.copyInto` of the
 * same bytes, from a fresh read-only mapping of the image, in `chunkBytes`
 * pieces into one reused buffer.
 *
 * @example
 * ```ts ignore
 * import { copyIntoReference, createLapRing } from "./lap.ts";
 * const ring = await createLapRing("/dev/shm", 1 << 20);
 * console.log(copyIntoReference(ring, 2, 1 << 20).bytes); // 2097152
 * ```
 */
export function copyIntoReference(ring: LapRing, laps: number, chunkBytes: number): Timed {
  const r = openReadOnly(ring.path);
  if ("errno" in r) throw new Error(`${ring.path}: ${r.errno.message}`);
  try {
    const ringBytes = ring.geometry.ringBytes;
    const t0 = performance.now();
    const m = Mapping.map(r.fd, 0n, ringBytes);
    if (!(m instanceof Mapping)) throw new Error(`mmap ${ring.path}: ${m.errno.message}`);
    try {
      const view = m.view;
      const dest = new Uint8Array(Math.min(chunkBytes, ringBytes));
      for (let lap = 0; lap < laps; lap++) {
        for (let off = 0; off < ringBytes; off += dest.length) {
          const n = Math.min(dest.length, ringBytes - off);
          view.copyInto(n === dest.length ? dest : dest.subarray(0, n), off);
        }
      }
    } finally {
      m.unmap();
    }
    return { bytes: laps * ringBytes, seconds: (performance.now() - t0) / 1000 };
  } finally {
    closeFd(r.fd);
  }
}

/**
 * The dd reference: `dd if=IMG of=OUT bs=1M` of the ring once per lap (to a
 * file: appended, and the last one `fdatasync`s it, as the dumper's final
 * flush does).
 *
 * @example
 * ```ts ignore
 * import { createLapRing, ddReference } from "./lap.ts";
 * const ring = await createLapRing("/dev/shm", 1 << 20);
 * console.log((await ddReference(ring, 2, "/dev/null")).bytes); // 2097152
 * ```
 */
export async function ddReference(ring: LapRing, laps: number, out: string): Promise<Timed> {
  const ringBytes = ring.geometry.ringBytes;
  const toFile = out !== "/dev/null";
  const t0 = performance.now();
  for (let lap = 0; lap < laps; lap++) {
    const args = [
      `if=${ring.path}`,
      `of=${out}`,
      "bs=1M",
      `count=${ringBytes}`,
      "iflag=count_bytes",
      "status=none",
    ];
    if (toFile) {
      // The first lap truncates; later ones append; the last one fdatasyncs.
      const conv = [...(lap > 0 ? ["notrunc"] : []), ...(lap === laps - 1 ? ["fdatasync"] : [])];
      if (lap > 0) args.push("oflag=append");
      if (conv.length) args.push(`conv=${conv.join(",")}`);
    }
    const r = await run(["dd", ...args]);
    if (r.code !== 0) throw new Error(`dd ${args.join(" ")}: ${r.stderr.trim()}`);
  }
  return { bytes: laps * ringBytes, seconds: (performance.now() - t0) / 1000 };
}
