/**
 * The adapters' own errors. adapters/ does not depend on oidc-provider: what a store failure or a refusal
 * means to an OAuth client is decided at the seam, server/src/storage/oauth-errors.ts, which wraps every
 * adapter the server hands out. See adapters/STORAGE.md, "Errors".
 */

/** Every error an adapter throws on purpose; `model` is the model it was asked about. */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly model: string;
  constructor(message: string, model: string, options?: { cause?: unknown }) {
    super(message, options);
    this.model = model;
  }
}

/**
 * Infrastructure errors: the store of record (PostgreSQL, Redis) failed. They surface as 503
 * `server_error` through oidc-provider's error handler (which renders every non-exposed error as
 * `server_error` and keeps `statusCode`), never as a 4xx that would blame the client, and never with the
 * driver's message on the wire (operators read it in the `server_error` log line; the metrics count it by
 * its name, `AdapterError`).
 */
export class AdapterError extends StoreError {
  override name = 'AdapterError';
  readonly statusCode = 503;
  readonly status = 503;
  readonly expose = false;
  readonly op: string;
  constructor(message: string, opts: { cause: unknown; model: string; op: string }) {
    super(message, opts.model, { cause: opts.cause });
    this.op = opts.op;
  }
}

/**
 * RFC 6749 §4.1.2 / §10.5 and OAuth 2.1 §4.1.3: a code (or a rotated refresh token) is redeemable once.
 * The adapter's consume is the atomic step; the loser of a concurrent race gets this, carrying the grant the
 * code or token belongs to, so that the grant can be revoked as on a sequential reuse (RFC 6749 §4.1.2
 * SHOULD, OAuth 2.1 §4.3.1). The server answers it as `invalid_grant`.
 */
export class AlreadyConsumed extends StoreError {
  override name = 'AlreadyConsumed';
  readonly grantId: string | undefined;
  constructor(model: string, grantId: string | undefined) {
    super(`${model} already consumed (concurrent redemption lost the race)`, model);
    this.grantId = grantId;
  }
}

export function alreadyConsumed(model: string, grantId?: unknown): AlreadyConsumed {
  return new AlreadyConsumed(model, typeof grantId === 'string' && grantId ? grantId : undefined);
}

/**
 * The store cannot hold this value as itself (PostgreSQL: U+0000, an unpaired surrogate). The value came
 * from the request (a parameter copied into a payload, an identifier), so the request is at fault, not the
 * store: the server answers `invalid_request` (400), never a 503. `part` says which: the payload, or the id.
 */
export class UnstorableValue extends StoreError {
  override name = 'UnstorableValue';
  readonly part: 'payload' | 'id';
  constructor(model: string, part: 'payload' | 'id') {
    super(`${model}: the ${part} has U+0000 or an unpaired surrogate, which the store cannot hold`, model);
    this.part = part;
  }
}

export async function guard<T>(model: string, op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new AdapterError(`${model}.${op} failed`, { cause: err, model, op });
  }
}
