// A tiny element builder and a keyed patch, so updates replace only what changed and neither
// scroll position nor keyboard focus jumps when the page refreshes.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'class') el.className = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Makes `container`'s children match `next` (each carrying a unique `data-key`): unchanged children
 * stay in place (same DOM node, focus kept), changed ones are swapped, order follows `next`.
 */
export function patch(container: HTMLElement, next: readonly HTMLElement[]): void {
  const current = new Map<string, Element>();
  for (const child of Array.from(container.children)) {
    const key = child.getAttribute('data-key');
    if (key === null) child.remove();
    else current.set(key, child);
  }
  let cursor: Element | null = container.firstElementChild;
  for (const el of next) {
    const key = el.getAttribute('data-key') ?? '';
    const existing = current.get(key);
    current.delete(key);
    let node: Element = el;
    if (existing && existing.isEqualNode(el)) node = existing;
    else if (existing) {
      const focusKey = document.activeElement?.closest('[data-focus]')?.getAttribute('data-focus');
      existing.replaceWith(el);
      if (focusKey) el.querySelector<HTMLElement>(`[data-focus="${CSS.escape(focusKey)}"]`)?.focus();
      if (cursor === existing) cursor = el;
    }
    if (node !== cursor) container.insertBefore(node, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const stale of current.values()) stale.remove();
}
