/**
 * The one pino root logger. Library code receives a logger; it never imports this module's root.
 * Redaction covers every place a credential can appear in what we log: headers, bodies and params.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'dpop',
  'password',
  'client_secret',
  'client_assertion',
  'code',
  'code_verifier',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'subject_token',
  'actor_token',
  'assertion',
  'registration_access_token',
  'encryption_key',
  'private_jwe',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.dpop',
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'baton' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
