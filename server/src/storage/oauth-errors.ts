/**
 * The one place where the adapters' own errors (adapters/src/errors.ts) become OAuth errors. Every adapter
 * the server hands out (storage/index.ts `adapterFor`: to oidc-provider, the Client registry, the custom
 * grants, the sign-in routes) is wrapped in `withOAuthErrors`:
 *   - AlreadyConsumed (a concurrent redemption lost the race at the atomic consume) → `invalid_grant`
 *     (RFC 6749 §5.2), as `AlreadyConsumed` below, which still carries the grant id so that the grant is
 *     revoked as on a sequential reuse (RFC 6749 §4.1.2, OAuth 2.1 §4.3.1; provider/events.ts);
 *   - UnstorableValue (the store cannot hold a value that came from the request) → `invalid_request` (400);
 *   - AdapterError (the store failed) stays as it is: a 503 that oidc-provider's error handler renders as
 *     `server_error` from its `statusCode`/`expose`, logged and counted by its name.
 */
import { errors } from 'oidc-provider';
import * as store from '../../../adapters/src/errors.ts';
import type { Adapter } from '../../../adapters/src/models.ts';

/** `invalid_grant` for the loser of a consume race, with the grant the code or token belongs to. */
export class AlreadyConsumed extends errors.InvalidGrant {
  readonly grantId: string | undefined;
  constructor(cause: store.AlreadyConsumed) {
    super(cause.message);
    this.grantId = cause.grantId;
  }
}

/** RFC 6749 §5.2 `error_description`s: generic, the same whatever the model. */
const UNSTORABLE: Record<store.UnstorableValue['part'], string> = {
  payload: 'request parameters must not contain NUL characters or unpaired surrogates',
  id: 'identifiers must not contain NUL characters or unpaired surrogates',
};

/** The OAuth error for an adapter's error; anything else (AdapterError included) is returned as it is. */
export function oauthError(err: unknown): unknown {
  if (err instanceof store.AlreadyConsumed) return new AlreadyConsumed(err);
  if (err instanceof store.UnstorableValue) return new errors.InvalidRequest(UNSTORABLE[err.part]);
  return err;
}

const mapped = async <T>(call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (err) {
    throw oauthError(err);
  }
};

export function withOAuthErrors(inner: Adapter): Adapter {
  return {
    upsert: (id, payload, expiresIn) => mapped(() => inner.upsert(id, payload, expiresIn)),
    find: (id) => mapped(() => inner.find(id)),
    findByUserCode: (userCode) => mapped(() => inner.findByUserCode(userCode)),
    findByUid: (uid) => mapped(() => inner.findByUid(uid)),
    consume: (id) => mapped(() => inner.consume(id)),
    destroy: (id) => mapped(() => inner.destroy(id)),
    revokeByGrantId: (grantId) => mapped(() => inner.revokeByGrantId(grantId)),
    claim: (id, payload, expiresIn) => mapped(() => inner.claim(id, payload, expiresIn)),
  };
}
