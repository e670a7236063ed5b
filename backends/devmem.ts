/**
 * The `devmem:` backend: physical memory through `/dev/mem`, mapped
 * read-only with libc `mmap` via Deno FFI, or a memory image standing for it,
 * read with `pread`.
 *
 * URL: `devmem:[PATH][?origin=ADDR&wait=DUR]`. PATH defaults to `/dev/mem`; `origin`
 * is the physical address PATH's first byte stands for (default 0, right for
 * /dev/mem). On /dev/mem the ring window is mapped once for the whole capture
 * and copied out with `Deno.UnsafePointerView`; each register gets its own
 * small mapping, read fresh on every call. A memory image (a regular file) is
 * read with `pread` instead: a file that shrinks under a mapping raises
 * SIGBUS, where `pread` gives a short read, reported as an error. Descriptors
 * and mappings are read-only: this backend never writes memory.
 *
 * @module
 */
import type {
  Backend,
  BackendFactory,
  BackendOpenOptions,
  BackendOption,
  BackendProbe,
  RegisterWidth,
} from "./types.ts";
import { urlForm, UrlOptions } from "./options.ts";
import { closeFd, type Errno, fdSize, Mapping, openReadOnly, preadAll } from "./libc_util.ts";
import { BackendError, UsageError } from "../lib/errors.ts";
import type { RingGeometry } from "../lib/ring.ts";
import { hex } from "../lib/units.ts";

/** The default device. */
export const DEV_MEM = "/dev/mem";

/** Options of {@linkcode openDevmem}. */
export interface DevmemOptions {
  /** Physical address the first byte of the file stands for; default 0. */
  origin?: bigint;
  /** The ring, mapped once at open; without it every read maps its own range. */
  geometry?: RingGeometry;
  /**
   * How long (ms) to wait for a memory image that does not exist yet, or is
   * still empty (a `ringdump sim` started just before is creating it); default
   * 0. /dev/mem is never waited for.
   */
  wait?: number;
  /** Ends the wait early. */
  signal?: AbortSignal;
}

function ffiAllowed(): boolean {
  return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
}

/** How long a `devmem:` URL waits for an image that is about to appear (`wait=`). */
const DEFAULT_IMAGE_WAIT_MS = 5000;

function openError(path: string, errno: Errno): BackendError {
  let msg: string;
  if (errno.name === "ENOENT") {
    msg = path === DEV_MEM
      ? `devmem: no ${DEV_MEM} on this system; use pixeldump: (the board's tool), ssh:// to a board, or a memory image: devmem:/path/to/image?origin=ADDR`
      : `devmem: ${path} does not exist; give an existing memory image or device (devmem:/path/to/image?origin=ADDR)`;
  } else if (errno.name === "EACCES" || errno.name === "EPERM") {
    msg = path === DEV_MEM || path.startsWith("/dev/")
      ? `devmem: permission denied opening ${path}: root is needed (run as root or with CAP_SYS_RAWIO); CONFIG_STRICT_DEVMEM may still forbid the range`
      : `devmem: permission denied opening ${path}: make it readable by this user`;
  } else {
    msg = `devmem: cannot open ${path}: ${errno.message} (${errno.name})`;
  }
  return new BackendError(msg, { backend: "devmem" });
}

function mapError(path: string, offset: bigint, length: number, errno: Errno): BackendError {
  const hint = errno.name === "EPERM" || errno.name === "EACCES"
    ? `: the kernel refused the range (CONFIG_STRICT_DEVMEM forbids RAM outside reserved regions; root is needed)`
    : errno.name === "EINVAL" || errno.name === "ENXIO" || errno.name === "EOVERFLOW"
    ? ": the range is not mappable (check the ring's base, pages, the counter address and origin=)"
    : errno.name === "ENODEV"
    ? `: ${path} cannot be memory-mapped`
    : "";
  return new BackendError(
    `devmem: mmap of ${length} bytes at offset ${
      hex(offset)
    } of ${path} failed: ${errno.message} (${errno.name})${hint}`,
    { backend: "devmem" },
  );
}

class DevmemBackend implements Backend {
  readonly name = "devmem";
  readonly #path: string;
  readonly #fd: number;
  readonly #origin: bigint;
  /** True for a file with an end (an image): its size is checked before each access. */
  readonly #bounded: boolean;
  /**
   * The image's size when last asked (an access beyond it asks again, a
   * shrink shows as a short pread): an `lseek` per access cost 8 us, a third
   * of a 64 KiB read's time (issue 13, tracing.small_reads).
   */
  #size = 0;
  #ring: Mapping | undefined;
  readonly #registers = new Map<bigint, Mapping>();
  #closed = false;

  constructor(path: string, fd: number, origin: bigint) {
    this.#path = path;
    this.#fd = fd;
    this.#origin = origin;
    // /dev/mem has no end (lseek to it fails); an image has one.
    const size = fdSize(fd);
    this.#bounded = size !== undefined;
    this.#size = size ?? 0;
  }

  /** Maps the ring window once (called by openDevmem); an image is only checked to hold it. */
  mapRing(geometry: RingGeometry): void {
    if (this.#bounded) this.#offset(geometry.base, geometry.ringBytes, "the ring");
    else this.#ring = this.#map(geometry.base, geometry.ringBytes, "the ring");
  }

  /** Reads an image with pread: a short read (the file shrank) is an error, never a SIGBUS. */
  #pread(address: bigint, dest: Uint8Array, what: string): void {
    const off = this.#offset(address, dest.length, what);
    const n = preadAll(this.#fd, dest, Number(off));
    if (typeof n !== "number") {
      throw new BackendError(
        `devmem: ${what} (${dest.length} bytes at ${
          hex(address)
        }) of ${this.#path} failed: ${n.message} (${n.name})`,
        { backend: "devmem", address },
      );
    }
    if (n < dest.length) {
      throw new BackendError(
        `devmem: ${what} (${dest.length} bytes at ${hex(address)}) got only ${n} bytes: ` +
          `the image ${this.#path} shrank under the capture (now ${
            fdSize(this.#fd) ?? 0
          } bytes); ` +
          `whatever writes it must not truncate it`,
        { backend: "devmem", address },
      );
    }
  }

  #check(what: string): void {
    if (this.#closed) throw new BackendError(`devmem: ${what} after close`, { backend: "devmem" });
  }

  #imageRange(size: number): string {
    return `${hex(this.#origin)}..${hex(this.#origin + BigInt(size))} (${size} bytes from origin ${
      hex(this.#origin)
    })`;
  }

  /** File offset of `address`, after checking `length` bytes there lie in the file. */
  #offset(address: bigint, length: number, what: string): bigint {
    const off = address - this.#origin;
    if (off < 0n) {
      throw new BackendError(
        `devmem: ${what} at ${hex(address)} is below ${this.#path}'s origin ${
          hex(this.#origin)
        }; the address is outside the image (set ?origin= to the physical address its first byte stands for)`,
        { backend: "devmem", address },
      );
    }
    if (this.#bounded && off + BigInt(length) > BigInt(this.#size)) {
      const size = this.#size = fdSize(this.#fd) ?? 0;
      if (off + BigInt(length) > BigInt(size)) {
        throw new BackendError(
          `devmem: ${what} (${length} bytes at ${
            hex(address)
          }) is past the end of the image ${this.#path}, ` +
            `which covers ${
              this.#imageRange(size)
            }; the address is outside the image: check the ring's base, pages, the counter address and ?origin=, or let 'ringdump sim' size the image`,
          { backend: "devmem", address },
        );
      }
    }
    return off;
  }

  #map(address: bigint, length: number, what: string): Mapping {
    const off = this.#offset(address, length, what);
    const m = Mapping.map(this.#fd, off, length);
    if (!(m instanceof Mapping)) throw mapError(this.#path, off, length, m.errno);
    return m;
  }

  // deno-lint-ignore require-await
  async readRegister(address: bigint, width: RegisterWidth): Promise<bigint> {
    this.#check("readRegister");
    const bytes = width / 8;
    if (![8, 16, 32, 64].includes(width)) {
      throw new BackendError(`devmem: no ${width}-bit register access`, { backend: "devmem" });
    }
    if (address % BigInt(bytes) !== 0n) {
      throw new BackendError(
        `devmem: ${width}-bit register address ${hex(address)} is not ${bytes}-byte aligned`,
        { backend: "devmem", address },
      );
    }
    if (this.#bounded) {
      const b = new Uint8Array(8);
      this.#pread(address, b.subarray(0, bytes), `${width}-bit register`);
      const v = new DataView(b.buffer);
      return width === 8
        ? BigInt(b[0])
        : width === 16
        ? BigInt(v.getUint16(0, true))
        : width === 32
        ? BigInt(v.getUint32(0, true))
        : v.getBigUint64(0, true);
    }
    // The register's own mapping: a fresh load from memory every call.
    this.#offset(address, bytes, `${width}-bit register`);
    const key = address;
    let m = this.#registers.get(key);
    if (m === undefined) {
      m = this.#map(address, bytes, `${width}-bit register`);
      this.#registers.set(key, m);
    }
    return m.scalar(0, width);
  }

  // deno-lint-ignore require-await
  async read(address: bigint, dest: Uint8Array): Promise<void> {
    this.#check("read");
    if (this.#bounded) return this.#pread(address, dest, "read");
    this.#offset(address, dest.length, "read");
    const ring = this.#ring;
    if (ring !== undefined) {
      const at = address - this.#origin - ring.offset;
      if (at >= 0n && at + BigInt(dest.length) <= BigInt(ring.length)) {
        ring.copy(Number(at), dest);
        return;
      }
    }
    // Outside the ring window: a mapping for this read only.
    const m = this.#map(address, dest.length, "read");
    try {
      m.copy(0, dest);
    } finally {
      m.unmap();
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#ring?.unmap();
    for (const m of this.#registers.values()) m.unmap();
    this.#registers.clear();
    closeFd(this.#fd);
    return Promise.resolve();
  }
}

/**
 * Opens `path` (`/dev/mem` or a memory image) read-only and, given the ring's
 * geometry, maps the ring window once.
 *
 * @example
 * ```ts
 * import { openDevmem } from "./devmem.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array([1, 0, 0, 0, 7, 7, 7, 7]));
 * const mem = await openDevmem(path, { origin: 0x1000n });
 * console.log(await mem.readRegister(0x1000n, 32)); // 1n
 * await mem.close();
 * await Deno.remove(path);
 * ```
 */
export async function openDevmem(path: string, options: DevmemOptions = {}): Promise<Backend> {
  const origin = options.origin ?? 0n;
  if (!ffiAllowed()) {
    throw new BackendError(
      "devmem: needs FFI permission to call mmap; run with --allow-ffi (the ringdump executable has it)",
      { backend: "devmem" },
    );
  }
  // Deno's file API refuses paths under /dev without --allow-all: only a hint here.
  let isDirectory = false;
  try {
    isDirectory = (await Deno.stat(path)).isDirectory;
  } catch { /* not allowed or not there: open() says which */ }
  if (isDirectory) {
    throw new BackendError(`devmem: ${path} is a directory; give /dev/mem or a memory image`, {
      backend: "devmem",
    });
  }
  // O_SYNC, as board tools do: /dev/mem then maps device memory uncached
  // (no effect on reading an image).
  let r = openReadOnly(path, { sync: true });
  // An image about to appear (`ringdump sim ... &` just started): wait for it, bounded.
  const deadline = performance.now() + (path === DEV_MEM ? 0 : options.wait ?? 0);
  while (
    performance.now() < deadline && !options.signal?.aborted &&
    ("errno" in r ? r.errno.name === "ENOENT" : fdSize(r.fd) === 0)
  ) {
    if ("fd" in r) closeFd(r.fd);
    await new Promise((resolve) => setTimeout(resolve, 20));
    r = openReadOnly(path, { sync: true });
  }
  if ("errno" in r) {
    const e = openError(path, r.errno);
    if (r.errno.name !== "ENOENT" || !options.wait || path === DEV_MEM) throw e;
    throw new BackendError(`${e.message} (waited ${options.wait / 1000} s for it to appear)`, {
      backend: "devmem",
    });
  }
  const backend = new DevmemBackend(path, r.fd, origin);
  if (options.geometry !== undefined) {
    try {
      backend.mapRing(options.geometry);
    } catch (e) {
      await backend.close();
      throw e;
    }
  }
  return backend;
}

// deno-lint-ignore require-await
async function probe(): Promise<BackendProbe> {
  if (!ffiAllowed()) {
    return { usable: false, detail: "no FFI permission (run with --allow-ffi)" };
  }
  const r = openReadOnly(DEV_MEM, { sync: true });
  if ("errno" in r) {
    if (r.errno.name === "ENOENT") {
      return { usable: false, detail: `${DEV_MEM}: absent (memory images still work)` };
    }
    return {
      usable: false,
      detail: `${DEV_MEM}: present but ${
        r.errno.name === "EACCES" || r.errno.name === "EPERM"
          ? "not readable (root needed)"
          : r.errno.message
      }`,
    };
  }
  closeFd(r.fd);
  return {
    usable: true,
    detail: `${DEV_MEM}: readable (CONFIG_STRICT_DEVMEM may still forbid some ranges)`,
  };
}

/** The URL options of `devmem:`, declared once (name, type, default, doc). */
const DEVMEM_URL_OPTIONS: readonly BackendOption[] = [
  {
    name: "origin",
    type: "address",
    default: "0",
    doc: "physical address the file's first byte stands for (an image)",
  },
  {
    name: "wait",
    type: "duration",
    default: `${DEFAULT_IMAGE_WAIT_MS / 1000}s`,
    doc: "how long an image that does not exist yet (or is empty) is waited for (0: not at all)",
  },
];

/**
 * The `devmem:` backend factory.
 *
 * @example
 * ```ts
 * import { devmemBackend } from "./devmem.ts";
 * console.log(devmemBackend.usage); // "devmem:[PATH][?origin=ADDR&wait=DUR]"
 * ```
 */
export const devmemBackend: BackendFactory = {
  scheme: "devmem",
  description: "physical memory via /dev/mem (or a memory image), mmap through Deno FFI",
  usage: urlForm("devmem:[PATH]", DEVMEM_URL_OPTIONS),
  options: DEVMEM_URL_OPTIONS,
  needs: "read access to /dev/mem (root) and --allow-ffi; or a memory image file",
  probe,
  // deno-lint-ignore require-await
  async open(url: URL, options: BackendOpenOptions): Promise<Backend> {
    const o = new UrlOptions(url, DEVMEM_URL_OPTIONS.map((u) => u.name));
    if (url.host !== "") {
      throw new UsageError(
        `backend URL '${url.href}': devmem takes a path (devmem:/path), not a host`,
        { option: "backend", value: url.href },
      );
    }
    const path = decodeURIComponent(url.pathname) || DEV_MEM;
    return openDevmem(path, {
      origin: o.address("origin", 0n),
      geometry: options.geometry,
      wait: o.duration("wait", DEFAULT_IMAGE_WAIT_MS),
      signal: options.signal,
    });
  },
};
