export const ROLES = ['MEMBER', 'LEADER', 'ADMIN', 'SERVICE'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, from a verified access token. */
export interface AuthUser {
  userId: string;
  tenantId: string;
  roles: Role[];
  /** When the token stops being valid; the socket gateway uses it to close expired sessions. */
  expiresAt: Date;
}
