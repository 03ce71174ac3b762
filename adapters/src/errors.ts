/**
 * Infrastructure errors: the store of record (PostgreSQL, Redis) failed. They surface as
 * 503 `server_error` through oidc-provider's error handler (which renders every non-exposed error as
 * `server_error` and keeps `statusCode`), never as a 4xx that would blame the client, and never
 * with the driver's message on the wire (operators read it in the `server_error` log line).
 */
import { errors } from 'oidc-provider';

export class AdapterError extends Error {
  override name = 'AdapterError';
  readonly statusCode = 503;
  readonly status = 503;
  readonly expose = false;
  readonly model: string;
  readonly op: string;
  constructor(message: string, opts: { cause: unknown; model: string; op: string }) {
    super(message, { cause: opts.cause });
    this.model = opts.model;
    this.op = opts.op;
  }
}

/**
 * RFC 6749 §4.1.2 / §10.5 and OAuth 2.1 §4.1.3: a code (or a rotated refresh token) is redeemable once.
 * The adapter's consume is the atomic step; the loser of a concurrent race gets `invalid_grant`, carrying
 * the grant the code or token belongs to, so that the grant can be revoked as on a sequential reuse
 * (RFC 6749 §4.1.2 SHOULD, OAuth 2.1 §4.3.1; see server/src/provider/events.ts).
 */
export class AlreadyConsumed extends errors.InvalidGrant {
  readonly grantId: string | undefined;
  constructor(model: string, grantId: string | undefined) {
    super(`${model} already consumed (concurrent redemption lost the race)`);
    this.grantId = grantId;
  }
}

export function alreadyConsumed(model: string, grantId?: unknown): AlreadyConsumed {
  return new AlreadyConsumed(model, typeof grantId === 'string' && grantId ? grantId : undefined);
}

export async function guard<T>(model: string, op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof errors.OIDCProviderError || err instanceof AdapterError) throw err;
    throw new AdapterError(`${model}.${op} failed`, { cause: err, model, op });
  }
}
