import { directKey } from './messaging.repository';

describe('directKey', () => {
  it('is the sorted pair joined by | for ordinary ids, in either order', () => {
    expect(directKey('bob', 'alice')).toBe('alice|bob');
    expect(directKey('alice', 'bob')).toBe('alice|bob');
  });

  it('never gives two pairs the same key when ids hold a |', () => {
    const pairs: [string, string][] = [
      ['a|b', 'c'],
      ['a', 'b|c'],
      ['auth0|1', 'auth0|2'],
      ['auth0', '1|auth0|2'],
    ];
    const keys = pairs.map(([x, y]) => directKey(x, y));
    expect(new Set(keys).size).toBe(pairs.length);
    expect(keys).not.toContain('a|b|c');
  });
});
