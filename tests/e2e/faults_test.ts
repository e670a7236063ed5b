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
import { Dumper, type DumpStats } from "../../lib/dumper.ts";
import { ringGeometry } from "../../lib/ring.ts";
import { VirtualClock } from "../../lib/clock.ts";
import { DeviceError, StallError, TornReadError, UsageError } from "../../lib/errors.ts";
import { UrlOptions } from "../../backends/options.ts";
import { HardwareModel, ImageWriter } from "../../testing/hw_writer.ts";
import { checkPages } from "../../testing/page_check.ts";

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
  assert.match(error.message, /1 pages lost/);
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
  assert.ok(g.stats!.glitches >= 1 && g.stats!.unknownLosses >= 1, JSON.stringify(g.stats));
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
  options: { stdout?: "piped" | "null" | "inherit"; cwd?: string } = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [...CLI_ARGS, ...args],
    cwd: options.cwd,
    env: { NO_COLOR: "1" },
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
  await using t = await tempDir();
  const image = `${t.dir}/ring.img`;
  const out = `${t.dir}/out.bin`;
  // The counter below the ring: cutting the ring off leaves it readable.
  const { ring, flags } = imageRing(1024, 4096, { counterBelow: true });
  const writer = await ImageWriter.open(image, ring);
  const stop = new AbortController();
  const pacing = writer.pace(400, { signal: stop.signal });
  const child = spawnCli([
    "capture",
    "--backend",
    `devmem:${image}?origin=0`,
    ...flags,
    // long periods: each read is 4 MiB, a long copy for a shrink to hit
    "--period",
    "2s",
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
  for (let i = 0; i < 200000 && result === undefined; i++) {
    // short for a moment in every six truncates
    await f.truncate(i % 6 ? full : 4096 + 4);
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
});

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
