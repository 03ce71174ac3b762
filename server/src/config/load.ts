/**
 * loadConfig: YAML file → secret references resolved → schema-validated, deep-frozen Config.
 * Any problem throws ConfigError whose message names the file and the key paths (e.g. `baton.yaml:
 * environment variables not set: DATABASE_URL (storage.postgres), BATON_KEK (keys.encryption_key)`); the
 * CLI prints that one message and exits 78 (EX_CONFIG), never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isCollection, isScalar, LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
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
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) throw new ConfigError(yamlProblem(source, text, doc, doc.errors[0]!, lines));
  const raw: unknown = doc.toJS() ?? {};
  const problems: Problems = { unsetEnv: new Map(), other: [] };
  const resolved = resolveSecrets(raw, [], opts.env ?? process.env, opts.baseDir ?? process.cwd(), problems);
  const secretProblems = formatSecretProblems(source, problems);
  if (secretProblems) throw new ConfigError(secretProblems);
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) throw new ConfigError(formatIssues(source, parsed.error.issues, resolved));
  return deepFreeze(parsed.data);
}

/**
 * One YAML syntax error as `file:line:col: invalid YAML: what`. An unclosed `[`, `{` or quote is reported
 * where it was opened (the parser only notices at a later line).
 */
function yamlProblem(source: string, text: string, doc: Document, error: YAMLError, lines: LineCounter): string {
  let offset = error.pos[0];
  let what = error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '').replace(/:$/, '');
  if (error.code === 'BAD_INDENT' || error.code === 'MISSING_CHAR') {
    let opened: { start: number; open: string; close: string } | undefined;
    visit(doc, (_key, node) => {
      if (!isCollection(node) && !isScalar(node)) return;
      const [start, end] = node.range ?? [0, 0];
      if (start > error.pos[0] || end < start + 1) return;
      const open = text[start]!;
      const close = ({ '[': ']', '{': '}', '"': '"', "'": "'" } as Record<string, string>)[open];
      const closed = end - start > 1 && text[end - 1] === close;
      if (close && !closed && (!opened || start > opened.start)) opened = { start, open, close };
    });
    if (opened) {
      offset = opened.start;
      what = `the ${opened.open} opened here is not closed with ${opened.close}`;
    }
  }
  const { line, col } = lines.linePos(offset);
  return `${source}:${line}:${col}: invalid YAML: ${what}`;
}

interface Problems {
  /** variable name → the key paths that reference it */
  unsetEnv: Map<string, string[]>;
  other: string[];
}

/** Secrets by reference: a string `env:NAME` or `file:PATH` anywhere in the file is replaced by its value. */
function resolveSecrets(
  value: unknown,
  path: (string | number)[],
  env: Env,
  baseDir: string,
  problems: Problems,
): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('env:')) {
      const name = value.slice(4);
      const v = env[name];
      if (v === undefined || v === '') {
        problems.unsetEnv.set(name, [...(problems.unsetEnv.get(name) ?? []), keyPath(path)]);
        return undefined;
      }
      return v;
    }
    if (value.startsWith('file:')) {
      const file = resolve(baseDir, value.slice(5));
      try {
        return readFileSync(file, 'utf8').trim();
      } catch (err) {
        problems.other.push(
          `${keyPath(path)}: cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
        return undefined;
      }
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, [...path, i], env, baseDir, problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveSecrets(v, [...path, k], env, baseDir, problems)]),
    );
  }
  return value;
}

/** Every unset `env:` reference at once (so one run names them all), then unreadable `file:` references. */
function formatSecretProblems(source: string, problems: Problems): string | undefined {
  const lines: string[] = [];
  if (problems.unsetEnv.size > 0) {
    const names = [...problems.unsetEnv].map(([name, paths]) => `${name} (${paths.join(', ')})`);
    lines.push(`environment variable${names.length > 1 ? 's' : ''} not set: ${names.join(', ')}`);
  }
  lines.push(...problems.other);
  if (lines.length === 0) return undefined;
  return lines.length === 1 ? `${source}: ${lines[0]}` : `${source}:\n  ${lines.join('\n  ')}`;
}

function keyPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function formatIssues(source: string, issues: readonly z.core.$ZodIssue[], data: unknown): string {
  const lines = issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(configSchema, issue.path, data);
      return issue.keys
        .map((k) => {
          const near = closest(k, known);
          return `${keyPath([...issue.path, k])}: unknown key${near ? `, did you mean \`${near}\`?` : ''}`;
        })
        .join('\n  ');
    }
    return `${keyPath(issue.path)}: ${issue.message}`;
  });
  return `invalid configuration in ${source}:\n  ${lines.join('\n  ')}`;
}

/** The parts of a zod schema's definition walked to find the keys an object at a path may have. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  discriminator?: string;
  values?: unknown[];
  getter?: () => z.core.$ZodType;
}

const defOf = (schema: z.core.$ZodType) => schema._zod.def as unknown as SchemaDef;

/** The keys the schema allows for the object at `path` (`data` picks the branch of a discriminated union). */
export function knownKeys(schema: z.core.$ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  const def = defOf(schema);
  const [head, ...rest] = path;
  const child = (d: unknown) => (d && typeof d === 'object' ? (d as Record<PropertyKey, unknown>)[head!] : undefined);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return knownKeys(def.innerType!, path, data);
    case 'pipe':
      return knownKeys(def.in!, path, data);
    case 'lazy':
      return knownKeys(def.getter!(), path, data);
    case 'union': {
      const tag = def.discriminator;
      const value = tag && data && typeof data === 'object' ? (data as Record<string, unknown>)[tag] : undefined;
      const matching = def.options!.filter((o) => {
        const literal = tag ? defOf(o).shape?.[tag] : undefined;
        return literal !== undefined && (defOf(literal).values ?? []).includes(value);
      });
      const options = matching.length > 0 ? matching : def.options!;
      return [...new Set(options.flatMap((o) => knownKeys(o, path, data)))];
    }
    case 'object':
      if (head === undefined) return Object.keys(def.shape!);
      return def.shape![head as string] ? knownKeys(def.shape![head as string]!, rest, child(data)) : [];
    case 'array':
      return head === undefined ? [] : knownKeys(def.element!, rest, child(data));
    case 'record':
      return head === undefined ? [] : knownKeys(def.valueType!, rest, child(data));
    default:
      return [];
  }
}

/** The known key nearest to a misspelt one by edit distance, when it is near enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  const allowed = Math.max(1, Math.floor(Math.max(key.length, best?.key.length ?? 0) / 3));
  return best && best.distance <= allowed ? best.key : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
