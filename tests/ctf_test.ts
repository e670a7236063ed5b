/**
 * The CTF reader (lib/trace/ctf/) on traces built here in LTTng's layout:
 * packetized metadata, compact and large event headers with 27-bit
 * timestamps that wrap, integers of odd sizes and both byte orders, enums,
 * variants, sequences, text arrays, floats, two streams, discarded events.
 * babeltrace2 (python3-bt2) reads the same bytes as the reference when it is
 * installed. Then fast-check fuzzes the metadata parser and the packet
 * reader: any input ends in a result or a TraceFormatError, never another
 * exception or a hang.
 */
import assert from "node:assert/strict";
import { pythonWithBt2 } from "../testing/tools.ts";
import fc from "fast-check";
import { parseTsdl, TsdlError } from "../lib/trace/ctf/tsdl.ts";
import { parseMetadata, TSDL_MAGIC } from "../lib/trace/ctf/metadata.ts";
import { readCtfTraces } from "../lib/trace/ctf/lttng.ts";
import { analyzeTrace, type TraceEvent, TraceFormatError } from "../lib/trace/mod.ts";
import { runTraceStats } from "../cli/trace.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-ctf-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

const UUID = "2a6422d0-6cee-11e0-8c08-cb07d7b3a564";
const OFFSET = 1796160288645579428n;

function tsdl(order: "le" | "be"): string {
  return `/* CTF 1.8 */

typealias integer { size = 8; align = 8; signed = false; } := uint8_t;
typealias integer { size = 16; align = 8; signed = false; } := uint16_t;
typealias integer { size = 32; align = 8; signed = false; } := uint32_t;
typealias integer { size = 64; align = 8; signed = false; } := uint64_t;
typealias integer { size = 64; align = 8; signed = false; } := unsigned long;
typealias integer { size = 16; align = 8; signed = true; } := int16_t;
typealias integer { size = 5; align = 1; signed = false; } := uint5_t;
typealias integer { size = 27; align = 1; signed = false; } := uint27_t;
typealias integer { size = 16; align = 8; signed = false; byte_order = ${
    order === "le" ? "be" : "le"
  }; } := uint16_other_t;
typealias floating_point { exp_dig = 11; mant_dig = 53; byte_order = native; align = 8; } := double;

trace {
	major = 1;
	minor = 8;
	uuid = "${UUID}";
	byte_order = ${order};
	packet.header := struct {
		uint32_t magic;
		uint8_t  uuid[16];
		uint32_t stream_id;
	};
};

env {
	domain = "ust";
	tracer_name = "lttng-ust";
	tracer_major = 2;
};

clock {
	name = "monotonic";
	uuid = "39605a35-b627-463c-b9f8-1e31a2c84082";
	description = "Monotonic Clock";
	freq = 1000000000; /* Frequency, in Hz */
	offset = ${OFFSET};
};

typealias integer { size = 27; align = 1; signed = false; map = clock.monotonic.value; } := uint27_clock_monotonic_t;
typealias integer { size = 32; align = 8; signed = false; map = clock.monotonic.value; } := uint32_clock_monotonic_t;
typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } := uint64_clock_monotonic_t;

struct packet_context {
	uint64_clock_monotonic_t timestamp_begin;
	uint64_clock_monotonic_t timestamp_end;
	uint64_t content_size;
	uint64_t packet_size;
	uint64_t packet_seq_num;
	unsigned long events_discarded;
	uint32_t cpu_id;
};

struct event_header_compact {
	enum : uint5_t { compact = 0 ... 30, extended = 31 } id;
	variant <id> {
		struct { uint27_clock_monotonic_t timestamp; } compact;
		struct { uint32_t id; uint64_clock_monotonic_t timestamp; } extended;
	} v;
} align(8);

struct event_header_large {
	enum : uint16_t { compact = 0 ... 65534, extended = 65535 } id;
	variant <id> {
		struct { uint32_clock_monotonic_t timestamp; } compact;
		struct { uint32_t id; uint64_clock_monotonic_t timestamp; } extended;
	} v;
} align(8);

stream {
	id = 0;
	event.header := struct event_header_compact;
	packet.context := struct packet_context;
};

stream {
	id = 1;
	event.header := struct event_header_large;
	packet.context := struct packet_context;
};

event {
	name = "libcamera:ipa_call_begin";
	id = 0;
	stream_id = 0;
	loglevel = 13;
	fields := struct {
		string _pipeline_name;
		string _function_name;
	};
};

event {
	name = "libcamera:ipa_call_end";
	id = 1;
	stream_id = 0;
	fields := struct {
		string _pipeline_name;
		string _function_name;
	};
};

event {
	name = "demo:rich";
	id = 33;
	stream_id = 0;
	fields := struct {
		integer { size = 3; align = 1; signed = true; } _small;
		integer { size = 13; align = 1; signed = false; } _odd;
		uint16_other_t _other;
		enum : uint8_t { red = 0, green = 1, blue = 2 ... 3 } _color;
		variant <_color> {
			uint32_t red;
			string green;
			struct { uint8_t a; int16_t b; } blue;
		} _v;
		uint8_t __len;
		int16_t _seq[ __len ];
		integer { size = 8; align = 8; signed = 0; encoding = UTF8; base = 10; } _name[6];
		double _ratio;
	};
};

event {
	name = "demo:big";
	id = 40;
	stream_id = 1;
	fields := struct { uint64_t _x; };
};
`;
}

/** Bits written one by one, packed into bytes in the trace's bit order. */
class BitWriter {
  bits: number[] = [];
  constructor(readonly order: "le" | "be") {}
  get pos(): number {
    return this.bits.length;
  }
  align(n: number): void {
    while (this.bits.length % n) this.bits.push(0);
  }
  uint(v: bigint | number, size: number, align = size % 8 === 0 ? 8 : 1): void {
    this.align(align);
    const x = BigInt.asUintN(size, BigInt(v));
    for (let i = 0; i < size; i++) {
      const bit = this.order === "le" ? i : size - 1 - i;
      this.bits.push(Number((x >> BigInt(bit)) & 1n));
    }
  }
  /** An aligned integer in the other byte order, written byte by byte. */
  other16(v: number): void {
    this.align(8);
    const [a, b] = this.order === "le" ? [v >> 8, v & 0xff] : [v & 0xff, v >> 8];
    this.uint(a, 8);
    this.uint(b, 8);
  }
  bytes(b: Uint8Array): void {
    this.align(8);
    for (const x of b) this.uint(x, 8);
  }
  string(s: string): void {
    this.bytes(new TextEncoder().encode(s + "\0"));
  }
  f64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, this.order === "le");
    this.bytes(b);
  }
  pack(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((bit, i) => {
      if (bit) out[i >> 3] |= this.order === "le" ? 1 << (i & 7) : 0x80 >> (i & 7);
    });
    return out;
  }
}

function uuidBytes(): Uint8Array {
  const hex = UUID.replace(/-/g, "");
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

interface Ev {
  name: string;
  cycles: number;
  fields: Record<string, unknown>;
}

/** One packet of `events` (id, cycles, payload writer) for a stream. */
function packet(
  order: "le" | "be",
  stream: 0 | 1,
  seq: number,
  discarded: number,
  events: { id: number; cycles: number; payload: (w: BitWriter) => void }[],
): Uint8Array {
  const w = new BitWriter(order);
  w.uint(0xc1fc1fc1, 32);
  w.bytes(uuidBytes());
  w.uint(stream, 32);
  const begin = events[0].cycles, end = events[events.length - 1].cycles;
  w.uint(begin, 64);
  w.uint(end, 64);
  const sizes = w.pos;
  w.uint(0, 64); // content_size, patched below
  w.uint(0, 64); // packet_size
  w.uint(seq, 64);
  w.uint(discarded, 64);
  w.uint(stream, 32);
  let last = begin;
  for (const e of events) {
    w.align(8);
    if (stream === 0) {
      const delta = e.cycles - last;
      if (e.id < 31 && delta < 2 ** 27) {
        w.uint(e.id, 5);
        w.uint(e.cycles % 2 ** 27, 27);
      } else {
        w.uint(31, 5);
        w.uint(e.id, 32);
        w.uint(e.cycles, 64);
      }
    } else {
      if (e.cycles - last < 2 ** 32) {
        w.uint(e.id, 16);
        w.uint(e.cycles % 2 ** 32, 32);
      } else {
        w.uint(65535, 16);
        w.uint(e.id, 32);
        w.uint(e.cycles, 64);
      }
    }
    last = e.cycles;
    e.payload(w);
  }
  const content = w.pos;
  w.align(8);
  while (w.pos % (256 * 8)) w.uint(0, 8); // padding, as LTTng's sub-buffers have
  const total = w.pos;
  const patch = new BitWriter(order);
  patch.uint(content, 64);
  patch.uint(total, 64);
  w.bits.splice(sizes, 128, ...patch.bits);
  return w.pack();
}

/** Metadata packets (LTTng's layout) around TSDL text, split in pieces of `piece` bytes. */
function packetize(text: string, order: "le" | "be", piece = 700, version = [1, 8]): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out: number[] = [];
  for (let off = 0; off < bytes.length; off += piece) {
    const chunk = bytes.subarray(off, off + piece);
    const w = new BitWriter(order);
    const content = (37 + chunk.length) * 8;
    const size = content + 64; // some padding
    w.uint(TSDL_MAGIC, 32);
    w.bytes(uuidBytes());
    w.uint(0, 32);
    w.uint(content, 32);
    w.uint(size, 32);
    for (const x of [0, 0, 0, version[0], version[1]]) w.uint(x, 8);
    w.bytes(chunk);
    w.bytes(new Uint8Array(8));
    out.push(...w.pack());
  }
  return new Uint8Array(out);
}

/** The trace: stream 0 (compact headers, wrapping, IPA calls and rich events) and stream 1. */
function buildTrace(order: "le" | "be") {
  const expected: Ev[] = [];
  const s0: { id: number; cycles: number; payload: (w: BitWriter) => void }[][] = [[], []];
  let t = 5_000_000_000;
  // IPA pairs with gaps that cross 2^27 boundaries (compact timestamps wrap)
  for (let i = 0; i < 40; i++) {
    const fn = i % 3 === 0 ? "configure" : "processStats";
    for (
      const [id, name] of [[0, "libcamera:ipa_call_begin"], [1, "libcamera:ipa_call_end"]] as const
    ) {
      t += id === 0 ? 30_000_000 + i * 1_234_567 : 1000 + i * 17;
      const fields = { pipeline_name: i % 2 ? "rkisp1" : "ipu3", function_name: fn };
      const cycles = t;
      s0[i < 20 ? 0 : 1].push({
        id,
        cycles,
        payload: (w) => {
          w.string(fields.pipeline_name);
          w.string(fields.function_name);
        },
      });
      expected.push({ name, cycles, fields });
    }
    if (i % 5 === 0) {
      t += 2 ** 27 + 99; // too far for a compact header: extended
      const color = i % 4;
      const seq = Array.from({ length: i % 4 }, (_, k) => (k * 1000 - 1500) | 0);
      const fields: Record<string, unknown> = {
        small: (i % 8) - 4,
        odd: (i * 321) % 8192,
        other: 0xbeef - i,
        color,
        v: color === 0 ? 0xdead0000 + i : color === 1 ? `green ${i}` : { a: i, b: -i },
        _len: seq.length,
        seq,
        name: "héllo".slice(0, 1 + (i % 5)),
        ratio: i / 7,
      };
      const cycles = t;
      s0[i < 20 ? 0 : 1].push({
        id: 33,
        cycles,
        payload: (w) => {
          w.uint(fields.small as number, 3, 1);
          w.uint(fields.odd as number, 13, 1);
          w.other16(fields.other as number);
          w.uint(color, 8);
          if (color === 0) w.uint(fields.v as number, 32);
          else if (color === 1) w.string(fields.v as string);
          else {
            w.uint(i, 8);
            w.uint(-i, 16);
          }
          w.uint(seq.length, 8);
          for (const x of seq) w.uint(x, 16);
          const name = new TextEncoder().encode(fields.name as string);
          const fixed = new Uint8Array(6);
          fixed.set(name.subarray(0, 6));
          w.bytes(fixed);
          w.f64(fields.ratio as number);
        },
      });
      expected.push({ name: "demo:rich", cycles, fields });
    }
  }
  const s1: { id: number; cycles: number; payload: (w: BitWriter) => void }[] = [];
  for (let k = 0; k < 10; k++) {
    const cycles = 5_000_000_000 + k * 700_000_000 + 3; // 32-bit large timestamps wrap too
    const x = 2 ** 40 + k;
    s1.push({ id: 40, cycles, payload: (w) => w.uint(x, 64) });
    expected.push({ name: "demo:big", cycles, fields: { x } });
  }
  expected.sort((a, b) => a.cycles - b.cycles);
  const stream0 = new Uint8Array([
    ...packet(order, 0, 0, 0, s0[0]),
    ...packet(order, 0, 1, 5, s0[1]),
  ]);
  const stream1 = packet(order, 1, 0, 0, s1);
  return { expected, stream0, stream1 };
}

async function writeTrace(
  dir: string,
  order: "le" | "be",
  options: { packetized?: boolean } = {},
): Promise<Ev[]> {
  const { expected, stream0, stream1 } = buildTrace(order);
  await Deno.mkdir(dir, { recursive: true });
  const text = tsdl(order);
  await Deno.writeFile(
    `${dir}/metadata`,
    options.packetized ? packetize(text, order) : new TextEncoder().encode(text),
  );
  await Deno.writeFile(`${dir}/channel0_0`, stream0);
  await Deno.writeFile(`${dir}/channel1_0`, stream1);
  return expected;
}

function readAll(path: string): { events: TraceEvent[]; discarded: number } {
  const events: TraceEvent[] = [];
  const summary = readCtfTraces(path, (e) => events.push(e));
  return { events, discarded: summary.discarded };
}

/** Our events as Ev (cycles: the trace has one clock, so ns = cycles). */
function asEv(events: TraceEvent[]): Ev[] {
  return events.map((e) => ({
    name: e.name,
    cycles: e.timestamp,
    fields: Object.fromEntries(
      Object.entries(e.fields).map((
        [k, v],
      ) => [k, typeof v === "string" && /^[[{]/.test(v) ? JSON.parse(v) : v]),
    ),
  }));
}

const python = await pythonWithBt2();
const CI = !!Deno.env.get("CI");

for (const order of ["le", "be"] as const) {
  for (const packetized of [false, true]) {
    Deno.test(`CTF reader: a ${order.toUpperCase()} trace, ${packetized ? "packetized" : "text"} metadata, two streams, wrapping timestamps`, async () => {
      const dir = `${tmp}/${order}-${packetized}`;
      const expected = await writeTrace(dir, order, { packetized });
      const { events, discarded } = readAll(dir);
      assert.deepEqual(asEv(events), expected);
      assert.equal(discarded, 5);
    });
  }
}

Deno.test({
  name: `CTF reader: babeltrace2 decodes the built traces to the same events${
    python || CI ? "" : " (ignored: python3-bt2 is missing; apt-get install python3-bt2)"
  }`,
  ignore: !python && !CI,
  async fn() {
    assert.ok(python, "python3-bt2 is missing (apt-get install python3-bt2)");
    for (const order of ["le", "be"] as const) {
      const dir = `${tmp}/bt2-${order}`;
      const expected = await writeTrace(dir, order, { packetized: true });
      const r = await new Deno.Command(python, {
        args: [new URL("./ctf_dump_bt2.py", import.meta.url).pathname, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const theirs = JSON.parse(new TextDecoder().decode(r.stdout)) as Ev[];
      assert.deepEqual(theirs, expected, `babeltrace2 on the ${order} trace`);
    }
  },
});

Deno.test("CTF reader: stats of the IPA calls, discarded events warned of, --pipeline", async () => {
  const dir = `${tmp}/stats`;
  const expected = await writeTrace(dir, "le", { packetized: true });
  const a = await analyzeTrace(dir);
  assert.equal(a.rule.begin, "libcamera:ipa_call_begin");
  assert.equal(a.events, expected.length);
  assert.equal(a.discarded, 5);
  const begins = expected.filter((e) => e.name.endsWith("begin"));
  const ends = expected.filter((e) => e.name.endsWith("end"));
  const byKey = new Map<string, number[]>();
  begins.forEach((b, i) => {
    const key = `${b.fields.pipeline_name}:${b.fields.function_name}`;
    byKey.set(key, [...(byKey.get(key) ?? []), ends[i].cycles - b.cycles]);
  });
  for (const c of a.stats.calls) {
    const d = byKey.get(c.key)!;
    assert.equal(c.count, d.length);
    assert.equal(c.min, Math.min(...d));
    assert.equal(c.max, Math.max(...d));
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    const sample = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1));
    assert.ok(Math.abs(c.mean - mean) <= 0.5 && Math.abs(c.stddev - sample) <= 0.5, c.key);
  }
  const { warning, output } = await runTraceStats(dir, { pipeline: "ipu3" });
  assert.match(warning ?? "", /discarded 5 events .*lossy/);
  assert.ok(output.split("\n").slice(1).every((l) => l.startsWith("ipu3:")), output);
  const none = await runTraceStats(dir, { pipeline: "nope" });
  assert.match(none.warning ?? "", /no calls of pipeline 'nope'; the trace has: ipu3, rkisp1/);
  await assert.rejects(() => analyzeTrace(dir, { backend: "sim" }), /libcamera IPA calls/);
});

Deno.test("CTF reader: bad input is a TraceFormatError naming file and byte offset", async () => {
  const dir = `${tmp}/bad`;
  await writeTrace(dir, "le", { packetized: true });
  const meta = await Deno.readFile(`${dir}/metadata`);
  const stream = await Deno.readFile(`${dir}/channel0_0`);
  const expectError = (re: RegExp) => {
    assert.throws(() => readAll(dir), (e: unknown) => {
      assert.ok(e instanceof TraceFormatError, String(e));
      assert.match(e.message, re);
      assert.equal(e.exitCode, 2);
      return true;
    });
  };
  // unknown version, in a metadata packet
  await Deno.writeFile(`${dir}/metadata`, packetize(tsdl("le"), "le", 700, [2, 0]));
  expectError(/metadata: byte 0: unknown CTF version 2\.0/);
  // metadata cut mid-packet
  await Deno.writeFile(`${dir}/metadata`, meta.subarray(0, meta.length - 30));
  expectError(/metadata: byte \d+: the metadata is truncated/);
  // TSDL that does not parse: the offset is the file's
  await Deno.writeFile(
    `${dir}/metadata`,
    new TextEncoder().encode(tsdl("le").replace("size = 27;", "size = ;")),
  );
  expectError(/metadata: byte \d+: bad metadata: expected a value \(at ';'\)/);
  await Deno.writeFile(`${dir}/metadata`, meta);
  // stream cut mid-packet, and a bad magic
  await Deno.writeFile(`${dir}/channel0_0`, stream.subarray(0, stream.length - 700));
  expectError(/channel0_0: byte \d+: the stream is truncated/);
  const bad = stream.slice();
  bad[0] ^= 0xff;
  await Deno.writeFile(`${dir}/channel0_0`, bad);
  expectError(/channel0_0: byte 0: packet 0: bad magic/);
  await Deno.writeFile(`${dir}/channel0_0`, stream);
  assert.equal(readAll(dir).events.length > 0, true);
  // no trace at all
  const empty = await Deno.makeTempDir({ dir: tmp });
  assert.throws(() => readAll(empty), /no 'metadata' file\), and no CTF trace below it/);
});

/** Only TraceFormatError (or success) may come out. */
function onlyFormatErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TraceFormatError)) throw e;
  }
}

Deno.test("fuzz: the TSDL parser ends in metadata or a TsdlError, whatever the text", () => {
  const text = tsdl("le");
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      try {
        parseTsdl(s);
      } catch (e) {
        if (!(e instanceof TsdlError)) throw e;
      }
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(text.length), fc.nat(40), fc.string({ maxLength: 4 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (edits) => {
        let t = text;
        for (const [at, del, ins] of edits) t = t.slice(0, at) + ins + t.slice(at + del);
        onlyFormatErrors(() => parseMetadata(new TextEncoder().encode(t), "metadata"));
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("fuzz: the packet reader ends in events or a TraceFormatError on corrupt streams", async () => {
  const dir = `${tmp}/fuzz`;
  await writeTrace(dir, "le", { packetized: true });
  const stream = await Deno.readFile(`${dir}/channel0_0`);
  const meta = await Deno.readFile(`${dir}/metadata`);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(stream.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.nat(stream.length),
      (flips, cut) => {
        const s = stream.slice(0, Math.max(cut, stream.length - 2000));
        for (const [at, v] of flips) if (at < s.length) s[at] = v;
        Deno.writeFileSync(`${dir}/channel0_0`, s);
        onlyFormatErrors(() => readAll(dir));
      },
    ),
    { numRuns: 300 },
  );
  Deno.writeFileSync(`${dir}/channel0_0`, stream);
  fc.assert(
    fc.property(
      fc.nat(meta.length),
      fc.array(fc.tuple(fc.nat(meta.length - 1), fc.nat(255)), { maxLength: 4 }),
      (cut, flips) => {
        const m = meta.slice(0, cut);
        for (const [at, v] of flips) if (at < m.length) m[at] = v;
        Deno.writeFileSync(`${dir}/metadata`, m);
        onlyFormatErrors(() => readAll(dir));
      },
    ),
    { numRuns: 200 },
  );
});
