/**
 * Clocks for the period loop and the simulated device: the system's monotonic
 * clock, and a virtual clock that tests advance by hand, so a capture of
 * minutes runs in milliseconds and is exactly repeatable.
 *
 * @module
 */

/** A monotonic clock with a cancellable sleep. */
export interface Clock {
  /** Milliseconds from an arbitrary origin; never goes backwards. */
  now(): number;
  /** Waits `ms` milliseconds; resolves early (never rejects) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The system's monotonic clock (`performance.now()`).
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const t0 = systemClock.now();
 * await systemClock.sleep(1);
 * console.log(systemClock.now() >= t0); // true
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    });
  },
};

/**
 * A clock that only moves when told: `sleep(ms)` advances it by `ms` at once.
 * Shared by a test's simulated device and dumper, it makes a capture
 * deterministic.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "./clock.ts";
 * const clock = new VirtualClock();
 * await clock.sleep(50);
 * clock.advance(5);
 * console.log(clock.now()); // 55
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  /** Creates a virtual clock starting at `start` ms. */
  constructor(start = 0) {
    this.#now = start;
  }
  /** The current virtual time in ms. */
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    if (ms > 0) this.#now += ms;
  }
  /** Advances the clock by `ms` and resolves on the next microtask. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (!signal?.aborted) this.advance(ms);
    return Promise.resolve();
  }
}
