/**
 * Reads a DynamoDB Local stream and calls a stream consumer's handler in-process, the way a
 * Lambda event source mapping does in AWS: an iterator per shard, parents before children, one
 * batch in flight per shard, records in Lambda's own shape, and the same batching, retry,
 * bisection, partial batch response and on-failure rules. The local runtime and the tests run
 * every stream consumer through it, so a handler that behaves here behaves behind AWS's mapping.
 */
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type AttributeValue,
  type DynamoDBStreamsClient,
  type GetShardIteratorCommandInput,
  type Shard,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  AttributeValue as LambdaAttributeValue,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import type { StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';

/** Reads of DynamoDB Local cost little, and a short pause keeps a write's delivery prompt. */
export const DEFAULT_POLL_INTERVAL_MS = 100;

/**
 * How long after a write `whenIdle` assumes its stream record may still be unreadable. On two
 * cores, DynamoDB Local 3.3.0 answered every record (200 of 200, under concurrent writes) to the
 * first GetRecords sent after the write returned; the 15 to 70 ms seen between a write and its
 * record is that read's round trip. The margin is for slower machines and other versions: a
 * record that becomes readable later than this is not waited for.
 */
export const DEFAULT_RECORD_VISIBILITY_DELAY_MS = 100;

/** First pause before a failed batch is retried; it doubles with each retry. */
export const DEFAULT_RETRY_DELAY_MS = 100;

const MAX_RETRY_DELAY_MS = 5_000;
const SHARD_DISCOVERY_INTERVAL_MS = 1_000;
const POLLER_ERROR_FIRST_DELAY_MS = 200;
const POLLER_ERROR_MAX_DELAY_MS = 5_000;

// GetRecords answers 1,000 records at most; larger batches are gathered over several reads.
const GET_RECORDS_LIMIT = 1_000;

// The bounds AWS accepts for a DynamoDB event source mapping.
const MAX_BATCH_SIZE = 10_000;
const MAX_BATCHING_WINDOW_SECONDS = 300;
const MAX_RETRY_ATTEMPTS = 10_000;

/** The stable codes of {@link StreamPollerError}. */
export const STREAM_POLLER_ERROR_CODES = {
  invalidOptions: 'streamPoller.invalidOptions',
  stopped: 'streamPoller.stopped',
  malformedBatchResponse: 'streamPoller.malformedBatchResponse',
  partialBatchFailure: 'streamPoller.partialBatchFailure',
  unknownAttributeType: 'streamPoller.unknownAttributeType',
} as const;

export type StreamPollerErrorCode =
  (typeof STREAM_POLLER_ERROR_CODES)[keyof typeof STREAM_POLLER_ERROR_CODES];

/** Raised for bad options and a stopped poller, and recorded as the error of a failed batch. */
export class StreamPollerError extends Error {
  override readonly name = 'StreamPollerError';

  constructor(
    readonly code: StreamPollerErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** Why a batch went to the failure destination, in the words AWS writes there. */
export const STREAM_FAILURE_CONDITIONS = {
  retryAttemptsExhausted: 'RetryAttemptsExhausted',
} as const;

export type StreamFailureCondition =
  (typeof STREAM_FAILURE_CONDITIONS)[keyof typeof STREAM_FAILURE_CONDITIONS];

/**
 * What the failure destination receives for a discarded batch: the record an event source
 * mapping sends to its on-failure destination, plus the records themselves (as AWS's S3
 * destination does) and the last error, which AWS keeps to itself but a developer wants.
 */
export interface StreamBatchFailure {
  readonly version: '1.0';
  /** When the batch was discarded, ISO 8601. */
  readonly timestamp: string;
  readonly requestContext: {
    readonly condition: StreamFailureCondition;
    /** Invocations that carried these records, the retries included. */
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    /** `Unhandled` when the handler threw; absent when it answered a batch failure. */
    readonly functionError?: 'Unhandled';
  };
  readonly DDBStreamBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  readonly payload: DynamoDBStreamEvent;
  /** What the handler threw, or a {@link StreamPollerError} describing its answer. */
  readonly error: unknown;
}

export interface StreamPollerLogger {
  info(message: string, details: Record<string, unknown>): void;
  warn(message: string, details: Record<string, unknown>): void;
  error(message: string, details: Record<string, unknown>): void;
}

export interface StreamPollerOptions {
  readonly client: DynamoDBStreamsClient;
  readonly streamArn: string;
  /** Batch size, batching window, retries, bisection, partial batch response, start. */
  readonly consumer: StreamConsumerDeclaration;
  /** Calls the consumer's handler in-process and returns what it returned. */
  readonly invoke: (event: DynamoDBStreamEvent) => Promise<unknown>;
  /** The failure destination: receives each batch the retries could not deliver. */
  readonly onFailure: (failure: StreamBatchFailure) => Promise<void> | void;
  /** The `awsRegion` of each record; DynamoDB Local reports its own `ddblocal`. */
  readonly region: string;
  /** Pause between reads of a quiet shard; default {@link DEFAULT_POLL_INTERVAL_MS}. */
  readonly pollIntervalMs?: number;
  /** Default {@link DEFAULT_RECORD_VISIBILITY_DELAY_MS}. */
  readonly recordVisibilityDelayMs?: number;
  /** Default {@link DEFAULT_RETRY_DELAY_MS}. */
  readonly retryDelayMs?: number;
  /** Where the poller's own troubles go; the console when absent. */
  readonly logger?: StreamPollerLogger;
}

/** A running poller. */
export interface StreamPoller {
  /** Stops reading once the invocation under way returns; resolves when nothing runs any more. */
  stop(): Promise<void>;
  /**
   * Resolves once every record written to the table before the call has been delivered or sent
   * to the failure destination; rejects with `streamPoller.stopped` if the poller stops first.
   */
  whenIdle(): Promise<void>;
}

type ResolvedOptions = Required<StreamPollerOptions>;

const CONSOLE_LOGGER: StreamPollerLogger = {
  info: (message, details) => console.info(message, details),
  warn: (message, details) => console.warn(message, details),
  error: (message, details) => console.error(message, details),
};

const now = (): number => performance.now();

const errorDetails = (error: unknown): Record<string, unknown> =>
  error instanceof Error
    ? { errorName: error.name, errorMessage: error.message }
    : { errorMessage: String(error) };

const exponentialDelay = (firstMs: number, maxMs: number, step: number): number =>
  Math.min(firstMs * 2 ** step, maxMs);

/**
 * Waits `ms`, or less when the poller stops or `onWakeable` hands out the early wake-up; it
 * never rejects, and it leaves neither a timer nor an abort listener behind.
 */
const pause = (
  ms: number,
  signal: AbortSignal,
  onWakeable?: (wake: () => void) => void,
): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(() => finish(), Math.max(0, ms));
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    signal.addEventListener('abort', finish, { once: true });
    onWakeable?.(finish);
  });

// Lambda delivers the event as JSON, so binary attributes arrive base64-encoded, not as bytes.
const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

const toLambdaAttributeValue = (value: AttributeValue): LambdaAttributeValue => {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: toBase64(value.B) };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) return { BS: value.BS.map(toBase64) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttributeValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  // DynamoDB Local's stream answers an empty map (`{"M": {}}` as written) as an attribute with
  // no member at all, which the SDK passes on as `{}`. No other value can arrive that way.
  if (Object.keys(value).length === 0) return { M: {} };

  throw new StreamPollerError(
    STREAM_POLLER_ERROR_CODES.unknownAttributeType,
    'The stream returned an attribute of a type this poller does not know',
    { attributeTypes: Object.keys(value) },
  );
};

const toLambdaImage = (
  image: Record<string, AttributeValue>,
): Record<string, LambdaAttributeValue> =>
  Object.fromEntries(
    Object.entries(image).map(([name, value]) => [name, toLambdaAttributeValue(value)]),
  );

/** One stream record as Lambda puts it in a `DynamoDBStreamEvent`. */
const toLambdaRecord = (record: _Record, streamArn: string, awsRegion: string): DynamoDBRecord => {
  const change = record.dynamodb ?? {};
  const createdAt = change.ApproximateCreationDateTime;
  const identity = record.userIdentity;

  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion,
    dynamodb: {
      // The SDK parses the epoch seconds into a Date; Lambda's JSON keeps the number.
      ...(createdAt === undefined
        ? {}
        : { ApproximateCreationDateTime: Math.floor(createdAt.getTime() / 1_000) }),
      ...(change.Keys === undefined ? {} : { Keys: toLambdaImage(change.Keys) }),
      ...(change.NewImage === undefined ? {} : { NewImage: toLambdaImage(change.NewImage) }),
      ...(change.OldImage === undefined ? {} : { OldImage: toLambdaImage(change.OldImage) }),
      SequenceNumber: change.SequenceNumber,
      SizeBytes: change.SizeBytes,
      StreamViewType: change.StreamViewType,
    },
    eventSourceARN: streamArn,
    // Only TTL deletions carry an identity, and Lambda spells its fields in lower camel case.
    ...(identity === undefined
      ? {}
      : { userIdentity: { type: identity.Type, principalId: identity.PrincipalId } }),
  };
};

type InvocationOutcome =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly error: unknown; readonly threw: boolean }
  | {
      readonly kind: 'partiallyFailed';
      readonly firstFailedIndex: number;
      readonly error: unknown;
    };

const SUCCEEDED: InvocationOutcome = { kind: 'succeeded' };

const malformedResponse = (reason: string): InvocationOutcome => ({
  kind: 'failed',
  threw: false,
  error: new StreamPollerError(
    STREAM_POLLER_ERROR_CODES.malformedBatchResponse,
    `The handler's batch response is malformed: ${reason}`,
  ),
});

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads a partial batch response as Lambda does: nothing, an empty object or an empty or null
 * list is a success; anything it cannot match to a record of the batch fails the whole batch.
 */
const readBatchResponse = (
  response: unknown,
  records: readonly DynamoDBRecord[],
): InvocationOutcome => {
  if (response === undefined || response === null) return SUCCEEDED;
  if (!isObject(response)) return malformedResponse('it is not an object');
  const failures = response.batchItemFailures;
  if (failures === undefined || failures === null) return SUCCEEDED;
  if (!Array.isArray(failures)) return malformedResponse('batchItemFailures is not a list');
  let firstFailedIndex = records.length;

  for (const failure of failures) {
    const identifier = isObject(failure) ? failure.itemIdentifier : undefined;
    const index =
      typeof identifier === 'string' && identifier !== ''
        ? records.findIndex((record) => record.dynamodb?.SequenceNumber === identifier)
        : -1;
    if (index < 0) {
      return malformedResponse(
        `${JSON.stringify(identifier)} is not a sequence number of the batch`,
      );
    }
    // Records of a shard come in sequence order, so the lowest index is the lowest number.
    firstFailedIndex = Math.min(firstFailedIndex, index);
  }
  if (firstFailedIndex === records.length) return SUCCEEDED;

  return {
    kind: 'partiallyFailed',
    firstFailedIndex,
    error: new StreamPollerError(
      STREAM_POLLER_ERROR_CODES.partialBatchFailure,
      'The handler reported records of the batch as failed',
      { failedItemCount: failures.length },
    ),
  };
};

const invokeOnce = async (
  options: ResolvedOptions,
  records: readonly DynamoDBRecord[],
): Promise<InvocationOutcome> => {
  let response: unknown;
  try {
    // Each Lambda invocation deserializes its own event, so a handler that changes the records
    // must not change what a retry receives.
    response = await options.invoke({ Records: structuredClone([...records]) });
  } catch (error) {
    return { kind: 'failed', error, threw: true };
  }

  return options.consumer.reportBatchItemFailures
    ? readBatchResponse(response, records)
    : SUCCEEDED;
};

interface Attempt {
  readonly records: readonly DynamoDBRecord[];
  /** Retries already spent on these records; splitting a batch spends none, as in AWS. */
  readonly retries: number;
  /** Invocations that carried these records so far. */
  readonly invocations: number;
}

type NextStep =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly attempts: readonly Attempt[]; readonly delayMs: number }
  | {
      readonly kind: 'discard';
      readonly attempt: Attempt;
      readonly threw: boolean;
      readonly error: unknown;
    };

/** What an event source mapping does after an invocation, as a pure decision. */
const decideNextStep = (
  options: ResolvedOptions,
  attempt: Attempt,
  outcome: InvocationOutcome,
): NextStep => {
  if (outcome.kind === 'succeeded') return { kind: 'done' };
  const { bisectBatchOnError, retryAttempts } = options.consumer;
  const invocations = attempt.invocations + 1;
  const failedRecords =
    outcome.kind === 'partiallyFailed'
      ? attempt.records.slice(outcome.firstFailedIndex)
      : attempt.records;

  // A thrown error or a malformed answer splits the batch when asked, whatever the
  // partial-response setting; a partial answer already says where to resume instead.
  if (outcome.kind === 'failed' && bisectBatchOnError && failedRecords.length > 1) {
    const middle = Math.ceil(failedRecords.length / 2);
    const half = (records: readonly DynamoDBRecord[]): Attempt => ({
      ...attempt,
      records,
      invocations,
    });

    return {
      kind: 'retry',
      attempts: [half(failedRecords.slice(0, middle)), half(failedRecords.slice(middle))],
      delayMs: 0,
    };
  }
  const next: Attempt = { records: failedRecords, retries: attempt.retries + 1, invocations };
  // AWS's -1 retries until the records expire; nothing expires locally, so it retries forever.
  if (retryAttempts < 0 || attempt.retries < retryAttempts) {
    const delayMs = exponentialDelay(options.retryDelayMs, MAX_RETRY_DELAY_MS, attempt.retries);

    return { kind: 'retry', attempts: [next], delayMs };
  }

  const threw = outcome.kind === 'failed' && outcome.threw;

  return { kind: 'discard', attempt: next, threw, error: outcome.error };
};

const arrivalTime = (record: DynamoDBRecord | undefined): string => {
  const seconds = record?.dynamodb?.ApproximateCreationDateTime;

  return seconds === undefined ? '' : new Date(seconds * 1_000).toISOString().replace('.000Z', 'Z');
};

const describeFailure = (
  options: ResolvedOptions,
  shardId: string,
  { attempt, threw, error }: Extract<NextStep, { kind: 'discard' }>,
): StreamBatchFailure => {
  const first = attempt.records[0];
  const last = attempt.records.at(-1);

  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      condition: STREAM_FAILURE_CONDITIONS.retryAttemptsExhausted,
      approximateInvokeCount: attempt.invocations,
    },
    responseContext: threw ? { functionError: 'Unhandled' } : {},
    DDBStreamBatchInfo: {
      shardId,
      startSequenceNumber: first?.dynamodb?.SequenceNumber ?? '',
      endSequenceNumber: last?.dynamodb?.SequenceNumber ?? '',
      approximateArrivalOfFirstRecord: arrivalTime(first),
      approximateArrivalOfLastRecord: arrivalTime(last),
      batchSize: attempt.records.length,
      streamArn: options.streamArn,
    },
    payload: { Records: structuredClone([...attempt.records]) },
    error,
  };
};

const sendToFailureDestination = async (
  options: ResolvedOptions,
  failure: StreamBatchFailure,
): Promise<void> => {
  const { DDBStreamBatchInfo: info } = failure;
  options.logger.warn('Stream batch discarded after its retries', {
    consumer: options.consumer.id,
    shardId: info.shardId,
    startSequenceNumber: info.startSequenceNumber,
    endSequenceNumber: info.endSequenceNumber,
    batchSize: info.batchSize,
    ...errorDetails(failure.error),
  });

  try {
    await options.onFailure(failure);
  } catch (error) {
    // A broken destination must not stall the shard in a local run; the warning above already
    // says which records the destination missed.
    options.logger.error('The stream failure destination threw', {
      consumer: options.consumer.id,
      shardId: info.shardId,
      ...errorDetails(error),
    });
  }
};

/**
 * Delivers one batch: invokes, then retries, bisects or discards as the consumer declares,
 * until every record is delivered or sent to the failure destination. Stopping the poller
 * abandons what is left once the invocation under way returns.
 */
const deliverBatch = async (
  options: ResolvedOptions,
  signal: AbortSignal,
  shardId: string,
  records: readonly DynamoDBRecord[],
): Promise<void> => {
  const queue: Attempt[] = [{ records, retries: 0, invocations: 0 }];

  for (let attempt = queue.shift(); attempt !== undefined; attempt = queue.shift()) {
    const outcome = await invokeOnce(options, attempt.records);
    if (signal.aborted) return;
    const step = decideNextStep(options, attempt, outcome);
    if (step.kind === 'retry') {
      logFailedInvocation(options, shardId, attempt, outcome);
      queue.unshift(...step.attempts);
      await pause(step.delayMs, signal);
      if (signal.aborted) return;
    } else if (step.kind === 'discard') {
      await sendToFailureDestination(options, describeFailure(options, shardId, step));
    }
  }
};

const logFailedInvocation = (
  options: ResolvedOptions,
  shardId: string,
  attempt: Attempt,
  outcome: InvocationOutcome,
): void => {
  options.logger.info('Stream handler failed a batch; retrying', {
    consumer: options.consumer.id,
    shardId,
    batchSize: attempt.records.length,
    retries: attempt.retries,
    ...(outcome.kind === 'succeeded' ? {} : errorDetails(outcome.error)),
  });
};

type ShardPhase = 'waiting' | 'reading' | 'finished';

/** Where a shard's reading begins; `NOTHING` for a closed shard under `LATEST`. */
type ShardStart = 'TRIM_HORIZON' | 'LATEST' | 'NOTHING';

/** Reads one shard from its start to its end, one batch in flight at a time. */
class ShardReader {
  phase: ShardPhase = 'waiting';
  private iterator: string | undefined;
  private lastReadSequenceNumber: string | undefined;
  private readonly buffer: DynamoDBRecord[] = [];
  private delivering = false;
  private ended = false;
  private windowOpenedAt = 0;
  /** When the latest read that found nothing new began; -Infinity after one that found some. */
  private quietSince = Number.NEGATIVE_INFINITY;
  private consecutiveErrors = 0;

  constructor(
    private readonly poller: StreamPollerRuntime,
    readonly shardId: string,
    readonly parentShardId: string | undefined,
    private start: ShardStart,
  ) {}

  /** Every record visible to a read begun at `since` or later has been dealt with. */
  isIdleSince(since: number): boolean {
    if (this.phase === 'finished') return true;

    return (
      this.phase === 'reading' &&
      this.buffer.length === 0 &&
      !this.delivering &&
      this.quietSince >= since
    );
  }

  /** Never rejects: a trouble with the stream is logged and retried. */
  async run(): Promise<void> {
    this.phase = 'reading';
    const { signal } = this.poller;
    this.ended = this.start === 'NOTHING';

    while (!signal.aborted) {
      if (!this.ended && this.buffer.length < this.poller.options.consumer.batchSize) {
        await this.read();
      }
      if (signal.aborted) return;
      if (this.batchIsReady()) {
        await this.deliverNextBatch();
      } else if (this.ended && this.buffer.length === 0) {
        this.phase = 'finished';
        return;
      } else {
        await pause(this.nextReadDelayMs(), signal);
      }
    }
  }

  private get windowMs(): number {
    return this.poller.options.consumer.maxBatchingWindowSeconds * 1_000;
  }

  private batchIsReady(): boolean {
    if (this.buffer.length === 0) return false;

    return (
      this.buffer.length >= this.poller.options.consumer.batchSize ||
      this.ended ||
      now() - this.windowOpenedAt >= this.windowMs
    );
  }

  private nextReadDelayMs(): number {
    const { pollIntervalMs } = this.poller.options;
    if (this.buffer.length === 0) return pollIntervalMs;

    return Math.min(pollIntervalMs, this.windowOpenedAt + this.windowMs - now());
  }

  private async read(): Promise<void> {
    const startedAt = now();
    try {
      this.iterator ??= await this.acquireIterator();
      const output = await this.poller.options.client.send(
        new GetRecordsCommand({ ShardIterator: this.iterator, Limit: GET_RECORDS_LIMIT }),
        this.poller.requestOptions,
      );
      // Converted before the iterator moves on, so a record that fails to convert is read again.
      const records = (output.Records ?? []).map((record) =>
        toLambdaRecord(record, this.poller.options.streamArn, this.poller.options.region),
      );
      this.iterator = output.NextShardIterator;
      // A closed shard answers no next iterator once its last record has been read.
      this.ended = this.iterator === undefined;
      this.accept(records, startedAt);
      this.consecutiveErrors = 0;
    } catch (error) {
      await this.recover(error);
    }

    this.poller.checkIdle();
  }

  private async acquireIterator(): Promise<string> {
    const position: Pick<GetShardIteratorCommandInput, 'ShardIteratorType' | 'SequenceNumber'> =
      this.lastReadSequenceNumber === undefined
        ? { ShardIteratorType: this.start === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON' }
        : {
            ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
            SequenceNumber: this.lastReadSequenceNumber,
          };
    const output = await this.poller.options.client.send(
      new GetShardIteratorCommand({
        StreamArn: this.poller.options.streamArn,
        ShardId: this.shardId,
        ...position,
      }),
      this.poller.requestOptions,
    );
    if (output.ShardIterator === undefined) {
      throw new Error(`GetShardIterator returned no iterator for shard ${this.shardId}`);
    }

    return output.ShardIterator;
  }

  private accept(records: readonly DynamoDBRecord[], readStartedAt: number): void {
    if (records.length === 0) {
      this.quietSince = readStartedAt;
      return;
    }
    this.quietSince = Number.NEGATIVE_INFINITY;
    if (this.buffer.length === 0) this.windowOpenedAt = now();
    this.buffer.push(...records);
    this.lastReadSequenceNumber = records.at(-1)?.dynamodb?.SequenceNumber;
  }

  private async recover(error: unknown): Promise<void> {
    if (this.poller.signal.aborted) return;
    const details = { consumer: this.poller.options.consumer.id, shardId: this.shardId };

    // An iterator lives 15 minutes; a long retry can outlast it. Resume after the last read.
    if (error instanceof ExpiredIteratorException) {
      this.poller.options.logger.info('Shard iterator expired; acquiring a new one', details);
      this.iterator = undefined;
      return;
    }
    if (error instanceof TrimmedDataAccessException) {
      this.poller.options.logger.warn('Stream records were trimmed before they were read', details);
      this.iterator = undefined;
      this.lastReadSequenceNumber = undefined;
      this.start = 'TRIM_HORIZON';
      return;
    }
    // Shards older than the stream's retention disappear; there is nothing left to read.
    if (error instanceof ResourceNotFoundException && !this.poller.isListed(this.shardId)) {
      this.poller.options.logger.warn('Stream shard no longer exists; leaving it', details);
      this.ended = true;
      return;
    }
    const delayMs = exponentialDelay(
      POLLER_ERROR_FIRST_DELAY_MS,
      POLLER_ERROR_MAX_DELAY_MS,
      this.consecutiveErrors,
    );
    this.consecutiveErrors += 1;
    this.poller.options.logger.warn('Reading a stream shard failed; retrying', {
      ...details,
      retryInMs: delayMs,
      ...errorDetails(error),
    });

    await pause(delayMs, this.poller.signal);
  }

  private async deliverNextBatch(): Promise<void> {
    const { options, signal } = this.poller;
    const batch = this.buffer.splice(0, options.consumer.batchSize);
    this.delivering = true;
    try {
      await deliverBatch(options, signal, this.shardId, batch);
    } finally {
      this.delivering = false;
    }
    // In AWS the next batching window opens when the previous invocation completes.
    this.windowOpenedAt = now();

    this.poller.checkIdle();
  }
}

interface IdleWaiter {
  /** Records written before the `whenIdle` call are visible to reads begun from here on. */
  readonly readyAt: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

class StreamPollerRuntime implements StreamPoller {
  private readonly abort = new AbortController();
  private readonly shards = new Map<string, ShardReader>();
  private readonly runs = new Set<Promise<void>>();
  private readonly idleWaiters: IdleWaiter[] = [];
  private discovery: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private wakeDiscovery: (() => void) | undefined;
  private discoveryRequested = true;
  private nextPeriodicDiscoveryAt = 0;
  private discoveryBlockedUntil = 0;
  private lastDiscoveryStartedAt = Number.NEGATIVE_INFINITY;
  private discoveryErrors = 0;
  private shardsListed = false;
  private readonly lastListedShardIds = new Set<string>();

  constructor(readonly options: ResolvedOptions) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(): void {
    this.discovery = this.discoverShards();
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();

    return this.stopping;
  }

  whenIdle(): Promise<void> {
    if (this.stopping !== undefined) {
      return Promise.reject(this.stoppedError());
    }

    return new Promise((resolve, reject) => {
      const readyAt = now() + this.options.recordVisibilityDelayMs;
      this.idleWaiters.push({ readyAt, resolve, reject });
      // The discovery loop plans its next listing around the waiters; let it plan again.
      this.wakeDiscovery?.();
    });
  }

  /** Request options that make stopping the poller cancel a stream request under way. */
  get requestOptions(): { abortSignal: AbortSignal } {
    return { abortSignal: this.signal };
  }

  /** Whether the latest listing of the stream still had the shard, or it has been trimmed. */
  isListed(shardId: string): boolean {
    return this.lastListedShardIds.has(shardId);
  }

  /** Resolves each `whenIdle` whose records have all been dealt with. */
  checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const readers = [...this.shards.values()];

    for (const waiter of [...this.idleWaiters]) {
      // A listing begun after the records became visible also knows every shard they are in.
      const settled =
        this.lastDiscoveryStartedAt >= waiter.readyAt &&
        readers.every((reader) => reader.isIdleSince(waiter.readyAt));
      if (settled) {
        this.idleWaiters.splice(this.idleWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  private stoppedError(): StreamPollerError {
    return new StreamPollerError(STREAM_POLLER_ERROR_CODES.stopped, 'The stream poller stopped', {
      consumer: this.options.consumer.id,
    });
  }

  private async shutDown(): Promise<void> {
    for (const waiter of this.idleWaiters.splice(0)) {
      waiter.reject(this.stoppedError());
    }
    this.abort.abort();

    await this.discovery;
    await Promise.all([...this.runs]);
  }

  /** Lists the stream's shards now and then, and whenever a shard ends or a waiter needs it. */
  private async discoverShards(): Promise<void> {
    while (!this.signal.aborted) {
      if (this.discoveryIsDue()) {
        await this.listShardsOnce();
      }
      await pause(this.untilNextDiscoveryMs(), this.signal, (wake) => {
        this.wakeDiscovery = wake;
      });
      this.wakeDiscovery = undefined;
    }
  }

  private discoveryIsDue(): boolean {
    return this.untilNextDiscoveryMs() === 0;
  }

  private untilNextDiscoveryMs(): number {
    const current = now();
    const waitedFor = this.idleWaiters
      .filter((waiter) => waiter.readyAt > this.lastDiscoveryStartedAt)
      .map((waiter) => waiter.readyAt);
    const dueAt = this.discoveryRequested
      ? current
      : Math.min(this.nextPeriodicDiscoveryAt, ...waitedFor);

    return Math.max(0, Math.max(dueAt, this.discoveryBlockedUntil) - current);
  }

  private async listShardsOnce(): Promise<void> {
    const startedAt = now();
    this.discoveryRequested = false;
    try {
      const shards = await this.describeAllShards();
      this.adopt(shards);
      this.lastDiscoveryStartedAt = startedAt;
      this.discoveryErrors = 0;
      this.nextPeriodicDiscoveryAt = now() + SHARD_DISCOVERY_INTERVAL_MS;
    } catch (error) {
      if (this.signal.aborted) return;
      this.noteDiscoveryError(error);
      return;
    }

    this.startReadableShards();
    this.checkIdle();
  }

  private noteDiscoveryError(error: unknown): void {
    const delayMs = exponentialDelay(
      POLLER_ERROR_FIRST_DELAY_MS,
      POLLER_ERROR_MAX_DELAY_MS,
      this.discoveryErrors,
    );
    this.discoveryErrors += 1;
    this.discoveryRequested = true;
    this.discoveryBlockedUntil = now() + delayMs;

    this.options.logger.warn('Describing the stream failed; retrying', {
      consumer: this.options.consumer.id,
      streamArn: this.options.streamArn,
      retryInMs: delayMs,
      ...errorDetails(error),
    });
  }

  private async describeAllShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;

    do {
      const output = await this.options.client.send(
        new DescribeStreamCommand({
          StreamArn: this.options.streamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
        }),
        this.requestOptions,
      );
      shards.push(...(output.StreamDescription?.Shards ?? []));
      exclusiveStartShardId = output.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);

    return shards;
  }

  private adopt(shards: readonly Shard[]): void {
    for (const shard of shards) {
      if (shard.ShardId === undefined || this.shards.has(shard.ShardId)) continue;
      const reader = new ShardReader(
        this,
        shard.ShardId,
        shard.ParentShardId,
        this.startFor(shard),
      );
      this.shards.set(shard.ShardId, reader);
    }

    this.shardsListed = true;
    this.lastListedShardIds.clear();
    for (const shard of shards) {
      if (shard.ShardId !== undefined) this.lastListedShardIds.add(shard.ShardId);
    }
  }

  /**
   * The declared position applies to the shards that exist when the poller starts. A shard that
   * appears later holds only records written since, so, like AWS, it is read from its start.
   */
  private startFor(shard: Shard): ShardStart {
    if (this.shardsListed || this.options.consumer.startingPosition === 'TRIM_HORIZON') {
      return 'TRIM_HORIZON';
    }

    return shard.SequenceNumberRange?.EndingSequenceNumber === undefined ? 'LATEST' : 'NOTHING';
  }

  /** Starts every waiting shard whose parent is finished or unknown (trimmed away). */
  private startReadableShards(): void {
    if (this.signal.aborted) return;

    for (const reader of this.shards.values()) {
      if (reader.phase !== 'waiting') continue;
      const parent =
        reader.parentShardId === undefined ? undefined : this.shards.get(reader.parentShardId);
      if (parent !== undefined && parent.phase !== 'finished') continue;
      const run: Promise<void> = reader
        .run()
        .catch((error: unknown) => this.logReaderCrash(reader, error))
        .finally(() => {
          this.runs.delete(run);
          this.onShardFinished();
        });
      this.runs.add(run);
    }
  }

  private logReaderCrash(reader: ShardReader, error: unknown): void {
    // Not expected: the reader catches its own troubles. Should one slip through, the shard is
    // marked finished so that `whenIdle` does not wait on it forever.
    reader.phase = 'finished';
    this.options.logger.error('A stream shard reader stopped unexpectedly', {
      consumer: this.options.consumer.id,
      shardId: reader.shardId,
      ...errorDetails(error),
    });
  }

  private onShardFinished(): void {
    if (this.signal.aborted) return;
    // The children of a closed shard may already be listed, or may be about to be.
    this.startReadableShards();
    this.discoveryRequested = true;
    this.wakeDiscovery?.();

    this.checkIdle();
  }
}

const validate = (options: StreamPollerOptions): void => {
  const { batchSize, maxBatchingWindowSeconds, retryAttempts } = options.consumer;
  const problems = [
    Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH_SIZE
      ? undefined
      : `batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}`,
    maxBatchingWindowSeconds >= 0 && maxBatchingWindowSeconds <= MAX_BATCHING_WINDOW_SECONDS
      ? undefined
      : `maxBatchingWindowSeconds must be from 0 to ${MAX_BATCHING_WINDOW_SECONDS}`,
    Number.isInteger(retryAttempts) && retryAttempts >= -1 && retryAttempts <= MAX_RETRY_ATTEMPTS
      ? undefined
      : `retryAttempts must be an integer from -1 to ${MAX_RETRY_ATTEMPTS}`,
    (options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS) > 0
      ? undefined
      : 'pollIntervalMs must be positive',
  ].filter((problem) => problem !== undefined);

  if (problems.length > 0) {
    throw new StreamPollerError(
      STREAM_POLLER_ERROR_CODES.invalidOptions,
      `Stream consumer ${options.consumer.id}: ${problems.join('; ')}`,
      { consumer: options.consumer.id, problems },
    );
  }
};

/**
 * Starts polling `streamArn` for `consumer` and returns at once; reading begins in the
 * background. Throws {@link StreamPollerError} `streamPoller.invalidOptions` for settings AWS
 * would refuse.
 */
export const startStreamPoller = (options: StreamPollerOptions): StreamPoller => {
  validate(options);
  const runtime = new StreamPollerRuntime({
    ...options,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    recordVisibilityDelayMs: options.recordVisibilityDelayMs ?? DEFAULT_RECORD_VISIBILITY_DELAY_MS,
    retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    logger: options.logger ?? CONSOLE_LOGGER,
  });
  runtime.start();

  return { stop: () => runtime.stop(), whenIdle: () => runtime.whenIdle() };
};
