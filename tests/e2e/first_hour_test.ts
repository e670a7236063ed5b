/**
 * A newcomer's first hour (issue 10): every message a user tripped on, as
 * the CLI prints it, and relative paths that mean the same under `deno task`,
 * `deno run` and the binary.
 */
import assert from "node:assert/strict";
import { finish, ringdump, RINGDUMP_ARGS, spawnRingdump } from "../../testing/run_cli.ts";
import { fillCounter } from "../../lib/sim/pattern.ts";
import { summaryLine } from "../../cli/capture.ts";
import { fileSize } from "../../testing/live.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-first-hour-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
const root = new URL("../../", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function noStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(stderr, /^\s*\d+ \|/m, "no code frame");
}

Deno.test("a ring too large says its size and the limit", async () => {
  for (const args of [["--page-size", "1TiB", "--pages", "2"], ["--pages", "1000000000"]]) {
    const r = await ringdump(["capture", "--duration", "1s", "--out", `${tmp}/x.bin`, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^ringdump: ring geometry: pages × pageSize \d+ is a ring of \d+ bytes \(\d+\.\d\d TiB\), above the largest ring ringdump takes, 1099511627776 bytes \(1 TiB\)/m,
    );
    noStack(r.stderr);
  }
});

Deno.test("a negative number is called negative, not 'not a number'", async () => {
  for (
    const [args, re] of [
      [["--pages", "-5"], /--pages: '-5' is negative; give a number from 0 up/],
      [["--page-size", "-4KiB"], /--page-size: '-4KiB' is negative; give a size from 0 up/],
      [["--period", "-5ms"], /--period: '-5ms' is negative; give a duration from 0 up/],
    ] as const
  ) {
    const r = await ringdump(["capture", "--duration", "1s", "--out", `${tmp}/x.bin`, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
  }
});

Deno.test("rates take the '/s' that 'ringdump backends' prints; latency is not a URL key", async () => {
  const backends = text((await ringdump(["backends"])).stdout);
  assert.match(backends, /sim:\[\?rate=SIZE\/s&/);
  const out = `${tmp}/rate.bin`;
  const r = await ringdump([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=256KiB/s",
    "--duration",
    "500ms",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await ringdump(["verify", out])).code, 0);
  const sim = await ringdump(["sim", "--image", `${tmp}/r.img`, "--rate", "1MiB/s", "-d", "50ms"]);
  assert.equal(sim.code, 0, sim.stderr);
  assert.match(sim.stderr, /at 1\.00 MiB\/s/);
  const bad = await ringdump(["capture", "--backend", "sim:?rate=fast", "--out", out]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /rate: 'fast' is not a rate; use bytes per second, like .*4MiB\/s/);
  const latency = await ringdump(["capture", "--backend", "sim:?latency=5", "--out", out]);
  assert.equal(latency.code, 2);
  assert.match(latency.stderr, /unknown option 'latency'; known: /);
  assert.doesNotMatch(latency.stderr, /known: .*latency/);
});

Deno.test("verify on a WAV or random bytes: not a counter-pattern capture", async () => {
  const wav = `${tmp}/tone.wav`;
  const cap = await ringdump(["capture", "--duration", "200ms", "--out", wav]);
  assert.equal(cap.code, 0, cap.stderr);
  const random = `${tmp}/random.bin`;
  await Deno.writeFile(random, crypto.getRandomValues(new Uint8Array(4096)));
  for (const file of [wav, random]) {
    const r = await ringdump(["verify", file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is not a capture of the counter pattern: its first 8-byte words/);
    assert.match(r.stderr, /verify checks captures of 'sim:\?pattern=counter'/);
  }
  // A real gap is still named as one.
  const data = new Uint8Array(8192);
  fillCounter(data.subarray(0, 4096), 0);
  fillCounter(data.subarray(4096), 8192);
  await Deno.writeFile(`${tmp}/gappy.bin`, data);
  const gap = await ringdump(["verify", `${tmp}/gappy.bin`]);
  assert.match(gap.stderr, /not contiguous at file offset 4096 .*\(a gap of 4096 bytes\)/);
});

Deno.test("the summary line: rounded rates, '1 page', and a lapped writer counted in pages", async () => {
  const r = await ringdump([
    "capture",
    "--backend",
    "sim:?pattern=counter",
    "--max-bytes",
    "1",
    "--out",
    `${tmp}/one.bin`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^captured 1 B \((0 pages|1 page)\) in \d+\.\d\d s \((\d+(\.\d\d)? B|\d+\.\d\d KiB)\/s\), /m,
  );
  assert.doesNotMatch(r.stderr, /\d\.\d{3,}/, "no long fractions");
  const line = summaryLine({
    bytes: 4096,
    pages: 1,
    periods: 1,
    emptyPeriods: 0,
    elapsedMs: 431,
    headroom: 13.125,
    lostPages: 52,
  }, "c.bin");
  assert.equal(
    line,
    "captured 4.00 KiB (1 page) in 0.43 s (9.28 KiB/s), 1 period (0 empty), " +
      "the writer lapped the reader (52 pages lost) -> c.bin",
  );
  assert.doesNotMatch(line, /%/);
});

Deno.test("capture --sample-rate; --rate is a deprecated alias, and a data rate there is refused", async () => {
  const out = `${tmp}/sr.wav`;
  const ok = await ringdump([
    "capture",
    "--sample-rate",
    "8000",
    "--duration",
    "200ms",
    "--out",
    out,
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(new DataView((await Deno.readFile(out)).buffer).getUint32(24, true), 8000);
  assert.doesNotMatch(ok.stderr, /deprecated/);
  const old = await ringdump(["capture", "--rate", "16000", "--duration", "200ms", "--out", out]);
  assert.equal(old.code, 0, old.stderr);
  assert.match(old.stderr, /capture --rate is deprecated: .*use --sample-rate/);
  assert.equal(new DataView((await Deno.readFile(out)).buffer).getUint32(24, true), 16000);
  const bytes = await ringdump(["capture", "--rate", "4MiB", "--out", `${tmp}/no.wav`]);
  assert.equal(bytes.code, 2);
  assert.match(bytes.stderr, /--backend 'sim:\?rate=4MiB'/);
  const help = text((await ringdump(["capture", "--help"])).stdout);
  assert.match(help, /--sample-rate <hz>/);
  assert.doesNotMatch(help, /--rate <hz>/);
});

Deno.test("no command is a usage error (exit 2), help on stderr; --help is exit 0", async () => {
  const none = await ringdump([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: ringdump/);
  assert.match(none.stderr, /no command given/);
  assert.equal(none.stdout.length, 0);
  const help = await ringdump(["--help"]);
  assert.equal(help.code, 0);
  assert.match(text(help.stdout), /Usage: ringdump/);
});

Deno.test("--backend-module with a syntax error: one clean line with the place", async () => {
  const plugin = `${tmp}/broken_plugin.ts`;
  await Deno.writeTextFile(plugin, 'export const backend = {\n  scheme: "x",\n  open( {\n};\n');
  const r = await ringdump(["capture", "--backend-module", plugin, "--out", `${tmp}/p.bin`]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0],
    /^ringdump: --backend-module: cannot load '.*broken_plugin\.ts': SyntaxError: .* \(at .*broken_plugin\.ts:4:2\)$/,
  );
});

Deno.test("relative paths: deno task ringdump, deno run and INIT_CWD agree on the user's directory", async () => {
  const work = `${tmp}/user dir`;
  await Deno.mkdir(work);
  const capture = ["capture", "--backend", "sim:?pattern=counter", "--duration", "200ms"];
  // deno task runs in the repository's root; INIT_CWD says where the user was.
  const task = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", `${root}deno.json`, "ringdump", ...capture, "--out", "t.bin"],
    cwd: work,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(task.code, 0, text(task.stderr));
  assert.ok((await fileSize(`${work}/t.bin`)) > 0, "deno task wrote into the user's directory");
  assert.equal(await Deno.stat(`${root}t.bin`).catch(() => null), null, "not into the root");
  // deno run from the same directory, without INIT_CWD.
  const run = await new Deno.Command(Deno.execPath(), {
    args: [...RINGDUMP_ARGS, ...capture, "--out", "r.bin"],
    cwd: work,
    env: { NO_COLOR: "1", INIT_CWD: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, text(run.stderr));
  assert.ok((await fileSize(`${work}/r.bin`)) > 0);
  // verify and a relative --backend-module too.
  const v = await ringdump(["verify", "t.bin"], { cwd: work });
  assert.equal(v.code, 0, v.stderr);
});

Deno.test("the README's 'sim ... &' then capture at once: the capture waits for the image", async () => {
  // Both started at the same moment: whichever comes up first, the capture works.
  const image = `${tmp}/race.img`;
  const geometry = ["--pages", "256", "--counter-wrap", "0x140"];
  const out = `${tmp}/race.bin`;
  const cap = spawnRingdump([
    "capture",
    "--backend",
    `devmem:${image}?origin=0`,
    ...geometry,
    "--period",
    "20ms",
    "--duration",
    "2s",
    "--out",
    out,
  ]);
  const sim = spawnRingdump([
    "sim",
    "--image",
    image,
    "--origin",
    "0",
    ...geometry,
    "--rate",
    "512KiB",
    "--duration",
    "30s",
  ]);
  try {
    const r = await finish(cap);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / 0 pages lost/);
    const v = await ringdump(["verify", out]);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    sim.kill("SIGTERM");
    await finish(sim);
  }
  // No sim at all: a bounded wait, then a message that says what it waited for.
  const alone = await ringdump([
    "capture",
    "--backend",
    `devmem:${tmp}/never.img?wait=300ms`,
    "--out",
    `${tmp}/never.bin`,
  ]);
  assert.equal(alone.code, 3, alone.stderr);
  assert.match(alone.stderr, /never\.img does not exist; .*\(waited 0\.3 s for it to appear\)/);
});
