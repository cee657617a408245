/**
 * Stable ids for resources-file entries: UUID v5 (RFC 4122 §4.3, SHA-1) in a fixed
 * namespace over `<kind>/<identity>`, so the same file yields the same ids on every host
 * and every reload (etcd-mode ids are random v4 and are not derived here).
 */
import { createHash } from 'node:crypto';

/** UUID v5 of the URL namespace and `https://github.com/api7/aisix#resources-file`. */
export const RESOURCES_FILE_NAMESPACE = '63e50ab2-677a-54d3-8d1e-c0cb29ceae94';

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error('invalid namespace uuid');
  return Buffer.from(hex, 'hex');
}

export function uuidV5(namespace: string, name: string): string {
  const digest = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const b = digest.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The id of a resources-file entry, e.g. `fileResourceId('models', 'gpt-4o')`. */
export function fileResourceId(kind: string, identity: string): string {
  return uuidV5(RESOURCES_FILE_NAMESPACE, `${kind}/${identity}`);
}
