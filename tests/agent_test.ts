import assert from "node:assert/strict";
import fc from "fast-check";
import { AgentClient, AgentTimeoutError } from "../lib/agent/client.ts";
import {
  AgentErrno,
  decodeErrorPayload,
  decodeFrame,
  decodeFrameHeader,
  encodeErrorFrame,
  encodeFrame,
  type Frame,
  FRAME_HEADER_SIZE,
  FrameKind,
  ProtocolError,
} from "../lib/agent/frame.ts";
import { FrameReader } from "../lib/agent/frame_reader.ts";
import {
  AGENT_PROTOCOL_VERSION,
  AgentControls,
  agentInfoMap,
  AgentOp,
} from "../lib/agent/protocol.ts";
import { runAgent } from "../lib/agent/server.ts";
import { ControlList, ControlSerializer, int32Value, int64Value } from "../lib/controls/mod.ts";
import { BackendError } from "../lib/errors.ts";
import { type RingGeometry, ringGeometry } from "../lib/ring.ts";
import { openSim } from "../backends/sim.ts";
import type { Backend } from "../backends/types.ts";
import { fillCounter } from "../lib/sim/pattern.ts";
import { verifyCounterFile } from "../lib/sim/verify.ts";
import { capture } from "../lib/capture.ts";
import { VirtualClock } from "../lib/clock.ts";
import { RINGDUMP_ARGS, spawnRingdump } from "../testing/run_cli.ts";
import {
  LIVE_COUNTER_WRAP,
  LIVE_GEOMETRY,
  LIVE_PAGES,
  LIVE_RATE,
  LIVE_RATE_BYTES,
  waitForSize,
} from "../testing/live.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-agent-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

/** Rejects when `p` takes longer than `ms`: a hang fails the test instead of stalling it. */
async function within<T>(ms: number, p: Promise<T>, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejectsWith(p: Promise<unknown>, check: (e: unknown) => void): Promise<void> {
  try {
    await p;
  } catch (e) {
    check(e);
    return;
  }
  assert.fail("expected a rejection");
}

// ---------------------------------------------------------------------------
// Frame codec
// ---------------------------------------------------------------------------

const frameArb = fc.record({
  kind: fc.constantFrom(FrameKind.InfoMap, FrameKind.List, FrameKind.Error, FrameKind.Data),
  flags: fc.constant(0),
  seq: fc.nat({ max: 0xffff_ffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
}).map((f) => ({ ...f })) as fc.Arbitrary<Frame>;

/** A byte stream (BYOB-capable, as a child's stdout) of copies of `chunks`. */
function byteStream(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      if (i === chunks.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      c.enqueue(chunks[i++].slice());
    },
  });
}

Deno.test("codec: frames round-trip, byte for byte, in any chunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(frameArb, { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
      async (frames, cuts) => {
        const bytes = new Uint8Array(frames.reduce((n, f) => n + 16 + f.payload.length, 0));
        let at = 0;
        for (const f of frames) {
          const enc = encodeFrame(f);
          assert.equal(enc.length, FRAME_HEADER_SIZE + f.payload.length);
          const dec = decodeFrame(enc);
          assert.deepEqual(dec, { frame: f, size: enc.length });
          bytes.set(enc, at);
          at += enc.length;
        }
        // The same bytes, delivered in arbitrary chunks.
        const chunks: Uint8Array[] = [];
        for (let i = 0, k = 0; i < bytes.length; k++) {
          const n = cuts[k % cuts.length];
          chunks.push(bytes.slice(i, i + n));
          i += n;
        }
        const reader = new FrameReader(ReadableStream.from(chunks));
        for (const f of frames) assert.deepEqual(await reader.read(), f);
        assert.equal(await reader.read(), null);
        // A byte stream (a child's stdout) is read BYOB into one reused
        // scratch buffer; data payloads also straight into their destination.
        for (const dest of [false, true]) {
          const r = new FrameReader(byteStream(chunks));
          if (dest) r.setDataDestination((_seq, length) => new Uint8Array(length));
          for (const f of frames) assert.deepEqual(await r.read(), f);
          assert.equal(await r.read(), null);
        }
      },
    ),
    { seed: 5, numRuns: 300 },
  );
});

Deno.test("codec: the header is checked field by field, and length is capped before reading", () => {
  const good = encodeFrame({ kind: FrameKind.List, flags: 0, seq: 1, payload: new Uint8Array(4) });
  const bad = (mutate: (b: Uint8Array, v: DataView) => void, pattern: RegExp) => {
    const b = good.slice();
    mutate(b, new DataView(b.buffer));
    assert.throws(
      () => decodeFrame(b),
      (e) => e instanceof ProtocolError && pattern.test(e.message),
    );
  };
  bad((b) => b[0] = 0x53, /bad frame magic/);
  bad((b) => b[4] = 0, /unknown frame kind 0/);
  bad((b) => b[4] = 5, /unknown frame kind 5/);
  bad((b) => b[5] = 1, /unknown frame flags/);
  bad((_, v) => v.setUint16(6, 1, true), /reserved/);
  bad((_, v) => v.setUint32(12, 64 * 1024 + 1, true), /announces 65537 bytes; the limit is 65536/);
  // A data frame may be as large as the largest read, and no larger.
  const data = new Uint8Array(16);
  data.set(good.subarray(0, 16));
  data[4] = FrameKind.Data;
  new DataView(data.buffer).setUint32(12, 1000, true);
  assert.equal(decodeFrameHeader(data, { maxData: 1000 }).length, 1000);
  assert.throws(() => decodeFrameHeader(data, { maxData: 999 }), ProtocolError);
  // Garbage is refused from its first byte, without waiting for 16 bytes.
  assert.throws(() => decodeFrame(new TextEncoder().encode("SSH")), /bad frame magic/);
  assert.equal(decodeFrame(good.subarray(0, 3)), undefined);
  assert.throws(() => decodeFrameHeader(good.subarray(0, 15)), /truncated frame header: 15 of 16/);
});

Deno.test("codec: error frames carry a code and a message", () => {
  const bytes = encodeErrorFrame(7, { code: AgentErrno.EIO, message: "read failed: ü" });
  const { frame } = decodeFrame(bytes)!;
  assert.equal(frame.kind, FrameKind.Error);
  assert.equal(frame.seq, 7);
  assert.deepEqual(decodeErrorPayload(frame.payload), { code: 5, message: "read failed: ü" });
  assert.throws(() => decodeErrorPayload(new Uint8Array(3)), ProtocolError);
  // Invalid UTF-8 is shown, not thrown.
  assert.equal(decodeErrorPayload(new Uint8Array([1, 0, 0, 0, 0xff])).message, "\ufffd");
});

Deno.test("codec fuzz: garbage and mutated frames give frames, 'need more' or a ProtocolError", async () => {
  const rng = mulberry32(0x5eed);
  const valid = [
    encodeFrame({ kind: FrameKind.List, flags: 0, seq: 3, payload: new Uint8Array(40) }),
    encodeFrame({ kind: FrameKind.Data, flags: 0, seq: 9, payload: new Uint8Array(100) }),
    encodeErrorFrame(0, { code: 71, message: "x" }),
  ];
  let frames = 0, errors = 0, partial = 0;
  for (let i = 0; i < 5000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(rng() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = rng() * 256;
      if (i % 4 === 0 && bytes.length >= 4) bytes.set([0x52, 0x44, 0x43, 0x31]); // right magic
    } else {
      const src = valid[i % valid.length];
      bytes = rng() < 0.5 ? src.slice() : src.slice(0, Math.floor(rng() * (src.length + 1)));
      const flips = rng() < 0.5 ? 0 : 1 + Math.floor(rng() * 2);
      for (let j = 0; j < flips && bytes.length; j++) {
        bytes[Math.floor(rng() * Math.min(bytes.length, 20))] = rng() * 256;
      }
    }
    try {
      const r = decodeFrame(bytes, { maxData: 200 });
      if (r === undefined) partial++;
      else {
        frames++;
        assert.ok(r.size <= bytes.length);
        assert.equal(r.frame.payload.length, r.size - FRAME_HEADER_SIZE);
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      errors++;
    }
    // The stream reader agrees, and always ends: a frame, null, or a ProtocolError.
    const reader = new FrameReader(ReadableStream.from([bytes]), { maxData: 200 });
    try {
      await within(
        1000,
        (async () => {
          while (await reader.read() !== null) { /* drain */ }
        })(),
        "FrameReader on fuzz input",
      );
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
    }
  }
  // The fuzzer really reached every outcome.
  assert.ok(frames > 100 && errors > 1000 && partial > 100, `${frames} ${errors} ${partial}`);
});

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Agent and client in process (real streams, the sim device as memory)
// ---------------------------------------------------------------------------

const geometry = ringGeometry({
  base: 0x4000_0000n,
  pageSize: 4096,
  pages: 64,
  counterWrap: 0x100,
});

/** A memory that holds the counter pattern everywhere in the ring and a fixed counter. */
function patternMemory(g: RingGeometry, counter = 0x42n): Backend & { reads: number } {
  const ring = new Uint8Array(g.ringBytes);
  fillCounter(ring, 0);
  const mem = {
    name: "pattern",
    reads: 0,
    readRegister(address: bigint, width: number): Promise<bigint> {
      if (address !== g.counterAddress || width !== 32) {
        return Promise.reject(
          new BackendError(`no register at ${address}`, { backend: "pattern" }),
        );
      }
      return Promise.resolve(counter);
    },
    async read(address: bigint, dest: Uint8Array): Promise<void> {
      mem.reads++;
      const off = Number(address - g.base);
      if (off < 0 || off + dest.length > ring.length) {
        throw new BackendError(
          `read of ${dest.length} bytes at 0x${address.toString(16)} is outside the ring`,
          {
            backend: "pattern",
          },
        );
      }
      await new Promise((r) => setTimeout(r, 1)); // a read takes time: requests pile up
      dest.set(ring.subarray(off, off + dest.length));
    },
    close: () => Promise.resolve(),
  };
  return mem;
}

function link(
  memory: Backend,
  options: { maxRead?: number; agentVersion?: number; clientVersion?: number; timeout?: number } =
    {},
) {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const opened: RingGeometry[] = [];
  const served = runAgent({
    input: up.readable,
    output: down.writable,
    memory: "test-memory",
    origin: 0x4000_0000n,
    maxRead: options.maxRead,
    protocolVersion: options.agentVersion,
    open: (g) => {
      opened.push(g);
      return Promise.resolve(memory);
    },
  });
  served.catch(() => {}); // inspected by the tests that care
  const client = AgentClient.connect({ readable: down.readable, writable: up.writable }, {
    geometry,
    protocolVersion: options.clientVersion,
    timeout: options.timeout,
  });
  return { served, client, opened };
}

Deno.test("agent in process: hello, register and range reads, the geometry reaches the agent", async () => {
  const mem = patternMemory(geometry);
  const { served, client: connecting, opened } = link(mem);
  const client = await within(5000, connecting, "hello");
  assert.deepEqual(client.hello, {
    protocolVersion: AGENT_PROTOCOL_VERSION,
    pageSize: 4096,
    maxRead: 4 * 1024 * 1024,
    memoryDevice: "test-memory",
    origin: 0x4000_0000n,
  });
  assert.deepEqual(opened, [geometry]);
  assert.equal(await client.readRegister(geometry.counterAddress, 32), 0x42n);
  const buf = new Uint8Array(3 * 4096 + 8);
  await client.read(geometry.base + 4096n, buf);
  const expected = new Uint8Array(geometry.ringBytes);
  fillCounter(expected, 0);
  assert.deepEqual(buf, expected.subarray(4096, 4096 + buf.length));
  await client.close();
  assert.deepEqual(await within(5000, served), { requests: 2, bytes: buf.length });
});

Deno.test("agent in process: a large read is split into requests all in flight at once", async () => {
  const mem = patternMemory(geometry);
  const { client: connecting } = link(mem, { maxRead: 4096 });
  const client = await connecting;
  const buf = new Uint8Array(geometry.ringBytes);
  const reading = client.read(geometry.base, buf);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(client.inFlight, geometry.pages, "every part of the read is in flight");
  await within(5000, reading);
  assert.equal(mem.reads, geometry.pages);
  const expected = new Uint8Array(geometry.ringBytes);
  fillCounter(expected, 0);
  assert.deepEqual(buf, expected);
  // Several independent reads in flight, answered to the right caller.
  const bufs = Array.from({ length: 10 }, () => new Uint8Array(512));
  await Promise.all(bufs.map((b, i) => client.read(geometry.base + BigInt(i * 4096), b)));
  for (const [i, b] of bufs.entries()) {
    assert.deepEqual(b, expected.subarray(i * 4096, i * 4096 + 512));
  }
  await client.close();
});

Deno.test("agent in process: a failed read is an error for that request only, with the board's message", async () => {
  const { client: connecting } = link(patternMemory(geometry));
  const client = await connecting;
  await rejectsWith(
    client.read(geometry.base + BigInt(geometry.ringBytes), new Uint8Array(8)),
    (e) => {
      assert.ok(e instanceof BackendError && !(e instanceof ProtocolError), String(e));
      assert.match(
        e.message,
        /read of 8 bytes at 0x40040000 failed on the board \(EIO\): .*outside the ring/,
      );
      assert.equal(e.exitCode, 3);
    },
  );
  await rejectsWith(client.readRegister(0x1234n, 16), (e) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /16-bit register at 0x1234 failed on the board/);
  });
  assert.equal(await client.readRegister(geometry.counterAddress, 32), 0x42n, "the link goes on");
  await client.close();
  await rejectsWith(client.readRegister(geometry.counterAddress, 32), (e) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /after close/);
  });
});

Deno.test("agent in process: a whole capture through the agent verifies", async () => {
  // On a virtual clock shared by the device and the capture: the same bytes however loaded the
  // machine is (the link itself is real streams and real timers).
  const clock = new VirtualClock();
  const sim = openSim(geometry, { pattern: "counter", rate: 4 * 1024 * 1024, clock });
  const { client: connecting } = link(sim);
  const client = await connecting;
  const out = `${tmp}/inproc.bin`;
  const stats = await capture({ backend: client, geometry, out, period: 5, duration: 500, clock });
  await client.close();
  assert.equal(stats.lostPages, 0);
  assert.ok(stats.bytes > 1024 * 1024, `${stats.bytes} bytes`);
  const v = await verifyCounterFile(out);
  assert.equal(v.bytes, stats.bytes);
});

Deno.test("agent in process: there is no write request; an unknown op is refused", async () => {
  // Speak the protocol by hand: hello, then a request with op 3.
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const served = runAgent({
    input: up.readable,
    output: down.writable,
    memory: "m",
    open: () => Promise.resolve(patternMemory(geometry)),
  });
  const { reader, writer, s, map, send } = await helloByHand(down.readable, up.writable);
  assert.deepEqual(map.get(AgentControls.ProtocolVersion)?.def.values, [AGENT_PROTOCOL_VERSION]);
  assert.deepEqual(
    map.ids().map((c) => c.name),
    agentInfoMap({ pageSize: 4096, maxRead: 1 }).ids().map((c) => c.name),
  );
  assert.deepEqual(
    s.deserializeList((await reader.read())!.payload).get(AgentControls.Status)?.values,
    [0],
  );
  await send(
    new ControlList(map)
      .set(AgentControls.Op, int32Value(3))
      .set(AgentControls.Address, int64Value(geometry.base))
      .set(AgentControls.Length, int32Value(4)),
    1,
  );
  const reply = s.deserializeList((await reader.read())!.payload);
  assert.deepEqual(reply.get(AgentControls.Status)?.values, [AgentErrno.EINVAL]);
  assert.match(
    String(reply.get(AgentControls.Message)?.values[0]),
    /unknown op 3: .*no write request/,
  );
  // A read longer than the largest read is refused too.
  await send(
    new ControlList(map)
      .set(AgentControls.Op, int32Value(AgentOp.ReadRange))
      .set(AgentControls.Address, int64Value(geometry.base))
      .set(AgentControls.Length, int32Value(4 * 1024 * 1024 + 1)),
    2,
  );
  const big = s.deserializeList((await reader.read())!.payload);
  assert.deepEqual(big.get(AgentControls.Status)?.values, [AgentErrno.ERANGE]);
  await writer.close();
  assert.deepEqual(await within(5000, served), { requests: 2, bytes: 0 });
  assert.equal(await reader.read(), null);
});

Deno.test("agent in process: unknown protocol version is a clear error on both sides", async () => {
  // The agent is newer than the client.
  const a = link(patternMemory(geometry), { agentVersion: 2 });
  await rejectsWith(within(5000, a.client), (e) => {
    assert.ok(e instanceof ProtocolError, String(e));
    assert.equal(e.code, AgentErrno.EPROTONOSUPPORT);
    assert.match(e.message, /the agent speaks protocol version 2, this ringdump speaks 1/);
  });
  await rejectsWith(within(5000, a.served), (e) => {
    assert.ok(e instanceof ProtocolError, String(e));
    assert.match(e.message, /the client gave up: .*agent speaks protocol version 2/);
  });
  // A client that sends version 2 in its hello (a client that accepts the
  // agent's map would otherwise never get here).
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const opened: RingGeometry[] = [];
  const served = runAgent({
    input: up.readable,
    output: down.writable,
    memory: "m",
    open: (g) => {
      opened.push(g);
      return Promise.resolve(patternMemory(g));
    },
  });
  served.catch(() => {});
  const { reader } = await helloByHand(down.readable, up.writable, { version: 2 });
  const refusal = await within(5000, reader.read());
  assert.equal(refusal?.kind, FrameKind.Error);
  assert.deepEqual(decodeErrorPayload(refusal!.payload), {
    code: AgentErrno.EPROTONOSUPPORT,
    message: "agent protocol: the client speaks protocol version 2, this agent speaks 1; " +
      "deploy the same ringdump on both sides (ringdump deploy)",
  });
  await rejectsWith(within(5000, served), (e) => {
    assert.ok(e instanceof ProtocolError);
    assert.equal(e.code, AgentErrno.EPROTONOSUPPORT);
    assert.equal(e.exitCode, 3);
  });
  assert.deepEqual(opened, [], "the agent never opened its memory");
});

Deno.test("agent in process: a request that gets no reply times out; nothing hangs", async () => {
  const stuck = patternMemory(geometry);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  stuck.readRegister = () => gate.then(() => 1n);
  const { client: connecting, served } = link(stuck, { timeout: 200 });
  const client = await connecting;
  const t0 = performance.now();
  await rejectsWith(client.readRegister(geometry.counterAddress, 32), (e) => {
    assert.ok(e instanceof AgentTimeoutError, String(e));
    assert.equal(e.exitCode, 3);
    assert.match(
      e.message,
      /no reply to request 1 \(32-bit register at 0x40040000\) within 200 ms/,
    );
  });
  assert.ok(performance.now() - t0 < 1000);
  release(); // the late reply is dropped, the link goes on
  stuck.readRegister = () => Promise.resolve(7n);
  assert.equal(await client.readRegister(geometry.counterAddress, 32), 7n);
  await client.close();
  await within(5000, served);
});

Deno.test("agent fuzz: garbage requests after the hello end the agent with a ProtocolError, never a hang", async () => {
  const rng = mulberry32(1234);
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    const payload = new Uint8Array(Math.floor(rng() * 80));
    for (let j = 0; j < payload.length; j++) payload[j] = rng() * 256;
    const raw = i % 3 === 0
      ? payload // not even a frame
      : encodeFrame({ kind: FrameKind.List, flags: 0, seq: 1 + (i % 5), payload });
    if (await feedAfterHello(raw) === "refused") refused++;
  }
  assert.ok(refused > 250, `${refused} of 300 garbage inputs refused`);
});

/** Speaks the client's side of the hello by hand, offering `version`. */
async function helloByHand(
  down: ReadableStream<Uint8Array>,
  up: WritableStream<Uint8Array>,
  options: { version?: number; geometry?: RingGeometry } = {},
) {
  const g = options.geometry ?? geometry;
  const reader = new FrameReader(down);
  const writer = up.getWriter();
  const s = new ControlSerializer({ role: "worker" });
  const map = s.deserializeInfoMap((await reader.read())!.payload, {
    controls: Object.values(AgentControls),
  });
  s.deserializeList((await reader.read())!.payload);
  const send = async (list: ControlList, seq: number) => {
    const bytes = new Uint8Array(s.binarySize(list));
    s.serialize(list, bytes);
    await writer.write(encodeFrame({ kind: FrameKind.List, flags: 0, seq, payload: bytes }));
  };
  await send(
    new ControlList(map)
      .set(AgentControls.ProtocolVersion, int32Value(options.version ?? AGENT_PROTOCOL_VERSION))
      .set(AgentControls.RingBase, int64Value(g.base))
      .set(AgentControls.RingPageSize, int32Value(g.pageSize))
      .set(AgentControls.RingPages, int32Value(g.pages))
      .set(AgentControls.CounterAddress, int64Value(g.counterAddress))
      .set(AgentControls.CounterWrap, int64Value(g.counterWrap)),
    0,
  );
  return { reader, writer, s, map, send };
}

/** Runs an agent, does a valid hello by hand, sends `raw`, closes; returns how the agent ended. */
async function feedAfterHello(raw: Uint8Array): Promise<"served" | "refused"> {
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const down = new TransformStream<Uint8Array, Uint8Array>();
  const served = runAgent({
    input: up.readable,
    output: down.writable,
    memory: "m",
    open: () => Promise.resolve(patternMemory(geometry)),
  });
  const { reader, writer } = await helloByHand(down.readable, up.writable);
  assert.equal((await reader.read())?.kind, FrameKind.List); // ready
  await writer.write(raw).catch(() => {});
  await writer.close().catch(() => {});
  const drained = (async () => {
    const frames: Frame[] = [];
    try {
      for (let f = await reader.read(); f !== null; f = await reader.read()) frames.push(f);
    } catch { /* the agent broke off mid-frame: not expected, checked below */ }
    return frames;
  })();
  try {
    await within(2000, served, "agent on garbage");
    return "served";
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    const frames = await within(2000, drained, "agent output");
    const last = frames.at(-1);
    assert.equal(last?.kind, FrameKind.Error, "the agent said why it stopped");
    assert.equal(decodeErrorPayload(last!.payload).message, e.message);
    return "refused";
  }
}

// ---------------------------------------------------------------------------
// A real agent subprocess (`ringdump agent`, the ringdump task's permissions)
// ---------------------------------------------------------------------------

const subGeometry = ringGeometry({
  base: 0x3000_0000n,
  pageSize: 4096,
  pages: 64,
  counterWrap: 0x100,
});

/** An image holding the counter pattern in the ring and `counter` in the register. */
async function staticImage(name: string, counter = 0x17): Promise<string> {
  const g = subGeometry;
  const img = new Uint8Array(g.ringBytes + 8);
  fillCounter(img.subarray(0, g.ringBytes), 0);
  new DataView(img.buffer).setUint32(g.ringBytes, counter, true);
  const path = `${tmp}/${name}.img`;
  await Deno.writeFile(path, img);
  return path;
}

function startAgent(image: string, extra: string[] = []): {
  child: Deno.ChildProcess;
  stderr: () => string;
  done: Promise<void>;
} {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RINGDUMP_ARGS, "agent", "--mem", image, "--origin", "0x30000000", ...extra],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const done = (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) text += c;
  })();
  return { child, stderr: () => text, done };
}

async function connectTo(
  agent: ReturnType<typeof startAgent>,
  options: { timeout?: number; protocolVersion?: number } = {},
): Promise<AgentClient> {
  return await AgentClient.connect(
    { readable: agent.child.stdout, writable: agent.child.stdin },
    { geometry: subGeometry, stderr: agent.stderr, helloTimeout: 20_000, ...options },
  );
}

Deno.test("subprocess agent: serves an image; reads in flight; exits 0 when the client closes", async () => {
  const image = await staticImage("served");
  const agent = startAgent(image, ["--max-read", "16KiB"]);
  const client = await within(30_000, connectTo(agent), "hello");
  assert.equal(client.hello.memoryDevice, image);
  assert.equal(client.hello.maxRead, 16 * 1024);
  assert.equal(client.hello.origin, 0x3000_0000n);
  assert.equal(await client.readRegister(subGeometry.counterAddress, 32), 0x17n);
  const whole = new Uint8Array(subGeometry.ringBytes);
  const regs = Array.from(
    { length: 20 },
    () => client.readRegister(subGeometry.counterAddress, 32),
  );
  const reading = client.read(subGeometry.base, whole);
  assert.ok(client.inFlight >= 36, `${client.inFlight} requests in flight`);
  await within(10_000, reading);
  assert.deepEqual(await Promise.all(regs), regs.map(() => 0x17n));
  const expected = new Uint8Array(subGeometry.ringBytes);
  fillCounter(expected, 0);
  assert.deepEqual(whole, expected);
  // A read outside the image: the devmem backend's message comes back; the link goes on.
  await rejectsWith(client.read(subGeometry.base + 0x100000n, new Uint8Array(16)), (e) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /failed on the board \(EIO\): devmem: .*outside the image/);
  });
  assert.equal(await client.readRegister(subGeometry.counterAddress, 32), 0x17n);
  await client.close();
  const status = await within(10_000, agent.child.status);
  await agent.done;
  assert.equal(status.code, 0, agent.stderr());
});

Deno.test("subprocess agent: a capture of a live 'ringdump sim' image through it verifies", async () => {
  const image = `${tmp}/live.img`;
  // The live ring: 3 s of slack for a loaded machine (LIVE_SLACK_SECONDS).
  const g = ringGeometry({
    base: 0n,
    pageSize: 4096,
    pages: LIVE_PAGES,
    counterWrap: Number(LIVE_COUNTER_WRAP),
  });
  const sim = spawnRingdump([
    "sim",
    "--image",
    image,
    "--origin",
    "0",
    ...LIVE_GEOMETRY,
    "--rate",
    LIVE_RATE,
    "--duration",
    "60s",
    "--quiet",
  ]);
  try {
    await waitForSize(image, g.ringBytes + 4);
    const agent = startAgent(image, ["--origin", "0"]);
    const client = await AgentClient.connect(
      { readable: agent.child.stdout, writable: agent.child.stdin },
      { geometry: g, stderr: agent.stderr, helloTimeout: 20_000 },
    );
    const out = `${tmp}/live.bin`;
    // 4 s of a live writer, with 8 s of slack in the ring.
    const stats = await capture({ backend: client, geometry: g, out, period: 20, duration: 4000 });
    await client.close();
    assert.equal((await agent.child.status).code, 0, agent.stderr());
    await agent.done;
    assert.equal(stats.lostPages, 0);
    assert.ok(stats.bytes >= LIVE_RATE_BYTES * 2.5, `${stats.bytes} bytes`);
    const v = await verifyCounterFile(out);
    assert.equal(v.bytes, stats.bytes);
  } finally {
    sim.kill("SIGTERM");
    await sim.output();
  }
});

Deno.test("subprocess agent: killed mid-read, every read fails at once with a clear error", async () => {
  const image = await staticImage("killed");
  const agent = startAgent(image, ["--max-read", "4KiB"]);
  const client = await connectTo(agent);
  const reads = Array.from(
    { length: 50 },
    () => client.read(subGeometry.base, new Uint8Array(subGeometry.ringBytes)),
  );
  agent.child.kill("SIGKILL");
  const t0 = performance.now();
  const results = await within(5000, Promise.allSettled(reads), "reads after the agent died");
  assert.ok(performance.now() - t0 < 3000);
  const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
  assert.ok(failed.length > 0, "some reads were in flight when the agent died");
  for (const f of failed) {
    assert.ok(f.reason instanceof BackendError, String(f.reason));
    assert.equal(f.reason.exitCode, 3);
    assert.match(f.reason.message, /agent went away|cannot send a request to the agent/);
  }
  await rejectsWith(client.readRegister(subGeometry.counterAddress, 32), (e) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /agent went away|cannot send/);
  });
  await within(5000, client.close());
  await agent.done;
});

Deno.test("subprocess agent: a stopped agent makes reads time out instead of hanging", async () => {
  const image = await staticImage("stopped");
  const agent = startAgent(image);
  const client = await connectTo(agent, { timeout: 300 });
  assert.equal(await client.readRegister(subGeometry.counterAddress, 32), 0x17n);
  Deno.kill(agent.child.pid, "SIGSTOP");
  try {
    await rejectsWith(
      within(3000, client.read(subGeometry.base, new Uint8Array(4096))),
      (e) => {
        assert.ok(e instanceof AgentTimeoutError, String(e));
        assert.match(
          e.message,
          /no reply to request \d+ \(read of 4096 bytes at 0x30000000\) within 300 ms/,
        );
      },
    );
  } finally {
    Deno.kill(agent.child.pid, "SIGCONT");
  }
  await client.close();
  assert.equal((await within(10_000, agent.child.status)).code, 0, agent.stderr());
  await agent.done;
});

Deno.test("subprocess agent: unknown version, clear error on both sides", async () => {
  const image = await staticImage("version");
  // The agent offers version 2.
  const newer = startAgent(image, ["--protocol-version", "2"]);
  await rejectsWith(connectTo(newer), (e) => {
    assert.ok(e instanceof ProtocolError, String(e));
    assert.match(e.message, /the agent speaks protocol version 2, this ringdump speaks 1/);
  });
  assert.equal((await within(10_000, newer.child.status)).code, 3);
  await newer.done;
  assert.match(newer.stderr(), /^ringdump: agent protocol: the client gave up: .*version 2/m);
  assert.doesNotMatch(newer.stderr(), /\n\s+at /, "no stack trace");
  // A client whose hello says version 2.
  const older = startAgent(image);
  const { reader } = await helloByHand(older.child.stdout, older.child.stdin, {
    version: 2,
    geometry: subGeometry,
  });
  const refusal = await within(30_000, reader.read());
  assert.equal(refusal?.kind, FrameKind.Error);
  assert.match(
    decodeErrorPayload(refusal!.payload).message,
    /the client speaks protocol version 2, this agent speaks 1/,
  );
  assert.equal(await reader.read(), null);
  assert.equal((await within(10_000, older.child.status)).code, 3);
  await older.done;
  assert.match(older.stderr(), /ringdump: agent protocol: the client speaks protocol version 2/);
});

Deno.test("subprocess agent: malformed input gets an error frame, a message and exit 3", async () => {
  const image = await staticImage("garbage");
  const agent = startAgent(image);
  const reader = new FrameReader(agent.child.stdout);
  const writer = agent.child.stdin.getWriter();
  assert.equal((await within(30_000, reader.read(), "hello"))?.kind, FrameKind.InfoMap);
  assert.equal((await reader.read())?.kind, FrameKind.List);
  await writer.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  const err = await within(5000, reader.read(), "error frame");
  assert.equal(err?.kind, FrameKind.Error);
  assert.match(
    decodeErrorPayload(err!.payload).message,
    /bad frame magic .*"GET \/ HTTP\/1.1\.\."/,
  );
  assert.equal(await reader.read(), null);
  assert.equal((await within(10_000, agent.child.status)).code, 3);
  await writer.close().catch(() => {});
  await agent.done;
  assert.match(agent.stderr(), /^ringdump: agent protocol: bad frame magic/m);
});

Deno.test("subprocess agent: a memory it cannot open is reported to the client; exit 3", async () => {
  const agent = startAgent(`${tmp}/does-not-exist.img`);
  await rejectsWith(connectTo(agent), (e) => {
    assert.ok(e instanceof BackendError && !(e instanceof ProtocolError), String(e));
    assert.match(e.message, /cannot open .*does-not-exist\.img: devmem: .*does not exist/);
  });
  assert.equal((await within(10_000, agent.child.status)).code, 3);
  await agent.done;
  assert.match(agent.stderr(), /^ringdump: cannot open .*does-not-exist/m);
});

Deno.test("ringdump agent: bad flags are usage errors (exit 2)", async () => {
  const agent = startAgent("/dev/null", ["--max-read", "0"]);
  await agent.child.stdin.close();
  assert.equal((await agent.child.status).code, 2);
  await agent.done;
  assert.match(agent.stderr(), /--max-read must be between 1 byte/);
});
