/**
 * The capture side of the resident agent protocol ({@link ./protocol.ts}):
 * {@linkcode AgentClient}, a {@linkcode Backend} that reads through an agent
 * on the other end of a pair of streams, and {@linkcode spawnAgent}, which
 * starts one as a subprocess.
 *
 * @module
 */
import {
  type ControlInfoMap,
  ControlList,
  type ControlSerializer,
  int32Value,
} from "../controls/mod.ts";
import { BackendError, errorMessage } from "../errors.ts";
import { hex } from "../units.ts";
import type { Backend, RegisterWidth } from "../../backends/types.ts";
import {
  AgentTimeoutError,
  decodeErrorPayload,
  encodeErrorFrame,
  errnoName,
  type FrameHeader,
  FrameKind,
  type FrameWriter,
  ProtocolError,
} from "./frame.ts";
import type { FrameReader } from "./frame_reader.ts";

export { AgentTimeoutError } from "./frame.ts";
import {
  type AgentClientOptions,
  agentHandshake,
  type AgentHello,
  MAX_CLIENT_READ,
} from "./hello.ts";

export { type AgentClientOptions, type AgentHello, MAX_CLIENT_READ } from "./hello.ts";
import {
  AgentControls as C,
  AgentOp,
  asProtocolError,
  bigOf,
  fromWire,
  intOf,
  serializeFrame,
  strOf,
  toWire,
} from "./protocol.ts";

// ---------------------------------------------------------------------------
// The client (a Backend)
// ---------------------------------------------------------------------------

interface Pending {
  seq: number;
  what: string;
  resolve: (v: bigint | undefined) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
  /** For a range: where the data frame goes, once a status-0 reply came. */
  dest?: Uint8Array;
  awaitingData?: boolean;
  address: bigint;
}

/**
 * A {@linkcode Backend} that reads through an agent on the other end of a
 * pair of streams (a subprocess's stdout/stdin, an SSH channel). Requests are
 * pipelined and matched to replies by id; a read larger than the agent's
 * largest read is split into several requests in flight at once. Every
 * request has a timeout ({@linkcode AgentTimeoutError}); a peer that goes away
 * or breaks the protocol fails every pending and later request with a
 * {@linkcode BackendError} that says so (with the agent's stderr when known).
 *
 * @example
 * ```ts ignore
 * import { AgentClient } from "./client.ts";
 * import { ringGeometry } from "../ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const child = new Deno.Command("ringdump", {
 *   args: ["agent", "--mem", "/dev/shm/ring.img"],
 *   stdin: "piped",
 *   stdout: "piped",
 * }).spawn();
 * const client = await AgentClient.connect(
 *   { readable: child.stdout, writable: child.stdin },
 *   { geometry },
 * );
 * console.log(client.hello.memoryDevice, await client.readRegister(geometry.counterAddress, 32));
 * await client.close();
 * ```
 */
export class AgentClient implements Backend {
  /** Backend name (`agent` unless given). */
  readonly name: string;
  /**
   * Largest read worth one call (see {@linkcode Backend.maxReadBytes}): a read
   * is split into requests of the agent's largest read, all in flight, so a
   * large read keeps the link busy instead of waiting a round trip per part.
   */
  readonly maxReadBytes: number = 32 * 1024 * 1024;
  /**
   * One counter re-read per this many bytes (see
   * {@linkcode Backend.checkBatchBytes}): short, so each check follows its
   * reads closely (a page is judged by the counter read right after the batch
   * that holds it); with {@linkcode AgentClient.pipelineBytes} the checks are
   * requests in flight among the reads, not a round trip each.
   */
  readonly checkBatchBytes: number = 512 * 1024;
  /**
   * Batches in flight together (see {@linkcode Backend.pipelineBytes}): the
   * agent serves requests in order, so a period's batches and their checks
   * all go out at once.
   */
  readonly pipelineBytes: number = 64 * 1024 * 1024;
  /** What the agent said in its hello. */
  readonly hello: AgentHello;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #serializer: ControlSerializer;
  readonly #map: ControlInfoMap;
  readonly #timeout: number;
  readonly #stderr?: () => string;
  readonly #onClose?: () => Promise<void>;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #failure: BackendError | undefined;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();

  private constructor(
    parts: {
      reader: FrameReader;
      writer: FrameWriter;
      serializer: ControlSerializer;
      map: ControlInfoMap;
      hello: AgentHello;
    },
    options: AgentClientOptions,
  ) {
    this.name = options.name ?? "agent";
    this.hello = parts.hello;
    this.#reader = parts.reader;
    this.#writer = parts.writer;
    this.#serializer = parts.serializer;
    this.#map = parts.map;
    this.#timeout = options.timeout ?? 10_000;
    this.#stderr = options.stderr;
    this.#onClose = options.onClose;
    // A data frame for a range request goes straight into its destination.
    this.#reader.setDataDestination((seq, length) => {
      const p = this.#pending.get(seq);
      return p?.awaitingData && p.dest?.length === length ? p.dest : undefined;
    });
  }

  /**
   * Does the hello with the agent at the other end of `streams` and returns a
   * client ready for reads. Throws a {@linkcode ProtocolError} for an
   * unsupported version or a malformed hello, a {@linkcode BackendError} when
   * the agent cannot open its memory or goes away, an
   * {@linkcode AgentTimeoutError} when it says nothing in time.
   */
  static async connect(
    streams: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
    options: AgentClientOptions,
  ): Promise<AgentClient> {
    const { reader, writer, serializer, map, hello } = await agentHandshake(streams, options);
    const client = new AgentClient({ reader, writer, serializer, map, hello }, options);
    reader.onHeader((h) => client.#checkHeader(h));
    client.#loop = client.#readLoop();
    return client;
  }

  /** Reads a register through the agent. */
  readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    const list = new ControlList(this.#map)
      .set(C.Op, int32Value(AgentOp.ReadRegister))
      .set(C.Address, toWire(address))
      .set(C.Width, int32Value(width));
    return this.#request(list, {
      what: `${width}-bit register at ${hex(address)}`,
      address,
    }) as Promise<bigint>;
  }

  /**
   * The largest read asked of the agent in one request: its own largest read,
   * capped at {@linkcode MAX_CLIENT_READ}.
   */
  get maxRead(): number {
    return Math.min(this.hello.maxRead, MAX_CLIENT_READ);
  }

  /** Refuses a data frame whose length is not what its request asked for, before its payload. */
  #checkHeader(h: FrameHeader): void {
    if (h.kind !== FrameKind.Data) return;
    const p = this.#pending.get(h.seq);
    if (p?.dest !== undefined && h.length !== p.dest.length) {
      throw new ProtocolError(
        `data frame for request ${h.seq} announces ${h.length} bytes, but ${p.dest.length} were asked for`,
        { backend: this.name },
      );
    }
  }

  /** Fills `dest` from `address`, in requests of at most {@linkcode AgentClient.maxRead}, all in flight. */
  async read(address: bigint, dest: Uint8Array): Promise<void> {
    const max = this.maxRead;
    const parts: Promise<unknown>[] = [];
    for (let off = 0; off < dest.length; off += max) {
      const part = dest.subarray(off, Math.min(dest.length, off + max));
      const at = address + BigInt(off);
      const list = new ControlList(this.#map)
        .set(C.Op, int32Value(AgentOp.ReadRange))
        .set(C.Address, toWire(at))
        .set(C.Length, int32Value(part.length));
      parts.push(
        this.#request(list, {
          what: `read of ${part.length} bytes at ${hex(at)}`,
          address: at,
          dest: part,
        }),
      );
    }
    // Wait for every part (even after a failure) so no late data lands in `dest`.
    const results = await Promise.allSettled(parts);
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
  }

  /**
   * Every read, then the register, all in flight at once: the agent serves
   * requests in order, so the register is read right after the last range,
   * with no round trip in between (see {@linkcode Backend.readThenRegister}).
   */
  async readThenRegister(
    reads: readonly { address: bigint; dest: Uint8Array }[],
    register: { address: bigint; width: RegisterWidth },
  ): Promise<bigint> {
    // read() sends its requests before its first await: they go out in this order.
    const parts: Promise<unknown>[] = reads.map((r) => this.read(r.address, r.dest));
    const value = this.readRegister(register.address, register.width);
    const results = await Promise.allSettled([...parts, value]);
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
    return await value;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.#pending.size;
  }

  #request(
    list: ControlList,
    ctx: { what: string; address: bigint; dest?: Uint8Array },
  ): Promise<bigint | undefined> {
    if (this.#closed) {
      return Promise.reject(
        new BackendError(`${this.name}: ${ctx.what} after close`, { backend: this.name }),
      );
    }
    if (this.#failure) return Promise.reject(this.#failure);
    this.#seq = this.#seq >= 0xffff_ffff ? 1 : this.#seq + 1;
    const seq = this.#seq;
    const frame = serializeFrame(this.#serializer, list, seq);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(
          new AgentTimeoutError({
            seq,
            timeout: this.#timeout,
            what: ctx.what,
            backend: this.name,
          }),
        );
      }, this.#timeout);
      this.#pending.set(seq, {
        seq,
        what: ctx.what,
        resolve,
        reject,
        timer,
        dest: ctx.dest,
        address: ctx.address,
      });
      this.#writer.write(frame).catch((e) => {
        this.#fail(
          new BackendError(
            `${this.name}: cannot send a request to the agent (${errorMessage(e)}): ` +
              `the agent went away${this.#stderrNote()}`,
            { backend: this.name, stderr: this.#stderr?.(), cause: e },
          ),
        );
      });
    });
  }

  #stderrNote(): string {
    const s = this.#stderr?.().trim();
    return s ? `; the agent said: ${s}` : "";
  }

  #settle(p: Pending, error?: unknown, value?: bigint): void {
    clearTimeout(p.timer);
    this.#pending.delete(p.seq);
    if (error !== undefined) p.reject(error);
    else p.resolve(value);
  }

  async #readLoop(): Promise<void> {
    try {
      while (true) {
        const frame = await this.#reader.read();
        if (frame === null) {
          if (this.#closed) return;
          await new Promise((r) => setTimeout(r, 50)); // let its stderr arrive
          throw new BackendError(
            `${this.name}: the agent went away (its output ended)` +
              (this.#pending.size ? ` with ${this.#pending.size} requests unanswered` : "") +
              this.#stderrNote(),
            { backend: this.name, stderr: this.#stderr?.() },
          );
        }
        if (frame.kind === FrameKind.Error) {
          const { code, message } = decodeErrorPayload(frame.payload);
          throw new ProtocolError(
            `the agent failed (${errnoName(code)}): ${message.replace(/^agent protocol: /, "")}`,
            { code, backend: this.name, stderr: this.#stderr?.() },
          );
        }
        const p = this.#pending.get(frame.seq);
        if (frame.kind === FrameKind.Data) {
          if (p === undefined) continue; // the request timed out; drop its bytes
          if (!p.awaitingData || !p.dest) {
            throw new ProtocolError(`unexpected data frame for request ${frame.seq}`, {
              backend: this.name,
            });
          }
          if (frame.payload.length !== p.dest.length) {
            throw new ProtocolError(
              `data frame for request ${frame.seq} has ${frame.payload.length} bytes, expected ${p.dest.length}`,
              { backend: this.name },
            );
          }
          // Read straight into dest already (setDataDestination), or copy.
          if (frame.payload !== p.dest) p.dest.set(frame.payload);
          this.#settle(p);
          continue;
        }
        if (frame.kind !== FrameKind.List) {
          throw new ProtocolError(`unexpected frame of kind ${frame.kind} after the hello`, {
            backend: this.name,
          });
        }
        let reply: ControlList;
        try {
          reply = this.#serializer.deserializeList(frame.payload);
        } catch (e) {
          throw asProtocolError(e, `reply ${frame.seq}`);
        }
        if (p === undefined) continue; // a late reply to a request that timed out
        if (p.awaitingData) {
          throw new ProtocolError(`second reply to request ${frame.seq}`, { backend: this.name });
        }
        const status = intOf(reply, C.Status);
        if (status !== 0) {
          this.#settle(
            p,
            new BackendError(
              `${this.name}: ${p.what} failed on the board (${errnoName(status ?? -1)}): ${
                strOf(reply, C.Message) ?? "no message"
              }`,
              { backend: this.name, address: p.address },
            ),
          );
        } else if (p.dest) {
          p.awaitingData = true;
        } else {
          const v = bigOf(reply, C.Value);
          if (v === undefined) {
            throw new ProtocolError(`reply ${frame.seq} to a register read has no value`);
          }
          this.#settle(p, undefined, fromWire(v));
        }
      }
    } catch (e) {
      const error = e instanceof BackendError ? e : new BackendError(
        `${this.name}: reading from the agent failed: ${errorMessage(e)}${this.#stderrNote()}`,
        { backend: this.name, cause: e },
      );
      this.#fail(error);
      if (!(e instanceof ProtocolError)) return;
      // Tell the agent why the link is dropped.
      await this.#writer.write(encodeErrorFrame(0, { code: e.code, message: e.message }))
        .catch(() => {});
    }
  }

  #fail(error: BackendError): void {
    if (this.#failure === undefined) this.#failure = error;
    for (const p of [...this.#pending.values()]) this.#settle(p, this.#failure);
  }

  /** Closes the link: the agent sees its input end and exits. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new BackendError(`${this.name}: closed`, { backend: this.name }));
    await this.#writer.close();
    // The agent answers the end of its input by ending its output; do not wait forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#loop, new Promise((r) => timer = setTimeout(r, 2000))]);
    clearTimeout(timer);
    await this.#reader.cancel();
    await this.#onClose?.();
  }
}
