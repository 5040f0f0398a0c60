import type { PushFailure, PushFailureKind } from './push-sender';

/** firebase-admin error codes (without the `messaging/` prefix), by what Tether does about them. */
const KIND_BY_CODE: Record<string, PushFailureKind> = {
  'registration-token-not-registered': 'token',
  'invalid-registration-token': 'token',
  'installation-id-not-registered': 'token',
  'mismatched-credential': 'token', // SENDER_ID_MISMATCH: the token belongs to another Firebase project
  'invalid-recipient': 'token',

  'server-unavailable': 'retry',
  'internal-error': 'retry',
  'unknown-error': 'retry',
  'device-message-rate-exceeded': 'retry', // one device gets too much: retry it later
  'app/network-error': 'retry',
  'app/network-timeout': 'retry',
  'network-error': 'retry',
  'network-timeout': 'retry',

  'message-rate-exceeded': 'quota',
  'quota-exceeded': 'quota',
  'topics-message-rate-exceeded': 'quota',

  'third-party-auth-error': 'config',
  'authentication-error': 'config',
  'invalid-apns-credentials': 'config',
  'invalid-credential': 'config',
  'app/invalid-credential': 'config',
  'invalid-project-id': 'config',

  'invalid-argument': 'payload', // unless it is about the token: see classifyFcmError
  'invalid-payload': 'payload',
  'invalid-data-payload-key': 'payload',
  'payload-size-limit-exceeded': 'payload',
  'invalid-options': 'payload',
  'invalid-package-name': 'payload',
  'too-many-topics': 'payload',
};

const TOKEN_ARGUMENT = /registration token|not a valid fcm|installation id|invalid token/i;

export interface FirebaseLikeError {
  code?: unknown;
  message?: unknown;
}

/**
 * Classifies one firebase-admin error. INVALID_ARGUMENT is ambiguous (a bad token and a bad payload
 * share it): it counts as a token error when the message names the token, or when another message
 * of the same batch, identical but for the token, went through (`batchHadSuccess`).
 */
export function classifyFcmError(error: unknown, batchHadSuccess = false): PushFailure {
  const { code: rawCode, message: rawMessage } = (error ?? {}) as FirebaseLikeError;
  const code = typeof rawCode === 'string' && rawCode ? rawCode : 'unknown-error';
  const message = typeof rawMessage === 'string' ? rawMessage : String(error);
  const short = code.replace(/^messaging\//, '');
  let kind: PushFailureKind = KIND_BY_CODE[short] ?? 'retry';
  if (short === 'invalid-argument' && (TOKEN_ARGUMENT.test(message) || batchHadSuccess)) kind = 'token';
  // Errors that are not Firebase's (ECONNRESET from a socket, a GOAWAY...) are transient.
  return { kind, code: code.includes('/') ? code : `messaging/${short}`, message };
}
