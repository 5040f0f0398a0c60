import { summarizeJobData } from './failed-jobs';

describe('summarizeJobData', () => {
  it('keeps scalars, trims strings, describes arrays and objects, redacts secrets', () => {
    expect(
      summarizeJobData({
        notificationId: 'n1',
        quotaHits: 2,
        topicSent: true,
        after: null,
        deviceIds: ['a', 'b', 'c'],
        payload: { title: 'Hi', body: 'private' },
        tokens: ['t1'],
        accessToken: 'x',
        FIREBASE_PRIVATE_KEY: 'k',
        password: 'p',
        long: 'y'.repeat(80),
      }),
    ).toEqual({
      notificationId: 'n1',
      quotaHits: 2,
      topicSent: true,
      after: null,
      deviceIds: 'array(3)',
      payload: 'object(title, body)',
      tokens: '[redacted]',
      accessToken: '[redacted]',
      FIREBASE_PRIVATE_KEY: '[redacted]',
      password: '[redacted]',
      long: `${'y'.repeat(63)}…`,
    });
  });

  it('bounds the keys shown, and takes data that is not an object', () => {
    const many = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, i]));
    const summary = summarizeJobData(many);
    expect(Object.keys(summary)).toHaveLength(21);
    expect(summary['…']).toBe('5 more keys');
    expect(summarizeJobData(undefined)).toEqual({});
    expect(summarizeJobData([1, 2])).toEqual({ value: 'array(2)' });
    expect(summarizeJobData('text')).toEqual({ value: 'text' });
  });
});
