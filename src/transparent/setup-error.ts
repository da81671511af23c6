/**
 * Errors of setting up transparent interception: a missing binary, a missing
 * capability, a missing network namespace, the addon not built, or iptables
 * refusing the rules.
 *
 * These happen once, at startup or in `aim-mesh redirect-traffic`, never per
 * request, so they are not reasons of the data-path catalogue (core/errors.ts).
 * Each names what is needed (`hint`) so the operator can act on the message alone.
 */

export type SetupErrorCode =
  | 'iptables_missing'
  | 'nsenter_missing'
  | 'net_admin_missing'
  | 'netns_missing'
  | 'iptables_failed'
  | 'addon_missing';

export class TransparentSetupError extends Error {
  readonly code: SetupErrorCode;
  /** What the operator must do or provide. */
  readonly hint: string;

  constructor(code: SetupErrorCode, hint: string, detail: string, opts?: { cause?: unknown }) {
    super(`${hint} (${detail})`, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'TransparentSetupError';
    this.code = code;
    this.hint = hint;
  }
}
