/** A JSON-RPC error answered with HTTP 200 (agents-and-jobs §2.11). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const notAvailable = (n: string) => new RpcError(-32602, `tool '${n}' is not available`);
export const upstreamFailed = (s: string) =>
  new RpcError(-32603, `upstream MCP server '${s}' failed to call tool`);
