import { ServiceLaneError } from '../../errors.js';
import { errorResponse, ok, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';
import { CREDENTIAL_NAME_PATTERN } from '../validate.js';

const CREDENTIAL_NAME_RE = new RegExp(CREDENTIAL_NAME_PATTERN);

/** A dealership's credentials: write-only values, readable names. */
export const credentialRoutes: RouteDef[] = [
  tenantRoute<Record<string, never>, { value: unknown }>({
    method: 'put', path: '/tenants/:id/credentials/:name', operationId: 'putCredential', tags: ['credentials'], action: 'credential.put',
    summary: 'Store a credential, encrypted with CREDENTIALS_KEY (write-only)',
    params: {
      name: {
        schema: { type: 'string', pattern: CREDENTIAL_NAME_PATTERN },
        check: (name) => {
          if (!CREDENTIAL_NAME_RE.test(name)) {
            throw new ServiceLaneError('ADM_ERR_VALIDATION', 'credential name is invalid', { errors: [{ path: '/name', message: `must match ${CREDENTIAL_NAME_PATTERN}` }] });
          }
        },
      },
    },
    body: {
      schema: {
        type: 'object', additionalProperties: false, required: ['value'],
        properties: { value: { not: { type: 'null' }, description: 'Any JSON value except null (an API key string, an OAuth token object, …).' } },
      },
    },
    responses: { 204: { description: 'stored' }, ...TENANT_RESPONSES, 409: errorResponse('TEN_ERR_OFFBOARDED') },
    handler: async ({ req, res, deps: p, kit, tenant: t, param, body: { value } }) => {
      const name = param('name');
      kit.refuseCredentialIssues(p.registry.credentialValueIssues(t.config, name, value));
      await p.tenants.putCredential(t.id, name, value);
      await kit.audit(req, { action: 'credential.put', tenantId: t.id, target: name });
      res.status(204).end();
    },
  }),

  tenantRoute({
    method: 'get', path: '/tenants/:id/credentials', operationId: 'listCredentials', summary: 'Credential names (values are write-only)', tags: ['credentials'], action: 'credential.list',
    responses: { 200: ok('names', { type: 'object', properties: { names: { type: 'array', items: { type: 'string' } } } }), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t }) => { res.json({ names: await p.tenants.listCredentialNames(t.id) }); },
  }),
];
