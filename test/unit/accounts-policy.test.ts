import assert from 'node:assert/strict';
import { authorize, mayInviteRole, type Principal } from '../../core/accounts/policy.js';

const A = 'a'.repeat(26);
const B = 'b'.repeat(26);
const platform: Principal = { sub: 'ops', role: 'platform_admin', tenant: null };
const admin: Principal = { sub: 'admin', role: 'tenant_admin', tenant: A };
const viewer: Principal = { sub: 'viewer', role: 'tenant_viewer', tenant: A };

describe('accounts policy (one set of rules for tokens and console sessions)', () => {
  it('a platform admin may do everything, on any tenant', () => {
    for (const a of ['tenant.create', 'tenant.offboard', 'number.attach', 'tenant.config', 'pii.read'] as const) assert.equal(authorize(platform, a, B).ok, true, a);
  });

  it('tenant roles never act on another tenant, whatever the action', () => {
    for (const p of [admin, viewer]) for (const a of ['tenant.read', 'data.calls', 'tenant.config'] as const) assert.equal(authorize(p, a, B).ok, false, `${p.role} ${a}`);
  });

  it('platform-only actions are refused to tenant admins even on their own tenant', () => {
    for (const a of ['tenant.offboard', 'number.attach', 'tenant.create', 'audit.read_all'] as const) assert.equal(authorize(admin, a, A).ok, false, a);
  });

  it('a viewer reads its tenant but changes nothing and sees no PII', () => {
    assert.equal(authorize(viewer, 'data.calls', A).ok, true);
    for (const a of ['tenant.config', 'credential.put', 'plugin.test', 'call.control', 'call.talk', 'pii.read', 'user.invite'] as const) assert.equal(authorize(viewer, a, A).ok, false, a);
    assert.equal(authorize(admin, 'tenant.config', A).ok, true);
  });

  it('nobody invites above their own role', () => {
    assert.equal(mayInviteRole(admin, 'platform_admin'), false);
    assert.equal(mayInviteRole(viewer, 'tenant_viewer'), false);
    assert.equal(mayInviteRole(admin, 'tenant_viewer'), true);
    assert.equal(mayInviteRole(platform, 'platform_admin'), true);
  });
});
