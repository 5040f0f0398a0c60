import { classifyFcmError } from './fcm-errors';

describe('classifyFcmError', () => {
  const kind = (code: string, message = code, batchHadSuccess = false) => classifyFcmError({ code, message }, batchHadSuccess).kind;

  it('treats dead and foreign tokens as token errors', () => {
    expect(kind('messaging/registration-token-not-registered')).toBe('token');
    expect(kind('messaging/invalid-registration-token')).toBe('token');
    expect(kind('messaging/mismatched-credential')).toBe('token');
  });

  it('retries transient errors, including a rejected batch', () => {
    for (const code of [
      'messaging/server-unavailable',
      'messaging/internal-error',
      'messaging/unknown-error',
      'app/network-error',
      'messaging/app/network-error',
    ])
      expect(kind(code)).toBe('retry');
    expect(classifyFcmError(new Error('socket hang up'))).toMatchObject({
      kind: 'retry',
      code: 'messaging/unknown-error',
      message: 'socket hang up',
    });
  });

  it('pauses the queue on quota errors', () => {
    expect(kind('messaging/message-rate-exceeded')).toBe('quota');
    expect(kind('messaging/quota-exceeded')).toBe('quota');
  });

  it('fails for good, keeping tokens, on credential errors', () => {
    expect(kind('messaging/third-party-auth-error')).toBe('config');
    expect(kind('app/invalid-credential')).toBe('config');
    expect(kind('messaging/authentication-error')).toBe('config');
  });

  it('reads INVALID_ARGUMENT as a token error only when it is about the token', () => {
    expect(kind('messaging/invalid-argument', 'The registration token is not a valid FCM registration token')).toBe('token');
    expect(kind('messaging/invalid-argument', 'Request contains an invalid argument.')).toBe('payload');
    // The same message went through for another token: the payload is fine, so the token is not.
    expect(kind('messaging/invalid-argument', 'Request contains an invalid argument.', true)).toBe('token');
    expect(kind('messaging/payload-size-limit-exceeded')).toBe('payload');
  });
});
