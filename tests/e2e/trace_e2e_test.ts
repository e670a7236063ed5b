/**
 * End to end: real traced captures through `sim:` and `devmem:` (a live
 * `ringdump sim` writing a memory image), read by the real clients:
 * babeltrace2 prints every event of the CTF trace with its fields, and a
 * python3-bt2 script's per-call statistics equal `ringdump trace stats` to the
 * ns. With CI set, a missing babeltrace2 or python3-bt2 fails the tests.
 */
import assert from "node:assert/strict";
import { ringdump, spawnRingdump } from "../../testing/run_cli.ts";
import { checkChromeTrace, readTrace, type TraceEvent } from "../../lib/trace/mod.ts";
import { ignoreUnless, missingTools, pythonWithBt2, requireTools } from "../../testing/tools.ts";
import { LIVE_GEOMETRY, LIVE_PAGES, LIVE_RATE, waitForSize } from "../../testing/live.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-trace-e2e-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const decoder = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return { code: r.code, out: decoder.decode(r.stdout), err: decoder.decode(r.stderr) };
  } catch (e) {
    return { code: -1, out: "", err: String(e) };
  }
}

const missing = await missingTools(["babeltrace2", "python3-bt2"]);
const python = await pythonWithBt2() ?? "python3";

/** Outside CI a missing tool skips the test; in CI it fails with a clear message. */
function realClientTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: ignoreUnless(missing),
    fn: async () => {
      requireTools(missing);
      await fn();
    },
  });
}

/** One babeltrace2 line (with --clock-cycles) as an event. */
function parseBabeltraceLine(line: string): TraceEvent {
  const m = /^\[(\d+)\] \(\+[^)]*\) (?:\S+ )?([a-z_]+): \{ (.*) \}$/.exec(line);
  assert.ok(m, `unexpected babeltrace2 line: ${line}`);
  const fields: Record<string, string | number> = {};
  const re = /([a-z_]+) = ("(?:[^"\\]|\\.)*"|-?\d+)(?:, |$)/g;
  let consumed = 0;
  for (let f = re.exec(m[3]); f; f = re.exec(m[3])) {
    fields[f[1]] = f[2].startsWith('"') ? JSON.parse(f[2]) : Number(f[2]);
    consumed += f[0].length;
  }
  assert.equal(consumed, m[3].length, `unparsed fields in ${line}`);
  return { name: m[2], timestamp: Number(m[1]), fields };
}

/** Checks babeltrace2 prints exactly `events` (name, timestamp, every field). */
async function checkBabeltrace(dir: string, events: TraceEvent[]): Promise<void> {
  const plain = await run("babeltrace2", [dir]);
  assert.equal(plain.code, 0, plain.err);
  const lines = plain.out.trimEnd().split("\n");
  assert.equal(lines.length, events.length);
  assert.match(lines[0], /^\[\d\d:\d\d:\d\d\.\d{9}\] \(\+\?\.\?{9}\) /);
  const cycles = await run("babeltrace2", ["--clock-cycles", dir]);
  assert.equal(cycles.code, 0, cycles.err);
  const printed = cycles.out.trimEnd().split("\n").map(parseBabeltraceLine);
  assert.deepEqual(printed, events);
}

/** `ringdump trace stats --json` vs the python3-bt2 script, to the ns. */
async function checkStats(dir: string, json: string, backend: string): Promise<void> {
  const script = new URL("../trace_stats_bt2.py", import.meta.url).pathname;
  const py = await run(python, [script, dir]);
  assert.equal(py.code, 0, py.err);
  const expected = JSON.parse(py.out);
  assert.deepEqual(
    expected.calls.map((c: { key: string }) => c.key),
    [`${backend}:close`, `${backend}:open`, `${backend}:read`, `${backend}:readRegister`],
  );
  assert.ok(expected.calls.every((c: { count: number }) => c.count > 0));
  for (const path of [dir, json]) {
    const r = await ringdump(["trace", "stats", path, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(decoder.decode(r.stdout));
    assert.deepEqual(got.calls, expected.calls, path);
    assert.equal(got.unmatched_ends.length, expected.unmatched_ends);
    assert.equal(got.unmatched_begins.length, expected.unmatched_begins);
  }
  // --backend filters the same way
  const pyOnly = JSON.parse((await run(python, [script, dir, backend])).out);
  const only = await ringdump(["trace", "stats", dir, "--json", "--backend", backend]);
  assert.deepEqual(JSON.parse(decoder.decode(only.stdout)).calls, pyOnly.calls);
}

/** Both trace formats of one capture, the report, and the checks every backend shares. */
async function checkTracedCapture(name: string, backend: string, capture: string[]) {
  const json = `${tmp}/${name}.json`;
  const dir = `${tmp}/${name}.ctf`;
  const cap = await ringdump([...capture, "--trace", json, "--trace", dir]);
  assert.equal(cap.code, 0, cap.stderr);
  assert.match(cap.stderr, /0 pages lost/);
  const fromJson = (await readTrace(json)).events;
  const fromCtf = (await readTrace(dir)).events;
  // same events, same timestamps
  assert.deepEqual(fromCtf, fromJson);
  const periods = fromJson.filter((e) => e.name === "dumper_period_end");
  assert.ok(periods.length >= 20, `${periods.length} periods`);
  const names = new Set(fromJson.map((e) => e.name));
  for (
    const n of [
      "dumper_capture_begin",
      "dumper_capture_end",
      "dumper_period_begin",
      "dumper_period_end",
      "backend_call_begin",
      "backend_call_end",
      "sink_write_begin",
      "sink_write_end",
      "sink_flush_begin",
      "sink_flush_end",
    ]
  ) assert.ok(names.has(n), `no ${n} event`);
  assert.ok(
    fromJson.filter((e) => e.name === "backend_call_begin").every((e) =>
      e.fields.backend_name === backend
    ),
  );
  await checkBabeltrace(dir, fromCtf);
  await checkStats(dir, json, backend);
  const rep = await ringdump(["trace", "report", dir, "-o", `${tmp}/${name}.html`]);
  assert.equal(rep.code, 0, rep.stderr);
  const html = await Deno.readTextFile(`${tmp}/${name}.html`);
  const timeline = /<svg class="timeline" id="bytes"[\s\S]*?<\/svg>/.exec(html)![0];
  assert.equal(timeline.match(/<circle /g)?.length, periods.length, "one point per period");
}

realClientTest(
  "a traced capture through sim: both formats, babeltrace2, python3-bt2 stats",
  () =>
    checkTracedCapture("sim", "sim", [
      "capture",
      "--backend",
      `sim:?pattern=counter&rate=${LIVE_RATE}`,
      ...LIVE_GEOMETRY,
      "--period",
      "10ms",
      "--duration",
      "600ms",
      "--out",
      `${tmp}/sim.bin`,
    ]),
);

realClientTest("a traced capture through devmem of a live memory image", async () => {
  const image = `${tmp}/ring.img`;
  const geometry = ["--base", "0x10000000", ...LIVE_GEOMETRY];
  const sim = spawnRingdump([
    "sim",
    "--image",
    image,
    ...geometry,
    "--rate",
    LIVE_RATE,
    "--duration",
    "60s",
    "--quiet",
  ]);
  try {
    await waitForSize(image, LIVE_PAGES * 4096 + 4);
    await checkTracedCapture("devmem", "devmem", [
      "capture",
      "--backend",
      `devmem:${image}?origin=0x10000000`,
      ...geometry,
      "--period",
      "10ms",
      "--duration",
      "600ms",
      "--out",
      `${tmp}/devmem.bin`,
    ]);
    const v = await ringdump(["verify", `${tmp}/devmem.bin`]);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    try {
      sim.kill("SIGTERM");
    } catch { /* already exited */ }
    await sim.output();
  }
});

Deno.test("Ctrl-C during a traced capture leaves a complete, valid trace", async () => {
  const json = `${tmp}/stopped.json`;
  const child = spawnRingdump([
    "capture",
    "--backend",
    `sim:?pattern=counter&rate=${LIVE_RATE}`,
    "--period",
    "10ms",
    "--out",
    `${tmp}/stopped.bin`,
    "--trace",
    json,
  ]);
  // wait until the capture runs (the trace file has its header), then interrupt
  for (let i = 0; i < 400; i++) {
    const st = await Deno.stat(json).catch(() => undefined);
    if (st && st.size > 0) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGINT");
  const out = await child.output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  const doc = JSON.parse(await Deno.readTextFile(json));
  assert.deepEqual(checkChromeTrace(doc), []);
  const events = (await readTrace(json)).events;
  const end = events.find((e) => e.name === "dumper_capture_end");
  assert.ok(end, "the capture's end is in the trace");
  const periods = events.filter((e) => e.name === "dumper_period_end");
  assert.equal(end.fields.periods, periods.length);
  assert.equal(end.fields.bytes, (await Deno.stat(`${tmp}/stopped.bin`)).size);
});
