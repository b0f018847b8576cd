/**
 * Why a `data_analysis` task could not analyse its data. Every message speaks of the dataset
 * only (its reference, a line number, a limit) and may be shown to the task's owner; none of
 * these failures goes away on a retry.
 */

export type DataAnalysisErrorCode =
  'dataAnalysis.parseFailed' | 'dataAnalysis.limitExceeded' | 'dataAnalysis.noReferences';

export class DataAnalysisError extends Error {
  override readonly name: string = 'DataAnalysisError';
  readonly code: DataAnalysisErrorCode;
  /** Whether `message` may be shown to the task's owner: always. */
  readonly expose = true;
  /** The dataset the failure is about, once known. */
  dataset: string | undefined;

  constructor(code: DataAnalysisErrorCode, message: string, cause?: unknown) {
    super(message, { cause });
    this.code = code;
  }

  /** Names the dataset in the message, for a reader that does not know which one it reads. */
  inDataset(reference: string): this {
    if (this.dataset === undefined) {
      this.dataset = reference;
      this.message = `In ${reference}, ${this.message}`;
    }

    return this;
  }
}

/** The data is not the CSV or JSON lines its extension says; `line` is 1-based. */
export class DataParseError extends DataAnalysisError {
  override readonly name = 'DataParseError';
  readonly line: number;

  constructor(line: number, problem: string, cause?: unknown) {
    super('dataAnalysis.parseFailed', `line ${line}: ${problem}`, cause);
    this.line = line;
  }
}

/** The data is larger than a hard limit of `data-analysis-limits.ts` allows. */
export class DataLimitError extends DataAnalysisError {
  override readonly name = 'DataLimitError';
  /** The limit's name (`MAX_DATASET_ROWS`) and its value. */
  readonly limit: string;
  readonly maximum: number;

  constructor(limit: string, maximum: number, problem: string) {
    super('dataAnalysis.limitExceeded', problem);
    this.limit = limit;
    this.maximum = maximum;
  }
}
