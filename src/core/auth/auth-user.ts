export const ROLES = ['MEMBER', 'LEADER', 'ADMIN', 'SERVICE'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a user id may look like, wherever it is named (tokens, channels, DTOs): identity providers'
 * subjects included, such as Auth0's `auth0|64f...` and Firebase's 28-character uids.
 */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:@|-]{1,128}$/;
export const USER_ID_CHARACTERS = 'A-Z a-z 0-9 _ . : @ | -';

/** Who is calling, from a verified access token. */
export interface AuthUser {
  userId: string;
  tenantId: string;
  roles: Role[];
  /** When the token stops being valid; the socket gateway uses it to close expired sessions. */
  expiresAt: Date;
  /** The display name the token carries (JWT_NAME_CLAIM), trimmed; absent when it has none. */
  name?: string;
}
