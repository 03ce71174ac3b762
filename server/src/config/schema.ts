/**
 * The one configuration schema (zod). Every key of baton's YAML file is declared here, documented in
 * docs/config.md, and validated at start: an invalid file stops the process with one message that names
 * the key path (see load.ts). Secrets are given by reference (`env:NAME`, `file:PATH`) and resolved by
 * load.ts before this schema runs, so the schema sees plain strings.
 */
import { z } from 'zod';
import { DEV_XAA_THUMBPRINT, isDevXaaKey } from './dev-xaa-key.ts';
import { ADMIN_CONSOLE_CLIENT, BUILTIN_RESOURCE_PATHS } from '../consts.ts';

/** RFC 8414 §2: the issuer is an https URL with no query or fragment (http allowed on loopback for dev). */
export const issuerUrl = z.string().superRefine((value, ctx) => {
  const url = URL.parse(value);
  if (!url) {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return;
  }
  if (url.search || url.hash || value.includes('#') || value.includes('?')) {
    ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment (RFC 8414 §2)' });
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'must use https (http only on a loopback host)' });
  }
  if (value.endsWith('/')) {
    ctx.addIssue({ code: 'custom', message: 'must not end with a slash' });
  }
});

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A resource indicator (RFC 8707 §2): an absolute URI with no fragment. */
const resourceUri = z.string().superRefine((value, ctx) => {
  const url = URL.parse(value);
  if (!url) ctx.addIssue({ code: 'custom', message: 'must be an absolute URI (RFC 8707 §2)' });
  else if (value.includes('#')) ctx.addIssue({ code: 'custom', message: 'must not contain a fragment (RFC 8707 §2)' });
});

/** An OAuth scope token (RFC 6749 §3.3): printable ASCII except space, `"` and `\`. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'is not a valid scope token (RFC 6749 §3.3)');
const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 of A-Z a-z 0-9 . _ : -');

const duration = z.number().int().positive();

const storage = z
  .strictObject({
    postgres: z.string().min(1).optional(),
    redis: z.string().min(1).optional(),
    redis_key_prefix: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/)
      .default('baton:'),
    data_dir: z.string().min(1).default('.baton-data'),
    migrate_on_start: z.boolean().default(true),
    postgres_pool_max: z.number().int().min(1).max(200).default(10),
    gc_interval_seconds: z.number().int().min(10).default(300),
    /** how long token_lineage rows are kept after the token expires (an audit window; 0: until expiry) */
    lineage_retention_days: z.number().int().min(0).max(3650).default(30),
  })
  .superRefine((s, ctx) => {
    if (s.redis && !s.postgres) {
      ctx.addIssue({
        code: 'custom',
        path: ['redis'],
        message: 'needs storage.postgres as well (keys, clients and grants are durable and live in PostgreSQL)',
      });
    }
  });

const kekValue = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 random bytes, base64url without padding (baton keys generate-kek)');

const keys = z.strictObject({
  algorithm: z.enum(['ES256', 'EdDSA']).default('ES256'),
  encryption_key: kekValue.optional(),
  /** KEKs that still decrypt what they encrypted, during a KEK rotation (until `baton keys rewrap`) */
  previous_encryption_keys: z.array(kekValue).default([]),
  refresh_interval_seconds: z.number().int().min(1).max(3600).default(30),
});

/** The audit trail (server/src/audit/, README "Audit"). */
const audit = z.strictObject({
  /**
   * false: no audit events and no checkpoints (the token lineage is still written: revocation needs it); the
   * log lines stay. A warning at start outside development mode.
   */
  enabled: z.boolean().default(true),
  /** events older than this are deleted, from the old end up to a checkpoint; 0 keeps them all */
  retention_days: z.number().int().min(0).max(36_500).default(0),
  /** a signed checkpoint after this many events written by a process… */
  checkpoint_every: z.number().int().min(1).max(1_000_000).default(1000),
  /** …and at this interval whenever the chain grew (any process's events) */
  checkpoint_interval_seconds: z.number().int().min(1).max(86_400).default(300),
  /** requests to POST /audit/events per reporting client and minute (every process together, through Redis) */
  ingest_rate_per_minute: z.number().int().min(1).max(1_000_000).default(6000),
});

/** The Token Status List baton serves (server/src/status-list/, README "Token Status List"). */
const statusList = z.strictObject({
  /** draft-ietf-oauth-status-list-20 §5.1 `ttl`: how long a verifier may cache a list (and Cache-Control) */
  ttl_seconds: z.number().int().min(1).max(3600).default(5),
  /** §5.1 `exp` − `iat`: how long a copy may be relied on at all (while baton cannot be reached) */
  max_age_seconds: z.number().int().min(1).max(86_400).default(300),
  /** entries per list (§13.4: a multiple of 8; larger lists hide more, §12.1) */
  list_size: z
    .number()
    .int()
    .min(64)
    .max(1 << 24)
    .refine((n) => n % 64 === 0, 'must be a multiple of 64')
    .default(1 << 17),
  /** tokens expiring within one window share lists; a list retires once its window has passed (§13.1) */
  window_seconds: z.number().int().min(60).max(604_800).default(3600),
  /** lists open at once per window, indexes spread among them (§12.4: several lists) */
  lists_per_window: z.number().int().min(1).max(64).default(1),
});

const resource = z.strictObject({
  uri: resourceUri,
  name: z.string().min(1).max(200),
  scopes: z.array(scopeToken).default([]),
  /**
   * the client that is this resource server (an MCP server's client id): it alone may exchange tokens
   * addressed to this resource (RFC 8693, `delegation`)
   */
  client_id: identifier.optional(),
  /** plain words for the consent page, per scope */
  scope_descriptions: z.record(scopeToken, z.string().min(1).max(200)).default({}),
  access_token_ttl: duration.max(86400).optional(),
});

const staticClient = z
  .strictObject({
    client_id: identifier,
    name: z.string().min(1).max(200).optional(),
    kind: z.enum(['agent', 'mcp_server', 'service', 'app']),
    public: z.boolean().default(false),
    first_party: z.boolean().default(false),
    /** RFC 9449 §5.2: every access token it gets is DPoP-bound; a token request without a proof is refused */
    dpop_bound_access_tokens: z.boolean().default(false),
    auth: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']).optional(),
    client_secret: z.string().min(32, 'must be at least 32 characters').optional(),
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    redirect_uris: z.array(z.string()).default([]),
    grant_types: z.array(z.string()).optional(),
    resources: z.array(resourceUri).optional(),
    scopes: z.array(scopeToken).default([]),
  })
  .superRefine((c, ctx) => {
    const auth = c.auth ?? (c.public ? 'none' : 'client_secret_basic');
    if (c.public && auth !== 'none') {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'a public client authenticates with none' });
    }
    if (auth.startsWith('client_secret') && !c.client_secret) {
      ctx.addIssue({ code: 'custom', path: ['client_secret'], message: `is required with auth ${auth}` });
    }
    if (auth !== 'none' && c.public) return;
    if (auth === 'private_key_jwt' && !c.jwks_uri) {
      ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'is required with auth private_key_jwt' });
    }
    if (auth === 'none' && c.client_secret) {
      ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'must not be set for a public client' });
    }
  });

/** JWK members that only a private (or symmetric) key has (RFC 7517 §4, RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const publicJwk = z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) }).superRefine((jwk, ctx) => {
  for (const member of PRIVATE_JWK_MEMBERS) {
    if (member in jwk) {
      ctx.addIssue({ code: 'custom', path: [member], message: 'is a private key member: give only public keys' });
    }
  }
});
/** A JWKS (RFC 7517 §5) of public keys: an object, or its JSON text (what `file:PATH` reads). */
const jwksValue = z
  .unknown()
  .transform((value, ctx) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JWKS: an object with keys, or file:PATH to a JSON JWKS' });
      return z.NEVER;
    }
  })
  .pipe(z.strictObject({ keys: z.array(publicJwk).min(1) }));

/** An account created before its first sign-in (a development configuration's users of an OIDC IdP). */
const provisionedUser = z.strictObject({
  subject: z.string().regex(/^[^\p{Cc}]{1,255}$/u, 'must be 1-255 characters, no control characters'),
  groups: z
    .array(z.string().regex(/^[^\p{Cc}]{1,255}$/u, 'must be 1-255 characters, no control characters'))
    .default([]),
  email: z.email().optional(),
  name: z.string().min(1).max(200).optional(),
});

/**
 * SCIM 2.0 provisioning (RFC 7644) by an OIDC IdP: the bearer token it sends (RFC 6750 §2.1: a b64token,
 * given as `env:NAME` or `file:PATH`), and the SCIM User attribute that carries the IdP's `sub`.
 */
const scimSettings = z.strictObject({
  token: z
    .string()
    .min(32, 'must be at least 32 characters')
    .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'must be an RFC 6750 bearer token (A-Z a-z 0-9 - . _ ~ + /, then = padding)'),
  subject_attribute: z.enum(['externalId', 'userName']).default('externalId'),
});

/** claims of an ID token that are about the token, never about who it names (OIDC Core §2, RFC 7519 §4.1) */
const NOT_A_SUBJECT = [
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'azp',
  'auth_time',
  'at_hash',
  'c_hash',
  'sid',
];

/** a top-level claim name, taken as written (no dot path: `a.b` is the claim named `a.b`) */
const subjectClaim = z
  .string()
  .regex(/^[^\s\p{Cc}]{1,255}$/u, 'must be a claim name: 1-255 characters, no spaces or control characters')
  .refine((c) => !NOT_A_SUBJECT.includes(c), { message: 'names a claim about the token, not about the person' })
  .default('sub');

/**
 * An upstream OpenID Connect provider, used through its discovery document (openid-client); with
 * `sign_in: false`, only an issuer of ID-JAGs (or of ID tokens for token exchange), needing no client_id.
 */
const oidcIdp = z
  .strictObject({
    id: identifier,
    type: z.literal('oidc'),
    display_name: z.string().min(1).max(100).optional(),
    issuer: z.string().superRefine((value, ctx) => {
      const url = URL.parse(value);
      if (!url) ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
      else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
        ctx.addIssue({ code: 'custom', message: 'must use https (http only on a loopback host)' });
      }
    }),
    /** baton's client id at the IdP: required when the IdP signs users in */
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
    /** how baton authenticates at the IdP's token endpoint (some IdPs do not decode RFC 6749 §2.3.1 Basic) */
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
    scopes: z.array(scopeToken).default(['openid', 'email', 'profile']),
    email_domains: z.array(z.string().regex(/^[a-z0-9.-]+$/, 'must be a lowercase domain')).default([]),
    /**
     * the ID token claim that names the person (the account's IdP subject): `sub` (OIDC Core §2), or a stable
     * claim such as Entra ID's `oid` when `sub` is pairwise per application (server/src/idp/subject-claim.ts)
     */
    subject_claim: subjectClaim,
    /** where the groups are: a claim name or a dot path (`realm_access.roles`) */
    groups_claim: z.string().min(1).default('groups'),
    /** when the claim is a string: the separator that joins the groups (default: one group) */
    groups_separator: z.string().min(1).optional(),
    /** refresh with the IdP at every baton refresh, so group changes and removals apply at once */
    sync_on_refresh: z.boolean().default(true),
    /** a disabled IdP signs nobody in and its ID-JAGs and ID tokens are refused */
    enabled: z.boolean().default(true),
    /** XAA: trust ID-JAGs signed by this IdP (jwt-bearer grant) */
    accept_id_jag: z.boolean().default(false),
    /** draft-parecki-oauth-global-token-revocation: POST <issuer>/idp/<id>/global-token-revocation (Okta Universal Logout) */
    global_token_revocation: z.boolean().default(false),
    /** the IdP's JWKS, when it differs from the discovery document's jwks_uri */
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    /** the IdP's public keys themselves (inline, or file:PATH to a JSON JWKS), instead of any jwks_uri */
    jwks: jwksValue.optional(),
    /** offered for sign-in (chooser, email routing); false: trusted only for what it signs (ID-JAGs) */
    sign_in: z.boolean().default(true),
    /** accounts created at start, before any sign-in (development mode only) */
    users: z.array(provisionedUser).default([]),
    /**
     * OpenID Connect Back-Channel Logout 1.0 at `<issuer>/idp/<id>/backchannel-logout`: `sessions` ends the
     * user's baton sessions the logout token names; `everything` also revokes all the user holds (revoke user)
     */
    back_channel_logout: z.enum(['off', 'sessions', 'everything']).default('off'),
    /** SCIM 2.0 provisioning by this IdP (RFC 7643/7644, server/src/scim/): off when absent */
    scim: scimSettings.optional(),
  })
  .superRefine((idp, ctx) => {
    if (idp.back_channel_logout !== 'off' && !idp.client_id) {
      // §2.6 step 3: the logout token's aud must contain baton's client_id at the IdP
      ctx.addIssue({ code: 'custom', path: ['client_id'], message: 'is required with back_channel_logout' });
    }
    if (!idp.scopes.includes('openid')) {
      ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'must include openid' });
    }
    if (idp.sign_in && !idp.client_id) {
      ctx.addIssue({ code: 'custom', path: ['client_id'], message: 'is required unless sign_in is false' });
    }
    if (!idp.sign_in && !idp.client_id && !idp.jwks && !idp.jwks_uri) {
      ctx.addIssue({
        code: 'custom',
        path: ['jwks'],
        message: 'or jwks_uri is required without a client_id (reading the discovery document needs one)',
      });
    }
    if (!idp.sign_in && idp.email_domains.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['email_domains'], message: 'has no effect with sign_in: false' });
    }
    if (idp.jwks && idp.jwks_uri) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'set either jwks or jwks_uri, not both' });
    }
    const subjects = new Set<string>();
    idp.users.forEach((u, j) => {
      if (subjects.has(u.subject)) {
        ctx.addIssue({ code: 'custom', path: ['users', j, 'subject'], message: 'is listed twice' });
      }
      subjects.add(u.subject);
    });
  });

const localUser = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ @ -'),
  password_hash: z.string().regex(/^scrypt\$/, 'must be a scrypt hash (baton users hash-password)'),
  groups: z.array(z.string().min(1)).default([]),
  email: z.string().email().optional(),
  name: z.string().min(1).max(200).optional(),
  disabled: z.boolean().default(false),
});

const localIdp = z.strictObject({
  id: identifier,
  type: z.literal('local'),
  display_name: z.string().min(1).max(100).optional(),
  email_domains: z.array(z.string().regex(/^[a-z0-9.-]+$/, 'must be a lowercase domain')).default([]),
  users: z.array(localUser).default([]),
});

const identityProvider = z.discriminatedUnion('type', [oidcIdp, localIdp]);

/** RFC 8693: which actor (client) may exchange a subject token for which targets, scopes, depth. */
const delegationRule = z.strictObject({
  actor: identifier,
  targets: z.array(resourceUri).min(1),
  /** the most the exchanged token may carry for these targets */
  scopes: z.array(scopeToken).min(1),
  /** the longest actor chain (number of actors in `act`) the issued token may have */
  max_chain: z.number().int().min(1).max(10).default(3),
  /** issue without `act` (the actor becomes invisible): only for clients explicitly trusted to */
  impersonation: z.boolean().default(false),
  /**
   * workloads the actor may vouch for: an actor_token signed by the actor's own key (its jwks_uri), whose
   * `sub` matches one of these (a trailing `*` matches a prefix), makes that workload the current actor
   */
  workloads: z.array(z.string().min(1)).default([]),
});

/**
 * Identity chaining (draft-ietf-oauth-identity-chaining, ID-JAG §4.3 with baton as the IdP): which clients
 * may ask baton for an ID-JAG to present to which foreign authorization server, with which scopes.
 */
const chainingRule = z.strictObject({
  /** the foreign authorization server's issuer: the ID-JAG's aud */
  audience: z.url(),
  clients: z.array(identifier).min(1),
  scopes: z.array(scopeToken).default([]),
  lifetime_seconds: z.number().int().min(10).max(600).default(300),
});

const idJag = z.strictObject({
  /** the longest lifetime (exp - iat) an ID-JAG may have */
  max_lifetime_seconds: z.number().int().min(10).max(3600).default(300),
  algorithms: z
    .array(z.enum(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']))
    .min(1)
    .default(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']),
});

/** MCP authorization 2026-07-28 §Client Registration: CIMD first, DCR (RFC 7591/7592) for compatibility. */
const hostPattern = z.string().regex(/^(\*\.)?[a-z0-9.-]+(:\d+)?$/, 'must be a host name, optionally *.domain');
const registration = z.strictObject({
  cimd: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** hosts whose client-id URLs may be fetched; empty: any public host */
      allow_hosts: z.array(hostPattern).default([]),
      deny_hosts: z.array(hostPattern).default([]),
      /** metadata documents fetched per host per window, across all processes when Redis is configured */
      rate_limit: z
        .strictObject({
          per_host: z.number().int().min(1).default(60),
          window_seconds: z.number().int().min(1).default(60),
        })
        .prefault({}),
      /** a failed document fetch is not retried for this long (short: a corrected document is fetched soon) */
      failure_cache_seconds: z.number().int().min(0).max(3600).default(5),
      /** hosts whose clients are first-party (no consent): admin pre-approval */
      first_party_hosts: z.array(hostPattern).default([]),
      /** development only: fetch documents from loopback and private addresses (the SSRF guard is off) */
      allow_private_network: z.boolean().default(false),
      /** trust this CA certificate (PEM) for document fetches, e.g. an internal PKI */
      extra_ca: z.string().min(1).optional(),
    })
    .prefault({}),
  dcr: z
    .strictObject({
      mode: z.enum(['open', 'initial_access_token', 'off']).default('open'),
      initial_access_token: z.string().min(32).optional(),
      /** a registration not used for this long is deleted */
      unused_expiry_days: z.number().int().min(1).max(3650).default(30),
      max_metadata_bytes: z.number().int().min(512).max(65536).default(5120),
      /** registrations per client address per window, across all processes when Redis is configured */
      rate_limit: z
        .strictObject({
          per_ip: z.number().int().min(1).max(100000).default(100),
          window_seconds: z.number().int().min(1).max(86400).default(3600),
        })
        .prefault({}),
    })
    .prefault({}),
});

const tokens = z.strictObject({
  access_token_ttl: duration.max(86400).default(300),
  refresh_token_ttl: duration.default(14 * 86400),
  authorization_code_ttl: duration.max(600).default(60),
  session_ttl: duration.default(14 * 86400),
  interaction_ttl: duration.max(3600).default(600),
  /** RFC 7523 §3: the longest a private_key_jwt client assertion may live (its exp after its iat and now) */
  client_assertion_max_lifetime_seconds: duration.max(3600).default(300),
});

/** An HTTP field name (RFC 9110 §5.1: a token). */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'must be an HTTP header name (RFC 9110 §5.1)');
/** Where a value the gateway needs comes from: baton's secrets store, a variable, a file (exactly one). */
const sourceFields = {
  secret: identifier.optional(),
  env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name')
    .optional(),
  file: z.string().min(1).optional(),
};
const SOURCE_MESSAGE = 'set exactly one of secret, env, file (where the value comes from)';

/**
 * A gateway's upstream credential (server/src/gateway/credential.ts): where the upstream takes it (`header`,
 * with an optional `prefix` such as `Bearer `, or `query`) and where its value comes from (`secret`: stored in
 * baton's database, `env`: a variable of the gateway process, `file`: e.g. mounted by a vault agent; `env` and
 * `file` are read at every call). Never the value itself.
 */
const gatewayCredential = z
  .strictObject({
    header: headerName.optional(),
    prefix: z
      .string()
      .regex(/^[\x20-\x7e]{0,64}$/, 'must be printable ASCII')
      .optional(),
    query: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{1,64}$/, 'must be a query parameter name')
      .optional(),
    ...sourceFields,
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((c.header === undefined) === (c.query === undefined)) issue('header', 'set either header or query');
    if (c.prefix !== undefined && c.header === undefined) issue('prefix', 'goes with header');
    const sources = [c.secret, c.env, c.file].filter((v) => v !== undefined).length;
    if (sources !== 1) issue('secret', SOURCE_MESSAGE);
  });
/** An absolute http(s) URL without fragment: an upstream MCP endpoint. */
const upstreamUrl = z.url({ protocol: /^https?$/ }).refine((u) => !u.includes('#'), 'must not contain a fragment');

/** A value's source alone (e.g. an upstream client's secret). Never the value. */
const valueSource = z
  .strictObject(sourceFields)
  .refine((c) => [c.secret, c.env, c.file].filter((v) => v !== undefined).length === 1, {
    message: SOURCE_MESSAGE,
  });

/**
 * A brokered upstream (issue #20, server/src/brokering/): the upstream MCP server wants each user's own
 * OAuth token from its own authorization server. baton signs the user in there once (authorization code +
 * PKCE, RFC 8707 `resource`), keeps the refresh token sealed under the KEK, and the gateway sends a fresh
 * access token with each call (`Authorization: Bearer`, RFC 6750 §2.1). The agent never holds it.
 */
const gatewayOauth = z.strictObject({
  /** the upstream's authorization server: its issuer identifier (RFC 8414 §3 / OpenID Connect Discovery) */
  issuer: z.url({ protocol: /^https?$/ }).refine((u) => !u.includes('#') && !u.includes('?'), 'an issuer identifier'),
  /** baton's client at the upstream authorization server (registered there by the operator) */
  client_id: z.string().min(1).max(255),
  /** its secret; absent: a public client (PKCE alone) */
  client_secret: valueSource.optional(),
  /**
   * how the secret is sent (RFC 6749 §2.3.1): HTTP Basic (the default, which servers MUST support) or in the
   * body, for a server that reads Basic credentials without form-decoding them (Glewlwyd 2.7, with a secret
   * holding characters that encoding changes)
   */
  client_auth: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  /** the scopes to ask the upstream for */
  scopes: z.array(scopeToken).default([]),
  /** the RFC 8707 resource to ask for (default: the upstream MCP URL, as MCP authorization §Resource Parameter) */
  resource: upstreamUrl.optional(),
  /** send `resource` at all (false: an authorization server that refuses the parameter) */
  send_resource: z.boolean().default(true),
});

/** `baton gateway` (server/src/gateway/, README "Gateway"): one upstream MCP server behind one resource. */
const gatewayEntry = z.strictObject({
  id: identifier,
  /** the URL the gateway serves (one of resources[].uri): the tokens' audience */
  resource: resourceUri,
  /** the third-party MCP endpoint (Streamable HTTP) */
  upstream: upstreamUrl,
  /** a shared credential (issue #16), or … */
  credential: gatewayCredential.optional(),
  /** … each user's own token from the upstream's authorization server (issue #20) */
  oauth: gatewayOauth.optional(),
  /** the kit's per-method scopes: `tools/call:<tool>` → scope(s) (clients/src/mcp.ts `scopes`) */
  scopes: z.record(z.string().min(1), z.union([scopeToken, z.array(scopeToken)])).default({}),
  timeout_seconds: z.number().int().min(1).max(3600).default(30),
  max_request_bytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  max_response_bytes: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024),
});

const gatewaySettings = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9600),
      })
      .prefault({}),
    /** the gateway's own client at baton (client_credentials), to report its calls to baton's audit trail */
    client_id: identifier.optional(),
    client_secret: z.string().min(1).optional(),
  })
  .superRefine((g, ctx) => {
    if (g.client_id && !g.client_secret)
      ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'is required with client_id' });
    if (g.client_secret && !g.client_id)
      ctx.addIssue({ code: 'custom', path: ['client_id'], message: 'is required with client_secret' });
  });

const configShape = z.strictObject({
  issuer: issuerUrl,
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9400),
      trust_proxy: z.boolean().default(false),
    })
    .prefault({}),
  mode: z.enum(['development', 'production']).default('production'),
  storage: storage.prefault({}),
  keys: keys.prefault({}),
  tokens: tokens.prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** json lines; pretty: readable lines; auto: pretty on a terminal, json otherwise */
      format: z.enum(['json', 'pretty', 'auto']).default('json'),
    })
    .prefault({}),
  /** Prometheus metrics on their own listener, never on the public port (server/src/http/metrics.ts) */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .prefault({}),
  /** failed sign-ins at the local directory's form, counted per user and per client address */
  login_throttle: z
    .strictObject({
      per_user: z.number().int().min(1).max(1000).default(5),
      per_ip: z.number().int().min(1).max(100000).default(50),
      window_seconds: z.number().int().min(1).max(86400).default(900),
    })
    .prefault({}),
  identity_providers: z.array(identityProvider).default([]),
  roles: z.record(identifier, z.array(scopeToken)).default({}),
  role_bindings: z.record(identifier, z.record(z.string().min(1), z.array(identifier))).default({}),
  resources: z.array(resource).default([]),
  clients: z
    .strictObject({
      static: z.array(staticClient).default([]),
      registration: registration.prefault({}),
      /** client ids (static, DCR or CIMD URLs) pre-approved as first-party: no consent */
      first_party: z.array(z.string().min(1)).default([]),
      /** client ids refused everywhere: invalid_client on their next request */
      blocked: z.array(z.string().min(1)).default([]),
      /** how often each process re-reads the clients blocked at runtime (client_blocks) */
      block_refresh_interval_seconds: z.number().int().min(1).max(3600).default(10),
    })
    .prefault({}),
  delegation: z.array(delegationRule).default([]),
  identity_chaining: z.array(chainingRule).default([]),
  id_jag: idJag.prefault({}),
  audit: audit.prefault({}),
  status_list: statusList.prefault({}),
  /** `baton gateway`: the process that serves the gateways (server/src/gateway/) */
  gateway: gatewaySettings.prefault({}),
  /** the upstream MCP servers `baton gateway` puts behind baton, each at its resource */
  gateways: z.array(gatewayEntry).default([]),
  /** the web admin console (`/admin`, server/src/http/admin-console/) */
  admin_console: z
    .strictObject({
      /** sign-ins started per client address and minute (each holds a record for 10 minutes), through Redis */
      sign_in_rate_per_minute: z.number().int().min(1).max(100_000).default(30),
    })
    .prefault({}),
});

/** The configuration: its shape, then the cross-checks between sections. */
export const configSchema = configShape.superRefine((c, ctx) => {
  const issue: Issue = (path, message) => ctx.addIssue({ code: 'custom', path, message });
  const known = uniqueIds(c, issue, ctx);
  references(c, known, issue);
  modeRules(c, issue);
  gatewayRules(c, known, issue);
});

type RawConfig = z.infer<typeof configShape>;
type Issue = (path: (string | number)[], message: string) => void;
interface KnownIds {
  resources: ReadonlySet<string>;
  clients: ReadonlySet<string>;
  idps: ReadonlySet<string>;
}

/** the ids of one list, each once ("is listed twice" for a repeat) */
function once<T>(items: readonly T[], id: (item: T) => string, path: (i: number) => (string | number)[], issue: Issue) {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(id(item))) issue(path(i), 'is listed twice');
    seen.add(id(item));
  });
  return seen;
}

/** resources, static clients, IdPs and each local directory's users are listed once each */
function uniqueIds(c: RawConfig, issue: Issue, ctx: z.RefinementCtx): KnownIds {
  const resources = once(
    c.resources,
    (r) => r.uri,
    (i) => ['resources', i, 'uri'],
    issue,
  );
  const clients = once(
    c.clients.static,
    (cl) => cl.client_id,
    (i) => ['clients', 'static', i, 'client_id'],
    issue,
  );
  const idps = once(
    c.identity_providers,
    (idp) => idp.id,
    (i) => ['identity_providers', i, 'id'],
    issue,
  );
  c.identity_providers.forEach((idp, i) => {
    if (idp.type === 'oidc') devOnlyIdpSettings(c.mode, idp, ['identity_providers', i], ctx);
    if (idp.type === 'local')
      once(
        idp.users,
        (u) => u.username,
        (j) => ['identity_providers', i, 'users', j, 'username'],
        issue,
      );
  });
  return { resources, clients, idps };
}

/** every name another section refers to exists: resources, roles, IdPs, static clients */
function references(c: RawConfig, known: KnownIds, issue: Issue): void {
  const resource = (uri: string, path: (string | number)[]) => {
    if (!known.resources.has(uri)) issue(path, `names ${uri}, which is not in resources`);
  };
  const client = (id: string, path: (string | number)[]) => {
    if (!known.clients.has(id)) issue(path, `names client ${id}, which is not in clients.static`);
  };
  c.clients.static.forEach((cl, i) => {
    cl.resources?.forEach((uri, j) => resource(uri, ['clients', 'static', i, 'resources', j]));
    // policy.ts consoleClient: the admin console's own, built in
    if (cl.client_id === ADMIN_CONSOLE_CLIENT)
      issue(['clients', 'static', i, 'client_id'], "is the admin console's own client id, built in: choose another");
  });
  for (const [idp, bindings] of Object.entries(c.role_bindings)) {
    if (!known.idps.has(idp))
      issue(['role_bindings', idp], `names identity provider ${idp}, which is not in identity_providers`);
    for (const [group, roles] of Object.entries(bindings)) {
      roles.forEach((role, j) => {
        if (!(role in c.roles)) issue(['role_bindings', idp, group, j], `names role ${role}, which is not in roles`);
      });
    }
  }
  c.delegation.forEach((d, i) => {
    client(d.actor, ['delegation', i, 'actor']);
    d.targets.forEach((t, j) => resource(t, ['delegation', i, 'targets', j]));
  });
  c.identity_chaining.forEach((r, i) =>
    r.clients.forEach((id, j) => client(id, ['identity_chaining', i, 'clients', j])),
  );
  const builtin = new Set(BUILTIN_RESOURCE_PATHS.map((p) => `${c.issuer.replace(/\/$/, '')}${p}`));
  c.resources.forEach((r, i) => {
    if (r.client_id) client(r.client_id, ['resources', i, 'client_id']);
    // policy/builtin-resources.ts: baton's own APIs under the issuer
    if (builtin.has(r.uri))
      issue(
        ['resources', i, 'uri'],
        'is an API baton itself serves under its issuer (its audit or admin API): choose another URI',
      );
  });
}

/**
 * Each gateway serves a configured resource (its tokens are issued for it), once; a gateway reporting to the
 * audit trail is that resource's server (`resources[].client_id`), as baton's ingestion requires.
 */
function gatewayRules(c: RawConfig, known: KnownIds, issue: Issue): void {
  once(
    c.gateways,
    (g) => g.id,
    (i) => ['gateways', i, 'id'],
    issue,
  );
  once(
    c.gateways,
    (g) => g.resource,
    (i) => ['gateways', i, 'resource'],
    issue,
  );
  c.gateways.forEach((g, i) => {
    if ((g.credential === undefined) === (g.oauth === undefined))
      issue(
        ['gateways', i, 'credential'],
        'set either credential (a shared key) or oauth (each user signs in upstream)',
      );
    if (!known.resources.has(g.resource)) {
      issue(['gateways', i, 'resource'], `names ${g.resource}, which is not in resources`);
      return;
    }
    const owner = c.resources.find((r) => r.uri === g.resource)?.client_id;
    if (c.gateway.client_id && owner !== c.gateway.client_id)
      issue(
        ['gateways', i, 'resource'],
        `is served by the gateway: its resources[].client_id must be gateway.client_id (${c.gateway.client_id}) for its calls to reach the audit trail`,
      );
  });
}

/** settings that depend on the mode or on another setting */
function modeRules(c: RawConfig, issue: Issue): void {
  const reg = c.clients.registration;
  if (reg.cimd.allow_private_network && c.mode !== 'development')
    issue(['clients', 'registration', 'cimd', 'allow_private_network'], 'is a development setting (mode: development)');
  if (reg.dcr.mode === 'initial_access_token' && !reg.dcr.initial_access_token)
    issue(['clients', 'registration', 'dcr', 'initial_access_token'], 'is required with mode initial_access_token');
  if (c.mode === 'production' && !c.keys.encryption_key)
    issue(['keys', 'encryption_key'], 'is required in production mode (signing keys are stored encrypted under it)');
}

/**
 * What only a development configuration may hold in an OIDC IdP: the development XAA issuer's key, whose
 * private half ships in the repository (server/src/config/dev-xaa-key.ts), and accounts listed in the file.
 */
function devOnlyIdpSettings(
  mode: 'development' | 'production',
  idp: z.infer<typeof oidcIdp>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  if (mode === 'development') return;
  idp.jwks?.keys.forEach((jwk, k) => {
    if (isDevXaaKey(jwk)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'jwks', 'keys', k],
        message: `is the development XAA issuer's key (RFC 7638 thumbprint ${DEV_XAA_THUMBPRINT}), whose private key ships in the repository: only with mode: development`,
      });
    }
  });
  if (idp.users.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'users'],
      message: 'is a development setting (mode: development); provision accounts with baton accounts add or import',
    });
  }
}

export type Config = z.infer<typeof configSchema>;
export type ResourceConfig = Config['resources'][number];
export type StaticClientConfig = Config['clients']['static'][number];
export type DelegationRule = Config['delegation'][number];
export type ChainingRule = Config['identity_chaining'][number];
export type IdpConfig = Config['identity_providers'][number];
export type OidcIdpConfig = Extract<IdpConfig, { type: 'oidc' }>;
export type GatewayConfig = Config['gateways'][number];
export type GatewaySettings = Config['gateway'];
export type LocalIdpConfig = Extract<IdpConfig, { type: 'local' }>;
