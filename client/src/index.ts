// @tether/client: the public surface. Parts are filled in module by module.
export { TetherHttpError, TetherNetworkError, isRetryable } from './errors';
export { memoryStorage } from './storage';
export type { TetherStorage } from './storage';
export type { TokenProvider } from './tokens';
export { uuid } from './ids';
