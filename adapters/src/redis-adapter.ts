/**
 * oidc-provider adapter over Redis (ioredis) for the short-lived models (sessions, interactions,
 * authorization codes, PAR, replay detection). Every model is a hash {p: payload JSON, c: consumed-at};
 * consume is HSETNX inside a script, so exactly one concurrent redemption wins across all processes.
 * Key layout in STORAGE.md. Redis is the store of record for these models: errors surface (503), they
 * are never treated as cache misses.
 */
import type { Redis } from 'ioredis';
import { CONSUMABLE, indexFields, type Adapter, type AdapterPayload } from './models.ts';
import { alreadyConsumed, guard } from './errors.ts';

// KEYS: record, grant index ('' if none), uid index, user-code index. ARGV: id, payload, ttl seconds (0 = none)
const UPSERT = `
redis.call('HSET', KEYS[1], 'p', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
if KEYS[2] ~= '' then
  redis.call('SADD', KEYS[2], KEYS[1])
  local cur = redis.call('TTL', KEYS[2])
  if ttl == 0 then redis.call('PERSIST', KEYS[2])
  elseif cur ~= -1 and cur < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
end
for i = 3, 4 do
  if KEYS[i] ~= '' then
    if ttl > 0 then redis.call('SET', KEYS[i], ARGV[1], 'EX', ttl) else redis.call('SET', KEYS[i], ARGV[1]) end
  end
end
return 1`;

// 1: this call consumed it; 0: it was consumed before; -1: it does not exist (expired or destroyed)
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], 'c', ARGV[1])`;

// 1: this call created the record, consumed; 0: a live record exists. ARGV: payload, consumed-at, ttl seconds
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[1], 'c', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

const REVOKE = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(members) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #members`;

type Script = (...args: (string | number)[]) => Promise<unknown>;
/** The scripts as commands of the connection: sent by SHA (EVALSHA), the body only when Redis lacks it. */
interface Scripts {
  batonUpsert: Script;
  batonConsume: Script;
  batonClaim: Script;
  batonRevoke: Script;
}

function withScripts(redis: Redis): Scripts {
  const r = redis as Redis & Partial<Scripts>;
  if (!r.batonUpsert) {
    redis.defineCommand('batonUpsert', { numberOfKeys: 4, lua: UPSERT });
    redis.defineCommand('batonConsume', { numberOfKeys: 1, lua: CONSUME });
    redis.defineCommand('batonClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('batonRevoke', { numberOfKeys: 1, lua: REVOKE });
  }
  return r as Redis & Scripts;
}

export class RedisAdapter implements Adapter {
  readonly model: string;
  readonly #redis: Redis;
  readonly #scripts: Scripts;
  readonly #prefix: string;

  constructor(model: string, redis: Redis, prefix = 'baton:') {
    this.model = model;
    this.#redis = redis;
    this.#scripts = withScripts(redis);
    this.#prefix = prefix;
  }

  #key(id: string) {
    return `${this.#prefix}${this.model}:${id}`;
  }
  #grantKey(grantId: string) {
    return `${this.#prefix}${this.model}:grant:${grantId}`;
  }
  #uidKey(uid: string) {
    return `${this.#prefix}${this.model}:uid:${uid}`;
  }
  #userCodeKey(code: string) {
    return `${this.#prefix}${this.model}:userCode:${code}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const { grantId, userCode, uid } = indexFields(payload);
    const keys = [
      this.#key(id),
      grantId ? this.#grantKey(grantId) : '',
      uid ? this.#uidKey(uid) : '',
      userCode ? this.#userCodeKey(userCode) : '',
    ];
    const ttl = expiresIn && expiresIn > 0 ? Math.ceil(expiresIn) : 0;
    await guard(this.model, 'upsert', () => this.#scripts.batonUpsert(...keys, id, JSON.stringify(payload), ttl));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const [p, c] = await guard(this.model, 'find', () => this.#redis.hmget(this.#key(id), 'p', 'c'));
    if (!p) return undefined;
    const payload = JSON.parse(p) as AdapterPayload;
    return c ? { ...payload, consumed: Number(c) } : payload;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = await guard(this.model, 'findByUid', () => this.#redis.get(this.#uidKey(uid)));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = await guard(this.model, 'findByUserCode', () => this.#redis.get(this.#userCodeKey(userCode)));
    return id ? this.find(id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const result = await guard(this.model, 'consume', () => this.#scripts.batonConsume(this.#key(id), now));
    if (result !== 1 && CONSUMABLE.has(this.model))
      throw alreadyConsumed(this.model, (await this.find(id).catch(() => undefined))?.grantId);
  }

  async claim(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.max(1, Math.ceil(expiresIn));
    const won = await guard(this.model, 'claim', () =>
      this.#scripts.batonClaim(this.#key(id), JSON.stringify(payload), now, ttl),
    );
    return won === 1;
  }

  async destroy(id: string): Promise<void> {
    await guard(this.model, 'destroy', () => this.#redis.del(this.#key(id)));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await guard(this.model, 'revokeByGrantId', () => this.#scripts.batonRevoke(this.#grantKey(grantId)));
  }
}
