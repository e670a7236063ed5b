import assert from "node:assert/strict";
import {
  CHILD_PIPE_BYTES,
  closeFd,
  growChildPipe,
  growPipe,
  mapBuffer,
  openReadOnly,
} from "../backends/libc_util.ts";

Deno.test("growChildPipe: a child's stdout then holds 1 MiB unread (cat exits with 900 KiB in it)", async () => {
  const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped", stderr: "null" })
    .spawn();
  assert.equal(growChildPipe(child.pid, 1), CHILD_PIPE_BYTES);
  const bytes = new Uint8Array(900 * 1024).map((_, i) => i & 0xff);
  const w = child.stdin.getWriter();
  // Not awaited alone: with a 64 KiB pipe cat blocks, and so would this write.
  const writing = (async () => {
    await w.write(bytes);
    await w.close();
  })().catch(() => {});
  // Nothing reads cat's output yet: it can exit only if all of it fits in the pipe.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    child.status.then((s) => s.success),
    new Promise<string>((r) => timer = setTimeout(() => r("still blocked"), 10_000)),
  ]);
  clearTimeout(timer);
  if (exited !== true) child.kill("SIGKILL");
  await writing;
  const out = new Uint8Array(await new Response(child.stdout).arrayBuffer());
  await child.status;
  assert.equal(exited, true);
  assert.deepEqual(out, bytes);
});

Deno.test("growChildPipe: not a pipe, or no such process: undefined, no error", async () => {
  const child = new Deno.Command("sleep", { args: ["5"], stdout: "null", stderr: "null" }).spawn();
  try {
    assert.equal(growChildPipe(child.pid, 1), undefined);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal(growChildPipe(child.pid, 1), undefined); // gone
});

Deno.test("mapBuffer: zeroed, writable memory of its own", () => {
  const b = mapBuffer(1 << 20);
  assert.ok(b);
  assert.equal(b.bytes.length, 1 << 20);
  assert.ok(b.bytes.every((x) => x === 0));
  b.bytes.fill(7);
  assert.equal(b.bytes[12345], 7);
  b.unmap();
  assert.equal(mapBuffer(0), undefined);
});

Deno.test("growPipe: a file is not a pipe: undefined, no error (a pipe grows: growChildPipe above)", () => {
  const file = Deno.makeTempFileSync();
  const r = openReadOnly(file);
  try {
    assert.ok("fd" in r);
    assert.equal(growPipe(r.fd), undefined);
    closeFd(r.fd);
  } finally {
    Deno.removeSync(file);
  }
});
