/**
 * Executes a plan through the Admin API, one step at a time in plan order (dependencies
 * first; deletes last, referrers before what they reference). An update or a delete is sent
 * with `If-Match` of the revision the plan saw, so a change the plan did not show is never
 * overwritten, even one made between the check and the write (412 stops the run); the entry is
 * also read first so that case gets a clear message. The first failure stops the run; the
 * report says what was applied and what was not.
 */
import type { KindName } from '@aisix/core';
import type { AdminApi } from './admin-client.js';
import type { Plan, Step } from './plan.js';
import { mapIdRefs } from './refs.js';
import { stepTitle } from './render.js';

export interface ApplyOutcome {
  readonly applied: readonly Step[];
  readonly failed?: { readonly step: Step; readonly message: string };
  readonly notApplied: readonly Step[];
}

export async function executePlan(
  api: AdminApi,
  plan: Plan,
  log: (line: string) => void,
): Promise<ApplyOutcome> {
  const liveIds = new Map(plan.liveIds);
  const toLive = (kind: KindName, derived: string) => liveIds.get(`${kind}/${derived}`) ?? derived;
  const applied: Step[] = [];
  for (const [i, step] of plan.steps.entries()) {
    try {
      if (step.op !== 'create') {
        const now = await api.get(step.kind, step.liveId);
        if (now === null) throw new Error('it was deleted after the plan was made');
        if (now.revision !== step.revision) {
          throw new Error(
            `it changed after the plan was made (revision ${now.revision}, planned ${step.revision}); run diff again`,
          );
        }
      }
      switch (step.op) {
        case 'create': {
          const created = await api.create(step.kind, mapIdRefs(step.kind, step.doc, toLive));
          liveIds.set(`${step.kind}/${step.derivedId}`, created.id);
          log(`${stepTitle(step)}: created (id ${created.id})`);
          break;
        }
        case 'update':
          await api.replace(step.kind, step.liveId, mapIdRefs(step.kind, step.doc, toLive), step.revision);
          log(`${stepTitle(step)}: updated`);
          break;
        case 'delete':
          await api.remove(step.kind, step.liveId, step.revision);
          log(`${stepTitle(step)}: deleted`);
          break;
      }
      applied.push(step);
    } catch (err) {
      return {
        applied,
        failed: { step, message: err instanceof Error ? err.message : String(err) },
        notApplied: plan.steps.slice(i + 1),
      };
    }
  }
  return { applied, notApplied: [] };
}
