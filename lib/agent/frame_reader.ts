/**
 * Reading the agent's frames ({@link ./frame.ts}) from a byte stream, one
 * at a time, each header checked before its payload is read or lands in a
 * caller's buffer.
 *
 * @module
 */
import {
  AgentErrno,
  decodeFrame,
  decodeFrameHeader,
  type DecodeFrameOptions,
  type Frame,
  FRAME_HEADER_SIZE,
  type FrameHeader,
  FrameKind,
  ProtocolError,
} from "./frame.ts";

/**
 * The most one read of a byte stream returns: a pipe read returns at most the
 * pipe's capacity, 1 MiB for the agent's ssh (lib/agent/spawn.ts).
 */
const SCRATCH_BYTES = 1024 * 1024;

/** A BYOB reader of `stream` when it is a byte stream, else undefined (nothing locked). */
function byobReader(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: "byob" });
  } catch {
    return undefined; // not a byte stream
  }
}

/**
 * Reads frames from a byte stream, one at a time, checking every header
 * before reading its payload. `read()` resolves to `null` at a clean end of
 * stream (between frames) and throws a {@linkcode ProtocolError} for a
 * malformed frame or a stream that ends inside one.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameKind } from "./frame.ts";
 * import { FrameReader } from "./frame_reader.ts";
 * const bytes = encodeFrame({ kind: FrameKind.Data, flags: 0, seq: 1, payload: new Uint8Array(4) });
 * const reader = new FrameReader(ReadableStream.from([bytes.subarray(0, 7), bytes.subarray(7)]));
 * console.log((await reader.read())?.payload.length, await reader.read()); // 4 null
 * ```
 */
export class FrameReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader;
  /** A byte stream's reads land here (BYOB), reused: no new chunk per pipe read. */
  #scratch?: ArrayBuffer;
  readonly #options: DecodeFrameOptions;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #eof = false;
  /** Start of the frame whose header was checked already (-1: none). */
  #checked = -1;
  #onHeader?: (header: FrameHeader) => void;
  #dataDestination?: (seq: number, length: number) => Uint8Array | undefined;

  /** Creates a reader of `stream`, which it locks. */
  constructor(stream: ReadableStream<Uint8Array>, options: DecodeFrameOptions = {}) {
    this.#reader = byobReader(stream) ?? stream.getReader();
    if (this.#reader instanceof ReadableStreamBYOBReader) {
      this.#scratch = new ArrayBuffer(SCRATCH_BYTES);
    }
    this.#options = { ...options };
  }

  /**
   * The stream's next chunk, or `done`. From a byte stream (a child's stdout)
   * it is a view of the reused scratch buffer, valid until the next call:
   * every caller copies it out at once. A default reader allocates a new
   * 64 KiB chunk for every pipe read, garbage the collector then sweeps, at
   * hundreds of MiB/s (backends/process.ts reads a command's output the same way).
   */
  async #next(): Promise<{ value?: Uint8Array; done: boolean }> {
    if (this.#scratch === undefined) {
      return await (this.#reader as ReadableStreamDefaultReader<Uint8Array>).read();
    }
    const r = await (this.#reader as ReadableStreamBYOBReader).read(
      new Uint8Array(this.#scratch),
    );
    if (r.value !== undefined) this.#scratch = r.value.buffer as ArrayBuffer;
    return { value: r.value, done: r.done };
  }

  /** Changes the payload caps (e.g. once the hello has told the largest read). */
  setLimits(options: DecodeFrameOptions): void {
    Object.assign(this.#options, options);
  }

  /**
   * Sets a check of every frame's header, called as soon as the header is in
   * and before any of the payload is waited for: it throws to refuse the frame
   * (e.g. a data frame longer than what was asked), so a hostile length never
   * makes the reader buffer its payload.
   */
  onHeader(check: (header: FrameHeader) => void): void {
    this.#onHeader = check;
  }

  /**
   * Where data frames go: `pick(seq, length)` returns the buffer of exactly
   * `length` bytes a data frame's payload is to be read into (the frame's
   * `payload` is then that buffer), or `undefined` for a fresh copy as usual.
   * The payload then goes from the stream's chunks straight into it, once,
   * instead of through the reassembly buffer and a copy. The header check of
   * {@linkcode FrameReader.onHeader} comes first.
   */
  setDataDestination(pick: (seq: number, length: number) => Uint8Array | undefined): void {
    this.#dataDestination = pick;
  }

  /** The next frame (its payload is a fresh copy, or see {@linkcode FrameReader.setDataDestination}), or `null` at a clean end. */
  async read(): Promise<Frame | null> {
    while (true) {
      const have = this.#buf.subarray(this.#start, this.#end);
      if (
        have.length >= FRAME_HEADER_SIZE &&
        (this.#checked !== this.#start || this.#dataDestination !== undefined)
      ) {
        const h = decodeFrameHeader(have, this.#options); // the caps, before the payload
        if (this.#checked !== this.#start) {
          this.#onHeader?.(h);
          this.#checked = this.#start;
        }
        const dest = this.#dataDestination !== undefined && h.kind === FrameKind.Data &&
            have.length < FRAME_HEADER_SIZE + h.length
          ? this.#dataDestination(h.seq, h.length)
          : undefined;
        if (dest !== undefined && dest.length === h.length) {
          this.#start += FRAME_HEADER_SIZE;
          this.#checked = -1;
          await this.#readPayloadInto(dest);
          return { kind: h.kind, flags: h.flags, seq: h.seq, payload: dest };
        }
      }
      const decoded = decodeFrame(have, this.#options);
      if (decoded !== undefined) {
        this.#start += decoded.size;
        this.#checked = -1; // the next frame's header is not checked yet
        const f = decoded.frame;
        return { kind: f.kind, flags: f.flags, seq: f.seq, payload: f.payload.slice() };
      }
      if (this.#eof) {
        if (have.length === 0) return null;
        throw new ProtocolError(
          `the stream ended inside a frame (${have.length} bytes of a frame received)`,
          { code: AgentErrno.EPROTO },
        );
      }
      await this.#fill();
    }
  }

  /** Moves the next `dest.length` bytes of the stream (buffered ones first) into `dest`. */
  async #readPayloadInto(dest: Uint8Array): Promise<void> {
    let got = Math.min(dest.length, this.#end - this.#start);
    dest.set(this.#buf.subarray(this.#start, this.#start + got));
    this.#start += got;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    while (got < dest.length) {
      const { value, done } = await this.#next();
      if (done) {
        this.#eof = true;
        throw new ProtocolError(
          `the stream ended inside a frame (${got} of a ${dest.length}-byte payload received)`,
          { code: AgentErrno.EPROTO },
        );
      }
      if (!value || value.length === 0) continue;
      const n = Math.min(value.length, dest.length - got);
      dest.set(n === value.length ? value : value.subarray(0, n), got);
      got += n;
      if (n < value.length) {
        // The start of the next frame: into the (now empty) reassembly buffer.
        const rest = value.subarray(n);
        if (rest.length > this.#buf.length) this.#buf = new Uint8Array(rest.length);
        this.#buf.set(rest, 0);
        this.#start = 0;
        this.#end = rest.length;
      }
    }
  }

  async #fill(): Promise<void> {
    const { value, done } = await this.#next();
    if (done) {
      this.#eof = true;
      return;
    }
    if (!value || value.length === 0) return;
    const used = this.#end - this.#start;
    if (this.#end + value.length > this.#buf.length) {
      if (used + value.length <= this.#buf.length && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, used + value.length));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#checked = this.#checked === this.#start ? 0 : -1;
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(value, this.#end);
    this.#end += value.length;
    // Give memory back after a big frame.
    if (this.#start === this.#end && this.#buf.length > 1024 * 1024) {
      this.#buf = new Uint8Array(64 * 1024);
      this.#start = this.#end = 0;
    }
  }

  /** Stops reading and releases the stream. */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch {
      // already errored or closed
    }
  }
}
