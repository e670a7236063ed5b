import assert from "node:assert/strict";
import { COMPILE_PERMISSIONS, TARGETS } from "../tools/compile.ts";

const root = new URL("../", import.meta.url).pathname;

async function compileTask(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", ...args],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("compile: both Linux targets, the binary's permissions", () => {
  assert.deepEqual(Object.keys(TARGETS), ["x86_64", "aarch64"]);
  assert.ok(COMPILE_PERMISSIONS.includes("--allow-ffi"));
  assert.ok(!COMPILE_PERMISSIONS.includes("--allow-all") && !COMPILE_PERMISSIONS.includes("-A"));
});

Deno.test("compile: builds a working binary where denort can be had, else says why in one line", async () => {
  const outDir = await Deno.makeTempDir();
  const res = await compileTask(["--output", outDir]);
  const lines = res.stderr.split("\n").filter((l) =>
    l.trim() !== "" && !/^(Task|Download|Check|Compile)\s/.test(l)
  );
  if (res.code === 0) {
    const bin = `${outDir}/ringdump`;
    const v = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
    assert.equal(v.code, 0);
    // every backend is embedded: the binary runs a capture through sim: from an empty directory
    const cwd = await Deno.makeTempDir();
    const cap = await new Deno.Command(bin, {
      args: ["capture", "--duration", "300ms", "--out", "x.wav"],
      cwd,
    }).output();
    assert.equal(cap.code, 0);
  } else {
    assert.equal(res.code, 1);
    assert.equal(lines.length, 1, `one line expected, got:\n${res.stderr}`);
    assert.match(lines[0], /deno task compile: .*DENORT_BIN/);
    assert.doesNotMatch(res.stderr, /^\s+at /m);
  }
  await Deno.remove(outDir, { recursive: true });
});

Deno.test("compile: a DENORT_BIN that does not exist, and a bad target, are one-line errors", async () => {
  const res = await compileTask(["--target", "x86_64"], { DENORT_BIN: "/nonexistent/denort" });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /DENORT_BIN=\/nonexistent\/denort does not exist/);
  const bad = await compileTask(["--target", "sparc"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown target 'sparc'; use x86_64, aarch64 or all/);
});

Deno.test("compile: the deno CLI given as DENORT_BIN is refused, not passed off as ringdump", async () => {
  // `deno compile` accepts any binary there; what it builds from deno itself is just deno.
  const outDir = await Deno.makeTempDir();
  const res = await compileTask(["--target", Deno.build.arch, "--output", outDir], {
    DENORT_BIN: Deno.execPath(),
  });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /does not run ringdump \(--version said 'deno .*', expected '\d/);
  assert.match(res.stderr, /DENORT_BIN must be a denort runtime, not the deno CLI/);
  assert.deepEqual([...Deno.readDirSync(outDir)], [], "nothing that looks like ringdump is left");
  await Deno.remove(outDir, { recursive: true });
});
