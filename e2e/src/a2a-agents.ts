/**
 * Upstream A2A agents for the A2A gateway e2e tests, built with the official `@a2a-js/sdk`
 * server (1.3.0, express adapter) and clients from the same SDK. An agent is served under a
 * path prefix (its `url`), with its card at `<prefix>/.well-known/agent-card.json`; every
 * other path of the origin answers 405 (a platform catch-all), so a test can tell which card
 * candidate the gateway used. Every upstream request is recorded.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentCard, type Message, Role, TaskState } from '@a2a-js/sdk';
import {
  type Client,
  ClientFactory,
  ClientFactoryOptions,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
} from '@a2a-js/sdk/client';
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  type ExecutionEventBus,
  InMemoryTaskStore,
  type RequestContext,
} from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';
import express from 'express';

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** JSON-RPC method of a POST body (parsed by express before the SDK handler). */
  rpcMethod?: string;
  /** When the upstream response closed (ms since epoch), set on close. */
  closedAt?: number;
  finished?: boolean;
}

export interface AgentServer {
  readonly url: string;
  readonly origin: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

export const STREAM_GAP_MS = 300;

function textOf(m: Message): string {
  return m.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
}

function status(ctx: RequestContext, state: TaskState) {
  return AgentEvent.statusUpdate({
    taskId: ctx.taskId,
    contextId: ctx.contextId,
    status: { state, message: undefined, timestamp: new Date().toISOString() },
    metadata: undefined,
  });
}

/**
 * `task ...`: a task, two working updates and a completed one, `STREAM_GAP_MS` apart.
 * `long ...`: working updates every 100 ms for 20 s (cancellation tests). `slow ...`: a reply
 * after 2 s. Anything else: one reply message `echo: <text>`.
 */
const executor: AgentExecutor = {
  async execute(ctx: RequestContext, bus: ExecutionEventBus) {
    const text = textOf(ctx.userMessage);
    if (text.startsWith('task') || text.startsWith('long')) {
      bus.publish(
        AgentEvent.task({
          id: ctx.taskId,
          contextId: ctx.contextId,
          status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: undefined },
          artifacts: [],
          history: [],
          metadata: undefined,
        }),
      );
      const steps = text.startsWith('long') ? 200 : 2;
      const gap = text.startsWith('long') ? 100 : STREAM_GAP_MS;
      for (let i = 0; i < steps; i++) {
        await sleep(gap);
        bus.publish(status(ctx, TaskState.TASK_STATE_WORKING));
      }
      await sleep(gap);
      bus.publish(status(ctx, TaskState.TASK_STATE_COMPLETED));
    } else {
      if (text.startsWith('slow')) await sleep(2000);
      bus.publish(
        AgentEvent.message({
          messageId: `reply-${ctx.taskId}`,
          contextId: ctx.contextId,
          taskId: '',
          role: Role.ROLE_AGENT,
          parts: [
            {
              content: { $case: 'text', value: `echo: ${text}` },
              metadata: undefined,
              filename: '',
              mediaType: '',
            },
          ],
          metadata: undefined,
          extensions: [],
          referenceTaskIds: [],
        }),
      );
    }
    bus.finished();
  },
  async cancelTask() {},
};

/** Starts an agent at `http://127.0.0.1:<port><prefix>` speaking `version` (card and JSON-RPC). */
export async function startAgent(name: string, prefix: string, version: '1.0' | '0.3'): Promise<AgentServer> {
  const seen: SeenRequest[] = [];
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${origin}${prefix}`;
  const card: AgentCard = {
    name,
    description: `the ${name} agent`,
    supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: version }],
    provider: undefined,
    version: '7.1.0',
    capabilities: { streaming: true, pushNotifications: false, extensions: [] },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [
      {
        id: 'echo',
        name: 'echo',
        description: 'says it back',
        tags: ['test'],
        examples: [],
        inputModes: [],
        outputModes: [],
        securityRequirements: [],
      },
    ],
    signatures: [],
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use((req, res, next) => {
    const r: SeenRequest = { method: req.method, path: req.path, headers: { ...req.headers } };
    seen.push(r);
    res.on('finish', () => {
      r.finished = true;
    });
    res.on('close', () => {
      r.closedAt = Date.now();
    });
    next();
  });
  app.use(express.json());
  app.use((req, _res, next) => {
    const body = req.body as { method?: unknown } | undefined;
    const last = seen[seen.length - 1];
    if (last && typeof body?.method === 'string') last.rpcMethod = body.method;
    next();
  });
  app.use(
    `${prefix}/.well-known/agent-card.json`,
    agentCardHandler({ agentCardProvider: handler, legacyCompat: { enabled: true } }),
  );
  app.use(
    prefix,
    jsonRpcHandler({
      requestHandler: handler,
      userBuilder: UserBuilder.noAuthentication,
      legacyCompat: { enabled: true },
    }),
  );
  // The platform catch-all: the origin's own well-known paths are not this agent's card.
  app.use((_req, res) => {
    res.status(405).send('method not allowed');
  });
  return {
    url,
    origin,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fetch that carries the caller key (gateway auth), as a real A2A client integration would. */
export function keyedFetch(key: string | undefined): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    if (key !== undefined) headers.set('authorization', `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };
}

/** An SDK client for the agent behind `/a2a/<agent>` (card fetched through the gateway). */
export async function gatewayClient(
  proxyUrl: string,
  agent: string,
  key: string | undefined,
): Promise<Client> {
  const fetchImpl = keyedFetch(key);
  const legacyCompat = { enabled: true };
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl, legacyCompat })],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl, legacyCompat }),
      preferredTransports: ['JSONRPC'],
    }),
  );
  // The card's full URL (the resolver would otherwise resolve the well-known path against the origin).
  return factory.createFromUrl(`${proxyUrl}/a2a/${agent}/.well-known/agent-card.json`, '');
}

/** A user text message in the SDK's 1.0 shape. */
export function userMessage(text: string, id: string): Message {
  return {
    messageId: id,
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: '' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}
