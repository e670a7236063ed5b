/**
 * Smoke test of the bench (bench/mod.ts): every measurement runs on tiny
 * sizes and yields well-formed figures. No timing is asserted: the point is
 * that the bench code cannot rot.
 */
import assert from "node:assert/strict";
import { BENCH_SIZES, MEASUREMENTS, runBench } from "../bench/mod.ts";
import { figure, formatTable, resultsJson } from "../bench/results.ts";
import { sshMissing } from "../testing/sshd.ts";
import { ignoreUnless, missingTools, requireTools } from "../testing/tools.ts";

Deno.test("bench: figure() computes the ratio and the goal both ways", () => {
  const up = figure({
    name: "a",
    what: "a",
    value: 9,
    unit: "x",
    refName: "r",
    refValue: 10,
    goal: 0.8,
  });
  assert.equal(up.ratio, 0.9);
  assert.equal(up.met, true);
  const down = figure({
    name: "b",
    what: "b",
    value: 12,
    unit: "x",
    refName: "r",
    refValue: 10,
    better: "lower",
    goal: 1.1,
  });
  assert.equal(down.met, false);
  assert.equal(JSON.parse(resultsJson({ v: NaN })).v, null);
  assert.equal(formatTable([up, down]).split("\n").length, 4);
});

// The reference dumper and the CPU wrapper are Python scripts.
const noPython = await missingTools(["python3"]);

Deno.test({
  name: "bench: every measurement runs on tiny sizes and gives ratios against references",
  ignore: ignoreUnless(noPython),
}, async () => {
  requireTools(noPython);
  const missing = await sshMissing();
  const results = await runBench({ size: "tiny", log: () => {} });
  assert.equal(results.quick, true);
  assert.ok(results.machine.cores > 0);
  assert.equal(results.deno, Deno.version.deno);
  const names = results.figures.map((f) => f.name);
  for (const m of MEASUREMENTS) {
    assert.ok(
      names.some((n) => n.startsWith(`${m.name}.`)),
      `no figure of ${m.name}: ${names}`,
    );
  }
  for (const f of results.figures) {
    assert.ok(f.reference.name.length > 0, `${f.name}: no reference`);
    if (f.skipped !== undefined) {
      // Only what this machine cannot do may be skipped, never a failure of the bench.
      const ok = f.name === "startup.compiled" ||
        (missing !== undefined && /ssh/.test(f.name) && f.skipped === "sshd missing") ||
        (f.name === "trace.lttng_vs_bt2" && !Deno.env.get("CI") &&
          /missing|needs root/.test(f.skipped));
      assert.ok(ok, `${f.name} skipped: ${f.skipped}`);
      continue;
    }
    assert.ok(Number.isFinite(f.value) && f.value! >= 0, `${f.name}: value ${f.value}`);
    assert.ok(
      Number.isFinite(f.reference.value) && f.reference.value! > 0,
      `${f.name}: reference ${f.reference.value}`,
    );
    assert.ok(Number.isFinite(f.ratio) && f.ratio! >= 0, `${f.name}: ratio ${f.ratio}`);
    if (!f.name.startsWith("sustained.")) assert.ok(f.ratio! > 0, `${f.name}: ratio ${f.ratio}`);
    if (f.goal !== null) assert.equal(typeof f.met, "boolean");
  }
  // The pixeldump figures say which emulators ran; under CI (g++ installed) the compiled ones.
  const reference = results.figures.find((f) => f.name === "reference.cpu_per_gib");
  assert.match(reference?.note ?? "", /emulators: (compiled|the shell scripts)/);
  if (Deno.env.get("CI")) assert.match(reference!.note!, /emulators: compiled/);
  JSON.parse(resultsJson(results));
});

Deno.test("bench: the full set keeps the issue's shape", () => {
  const full = BENCH_SIZES.full;
  assert.equal(full.sustained.captureMs, 10_000);
  assert.deepEqual([...full.sustained.backends], ["devmem", "pixeldump", "ssh_dd", "ssh_agent"]);
  assert.ok(full.memory.shortBytes >= 2 * 1024 ** 3);
});
