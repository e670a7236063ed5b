import assert from "node:assert/strict";
import { pollReadable, readReady, spawnGroup, waitExit } from "../backends/spawn.ts";
import { closeFd } from "../backends/libc_util.ts";
import { runCommand } from "../backends/process.ts";

/** Runs `argv` through spawnGroup to its end: stdout, stderr, exit code. */
async function runToEnd(
  argv: string[],
  env?: Record<string, string>,
): Promise<{ out: string; err: string; code: number }> {
  const s = spawnGroup(argv, { env });
  assert.ok(s !== undefined && "pid" in s, `spawnGroup(${argv}) = ${JSON.stringify(s)}`);
  const buf = new Uint8Array(4096);
  let out = "", err = "";
  const open = new Set([s.stdout, s.stderr]);
  while (open.size > 0) {
    for (const fd of await pollReadable([...open], 1000)) {
      const n = readReady(fd, buf);
      if (n === 0) open.delete(fd);
      else if (n > 0) {
        const text = new TextDecoder().decode(buf.subarray(0, n));
        if (fd === s.stdout) out += text;
        else err += text;
      }
    }
  }
  closeFd(s.stdout);
  closeFd(s.stderr);
  return { out, err, code: await waitExit(s.pid) };
}

Deno.test("spawnGroup: a process group of its own, this environment plus env, stdin empty, SIGPIPE at its default", async () => {
  const r = await runToEnd([
    "sh",
    "-c",
    // the shell's pid; the group of a child of it; FOO and HOME; stdin; ignored signals
    'echo $$; cut -d" " -f5 /proc/self/stat; echo "$FOO" "$HOME"; cat; grep SigIgn /proc/self/status; echo oops >&2; exit 3',
  ], { FOO: "bar baz" });
  const [pid, pgid, env, ign] = r.out.trim().split("\n");
  assert.equal(pgid, pid, "the command leads a process group of its own");
  assert.equal(env, `bar baz ${Deno.env.get("HOME") ?? ""}`);
  // SIGPIPE (13) is bit 12 of the mask: Deno ignores it, the command must not.
  const mask = BigInt(`0x${ign.split(/\s+/)[1]}`);
  assert.equal((mask >> 12n) & 1n, 0n, `SigIgn ${ign}`);
  assert.equal(r.err, "oops\n");
  assert.equal(r.code, 3);
});

Deno.test("spawnGroup: a missing program is 127, one that cannot be run 126; a signal is 128 + its number", async () => {
  assert.deepEqual(spawnGroup(["/nonexistent/ringdump-x"]), {
    code: 127,
    why: "No such file or directory",
  });
  assert.deepEqual(spawnGroup(["ringdump-no-such-program-on-path"]), {
    code: 127,
    why: "No such file or directory",
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x`, "#!/bin/sh\necho hi\n");
    await Deno.chmod(`${dir}/x`, 0o644);
    assert.deepEqual(spawnGroup([`${dir}/x`]), { code: 126, why: "Permission denied" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const r = await runToEnd(["sh", "-c", "kill -9 $$"]);
  assert.equal(r.code, 137);
});

Deno.test("runCommand: without FFI permission, Deno.Command runs it the same", async () => {
  const script = `
    import { runCommand } from ${
    JSON.stringify(new URL("../backends/process.ts", import.meta.url).href)
  };
    const into = new Uint8Array(3);
    const r = await runCommand(["sh", "-c", "printf abcdef; echo e >&2; exit 4"], { into, keepAfter: 8 });
    console.log(JSON.stringify({ code: r.code, out: new TextDecoder().decode(into), after: new TextDecoder().decode(r.after), err: r.stderr, n: r.stdoutBytes }));
    const slow = await runCommand(["sleep", "10"], { timeout: 100 });
    console.log(slow.killed);
  `;
  const withFfi = async (ffi: boolean) => {
    const o = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        ...(ffi ? ["--allow-ffi"] : []),
        "--allow-run",
        "--allow-read",
        "--allow-env",
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    return new TextDecoder().decode(o.stdout);
  };
  const expected = JSON.stringify({ code: 4, out: "abc", after: "def", err: "e\n", n: 6 }) +
    "\ndeadline\n";
  assert.equal(await withFfi(false), expected);
  assert.equal(await withFfi(true), expected);
  // And in this process (FFI allowed): the same.
  const into = new Uint8Array(3);
  const r = await runCommand(["sh", "-c", "printf abcdef"], { into, keepAfter: 8 });
  assert.equal(new TextDecoder().decode(r.after), "def");
});
