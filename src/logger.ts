import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines on standard output. Secrets are redacted by key name wherever they appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'mssante' },
      redact: {
        paths: [
          'token',
          '*.token',
          'apiKey',
          '*.apiKey',
          'password',
          '*.password',
          'authorization',
          '*.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
