import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ScheduleDeclaration } from '@shared/catalog/schedules';
import { startSchedule } from '@local/scheduler';

const SCHEDULE: ScheduleDeclaration = {
  id: 'testTick',
  handler: 'functions/not-found.ts',
  rateMinutes: 1,
  localIntervalMs: 10,
  timeoutSeconds: 1,
  tables: {},
};

const quiet = { error: () => undefined };

describe('the local scheduler', () => {
  it('invokes the handler again and again with a scheduled rule’s event', async () => {
    const events: { source: string; 'detail-type': string; resources: string[] }[] = [];
    const schedule = startSchedule({
      schedule: SCHEDULE,
      region: 'us-east-1',
      logger: quiet,
      invoke: async (event) => {
        events.push(event);
      },
    });

    await sleep(100);
    await schedule.stop();

    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events[0]?.source).toBe('aws.events');
    expect(events[0]?.['detail-type']).toBe('Scheduled Event');
    expect(events[0]?.resources[0]).toMatch(/rule\/blux-local-testTick$/);
  });

  it('never overlaps two invocations, and keeps firing after one fails', async () => {
    let running = 0;
    let overlapped = false;
    let calls = 0;
    const errors: unknown[] = [];
    const schedule = startSchedule({
      schedule: SCHEDULE,
      region: 'us-east-1',
      logger: { error: (_message, details) => errors.push(details.error) },
      invoke: async () => {
        calls += 1;
        running += 1;
        overlapped ||= running > 1;
        await sleep(25);
        running -= 1;
        if (calls === 1) throw new Error('first sweep failed');
      },
    });

    await sleep(150);
    await schedule.stop();

    expect(overlapped).toBe(false);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(errors).toHaveLength(1);
  });

  it('waits for the invocation under way when stopped, and fires no more', async () => {
    let finished = false;
    let calls = 0;
    const schedule = startSchedule({
      schedule: SCHEDULE,
      region: 'us-east-1',
      logger: quiet,
      invoke: async () => {
        calls += 1;
        await sleep(40);
        finished = true;
      },
    });
    await sleep(20);

    await schedule.stop();
    const callsAtStop = calls;
    await sleep(50);

    expect(finished).toBe(true);
    expect(calls).toBe(callsAtStop);
  });
});
