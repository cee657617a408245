/**
 * The kinds table: the one place that names every resource kind, its etcd segment, its
 * Admin API path, its resources-file collection, its identity (name) field and its schemas.
 * Every other package reads this table instead of spelling segments again.
 */
import type { GenericSchema } from 'valibot';
import * as r from './resources/index.js';

/** Every resource kind: the keys of the resource model's document types. */
export type KindName = keyof r.ResourceTypes;

export interface KindDef {
  /** Kind name; also the etcd key segment (`<prefix>/<kind>/<id>`). */
  readonly kind: KindName;
  /** Admin API collection path under `/admin/v1/`, plus legacy aliases. */
  readonly adminPath: string;
  readonly adminAliases: readonly string[];
  /** Collection name in a resources file; null when the file cannot express the kind. */
  readonly fileCollection: string | null;
  /** Field that must be unique on admin writes (and is the name index); null = none. */
  readonly nameField: string | null;
  /**
   * Another field a document may carry its name in instead (MCP servers and A2A agents accept
   * `display_name` for `name`): a name is unique across both; null = none.
   */
  readonly nameAlias: string | null;
  /** Human type name used in messages (`malformed <Type> payload`). */
  readonly typeName: string;
  /** Strict schema for writes (Admin API, file): unknown fields rejected except open roots. */
  readonly writeSchema: GenericSchema;
  /** Lenient schema for the etcd read path: unknown fields allowed (reported separately). */
  readonly readSchema: GenericSchema;
  /** Dotted paths of secret string fields; masked on every admin read. */
  readonly secretPaths: readonly string[];
  readonly tier: 'core' | 'extended';
}

/** Segment, admin path and file collection all equal the kind name. */
export const KINDS: readonly KindDef[] = r.KIND_ROWS.map((row) => ({
  kind: row.kind,
  adminPath: row.kind,
  adminAliases: row.adminAliases ?? [],
  fileCollection: row.fileCollection ? row.kind : null,
  nameField: row.nameField,
  nameAlias: row.nameAlias ?? null,
  typeName: row.typeName,
  writeSchema: row.schema('strict'),
  readSchema: row.schema('lenient'),
  secretPaths: row.secretPaths,
  tier: row.tier,
}));

const byName = new Map<string, KindDef>(KINDS.map((k) => [k.kind, k]));
const byAdminPath = new Map<string, KindDef>();
for (const k of KINDS) {
  byAdminPath.set(k.adminPath, k);
  for (const a of k.adminAliases) byAdminPath.set(a, k);
}

export function kindByName(name: string): KindDef | undefined {
  return byName.get(name);
}

export function kindByAdminPath(path: string): KindDef | undefined {
  return byAdminPath.get(path);
}

export const KIND_NAMES: readonly KindName[] = KINDS.map((k) => k.kind);
