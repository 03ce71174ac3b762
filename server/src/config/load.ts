/**
 * loadConfig: YAML file → secret references resolved → schema-validated, deep-frozen Config.
 * Any problem throws ConfigError whose message names the key path (e.g. `storage.postgres: env:DATABASE_URL
 * is not set`); the CLI prints that one message and exits 78 (EX_CONFIG), never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** The file baton runs on when neither --config nor BATON_CONFIG names one: embedded storage, local dev. */
export const DEFAULT_CONFIG_PATH = resolve(import.meta.dirname, '../../../config/development.yaml');

export function configPathFrom(flag: string | undefined, env: Env): string {
  return resolve(flag ?? env.BATON_CONFIG ?? DEFAULT_CONFIG_PATH);
}

export function loadConfigFile(path: string, env: Env = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseConfig(text, { env, baseDir: dirname(path), source: path });
}

export function parseConfig(text: string, opts: { env?: Env; baseDir?: string; source?: string } = {}): Config {
  const source = opts.source ?? 'config';
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0];
    throw new ConfigError(
      `${source}${line ? `:${line.line}:${line.col}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`,
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const resolved = resolveSecrets(raw, [], opts.env ?? process.env, opts.baseDir ?? process.cwd());
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) throw new ConfigError(formatIssues(source, parsed.error.issues));
  return deepFreeze(parsed.data);
}

/** Secrets by reference: a string `env:NAME` or `file:PATH` anywhere in the file is replaced by its value. */
function resolveSecrets(value: unknown, path: (string | number)[], env: Env, baseDir: string): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('env:')) {
      const name = value.slice(4);
      const v = env[name];
      if (v === undefined || v === '') throw new ConfigError(`${keyPath(path)}: env:${name} is not set`);
      return v;
    }
    if (value.startsWith('file:')) {
      const file = resolve(baseDir, value.slice(5));
      try {
        return readFileSync(file, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(
          `${keyPath(path)}: cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, [...path, i], env, baseDir));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveSecrets(v, [...path, k], env, baseDir)]),
    );
  }
  return value;
}

function keyPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${keyPath([...issue.path, k])}: unknown key`).join('\n  ');
    }
    return `${keyPath(issue.path)}: ${issue.message}`;
  });
  return `invalid configuration in ${source}:\n  ${lines.join('\n  ')}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
