// A non-streaming answer built from an upstream stream. The gateway asks for a stream even when
// the client did not, so the TTFT and idle timeouts guard non-streaming requests too (a hang or a
// stall would otherwise hold the request until the total timeout) and every request is measured
// the same way. Choices, content, reasoning (under the key the server used), tool calls, finish
// reasons and usage are merged as the OpenAI SDKs merge them.
import type { Json } from './validate.ts';

interface ToolCallAcc {
  id?: string;
  type: string;
  name: string;
  arguments: string;
}

interface ChoiceAcc {
  content: string;
  sawContent: boolean;
  reasoning: string;
  reasoningKey?: 'reasoning_content' | 'reasoning';
  tools: ToolCallAcc[];
  finishReason: string | null;
}

export class AnswerAssembler {
  private readonly operation: 'chat' | 'completion';
  private readonly choices = new Map<number, ChoiceAcc>();
  private head: Json | undefined;
  private usage: Json | undefined;

  constructor(operation: 'chat' | 'completion') {
    this.operation = operation;
  }

  add(data: string): void {
    if (data === '[DONE]') return;
    const chunk = JSON.parse(data) as Json;
    this.head ??= chunk;
    if (chunk.usage && typeof chunk.usage === 'object') this.usage = chunk.usage as Json;
    if (!Array.isArray(chunk.choices)) return;
    for (const raw of chunk.choices as Json[]) {
      const index = typeof raw.index === 'number' ? raw.index : 0;
      let acc = this.choices.get(index);
      if (!acc) {
        acc = { content: '', sawContent: false, reasoning: '', tools: [], finishReason: null };
        this.choices.set(index, acc);
      }
      if (typeof raw.finish_reason === 'string') acc.finishReason = raw.finish_reason;
      if (this.operation === 'completion') {
        if (typeof raw.text === 'string') acc.content += raw.text;
        continue;
      }
      const delta = (raw.delta ?? {}) as Json;
      if (typeof delta.content === 'string') {
        acc.content += delta.content;
        acc.sawContent ||= delta.content !== '';
      }
      for (const key of ['reasoning_content', 'reasoning'] as const) {
        if (typeof delta[key] === 'string' && delta[key] !== '') {
          acc.reasoning += delta[key];
          acc.reasoningKey ??= key;
        }
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const t of delta.tool_calls as Json[]) {
          const i = typeof t.index === 'number' ? t.index : acc.tools.length;
          const fn = (t.function ?? {}) as Json;
          const slot = (acc.tools[i] ??= { type: 'function', name: '', arguments: '' });
          if (typeof t.id === 'string') slot.id = t.id;
          if (typeof t.type === 'string') slot.type = t.type;
          if (typeof fn.name === 'string') slot.name += fn.name;
          if (typeof fn.arguments === 'string') slot.arguments += fn.arguments;
        }
      }
    }
  }

  /** The non-streaming response body. */
  result(): Json {
    const head = this.head ?? {};
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, c]) => {
        if (this.operation === 'completion') {
          return { index, text: c.content, logprobs: null, finish_reason: c.finishReason };
        }
        const message: Json = {
          role: 'assistant',
          content: c.sawContent || c.tools.length === 0 ? c.content : null,
        };
        if (c.reasoningKey) message[c.reasoningKey] = c.reasoning;
        if (c.tools.length > 0) {
          message.tool_calls = c.tools.map((t) => ({
            id: t.id,
            type: t.type,
            function: { name: t.name, arguments: t.arguments },
          }));
        }
        return { index, message, logprobs: null, finish_reason: c.finishReason };
      });
    const out: Json = {
      id: head.id,
      object: this.operation === 'chat' ? 'chat.completion' : 'text_completion',
      created: head.created,
      model: head.model,
      choices,
    };
    if (head.system_fingerprint !== undefined) out.system_fingerprint = head.system_fingerprint;
    if (this.usage) out.usage = this.usage;
    return out;
  }
}
