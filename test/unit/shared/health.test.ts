import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthCheck } from '@shared/health/health';

const passing = (name: string, delayMs = 0): HealthCheck => ({
  name,
  probe: () => new Promise((done) => setTimeout(done, delayMs)),
});

const failing = (name: string): HealthCheck => ({
  name,
  probe: async () => {
    throw new TypeError('table missing');
  },
});

const hanging = (name: string): HealthCheck => ({
  name,
  probe: () => new Promise(() => undefined),
});

describe('evaluateHealth', () => {
  it('is healthy when every check passes quickly', async () => {
    const report = await evaluateHealth({
      'blux-lite': [passing('tasks')],
      'blux-guard': [passing('audit')],
      'blux-reg': [passing('clients')],
    });

    expect(report.status).toBe('healthy');
    expect(report.services).toEqual({
      'blux-lite': 'healthy',
      'blux-guard': 'healthy',
      'blux-reg': 'healthy',
    });
    expect(report.checks['blux-lite'][0]).toMatchObject({ name: 'tasks', status: 'pass' });
  });

  it('marks a service degraded when a check answers slowly', async () => {
    const report = await evaluateHealth(
      {
        'blux-lite': [passing('tasks', 60)],
        'blux-guard': [passing('audit')],
        'blux-reg': [passing('clients')],
      },
      { slowMs: 30 },
    );

    expect(report.services['blux-lite']).toBe('degraded');
    expect(report.status).toBe('degraded');
  });

  it('marks a service unhealthy when a check fails, naming the error but not its message', async () => {
    const report = await evaluateHealth({
      'blux-lite': [passing('tasks')],
      'blux-guard': [passing('audit')],
      'blux-reg': [failing('clients')],
    });

    expect(report.services['blux-reg']).toBe('unhealthy');
    expect(report.services['blux-lite']).toBe('healthy');
    expect(report.status).toBe('unhealthy');
    expect(report.checks['blux-reg'][0]).toMatchObject({ status: 'fail', error: 'TypeError' });
  });

  it('bounds a check that never answers by the timeout', async () => {
    const started = Date.now();
    const report = await evaluateHealth(
      {
        'blux-lite': [hanging('tasks')],
        'blux-guard': [passing('audit')],
        'blux-reg': [passing('clients')],
      },
      { timeoutMs: 50 },
    );

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(report.services['blux-lite']).toBe('unhealthy');
  });
});
