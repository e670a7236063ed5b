import assert from "node:assert/strict";
import {
  DiscardSink,
  FileSink,
  MemorySink,
  openSink,
  WAV_HEADER_BYTES,
  wavHeader,
  WavSink,
} from "../lib/sink/mod.ts";
import { OutputError, UsageError } from "../lib/errors.ts";
import { OutputFile } from "../lib/sink/file.ts";

Deno.test("FileSink truncates by default and appends on request", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/out.bin`;
  await Deno.writeFile(path, new Uint8Array([9, 9, 9, 9]));
  let s = await FileSink.open(path);
  await s.write(new Uint8Array([1, 2]));
  await s.close();
  assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2]));
  s = await FileSink.open(path, { append: true });
  await s.write(new Uint8Array([3]));
  assert.equal(s.bytesWritten, 1);
  await s.flush();
  assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
  await s.close();
  await s.close(); // idempotent
  await Deno.remove(dir, { recursive: true });
});

Deno.test("openSink: a missing directory is a usage error that says so", async () => {
  await assert.rejects(
    openSink("/nonexistent-dir/x/out.bin"),
    (e: unknown) =>
      e instanceof UsageError && /directory does not exist/.test(e.message) && e.option === "out",
  );
  const dir = await Deno.makeTempDir();
  await assert.rejects(openSink(dir), /is a directory/);
  await Deno.remove(dir);
});

Deno.test("openSink: format from the extension, wav options validated, no wav to stdout", async () => {
  const dir = await Deno.makeTempDir();
  const wav = await openSink(`${dir}/a.WAV`);
  assert.ok(wav instanceof WavSink);
  await wav.close();
  const raw = await openSink(`${dir}/a.wav`, { format: "raw" });
  assert.ok(raw instanceof FileSink);
  await raw.close();
  await assert.rejects(openSink("-", { format: "wav" }), UsageError);
  await assert.rejects(
    openSink(`${dir}/b.wav`, { bits: 12 }),
    /bits: 12 is not one of 8, 16, 24, 32$/,
  );
  await assert.rejects(
    openSink(`${dir}/b.wav`, { channels: 0 }),
    /channels: 0 is not a channel count/,
  );
  await assert.rejects(
    openSink(`${dir}/b.wav`, { rate: 0 }),
    /WAV sample rate 0 is not valid: give a whole number of Hz/,
  );
  await assert.rejects(
    openSink(`${dir}/b.wav`, { append: true }),
    /append works only with the raw format$/,
  );
  await Deno.remove(dir, { recursive: true });
});

function parseWav(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  const tag = (o: number) => new TextDecoder().decode(bytes.subarray(o, o + 4));
  return {
    riff: tag(0),
    riffSize: v.getUint32(4, true),
    wave: tag(8),
    fmt: tag(12),
    format: v.getUint16(20, true),
    channels: v.getUint16(22, true),
    rate: v.getUint32(24, true),
    byteRate: v.getUint32(28, true),
    block: v.getUint16(32, true),
    bits: v.getUint16(34, true),
    data: tag(36),
    dataSize: v.getUint32(40, true),
  };
}

Deno.test("WavSink: header patched on flush and close, valid at every flush", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wav" });
  const s = await WavSink.open(path, { rate: 44100, channels: 1, bits: 16 });
  assert.equal(parseWav(await Deno.readFile(path)).dataSize, 0);
  await s.write(new Uint8Array(1000));
  await s.flush();
  let h = parseWav(await Deno.readFile(path));
  assert.deepEqual([h.riffSize, h.dataSize], [1036, 1000]);
  await s.write(new Uint8Array(24));
  await s.close();
  const bytes = await Deno.readFile(path);
  h = parseWav(bytes);
  assert.equal(bytes.length, WAV_HEADER_BYTES + 1024);
  assert.deepEqual(h, {
    riff: "RIFF",
    riffSize: 36 + 1024,
    wave: "WAVE",
    fmt: "fmt ",
    format: 1,
    channels: 1,
    rate: 44100,
    byteRate: 88200,
    block: 2,
    bits: 16,
    data: "data",
    dataSize: 1024,
  });
  await Deno.remove(path);
});

Deno.test("wavHeader caps sizes for captures past 4 GiB", () => {
  const h = parseWav(wavHeader(2 ** 33, { rate: 8000, channels: 1, bits: 8 }));
  assert.equal(h.dataSize, 0xffff_ffff - 36);
  assert.equal(h.riffSize, 0xffff_ffff);
});

Deno.test("MemorySink copies, DiscardSink counts", async () => {
  const m = new MemorySink();
  const chunk = new Uint8Array([1, 2, 3]);
  await m.write(chunk);
  chunk[0] = 7; // the caller may reuse its buffer
  await m.write(chunk.subarray(0, 1));
  assert.deepEqual(m.bytes(), new Uint8Array([1, 2, 3, 7]));
  const d = new DiscardSink();
  await d.write(new Uint8Array(5));
  await d.flush();
  await d.close();
  assert.equal(d.bytesWritten, 5);
});

/** A real file whose `fdatasync`s are counted, or fail with `fail` once armed. */
async function countedFile(
  path: string,
): Promise<{ file: Deno.FsFile; syncs: () => number; fail: (code: string) => void }> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const real = file.syncData.bind(file);
  let n = 0;
  let failWith: string | undefined;
  file.syncData = async () => {
    n++;
    await real();
    if (failWith) throw Object.assign(new Error(`fdatasync: ${failWith}`), { code: failWith });
  };
  return { file, syncs: () => n, fail: (code) => failWith = code };
}

Deno.test("OutputFile: close reports its own final sync's error once; after a reported error it closes quietly", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/out.bin`;
  const { file, syncs, fail } = await countedFile(path);
  const out = new OutputFile(path, file);
  await out.append(new Uint8Array(4096), { name: "t" });
  fail("EIO");
  await assert.rejects(
    out.close(),
    (e: unknown) =>
      e instanceof OutputError && e.code === "EIO" && e.output === path &&
      /an I\/O error on the device \(EIO\); the 4096 bytes written before it are kept/.test(
        e.message,
      ),
  );
  assert.equal(syncs(), 1);
  await out.close(); // closed: nothing more
  // A flush that failed has reported it: close does not say it twice.
  const path2 = `${dir}/out2.bin`;
  const second = await countedFile(path2);
  const out2 = new OutputFile(path2, second.file);
  await out2.append(new Uint8Array(1), { name: "t" });
  second.fail("EIO");
  await assert.rejects(out2.sync(), OutputError);
  await out2.close();
  assert.deepEqual(await Deno.readFile(path2), new Uint8Array(1));
  await Deno.remove(dir, { recursive: true });
});
