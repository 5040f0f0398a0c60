import type { OpenAPIObject } from '@nestjs/swagger';
import { IDEMPOTENCY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER } from './idempotency-key';

const WRITE_METHODS = ['post', 'put', 'patch', 'delete'] as const;

/**
 * Adds the `Idempotency-Key` header (one shared parameter) and its 409/422 answers to every POST,
 * PUT, PATCH and DELETE of the document: the interceptor serves them all, so no route repeats it.
 */
export function documentIdempotencyKey(document: OpenAPIObject): void {
  document.components ??= {};
  document.components.parameters = {
    ...document.components.parameters,
    IdempotencyKey: {
      name: IDEMPOTENCY_HEADER,
      in: 'header',
      required: false,
      schema: {
        type: 'string',
        minLength: 1,
        maxLength: MAX_KEY_LENGTH,
        pattern: '^[\\x21-\\x7e]+$',
        example: '8e03978e-40d5-43e8-bc93-6894a57f9324',
      },
      description:
        `A unique key per logical request (a UUID). The first response (status, body) is kept for ` +
        `IDEMPOTENCY_TTL_SEC (24 h by default) per user and key; the same request again gets it back with ` +
        `\`${REPLAYED_HEADER}: true\` and nothing runs twice. 5xx answers are not kept. Bad keys: 400 \`idempotency_key_invalid\`.`,
    },
  };
  const error = { $ref: '#/components/schemas/ErrorResponse' };
  for (const item of Object.values(document.paths)) {
    for (const method of WRITE_METHODS) {
      const op = item[method];
      if (!op) continue;
      op.parameters = [...(op.parameters ?? []), { $ref: '#/components/parameters/IdempotencyKey' }];
      op.responses ??= {};
      const conflict = 'code `idempotency_key_in_progress` (with Retry-After): a request with the same Idempotency-Key is still running';
      const existing = op.responses['409'] as { description?: string } | undefined;
      if (existing && 'description' in existing) existing.description = `${existing.description ?? ''}; ${conflict}`;
      else op.responses['409'] = { description: conflict, content: { 'application/json': { schema: error } } };
      op.responses['422'] ??= {
        description: 'code `idempotency_key_reused`: the Idempotency-Key was used for another method, path or body',
        content: { 'application/json': { schema: error } },
      };
    }
  }
}
