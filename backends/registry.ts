/**
 * The registry of backend kinds: {@linkcode registerBackend} a
 * {@linkcode BackendFactory} under its URL scheme, find it again for a URL
 * ({@linkcode findBackend}), open the backend a URL names
 * ({@linkcode openBackend}), or load a plugin module that brings one
 * ({@linkcode loadBackendModule}). The built-in kinds are registered by
 * `backends/mod.ts`; tracing is applied where a capture is assembled
 * (`lib/capture.ts`), not here.
 *
 * @module
 */
import { errorMessage, UsageError } from "../lib/errors.ts";
import type { Backend, BackendFactory, BackendOpenOptions } from "./types.ts";

const registry = new Map<string, BackendFactory>();

/**
 * Registers a backend kind under its scheme (replacing any earlier one).
 *
 * @example
 * ```ts
 * import { registerBackend } from "./registry.ts";
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
 * import { parseBackendUrl } from "./registry.ts";
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
      `backend: '${text}' is not a backend URL; use e.g. sim:, devmem:/dev/mem, pixeldump:, ssh://user@host`,
      { option: "backend", value: text },
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
      } (see 'ringdump backends', or load one with the backendModule option)`,
      { option: "backend", value: String(url) },
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
  return await findBackend(u).open(u, options);
}

/** A loader's message (a syntax error comes with a code frame) as one line with its place. */
function oneLine(message: string): string {
  const first = message.split("\n")[0].trim();
  const at = /\bat (file:\/\/\S+?:\d+:\d+)/.exec(message)?.[1];
  if (at === undefined || first.includes(at)) return first;
  return `${first} (at ${decodeURIComponent(at.slice("file://".length))})`;
}

/**
 * Loads a backend plugin: a module whose `backend` (or default) export is a
 * {@linkcode BackendFactory}, and registers it.
 *
 * @example
 * ```ts ignore
 * import { loadBackendModule } from "./registry.ts";
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
      `backendModule: cannot load '${path}': ${oneLine(errorMessage(e))}`,
      { option: "backendModule", value: path, cause: e },
    );
  }
  const factory = (mod.backend ?? mod.default) as BackendFactory | undefined;
  if (
    !factory || typeof factory.scheme !== "string" || typeof factory.open !== "function" ||
    typeof factory.probe !== "function"
  ) {
    throw new UsageError(
      `backendModule: '${path}' exports no backend; export a BackendFactory as 'backend'`,
      { option: "backendModule", value: path },
    );
  }
  registerBackend(factory);
  return factory;
}
