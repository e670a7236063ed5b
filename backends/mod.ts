/**
 * The backend interface, and the registry that picks a backend by URL scheme:
 * `sim:`, `devmem:`, `pixeldump:`, `ssh://`. Every built-in backend is
 * imported statically here, so `deno compile` embeds them all; further ones
 * can be registered at run time ({@linkcode registerBackend},
 * {@linkcode loadBackendModule}).
 *
 * The dumper knows only {@linkcode Backend}; a backend knows nothing of the
 * dumper.
 *
 * @module
 */
import { UsageError } from "../lib/errors.ts";
import { backendTrace, traceBackend, tracing } from "../lib/trace.ts";
import type { RingGeometry } from "../lib/ring.ts";
import type { Clock } from "../lib/clock.ts";
import { simBackend } from "./sim.ts";
import { devmemBackend } from "./devmem.ts";
import { pixeldumpBackend } from "./pixeldump.ts";
import { sshBackend } from "./ssh.ts";

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
}

/** What a backend gets when it is opened. */
export interface BackendOpenOptions {
  /** The ring being captured: lets a backend map the window once, or simulate it. */
  geometry: RingGeometry;
  /** Clock for time-based backends (the simulator); default the system clock. */
  clock?: Clock;
  /** Aborts long set-up work (connecting, spawning). */
  signal?: AbortSignal;
}

/** Whether a backend can be used on this machine right now. */
export interface BackendProbe {
  /** True when the backend can be opened here with its defaults. */
  readonly usable: boolean;
  /** What was found, e.g. "/dev/mem: absent". */
  readonly detail: string;
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
  /** Checks whether the backend is usable here now. */
  probe(): Promise<BackendProbe>;
  /** Opens a backend for `url`. */
  open(url: URL, options: BackendOpenOptions): Promise<Backend>;
}

const registry = new Map<string, BackendFactory>();

/**
 * Registers a backend kind under its scheme (replacing any earlier one).
 *
 * @example
 * ```ts
 * import { registerBackend } from "./mod.ts";
 * registerBackend({
 *   scheme: "zero",
 *   description: "reads zeros",
 *   usage: "zero:",
 *   needs: "nothing",
 *   probe: () => Promise.resolve({ usable: true, detail: "always" }),
 *   open: () =>
 *     Promise.resolve({
 *       name: "zero",
 *       readRegister: () => Promise.resolve(0n),
 *       read: (_a: bigint, d: Uint8Array) => Promise.resolve(void d.fill(0)),
 *       close: () => Promise.resolve(),
 *     }),
 * });
 * ```
 */
export function registerBackend(factory: BackendFactory): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(factory.scheme)) {
    throw new UsageError(`backend scheme '${factory.scheme}' is not a valid URL scheme`);
  }
  registry.set(factory.scheme, factory);
}

/**
 * Every registered backend kind, in registration order.
 *
 * @example
 * ```ts
 * import { listBackends } from "./mod.ts";
 * console.log(listBackends().map((f) => f.scheme)); // ["sim", ...]
 * ```
 */
export function listBackends(): BackendFactory[] {
  return [...registry.values()];
}

/**
 * Parses a backend URL (`sim:`, `devmem:/path`, `ssh://user@host:22`, ...).
 *
 * @example
 * ```ts
 * import { parseBackendUrl } from "./mod.ts";
 * console.log(parseBackendUrl("sim:?rate=8MiB").searchParams.get("rate")); // "8MiB"
 * ```
 */
export function parseBackendUrl(text: string): URL {
  let url: URL;
  try {
    // A bare scheme name ("sim") is accepted as "sim:".
    url = new URL(/^[a-z][a-z0-9+.-]*$/i.test(text) ? `${text}:` : text);
  } catch {
    throw new UsageError(
      `--backend: '${text}' is not a backend URL; use e.g. sim:, devmem:/dev/mem, pixeldump:, ssh://user@host`,
      { option: "--backend", value: text },
    );
  }
  return url;
}

/**
 * Finds the factory for a URL's scheme.
 *
 * @example
 * ```ts
 * import { findBackend } from "./mod.ts";
 * console.log(findBackend("sim:").scheme); // "sim"
 * ```
 */
export function findBackend(url: string | URL): BackendFactory {
  const u = typeof url === "string" ? parseBackendUrl(url) : url;
  const scheme = u.protocol.replace(/:$/, "");
  const factory = registry.get(scheme);
  if (!factory) {
    throw new UsageError(
      `unknown backend scheme '${scheme}:'; known: ${
        [...registry.keys()].map((s) => s + ":").join(", ")
      } (see 'ringdump backends', or load one with --backend-module)`,
      { option: "--backend", value: String(url) },
    );
  }
  return factory;
}

/**
 * Opens the backend a URL names.
 *
 * @example
 * ```ts
 * import { openBackend } from "./mod.ts";
 * import { ringGeometry } from "../lib/ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const backend = await openBackend("sim:?pattern=counter", { geometry });
 * console.log(backend.name); // "sim"
 * await backend.close();
 * ```
 */
export async function openBackend(
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
 * Loads a backend plugin: a module whose `backend` (or default) export is a
 * {@linkcode BackendFactory}, and registers it.
 *
 * @example
 * ```ts ignore
 * import { loadBackendModule } from "./mod.ts";
 * const factory = await loadBackendModule("./my_backend.ts");
 * console.log(factory.scheme);
 * ```
 */
export async function loadBackendModule(path: string): Promise<BackendFactory> {
  const spec = /^[a-z][a-z0-9+.-]*:/i.test(path)
    ? path
    : new URL(path, `file://${Deno.cwd()}/`).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(spec);
  } catch (e) {
    throw new UsageError(
      `--backend-module: cannot load '${path}': ${(e as Error).message}`,
      { option: "--backend-module", value: path, cause: e },
    );
  }
  const factory = (mod.backend ?? mod.default) as BackendFactory | undefined;
  if (
    !factory || typeof factory.scheme !== "string" || typeof factory.open !== "function" ||
    typeof factory.probe !== "function"
  ) {
    throw new UsageError(
      `--backend-module: '${path}' exports no backend; export a BackendFactory as 'backend'`,
      { option: "--backend-module", value: path },
    );
  }
  registerBackend(factory);
  return factory;
}

registerBackend(simBackend);
registerBackend(devmemBackend);
registerBackend(pixeldumpBackend);
registerBackend(sshBackend);
