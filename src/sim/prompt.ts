// How the simulator reads a request's prompt: the chat template it renders (Qwen's ChatML, so the
// special tokens count like the real ones), the key that output text is derived from, and the
// message-prefix hashes the prefix cache remembers.
import { countSimTokens, fnv1a } from './tokenizer.ts';

export interface SimChatMessage {
  readonly role: string;
  readonly content: string;
}

/** Turns an OpenAI message `content` (string, null or a list of parts) into its text. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) =>
        typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string'
          ? (part as { text: string }).text
          : '',
      )
      .join('');
  }
  return '';
}

/** Reads `messages` loosely: anything that is not an object with a string role is skipped. */
export function readMessages(raw: unknown): SimChatMessage[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: SimChatMessage[] = [];
  for (const m of raw) {
    if (typeof m !== 'object' || m === null) continue;
    const role = (m as { role?: unknown }).role;
    if (typeof role !== 'string') continue;
    out.push({ role, content: contentText((m as { content?: unknown }).content) });
  }
  return out;
}

export interface RenderOptions {
  /** Leave the last (assistant) message open so the model continues it. */
  readonly continueFinal: boolean;
}

/** ChatML as Qwen renders it: per message 5 tokens + content, plus 3 to prime the reply. */
export function renderChatPrompt(messages: readonly SimChatMessage[], options: RenderOptions): string {
  let text = '';
  messages.forEach((m, i) => {
    const open = options.continueFinal && i === messages.length - 1;
    text += `<|im_start|>${m.role}\n${m.content}`;
    if (!open) text += '<|im_end|>\n';
  });
  if (!options.continueFinal) text += '<|im_start|>assistant\n';
  return text;
}

export function chatPromptTokens(messages: readonly SimChatMessage[], options: RenderOptions): number {
  return countSimTokens(renderChatPrompt(messages, options));
}

/**
 * The key output is derived from: the messages without a trailing assistant prefill, so a request
 * that continues a partial answer derives the same answer as the request that was cut.
 */
export function chatAnswerKey(messages: readonly SimChatMessage[]): number {
  const upTo = messages.at(-1)?.role === 'assistant' ? messages.length - 1 : messages.length;
  let h = 0x811c9dc5;
  for (let i = 0; i < upTo; i++) {
    const m = messages[i] as SimChatMessage;
    h = fnv1a(`${m.role}\u0000${m.content}\u0001`, h);
  }
  return h;
}

export function textAnswerKey(prompt: string): number {
  return fnv1a(`prompt\u0000${prompt}`);
}

/**
 * Hash and token count of each message prefix (after message 1, 2, …). The prefix cache matches a
 * new prompt against these; the longest prefix seen before counts as cached.
 */
export function messagePrefixes(messages: readonly SimChatMessage[]): { hash: number; tokens: number }[] {
  const out: { hash: number; tokens: number }[] = [];
  let h = 0x811c9dc5;
  let tokens = 0;
  for (const m of messages) {
    h = fnv1a(`${m.role}\u0000${m.content}\u0001`, h);
    tokens += 5 + countSimTokens(m.content);
    out.push({ hash: h, tokens });
  }
  return out;
}
