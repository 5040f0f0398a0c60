import { Backoff, backoffDelay } from '../src/backoff';

describe('backoff', () => {
  it('grows the ceiling by the factor from the initial delay up to the cap (full jitter: random * ceiling)', () => {
    const top = () => 0.999999;
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) =>
      backoffDelay(n, { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 }, top),
    );
    expect(ceilings).toEqual([499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999, 29999]);
    expect(backoffDelay(3, { initialDelayMs: 100, factor: 3, maxDelayMs: 10_000 }, () => 0.5)).toBe(1350);
  });

  it('uses the defaults 500 ms, x2, 30 s', () => {
    expect(backoffDelay(0, {}, () => 0.999999)).toBe(499);
    expect(backoffDelay(50, {}, () => 0.999999)).toBe(29999);
  });

  it('spreads delays uniformly between 0 and the ceiling', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, { initialDelayMs: 100 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(1600);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(700);
    expect(mean).toBeLessThan(900);
    expect(new Set(delays).size).toBeGreaterThan(500);
  });

  it('counts attempts until reset', () => {
    const b = new Backoff({ initialDelayMs: 10, maxDelayMs: 1000 }, () => 0.999999);
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([9, 19, 39, 79]);
    expect(b.attempt).toBe(4);
    b.reset();
    expect(b.next()).toBe(9);
  });

  it('never waits a negative time, whatever the attempt number', () => {
    expect(backoffDelay(-3, {}, () => 0.5)).toBe(250);
    expect(backoffDelay(10_000, {}, () => 0.5)).toBe(15_000);
  });
});
