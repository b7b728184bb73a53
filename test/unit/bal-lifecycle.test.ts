import { describe, expect, it } from 'vitest';
import {
  ACTION_TARGET,
  allowedTargets,
  checkAction,
  checkTransition,
  isEditable,
  type LifecycleAction,
} from '../../src/bal/lifecycle.ts';
import type { BalStatus } from '../../src/store/schema/registry.ts';

describe('BAL lifecycle transitions', () => {
  // Every (from, to) pair: allowed, or the rule that refuses it and a word of its reason.
  const table: [BalStatus, BalStatus, true | [string, string]][] = [
    ['active', 'active', ['bal.lifecycle.already-active', 'already active']],
    ['active', 'suspended', true],
    ['active', 'closed', true],
    ['suspended', 'active', true],
    ['suspended', 'suspended', ['bal.lifecycle.already-suspended', 'already suspended']],
    ['suspended', 'closed', true],
    ['closed', 'active', ['bal.lifecycle.closed', 'cannot be reactivated']],
    ['closed', 'suspended', ['bal.lifecycle.closed', 'cannot be suspended']],
    ['closed', 'closed', ['bal.lifecycle.already-closed', 'already closed']],
  ];

  it.each(table)('%s → %s', (from, to, expected) => {
    const check = checkTransition(from, to);
    expect(check.from).toBe(from);
    expect(check.to).toBe(to);
    if (expected === true) {
      expect(check.ok).toBe(true);
    } else {
      expect(check.ok).toBe(false);
      if (check.ok) return;
      expect(check.rule).toBe(expected[0]);
      expect(check.reason).toContain(expected[1]);
    }
  });

  it('lists the reachable statuses; closed is final', () => {
    expect([...allowedTargets('active')].sort()).toEqual(['closed', 'suspended']);
    expect([...allowedTargets('suspended')].sort()).toEqual(['active', 'closed']);
    expect(allowedTargets('closed')).toEqual([]);
  });

  const actions: [BalStatus, LifecycleAction, boolean][] = [
    ['active', 'suspend', true],
    ['active', 'reactivate', false],
    ['active', 'close', true],
    ['suspended', 'suspend', false],
    ['suspended', 'reactivate', true],
    ['suspended', 'close', true],
    ['closed', 'suspend', false],
    ['closed', 'reactivate', false],
    ['closed', 'close', false],
  ];

  it.each(actions)('%s: %s allowed = %s', (from, action, ok) => {
    const check = checkAction(from, action);
    expect(check.ok).toBe(ok);
    expect(check.to).toBe(ACTION_TARGET[action]);
  });

  it('suspended BALs can be edited, closed ones cannot', () => {
    expect(isEditable('active')).toBe(true);
    expect(isEditable('suspended')).toBe(true);
    expect(isEditable('closed')).toBe(false);
  });
});
