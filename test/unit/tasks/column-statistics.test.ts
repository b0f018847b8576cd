import { describe, expect, it } from 'vitest';
import {
  ColumnAccumulator,
  readCell,
  type ColumnStatistics,
  type NumericColumnStatistics,
  type TextColumnStatistics,
} from '@shared/tasks/data-analysis/column-statistics';
import {
  EXACT_QUANTILE_VALUES,
  MAX_DISTINCT_VALUES,
  MAX_TRACKED_VALUE_CHARS,
} from '@shared/tasks/data-analysis/data-analysis-limits';
import type { CellValue } from '@shared/tasks/data-analysis/dataset-rows';
import { QuantileSample, quantileOfSorted } from '@shared/tasks/data-analysis/quantile-sample';

const statisticsOf = (cells: readonly CellValue[], capacity?: number): ColumnStatistics => {
  const column = new ColumnAccumulator('c', 0, capacity);
  cells.forEach((cell) => column.add(cell));

  return column.finish().statistics;
};

const numeric = (cells: readonly CellValue[], capacity?: number): NumericColumnStatistics => {
  const statistics = statisticsOf(cells, capacity);
  expect(statistics.type).toBe('numeric');

  return statistics as NumericColumnStatistics;
};

const text = (cells: readonly CellValue[]): TextColumnStatistics => {
  const statistics = statisticsOf(cells);
  expect(statistics.type).toBe('text');

  return statistics as TextColumnStatistics;
};

/** The textbook two-pass formulas, written independently of the accumulator. */
const twoPass = (values: readonly number[]) => {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);

  return { mean, std: Math.sqrt(squares / (values.length - 1)) };
};

/** A fixed pseudo-random sequence for the tests, unrelated to the analyser's own generator. */
const testRandom = (seed: number) => {
  let state = seed;

  return () => {
    state = (state * 16_807) % 2_147_483_647;

    return state / 2_147_483_647;
  };
};

describe('ColumnAccumulator on numbers', () => {
  it('gives count, mean, std, min, max and quantiles worked out by hand', () => {
    // 1..10: mean 5.5, sample variance 55/6; type 7 quantiles at (n − 1)·p = 2.25, 4.5,
    // 6.75 and 8.55 (0-based) between the neighbouring values.
    const statistics = numeric(['7', '3', '10', '1', '5', '9', '2', '8', '4', '6']);

    expect(statistics).toMatchObject({ count: 10, missing: 0, min: 1, max: 10 });
    expect(statistics.mean).toBeCloseTo(5.5, 12);
    expect(statistics.std).toBeCloseTo(Math.sqrt(55 / 6), 12);
    expect(statistics.quantiles.p25).toBeCloseTo(3.25, 12);
    expect(statistics.quantiles.p50).toBeCloseTo(5.5, 12);
    expect(statistics.quantiles.p75).toBeCloseTo(7.75, 12);
    expect(statistics.quantiles.p95).toBeCloseTo(9.55, 12);
    expect(statistics.quantile_method).toBe('exact');
  });

  it('agrees with the two-pass formulas and a sort on random data', () => {
    const random = testRandom(42);
    const values = Array.from({ length: 2_001 }, () => 50 + 30 * (random() - 0.5) ** 3);
    const statistics = numeric(values.map((value) => value.toString()));
    const expected = twoPass(values);
    const sorted = [...values].sort((a, b) => a - b);

    expect(statistics.mean).toBeCloseTo(expected.mean, 10);
    expect(statistics.std).toBeCloseTo(expected.std, 10);
    expect(statistics.min).toBe(sorted[0]);
    expect(statistics.max).toBe(sorted[2_000]);
    // 2,001 values: the quantiles at 0.25, 0.5, 0.75 and 0.95 fall on ranks 500, 1000, 1500, 1900.
    expect(statistics.quantiles).toEqual({
      p25: sorted[500],
      p50: sorted[1_000],
      p75: sorted[1_500],
      p95: sorted[1_900],
    });
  });

  it('stays accurate for large values with a small spread, where sums of squares fail', () => {
    // The classic case: 1e9 + {4, 7, 13, 16} has variance 30 (sample), 22.5 (population).
    const statistics = numeric([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);

    expect(statistics.mean).toBe(1e9 + 10);
    expect(statistics.std).toBeCloseTo(Math.sqrt(30), 9);
  });

  it('reads JSON numbers and numeric text alike, signs and exponents included', () => {
    const statistics = numeric([1, '-2.5', '+3', '.5', '1e2', ' 4 ', '5.']);

    expect(statistics.count).toBe(7);
    expect(statistics.min).toBe(-2.5);
    expect(statistics.max).toBe(100);
  });

  it('gives no std for a single value', () => {
    expect(numeric(['3']).std).toBeNull();
  });

  it('counts the missing spellings as missing and leaves them out of the numbers', () => {
    const statistics = numeric([
      '1',
      '',
      '  ',
      'NA',
      'n/a',
      'NaN',
      'null',
      'NULL',
      null,
      undefined,
      '3',
    ]);

    expect(statistics).toMatchObject({ count: 2, missing: 9, mean: 2, min: 1, max: 3 });
  });

  it('counts the rows read before a column appeared as missing', () => {
    const column = new ColumnAccumulator('late', 4);
    column.add(2);

    expect(column.finish().statistics).toMatchObject({ count: 1, missing: 4 });
  });
});

describe('ColumnAccumulator on text', () => {
  it('makes a column text for good once one value is not a number', () => {
    const statistics = text(['1', '2', 'three', '2', '1', '1']);

    expect(statistics).toEqual({
      type: 'text',
      count: 6,
      missing: 0,
      distinct: 3,
      distinct_capped: false,
      top_values: [
        { value: '1', count: 3 },
        { value: '2', count: 2 },
        { value: 'three', count: 1 },
      ],
    });
  });

  it('keeps text that only looks numeric, or not quite missing, as text', () => {
    for (const value of ['1,000', '0x1f', 'Infinity', '1e999', 'None', '-', '1.2.3']) {
      expect(readCell(value)).toBe(value);
    }
    expect(readCell('0')).toBe(0);
  });

  it('lists at most five top values, most frequent first and ties in text order', () => {
    const statistics = text(['b', 'a', 'c', 'd', 'e', 'f', 'f', 'g', 'g', 'c']);

    expect(statistics.top_values).toEqual([
      { value: 'c', count: 2 },
      { value: 'f', count: 2 },
      { value: 'g', count: 2 },
      { value: 'a', count: 1 },
      { value: 'b', count: 1 },
    ]);
  });

  it('caps the distinct count and says so', () => {
    const values = Array.from({ length: MAX_DISTINCT_VALUES + 500 }, (_, i) => `v${i}`);
    const capped = text([...values, 'v0']);
    const exact = text(values.slice(0, MAX_DISTINCT_VALUES));

    expect(capped).toMatchObject({ distinct: MAX_DISTINCT_VALUES, distinct_capped: true });
    expect(capped.count).toBe(MAX_DISTINCT_VALUES + 501);
    expect(capped.top_values[0]).toEqual({ value: 'v0', count: 2 });
    expect(exact).toMatchObject({ distinct: MAX_DISTINCT_VALUES, distinct_capped: false });
  });

  it('cuts long values in the top values', () => {
    const long = 'x'.repeat(MAX_TRACKED_VALUE_CHARS + 50);
    const statistics = text([long, long]);

    expect(statistics.top_values).toEqual([
      { value: `${'x'.repeat(MAX_TRACKED_VALUE_CHARS)}…`, count: 2 },
    ]);
  });

  it('calls a column with only missing values empty', () => {
    expect(statisticsOf(['', null, 'NA'])).toEqual({ type: 'empty', count: 0, missing: 3 });
  });
});

describe('quantiles past the exact cap', () => {
  it('is exact up to the cap and a reservoir sample past it', () => {
    const sample = new QuantileSample(4);
    [4, 3, 2, 1].forEach((value) => sample.add(value));

    expect(sample.exact).toBe(true);
    expect(Array.from(sample.sorted())).toEqual([1, 2, 3, 4]);
    sample.add(5);
    expect(sample.exact).toBe(false);
    expect(sample.sorted()).toHaveLength(4);
  });

  it('keeps its quantiles within the documented rank error on 300,000 sorted values', () => {
    // Values 0..299,999 in ascending order, the order that fools a naive "keep the first" rule;
    // the documented bound is 0.6 percentage points of rank at 100,000 kept values.
    const total = 3 * EXACT_QUANTILE_VALUES;
    const values = Array.from({ length: total }, (_, i) => i);
    const statistics = numeric(values);

    expect(statistics.quantile_method).toBe('reservoir_sample');
    expect(statistics).toMatchObject({ count: total, min: 0, max: total - 1 });
    expect(statistics.mean).toBeCloseTo((total - 1) / 2, 6);
    for (const [name, p] of [
      ['p25', 0.25],
      ['p50', 0.5],
      ['p75', 0.75],
      ['p95', 0.95],
    ] as const) {
      const rank = statistics.quantiles[name] / (total - 1);

      expect(Math.abs(rank - p)).toBeLessThan(0.006);
    }
  });

  it('interpolates between the two closest ranks (type 7)', () => {
    expect(quantileOfSorted([10, 20], 0.25)).toBe(12.5);
    expect(quantileOfSorted([10], 0.95)).toBe(10);
    expect(quantileOfSorted([], 0.5)).toBeNaN();
  });
});
