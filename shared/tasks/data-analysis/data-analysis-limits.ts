/**
 * The bounds of one `data_analysis` task. The analyser reads each dataset once, as a stream,
 * and keeps a fixed amount of state per column, so its memory depends on these numbers and not
 * on the size of the data. A dataset past a hard limit fails the task with
 * `dataAnalysis.limitExceeded`; the soft caps only make a statistic approximate, and the
 * result says so.
 */

/** Datasets one task may name. */
export const MAX_DATA_REFERENCES = 10;

/** Bytes one dataset may hold, counted as they are read (100 MiB). */
export const MAX_DATASET_BYTES = 100 * 1024 * 1024;

/** Data rows one dataset may hold, the CSV header row not counted. */
export const MAX_DATASET_ROWS = 1_000_000;

/** Columns one dataset may have: CSV header fields, or distinct keys across JSON lines. */
export const MAX_DATASET_COLUMNS = 100;

/** Characters one CSV field may hold; a longer one is almost always a quote left open. */
export const MAX_CSV_FIELD_CHARS = 64 * 1024;

/** Characters one JSON line may hold. */
export const MAX_JSON_LINE_CHARS = 1024 * 1024;

/**
 * Numeric values per column kept for quantiles and outliers. Up to this many the quantiles are
 * exact; beyond it the kept values become a uniform reservoir sample (see `quantile-sample.ts`).
 * At 8 bytes a value this is at most 800 KB per numeric column.
 */
export const EXACT_QUANTILE_VALUES = 100_000;

/** Distinct values counted per non-numeric column; past it `distinct_capped` is true. */
export const MAX_DISTINCT_VALUES = 1_000;

/** Characters of a value kept for distinct counts and top values; longer ones are cut. */
export const MAX_TRACKED_VALUE_CHARS = 200;

/** Most frequent values reported per non-numeric column. */
export const MAX_TOP_VALUES = 5;

/**
 * Numeric columns whose pairwise correlations are tracked: the first ones to show a number.
 * Every row updates each pair, so the cost grows with the square of this (190 pairs at 20).
 */
export const MAX_CORRELATION_COLUMNS = 20;

/** Rows between two checks of the cancellation signal. */
export const CHECKPOINT_EVERY_ROWS = 1_000;

/** |Pearson r| from which a pair of columns is reported as strongly correlated. */
export const STRONG_CORRELATION_MIN_ABS_R = 0.8;

/** Share of missing values from which a column is reported. */
export const MISSING_VALUES_MIN_SHARE = 0.2;

/** Tukey's fences: a value further than this many IQRs outside the quartiles is an outlier. */
export const OUTLIER_IQR_FACTOR = 1.5;

/** A value further than this many standard deviations from the mean is an outlier. */
export const OUTLIER_MIN_ABS_Z_SCORE = 3;

/**
 * Values a column (or rows a pair of columns) needs before outliers or a correlation are
 * reported: on fewer, quartiles and r say more about chance than about the data.
 */
export const MIN_VALUES_FOR_INSIGHTS = 10;

/** Example values an outlier insight lists, the most extreme first. */
export const MAX_OUTLIER_EXAMPLES = 5;
