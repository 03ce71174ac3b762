/**
 * SCIM refusals on the wire (RFC 7644 §3.12): `application/scim+json` bodies of the Error message schema
 * with `status` and, where the RFC names one, `scimType`, built by scimmy's ErrorResponse; the detail for
 * the log is kept apart from the generic wire text. A 401 carries the RFC 6750 §3 challenge. scimmy's
 * ErrorResponse knows the status codes RFC 7644 §3.12 lists: a 405 and a 503 (the store could not answer,
 * never a 500) are the same message shape, written here.
 */
import type Koa from 'koa';
import SCIMMY from 'scimmy';

/** RFC 7644 §8.1 */
export const SCIM_TYPE = 'application/scim+json';

export type ScimType =
  'uniqueness' | 'invalidFilter' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue';

/** A SCIM refusal: status, scimType, the wire's detail, and the log's detail. */
export class ScimRefusal extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  readonly logDetail: string;
  /** RFC 6750 §3: the challenge of a 401 (no error code when the request had no token, §3.1) */
  readonly challenge: 'bare' | 'invalid_token' | undefined;
  constructor(
    status: number,
    scimType: ScimType | undefined,
    detail: string,
    extra: { logDetail?: string; challenge?: 'bare' | 'invalid_token' } = {},
  ) {
    super(detail);
    this.status = status;
    this.scimType = scimType;
    this.logDetail = extra.logDetail ?? detail;
    this.challenge = extra.challenge;
  }
}

export const notFound = (logDetail: string) => new ScimRefusal(404, undefined, 'no such resource', { logDetail });

export const unavailable = (logDetail: string) =>
  new ScimRefusal(503, undefined, 'the SCIM service cannot answer right now; try again later', { logDetail });

/**
 * What a handler threw, as a refusal: ours as it is; scimmy's SCIMError (a bad filter, PatchOp, value) with
 * its status and scimType; anything else (the store) as 503 with a generic text.
 */
export function refusalOf(err: unknown): ScimRefusal {
  if (err instanceof ScimRefusal) return err;
  if (err instanceof SCIMMY.Types.Error) {
    const status = Number(err.status);
    if (status >= 400 && status < 500 && status !== 401)
      return new ScimRefusal(status, (err.scimType ?? undefined) as ScimType | undefined, err.message);
    return unavailable(`scimmy: ${err.message}`);
  }
  return unavailable(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
}

/** the statuses scimmy's ErrorResponse takes (RFC 7644 §3.12's table); 405 and 503 are written as it would */
const SCIMMY_STATUSES = new Set([400, 401, 403, 404, 409, 412, 413]);

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/** The refusal's answer: status, the RFC 7644 §3.12 body, and the RFC 6750 §3 challenge of a 401. */
export function answer(ctx: Koa.Context, realm: string, r: ScimRefusal): void {
  ctx.status = r.status;
  ctx.set('Cache-Control', 'no-store');
  if (r.challenge) {
    const params = [`realm=${quote(realm)}`];
    if (r.challenge === 'invalid_token') params.push('error="invalid_token"', `error_description=${quote(r.message)}`);
    ctx.set('WWW-Authenticate', `Bearer ${params.join(', ')}`);
  }
  if (r.status === 503) ctx.set('Retry-After', '5');
  ctx.body = body(r);
  ctx.type = SCIM_TYPE;
}

function body(r: ScimRefusal): Record<string, unknown> {
  const plain = { schemas: [SCIMMY.Messages.ErrorResponse.id], status: String(r.status), detail: r.message };
  if (!SCIMMY_STATUSES.has(r.status)) return plain;
  try {
    return { ...new SCIMMY.Messages.ErrorResponse(new SCIMMY.Types.Error(r.status, r.scimType as string, r.message)) };
  } catch {
    // a scimType scimmy does not pair with that status (RFC 7644 §3.12's table): the status and detail alone
    return plain;
  }
}
