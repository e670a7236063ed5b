import assert from "node:assert/strict";
import { CtfTraceWriter, JsonTraceWriter, startTracing } from "../lib/trace/mod.ts";
import { runTraceStats } from "../cli/trace.ts";

Deno.test("runTraceStats: an empty trace (JSON or CTF) is said to be empty, not silently fine", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const json = `${dir}/empty.json`;
    startTracing(await JsonTraceWriter.open(json)).stop();
    const ctf = `${dir}/empty-ctf`;
    startTracing(await CtfTraceWriter.open(ctf)).stop();
    for (const path of [json, ctf]) {
      const r = await runTraceStats(path);
      assert.match(r.warning ?? "", /the trace holds no events/, path);
      assert.match(r.output, /no backend calls in the trace/);
      const j = await runTraceStats(path, { json: true });
      assert.deepEqual(JSON.parse(j.output).calls, []);
      assert.match(j.warning ?? "", /the trace holds no events/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
