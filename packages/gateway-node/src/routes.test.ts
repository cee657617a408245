/** The route table's path resolution: exact paths, MCP servers and job items share bounded labels. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveRoute } from './routes.js';

test('job paths resolve to their collection or item label', () => {
  const label = (p: string) => resolveRoute(p)?.label;
  assert.equal(label('/v1/files'), '/v1/files');
  assert.equal(label('/v1/files/file-1'), '/v1/files/:id');
  assert.equal(label('/v1/files/file-1/content'), '/v1/files/:id');
  assert.equal(label('/v1/batches'), '/v1/batches');
  assert.equal(label('/v1/batches/b/cancel'), '/v1/batches/:id');
  assert.equal(label('/v1/fine_tuning/jobs'), '/v1/fine_tuning/jobs');
  assert.equal(label('/v1/fine_tuning/jobs/j/events'), '/v1/fine_tuning/jobs/:id');
  assert.equal(resolveRoute('/v1/files/x')?.route.kind, 'jobs');
  // Template paths are not routes of their own; MCP keeps its labels.
  assert.equal(label('/v1/files/:id'), '/v1/files/:id');
  assert.equal(label('/mcp/:server'), '/mcp/:server');
  assert.equal(label('/mcp/alpha'), '/mcp/:server');
  assert.equal(label('/mcp/'), '/mcp');
  assert.equal(label('/v1/filesx'), undefined);
  assert.equal(label('/v1/fine_tuning'), undefined);
  assert.equal(label('/v1/chat/completions'), '/v1/chat/completions');
});
