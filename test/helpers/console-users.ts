import type { Platform } from '../../core/app.js';
import type { Role } from '../../core/accounts/policy.js';

export const TEST_PASSWORD = 'correct horse battery staple';

/** Creates a console user the way production does: an invitation, accepted with a password. */
export async function createConsoleUser(p: Platform, o: { email: string; role: Role; tenantId?: string | null; password?: string }): Promise<void> {
  const by = { sub: 'test-bootstrap', role: 'platform_admin' as const, tenant: null };
  const inv = await p.accounts.invite({ by, email: o.email, role: o.role, tenantId: o.tenantId ?? null });
  await p.accounts.acceptInvite({ token: inv.token, password: o.password ?? TEST_PASSWORD });
}
