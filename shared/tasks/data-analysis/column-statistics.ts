/**
 * The statistics of one column, gathered value by value in a single pass.
 *
 * Missing: an absent JSON key, JSON `null`, and text that is empty, blank, or reads `NA`, `N/A`,
 * `NaN` or `null` in any letter case. `count` is the number of values that are not missing, so
 * `count + missing` is the number of rows.
 *
 * Numeric: a column is numeric when every value that is not missing is a JSON number or text
 * that reads as a decimal number (`-1.5`, `2e3`, `.5`; not `1,000`, `0x1f` or `Infinity`). One
 * value that is not a number makes the column text for good, and its numeric state is dropped.
 * Mean and variance use Welford's update, which stays accurate where the textbook
 * sum-of-squares formula cancels catastrophically; `std` is the sample standard deviation
 * (divided by n − 1). Quantiles are in `quantile-sample.ts`.
 *
 * Text: values are counted by their text, the first `MAX_DISTINCT_VALUES` distinct ones only.
 * Past that cap `distinct` stays at the cap, `distinct_capped` is true, and a value first seen
 * after the cap is in no count, so `top_values` is exact for the values it lists but may miss a
 * value that only became frequent late in a column of very many distinct values.
 */
import {
  MAX_DISTINCT_VALUES,
  MAX_TOP_VALUES,
  MAX_TRACKED_VALUE_CHARS,
} from './data-analysis-limits';
import type { CellValue } from './dataset-rows';
import {
  QUANTILE_LEVELS,
  QuantileSample,
  quantileOfSorted,
  type QuantileName,
} from './quantile-sample';

/** Text that stands for a missing value, compared trimmed and in lower case. */
export const MISSING_VALUE_TEXTS = ['', 'na', 'n/a', 'nan', 'null'] as const;

const MISSING_TEXTS: ReadonlySet<string> = new Set(MISSING_VALUE_TEXTS);

const LONGEST_MISSING_TEXT = Math.max(...MISSING_VALUE_TEXTS.map((text) => text.length));

/** A decimal number, optionally signed and with an exponent; nothing else reads as numeric. */
const DECIMAL_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export type QuantileMethod = 'exact' | 'reservoir_sample';

export interface NumericColumnStatistics {
  readonly type: 'numeric';
  readonly count: number;
  readonly missing: number;
  readonly mean: number;
  /** The sample standard deviation; null for fewer than two values. */
  readonly std: number | null;
  readonly min: number;
  readonly max: number;
  readonly quantiles: Readonly<Record<QuantileName, number>>;
  /** `exact` up to `EXACT_QUANTILE_VALUES` values, a reservoir sample's quantiles past it. */
  readonly quantile_method: QuantileMethod;
}

export interface TopValue {
  /** The value's text, cut to `MAX_TRACKED_VALUE_CHARS` with a trailing `…`. */
  readonly value: string;
  readonly count: number;
}

export interface TextColumnStatistics {
  readonly type: 'text';
  readonly count: number;
  readonly missing: number;
  /** Distinct values, at most `MAX_DISTINCT_VALUES`. */
  readonly distinct: number;
  /** Whether there were more distinct values than `distinct` counts. */
  readonly distinct_capped: boolean;
  /** The most frequent values, most frequent first, ties in text order. */
  readonly top_values: readonly TopValue[];
}

/** A column whose every value is missing. */
export interface EmptyColumnStatistics {
  readonly type: 'empty';
  readonly count: 0;
  readonly missing: number;
}

export type ColumnStatistics =
  NumericColumnStatistics | TextColumnStatistics | EmptyColumnStatistics;

/** A finished column: its statistics and, when numeric, what outlier detection needs. */
export interface FinishedColumn {
  readonly name: string;
  readonly statistics: ColumnStatistics;
  /** The kept values in ascending order (all of them when `quantile_method` is `exact`). */
  readonly sortedValues?: Float64Array;
}

/** A cell's number when it is one, `null` when it is missing, else its text. */
export const readCell = (cell: CellValue): number | string | null => {
  if (cell === undefined || cell === null) {
    return null;
  }
  if (typeof cell === 'number') {
    return cell;
  }
  const trimmed = cell.trim();
  // Most cells are longer than any missing spelling: no need to lower-case them.
  if (trimmed.length <= LONGEST_MISSING_TEXT && MISSING_TEXTS.has(trimmed.toLowerCase())) {
    return null;
  }
  if (DECIMAL_NUMBER.test(trimmed)) {
    const value = Number(trimmed);
    // `1e999` matches the pattern but is no finite number: it stays text.
    if (Number.isFinite(value)) {
      return value;
    }
  }

  return cell;
};

const trackedText = (text: string): string =>
  text.length > MAX_TRACKED_VALUE_CHARS ? `${text.slice(0, MAX_TRACKED_VALUE_CHARS)}…` : text;

/** Welford's running mean and sum of squared deviations, with the extremes. */
class RunningMoments {
  n = 0;
  mean = 0;
  /** Σ (x − mean)², kept up to date one value at a time. */
  m2 = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  add(value: number): void {
    this.n++;
    const delta = value - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (value - this.mean);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  get std(): number | null {
    return this.n < 2 ? null : Math.sqrt(this.m2 / (this.n - 1));
  }
}

/** Gathers one column's statistics; `missingBefore` counts rows read before it appeared. */
export class ColumnAccumulator {
  private missing: number;
  private present = 0;
  /** Numeric state, dropped (undefined) once a value that is not a number is seen. */
  private moments: RunningMoments | undefined = new RunningMoments();
  private sample: QuantileSample | undefined;
  private readonly frequencies = new Map<string, number>();
  private distinctCapped = false;

  /** `quantileCapacity` is `EXACT_QUANTILE_VALUES` but for tests of the sampled regime. */
  constructor(
    readonly name: string,
    missingBefore = 0,
    quantileCapacity?: number,
  ) {
    this.missing = missingBefore;
    this.sample = new QuantileSample(quantileCapacity);
  }

  /** Values so far that are not missing. */
  get count(): number {
    return this.present;
  }

  /** Whether every value so far is a number (and there is at least one). */
  get numeric(): boolean {
    return this.moments !== undefined && this.present > 0;
  }

  /**
   * Adds one cell. Returns its number while the column is still numeric, for the correlations,
   * and `undefined` otherwise.
   */
  add(cell: CellValue): number | undefined {
    const value = readCell(cell);
    if (value === null) {
      this.missing++;

      return undefined;
    }
    this.present++;
    this.countText(String(cell));
    if (typeof value === 'string') {
      this.moments = undefined;
      this.sample = undefined;

      return undefined;
    }
    if (this.moments === undefined) {
      return undefined;
    }
    this.moments.add(value);
    this.sample?.add(value);

    return value;
  }

  finish(): FinishedColumn {
    if (this.present === 0) {
      return { name: this.name, statistics: { type: 'empty', count: 0, missing: this.missing } };
    }
    if (this.moments !== undefined && this.sample !== undefined) {
      return this.finishNumeric(this.moments, this.sample);
    }

    return { name: this.name, statistics: this.textStatistics() };
  }

  private countText(text: string): void {
    const key = trackedText(text);
    const seen = this.frequencies.get(key);
    if (seen !== undefined) {
      this.frequencies.set(key, seen + 1);
    } else if (this.frequencies.size < MAX_DISTINCT_VALUES) {
      this.frequencies.set(key, 1);
    } else {
      this.distinctCapped = true;
    }
  }

  private finishNumeric(moments: RunningMoments, sample: QuantileSample): FinishedColumn {
    const sortedValues = sample.sorted();
    const quantiles = Object.fromEntries(
      Object.entries(QUANTILE_LEVELS).map(([name, p]) => [name, quantileOfSorted(sortedValues, p)]),
    ) as Record<QuantileName, number>;
    const statistics: NumericColumnStatistics = {
      type: 'numeric',
      count: this.present,
      missing: this.missing,
      mean: moments.mean,
      std: moments.std,
      min: moments.min,
      max: moments.max,
      quantiles,
      quantile_method: sample.exact ? 'exact' : 'reservoir_sample',
    };

    return { name: this.name, statistics, sortedValues };
  }

  private textStatistics(): TextColumnStatistics {
    const top = [...this.frequencies]
      .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, MAX_TOP_VALUES)
      .map(([value, count]) => ({ value, count }));

    return {
      type: 'text',
      count: this.present,
      missing: this.missing,
      distinct: this.frequencies.size,
      distinct_capped: this.distinctCapped,
      top_values: top,
    };
  }
}
