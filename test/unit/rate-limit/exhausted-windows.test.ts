import { describe, expect, it } from 'vitest';
import { ExhaustedWindows } from '@shared/rate-limit/exhausted-windows';

describe('the memory of spent windows', () => {
  it('remembers a key and its reason until the window resets, then forgets it', () => {
    const memory = new ExhaustedWindows();
    memory.remember('burst#service:a#100', 'requests', 2_000, 1_000);

    expect(memory.spentBy('burst#service:a#100', 1_999)).toBe('requests');
    expect(memory.spentBy('burst#service:a#100', 2_000)).toBeUndefined();
    expect(memory.size).toBe(0);
  });

  it('stays within its bound, dropping ended windows first, then the oldest', () => {
    const memory = new ExhaustedWindows(2);
    memory.remember('ended', 'requests', 1_500, 1_000);
    memory.remember('open', 'failures', 9_000, 1_000);
    memory.remember('newer', 'requests', 9_000, 2_000);
    memory.remember('newest', 'requests', 9_000, 2_000);

    expect(memory.size).toBe(2);
    expect(memory.spentBy('ended', 2_000)).toBeUndefined();
    expect(memory.spentBy('open', 2_000)).toBeUndefined();
    expect(memory.spentBy('newer', 2_000)).toBe('requests');
    expect(memory.spentBy('newest', 2_000)).toBe('requests');
  });
});
