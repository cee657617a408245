/**
 * Reference checks on admin writes (a decision beyond the reference, which checks none; see
 * docs/decisions.md). What counts as a reference is core's `references.ts`, the same table
 * the resources file and `/status/models` use.
 *
 * - create / replace: every reference of the written document must resolve against the
 *   store as it will be after the write, else 400 at the field's JSON pointer.
 * - replace / delete: references held by other entries that resolve now and would not after
 *   the change (a deleted provider key, a renamed model) make it a 409 naming those entries.
 *
 * Check-then-write: the lists are read, then the write is issued, with no transaction across
 * kinds. A concurrent delete and a create that references it can both succeed; the gateway
 * then reports the model `unavailable` on `/status/models` and requests through the dangling
 * reference fail as they always did.
 */
import {
  brokenReferrers,
  describeUnresolved,
  type KindDef,
  type KindName,
  REFERENCE_TARGETS,
  type RefEntry,
  ReferenceIndex,
  type Referrer,
  referencedByName,
  referringKinds,
  refPointer,
  unresolvedReferences,
} from '@aisix/core';
import { AdminHttpError } from './errors.js';
import type { ResourceReader } from './reader.js';

/** Referrers named in one 409 body; the rest are counted. */
const MAX_NAMED = 10;

async function entriesOf(reader: ResourceReader, kinds: Iterable<KindName>): Promise<RefEntry[]> {
  const lists = await Promise.all(
    [...new Set(kinds)].map(async (kind) =>
      (await reader.list(kind)).map((d): RefEntry => ({ kind, id: d.id, value: d.value })),
    ),
  );
  return lists.flat();
}

function without(entries: readonly RefEntry[], kind: KindName, id: string): RefEntry[] {
  return entries.filter((e) => !(e.kind === kind && e.id === id));
}

function label(r: Referrer): string {
  const name = r.value.display_name ?? r.value.name;
  const named = typeof name === 'string' ? ` (${JSON.stringify(name)})` : '';
  return `${r.kind}/${r.id}${named} at ${refPointer(r.path)}`;
}

function conflict(lead: string, referrers: readonly Referrer[]): AdminHttpError {
  const named = referrers.slice(0, MAX_NAMED).map(label);
  const more = referrers.length > MAX_NAMED ? ` and ${referrers.length - MAX_NAMED} more` : '';
  return new AdminHttpError(
    409,
    `${lead}: referenced by ${named.join(', ')}${more}; remove or change those references first`,
  );
}

/**
 * Checks a validated document about to be stored under `id` (`existing` false for a create).
 * Throws 400 for a reference of its own that does not resolve, 409 when a replace would break
 * other entries' references.
 */
export async function checkWriteReferences(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
  value: Record<string, unknown>,
  existing: boolean,
): Promise<void> {
  const targets = REFERENCE_TARGETS[kind.kind] ?? [];
  // A replace keeps the id, so only references by alias or name can break.
  const referrers = existing && referencedByName(kind.kind) ? referringKinds(kind.kind) : [];
  if (targets.length === 0 && referrers.length === 0) return;
  const entries = await entriesOf(reader, [
    ...targets,
    ...referrers,
    ...(referrers.length > 0 ? [kind.kind] : []),
  ]);
  const afterEntries = [...without(entries, kind.kind, id), { kind: kind.kind, id, value }];
  const after = new ReferenceIndex(afterEntries);
  const [bad] = unresolvedReferences(kind.kind, value, after);
  if (bad !== undefined) {
    const pointer = refPointer(bad.path);
    throw new AdminHttpError(400, `reference validation failed at ${pointer}: ${describeUnresolved(bad)}`);
  }
  if (referrers.length === 0) return;
  const candidates = without(
    entries.filter((e) => referrers.includes(e.kind)),
    kind.kind,
    id,
  );
  const broken = brokenReferrers(candidates, new ReferenceIndex(entries), after);
  if (broken.length > 0) throw conflict('this change would leave references dangling', broken);
}

/** Throws 409 naming the entries that reference the one about to be deleted. */
export async function checkDeleteReferences(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
): Promise<void> {
  const referrers = referringKinds(kind.kind);
  if (referrers.length === 0) return;
  const entries = await entriesOf(reader, [...referrers, kind.kind]);
  const candidates = without(
    entries.filter((e) => referrers.includes(e.kind)),
    kind.kind,
    id,
  );
  const before = new ReferenceIndex(entries);
  const after = new ReferenceIndex(without(entries, kind.kind, id));
  const broken = brokenReferrers(candidates, before, after);
  if (broken.length > 0) throw conflict('resource is still referenced', broken);
}
