/**
 * Memory images: a plain file standing for a window of physical memory from
 * an `origin` address (byte `address - origin` of the file is physical
 * `address`), and {@linkcode ImageMemory}, the store that lets a
 * {@linkcode SimDevice} write into one exactly as capture hardware writes
 * memory: the ring's pages first, then the little-endian u32 counter register.
 * `ringdump sim` is built on it; the `devmem:` backend, the `pixeldump` and
 * `devmem` emulators of the tests and a remote `dd` read it.
 *
 * Writes are libc `pwrite`s on the file, through FFI (Deno's file API refuses
 * /dev/shm without `--allow-all`), measured at
 * about 870 MiB/s with 4 KiB pages of the counter pattern on tmpfs, pattern
 * generation included: far above any capture rate a test needs), so a reader mapping the same file sees them at once.
 *
 * @module
 */
import type { SimMemory } from "./device.ts";
import { BackendError, UsageError } from "../errors.ts";
import type { RingGeometry } from "../ring.ts";
import { hex } from "../units.ts";
import {
  closeFd,
  fdSize,
  getXattr,
  openReadWrite,
  pwriteAll,
  setXattr,
  truncateFd,
} from "../../backends/libc_util.ts";

/** Where an image starts and how long it must be to hold a ring and its counter. */
export interface ImageLayout {
  /** Physical address of the image's first byte. */
  readonly origin: bigint;
  /** Bytes the image needs: up to the end of the ring or the counter, whichever is last. */
  readonly size: number;
}

/**
 * The smallest image from `origin` (default: the lower of the ring's base and
 * the counter register) that holds the ring and the counter register.
 *
 * @example
 * ```ts
 * import { imageLayout } from "./image.ts";
 * import { ringGeometry } from "../ring.ts";
 * const g = ringGeometry({ base: 0x1000n, pageSize: 4096, pages: 4 });
 * console.log(imageLayout(g)); // { origin: 4096n, size: 16388 }
 * ```
 */
export function imageLayout(
  geometry: RingGeometry,
  options: { origin?: bigint } = {},
): ImageLayout {
  const low = geometry.base < geometry.counterAddress ? geometry.base : geometry.counterAddress;
  const ringEnd = geometry.base + BigInt(geometry.ringBytes);
  const counterEnd = geometry.counterAddress + 4n;
  const high = ringEnd > counterEnd ? ringEnd : counterEnd;
  const origin = options.origin ?? low;
  if (origin > low) {
    throw new UsageError(
      `origin ${hex(origin)} is above the ${
        low === geometry.base ? "ring's base" : "counter register"
      } ${hex(low)}; the image must start at or below both the ring and the counter`,
      { option: "origin", value: hex(origin) },
    );
  }
  const size = high - origin;
  if (size > BigInt(2 ** 40)) {
    throw new UsageError(
      `origin ${hex(origin)}: the image from there to ${hex(high)} would be ${size} bytes; ` +
        `put the origin closer to the ring and the counter`,
      { option: "origin", value: hex(origin) },
    );
  }
  return { origin, size: Number(size) };
}

/**
 * Creates the image file, or grows it (sparse, zero-filled) when it is
 * shorter than `layout.size`; a longer file is left as it is. Returns its
 * size. Goes through libc (FFI), since Deno's file API refuses paths under
 * /dev, /dev/shm included, without `--allow-all`.
 *
 * @example
 * ```ts
 * import { ensureImage } from "./image.ts";
 * const path = await Deno.makeTempFile();
 * console.log(ensureImage(path, { origin: 0n, size: 8192 })); // 8192
 * await Deno.remove(path);
 * ```
 */
export function ensureImage(
  path: string,
  layout: ImageLayout,
  options: { force?: boolean } = {},
): number {
  const fd = openImage(path);
  try {
    refuseForeign(path, fd, options.force ?? false);
    return growImage(path, fd, layout);
  } finally {
    closeFd(fd);
  }
}

function openImage(path: string): number {
  const r = openReadWrite(path, { create: true });
  if ("fd" in r) return r.fd;
  const e = r.errno;
  const why = e.name === "ENOENT"
    ? "its directory does not exist"
    : e.name === "EACCES" || e.name === "EPERM"
    ? "permission denied"
    : e.name === "EISDIR"
    ? "is a directory, not a file"
    : `${e.message} (${e.name})`;
  throw new UsageError(`image ${path}: ${why}`, { option: "image", value: path });
}

/**
 * The extended attribute that marks a file as a memory image made by
 * ringdump (`ringdump sim --image` refuses other existing files unless
 * `--force`).
 *
 * @example
 * ```ts
 * import { IMAGE_XATTR } from "./image.ts";
 * console.log(IMAGE_XATTR); // "user.ringdump.image"
 * ```
 */
export const IMAGE_XATTR = "user.ringdump.image";

/**
 * Refuses an existing, non-empty file that is not a memory image ringdump
 * made (it has no {@linkcode IMAGE_XATTR}) unless forced; marks the file.
 */
function refuseForeign(path: string, fd: number, force: boolean): void {
  const size = fdSize(fd) ?? 0;
  if (size > 0 && !force && getXattr(fd, IMAGE_XATTR) === undefined) {
    closeFd(fd);
    throw new UsageError(
      `image ${path}: an existing file of ${size} bytes that is not a memory image made by ` +
        `ringdump sim; writing the ring into it would destroy it: give a new path, or the force option ` +
        `to use it anyway`,
      { option: "image", value: path },
    );
  }
  // Where the file system keeps no extended attributes, the mark is lost: the
  // next run then needs --force.
  setXattr(fd, IMAGE_XATTR, "1");
}

function growImage(path: string, fd: number, layout: ImageLayout): number {
  const size = fdSize(fd);
  if (size === undefined) {
    throw new UsageError(`image ${path}: not a regular file`, { option: "image", value: path });
  }
  if (size >= layout.size) return size;
  const err = truncateFd(fd, layout.size);
  if (err !== undefined) {
    throw new UsageError(
      `image ${path}: cannot grow it to ${layout.size} bytes: ${err.message}`,
      {
        option: "image",
        value: path,
      },
    );
  }
  return layout.size;
}

/**
 * A {@linkcode SimMemory} backed by a memory image: each page the device
 * fills is written to the file at its physical address, then the counter
 * register (little-endian u32) at its own, in that order, as hardware does.
 *
 * @example
 * ```ts
 * import { ImageMemory } from "./image.ts";
 * import { SimDevice } from "./device.ts";
 * import { ringGeometry } from "../ring.ts";
 * import { VirtualClock } from "../clock.ts";
 * const path = await Deno.makeTempFile();
 * const g = ringGeometry({ base: 0x1000n, pageSize: 4096, pages: 4, counterWrap: 16 });
 * const mem = ImageMemory.open(path, g, { origin: 0n });
 * const clock = new VirtualClock();
 * const dev = new SimDevice(g, { memory: mem, clock, rate: 4096 * 1000, pattern: "counter" });
 * clock.advance(3);
 * dev.step();
 * mem.close();
 * const bytes = await Deno.readFile(path);
 * console.log(new DataView(bytes.buffer).getUint32(0x1000 + 4 * 4096, true)); // 3
 * await Deno.remove(path);
 * ```
 */
export class ImageMemory implements SimMemory {
  /** The image file's path. */
  readonly path: string;
  /** The image's layout. */
  readonly layout: ImageLayout;
  readonly #fd: number;
  readonly #geometry: RingGeometry;
  readonly #page: Uint8Array;
  readonly #counter = new Uint8Array(4);
  #closed = false;

  private constructor(
    path: string,
    fd: number,
    geometry: RingGeometry,
    layout: ImageLayout,
  ) {
    this.path = path;
    this.#fd = fd;
    this.#geometry = geometry;
    this.layout = layout;
    // 8-byte aligned (fresh buffer), as the counter pattern needs.
    this.#page = new Uint8Array(geometry.pageSize);
  }

  /**
   * Creates or grows the image at `path` (see {@linkcode ensureImage}) and
   * opens it for writing (needs `--allow-ffi`). An existing, non-empty file
   * that ringdump did not make is refused unless `force`.
   */
  static open(
    path: string,
    geometry: RingGeometry,
    options: { origin?: bigint; force?: boolean } = {},
  ): ImageMemory {
    const layout = imageLayout(geometry, options);
    const fd = openImage(path);
    refuseForeign(path, fd, options.force ?? false);
    try {
      growImage(path, fd, layout);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new ImageMemory(path, fd, geometry, layout);
  }

  /** A scratch page to fill; {@linkcode ImageMemory.commit} writes it out. */
  page(_slot: number): Uint8Array {
    return this.#page;
  }

  /** Writes the filled page to ring slot `slot` of the image. */
  commit(slot: number, page: Uint8Array): void {
    const g = this.#geometry;
    this.#writeAt(g.base + BigInt(slot) * BigInt(g.pageSize), page);
  }

  /** Writes the counter register (little-endian u32). */
  setCounter(value: number): void {
    new DataView(this.#counter.buffer).setUint32(0, value >>> 0, true);
    this.#writeAt(this.#geometry.counterAddress, this.#counter);
  }

  #writeAt(address: bigint, bytes: Uint8Array): void {
    if (this.#closed) {
      throw new BackendError(`image ${this.path}: write after close`, { backend: "image" });
    }
    const err = pwriteAll(this.#fd, bytes, Number(address - this.layout.origin));
    if (err !== undefined) {
      throw new BackendError(`image ${this.path}: write failed: ${err.message} (${err.name})`, {
        backend: "image",
        address,
      });
    }
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
  }
}
