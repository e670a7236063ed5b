/**
 * lib/controls/ against libcamera's own ControlSerializer (Debian's
 * libcamera.so.0.0.3), both ways, with the C++ program
 * tests/c/libcamera_serializer.cpp compiled and linked at test time:
 *
 * - libcamera builds maps and lists (controls:: and properties:: ids of every
 *   type, custom ids, empty maps, the worker role, handle-0 lists) and
 *   serializes them; ringdump reads the same values and re-serializes the
 *   very same bytes (libcamera's uninitialized reserved/padding bytes aside);
 * - ringdump builds the same content (and the agent's hello map and list)
 *   and libcamera reads back the same values, without aborting;
 * - deliberately wrong packets are refused by both, never a crash; where
 *   libcamera is lax (a value of another type) or dies (a map whose min is
 *   unset) the difference is shown.
 *
 * Needs g++ (or $CXX) and libcamera-dev (pkg-config libcamera). Without them
 * the test is skipped with the reason, except under CI, where it fails.
 */
import assert from "node:assert/strict";
import {
  boolValue,
  byteValue,
  ControlId,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlType,
  ControlTypeError,
  type ControlValue,
  floatValue,
  int32Value,
  int64Value,
  InvalidControlInfoError,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  LIBCAMERA_CONTROLS,
  LIBCAMERA_PROPERTIES,
  MalformedControlsError,
  rectangleValue,
  sizeValue,
  stringValue,
  UnknownHandleError,
} from "../lib/controls/mod.ts";
import { agentHelloList, agentInfoMap } from "../lib/agent/protocol.ts";
import { ignoreUnless, requireTools } from "../testing/sshd.ts";

const SOURCE = decodeURIComponent(
  new URL("./c/libcamera_serializer.cpp", import.meta.url).pathname,
);
const H = IPA_CONTROLS_HEADER_LAYOUT.offsets;
const V = IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets;
const HSIZE = IPA_CONTROLS_HEADER_LAYOUT.size;
const ESIZE = IPA_CONTROL_VALUE_ENTRY_LAYOUT.size;

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; signal: Deno.Signal | null; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Why libcamera's serializer cannot be built here, or undefined. */
async function libcameraMissing(): Promise<string | undefined> {
  const cxx = Deno.env.get("CXX") ?? "g++";
  for (const [tool, args] of [[cxx, ["--version"]], ["pkg-config", ["--version"]]] as const) {
    try {
      if ((await run(tool, [...args])).code !== 0) return `${tool} does not run`;
    } catch {
      return `${tool} is missing (apt-get install g++ pkg-config)`;
    }
  }
  const pc = await run("pkg-config", ["--exists", "libcamera"]);
  if (pc.code !== 0) return "pkg-config finds no libcamera (apt-get install libcamera-dev)";
  return undefined;
}

const missing = await libcameraMissing();

// ---------------------------------------------------------------------------
// The text both sides print (see tests/c/libcamera_serializer.cpp).
// ---------------------------------------------------------------------------

const utf8 = new TextEncoder();

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

function valueText(v: ControlValue): string {
  const count = v.type === ControlType.None
    ? 0
    : v.type === ControlType.String
    ? utf8.encode(v.values[0]).length
    : v.values.length;
  const head = `${v.type}:${v.isArray ? 1 : 0}:${count}:`;
  if (count === 0) return head + "-";
  switch (v.type) {
    case ControlType.Bool:
      return head + v.values.map((b) => (b ? 1 : 0)).join(",");
    case ControlType.String:
      return head + [...utf8.encode(v.values[0])].map((b) => hex(b, 2)).join("");
    case ControlType.Float:
      return head + v.values.map((f) => {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setFloat32(0, f, true);
        return hex(dv.getUint32(0, true), 8);
      }).join(",");
    case ControlType.Rectangle:
      return head + v.values.map((r) => `${r.x}/${r.y}/${r.width}/${r.height}`).join(",");
    case ControlType.Size:
      return head + v.values.map((s) => `${s.width}/${s.height}`).join(",");
    default:
      return head + (v.values as readonly (number | bigint)[]).map(String).join(",");
  }
}

function describeMap(map: ControlInfoMap): string {
  const lines = [...map].sort(([a], [b]) => a.id - b.id).map(([cid, info]) =>
    `ctrl ${cid.id} ${cid.type} min=${valueText(info.min)} max=${valueText(info.max)} def=${
      valueText(info.def)
    }`
  );
  return [`map idmap=${map.idMapType} entries=${map.size}`, ...lines].join("\n") + "\n";
}

function describeList(list: ControlList): string {
  const lines = [...list].sort(([a], [b]) => a - b).map(([id, v]) => `value ${id} ${valueText(v)}`);
  return [`list idmap=${list.idMapType} entries=${list.size}`, ...lines].join("\n") + "\n";
}

interface Case {
  name: string;
  kind: "map" | "list";
  role: "proxy" | "worker";
  text: string;
}

function parseCases(out: string): Case[] {
  const cases: Case[] = [];
  const re = /^case (\S+) (map|list) (proxy|worker)\n([\s\S]*?)^end\n/gm;
  for (const m of out.matchAll(re)) {
    cases.push({
      name: m[1],
      kind: m[2] as Case["kind"],
      role: m[3] as Case["role"],
      text: m[4],
    });
  }
  return cases;
}

type Verdict = { ok: true; text: string } | { ok: false; error: string };

function parseVerdicts(out: string): Verdict[] {
  const verdicts: Verdict[] = [];
  const re = /^packet (\d+) (?:ok\n([\s\S]*?)^end|refused (.*))$/gm;
  for (const m of out.matchAll(re)) {
    assert.equal(Number(m[1]), verdicts.length, `packet numbers in order:\n${out}`);
    verdicts.push(m[3] === undefined ? { ok: true, text: m[2] } : { ok: false, error: m[3] });
  }
  return verdicts;
}

/**
 * `a` and `b` are the same packet, libcamera's uninitialized bytes aside:
 * `header.reserved` and each entry's `padding`.
 */
function assertSamePacket(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: size`);
  const mask = (bytes: Uint8Array): Uint8Array => {
    const copy = bytes.slice();
    copy.fill(0, H.reserved, HSIZE);
    const entries = new DataView(copy.buffer).getUint32(H.entries, true);
    for (let i = 0; i < entries; i++) {
      const at = HSIZE + i * ESIZE + IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets.padding;
      copy.fill(0, at, at + 4);
    }
    return copy;
  };
  assert.deepEqual(mask(actual), mask(expected), `${what}: bytes`);
}

function serialized(s: ControlSerializer, x: ControlInfoMap | ControlList): Uint8Array {
  const buf = new Uint8Array(s.binarySize(x));
  assert.equal(s.serialize(x, buf), buf.length);
  return buf;
}

// ---------------------------------------------------------------------------
// The content of the C++ program's cases, built by ringdump.
// ---------------------------------------------------------------------------

const T = ControlType;
const rect = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });
const size = (width: number, height: number) => ({ width, height });
const info = (min: ControlValue, max?: ControlValue, def?: ControlValue) =>
  new ControlInfo(min, max, { def });

const custom = {
  brightness: new ControlId(0x00980900, "Brightness", { type: T.Integer32, isArray: false }),
  enable: new ControlId(0x00980901, "Enable", { type: T.Bool, isArray: false }),
  pattern: new ControlId(0x00980902, "Pattern", { type: T.Byte, isArray: false }),
  exposure: new ControlId(0x00980903, "Exposure", { type: T.Integer64, isArray: false }),
  gain: new ControlId(0x00980904, "Gain", { type: T.Float, isArray: false }),
  model: new ControlId(0x00980905, "Model", { type: T.String }),
  crop: new ControlId(0x00980906, "Crop", { type: T.Rectangle, isArray: false }),
  output: new ControlId(0x00980907, "Output", { type: T.Size, isArray: false }),
  lut: new ControlId(0x00980908, "Lut", { type: T.Integer32, isArray: true }),
  bytes: new ControlId(0x00980909, "Bytes", { type: T.Byte, isArray: true }),
  sizes: new ControlId(0x0098090a, "Sizes", { type: T.Size, isArray: true }),
};

function customMap(): ControlInfoMap {
  const c = custom;
  return new ControlInfoMap([
    [c.brightness, info(int32Value(-64), int32Value(64), int32Value(0))],
    [c.enable, info(boolValue(false), boolValue(true), boolValue(true))],
    [c.pattern, info(byteValue(0), byteValue(255), byteValue(7))],
    [c.exposure, info(int64Value(-1), int64Value(1n << 40n), int64Value(1000))],
    [c.gain, info(floatValue(-8), floatValue(8), floatValue(0.1))],
    [c.model, info(int32Value(0), int32Value(64))],
    [c.crop, info(rectangleValue(rect(-1, 0, 1, 2)), rectangleValue(rect(0, 0, 4096, 3072)))],
    [
      c.output,
      info(sizeValue(size(1, 1)), sizeValue(size(4096, 3072)), sizeValue(size(1920, 1080))),
    ],
    [c.lut, info(int32Value(0), int32Value(1023))],
    [c.bytes, info(byteValue(0))],
    [c.sizes, info(sizeValue(size(0, 0)))],
  ]);
}

function customList(map: ControlInfoMap): ControlList {
  const c = custom;
  return new ControlList(map)
    .set(c.brightness, int32Value(-123456))
    .set(c.enable, boolValue(true))
    .set(c.pattern, byteValue(200))
    .set(c.exposure, int64Value(-(1n << 40n) - 5n))
    .set(c.gain, floatValue(1.5))
    .set(c.model, stringValue("häuser ✓"))
    .set(c.crop, rectangleValue(rect(-(2 ** 31), 5, 2 ** 32 - 1, 0)))
    .set(c.output, sizeValue(size(1920, 1080)))
    .set(c.lut, int32Value([1, -2, 3, 2 ** 31 - 1]))
    .set(c.bytes, byteValue([0, 127, 255, 9, 8]))
    .set(c.sizes, sizeValue([size(1920, 1080), size(1280, 720)]));
}

const ctl = (id: number): ControlId => LIBCAMERA_CONTROLS.get(id)!;
const prop = (id: number): ControlId => LIBCAMERA_PROPERTIES.get(id)!;

function controlsMap(): ControlInfoMap {
  return new ControlInfoMap([
    [ctl(1), info(boolValue(false), boolValue(true), boolValue(true))], // AeEnable
    [ctl(7), info(int32Value(100), int32Value(66666), int32Value(10000))], // ExposureTime
    [ctl(24), info(int64Value(33333), int64Value(1n << 40n))], // FrameDuration
    [ctl(9), info(floatValue(-1), floatValue(1), floatValue(0))], // Brightness
    [
      ctl(22), // ScalerCrop
      info(rectangleValue(rect(0, 0, 640, 480)), rectangleValue(rect(-8, -4, 4056, 3040))),
    ],
    [ctl(15), info(floatValue(0), floatValue(32))], // ColourGains (float[2])
    [ctl(18), info(int32Value(0), int32Value(65535))], // SensorBlackLevels (int32[4])
    [ctl(25), info(int64Value(1000), int64Value(1e9), int64Value(33333))], // FrameDurationLimits
    [
      ctl(32), // AfWindows (Rectangle[])
      info(rectangleValue(rect(0, 0, 0, 0)), rectangleValue(rect(0, 0, 4056, 3040))),
    ],
    [ctl(28), info(int32Value(0), int32Value(2), int32Value(0))], // AfMode
    [ctl(41), info(int32Value(0), int32Value(5))], // draft::AeState
  ], { idMapType: IpaControlIdMapType.Controls });
}

function controlsList(map: ControlInfoMap): ControlList {
  return new ControlList(map)
    .set(1, boolValue(true))
    .set(7, int32Value(20000))
    .set(24, int64Value(1n << 35n))
    .set(9, floatValue(0.25))
    .set(22, rectangleValue(rect(16, 8, 1920, 1080)))
    .set(15, floatValue([1.5, 2.25]))
    .set(18, int32Value([4096, 4097, 4098, 4099]))
    .set(25, int64Value([33333, 66666]))
    .set(32, rectangleValue([rect(1, 2, 3, 4), rect(5, 6, 7, 8)]))
    .set(28, int32Value(2))
    .set(41, int32Value(2));
}

function propertiesMap(): ControlInfoMap {
  return new ControlInfoMap([
    [prop(1), info(int32Value(0), int32Value(2), int32Value(1))], // Location
    [prop(3), info(int32Value(0), int32Value(32))], // Model: a length range
    [prop(4), info(sizeValue(size(1120, 1120)))], // UnitCellSize
    [
      prop(7), // PixelArrayActiveAreas
      info(rectangleValue(rect(0, 0, 1, 1)), rectangleValue(rect(0, 0, 4056, 3040))),
    ],
    [prop(9), info(floatValue(0.5), floatValue(4), floatValue(1))], // SensorSensitivity
  ], { idMapType: IpaControlIdMapType.Properties });
}

function globalControls(): ControlList {
  return new ControlList(LIBCAMERA_CONTROLS)
    .set(8, floatValue(2)) // AnalogueGain
    .set(7, int32Value(33000))
    .set(1, boolValue(false))
    .set(27, int64Value(1234567890123456789n)) // SensorTimestamp
    .set(15, floatValue([1.25, -0.5]))
    .set(21, floatValue([1, 0, 0, 0, 1, 0, 0, 0, 1])) // ColourCorrectionMatrix
    .set(32, rectangleValue([rect(10, 20, 30, 40)]))
    .set(22, rectangleValue(rect(0, 0, 4056, 3040)))
    .set(46, int32Value(3)); // draft::PipelineDepth
}

function globalProperties(): ControlList {
  return new ControlList(LIBCAMERA_PROPERTIES)
    .set(3, stringValue("imx477"))
    .set(2, int32Value(180))
    .set(1, int32Value(2))
    .set(5, sizeValue(size(4056, 3040)))
    .set(4, sizeValue(size(1550, 1550)))
    .set(7, rectangleValue([rect(8, 16, 4056, 3040), rect(0, 0, 2, 2)]))
    .set(8, rectangleValue(rect(0, 0, 4056, 3040)))
    .set(9, floatValue(1.5))
    .set(10, int32Value(3)); // draft::ColorFilterArrangement
}

/** The C++ cases, in the order the program serializes them (handles follow). */
function ringdumpCases(): {
  name: string;
  role: "proxy" | "worker";
  x: ControlInfoMap | ControlList;
}[] {
  const cmap = controlsMap();
  const pmap = propertiesMap();
  const xmap = customMap();
  const wmap = customMap();
  return [
    { name: "map_controls", role: "proxy", x: cmap },
    { name: "map_properties", role: "proxy", x: pmap },
    { name: "map_custom", role: "proxy", x: xmap },
    { name: "map_empty", role: "proxy", x: new ControlInfoMap([]) },
    {
      name: "map_empty_controls",
      role: "proxy",
      x: new ControlInfoMap([], { idMapType: IpaControlIdMapType.Controls }),
    },
    { name: "list_controls", role: "proxy", x: controlsList(cmap) },
    {
      name: "list_properties_map",
      role: "proxy",
      x: new ControlList(pmap).set(3, stringValue("ov5647")).set(4, sizeValue(size(1400, 1400))),
    },
    { name: "list_custom", role: "proxy", x: customList(xmap) },
    { name: "list_empty", role: "proxy", x: new ControlList(xmap) },
    { name: "list_global_controls", role: "proxy", x: globalControls() },
    { name: "list_global_properties", role: "proxy", x: globalProperties() },
    { name: "list_global_empty", role: "proxy", x: new ControlList(LIBCAMERA_CONTROLS) },
    { name: "worker_map_custom", role: "worker", x: wmap },
    { name: "worker_list_custom", role: "worker", x: customList(wmap) },
  ];
}

/** The agent's hello map and hello list, as lib/agent/server.ts sends them. */
function agentHello(): { map: ControlInfoMap; list: ControlList } {
  const map = agentInfoMap({ pageSize: 4096, maxRead: 1 << 20 });
  const list = agentHelloList(map, {
    protocolVersion: 1,
    pageSize: 4096,
    maxRead: 1 << 20,
    memory: "/dev/mem",
    origin: 0xffff_ffff_3f00_0000n, // an origin above 2^63: a negative int64 on the wire
  });
  return { map, list };
}

// ---------------------------------------------------------------------------

Deno.test({
  name: "controls vs libcamera 0.0.3's own ControlSerializer, both ways",
  ignore: ignoreUnless(missing),
  async fn(t) {
    requireTools(missing);
    const dir = await Deno.makeTempDir({ prefix: "ringdump_libcamera_serializer_" });
    try {
      const bin = `${dir}/libcamera_serializer`;
      const flags = (await run("pkg-config", ["--cflags", "--libs", "libcamera"])).stdout;
      const built = await run(Deno.env.get("CXX") ?? "g++", [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
        bin,
        SOURCE,
        ...flags.trim().split(/\s+/),
      ]);
      assert.equal(built.code, 0, `compiling ${SOURCE} failed:\n${built.stderr}`);

      const lcDir = `${dir}/libcamera`;
      await Deno.mkdir(lcDir);
      const written = await run(bin, ["write", lcDir]);
      assert.equal(written.code, 0, `libcamera_serializer write failed:\n${written.stderr}`);
      const cases = parseCases(written.stdout);
      assert.equal(cases.length, 14, written.stdout);

      /** libcamera reads packets in order with one serializer; never a crash. */
      const libcameraReads = async (role: string, packets: [string, Uint8Array][]) => {
        const args = [];
        for (const [i, [kind, bytes]] of packets.entries()) {
          const path = `${dir}/${role}_${i}_${crypto.randomUUID()}.bin`;
          await Deno.writeFile(path, bytes);
          args.push(`${kind}:${path}`);
        }
        const r = await run(bin, ["read", role, ...args]);
        assert.equal(r.signal, null, `libcamera crashed (${r.signal}):\n${r.stderr}`);
        assert.equal(r.code, 0, `libcamera_serializer read failed:\n${r.stderr}`);
        const verdicts = parseVerdicts(r.stdout);
        assert.equal(verdicts.length, packets.length, r.stdout);
        return verdicts;
      };

      await t.step("libcamera writes, ringdump reads the same values and bytes", async () => {
        const serializers = {
          proxy: new ControlSerializer({ role: "proxy" }),
          worker: new ControlSerializer({ role: "worker" }),
        };
        for (const c of cases) {
          const bytes = await Deno.readFile(`${lcDir}/${c.name}.bin`);
          const s = serializers[c.role];
          const x = c.kind === "map" ? s.deserializeInfoMap(bytes) : s.deserializeList(bytes);
          const text = x instanceof ControlInfoMap ? describeMap(x) : describeList(x);
          assert.equal(text, c.text, `${c.name}: ringdump reads what libcamera wrote`);
          assertSamePacket(serialized(s, x), bytes, `${c.name}: ringdump re-serializes`);
        }
      });

      await t.step("ringdump writes the same content, libcamera reads it back", async () => {
        const mine = ringdumpCases();
        assert.deepEqual(mine.map((m) => m.name), cases.map((c) => c.name));
        for (const role of ["proxy", "worker"] as const) {
          const s = new ControlSerializer({ role });
          const subset = mine.filter((m) => m.role === role);
          const packets = subset.map((m): [string, Uint8Array] => [
            m.x instanceof ControlInfoMap ? "map" : "list",
            serialized(s, m.x),
          ]);
          const verdicts = await libcameraReads(role, packets);
          for (const [i, m] of subset.entries()) {
            const v = verdicts[i];
            assert.ok(v.ok, `${m.name}: libcamera refused ringdump's packet: ${!v.ok && v.error}`);
            const text = m.x instanceof ControlInfoMap ? describeMap(m.x) : describeList(m.x);
            assert.equal(v.text, text, `${m.name}: libcamera reads what ringdump wrote`);
            assert.equal(
              text,
              cases.find((c) => c.name === m.name)!.text,
              `${m.name}: same content`,
            );
          }
        }
      });

      await t.step("the agent's hello map and list are valid for libcamera", async () => {
        const { map, list } = agentHello();
        const s = new ControlSerializer({ role: "proxy" });
        const verdicts = await libcameraReads("worker", [
          ["map", serialized(s, map)],
          ["list", serialized(s, list)],
        ]);
        assert.deepEqual(verdicts, [
          { ok: true, text: describeMap(map) },
          { ok: true, text: describeList(list) },
        ]);
      });

      await t.step("wrong packets are refused by both, with an error", async () => {
        const s = new ControlSerializer();
        const map = customMap();
        const mapBytes = serialized(s, map);
        const listBytes = serialized(s, customList(map));
        const patch = (bytes: Uint8Array, f: (v: DataView) => void) => {
          const copy = bytes.slice();
          f(new DataView(copy.buffer));
          return copy;
        };
        const withHandle = (bytes: Uint8Array, handle: number) =>
          patch(bytes, (v) => v.setUint32(H.handle, handle, true));
        const bad: { what: string; kind: "map" | "list"; bytes: Uint8Array; ringdump: RegExp }[] = [
          {
            what: "truncated list",
            kind: "list",
            bytes: listBytes.slice(0, listBytes.length - 3),
            ringdump: /header claims \d+ bytes, the buffer holds/,
          },
          {
            what: "list entry offset off by one",
            kind: "list",
            bytes: patch(listBytes, (v) => {
              const at = HSIZE + ESIZE + V.offset;
              v.setUint32(at, v.getUint32(at, true) + 1, true);
            }),
            ringdump: /entry 1: data offset 9, but the previous data ends at 8/,
          },
          {
            what: "list value running past the packet",
            kind: "list",
            bytes: patch(listBytes, (v) => {
              v.setUint8(HSIZE + V.is_array, 1);
              v.setUint16(HSIZE + V.count, 1000, true);
            }),
            ringdump: /entry 0: 1000 Integer32 elements \(4000 bytes\) run past the packet/,
          },
          {
            what: "list of an unknown map",
            kind: "list",
            bytes: withHandle(listBytes, 99),
            ringdump: /unknown ControlInfoMap handle 99/,
          },
          {
            what: "map of format version 2",
            kind: "map",
            bytes: patch(withHandle(mapBytes, 101), (v) => v.setUint32(H.version, 2, true)),
            ringdump: /unsupported format version 2/,
          },
          {
            what: "map of an unknown id map type",
            kind: "map",
            bytes: patch(withHandle(mapBytes, 103), (v) => v.setUint32(H.id_map_type, 7, true)),
            ringdump: /unknown id map type 7/,
          },
        ];
        const verdicts = await libcameraReads("worker", [
          ["map", mapBytes],
          ...bad.map((b): [string, Uint8Array] => [b.kind, b.bytes]),
        ]);
        assert.ok(verdicts[0].ok, "the good map first");
        for (const [i, b] of bad.entries()) {
          const v = verdicts[i + 1];
          assert.ok(!v.ok, `${b.what}: libcamera accepted it`);
          assert.match(v.error, /ERROR (Serializer|Serialization)/, b.what);
          const reader = new ControlSerializer({ role: "worker" });
          reader.deserializeInfoMap(mapBytes);
          assert.throws(
            () =>
              b.kind === "map"
                ? reader.deserializeInfoMap(b.bytes)
                : reader.deserializeList(b.bytes),
            (e: unknown) =>
              (e instanceof MalformedControlsError || e instanceof UnknownHandleError) &&
              b.ringdump.test(e.message),
            b.what,
          );
        }
      });

      await t.step("where libcamera is lax or dies, ringdump refuses and says what", async () => {
        // A handle-0 list with an Integer64 for ExposureTime (Integer32): libcamera takes it.
        const list = new ControlList(LIBCAMERA_CONTROLS).set(24, int64Value(5)); // FrameDuration
        const bytes = serialized(new ControlSerializer(), list);
        bytes[HSIZE + V.id] = 7; // ExposureTime
        const [lax] = await libcameraReads("worker", [["list", bytes]]);
        assert.deepEqual(lax, { ok: true, text: "list idmap=0 entries=1\nvalue 7 4:0:1:5\n" });
        assert.throws(
          () => new ControlSerializer().deserializeList(bytes),
          (e: unknown) =>
            e instanceof ControlTypeError && /expected Integer32, got Integer64/.test(e.message),
        );

        // A map whose min is unset: libcamera aborts; ringdump refuses to build or read it.
        const gain = new ControlId(0x00980904, "Gain", { type: T.Float });
        assert.throws(
          () => new ControlInfoMap([[gain, new ControlInfo(undefined, floatValue(8))]]),
          (e: unknown) =>
            e instanceof InvalidControlInfoError && e.field === "min" && e.controlName === "Gain",
        );
        const valid = serialized(
          new ControlSerializer(),
          new ControlInfoMap([[gain, info(floatValue(0), floatValue(8))]]),
        );
        const unsetMin = new Uint8Array(valid.length - 4);
        const data = HSIZE + IPA_CONTROL_INFO_ENTRY_LAYOUT.size;
        unsetMin.set(valid.subarray(0, data)); // header and entry
        unsetMin.set(valid.subarray(data + 4 + 4), data + 4); // min: None (type 0, no element)
        const dv = new DataView(unsetMin.buffer);
        dv.setUint32(H.size, unsetMin.length, true);
        dv.setUint32(data, ControlType.None, true);
        const path = `${dir}/unset_min.bin`;
        await Deno.writeFile(path, unsetMin);
        const died = await run(bin, ["read", "worker", `map:${path}`]);
        assert.equal(died.signal, "SIGABRT", `libcamera did not abort:\n${died.stdout}`);
        assert.throws(
          () => new ControlSerializer().deserializeInfoMap(unsetMin),
          (e: unknown) =>
            e instanceof InvalidControlInfoError && /info min is None/.test(e.message),
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
