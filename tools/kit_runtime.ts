/**
 * The Deno runtime a kit carries (see {@link ./kit.ts}): the npm package for
 * each target, the nearest published version to the host's Deno, and the
 * tarball fetched from the npm registry (`$NPM_CONFIG_REGISTRY`, default
 * registry.npmjs.org), checked against the registry's sha512 integrity and
 * cached.
 *
 * @module
 */
import { errorMessage } from "../lib/errors.ts";

/** The npm package holding the Deno runtime for each kit target. */
export const KIT_RUNTIMES: Record<string, string> = {
  x86_64: "@deno/linux-x64-glibc",
  aarch64: "@deno/linux-arm64-glibc",
};

/**
 * A kit that could not be built; the message is the one line to print.
 *
 * @example
 * ```ts
 * import { KitError } from "./kit_runtime.ts";
 * const e = new KitError("no runtime", { target: "aarch64" });
 * console.log(e.target); // "aarch64"
 * ```
 */
export class KitError extends Error {
  /** The target it was for, if any. */
  readonly target?: string;
  /** Creates the error with a message that says what to do. */
  constructor(message: string, options: { target?: string } = {}) {
    super(message);
    this.name = "KitError";
    this.target = options.target;
  }
}

function parseVersion(v: string): [number, number, number] | undefined {
  const m = v.match(/^(\d+)\.(\d+)\.(\d+)$/);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * The runtime version to use for `want` (the host Deno's): `want` itself when
 * published, else the oldest later stable (x.y.z) version of the same major
 * (the bundle uses the host's APIs, which a later runtime has), else the
 * newest earlier one, else the oldest later one. Undefined when nothing stable
 * is published.
 *
 * @example
 * ```ts
 * import { nearestVersion } from "./kit_runtime.ts";
 * console.log(nearestVersion("2.9.7", ["2.7.7", "2.9.5", "2.9.6"])); // "2.9.6"
 * console.log(nearestVersion("2.8.0", ["2.7.7", "2.9.3"])); // "2.9.3"
 * ```
 */
export function nearestVersion(want: string, published: string[]): string | undefined {
  if (published.includes(want)) return want;
  const w = parseVersion(want);
  if (w === undefined) return undefined;
  const stable = published.map((v) => ({ v, p: parseVersion(v) }))
    .filter((x): x is { v: string; p: [number, number, number] } => x.p !== undefined)
    .sort((a, b) => compare(a.p, b.p));
  const later = stable.filter((x) => compare(x.p, w) > 0);
  const earlier = stable.filter((x) => compare(x.p, w) < 0);
  return (later.find((x) => x.p[0] === w[0]) ?? earlier.at(-1) ?? later[0])?.v;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** A digest of `data`. */
export async function sha(algorithm: "SHA-256" | "SHA-512", data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(algorithm, data as Uint8Array<ArrayBuffer>));
}

function toBase64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

/** A runtime tarball on disk. */
export interface Runtime {
  /** The npm package. */
  package: string;
  /** Its version. */
  version: string;
  /** The .tgz, as the registry serves it. */
  path: string;
}

/** Options of {@linkcode fetchRuntime}. */
export interface FetchRuntimeOptions {
  /** The version wanted (default: the host's Deno). */
  version?: string;
  /** Where tarballs are kept. */
  cacheDir: string;
  /** npm registry (default `$NPM_CONFIG_REGISTRY` or https://registry.npmjs.org). */
  registry?: string;
  /** Called with a warning line. */
  warn?: (line: string) => void;
}

/**
 * The runtime tarball for a target, from the cache or the npm registry,
 * checked against the registry's sha512 integrity (the cache keeps it beside
 * the tarball and checks again on reuse).
 *
 * @example
 * ```ts ignore
 * import { fetchRuntime } from "./kit_runtime.ts";
 * const rt = await fetchRuntime("aarch64", { cacheDir: "dist/runtime" });
 * console.log(rt.path); // dist/runtime/deno-linux-arm64-glibc-2.9.6.tgz
 * ```
 */
export async function fetchRuntime(target: string, options: FetchRuntimeOptions): Promise<Runtime> {
  const pkg = KIT_RUNTIMES[target];
  if (pkg === undefined) {
    throw new KitError(`unknown target '${target}'; use x86_64, aarch64 or all`, { target });
  }
  const want = options.version ?? Deno.version.deno;
  const base = pkg.replace(/^@/, "").replace("/", "-");
  const cached = async (version: string): Promise<Runtime | undefined> => {
    const path = `${options.cacheDir}/${base}-${version}.tgz`;
    try {
      const integrity = (await Deno.readTextFile(`${path}.integrity`)).trim();
      const data = await Deno.readFile(path);
      if (`sha512-${toBase64(await sha("SHA-512", data))}` === integrity) {
        return { package: pkg, version, path };
      }
    } catch { /* not cached */ }
    return undefined;
  };
  const hit = await cached(want);
  if (hit) return hit;
  const registry = (options.registry ?? Deno.env.get("NPM_CONFIG_REGISTRY") ??
    "https://registry.npmjs.org").replace(/\/$/, "");
  const metaUrl = `${registry}/${pkg.replace("/", "%2f")}`;
  let meta: { versions?: Record<string, { dist?: { tarball?: string; integrity?: string } }> };
  try {
    const res = await fetch(metaUrl, {
      headers: { accept: "application/vnd.npm.install-v1+json" },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    meta = await res.json();
  } catch (e) {
    throw new KitError(
      `cannot reach the npm registry for ${pkg} (${metaUrl}: ${errorMessage(e)}); ` +
        `put ${base}-${want}.tgz (npm pack ${pkg}@${want}) and its .integrity in ${options.cacheDir}`,
      { target },
    );
  }
  const version = nearestVersion(want, Object.keys(meta.versions ?? {}));
  if (version === undefined) {
    throw new KitError(`the npm registry has no version of ${pkg}`, { target });
  }
  if (version !== want) {
    options.warn?.(
      `${pkg} has no ${want} (the host's Deno); using ${version}, the nearest published`,
    );
    const again = await cached(version);
    if (again) return again;
  }
  const dist = meta.versions![version].dist;
  if (!dist?.tarball || !dist.integrity?.startsWith("sha512-")) {
    throw new KitError(`the npm registry lists ${pkg}@${version} without a sha512 tarball`, {
      target,
    });
  }
  let data: Uint8Array;
  try {
    const res = await fetch(dist.tarball);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    data = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new KitError(`downloading ${dist.tarball} failed: ${errorMessage(e)}`, { target });
  }
  const got = `sha512-${toBase64(await sha("SHA-512", data))}`;
  if (got !== dist.integrity) {
    throw new KitError(
      `${dist.tarball} does not match the registry's integrity (${dist.integrity}); try again`,
      { target },
    );
  }
  await Deno.mkdir(options.cacheDir, { recursive: true });
  const path = `${options.cacheDir}/${base}-${version}.tgz`;
  await writeAtomic(path, data);
  await writeAtomic(`${path}.integrity`, new TextEncoder().encode(`${dist.integrity}\n`));
  return { package: pkg, version, path };
}

/** Writes `data` to `path` through a temporary file renamed into place (a reader never sees half a file). */
export async function writeAtomic(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(tmp, data, { mode });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
