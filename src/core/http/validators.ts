import { isUUID, registerDecorator, ValidationOptions } from 'class-validator';

/** A UUID of any version, either case: what a path id must look like before it reaches SQL as uuid. */
export function isUuid(value: string): boolean {
  return isUUID(value, 'loose');
}

/** True for an IANA time zone name this runtime knows (`Europe/Paris`, `UTC`). */
export function isTimeZone(value: unknown): value is string {
  if (typeof value !== 'string' || !value || value.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** class-validator: an IANA time zone name. */
export function IsTimeZone(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTimeZone',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `$property must be an IANA time zone such as Europe/Paris`, ...options },
      validator: { validate: isTimeZone },
    });
}
