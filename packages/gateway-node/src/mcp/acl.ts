/**
 * Tool access control (agents-and-jobs §2.6): the caller key's `allowed_tools` / `mcp_access`
 * and the enabled `mcp_policies` become allow layers plus one deny set, all globs over the
 * namespaced name `<server>__<tool>`. `tools/list` hides exactly what `tools/call` rejects.
 */
import { globMatch } from '@aisix/core';
import type { PolicyRow } from './compile.js';

/** One allow layer: undefined = everything, else the globs (empty = nothing). */
type Layer = readonly string[] | undefined;

export interface KeyAccess {
  readonly team_id?: string | undefined;
  readonly allowed_tools?: readonly string[] | null | undefined;
  readonly mcp_access?:
    | {
        readonly mode: 'inherit' | 'restrict' | 'deny';
        readonly allow?: readonly string[] | undefined;
        readonly deny?: readonly string[] | undefined;
      }
    | undefined;
}

export type ToolAcl = (namespaced: string) => boolean;

const NOTHING: ToolAcl = () => false;

function rowLayer(row: PolicyRow | undefined): Layer {
  if (row === undefined || row.mode === 'none') return [];
  return row.mode === 'all' ? undefined : row.allow;
}

export function toolAcl(key: KeyAccess, policies: readonly PolicyRow[]): ToolAcl {
  const team = key.team_id;
  const applicable = policies.filter(
    (p) => p.scope === 'env' || (team !== undefined && p.scope_ref === team),
  );
  const deny: string[] = [];
  for (const p of applicable) deny.push(...p.deny);
  const layers: Layer[] = [];
  const access = key.mcp_access;
  if (access === undefined) {
    const t = key.allowed_tools;
    if (t === undefined || t === null || t.length === 0) return NOTHING;
    layers.push(t.includes('*') ? undefined : t);
  } else {
    if (access.mode === 'deny') return NOTHING;
    // Policies are sorted by id: the first match per scope governs.
    const teamRow = applicable.find((p) => p.scope === 'team');
    const envRow = applicable.find((p) => p.scope === 'env');
    layers.push(rowLayer(teamRow ?? envRow));
    if (access.mode === 'restrict') layers.push(access.allow ?? []);
    deny.push(...(access.deny ?? []));
  }
  return (name) => {
    for (const l of layers) if (l !== undefined && !l.some((g) => globMatch(g, name))) return false;
    return !deny.some((g) => globMatch(g, name));
  };
}
