import assert from "node:assert/strict";
import {
  findBackend,
  listBackends,
  loadBackendModule,
  openBackend,
  parseBackendUrl,
  registerBackend,
} from "../backends/mod.ts";
import { ringGeometry } from "../lib/ring.ts";
import { UsageError } from "../lib/errors.ts";

const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });

Deno.test("parseBackendUrl: schemes, bare names, query options, bad URLs", () => {
  assert.equal(parseBackendUrl("sim").protocol, "sim:");
  assert.equal(parseBackendUrl("sim:?rate=8MiB").searchParams.get("rate"), "8MiB");
  assert.equal(parseBackendUrl("devmem:/tmp/a b.img").pathname, "/tmp/a%20b.img");
  const ssh = parseBackendUrl("ssh://root@board:2222?mem=/dev/mem");
  assert.deepEqual([ssh.username, ssh.hostname, ssh.port], ["root", "board", "2222"]);
  assert.throws(() => parseBackendUrl("::not a url"), UsageError);
});

Deno.test("registry: sim is built in, unknown schemes are usage errors listing the known ones", async () => {
  assert.ok(listBackends().some((f) => f.scheme === "sim"));
  assert.equal(findBackend("sim:").scheme, "sim");
  assert.throws(
    () => findBackend("floppy:"),
    (e: unknown) =>
      e instanceof UsageError && /unknown backend scheme 'floppy:'; known: sim:/.test(e.message),
  );
  const b = await openBackend("sim:", { geometry });
  assert.equal(b.name, "sim");
  await b.close();
});

Deno.test("registerBackend: a new scheme can be added, bad schemes are refused", async () => {
  registerBackend({
    scheme: "zero-test",
    description: "zeros",
    usage: "zero-test:",
    needs: "nothing",
    probe: () => Promise.resolve({ usable: true, detail: "ok" }),
    open: () =>
      Promise.resolve({
        name: "zero-test",
        readRegister: () => Promise.resolve(0n),
        read: (_a: bigint, d: Uint8Array) => Promise.resolve(void d.fill(0)),
        close: () => Promise.resolve(),
      }),
  });
  const b = await openBackend("zero-test:", { geometry });
  assert.equal(await b.readRegister(0n, 32), 0n);
  assert.throws(
    () => registerBackend({ ...findBackend("zero-test:"), scheme: "Bad Scheme" }),
    UsageError,
  );
});

Deno.test("loadBackendModule: a module without a backend export is a usage error", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/empty.ts`, "export const nothing = 1;\n");
  await assert.rejects(loadBackendModule(`${dir}/empty.ts`), /exports no backend/);
  await assert.rejects(loadBackendModule(`${dir}/missing.ts`), /cannot load/);
  await Deno.remove(dir, { recursive: true });
});
