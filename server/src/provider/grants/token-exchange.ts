/**
 * RFC 8693 token exchange (`urn:ietf:params:oauth:grant-type:token-exchange`): an MCP server (or any
 * service) exchanges the token it received for a token to call the next hop, audience-restricted to that
 * hop, carrying the whole actor chain.
 *
 *   subject_token   an access token baton issued (at+jwt, addressed to a resource the actor serves), or an
 *                   ID token of an enabled upstream IdP whose audience is the actor
 *   actor           the authenticated client; an actor_token, if sent, must be baton's token of that client
 *   target          exactly one `resource`/`audience`, a configured resource (else invalid_target, §2.2.2)
 *   policy          `delegation`: actor → targets, scopes, max_chain, impersonation
 *   issued scope    requested ∩ policy ∩ target's scopes (∩ subject's scope when the target is the subject's
 *                   own audience); nothing left → invalid_scope
 *   exp             ≤ the subject token's exp
 *   act             { sub: actor, act: <subject's chain> }, whose first link is the client the user
 *                   authorized (§4.1); built from verified tokens only, never from client input; depth capped
 *
 * Errors per RFC 8693 §2.2.2: an unacceptable subject or actor token is invalid_request; a target baton
 * will not issue for is invalid_target. Reasons go to the log (`detail`), never secrets.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { dpopProof } from '../internals.ts';
import { ACCESS_TOKEN_TYPE, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from '../../consts.ts';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { AccountStore } from '../../accounts/store.ts';
import { accountIdFor } from '../../accounts/store.ts';
import type { Config, DelegationRule, ResourceConfig } from '../../config/schema.ts';
import type { IdpRegistry } from '../../idp/registry.ts';
import type { Policy } from '../../policy/policy.ts';
import { resourceAccessToken } from './extra-claims.ts';
import type { TokenState } from '../token-state.ts';
import { stringList } from '../../params.ts';
import type { LineageRow } from '../lineage.ts';

export const parameters = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'resource',
  'audience',
  'scope',
];
export const allowedDuplicates = ['resource', 'audience'];

export interface Actor {
  sub: string;
  act?: Actor;
}

export interface ExchangeDeps {
  config: Config;
  policy(): Policy;
  accounts: AccountStore;
  idps: IdpRegistry;
  /** baton's public signing keys (every served key), to verify its own tokens */
  ownKeys: ReturnType<typeof createLocalJWKSet>;
  state: TokenState;
  /** the active private signing key (ID-JAGs baton issues are signed like its access tokens) */
  signingKey: JWK;
  recordLineage: (row: LineageRow) => Promise<void>;
}

/** The number of actors in a chain. */
export function chainDepth(act: Actor | undefined): number {
  let depth = 0;
  for (let a = act; a; a = a.act) depth += 1;
  return depth;
}

/** Only { sub, act } survive from a verified chain (RFC 8693 §4.1: exp, nbf, aud are meaningless inside). */
function cleanChain(value: unknown, depth = 0): Actor | undefined {
  if (!value || typeof value !== 'object' || depth > 16) return undefined;
  const { sub, act } = value as { sub?: unknown; act?: unknown };
  if (typeof sub !== 'string' || !sub) return undefined;
  const inner = cleanChain(act, depth + 1);
  return inner ? { sub, act: inner } : { sub };
}

const refuse = (description: string, detail: string) => new errors.InvalidRequest(description, undefined, detail);
const one = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

interface Subject {
  accountId: string;
  scope: string[];
  audience: string | undefined;
  exp: number;
  /** the chain to nest under the new actor */
  chain: Actor | undefined;
  mayAct: Actor | undefined;
  grantId: string | undefined;
  jti: string;
  claims: { idp?: unknown; roles?: unknown; auth_time?: unknown };
  /** true when the user's account was already found enabled */
  accountChecked: boolean;
}

export function tokenExchangeHandler(deps: ExchangeDeps) {
  async function verifyOwnAccessToken(ctx: KoaContextWithOIDC, token: string, actorId: string): Promise<Subject> {
    const verified = await deps.state.verifyOwn(token);
    if ('reason' in verified) throw refuse('subject_token is invalid', `subject_token: ${verified.reason}`);
    const { payload } = verified;
    const aud = typeof payload.aud === 'string' ? payload.aud : undefined;
    const served = aud ? deps.policy().resources.get(aud) : undefined;
    if (!served || served.client_id !== actorId) {
      // a client may only exchange tokens addressed to the resource it is (no pivoting with stolen tokens)
      throw refuse(
        'subject_token was not issued to this client',
        `subject audience ${String(payload.aud)} is not served by ${actorId}`,
      );
    }
    if (!payload.idp)
      throw refuse(
        'subject_token does not represent a user',
        'subject has no idp anchor (a client credentials token?)',
      );
    const grantId = one(payload.gid);
    const inactive = await deps.state.inactiveReason(ctx.oidc.provider, payload);
    if (inactive === 'account disabled')
      throw refuse('subject_token is invalid', `account ${String(payload.sub)} is disabled`);
    if (inactive) throw refuse('subject_token has been revoked', inactive);
    const chain = cleanChain(payload.act) ?? { sub: String(payload.client_id) };
    return {
      accountId: String(payload.sub),
      scope: one(payload.scope)?.split(' ') ?? [],
      audience: aud,
      exp: payload.exp!,
      chain,
      mayAct: cleanChain(payload.may_act),
      grantId,
      jti: String(payload.jti),
      claims: { idp: payload.idp, roles: payload.roles, auth_time: payload.auth_time },
      accountChecked: true,
    };
  }

  async function verifyIdToken(token: string, actorId: string): Promise<Subject> {
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw refuse('subject_token is invalid', 'subject_token is not a JWT');
    }
    const idp = deps.idps.list.find((i) => i.type === 'oidc' && i.issuer === iss);
    if (!idp || idp.type !== 'oidc' || !idp.enabled)
      throw refuse('subject_token is invalid', `ID token issuer ${String(iss)} is not a trusted, enabled IdP`);
    let payload: JWTPayload;
    try {
      // the IdP's one cached key set (server/src/idp/keys.ts), as at sign-in and ID-JAG redemption
      ({ payload } = await jwtVerify(token, deps.idps.keys(idp), {
        issuer: idp.issuer,
        audience: actorId, // OIDC Core §2: the ID token was issued to the client now presenting it
        algorithms: deps.config.id_jag.algorithms,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      throw refuse(
        'subject_token is invalid',
        `ID token: ${(err as { code?: string }).code ?? (err as Error).message}`,
      );
    }
    return {
      accountId: accountIdFor(idp.issuer, String(payload.sub)),
      scope: [],
      audience: undefined,
      exp: payload.exp!,
      chain: undefined, // the app the user signed in to is the actor itself: the chain starts with it
      mayAct: cleanChain(payload.may_act),
      grantId: undefined,
      jti: String(payload.jti ?? `id_token:${String(payload.sub)}:${String(payload.iat)}`),
      claims: { idp: { iss: idp.issuer, sub: payload.sub }, auth_time: payload.auth_time },
      accountChecked: false,
    };
  }

  const clientKeys = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  /**
   * The actor_token (RFC 8693 §2.1), when sent: baton's own token of the authenticated client, or a JWT the
   * client signed with its own key (its jwks_uri) naming a workload it vouches for, allowed by
   * `delegation[].workloads`. Returns the workload that becomes the current actor, if any.
   */
  async function verifyActorToken(ctx: KoaContextWithOIDC, actorId: string): Promise<string | undefined> {
    const { actor_token: token, actor_token_type: type } = ctx.oidc.params as Record<string, unknown>;
    if (token === undefined && type === undefined) return undefined;
    if (!one(token) || !one(type))
      throw refuse(
        'actor_token and actor_token_type go together',
        'actor_token_type without actor_token or the reverse',
      );
    if (type !== ACCESS_TOKEN_TYPE && type !== JWT_TOKEN_TYPE)
      throw refuse('unsupported actor_token_type', `actor_token_type ${String(type)}`);
    let iss: string | undefined;
    try {
      iss = decodeJwt(String(token)).iss;
    } catch {
      throw refuse('actor_token does not identify the authenticated client', 'actor_token is not a JWT');
    }
    try {
      if (iss === deps.config.issuer) {
        const { payload } = await jwtVerify(String(token), deps.ownKeys, { issuer: deps.config.issuer, typ: 'at+jwt' });
        if (payload.client_id !== actorId || payload.sub !== actorId)
          throw new Error(`actor_token is for ${String(payload.client_id)}`);
        return undefined;
      }
      if (iss !== actorId) throw new Error(`actor_token issuer ${String(iss)} is neither baton nor the client`);
      const client = await ctx.oidc.provider.Client.find(actorId);
      const jwksUri = client?.jwksUri;
      if (!jwksUri) throw new Error('the client has no jwks_uri to verify a workload token');
      let keys = clientKeys.get(jwksUri);
      if (!keys) {
        keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
        clientKeys.set(jwksUri, keys);
      }
      const { payload } = await jwtVerify(String(token), keys, {
        issuer: actorId,
        audience: deps.config.issuer,
        requiredClaims: ['sub', 'exp'],
        maxTokenAge: '5m',
      });
      const workload = String(payload.sub);
      const allowed = deps.config.delegation
        .filter((d) => d.actor === actorId)
        .some((d) => d.workloads.some((w) => (w.endsWith('*') ? workload.startsWith(w.slice(0, -1)) : workload === w)));
      if (!allowed) throw new Error(`workload ${workload} is not in delegation[].workloads for ${actorId}`);
      return workload;
    } catch (err) {
      throw refuse('actor_token does not identify the authenticated client', `actor_token: ${(err as Error).message}`);
    }
  }

  function target(ctx: KoaContextWithOIDC): ResourceConfig {
    const params = ctx.oidc.params as Record<string, unknown>;
    const targets = [...new Set([...stringList(params.resource), ...stringList(params.audience)])];
    if (targets.length !== 1) {
      throw new errors.InvalidTarget('exactly one resource or audience is required', {
        detail: `targets: ${targets.join(' ')}`,
      });
    }
    const resource = deps.policy().resources.get(targets[0]!);
    if (!resource) throw new errors.InvalidTarget(undefined, { detail: `unknown target ${targets[0]}` });
    return resource;
  }

  /**
   * Identity chaining into another trust domain (draft-ietf-oauth-identity-chaining §2.3, ID-JAG §4.3):
   * baton, as the user's IdP, issues an ID-JAG whose aud is a configured foreign authorization server.
   * The response's token_type is N_A: the ID-JAG is a grant, not an access token (RFC 8693 §2.2.1).
   */
  async function issueIdJag(ctx: KoaContextWithOIDC, subject: Subject, actorId: string): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const audiences = stringList(params.audience);
    if (audiences.length !== 1)
      throw new errors.InvalidTarget('exactly one audience (the foreign authorization server) is required');
    const rule = deps.config.identity_chaining.find((r) => r.audience === audiences[0]);
    if (!rule || !rule.clients.includes(actorId)) {
      throw new errors.InvalidTarget(undefined, {
        detail: `no identity_chaining rule lets ${actorId} reach ${audiences[0]}`,
      });
    }
    const requested = one(params.scope)?.split(' ').filter(Boolean);
    const scope = (requested ?? rule.scopes).filter((s) => rule.scopes.includes(s));
    if (requested && scope.length === 0)
      throw new errors.InvalidScope('requested scope is not allowed for this audience', requested.join(' '));
    const resources = stringList(params.resource);
    const now = Math.floor(Date.now() / 1000);
    const exp = Math.min(now + rule.lifetime_seconds, subject.exp);
    const act = subject.chain ? { sub: actorId, act: subject.chain } : { sub: actorId };
    const key = await importJWK(deps.signingKey, deps.config.keys.algorithm);
    const jag = await new SignJWT({
      client_id: actorId,
      ...(resources.length === 1 ? { resource: resources[0] } : resources.length > 1 ? { resource: resources } : {}),
      ...(scope.length ? { scope: scope.join(' ') } : {}),
      act,
      ...(typeof subject.claims.auth_time === 'number' ? { auth_time: subject.claims.auth_time } : {}),
    })
      .setProtectedHeader({ alg: deps.config.keys.algorithm, typ: 'oauth-id-jag+jwt', kid: deps.signingKey.kid! })
      .setIssuer(deps.config.issuer)
      .setSubject(subject.accountId)
      .setAudience(rule.audience)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(key);
    ctx.oidc.provider.emit('id_jag.issued', ctx, { actor: actorId, audience: rule.audience, parent: subject.jti });
    ctx.body = {
      access_token: jag,
      issued_token_type: ID_JAG_TOKEN_TYPE,
      token_type: 'N_A',
      expires_in: exp - now,
      ...(scope.length ? { scope: scope.join(' ') } : {}),
    };
  }

  return async function tokenExchange(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const provider: Provider = ctx.oidc.provider;
    const client = ctx.oidc.client!;
    const actorId = client.clientId;
    const subjectToken = one(params.subject_token);
    const subjectType = one(params.subject_token_type);
    if (!subjectToken || !subjectType)
      throw new errors.InvalidRequest('subject_token and subject_token_type are required');
    const requestedType = one(params.requested_token_type);
    if (
      requestedType &&
      requestedType !== ACCESS_TOKEN_TYPE &&
      requestedType !== JWT_TOKEN_TYPE &&
      requestedType !== ID_JAG_TOKEN_TYPE
    ) {
      throw refuse('unsupported requested_token_type', `requested_token_type ${requestedType}`);
    }

    const subject =
      subjectType === ACCESS_TOKEN_TYPE || subjectType === JWT_TOKEN_TYPE
        ? await verifyOwnAccessToken(ctx, subjectToken, actorId)
        : subjectType === ID_TOKEN_TYPE
          ? await verifyIdToken(subjectToken, actorId)
          : (() => {
              throw refuse('unsupported subject_token_type', `subject_token_type ${subjectType}`);
            })();
    // baton's own tokens had their account checked with their revocation state; an ID token's user is checked here
    const [workload, account] = await Promise.all([
      verifyActorToken(ctx, actorId),
      subject.accountChecked ? Promise.resolve(true) : deps.accounts.find(subject.accountId),
    ]);
    if (account !== true && (!account || account.disabled)) {
      throw refuse('subject_token is invalid', `account ${subject.accountId} is disabled or unknown`);
    }

    if (requestedType === ID_JAG_TOKEN_TYPE) return issueIdJag(ctx, subject, actorId);

    const resource = target(ctx);
    const rule: DelegationRule | undefined = deps.config.delegation.find(
      (d) => d.actor === actorId && d.targets.includes(resource.uri),
    );
    if (!rule)
      throw new errors.InvalidTarget(undefined, { detail: `no delegation allows ${actorId} → ${resource.uri}` });

    // RFC 8693 §4.4: a subject token that names who may act for it is honoured
    if (subject.mayAct && subject.mayAct.sub !== actorId) {
      throw refuse('this client may not act for the subject', `may_act names ${subject.mayAct.sub}, not ${actorId}`);
    }

    // the current actor: the client, or the workload it vouches for (RFC 8693 §4.1 allows more than sub)
    const current = workload ?? actorId;
    const act: Actor | undefined = rule.impersonation
      ? undefined
      : subject.chain
        ? { sub: current, act: subject.chain }
        : { sub: current };
    const depth = chainDepth(act);
    if (depth > rule.max_chain)
      throw refuse('the delegation chain is too long', `chain depth ${depth} > max_chain ${rule.max_chain}`);

    const requested = one(params.scope)?.split(' ').filter(Boolean);
    const ceiling = new Set(rule.scopes.filter((s) => resource.scopes.includes(s)));
    if (subject.audience === resource.uri)
      for (const s of [...ceiling]) if (!subject.scope.includes(s)) ceiling.delete(s);
    const scope = (requested ?? [...ceiling]).filter((s) => ceiling.has(s));
    if (scope.length === 0) {
      throw new errors.InvalidScope('requested scope is not allowed for this exchange', requested?.join(' ') ?? '');
    }

    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.min(resource.access_token_ttl ?? deps.config.tokens.access_token_ttl, subject.exp - now);
    if (ttl <= 0) throw refuse('subject_token is invalid', 'subject token expires now');

    // RFC 9449 §5: a request with a DPoP proof gets a token bound to its key (cnf.jkt)
    const dPoP = await dpopProof(provider, ctx, actorId);
    const at = resourceAccessToken(ctx, {
      accountId: subject.accountId,
      gty: TOKEN_EXCHANGE,
      scope,
      resource,
      ttl,
      alg: deps.config.keys.algorithm,
      jkt: dPoP?.thumbprint,
      claims: {
        ...(act ? { act } : {}),
        ...(subject.claims.idp ? { idp: subject.claims.idp } : {}),
        ...(Array.isArray(subject.claims.roles) ? { roles: subject.claims.roles } : {}),
        ...(typeof subject.claims.auth_time === 'number' ? { auth_time: subject.claims.auth_time } : {}),
        ...(subject.grantId ? { gid: subject.grantId } : {}),
      },
    });
    // the lineage row is written alongside the signing; the token is returned only once both are done
    const [value] = await Promise.all([
      at.save(),
      deps.recordLineage({
        jti: at.jti,
        parent_jti: subject.jti,
        grant_id: subject.grantId ?? null,
        account_id: subject.accountId,
        actor: actorId,
        audience: resource.uri,
        depth,
        expires_at: new Date((now + ttl) * 1000),
      }),
    ]);
    ctx.oidc.provider.emit('token_exchange.issued', ctx, {
      actor: actorId,
      audience: resource.uri,
      depth,
      parent: subject.jti,
      jti: at.jti,
    });

    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: at.tokenType,
      expires_in: ttl,
      scope: scope.join(' '),
    };
  };
}
