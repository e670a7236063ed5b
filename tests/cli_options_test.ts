import assert from "node:assert/strict";
import { Command } from "commander";
import { addGeometryOptions, durationFlag, geometryFromFlags, sizeFlag } from "../cli/options.ts";
import { GeometryError, UsageError } from "../lib/errors.ts";

Deno.test("geometry flags: defaults parse into a valid geometry", () => {
  const cmd = addGeometryOptions(new Command("x")).exitOverride();
  cmd.parse([], { from: "user" });
  const g = geometryFromFlags(cmd.opts() as never);
  assert.deepEqual(
    [g.base, g.pageSize, g.pages, g.counterWrap, g.counterAddress],
    [0n, 4096, 256, 0x10000, 1n << 20n],
  );
});

Deno.test("geometry flags: hex, sizes, and clear errors", () => {
  const g = geometryFromFlags({
    base: "0x3000_0000",
    pageSize: "16KiB",
    pages: "16",
    counter: "0x43c00010",
    counterWrap: "0x100",
  });
  assert.equal(g.counterAddress, 0x43c0_0010n);
  assert.equal(g.ringBytes, 16 * 16384);
  assert.throws(
    () => geometryFromFlags({ base: "zz", pageSize: "4KiB", pages: "4", counterWrap: "0x100" }),
    /--base: 'zz' is not a number/,
  );
  assert.throws(
    () => geometryFromFlags({ base: "0", pageSize: "0", pages: "4", counterWrap: "0x100" }),
    GeometryError,
  );
  assert.equal(durationFlag(undefined, "--duration"), undefined);
  assert.equal(durationFlag("1.5s", "--duration"), 1500);
  assert.equal(sizeFlag("1MiB", "--max-bytes"), 1 << 20);
  assert.throws(() => sizeFlag("lots", "--max-bytes"), UsageError);
});
