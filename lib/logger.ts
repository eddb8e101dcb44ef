/**
 * pino loggers with secrets redacted by path at construction (S9). Everything logs JSON lines;
 * errors go under `err`.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths that may hold a secret if some object is ever logged whole. */
export const REDACT_PATHS = [
  'key',
  'hostKey',
  'masterKey',
  'token',
  'apiToken',
  'authorization',
  'signature',
  '*.key',
  '*.hostKey',
  '*.masterKey',
  '*.token',
  '*.apiToken',
  '*.authorization',
  '*.signature',
  'headers.authorization',
  'headers["x-reaper-signature"]',
  'req.headers.authorization',
  'req.headers["x-reaper-signature"]',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; defaults to stdout. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ sync: true }),
  );
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
