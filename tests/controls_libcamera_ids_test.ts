/**
 * lib/controls/libcamera_ids.ts against the installed libcamera headers
 * (control_ids.h and property_ids.h of Debian's libcamera-dev, found with
 * `dpkg -L libcamera-dev`): every id, name, type, array-ness and fixed array
 * size, so a libcamera upgrade fails here instead of drifting silently.
 * Skipped with the reason when libcamera-dev is not installed and CI is
 * unset; failing under CI.
 */
import assert from "node:assert/strict";
import {
  ControlType,
  IpaControlIdMapType,
  LIBCAMERA_CONTROL_ROWS,
  LIBCAMERA_CONTROLS,
  LIBCAMERA_PROPERTIES,
  LIBCAMERA_PROPERTY_ROWS,
  LIBCAMERA_VERSION,
  type LibcameraIdRow,
} from "../lib/controls/mod.ts";
import { ignoreUnless, requireTools } from "../testing/sshd.ts";

/** The installed control_ids.h and property_ids.h, or why they are not there. */
async function findHeaders(): Promise<
  { controls?: string; properties?: string; missing?: string }
> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("dpkg", {
      args: ["-L", "libcamera-dev"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
  } catch {
    return { missing: "dpkg is missing (a Debian system with libcamera-dev is needed)" };
  }
  if (!out.success) {
    return { missing: "libcamera-dev is not installed (apt-get install libcamera-dev)" };
  }
  const files = new TextDecoder().decode(out.stdout).split("\n");
  const controls = files.find((f) => f.endsWith("/libcamera/control_ids.h"));
  const properties = files.find((f) => f.endsWith("/libcamera/property_ids.h"));
  if (controls === undefined || properties === undefined) {
    return { missing: "libcamera-dev ships no control_ids.h / property_ids.h" };
  }
  return { controls, properties };
}

const ELEMENT_TYPES: Record<string, ControlType> = {
  bool: ControlType.Bool,
  uint8_t: ControlType.Byte,
  int32_t: ControlType.Integer32,
  int64_t: ControlType.Integer64,
  float: ControlType.Float,
  "std::string": ControlType.String,
  Rectangle: ControlType.Rectangle,
  Size: ControlType.Size,
};

/**
 * The rows a generated libcamera id header declares: the ids of its
 * `enum { NAME = id, ... }` and, in the same order, its
 * `extern const Control<T> Name;` declarations (the `draft` ones last).
 */
function parseHeader(text: string): LibcameraIdRow[] {
  const enumBody = /enum \{\n([\s\S]*?)\n\};/.exec(text);
  assert.ok(enumBody, "the header has an anonymous id enum");
  const ids = [...enumBody[1].matchAll(/^\t(\w+) = (\d+),$/gm)].map((m) => ({
    constant: m[1],
    id: Number(m[2]),
  }));
  const rows: LibcameraIdRow[] = [];
  let draft = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("namespace draft")) draft = true;
    const m = /^extern const Control<(.+)> (\w+);$/.exec(line);
    if (m === null) continue;
    const span = /^Span<const (\w+)(?:, (\d+))?>$/.exec(m[1]);
    const element = span ? span[1] : m[1];
    const type = ELEMENT_TYPES[element];
    assert.ok(type !== undefined, `unknown control element type ${element} (${m[2]})`);
    const { id, constant } = ids[rows.length] ?? {};
    // The enum constant is the name in upper snake case: the pairing is right.
    assert.equal(constant, m[2].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase(), m[2]);
    rows.push({
      id,
      name: m[2],
      type,
      isArray: span !== null || type === ControlType.String,
      ...(span?.[2] ? { arraySize: Number(span[2]) } : {}),
      ...(draft ? { draft: true } : {}),
    });
  }
  assert.equal(rows.length, ids.length, "one Control declaration per id");
  return rows;
}

const headers = await findHeaders();

Deno.test({
  name: `libcamera id tables match the installed headers (libcamera ${LIBCAMERA_VERSION})`,
  ignore: ignoreUnless(headers.missing),
  async fn() {
    requireTools(headers.missing);
    const controls = parseHeader(await Deno.readTextFile(headers.controls!));
    const properties = parseHeader(await Deno.readTextFile(headers.properties!));
    assert.deepEqual(LIBCAMERA_CONTROL_ROWS, controls, `${headers.controls} differs`);
    assert.deepEqual(LIBCAMERA_PROPERTY_ROWS, properties, `${headers.properties} differs`);
  },
});

Deno.test("the id maps are built from the rows", () => {
  assert.equal(LIBCAMERA_CONTROLS.idMapType, IpaControlIdMapType.Controls);
  assert.equal(LIBCAMERA_PROPERTIES.idMapType, IpaControlIdMapType.Properties);
  for (
    const [map, rows] of [
      [LIBCAMERA_CONTROLS, LIBCAMERA_CONTROL_ROWS],
      [LIBCAMERA_PROPERTIES, LIBCAMERA_PROPERTY_ROWS],
    ] as const
  ) {
    assert.equal(map.size, rows.length);
    for (const r of rows) {
      const cid = map.get(r.id)!;
      assert.deepEqual([cid.id, cid.name, cid.type, cid.isArray], [
        r.id,
        r.name,
        r.type,
        r.isArray,
      ]);
    }
  }
  assert.equal(LIBCAMERA_CONTROLS.get(7)?.name, "ExposureTime");
  assert.equal(LIBCAMERA_PROPERTIES.get(3)?.type, ControlType.String);
});
