/**
 * Patch: one atomic claim per (iss, jti) across every process, instead of find-then-save.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/models/replay_detection.js (`ReplayDetection.unique(iss, jti, exp)` finds the record
 * sha256(iss + jti) base64url and saves it when absent: concurrent requests carrying one proof, on one process
 * or several, all find nothing and all pass); its callers are lib/helpers/validate_dpop.js (DPoP proof jti)
 * and lib/shared/client_auth.js (client assertion jti).
 * Serves: RFC 9449 §11.1 (DPoP proof replay), RFC 7523 §3 item 7 (client assertion jti used once).
 * Test: atomic-replay-detection.test.ts.
 *
 * The record id is oidc-provider's own, so records written before and after the patch are the same.
 */
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Adapter } from '../../../../adapters/src/models.ts';

/** oidc-provider 9.13's ReplayDetection record id for (iss, jti) */
export const replayRecordId = (iss: string, jti: string): string =>
  createHash('sha256').update(`${iss}${jti}`).digest('base64url');

export function atomicReplayDetection(provider: Provider, store: Pick<Adapter, 'claim'>): void {
  const model = provider.ReplayDetection as unknown as {
    unique(iss: string, jti: string, exp: number): Promise<boolean>;
  };
  model.unique = async (iss, jti, exp) => {
    const id = replayRecordId(iss, jti);
    const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000));
    return store.claim(id, { jti: id, iss, kind: 'ReplayDetection' }, ttl);
  };
}
