/**
 * The raw file sink, and the file writing the file sinks share.
 *
 * @module
 */
import { OutputError } from "../errors.ts";
import { openOutputError, outputError } from "./output_error.ts";
import type { Sink } from "./types.ts";

/**
 * Writes all of `data` to `w` (a file, stdout), however short each write is.
 *
 * @example
 * ```ts
 * import { writeAll } from "./file.ts";
 * await writeAll(Deno.stdout, new TextEncoder().encode("hi\n"));
 * ```
 */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/**
 * Appends `data` to a file on this thread. The capture path of the file sinks:
 * the bytes were just copied into the buffer on this thread and are still in
 * its cache, where an async write hands them to another thread first
 * (`deno task bench --only disk`, disk.vs_dd: 0.85-0.88 of dd async, 0.91-0.97 sync).
 * The dumper waits for every append either way. Errors reject, never throw.
 *
 * @example
 * ```ts
 * import { appendSync } from "./file.ts";
 * const path = await Deno.makeTempFile();
 * using file = await Deno.open(path, { write: true, append: true });
 * await appendSync(file, new Uint8Array(3));
 * ```
 */
export function appendSync(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  try {
    let off = 0;
    while (off < data.length) off += file.writeSync(data.subarray(off));
  } catch (e) {
    return Promise.reject(e);
  }
  return Promise.resolve();
}

/**
 * Opens an output file; a missing directory, a denied permission or a
 * directory in its place is a {@linkcode UsageError} saying so.
 *
 * @example
 * ```ts
 * import { openFile } from "./file.ts";
 * const path = await Deno.makeTempFile();
 * (await openFile(path, { write: true })).close();
 * ```
 */
export async function openFile(path: string, options: Deno.OpenOptions): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, options);
  } catch (e) {
    throw openOutputError(e, path);
  }
}

/**
 * A raw file sink.
 *
 * @example
 * ```ts
 * import { FileSink } from "./file.ts";
 * const path = await Deno.makeTempFile();
 * const sink = await FileSink.open(path);
 * await sink.write(new Uint8Array([1, 2, 3]));
 * await sink.close();
 * console.log((await Deno.readFile(path)).length); // 3
 * ```
 */
export class FileSink implements Sink {
  readonly name: string;
  readonly #path: string;
  #file: Deno.FsFile | undefined;
  /** A regular file: synced, and watched for being deleted (a device or FIFO is neither). */
  readonly #regular: boolean;
  #bytes = 0;
  #dirty = false;
  #failed = false;
  private constructor(path: string, file: Deno.FsFile, regular: boolean) {
    this.name = `raw file ${path}`;
    this.#path = path;
    this.#file = file;
    this.#regular = regular;
  }
  /** Opens `path` for writing: truncated, or appended to with `append`. */
  static async open(path: string, options: { append?: boolean } = {}): Promise<FileSink> {
    const file = await openFile(path, {
      write: true,
      create: true,
      append: options.append ?? false,
      truncate: !options.append,
    });
    return new FileSink(path, file, file.statSync().isFile);
  }
  /** Bytes written by this sink (not counting what an appended file held). */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Writes all of `chunk`; a failure is an {@linkcode OutputError}. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#file) throw new Error(`${this.name}: write after close`);
    try {
      await appendSync(this.#file, chunk);
      if (this.#regular) checkNotDeleted(this.#file, { path: this.#path, bytes: this.#bytes });
    } catch (e) {
      this.#failed = true;
      throw outputError(e, { output: this.#path, bytes: this.#bytes });
    }
    this.#bytes += chunk.length;
    this.#dirty = true;
  }
  /** `fdatasync`s the file (a regular file only: a device has nothing to sync). */
  async flush(): Promise<void> {
    if (this.#file && this.#dirty && this.#regular) {
      try {
        await this.#file.syncData();
      } catch (e) {
        if (this.#failed) return; // the first error is the one reported
        this.#failed = true;
        throw outputError(e, { output: this.#path, bytes: this.#bytes });
      }
      this.#dirty = false;
    }
  }
  /** Flushes and closes; after a write error, closes without a second error. */
  async close(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.flush();
    } catch (e) {
      if (!this.#failed) throw e;
    } finally {
      this.#file?.close();
      this.#file = undefined;
    }
  }
}

/**
 * Throws an {@linkcode OutputError} when the file open as `file` has no name
 * left (it was deleted under the capture: what is written goes nowhere).
 *
 * @example
 * ```ts
 * import { checkNotDeleted } from "./file.ts";
 * const path = await Deno.makeTempFile();
 * const f = await Deno.open(path, { write: true });
 * await Deno.remove(path);
 * try {
 *   checkNotDeleted(f, { path, bytes: 0 });
 * } catch (e) {
 *   console.log((e as Error).message.includes("was deleted")); // true
 * }
 * f.close();
 * ```
 */
export function checkNotDeleted(
  file: Deno.FsFile,
  options: { path: string; bytes: number },
): void {
  const { path, bytes } = options;
  if (file.statSync().nlink === 0) {
    throw new OutputError(
      `--out ${path}: the output file was deleted during the capture, after ${bytes} bytes; ` +
        `nothing written from here on could be kept, so the capture stops`,
      { output: path, code: "ENOENT" },
    );
  }
}
