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
 * await Deno.remove(path);
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
 * await Deno.remove(path);
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
 * await Deno.remove(path);
 * ```
 */
export class FileSink implements Sink {
  readonly name: string;
  readonly #out: OutputFile;
  private constructor(path: string, file: Deno.FsFile) {
    this.name = `raw file ${path}`;
    this.#out = new OutputFile(path, file);
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
    return this.#out.bytes;
  }
  /** Writes all of `chunk`; a failure is an {@linkcode OutputError}. */
  write(chunk: Uint8Array): Promise<void> {
    return this.#out.append(chunk, { name: this.name });
  }
  /** `fdatasync`s the file (a regular file only: a device has nothing to sync). */
  flush(): Promise<void> {
    return this.#out.sync();
  }
  /** Flushes and closes; after a write error, closes without a second error. */
  close(): Promise<void> {
    return this.#out.close();
  }
}

/**
 * The write path the file sinks share ({@linkcode FileSink}, `WavSink`):
 * appends on this thread, counts what was written, syncs only a regular file
 * (a device or FIFO has nothing to sync), notices a file deleted under the
 * capture, and reports only the first output error.
 *
 * @example
 * ```ts
 * import { OutputFile } from "./file.ts";
 * const path = await Deno.makeTempFile();
 * const out = new OutputFile(path, await Deno.open(path, { write: true }));
 * await out.append(new Uint8Array(3), { name: "example" });
 * await out.close();
 * console.log(out.bytes); // 3
 * await Deno.remove(path);
 * ```
 */
export class OutputFile {
  /** The output's path, for messages. */
  readonly path: string;
  #file: Deno.FsFile | undefined;
  readonly #regular: boolean;
  #bytes = 0;
  #dirty = false;
  #failed = false;
  /** Writes to `file`, opened at `path`. */
  constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
    this.#regular = file.statSync().isFile;
  }
  /** Bytes appended so far. */
  get bytes(): number {
    return this.#bytes;
  }
  /**
   * Appends all of `chunk`, then runs `after` with the file and the byte
   * count including the chunk (the WAV's header patch). A failure is an
   * {@linkcode OutputError}; the chunk then does not count.
   */
  async append(
    chunk: Uint8Array,
    options: { name: string; after?: (file: Deno.FsFile, bytes: number) => void },
  ): Promise<void> {
    const f = this.#file;
    if (!f) throw new Error(`${options.name}: write after close`);
    try {
      await appendSync(f, chunk);
      options.after?.(f, this.#bytes + chunk.length);
      if (this.#regular) checkNotDeleted(f, { path: this.path, bytes: this.#bytes });
    } catch (e) {
      this.#failed = true;
      throw outputError(e, { output: this.path, bytes: this.#bytes });
    }
    this.#bytes += chunk.length;
    this.#dirty = true;
  }
  /** `fdatasync`s what was appended since the last sync (a regular file only). */
  async sync(): Promise<void> {
    const f = this.#file;
    if (!f || !this.#dirty || !this.#regular) return;
    try {
      await f.syncData();
    } catch (e) {
      if (this.#failed) return; // the first error is the one reported
      this.#failed = true;
      throw outputError(e, { output: this.path, bytes: this.#bytes });
    }
    this.#dirty = false;
  }
  /** Syncs and closes; after a write error, closes without a second error. Idempotent. */
  async close(): Promise<void> {
    if (!this.#file) return;
    // An error reported before (a write's, a flush's) is not reported again;
    // the final sync's own is.
    const reported = this.#failed;
    try {
      await this.sync();
    } catch (e) {
      if (!reported) throw e;
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
      `${path}: the output file was deleted during the capture, after ${bytes} bytes; ` +
        `nothing written from here on could be kept, so the capture stops`,
      { output: path, code: "ENOENT" },
    );
  }
}
