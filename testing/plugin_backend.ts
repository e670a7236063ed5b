/**
 * A backend plugin for the tests of `--backend-module`: `imagefile:PATH?origin=ADDR`
 * reads a memory image with plain positioned file reads (no FFI, no
 * subprocess). Loaded at run time, it registers its scheme like a built-in.
 */
import type { Backend, BackendFactory, BackendOpenOptions } from "../backends/types.ts";
import { UrlOptions } from "../backends/options.ts";
import { BackendError } from "../lib/errors.ts";

async function readFully(file: Deno.FsFile, at: bigint, dest: Uint8Array): Promise<number> {
  await file.seek(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < dest.length) {
    const n = await file.read(dest.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

/** The plugin's factory, exported as `backend` as loadBackendModule expects. */
export const backend: BackendFactory = {
  scheme: "imagefile",
  description: "test plugin: a memory image read with plain file reads",
  usage: "imagefile:PATH[?origin=ADDR]",
  needs: "a memory image file",
  probe: () => Promise.resolve({ usable: true, detail: "plugin loaded from testing/" }),
  async open(url: URL, _options: BackendOpenOptions): Promise<Backend> {
    const origin = new UrlOptions(url, ["origin"]).address("origin", 0n);
    const path = decodeURIComponent(url.pathname);
    const file = await Deno.open(path, { read: true });
    const read = async (address: bigint, dest: Uint8Array) => {
      const n = await readFully(file, address - origin, dest);
      if (n !== dest.length) {
        throw new BackendError(`imagefile: ${path}: short read at 0x${address.toString(16)}`, {
          backend: "imagefile",
          address,
        });
      }
    };
    return {
      name: "imagefile",
      async readRegister(address: bigint, width: 8 | 16 | 32 | 64): Promise<bigint> {
        const b = new Uint8Array(width / 8);
        await read(address, b);
        return b.reduceRight((v, byte) => (v << 8n) | BigInt(byte), 0n);
      },
      read,
      close(): Promise<void> {
        try {
          file.close();
        } catch { /* closed */ }
        return Promise.resolve();
      },
    };
  },
};
