import assert from "node:assert/strict";
import {
  BackendError,
  DeviceError,
  GeometryError,
  OverrunError,
  RingdumpError,
  TornReadError,
  UsageError,
  VerifyError,
} from "../lib/errors.ts";

Deno.test("errors carry their fields, names and exit codes", () => {
  const o = new OverrunError({ lastPage: 10, currentPage: 300, pages: 256, capturedPages: 7 });
  assert.equal(o.name, "OverrunError");
  assert.equal(o.exitCode, 1);
  assert.equal(o.lostPages, 34);
  assert.match(o.message, /290 new pages .* ring holds only 256; 34 pages lost\. 7 pages captured/);
  const t = new TornReadError({
    firstPage: 100,
    endPage: 164,
    counterAfter: 400,
    pages: 256,
    capturedPages: 100,
  });
  assert.ok(t instanceof OverrunError && t instanceof RingdumpError);
  assert.equal(t.tornPages, 44);
  assert.equal(t.name, "TornReadError");
  const g = new GeometryError("pages", 0, "must be a positive integer");
  assert.ok(g instanceof UsageError);
  assert.equal(g.exitCode, 2);
  assert.equal(g.field, "pages");
  const b = new BackendError("x", { backend: "pixeldump", command: ["a"], stderr: "e" });
  assert.deepEqual([b.exitCode, b.backend, b.command, b.stderr], [3, "pixeldump", ["a"], "e"]);
  assert.equal(new DeviceError("d").exitCode, 3);
  const v = new VerifyError("gap", { offset: 8, expected: 8n, found: 16n });
  assert.deepEqual([v.exitCode, v.offset, v.expected, v.found], [1, 8, 8n, 16n]);
});

Deno.test("TornReadError counts the pages in flight (issue 9)", () => {
  // a full lap: the counter shows 16 pages done, page 16 is being written into slot 0
  const t = new TornReadError({
    firstPage: 0,
    endPage: 16,
    counterAfter: 16,
    pages: 16,
    capturedPages: 0,
    inFlight: 1,
  });
  assert.equal(t.tornPages, 1);
  assert.match(t.message, /1 more in flight\); 1 pages lost/);
});
