/**
 * End to end with real LTTng: tests/c/ipa_calls.c (tracepoints shaped like
 * libcamera's IPA call class, built here with gcc against liblttng-ust) runs
 * two threads on two CPUs inside real `lttng` sessions (per-UID and per-PID
 * buffers), and `ringdump trace stats --json` must equal the python3-bt2
 * computation of the same pairs (tests/lttng_stats_bt2.py): count, min, max,
 * p50, p99 exactly, mean and sample stddev to rounding. Needs root (the
 * session daemon), lttng-tools, liblttng-ust-dev, gcc and python3-bt2:
 * skipped with the reason without them, failing under CI.
 */
import assert from "node:assert/strict";
import { pythonWithBt2 } from "../../testing/tools.ts";
import { ringdump } from "../../testing/run_cli.ts";
import { ignoreUnless, requireTools } from "../../testing/sshd.ts";

const decoder = new TextDecoder();
const here = new URL(".", import.meta.url).pathname;
const C_DIR = `${here}../c`;
const BT2_SCRIPT = `${here}../lttng_stats_bt2.py`;

async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env: options.env,
    }).output();
    return { code: r.code, out: decoder.decode(r.stdout), err: decoder.decode(r.stderr) };
  } catch (e) {
    return { code: -1, out: "", err: String(e) };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const python = await pythonWithBt2();

async function lttngMissing(): Promise<string | undefined> {
  const install = "(apt-get install lttng-tools liblttng-ust-dev gcc python3-bt2)";
  if (Deno.uid() !== 0) return "LTTng's session daemon needs root here";
  for (const tool of ["lttng", "lttng-sessiond", "gcc"]) {
    if ((await run(tool, ["--version"])).code !== 0) return `${tool} is missing ${install}`;
  }
  const header = (await run("sh", [
    "-c",
    "ls /usr/include/lttng/tracepoint.h " +
    "/usr/include/*/lttng/tracepoint.h 2>/dev/null",
  ])).out.trim();
  if (!header) return `liblttng-ust-dev is missing (no lttng/tracepoint.h) ${install}`;
  if (!python) return `python3-bt2 is missing ${install}`;
  return undefined;
}

const missing = await lttngMissing();
const ignore = ignoreUnless(missing);

/** Starts a session daemon unless one runs (`lttng list` needs one). */
async function ensureSessiond(): Promise<void> {
  if ((await run("lttng", ["list"])).code === 0) return;
  const r = await run("lttng-sessiond", ["--daemonize"]);
  assert.equal(r.code, 0, `lttng-sessiond --daemonize: ${r.err}`);
  for (let i = 0; i < 50; i++) {
    if ((await run("lttng", ["list"])).code === 0) return;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  assert.fail("the LTTng session daemon did not come up in 10 s");
}

async function lttng(args: string[]): Promise<void> {
  const r = await run("lttng", args);
  assert.equal(r.code, 0, `lttng ${args.join(" ")}: ${r.err}${r.out}`);
}

/** Traces `program ITERATIONS` in a fresh session; returns the session's output directory. */
async function traceSession(
  program: string,
  out: string,
  options: { perPid: boolean; iterations: number },
): Promise<string> {
  const name = `ringdump-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await lttng(["create", name, `--output=${out}`]);
  try {
    if (options.perPid) {
      await lttng(["enable-channel", "-u", "--buffers-pid", "-s", name, "ipa"]);
      await lttng(["enable-event", "-u", "libcamera:*", "-s", name, "-c", "ipa"]);
    } else await lttng(["enable-event", "-u", "libcamera:*", "-s", name]);
    await lttng(["start", name]);
    const r = await run(program, [String(options.iterations)]);
    assert.equal(r.code, 0, `${program}: ${r.err}`);
    await lttng(["stop", name]);
  } finally {
    await run("lttng", ["destroy", name]);
  }
  return out;
}

interface Call {
  key: string;
  count: number;
  min_ns: number;
  max_ns: number;
  mean_ns: number;
  stddev_ns: number;
  p50_ns: number;
  p99_ns: number;
}

async function bt2Stats(path: string, pipeline?: string) {
  const r = await run(python!, [BT2_SCRIPT, ...(pipeline ? ["-p", pipeline] : []), path]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as {
    events: number;
    cpus: number[];
    calls: Call[];
    unmatched_ends: number;
    unmatched_begins: number;
  };
}

async function ringdumpStats(path: string, pipeline?: string) {
  const r = await ringdump([
    "trace",
    "stats",
    path,
    "--json",
    ...(pipeline ? ["--pipeline", pipeline] : []),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return {
    json: JSON.parse(decoder.decode(r.stdout)) as {
      tracer: string;
      traces: string[];
      events: number;
      discarded_events: number;
      calls: Call[];
      unmatched_ends: unknown[];
      unmatched_begins: unknown[];
    },
    stderr: r.stderr,
  };
}

/** ringdump's figures against python3-bt2's: exact, but mean and stddev to rounding. */
async function compare(path: string, pipeline?: string): Promise<number> {
  const [ours, theirs] = await Promise.all([
    ringdumpStats(path, pipeline),
    bt2Stats(path, pipeline),
  ]);
  assert.equal(ours.json.events, theirs.events, "event count");
  assert.equal(ours.json.discarded_events, 0);
  assert.deepEqual(ours.json.calls.map((c) => c.key), theirs.calls.map((c) => c.key));
  ours.json.calls.forEach((c, i) => {
    const t = theirs.calls[i];
    for (const k of ["count", "min_ns", "max_ns", "p50_ns", "p99_ns"] as const) {
      assert.equal(c[k], t[k], `${c.key} ${k}`);
    }
    for (const k of ["mean_ns", "stddev_ns"] as const) {
      assert.ok(Math.abs(c[k] - t[k]) <= 1, `${c.key} ${k}: ${c[k]} vs ${t[k]}`);
    }
  });
  assert.equal(ours.json.unmatched_ends.length, theirs.unmatched_ends);
  assert.equal(ours.json.unmatched_begins.length, theirs.unmatched_begins);
  return theirs.cpus.length;
}

Deno.test({
  name: `LTTng: libcamera-shaped IPA calls from two threads, ringdump trace stats = python3-bt2${
    ignore ? ` (ignored: ${missing})` : ""
  }`,
  ignore,
  async fn() {
    requireTools(missing);
    const tmp = await Deno.makeTempDir({ prefix: "ringdump-lttng-" });
    try {
      const program = `${tmp}/ipa_calls`;
      const cc = await run("gcc", [
        "-O2",
        "-Wall",
        `-I${C_DIR}`,
        `${C_DIR}/ipa_calls.c`,
        "-o",
        program,
        "-llttng-ust",
        "-ldl",
        "-lpthread",
      ]);
      assert.equal(cc.code, 0, `gcc: ${cc.err}`);
      await ensureSessiond();
      const uid = await traceSession(program, `${tmp}/sessions/uid`, {
        perPid: false,
        iterations: 3000,
      });
      const pid = await traceSession(program, `${tmp}/sessions/pid`, {
        perPid: true,
        iterations: 500,
      });

      // Per-UID buffers: one trace, one stream per CPU; both CPUs carry events.
      const cpus = await compare(uid);
      if (navigator.hardwareConcurrency >= 2) assert.equal(cpus, 2, "events from two CPUs");
      const { json, stderr } = await ringdumpStats(uid);
      assert.equal(json.tracer, "lttng-ust");
      assert.equal(json.traces.length, 1);
      assert.match(json.traces[0], /ust\/uid\/0\/64-bit$/);
      // 3000 iterations x 2 threads: processStats and computeParams each, configure every 10th
      const counts = Object.fromEntries(json.calls.map((c) => [c.key, c.count]));
      assert.deepEqual(counts, {
        "ipu3:computeParams": 3000,
        "ipu3:configure": 300,
        "ipu3:processStats": 3000,
        "rkisp1:computeParams": 3000,
        "rkisp1:configure": 300,
        "rkisp1:processStats": 3000,
      });
      for (const c of json.calls) {
        assert.ok(c.min_ns > 0 && c.min_ns <= c.p50_ns && c.p99_ns <= c.max_ns);
      }
      // the stray end is counted, not fatal
      assert.equal(json.unmatched_ends.length, 1);
      assert.match(stderr, /1 libcamera:ipa_call_end without a begin/);

      // --pipeline like analyze-ipa-trace.py's -p
      await compare(uid, "ipu3");
      const only = await ringdumpStats(uid, "ipu3");
      assert.ok(only.json.calls.every((c) => c.key.startsWith("ipu3:")));

      // a directory below the session, and per-PID buffers
      await compare(`${uid}/ust`);
      await compare(pid);
      const perPid = await ringdumpStats(pid);
      assert.match(perPid.json.traces[0], /ust\/pid\/ipa_calls-\d+-\d+-\d+$/);

      // every trace under a directory of two sessions, merged in time order
      await compare(`${tmp}/sessions`);
      const both = await ringdumpStats(`${tmp}/sessions`);
      assert.equal(both.json.traces.length, 2);

      // the report of the same trace
      const html = `${tmp}/ipa.html`;
      const rep = await ringdump(["trace", "report", uid, "-o", html]);
      assert.equal(rep.code, 0, rep.stderr);
      const page = await Deno.readTextFile(html);
      assert.match(page, /libcamera IPA call latency/);
      assert.match(page, /rkisp1:processStats/);

      // a stream cut mid-packet: exit 2, the file and byte offset named, no stack
      const trace = `${uid}/ust/uid/0/64-bit`;
      const stream = [...Deno.readDirSync(trace)].find((e) => e.name.startsWith("channel"))!;
      const file = `${trace}/${stream.name}`;
      const size = (await Deno.stat(file)).size;
      await Deno.truncate(file, size - 100);
      const cut = await ringdump(["trace", "stats", uid]);
      assert.equal(cut.code, 2, cut.stderr);
      assert.match(cut.stderr, new RegExp(`${file}: byte \\d+: .*truncated`));
      assert.doesNotMatch(cut.stderr, /\n\s+at /);
      assert.ok(await exists(file));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
