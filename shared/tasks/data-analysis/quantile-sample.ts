/**
 * The values of one numeric column kept for its quantiles and outliers, in bounded memory.
 *
 * Up to `capacity` values (`EXACT_QUANTILE_VALUES`) every value is kept and the quantiles are
 * exact. Past it the buffer becomes a uniform reservoir sample (Vitter's algorithm R): the n-th
 * value replaces a random kept one with probability capacity / n, so that at every moment each
 * value seen so far is in the buffer with the same probability. The quantiles are then those of
 * the sample. By the Dvoretzky–Kiefer–Wolfowitz inequality the sample's distribution function is
 * within ε of the column's everywhere with probability at least 1 − 2·exp(−2·k·ε²) (a bound for
 * independent draws, which drawing without replacement does not loosen); at k = 100,000 a
 * reported quantile is the true quantile of a rank no more than 0.6 percentage points away (the
 * reported p50 lies between the true p49.4 and p50.6) with probability above 99.8 %.
 *
 * The random choices come from a fixed-seed generator, so the same data always gives the same
 * result.
 */
import { EXACT_QUANTILE_VALUES } from './data-analysis-limits';

/** The quantiles every numeric column reports. */
export const QUANTILE_LEVELS = { p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95 } as const;

export type QuantileName = keyof typeof QUANTILE_LEVELS;

/** The buffer starts small and doubles, so a short column costs little. */
const INITIAL_BUFFER_VALUES = 1_024;

/** Any odd 32-bit constant: only the sequence's determinism matters, not this value. */
const SAMPLE_SEED = 0x9e3779b9;

/**
 * xorshift32 (Marsaglia): uniform enough for choosing reservoir slots, and deterministic. The
 * result is in [0, 1).
 */
const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0 || 1;

  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;

    return state / 0x1_0000_0000;
  };
};

/**
 * The quantile at level `p` of sorted values by linear interpolation between the two closest
 * ranks (Hyndman and Fan's type 7, the default of R, NumPy and pandas).
 */
export const quantileOfSorted = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const position = (sorted.length - 1) * p;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  const low = sorted[below] as number;
  const high = sorted[above] as number;

  return low + (high - low) * (position - below);
};

export class QuantileSample {
  /** Values offered, kept or not. */
  seen = 0;
  private values = new Float64Array(0);
  private size = 0;
  private readonly random = seededRandom(SAMPLE_SEED);

  constructor(readonly capacity: number = EXACT_QUANTILE_VALUES) {}

  /** Whether every value offered is kept, so that quantiles and counts are exact. */
  get exact(): boolean {
    return this.seen <= this.capacity;
  }

  add(value: number): void {
    this.seen++;
    if (this.size < this.capacity) {
      this.grow();
      this.values[this.size++] = value;

      return;
    }
    const slot = Math.floor(this.random() * this.seen);
    if (slot < this.capacity) {
      this.values[slot] = value;
    }
  }

  /** The kept values in ascending order, a copy. */
  sorted(): Float64Array {
    return this.values.slice(0, this.size).sort();
  }

  private grow(): void {
    if (this.size < this.values.length) {
      return;
    }
    const length = Math.min(this.capacity, Math.max(INITIAL_BUFFER_VALUES, this.size * 2));
    const larger = new Float64Array(length);
    larger.set(this.values);
    this.values = larger;
  }
}
