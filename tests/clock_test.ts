import assert from "node:assert/strict";
import { systemClock, VirtualClock } from "../lib/clock.ts";

Deno.test("VirtualClock moves only when told", async () => {
  const c = new VirtualClock(10);
  assert.equal(c.now(), 10);
  await c.sleep(5);
  c.advance(2.5);
  c.advance(-3); // never backwards
  assert.equal(c.now(), 17.5);
  const ac = new AbortController();
  ac.abort();
  await c.sleep(100, ac.signal);
  assert.equal(c.now(), 17.5);
});

Deno.test("systemClock.sleep waits, and an abort ends it early", async () => {
  const t0 = systemClock.now();
  await systemClock.sleep(20);
  assert.ok(systemClock.now() - t0 >= 19);
  const ac = new AbortController();
  const t1 = systemClock.now();
  setTimeout(() => ac.abort(), 10);
  await systemClock.sleep(10_000, ac.signal);
  assert.ok(systemClock.now() - t1 < 5_000);
});
