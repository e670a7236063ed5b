import assert from "node:assert/strict";
import { finish, ringdump, RINGDUMP_ARGS, spawnRingdump } from "../../testing/run_cli.ts";
import { checkCounter, fillCounter } from "../../lib/sim/pattern.ts";
import {
  LIVE_GEOMETRY,
  LIVE_RATE,
  LIVE_RATE_BYTES,
  LIVE_SLACK_SECONDS,
  waitForSize,
} from "../../testing/live.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-e2e-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

Deno.test("the ringdump task runs with exactly the compiled binary's permissions", async () => {
  const { COMPILE_PERMISSIONS } = await import("../../tools/compile.ts");
  const flags = RINGDUMP_ARGS.filter((a) => a.startsWith("--allow") || a.startsWith("--deny"));
  assert.deepEqual(flags, COMPILE_PERMISSIONS);
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.ok(denoJson.tasks.capture.startsWith(denoJson.tasks.ringdump + " capture"));
});

Deno.test("capture + verify: the counter wraps and the ring laps, nothing lost", async () => {
  const out = `${tmp}/c.bin`;
  // A ring with seconds of slack (a loaded machine stalls a process for hundreds of ms); the
  // many-wraps arithmetic is checked deterministically on a virtual clock in dumper_test.ts.
  const cap = await ringdump([
    "capture",
    "--backend",
    `sim:?pattern=counter&rate=${LIVE_RATE}`,
    ...LIVE_GEOMETRY,
    "--period",
    "50ms",
    "--duration",
    "4",
    "--out",
    out,
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  assert.match(cap.stderr, /captured .* 0 pages lost/);
  const size = (await Deno.stat(out)).size;
  // 4 s of the writer through a ring holding LIVE_SLACK_SECONDS: the ring laps, the counter wraps
  assert.ok(LIVE_SLACK_SECONDS >= 3 && size > LIVE_RATE_BYTES * 3.5, `only ${size} bytes`);
  const v = await ringdump(["verify", out]);
  assert.equal(v.code, 0, v.stderr);
  // The capture starts at the first counter read (the device runs from its open), so the
  // range covers exactly the file's bytes from wherever that was.
  const m = new TextDecoder().decode(v.stdout).match(
    /contiguous, (\d+) bytes .* stream offsets 0x([0-9a-f]+)\.\.0x([0-9a-f]+)\n$/,
  );
  assert.ok(m, new TextDecoder().decode(v.stdout));
  assert.equal(Number(m[1]), size);
  assert.equal(parseInt(m[3], 16) - parseInt(m[2], 16), size);
  assert.equal(parseInt(m[2], 16) % 4096, 0, "it starts at a page boundary");
});

Deno.test("the default capture: a few seconds of tone into capture.wav, ending by itself", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const args = denoJson.tasks.capture.split(/\s+/).slice(
    denoJson.tasks.ringdump.split(/\s+/).length,
  );
  const cap = await ringdump(args, { cwd: tmp });
  assert.equal(cap.code, 0, cap.stderr);
  const wav = await Deno.readFile(`${tmp}/capture.wav`);
  const v = new DataView(wav.buffer);
  assert.equal(new TextDecoder().decode(wav.subarray(0, 4)), "RIFF");
  assert.equal(v.getUint32(40, true), wav.length - 44);
  const seconds = (wav.length - 44) / (48000 * 4);
  assert.ok(seconds > 2.5 && seconds < 3.5, `${seconds} s of audio`);
  const samples = new Int16Array(wav.buffer, 44, (wav.length - 44) / 2);
  assert.ok(Math.max(...samples.subarray(0, 48000)) > 4000, "there is a tone");
});

Deno.test("overrun: a stalled reader ends with exit 1, the page counts, and a verifiable file", async () => {
  const out = `${tmp}/overrun.bin`;
  const child = spawnRingdump([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=2MiB",
    "--pages",
    "16",
    "--period",
    "5ms",
    "--duration",
    "20s",
    "--out",
    out,
  ]);
  // Once it captures, stall the reader (as a busy board would) while the device runs on: 1 s
  // is 32 laps of the 64 KiB ring at 2 MiB/s, an overrun however the machine is loaded.
  await waitForSize(out, 16 * 4096);
  Deno.kill(child.pid, "SIGSTOP");
  await new Promise((r) => setTimeout(r, 1000));
  Deno.kill(child.pid, "SIGCONT");
  const res = await finish(child);
  assert.equal(res.code, 1, res.stderr);
  const m =
    /overrun: the writer lapped the reader: (\d+) new pages .* but the ring holds only 16; (\d+) pages lost\. (\d+) pages captured before it are on disk/
      .exec(res.stderr);
  assert.ok(m, res.stderr);
  const captured = Number(m[3]);
  assert.ok(captured > 0);
  assert.equal((await Deno.stat(out)).size, captured * 4096);
  const v = await ringdump(["verify", out]);
  assert.equal(v.code, 0, v.stderr);
});

Deno.test("gap policy: keeps going, reports lost pages, exit 1; verify names the gap", async () => {
  const out = `${tmp}/gap.bin`;
  const child = spawnRingdump([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=2MiB",
    "--pages",
    "16",
    "--period",
    "5ms",
    "--duration",
    "20s",
    "--overrun",
    "gap",
    "--out",
    out,
  ]);
  // Data first (a gap needs something before it), then a stall of many laps.
  await waitForSize(out, 16 * 4096);
  Deno.kill(child.pid, "SIGSTOP");
  await new Promise((r) => setTimeout(r, 1000));
  Deno.kill(child.pid, "SIGCONT");
  // Data after the gap too, then a clean stop: the loss still makes it exit 1.
  const before = (await Deno.stat(out)).size;
  await waitForSize(out, before + 16 * 4096);
  Deno.kill(child.pid, "SIGTERM");
  const res = await finish(child);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /[1-9]\d* pages? (was|were) lost/);
  const v = await ringdump(["verify", out]);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /not contiguous at file offset \d+ .*\(a gap of \d+ bytes\)/);
});

Deno.test("SIGINT and SIGTERM stop cleanly: final drain, valid WAV, exit 0", async () => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    const out = `${tmp}/stop-${sig}.wav`;
    const child = spawnRingdump(["capture", "--period", "50ms", "--out", out]);
    // Signal once it has written 0.6 s of audio (however long the start took).
    await waitForSize(out, 44 + 48000 * 4 * 0.6);
    Deno.kill(child.pid, sig);
    const res = await finish(child);
    assert.equal(res.code, 0, res.stderr);
    const wav = await Deno.readFile(out);
    assert.equal(new DataView(wav.buffer).getUint32(40, true), wav.length - 44);
    assert.ok(wav.length > 44 + 48000 * 4 * 0.5, `${sig}: ${wav.length} bytes`);
  }
});

Deno.test("a backend failing mid-capture: exit 3, what came before is on disk", async () => {
  const out = `${tmp}/fault.bin`;
  const res = await ringdump([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=1MiB&fail-after=40",
    "--period",
    "10ms",
    "--out",
    out,
  ]);
  assert.equal(res.code, 3, res.stderr);
  assert.match(res.stderr, /simulated device fault/);
  assert.ok((await Deno.stat(out)).size > 0);
  assert.equal((await ringdump(["verify", out])).code, 0);
});

Deno.test("bad input: a clear message and exit 2 before anything is captured", async () => {
  const cases: [string[], RegExp][] = [
    [["--page-size", "0"], /pageSize must be a positive integer/],
    [["--pages", "-3"], /--pages: '-3' is negative; give a number from 0 up/],
    [["--pages", "0"], /pages must be a positive integer/],
    [["--base", "ram"], /--base: 'ram' is not a number/],
    [["--counter", "0xZZ"], /--counter: '0xZZ' is not a number/],
    [["--pages", "256", "--counter-wrap", "256"], /must exceed the ring's page count 256/],
    [["--backend", "floppy:"], /unknown backend scheme 'floppy:'/],
    [["--period", "0"], /--period must be greater than 0/],
    [["--period", "soon"], /--period: 'soon' is not a duration/],
    [["--overrun", "ignore"], /argument 'ignore' is invalid/],
    [["--frobnicate"], /unknown option '--frobnicate'/],
    [["--backend", "sim:?rat=1"], /unknown option 'rat'/],
    [
      ["--pages", "16", "--in-flight", "16"],
      /--in-flight must be a whole number of pages from 0 to 15/,
    ],
    [["--in-flight", "many"], /--in-flight: 'many' is not a number/],
  ];
  for (const [args, re] of cases) {
    const out = `${tmp}/bad.bin`;
    const res = await ringdump(["capture", "--duration", "1s", "--out", out, ...args]);
    assert.equal(res.code, 2, `${args.join(" ")}: ${res.stderr}`);
    assert.match(res.stderr, re, args.join(" "));
    assert.doesNotMatch(res.stderr, /^\s+at /m, "no stack trace");
    assert.equal(await Deno.stat(out).catch(() => null), null, `${args.join(" ")}: no output file`);
  }
  // A mistake in the backend URL leaves an existing output file as it was.
  const keep = `${tmp}/keep.bin`;
  await Deno.writeTextFile(keep, "yesterday's capture");
  const bad = await ringdump(["capture", "--backend", "sim:?rat=1", "--out", keep]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(await Deno.readTextFile(keep), "yesterday's capture");
  const res = await ringdump(["capture", "--duration", "1s", "--out", `${tmp}/no/such/dir/x.bin`]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /its directory does not exist/);
});

Deno.test("--out - streams the capture to stdout", async () => {
  const res = await ringdump([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=256KiB",
    "--duration",
    "500ms",
    "--period",
    "20ms",
    "--out",
    "-",
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(res.stdout.length >= 100_000);
  assert.ok(checkCounter(res.stdout).ok);
});

Deno.test("verify: exit 1 naming the first gap; --json; exit 2 for a missing file", async () => {
  const data = new Uint8Array(8192);
  fillCounter(data.subarray(0, 4096), 0);
  fillCounter(data.subarray(4096), 8192);
  await Deno.writeFile(`${tmp}/gappy.bin`, data);
  const bad = await ringdump(["verify", `${tmp}/gappy.bin`]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /not contiguous at file offset 4096 .* expected stream offset 0x1000, found 0x2000 \(a gap of 4096 bytes\)/,
  );
  const js = await ringdump(["verify", "--json", `${tmp}/gappy.bin`]);
  assert.equal(js.code, 1);
  assert.equal(JSON.parse(new TextDecoder().decode(js.stdout)).ok, false);
  const missing = await ringdump(["verify", `${tmp}/none.bin`]);
  assert.equal(missing.code, 2);
});

Deno.test("--help teaches: examples and exit codes; --version", async () => {
  const help = await ringdump(["capture", "--help"]);
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const s of [
      "--backend",
      "--counter-wrap",
      "--overrun",
      "Examples:",
      "Exit codes:",
      "ringdump verify",
    ]
  ) {
    assert.ok(text.includes(s), s);
  }
  const v = await ringdump(["--version"]);
  assert.equal(v.code, 0);
  assert.match(new TextDecoder().decode(v.stdout), /^\d+\.\d+\.\d+/);
  const none = await ringdump(["bogus"]);
  assert.equal(none.code, 2);
});
