/**
 * The agent, the board side of the resident agent protocol
 * ({@link ./protocol.ts}): serves one client on a pair of streams.
 *
 * @module
 */
import { mapBuffer } from "../../backends/libc_util.ts";
import {
  type ControlInfoMap,
  ControlList,
  ControlSerializer,
  int32Value,
  stringValue,
} from "../controls/mod.ts";
import { BackendError, errorMessage } from "../errors.ts";
import { type RingGeometry, ringGeometry } from "../ring.ts";
import type { Backend, RegisterWidth } from "../../backends/types.ts";
import {
  AgentErrno,
  decodeErrorPayload,
  DEFAULT_MAX_READ,
  encodeErrorFrame,
  type Frame,
  FRAME_HEADER_SIZE,
  FrameKind,
  FrameWriter,
  ProtocolError,
  writeFrameHeader,
} from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import {
  AGENT_PROTOCOL_VERSION,
  AgentControls as C,
  agentHelloList,
  agentInfoMap,
  AgentOp,
  asProtocolError,
  bigOf,
  fromWire,
  intOf,
  serializeFrame,
  toWire,
} from "./protocol.ts";

// ---------------------------------------------------------------------------
// The agent (server side)
// ---------------------------------------------------------------------------

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** Where requests come from (the agent's stdin). */
  input: ReadableStream<Uint8Array>;
  /** Where replies go (the agent's stdout). */
  output: WritableStream<Uint8Array>;
  /**
   * Opens the memory for the ring the client names in its hello (e.g. the
   * devmem backend over `/dev/mem` or an image file).
   */
  open: (geometry: RingGeometry) => Promise<Backend>;
  /** The memory device, as reported in the hello (e.g. `/dev/mem`). */
  memory: string;
  /** Physical address of the device's byte 0, as reported in the hello; default 0. */
  origin?: bigint;
  /** Page size reported in the hello; default 4096. */
  pageSize?: number;
  /** Largest read served in one request; default {@linkcode DEFAULT_MAX_READ}. */
  maxRead?: number;
  /** Protocol version to offer (tests only); default {@linkcode AGENT_PROTOCOL_VERSION}. */
  protocolVersion?: number;
}

/** What an agent did, for its log. */
export interface AgentStats {
  /** Requests served (including failed ones). */
  requests: number;
  /** Bytes of ranges sent. */
  bytes: number;
}

/**
 * Serves one client on a pair of streams until the client closes its end
 * (then resolves) or breaks the protocol (then sends an error frame and
 * throws a {@linkcode ProtocolError}). A read that fails is answered with a
 * non-zero status and the message; the agent goes on.
 *
 * @example
 * ```ts
 * import { AgentClient } from "./client.ts";
 * import { runAgent } from "./server.ts";
 * import { openSim } from "../../backends/sim.ts";
 * import { ringGeometry } from "../ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const served = runAgent({
 *   input: up.readable,
 *   output: down.writable,
 *   memory: "sim",
 *   open: (g) => Promise.resolve(openSim(g, { pattern: "counter" })),
 * });
 * const client = await AgentClient.connect({ readable: down.readable, writable: up.writable }, { geometry });
 * console.log(await client.readRegister(geometry.counterAddress, 32)); // 0n
 * await client.close();
 * await served;
 * ```
 */
export async function runAgent(options: AgentOptions): Promise<AgentStats> {
  const maxRead = options.maxRead ?? DEFAULT_MAX_READ;
  const pageSize = options.pageSize ?? 4096;
  const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
  if (!Number.isSafeInteger(maxRead) || maxRead < 1 || maxRead > 0x7fff_ffff) {
    throw new ProtocolError(`max read must be between 1 and 2^31-1 bytes (got ${maxRead})`, {
      code: AgentErrno.EINVAL,
    });
  }
  const serializer = new ControlSerializer({ role: "proxy" });
  const reader = new FrameReader(options.input, { maxData: 0 });
  const writer = new FrameWriter(options.output);
  const stats: AgentStats = { requests: 0, bytes: 0 };
  let backend: Backend | undefined;

  const fatal = async (error: ProtocolError): Promise<never> => {
    try {
      await writer.write(encodeErrorFrame(0, { code: error.code, message: error.message }));
    } catch {
      // the client is gone; the local message is all there is
    }
    throw error;
  };

  try {
    // 1. Hello: the map, then the hello list.
    const map = agentInfoMap({ pageSize, maxRead, protocolVersion: version });
    const hello = agentHelloList(map, {
      protocolVersion: version,
      pageSize,
      maxRead,
      memory: options.memory,
      origin: options.origin ?? 0n,
    });
    // One chunk, so a client that refuses the map has no half-written hello to wait for.
    const mapFrame = serializeFrame(serializer, map, 0);
    const helloFrame = serializeFrame(serializer, hello, 0);
    const both = new Uint8Array(mapFrame.length + helloFrame.length);
    both.set(mapFrame);
    both.set(helloFrame, mapFrame.length);
    try {
      await writer.write(both);
    } catch (e) {
      // The client stopped listening; it may have said why before it went.
      const said = await Promise.race([
        reader.read().catch(() => null),
        new Promise<null>((r) => setTimeout(() => r(null), 1000)),
      ]);
      if (said?.kind === FrameKind.Error) {
        const { code, message } = decodeErrorPayload(said.payload);
        throw new ProtocolError(`the client gave up: ${message}`, { code });
      }
      throw new ProtocolError(
        `cannot send the hello: the client went away (${errorMessage(e)})`,
        {
          cause: e,
        },
      );
    }

    // 2. The client's hello.
    let first: Frame | null;
    try {
      first = await reader.read();
    } catch (e) {
      if (e instanceof ProtocolError) return await fatal(e);
      throw e;
    }
    if (first === null) return stats; // the client looked and left
    if (first.kind === FrameKind.Error) {
      const { code, message } = decodeErrorPayload(first.payload);
      throw new ProtocolError(`the client gave up: ${message}`, { code });
    }
    if (first.kind !== FrameKind.List || first.seq !== 0) {
      return await fatal(
        new ProtocolError(
          `expected the client's hello (a list with seq 0), got a frame of kind ${first.kind} seq ${first.seq}`,
        ),
      );
    }
    let clientHello: ControlList;
    try {
      clientHello = serializer.deserializeList(first.payload);
    } catch (e) {
      return await fatal(asProtocolError(e, "the client's hello") as ProtocolError);
    }
    const clientVersion = intOf(clientHello, C.ProtocolVersion);
    if (clientVersion !== version) {
      return await fatal(
        new ProtocolError(
          `the client speaks protocol version ${
            clientVersion ?? "(none)"
          }, this agent speaks ${version}; ` +
            `deploy the same ringdump on both sides (ringdump deploy)`,
          { code: AgentErrno.EPROTONOSUPPORT },
        ),
      );
    }
    let geometry: RingGeometry;
    try {
      geometry = ringGeometry({
        base: fromWire(bigOf(clientHello, C.RingBase) ?? 0n),
        pageSize: intOf(clientHello, C.RingPageSize) ?? 0,
        pages: intOf(clientHello, C.RingPages) ?? 0,
        counterAddress: fromWire(bigOf(clientHello, C.CounterAddress) ?? 0n),
        counterWrap: Number(bigOf(clientHello, C.CounterWrap) ?? 0n),
      });
    } catch (e) {
      return await fatal(
        new ProtocolError(`the client's hello has a bad ring geometry: ${errorMessage(e)}`, {
          code: AgentErrno.EINVAL,
        }),
      );
    }

    // 3. Open the memory; say whether it worked.
    try {
      backend = await options.open(geometry);
    } catch (e) {
      const message = `cannot open ${options.memory}: ${errorMessage(e)}`;
      await writer.write(encodeErrorFrame(0, { code: AgentErrno.EIO, message })).catch(() => {});
      throw new BackendError(message, { backend: "agent", cause: e });
    }
    await writer.write(
      serializeFrame(serializer, new ControlList(map).set(C.Status, int32Value(0)), 0),
    );

    // 4. Requests, until the client closes its end. Replies are written
    // behind, in order (FrameWriter serializes them), at most WRITE_BEHIND at
    // a time: the next request is read and served while the last reply
    // drains to the client. Data buffers of written replies are reused, so
    // a read does not touch fresh pages.
    const writes: Promise<void>[] = [];
    const pool: Uint8Array[] = [];
    let writeError: unknown;
    const sent = async (): Promise<void> => {
      await Promise.all(writes.splice(0));
      if (writeError !== undefined) throw writeError;
    };
    while (true) {
      let frame: Frame | null;
      try {
        frame = await reader.read();
      } catch (e) {
        if (e instanceof ProtocolError) return await fatal(e);
        throw e;
      }
      if (frame === null) {
        await sent();
        return stats;
      }
      if (frame.kind === FrameKind.Error) {
        const { code, message } = decodeErrorPayload(frame.payload);
        throw new ProtocolError(`the client reported: ${message}`, { code });
      }
      if (frame.kind !== FrameKind.List || frame.seq === 0) {
        return await fatal(
          new ProtocolError(
            `expected a request (a list with seq > 0), got a frame of kind ${frame.kind} seq ${frame.seq}`,
          ),
        );
      }
      let request: ControlList;
      try {
        request = serializer.deserializeList(frame.payload);
      } catch (e) {
        return await fatal(asProtocolError(e, `request ${frame.seq}`) as ProtocolError);
      }
      stats.requests++;
      const reply = await serve(backend, request, { seq: frame.seq, maxRead, map, pool });
      const head = serializeFrame(serializer, reply.list, frame.seq);
      if (reply.data) stats.bytes += reply.data.length - FRAME_HEADER_SIZE;
      const seq = frame.seq;
      writes.push(
        writer.write(...(reply.data ? [head, reply.data] : [head])).then(
          () => {
            if (reply.buffer && pool.length < WRITE_BEHIND + 1) pool.push(reply.buffer);
          },
          (e) => {
            writeError ??= new BackendError(
              `agent: cannot send the reply to request ${seq}: the client went away (${
                errorMessage(e)
              })`,
              { backend: "agent", cause: e },
            );
          },
        ),
      );
      if (writes.length >= WRITE_BEHIND) await writes.shift();
      if (writeError !== undefined) throw writeError;
    }
  } finally {
    await reader.cancel();
    await writer.close();
    await backend?.close();
  }
}

/** Replies being written behind the next request (see the request loop). */
const WRITE_BEHIND = 3;

async function serve(
  backend: Backend,
  request: ControlList,
  ctx: { seq: number; maxRead: number; map: ControlInfoMap; pool: Uint8Array[] },
): Promise<{ list: ControlList; data?: Uint8Array; buffer?: Uint8Array }> {
  const fail = (code: number, message: string) => ({
    list: new ControlList(ctx.map).set(C.Status, int32Value(code)).set(
      C.Message,
      stringValue(message),
    ),
  });
  const op = intOf(request, C.Op);
  const address = bigOf(request, C.Address);
  if (address === undefined) return fail(AgentErrno.EINVAL, "request without an address");
  const addr = fromWire(address);
  try {
    if (op === AgentOp.ReadRegister) {
      const width = intOf(request, C.Width);
      if (width !== 8 && width !== 16 && width !== 32 && width !== 64) {
        return fail(AgentErrno.EINVAL, `register width ${width} is not 8, 16, 32 or 64`);
      }
      const value = await backend.readRegister(addr, width as RegisterWidth);
      return {
        list: new ControlList(ctx.map).set(C.Status, int32Value(0)).set(C.Value, toWire(value)),
      };
    }
    if (op === AgentOp.ReadRange) {
      const length = intOf(request, C.Length);
      if (length === undefined || length < 1 || length > ctx.maxRead) {
        return fail(
          AgentErrno.ERANGE,
          `read length ${length} is not between 1 and the agent's largest read ${ctx.maxRead}`,
        );
      }
      const need = FRAME_HEADER_SIZE + length;
      // Pooled buffers hold the largest read (up to 64 MiB), so any fits any
      // request; each is mapped memory of its own where FFI allows (a large
      // heap buffer is a 3x slower read destination, see mapBuffer) and
      // lives as long as the agent: at most WRITE_BEHIND + 1 are in use.
      const pooled = FRAME_HEADER_SIZE + Math.min(ctx.maxRead, 64 * 1024 * 1024);
      const i = ctx.pool.findIndex((b) => b.length >= need);
      let buffer: Uint8Array | undefined;
      if (i >= 0) buffer = ctx.pool.splice(i, 1)[0];
      else if (need <= pooled) buffer = mapBuffer(pooled)?.bytes ?? new Uint8Array(pooled);
      const data = buffer ? buffer.subarray(0, need) : new Uint8Array(need);
      try {
        await backend.read(addr, data.subarray(FRAME_HEADER_SIZE));
      } catch (e) {
        if (buffer) ctx.pool.push(buffer);
        throw e;
      }
      writeFrameHeader(data, { kind: FrameKind.Data, flags: 0, seq: ctx.seq, length });
      return { list: new ControlList(ctx.map).set(C.Status, int32Value(0)), data, buffer };
    }
    return fail(
      AgentErrno.EINVAL,
      `unknown op ${op ?? "(none)"}: the agent only reads registers (1) and ranges (2); ` +
        `it has no write request`,
    );
  } catch (e) {
    return fail(AgentErrno.EIO, errorMessage(e));
  }
}
