/**
 * The `sim:` backend: the simulated capture device ({@linkcode SimDevice},
 * lib/sim/device.ts) in process, writing into an in-memory ring as the dumper
 * reads it.
 *
 * URL: `sim:?rate=SIZE[/s]&pattern=counter|sine&burst=N&start=N&tone=HZ&samplerate=HZ&channels=N&fail-after=N`
 * (`latency`, the time a read takes on a virtual clock, is an {@linkcode openSim} option for
 * tests, not a URL option: with the system clock it would do nothing)
 *
 * @module
 */
import type { Backend, BackendFactory, BackendOpenOptions, RegisterWidth } from "./types.ts";
import { UrlOptions } from "./options.ts";
import { BackendError } from "../lib/errors.ts";
import type { RingGeometry } from "../lib/ring.ts";
import { type Clock, systemClock, VirtualClock } from "../lib/clock.ts";
import { MemoryRing, SimDevice, type SimOptions } from "../lib/sim/device.ts";
import { hex } from "../lib/units.ts";

/** The sim backend: a {@linkcode SimDevice} in process. */
class SimBackend implements Backend {
  readonly name = "sim";
  readonly #device: SimDevice;
  readonly #memory: MemoryRing;
  readonly #geometry: RingGeometry;
  readonly #clock: Clock;
  readonly #latency: number;
  readonly #failAfter: number;
  #calls = 0;
  #closed = false;

  constructor(
    geometry: RingGeometry,
    options: SimOptions & { clock: Clock; latency: number; failAfter: number },
  ) {
    this.#geometry = geometry;
    this.#clock = options.clock;
    this.#latency = options.latency;
    this.#failAfter = options.failAfter;
    this.#memory = new MemoryRing(geometry.pageSize, geometry.pages);
    this.#device = new SimDevice(geometry, { ...options, memory: this.#memory });
  }

  /** The device behind the backend (for tests and scripts). */
  get device(): SimDevice {
    return this.#device;
  }

  #call(what: string): void {
    if (this.#closed) throw new BackendError(`sim: ${what} after close`, { backend: "sim" });
    this.#calls++;
    if (this.#failAfter > 0 && this.#calls > this.#failAfter) {
      throw new BackendError(
        `sim: simulated device fault on call ${this.#calls} (fail-after=${this.#failAfter})`,
        { backend: "sim" },
      );
    }
  }

  // deno-lint-ignore require-await
  async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    this.#call("readRegister");
    if (address !== this.#geometry.counterAddress || width !== 32) {
      throw (new BackendError(
        `sim: no ${width}-bit register at ${hex(address)}; the counter is the 32-bit register at ${
          hex(this.#geometry.counterAddress)
        }`,
        { backend: "sim", address },
      ));
    }
    this.#device.step();
    return BigInt(this.#memory.counter);
  }

  // deno-lint-ignore require-await
  async read(address: bigint, dest: Uint8Array): Promise<void> {
    this.#call("read");
    const g = this.#geometry;
    const off = address - g.base;
    if (off < 0n || off + BigInt(dest.length) > BigInt(g.ringBytes)) {
      throw (new BackendError(
        `sim: read of ${dest.length} bytes at ${hex(address)} is outside the ring ${hex(g.base)}..${
          hex(g.base + BigInt(g.ringBytes))
        }`,
        { backend: "sim", address },
      ));
    }
    const o = Number(off);
    // Copy in two halves with the writer running in between, as DMA would,
    // so a reader that falls behind really does see torn data.
    const half = Math.floor(dest.length / 2 / g.pageSize) * g.pageSize;
    this.#device.step();
    dest.set(this.#memory.bytes.subarray(o, o + half));
    if (this.#latency > 0 && this.#clock instanceof VirtualClock) {
      this.#clock.advance(this.#latency);
    }
    this.#device.step();
    dest.set(this.#memory.bytes.subarray(o + half, o + dest.length), half);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

const SIM_OPTIONS = [
  "rate",
  "pattern",
  "burst",
  "start",
  "tone",
  "samplerate",
  "channels",
  "fail-after",
] as const;

/**
 * Opens a simulated device as a backend (what `sim:` URLs do).
 *
 * @example
 * ```ts
 * import { openSim } from "./sim.ts";
 * import { ringGeometry } from "../lib/ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const sim = openSim(geometry, { pattern: "counter", rate: 1 << 20 });
 * console.log(await sim.readRegister(geometry.counterAddress, 32)); // 0n
 * ```
 */
export function openSim(
  geometry: RingGeometry,
  options: SimOptions & { latency?: number; failAfter?: number } = {},
): Backend & { readonly device: SimDevice } {
  return new SimBackend(geometry, {
    ...options,
    clock: options.clock ?? systemClock,
    latency: options.latency ?? 0,
    failAfter: options.failAfter ?? 0,
  });
}

/**
 * The `sim:` backend factory.
 *
 * @example
 * ```ts
 * import { simBackend } from "./sim.ts";
 * console.log(simBackend.scheme); // "sim"
 * ```
 */
export const simBackend: BackendFactory = {
  scheme: "sim",
  description: "simulated capture device in process (the default)",
  usage:
    "sim:[?rate=SIZE/s&pattern=sine|counter&burst=N&start=N&tone=HZ&samplerate=HZ&channels=N&fail-after=N]",
  needs: "nothing",
  probe: () => Promise.resolve({ usable: true, detail: "built in" }),
  // deno-lint-ignore require-await
  async open(url: URL, options: BackendOpenOptions): Promise<Backend> {
    const o = new UrlOptions(url, SIM_OPTIONS);
    const pattern = o.choice("pattern", ["sine", "counter"] as const, "sine");
    return openSim(options.geometry, {
      pattern,
      rate: url.searchParams.has("rate") ? o.rate("rate", 0) : undefined,
      burst: o.integer("burst", 1),
      start: o.integer("start", 0),
      tone: o.number("tone", 440),
      sampleRate: o.integer("samplerate", 48000),
      channels: o.integer("channels", 2),
      failAfter: o.integer("fail-after", 0),
      clock: options.clock,
    });
  },
};
