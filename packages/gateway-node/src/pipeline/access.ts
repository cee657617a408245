/**
 * Authorization after authentication: the `allowed_models` ACL on the requested name
 * (data-plane §3.5), the client IP (§3.7, trusted proxies + forwarded header) and a model's
 * `allowed_cidrs`. CIDR lists compile once per immutable model document (WeakMap cache) into a
 * `net.BlockList`; malformed entries are ignored and an unknown client IP fails closed.
 */

import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Single-`*` glob: prefix and suffix must both match without overlapping; else exact. */
export function globMatch(pattern: string, candidate: string): boolean {
  const star = pattern.indexOf('*');
  if (star === -1 || pattern.indexOf('*', star + 1) !== -1) return pattern === candidate;
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star + 1);
  return (
    candidate.length >= head.length + tail.length && candidate.startsWith(head) && candidate.endsWith(tail)
  );
}

export function modelAllowed(allowed: readonly string[], requested: string): boolean {
  for (const p of allowed) if (globMatch(p, requested)) return true;
  return false;
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes plain IPv4 so v4 CIDRs match. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** Compiles CIDRs / bare IPs; entries that do not parse are skipped. */
export function compileCidrs(list: readonly string[]): BlockList {
  const bl = new BlockList();
  for (const raw of list) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const addr = normalizeIp(slash === -1 ? entry : entry.slice(0, slash));
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    if (!type) continue;
    const max = type === 'ipv4' ? 32 : 128;
    const prefix = slash === -1 ? max : Number(entry.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) continue;
    try {
      bl.addSubnet(addr, prefix, type);
    } catch {
      // malformed: ignored by contract
    }
  }
  return bl;
}

const cidrCache = new WeakMap<readonly string[], BlockList>();

export function ipAllowed(cidrs: readonly string[], ip: string | undefined): boolean {
  if (!ip) return false;
  let bl = cidrCache.get(cidrs);
  if (!bl) {
    bl = compileCidrs(cidrs);
    cidrCache.set(cidrs, bl);
  }
  const addr = normalizeIp(ip);
  const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
  return type !== undefined && bl.check(addr, type);
}

/** Strips `:port` and `[v6]:port` from one forwarded entry. */
function stripPort(entry: string): string {
  const e = entry.trim();
  if (e.startsWith('[')) {
    const end = e.indexOf(']');
    return end === -1 ? e : e.slice(1, end);
  }
  const colon = e.indexOf(':');
  return colon !== -1 && colon === e.lastIndexOf(':') ? e.slice(0, colon) : e;
}

export interface RealIpSettings {
  readonly trusted: BlockList | undefined;
  readonly header: string;
  readonly recursive: boolean;
}

function trusted(s: RealIpSettings, ip: string): boolean {
  if (!s.trusted) return false;
  const a = normalizeIp(ip);
  const type = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : undefined;
  return type !== undefined && s.trusted.check(a, type);
}

/** Whether the TCP peer of `req` is one of `proxy.real_ip.trusted_proxies`. */
export function peerIsTrusted(req: IncomingMessage, s: RealIpSettings): boolean {
  const peer = req.socket.remoteAddress;
  return peer !== undefined && trusted(s, peer);
}

/** Client IP per §3.7: the TCP peer unless it is a trusted proxy, then the forwarded header. */
export function clientIp(req: IncomingMessage, s: RealIpSettings): string | undefined {
  const peer = req.socket.remoteAddress;
  if (!peer || !trusted(s, peer)) return peer;
  const raw = req.headersDistinct[s.header];
  if (!raw || raw.length === 0) return peer;
  const entries = raw
    .join(',')
    .split(',')
    .map(stripPort)
    .filter((e) => e !== '');
  if (entries.length === 0) return peer;
  if (!s.recursive) return entries[entries.length - 1];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i] as string;
    if (!trusted(s, e)) return e;
  }
  return entries[0];
}
