/**
 * The compiled emulators (testing/bin/emulators.c) against the shell ones
 * (testing/bin/devmem, pixeldump): the same bytes, values, messages and exit
 * codes on the same image, and the bytes against the image file itself.
 */
import assert from "node:assert/strict";
import { compiledEmulators, SHELL_EMULATORS } from "../testing/emulators.ts";
import { ignoreUnless, missingTools, requireTools } from "../testing/tools.ts";

const missing = await missingTools(["g++"]);

interface Ran {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

async function run(bin: string, args: string[], env: Record<string, string>): Promise<Ran> {
  const r = await new Deno.Command(bin, {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stdout: r.stdout, stderr: new TextDecoder().decode(r.stderr) };
}

Deno.test({
  name: "emulators: compiled devmem and pixeldump answer as the shell ones do, byte for byte",
  ignore: ignoreUnless(missing),
  async fn() {
    requireTools(missing);
    const built = await compiledEmulators();
    if ("problem" in built) throw new Error(built.problem);
    const dir = await Deno.makeTempDir({ prefix: "ringdump_emulators_" });
    try {
      // An image of random bytes standing for memory from 0x40000000.
      const image = new Uint8Array(256 * 1024);
      for (let i = 0; i < image.length; i += 65536) {
        crypto.getRandomValues(image.subarray(i, i + 65536));
      }
      const path = `${dir}/mem.img`;
      await Deno.writeFile(path, image);
      const origin = 0x4000_0000;
      const env = {
        PATH: "/usr/bin:/bin",
        RINGDUMP_IMAGE: path,
        RINGDUMP_IMAGE_ORIGIN: "0x40000000",
      };
      const hex = (n: number) => `0x${n.toString(16)}`;
      const same = async (tool: "devmem" | "pixeldump", args: string[], e = env) => {
        const a = await run(built[tool], args, e);
        const b = await run(SHELL_EMULATORS[tool], args, e);
        const what = `${tool} ${args.join(" ")}`;
        assert.equal(a.code, b.code, `${what}: exit codes (${a.stderr} | ${b.stderr})`);
        assert.deepEqual(a.stdout, b.stdout, `${what}: stdout`);
        assert.equal(a.stderr, b.stderr, `${what}: stderr`);
        return a;
      };
      // Values: every width, at the start, the end and inside; decimal and hex addresses.
      const view = new DataView(image.buffer);
      for (const [width, at] of [[8, 0], [16, 2], [32, 4096], [64, 8], [32, image.length - 4]]) {
        const a = await same("devmem", [hex(origin + at), String(width)]);
        assert.equal(a.code, 0);
        const want = width === 8
          ? BigInt(view.getUint8(at))
          : width === 16
          ? BigInt(view.getUint16(at, true))
          : width === 32
          ? BigInt(view.getUint32(at, true))
          : view.getBigUint64(at, true);
        assert.equal(BigInt(new TextDecoder().decode(a.stdout).trim()), want);
      }
      await same("devmem", [String(origin + 12)]); // default 32 bits, decimal
      // Ranges: the bytes of the image, as raw output.
      for (const [at, w, h] of [[0, 4096, 64], [4096 * 3, 4096, 1], [100, 7, 3]]) {
        const a = await same("pixeldump", ["-a", hex(origin + at), "-", String(w), String(h), "1"]);
        assert.equal(a.code, 0);
        assert.deepEqual(a.stdout, image.subarray(at, at + w * h));
      }
      // Mistakes: the same exit code and the same message.
      for (
        const args of [
          [],
          [hex(origin), "12"],
          ["0xZZ"],
          [hex(origin - 4)],
          [hex(origin + image.length - 2), "32"],
          [hex(origin), "32", "x"],
        ]
      ) assert.notEqual((await same("devmem", args)).code, 0);
      for (
        const args of [
          ["-a", hex(origin), "-", "4096", "1"],
          ["-b", hex(origin), "-", "4096", "1", "1"],
          ["-a", "zz", "-", "4096", "1", "1"],
          ["-a", hex(origin), "-", "0", "1", "1"],
          ["-a", hex(origin + image.length - 4096), "-", "4096", "2", "1"],
        ]
      ) assert.notEqual((await same("pixeldump", args)).code, 0);
      const gone = { ...env, RINGDUMP_IMAGE: `${dir}/missing.img` };
      assert.equal((await same("devmem", [hex(origin)], gone)).code, 1);
      assert.equal(
        (await same("pixeldump", ["-a", hex(origin), "-", "16", "1", "1"], gone)).code,
        1,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
