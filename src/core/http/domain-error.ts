/**
 * An error a service throws on purpose. `code` is stable and machine-readable; the HTTP filter
 * maps it to a status and the error shape, the socket gateway to an `{error: {code, message}}` ack.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
    readonly details?: unknown[],
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** One field's problems, as `details` of a `validation_failed` error lists them. */
export interface FieldProblem {
  field: string;
  messages: string[];
}

/** The 400 every validation failure answers with: `validation_failed` and what is wrong, per field. */
export function validationFailed(problems: FieldProblem[], message = 'Request validation failed'): DomainError {
  return new DomainError('validation_failed', message, 400, problems);
}

/** `validation_failed` for one field. */
export function invalidField(field: string, message: string): DomainError {
  return validationFailed([{ field, messages: [message] }]);
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 404);
  }
}

export class AuthError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 401);
  }
}

export class ForbiddenError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 403);
  }
}
