import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('doubles from the base and caps', () => {
    const none = () => 0;
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, 100, 60_000, 0.5, none))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(30, 1000, 60_000, 0.5, none)).toBe(60_000);
  });

  it('takes at most the jitter fraction off', () => {
    expect(backoffDelay(3, 100, 60_000, 0.5, () => 1)).toBe(200);
    expect(backoffDelay(3, 100, 60_000, 0.5, () => 0.5)).toBe(300);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(2, 1000);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});
