import { ValidationError, ValidationPipe } from '@nestjs/common';
import { validationFailed } from './domain-error';

export interface FieldError {
  field: string;
  messages: string[];
}

/** Flattens class-validator's tree into `{field: 'items.0.offlineId', messages}` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flattenValidationErrors(e.children ?? [], field)];
  });
}

/** Whitelist, reject unknown fields, transform to DTO classes; failures become `validation_failed`. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => validationFailed(flattenValidationErrors(errors)),
  });
}
