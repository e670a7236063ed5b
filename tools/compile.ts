/**
 * `deno task compile [--target x86_64|aarch64|all] [--output DIR]`: builds the
 * single `ringdump` executable with `deno compile`, embedding every backend.
 *
 * `deno compile` needs the `denort` runtime for the target. It honours
 * `DENORT_BIN` (a denort binary for the target); without it Deno downloads one
 * from its servers. Where neither works, this task fails with one clear line.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** The permissions the compiled binary gets; `deno task ringdump` uses exactly these. */
export const COMPILE_PERMISSIONS: string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

/** `deno compile` targets by short name. */
export const TARGETS: Record<string, string> = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
};

function fail(message: string): never {
  console.error(`deno task compile: ${message}`);
  Deno.exit(1);
}

/**
 * Runs a binary built for this machine with `--version`: it must be ringdump.
 * (`deno` itself accepted as DENORT_BIN builds a file that is just deno.)
 */
async function checkBuilt(output: string, denort: string | undefined): Promise<void> {
  const res = await new Deno.Command(output, {
    args: ["--version"],
    stdout: "piped",
    stderr: "piped",
  })
    .output().catch((e) => ({ code: -1, stdout: new TextEncoder().encode(String(e)) }));
  const said = new TextDecoder().decode(res.stdout).trim().split("\n")[0];
  if (res.code === 0 && said === denoJson.version) return;
  await Deno.remove(output).catch(() => {});
  fail(
    `the binary built${denort ? ` from DENORT_BIN=${denort}` : ""} does not run ringdump ` +
      `(--version said '${said}', expected '${denoJson.version}')` +
      (denort ? `; DENORT_BIN must be a denort runtime, not the deno CLI` : ""),
  );
}

async function main(args: string[]): Promise<void> {
  let target = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  let outDir = "dist";
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--target") target = args[++i];
    else if (args[i] === "--output") outDir = args[++i];
    else if (args[i] === "--help" || args[i] === "-h") {
      console.log(
        "usage: deno task compile [--target x86_64|aarch64|all] [--output DIR]\n" +
          "Set DENORT_BIN to a denort binary for the target when Deno's servers are out of reach.",
      );
      return;
    } else fail(`unknown argument '${args[i]}'; see --help`);
  }
  const targets = target === "all" ? Object.keys(TARGETS) : [target];
  for (const t of targets) {
    if (!TARGETS[t]) fail(`unknown target '${t}'; use x86_64, aarch64 or all`);
  }
  const root = new URL("../", import.meta.url).pathname;
  for (const t of targets) {
    const output = `${outDir}/ringdump${targets.length > 1 ? `-${t}` : ""}`;
    const denort = Deno.env.get("DENORT_BIN");
    if (denort) {
      try {
        await Deno.stat(denort);
      } catch {
        fail(`DENORT_BIN=${denort} does not exist; point it at a denort binary for ${t}`);
      }
    }
    const cmd = new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        ...COMPILE_PERMISSIONS,
        "--target",
        TARGETS[t],
        "--output",
        output,
        "cli.ts",
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    });
    const res = await cmd.output();
    const err = new TextDecoder().decode(res.stderr);
    if (res.code !== 0) {
      const why = /denort|download|dl\.deno\.land|error sending request|dns error|Connection/i
          .test(err)
        ? `could not get the denort runtime for ${
          TARGETS[t]
        } (Deno's download servers are out of reach here); ` +
          `set DENORT_BIN to a denort binary for that target and run again (deno compile said: ${
            err.trim().split("\n").slice(-1)[0]
          })`
        : `deno compile failed for ${TARGETS[t]}: ${err.trim().split("\n").slice(-1)[0]}`;
      fail(why);
    }
    if (TARGETS[t].startsWith(`${Deno.build.arch}-`)) await checkBuilt(output, denort);
    console.log(`built ${output} (${TARGETS[t]})`);
  }
}

if (import.meta.main) await main(Deno.args);
