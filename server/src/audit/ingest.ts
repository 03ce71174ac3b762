/**
 * What an MCP server (or a downstream service) reports of the calls it allowed or denied, checked and
 * turned into audit records (issue #13 "Tool calls from MCP servers"). The rules:
 *
 *   - the body is `{ events: [...], dropped?: N }`, at most MAX_EVENTS events, each strictly shaped,
 *     with bounded strings and a time not far in the future;
 *   - an event's `resource` is one the reporting client is the server of (`resources[].client_id`); it may
 *     be left out when the client serves exactly one;
 *   - an event's `jti`, when given, names a token baton issued FOR THAT RESOURCE (its own `token.issued`
 *     record), and the record takes the person (account, IdP identity), the client, the actor chain, the
 *     grant and the parent token from baton's record, never from the reporter: a server can neither write
 *     about another server's resource nor invent a user. A call refused without a token has no person;
 *   - one invalid event refuses the whole batch (nothing of it is written), naming its index;
 *   - `dropped > 0` (the reporter had to drop events) is recorded as one `audit.dropped` record.
 *
 * Pure but for the lookup of baton's records (audit/store.ts issuedTokens), which the caller passes in.
 */
import { z } from 'zod';
import type { AuditEvent } from './record.ts';

/** events per request (more → 413) */
export const MAX_EVENTS = 500;
/** bytes of a request body (more → 413) */
export const MAX_BODY_BYTES = 1024 * 1024;
/** how far in the future a reported time may be (clock skew between the reporter and baton) */
const FUTURE_SKEW_MS = 5 * 60_000;

/** a bounded string without control characters (they would corrupt a terminal or a SIEM's view of it) */
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // eslint-disable-next-line no-control-regex -- the point is to refuse them
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'control characters');

const reportedEvent = z.strictObject({
  kind: z.enum(['tool_call', 'api_call']),
  resource: printable(2048).optional(),
  jti: printable(256).optional(),
  /** the MCP method (tools/call, …) or, for an api_call, the HTTP method */
  method: printable(128),
  /** the tool, prompt or resource URI; for an api_call, the path */
  name: printable(2048).optional(),
  outcome: z.enum(['allowed', 'denied']),
  status: z.number().int().min(100).max(599),
  reason: z.string().max(1024).optional(),
  arguments_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex')
    .optional(),
  at: z.iso.datetime({ offset: true }),
  /** how long the call took, as the reporter measured it (e.g. baton's gateway: to the end of the answer) */
  duration_ms: z.number().int().min(0).max(86_400_000).optional(),
});

export type ReportedEvent = z.infer<typeof reportedEvent>;

const batchShape = z.strictObject({
  events: z.array(z.unknown()),
  dropped: z.number().int().min(0).max(1_000_000_000).optional(),
});

/** A refused batch: the status and the wire's description (generic but useful), the detail for the log. */
export interface IngestRefusal {
  status: 400 | 413;
  description: string;
  detail: string;
}

export interface Batch {
  events: ReportedEvent[];
  dropped: number;
}

const refusal = (status: 400 | 413, description: string, detail = description): IngestRefusal => ({
  status,
  description,
  detail,
});

const isRefusal = (x: unknown): x is IngestRefusal => typeof (x as IngestRefusal).status === 'number';

/** The first problem zod found, as `events[3].outcome` (wire) and with zod's words (log). */
function eventProblem(index: number, error: z.ZodError, event: unknown): IngestRefusal {
  const issue = error.issues[0]!;
  const where = [`events[${index}]`, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))];
  const field = where.join('').replace(/\]\./g, '].');
  const unknownKeys = issue.code === 'unrecognized_keys' ? `: unknown member ${issue.keys.join(', ')}` : '';
  const description = `${field} is invalid${unknownKeys}`;
  const kind = (event as { kind?: unknown } | null)?.kind;
  return refusal(400, description, `${field}: ${issue.message}${typeof kind === 'string' ? ` (kind ${kind})` : ''}`);
}

/** The body's shape and every event's, or the first problem. `now` in ms. */
export function parseBatch(body: unknown, now: number): Batch | IngestRefusal {
  const shape = batchShape.safeParse(body);
  if (!shape.success) {
    const issue = shape.error.issues[0]!;
    return refusal(
      400,
      'the body must be {"events": [...], "dropped"?: N}',
      `body: ${issue.path.join('.')} ${issue.message}`,
    );
  }
  const { events, dropped = 0 } = shape.data;
  if (events.length > MAX_EVENTS)
    return refusal(413, `at most ${MAX_EVENTS} events per request`, `${events.length} events in one request`);
  const parsed: ReportedEvent[] = [];
  for (const [i, raw] of events.entries()) {
    const event = reportedEvent.safeParse(raw);
    if (!event.success) return eventProblem(i, event.error, raw);
    if (Date.parse(event.data.at) > now + FUTURE_SKEW_MS)
      return refusal(400, `events[${i}].at is in the future`, `events[${i}].at ${event.data.at}`);
    parsed.push(event.data);
  }
  return { events: parsed, dropped };
}

export interface Reporter {
  /** the authenticated client (the MCP server's or service's own client id) */
  client: string;
  /** the configured resources it is the server of */
  serves: readonly string[];
  /** the request id, for every record of the batch */
  requestId?: string | undefined;
}

/** baton's `token.issued` records, jti → event (audit/store.ts issuedTokens) */
export type IssuedLookup = (jtis: readonly string[]) => Promise<Map<string, AuditEvent>>;

/** The resource of each event: its own, which the reporter must serve, or the reporter's only one. */
function resourcesOf(events: readonly ReportedEvent[], reporter: Reporter): string[] | IngestRefusal {
  const resources: string[] = [];
  for (const [i, e] of events.entries()) {
    if (e.resource === undefined) {
      if (reporter.serves.length !== 1)
        return refusal(
          400,
          `events[${i}].resource is required: this client serves several resources`,
          `events[${i}]: no resource, and ${reporter.client} serves ${reporter.serves.join(', ')}`,
        );
      resources.push(reporter.serves[0]!);
    } else if (!reporter.serves.includes(e.resource)) {
      return refusal(
        400,
        `events[${i}].resource is not a resource this client serves`,
        `events[${i}]: ${reporter.client} wrote for ${e.resource}; it serves ${reporter.serves.join(', ') || 'none'}`,
      );
    } else {
      resources.push(e.resource);
    }
  }
  return resources;
}

/** The person and the chain of a token, from baton's own record of it. */
function fromIssued(issued: AuditEvent | undefined): Partial<AuditEvent> {
  if (!issued) return {};
  const { account, idp, client, act, gid, parent_jti } = issued;
  return Object.fromEntries(
    Object.entries({ account, idp, client, act, gid, parent_jti }).filter(([, v]) => v !== undefined),
  );
}

function recordOf(e: ReportedEvent, resource: string, issued: AuditEvent | undefined, reporter: Reporter): AuditEvent {
  const details = Object.fromEntries(
    Object.entries({
      method: e.method,
      name: e.name,
      status: e.status,
      reason: e.reason,
      arguments_sha256: e.arguments_sha256,
      reported_at: e.at,
      duration_ms: e.duration_ms,
      reporter: reporter.client,
    }).filter(([, v]) => v !== undefined),
  );
  return {
    type: e.kind === 'tool_call' ? 'tool.called' : 'api.called',
    outcome: e.outcome === 'allowed' ? 'success' : 'refused',
    ...fromIssued(issued),
    resource,
    ...(e.jti ? { jti: e.jti } : {}),
    ...(reporter.requestId ? { request_id: reporter.requestId } : {}),
    details,
  };
}

/**
 * The audit records of a checked batch, or why it is refused (nothing of it is to be written). Each `jti`
 * must name a token baton issued for the event's resource: a jti baton never issued and one issued for
 * another audience get the same answer on the wire (the reporter learns nothing of other resources' tokens).
 */
export async function recordsOf(
  batch: Batch,
  reporter: Reporter,
  lookup: IssuedLookup,
): Promise<AuditEvent[] | IngestRefusal> {
  const resources = resourcesOf(batch.events, reporter);
  if (isRefusal(resources)) return resources;
  const issued = await lookup(batch.events.flatMap((e) => (e.jti ? [e.jti] : [])));
  const records: AuditEvent[] = [];
  for (const [i, e] of batch.events.entries()) {
    const token = e.jti ? issued.get(e.jti) : undefined;
    if (e.jti && token?.resource !== resources[i]) {
      return refusal(
        400,
        `events[${i}].jti is not a token baton issued for this resource`,
        token
          ? `events[${i}]: jti ${e.jti} was issued for ${token.resource ?? 'no resource'}, not ${resources[i]}`
          : `events[${i}]: baton has no record of issuing jti ${e.jti}`,
      );
    }
    records.push(recordOf(e, resources[i]!, token, reporter));
  }
  if (batch.dropped > 0) {
    records.push({
      type: 'audit.dropped',
      outcome: 'failure',
      client: reporter.client,
      ...(reporter.serves.length === 1 ? { resource: reporter.serves[0]! } : {}),
      ...(reporter.requestId ? { request_id: reporter.requestId } : {}),
      details: { count: batch.dropped, reporter: reporter.client },
    });
  }
  return records;
}

export { isRefusal as isIngestRefusal };
