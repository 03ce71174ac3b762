/**
 * A client blocked by the configuration (`clients.blocked`), or by an administrator at runtime
 * (client-blocks.ts), is cut off everywhere, as `baton revoke client`
 * does (revoke.ts): introspection already refuses its tokens, and this flips their Token Status List bits
 * too, and those of every token whose chain passes through it (RFC 8693 §4.1), so that resource servers
 * verifying locally refuse them within the list's ttl. Run for the newly blocked at a policy reload, and for
 * every blocked client at start (idempotent: a second run reaches the same tokens and changes nothing); and
 * when a process's refresh of the runtime blocks finds one it did not know (`block_refresh`: the tokens it
 * issued before it knew, no audit record: the block's own `client.blocked` is the record).
 */
import type { Logger } from 'pino';
import { recordNow, type AuditSink } from '../audit/sink.ts';
import { countsOf, revoke, UnknownTarget, type RevocationStores } from './revoke.ts';

export async function revokeBlocked(
  stores: RevocationStores,
  clients: readonly string[],
  log: Logger,
  audit: AuditSink | undefined,
  via: 'policy_reload' | 'start' | 'block_refresh',
): Promise<void> {
  for (const client of clients) {
    try {
      const counts = countsOf(await revoke(stores, { client }));
      log.info({ client_id: client, via, ...counts }, 'client.blocked_revoked');
      // the revocation is done: a record that cannot be written is logged (audit.write_failed), not retried
      if (audit) {
        const event = {
          type: 'token.revoked',
          outcome: 'success',
          client,
          reason: 'client_blocked',
          details: { target: 'client', id: client, via, ...counts },
        } as const;
        await recordNow(audit, [event], log).catch(() => {});
      }
    } catch (err) {
      if (err instanceof UnknownTarget) continue; // blocked before it ever got a token: nothing to cut
      log.error({ client_id: client, via, reason: (err as Error).message }, 'client.blocked_revoke_failed');
    }
  }
}
