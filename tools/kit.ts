/**
 * `deno task kit [--target x86_64|aarch64|all] [--output DIR]`: builds
 * `DIR/ringdump-ARCH` (default `dist/`), one executable file per target that
 * needs nothing on the board but `sh`, `dd` and `tar`: the POSIX sh launcher
 * {@link ./kit_launcher.sh}, padded to whole 4096-byte blocks, followed by a
 * gzip'd tar holding `ringdump.js` (the `deno bundle` of cli.ts) and, as
 * published, the npm package of the target's Deno runtime
 * (`@deno/linux-x64-glibc`, `@deno/linux-arm64-glibc`). The launcher unpacks
 * it once into a cache directory named by the payload's hash and then execs
 * the runtime on the bundle with {@linkcode COMPILE_PERMISSIONS}.
 *
 * The runtime is that of the host's Deno version, or the nearest published
 * one (with a warning). It is fetched from the npm registry
 * (`$NPM_CONFIG_REGISTRY`, default registry.npmjs.org), checked against the
 * registry's sha512 integrity and kept in `DIR/runtime/`; a kit whose content
 * did not change is not rewritten.
 *
 * @module
 */
import { errorMessage } from "../lib/errors.ts";

import denoJson from "../deno.json" with { type: "json" };
import { COMPILE_PERMISSIONS } from "./compile.ts";
import {
  fetchRuntime,
  KIT_RUNTIMES,
  KitError,
  type Runtime,
  sha,
  writeAtomic,
} from "./kit_runtime.ts";

export {
  fetchRuntime,
  type FetchRuntimeOptions,
  KIT_RUNTIMES,
  KitError,
  nearestVersion,
  type Runtime,
} from "./kit_runtime.ts";

/** Bytes per block of the launcher: the payload starts on a block boundary (`dd bs=4096 skip=N`). */
export const KIT_BLOCK = 4096;

/**
 * One regular file as a ustar archive member: the 512-byte header, the data,
 * zero padding to a whole block. No end-of-archive blocks, so that the
 * members of another tar can follow it.
 *
 * @example
 * ```ts
 * import { tarEntry } from "./kit.ts";
 * const m = tarEntry("hello.txt", new TextEncoder().encode("hi\n"));
 * console.log(m.length); // 1024
 * ```
 */
export function tarEntry(
  name: string,
  data: Uint8Array,
  options: { mode?: number; mtime?: number } = {},
): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length > 100) throw new RangeError(`tar member name too long: ${name}`);
  const size = data.length;
  const padded = Math.ceil(size / 512) * 512;
  const out = new Uint8Array(512 + padded);
  const h = out.subarray(0, 512);
  const put = (offset: number, text: string) => h.set(new TextEncoder().encode(text), offset);
  const octal = (offset: number, width: number, value: number) =>
    put(offset, value.toString(8).padStart(width - 1, "0") + "\0");
  h.set(nameBytes, 0);
  octal(100, 8, options.mode ?? 0o644);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, options.mtime ?? 0);
  put(148, "        "); // checksum placeholder: 8 spaces
  put(156, "0"); // regular file
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  out.set(data, 512);
  return out;
}

/** What goes into the launcher's header. */
export interface LauncherOptions {
  /** The template's text ({@link ./kit_launcher.sh}). */
  template: string;
  /** ringdump's version. */
  version: string;
  /** Kit target (x86_64, aarch64). */
  arch: string;
  /** The runtime's npm package. */
  runtimePackage: string;
  /** The runtime's version. */
  denoVersion: string;
  /** sha256 of the payload, 64 hex digits. */
  sha256: string;
  /** Unpacked size, bytes. */
  unpackedBytes: number;
  /** Permission flags for `deno run`. */
  permissions: string[];
}

/**
 * The launcher for a payload: the template filled in and padded with newlines
 * to whole {@linkcode KIT_BLOCK}s, the payload starting right after it.
 *
 * @example
 * ```ts
 * import { launcher } from "./kit.ts";
 * const sh = launcher({
 *   template: "#!/bin/sh\nskip=@BLOCKS@ # @SHA256@\n",
 *   version: "0.1.0", arch: "x86_64", runtimePackage: "@deno/linux-x64-glibc",
 *   denoVersion: "2.9.6", sha256: "ab".repeat(32), unpackedBytes: 1e8, permissions: [],
 * });
 * console.log(sh.length); // 4096
 * ```
 */
export function launcher(options: LauncherOptions): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(options.sha256)) throw new RangeError("sha256: 64 hex digits");
  for (const p of options.permissions) {
    if (!/^--[a-z-]+(=[A-Za-z0-9_.,:/-]*)?$/.test(p)) throw new RangeError(`permission '${p}'`);
  }
  const fill = (blocks: number) =>
    options.template
      .replaceAll("@VERSION@", options.version)
      .replaceAll("@ARCH@", options.arch)
      .replaceAll("@PACKAGE@", options.runtimePackage)
      .replaceAll("@DENO@", options.denoVersion)
      .replaceAll("@SHA256@", options.sha256)
      .replaceAll("@SHORT@", options.sha256.slice(0, 16))
      .replaceAll("@UNPACKED_MB@", String(Math.ceil(options.unpackedBytes / 1e6)))
      .replaceAll("@PERMISSIONS@", options.permissions.join(" "))
      .replaceAll("@BLOCKS@", String(blocks));
  // The block count is in the text: grow it until the text fits (a digit more may spill over).
  let blocks = 1;
  for (;;) {
    const text = new TextEncoder().encode(fill(blocks));
    if (text.length <= blocks * KIT_BLOCK) {
      const out = new Uint8Array(blocks * KIT_BLOCK).fill(0x0a);
      out.set(text);
      return out;
    }
    blocks = Math.ceil(text.length / KIT_BLOCK);
  }
}

/** What a kit file says about itself in its header, or undefined if it is not a kit. */
export interface KitHeader {
  /** ringdump version. */
  version: string;
  /** Target. */
  arch: string;
  /** sha256 of the payload. */
  sha256: string;
  /** Launcher blocks before the payload. */
  blocks: number;
}

/**
 * Reads the header of a kit (its first block(s)) from bytes.
 *
 * @example
 * ```ts
 * import { parseKitHeader } from "./kit.ts";
 * const text = "#!/bin/sh\n# ringdump 0.1.0 for x86_64 Linux with glibc: a ringdump kit\n" +
 *   `kit_sha256=${"0".repeat(64)}\nkit_blocks=1\n`;
 * console.log(parseKitHeader(new TextEncoder().encode(text))?.blocks); // 1
 * ```
 */
export function parseKitHeader(bytes: Uint8Array): KitHeader | undefined {
  const text = new TextDecoder().decode(bytes.subarray(0, 2 * KIT_BLOCK));
  const id = text.match(
    /^#!\/bin\/sh\n# ringdump (\S+) for (\S+) Linux with glibc: a ringdump kit/,
  );
  const sha = text.match(/\nkit_sha256=([0-9a-f]{64})\n/);
  const blocks = text.match(/\nkit_blocks=(\d+)\n/);
  if (!id || !sha || !blocks) return undefined;
  return { version: id[1], arch: id[2], sha256: sha[1], blocks: Number(blocks[1]) };
}

function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The `deno bundle` (minified, names kept) of cli.ts in the checkout at `root` (a temporary file in
 * `workDir` while it is made).
 *
 * @example
 * ```ts ignore
 * import { bundleCli } from "./kit.ts";
 * const js = await bundleCli(new URL("../", import.meta.url).pathname, "dist");
 * console.log(js.length > 100_000); // true
 * ```
 */
export async function bundleCli(root: string, workDir: string): Promise<Uint8Array> {
  const out = `${workDir}/ringdump-bundle-${crypto.randomUUID().slice(0, 8)}.js`;
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      // Minified (names kept): less to parse at every start, which counts on slow boards
      // and under emulation.
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        "--minify",
        "--keep-names",
        "-o",
        out,
        "cli.ts",
      ],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (res.code !== 0) {
      const err = new TextDecoder().decode(res.stderr).trim().split("\n");
      throw new KitError(`deno bundle cli.ts failed: ${err.at(-1)}`);
    }
    return await Deno.readFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** Options of {@linkcode buildKit}. */
export interface BuildKitOptions {
  /** Output directory (default `dist`). */
  outDir?: string;
  /** Where runtime tarballs are kept (default `OUT/runtime`). */
  runtimeDir?: string;
  /** The bundle, when already made (one bundle serves every target). */
  bundle?: Uint8Array;
  /** Called with a warning line. */
  warn?: (line: string) => void;
}

/** A kit that was built. */
export interface BuiltKit {
  /** The file. */
  path: string;
  /** Its size, bytes. */
  size: number;
  /** The runtime it holds. */
  runtime: Runtime;
  /** sha256 of the payload. */
  sha256: string;
  /** False when an identical kit was there already. */
  written: boolean;
}

/**
 * Builds `OUT/ringdump-TARGET`. An existing file with the same payload hash is
 * left as it is.
 *
 * @example
 * ```ts ignore
 * import { buildKit } from "./kit.ts";
 * const kit = await buildKit("x86_64", { outDir: "dist" });
 * console.log(kit.path); // "dist/ringdump-x86_64"
 * ```
 */
export async function buildKit(target: string, options: BuildKitOptions = {}): Promise<BuiltKit> {
  const root = new URL("../", import.meta.url).pathname;
  const outDir = options.outDir ?? `${root}dist`;
  await Deno.mkdir(outDir, { recursive: true });
  const runtime = await fetchRuntime(target, {
    cacheDir: options.runtimeDir ?? `${outDir}/runtime`,
    warn: options.warn,
  });
  const bundle = options.bundle ?? await bundleCli(root, outDir);
  const tgz = await Deno.readFile(runtime.path);
  // Two gzip members, one tar stream: ringdump.js first (no end-of-archive), then the
  // registry's tarball as it is (its members and its end-of-archive).
  const head = await gzip(tarEntry("ringdump.js", bundle));
  const payload = new Uint8Array(head.length + tgz.length);
  payload.set(head);
  payload.set(tgz, head.length);
  const sha256 = toHex(await sha("SHA-256", payload));
  const unpacked = bundle.length + (await unpackedRuntimeSize(runtime.path));
  const template = await Deno.readTextFile(new URL("kit_launcher.sh", import.meta.url));
  const sh = launcher({
    template,
    version: denoJson.version,
    arch: target,
    runtimePackage: runtime.package,
    denoVersion: runtime.version,
    sha256,
    unpackedBytes: unpacked,
    permissions: COMPILE_PERMISSIONS,
  });
  const path = `${outDir}/ringdump-${target}`;
  const size = sh.length + payload.length;
  const existing = await readHead(path);
  const same = existing !== undefined && existing.size === size &&
    equalBytes(existing.head, sh);
  if (!same) {
    const file = new Uint8Array(size);
    file.set(sh);
    file.set(payload, sh.length);
    await writeAtomic(path, file, 0o755);
  }
  return { path, size, runtime, sha256, written: !same };
}

async function unpackedRuntimeSize(tgz: string): Promise<number> {
  // The gzip trailer's ISIZE: the tar's size mod 2^32 (below 4 GiB: the size).
  const f = await Deno.open(tgz);
  try {
    const len = (await f.stat()).size;
    await f.seek(len - 4, Deno.SeekMode.Start);
    const b = new Uint8Array(4);
    await f.read(b);
    return new DataView(b.buffer).getUint32(0, true);
  } finally {
    f.close();
  }
}

async function readHead(path: string): Promise<{ head: Uint8Array; size: number } | undefined> {
  try {
    const f = await Deno.open(path);
    try {
      const size = (await f.stat()).size;
      const head = new Uint8Array(Math.min(size, 16 * KIT_BLOCK));
      let n = 0;
      while (n < head.length) {
        const r = await f.read(head.subarray(n));
        if (r === null) break;
        n += r;
      }
      return { head: head.subarray(0, n), size };
    } finally {
      f.close();
    }
  } catch {
    return undefined;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length < b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Runs a kit built for this machine with `--version` in a throw-away cache: it must be ringdump. */
async function checkKit(path: string): Promise<void> {
  const cache = await Deno.makeTempDir({ prefix: "ringdump-kit-check-" });
  try {
    const res = await new Deno.Command(path, {
      args: ["--version"],
      env: { RINGDUMP_KIT_CACHE: cache },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(res.stdout).trim();
    if (res.code !== 0 || said !== denoJson.version) {
      const err = new TextDecoder().decode(res.stderr).trim().split("\n").at(-1);
      throw new KitError(
        `${path} does not run: --version exited ${res.code} saying '${said}'${
          err ? ` (${err})` : ""
        }`,
      );
    }
  } finally {
    await Deno.remove(cache, { recursive: true }).catch(() => {});
  }
}

function fail(message: string): never {
  console.error(`deno task kit: ${message}`);
  Deno.exit(1);
}

async function main(args: string[]): Promise<void> {
  let target = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  let outDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--target" && i + 1 < args.length) target = args[++i];
    else if (args[i] === "--output" && i + 1 < args.length) outDir = args[++i];
    else if (args[i] === "--help" || args[i] === "-h") {
      console.log(
        "usage: deno task kit [--target x86_64|aarch64|all] [--output DIR]\n" +
          "Writes DIR/ringdump-ARCH (default dist/): one executable for a Linux board with\n" +
          "glibc that needs only sh, dd and tar there. The Deno runtime comes from the npm\n" +
          "registry (kept in DIR/runtime/).",
      );
      return;
    } else fail(`unknown argument '${args[i]}'; see --help`);
  }
  const targets = target === "all" ? Object.keys(KIT_RUNTIMES) : [target];
  for (const t of targets) {
    if (!KIT_RUNTIMES[t]) fail(`unknown target '${t}'; use x86_64, aarch64 or all`);
  }
  const warn = (line: string) => console.error(`deno task kit: warning: ${line}`);
  try {
    const root = new URL("../", import.meta.url).pathname;
    const dir = outDir ?? `${root}dist`;
    await Deno.mkdir(dir, { recursive: true });
    const bundle = await bundleCli(root, dir);
    for (const t of targets) {
      const kit = await buildKit(t, { outDir: dir, bundle, warn });
      if (t === Deno.build.arch) await checkKit(kit.path);
      console.log(
        `${kit.written ? "built" : "up to date:"} ${kit.path} (ringdump ${denoJson.version}, ` +
          `${kit.runtime.package}@${kit.runtime.version}, ${(kit.size / 1e6).toFixed(1)} MB, ` +
          `payload sha256 ${kit.sha256.slice(0, 16)})`,
      );
    }
  } catch (e) {
    if (e instanceof KitError) fail(e.message);
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound) {
      fail(errorMessage(e));
    }
    throw e;
  }
}

if (import.meta.main) await main(Deno.args);
