/**
 * OpenAI itself (`pk.provider: openai`): the OpenAI wire with every capability. Selected by
 * vendor whatever `pk.adapter` says (data-plane §5.2, first tier).
 */
import { createOpenAiCompatibleAdapter } from '../shared/openai-base.js';

export const openaiAdapter = createOpenAiCompatibleAdapter({ id: 'openai', realtime: true });
