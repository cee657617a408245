/**
 * Human-readable plans and step lines. Secrets appear only as "(secret)"; references by id
 * are shown by the name of what they point at.
 */
import type { FieldChange, Plan, Step } from './plan.js';
import { planCounts } from './plan.js';

const MAX_VALUE = 160;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

function show(v: unknown, labels: ReadonlyMap<string, string>): string {
  if (typeof v === 'string') {
    const label = labels.get(v);
    if (label !== undefined) return label;
    const named = v.replace(UUID, (id) => labels.get(id) ?? id);
    if (named !== v) return JSON.stringify(named);
  }
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

function changeLine(c: FieldChange, labels: ReadonlyMap<string, string>): string {
  switch (c.type) {
    case 'secret':
      return `${c.path}: (secret) ${c.change === 'set' ? 'will be set' : c.change === 'removed' ? 'will be removed' : 'changed'}`;
    case 'added':
      return `${c.path}: (unset) -> ${show(c.after, labels)}`;
    case 'removed':
      return `${c.path}: ${show(c.before, labels)} -> (unset)`;
    case 'changed':
      return `${c.path}: ${show(c.before, labels)} -> ${show(c.after, labels)}`;
  }
}

export function stepTitle(s: Step): string {
  const sign = s.op === 'create' ? '+' : s.op === 'update' ? '~' : '-';
  return `${sign} ${s.op} ${s.kind} "${s.identity}"`;
}

export function renderPlan(plan: Plan, target: string): string[] {
  const lines: string[] = [];
  const labels = plan.labels;
  for (const s of plan.steps) {
    lines.push(stepTitle(s));
    if (s.op === 'update') for (const c of s.changes) lines.push(`    ${changeLine(c, labels)}`);
    if (s.op === 'create') {
      for (const c of s.changes) {
        lines.push(
          `    ${c.type === 'added' ? `${c.path}: ${show(c.after, labels)}` : changeLine(c, labels)}`,
        );
      }
    }
  }
  if (plan.unmanaged.length > 0) {
    lines.push(
      `${plan.unmanaged.length} live resource(s) not in the file (kept; --prune deletes them): ${plan.unmanaged
        .map((u) => `${u.kind} "${u.identity}"`)
        .join(', ')}`,
    );
  }
  const n = planCounts(plan);
  if (plan.steps.length === 0)
    lines.push(`No changes: ${target} matches the file (${plan.unchanged} unchanged).`);
  else {
    lines.push(
      `Plan: ${n.create} to create, ${n.update} to update, ${n.delete} to delete (${plan.unchanged} unchanged).`,
    );
  }
  return lines;
}
