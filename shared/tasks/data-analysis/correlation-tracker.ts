/**
 * Pearson correlations between numeric columns, in the same single pass as everything else.
 *
 * Each pair of tracked columns keeps running means and co-moments over the rows where both
 * have a number (pairwise-complete rows), updated as in Welford's method:
 *   n += 1;  dx = x − mean_x;  mean_x += dx / n;  dy = y − mean_y;  mean_y += dy / n
 *   m2_x += dx · (x − mean_x);  m2_y += dy · (y − mean_y);  c_xy += dx · (y − mean_y)
 * and r = c_xy / √(m2_x · m2_y) at the end.
 *
 * Which columns: the first `MAX_CORRELATION_COLUMNS` to show a number as their first value. A
 * column joins when that first value arrives, and its pairs start then; since a pair only counts
 * rows where both columns have a value, no row of the pair is missed. A column that later shows
 * text is no longer numeric: its pairs are dropped and its place goes to the next newcomer.
 * Columns past the cap are not correlated at all, which the result cannot show otherwise than
 * by their absence from the correlation insights.
 */
import { MAX_CORRELATION_COLUMNS } from './data-analysis-limits';

interface PairMoments {
  /** Column positions, `a < b`. */
  readonly a: number;
  readonly b: number;
  n: number;
  meanA: number;
  meanB: number;
  m2A: number;
  m2B: number;
  coMoment: number;
}

export interface Correlation {
  /** Column positions, the lower first. */
  readonly a: number;
  readonly b: number;
  /** Rows where both columns have a number. */
  readonly n: number;
  /** Pearson's r; `undefined` when a column is constant over those rows. */
  readonly r: number | undefined;
}

export class CorrelationTracker {
  private readonly members = new Set<number>();
  /** Columns that were numeric and then were not: they never join again. */
  private readonly dropped = new Set<number>();
  private pairs: PairMoments[] = [];

  constructor(private readonly maxColumns: number = MAX_CORRELATION_COLUMNS) {}

  /** Called with a column's first value: a number lets it join while there is room. */
  consider(column: number): void {
    if (this.members.has(column) || this.dropped.has(column)) return;
    if (this.members.size >= this.maxColumns) return;
    for (const other of this.members) {
      const [a, b] = other < column ? [other, column] : [column, other];
      this.pairs.push({ a, b, n: 0, meanA: 0, meanB: 0, m2A: 0, m2B: 0, coMoment: 0 });
    }
    this.members.add(column);
  }

  /** A tracked column showed text: its correlations mean nothing any more. */
  drop(column: number): void {
    if (!this.members.delete(column)) return;
    this.dropped.add(column);
    this.pairs = this.pairs.filter((pair) => pair.a !== column && pair.b !== column);
  }

  /** One row's numbers by column position; a gap or `undefined` is no number. */
  add(numbers: ReadonlyArray<number | undefined>): void {
    for (const pair of this.pairs) {
      const x = numbers[pair.a];
      const y = numbers[pair.b];
      if (x === undefined || y === undefined) continue;
      pair.n++;
      const dx = x - pair.meanA;
      pair.meanA += dx / pair.n;
      const dy = y - pair.meanB;
      pair.meanB += dy / pair.n;
      pair.m2A += dx * (x - pair.meanA);
      pair.m2B += dy * (y - pair.meanB);
      pair.coMoment += dx * (y - pair.meanB);
    }
  }

  correlations(): Correlation[] {
    return this.pairs.map(({ a, b, n, m2A, m2B, coMoment }) => {
      const spread = Math.sqrt(m2A * m2B);
      // Rounding can push |r| a hair past 1 for perfectly linear columns.
      const r = spread > 0 ? Math.max(-1, Math.min(1, coMoment / spread)) : undefined;

      return { a, b, n, r };
    });
  }
}
