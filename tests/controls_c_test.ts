/**
 * Cross-checks lib/controls.ts against Debian's libcamera headers with the
 * C++ program tests/c/ipa_layout.cpp, compiled at test time: struct sizes and
 * field offsets, the format version and enum numbering, a ControlList packet
 * built from the C structs read by ringdump, and ringdump's packets parsed
 * and validated by the C++ side.
 *
 * Needs a C++ compiler (g++, c++ or clang++, or $CXX) and
 * /usr/include/libcamera (Debian's libcamera-dev). Without them the test is
 * ignored with a printed reason, except under CI (CI set), where it fails.
 */
import assert from "node:assert/strict";
import {
  boolValue,
  byteValue,
  CONTROL_TYPE_SIZE,
  ControlId,
  ControlInfo,
  ControlInfoMap,
  ControlList,
  ControlSerializer,
  ControlType,
  type ControlValue,
  floatValue,
  int32Value,
  int64Value,
  IPA_CONTROL_INFO_ENTRY_LAYOUT,
  IPA_CONTROL_VALUE_ENTRY_LAYOUT,
  IPA_CONTROLS_FORMAT_VERSION,
  IPA_CONTROLS_HEADER_LAYOUT,
  IpaControlIdMapType,
  MalformedControlsError,
  rectangleValue,
  sizeValue,
  stringValue,
  UnknownHandleError,
} from "../lib/controls/mod.ts";
import { findCxx, ignoreUnless, missingTools, NO_CXX } from "../testing/tools.ts";

const INCLUDE_DIR = "/usr/include/libcamera";
const HEADER = `${INCLUDE_DIR}/libcamera/ipa/ipa_controls.h`;
const SOURCE = decodeURIComponent(new URL("./c/ipa_layout.cpp", import.meta.url).pathname);

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

async function toolchainProblem(): Promise<{ cxx?: string; problem?: string }> {
  const cxx = await findCxx();
  if (cxx === undefined) return { problem: NO_CXX };
  try {
    await Deno.stat(HEADER);
  } catch {
    return { cxx, problem: `${HEADER} not found (apt-get install libcamera-dev)` };
  }
  return { cxx };
}

// The probe every tool-needing test shares (testing/tools.ts), then this test's own details.
const missing = await missingTools(["g++", "libcamera-dev"]);
const toolchain = missing === undefined ? await toolchainProblem() : { problem: missing };

// ---------------------------------------------------------------------------
// The fixture the C++ program's write-list builds (kept in sync with makeList()).
// ---------------------------------------------------------------------------

const ids = [
  new ControlId(1, "Enable", { type: ControlType.Bool }),
  new ControlId(2, "Pattern", { type: ControlType.Byte, isArray: true }),
  new ControlId(3, "Gain", { type: ControlType.Integer32 }),
  new ControlId(4, "FrameDuration", { type: ControlType.Integer64 }),
  new ControlId(5, "ExposureValue", { type: ControlType.Float }),
  new ControlId(6, "Model", { type: ControlType.String }),
  new ControlId(7, "Lut", { type: ControlType.Integer32, isArray: true }),
  new ControlId(8, "Crop", { type: ControlType.Rectangle }),
  new ControlId(9, "Sizes", { type: ControlType.Size, isArray: true }),
];

function fixtureMap(): ControlInfoMap {
  return new ControlInfoMap([
    [ids[0], new ControlInfo(boolValue(false), boolValue(true), { def: boolValue(true) })],
    [ids[1], new ControlInfo(byteValue(0), byteValue(255))],
    [ids[2], new ControlInfo(int32Value(-10), int32Value(1000), { def: int32Value(1) })],
    [ids[3], new ControlInfo(int64Value(-1), int64Value(1n << 40n))],
    [ids[4], new ControlInfo(floatValue(-8), floatValue(8), { def: floatValue(0.1) })],
    [ids[5], new ControlInfo(int32Value(0), int32Value(64))],
    [ids[6], new ControlInfo(int32Value(0))],
    [ids[7], new ControlInfo(rectangleValue({ x: -1, y: 0, width: 1, height: 2 }))],
    [
      ids[8],
      new ControlInfo(sizeValue({ width: 1, height: 1 }), sizeValue({ width: 4096, height: 3072 })),
    ],
  ]);
}

/** What tests/c/ipa_layout.cpp's write-list encodes. */
const C_LIST: [number, ControlValue][] = [
  [1, boolValue(true)],
  [2, byteValue([0, 127, 255])],
  [3, int32Value(-123456)],
  [4, int64Value(-(1n << 40n) - 5n)],
  [5, floatValue(1.5)],
  [6, stringValue("ringdump")],
  [7, int32Value([1, -2, 3])],
  [8, rectangleValue({ x: -1, y: 2, width: 640, height: 480 })],
  [9, sizeValue([{ width: 1920, height: 1080 }, { width: 1280, height: 720 }])],
];

/** A list with every type, sized so that values are not 8-byte multiples. */
function ringdumpList(map: ControlInfoMap): ControlList {
  return new ControlList(map)
    .set(1, boolValue(false))
    .set(2, byteValue([9, 8, 7, 6, 5]))
    .set(3, int32Value(2 ** 31 - 1))
    .set(4, int64Value((1n << 63n) - 1n))
    .set(5, floatValue(-0.1))
    .set(6, stringValue("häuser ✓"))
    .set(7, int32Value([]))
    .set(8, rectangleValue({ x: -(2 ** 31), y: 5, width: 2 ** 32 - 1, height: 0 }))
    .set(9, sizeValue([{ width: 1, height: 2 }]));
}

// ---------------------------------------------------------------------------
// The text format of the C++ program's read-list / read-map (see printValue).
// ---------------------------------------------------------------------------

function formatElements(v: ControlValue): string {
  const hex2 = (b: number) => b.toString(16).padStart(2, "0");
  switch (v.type) {
    case ControlType.None:
      return "-";
    case ControlType.String: {
      const bytes = new TextEncoder().encode(v.values[0]);
      return bytes.length === 0 ? "-" : [...bytes].map(hex2).join("");
    }
    default:
      if (v.values.length === 0) return "-";
  }
  switch (v.type) {
    case ControlType.Bool:
      return v.values.map((b) => (b ? "1" : "0")).join(",");
    case ControlType.Float:
      return v.values.map((f) => {
        const dv = new DataView(new ArrayBuffer(4));
        dv.setFloat32(0, f, true);
        return "0x" + dv.getUint32(0, true).toString(16).padStart(8, "0");
      }).join(",");
    case ControlType.Rectangle:
      return v.values.map((r) => `${r.x}:${r.y}:${r.width}:${r.height}`).join(",");
    case ControlType.Size:
      return v.values.map((s) => `${s.width}:${s.height}`).join(",");
    default:
      return (v.values as readonly (number | bigint)[]).map(String).join(",");
  }
}

function formatValue(v: ControlValue): string {
  const count = v.type === ControlType.None
    ? 0
    : v.type === ControlType.String
    ? new TextEncoder().encode(v.values[0]).length
    : v.values.length;
  return `${v.type} ${v.isArray ? 1 : 0} ${count} ${formatElements(v)}`;
}

function expectedListText(list: ControlList, handle: number): string {
  const lines = [`list handle=${handle} entries=${list.size} idmap=${list.idMapType}`];
  for (const [id, v] of list) lines.push(`value ${id} ${formatValue(v)}`);
  return lines.join("\n") + "\n";
}

function expectedMapText(map: ControlInfoMap, handle: number): string {
  const lines = [`map handle=${handle} entries=${map.size} idmap=${map.idMapType}`];
  for (const [cid, info] of map) {
    lines.push(`ctrl ${cid.id} ${cid.type}`);
    lines.push(`  min ${formatValue(info.min)}`);
    lines.push(`  max ${formatValue(info.max)}`);
    lines.push(`  def ${formatValue(info.def)}`);
  }
  return lines.join("\n") + "\n";
}

function serialized(s: ControlSerializer, x: ControlInfoMap | ControlList): Uint8Array {
  const buf = new Uint8Array(s.binarySize(x));
  assert.equal(s.serialize(x, buf), buf.length);
  return buf;
}

// ---------------------------------------------------------------------------

Deno.test({
  name: "controls vs Debian's libcamera ipa_controls.h (compiled C++ cross-check)",
  ignore: ignoreUnless(toolchain.problem),
  async fn(t) {
    if (toolchain.problem !== undefined) {
      throw new Error(
        `CI is set but the C++ cross-check cannot run: ${toolchain.problem}. ` +
          "CI must install g++ and libcamera-dev (see .ci/run).",
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "ringdump_ipa_layout_" });
    try {
      const bin = `${dir}/ipa_layout`;
      const built = await run(toolchain.cxx!, [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        `-I${INCLUDE_DIR}`,
        "-o",
        bin,
        SOURCE,
      ]);
      assert.equal(built.code, 0, `compiling ${SOURCE} failed:\n${built.stderr}`);

      const c = async (...args: string[]) => {
        const r = await run(bin, args);
        return { ...r, text: new TextDecoder().decode(r.stdout) };
      };
      const cOk = async (...args: string[]) => {
        const r = await c(...args);
        assert.equal(r.code, 0, `ipa_layout ${args.join(" ")} failed: ${r.stderr}`);
        return r;
      };
      const writeTemp = async (name: string, bytes: Uint8Array) => {
        const path = `${dir}/${name}`;
        await Deno.writeFile(path, bytes);
        return path;
      };

      await t.step("struct sizes, field offsets, version and enums match the header", async () => {
        const layout = JSON.parse((await cOk("layout")).text);
        assert.equal(layout.version, IPA_CONTROLS_FORMAT_VERSION);
        assert.equal(layout.controlTypeSize, CONTROL_TYPE_SIZE);
        assert.deepEqual(layout.header, {
          size: IPA_CONTROLS_HEADER_LAYOUT.size,
          offsets: { ...IPA_CONTROLS_HEADER_LAYOUT.offsets },
        });
        assert.deepEqual(layout.valueEntry, {
          size: IPA_CONTROL_VALUE_ENTRY_LAYOUT.size,
          offsets: { ...IPA_CONTROL_VALUE_ENTRY_LAYOUT.offsets },
        });
        assert.deepEqual(layout.infoEntry, {
          size: IPA_CONTROL_INFO_ENTRY_LAYOUT.size,
          offsets: { ...IPA_CONTROL_INFO_ENTRY_LAYOUT.offsets },
        });
        assert.deepEqual(layout.controlTypes, { ...ControlType });
        assert.deepEqual(layout.idMapTypes, { ...IpaControlIdMapType });
      });

      await t.step("a list built from the C structs deserializes with its map", async () => {
        const s = new ControlSerializer();
        const map = fixtureMap();
        serialized(s, map);
        const handle = s.handleOf(map)!;
        const bytes = (await cOk("write-list", String(handle))).stdout;
        const list = s.deserializeList(bytes);
        assert.equal(list.infoMap, map);
        assert.deepEqual([...list], C_LIST);
        // ringdump writes the very same bytes for the same list.
        const mine = new ControlList(map);
        for (const [id, v] of C_LIST) mine.set(id, v);
        assert.deepEqual(serialized(s, mine), bytes);
        // The same packet naming a handle this serializer never issued: ENOENT.
        const other = (await cOk("write-list", String(handle + 2))).stdout;
        assert.throws(() => s.deserializeList(other), UnknownHandleError);
        // Values 8-byte aligned (as ipa_controls.h's comment suggests): refused, as by libcamera.
        const aligned = (await cOk("write-list", String(handle), "aligned")).stdout;
        assert.throws(
          () => s.deserializeList(aligned),
          (e: unknown) =>
            e instanceof MalformedControlsError && /previous data ends at/.test(e.message),
        );
      });

      await t.step("the C++ parser reads ringdump's list and map packets", async () => {
        for (const role of ["proxy", "worker"] as const) {
          const s = new ControlSerializer({ role });
          const map = fixtureMap();
          const mapPath = await writeTemp(`map_${role}.bin`, serialized(s, map));
          const handle = s.handleOf(map)!;
          assert.equal((await cOk("read-map", mapPath)).text, expectedMapText(map, handle));
          const list = ringdumpList(map);
          const listPath = await writeTemp(`list_${role}.bin`, serialized(s, list));
          assert.equal((await cOk("read-list", listPath)).text, expectedListText(list, handle));
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
