/**
 * The compiled test emulators of `devmem` and `pixeldump`
 * (testing/bin/emulators.c): built once per source with the C++ compiler
 * the tests already need, cached in the temp directory, linked under both
 * names. The bench runs its pixeldump figures on them, as a board runs
 * compiled tools; the shell emulators (testing/bin/devmem, pixeldump) stay
 * the tests' reference, and tests/emulators_test.ts holds the two to the
 * same bytes and messages.
 *
 * @module
 */
import { findCxx, findProgram, NO_CXX } from "./tools.ts";

/** The shell emulators: scripts, 15-20 ms a run (wc, od, tr, dd processes). */
export const SHELL_EMULATORS: { readonly pixeldump: string; readonly devmem: string } = {
  pixeldump: new URL("./bin/pixeldump", import.meta.url).pathname,
  devmem: new URL("./bin/devmem", import.meta.url).pathname,
};

/** Paths of the compiled emulators, or why they could not be built. */
export type CompiledEmulators =
  | { readonly pixeldump: string; readonly devmem: string }
  | { readonly problem: string };

const SOURCE = new URL("./bin/emulators.c", import.meta.url);

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds (or finds, built before from the same source) the compiled
 * emulators: `{ pixeldump, devmem }`, or `{ problem }` saying why not (no
 * compiler, a compile error).
 *
 * @example
 * ```ts ignore
 * import { compiledEmulators } from "./emulators.ts";
 * const e = await compiledEmulators();
 * console.log("problem" in e ? e.problem : e.devmem);
 * ```
 */
export async function compiledEmulators(): Promise<CompiledEmulators> {
  const source = await Deno.readFile(SOURCE);
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  const dir = `${tmp}/ringdump-emulators-${await sha256Hex(source)}`;
  const paths = { pixeldump: `${dir}/pixeldump`, devmem: `${dir}/devmem` };
  if (await findProgram(paths.pixeldump) && await findProgram(paths.devmem)) return paths;
  await Deno.mkdir(dir, { recursive: true });
  const bin = `${dir}/emulators`;
  const cxx = await findCxx();
  if (cxx === undefined) return { problem: NO_CXX };
  const r = await new Deno.Command(cxx, {
    args: ["-O2", "-x", "c++", "-o", `${bin}.${Deno.pid}`, SOURCE.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    return {
      problem: `${cxx} could not build ${SOURCE.pathname}: ${new TextDecoder().decode(r.stderr)}`,
    };
  }
  // Whole files only, whoever builds at the same time.
  await Deno.rename(`${bin}.${Deno.pid}`, bin);
  for (const name of ["pixeldump", "devmem"] as const) {
    await Deno.remove(`${paths[name]}.${Deno.pid}`).catch(() => {});
    await Deno.symlink(bin, `${paths[name]}.${Deno.pid}`);
    await Deno.rename(`${paths[name]}.${Deno.pid}`, paths[name]);
  }
  return paths;
}
