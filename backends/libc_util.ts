/**
 * The few libc calls the `devmem:` backend needs (`open`, `mmap`, `munmap`,
 * `close`, `errno`), through Deno FFI, and read-only mappings of a file
 * descriptor built on them. Linux only (x86_64 and aarch64 share these
 * constants).
 *
 * @module
 */

/** `open` flag: read only. */
export const O_RDONLY = 0;
/** `open` flag: synchronous I/O; on /dev/mem it makes the kernel map device memory uncached. */
export const O_SYNC = 0o4010000;
/** `open` flag: close on exec, so a spawned child never inherits the descriptor. */
export const O_CLOEXEC = 0o2000000;
/** `open` flag: read and write. */
export const O_RDWR = 2;
/** `open` flag: create when missing. */
export const O_CREAT = 0o100;
/** `lseek` whence: from the end. */
export const SEEK_END = 2;
/** `mmap` protection: readable. */
export const PROT_READ = 1;
/** `mmap` flag: shared with the file (and the device). */
export const MAP_SHARED = 1;
/**
 * `mmap` flag (Linux): fault the whole mapping in at once, so the capture
 * does not take a page fault per page on its first lap (issue 13: the
 * first-lap faults made copy figures swing between machines).
 */
export const MAP_POPULATE = 0x8000;
/**
 * `madvise` advice (Linux): leave the range out of a `fork`'s child. The
 * read buffer is never needed there: `Deno.Command` forks to start a
 * command in a process group of its own (`detached`; backends/process.ts
 * falls back to it where backends/spawn.ts cannot run), and that child
 * only execs.
 */
export const MADV_DONTFORK = 10;

/** `fcntl` command (Linux): set a pipe's capacity; returns the capacity it got. */
export const F_SETPIPE_SZ = 1031;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  getpagesize: { parameters: [], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
} as const;

/** The libc symbols ringdump binds. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Libc | undefined;

/**
 * The names the C library is opened by, in order: glibc, then musl (x86_64,
 * aarch64).
 *
 * @example
 * ```ts
 * import { LIBC_NAMES } from "./libc_util.ts";
 * console.log(LIBC_NAMES[0]); // "libc.so.6"
 * ```
 */
export const LIBC_NAMES: readonly string[] = [
  "libc.so.6",
  "libc.so",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
];

/**
 * The libc symbols, opened once (needs `--allow-ffi`).
 *
 * @example
 * ```ts ignore
 * import { libc } from "./libc_util.ts";
 * console.log(libc().getpagesize()); // 4096
 * ```
 */
export function libc(): Libc {
  if (lib === undefined) {
    let last: unknown;
    for (const name of LIBC_NAMES) {
      try {
        lib = Deno.dlopen(name, SYMBOLS).symbols;
        break;
      } catch (e) {
        last = e;
      }
    }
    if (lib === undefined) throw last;
  }
  return lib;
}

/** An errno value with its name and message. */
export interface Errno {
  /** The number, e.g. 2. */
  readonly code: number;
  /** The symbolic name when known, e.g. `ENOENT`. */
  readonly name: string;
  /** libc's message, e.g. "No such file or directory". */
  readonly message: string;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  75: "EOVERFLOW",
};

/**
 * The calling thread's `errno` right after a failed libc call.
 *
 * @example
 * ```ts ignore
 * import { lastErrno, libc } from "./libc_util.ts";
 * if (libc().open(new TextEncoder().encode("/nope\0"), 0, 0) < 0) console.log(lastErrno().name); // "ENOENT"
 * ```
 */
export function lastErrno(): Errno {
  const c = libc();
  const code = new Deno.UnsafePointerView(c.__errno_location()!).getInt32(0);
  const msg = c.strerror(code);
  return {
    code,
    name: ERRNO_NAMES[code] ?? `errno ${code}`,
    message: msg === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(msg),
  };
}

/**
 * The system's memory page size, to which mapping offsets are aligned.
 *
 * @example
 * ```ts ignore
 * import { systemPageSize } from "./libc_util.ts";
 * console.log(systemPageSize()); // 4096
 * ```
 */
export function systemPageSize(): number {
  return libc().getpagesize();
}

/**
 * Opens `path` read-only with libc `open` (and `O_SYNC` when asked).
 * Returns the descriptor, or the errno when it fails.
 *
 * @example
 * ```ts ignore
 * import { openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/dev/mem", { sync: true });
 * console.log("fd" in r ? r.fd : r.errno.name);
 * ```
 */
export function openReadOnly(path: string, options: { sync?: boolean } = {}): {
  fd: number;
} | { errno: Errno } {
  const flags = O_RDONLY | O_CLOEXEC | (options.sync ? O_SYNC : 0);
  const fd = libc().open(new TextEncoder().encode(path + "\0"), flags, 0);
  return fd < 0 ? { errno: lastErrno() } : { fd };
}

/**
 * Opens `path` read-write with libc `open`, creating it (mode 0644) when
 * asked. Deno's own file API refuses every path under /dev (/dev/shm
 * included) without `--allow-all`; FFI is the permission this takes.
 *
 * @example
 * ```ts ignore
 * import { openReadWrite } from "./libc_util.ts";
 * const r = openReadWrite("/dev/shm/ring.img", { create: true });
 * console.log("fd" in r ? r.fd : r.errno.name);
 * ```
 */
export function openReadWrite(path: string, options: { create?: boolean } = {}): {
  fd: number;
} | { errno: Errno } {
  const flags = O_RDWR | O_CLOEXEC | (options.create ? O_CREAT : 0);
  const fd = libc().open(new TextEncoder().encode(path + "\0"), flags, 0o644);
  return fd < 0 ? { errno: lastErrno() } : { fd };
}

/**
 * The size of what `fd` refers to (`lseek` to its end), or undefined when it
 * has no end, as /dev/mem has none.
 *
 * @example
 * ```ts ignore
 * import { fdSize, openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/etc/hostname");
 * if ("fd" in r) console.log(fdSize(r.fd));
 * ```
 */
export function fdSize(fd: number): number | undefined {
  const end = libc().lseek(fd, 0n, SEEK_END);
  return end < 0n ? undefined : Number(end);
}

/**
 * Sets the size of a file (`ftruncate`); the errno on failure.
 *
 * @example
 * ```ts ignore
 * import { truncateFd, openReadWrite } from "./libc_util.ts";
 * const r = openReadWrite("/dev/shm/ring.img", { create: true });
 * if ("fd" in r) truncateFd(r.fd, 1 << 20);
 * ```
 */
export function truncateFd(fd: number, size: number): Errno | undefined {
  return libc().ftruncate(fd, BigInt(size)) < 0 ? lastErrno() : undefined;
}

/**
 * Writes all of `bytes` at byte `offset` of a file (`pwrite`, repeated on a
 * short write); the errno on failure.
 *
 * @example
 * ```ts ignore
 * import { pwriteAll, openReadWrite } from "./libc_util.ts";
 * const r = openReadWrite("/dev/shm/ring.img", { create: true });
 * if ("fd" in r) pwriteAll(r.fd, new Uint8Array([1, 2, 3]), 4096);
 * ```
 */
export function pwriteAll(fd: number, bytes: Uint8Array, offset: number): Errno | undefined {
  let done = 0;
  while (done < bytes.length) {
    const part = done === 0 ? bytes : bytes.subarray(done);
    const n = Number(libc().pwrite(fd, part, BigInt(part.length), BigInt(offset + done)));
    if (n < 0) return lastErrno();
    done += n;
  }
  return undefined;
}

/**
 * Reads `dest.length` bytes from byte `offset` of a file (`pread`, repeated
 * on a short read). Returns the bytes read, fewer than asked at the file's
 * end; the errno on failure. A file that shrinks under the reader gives a
 * short read here, where a mapping of it would raise SIGBUS.
 *
 * @example
 * ```ts ignore
 * import { preadAll, openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/dev/shm/ring.img");
 * if ("fd" in r) console.log(preadAll(r.fd, new Uint8Array(4096), 0));
 * ```
 */
export function preadAll(fd: number, dest: Uint8Array, offset: number): number | Errno {
  let done = 0;
  while (done < dest.length) {
    const part = done === 0 ? dest : dest.subarray(done);
    const n = Number(libc().pread(fd, part, BigInt(part.length), BigInt(offset + done)));
    if (n < 0) {
      const e = lastErrno();
      if (e.name === "EINTR") continue;
      return e;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/**
 * Reads extended attribute `name` of a file (`fgetxattr`): its value, or
 * undefined when it has none (or the file system keeps none).
 *
 * @example
 * ```ts ignore
 * import { getXattr, openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/dev/shm/ring.img");
 * if ("fd" in r) console.log(getXattr(r.fd, "user.ringdump"));
 * ```
 */
export function getXattr(fd: number, name: string): string | undefined {
  const buf = new Uint8Array(256);
  const n = Number(libc().fgetxattr(fd, cString(name), buf, BigInt(buf.length)));
  return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n));
}

/**
 * Sets extended attribute `name` of a file (`fsetxattr`); the errno on
 * failure (ENOTSUP where the file system keeps none).
 *
 * @example
 * ```ts ignore
 * import { openReadWrite, setXattr } from "./libc_util.ts";
 * const r = openReadWrite("/dev/shm/ring.img");
 * if ("fd" in r) setXattr(r.fd, "user.ringdump", "image");
 * ```
 */
export function setXattr(fd: number, name: string, value: string): Errno | undefined {
  const v = new TextEncoder().encode(value);
  return libc().fsetxattr(fd, cString(name), v, BigInt(v.length), 0) < 0 ? lastErrno() : undefined;
}

/**
 * Closes a descriptor from {@linkcode openReadOnly}.
 *
 * @example
 * ```ts ignore
 * import { closeFd, openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/etc/hostname");
 * if ("fd" in r) closeFd(r.fd);
 * ```
 */
export function closeFd(fd: number): void {
  libc().close(fd);
}

/**
 * A read-only shared mapping of `length` bytes of a descriptor from byte
 * `offset` (any offset: the mapping itself starts at the system page below
 * it). Copy out with {@linkcode Mapping.copy}, read scalars with
 * {@linkcode Mapping.view}; {@linkcode Mapping.unmap} releases it.
 *
 * @example
 * ```ts ignore
 * import { Mapping, openReadOnly } from "./libc_util.ts";
 * const r = openReadOnly("/dev/shm/img");
 * if ("fd" in r) {
 *   const m = Mapping.map(r.fd, 4096n, 64);
 *   if (m instanceof Mapping) {
 *     const dest = new Uint8Array(64);
 *     m.copy(0, dest);
 *     m.unmap();
 *   }
 * }
 * ```
 */
export class Mapping {
  /** Byte offset in the descriptor of the first byte asked for. */
  readonly offset: bigint;
  /** Bytes asked for. */
  readonly length: number;
  readonly #base: Deno.PointerObject;
  readonly #mapLength: number;
  readonly #delta: number;
  readonly #view: Deno.UnsafePointerView;
  #mapped = true;

  private constructor(base: Deno.PointerObject, offset: bigint, length: number, delta: number) {
    this.#base = base;
    this.offset = offset;
    this.length = length;
    this.#delta = delta;
    this.#mapLength = delta + length;
    this.#view = new Deno.UnsafePointerView(base);
  }

  /** Maps `length` bytes at `offset` read-only and shared; the errno when mmap fails. */
  static map(fd: number, offset: bigint, length: number): Mapping | { errno: Errno } {
    const page = BigInt(systemPageSize());
    const aligned = offset - (offset % page);
    const delta = Number(offset - aligned);
    const flags = MAP_SHARED | (Deno.build.os === "linux" ? MAP_POPULATE : 0);
    const p = libc().mmap(null, BigInt(delta + length), PROT_READ, flags, fd, aligned);
    const v = p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
    if (p === null || v === 0xffff_ffff_ffff_ffffn || v === -1n) return { errno: lastErrno() };
    return new Mapping(p, offset, length, delta);
  }

  /** True while mapped. */
  get mapped(): boolean {
    return this.#mapped;
  }

  /** Copies `dest.length` bytes from byte `at` of the mapped range into `dest`. */
  copy(at: number, dest: Uint8Array): void {
    if (!this.#mapped) throw new Error("mapping used after unmap");
    if (at < 0 || at + dest.length > this.length) {
      throw new RangeError(`copy of ${dest.length} bytes at ${at} is outside a ${this.length}`);
    }
    this.#view.copyInto(dest, this.#delta + at);
  }

  /** Reads a little-endian unsigned scalar of `width` bits at byte `at`, fresh from memory. */
  scalar(at: number, width: 8 | 16 | 32 | 64): bigint {
    if (!this.#mapped) throw new Error("mapping used after unmap");
    if (at < 0 || at + width / 8 > this.length) {
      throw new RangeError(`register read at ${at} is outside a ${this.length}-byte mapping`);
    }
    const o = this.#delta + at;
    switch (width) {
      case 8:
        return BigInt(this.#view.getUint8(o));
      case 16:
        return BigInt(this.#view.getUint16(o));
      case 32:
        return BigInt(this.#view.getUint32(o));
      case 64:
        return this.#view.getBigUint64(o);
    }
  }

  /** The pointer view, for callers that read in place. */
  get view(): Deno.UnsafePointerView {
    return this.#view;
  }

  /** Unmaps (idempotent). */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    libc().munmap(this.#base, BigInt(this.#mapLength));
  }
}

/** A buffer in memory of its own (anonymous, private, faulted in up front). */
export interface MappedBuffer {
  /** The bytes (an external ArrayBuffer over the mapping). */
  readonly bytes: Uint8Array;
  /** Releases the memory; `bytes` must not be used after. Idempotent. */
  unmap(): void;
}

/**
 * Allocates `length` bytes with an anonymous `mmap` (MAP_POPULATE on Linux,
 * so no page is faulted on first touch; MADV_DONTFORK, so starting a command
 * does not write-protect it: every page of it then took a fault on the next
 * read into it: Deno spent 5.7 ms, now 3.2, per 8 MiB pixeldump read,
 * issue 13), for the dumper's read buffer. A
 * large buffer from the JavaScript heap measured 3x slower as a `pread` or
 * pipe destination than this (issue 13: 435-500 against 1100-1500 MiB/s for
 * 4 MiB reads here), and the gap swung from machine to machine. Returns
 * undefined without FFI permission or when mmap fails: then use a plain
 * Uint8Array.
 *
 * @example
 * ```ts ignore
 * import { mapBuffer } from "./libc_util.ts";
 * const b = mapBuffer(4 << 20);
 * console.log(b?.bytes.length); // 4194304
 * b?.unmap();
 * ```
 */
export function mapBuffer(length: number): MappedBuffer | undefined {
  if (!(length > 0)) return undefined;
  let lib: Libc;
  try {
    lib = libc();
  } catch {
    return undefined; // no FFI permission, or no libc
  }
  const MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, PROT_WRITE = 2;
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | (Deno.build.os === "linux" ? MAP_POPULATE : 0);
  if (Deno.build.os !== "linux") return undefined; // MAP_ANONYMOUS differs elsewhere
  const p = lib.mmap(null, BigInt(length), PROT_READ | PROT_WRITE, flags, -1, 0n);
  const v = p === null ? 0n : BigInt(Deno.UnsafePointer.value(p));
  if (p === null || v === 0xffff_ffff_ffff_ffffn || v === -1n) return undefined;
  // Best effort: without it the buffer is only slower to refill after a spawn.
  lib.madvise(p, BigInt(length), MADV_DONTFORK);
  let mapped = true;
  return {
    bytes: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, length)),
    unmap(): void {
      if (!mapped) return;
      mapped = false;
      lib.munmap(p, BigInt(length));
    },
  };
}

/**
 * What {@linkcode growChildPipe} asks for: 1 MiB, the most an unprivileged
 * process may ask by default (/proc/sys/fs/pipe-max-size).
 */
export const CHILD_PIPE_BYTES = 1024 * 1024;

/**
 * Grows the pipe on descriptor `childFd` of child process `pid` (our end of
 * its stdout, found by the pipe's inode in /proc) to `bytes`; returns the
 * capacity it has then, or undefined when it cannot (no FFI or /proc
 * permission, not Linux, the child gone, a limit). A pipe holds 64 KiB by
 * default: a program that writes faster than its reader wakes it every 64
 * KiB, and ssh writing a capture's bytes to such a pipe moved 80-100 MiB/s
 * over its first 64 MiB here, where it moves 450 to /dev/null (issue 13; the
 * agent's throughput went from 172 to 250 MiB/s with 1 MiB).
 *
 * @example
 * ```ts ignore
 * import { growChildPipe } from "./libc_util.ts";
 * const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" }).spawn();
 * console.log(growChildPipe(child.pid, 1)); // 1048576
 * ```
 */
export function growChildPipe(
  pid: number,
  childFd: number,
  bytes: number = CHILD_PIPE_BYTES,
): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const lib = libc();
    const target = readLink(lib, `/proc/${pid}/fd/${childFd}`);
    if (target === undefined || !target.startsWith("pipe:")) return undefined;
    // Descriptors are allocated lowest first: past a run of closed ones, no more.
    for (let fd = 0, closed = 0; fd < MAX_FD_SCAN && closed < 64; fd++) {
      const link = readLink(lib, `/proc/self/fd/${fd}`);
      if (link === target) return growPipe(fd, bytes);
      closed = link === undefined ? closed + 1 : 0;
    }
  } catch {
    // no FFI permission, or no libc
  }
  return undefined;
}

/** Our descriptors {@linkcode growChildPipe} looks through for a pipe's end. */
const MAX_FD_SCAN = 1024;

/**
 * `readlink` through libc: Deno's own API needs --allow-all for anything
 * under /proc/PID/fd, which the capture does not have; FFI it has.
 */
function readLink(lib: Libc, path: string): string | undefined {
  const buf = new Uint8Array(256);
  const n = Number(lib.readlink(cString(path), buf, BigInt(buf.length)));
  return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n));
}

/**
 * Grows the pipe on our descriptor `fd` to `bytes` (see
 * {@linkcode growChildPipe}); returns its capacity then, or undefined when
 * it cannot (not a pipe, not Linux, no FFI permission, a limit).
 *
 * @example
 * ```ts ignore
 * import { growPipe } from "./libc_util.ts";
 * growPipe(1); // the agent's stdout, a pipe to sshd
 * ```
 */
export function growPipe(fd: number, bytes: number = CHILD_PIPE_BYTES): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const got = libc().fcntl(fd, F_SETPIPE_SZ, bytes);
    return got > 0 ? got : undefined;
  } catch {
    return undefined; // no FFI permission, or no libc
  }
}
