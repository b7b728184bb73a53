/**
 * Lifecycle of a BAL (spec §2): active → suspended → closed.
 *
 *   active    → suspended   (suspend)
 *   suspended → active      (reactivate)
 *   active    → closed      (close)
 *   suspended → closed      (close)
 *   closed    → —           (final: a closed address is never reopened nor reassigned)
 *
 * Pure: no I/O. Every forbidden move has its own rule id and a sentence saying why.
 */
import type { BalStatus } from '../store/schema/registry.ts';

/** The operations that move a BAL between statuses. */
export type LifecycleAction = 'suspend' | 'reactivate' | 'close';

export const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = ['suspend', 'reactivate', 'close'];

/** Where each action leads. */
export const ACTION_TARGET: Readonly<Record<LifecycleAction, BalStatus>> = {
  suspend: 'suspended',
  reactivate: 'active',
  close: 'closed',
};

export type TransitionCheck =
  | { ok: true; from: BalStatus; to: BalStatus }
  | { ok: false; from: BalStatus; to: BalStatus; rule: string; reason: string };

const ALLOWED: Readonly<Record<BalStatus, readonly BalStatus[]>> = {
  active: ['suspended', 'closed'],
  suspended: ['active', 'closed'],
  closed: [],
};

/** Refusal of each forbidden (from → to) pair. */
const REFUSALS: Readonly<Record<string, { rule: string; reason: string }>> = {
  'active>active': {
    rule: 'bal.lifecycle.already-active',
    reason: 'the BAL is already active: only a suspended BAL can be reactivated',
  },
  'suspended>suspended': {
    rule: 'bal.lifecycle.already-suspended',
    reason: 'the BAL is already suspended: reactivate it or close it',
  },
  'closed>active': {
    rule: 'bal.lifecycle.closed',
    reason: 'a closed BAL is final and cannot be reactivated; its address is never reopened',
  },
  'closed>suspended': {
    rule: 'bal.lifecycle.closed',
    reason: 'a closed BAL is final and cannot be suspended',
  },
  'closed>closed': {
    rule: 'bal.lifecycle.already-closed',
    reason: 'the BAL is already closed',
  },
};

/** May a BAL in status `from` move to status `to`? */
export function checkTransition(from: BalStatus, to: BalStatus): TransitionCheck {
  if (ALLOWED[from].includes(to)) return { ok: true, from, to };
  const refusal = REFUSALS[`${from}>${to}`];
  // Every pair that is not allowed has an entry above; the fallback only guards future statuses.
  return {
    ok: false,
    from,
    to,
    rule: refusal?.rule ?? 'bal.lifecycle.forbidden',
    reason: refusal?.reason ?? `a BAL cannot go from ${from} to ${to}`,
  };
}

/** May `action` be applied to a BAL in status `from`? */
export function checkAction(from: BalStatus, action: LifecycleAction): TransitionCheck {
  return checkTransition(from, ACTION_TARGET[action]);
}

/** Can the metadata or members of a BAL in this status be changed? (Suspended BALs can be edited.) */
export function isEditable(status: BalStatus): boolean {
  return status !== 'closed';
}

/** The statuses reachable from `from`. */
export function allowedTargets(from: BalStatus): readonly BalStatus[] {
  return ALLOWED[from];
}
