/**
 * The client registry's audit records (issue #13, docs/events.md "Audit"): `client.registered` for an RFC 7591
 * registration (written before the client is stored: without its record no client is stored and the
 * registration answers 503) and for a Client ID Metadata Document accepted the first time, and `cimd.refused`
 * for a document fetch refused or failed (logged only when it cannot be written). Never a secret: the client
 * id, the redirect hosts and the software id.
 */
import type { Knex } from 'knex';
import type { AuditEvent } from '../../audit/record.ts';
import { currentRequest, recordFor, type AuditSink } from '../audit-trail.ts';

type Request = {
  oidc?: { route?: string; body?: Record<string, unknown> };
  method?: string;
  state?: { reqId?: unknown };
};

const requestId = (ctx: Request | undefined): { request_id?: string } =>
  typeof ctx?.state?.reqId === 'string' ? { request_id: ctx.state.reqId } : {};

/** RFC 7591 §3: the request being answered is a registration (POST /reg) */
export const isRegistration = (ctx: Request | undefined): boolean =>
  ctx?.oidc?.route === 'registration' && ctx.method === 'POST';

/** the distinct hosts of redirect URIs, sorted (ids and hosts only: never a path or a query) */
export const hostsOf = (uris: unknown): string[] =>
  Array.isArray(uris)
    ? [...new Set(uris.map((u) => (typeof u === 'string' ? URL.parse(u)?.host : undefined)).filter(Boolean))]
        .filter((h): h is string => typeof h === 'string' && h !== '')
        .sort()
    : [];

/** `client.registered`: ids and hosts only (the metadata holds the secret oidc-provider generated) */
export function registeredEvent(
  clientId: string,
  metadata: Record<string, unknown>,
  method: 'dcr' | 'cimd',
  ctx: Request | undefined,
): AuditEvent {
  // RFC 7591 §2: software_id, as the registration request sent it (oidc-provider does not keep it)
  const id = metadata.software_id ?? ctx?.oidc?.body?.software_id;
  const software = typeof id === 'string' ? { software_id: id.slice(0, 256) } : {};
  return {
    type: 'client.registered',
    outcome: 'success',
    client: clientId,
    details: { method, redirect_hosts: hostsOf(metadata.redirect_uris), ...software },
    ...requestId(ctx),
  };
}

export interface RegistryAudit {
  /** a DCR registration about to be stored: resolves once its record is durable, rejects (nothing stored) */
  registering(clientId: string, metadata: Record<string, unknown>): Promise<void>;
  /** a CIMD document fetched and accepted by this request: recorded when baton never accepted it before */
  accepted(ctx: unknown, clientId: string, metadata: Record<string, unknown>): Promise<void>;
  /** a CIMD fetch refused or failed */
  refused(ctx: unknown, clientId: string, reason: string): void;
}

export function registryAudit(sink: AuditSink | undefined, db: Knex | undefined): RegistryAudit {
  const known = new Set<string>(); // CIMD ids this process saw recorded (a cache, safe to lose)
  return {
    async registering(clientId, metadata) {
      const ctx = currentRequest() as Request | undefined;
      if (!sink || !isRegistration(ctx)) return;
      // guards the answer: awaitAudit answers 503 server_error (RFC 7591 §3.2.2) when it failed
      await recordFor(ctx!, sink, { audit: [registeredEvent(clientId, metadata, 'dcr', ctx)] });
    },
    async accepted(ctx, clientId, metadata) {
      if (!sink || !db || known.has(clientId) || !ctx || typeof ctx !== 'object') return;
      // the first time: no earlier record (two processes accepting it at once may both record it)
      const earlier = await db('audit_events')
        .where({ type: 'client.registered', client_id: clientId })
        .first<{ seq: string } | undefined>('seq');
      if (earlier) {
        if (known.size >= 10_000) known.clear();
        known.add(clientId);
        return;
      }
      await recordFor(ctx, sink, { audit: [registeredEvent(clientId, metadata, 'cimd', ctx)] });
      if (known.size >= 10_000) known.clear(); // bounded: forgetting costs one look-up
      known.add(clientId);
    },
    refused(ctx, clientId, reason) {
      const at = ctx && typeof ctx === 'object' ? ctx : currentRequest();
      if (!sink || !at) return;
      const event: AuditEvent = {
        type: 'cimd.refused',
        outcome: 'refused',
        client: clientId,
        reason,
        ...requestId(at),
      };
      void recordFor(at, sink, { audit: [event] }, { guards: false });
    },
  };
}
