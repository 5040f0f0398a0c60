import { registerDecorator, ValidationOptions } from 'class-validator';

export const MAX_DATA_KEYS = 50;
export const MAX_DATA_BYTES = 2048;
/** Keys FCM refuses in a data payload. */
const RESERVED_KEY = /^(from|notification|message_type|google.*|gcm.*)$/i;
/** Keys Tether sets itself. */
export const TETHER_DATA_KEYS = ['notificationId', 'category'];

/** Why a data payload is not a usable FCM string map, or undefined when it is. */
export function stringMapProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object of string values';
  const entries = Object.entries(value);
  if (entries.length > MAX_DATA_KEYS) return `must have at most ${MAX_DATA_KEYS} keys`;
  for (const [key, v] of entries) {
    if (typeof v !== 'string') return `values must be strings (${key} is ${v === null ? 'null' : typeof v})`;
    if (!key || key.length > 64) return 'keys must be 1 to 64 characters';
    if (RESERVED_KEY.test(key) || TETHER_DATA_KEYS.includes(key)) return `key ${key} is reserved`;
  }
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_DATA_BYTES) return `must be at most ${MAX_DATA_BYTES} bytes as JSON`;
  return undefined;
}

/** class-validator: a flat map of string values that FCM accepts as a data payload. */
export function IsStringMap(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isStringMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => stringMapProblem(value) === undefined,
        defaultMessage: (args) => `${args?.property} ${stringMapProblem(args?.value)}`,
      },
    });
}
