/**
 * The audit record: one decision baton made (or a tool call an MCP server reported), as it is kept in the
 * append-only, hash-chained `audit_events` table. Ids, hashes and reasons only: never a token, code, secret,
 * password or whole assertion (tokens are named by their `jti`).
 */

/** RFC 8693 §4.1: an actor chain, as a token carries it (`act`) */
export interface AuditActor {
  sub: string;
  act?: AuditActor;
}

/** what happened (docs/events.md "Audit") */
export type AuditType =
  | 'login.success'
  | 'login.failed'
  | 'consent.given'
  | 'token.issued'
  | 'token.refused'
  | 'token.revoked'
  | 'id_jag.issued'
  | 'id_jag.redeemed'
  | 'introspection.inactive'
  | 'client.registered'
  | 'cimd.refused'
  | 'account.disabled'
  | 'account.enabled'
  /** an administrator blocked a client at runtime (client_blocks), or unblocked it */
  | 'client.blocked'
  | 'client.unblocked'
  /** an upstream IdP's back-channel logout: baton sessions ended (success), or the logout token refused */
  | 'session.ended'
  /** an IdP's SCIM provisioning created, linked, changed or deleted the SCIM User of an account */
  | 'account.provisioned'
  | 'keys.changed'
  /** an upstream secret of the gateway was created, rotated or deleted (its name and version, never its value) */
  | 'secret.changed'
  /**
   * the grant of a person at a brokered upstream (issue #20): connected (signed in there through baton),
   * refreshed (the gateway renewed the access token), disconnected (removed, a refresh refused by the
   * upstream, or the person revoked in baton), never a token
   */
  | 'upstream.connected'
  | 'upstream.refreshed'
  | 'upstream.disconnected'
  | 'policy.reloaded'
  | 'admin.operation'
  /** an MCP server protected by the kit reported a tool call (or another MCP method) it allowed or denied */
  | 'tool.called'
  /** a downstream service using the kit's verifier reported a request it allowed or denied */
  | 'api.called'
  /** a reporter (the kit) had to drop events (its buffer was full): how many, never silently */
  | 'audit.dropped';

export type AuditOutcome = 'success' | 'refused' | 'failure';

export interface AuditEvent {
  type: AuditType;
  outcome: AuditOutcome;
  /** when it happened (ms since the epoch); the writer stamps now when absent */
  at?: number;
  /** baton's subject (accounts.id), when a person is concerned */
  account?: string;
  /** the person at the IdP */
  idp?: { iss: string; sub: string };
  /** the client that asked (the OAuth client id) */
  client?: string;
  /** RFC 8693 §4.1: the actor chain of the token concerned */
  act?: AuditActor;
  /** the resource (audience) concerned */
  resource?: string;
  scope?: string;
  grant_type?: string;
  /** the token concerned (issued, refused as subject, revoked, used for a tool call) */
  jti?: string;
  /** RFC 8693: the subject token an exchanged token came from */
  parent_jti?: string;
  /** the oidc-provider grant at the root of the chain */
  gid?: string;
  /** the OAuth error code on the wire, for a refusal */
  error?: string;
  /** baton's typed reason code (provider/refusals.ts), or another short reason */
  reason?: string;
  /** the request id (`reqId` in the logs) */
  request_id?: string;
  /** anything else, small and secret-free (tool name, counts, kid, operation) */
  details?: Record<string, unknown>;
}

/** An event as stored: its place in the chain and the hash that seals it. */
export interface AuditRecord extends Required<Pick<AuditEvent, 'type' | 'outcome'>> {
  seq: number;
  at: number;
  event: AuditEvent;
  prev_hash: string;
  hash: string;
}

/** A token_lineage row (adapters/STORAGE.md): written by the audit writer, in one batch with the events. */
export interface LineageRow {
  jti: string;
  parent_jti: string;
  grant_id: string | null;
  account_id: string;
  actor: string;
  audience: string;
  depth: number;
  expires_at: Date;
}
