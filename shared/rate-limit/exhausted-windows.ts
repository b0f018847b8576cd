/**
 * The counter keys this function instance knows to be spent, each until its window resets. A
 * request that would need one of them is refused at once, without a write: a caller hammering
 * a spent limit costs the table nothing more than one refused write per instance per window.
 *
 * The memory is only ever a shortcut to a refusal the table would give too: a key is
 * remembered after the table said it was full, and a window never refills before it ends.
 */
import type { RefusalReason } from './rate-counter-store';

/** Enough for every busy identity of an instance; each entry is a short string and a number. */
export const MAX_REMEMBERED_WINDOWS = 10_000;

/** Spent counter keys, each with why it is spent and until when; bounded in size. */
export class ExhaustedWindows {
  private readonly spent = new Map<
    string,
    { readonly untilMs: number; readonly reason: RefusalReason }
  >();

  constructor(private readonly maxEntries: number = MAX_REMEMBERED_WINDOWS) {}

  /**
   * Why `key` is known spent at `nowMs`, or `undefined` when it is not; a key whose window has
   * ended is forgotten.
   */
  spentBy(key: string, nowMs: number): RefusalReason | undefined {
    const entry = this.spent.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.untilMs <= nowMs) {
      this.spent.delete(key);
      return undefined;
    }

    return entry.reason;
  }

  /** Remembers `key` as spent, for `reason`, until `resetAtMs`. */
  remember(key: string, reason: RefusalReason, resetAtMs: number, nowMs: number): void {
    if (!this.spent.has(key) && this.spent.size >= this.maxEntries) {
      this.makeRoom(nowMs);
    }
    this.spent.set(key, { untilMs: resetAtMs, reason });
  }

  get size(): number {
    return this.spent.size;
  }

  /**
   * Drops the windows that have ended, and if none had, the oldest entry: forgetting a spent
   * window only costs one more refused write, so the bound never risks correctness.
   */
  private makeRoom(nowMs: number): void {
    for (const [key, entry] of this.spent) {
      if (entry.untilMs <= nowMs) {
        this.spent.delete(key);
      }
    }
    if (this.spent.size >= this.maxEntries) {
      const oldest = this.spent.keys().next().value;
      if (oldest !== undefined) {
        this.spent.delete(oldest);
      }
    }
  }
}
