/**
 * Small SSE helpers shared by the dialect encoders and bridges: writing one named event, and
 * reading back the `data:` payloads of the OpenAI-wire text a family stream translator produced
 * (always complete `data: <json>\n\n` frames, so a split on blank lines is exact).
 */

/** One named SSE event: `event: <name>\ndata: <json>\n\n`. */
export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The `data:` payloads of complete OpenAI-wire frames, in order. */
export function dataPayloads(text: string): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n\n', pos);
    if (end === -1) end = text.length;
    const frame = text.slice(pos, end);
    pos = end + 2;
    let data: string | undefined;
    for (const line of frame.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const v = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
      data = data === undefined ? v : `${data}\n${v}`;
    }
    if (data !== undefined) out.push(data);
  }
  return out;
}
