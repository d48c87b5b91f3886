/**
 * One catalog of user-facing errors with stable codes (like Fastify's lib/errors.js).
 * A TandemError is the user's to fix: the CLI prints its message and exits 1.
 * Anything else is a bug: the CLI prints the stack.
 */
export type ErrorCode =
  | 'TANDEM_CONFIG'
  | 'TANDEM_MISSING_ENGINE'
  | 'TANDEM_ADDRESS_IN_USE'
  | 'TANDEM_PROCESS_FAILED'
  | 'TANDEM_NOT_READY'
  | 'TANDEM_STATE'
  /** A release failed its gate or its migrations (`tandem deploy`); the hosts serve what they served. */
  | 'TANDEM_DEPLOY_FAILED'
  /** Another tandem holds the stack's lock. */
  | 'TANDEM_LOCKED'
  /** A host cannot be worked on over SSH: unreachable, a host key not known or changed, our key refused. */
  | 'TANDEM_SSH'
  | 'TANDEM_USAGE';

export class TandemError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** What the user can do about it. */
    public hint?: string,
  ) {
    super(message);
    this.name = 'TandemError';
  }
}

export class ConfigError extends TandemError {
  constructor(
    message: string,
    readonly issues: readonly { path: string; message: string }[] = [],
  ) {
    super('TANDEM_CONFIG', message, 'fix the values named above in tandem.config.ts; nothing was started');
    this.name = 'ConfigError';
  }
}
