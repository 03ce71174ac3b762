/**
 * The one pino root logger. Library code receives a logger; it never imports this module's root.
 * Redaction covers every place a credential can appear in what we log: headers, bodies and params.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';

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

export type LogFormat = 'json' | 'pretty' | 'auto';

/**
 * JSON lines by default. `pretty` (or `auto` on a terminal) prints one readable line per entry through
 * pino-pretty, for development; redaction happens before either.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  return pino(
    {
      level,
      base: { service: 'baton' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pretty
      ? pinoPretty({
          colorize: !destination && process.stdout.isTTY === true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,service',
          ...(destination ? { destination: destination as NodeJS.WritableStream } : {}),
        })
      : destination,
  );
}
