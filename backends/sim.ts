/**
 * The `sim:` backend: the simulated capture device ({@linkcode SimDevice},
 * lib/sim/device.ts) in process, writing into an in-memory ring as the dumper
 * reads it.
 *
 * URL: `sim:?rate=SIZE[/s]&pattern=counter|sine&burst=N&start=N&tone=HZ&samplerate=HZ&channels=N&fail-after=N`
 * (`latency` and `registerLatency`, the time a read and a counter read take on a virtual
 * clock, are {@linkcode openSim} options for tests, not URL options: with the system clock they
 * would do nothing)
 *
 * @module
 */
import type {
  Backend,
  BackendFactory,
  BackendOpenOptions,
  BackendOption,
  RegisterWidth,
} from "./types.ts";
import { urlForm, UrlOptions } from "./options.ts";
import { BackendError } from "../lib/errors.ts";
import type { RingGeometry } from "../lib/ring.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
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
  readonly #registerLatency: number;
  readonly #failAfter: number;
  #calls = 0;
  #closed = false;

  constructor(
    geometry: RingGeometry,
    options: SimOptions & {
      clock: Clock;
      latency: number;
      registerLatency: number;
      failAfter: number;
    },
  ) {
    this.#geometry = geometry;
    this.#clock = options.clock;
    this.#latency = options.latency;
    this.#registerLatency = options.registerLatency;
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

  /** Lets `ms` pass on a clock that moves only when told (a VirtualClock or one like it). */
  #take(ms: number): void {
    const clock = this.#clock as Clock & { advance?: (ms: number) => void };
    if (ms > 0 && typeof clock.advance === "function") clock.advance(ms);
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
    // A counter read that takes time (a devmem process): half of it before
    // the register is sampled, half after.
    const half = this.#registerLatency / 2;
    this.#take(half);
    this.#device.step();
    const value = BigInt(this.#memory.counter);
    this.#take(half);
    return value;
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
    this.#take(this.#latency);
    this.#device.step();
    dest.set(this.#memory.bytes.subarray(o + half, o + dest.length), half);
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

const SIM_DEFAULTS = {
  pattern: "sine",
  burst: 1,
  start: 0,
  tone: 440,
  sampleRate: 48000,
  channels: 2,
  failAfter: 0,
} as const;

/** The URL options of `sim:`, declared once (name, type, default, doc). */
const SIM_URL_OPTIONS: readonly BackendOption[] = [
  {
    name: "rate",
    type: "size",
    placeholder: "SIZE/s",
    doc: "bytes per second the device writes, 4MiB or 4MiB/s (default: real-time audio for " +
      "sine, 1 MiB/s for counter)",
  },
  {
    name: "pattern",
    type: "choice",
    choices: ["sine", "counter"],
    default: SIM_DEFAULTS.pattern,
    doc: "what it writes: a tone, or the self-checking counter (ringdump verify)",
  },
  {
    name: "burst",
    type: "integer",
    default: String(SIM_DEFAULTS.burst),
    doc: "pages per hardware write (the counter advances by this much at once)",
  },
  {
    name: "start",
    type: "integer",
    default: String(SIM_DEFAULTS.start),
    doc: "the counter's first value",
  },
  {
    name: "tone",
    type: "number",
    placeholder: "HZ",
    default: String(SIM_DEFAULTS.tone),
    doc: "tone frequency",
  },
  {
    name: "samplerate",
    type: "integer",
    placeholder: "HZ",
    default: String(SIM_DEFAULTS.sampleRate),
    doc: "sample rate of the tone",
  },
  {
    name: "channels",
    type: "integer",
    default: String(SIM_DEFAULTS.channels),
    doc: "channels of the tone",
  },
  {
    name: "fail-after",
    type: "integer",
    default: String(SIM_DEFAULTS.failAfter),
    doc: "simulate a device fault after N calls (0: never)",
  },
];

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
  options: SimOptions & { latency?: number; registerLatency?: number; failAfter?: number } = {},
): Backend & { readonly device: SimDevice } {
  return new SimBackend(geometry, {
    ...options,
    clock: options.clock ?? systemClock,
    latency: options.latency ?? 0,
    registerLatency: options.registerLatency ?? 0,
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
  usage: urlForm("sim:", SIM_URL_OPTIONS),
  options: SIM_URL_OPTIONS,
  needs: "nothing",
  probe: () => Promise.resolve({ usable: true, detail: "built in" }),
  // deno-lint-ignore require-await
  async open(url: URL, options: BackendOpenOptions): Promise<Backend> {
    const o = new UrlOptions(url, SIM_URL_OPTIONS.map((u) => u.name));
    const d = SIM_DEFAULTS;
    return openSim(options.geometry, {
      pattern: o.choice("pattern", ["sine", "counter"] as const, d.pattern),
      rate: url.searchParams.has("rate") ? o.rate("rate", 0) : undefined,
      burst: o.integer("burst", d.burst),
      start: o.integer("start", d.start),
      tone: o.number("tone", d.tone),
      sampleRate: o.integer("samplerate", d.sampleRate),
      channels: o.integer("channels", d.channels),
      failAfter: o.integer("fail-after", d.failAfter),
      clock: options.clock,
    });
  },
};
