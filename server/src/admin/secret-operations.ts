/**
 * `baton secrets set|rotate|list|delete` and `GET /admin/api/secrets`, `PUT /admin/api/secrets/{name}`,
 * `POST /admin/api/secrets/{name}/rotate`, `DELETE /admin/api/secrets/{name}`: the upstream secrets of the
 * gateway (secrets/store.ts), as admin operations (admin/operations.ts). The value comes in (the command
 * line reads it from stdin, never from an argument) and is sealed under the KEK; no result, printed line,
 * error message or audit record carries it. Each change is recorded as `secret.changed` with the name, the
 * version and the action, with its `admin.operation`.
 */
import { z } from 'zod';
import type { AuditEvent } from '../audit/record.ts';
import type { Kek } from '../keys/kek.ts';
import { AdminError } from './errors.ts';
import { operation, type AdminStores } from './operation.ts';
import {
  createSecret,
  listSecrets,
  MAX_OVERLAP_SECONDS,
  removeSecret,
  rotateSecret,
  SECRET_NAME,
  SecretStoreError,
  valueProblem,
  type Created,
  type Removed,
  type Rotated,
  type SecretListing,
} from '../secrets/store.ts';

const name = z
  .string()
  .regex(SECRET_NAME, 'a secret name is 1–64 characters of A-Z a-z 0-9 . _ -, the first a letter or a digit');

/** checked without ever quoting it: the issue's message names the problem only */
const value = z.string('a string').superRefine((v, ctx) => {
  const problem = valueProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const overlap = z
  .number('a number of seconds')
  .int('a whole number of seconds')
  .min(0, `0 to ${MAX_OVERLAP_SECONDS} seconds`)
  .max(MAX_OVERLAP_SECONDS, `0 to ${MAX_OVERLAP_SECONDS} seconds (30 days)`);

function kekOf(stores: AdminStores): Kek {
  if (!stores.kek) throw new Error('the upstream secrets need the KEK (AdminStores.kek)');
  return stores.kek;
}

/** the store's refusal as the operation's: 409 for a name that exists, 404 for one that does not */
async function refusing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof SecretStoreError)) throw err;
    throw new AdminError(err.refusal === 'exists' ? 'conflict' : 'not_found', err.message);
  }
}

type Action = 'created' | 'rotated' | 'deleted';

const changed = (
  action: Action,
  operationName: string,
  r: { name: string; version: number },
  more: Record<string, unknown> = {},
): AuditEvent[] => [
  {
    type: 'secret.changed',
    outcome: 'success',
    details: { action, name: r.name, version: r.version, operation: operationName, ...more },
  },
];

const set = operation({
  args: z.strictObject({ name, value }),
  async run(stores, args): Promise<Created> {
    return refusing(() => createSecret(stores.db, kekOf(stores), args.name, args.value));
  },
  print: (r) => `created secret ${r.name} version ${r.version}\n`,
  audit: (r) => changed('created', 'secrets.set', r),
});

const rotate = operation({
  args: z.strictObject({ name, value, overlap_seconds: overlap.optional() }),
  async run(stores, args): Promise<Rotated> {
    const seconds = args.overlap_seconds ?? 0;
    return refusing(() => rotateSecret(stores.db, kekOf(stores), args.name, args.value, seconds));
  },
  print: (r) =>
    `rotated secret ${r.name} to version ${r.version}; ` +
    (r.previous
      ? `version ${r.previous.version} is still handed out until ${r.previous.valid_until}\n`
      : 'the previous version is no longer handed out\n'),
  audit: (r) =>
    changed('rotated', 'secrets.rotate', r, {
      previous_version: r.previous?.version ?? null,
      valid_until: r.previous?.valid_until ?? null,
    }),
});

const list = operation({
  args: z.strictObject({}),
  async run(stores): Promise<{ secrets: SecretListing[] }> {
    return { secrets: await listSecrets(stores.db) };
  },
  print: ({ secrets }) =>
    secrets
      .map(
        (s) =>
          `${s.name}  version ${s.version}  created ${s.created_at}` +
          (s.previous ? `  previous ${s.previous.version} until ${s.previous.valid_until}` : '') +
          '\n',
      )
      .join(''),
});

const remove = operation({
  args: z.strictObject({ name }),
  async run(stores, args): Promise<Removed> {
    return refusing(() => removeSecret(stores.db, args.name));
  },
  print: (r) => `deleted secret ${r.name} (version ${r.version})\n`,
  audit: (r) => changed('deleted', 'secrets.delete', r, { versions: r.versions }),
});

export const SECRET_OPERATIONS = [
  ['secrets.set', set],
  ['secrets.rotate', rotate],
  ['secrets.list', list],
  ['secrets.delete', remove],
] as const;
