/**
 * The client's side of the agent's hello (see `protocol.ts`): read the
 * agent's info map and hello list, check its protocol version, send the
 * ring, wait for it to open its memory. {@linkcode AgentClient.connect} runs
 * it, then starts reading replies.
 *
 * @module
 */
import {
  type ControlInfoMap,
  ControlList,
  ControlSerializer,
  int32Value,
  int64Value,
} from "../controls/mod.ts";
import { BackendError } from "../errors.ts";
import type { RingGeometry } from "../ring.ts";
import {
  AgentErrno,
  decodeErrorPayload,
  encodeErrorFrame,
  type Frame,
  FrameKind,
  FrameWriter,
  ProtocolError,
} from "./frame.ts";
import { FrameReader } from "./frame_reader.ts";
import {
  AGENT_PROTOCOL_VERSION,
  AgentControls as C,
  ALL_CONTROLS,
  asProtocolError,
  bigOf,
  defOf,
  fromWire,
  intOf,
  serializeFrame,
  strOf,
  toWire,
} from "./protocol.ts";

/** Resolves after `ms`, without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    Deno.unrefTimer(t);
  });
}

/**
 * The largest read the client asks of an agent in one request (and the
 * largest data frame it accepts), whatever the agent says it serves: 16 MiB.
 *
 * @example
 * ```ts
 * import { MAX_CLIENT_READ } from "./hello.ts";
 * console.log(MAX_CLIENT_READ); // 16777216
 * ```
 */
export const MAX_CLIENT_READ = 16 * 1024 * 1024;

/** What the agent said in its hello. */
export interface AgentHello {
  /** Protocol version. */
  protocolVersion: number;
  /** The agent's page size. */
  pageSize: number;
  /** Largest read the agent serves in one request. */
  maxRead: number;
  /** The memory device the agent reads, e.g. `/dev/mem`. */
  memoryDevice: string;
  /** Physical address of the device's byte 0. */
  origin: bigint;
}

/** Options of {@linkcode AgentClient.connect}. */
export interface AgentClientOptions {
  /** The ring to capture; sent to the agent so it maps that window. */
  geometry: RingGeometry;
  /** Timeout of every request, ms; default 10000. */
  timeout?: number;
  /** Timeout of the hello (the agent's start-up), ms; default 30000. */
  helloTimeout?: number;
  /** Backend name used in errors and `name`; default `agent`. */
  name?: string;
  /** What the agent process wrote to stderr so far, for error messages. */
  stderr?: () => string;
  /** Runs on `close()` after the streams are closed (e.g. waits for the process). */
  onClose?: () => Promise<void>;
  /** Protocol version to speak (tests only); default {@linkcode AGENT_PROTOCOL_VERSION}. */
  protocolVersion?: number;
  /** Aborts the hello. */
  signal?: AbortSignal;
}

/** What a finished hello leaves: the frame streams, the serializer, the agent's info map and hello. */
export interface AgentConnection {
  /** Frames from the agent (its data limit set from the hello). */
  reader: FrameReader;
  /** Frames to the agent. */
  writer: FrameWriter;
  /** The serializer of the conversation (worker role). */
  serializer: ControlSerializer;
  /** The agent's info map, for the lists sent to it. */
  map: ControlInfoMap;
  /** What the agent said in its hello. */
  hello: AgentHello;
}

/**
 * Does the hello with the agent at the other end of `streams`. Throws a
 * {@linkcode ProtocolError} for an unsupported version or a malformed hello
 * (after telling the agent in an error frame), a {@linkcode BackendError}
 * when the agent cannot open its memory, goes away or says nothing within
 * `helloTimeout`; on any failure both streams are closed.
 *
 * @example
 * ```ts ignore
 * import { agentHandshake } from "./hello.ts";
 * import { ringGeometry } from "../ring.ts";
 * const geometry = ringGeometry({ base: 0n, pageSize: 4096, pages: 16 });
 * const child = new Deno.Command("ringdump", {
 *   args: ["agent", "--mem", "/dev/shm/ring.img"],
 *   stdin: "piped",
 *   stdout: "piped",
 * }).spawn();
 * const { hello } = await agentHandshake(
 *   { readable: child.stdout, writable: child.stdin },
 *   { geometry },
 * );
 * console.log(hello.memoryDevice);
 * ```
 */
export async function agentHandshake(
  streams: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
  options: AgentClientOptions,
): Promise<AgentConnection> {
  const name = options.name ?? "agent";
  const version = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
  const reader = new FrameReader(streams.readable, { maxData: 0 });
  const writer = new FrameWriter(streams.writable);
  const serializer = new ControlSerializer({ role: "worker" });
  const helloTimeout = options.helloTimeout ?? 30_000;
  const stderrNote = () => {
    const s = options.stderr?.().trim();
    if (!s) return "";
    const hint = /not found|No such file or directory|cannot execute|Permission denied/i.test(s)
      ? " (is ringdump installed there? put it there with 'ringdump deploy', or name the command " +
        "that runs it with agent=CMD)"
      : "";
    return `; the agent said: ${s}${hint}`;
  };
  const closeAll = async () => {
    // End our side first and let the agent end its own (after reading an
    // error frame we sent), so it exits with its own clear message.
    await Promise.race([writer.close(), sleep(1000)]);
    await Promise.race([
      (async () => {
        try {
          while (await reader.read() !== null) { /* drain */ }
        } catch { /* broken frames: it is going away anyway */ }
      })(),
      sleep(1000),
    ]);
    await reader.cancel();
    await options.onClose?.();
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new BackendError(
            `${name}: the agent did not say hello within ${helloTimeout} ms${stderrNote()}`,
            { backend: name, stderr: options.stderr?.() },
          ),
        ),
      helloTimeout,
    );
    onAbort = () =>
      reject(new BackendError(`${name}: aborted during the hello`, { backend: name }));
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  deadline.catch(() => {}); // rejections are seen through Promise.race

  const next = async (what: string): Promise<Frame> => {
    let frame: Frame | null;
    try {
      frame = await Promise.race([reader.read(), deadline]);
    } catch (e) {
      if (e instanceof ProtocolError) {
        // Let the note about stderr reach the user: the cause is often a crash message.
        throw new ProtocolError(`${e.message.replace(/^agent protocol: /, "")}${stderrNote()}`, {
          code: e.code,
          backend: name,
          stderr: options.stderr?.(),
          cause: e,
        });
      }
      throw e;
    }
    if (frame === null) {
      // Give the process a moment to finish writing its stderr.
      await new Promise((r) => setTimeout(r, 50));
      throw new BackendError(
        `${name}: the agent went away before ${what}${stderrNote()}`,
        { backend: name, stderr: options.stderr?.() },
      );
    }
    if (frame.kind === FrameKind.Error) {
      const { code, message } = decodeErrorPayload(frame.payload);
      const text = message.replace(/^agent protocol: /, "");
      throw code === AgentErrno.EIO
        ? new BackendError(`${name}: ${text}`, { backend: name, stderr: options.stderr?.() })
        : new ProtocolError(`the agent refused: ${text}`, { code, backend: name });
    }
    return frame;
  };
  const refuse = async (error: ProtocolError): Promise<never> => {
    await Promise.race([
      writer.write(encodeErrorFrame(0, { code: error.code, message: error.message }))
        .catch(() => {}),
      sleep(1000),
    ]);
    throw error;
  };

  try {
    const mapFrame = await next("its hello");
    if (mapFrame.kind !== FrameKind.InfoMap) {
      await refuse(
        new ProtocolError(`expected the agent's info map, got a frame of kind ${mapFrame.kind}`, {
          backend: name,
        }),
      );
    }
    let map: ControlInfoMap;
    try {
      map = serializer.deserializeInfoMap(mapFrame.payload, { controls: ALL_CONTROLS });
    } catch (e) {
      return await refuse(asProtocolError(e, "the agent's info map") as ProtocolError);
    }
    const agentVersion = defOf(map, C.ProtocolVersion);
    if (agentVersion !== version) {
      await refuse(
        new ProtocolError(
          `the agent speaks protocol version ${
            agentVersion ?? "(none)"
          }, this ringdump speaks ${version}; ` +
            `deploy the same ringdump on both sides (ringdump deploy)`,
          { code: AgentErrno.EPROTONOSUPPORT, backend: name },
        ),
      );
    }
    const helloFrame = await next("its hello list");
    let helloList: ControlList;
    try {
      if (helloFrame.kind !== FrameKind.List || helloFrame.seq !== 0) {
        throw new ProtocolError(`expected the agent's hello list, got kind ${helloFrame.kind}`);
      }
      helloList = serializer.deserializeList(helloFrame.payload);
    } catch (e) {
      return await refuse(asProtocolError(e, "the agent's hello") as ProtocolError);
    }
    const hello: AgentHello = {
      protocolVersion: agentVersion!,
      pageSize: intOf(helloList, C.PageSize) ?? 0,
      maxRead: intOf(helloList, C.MaxRead) ?? 0,
      memoryDevice: strOf(helloList, C.MemoryDevice) ?? "",
      origin: fromWire(bigOf(helloList, C.Origin) ?? 0n),
    };
    if (!(hello.maxRead > 0)) {
      await refuse(new ProtocolError(`the agent's largest read is ${hello.maxRead}`));
    }
    // The agent's word is capped: a peer announcing up to 2^31-1 bytes must
    // not make this side allocate that much.
    reader.setLimits({ maxData: Math.min(hello.maxRead, MAX_CLIENT_READ) });

    const g = options.geometry;
    const mine = new ControlList(map)
      .set(C.ProtocolVersion, int32Value(version))
      .set(C.RingBase, toWire(g.base))
      .set(C.RingPageSize, int32Value(g.pageSize))
      .set(C.RingPages, int32Value(g.pages))
      .set(C.CounterAddress, toWire(g.counterAddress))
      .set(C.CounterWrap, int64Value(g.counterWrap));
    await writer.write(serializeFrame(serializer, mine, 0)).catch((e) => {
      throw new BackendError(`${name}: cannot send the hello: ${e.message}${stderrNote()}`, {
        backend: name,
      });
    });
    const ready = await next("it opened its memory");
    let status: number | undefined;
    try {
      if (ready.kind !== FrameKind.List || ready.seq !== 0) {
        throw new ProtocolError(`expected the agent's ready reply, got kind ${ready.kind}`);
      }
      status = intOf(serializer.deserializeList(ready.payload), C.Status);
    } catch (e) {
      return await refuse(asProtocolError(e, "the agent's ready reply") as ProtocolError);
    }
    if (status !== 0) await refuse(new ProtocolError(`the agent's ready status is ${status}`));

    return { reader, writer, serializer, map, hello };
  } catch (e) {
    await closeAll();
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener("abort", onAbort);
  }
}
