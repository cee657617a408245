// Placeholder until the resource schemas land (owned by the core-schemas work).
import * as v from 'valibot';
import type { KindDef } from '../kinds.js';

const open = v.looseObject({});
export const KIND_DEFS: readonly KindDef[] = [];
export { open as _placeholder };
export type ResourceTypes = Record<import('../kinds.js').KindName, Record<string, unknown>>;
