/**
 * The three roles of every listener (daemon port, monitor port, web), in rising order: what a
 * role may do is everything the roles below it may, plus its own.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** null: no role at all (tokens required and none given), which reaches nothing. */
export function roleAtLeast(have: Role | null, need: Role): boolean {
  if (have === null) return false;
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** The lower of two roles: a line run for somebody else never gets more than either side holds. */
export function lowerRole(a: Role, b: Role | null): Role | null {
  if (b === null) return null;
  return ROLES[Math.min(ROLES.indexOf(a), ROLES.indexOf(b))]!;
}
