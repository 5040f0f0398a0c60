import type { Request, Response } from 'express';
import { errorBody } from './all-exceptions.filter';

/**
 * The last Express handler: a path no route matched anywhere (outside the API prefix too, where
 * Nest's own not-found handler does not reach, e.g. `GET /api/nope`) answers 404
 * `not_found` in the one error shape instead of Express's HTML page. A known path with a method
 * it does not serve is not found either (Nest's behaviour under the prefix, kept everywhere).
 */
export function notFoundFallback(req: Request & { id?: string }, res: Response): void {
  const requestId = String(req.id ?? res.getHeader('x-request-id') ?? '');
  res.status(404).json(errorBody(404, 'not_found', `Cannot ${req.method} ${req.path}`, requestId));
}
