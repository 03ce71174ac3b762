/**
 * Accounts created ahead of a first sign-in, so that an ID-JAG (XAA) for a person who never signed in
 * interactively can be redeemed: `baton accounts add`, `baton accounts import FILE`, and a development
 * configuration's `identity_providers[].users`. An account is (IdP issuer, IdP subject) with its groups;
 * an ID-JAG redemption maps the account's stored groups (from its last sign-in, provision or import)
 * through that IdP's `role_bindings`.
 */
import type { Knex } from 'knex';
import { LineCounter, parseDocument, isSeq } from 'yaml';
import { z } from 'zod';
import type { Config, OidcIdpConfig } from '../config/schema.ts';
import { Policy } from '../policy/policy.ts';
import type { Account, AccountStore } from './store.ts';

/** A provisioning request that cannot be carried out (a bad file line, an unknown IdP): nothing was stored. */
export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

const text = z.string().regex(/^[^\p{Cc}]{1,255}$/u, 'must be 1-255 characters, no control characters');

/** One account to provision: a line of an import file, or the options of `accounts add`. */
export const provisionRecord = z.strictObject({
  /** the id of an OIDC IdP in identity_providers */
  idp: z.string().min(1),
  /** the IdP's subject: its ID tokens' `identity_providers[].subject_claim` (`sub` unless set) */
  subject: text,
  groups: z.array(text).default([]),
  email: z.email().optional(),
  name: z.string().min(1).max(200).optional(),
});
export type ProvisionRecord = z.input<typeof provisionRecord>;

function oidcIdp(config: Config, id: string): OidcIdpConfig {
  const idp = config.identity_providers.find((i) => i.id === id);
  if (!idp) throw new ProvisionError(`idp ${id} is not in identity_providers`);
  if (idp.type !== 'oidc')
    throw new ProvisionError(`idp ${id} is a local directory: its users are the configuration's own`);
  return idp;
}

/** Validates one record against the schema and the configuration; the message names what is wrong. */
function validate(config: Config, value: unknown): z.output<typeof provisionRecord> & { issuer: string } {
  const parsed = provisionRecord.safeParse(value);
  if (!parsed.success) {
    throw new ProvisionError(
      parsed.error.issues
        .map((i) =>
          i.code === 'unrecognized_keys'
            ? `${i.keys.join(', ')}: unknown field`
            : `${i.path.join('.') || '(record)'}: ${i.message}`,
        )
        .join('; '),
    );
  }
  return { ...parsed.data, issuer: oidcIdp(config, parsed.data.idp).issuer };
}

/** Creates or updates one account (`baton accounts add`; a SCIM POST, in its transaction `trx`). */
export async function provisionOne(
  config: Config,
  store: AccountStore,
  record: ProvisionRecord,
  trx?: Knex,
): Promise<Account> {
  return store.provision(provisionOf(new Policy(config), validate(config, record)), trx);
}

/** What the store keeps of a validated record: the roles its groups map to now. */
function provisionOf(policy: Policy, r: ReturnType<typeof validate>): Parameters<AccountStore['provision']>[0] {
  return {
    idpId: r.idp,
    idpIssuer: r.issuer,
    subject: r.subject,
    groups: r.groups,
    roles: policy.rolesFor(r.idp, r.groups),
    ...(r.email ? { email: r.email } : {}),
    ...(r.name ? { name: r.name } : {}),
  };
}

/**
 * The records of an import file, each with its line number: JSON lines (one object a line; blank lines
 * are skipped), or a YAML list of objects.
 */
export function parseImportFile(content: string): { line: number; value: unknown }[] {
  const lines = content.split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== '')?.trim() ?? '';
  if (first.startsWith('{')) {
    return lines.flatMap((l, i) => {
      if (l.trim() === '') return [];
      try {
        return [{ line: i + 1, value: JSON.parse(l) as unknown }];
      } catch {
        throw new ProvisionError(`line ${i + 1}: not a JSON object`);
      }
    });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(content, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ProvisionError(`line ${e.linePos?.[0].line ?? '?'}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  if (doc.contents === null) return [];
  if (!isSeq(doc.contents)) throw new ProvisionError('the file is neither JSON lines nor a YAML list');
  return doc.contents.items.map((item) => ({
    line: lineCounter.linePos(item.range[0]).line,
    value: item.toJSON() as unknown,
  }));
}

/**
 * `baton accounts import`: every record is validated first (every bad one is named by its line), then all
 * are provisioned in one transaction: all or nothing.
 */
export async function importAccounts(config: Config, store: AccountStore, content: string): Promise<number> {
  const records = parseImportFile(content);
  const errors: string[] = [];
  const valid = records.flatMap(({ line, value }) => {
    try {
      return [validate(config, value)];
    } catch (err) {
      if (!(err instanceof ProvisionError)) throw err;
      errors.push(`line ${line}: ${err.message}`);
      return [];
    }
  });
  if (errors.length > 0) throw new ProvisionError(`nothing imported:\n  ${errors.join('\n  ')}`);
  const policy = new Policy(config);
  await store.transaction(async (trx) => {
    for (const r of valid) await store.provision(provisionOf(policy, r), trx);
  });
  return valid.length;
}

/** A development configuration's `identity_providers[].users`, provisioned at start (the schema allows none otherwise). */
export async function provisionConfiguredUsers(config: Config, store: AccountStore): Promise<number> {
  let n = 0;
  for (const idp of config.identity_providers) {
    if (idp.type !== 'oidc') continue;
    for (const u of idp.users) {
      await provisionOne(config, store, { idp: idp.id, ...u });
      n += 1;
    }
  }
  return n;
}
