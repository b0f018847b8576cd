/**
 * The local runtime's stand-in for EventBridge schedules: each declared schedule's handler is
 * called in-process, with the event a scheduled rule sends, every `localIntervalMs`. An
 * invocation never overlaps the previous one of the same schedule (the next waits for it), and
 * a failing one is logged and followed by the next, as a rule keeps firing after an error.
 */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import type { ScheduleDeclaration } from '@shared/catalog/schedules';

export interface SchedulerLogger {
  error(message: string, details: Record<string, unknown>): void;
}

export interface LocalScheduleOptions {
  readonly schedule: ScheduleDeclaration;
  /** Calls the schedule's handler with the event, as Lambda would. */
  readonly invoke: (event: ScheduledEvent) => Promise<unknown>;
  readonly region: string;
  readonly logger: SchedulerLogger;
}

/** A running schedule. */
export interface LocalSchedule {
  /** Stops firing; resolves once the invocation under way, if any, has returned. */
  stop(): Promise<void>;
}

/** The event an EventBridge scheduled rule delivers. */
export const scheduledEvent = (schedule: ScheduleDeclaration, region: string): ScheduledEvent => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: new Date().toISOString(),
  region,
  resources: [`arn:aws:events:${region}:000000000000:rule/blux-local-${schedule.id}`],
  detail: {},
});

/** Waits `ms`, or less when `signal` aborts; never rejects. */
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** Starts firing `schedule` and returns at once. */
export const startSchedule = (options: LocalScheduleOptions): LocalSchedule => {
  const { schedule, invoke, region, logger } = options;
  const abort = new AbortController();

  const loop = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      await pause(schedule.localIntervalMs, abort.signal);
      if (abort.signal.aborted) {
        return;
      }
      try {
        await invoke(scheduledEvent(schedule, region));
      } catch (error) {
        logger.error('scheduled invocation failed', { schedule: schedule.id, error });
      }
    }
  };
  const running = loop();

  return {
    stop: async () => {
      abort.abort();
      await running;
    },
  };
};
