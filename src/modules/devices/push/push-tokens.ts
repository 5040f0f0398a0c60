import { registerDecorator, ValidationOptions } from 'class-validator';
import type { PushProvider } from './push-sender';

/** Expo push tokens as expo-notifications hands them out: `ExponentPushToken[...]` (older) or `ExpoPushToken[...]`. */
export const EXPO_TOKEN = /^(ExponentPushToken|ExpoPushToken)\[[\x21-\x5a\x5e-\x7e]{1,200}\]$/;
const EXPO_PREFIX = /^(ExponentPushToken|ExpoPushToken)\[/;
const FCM_TOKEN = /^[\x21-\x7e]+$/;

/** The provider a token belongs to, from its form: the Expo prefix, or else FCM. */
export function providerOfToken(token: string): PushProvider {
  return EXPO_PREFIX.test(token) ? 'expo' : 'fcm';
}

/** What is wrong with a token for its provider, or undefined when it is well formed. */
export function pushTokenProblem(token: unknown, field = 'token'): string | undefined {
  if (typeof token !== 'string') return `${field} must be a string`;
  if (providerOfToken(token) === 'expo')
    return EXPO_TOKEN.test(token) ? undefined : `${field} must be an Expo push token such as ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]`;
  return FCM_TOKEN.test(token) ? undefined : `${field} must be printable ASCII without spaces`;
}

/** class-validator: a well-formed FCM registration token or Expo push token. */
export function IsPushToken(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isPushToken',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => pushTokenProblem(value) === undefined,
        defaultMessage: (args) => pushTokenProblem(args?.value, args?.property) ?? `${args?.property} is invalid`,
      },
    });
}
