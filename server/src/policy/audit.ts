/**
 * The audit record of a policy reload (SIGHUP, issue #13): how many roles, resources and clients the new
 * policy has, and a SHA-256 of it, so that the trail says which policy decided what, without the policy's
 * secrets (static clients' `client_secret` is left out of what is hashed).
 */
import { createHash } from 'node:crypto';
import type { AuditEvent } from '../audit/record.ts';
import type { Config } from '../config/schema.ts';

/** what a policy is made of in the configuration */
export type PolicySource = Pick<
  Config,
  'roles' | 'role_bindings' | 'resources' | 'clients' | 'delegation' | 'identity_chaining'
>;

/** the parts of the configuration a Policy is made of (policy.ts), secrets left out (`baton policy show`) */
export function policyParts(c: PolicySource) {
  return {
    roles: c.roles,
    role_bindings: c.role_bindings,
    resources: c.resources,
    clients: {
      static: c.clients.static.map(({ client_secret: _secret, ...client }) => client),
      first_party: c.clients.first_party,
      blocked: c.clients.blocked,
    },
    delegation: c.delegation,
    identity_chaining: c.identity_chaining,
  };
}

export const policySha256 = (c: PolicySource): string =>
  createHash('sha256')
    .update(JSON.stringify(policyParts(c)))
    .digest('hex');

/** `generation`: the reload generation it follows (policy/follow.ts); none for SIGHUP */
export function policyReloaded(c: Config, generation?: number): AuditEvent {
  return {
    type: 'policy.reloaded',
    outcome: 'success',
    details: {
      roles: Object.keys(c.roles).length,
      resources: c.resources.length,
      clients: c.clients.static.length,
      blocked: c.clients.blocked.length,
      sha256: policySha256(c),
      ...(generation === undefined ? {} : { generation }),
    },
  };
}
