import { DEFAULT_RULES, formatClock, inWindow, minutesInZone, parseClock, verdict } from './preferences';

describe('notification preferences', () => {
  const at = (iso: string) => new Date(iso);

  it('sends by default', () => {
    expect(verdict(DEFAULT_RULES, 'message', 'normal', new Date())).toBe('send');
  });

  it('honours the global switch and muted categories', () => {
    expect(verdict({ ...DEFAULT_RULES, enabled: false }, 'system', 'high', new Date())).toBe('disabled');
    const rules = { ...DEFAULT_RULES, mutedCategories: ['promotion'] };
    expect(verdict(rules, 'promotion', 'high', new Date())).toBe('muted');
    expect(verdict(rules, 'booking', 'normal', new Date())).toBe('send');
  });

  it('reads the clock in the user time zone', () => {
    expect(minutesInZone(at('2026-01-15T21:30:00Z'), 'UTC')).toBe(21 * 60 + 30);
    expect(minutesInZone(at('2026-01-15T21:30:00Z'), 'Europe/Paris')).toBe(22 * 60 + 30);
    expect(minutesInZone(at('2026-07-15T21:30:00Z'), 'Europe/Paris')).toBe(23 * 60 + 30); // summer time
    expect(minutesInZone(at('2026-01-15T21:30:00Z'), 'Asia/Kolkata')).toBe(3 * 60);
  });

  it('handles windows that wrap midnight', () => {
    expect(inWindow(parseClock('23:00'), parseClock('22:00'), parseClock('07:00'))).toBe(true);
    expect(inWindow(parseClock('06:59'), parseClock('22:00'), parseClock('07:00'))).toBe(true);
    expect(inWindow(parseClock('07:00'), parseClock('22:00'), parseClock('07:00'))).toBe(false);
    expect(inWindow(parseClock('12:00'), parseClock('09:00'), parseClock('17:00'))).toBe(true);
    expect(inWindow(parseClock('17:00'), parseClock('09:00'), parseClock('17:00'))).toBe(false);
  });

  it('keeps quiet hours, except for high priority system notifications', () => {
    const rules = { ...DEFAULT_RULES, quietStart: parseClock('22:00'), quietEnd: parseClock('07:00'), quietTimezone: 'Europe/Paris' };
    const night = at('2026-01-15T23:30:00Z'); // 00:30 in Paris
    const day = at('2026-01-15T11:00:00Z');
    expect(verdict(rules, 'message', 'high', night)).toBe('quiet_hours');
    expect(verdict(rules, 'system', 'normal', night)).toBe('quiet_hours');
    expect(verdict(rules, 'system', 'high', night)).toBe('send');
    expect(verdict(rules, 'message', 'normal', day)).toBe('send');
  });

  it('formats and parses HH:MM', () => {
    expect(formatClock(parseClock('07:05'))).toBe('07:05');
    expect(formatClock(0)).toBe('00:00');
  });
});
