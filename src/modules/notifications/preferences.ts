import type { Category } from './notifications.constants';
import type { PushPriority } from '../devices';

export interface PreferenceRules {
  enabled: boolean;
  mutedCategories: string[];
  quietStart: number | null;
  quietEnd: number | null;
  quietTimezone: string | null;
}

export type Verdict = 'send' | 'disabled' | 'muted' | 'quiet_hours';

export const DEFAULT_RULES: PreferenceRules = {
  enabled: true,
  mutedCategories: [],
  quietStart: null,
  quietEnd: null,
  quietTimezone: null,
};

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes after midnight at `now` in an IANA time zone. */
export function minutesInZone(now: Date, timeZone: string): number {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, format);
  }
  const parts = format.formatToParts(now);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value);
  return hour * 60 + minute;
}

/** Whether `minute` falls in [start, end), a window that may wrap midnight (22:00-07:00). */
export function inWindow(minute: number, start: number, end: number): boolean {
  return start <= end ? minute >= start && minute < end : minute >= start || minute < end;
}

/**
 * Whether a push goes to a user with these preferences. The global switch and muted categories
 * stop it; quiet hours too, except for high priority `system` notifications. The inbox entry is
 * written either way.
 */
export function verdict(rules: PreferenceRules, category: Category, priority: PushPriority, now: Date): Verdict {
  if (!rules.enabled) return 'disabled';
  if (rules.mutedCategories.includes(category)) return 'muted';
  if (rules.quietStart !== null && rules.quietEnd !== null && rules.quietTimezone) {
    const bypass = category === 'system' && priority === 'high';
    if (!bypass && inWindow(minutesInZone(now, rules.quietTimezone), rules.quietStart, rules.quietEnd)) return 'quiet_hours';
  }
  return 'send';
}

export function parseClock(value: string): number {
  const [h, m] = value.split(':').map(Number);
  return h * 60 + m;
}

export function formatClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
