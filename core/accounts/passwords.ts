import { hash, verify } from '@node-rs/argon2';

/**
 * Argon2id with OWASP's second recommended profile (19 MiB, 2 passes, 1 lane): tens of ms per login on one
 * core, which is nothing for a person and a wall for an offline guesser with a stolen users table.
 */
const PARAMS = { algorithm: 2 /* Algorithm.Argon2id (an ambient const enum, not importable under isolatedModules) */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

/** A hash of a password nobody has: unknown emails are verified against it, so they cost the same time. */
let dummy: Promise<string> | null = null;

export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  const h = stored ?? await (dummy ??= hash('servicelane-no-such-user', PARAMS));
  try {
    const ok = await verify(h, password);
    return stored !== null && ok;
  } catch {
    // A malformed stored hash is a wrong password, never a 500 that tells the caller the account exists.
    return false;
  }
}
