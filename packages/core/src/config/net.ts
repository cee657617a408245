/**
 * IP literal, socket address and CIDR parsing for config validation. Pure string parsing
 * (no DNS, no node:net) so core stays free of I/O: a listener address must be an IP literal
 * plus port (`0.0.0.0:3000`, `[::1]:3001`), never a host name such as `localhost:3000`.
 */

export interface SocketAddr {
  host: string;
  port: number;
}

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

export function isIPv6(s: string): boolean {
  if (s.length === 0 || s.length > 45) return false;
  let text = s;
  let tailGroups = 0;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    if (!isIPv4(text.slice(lastColon + 1))) return false;
    // Keep the colon(s) before the embedded IPv4 so `::1.2.3.4` still splits correctly.
    text = `${text.slice(0, lastColon + 1)}0`;
    tailGroups = 1; // the IPv4 tail occupies two groups; the placeholder counts as one
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const group = /^[0-9A-Fa-f]{1,4}$/;
  const count = (h: string): number | null => {
    if (h === '') return 0;
    const gs = h.split(':');
    return gs.every((g) => group.test(g)) ? gs.length : null;
  };
  const left = count(halves[0] ?? '');
  if (left === null) return false;
  if (halves.length === 1) return left + tailGroups === 8;
  const right = count(halves[1] ?? '');
  if (right === null) return false;
  return left + right + tailGroups <= 7;
}

export function isIp(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

/** `IPv4:port` or `[IPv6]:port`; port 0..65535 (0 only ever comes from an explicit value). */
export function parseSocketAddr(s: string): SocketAddr | null {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') return null;
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (!isIPv6(host)) return null;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return null;
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (!isIPv4(host)) return null;
  }
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { host, port };
}

/** A CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare IP (a host route). */
export function isCidrOrIp(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIp(s);
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  if (isIPv4(addr)) return Number(bits) <= 32;
  if (isIPv6(addr)) return Number(bits) <= 128;
  return false;
}

/**
 * The etcd endpoint rules (`etcd.endpoints`): http(s) URLs and one scheme for all. Returns the
 * first problem as `{ index?, message }` (no index: the list as a whole), or null. Shared by
 * config validation and the etcd store factory, so `aisix validate` refuses what the boot would.
 */
export function etcdEndpointsProblem(
  endpoints: readonly string[],
): { readonly index?: number; readonly message: string } | null {
  const schemes = new Set<string>();
  for (const [index, e] of endpoints.entries()) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      return { index, message: `endpoint "${e}" is not a URL; use http://host:port or https://host:port` };
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      return { index, message: `endpoint "${e}" must start with http:// or https://` };
    }
    schemes.add(u.protocol);
  }
  if (schemes.size > 1) return { message: 'endpoints mix http:// and https://; use one scheme for all' };
  return null;
}
