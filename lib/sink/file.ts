/**
 * The raw file sink, and the file writing the file sinks share.
 *
 * @module
 */
import { errorMessage, UsageError } from "../errors.ts";
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
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `--out: cannot create '${path}': its directory does not exist; create it first or choose another path`,
        { option: "--out", value: path, cause: e },
      );
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`--out: cannot write '${path}': permission denied`, {
        option: "--out",
        value: path,
        cause: e,
      });
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`--out: '${path}' is a directory; give a file name`, {
        option: "--out",
        value: path,
        cause: e,
      });
    }
    throw new UsageError(`--out: cannot open '${path}': ${errorMessage(e)}`, {
      option: "--out",
      value: path,
      cause: e,
    });
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
  #file: Deno.FsFile | undefined;
  #bytes = 0;
  #dirty = false;
  private constructor(path: string, file: Deno.FsFile) {
    this.name = `raw file ${path}`;
    this.#file = file;
  }
  /** Opens `path` for writing: truncated, or appended to with `append`. */
  static async open(path: string, options: { append?: boolean } = {}): Promise<FileSink> {
    const file = await openFile(path, {
      write: true,
      create: true,
      append: options.append ?? false,
      truncate: !options.append,
    });
    return new FileSink(path, file);
  }
  /** Bytes written by this sink (not counting what an appended file held). */
  get bytesWritten(): number {
    return this.#bytes;
  }
  /** Writes all of `chunk`. */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#file) throw new Error(`${this.name}: write after close`);
    await appendSync(this.#file, chunk);
    this.#bytes += chunk.length;
    this.#dirty = true;
  }
  /** `fdatasync`s the file. */
  async flush(): Promise<void> {
    if (this.#file && this.#dirty) {
      await this.#file.syncData();
      this.#dirty = false;
    }
  }
  /** Flushes and closes. */
  async close(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.flush();
    } finally {
      this.#file.close();
      this.#file = undefined;
    }
  }
}
