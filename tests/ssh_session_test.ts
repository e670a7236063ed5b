// The remote shell of the ssh:// backend (backends/ssh/session.ts), run here
// as a real local `sh` (the ssh path is in tests/ssh_test.ts): its framing
// of each command's output, against commands that write less or more than
// asked, fail, read stdin, forge end lines, hang, or end the shell.
import assert from "node:assert/strict";
import { RemoteShell } from "../backends/ssh/session.ts";

const tmp = await Deno.makeTempDir({ prefix: "ringdump-session-test-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

/** A shell as the backend starts one over ssh (`exec sh`), here without ssh. */
function localShell(): RemoteShell {
  return RemoteShell.start(["sh", "-c", "exec sh"]);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("session: output lands in the buffers, byte for byte, across pipe reads", async () => {
  const shell = localShell();
  try {
    // 8 MiB of random bytes, written by an independent tool (head), checked against the file.
    const file = `${tmp}/random.bin`;
    const bytes = crypto.getRandomValues(new Uint8Array(65536));
    const all = new Uint8Array(8 << 20);
    for (let i = 0; i < all.length; i += bytes.length) all.set(bytes.map((b) => b ^ (i >> 16)), i);
    await Deno.writeFile(file, all);
    const a = new Uint8Array(3 << 20), b = new Uint8Array(5 << 20);
    const r = await shell.run(`cat '${file}'`, { into: [a, b] });
    assert.equal(r.code, 0);
    assert.equal(r.stdoutBytes, all.length);
    assert.deepEqual(a, all.subarray(0, a.length));
    assert.deepEqual(b, all.subarray(a.length));
    // The same shell runs the next command.
    const one = new Uint8Array(4);
    const s = await shell.run("printf abcd", { into: one });
    assert.equal(text(one), "abcd");
    assert.equal(s.stdoutBytes, 4);
    assert.equal(shell.dead, false);
  } finally {
    await shell.close();
  }
});

Deno.test("session: fewer bytes than asked are counted exactly, and the next command is in step", async () => {
  const shell = localShell();
  try {
    const into = new Uint8Array(1 << 20);
    const r = await shell.run("printf abc; exit_code=7; (exit $exit_code)", { into });
    assert.equal(r.stdoutBytes, 3);
    assert.equal(r.code, 7);
    assert.equal(text(into.subarray(0, 3)), "abc");
    // Nothing at all.
    const none = await shell.run("true", { into });
    assert.equal(none.stdoutBytes, 0);
    assert.equal(none.code, 0);
    const next = new Uint8Array(5);
    const n = await shell.run("printf hello", { into: next });
    assert.equal(text(next), "hello");
    assert.equal(n.stdoutBytes, 5);
  } finally {
    await shell.close();
  }
});

Deno.test("session: more bytes than asked are counted, keepAfter keeps the first of them", async () => {
  const shell = localShell();
  try {
    const into = new Uint8Array(4);
    const r = await shell.run("printf 'abcd0x0000002A\\n'", { into, keepAfter: 64 });
    assert.equal(r.code, 0);
    assert.equal(r.stdoutBytes, 15);
    assert.equal(text(into), "abcd");
    assert.equal(text(r.after!), "0x0000002A\n");
    const long = await shell.run("printf '%070d' 0", { into, keepAfter: 8 });
    assert.equal(long.stdoutBytes, 70);
    assert.equal(long.after!.length, 8);
    // Without a buffer: the whole output.
    const plain = await shell.run("echo 0x1234");
    assert.equal(text(plain.stdout), "0x1234\n");
  } finally {
    await shell.close();
  }
});

Deno.test("session: a command's stderr is its own, not the records of the ones before it", async () => {
  const shell = localShell();
  try {
    for (let i = 0; i < 3; i++) {
      const ok = await shell.run(`echo noise ${i} >&2; printf x`, { into: new Uint8Array(1) });
      assert.equal(ok.code, 0);
    }
    const bad = await shell.run("echo 'dd: /dev/mem: Permission denied' >&2; false", {
      into: new Uint8Array(8),
    });
    assert.equal(bad.code, 1);
    assert.equal(bad.stdoutBytes, 0);
    assert.equal(bad.stderr, "dd: /dev/mem: Permission denied\n");
    const again = await shell.run("echo second >&2; exit_now=2; (exit $exit_now)");
    assert.equal(again.code, 2);
    assert.equal(again.stderr, "second\n");
  } finally {
    await shell.close();
  }
});

Deno.test("session: a command that reads stdin gets nothing, and cannot eat the next command", async () => {
  const shell = localShell();
  try {
    // A deadline: a shell that let `cat` read its input would wait for ever.
    const r = await shell.run("cat; printf done", { timeout: 10_000 });
    assert.equal(r.killed, undefined);
    assert.equal(text(r.stdout), "done");
    // Queued together: each still sees /dev/null, and the second runs.
    const [a, b] = await Promise.all([
      shell.run("cat", { timeout: 10_000 }),
      shell.run("printf second", { timeout: 10_000 }),
    ]);
    assert.equal(a.stdoutBytes, 0);
    assert.equal(text(b.stdout), "second");
  } finally {
    await shell.close();
  }
});

Deno.test("session: data that looks like an end line does not end a command", async () => {
  const shell = localShell();
  try {
    // End lines of another token, a bare status, at the end of what the command writes.
    const forged = " 0\nRD-2 0\nRD0123456789abcdef-1 0\n";
    const into = new Uint8Array(forged.length + 3);
    const r = await shell.run(`printf '%s' '${forged}'; sleep 0.2; printf end`, { into });
    assert.equal(r.code, 0);
    assert.equal(r.stdoutBytes, into.length);
    assert.equal(text(into), forged + "end");
  } finally {
    await shell.close();
  }
});

Deno.test("session: a hung command is killed at its deadline and the session is dead", async () => {
  const shell = localShell();
  try {
    const t0 = performance.now();
    const r = await shell.run("sleep 1000", { timeout: 300 });
    assert.equal(r.killed, "deadline");
    assert.ok(performance.now() - t0 < 30_000);
    assert.equal(shell.dead, true);
    const after = await shell.run("true");
    assert.equal(after.lost, true);
  } finally {
    await shell.close();
  }
});

Deno.test("session: a shell that ends reports lost, with its status and stderr", async () => {
  const shell = localShell();
  try {
    const r = await shell.run("echo bye >&2; exit 3", { into: new Uint8Array(4) });
    assert.equal(r.lost, true);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /bye/);
    assert.equal(shell.dead, true);
  } finally {
    await shell.close();
  }
  // A program that is not a shell at all: its output is never framed.
  const notShell = RemoteShell.start(["sh", "-c", "echo not a shell; exec sleep 1000"]);
  try {
    const r = await notShell.run("true", { timeout: 500 });
    assert.equal(r.killed, "deadline");
  } finally {
    await notShell.close();
  }
});
