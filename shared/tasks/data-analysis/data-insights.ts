/**
 * What is worth telling about a dataset once its statistics are known: columns with many
 * missing values, numeric columns with outliers, and strongly correlated pairs of columns.
 *
 * Outliers: a value is one when it lies outside Tukey's fences, [p25 − 1.5·IQR, p75 + 1.5·IQR]
 * (only when the IQR is above 0, since a column with a dominant value would otherwise call every
 * other value an outlier), or further than 3 standard deviations from the mean. They are counted
 * over the values kept for quantiles: exactly while the column fits `EXACT_QUANTILE_VALUES`,
 * scaled up from the reservoir sample past it (`estimated: true`).
 */
import {
  MAX_OUTLIER_EXAMPLES,
  MIN_VALUES_FOR_INSIGHTS,
  MISSING_VALUES_MIN_SHARE,
  OUTLIER_IQR_FACTOR,
  OUTLIER_MIN_ABS_Z_SCORE,
  STRONG_CORRELATION_MIN_ABS_R,
} from './data-analysis-limits';
import type { FinishedColumn, NumericColumnStatistics } from './column-statistics';
import type { Correlation } from './correlation-tracker';

export interface MissingValuesInsight {
  readonly type: 'missing_values';
  /** The reference of the dataset. */
  readonly dataset: string;
  readonly column: string;
  readonly missing: number;
  readonly rows: number;
  /** `missing / rows`, between 0 and 1. */
  readonly share: number;
  readonly message: string;
}

export interface OutlierInsight {
  readonly type: 'outlier';
  readonly dataset: string;
  readonly column: string;
  readonly count: number;
  /** Whether `count` is scaled up from a sample rather than counted over every value. */
  readonly estimated: boolean;
  /** Tukey's fences; null when the IQR is 0 and only the z-score decides. */
  readonly lower_fence: number | null;
  readonly upper_fence: number | null;
  /** Up to `MAX_OUTLIER_EXAMPLES` distinct outlying values, the furthest from the median first. */
  readonly examples: readonly number[];
  readonly message: string;
}

export interface StrongCorrelationInsight {
  readonly type: 'strong_correlation';
  readonly dataset: string;
  readonly columns: readonly [string, string];
  /** Pearson's r over the rows where both columns have a number. */
  readonly r: number;
  readonly rows: number;
  readonly message: string;
}

export type DataInsight = MissingValuesInsight | OutlierInsight | StrongCorrelationInsight;

/** A number as a message shows it: six significant digits at most, no trailing zeros. */
const shown = (value: number): string => String(Number(value.toPrecision(6)));

const quoted = (name: string): string => JSON.stringify(name);

const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** The column's insight about missing values, when at least 20 % of its rows lack one. */
export const missingValuesInsight = (
  dataset: string,
  column: FinishedColumn,
): MissingValuesInsight | undefined => {
  const { count, missing } = column.statistics;
  const rows = count + missing;
  if (rows === 0 || missing / rows < MISSING_VALUES_MIN_SHARE) {
    return undefined;
  }
  const share = missing / rows;

  return {
    type: 'missing_values',
    dataset,
    column: column.name,
    missing,
    rows,
    share,
    message:
      `Column ${quoted(column.name)} is missing ${percent(share)} of its values ` +
      `(${missing} of ${rows} rows).`,
  };
};

interface Fences {
  readonly lower: number;
  readonly upper: number;
}

const tukeyFences = (statistics: NumericColumnStatistics): Fences | undefined => {
  const { p25, p75 } = statistics.quantiles;
  const iqr = p75 - p25;
  if (!(iqr > 0)) {
    return undefined;
  }

  return { lower: p25 - OUTLIER_IQR_FACTOR * iqr, upper: p75 + OUTLIER_IQR_FACTOR * iqr };
};

/** The outlying values among `sorted`, by either rule. */
const outlyingValues = (
  sorted: Float64Array,
  statistics: NumericColumnStatistics,
  fences: Fences | undefined,
): number[] => {
  const { mean, std } = statistics;
  const isOutlier = (value: number): boolean =>
    (fences !== undefined && (value < fences.lower || value > fences.upper)) ||
    (std !== null && std > 0 && Math.abs(value - mean) / std > OUTLIER_MIN_ABS_Z_SCORE);

  const outliers: number[] = [];
  for (const value of sorted) {
    if (isOutlier(value)) outliers.push(value);
  }

  return outliers;
};

const outlierMessage = (
  column: string,
  count: number,
  estimated: boolean,
  fences: Fences | undefined,
): string => {
  const counted = `${estimated ? 'about ' : ''}${count} outlier${count === 1 ? '' : 's'}`;
  const rule =
    fences === undefined
      ? `more than ${OUTLIER_MIN_ABS_Z_SCORE} standard deviations from the mean`
      : `outside ${shown(fences.lower)} to ${shown(fences.upper)} (${OUTLIER_IQR_FACTOR} × IQR ` +
        `beyond the quartiles) or more than ${OUTLIER_MIN_ABS_Z_SCORE} standard deviations ` +
        'from the mean';

  return `Column ${quoted(column)} has ${counted}: values ${rule}`;
};

/** The column's outlier insight, when it is numeric, long enough and has any. */
export const outlierInsight = (
  dataset: string,
  column: FinishedColumn,
): OutlierInsight | undefined => {
  const { statistics, sortedValues } = column;
  if (statistics.type !== 'numeric' || sortedValues === undefined) return undefined;
  if (statistics.count < MIN_VALUES_FOR_INSIGHTS) return undefined;
  const fences = tukeyFences(statistics);
  const outliers = outlyingValues(sortedValues, statistics, fences);
  if (outliers.length === 0) {
    return undefined;
  }
  const estimated = statistics.quantile_method !== 'exact';
  const count = estimated
    ? Math.round((outliers.length * statistics.count) / sortedValues.length)
    : outliers.length;
  const median = statistics.quantiles.p50;
  const examples = [...new Set(outliers)]
    .sort((a, b) => Math.abs(b - median) - Math.abs(a - median))
    .slice(0, MAX_OUTLIER_EXAMPLES);

  return {
    type: 'outlier',
    dataset,
    column: column.name,
    count,
    estimated,
    lower_fence: fences?.lower ?? null,
    upper_fence: fences?.upper ?? null,
    examples,
    message:
      `${outlierMessage(column.name, count, estimated, fences)}, such as ` +
      `${examples.map(shown).join(', ')}.`,
  };
};

/**
 * The strongly correlated pairs among `correlations`, strongest first, between columns that
 * ended numeric and over enough rows.
 */
export const correlationInsights = (
  dataset: string,
  columns: readonly FinishedColumn[],
  correlations: readonly Correlation[],
): StrongCorrelationInsight[] => {
  const numeric = (position: number): FinishedColumn | undefined => {
    const column = columns[position];

    return column?.statistics.type === 'numeric' ? column : undefined;
  };
  const insights: StrongCorrelationInsight[] = [];
  for (const { a, b, n, r } of correlations) {
    const first = numeric(a);
    const second = numeric(b);
    if (first === undefined || second === undefined || r === undefined) continue;
    if (n < MIN_VALUES_FOR_INSIGHTS || Math.abs(r) < STRONG_CORRELATION_MIN_ABS_R) continue;
    insights.push({
      type: 'strong_correlation',
      dataset,
      columns: [first.name, second.name],
      r,
      rows: n,
      message:
        `Columns ${quoted(first.name)} and ${quoted(second.name)} are strongly ` +
        `${r > 0 ? 'positively' : 'negatively'} correlated (Pearson r = ${r.toFixed(3)} ` +
        `over ${n} rows).`,
    });
  }

  return insights.sort((x, y) => Math.abs(y.r) - Math.abs(x.r));
};
