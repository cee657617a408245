/**
 * `POST /v1/rerank`: Cohere/Jina-style rerank, forwarded verbatim to `<base>/rerank` with only
 * `model` rewritten (OpenAI-compatible family; others answer 501 from `checkPassthrough`). The
 * upstream answer passes through unchanged. Everything else is the shared pipeline.
 */
import { errors, type GatewayError } from '../errors.js';
import type { EndpointSpec } from '../pipeline/run.js';

// The two fields every rerank API requires; the rest (top_n, return_documents, ...) is the
// upstream's business.
function validateRerank(body: Record<string, unknown>): GatewayError | undefined {
  if (typeof body.query !== 'string') return errors.badBody('`query` must be a string');
  if (!Array.isArray(body.documents)) return errors.badBody('`documents` must be an array');
  return undefined;
}

export const rerank: EndpointSpec = { endpoint: 'rerank', validate: validateRerank, streams: false };
