/**
 * The backend interface: what the dumper needs from a source of physical
 * memory ({@linkcode Backend}), and what a backend kind offers the registry
 * ({@linkcode BackendFactory}). Imports nothing from the backends, so every
 * backend can import it.
 *
 * @module
 */
import type { RingGeometry } from "../lib/ring.ts";
import type { Clock } from "../lib/clock.ts";

/** Widths of a register read, in bits. */
export type RegisterWidth = 8 | 16 | 32 | 64;

/** A source of physical memory: registers and byte ranges. */
export interface Backend {
  /** Short name, e.g. `sim`, `devmem`. */
  readonly name: string;
  /** Reads a little-endian register of `width` bits at `address`, fresh from the device. */
  readRegister(address: bigint, width: RegisterWidth): Promise<bigint>;
  /** Fills `dest` exactly with the bytes at `address`; throws a BackendError otherwise. */
  read(address: bigint, dest: Uint8Array): Promise<void>;
  /** Releases every resource (mappings, processes, connections). Idempotent. */
  close(): Promise<void>;
  /**
   * Largest read worth making in one call, bytes; the dumper's default (4
   * MiB) when absent. Backends that run a process per read set it large.
   */
  readonly maxReadBytes?: number;
  /**
   * Bytes the dumper may read before one counter re-read checks them all
   * (docs/design.md rule 4); one check per read when absent. Backends whose
   * register read is a process or a round trip set it large.
   */
  readonly checkBatchBytes?: number;
  /**
   * Bytes of `checkBatchBytes` batches the dumper may hand to
   * {@linkcode Backend.readThenRegister} at once, without waiting for one
   * call before making the next; absent: one call at a time. For a backend
   * that serves calls in the order they were made with no round trip
   * between them (the agent: requests in flight on one stream), so a short
   * batch, its check close behind its reads, costs no round trip.
   */
  readonly pipelineBytes?: number;
  /**
   * Optional: reads each range in order, then the register, as one operation
   * (one remote command, or requests in flight together), and returns the
   * register's value as read after the last range. The dumper's batched
   * check uses it, so the counter follows the reads without a round trip in
   * between. Fills every `dest` exactly, or throws as {@linkcode Backend.read}.
   */
  readThenRegister?(
    reads: readonly { address: bigint; dest: Uint8Array }[],
    register: { address: bigint; width: RegisterWidth },
  ): Promise<bigint>;
}

/** What a backend gets when it is opened. */
export interface BackendOpenOptions {
  /** The ring being captured: lets a backend map the window once, or simulate it. */
  geometry: RingGeometry;
  /** Clock for time-based backends (the simulator); default the system clock. */
  clock?: Clock;
  /**
   * The capture's stop signal: aborts long set-up work (connecting,
   * spawning); a backend running subprocesses also stops waiting on a hung one.
   */
  signal?: AbortSignal;
  /** The capture's period, ms, when known: sets deadlines of backend subprocesses. */
  period?: number;
}

/** Whether a backend can be used on this machine right now. */
export interface BackendProbe {
  /** True when the backend can be opened here with its defaults. */
  readonly usable: boolean;
  /** What was found, e.g. "/dev/mem: absent". */
  readonly detail: string;
}

/** One option of a backend URL's query string, as `ringdump backends` shows it. */
export interface BackendOption {
  /** Its name in the query string, e.g. `known_hosts`. */
  readonly name: string;
  /** What its value is: how it is parsed. */
  readonly type:
    | "path"
    | "string"
    | "choice"
    | "address"
    | "integer"
    | "number"
    | "size"
    | "duration";
  /** The values a `choice` takes. */
  readonly choices?: readonly string[];
  /** The placeholder in the URL form, e.g. `CMD`; default from the type (`PATH`, `ADDR`, ...). */
  readonly placeholder?: string;
  /** The default, as text; absent when there is none or it depends (see `doc`). */
  readonly default?: string;
  /** What it does. */
  readonly doc: string;
}

/** A backend kind, registered under a URL scheme. */
export interface BackendFactory {
  /** URL scheme without the colon, e.g. `devmem`. */
  readonly scheme: string;
  /** One-line description. */
  readonly description: string;
  /** URL form with its options, e.g. `devmem:[PATH][?origin=ADDR]`. */
  readonly usage: string;
  /** What it needs, e.g. "read access to /dev/mem (root)". */
  readonly needs: string;
  /** Its URL options, when it declares them (then `usage` is generated from them). */
  readonly options?: readonly BackendOption[];
  /** Checks whether the backend is usable here now. */
  probe(): Promise<BackendProbe>;
  /** Opens a backend for `url`. */
  open(url: URL, options: BackendOpenOptions): Promise<Backend>;
}
