/**
 * Fault injection (issue 9): ringdump's promise — never a torn, wrong or
 * duplicated page while saying all is well; a loss is said (exit 1 or a
 * counted gap); after any error, signal or kill what was captured is on disk
 * and readable; a run that captured nothing destroys nothing — tried against
 * an independent writer (testing/hw_writer.ts) and checked page by page by an
 * independent checker (testing/page_check.ts).
 *
 * The first tests run the dumper in process against the write-then-advance
 * hardware model on a virtual clock (exact, no timing); the rest run the CLI
 * as a subprocess.
 */
import assert from "node:assert/strict";
import { Dumper } from "../../lib/dumper.ts";
import type { DumpStats } from "../../lib/dumper_options.ts";
import { ringGeometry } from "../../lib/ring.ts";
import { VirtualClock } from "../../lib/clock.ts";
import { DeviceError, StallError, TornReadError, UsageError } from "../../lib/errors.ts";
import { UrlOptions } from "../../backends/options.ts";
import { AgentClient, MAX_CLIENT_READ } from "../../lib/agent/client.ts";
import { FRAME_HEADER_SIZE, FrameKind, ProtocolError } from "../../lib/agent/frame.ts";
import { runAgent } from "../../lib/agent/server.ts";
import { HardwareModel, ImageWriter } from "../../testing/hw_writer.ts";
import { checkPages, checkWav } from "../../testing/page_check.ts";

/** Collects what the dumper appends (a sink, structurally). */
class Collect {
  readonly name = "collect";
  readonly chunks: Uint8Array[] = [];
  bytesWritten = 0;
  write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk.slice());
    this.bytesWritten += chunk.length;
    return Promise.resolve();
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.bytesWritten);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const PAGE = 64;

function model(
  options: {
    pages?: number;
    wrap?: number;
    pagesPerMs: number;
    phase?: number;
    glitches?: Record<number, number>;
    clock?: VirtualClock;
  },
) {
  const geometry = ringGeometry({
    base: 0x1000_0000n,
    pageSize: PAGE,
    pages: options.pages ?? 16,
    counterWrap: options.wrap ?? 0x1000,
  });
  const clock = options.clock ?? new VirtualClock();
  const hw = new HardwareModel(geometry, {
    pagesPerMs: options.pagesPerMs,
    clock,
    phase: options.phase,
    glitches: options.glitches,
  });
  return { geometry, clock, hw, sink: new Collect() };
}

/** Runs a dumper to its end: its stats, or the error it ended with. */
async function runDumper(
  m: ReturnType<typeof model>,
  options: { overrun?: "fail" | "gap"; inFlight?: number; duration?: number; period?: number },
): Promise<{ stats?: DumpStats; error?: unknown }> {
  const dumper = new Dumper(m.hw, m.sink, {
    geometry: m.geometry,
    clock: m.clock,
    period: options.period ?? 10,
    duration: options.duration ?? 200,
    overrun: options.overrun,
    inFlight: options.inFlight,
    // The faults are staged per period of the reference's fixed beat (adaptive
    // polling would read sooner and dodge the overruns they provoke).
    fixedPeriod: true,
    // The faults are staged by counter read: read 1 is the baseline (no warm-up read before it).
    warmUp: false,
  });
  try {
    return { stats: await dumper.run() };
  } catch (error) {
    return { error };
  }
}

/** The promise, checked on what was appended: intact pages, strictly increasing, no duplicate. */
function assertPromise(sink: Collect, what: string) {
  const r = checkPages(sink.bytes(), PAGE);
  assert.deepEqual(r.torn, [], `${what}: torn or stale pages appended at ${r.torn}`);
  assert.equal(r.notIncreasing, 0, `${what}: duplicated or out-of-order pages`);
  assert.equal(r.tail, 0);
  return r;
}

// Case 1: the default --in-flight.

Deno.test("faults 1: default in-flight, one lap per period: the half-written oldest page is never appended and the loss is reported", async () => {
  // 16 pages per 10 ms period, the next page always half written.
  const m = model({ pagesPerMs: 1.6, phase: 0.5 });
  const { stats, error } = await runDumper(m, {});
  assertPromise(m.sink, "default options");
  assert.ok(stats === undefined, `exit 0 with ${stats?.lostPages} pages lost: a loss went unsaid`);
  assert.ok(error instanceof TornReadError, String(error));
  // The torn count and the message count the in-flight page.
  assert.equal(error.tornPages, 1);
  assert.match(error.message, /1 page lost/);
});

Deno.test("faults 1: gap mode after an overrun resumes past the page being written: no torn page, no torn read, the loss counted exactly", async () => {
  // 20 pages per period into a 16-page ring: an overrun every period.
  for (const inFlight of [undefined, 1, 3]) {
    const m = model({ pagesPerMs: 2, phase: 0.5 });
    const { stats, error } = await runDumper(m, { overrun: "gap", inFlight });
    assert.equal(error, undefined);
    const r = assertPromise(m.sink, `gap, inFlight ${inFlight}`);
    assert.ok(stats!.overruns > 10);
    assert.equal(stats!.tornReads, 0, "the resume point was the slot being written");
    assert.equal(stats!.pages, r.pages);
    // Every logical page from the baseline to the end is either in the file or counted lost.
    assert.equal(stats!.lostPages, stats!.endPage - stats!.firstPage - r.pages);
  }
});

// Case 2: counter glitches.

Deno.test("faults 2: a single counter read 30 behind or 10 ahead duplicates nothing and loses nothing", async () => {
  for (const offset of [-30, 10]) {
    for (let at = 2; at <= 24; at++) {
      for (const overrun of ["fail", "gap"] as const) {
        const what = `${offset} on read ${at}, ${overrun}`;
        // 5 pages per 10 ms period into a 16-page ring: no overrun unless believed.
        const m = model({ pagesPerMs: 0.5, phase: 0.5, glitches: { [at]: offset } });
        const { stats, error } = await runDumper(m, { overrun });
        assert.equal(error, undefined, `${what}: ${error}`);
        const r = assertPromise(m.sink, what);
        assert.equal(stats!.lostPages, 0, `${what}: a glitch counted as a loss`);
        assert.equal(stats!.unknownLosses, 0, what);
        assert.equal(r.missing, 0, what);
        assert.equal(r.pages, stats!.endPage - stats!.firstPage, what);
        // The drain took everything the writer had counted at the end.
        assert.equal(stats!.endPage, m.hw.written(), what);
      }
    }
  }
});

Deno.test("faults 2: a counter confirmed at an implausible value is a device error (fail) or a counted glitch (gap), never a re-read", async () => {
  // Two reads in a row 30 behind: confirmed, but a jump of nearly a whole
  // wrap in one period at 5 pages a period is implausible.
  const glitches = { 6: -30, 7: -30 };
  const failed = model({ pagesPerMs: 0.5, phase: 0.5, glitches });
  const f = await runDumper(failed, {});
  assert.ok(f.error instanceof DeviceError, String(f.error));
  assert.match(f.error.message, /counter register .* glitching register/);
  assertPromise(failed.sink, "fail");
  const gap = model({ pagesPerMs: 0.5, phase: 0.5, glitches });
  const g = await runDumper(gap, { overrun: "gap" });
  assert.equal(g.error, undefined);
  assertPromise(gap.sink, "gap");
  assert.ok(g.stats!.glitches >= 1, JSON.stringify(g.stats));
  // A glitch that passes loses nothing.
  const r = checkPages(gap.sink.bytes(), PAGE);
  assert.equal(r.missing, 0);
  assert.equal(g.stats!.lostPages + g.stats!.unknownLosses, 0);
  // One that stays becomes the new baseline, counted as a loss of unknown size.
  // (Here the register lies for good, 30 behind the writer: what follows is
  // not checkable, only the accounting is.)
  const stuck = model({
    pagesPerMs: 0.5,
    phase: 0.5,
    glitches: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [i + 6, -30])),
  });
  const st = await runDumper(stuck, { overrun: "gap" });
  assert.equal(st.error, undefined);
  assert.equal(st.stats!.unknownLosses, 1, JSON.stringify(st.stats));
});

// Case 3: a stall longer than a counter wrap.

/** A virtual clock on which one sleep, the `at`-th, takes `extra` ms longer (the process was stopped). */
class StallingClock extends VirtualClock {
  #sleeps = 0;
  constructor(readonly at: number, readonly extra: number) {
    super();
  }
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (++this.#sleeps === this.at) this.advance(this.extra);
    return super.sleep(ms, signal);
  }
}

Deno.test("faults 3: a stall just over one counter wrap is a reported loss (fail) or a counted unknown loss (gap)", async () => {
  // wrap 0x100 pages at 0.5 pages/ms: one wrap is 512 ms. Stop for 520 ms:
  // the counter then reads only 4 pages further than before it.
  for (const overrun of ["fail", "gap"] as const) {
    const m = model({ wrap: 0x100, pagesPerMs: 0.5, phase: 0.5, clock: new StallingClock(8, 520) });
    const { stats, error } = await runDumper(m, { overrun, duration: 1000 });
    const r = assertPromise(m.sink, overrun);
    const lostForReal = m.hw.written() - (stats?.firstPage ?? 0) - r.pages;
    if (overrun === "fail") {
      assert.ok(error instanceof StallError, `${error}`);
      assert.match(error.message, /stopped or starved for 0\.5 s.*may have wrapped unseen/);
    } else {
      assert.equal(error, undefined);
      assert.ok(lostForReal > 200, `${lostForReal}`);
      assert.equal(stats!.unknownLosses, 1);
      assert.equal(stats!.lostPages, lostForReal, "the estimate of one wrap is the truth here");
    }
  }
});

// The CLI as a subprocess, with the permissions `deno task ringdump` gives it.

const ROOT = new URL("../../", import.meta.url);
const TASK: string = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks.ringdump;
const CLI_ARGS = TASK.split(/\s+/).slice(1).map((a) =>
  a === "cli.ts" ? new URL("cli.ts", ROOT).pathname : a
);

/** Starts `ringdump ARGS` (stdout and stderr piped unless told). */
function spawnCli(
  args: string[],
  options: {
    stdout?: "piped" | "null" | "inherit";
    cwd?: string;
    env?: Record<string, string>;
  } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...CLI_ARGS, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: options.stdout ?? "piped",
    stderr: "piped",
  }).spawn();
}

interface Ran {
  code: number;
  signal: Deno.Signal | null;
  stdout: Uint8Array;
  stderr: string;
}

async function finish(child: Deno.ChildProcess): Promise<Ran> {
  const o = await child.output();
  return {
    code: o.code,
    signal: o.signal,
    stdout: o.stdout,
    stderr: new TextDecoder().decode(o.stderr),
  };
}

/** A ring on an image at origin 0: geometry flags for the CLI, and the writer's view of it. */
function imageRing(
  pages: number,
  pageSize: number,
  options: { counterWrap?: number; counterBelow?: boolean } = {},
) {
  const counterWrap = options.counterWrap ?? 0x10000;
  // The counter right after the ring, or (counterBelow) at 0 with the ring from 4096.
  const base = options.counterBelow ? 4096 : 0;
  const ring = {
    base: BigInt(base),
    pageSize,
    pages,
    counterAddress: options.counterBelow ? 0n : BigInt(pages * pageSize),
    counterWrap,
  };
  const flags = [
    "--counter",
    String(ring.counterAddress),
    "--base",
    String(base),
    "--page-size",
    String(pageSize),
    "--pages",
    String(pages),
    "--counter-wrap",
    String(counterWrap),
  ];
  return { ring, flags };
}

async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "ringdump_faults_" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Case 4: the image shrinking under a capture.

Deno.test("faults 4: an image shrinking under a capture is a backend error (exit 3), never a SIGBUS; what came before is intact", async () => {
  // Each trial hits a mapped copy with a shrink more often than not: three
  // make the SIGBUS of a mapping near certain, and every one must end cleanly.
  for (let trial = 0; trial < 3; trial++) await shrinkTrial();
});

async function shrinkTrial(): Promise<void> {
  await using t = await tempDir();
  const image = `${t.dir}/ring.img`;
  const out = `${t.dir}/out.bin`;
  // The counter below the ring: cutting the ring off leaves it readable.
  // 400 pages a period into 2048: seconds of slack, and each read a long copy.
  const { ring, flags } = imageRing(2048, 4096, { counterBelow: true });
  const writer = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const pacing = writer.pace(400, { signal: stop.signal });
  const child = spawnCli([
    "capture",
    "--backend",
    `devmem:${image}?origin=0`,
    ...flags,
    // long periods: each read is 1.6 MiB, a long copy for a shrink to hit
    "--period",
    "1s",
    "--duration",
    "30s",
    "--out",
    out,
  ]);
  await sleep(4500);
  // Shrink and regrow it, over and over, mid-read. (Regrown, the ring reads
  // as zeros: memory lost under the capture, no fault of the reader's; only
  // what was captured before the first shrink is checked.)
  const before = (await Deno.stat(out)).size / 4096;
  const f = await Deno.open(image, { write: true });
  let result: Ran | undefined;
  const done = finish(child).then((r) => (result = r));
  const full = 4096 + ring.pages * ring.pageSize;
  // Until the capture ends, not for a number of truncates: a quick run of
  // them could fall between two polls (1 s apart) and prove nothing. The
  // image is short half of the time, so each poll's read meets a short
  // moment with a chance of a half or more, even when this process is
  // descheduled on a loaded machine; 20 s is twenty polls or more.
  const deadline = Date.now() + 20_000;
  for (let i = 0; result === undefined && Date.now() < deadline; i++) {
    // short in every other truncate
    await f.truncate(i % 2 ? full : 4096 + 4);
    if (i % 64 === 0) await sleep(0);
  }
  f.close();
  await done;
  stop.abort();
  await pacing;
  writer.close();
  const r = result!;
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /shrank under the capture|past the end of the image/);
  const c = checkPages((await Deno.readFile(out)).subarray(0, before * 4096), 4096);
  assert.deepEqual(c.torn, []);
  assert.equal(c.notIncreasing, 0);
  assert.ok(c.pages > 0, "what was captured before the fault is on disk");
}

// Case 11: a backend URL repeating a query key.

Deno.test("faults 11: a backend URL that repeats a query key is a usage error (exit 2), not 'the first one wins'", async () => {
  assert.throws(
    () => new UrlOptions(new URL("sim:?rate=1MiB&rate=2MiB"), ["rate"]),
    (e: unknown) =>
      e instanceof UsageError && /option 'rate' is given more than once/.test(e.message),
  );
  await using t = await tempDir();
  const out = `${t.dir}/out.bin`;
  await Deno.writeFile(out, new Uint8Array([1, 2, 3]));
  for (
    const url of [
      "ssh://me@127.0.0.1:9?known_hosts=/a&known_hosts=/b",
      "sim:?pattern=counter&pattern=sine",
      `devmem:${t.dir}/x.img?origin=0&origin=0x1000`,
    ]
  ) {
    const r = await finish(
      spawnCli(["capture", "--backend", url, "--duration", "1s", "--out", out]),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is given more than once; give it once/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.deepEqual(
      await Deno.readFile(out),
      new Uint8Array([1, 2, 3]),
      "the output is untouched",
    );
  }
});

// Helpers of the live tests: wait on what the capture has done, never on a guess of how long it takes.

/** Waits until `path` holds at least `bytes` bytes (the capture is running), or fails after `ms`. */
async function waitForSize(path: string, bytes: number, ms = 60_000): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    try {
      if ((await Deno.stat(path)).size >= bytes) return;
    } catch { /* not created yet */ }
    if (performance.now() - t0 > ms) throw new Error(`${path} never reached ${bytes} bytes`);
    await sleep(20);
  }
}

/** Finishes a child, killing it (and failing) if it has not exited after `ms`. */
async function finishWithin(child: Deno.ChildProcess, ms: number, what: string): Promise<Ran> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, ms);
  const r = await finish(child);
  clearTimeout(timer);
  assert.ok(!timedOut, `${what}: still running after ${ms / 1000} s (killed): ${r.stderr}`);
  return r;
}

const PIXELDUMP = new URL("../../testing/bin/pixeldump", import.meta.url).pathname;
const DEVMEM = new URL("../../testing/bin/devmem", import.meta.url).pathname;

/** Sends `sig` to a child that may have ended already (a capture that failed fast). */
function signalIfRunning(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    Deno.kill(child.pid, sig);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Whether `pid` is a live process (a zombie waiting to be reaped is not). */
async function alive(pid: number): Promise<boolean> {
  const o = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(pid)] }).output();
  const stat = new TextDecoder().decode(o.stdout).trim();
  return o.success && stat !== "" && !stat.startsWith("Z");
}

// Case 1 again, end to end: the writer is the test's, moved by hand while the capture is stopped.

Deno.test("faults 1 (CLI): a full lap with the next page half written: never appended, the loss reported (default --in-flight)", async () => {
  for (const overrun of ["fail", "gap"]) {
    await using t = await tempDir();
    const image = `${t.dir}/ring.img`;
    const out = `${t.dir}/out.bin`;
    const { ring, flags } = imageRing(16, 4096);
    const writer = await ImageWriter.open(image, ring);
    const child = spawnCli([
      "capture",
      "--backend",
      `devmem:${image}?origin=0`,
      ...flags,
      "--period",
      "50ms",
      "--overrun",
      overrun,
      "--out",
      out,
    ]);
    // a page at a time until the capture has three (its baseline read is then behind it)
    for (let i = 0; i < 600; i++) {
      const size = await Deno.stat(out).then((s) => s.size, () => 0);
      if (size >= 3 * 4096) break;
      await writer.advance(1);
      await sleep(100);
    }
    Deno.kill(child.pid, "SIGSTOP");
    // a full lap (fail) or more than one (gap) while it is stopped; the next page half written
    await writer.advance(overrun === "fail" ? 16 : 21);
    Deno.kill(child.pid, "SIGCONT");
    await sleep(500);
    await writer.advance(2);
    await sleep(300);
    signalIfRunning(child, "SIGINT");
    const r = await finishWithin(child, 30_000, "capture");
    writer.close();
    const c = checkPages(await Deno.readFile(out), 4096);
    assert.deepEqual(c.torn, [], `${overrun}: torn pages appended (${r.stderr})`);
    assert.equal(c.notIncreasing, 0);
    assert.equal(r.code, 1, `${overrun}: ${r.stderr}`);
    assert.match(
      r.stderr,
      overrun === "fail"
        ? /torn read: .*1 more in flight\); 1 page lost/
        : /[1-9]\d* pages? (was|were) lost/,
    );
  }
});

// Case 3 end to end: SIGSTOP for just over one counter wrap.

Deno.test("faults 3 (CLI): SIGSTOP for just over one counter wrap is a reported loss (exit 1) saying why", async () => {
  await using t = await tempDir();
  const image = `${t.dir}/ring.img`;
  const out = `${t.dir}/out.bin`;
  // wrap 0x400 pages at 400 pages/s: one wrap takes 2.56 s; a 512-page ring holds 1.28 s.
  const { ring, flags } = imageRing(512, 4096, { counterWrap: 0x400 });
  const writer = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const child = spawnCli([
    "capture",
    "--backend",
    `devmem:${image}?origin=0`,
    ...flags,
    "--period",
    "50ms",
    "--out",
    out,
  ]);
  let pacing = writer.pace(400, { signal: stop.signal });
  await waitForSize(out, 400 * 4096); // a second of data: the rate is measured
  stop.abort();
  await pacing;
  try {
    Deno.kill(child.pid, "SIGSTOP");
  } catch {
    throw new Error(`the capture ended early: ${(await finish(child)).stderr}`);
  }
  // One wrap and 8 pages, written at the same rate while it is stopped: the
  // counter then reads only a few pages past where it was.
  pacing = writer.pace(400, { untilPages: writer.written + 0x400 + 8 });
  await pacing;
  Deno.kill(child.pid, "SIGCONT");
  await sleep(1000);
  signalIfRunning(child, "SIGINT");
  const r = await finishWithin(child, 30_000, "capture");
  writer.close();
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /stall: the capture was stopped or starved for \d+\.\d s.*may have wrapped unseen/,
  );
  const c = checkPages(await Deno.readFile(out), 4096);
  assert.deepEqual(c.torn, []);
  assert.equal(c.notIncreasing, 0);
});

// Case 5: one Ctrl-C relayed twice is one stop; a genuine second one still closes the output.

/** A pixeldump that takes `secs` per read (a slow board tool), reading the image. */
async function slowPixeldump(dir: string, secs: number): Promise<string> {
  const path = `${dir}/slow_pixeldump`;
  await Deno.writeTextFile(path, `#!/bin/sh\nsleep ${secs}\nexec ${PIXELDUMP} "$@"\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("faults 5: one Ctrl-C delivered twice (task runner + terminal) is one stop: final drain, exit 0, valid WAV", async () => {
  await using t = await tempDir();
  const image = `${t.dir}/ring.img`;
  const out = `${t.dir}/out.wav`;
  const { ring, flags } = imageRing(256, 4096);
  const writer = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const pacing = writer.pace(50, { signal: stop.signal });
  const bin = await slowPixeldump(t.dir, 0.6);
  const child = spawnCli([
    "capture",
    "--backend",
    `pixeldump:?bin=${bin}&reg=${DEVMEM}`,
    ...flags,
    "--period",
    "1s",
    "--out",
    out,
  ], { env: { RINGDUMP_IMAGE: image } });
  await waitForSize(out, 44 + 4096);
  Deno.kill(child.pid, "SIGINT");
  await sleep(30);
  Deno.kill(child.pid, "SIGINT");
  const r = await finishWithin(child, 60_000, "capture");
  stop.abort();
  await pacing;
  writer.close();
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /second interrupt/);
  assert.match(r.stderr, /captured .* 0 pages lost/);
  const wav = await Deno.readFile(out);
  const w = checkWav(wav);
  assert.ok(w.valid, w.problem);
  const c = checkPages(wav.subarray(44), 4096);
  assert.deepEqual(c.torn, []);
  assert.equal(c.missing, 0);
});

Deno.test("faults 5: a genuine second Ctrl-C skips the drain but closes the output first: exit 130, a valid WAV", async () => {
  await using t = await tempDir();
  const image = `${t.dir}/ring.img`;
  const out = `${t.dir}/out.wav`;
  const { ring, flags } = imageRing(256, 4096);
  const writer = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const pacing = writer.pace(50, { signal: stop.signal });
  const bin = await slowPixeldump(t.dir, 1.5);
  const child = spawnCli([
    "capture",
    "--backend",
    `pixeldump:?bin=${bin}&reg=${DEVMEM}`,
    ...flags,
    "--period",
    "1s",
    "--out",
    out,
  ], { env: { RINGDUMP_IMAGE: image } });
  await waitForSize(out, 44 + 4096);
  Deno.kill(child.pid, "SIGINT");
  await sleep(900); // past the window: a second Ctrl-C, during the drain's slow read
  Deno.kill(child.pid, "SIGINT");
  const r = await finishWithin(child, 60_000, "capture");
  stop.abort();
  await pacing;
  writer.close();
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /second interrupt/);
  const wav = await Deno.readFile(out);
  const w = checkWav(wav);
  assert.ok(w.valid, w.problem);
  assert.ok(w.dataBytes >= 4096);
});

// Case 6: a WAV is valid at every moment.

Deno.test("faults 6: a SIGKILLed capture leaves a WAV whose header matches its data", async () => {
  await using t = await tempDir();
  const out = `${t.dir}/tone.wav`;
  const child = spawnCli(["capture", "--period", "50ms", "--out", out]);
  await waitForSize(out, 300_000);
  Deno.kill(child.pid, "SIGKILL");
  const r = await finish(child);
  assert.equal(r.signal, "SIGKILL");
  const wav = await Deno.readFile(out);
  const w = checkWav(wav);
  assert.ok(w.valid, w.problem);
  assert.ok(w.dataBytes >= 300_000 - 44);
});

// Case 7: output errors are output errors (exit 3, one line), not bugs.

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) => l.startsWith("ringdump:"));
  assert.equal(lines.length, 1, stderr);
  assert.doesNotMatch(stderr, /internal error|\n {4}at /, "no stack trace");
  return lines[0];
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

Deno.test("faults 7: a full disk (ENOSPC on a 1 MiB tmpfs) is exit 3 in one line, everything before it on disk", async (t) => {
  if (!isRoot()) {
    console.warn("skipping: mounting a 1 MiB tmpfs needs root");
    return;
  }
  await using d = await tempDir();
  const mnt = `${d.dir}/small`;
  await Deno.mkdir(mnt);
  const m = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
  })
    .output();
  if (!m.success) {
    console.warn(`skipping: mount -t tmpfs failed: ${new TextDecoder().decode(m.stderr).trim()}`);
    return;
  }
  try {
    await t.step("raw", async () => {
      const out = `${mnt}/c.bin`;
      const r = await finishWithin(
        spawnCli([
          "capture",
          "--backend",
          "sim:?pattern=counter&rate=4MiB",
          "--pages", // an 8 MiB ring: 2 s of slack on a loaded machine
          "2048",
          "--period",
          "20ms",
          "--duration",
          "10s",
          "--out",
          out,
        ]),
        60_000,
        "capture",
      );
      assert.equal(r.code, 3, r.stderr);
      assert.match(oneLine(r.stderr), /--out .*c\.bin: the disk is full \(ENOSPC\)/);
      const data = await Deno.readFile(out);
      assert.ok(data.length > 512 * 1024, `${data.length} bytes kept`);
      const c = checkPages(data, 4096);
      assert.deepEqual(c.torn, []);
      assert.equal(c.missing, 0);
      await Deno.remove(out);
    });
    await t.step("wav", async () => {
      const out = `${mnt}/c.wav`;
      const r = await finishWithin(
        spawnCli([
          "capture",
          "--backend",
          "sim:?rate=4MiB",
          "--pages", // an 8 MiB ring: 2 s of slack on a loaded machine
          "2048",
          "--duration",
          "10s",
          "--out",
          out,
        ]),
        60_000,
        "capture",
      );
      assert.equal(r.code, 3, r.stderr);
      oneLine(r.stderr);
      const w = checkWav(await Deno.readFile(out));
      // what was appended whole is in the header; a partial last write is not counted
      assert.ok(w.valid || /data size \d+ but the file holds/.test(w.problem ?? ""), w.problem);
    });
  } finally {
    await new Deno.Command("umount", { args: [mnt] }).output();
  }
});

Deno.test("faults 7: --out - into a pipe its reader closes ends quietly: exit 0 and a one-line note", async () => {
  const child = spawnCli([
    "capture",
    "--backend",
    "sim:?pattern=counter&rate=4MiB",
    "--pages", // an 8 MiB ring: 2 s of slack on a loaded machine
    "2048",
    "--duration",
    "20s",
    "--out",
    "-",
  ]);
  // `| head -c 100000`: read a little, then close the pipe.
  const reader = child.stdout.getReader();
  let got = 0;
  while (got < 100_000) {
    const { value, done } = await reader.read();
    if (done) break;
    got += value.length;
  }
  await reader.cancel();
  const status = await Promise.race([child.status, sleep(30_000).then(() => undefined)]);
  if (status === undefined) child.kill("SIGKILL");
  const stderr = new TextDecoder().decode(
    await new Response(child.stderr).arrayBuffer().then((b) => new Uint8Array(b)),
  );
  assert.ok(status !== undefined, "still running after the pipe closed");
  assert.equal(status.code, 0, stderr);
  assert.match(oneLine(stderr), /the reader closed the pipe after \d+ bytes/);
});

Deno.test("faults 7: stdout on /dev/full is exit 3 in one line; --out /dev/null works; devices and /proc get words to act on", async () => {
  const sh = await new Deno.Command("sh", {
    args: [
      "-c",
      'exec "$@" > /dev/full',
      "sh",
      Deno.execPath(),
      ...CLI_ARGS,
      "capture",
      "--backend",
      "sim:?pattern=counter",
      "--duration",
      "2s",
      "--out",
      "-",
    ],
    env: { NO_COLOR: "1" },
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(sh.stderr);
  assert.equal(sh.code, 3, err);
  assert.match(oneLine(err), /--out - \(stdout\): the disk is full \(ENOSPC\)/);

  const nul = await finish(spawnCli(["capture", "--duration", "500ms", "--out", "/dev/null"]));
  assert.equal(nul.code, 0, nul.stderr);

  for (const path of ["/dev/full", "/proc/ringdump-x"]) {
    const r = await finish(spawnCli(["capture", "--duration", "500ms", "--out", path]));
    assert.equal(r.code, 2, r.stderr);
    const line = oneLine(r.stderr);
    assert.doesNotMatch(line, /allow-all/);
    assert.match(line, /or to stdout \(--out -\) and redirect it there/);
  }
});

Deno.test("faults 7: an output deleted mid-capture is noticed and reported (exit 3)", async () => {
  await using t = await tempDir();
  const out = `${t.dir}/c.bin`;
  const child = spawnCli(["capture", "--backend", "sim:?pattern=counter", "--out", out]);
  await waitForSize(out, 64 * 1024);
  await Deno.remove(out);
  const r = await finishWithin(child, 30_000, "capture");
  assert.equal(r.code, 3, r.stderr);
  assert.match(oneLine(r.stderr), /the output file was deleted during the capture/);
});

// Case 8: a run that captured nothing destroys nothing.

Deno.test("faults 8: an existing output survives a run that captured nothing", async (t) => {
  await using d = await tempDir();
  const keep = new TextEncoder().encode("precious data, not a capture\n");
  const out = `${d.dir}/precious.bin`;
  const fresh = async () => await Deno.writeFile(out, keep);
  const untouched = async (what: string) =>
    assert.deepEqual(await Deno.readFile(out), keep, `${what}: the output was clobbered`);

  await t.step("pixeldump's tools missing", async () => {
    await fresh();
    const r = await finish(spawnCli([
      "capture",
      "--backend",
      `pixeldump:?bin=${d.dir}/no-pixeldump&reg=${d.dir}/no-devmem`,
      "--duration",
      "1s",
      "--out",
      out,
    ]));
    assert.equal(r.code, 3, r.stderr);
    await untouched("missing tools");
  });
  await t.step("the counter lies past the image's end", async () => {
    await fresh();
    const image = `${d.dir}/small.img`;
    await Deno.writeFile(image, new Uint8Array(16 * 4096 + 4));
    const r = await finish(spawnCli([
      "capture",
      "--backend",
      `devmem:${image}?origin=0`,
      "--pages",
      "16",
      "--counter",
      "0x100000",
      "--duration",
      "1s",
      "--out",
      out,
    ]));
    assert.equal(r.code, 3, r.stderr);
    await untouched("counter past the end");
  });
  await t.step("--out is the image being read (by another name)", async () => {
    const image = `${d.dir}/ring.img`;
    const { ring, flags } = imageRing(16, 4096);
    const w = await ImageWriter.open(image, ring);
    await w.advance(5);
    w.close();
    const before = await Deno.readFile(image);
    await Deno.symlink(image, `${d.dir}/alias.bin`);
    for (const o of [image, `${d.dir}/alias.bin`]) {
      const r = await finish(spawnCli([
        "capture",
        "--backend",
        `devmem:${image}?origin=0`,
        ...flags,
        "--duration",
        "1s",
        "--out",
        o,
      ]));
      assert.equal(r.code, 2, r.stderr);
      assert.match(oneLine(r.stderr), /is the same file as the memory image/);
    }
    assert.deepEqual(await Deno.readFile(image), before, "the image was destroyed");
  });
  await t.step("--trace x --out x", async () => {
    const x = `${d.dir}/x`;
    const r = await finish(spawnCli(["capture", "--duration", "1s", "--trace", x, "--out", x]));
    assert.equal(r.code, 2, r.stderr);
    assert.match(oneLine(r.stderr), /--out .* is the same file as --trace/);
    await assert.rejects(Deno.stat(x), Deno.errors.NotFound);
  });
  await t.step("sim --image refuses an existing file it did not make, unless --force", async () => {
    await fresh();
    const sim = (extra: string[]) =>
      finish(
        spawnCli(["sim", "--image", out, "--pages", "4", "--duration", "200ms", "-q", ...extra]),
      );
    const r = await sim([]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(oneLine(r.stderr), /not a memory image .* --force/);
    await untouched("sim --image");
    const forced = await sim(["--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    // an image sim made is reused without --force
    const again = await sim([]);
    assert.equal(again.code, 0, again.stderr);
  });
});

// Case 9: a hung pixeldump.

Deno.test("faults 9: a hung pixeldump ends the capture (exit 3, naming the command), its process group killed", async (t) => {
  await using d = await tempDir();
  const image = `${d.dir}/ring.img`;
  const { ring, flags } = imageRing(64, 4096);
  const w = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const pacing = w.pace(20, { signal: stop.signal }); // pages to read
  const hung = `${d.dir}/hung_pixeldump`;
  const pids = `${d.dir}/pids`;
  // a script whose child hangs: only killing the process group ends both
  await Deno.writeTextFile(hung, `#!/bin/sh\nsleep 1000 &\necho $! >> ${pids}\nwait\n`);
  await Deno.chmod(hung, 0o755);
  const backend = `pixeldump:?bin=${hung}&reg=${DEVMEM}`;
  const env = { RINGDUMP_IMAGE: image };
  const orphans = async () => {
    const list = (await Deno.readTextFile(pids).catch(() => "")).split("\n").filter((l) => l);
    assert.ok(list.length > 0, "the hung tool never ran");
    for (const pid of list) {
      assert.ok(!(await alive(Number(pid))), `pixeldump's child ${pid} left running`);
    }
  };
  await t.step("--duration 2s is kept (the deadline kills the read)", async () => {
    const child = spawnCli(
      ["capture", "--backend", backend, ...flags, "--duration", "2s", "--out", `${d.dir}/a.bin`],
      { env },
    );
    const r = await finishWithin(child, 60_000, "capture with a hung pixeldump");
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      oneLine(r.stderr),
      /hung_pixeldump -a 0x[0-9a-f]+ - 4096 \d+ 1' did not finish within its deadline of 5 s/,
    );
    await orphans();
  });
  await t.step("the first Ctrl-C ends it", async () => {
    await Deno.remove(pids).catch(() => {});
    const child = spawnCli(
      ["capture", "--backend", backend, ...flags, "--period", "100ms", "--out", `${d.dir}/b.bin`],
      { env },
    );
    for (let i = 0; i < 600 && !(await Deno.stat(pids).then(() => true, () => false)); i++) {
      await sleep(50);
    }
    Deno.kill(child.pid, "SIGINT");
    const r = await finishWithin(child, 30_000, "capture after one Ctrl-C");
    assert.equal(r.code, 3, r.stderr);
    assert.match(oneLine(r.stderr), /was still running 1 s after the stop/);
    await orphans();
  });
  stop.abort();
  await pacing;
  w.close();
});

// Case 10: a hostile or broken agent.

/**
 * Agent-to-client bytes, passed through frame by frame: records every data
 * frame's length, and (`forge`) announces that many bytes in the first data
 * frame's header, then sends nothing more.
 */
function frameTap(options: { forge?: number } = {}) {
  const lengths: number[] = [];
  let buf = new Uint8Array(0);
  let stalled = false;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      if (stalled) return;
      const all = new Uint8Array(buf.length + chunk.length);
      all.set(buf);
      all.set(chunk, buf.length);
      let off = 0;
      while (all.length - off >= FRAME_HEADER_SIZE) {
        const v = new DataView(all.buffer, off, FRAME_HEADER_SIZE);
        const kind = v.getUint8(4), length = v.getUint32(12, true);
        if (kind === FrameKind.Data && options.forge !== undefined) {
          const header = all.slice(off, off + FRAME_HEADER_SIZE);
          new DataView(header.buffer).setUint32(12, options.forge, true);
          out.enqueue(header);
          stalled = true;
          return;
        }
        if (all.length - off < FRAME_HEADER_SIZE + length) break;
        if (kind === FrameKind.Data) lengths.push(length);
        out.enqueue(all.slice(off, off + FRAME_HEADER_SIZE + length));
        off += FRAME_HEADER_SIZE + length;
      }
      buf = all.slice(off);
    },
  });
  return { stream, lengths };
}

function hostileAgent(maxRead: number, forge?: number, pageSize = 4096, pages = 64) {
  const g = ringGeometry({ base: 0x4000_0000n, pageSize, pages, counterWrap: 0x1000 });
  const hw = new HardwareModel(g, { pagesPerMs: 0, clock: { now: () => 0 }, phase: pages });
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const tap = frameTap({ forge });
  const served = runAgent({
    input: up.readable,
    output: down.writable,
    memory: "hostile",
    origin: 0n,
    maxRead,
    open: () => Promise.resolve(hw),
  });
  served.catch(() => {});
  const client = AgentClient.connect(
    { readable: down.readable.pipeThrough(tap.stream), writable: up.writable },
    { geometry: g, timeout: 20_000 },
  );
  return { g, client, tap };
}

Deno.test("faults 10: an agent announcing a largest read of 2^31-1 is capped by the client", async () => {
  const { g, client: connecting, tap } = hostileAgent(0x7fff_ffff, undefined, 1024 * 1024, 40);
  const client = await connecting;
  try {
    assert.equal(client.hello.maxRead, 0x7fff_ffff);
    assert.equal(client.maxRead, MAX_CLIENT_READ);
    const dest = new Uint8Array(40 * 1024 * 1024);
    await client.read(g.base, dest);
    assert.ok(tap.lengths.length >= 3, `${tap.lengths}`);
    assert.ok(Math.max(...tap.lengths) <= MAX_CLIENT_READ, `data frames of ${tap.lengths}`);
    assert.equal(checkPages(dest, 1024 * 1024).missing, 0);
  } finally {
    await client.close();
  }
});

Deno.test("faults 10: a data frame longer than the request is refused at its header, before its payload", async () => {
  for (
    const [maxRead, forged, why] of [
      [0x7fff_ffff, 0x7fff_ffff, /announces 2147483647 bytes; the limit is 16777216/],
      [4 * 1024 * 1024, 8 * 4096 + 4096, /announces 36864 bytes, but 32768 were asked for/],
    ] as const
  ) {
    const { g, client: connecting } = hostileAgent(maxRead, forged);
    const client = await connecting;
    try {
      // The forged header is followed by nothing: only a check of the header ends the read.
      await assert.rejects(
        client.read(g.base, new Uint8Array(8 * 4096)),
        (e: unknown) => e instanceof ProtocolError && why.test(e.message),
      );
    } finally {
      await client.close().catch(() => {});
    }
  }
});

Deno.test("faults 5: under `deno task ringdump`, Ctrl-C to the process group (relayed twice) is one stop", async () => {
  await using t = await tempDir();
  const out = `${t.dir}/task.wav`;
  // As a terminal does: SIGINT to the whole foreground process group, which
  // deno task also relays to ringdump.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "ringdump", "capture", "--period", "50ms", "--out", out],
    cwd: new URL(".", ROOT).pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  await waitForSize(out, 100_000);
  Deno.kill(-child.pid, "SIGINT");
  const r = await finishWithin(child, 60_000, "deno task ringdump capture");
  assert.doesNotMatch(r.stderr, /second interrupt/);
  assert.match(r.stderr, /captured .* 0 pages lost/);
  assert.equal(r.code, 0, r.stderr);
  const w = checkWav(await Deno.readFile(out));
  assert.ok(w.valid, w.problem);
});
